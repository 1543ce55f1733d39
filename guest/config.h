/*
 * config.h - the sandbox's configuration as the agent holds it, read from
 * the host's HELLO, and how its limits ended up enforced; the HELLO
 * exchange (config.c).
 *
 * This is the agent's side of the configuration on the wire: one place to
 * change when a sandbox option is added or the wire schema moves.
 */
#ifndef MSB_AGENT_CONFIG_H
#define MSB_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "base.h"

struct agent_volume {
	char *host_path;
	char *sandbox_path;
	int read_only;
};

/* The sandbox configuration, from the host's HELLO. Limits are already
 * resolved to concrete values by libmsb (no zeros meaning "default"). */
struct agent_config {
	char *name;
	int64_t memory_bytes;
	double cpus;
	int64_t pids;
	int64_t disk_bytes;
	int64_t timeout_ms;   /* 0: no wall-time limit */
	char **env;           /* NULL-terminated "K=V", never NULL */
	char *workdir;
	char *rootfs;         /* "/" for the host's system directories */
	struct agent_volume *volumes;
	size_t volumes_len;
	char *socket_path;    /* detached: where to listen, else NULL */
	int listen_fd;        /* detached: the listening socket, else -1 */
	pid_t host_pid;       /* stage 0's pid on the host */
	int vm;               /* /init of a microVM (vm.c) */
	/* A detached microVM: its clients come through virtio-console ports
	 * 1..ports (port 1 is `sock`), which stage 0 (re)opens on request
	 * over a socketpair: port_helper is stage 1's end, port_helper_peer
	 * stage 0's; both -1 otherwise. */
	unsigned ports;
	int port_helper, port_helper_peer;
};

/* Most virtio-console ports a detached microVM has (msb-vmm --ports). */
#define AGENT_MAX_PORTS 16

/* How each limit ended up enforced (msb_enforcement values). */
struct agent_enforcement {
	int memory, cpu, pids, disk, time;
	int cgroup_version; /* 0, 1, 2: what stage 0 used */
};

/* Wait (at most 10 s) for the host's HELLO on sock and parse the
 * configuration it carries into *cfg. Returns 0, or -1 with *err (then
 * tell the host with config_refuse()). */
int config_read(int sock, struct agent_config *cfg, struct agent_err *err);

/* Answer the host's HELLO with the error that ends this sandbox. */
void config_refuse(int sock, const struct agent_err *err);

/* The agent's HELLO for a client that greeted it: the protocol and agent
 * versions, the sandbox's pid on the host, whether it is detached, and
 * how each limit is enforced. NULL without memory. */
json_t *config_hello(const struct agent_config *cfg,
		     const struct agent_enforcement *enf, int detached);

/* The HELLO refusing a client that speaks another protocol version. */
json_t *config_hello_mismatch(void);

#endif
