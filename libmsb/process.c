/*
 * process.c - background processes and PTY sessions: an exec request that
 * the caller holds on to, reading its output as it comes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "command.h"
#include "conn.h"
#include "error.h"
#include "sandbox.h"
#include "wire.h"

#define START_TIMEOUT_MS 30000
#define FREE_TIMEOUT_MS 5000

struct msb_process {
	msb_sandbox *sb;
	struct request *req;
	pthread_mutex_t lock; /* one call at a time */
	int64_t pid;
	int pty;
	/* Output a wait took off the request before it timed out: the next
	 * read or wait gets it first. */
	msb_command_result pending;
};

static void release(msb_process *p);

void msb_buf_free(msb_buf *buf)
{
	if (!buf)
		return;
	free(buf->ptr);
	buf->ptr = NULL;
	buf->len = 0;
}

static int start(msb_process **out, msb_sandbox *sb, json_t *call,
		 const void *stdin_data, size_t stdin_len, int pty)
{
	msb_process *p;
	int rc;

	p = calloc(1, sizeof(*p));
	if (!p) {
		json_decref(call);
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	json_object_set_new(call, "events", json_true());
	json_object_set_new(call, "stdin", json_true());
	rc = msb_request_begin(sb, &p->req, call);
	json_decref(call);
	if (rc) {
		free(p);
		return rc;
	}
	p->sb = sb;
	p->pty = pty;
	pthread_mutex_init(&p->lock, NULL);
	rc = msb_request_wait_event(sb, p->req, msb_now_ns() +
				    START_TIMEOUT_MS * 1000000ull);
	if (rc == 0) {
		p->pid = json_integer_value(json_object_get(p->req->event, "pid"));
		if (stdin_len)
			rc = msb_send_data(sb, p->req->id, stdin_data, stdin_len, 0);
	}
	if (rc) {
		struct msb_saved_error saved;

		msb_error_save(&saved);
		release(p);
		return msb_error_restore(&saved);
	}
	*out = p;
	return msb_ok();
}

int msb_process_start(msb_process **out, msb_sandbox *sb,
		      const msb_command_options *opts)
{
	json_t *call;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an msb_process "
				"pointer", "out is NULL");
	*out = NULL;
	if ((rc = msb_check_sb(sb)))
		return rc;
	if ((rc = msb_command_check(opts)))
		return rc;
	if ((rc = msb_exec_call(&call, opts, opts->output_cap ? opts->output_cap :
				INT64_MAX)))
		return rc;
	return start(out, sb, call, opts->stdin_data, opts->stdin_len, 0);
}

int msb_pty_open(msb_process **out, msb_sandbox *sb, const msb_pty_options *o)
{
	static const char *const shell[] = {
		"/bin/sh", "-c", "command -v bash >/dev/null 2>&1 && exec bash -i || exec sh -i",
		NULL
	};
	static const char *const term[] = { "TERM=xterm-256color", NULL };
	const char *const *argv;
	json_t *call;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an msb_process "
				"pointer", "out is NULL");
	*out = NULL;
	if ((rc = msb_check_sb(sb)))
		return rc;
	if (!o || o->version == 0 || o->version > MSB_PTY_OPTIONS_VERSION)
		return msb_fail(o ? MSB_EVERSION : MSB_EINVAL, 0,
				"initialise options with MSB_PTY_OPTIONS_INIT",
				"bad msb_pty_options");
	if (o->argv && (!o->argv[0] || !o->argv[0][0]))
		return msb_fail(MSB_EINVAL, 0, "pass NULL for a shell, or a "
				"NULL-terminated argv", "argv is empty");
	if ((rc = msb_check_env(o->env, NULL, "pty env")))
		return rc;
	argv = o->argv ? o->argv : shell;
	call = json_pack("{s:s,s:o,s:o,s:{s:i,s:i},s:I}", "op", "exec",
			 "argv", msb_bytes_array(NULL, argv),
			 "env", msb_bytes_array(term, o->env),
			 "pty", "rows", o->rows ? o->rows : 24,
			 "cols", o->cols ? o->cols : 80,
			 "output_cap", (json_int_t)INT64_MAX);
	if (call && o->cwd &&
	    json_object_set_new(call, "cwd", msb_wire_str_encode(o->cwd))) {
		json_decref(call);
		call = NULL;
	}
	if (!call)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	return start(out, sb, call, NULL, 0, 1);
}

#define CHECK_P(p)                                                           \
	do {                                                                 \
		if (!(p))                                                    \
			return msb_fail(MSB_EINVAL, 0, "pass a handle from "   \
					"msb_process_start() or "            \
					"msb_pty_open()", "process handle "  \
					"is NULL");                          \
	} while (0)

int msb_process_read(msb_buf *out, int *stream, msb_process *p, int64_t timeout_ms)
{
	struct chunk *c;
	int rc;

	if (!out || !stream)
		return msb_fail(MSB_EINVAL, 0, "pass an msb_buf and an int for "
				"the stream", "out or stream is NULL");
	out->ptr = NULL;
	out->len = 0;
	*stream = 0;
	CHECK_P(p);
	pthread_mutex_lock(&p->lock);
	if (p->pending.out.len || p->pending.err.len) {
		msb_buf *b = p->pending.out.len ? &p->pending.out : &p->pending.err;

		*stream = b == &p->pending.out ? MSB_STREAM_STDOUT : MSB_STREAM_STDERR;
		*out = *b;
		b->ptr = NULL;
		b->len = 0;
		pthread_mutex_unlock(&p->lock);
		return msb_ok();
	}
	rc = msb_request_wait(p->sb, p->req, &c, timeout_ms >= 0 ?
			      msb_now_ns() + (uint64_t)timeout_ms * 1000000ull + 1 : 0);
	pthread_mutex_unlock(&p->lock);
	if (rc == 0)
		return msb_fail(MSB_EDONE, 0, "call msb_process_wait() for the "
				"exit status", "the process has ended and all "
				"its output was read");
	if (rc == MSB_ETIMEDOUT)
		return msb_fail(MSB_ETIMEDOUT, 0, "read again later",
				"no output within %lld ms", (long long)timeout_ms);
	if (rc < 0)
		return rc;
	out->ptr = malloc(c->len + 1);
	if (!out->ptr) {
		free(c);
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	memcpy(out->ptr, c->data, c->len);
	out->ptr[c->len] = 0;
	out->len = c->len;
	*stream = c->type == MSB_FRAME_STDOUT ? MSB_STREAM_STDOUT : MSB_STREAM_STDERR;
	free(c);
	return msb_ok();
}

static int ended(msb_process *p)
{
	int done;

	pthread_mutex_lock(&p->sb->lock);
	done = p->req->reply != NULL || p->req->lost;
	pthread_mutex_unlock(&p->sb->lock);
	return done;
}

int msb_process_write(msb_process *p, const void *data, size_t len)
{
	CHECK_P(p);
	if (!data && len)
		return msb_fail(MSB_EINVAL, 0, "", "data is NULL but len is %zu", len);
	if (ended(p))
		return msb_fail(MSB_ESTATE, 0, "", "the process has ended");
	if (!len)
		return msb_ok();
	return msb_send_data(p->sb, p->req->id, data, len, 0) ?: msb_ok();
}

int msb_process_close_stdin(msb_process *p)
{
	CHECK_P(p);
	if (ended(p))
		return msb_ok();
	return msb_conn_send(p->sb, MSB_FRAME_STDIN, p->req->id, NULL, 0) ?: msb_ok();
}

int msb_process_signal(msb_process *p, int sig)
{
	char buf[32];

	CHECK_P(p);
	if (sig <= 0 || sig >= 65)
		return msb_fail(MSB_EINVAL, 0, "give a signal number such as "
				"SIGTERM (15)", "bad signal %d", sig);
	if (ended(p))
		return msb_fail(MSB_ESTATE, 0, "", "the process has ended");
	snprintf(buf, sizeof(buf), "{\"signal\":%d}", sig);
	return msb_conn_send(p->sb, MSB_FRAME_CANCEL, p->req->id, buf,
			     strlen(buf)) ?: msb_ok();
}

int msb_process_resize(msb_process *p, uint16_t rows, uint16_t cols)
{
	json_t *call, *reply = NULL;
	int rc;

	CHECK_P(p);
	if (!p->pty)
		return msb_fail(MSB_EINVAL, 0, "open it with msb_pty_open()",
				"the process has no terminal");
	if (!rows || !cols)
		return msb_fail(MSB_EINVAL, 0, "give rows and cols of at least 1",
				"bad terminal size %ux%u", rows, cols);
	call = json_pack("{s:s,s:I,s:i,s:i}", "op", "resize", "target",
			 (json_int_t)p->req->id, "rows", rows, "cols", cols);
	rc = msb_call(p->sb, call, &reply, 10000);
	json_decref(call);
	json_decref(reply);
	return rc ? rc : msb_ok();
}

int msb_process_wait(msb_command_result **out, msb_process *p, int64_t timeout_ms)
{
	uint64_t deadline = timeout_ms >= 0 ?
		msb_now_ns() + (uint64_t)timeout_ms * 1000000ull + 1 : 0;
	msb_command_result *res = NULL;
	struct chunk *c;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_command_result pointer", "out is NULL");
	*out = NULL;
	CHECK_P(p);
	pthread_mutex_lock(&p->lock);
	while ((rc = msb_request_wait(p->sb, p->req, &c, deadline)) == 1) {
		msb_command_result *pd = &p->pending;
		int r = c->type == MSB_FRAME_STDOUT ?
			msb_buf_append(&pd->out, c->data, c->len, MSB_DEFAULT_OUTPUT_CAP,
				       &pd->out_truncated) :
			msb_buf_append(&pd->err, c->data, c->len, MSB_DEFAULT_OUTPUT_CAP,
				       &pd->err_truncated);
		free(c);
		if (r) {
			rc = msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
			break;
		}
	}
	if (rc == 0 && !(res = calloc(1, sizeof(*res))))
		rc = msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	if (rc == 0 && (rc = msb_result_fill(res, p->req->reply)) == 0) {
		/* The output not read yet goes with the result. */
		res->out = p->pending.out;
		res->err = p->pending.err;
		res->out_truncated = p->pending.out_truncated;
		res->err_truncated = p->pending.err_truncated;
		memset(&p->pending, 0, sizeof(p->pending));
	} else if (rc == 0) {
		free(res);
		res = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (rc == MSB_ETIMEDOUT)
		rc = msb_fail(MSB_ETIMEDOUT, 0, "wait again, or signal it",
			      "the process is still running after %lld ms",
			      (long long)timeout_ms);
	if (rc) {
		/* Output taken so far stays pending for the next call. */
		free(res);
		return rc;
	}
	*out = res;
	return msb_ok();
}

int64_t msb_process_pid(const msb_process *p)
{
	return p ? p->pid : 0;
}

static void release(msb_process *p)
{
	struct chunk *c;

	if (!ended(p)) {
		msb_conn_send(p->sb, MSB_FRAME_CANCEL, p->req->id,
			      "{\"signal\":9}", 12);
		while (msb_request_wait(p->sb, p->req, &c, msb_now_ns() +
					FREE_TIMEOUT_MS * 1000000ull) == 1)
			free(c);
	}
	msb_request_end(p->sb, p->req);
	pthread_mutex_destroy(&p->lock);
	free(p->pending.out.ptr);
	free(p->pending.err.ptr);
	free(p);
}

void msb_process_free(msb_process *p)
{
	if (!p)
		return;
	release(p);
	msb_error_clear();
}

int msb_process_list_all(msb_process_list **out, msb_sandbox *sb)
{
	json_t *call, *reply = NULL, *items;
	msb_process_list *l;
	size_t i, n;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_process_list pointer", "out is NULL");
	*out = NULL;
	if ((rc = msb_check_sb(sb)))
		return rc;
	call = json_pack("{s:s}", "op", "ps");
	rc = msb_call(sb, call, &reply, 10000);
	json_decref(call);
	if (rc)
		return rc;
	items = json_object_get(reply, "processes");
	n = json_array_size(items);
	l = calloc(1, sizeof(*l));
	if (l && n)
		l->items = calloc(n, sizeof(*l->items));
	if (!l || (n && !l->items)) {
		free(l);
		json_decref(reply);
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	for (i = 0; i < n; i++) {
		const json_t *it = json_array_get(items, i);
		char *cmd = NULL;
		/* argv joined: a byte string; "" when the agent sent none */
		int r = msb_wire_str_decode(json_object_get(it, "command"), &cmd);

		l->items[i].pid = json_integer_value(json_object_get(it, "pid"));
		l->items[i].pty = json_is_true(json_object_get(it, "pty"));
		l->items[i].started_ms = json_integer_value(json_object_get(it, "started_ms"));
		l->items[i].command = r == -1 ? strdup("") : cmd;
		l->len = i + 1;
		if (!l->items[i].command) {
			msb_process_list_free(l);
			json_decref(reply);
			return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
		}
	}
	json_decref(reply);
	*out = l;
	return msb_ok();
}

void msb_process_list_free(msb_process_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->len; i++)
		free((char *)l->items[i].command);
	free(l->items);
	free(l);
}
