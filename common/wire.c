/*
 * wire.c - encode and decode the handshake's records, the error object
 * and byte strings (paths, argv, env: bytes that need not be UTF-8) (see
 * wire.h); both libmsb and msb-agent link this file.
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

/* ---- byte strings --------------------------------------------------------- */

/* The length of the UTF-8 sequence at s (n bytes left), or 0 when there is
 * none: NUL, a stray or cut-short sequence, an overlong form, a surrogate,
 * a code point above U+10FFFF (what jansson refuses, and NUL). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0], cp, min;
	size_t need;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (n <= need)
		return 0;
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

int msb_wire_is_text(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	while (n > 0) {
		size_t k = utf8_seq(p, n);

		if (!k)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json_t *msb_wire_bytes_encode(const void *p, size_t n)
{
	const unsigned char *b = p;
	json_t *j = NULL;
	char *s;
	size_t o = 0;

	if (msb_wire_is_text(p, n) && (j = json_stringn(p, n)))
		return j;
	if (n > (SIZE_MAX - 1) / 4 * 3 - 3 || !(s = malloc((n + 2) / 3 * 4 + 1)))
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)b[i] << 16 |
			     (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) |
			     (i + 2 < n ? b[i + 2] : 0);

		s[o++] = b64_chars[v >> 18 & 63];
		s[o++] = b64_chars[v >> 12 & 63];
		s[o++] = i + 1 < n ? b64_chars[v >> 6 & 63] : '=';
		s[o++] = i + 2 < n ? b64_chars[v & 63] : '=';
	}
	j = json_pack("{s:s%}", "b64", s, o);
	free(s);
	return j;
}

json_t *msb_wire_str_encode(const char *s)
{
	return msb_wire_bytes_encode(s, strlen(s));
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_chars, c) : NULL;

	return p ? (int)(p - b64_chars) : -1;
}

/* Strict base64: padded, no other characters, no stray bits; the bytes
 * into out (room for n / 4 * 3). Returns their count, or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out)
{
	size_t o = 0;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		int pad = last ? (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=') : 0;
		int v[4];
		unsigned bits;

		for (int k = 0; k < 4 - pad; k++)
			if ((v[k] = b64_value(s[i + k])) < 0)
				return -1;
		for (int k = 4 - pad; k < 4; k++)
			v[k] = 0;
		bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
		       (unsigned)v[2] << 6 | (unsigned)v[3];
		if ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff)))
			return -1; /* stray bits: not the one encoding */
		out[o++] = bits >> 16;
		if (pad < 2)
			out[o++] = bits >> 8 & 0xff;
		if (pad < 1)
			out[o++] = bits & 0xff;
	}
	return (long)o;
}

int msb_wire_bytes_decode(const json_t *v, char **out, size_t *len)
{
	const json_t *b64 = json_object_get(v, "b64");
	const char *s;
	size_t n;
	long k;

	*out = NULL;
	*len = 0;
	if (json_is_string(v)) {
		n = json_string_length(v);
		if (!(*out = malloc(n + 1)))
			return -2;
		memcpy(*out, json_string_value(v), n);
		(*out)[n] = '\0';
		*len = n;
		return 0;
	}
	if (!json_is_object(v) || json_object_size(v) != 1 || !json_is_string(b64))
		return -1;
	s = json_string_value(b64);
	n = json_string_length(b64);
	if (!(*out = malloc(n / 4 * 3 + 1)))
		return -2;
	if ((k = b64_decode(s, n, (unsigned char *)*out)) < 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	(*out)[k] = '\0';
	*len = (size_t)k;
	return 0;
}

int msb_wire_str_decode(const json_t *v, char **out)
{
	size_t n;
	int rc = msb_wire_bytes_decode(v, out, &n);

	if (rc == 0 && strlen(*out) != n) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return rc;
}

int msb_wire_strv_decode(const json_t *arr, char ***out, size_t *bad)
{
	size_t n = json_array_size(arr);
	char **v;
	int rc;

	*out = NULL;
	*bad = 0;
	if (!json_is_array(arr))
		return -1;
	if (!(v = calloc(n + 1, sizeof(*v))))
		return -2;
	for (size_t i = 0; i < n; i++)
		if ((rc = msb_wire_str_decode(json_array_get(arr, i), &v[i]))) {
			*bad = i;
			msb_wire_strv_free(v);
			return rc;
		}
	*out = v;
	return 0;
}

void msb_wire_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* ---- the error object ------------------------------------------------------ */

/* s as JSON text: a byte that is not UTF-8 becomes "\xNN". */
static json_t *text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = 0;
	char *buf;
	json_t *j;

	if (msb_wire_is_text(s, n))
		return json_stringn(s, n);
	if (!(buf = malloc(n * 4 + 1)))
		return NULL;
	while (n > 0) {
		size_t k = utf8_seq(p, n);

		if (k) {
			memcpy(buf + o, p, k);
			o += k;
		} else {
			k = 1;
			o += (size_t)sprintf(buf + o, "\\x%02x", *p);
		}
		p += k;
		n -= k;
	}
	j = json_stringn(buf, o);
	free(buf);
	return j;
}

json_t *msb_wire_error_encode(const struct msb_wire_error *e)
{
	return json_pack("{s:i,s:o,s:o,s:i}", "code", e->code,
			 "message", text(e->message), "hint", text(e->hint),
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
	int bad = !env || !vols;

	for (char **e = c->env; e && *e; e++)
		bad |= json_array_append_new(env, msb_wire_str_encode(*e));
	for (size_t i = 0; i < c->volumes_len; i++)
		bad |= json_array_append_new(vols, json_pack("{s:o,s:o,s:b}",
			"host", msb_wire_str_encode(c->volumes[i].host_path),
			"sandbox", msb_wire_str_encode(c->volumes[i].sandbox_path),
			"ro", c->volumes[i].read_only));
	if (bad) {
		json_decref(env);
		json_decref(vols);
		return NULL;
	}
	cfg = json_pack("{s:o,s:I,s:f,s:I,s:I,s:I,s:o,s:o,s:o,s:o}",
			"name", msb_wire_str_encode(c->name),
			"memory", (json_int_t)c->memory_bytes,
			"cpus", c->cpus,
			"pids", (json_int_t)c->pids,
			"disk", (json_int_t)c->disk_bytes,
			"timeout_ms", (json_int_t)c->timeout_ms,
			"env", env,
			"workdir", msb_wire_str_encode(c->workdir),
			"rootfs", msb_wire_str_encode(c->rootfs),
			"volumes", vols);
	if (cfg && c->hostname &&
	    json_object_set_new(cfg, "hostname", json_string(c->hostname)))
		goto fail;
	if (cfg && c->socket_path &&
	    json_object_set_new(cfg, "socket", msb_wire_str_encode(c->socket_path)))
		goto fail;
	if (cfg && c->ports)
		json_object_set_new(cfg, "ports", json_integer(c->ports));
	return json_pack("{s:i,s:o}", "proto", MSB_PROTO_VERSION, "config", cfg);
fail:
	json_decref(cfg);
	return NULL;
}

/* A byte string of the configuration into *out (dflt when v is absent).
 * Returns 0, or -1 with *why. */
static int dup_value(const json_t *v, const char *dflt, char **out,
		     const char **why)
{
	int rc;

	if (!v && dflt) {
		*out = strdup(dflt);
		rc = *out ? 0 : -2;
	} else {
		rc = msb_wire_str_decode(v, out);
	}
	if (rc == -2)
		*why = "out of memory";
	else if (rc)
		*why = "malformed configuration: a string or path is not a "
		       "byte string";
	return rc ? -1 : 0;
}

static int dup_bytes(const json_t *c, const char *key, const char *dflt,
		     char **out, const char **why)
{
	return dup_value(json_object_get(c, key), dflt, out, why);
}

int msb_wire_hello_decode(const json_t *hello, struct msb_wire_config *cfg,
			  const char **why)
{
	const json_t *c = json_object_get(hello, "config");
	const json_t *env = json_object_get(c, "env");
	const json_t *vols = json_object_get(c, "volumes");
	json_int_t ports = json_integer_value(json_object_get(c, "ports"));
	size_t i, n;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!msb_wire_proto_ok(hello)) {
		*why = "the host speaks another protocol version";
		return -1;
	}
	if (!json_is_object(c) || !json_is_array(env) || !json_is_array(vols)) {
		*why = "malformed configuration";
		return -1;
	}
	if (dup_bytes(c, "name", "msb", &cfg->name, why) ||
	    (json_object_get(c, "hostname") &&
	     dup_bytes(c, "hostname", NULL, &cfg->hostname, why)) ||
	    dup_bytes(c, "workdir", "/workspace", &cfg->workdir, why) ||
	    dup_bytes(c, "rootfs", "/", &cfg->rootfs, why) ||
	    (json_object_get(c, "socket") &&
	     dup_bytes(c, "socket", NULL, &cfg->socket_path, why)))
		return -1;
	cfg->memory_bytes = json_integer_value(json_object_get(c, "memory"));
	cfg->cpus = json_number_value(json_object_get(c, "cpus"));
	cfg->pids = json_integer_value(json_object_get(c, "pids"));
	cfg->disk_bytes = json_integer_value(json_object_get(c, "disk"));
	cfg->timeout_ms = json_integer_value(json_object_get(c, "timeout_ms"));
	if ((rc = msb_wire_strv_decode(env, &cfg->env, &i))) {
		*why = rc == -2 ? "out of memory" : "malformed configuration: "
		       "an env entry is not a byte string";
		return -1;
	}
	cfg->volumes = calloc(json_array_size(vols) ? json_array_size(vols) : 1,
			      sizeof(*cfg->volumes));
	if (!cfg->volumes) {
		*why = "out of memory";
		return -1;
	}
	n = json_array_size(vols);
	for (i = 0; i < n; i++) {
		const json_t *v = json_array_get(vols, i);

		cfg->volumes_len = i + 1;
		cfg->volumes[i].read_only = json_is_true(json_object_get(v, "ro"));
		if (dup_bytes(v, "host", NULL, &cfg->volumes[i].host_path, why) ||
		    dup_bytes(v, "sandbox", NULL, &cfg->volumes[i].sandbox_path, why))
			return -1;
	}
	if (ports > 0 && ports <= MSB_WIRE_MAX_PORTS)
		cfg->ports = (unsigned)ports;
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
	msb_wire_strv_free(c->env);
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
