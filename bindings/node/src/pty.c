/*
 * pty.c - PTYs for index.js's sandbox.pty: ptyOpen starts a process on a
 * new PTY (the handle it resolves to is a process handle, read, written
 * and waited for like any other: see process.c), and pty_resize sets its
 * window size.
 */
#include <stdlib.h>

#include <msb.h>

#include "call.h"
#include "convert.h"
#include "handle.h"
#include "pty.h"

typedef struct pty_open_call {
	call base;
	char **argv, **env;
	char *cwd;
	int64_t rows, cols;
	msb_process *proc; /* the result, until wrapped */
} pty_open_call;

static int open_exec(call *c)
{
	pty_open_call *o = (pty_open_call *)c;
	msb_pty_options po = MSB_PTY_OPTIONS_INIT;

	po.argv = (const char *const *)o->argv;
	po.env = (const char *const *)o->env;
	po.cwd = o->cwd;
	po.rows = (uint16_t)o->rows;
	po.cols = (uint16_t)o->cols;
	return CAP(c, msb_pty_open(&o->proc, c->h->sb, &po));
}

static napi_value open_done(napi_env env, call *c)
{
	return wrap_process(env, &((pty_open_call *)c)->proc, c->h);
}

static void open_release(call *c)
{
	pty_open_call *o = (pty_open_call *)c;

	free_strv(o->argv);
	free_strv(o->env);
	free(o->cwd);
}

static const call_kind open_kind = { "msb.ptyOpen", open_exec, open_done, open_release };

napi_value js_pty_open(napi_env env, napi_callback_info info)
{
	ARGS(2);
	pty_open_call *o = call_for_sb(env, argv[0], sizeof(*o), &open_kind);

	if (!o)
		return NULL;
	if (get_strv(env, prop(env, argv[1], "argv"), &o->argv, "argv") < 0 ||
	    get_strv(env, prop(env, argv[1], "env"), &o->env, "env") < 0 ||
	    get_str(env, prop(env, argv[1], "cwd"), &o->cwd, NULL, "cwd") < 0 ||
	    get_i64(env, prop(env, argv[1], "rows"), &o->rows) < 0 ||
	    get_i64(env, prop(env, argv[1], "cols"), &o->cols) < 0)
		return call_abort(&o->base);
	return call_queue(env, &o->base);
}

typedef struct pty_resize_call {
	call base;
	int64_t rows, cols;
} pty_resize_call;

static int resize_exec(call *c)
{
	pty_resize_call *o = (pty_resize_call *)c;

	return CAP(c, msb_process_resize(c->ph->p, (uint16_t)o->rows, (uint16_t)o->cols));
}

static const call_kind resize_kind = { "msb.process", resize_exec, NULL, NULL };

napi_value pty_resize(napi_env env, napi_value p, napi_value rows, napi_value cols)
{
	pty_resize_call *o = call_for_proc(env, p, sizeof(*o), &resize_kind);

	if (!o)
		return NULL;
	o->rows = -1;
	if (get_i64(env, rows, &o->rows) < 0 || get_i64(env, cols, &o->cols) < 0)
		return call_abort(&o->base);
	return call_queue(env, &o->base);
}
