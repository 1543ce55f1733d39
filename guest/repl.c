/*
 * repl.c - long-lived interpreters (python, node, shell) whose state
 * persists between runs.
 *
 * A context is one (language, name) pair and, once used, one interpreter
 * process running a driver (guest/repl/driver.*, compiled in). The agent
 * talks to the driver over two pipes, the driver's fd 3 (requests) and
 * fd 4 (responses), both framed as "<decimal length>\n<payload>": a
 * request is the code, a response one JSON object. The interpreter's fds
 * 1 and 2 are pipes of their own, forwarded as the run's STDOUT/STDERR
 * frames; so nothing a program prints can end a run early.
 *
 * Runs on one context go one at a time, in the order their CALLs came;
 * different contexts run in parallel. A run's code comes as STDIN frames
 * after its CALL (an empty one ends it), so code of any size fits.
 *
 * The interpreter's output and answers are read only while the run's
 * client keeps up (agent_watch_client): the answer waits behind the output
 * a slow client has not taken yet, and the code blocks in its writes.
 *
 * What comes from a driver is hostile: the code can write to fd 4 too. It
 * is read without blocking, bounded in size, checked as JSON, and anything
 * malformed gets the interpreter killed, never the agent hurt.
 *
 * state_lost is said once per loss: by the run during which the
 * interpreter died or was killed, or, when it died between runs, by the
 * next run (which starts a fresh one).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "msb.h"
#include "base.h"
#include "launch.h"
#include "proto.h"
#include "repl.h"

#define MAX_CODE (64u << 20)        /* bytes of code per run */
#define MAX_RESP (4u << 20)         /* bytes of a driver's response */
#define MAX_CONTEXTS 64
#define MAX_QUEUE 1024              /* runs waiting on one context */
#define MAX_NAME 128
#define KILL_GRACE_NS (2000ull * 1000000ull) /* SIGINT, then SIGKILL */
#define REPLY_ROOM (MSB_FRAME_MAX - 4096)
#define DRAIN_ROUNDS 64             /* chunks forwarded before a reply */

extern const char repl_driver_python[], repl_driver_node[], repl_driver_shell[];

struct ctx;

/* One interpreter process. Abandoned (ctx NULL) once its context let go of
 * it: it is then only waited for and freed. */
struct proc {
	struct ctx *ctx;
	pid_t pid;
	int in_fd, resp_fd, out_fd, err_fd; /* -1 once closed */
	uint8_t *wbuf;                      /* the request being written */
	size_t wlen, woff;
	uint8_t *rbuf;                      /* the response being read */
	size_t rlen, rcap;
	int exited;                         /* seen dead: start nothing on it */
};

struct run {
	struct run *next;
	struct ctx *ctx;
	struct client *c;
	uint32_t id;
	uint64_t serial;
	uint8_t *code;
	size_t len, cap;
	int code_done, too_big, has_nul;
	int64_t timeout_ms;
	uint64_t start_ns;
	uint64_t timer;         /* the timeout, then the kill grace */
	int interrupted, killed, detached, state_lost;
	int asked;              /* interrupted on request, not by the timeout */
};

struct ctx {
	struct ctx *next;
	msb_language lang;
	char *name;
	struct proc *proc;      /* NULL: not running */
	struct run *cur;        /* the run in the interpreter */
	struct run *queue;      /* the runs waiting, oldest first */
	size_t queued;
	int lost;               /* died between runs: the next run says so */
};

static struct ctx *contexts;
static size_t ncontexts;
static uint64_t run_serial;

static void ctx_pump(struct agent *a, struct ctx *x);
static void proc_abandon(struct agent *a, struct proc *p);
static void proc_feed(struct agent *a, struct proc *p, struct client *c);

/* ---- languages ------------------------------------------------------------ */

struct language {
	msb_language lang;
	const char *name;
	const char *driver;
	const char *const *programs; /* tried in order */
	const char *hint;
};

static const char *const py_programs[] = { "python3", NULL };
static const char *const node_programs[] = { "node", "nodejs", NULL };
static const char *const sh_programs[] = { "bash", "sh", NULL };

static const struct language languages[] = {
	{ MSB_LANG_PYTHON, "python", repl_driver_python, py_programs,
	  "install Python in the sandbox's root filesystem (Debian: apt-get "
	  "install python3), or give a --rootfs that has python3 on PATH" },
	{ MSB_LANG_NODE, "node", repl_driver_node, node_programs,
	  "install Node.js in the sandbox's root filesystem (Debian: apt-get "
	  "install nodejs), or give a --rootfs that has node on PATH" },
	{ MSB_LANG_SHELL, "shell", repl_driver_shell, sh_programs,
	  "install bash (or at least a POSIX sh) in the sandbox's root "
	  "filesystem, or give a --rootfs that has one on PATH" },
};

static const struct language *lang_of(msb_language lang)
{
	for (size_t i = 0; i < sizeof(languages) / sizeof(languages[0]); i++)
		if (languages[i].lang == lang)
			return &languages[i];
	return NULL;
}

static const struct language *lang_named(const char *name)
{
	for (size_t i = 0; name && i < sizeof(languages) / sizeof(languages[0]); i++)
		if (!strcmp(languages[i].name, name))
			return &languages[i];
	return NULL;
}

/* ---- small helpers ---------------------------------------------------------- */

static void close_fd(struct agent *a, int *fd, int watched)
{
	if (*fd < 0)
		return;
	if (watched)
		agent_unwatch(a, *fd);
	close(*fd);
	*fd = -1;
}

/* A JSON string of at most max bytes of s, cut at a character boundary. */
static json_t *str_cut(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return json_stringn(s ? s : "", n);
}

static int valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static struct ctx *ctx_find(msb_language lang, const char *name)
{
	for (struct ctx *x = contexts; x; x = x->next)
		if (x->lang == lang && !strcmp(x->name, name))
			return x;
	return NULL;
}

static struct ctx *ctx_new(msb_language lang, const char *name)
{
	struct ctx *x = calloc(1, sizeof(*x));

	if (!x || !(x->name = strdup(name))) {
		free(x);
		return NULL;
	}
	x->lang = lang;
	x->next = contexts;
	contexts = x;
	ncontexts++;
	return x;
}

static void ctx_free(struct ctx *x)
{
	for (struct ctx **pp = &contexts; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			ncontexts--;
			break;
		}
	free(x->name);
	free(x);
}

/* ---- runs ------------------------------------------------------------------- */

/* Forget a run: its reply (if any) was sent. The context must no longer
 * point to it. */
static void run_free(struct agent *a, struct run *r)
{
	if (r->timer)
		agent_timer_cancel(a, r->timer);
	if (!r->detached)
		client_untrack(r->c, r->id);
	client_unref(r->c);
	free(r->code);
	free(r);
}

static void queue_remove(struct ctx *x, struct run *r)
{
	for (struct run **pp = &x->queue; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			x->queued--;
			return;
		}
}

/* Send a run's result, shrinking it to fit in one frame. */
static void run_reply(struct run *r, const char *status, const json_t *value,
		      const json_t *error, const json_t *outputs)
{
	static const size_t value_max[] = { 256 << 10, 64 << 10, 4 << 10 };
	static const size_t text_max[] = { 64 << 10, 16 << 10, 2 << 10 };
	uint64_t elapsed = r->start_ns ? (agent_now_ns() - r->start_ns) / 1000 : 0;

	if (r->detached || !client_alive(r->c))
		return;
	for (size_t round = 0; round < 3; round++) {
		json_t *res, *err = json_null(), *outs = json_array();
		char *s;
		size_t total = 0;

		if (json_is_object(error)) {
			err = json_pack("{s:o,s:o,s:o}",
				"type", str_cut(json_string_value(json_object_get(error, "type")), 256),
				"message", str_cut(json_string_value(json_object_get(error, "message")), text_max[round]),
				"traceback", str_cut(json_string_value(json_object_get(error, "traceback")), text_max[round]));
		}
		for (size_t i = 0; round < 2 && i < json_array_size(outputs) && i < 16; i++) {
			const json_t *o = json_array_get(outputs, i);
			const char *mime = json_string_value(json_object_get(o, "mime"));
			const char *data = json_string_value(json_object_get(o, "data"));
			size_t dn = data ? strlen(data) : 0;

			if (!valid_name(mime) || !data ||
			    total + dn > (round == 0 ? 512u << 10 : 128u << 10))
				continue;
			total += dn;
			json_array_append_new(outs, json_pack("{s:s,s:s}", "mime", mime, "data", data));
		}
		res = json_pack("{s:b,s:s,s:o,s:o,s:o,s:b,s:I}", "ok", 1,
				"status", status,
				"value", str_cut(json_string_value(value), value_max[round]),
				"error", err ? err : json_null(),
				"outputs", outs ? outs : json_array(),
				"state_lost", r->state_lost,
				"elapsed_us", (json_int_t)elapsed);
		s = res ? json_dumps(res, JSON_COMPACT) : NULL;
		if (s && strlen(s) <= REPLY_ROOM) {
			free(s);
			client_reply(r->c, r->id, res);
			return;
		}
		free(s);
		json_decref(res);
	}
	client_error(r->c, r->id, MSB_ERROR, 0, "", "the result does not fit in a reply");
}

/* The run in the interpreter is over: reply, forget it, start the next. */
static void run_done(struct agent *a, struct ctx *x, const char *status,
		     const json_t *value, const json_t *error, const json_t *outputs)
{
	struct run *r = x->cur;

	x->cur = NULL;
	proc_feed(a, x->proc, NULL);
	if (r) {
		run_reply(r, status, value, error, outputs);
		run_free(a, r);
	}
}

static void run_fail(struct agent *a, struct ctx *x, const char *type, const char *msg)
{
	json_t *err = json_pack("{s:s,s:s,s:s}", "type", type, "message", msg,
				"traceback", "");

	if (x->cur)
		x->cur->state_lost = 1;
	run_done(a, x, x->cur && x->cur->interrupted ?
		 (x->cur->asked ? "interrupted" : "timeout") : "error", NULL, err, NULL);
	json_decref(err);
}

/* ---- the interpreter process ----------------------------------------------- */

/* Forward what the interpreter wrote to the run in progress (or drop it
 * between runs); `rounds` bounds the work per call. Unless `all`, only
 * while the run's client keeps up. */
static void pump_output(struct agent *a, struct proc *p, int *fd, uint8_t type,
			int rounds, int all)
{
	static uint8_t buf[MSB_DATA_CHUNK];

	while (*fd >= 0 && rounds-- > 0) {
		struct run *r = p->ctx ? p->ctx->cur : NULL;
		ssize_t n;

		if (!all && r && !r->detached && client_congested(r->c))
			return;
		n = read(*fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_fd(a, fd, 1);
			return;
		}
		if (r && !r->detached)
			client_send(r->c, type, r->id, buf, (size_t)n);
	}
}

static void on_output(struct agent *a, int fd, short revents, void *data)
{
	struct proc *p = data;

	if (fd == p->out_fd)
		pump_output(a, p, &p->out_fd, MSB_FRAME_STDOUT, 16, 0);
	else if (fd == p->err_fd)
		pump_output(a, p, &p->err_fd, MSB_FRAME_STDERR, 16, 0);
}

/* Before an answer: what the code wrote goes first, behind or not. */
static void drain_output(struct agent *a, struct proc *p)
{
	pump_output(a, p, &p->out_fd, MSB_FRAME_STDOUT, DRAIN_ROUNDS, 1);
	pump_output(a, p, &p->err_fd, MSB_FRAME_STDERR, DRAIN_ROUNDS, 1);
}

/* The interpreter's output and answers are for client c now (NULL:
 * between runs, for nobody). */
static void proc_feed(struct agent *a, struct proc *p, struct client *c)
{
	if (!p)
		return;
	if (p->out_fd >= 0)
		agent_watch_client(a, p->out_fd, c);
	if (p->err_fd >= 0)
		agent_watch_client(a, p->err_fd, c);
	if (p->resp_fd >= 0)
		agent_watch_client(a, p->resp_fd, c);
}

/* The driver broke the protocol (or the code wrote to its channel): the
 * interpreter cannot be trusted any more. */
static void proc_bad(struct agent *a, struct proc *p, const char *why)
{
	struct ctx *x = p->ctx;
	char msg[256];

	snprintf(msg, sizeof(msg), "the interpreter's driver broke the protocol "
		 "(%s); it was killed", why);
	proc_abandon(a, p);
	if (x->cur) {
		run_fail(a, x, "InterpreterDied", msg);
	} else {
		x->lost = 1;
	}
	ctx_pump(a, x);
}

/* A complete response for the run in progress. */
static void handle_response(struct agent *a, struct proc *p, const uint8_t *d, size_t n)
{
	struct ctx *x = p->ctx;
	json_error_t je;
	json_t *resp = json_loadb((const char *)d, n, JSON_REJECT_DUPLICATES, &je);
	const char *status = json_string_value(json_object_get(resp, "status"));
	const json_t *value = json_object_get(resp, "value");
	const json_t *error = json_object_get(resp, "error");
	const json_t *outputs = json_object_get(resp, "outputs");

	if (!x->cur || !json_is_object(resp) || !status ||
	    (strcmp(status, "ok") && strcmp(status, "error") && strcmp(status, "timeout")) ||
	    (value && !json_is_string(value)) ||
	    (error && !json_is_object(error) && !json_is_null(error)) ||
	    (outputs && !json_is_array(outputs))) {
		json_decref(resp);
		proc_bad(a, p, x->cur ? "malformed response" : "a response nobody asked for");
		return;
	}
	/* Output the code wrote before the answer goes first. */
	drain_output(a, p);
	if (x->cur->interrupted)
		status = x->cur->asked ? "interrupted" : "timeout";
	run_done(a, x, status, value, error, outputs);
	json_decref(resp);
}

/* Read what the driver answered; returns -1 if p is gone. */
static int read_responses(struct agent *a, struct proc *p)
{
	for (int rounds = 0; rounds < 64 && p->resp_fd >= 0; rounds++) {
		ssize_t n;

		if (p->rcap - p->rlen < 65536) {
			size_t cap = p->rcap ? p->rcap * 2 : 65536;
			uint8_t *nb;

			if (cap > MAX_RESP + 64)
				cap = MAX_RESP + 64;
			if (cap <= p->rlen) {
				proc_bad(a, p, "response too large");
				return -1;
			}
			nb = realloc(p->rbuf, cap);
			if (!nb) {
				proc_bad(a, p, "out of memory");
				return -1;
			}
			p->rbuf = nb;
			p->rcap = cap;
		}
		n = read(p->resp_fd, p->rbuf + p->rlen, p->rcap - p->rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			/* The driver closed its channel: it cannot answer any
			 * more. Kill it; its exit ends the run. */
			close_fd(a, &p->resp_fd, 1);
			kill(-p->pid, SIGKILL);
			kill(p->pid, SIGKILL);
			return 0;
		}
		p->rlen += (size_t)n;
		/* Take every complete response. */
		for (;;) {
			uint8_t *nl = memchr(p->rbuf, '\n', p->rlen < 12 ? p->rlen : 12);
			size_t len = 0, hdr;

			if (!nl) {
				if (p->rlen >= 12) {
					proc_bad(a, p, "bad length");
					return -1;
				}
				break;
			}
			hdr = (size_t)(nl - p->rbuf) + 1;
			for (size_t i = 0; i + 1 < hdr; i++) {
				if (p->rbuf[i] < '0' || p->rbuf[i] > '9') {
					proc_bad(a, p, "bad length");
					return -1;
				}
				len = len * 10 + (size_t)(p->rbuf[i] - '0');
			}
			if (hdr == 1 || len > MAX_RESP) {
				proc_bad(a, p, "bad length");
				return -1;
			}
			if (p->rlen < hdr + len)
				break;
			{
				struct ctx *x = p->ctx;

				handle_response(a, p, p->rbuf + hdr, len);
				if (x->proc != p)
					return -1; /* killed for a bad answer */
			}
			memmove(p->rbuf, p->rbuf + hdr + len, p->rlen - hdr - len);
			p->rlen -= hdr + len;
			if (p->exited)
				continue; /* the exit handler starts what is next */
			ctx_pump(a, p->ctx);
			if (p->ctx->proc != p)
				return -1;
		}
	}
	return 0;
}

static void on_response(struct agent *a, int fd, short revents, void *data)
{
	read_responses(a, data);
}

static void proc_write(struct agent *a, struct proc *p);

static void on_writable(struct agent *a, int fd, short revents, void *data)
{
	proc_write(a, data);
}

/* Write the pending request without blocking. */
static void proc_write(struct agent *a, struct proc *p)
{
	while (p->in_fd >= 0 && p->woff < p->wlen) {
		ssize_t n = write(p->in_fd, p->wbuf + p->woff, p->wlen - p->woff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			agent_watch(a, p->in_fd, POLLOUT, on_writable, p);
			return;
		}
		if (n < 0) {
			/* EPIPE: the driver is gone; its exit ends the run. */
			close_fd(a, &p->in_fd, 1);
			break;
		}
		p->woff += (size_t)n;
	}
	if (p->in_fd >= 0)
		agent_unwatch(a, p->in_fd);
	free(p->wbuf);
	p->wbuf = NULL;
	p->wlen = p->woff = 0;
}

static void proc_close(struct agent *a, struct proc *p)
{
	close_fd(a, &p->in_fd, 1);
	close_fd(a, &p->resp_fd, 1);
	close_fd(a, &p->out_fd, 1);
	close_fd(a, &p->err_fd, 1);
	free(p->wbuf);
	free(p->rbuf);
	p->wbuf = p->rbuf = NULL;
	p->wlen = p->woff = p->rlen = p->rcap = 0;
}

/* Let go of the interpreter: kill it (and whatever it started) and only
 * wait for it from now on. */
static void proc_abandon(struct agent *a, struct proc *p)
{
	if (p->ctx)
		p->ctx->proc = NULL;
	p->ctx = NULL;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	proc_close(a, p);
}

static void on_exit_status(struct agent *a, pid_t pid, int status, void *data)
{
	struct proc *p = data;
	struct ctx *x = p->ctx;
	const char *what;
	char msg[256];

	p->exited = 1;
	if (!x) {
		free(p);
		return;
	}
	/* An answer (and output) written just before the end still counts. */
	if (p->resp_fd >= 0 && read_responses(a, p) < 0)
		x = NULL; /* already dealt with */
	if (x && x->proc == p) {
		drain_output(a, p);
		/* Whatever it started goes with it. */
		kill(-p->pid, SIGKILL);
		proc_close(a, p);
		x->proc = NULL;
		what = lang_of(x->lang) ? lang_of(x->lang)->name : "the";
		if (WIFSIGNALED(status))
			snprintf(msg, sizeof(msg), "the %s interpreter was killed by "
				 "signal %d (%s)%s", what, WTERMSIG(status),
				 strsignal(WTERMSIG(status)),
				 x->cur && x->cur->killed ? ": it did not stop "
				 "on SIGINT" : WTERMSIG(status) == SIGKILL ?
				 ": out of memory?" : "");
		else
			snprintf(msg, sizeof(msg), "the %s interpreter exited with "
				 "status %d", what, WEXITSTATUS(status));
		if (x->cur)
			run_fail(a, x, x->cur->killed ? "Timeout" : "InterpreterDied", msg);
		else
			x->lost = 1;
		ctx_pump(a, x);
	}
	/* An abandoned process's exit comes back here with ctx NULL. */
	if (!p->ctx)
		free(p);
}

/* Start the context's interpreter. Returns 0 or -1 with *err. */
static int proc_start(struct agent *a, struct ctx *x, struct agent_err *err)
{
	const struct language *l = lang_of(x->lang);
	const struct agent_config *cfg = agent_config(a);
	int req[2] = { -1, -1 }, resp[2] = { -1, -1 }, out[2] = { -1, -1 };
	int errp[2] = { -1, -1 }, nul = -1, rc = -1;
	const char *argvs[LAUNCH_MAX_PROGRAMS][8];
	struct launch_spec spec = { 0 };
	struct launch_failure fail;
	char **env = NULL;
	struct proc *p = NULL;
	pid_t pid;

	if (pipe2(req, O_CLOEXEC) || pipe2(resp, O_CLOEXEC) ||
	    pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) ||
	    (nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		agent_fail(err, MSB_ERROR, errno, "the sandbox may have too many "
			   "open files", "cannot create the interpreter's pipes");
		goto out;
	}
	env = launch_env(cfg, NULL);
	p = calloc(1, sizeof(*p));
	if (!env || !p) {
		agent_fail(err, MSB_ENOMEM, ENOMEM, "", "out of memory");
		goto out;
	}
	/* The driver's fds: 0 /dev/null, 1 and 2 the output pipes, 3 the
	 * requests, 4 the responses. */
	spec.fds[0] = nul;
	spec.fds[1] = out[1];
	spec.fds[2] = errp[1];
	spec.fds[3] = req[0];
	spec.fds[4] = resp[1];
	spec.nfds = 5;
	spec.workdir = cfg->workdir;
	spec.env = env;
	for (int i = 0; l->programs[i] && i < LAUNCH_MAX_PROGRAMS; i++) {
		const char **argv = argvs[i];
		int k = 0;

		argv[k++] = l->programs[i];
		if (x->lang == MSB_LANG_PYTHON) {
			argv[k++] = "-u";
			argv[k++] = "-c";
		} else if (x->lang == MSB_LANG_NODE) {
			argv[k++] = "--expose-internals";
			argv[k++] = "-e";
		} else {
			argv[k++] = "-c";
		}
		argv[k++] = l->driver;
		if (x->lang == MSB_LANG_SHELL)
			argv[k++] = "msb-repl"; /* $0 */
		argv[k] = NULL;
		spec.argv[i] = (char *const *)argv;
	}
	pid = launch(&spec, &fail);
	close(req[0]);
	close(resp[1]);
	close(out[1]);
	close(errp[1]);
	req[0] = resp[1] = out[1] = errp[1] = -1;
	if (pid < 0) {
		if (fail.stage == LAUNCH_PIPE)
			agent_fail(err, MSB_ERROR, fail.err, "the sandbox may have too many "
				   "open files", "cannot create the interpreter's pipes");
		else if (fail.stage == LAUNCH_FORK)
			agent_fail(err, MSB_ERROR, fail.err, "the sandbox may be at its "
				   "process limit", "cannot start the interpreter");
		else if (fail.stage == LAUNCH_WORKDIR)
			agent_fail(err, MSB_ERROR, fail.err, "", "cannot change to "
				   "the workdir %s", cfg->workdir);
		else if (fail.err == ENOENT)
			agent_fail(err, MSB_ENOTFOUND, 0, l->hint, "no %s "
				   "interpreter in the sandbox (%s not found on "
				   "PATH)", l->name, l->programs[0]);
		else
			agent_fail(err, fail.err == EACCES ? MSB_EPERM : MSB_ERROR,
				   fail.err, l->hint, "cannot start the %s "
				   "interpreter", l->name);
		goto out;
	}
	p->ctx = x;
	p->pid = pid;
	p->in_fd = req[1];
	p->resp_fd = resp[0];
	p->out_fd = out[0];
	p->err_fd = errp[0];
	req[1] = resp[0] = out[0] = errp[0] = -1;
	fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->resp_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	if (agent_child(a, pid, on_exit_status, p) < 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		proc_close(a, p);
		agent_fail(err, MSB_ENOMEM, ENOMEM, "", "out of memory");
		goto out;
	}
	if (agent_watch(a, p->resp_fd, POLLIN, on_response, p) < 0 ||
	    agent_watch(a, p->out_fd, POLLIN, on_output, p) < 0 ||
	    agent_watch(a, p->err_fd, POLLIN, on_output, p) < 0) {
		x->proc = p;
		proc_abandon(a, p); /* freed when its exit is seen */
		p = NULL;
		agent_fail(err, MSB_ENOMEM, ENOMEM, "", "out of memory");
		goto out;
	}
	x->proc = p;
	p = NULL;
	rc = 0;
out:
	free(p);
	for (int i = 0; i < 2; i++) {
		if (req[i] >= 0) close(req[i]);
		if (resp[i] >= 0) close(resp[i]);
		if (out[i] >= 0) close(out[i]);
		if (errp[i] >= 0) close(errp[i]);
	}
	if (nul >= 0)
		close(nul);
	free(env);
	return rc;
}

/* ---- scheduling ---------------------------------------------------------------- */

static void on_kill_timer(struct agent *a, void *data)
{
	struct run *r = data;
	struct ctx *x = r->ctx;
	uint64_t serial = r->serial;

	r->timer = 0;
	if (!x || x->cur != r || !x->proc)
		return;
	/* An answer that is there, unread while the client was behind,
	 * wins. */
	read_responses(a, x->proc);
	if (!x->cur || x->cur->serial != serial || !x->proc)
		return;
	r->killed = 1;
	kill(-r->ctx->proc->pid, SIGKILL);
	kill(r->ctx->proc->pid, SIGKILL);
}

/* SIGINT to the interpreter's process group; SIGKILL if it does not
 * answer within the grace. */
static void run_interrupt(struct agent *a, struct run *r)
{
	struct proc *p = r->ctx->proc;

	if (r->interrupted || !p)
		return;
	r->interrupted = 1;
	if (r->timer)
		agent_timer_cancel(a, r->timer);
	kill(-p->pid, SIGINT);
	r->timer = agent_timer(a, agent_now_ns() + KILL_GRACE_NS, on_kill_timer, r);
}

static void on_timeout(struct agent *a, void *data)
{
	struct run *r = data;
	struct ctx *x = r->ctx;
	uint64_t serial = r->serial;

	r->timer = 0;
	if (x->cur != r || !x->proc)
		return;
	/* An answer that is already there wins over the timeout. */
	read_responses(a, x->proc);
	if (x->cur && x->cur->serial == serial)
		run_interrupt(a, x->cur);
}

/* Start the next run whose code is complete, if the interpreter is free. */
static void ctx_pump(struct agent *a, struct ctx *x)
{
	while (!x->cur && x->queue && x->queue->code_done) {
		struct run *r = x->queue;
		struct agent_err err;
		char hdr[32];
		int h;

		x->queue = r->next;
		x->queued--;
		r->next = NULL;
		if (r->detached) {
			run_free(a, r);
			continue;
		}
		if (r->too_big || r->has_nul) {
			if (r->too_big)
				client_error(r->c, r->id, MSB_ETOOBIG, 0, "split the "
					     "code, or put it in a file and run that",
					     "the code is larger than %u bytes", MAX_CODE);
			else
				client_error(r->c, r->id, MSB_EINVAL, 0, "remove the "
					     "NUL bytes", "the code holds NUL bytes");
			run_free(a, r);
			continue;
		}
		memset(&err, 0, sizeof(err));
		if (!x->proc && proc_start(a, x, &err) < 0) {
			client_error(r->c, r->id, err.code, err.os_errno, err.hint,
				     "%s", err.message);
			run_free(a, r);
			continue;
		}
		x->cur = r;
		r->state_lost = x->lost;
		x->lost = 0;
		r->start_ns = agent_now_ns();
		h = snprintf(hdr, sizeof(hdr), "%zu\n", r->len);
		/* The header goes in front of the code, in place. */
		if (r->cap < r->len + (size_t)h) {
			uint8_t *nb = realloc(r->code, r->len + (size_t)h);

			if (!nb) {
				x->cur = NULL;
				client_error(r->c, r->id, MSB_ENOMEM, ENOMEM, "", "out of memory");
				run_free(a, r);
				continue;
			}
			r->code = nb;
		}
		memmove(r->code + h, r->code, r->len);
		memcpy(r->code, hdr, (size_t)h);
		x->proc->wbuf = r->code;
		x->proc->wlen = r->len + (size_t)h;
		x->proc->woff = 0;
		r->code = NULL;
		r->len = r->cap = 0;
		proc_feed(a, x->proc, r->c);
		if (r->timeout_ms > 0)
			r->timer = agent_timer(a, r->start_ns + (uint64_t)r->timeout_ms * 1000000ull,
					       on_timeout, r);
		proc_write(a, x->proc);
	}
}

/* ---- requests ------------------------------------------------------------------ */

static void run_on_stdin(struct agent *a, struct client *c, uint32_t id,
			 const uint8_t *data, size_t len, void *rd)
{
	struct run *r = rd;

	if (r->code_done)
		return;
	if (len == 0) {
		r->code_done = 1;
		ctx_pump(a, r->ctx);
		return;
	}
	if (r->too_big || r->len + len > MAX_CODE) {
		r->too_big = 1;
		free(r->code);
		r->code = NULL;
		r->len = r->cap = 0;
		return;
	}
	if (memchr(data, 0, len))
		r->has_nul = 1;
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap : 65536;
		uint8_t *nb;

		while (cap < r->len + len)
			cap *= 2;
		nb = realloc(r->code, cap);
		if (!nb) {
			r->too_big = 1;
			free(r->code);
			r->code = NULL;
			r->len = r->cap = 0;
			return;
		}
		r->code = nb;
		r->cap = cap;
	}
	memcpy(r->code + r->len, data, len);
	r->len += len;
}

static void run_on_cancel(struct agent *a, struct client *c, uint32_t id,
			  int sig, void *rd)
{
	struct run *r = rd;
	struct ctx *x = r->ctx;

	if (x->cur == r) {
		run_interrupt(a, r);
	} else {
		queue_remove(x, r);
		client_error(c, id, MSB_ECANCELED, 0, "", "the run was canceled "
			     "before it started");
		run_free(a, r);
	}
}

static void run_on_detach(struct agent *a, struct client *c, uint32_t id, void *rd)
{
	struct run *r = rd;
	struct ctx *x = r->ctx;

	client_untrack(c, id);
	r->detached = 1;
	if (x->cur == r) {
		/* Interrupt it; the answer is dropped when it comes. */
		run_interrupt(a, r);
	} else {
		queue_remove(x, r);
		run_free(a, r);
		ctx_pump(a, x);
	}
}

static const struct request_ops run_ops = {
	.on_stdin = run_on_stdin,
	.on_cancel = run_on_cancel,
	.on_detach = run_on_detach,
};

static int check_target(struct client *c, uint32_t id, const json_t *req,
			const struct language **l, const char **name)
{
	const char *lang = json_string_value(json_object_get(req, "language"));
	const json_t *jname = json_object_get(req, "context");

	if (!jname)
		jname = json_object_get(req, "name");
	*name = jname ? json_string_value(jname) : "default";
	*l = lang_named(lang);
	if (!*l) {
		client_error(c, id, MSB_EINVAL, 0, "use python, node or shell",
			     "unknown REPL language \"%.32s\"", lang ? lang : "(none)");
		return -1;
	}
	if (!valid_name(*name)) {
		client_error(c, id, MSB_EINVAL, 0, "give a name of 1 to 128 "
			     "printable characters", "invalid REPL context name");
		return -1;
	}
	return 0;
}

void op_repl_run(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	const json_t *jt = json_object_get(req, "timeout_ms");
	const struct language *l;
	const char *name;
	struct ctx *x;
	struct run *r, **pp;

	if (check_target(c, id, req, &l, &name) < 0)
		return;
	if (jt && (!json_is_integer(jt) || json_integer_value(jt) < 0)) {
		client_error(c, id, MSB_EINVAL, 0, "give the timeout in "
			     "milliseconds, or 0 for none", "invalid timeout_ms");
		return;
	}
	x = ctx_find(l->lang, name);
	if (!x && ncontexts >= MAX_CONTEXTS) {
		client_error(c, id, MSB_EINVAL, 0, "destroy contexts that are no "
			     "longer needed", "too many REPL contexts (%d)",
			     MAX_CONTEXTS);
		return;
	}
	if (x && x->queued >= MAX_QUEUE) {
		client_error(c, id, MSB_EINVAL, 0, "wait for earlier runs to "
			     "finish", "too many runs waiting on this context");
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r || (!x && !(x = ctx_new(l->lang, name)))) {
		free(r);
		client_error(c, id, MSB_ENOMEM, ENOMEM, "", "out of memory");
		return;
	}
	if (client_track(c, id, &run_ops, r) < 0) {
		free(r);
		client_error(c, id, MSB_EPROTO, 0, "", "request id %u is in use", id);
		return;
	}
	client_ref(c);
	r->c = c;
	r->id = id;
	r->ctx = x;
	r->serial = ++run_serial;
	r->timeout_ms = jt ? (int64_t)json_integer_value(jt) : 0;
	for (pp = &x->queue; *pp; pp = &(*pp)->next)
		;
	*pp = r;
	x->queued++;
	/* The code comes as STDIN frames; ctx_pump starts it at their EOF. */
}

/* End the run in the interpreter because its context is going away. */
static void ctx_stop(struct agent *a, struct ctx *x, const char *type, const char *msg)
{
	if (x->proc)
		proc_abandon(a, x->proc);
	if (x->cur) {
		x->cur->killed = x->cur->interrupted = 0;
		run_fail(a, x, type, msg);
	}
}

void op_repl_context(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	const char *action = json_string_value(json_object_get(req, "action"));
	const struct language *l;
	const char *name;
	struct agent_err err;
	struct ctx *x;

	memset(&err, 0, sizeof(err));
	if (action && !strcmp(action, "list")) {
		json_t *list = json_array();

		for (x = contexts; x; x = x->next) {
			const struct language *xl = lang_of(x->lang);

			json_array_append_new(list, json_pack("{s:s,s:s,s:b}",
				"language", xl ? xl->name : "", "name", x->name,
				"running", x->proc != NULL));
		}
		client_reply(c, id, json_pack("{s:b,s:o}", "ok", 1, "contexts", list));
		return;
	}
	if (!action || (strcmp(action, "create") && strcmp(action, "reset") &&
			strcmp(action, "destroy") && strcmp(action, "interrupt"))) {
		client_error(c, id, MSB_EINVAL, 0, "use create, reset, destroy, "
			     "interrupt or list", "unknown REPL context action");
		return;
	}
	if (check_target(c, id, req, &l, &name) < 0)
		return;
	x = ctx_find(l->lang, name);
	if (!strcmp(action, "create")) {
		if (x) {
			client_error(c, id, MSB_EEXISTS, 0, "use it, or reset or "
				     "destroy it first", "the %s context \"%.128s\" "
				     "exists", l->name, name);
			return;
		}
		if (ncontexts >= MAX_CONTEXTS) {
			client_error(c, id, MSB_EINVAL, 0, "destroy contexts that "
				     "are no longer needed", "too many REPL "
				     "contexts (%d)", MAX_CONTEXTS);
			return;
		}
		if (!(x = ctx_new(l->lang, name))) {
			client_error(c, id, MSB_ENOMEM, ENOMEM, "", "out of memory");
			return;
		}
		if (proc_start(a, x, &err) < 0) {
			ctx_free(x);
			client_error(c, id, err.code, err.os_errno, err.hint, "%s",
				     err.message);
			return;
		}
		client_reply(c, id, json_pack("{s:b}", "ok", 1));
		return;
	}
	if (!x) {
		client_error(c, id, MSB_ENOTFOUND, 0, "create it, or run code in "
			     "it", "no %s context \"%.128s\"", l->name, name);
		return;
	}
	if (!strcmp(action, "interrupt")) {
		int running = x->cur && x->proc && !x->cur->interrupted;

		if (running) {
			/* an answer already there wins, as for a timeout (and
			 * the run it let start is not the one asked about) */
			uint64_t serial = x->cur->serial;

			read_responses(a, x->proc);
			running = x->cur && x->proc && x->cur->serial == serial &&
				  !x->cur->interrupted;
		}
		if (running) {
			x->cur->asked = 1;
			run_interrupt(a, x->cur);
		}
		client_reply(c, id, json_pack("{s:b,s:b}", "ok", 1, "interrupted",
					      running));
		return;
	}
	if (!strcmp(action, "reset")) {
		ctx_stop(a, x, "ContextReset", "the context was reset while the "
			 "code ran");
		x->lost = 0; /* asked for: not a loss to report */
		if (proc_start(a, x, &err) < 0) {
			client_error(c, id, err.code, err.os_errno, err.hint, "%s",
				     err.message);
			ctx_pump(a, x);
			return;
		}
		client_reply(c, id, json_pack("{s:b}", "ok", 1));
		ctx_pump(a, x);
		return;
	}
	/* destroy */
	ctx_stop(a, x, "ContextDestroyed", "the context was destroyed while "
		 "the code ran");
	while (x->queue) {
		struct run *r = x->queue;

		x->queue = r->next;
		x->queued--;
		if (!r->detached)
			client_error(r->c, r->id, MSB_ECANCELED, 0, "", "the REPL "
				     "context was destroyed before the run started");
		run_free(a, r);
	}
	ctx_free(x);
	client_reply(c, id, json_pack("{s:b}", "ok", 1));
}
