/*
 * config.c - the agent's side of the HELLO exchange: wait for the host's
 * HELLO, check the protocol version, decode the configuration it carries
 * (common/wire.c) into struct agent_config, and answer it: with the
 * agent's own HELLO (version, pid, how each limit is enforced), or with
 * the error that ends the sandbox. Clients of a detached sandbox greet the
 * same way. The records themselves are common/wire.h's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "proto.h"
#include "wire.h"

#define CONFIG_TIMEOUT_MS 10000

void config_refuse(int sock, const struct msb_wire_error *e)
{
	json_t *msg = msb_wire_refusal_encode(e);

	if (msg)
		msb_frame_write_json(sock, MSB_FRAME_HELLO, 0, msg);
	json_decref(msg);
}

json_t *config_hello(const struct agent_config *cfg,
		     const struct agent_enforcement *e, int detached)
{
	struct msb_wire_ready r = {
		.cgroup = e->cgroup_version,
		.detached = detached,
		.pid = cfg->host_pid,
		.enforcement = {
			[MSB_WIRE_LIMIT_MEMORY] = e->memory,
			[MSB_WIRE_LIMIT_CPU] = e->cpu,
			[MSB_WIRE_LIMIT_PIDS] = e->pids,
			[MSB_WIRE_LIMIT_DISK] = e->disk,
			[MSB_WIRE_LIMIT_TIME] = cfg->w.timeout_ms ? e->time
						: MSB_WIRE_ENFORCE_NONE,
		},
	};

	snprintf(r.agent, sizeof(r.agent), "%s", MSB_AGENT_VERSION);
	return msb_wire_ready_encode(&r);
}

json_t *config_hello_mismatch(void)
{
	struct msb_wire_error e;

	msb_wire_fail(&e, MSB_WIRE_EPROTO, 0, "use matching libmsb and "
		      "msb-agent versions", "protocol version mismatch");
	return msb_wire_refusal_encode(&e);
}

const char *config_hostname(const struct agent_config *cfg, char buf[64])
{
	const char *h = cfg->w.hostname ? cfg->w.hostname : cfg->w.name;

	snprintf(buf, 64, "%s", h && h[0] ? h : "msb");
	return buf;
}

int config_read(int sock, struct agent_config *cfg, struct msb_wire_error *err)
{
	struct msb_decoder dec;
	struct msb_frame f;
	const char *why = "the host closed the connection";
	json_t *hello = NULL;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_fd = -1;
	cfg->port_helper = cfg->port_helper_peer = -1;
	msb_decoder_init(&dec);
	rc = msb_frame_read(sock, &dec, &f, agent_now_ns() +
			    CONFIG_TIMEOUT_MS * 1000000ull, &why);
	if (rc == 0)
		why = "no configuration from the host";
	if (rc == 1 && f.type != MSB_FRAME_HELLO)
		why = "the first frame is not HELLO";
	else if (rc == 1)
		hello = msb_frame_json(&f, &why);
	msb_decoder_release(&dec);
	if (hello && !msb_wire_proto_ok(hello)) {
		json_decref(hello);
		hello = NULL;
		why = "the host speaks another protocol version";
	}
	if (!hello)
		return msb_wire_fail(err, MSB_WIRE_EPROTO, 0, "use matching "
				     "libmsb and msb-agent versions",
				     "handshake failed: %s", why);
	/* libmsb has validated it, but the shape is checked anyway */
	rc = msb_wire_hello_decode(hello, &cfg->w, &why);
	json_decref(hello);
	if (rc < 0)
		return msb_wire_fail(err, MSB_WIRE_EPROTO, 0, "use matching "
				     "libmsb and msb-agent versions", "%s", why);
	return 0;
}
