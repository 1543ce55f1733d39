/*
 * internal.h - libmsb's private structures and helpers.
 */
#ifndef MSB_INTERNAL_H
#define MSB_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "msb.h"
#include "proto.h"

struct request;

/* error.c ------------------------------------------------------------------ */

/* Raise an error on this thread; returns `code` so callers can
 * `return msb_fail(...)`. hint may be NULL. */
int msb_fail(int code, int os_errno, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Raise an error from an agent's {"code","message","hint","errno"} object. */
int msb_fail_json(const json_t *err, const char *context);

/* Keep this thread's error across cleanup code that may raise its own. */
struct msb_saved_error {
	int code, os_errno;
	char message[1024], hint[1024];
};
void msb_error_save(struct msb_saved_error *s);
int msb_error_restore(const struct msb_saved_error *s); /* returns code */

/* Return 0 after clearing the thread's error: `return msb_ok();` */
int msb_ok(void);

/* host.c: 1 if this host's KVM can boot a standard guest; the reason goes
 * to why either way; *usable (may be NULL): /dev/kvm answers at all. */
int msb_kvm_check(int *usable, char *why, size_t n);

/* sandbox.c: MSB_EINVAL with a hint when the handle is NULL, else 0. */
int msb_check_sb(const msb_sandbox *sb);
/* sandbox.c: check a "KEY=VALUE" list; copy it when out is not NULL. */
int msb_check_env(const char *const *env, char ***out, const char *what);

/* command.c: shared with process.c and friends. */
#define MSB_DEFAULT_OUTPUT_CAP (16ll << 20)
int msb_command_check(const msb_command_options *o);
/* The exec CALL for o (output capped at cap bytes per stream). */
int msb_exec_call(json_t **out, const msb_command_options *o, int64_t cap);
/* Append to b, keeping at most cap bytes (sets *truncated past it). 0 or -1. */
int msb_buf_append(msb_buf *b, const uint8_t *d, size_t n, int64_t cap,
		   int *truncated);
/* Send bytes as STDIN frames for request id, then EOF if asked. */
int msb_send_data(msb_sandbox *sb, uint32_t id, const void *data, size_t n,
		  int eof);
/* Take a request's output until its REPLY: into out/err (at most cap bytes
 * each) or, with cb, to the callback on this thread; a callback returning
 * non-zero sends a CANCEL with cancel_signal, sets *canceled and the rest
 * is drained. Returns 0 once the REPLY is there, or an error. */
int msb_request_collect(msb_sandbox *sb, struct request *req, msb_buf *out,
			int *out_truncated, msb_buf *err, int *err_truncated,
			int64_t cap, msb_output_cb cb, void *payload,
			int cancel_signal, int *canceled);
/* Fill res from an exec REPLY; raises the agent's error if it failed. */
int msb_result_fill(msb_command_result *res, const json_t *reply);

/* conn.c ------------------------------------------------------------------- */

struct chunk {
	struct chunk *next;
	uint8_t type;  /* MSB_FRAME_STDOUT / MSB_FRAME_STDERR */
	size_t len;
	uint8_t data[];
};

/* One request in flight: the reader thread fills it, the caller drains it. */
struct request {
	struct request *next;
	uint32_t id;
	struct chunk *head, *tail;
	json_t *reply;     /* the REPLY, once it arrived */
	json_t *event;     /* the latest EVENT for this request */
	int lost;          /* the connection died before the reply */
};

/*
 * The connection. There is no reader thread: a thread waiting for its
 * request reads the socket itself when nobody else is (it "leads"),
 * delivers whatever frames arrive to their requests, and wakes the other
 * waiters, one of which leads next. This saves a thread per sandbox and a
 * thread switch per request.
 */
struct conn {
	int fd;
	pthread_mutex_t wlock;  /* serialises frame writes */
	/* guarded by the sandbox lock: */
	pthread_cond_t cond;    /* something was delivered, or the lead is free */
	int reading;            /* a thread is reading the socket */
	int dead;               /* EOF or garbage: nothing more will come */
	struct msb_decoder dec;
	uint32_t next_id;
	struct request *requests;
};

/* The sandbox. `lock` guards status, the request list and the exit data. */
struct msb_sandbox {
	pthread_mutex_t lock;
	msb_status status;
	msb_backend backend;
	char *name;

	/* Validated, resolved options (owned copies). */
	int64_t memory_bytes, pids, disk_bytes, timeout_ms;
	double cpus;
	char **env;
	char *workdir;
	char *rootfs;
	msb_volume *volumes;
	size_t volumes_len;

	pid_t agent_pid;
	int agent_reaped;
	int agent_status;    /* its wait status, once reaped by msb_os_wait */
	struct conn conn;
	int stopping;
	char exit_reason[128];
	msb_enforcement enforcement[5];
	uint64_t started_ns;

	/* Named, detached sandboxes (registry.c). */
	int detached;        /* outlives this handle: free only disconnects */
	char *socket_path;   /* where its agent listens */
	char backend_reason[320]; /* why this backend (msb_sandbox_backend_reason) */
	pid_t host_pid;      /* stage 0 of its agent, on the host */
};

uint64_t msb_now_ns(void);

/* Start serving requests on sb->conn.fd (after the handshake). */
int msb_conn_start(msb_sandbox *sb);
/* Shut the connection down (waits for a reading thread to let go). */
void msb_conn_stop(msb_sandbox *sb);
/* Notice, without blocking, whether the agent went away or said it is
 * ending (for status queries between requests). */
void msb_conn_poll(msb_sandbox *sb);

/* Register a request and send its CALL. On success *out is registered and
 * must be released with msb_request_end(). */
int msb_request_begin(msb_sandbox *sb, struct request **out, json_t *call);
/* Wait for the next event: a chunk (returned, caller frees) or the reply.
 * Returns 1 with *chunk set, 0 when the reply is there (req->reply) and no
 * chunk is left, or a negative MSB_E* code when the sandbox is gone or the
 * deadline (absolute, msb_now_ns clock, 0 = none) passes. */
int msb_request_wait(msb_sandbox *sb, struct request *req,
		     struct chunk **chunk, uint64_t deadline_ns);
void msb_request_end(msb_sandbox *sb, struct request *req);
/* Wait until the request has an EVENT (returns 0; chunks stay queued), or
 * fails (its error REPLY, the sandbox gone, the deadline). */
int msb_request_wait_event(msb_sandbox *sb, struct request *req,
			   uint64_t deadline_ns);
/* Send a frame on the connection (thread-safe). Returns 0 or MSB_EIO. */
int msb_conn_send(msb_sandbox *sb, uint8_t type, uint32_t id,
		  const void *data, size_t len);
/* A CALL that expects one JSON REPLY with "ok": true; returns the reply. */
int msb_call(msb_sandbox *sb, json_t *call, json_t **reply, int64_t timeout_ms);

/* backend_os.c --------------------------------------------------------------- */

/* Read a HELLO frame from the agent (30 s deadline) as JSON. */
int msb_read_hello(msb_sandbox *sb, json_t **out);
/* Send a HELLO and check the agent's answer; fills the enforcement and
 * sb->host_pid. */
int msb_handshake(msb_sandbox *sb, const json_t *hello);
/* Spawn the agent, do the handshake; fills sb->agent_pid, sb->conn.fd and
 * sb->enforcement. */
int msb_os_start(msb_sandbox *sb);
/* Find a file of ours: $env if set, else <dir of libmsb or of the program>/
 * REL for each of rels, else `installed`. */
int msb_find_file(const char *env, const char *const *rels,
		  const char *installed, const char *what, char *out,
		  size_t outsz);
/* The HELLO carrying the sandbox's configuration. */
json_t *msb_config_json(const msb_sandbox *sb);
/* A socketpair whose sv[1] is above 3 (to be the child's fd 3). */
int msb_socketpair(int sv[2]);
/* posix_spawn path with argv, child_fd (if >= 0) as fd 3, /dev/null on 0
 * and 1, and err_fd (or /dev/null) on 2; sets sb->agent_pid. */
int msb_spawn(msb_sandbox *sb, const char *path, char *const argv[],
	      int child_fd, int err_fd);
/* Wait for the agent process to exit, up to timeout_ms; 1 if it exited
 * (its wait status in sb->agent_status, when we reaped it). */
int msb_os_wait(msb_sandbox *sb, int64_t timeout_ms);
/* Make sure the agent process is gone and reaped. */
void msb_os_kill(msb_sandbox *sb);

/* backend_vm.c: spawn msb-vmm booting msb-agent in a microVM and shake
 * hands over its console; the VMM is sb->agent_pid (msb_os_wait/kill).
 * A detached one runs in the background (msb-vmm --detach): the VMM is
 * sb->host_pid, its clients connect to sb->socket_path, each to a
 * virtio-console port of its own (at most MSB_VM_PORTS at a time). */
#define MSB_VM_PORTS 8
int msb_vm_start(msb_sandbox *sb);
/* Find msb-vmm, the agent, the guest kernel and the root image (f may be
 * NULL: just check); 0 or an MSB_E* code with the error set. */
struct vm_files;
int msb_vm_find(struct vm_files *f);
/* The VMM's resident memory (its own and the guest memory it touched). */
uint64_t msb_vm_rss(const msb_sandbox *sb);
/* What this sandbox asks for that the vm backend cannot do, or NULL. */
/* What the vm backend cannot do yet that SB asks for, or NULL; *hint (may
 * be NULL) gets what to do instead. */
const char *msb_vm_unsupported(const msb_sandbox *sb, const char **hint);
/* host.c: 1 if the vm backend can start here (KVM and the files); the
 * reason goes to why either way.  Leaves the thread's error as it was. */
int msb_vm_ready(char *why, size_t n);

/* registry.c ------------------------------------------------------------------ */

/* A name a detached sandbox can have (it names a directory). */
int msb_registry_check_name(const char *name);
/* Connect to a Unix socket: the fd, or -1 with errno. */
int msb_unix_connect(const char *path);
/* The pid of the process listening at the other end of a connected Unix
 * socket (SO_PEERCRED), or -1. */
pid_t msb_peer_pid(int fd);
/* Before a detached start: check the name, clear a stale entry, and set
 * sb->socket_path. */
int msb_registry_prepare(msb_sandbox *sb);
/* After it: record the sandbox (pid, creation time). */
int msb_registry_record(msb_sandbox *sb);
/* After msb_sandbox_stop(): mark it stopped. */
void msb_registry_stopped(msb_sandbox *sb);
/* Wait up to grace_ms for the agent stage 0 or VMM `pid` to end, then
 * SIGTERM, then SIGKILL it (only if it still is an msb-agent or msb-vmm). */
void msb_sandbox_kill_pid(pid_t pid, int grace_ms);

#endif
