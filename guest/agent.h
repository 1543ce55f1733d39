/*
 * agent.h - msb-agent internals shared by its modules.
 *
 * msb-agent runs in two stages. Stage 0 is the process libmsb spawned, on
 * the host: it reads the sandbox configuration from the HELLO frame, sets
 * up cgroups, and clones stage 1 into fresh namespaces. Stage 1 finishes the
 * isolation (mounts, pivot_root, capabilities, seccomp) and then serves the
 * protocol as PID 1 of the sandbox (serve.c). Stage 0 stays behind only to
 * wait for stage 1 and remove the cgroups.
 */
#ifndef MSB_AGENT_H
#define MSB_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msb.h"

/* An error inside the agent: becomes the HELLO error or a REPLY error. */
struct agent_err {
	int code;          /* an MSB_E* code */
	int os_errno;
	char message[512];
	char hint[512];
};

/* Record an error; returns -1 so that `return agent_fail(...)` reads well.
 * Either hint or the format may be NULL/"". */
int agent_fail(struct agent_err *e, int code, int os_errno, const char *hint,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

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
};

/* How each limit ended up enforced (msb_enforcement values). */
struct agent_enforcement {
	int memory, cpu, pids, disk, time;
	int cgroup_version; /* 0, 1, 2: what stage 0 used */
};

/*
 * isolate.c: enter the sandbox. Called by stage 0 with the protocol socket
 * `sock`. Returns 0 in stage 1, which is then PID 1 of a fully isolated
 * sandbox (root is the sandbox root, cwd is the workdir, capabilities are
 * gone, no_new_privs and the seccomp filter are in place, every fd but
 * `sock` is closed). Stage 0 never returns from a successful call: it
 * waits for stage 1, removes the cgroups and exits with stage 1's status.
 * Returns -1 with *err filled when isolation fails, in either stage; the
 * caller reports it over `sock` and exits.
 */
int isolate_enter(const struct agent_config *cfg, int sock,
		  struct agent_enforcement *enf, struct agent_err *err);

/* seccomp.c: build the sandbox's seccomp filter with libseccomp and write
 * it to fd as a BPF program (stage 0); read such a program from fd and
 * install it (stage 1, no_new_privs set). Both return 0 or -1 with *err. */
int seccomp_export(int fd, struct agent_err *err);
int seccomp_load_fd(int fd, struct agent_err *err);

/* serve.c: serve the protocol on `sock` until the host goes away or asks
 * to shut down. Returns the agent's exit status. */
int agent_serve(const struct agent_config *cfg, int sock,
		const struct agent_enforcement *enf);

/* isolate.c: undo /proc/self/mountinfo's octal escapes (\040 for a space,
 * ...) in place; cgroup.c uses it too. */
void mountinfo_unescape(char *s);

/* The writable area (a tmpfs of disk_bytes) is visible at these paths
 * inside the sandbox; metrics use the first to measure disk use. */
#define AGENT_RW_TMP "/tmp"
#define AGENT_RW_WORKSPACE "/workspace"
#define AGENT_RW_HOME "/root"
#define AGENT_DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#endif
