/*
 * repl_ctx.c - the REPL's contexts, runs and interpreter processes (see
 * repl.c for the whole picture; repl_ctx.h for what the operations use).
 *
 * A context owns at most one interpreter (struct repl_proc) and a queue
 * of runs; the run at the head is in the interpreter. Its code goes to
 * the driver's fd 3 without blocking, its output is forwarded while the
 * client keeps up, its answer is read from fd 4, bounded and checked (a
 * driver that breaks the protocol is killed), and the next run starts.
 * Timeouts and interrupts send SIGINT, then SIGKILL after a grace.
 *
 * One cohesive state machine: the interpreter's events (an answer, an
 * exit, a broken protocol) end runs and start the next, and scheduling
 * starts and feeds interpreters; they call one another both ways, so they
 * stay in one file.
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

#include "wire.h"
#include "base.h"
#include "client.h"
#include "launch.h"
#include "proto.h"
#include "repl_ctx.h"
#include "repl_lang.h"
#include "repl_reply.h"

#define MAX_CODE (64u << 20)        /* bytes of code per run */
#define MAX_RESP (4u << 20)         /* bytes of a driver's response */
#define KILL_GRACE_NS (2000ull * 1000000ull) /* SIGINT, then SIGKILL */
#define DRAIN_ROUNDS 64             /* chunks forwarded before a reply */

static struct repl_ctx *contexts;
static size_t ncontexts;
static uint64_t run_serial;

struct repl_ctx *repl_ctx_first(void)
{
	return contexts;
}

size_t repl_ctx_count(void)
{
	return ncontexts;
}

uint64_t repl_next_serial(void)
{
	return ++run_serial;
}

static void proc_feed(struct agent *a, struct repl_proc *p, struct client *c);

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

struct repl_ctx *repl_ctx_find(enum repl_lang_id lang, const char *name)
{
	for (struct repl_ctx *x = contexts; x; x = x->next)
		if (x->lang == lang && !strcmp(x->name, name))
			return x;
	return NULL;
}

struct repl_ctx *repl_ctx_new(enum repl_lang_id lang, const char *name)
{
	struct repl_ctx *x = calloc(1, sizeof(*x));

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

void repl_ctx_free(struct repl_ctx *x)
{
	for (struct repl_ctx **pp = &contexts; *pp; pp = &(*pp)->next)
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
void repl_run_free(struct agent *a, struct repl_run *r)
{
	if (r->timer)
		agent_timer_cancel(a, r->timer);
	if (!r->detached)
		client_untrack(r->c, r->id);
	client_unref(r->c);
	free(r->code);
	free(r);
}

void repl_queue_remove(struct repl_ctx *x, struct repl_run *r)
{
	for (struct repl_run **pp = &x->queue; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			x->queued--;
			return;
		}
}

/* Send a run's result (repl_reply.c), unless nobody waits for it. */
static void run_reply(struct repl_run *r, const char *status, const json_t *value,
		      const json_t *error, const json_t *outputs)
{
	if (r->detached || !client_alive(r->c))
		return;
	repl_reply(r->c, r->id, r->start_ns, r->state_lost, status, value,
		   error, outputs);
}

/* The run in the interpreter is over: reply, forget it, start the next. */
static void run_done(struct agent *a, struct repl_ctx *x, const char *status,
		     const json_t *value, const json_t *error, const json_t *outputs)
{
	struct repl_run *r = x->cur;

	x->cur = NULL;
	proc_feed(a, x->proc, NULL);
	if (r) {
		run_reply(r, status, value, error, outputs);
		repl_run_free(a, r);
	}
}

void repl_run_fail(struct agent *a, struct repl_ctx *x, const char *type, const char *msg)
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
static void pump_output(struct agent *a, struct repl_proc *p, int *fd, uint8_t type,
			int rounds, int all)
{
	static uint8_t buf[MSB_DATA_CHUNK];

	while (*fd >= 0 && rounds-- > 0) {
		struct repl_run *r = p->ctx ? p->ctx->cur : NULL;
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
	struct repl_proc *p = data;

	if (fd == p->out_fd)
		pump_output(a, p, &p->out_fd, MSB_FRAME_STDOUT, 16, 0);
	else if (fd == p->err_fd)
		pump_output(a, p, &p->err_fd, MSB_FRAME_STDERR, 16, 0);
}

/* Before an answer: what the code wrote goes first, behind or not. */
static void drain_output(struct agent *a, struct repl_proc *p)
{
	pump_output(a, p, &p->out_fd, MSB_FRAME_STDOUT, DRAIN_ROUNDS, 1);
	pump_output(a, p, &p->err_fd, MSB_FRAME_STDERR, DRAIN_ROUNDS, 1);
}

/* The interpreter's output and answers are for client c now (NULL:
 * between runs, for nobody). */
static void proc_feed(struct agent *a, struct repl_proc *p, struct client *c)
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
static void proc_bad(struct agent *a, struct repl_proc *p, const char *why)
{
	struct repl_ctx *x = p->ctx;
	char msg[256];

	snprintf(msg, sizeof(msg), "the interpreter's driver broke the protocol "
		 "(%s); it was killed", why);
	repl_proc_abandon(a, p);
	if (x->cur) {
		repl_run_fail(a, x, "InterpreterDied", msg);
	} else {
		x->lost = 1;
	}
	repl_ctx_pump(a, x);
}

/* A complete response for the run in progress. */
static void handle_response(struct agent *a, struct repl_proc *p, const uint8_t *d, size_t n)
{
	struct repl_ctx *x = p->ctx;
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
int repl_read_responses(struct agent *a, struct repl_proc *p)
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
				struct repl_ctx *x = p->ctx;

				handle_response(a, p, p->rbuf + hdr, len);
				if (x->proc != p)
					return -1; /* killed for a bad answer */
			}
			memmove(p->rbuf, p->rbuf + hdr + len, p->rlen - hdr - len);
			p->rlen -= hdr + len;
			if (p->exited)
				continue; /* the exit handler starts what is next */
			repl_ctx_pump(a, p->ctx);
			if (p->ctx->proc != p)
				return -1;
		}
	}
	return 0;
}

static void on_response(struct agent *a, int fd, short revents, void *data)
{
	repl_read_responses(a, data);
}

static void proc_write(struct agent *a, struct repl_proc *p);

static void on_writable(struct agent *a, int fd, short revents, void *data)
{
	proc_write(a, data);
}

/* Write the pending request without blocking. */
static void proc_write(struct agent *a, struct repl_proc *p)
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

static void proc_close(struct agent *a, struct repl_proc *p)
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
void repl_proc_abandon(struct agent *a, struct repl_proc *p)
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
	struct repl_proc *p = data;
	struct repl_ctx *x = p->ctx;
	const char *what;
	char msg[256];

	p->exited = 1;
	if (!x) {
		free(p);
		return;
	}
	/* An answer (and output) written just before the end still counts. */
	if (p->resp_fd >= 0 && repl_read_responses(a, p) < 0)
		x = NULL; /* already dealt with */
	if (x && x->proc == p) {
		drain_output(a, p);
		/* Whatever it started goes with it. */
		kill(-p->pid, SIGKILL);
		proc_close(a, p);
		x->proc = NULL;
		what = repl_lang_of(x->lang) ? repl_lang_of(x->lang)->name : "the";
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
			repl_run_fail(a, x, x->cur->killed ? "Timeout" : "InterpreterDied", msg);
		else
			x->lost = 1;
		repl_ctx_pump(a, x);
	}
	/* An abandoned process's exit comes back here with ctx NULL. */
	if (!p->ctx)
		free(p);
}

/* Start the context's interpreter. Returns 0 or -1 with *err. */
int repl_proc_start(struct agent *a, struct repl_ctx *x, struct msb_wire_error *err)
{
	const struct repl_language *l = repl_lang_of(x->lang);
	const struct agent_config *cfg = agent_config(a);
	int req[2] = { -1, -1 }, resp[2] = { -1, -1 }, out[2] = { -1, -1 };
	int errp[2] = { -1, -1 }, nul = -1, rc = -1;
	const char *argvs[LAUNCH_MAX_PROGRAMS][REPL_ARGV_MAX];
	struct launch_spec spec = { 0 };
	struct launch_failure fail;
	char **env = NULL;
	struct repl_proc *p = NULL;
	pid_t pid;

	if (pipe2(req, O_CLOEXEC) || pipe2(resp, O_CLOEXEC) ||
	    pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) ||
	    (nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		msb_wire_fail(err, MSB_WIRE_ERROR, errno, "the sandbox may have too many "
			   "open files", "cannot create the interpreter's pipes");
		goto out;
	}
	env = launch_env(cfg, NULL);
	p = calloc(1, sizeof(*p));
	if (!env || !p) {
		msb_wire_fail(err, MSB_WIRE_ENOMEM, ENOMEM, "", "out of memory");
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
	spec.workdir = cfg->w.workdir;
	spec.env = env;
	for (size_t i = 0; l->programs[i] && i < LAUNCH_MAX_PROGRAMS; i++) {
		repl_lang_argv(l, i, argvs[i]);
		spec.argv[i] = (char *const *)argvs[i];
	}
	pid = launch(&spec, &fail);
	close(req[0]);
	close(resp[1]);
	close(out[1]);
	close(errp[1]);
	req[0] = resp[1] = out[1] = errp[1] = -1;
	if (pid < 0) {
		if (fail.stage == LAUNCH_PIPE)
			msb_wire_fail(err, MSB_WIRE_ERROR, fail.err, "the sandbox may have too many "
				   "open files", "cannot create the interpreter's pipes");
		else if (fail.stage == LAUNCH_FORK)
			msb_wire_fail(err, MSB_WIRE_ERROR, fail.err, "the sandbox may be at its "
				   "process limit", "cannot start the interpreter");
		else if (fail.stage == LAUNCH_WORKDIR)
			msb_wire_fail(err, MSB_WIRE_ERROR, fail.err, "", "cannot change to "
				   "the workdir %s", cfg->w.workdir);
		else if (fail.err == ENOENT)
			msb_wire_fail(err, MSB_WIRE_ENOTFOUND, 0, l->hint, "no %s "
				   "interpreter in the sandbox (%s not found on "
				   "PATH)", l->name, l->programs[0]);
		else
			msb_wire_fail(err, fail.err == EACCES ? MSB_WIRE_EPERM : MSB_WIRE_ERROR,
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
		msb_wire_fail(err, MSB_WIRE_ENOMEM, ENOMEM, "", "out of memory");
		goto out;
	}
	if (agent_watch(a, p->resp_fd, POLLIN, on_response, p) < 0 ||
	    agent_watch(a, p->out_fd, POLLIN, on_output, p) < 0 ||
	    agent_watch(a, p->err_fd, POLLIN, on_output, p) < 0) {
		x->proc = p;
		repl_proc_abandon(a, p); /* freed when its exit is seen */
		p = NULL;
		msb_wire_fail(err, MSB_WIRE_ENOMEM, ENOMEM, "", "out of memory");
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
	struct repl_run *r = data;
	struct repl_ctx *x = r->ctx;
	uint64_t serial = r->serial;

	r->timer = 0;
	if (!x || x->cur != r || !x->proc)
		return;
	/* An answer that is there, unread while the client was behind,
	 * wins. */
	repl_read_responses(a, x->proc);
	if (!x->cur || x->cur->serial != serial || !x->proc)
		return;
	r->killed = 1;
	kill(-r->ctx->proc->pid, SIGKILL);
	kill(r->ctx->proc->pid, SIGKILL);
}

/* SIGINT to the interpreter's process group; SIGKILL if it does not
 * answer within the grace. */
void repl_run_interrupt(struct agent *a, struct repl_run *r)
{
	struct repl_proc *p = r->ctx->proc;

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
	struct repl_run *r = data;
	struct repl_ctx *x = r->ctx;
	uint64_t serial = r->serial;

	r->timer = 0;
	if (x->cur != r || !x->proc)
		return;
	/* An answer that is already there wins over the timeout. */
	repl_read_responses(a, x->proc);
	if (x->cur && x->cur->serial == serial)
		repl_run_interrupt(a, x->cur);
}

/* Start the next run whose code is complete, if the interpreter is free. */
void repl_ctx_pump(struct agent *a, struct repl_ctx *x)
{
	while (!x->cur && x->queue && x->queue->code_done) {
		struct repl_run *r = x->queue;
		struct msb_wire_error err;
		char hdr[32];
		int h;

		x->queue = r->next;
		x->queued--;
		r->next = NULL;
		if (r->detached) {
			repl_run_free(a, r);
			continue;
		}
		if (r->too_big || r->has_nul) {
			if (r->too_big)
				client_error(r->c, r->id, MSB_WIRE_ETOOBIG, 0, "split the "
					     "code, or put it in a file and run that",
					     "the code is larger than %u bytes", MAX_CODE);
			else
				client_error(r->c, r->id, MSB_WIRE_EINVAL, 0, "remove the "
					     "NUL bytes", "the code holds NUL bytes");
			repl_run_free(a, r);
			continue;
		}
		memset(&err, 0, sizeof(err));
		if (!x->proc && repl_proc_start(a, x, &err) < 0) {
			client_error(r->c, r->id, err.code, err.os_errno, err.hint,
				     "%s", err.message);
			repl_run_free(a, r);
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
				client_error(r->c, r->id, MSB_WIRE_ENOMEM, ENOMEM, "", "out of memory");
				repl_run_free(a, r);
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
	struct repl_run *r = rd;

	if (r->code_done)
		return;
	if (len == 0) {
		r->code_done = 1;
		repl_ctx_pump(a, r->ctx);
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
	struct repl_run *r = rd;
	struct repl_ctx *x = r->ctx;

	if (x->cur == r) {
		repl_run_interrupt(a, r);
	} else {
		repl_queue_remove(x, r);
		client_error(c, id, MSB_WIRE_ECANCELED, 0, "", "the run was canceled "
			     "before it started");
		repl_run_free(a, r);
	}
}

static void run_on_detach(struct agent *a, struct client *c, uint32_t id, void *rd)
{
	struct repl_run *r = rd;
	struct repl_ctx *x = r->ctx;

	client_untrack(c, id);
	r->detached = 1;
	if (x->cur == r) {
		/* Interrupt it; the answer is dropped when it comes. */
		repl_run_interrupt(a, r);
	} else {
		repl_queue_remove(x, r);
		repl_run_free(a, r);
		repl_ctx_pump(a, x);
	}
}

const struct request_ops repl_run_ops = {
	.on_stdin = run_on_stdin,
	.on_cancel = run_on_cancel,
	.on_detach = run_on_detach,
};

