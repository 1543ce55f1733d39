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

#include <jansson.h>

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
	char *socket_path;    /* detached: where to listen, else NULL */
	int listen_fd;        /* detached: the listening socket, else -1 */
	pid_t host_pid;       /* stage 0's pid on the host */
	int vm;               /* /init of a microVM (vminit.c) */
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

/* vminit.c: msb-agent as /init of a microVM.  vm_detect(): are we?
 * vm_early(): mount /dev, /proc, /sys and cgroup2, open the protocol
 * channel as *channel: the console /dev/hvc0, or for a detached VM (a
 * MULTIPORT console: *multiport set) port 1 once the host connected to
 * it.  vm_root(): after the HELLO, make the root filesystem image
 * (/dev/vda) the root.  vm_power_off(): end the VM (PID 1 must never
 * exit). */
int vm_detect(void);
int vm_early(int *channel, int *multiport, struct agent_err *err);
int vm_root(struct agent_err *err);
void vm_power_off(int status) __attribute__((noreturn));
/* Stage 0 of a detached VM: open ports 1..nports on stage 1's requests
 * over `fd` until stage 1 hangs up. */
void vm_serve_ports(int fd, unsigned nports);
/* Stage 1: ask stage 0 over `helper` for port `port`, opened afresh
 * (O_RDWR | O_NONBLOCK | O_CLOEXEC): the fd, or -errno. */
int vm_port_request(int helper, unsigned port);

/* seccomp.c: build the sandbox's seccomp filter with libseccomp and write
 * it to fd as a BPF program (stage 0); read such a program from fd and
 * install it (stage 1, no_new_privs set). Both return 0 or -1 with *err. */
int seccomp_export(int fd, struct agent_err *err);
int seccomp_load_fd(int fd, struct agent_err *err);

/* metrics.c: note the time the sandbox started (for cpu %). */
void metrics_start(void);

/* loop.c: serve the protocol on `sock` (and, for a detached sandbox, on
 * every connection accepted on `listen_fd`, else -1) until the host goes
 * away or asks to shut down. Returns the agent's exit status. */
int agent_serve(const struct agent_config *cfg, int sock, int listen_fd,
		const struct agent_enforcement *enf);

/* ---- the event loop (loop.c), for the modules that implement ops ------ */

struct agent;   /* the server: one per sandbox */
struct client;  /* one connection from libmsb */

/* The sandbox's configuration, for modules. */
const struct agent_config *agent_config(const struct agent *a);

uint64_t agent_now_ns(void);

/* Call fn when fd is ready for `events` (POLLIN, POLLOUT); one watch per
 * fd. agent_unwatch() before closing the fd. Callbacks may (un)watch. */
typedef void (*watch_fn)(struct agent *a, int fd, short revents, void *data);
int agent_watch(struct agent *a, int fd, short events, watch_fn fn, void *data);
void agent_watch_events(struct agent *a, int fd, short events);
void agent_unwatch(struct agent *a, int fd);
/* Flow control: fd's bytes go to client c (NULL: to nobody). While c is
 * behind (client_congested), the loop does not poll fd at all, so the
 * producer stops reading its source until the client has caught up. The
 * watch keeps a reference to c; agent_watch() and agent_unwatch() drop
 * it. */
void agent_watch_client(struct agent *a, int fd, struct client *c);

/* Call fn once at deadline (agent_now_ns() clock). Returns a timer id
 * (never 0) for agent_timer_cancel(), which ignores ids that fired. */
typedef void (*timer_fn)(struct agent *a, void *data);
uint64_t agent_timer(struct agent *a, uint64_t deadline_ns, timer_fn fn, void *data);
void agent_timer_cancel(struct agent *a, uint64_t id);

/* Call fn with the wait status when child pid exits (the loop reaps every
 * child; unclaimed ones are orphans, reaped as PID 1 must). */
typedef void (*child_fn)(struct agent *a, pid_t pid, int status, void *data);
int agent_child(struct agent *a, pid_t pid, child_fn fn, void *data);

/* Signal every process in the sandbox but the agent (PID 1 only). */
void agent_kill_all(int sig);

/* Frames to a client. client_reply() takes the reference to obj. A client
 * that went away makes these no-ops (check client_alive()). They never
 * block: what the connection does not take now is queued, and a client
 * too far behind is dropped (client_send() then returns < 0). */
int client_send(struct client *c, uint8_t type, uint32_t id, const void *data, size_t len);
/* Whether c's queue is over its high-water mark, until it is back under
 * its low-water mark: a producer stops sending to it meanwhile (and
 * watches its source with agent_watch_client()). */
int client_congested(const struct client *c);
void client_reply(struct client *c, uint32_t id, json_t *obj);
void client_event(struct client *c, uint32_t id, json_t *obj);
void client_error(struct client *c, uint32_t id, int code, int os_errno,
		  const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
int client_alive(const struct client *c);
/* Clients are reference counted so that modules may keep one past its
 * disconnection (sends then do nothing). */
void client_ref(struct client *c);
void client_unref(struct client *c);

/* A request that outlives its CALL (a running command, a file upload):
 * STDIN and CANCEL frames with its id go to these callbacks. on_detach
 * runs when the client disconnects; it must end the request (untrack). */
struct request_ops {
	void (*on_stdin)(struct agent *a, struct client *c, uint32_t id,
			 const uint8_t *data, size_t len, void *rd); /* len 0: EOF */
	void (*on_cancel)(struct agent *a, struct client *c, uint32_t id,
			  int sig, void *rd);
	void (*on_detach)(struct agent *a, struct client *c, uint32_t id, void *rd);
};
int client_track(struct client *c, uint32_t id, const struct request_ops *ops, void *rd);
void client_untrack(struct client *c, uint32_t id);

/* An operation: a CALL {"op": name, ...}. The handler answers with
 * client_reply()/client_error() now or later (then it tracks the id). */
typedef void (*op_fn)(struct agent *a, struct client *c, uint32_t id, const json_t *req);

/* exec.c: commands, background processes, PTY sessions */
void op_exec(struct agent *a, struct client *c, uint32_t id, const json_t *req);
void op_resize(struct agent *a, struct client *c, uint32_t id, const json_t *req);
void op_ps(struct agent *a, struct client *c, uint32_t id, const json_t *req);
/* metrics.c */
void op_metrics(struct agent *a, struct client *c, uint32_t id, const json_t *req);
/* repl.c */
void op_repl_run(struct agent *a, struct client *c, uint32_t id, const json_t *req);
void op_repl_context(struct agent *a, struct client *c, uint32_t id, const json_t *req);
/* files.c */
void op_file(struct agent *a, struct client *c, uint32_t id, const json_t *req);

/* The environment of commands: the documented defaults, then the
 * sandbox's env, then `extra` (a JSON array of "K=V", may be NULL).
 * NULL-terminated; free the array only (the strings are borrowed from
 * cfg and extra). */
char **agent_build_env(const struct agent_config *cfg, const json_t *extra);

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
