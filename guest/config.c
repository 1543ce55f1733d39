/*
 * config.c - the agent's side of the HELLO exchange: wait for the host's
 * HELLO, check the protocol version, parse the configuration it carries
 * into struct agent_config, and answer it: with the agent's own HELLO
 * (version, pid, how each limit is enforced), or with the error that ends
 * the sandbox. Clients of a detached sandbox greet the same way.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "msb.h"
#include "config.h"
#include "proto.h"

#define CONFIG_TIMEOUT_MS 10000

void config_refuse(int sock, const struct agent_err *e)
{
	json_t *msg = json_pack("{s:i,s:b,s:{s:i,s:s,s:s,s:i}}",
				"proto", MSB_PROTO_VERSION, "ok", 0, "error",
				"code", e->code, "message", e->message,
				"hint", e->hint, "errno", e->os_errno);

	if (msg)
		msb_frame_write_json(sock, MSB_FRAME_HELLO, 0, msg);
	json_decref(msg);
}

json_t *config_hello(const struct agent_config *cfg,
		     const struct agent_enforcement *e, int detached)
{
	static const char *const names[] = { "none", "rlimit", "cgroup", "kernel" };
#define ENF(x) names[(unsigned)(x) < 4 ? (unsigned)(x) : 0]
	return json_pack("{s:i,s:s,s:b,s:i,s:b,s:I,s:{s:s,s:s,s:s,s:s,s:s}}",
			 "proto", MSB_PROTO_VERSION, "agent", MSB_VERSION,
			 "ok", 1, "cgroup", e->cgroup_version,
			 "detached", detached,
			 "pid", (json_int_t)cfg->host_pid,
			 "enforcement", "memory", ENF(e->memory),
			 "cpu", ENF(e->cpu), "pids", ENF(e->pids),
			 "disk", ENF(e->disk),
			 "time", ENF(cfg->timeout_ms ? e->time : MSB_ENFORCE_NONE));
#undef ENF
}

json_t *config_hello_mismatch(void)
{
	return json_pack("{s:i,s:b,s:{s:i,s:s,s:s}}", "proto",
			 MSB_PROTO_VERSION, "ok", 0, "error",
			 "code", MSB_EPROTO, "message",
			 "protocol version mismatch", "hint",
			 "use matching libmsb and msb-agent versions");
}

static char *dup_str(const json_t *v, const char *dflt)
{
	const char *s = json_string_value(v);

	return strdup(s ? s : dflt);
}

/* Parse the config; libmsb has validated it, but check the shape anyway. */
static int parse_config(const json_t *c, struct agent_config *cfg,
			struct agent_err *err)
{
	const json_t *env = json_object_get(c, "env");
	const json_t *vols = json_object_get(c, "volumes");
	size_t i, n;

	memset(cfg, 0, sizeof(*cfg));
	if (!json_is_object(c) || !json_is_array(env) || !json_is_array(vols))
		return agent_fail(err, MSB_EPROTO, 0, "use matching libmsb and "
				  "msb-agent versions", "malformed configuration");
	cfg->name = dup_str(json_object_get(c, "name"), "msb");
	cfg->memory_bytes = json_integer_value(json_object_get(c, "memory"));
	cfg->cpus = json_number_value(json_object_get(c, "cpus"));
	cfg->pids = json_integer_value(json_object_get(c, "pids"));
	cfg->disk_bytes = json_integer_value(json_object_get(c, "disk"));
	cfg->timeout_ms = json_integer_value(json_object_get(c, "timeout_ms"));
	cfg->workdir = dup_str(json_object_get(c, "workdir"), "/workspace");
	cfg->rootfs = dup_str(json_object_get(c, "rootfs"), "/");
	n = json_array_size(env);
	cfg->env = calloc(n + 1, sizeof(char *));
	if (!cfg->env)
		return agent_fail(err, MSB_ENOMEM, ENOMEM, NULL, "config");
	for (i = 0; i < n; i++)
		cfg->env[i] = dup_str(json_array_get(env, i), "");
	n = json_array_size(vols);
	cfg->volumes = calloc(n ? n : 1, sizeof(*cfg->volumes));
	if (!cfg->volumes)
		return agent_fail(err, MSB_ENOMEM, ENOMEM, NULL, "config");
	cfg->volumes_len = n;
	for (i = 0; i < n; i++) {
		const json_t *v = json_array_get(vols, i);

		cfg->volumes[i].host_path = dup_str(json_object_get(v, "host"), "");
		cfg->volumes[i].sandbox_path =
			dup_str(json_object_get(v, "sandbox"), "");
		cfg->volumes[i].read_only = json_is_true(json_object_get(v, "ro"));
	}
	cfg->listen_fd = -1;
	cfg->port_helper = cfg->port_helper_peer = -1;
	if (json_integer_value(json_object_get(c, "ports")) > 0 &&
	    json_integer_value(json_object_get(c, "ports")) <= AGENT_MAX_PORTS)
		cfg->ports = (unsigned)json_integer_value(json_object_get(c, "ports"));
	if (json_string_value(json_object_get(c, "socket")))
		cfg->socket_path = dup_str(json_object_get(c, "socket"), "");
	if (cfg->memory_bytes <= 0 || cfg->pids <= 0 || cfg->disk_bytes <= 0 ||
	    cfg->timeout_ms < 0 || !(cfg->cpus > 0))
		return agent_fail(err, MSB_EPROTO, 0, "use matching libmsb and "
				  "msb-agent versions", "configuration has "
				  "missing or invalid limits");
	return 0;
}

/* Wait for the host's HELLO carrying the configuration. */
static json_t *read_hello(int sock, struct agent_err *err)
{
	struct msb_decoder dec;
	struct msb_frame f;
	const char *why = "the host closed the connection";
	json_t *hello = NULL;
	int rc;

	msb_decoder_init(&dec);
	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		uint8_t *buf;
		ssize_t n;

		rc = msb_decoder_next(&dec, &f, &why);
		if (rc != 0)
			break;
		if (poll(&p, 1, CONFIG_TIMEOUT_MS) == 0) {
			why = "no configuration from the host";
			rc = -1;
			break;
		}
		buf = msb_decoder_space(&dec, 4096);
		if (!buf) {
			rc = -1;
			break;
		}
		n = read(sock, buf, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -1;
			break;
		}
		msb_decoder_commit(&dec, (size_t)n);
	}
	if (rc == 1 && f.type != MSB_FRAME_HELLO) {
		why = "the first frame is not HELLO";
		rc = -1;
	}
	if (rc == 1)
		hello = msb_frame_json(&f, &why);
	if (hello && json_integer_value(json_object_get(hello, "proto")) !=
			     MSB_PROTO_VERSION) {
		json_decref(hello);
		hello = NULL;
		why = "the host speaks another protocol version";
	}
	msb_decoder_release(&dec);
	if (!hello)
		agent_fail(err, MSB_EPROTO, 0, "use matching libmsb and "
			   "msb-agent versions", "handshake failed: %s", why);
	return hello;
}

int config_read(int sock, struct agent_config *cfg, struct agent_err *err)
{
	json_t *hello = read_hello(sock, err);
	int rc;

	if (!hello)
		return -1;
	rc = parse_config(json_object_get(hello, "config"), cfg, err);
	json_decref(hello);
	return rc;
}
