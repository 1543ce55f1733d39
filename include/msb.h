/*
 * msb.h - the public C API of libmsb, a library that runs untrusted code in
 * sandboxes.
 *
 * Conventions (see docs/API.md for the full policy):
 *  - Fallible functions return 0 or a negative MSB_E* code; results come back
 *    through an out-parameter that is always the first argument.
 *  - After a failure, msb_error_last() describes it (message, hint, errno).
 *    It is thread-local: read it on the thread that made the failing call.
 *  - Options structs start with `unsigned int version`; initialise them with
 *    the matching *_INIT macro or *_init() function. Fields are only appended.
 *  - What comes back through `**out` belongs to the caller and is released
 *    by the matching NULL-safe *_free() function.
 *
 * This header compiles on its own as C99 and as C++.
 */
#ifndef MSB_H
#define MSB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MSB_BUILDING_LIBRARY) && defined(__GNUC__)
#define MSB_EXTERN __attribute__((visibility("default")))
#else
#define MSB_EXTERN
#endif

/* ---------------------------------------------------------------------------
 * Versions
 */
#define MSB_VERSION_MAJOR 0
#define MSB_VERSION_MINOR 1
#define MSB_VERSION_PATCH 0
#define MSB_VERSION "0.1.0"

/* The library's version at run time, e.g. "0.1.0". Never NULL. */
MSB_EXTERN const char *msb_version(void);

/* ---------------------------------------------------------------------------
 * Errors
 *
 * The codes are append-only; their values never change.
 */
typedef enum msb_error_code {
	MSB_OK = 0,
	MSB_ERROR = -1,        /* generic failure, see msb_error_last() */
	MSB_EINVAL = -2,       /* an argument or option is invalid */
	MSB_ENOMEM = -3,       /* out of memory */
	MSB_EVERSION = -4,     /* unknown options struct version */
	MSB_ESTATE = -5,       /* the sandbox is not in a state that allows this */
	MSB_EUNSUPPORTED = -6, /* this host or backend cannot do this */
	MSB_ESPAWN = -7,       /* the sandbox could not be started */
	MSB_EPROTO = -8,       /* the agent spoke out of protocol */
	MSB_ESANDBOX = -9,     /* the sandbox died or was killed */
	MSB_ETIMEDOUT = -10,   /* an operation did not finish in time */
	MSB_ENOTFOUND = -11,   /* a command, file or sandbox was not found */
	MSB_EPERM = -12,       /* the host refused (privileges, policy) */
	MSB_EIO = -13,         /* an I/O error talking to the sandbox */
	MSB_ECANCELED = -14,   /* the caller's callback asked to stop */
	MSB_EDONE = -15,       /* no more output: the process has ended */
	MSB_EEXISTS = -16,     /* a sandbox or file of that name exists */
	MSB_ETOOBIG = -17      /* larger than the cap the caller gave */
} msb_error_code;

typedef struct msb_error {
	int code;            /* an msb_error_code, MSB_OK when nothing failed */
	const char *message; /* what went wrong; never NULL */
	const char *hint;    /* one sentence on what to do about it; never NULL,
	                        may be "" */
	int os_errno;        /* the OS errno behind it, or 0 */
} msb_error;

/* A static description of an error code. Never NULL. */
MSB_EXTERN const char *msb_strerror(int code);

/*
 * The stable name of an error code, as the enum spells it: "MSB_EINVAL",
 * "MSB_ENOTFOUND", ... (what bindings give their users as the error's
 * code). Never NULL; a code this libmsb does not know gives "MSB_ERROR",
 * the generic failure.
 */
MSB_EXTERN const char *msb_error_name(int code);

/*
 * The last error raised on the calling thread. Never NULL. Valid until the
 * next libmsb call on this thread.
 */
MSB_EXTERN const msb_error *msb_error_last(void);

/* Reset the calling thread's last error to MSB_OK. */
MSB_EXTERN void msb_error_clear(void);

/* ---------------------------------------------------------------------------
 * Buffers returned by the library
 */
typedef struct msb_buf {
	uint8_t *ptr; /* NUL-terminated for convenience; may hold NULs */
	size_t len;   /* length without the terminating NUL */
} msb_buf;

/* ---------------------------------------------------------------------------
 * Sandboxes
 *
 * An msb_sandbox may be used from any thread, and from several threads at
 * once (commands run concurrently). msb_sandbox_free() must not race with
 * other calls on the same handle.
 */
typedef struct msb_sandbox msb_sandbox;

typedef enum msb_backend {
	MSB_BACKEND_AUTO = 0, /* the best this host offers */
	MSB_BACKEND_OS = 1,   /* namespaces + seccomp + cgroups */
	MSB_BACKEND_VM = 2    /* a KVM microVM (needs VT-x/AMD-V) */
} msb_backend;

/* How far the code to run is trusted: how MSB_BACKEND_AUTO routes it. */
typedef enum msb_trust {
	MSB_TRUST_DEFAULT = 0,   /* vm when this host can run one, else os */
	MSB_TRUST_UNTRUSTED = 1, /* vm, or fail closed (see allow_fallback) */
	MSB_TRUST_TRUSTED = 2    /* os: the cheaper isolation is enough */
} msb_trust;

typedef enum msb_network {
	MSB_NETWORK_NONE = 0 /* loopback only */
} msb_network;

typedef struct msb_volume {
	const char *host_path;    /* an existing host directory or file */
	const char *sandbox_path; /* absolute path inside the sandbox */
	int read_only;            /* non-zero: mounted read-only */
} msb_volume;

#define MSB_SANDBOX_OPTIONS_VERSION 4

typedef struct msb_sandbox_options {
	unsigned int version;  /* MSB_SANDBOX_OPTIONS_VERSION */
	msb_backend backend;   /* default MSB_BACKEND_AUTO */
	const char *name;      /* NULL: generated ("msb-" + 8 hex digits) */
	int64_t memory_bytes;  /* 0: 512 MiB */
	double cpus;           /* 0: 1 CPU; fractions allowed */
	int64_t pids;          /* max processes; 0: 512 */
	int64_t disk_bytes;    /* writable area (/tmp, /workspace, /root);
	                          0: 512 MiB */
	int64_t timeout_ms;    /* sandbox wall-time limit; 0: none */
	const char *const *env; /* NULL-terminated "KEY=VALUE" list, or NULL */
	const char *workdir;   /* NULL: "/workspace" */
	msb_network network;   /* default MSB_NETWORK_NONE */
	const char *rootfs;    /* NULL: the host's system directories,
	                          read-only; else a host directory holding a
	                          root filesystem (usr, bin, lib, etc) */
	const msb_volume *volumes; /* array of volumes_len volumes, or NULL */
	size_t volumes_len;
	/* version 2 */
	int detached;          /* non-zero: the sandbox outlives this handle
	                          and this process, under its name (which is
	                          then required); see msb_sandbox_connect() */
	/* version 3 */
	msb_trust trust;       /* how AUTO routes; default MSB_TRUST_DEFAULT */
	int allow_fallback;    /* non-zero: AUTO may run MSB_TRUST_UNTRUSTED
	                          code in the os backend when this host
	                          cannot run a microVM (instead of failing) */
	/* version 4 */
	const char *hostname;  /* NULL: the name, cut to 63 characters; else
	                          at most 63 letters, digits and '-' in
	                          dot-separated labels (RFC 1123) */
} msb_sandbox_options;

#define MSB_SANDBOX_OPTIONS_INIT                                        \
	{ MSB_SANDBOX_OPTIONS_VERSION, MSB_BACKEND_AUTO, NULL, 0, 0.0, 0, 0, \
	  0, NULL, NULL, MSB_NETWORK_NONE, NULL, NULL, 0, 0,                 \
	  MSB_TRUST_DEFAULT, 0, NULL }

/* Same as MSB_SANDBOX_OPTIONS_INIT, for languages without C macros; any
 * version from 1 up to MSB_SANDBOX_OPTIONS_VERSION (only the fields of that
 * version are written). */
MSB_EXTERN int msb_sandbox_options_init(msb_sandbox_options *opts,
					unsigned int version);

/*
 * Create a sandbox handle from options (NULL: defaults). The options are
 * validated and copied; nothing is started yet.
 */
MSB_EXTERN int msb_sandbox_create(msb_sandbox **out,
				  const msb_sandbox_options *opts);

/* Start the sandbox: returns once the agent inside is ready. */
MSB_EXTERN int msb_sandbox_start(msb_sandbox *sb);

/*
 * Stop the sandbox: ask every process inside to terminate, wait up to
 * grace_ms (negative: 2000), then kill what is left. Idempotent.
 */
MSB_EXTERN int msb_sandbox_stop(msb_sandbox *sb, int64_t grace_ms);

/* Stop (if needed) and release the handle. NULL-safe. */
MSB_EXTERN void msb_sandbox_free(msb_sandbox *sb);

typedef enum msb_status {
	MSB_STATUS_CREATED = 0, /* created, not started */
	MSB_STATUS_RUNNING = 1,
	MSB_STATUS_STOPPED = 2, /* stopped by the caller */
	MSB_STATUS_EXITED = 3   /* ended on its own: wall-time limit, killed,
	                           or the agent died */
} msb_status;

/* The sandbox's status; MSB_STATUS_STOPPED for NULL. */
MSB_EXTERN msb_status msb_sandbox_status(const msb_sandbox *sb);

/* A static name for a status: "created", "running", ... */
MSB_EXTERN const char *msb_status_name(msb_status status);

/* The sandbox's name; borrowed, lives as long as the handle. */
MSB_EXTERN const char *msb_sandbox_name(const msb_sandbox *sb);

/* The backend the sandbox runs on (AUTO is resolved at create). */
MSB_EXTERN msb_backend msb_sandbox_backend(const msb_sandbox *sb);

/* Why it runs there, e.g. "auto: vm (untrusted code; hardware
 * virtualization (VT-x) is available)"; borrowed, lives with the handle. */
MSB_EXTERN const char *msb_sandbox_backend_reason(const msb_sandbox *sb);

/* A static name for a backend: "auto", "os", "vm". */
MSB_EXTERN const char *msb_backend_name(msb_backend backend);

/*
 * The backend named "auto", "os" or "vm" (msb_backend_name's names) into
 * *out. 0, or MSB_EINVAL for any other name or NULL (the message names the
 * bad value, the hint lists the accepted ones; *out is left untouched).
 */
MSB_EXTERN int msb_backend_parse(const char *name, msb_backend *out);

/*
 * The trust level named "default", "untrusted" or "trusted" into *out. 0,
 * or MSB_EINVAL for any other name or NULL (the message names the bad
 * value, the hint lists the accepted ones; *out is left untouched).
 */
MSB_EXTERN int msb_trust_parse(const char *name, msb_trust *out);

/*
 * Why the sandbox exited on its own (MSB_STATUS_EXITED): a static string
 * such as "wall-time limit reached"; "" otherwise.
 */
MSB_EXTERN const char *msb_sandbox_exit_reason(const msb_sandbox *sb);

/* ---------------------------------------------------------------------------
 * Limits and how they are enforced
 *
 * Without a usable cgroup (an unprivileged caller on a host without a
 * delegated cgroup), limits fall back to rlimits, which are weaker: memory
 * becomes a per-process limit on private writable memory (RLIMIT_DATA), pids a per-user process
 * count, and cpus cannot be enforced at all. Callers can see this here.
 */
typedef enum msb_limit {
	MSB_LIMIT_MEMORY = 0,
	MSB_LIMIT_CPU = 1,
	MSB_LIMIT_PIDS = 2,
	MSB_LIMIT_DISK = 3,
	MSB_LIMIT_TIME = 4
} msb_limit;

typedef enum msb_enforcement {
	MSB_ENFORCE_NONE = 0,   /* not enforced */
	MSB_ENFORCE_RLIMIT = 1, /* per-process rlimits (weaker) */
	MSB_ENFORCE_CGROUP = 2, /* a cgroup for the whole sandbox */
	MSB_ENFORCE_KERNEL = 3  /* enforced by the sandbox's own kernel
	                           objects (tmpfs size, the agent's clock) */
} msb_enforcement;

/* How a limit is enforced in a running sandbox; NONE before start. */
MSB_EXTERN msb_enforcement msb_sandbox_enforcement(const msb_sandbox *sb,
						   msb_limit limit);

/* A static name: "none", "rlimit", "cgroup", "kernel". */
MSB_EXTERN const char *msb_enforcement_name(msb_enforcement enforcement);

/* ---------------------------------------------------------------------------
 * Commands
 */
#define MSB_COMMAND_OPTIONS_VERSION 1

typedef struct msb_command_options {
	unsigned int version;     /* MSB_COMMAND_OPTIONS_VERSION */
	const char *const *argv;  /* NULL-terminated; argv[0] is looked up
	                             in PATH; no shell is involved */
	const char *const *env;   /* NULL-terminated "KEY=VALUE" added to the
	                             sandbox's environment, or NULL */
	const char *cwd;          /* NULL: the sandbox's workdir */
	const void *stdin_data;   /* bytes fed to stdin, then EOF; NULL:
	                             stdin is /dev/null */
	size_t stdin_len;
	int64_t timeout_ms;       /* 0: none; on expiry the command's process
	                             group is killed */
	int64_t output_cap;       /* max bytes kept per stream; 0: 16 MiB */
} msb_command_options;

#define MSB_COMMAND_OPTIONS_INIT \
	{ MSB_COMMAND_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0, 0, 0 }

MSB_EXTERN int msb_command_options_init(msb_command_options *opts,
					unsigned int version);

typedef struct msb_command_result {
	int exit_code;        /* exit status, or -1 when killed by a signal */
	int signal;           /* the killing signal, or 0 */
	int timed_out;        /* non-zero when the timeout killed it */
	int out_truncated;    /* non-zero when stdout exceeded output_cap */
	int err_truncated;    /* same for stderr */
	uint64_t elapsed_us;  /* wall time from start to exit */
	msb_buf out;          /* stdout bytes (empty when streamed) */
	msb_buf err;          /* stderr bytes (empty when streamed) */
} msb_command_result;

/*
 * Run a command in the sandbox and wait for it. A command that runs and
 * fails is not an error: look at the result. Errors are for commands that
 * could not start (MSB_ENOTFOUND for an unknown program, MSB_EINVAL for a
 * bad cwd) and for sandboxes that fail.
 */
MSB_EXTERN int msb_command_run(msb_command_result **out, msb_sandbox *sb,
			       const msb_command_options *opts);

#define MSB_STREAM_STDOUT 1
#define MSB_STREAM_STDERR 2

/*
 * Called with output as it is produced, on the thread that called
 * msb_command_run_stream(). Return 0 to go on, non-zero to kill the
 * command (the run then fails with MSB_ECANCELED).
 */
typedef int (*msb_output_cb)(int stream, const uint8_t *data, size_t len,
			     void *payload);

/* As msb_command_run(), delivering output to cb instead of buffering it. */
MSB_EXTERN int msb_command_run_stream(msb_command_result **out,
				      msb_sandbox *sb,
				      const msb_command_options *opts,
				      msb_output_cb cb, void *payload);

MSB_EXTERN void msb_command_result_free(msb_command_result *result);

/* ---------------------------------------------------------------------------
 * Metrics
 */
#define MSB_METRICS_VERSION 2

typedef struct msb_metrics {
	unsigned int version;  /* set to MSB_METRICS_VERSION by the caller */
	int running;           /* non-zero while the sandbox runs */
	double cpu_percent;    /* since the previous call (or the start);
	                          100 = one CPU fully busy */
	uint64_t memory_bytes; /* resident memory of all its processes */
	uint64_t disk_bytes;   /* bytes used in the writable areas */
	uint32_t pids;         /* processes inside, the agent included */
	uint64_t uptime_ms;    /* since start */
	/* version 2 */
	uint64_t host_memory_bytes; /* what it costs the host: the os
	                          backend's processes, or the whole microVM
	                          (msb-vmm with the guest memory it touched) */
} msb_metrics;

#define MSB_METRICS_INIT { MSB_METRICS_VERSION, 0, 0.0, 0, 0, 0, 0, 0 }

/* Fill *out (whose version the caller set). A stopped sandbox gives
 * running = 0 and zeros, not an error. */
MSB_EXTERN int msb_sandbox_metrics(msb_metrics *out, msb_sandbox *sb);

/* ---------------------------------------------------------------------------
 * Named, long-lived sandboxes
 *
 * A sandbox created with `detached` set keeps running when its handle is
 * freed and when the creating process exits. Its state lives under the
 * state directory: $MSB_STATE_DIR, else $XDG_RUNTIME_DIR/msb, else
 * /run/msb for root, else /tmp/msb-<uid>. Freeing a handle to a detached
 * sandbox only disconnects; msb_sandbox_stop() ends it.
 */

/* Connect to a running detached sandbox by name (MSB_ENOTFOUND if there is
 * none, MSB_ESTATE if it is no longer running). */
MSB_EXTERN int msb_sandbox_connect(msb_sandbox **out, const char *name);

typedef struct msb_sandbox_info {
	const char *name;
	msb_status status;   /* RUNNING, or EXITED for a stale entry */
	msb_backend backend;
	int64_t created_ms;  /* creation time, ms since the Unix epoch */
	int64_t pid;         /* the host pid of its agent, 0 if gone */
} msb_sandbox_info;

typedef struct msb_sandbox_list {
	size_t len;
	msb_sandbox_info *items;
} msb_sandbox_list;

/* The named sandboxes of this user, sorted by name. Entries whose agent is
 * gone are reported EXITED (and cleaned up by msb_sandbox_remove()). */
MSB_EXTERN int msb_sandbox_list_all(msb_sandbox_list **out);
MSB_EXTERN void msb_sandbox_list_free(msb_sandbox_list *list);

/* Kill a named sandbox at once (no grace), wherever it runs. */
MSB_EXTERN int msb_sandbox_kill(const char *name);

/* Remove a named sandbox's entry; MSB_ESTATE while it runs. */
MSB_EXTERN int msb_sandbox_remove(const char *name);

/* ---------------------------------------------------------------------------
 * Background processes and PTY sessions
 *
 * An msb_process is a command started without waiting for it. Its output
 * is read in chunks; its stdin stays open until closed. Handles may be
 * used from any thread. msb_process_read() and msb_process_wait() are one
 * at a time; msb_process_write, _close_stdin, _signal, _resize and _pid may
 * be called while another thread is in read or wait; free must not race
 * with any call. A process handle borrows its sandbox: free it before the
 * sandbox.
 */
typedef struct msb_process msb_process;

/* Start argv in the background. opts->stdin_data, if given, is written
 * first; stdin stays open (msb_process_write, msb_process_close_stdin).
 * opts->timeout_ms kills it after that long, as for msb_command_run(). */
MSB_EXTERN int msb_process_start(msb_process **out, msb_sandbox *sb,
				 const msb_command_options *opts);

#define MSB_PTY_OPTIONS_VERSION 1

typedef struct msb_pty_options {
	unsigned int version;    /* MSB_PTY_OPTIONS_VERSION */
	const char *const *argv; /* NULL: /bin/bash, else /bin/sh */
	const char *const *env;  /* added to the sandbox's; TERM defaults to
	                            xterm-256color */
	const char *cwd;
	uint16_t rows, cols;     /* 0: 24 x 80 */
} msb_pty_options;

#define MSB_PTY_OPTIONS_INIT { MSB_PTY_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0 }

/* Start a command on a new pseudo-terminal (its controlling terminal, in
 * its own session). Output comes as MSB_STREAM_STDOUT chunks. */
MSB_EXTERN int msb_pty_open(msb_process **out, msb_sandbox *sb,
			    const msb_pty_options *opts);

/*
 * Read the next chunk of output, waiting up to timeout_ms (negative:
 * forever). Fills *out (free with msb_buf_free) and *stream; returns 0,
 * MSB_ETIMEDOUT when nothing came in time, or MSB_EDONE once the process
 * has ended and all its output was read.
 */
MSB_EXTERN int msb_process_read(msb_buf *out, int *stream, msb_process *p,
				int64_t timeout_ms);

MSB_EXTERN int msb_process_write(msb_process *p, const void *data, size_t len);
/* End the process's input: EOF on its stdin pipe; on a PTY, the EOF
 * character (^D) is typed, as a user would. */
MSB_EXTERN int msb_process_close_stdin(msb_process *p);

/* Send a signal to the process (its process group); SIGKILL ends its
 * whole tree, children that left its process group too. */
MSB_EXTERN int msb_process_signal(msb_process *p, int signal);

/* Resize a PTY session's terminal. */
MSB_EXTERN int msb_process_resize(msb_process *p, uint16_t rows,
				  uint16_t cols);

/* Wait for the process to end, up to timeout_ms (negative: forever). The
 * result holds the output not read yet with msb_process_read(). */
MSB_EXTERN int msb_process_wait(msb_command_result **out, msb_process *p,
				int64_t timeout_ms);

/* The process's pid inside the sandbox. */
MSB_EXTERN int64_t msb_process_pid(const msb_process *p);

/* Kill the process if it still runs, and release the handle. NULL-safe. */
MSB_EXTERN void msb_process_free(msb_process *p);

typedef struct msb_process_info {
	int64_t pid;         /* inside the sandbox */
	const char *command; /* argv joined with spaces */
	int pty;             /* non-zero for a PTY session */
	int64_t started_ms;  /* ms since the Unix epoch */
} msb_process_info;

typedef struct msb_process_list {
	size_t len;
	msb_process_info *items;
} msb_process_list;

/* Every process running in the sandbox: first the commands libmsb started
 * (from any handle or process connected to it), then what they started
 * and the REPL interpreters (pty 0, command from its command line). */
MSB_EXTERN int msb_process_list_all(msb_process_list **out, msb_sandbox *sb);
MSB_EXTERN void msb_process_list_free(msb_process_list *list);

MSB_EXTERN void msb_buf_free(msb_buf *buf);

/* ---------------------------------------------------------------------------
 * REPL: code run in long-lived interpreters whose state persists
 */
typedef enum msb_language {
	MSB_LANG_PYTHON = 1,
	MSB_LANG_NODE = 2,   /* JavaScript on Node.js */
	MSB_LANG_SHELL = 3   /* bash, or sh where bash is missing */
} msb_language;

/* "python", "node", "shell"; NULL for an unknown value. */
MSB_EXTERN const char *msb_language_name(msb_language lang);
/* Parse "python", "node"/"javascript"/"js", "shell"/"bash"/"sh"; 0 if
 * unknown. */
MSB_EXTERN msb_language msb_language_parse(const char *name);

#define MSB_REPL_OPTIONS_VERSION 1

typedef struct msb_repl_options {
	unsigned int version;   /* MSB_REPL_OPTIONS_VERSION */
	msb_language language;  /* required */
	const char *context;    /* NULL: "default"; each (language, context)
	                           pair is an interpreter of its own */
	int64_t timeout_ms;     /* 0: none; on expiry the run is interrupted
	                           (KeyboardInterrupt, SIGINT) and the state
	                           kept; an interpreter that does not stop is
	                           restarted (state_lost) */
} msb_repl_options;

#define MSB_REPL_OPTIONS_INIT { MSB_REPL_OPTIONS_VERSION, 0, NULL, 0 }

typedef enum msb_repl_status {
	MSB_REPL_OK = 0,
	MSB_REPL_ERROR = 1,    /* the code raised or failed */
	MSB_REPL_TIMEOUT = 2,  /* interrupted by the timeout */
	MSB_REPL_INTERRUPTED = 3 /* interrupted by msb_repl_interrupt() */
} msb_repl_status;

typedef struct msb_repl_output {
	const char *mime;     /* "text/html", "image/png" (base64), ... */
	msb_buf data;
} msb_repl_output;

typedef struct msb_repl_result {
	msb_repl_status status;
	msb_buf out;            /* stdout (empty when streamed) */
	msb_buf err;            /* stderr (empty when streamed) */
	msb_buf value;          /* repr of the last expression; empty if none */
	const char *error_type; /* e.g. "ZeroDivisionError"; "" if none */
	const char *error_message;
	msb_buf traceback;
	msb_repl_output *outputs; /* rich representations of the value */
	size_t outputs_len;
	int state_lost;         /* the interpreter was (re)started fresh after
	                           it died or would not stop: earlier state is
	                           gone */
	uint64_t elapsed_us;
	/* Appended (results are the library's to allocate): what was cut. */
	int out_truncated;      /* stdout passed the cap (64 MiB) and was cut */
	int err_truncated;      /* same for stderr */
	int value_truncated;    /* the value, the error or the rich outputs
	                           were cut or dropped to fit one reply */
} msb_repl_result;

/* Run code (any bytes but NUL; UTF-8 expected) in the context's
 * interpreter, starting it on first use. A run that raises is not an
 * error: see status. Errors are for missing interpreters (MSB_ENOTFOUND,
 * with a hint) and failing sandboxes. */
MSB_EXTERN int msb_repl_run(msb_repl_result **out, msb_sandbox *sb,
			    const msb_repl_options *opts, const char *code,
			    size_t code_len);

/* As msb_repl_run(), delivering stdout/stderr to cb as produced. */
MSB_EXTERN int msb_repl_run_stream(msb_repl_result **out, msb_sandbox *sb,
				   const msb_repl_options *opts,
				   const char *code, size_t code_len,
				   msb_output_cb cb, void *payload);

MSB_EXTERN void msb_repl_result_free(msb_repl_result *result);

/* Interrupt the code running in a context now, from any thread or
 * process connected to the sandbox: as a timeout does (KeyboardInterrupt,
 * SIGINT; the state is kept, an interpreter that does not stop is
 * restarted), and that run ends with MSB_REPL_INTERRUPTED.  *interrupted
 * (may be NULL) says whether code was running; runs queued behind it still
 * run.  MSB_ENOTFOUND if there is no such context. */
MSB_EXTERN int msb_repl_interrupt(msb_sandbox *sb, msb_language lang,
				  const char *context, int *interrupted);

typedef struct msb_repl_context {
	msb_language language;
	const char *name;
	int running;   /* its interpreter is alive */
} msb_repl_context;

typedef struct msb_repl_context_list {
	size_t len;
	msb_repl_context *items;
} msb_repl_contexts;

/* Create a context (MSB_EEXISTS if it exists), reset it to a fresh
 * interpreter, destroy it, or list them. A NULL name is "default". */
MSB_EXTERN int msb_repl_context_create(msb_sandbox *sb, msb_language lang,
				       const char *name);
MSB_EXTERN int msb_repl_context_reset(msb_sandbox *sb, msb_language lang,
				      const char *name);
MSB_EXTERN int msb_repl_context_destroy(msb_sandbox *sb, msb_language lang,
					const char *name);
MSB_EXTERN int msb_repl_context_list(msb_repl_contexts **out,
				     msb_sandbox *sb);
MSB_EXTERN void msb_repl_contexts_free(msb_repl_contexts *list);

/* ---------------------------------------------------------------------------
 * Files inside the sandbox
 *
 * Paths are sandbox paths (relative ones are relative to the workdir).
 * They resolve inside the sandbox's own root, so a symlink or ".." planted
 * in the sandbox never reaches a host path; reads and writes refuse FIFOs
 * and devices instead of hanging.
 */
typedef enum msb_file_type {
	MSB_FILE_REGULAR = 1,
	MSB_FILE_DIRECTORY = 2,
	MSB_FILE_SYMLINK = 3,
	MSB_FILE_OTHER = 4   /* FIFO, socket, device */
} msb_file_type;

/* Read a whole regular file; MSB_ETOOBIG when it is larger than max_bytes
 * (0: 64 MiB). An empty file gives a zero-length buffer whose ptr is "". */
MSB_EXTERN int msb_file_read(msb_buf *out, msb_sandbox *sb, const char *path,
			     int64_t max_bytes);

/* Read a file in chunks delivered to cb (stream MSB_STREAM_STDOUT), up to
 * max_bytes (0: no cap; MSB_ETOOBIG past it). */
MSB_EXTERN int msb_file_read_stream(msb_sandbox *sb, const char *path,
				    int64_t max_bytes, msb_output_cb cb,
				    void *payload);

#define MSB_WRITE_TRUNCATE 0  /* create or truncate (the default) */
#define MSB_WRITE_APPEND 1    /* create or append */
#define MSB_WRITE_EXCL 2      /* create; MSB_EEXISTS if it exists */

/* Write a file; mode (e.g. 0644; 0: 0644) applies when it is created.
 * Setuid and setgid bits are refused. */
MSB_EXTERN int msb_file_write(msb_sandbox *sb, const char *path,
			      const void *data, size_t len, int flags,
			      unsigned int mode);

typedef struct msb_file_stat {
	msb_file_type type;
	uint64_t size;
	unsigned int mode;   /* permission bits */
	int64_t mtime_ms;
} msb_file_stat;

/* Information on path itself (a symlink is reported as one). */
MSB_EXTERN int msb_file_stat_path(msb_file_stat *out, msb_sandbox *sb,
				  const char *path);

/* *out = 1 if something exists at path (a dangling symlink counts). */
MSB_EXTERN int msb_file_exists(int *out, msb_sandbox *sb, const char *path);

typedef struct msb_dir_entry {
	const char *name;
	msb_file_stat stat;
} msb_dir_entry;

typedef struct msb_dir_list {
	size_t len;
	msb_dir_entry *entries;  /* sorted by name; no "." or ".." */
} msb_dir_list;

MSB_EXTERN int msb_file_list(msb_dir_list **out, msb_sandbox *sb,
			     const char *path);
MSB_EXTERN void msb_dir_list_free(msb_dir_list *list);

/* mkdir (mode 0: 0755); with parents set, like mkdir -p (existing
 * directories are fine). */
MSB_EXTERN int msb_file_mkdir(msb_sandbox *sb, const char *path,
			      unsigned int mode, int parents);

/* Remove a file or an empty directory; with recursive set, a whole tree
 * (symlinks are removed, never followed). */
MSB_EXTERN int msb_file_remove(msb_sandbox *sb, const char *path,
			       int recursive);

/* Rename within one file system: /tmp, /workspace and /root are separate
 * mounts, across which rename fails with MSB_EINVAL (copy instead). */
MSB_EXTERN int msb_file_rename(msb_sandbox *sb, const char *from,
			       const char *to);

/* Copy a regular host file into the sandbox, or a sandbox file out to the
 * host (the host side is the caller's own file system). A copy out is
 * capped at the sandbox's disk size, as msb_file_copy_out_capped() with
 * max_bytes 0. */
MSB_EXTERN int msb_file_copy_in(msb_sandbox *sb, const char *host_path,
				const char *sandbox_path);
MSB_EXTERN int msb_file_copy_out(msb_sandbox *sb, const char *sandbox_path,
				 const char *host_path);

/* Copy a sandbox file out to the host unless its size is over max_bytes
 * (0: the sandbox's disk size, the size of the default options' disk for
 * a handle from msb_sandbox_connect()): MSB_ETOOBIG, with nothing
 * written. Holes stay holes: a sparse file comes out sparse (and blocks
 * of zeros become holes). */
MSB_EXTERN int msb_file_copy_out_capped(msb_sandbox *sb,
					const char *sandbox_path,
					const char *host_path,
					int64_t max_bytes);

/* ---------------------------------------------------------------------------
 * What this host offers
 */
#define MSB_HOST_INFO_VERSION 2

typedef struct msb_host_info {
	unsigned int version;      /* set to MSB_HOST_INFO_VERSION */
	int user_namespaces;       /* usable by this process */
	int cgroup_version;        /* 0 none, 1 v1, 2 pure v2 */
	int cgroup_hybrid;         /* v1 controllers + a v2 tree */
	int cgroup_writable;       /* this process can create sandbox cgroups
	                              (root, or a delegated subtree) */
	int seccomp;               /* seccomp filters available */
	int kvm;                   /* /dev/kvm opens */
	int kvm_standard_guest;    /* KVM can boot a standard guest (hardware
	                              virtualization, not PVM) */
	msb_backend auto_backend;  /* what MSB_BACKEND_AUTO would pick for
	                              MSB_TRUST_DEFAULT */
	char kvm_detail[128];      /* why KVM can or cannot run a guest */
	/* version 2 */
	int vm_ready;              /* the vm backend can start here: KVM runs
	                              standard guests and msb-vmm, the guest
	                              kernel and the root image are found */
	char vm_detail[256];       /* why it can or cannot */
} msb_host_info;

MSB_EXTERN int msb_host_probe(msb_host_info *out);

#ifdef __cplusplus
}
#endif

#endif /* MSB_H */
