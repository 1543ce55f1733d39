/*
 * wire.c - encode and decode the handshake's records and the error object
 * (see wire.h); both libmsb and msb-agent link this file.
 */
#include "wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int msb_wire_fail(struct msb_wire_error *e, int code, int os_errno,
		  const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msb_wire_vfail(e, code, os_errno, hint, fmt, ap);
	va_end(ap);
	return -1;
}

int msb_wire_vfail(struct msb_wire_error *e, int code, int os_errno,
		   const char *hint, const char *fmt, va_list ap)
{
	size_t n;

	e->code = code;
	e->os_errno = os_errno;
	if (fmt)
		vsnprintf(e->message, sizeof(e->message), fmt, ap);
	else
		e->message[0] = '\0';
	if (os_errno) {
		n = strlen(e->message);
		snprintf(e->message + n, sizeof(e->message) - n, ": %s",
			 strerror(os_errno));
	}
	snprintf(e->hint, sizeof(e->hint), "%s", hint ? hint : "");
	return -1;
}

json_t *msb_wire_error_encode(const struct msb_wire_error *e)
{
	return json_pack("{s:i,s:s,s:s,s:i}", "code", e->code,
			 "message", e->message, "hint", e->hint,
			 "errno", e->os_errno);
}

json_t *msb_wire_failed_reply(const struct msb_wire_error *e)
{
	return json_pack("{s:b,s:o}", "ok", 0, "error", msb_wire_error_encode(e));
}

void msb_wire_error_decode(const json_t *obj, struct msb_wire_error *e)
{
	json_int_t code = json_integer_value(json_object_get(obj, "code"));
	json_int_t os_errno = json_integer_value(json_object_get(obj, "errno"));
	const char *msg = json_string_value(json_object_get(obj, "message"));
	const char *hint = json_string_value(json_object_get(obj, "hint"));

	/* The peer is not trusted to pick any integer: keep known codes. */
	e->code = (code < 0 && code >= MSB_WIRE_CODE_LAST) ? (int)code
							   : MSB_WIRE_ERROR;
	e->os_errno = (os_errno > 0 && os_errno < 4096) ? (int)os_errno : 0;
	snprintf(e->message, sizeof(e->message), "%s",
		 msg ? msg : "the sandbox reported an error");
	snprintf(e->hint, sizeof(e->hint), "%s", hint ? hint : "");
}

static const char *const enforcement_names[] = {
	[MSB_WIRE_ENFORCE_NONE] = "none",
	[MSB_WIRE_ENFORCE_RLIMIT] = "rlimit",
	[MSB_WIRE_ENFORCE_CGROUP] = "cgroup",
	[MSB_WIRE_ENFORCE_KERNEL] = "kernel",
};

static const char *const limit_names[MSB_WIRE_LIMITS] = {
	[MSB_WIRE_LIMIT_MEMORY] = "memory",
	[MSB_WIRE_LIMIT_CPU] = "cpu",
	[MSB_WIRE_LIMIT_PIDS] = "pids",
	[MSB_WIRE_LIMIT_DISK] = "disk",
	[MSB_WIRE_LIMIT_TIME] = "time",
};

static const char *const file_type_names[] = {
	[MSB_WIRE_FILE_REGULAR] = "regular",
	[MSB_WIRE_FILE_DIRECTORY] = "directory",
	[MSB_WIRE_FILE_SYMLINK] = "symlink",
	[MSB_WIRE_FILE_OTHER] = "other",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The index of name in names[first..], or -1. */
static int lookup(const char *const *names, size_t n, size_t first,
		  const char *name)
{
	for (size_t i = first; name && i < n; i++)
		if (names[i] && !strcmp(names[i], name))
			return (int)i;
	return -1;
}

const char *msb_wire_enforcement_name(int enforcement)
{
	if (enforcement < 0 || (size_t)enforcement >= COUNT(enforcement_names))
		return enforcement_names[MSB_WIRE_ENFORCE_NONE];
	return enforcement_names[enforcement];
}

int msb_wire_enforcement_parse(const char *name)
{
	int i = lookup(enforcement_names, COUNT(enforcement_names), 0, name);

	return i < 0 ? MSB_WIRE_ENFORCE_NONE : i;
}

const char *msb_wire_limit_name(int limit)
{
	if (limit < 0 || limit >= MSB_WIRE_LIMITS)
		return NULL;
	return limit_names[limit];
}

const char *msb_wire_file_type_name(int type)
{
	if (type < MSB_WIRE_FILE_REGULAR || (size_t)type >= COUNT(file_type_names))
		return file_type_names[MSB_WIRE_FILE_OTHER];
	return file_type_names[type];
}

int msb_wire_file_type_parse(const char *name)
{
	int i = lookup(file_type_names, COUNT(file_type_names), 1, name);

	return i < 0 ? 0 : i;
}

/* ---- the host's HELLO ---------------------------------------------------- */

json_t *msb_wire_hello_encode(const struct msb_wire_config *c)
{
	json_t *env = json_array(), *vols = json_array(), *cfg;

	for (char **e = c->env; e && *e; e++)
		json_array_append_new(env, json_string(*e));
	for (size_t i = 0; i < c->volumes_len; i++)
		json_array_append_new(vols, json_pack("{s:s,s:s,s:b}",
			"host", c->volumes[i].host_path,
			"sandbox", c->volumes[i].sandbox_path,
			"ro", c->volumes[i].read_only));
	cfg = json_pack("{s:s,s:I,s:f,s:I,s:I,s:I,s:o,s:s,s:s,s:o}",
			"name", c->name,
			"memory", (json_int_t)c->memory_bytes,
			"cpus", c->cpus,
			"pids", (json_int_t)c->pids,
			"disk", (json_int_t)c->disk_bytes,
			"timeout_ms", (json_int_t)c->timeout_ms,
			"env", env,
			"workdir", c->workdir,
			"rootfs", c->rootfs,
			"volumes", vols);
	if (cfg && c->hostname)
		json_object_set_new(cfg, "hostname", json_string(c->hostname));
	if (cfg && c->socket_path)
		json_object_set_new(cfg, "socket", json_string(c->socket_path));
	if (cfg && c->ports)
		json_object_set_new(cfg, "ports", json_integer(c->ports));
	return json_pack("{s:i,s:o}", "proto", MSB_PROTO_VERSION, "config", cfg);
}

static char *dup_str(const json_t *v, const char *dflt)
{
	const char *s = json_string_value(v);

	return strdup(s ? s : dflt);
}

int msb_wire_hello_decode(const json_t *hello, struct msb_wire_config *cfg,
			  const char **why)
{
	const json_t *c = json_object_get(hello, "config");
	const json_t *env = json_object_get(c, "env");
	const json_t *vols = json_object_get(c, "volumes");
	json_int_t ports = json_integer_value(json_object_get(c, "ports"));
	size_t i, n;

	memset(cfg, 0, sizeof(*cfg));
	if (!msb_wire_proto_ok(hello)) {
		*why = "the host speaks another protocol version";
		return -1;
	}
	if (!json_is_object(c) || !json_is_array(env) || !json_is_array(vols)) {
		*why = "malformed configuration";
		return -1;
	}
	cfg->name = dup_str(json_object_get(c, "name"), "msb");
	if (json_string_value(json_object_get(c, "hostname")))
		cfg->hostname = dup_str(json_object_get(c, "hostname"), "");
	cfg->memory_bytes = json_integer_value(json_object_get(c, "memory"));
	cfg->cpus = json_number_value(json_object_get(c, "cpus"));
	cfg->pids = json_integer_value(json_object_get(c, "pids"));
	cfg->disk_bytes = json_integer_value(json_object_get(c, "disk"));
	cfg->timeout_ms = json_integer_value(json_object_get(c, "timeout_ms"));
	cfg->workdir = dup_str(json_object_get(c, "workdir"), "/workspace");
	cfg->rootfs = dup_str(json_object_get(c, "rootfs"), "/");
	n = json_array_size(env);
	cfg->env = calloc(n + 1, sizeof(char *));
	cfg->volumes = calloc(json_array_size(vols) ? json_array_size(vols) : 1,
			      sizeof(*cfg->volumes));
	if (!cfg->name || !cfg->workdir || !cfg->rootfs || !cfg->env ||
	    !cfg->volumes) {
		*why = "out of memory";
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!(cfg->env[i] = dup_str(json_array_get(env, i), ""))) {
			*why = "out of memory";
			return -1;
		}
	n = json_array_size(vols);
	for (i = 0; i < n; i++) {
		const json_t *v = json_array_get(vols, i);

		cfg->volumes_len = i + 1;
		cfg->volumes[i].host_path = dup_str(json_object_get(v, "host"), "");
		cfg->volumes[i].sandbox_path =
			dup_str(json_object_get(v, "sandbox"), "");
		cfg->volumes[i].read_only = json_is_true(json_object_get(v, "ro"));
		if (!cfg->volumes[i].host_path || !cfg->volumes[i].sandbox_path) {
			*why = "out of memory";
			return -1;
		}
	}
	if (ports > 0 && ports <= MSB_WIRE_MAX_PORTS)
		cfg->ports = (unsigned)ports;
	if (json_string_value(json_object_get(c, "socket")))
		cfg->socket_path = dup_str(json_object_get(c, "socket"), "");
	if (cfg->memory_bytes <= 0 || cfg->pids <= 0 || cfg->disk_bytes <= 0 ||
	    cfg->timeout_ms < 0 || !(cfg->cpus > 0)) {
		*why = "configuration has missing or invalid limits";
		return -1;
	}
	if (cfg->hostname && (!cfg->hostname[0] ||
			      strlen(cfg->hostname) > MSB_WIRE_HOSTNAME_MAX)) {
		*why = "configuration has an invalid hostname";
		return -1;
	}
	return 0;
}

void msb_wire_config_release(struct msb_wire_config *c)
{
	free(c->name);
	free(c->hostname);
	for (char **e = c->env; e && *e; e++)
		free(*e);
	free(c->env);
	free(c->workdir);
	free(c->rootfs);
	for (size_t i = 0; i < c->volumes_len; i++) {
		free(c->volumes[i].host_path);
		free(c->volumes[i].sandbox_path);
	}
	free(c->volumes);
	free(c->socket_path);
	memset(c, 0, sizeof(*c));
}

json_t *msb_wire_join_encode(void)
{
	return json_pack("{s:i}", "proto", MSB_PROTO_VERSION);
}

int msb_wire_proto_ok(const json_t *hello)
{
	return json_integer_value(json_object_get(hello, "proto")) == MSB_PROTO_VERSION;
}

json_t *msb_wire_vm_ready_encode(void)
{
	return json_pack("{s:i,s:b}", "proto", MSB_PROTO_VERSION, "ready", 1);
}

int msb_wire_vm_ready_decode(const json_t *hello)
{
	return json_is_true(json_object_get(hello, "ready"));
}

/* ---- the agent's answer -------------------------------------------------- */

json_t *msb_wire_ready_encode(const struct msb_wire_ready *r)
{
	json_t *enf = json_object(), *msg;

	for (int i = 0; i < MSB_WIRE_LIMITS; i++)
		json_object_set_new(enf, limit_names[i],
			json_string(msb_wire_enforcement_name(r->enforcement[i])));
	msg = json_pack("{s:i,s:s,s:b,s:i,s:b,s:I,s:o}",
			"proto", MSB_PROTO_VERSION, "agent", r->agent,
			"ok", 1, "cgroup", r->cgroup,
			"detached", r->detached,
			"pid", (json_int_t)r->pid,
			"enforcement", enf);
	return msg;
}

json_t *msb_wire_refusal_encode(const struct msb_wire_error *e)
{
	return json_pack("{s:i,s:b,s:o}", "proto", MSB_PROTO_VERSION, "ok", 0,
			 "error", msb_wire_error_encode(e));
}

int msb_wire_ready_decode(const json_t *hello, struct msb_wire_ready *r,
			  struct msb_wire_error *e, const char **why)
{
	const json_t *err = json_object_get(hello, "error");
	const json_t *enf;
	const char *agent;

	memset(r, 0, sizeof(*r));
	if (err || !json_is_true(json_object_get(hello, "ok"))) {
		msb_wire_error_decode(err, e);
		return 1;
	}
	if (!msb_wire_proto_ok(hello)) {
		*why = "msb-agent speaks another protocol version";
		return -1;
	}
	agent = json_string_value(json_object_get(hello, "agent"));
	snprintf(r->agent, sizeof(r->agent), "%s", agent ? agent : "");
	r->cgroup = (int)json_integer_value(json_object_get(hello, "cgroup"));
	r->detached = json_is_true(json_object_get(hello, "detached"));
	r->pid = json_integer_value(json_object_get(hello, "pid"));
	enf = json_object_get(hello, "enforcement");
	for (int i = 0; i < MSB_WIRE_LIMITS; i++)
		r->enforcement[i] = msb_wire_enforcement_parse(
			json_string_value(json_object_get(enf, limit_names[i])));
	return 0;
}
