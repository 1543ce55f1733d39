/*
 * process.c - background processes for index.js's Process: processStart,
 * then process(p, action, a, b) for each operation on a running process
 * (the action numbers index.js mirrors), processRelease, processPid and
 * processList. A process handle borrows its sandbox (see handle.c); PTY
 * processes are opened by pty.c and used through the same calls.
 */
#include <stddef.h>
#include <stdlib.h>

#include <msb.h>

#include "call.h"
#include "command.h"
#include "convert.h"
#include "handle.h"
#include "process.h"
#include "pty.h"

/* ------------------------------------------------------------------------
 * processStart
 */

typedef struct process_start_call {
	call base;
	command_args args;
	msb_process *proc; /* the result, until wrapped */
} process_start_call;

static int start_exec(call *c)
{
	process_start_call *o = (process_start_call *)c;
	msb_command_options co;

	command_args_options(&o->args, &co);
	return CAP(c, msb_process_start(&o->proc, c->h->sb, &co));
}

static napi_value start_done(napi_env env, call *c)
{
	return wrap_process(env, &((process_start_call *)c)->proc, c->h);
}

static void start_release(call *c)
{
	command_args_free(&((process_start_call *)c)->args);
}

static const call_kind start_kind = {
	"msb.processStart", start_exec, start_done, start_release
};

/* processStart(h, argv, opts) -> Promise<proc> */
napi_value js_process_start(napi_env env, napi_callback_info info)
{
	ARGS(3);
	process_start_call *o = call_for_sb(env, argv[0], sizeof(*o), &start_kind);

	if (!o)
		return NULL;
	if (command_args_get(env, argv[1], argv[2], &o->args) < 0)
		return call_abort(&o->base);
	return call_queue(env, &o->base);
}

/* ------------------------------------------------------------------------
 * process(p, action, a, b)
 */

/* The calls whose one argument is an integer (-1 when undefined): read
 * and wait (a timeout), signal (the signal). */
static napi_value queue_i64(napi_env env, napi_value p, napi_value a, size_t size,
			    const call_kind *kind, size_t field)
{
	call *c = call_for_proc(env, p, size, kind);
	int64_t *v;

	if (!c)
		return NULL;
	v = (int64_t *)((char *)c + field);
	*v = -1;
	if (get_i64(env, a, v) < 0)
		return call_abort(c);
	return call_queue(env, c);
}

enum { P_READ, P_WRITE, P_CLOSE_STDIN, P_SIGNAL, P_RESIZE, P_WAIT };

typedef struct process_read_call {
	call base;
	int64_t timeout_ms;
	/* the result: a chunk, or the end or a timeout */
	msb_buf data;
	int stream;
	int end; /* MSB_EDONE, MSB_ETIMEDOUT or 0 */
} process_read_call;

static int read_exec(call *c)
{
	process_read_call *o = (process_read_call *)c;
	int rc = msb_process_read(&o->data, &o->stream, c->ph->p, o->timeout_ms);

	/* The end and a timeout are answers, not errors. */
	if (rc == MSB_EDONE || rc == MSB_ETIMEDOUT) {
		o->end = rc;
		msb_error_clear();
		return 0;
	}
	return CAP(c, rc);
}

static napi_value read_done(napi_env env, call *c)
{
	process_read_call *o = (process_read_call *)c;
	napi_value v;

	NAPI_OK(napi_create_object(env, &v));
	if (o->end == MSB_EDONE) {
		set_bool(env, v, "done", 1);
	} else if (o->end == MSB_ETIMEDOUT) {
		set_bool(env, v, "timedOut", 1);
	} else {
		set_str(env, v, "stream", o->stream == MSB_STREAM_STDERR ?
			"stderr" : "stdout");
		set_buf(env, v, "data", &o->data);
	}
	return v;
}

static void read_release(call *c)
{
	msb_buf_free(&((process_read_call *)c)->data);
}

static const call_kind read_kind = { "msb.process", read_exec, read_done, read_release };

typedef struct process_write_call {
	call base;
	void *data;
	size_t len;
} process_write_call;

static int write_exec(call *c)
{
	process_write_call *o = (process_write_call *)c;

	return CAP(c, msb_process_write(c->ph->p, o->data, o->len));
}

static void write_release(call *c)
{
	free(((process_write_call *)c)->data);
}

static const call_kind write_kind = { "msb.process", write_exec, NULL, write_release };

/* closeStdin: nothing beyond the process. */
static int close_stdin_exec(call *c)
{
	return CAP(c, msb_process_close_stdin(c->ph->p));
}

static const call_kind close_stdin_kind = { "msb.process", close_stdin_exec, NULL, NULL };

typedef struct process_signal_call {
	call base;
	int64_t signo;
} process_signal_call;

static int signal_exec(call *c)
{
	return CAP(c, msb_process_signal(c->ph->p, (int)((process_signal_call *)c)->signo));
}

static const call_kind signal_kind = { "msb.process", signal_exec, NULL, NULL };

typedef struct process_wait_call {
	call base;
	int64_t timeout_ms;
	msb_command_result *res;
} process_wait_call;

static int wait_exec(call *c)
{
	process_wait_call *o = (process_wait_call *)c;

	return CAP(c, msb_process_wait(&o->res, c->ph->p, o->timeout_ms));
}

static napi_value wait_done(napi_env env, call *c)
{
	return command_result_value(env, ((process_wait_call *)c)->res);
}

static void wait_release(call *c)
{
	msb_command_result_free(((process_wait_call *)c)->res);
}

static const call_kind wait_kind = { "msb.process", wait_exec, wait_done, wait_release };

/* process(p, action, a, b): 0 read (a = timeoutMs), 1 write (a = data),
 * 2 closeStdin, 3 signal (a = signal), 4 resize (a = rows, b = cols),
 * 5 wait (a = timeoutMs). */
napi_value js_process(napi_env env, napi_callback_info info)
{
	ARGS(4);
	int64_t action = -1;

	if (!get_proch(env, argv[0]))
		return NULL;
	if (get_i64(env, argv[1], &action) < 0)
		return NULL;
	switch (action) {
	case P_READ:
		return queue_i64(env, argv[0], argv[2], sizeof(process_read_call), &read_kind,
				 offsetof(process_read_call, timeout_ms));
	case P_WAIT:
		return queue_i64(env, argv[0], argv[2], sizeof(process_wait_call), &wait_kind,
				 offsetof(process_wait_call, timeout_ms));
	case P_SIGNAL:
		return queue_i64(env, argv[0], argv[2], sizeof(process_signal_call), &signal_kind,
				 offsetof(process_signal_call, signo));
	case P_WRITE: {
		process_write_call *o = call_for_proc(env, argv[0], sizeof(*o), &write_kind);

		if (!o)
			return NULL;
		if (get_bytes(env, argv[2], &o->data, &o->len) < 0)
			return call_abort(&o->base);
		return call_queue(env, &o->base);
	}
	case P_RESIZE:
		return pty_resize(env, argv[0], argv[2], argv[3]);
	case P_CLOSE_STDIN: {
		call *c = call_for_proc(env, argv[0], sizeof(*c), &close_stdin_kind);

		return c ? call_queue(env, c) : NULL;
	}
	default:
		throw_type(env, "unknown process action");
		return NULL;
	}
}

/* ------------------------------------------------------------------------
 * Release, pid, list
 */

static int release_exec(call *c)
{
	(void)c;
	return 0; /* call.c drops the reference, off the JS thread */
}

static const call_kind release_kind = { "msb.processRelease", release_exec, NULL, NULL };

/* processRelease(p) -> Promise: kill it if it runs, free the handle (in
 * the worker, once no other call uses it). Idempotent. */
napi_value js_process_release(napi_env env, napi_callback_info info)
{
	ARGS(1);
	jsref *r = get_ref(env, argv[0], PROC_MAGIC);
	call *c;
	napi_value p, undef;

	if (!r)
		return NULL;
	if (!r->handle) {
		napi_deferred d;

		NAPI_OK(napi_create_promise(env, &d, &p));
		napi_get_undefined(env, &undef);
		napi_resolve_deferred(env, d, undef);
		return p;
	}
	if (!(c = call_new(env, sizeof(*c), &release_kind)))
		return NULL;
	c->ph = r->handle; /* takes over the JS reference */
	c->owned = 1;
	r->handle = NULL;
	return call_queue(env, c);
}

napi_value js_process_pid(napi_env env, napi_callback_info info)
{
	ARGS(1);
	proch *ph = get_proch(env, argv[0]);
	napi_value v;

	if (!ph)
		return NULL;
	napi_create_double(env, (double)msb_process_pid(ph->p), &v);
	return v;
}

typedef struct process_list_call {
	call base;
	msb_process_list *list;
} process_list_call;

static int list_exec(call *c)
{
	return CAP(c, msb_process_list_all(&((process_list_call *)c)->list, c->h->sb));
}

static napi_value list_done(napi_env env, call *c)
{
	const msb_process_list *pl = ((process_list_call *)c)->list;
	napi_value arr;

	NAPI_OK(napi_create_array_with_length(env, pl->len, &arr));
	for (size_t i = 0; i < pl->len; i++) {
		napi_value e;

		NAPI_OK(napi_create_object(env, &e));
		set_num(env, e, "pid", (double)pl->items[i].pid);
		set_str(env, e, "command", pl->items[i].command);
		set_bool(env, e, "pty", pl->items[i].pty);
		set_num(env, e, "startedMs", (double)pl->items[i].started_ms);
		napi_set_element(env, arr, (uint32_t)i, e);
	}
	return arr;
}

static void list_release(call *c)
{
	msb_process_list_free(((process_list_call *)c)->list);
}

static const call_kind list_kind = {
	"msb.processList", list_exec, list_done, list_release
};

/* processList(h) -> Promise<[{pid, command, pty, startedMs}]> */
napi_value js_process_list(napi_env env, napi_callback_info info)
{
	ARGS(1);
	process_list_call *o = call_for_sb(env, argv[0], sizeof(*o), &list_kind);

	if (!o)
		return NULL;
	return call_queue(env, &o->base);
}
