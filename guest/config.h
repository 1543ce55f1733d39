/*
 * config.h - the sandbox's configuration as the agent holds it, read from
 * the host's HELLO, and how its limits ended up enforced; the HELLO
 * exchange (config.c).
 *
 * The configuration's fields are common/wire.h's struct msb_wire_config:
 * a sandbox option added there arrives here decoded, and only the module
 * that uses it needs to change.
 */
#ifndef MSB_AGENT_CONFIG_H
#define MSB_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "base.h"

/* The sandbox configuration: what the host's HELLO carried (decoded by
 * common/wire.c; limits are already resolved by libmsb, no zeros meaning
 * "default"), and what the agent adds to it. */
struct agent_config {
	struct msb_wire_config w;
	int listen_fd;        /* detached: the listening socket, else -1 */
	pid_t host_pid;       /* stage 0's pid on the host */
	int vm;               /* /init of a microVM (vm.c) */
	/* A detached microVM: its clients come through virtio-console ports
	 * 1..w.ports (port 1 is `sock`), which stage 0 (re)opens on request
	 * over a socketpair: port_helper is stage 1's end, port_helper_peer
	 * stage 0's; both -1 otherwise. */
	int port_helper, port_helper_peer;
};

/* Most virtio-console ports a detached microVM has (msb-vmm --ports). */
#define AGENT_MAX_PORTS MSB_WIRE_MAX_PORTS

/* The sandbox's hostname: the option, else its name cut to 63 chars. */
const char *config_hostname(const struct agent_config *cfg, char buf[64]);

/* How each limit ended up enforced (msb_wire_enforcement values). */
struct agent_enforcement {
	int memory, cpu, pids, disk, time;
	int cgroup_version; /* 0, 1, 2: what stage 0 used */
};

/* Wait (at most 10 s) for the host's HELLO on sock and parse the
 * configuration it carries into *cfg. Returns 0, or -1 with *err (then
 * tell the host with config_refuse()). */
int config_read(int sock, struct agent_config *cfg, struct msb_wire_error *err);

/* Answer the host's HELLO with the error that ends this sandbox. */
void config_refuse(int sock, const struct msb_wire_error *err);

/* The agent's HELLO for a client that greeted it: the protocol and agent
 * versions, the sandbox's pid on the host, whether it is detached, and
 * how each limit is enforced. NULL without memory. */
json_t *config_hello(const struct agent_config *cfg,
		     const struct agent_enforcement *enf, int detached);

/* The HELLO refusing a client that speaks another protocol version. */
json_t *config_hello_mismatch(void);

#endif
