/*
 * command.c - commands for index.js's CommandRunner: commandRun runs one
 * command to its end, streaming its output when given a callback, and
 * _benchC runs n of them from C in one async work (the reference the
 * binding is measured against in bench.js).
 */
#include <stdlib.h>
#include <time.h>

#include "call.h"
#include "command.h"
#include "convert.h"
#include "stream.h"

int command_args_get(napi_env env, napi_value argvv, napi_value opts,
		     command_args *a)
{
	if (get_strv(env, argvv, &a->argv, "argv") < 0 ||
	    get_strv(env, prop(env, opts, "env"), &a->env, "env") < 0 ||
	    get_str(env, prop(env, opts, "cwd"), &a->cwd, NULL, "cwd") < 0 ||
	    get_bytes(env, prop(env, opts, "stdin"), &a->stdin_data, &a->stdin_len) < 0 ||
	    get_i64(env, prop(env, opts, "timeoutMs"), &a->timeout_ms) < 0 ||
	    get_i64(env, prop(env, opts, "outputCap"), &a->output_cap) < 0)
		return -1;
	return 0;
}

void command_args_free(command_args *a)
{
	free_strv(a->argv);
	free_strv(a->env);
	free(a->cwd);
	free(a->stdin_data);
}

void command_args_options(const command_args *a, msb_command_options *co)
{
	msb_command_options_init(co, MSB_COMMAND_OPTIONS_VERSION);
	co->argv = (const char *const *)a->argv;
	co->env = (const char *const *)a->env;
	co->cwd = a->cwd;
	co->stdin_data = a->stdin_data;
	co->stdin_len = a->stdin_len;
	co->timeout_ms = a->timeout_ms;
	co->output_cap = a->output_cap;
}

napi_value command_result_value(napi_env env, const msb_command_result *r)
{
	napi_value o;

	NAPI_OK(napi_create_object(env, &o));
	set_num(env, o, "exitCode", r->exit_code);
	set_num(env, o, "signal", r->signal);
	set_bool(env, o, "timedOut", r->timed_out);
	set_bool(env, o, "stdoutTruncated", r->out_truncated);
	set_bool(env, o, "stderrTruncated", r->err_truncated);
	set_num(env, o, "elapsedMs", (double)r->elapsed_us / 1000.0);
	set_buf(env, o, "stdout", &r->out);
	set_buf(env, o, "stderr", &r->err);
	return o;
}

/* ------------------------------------------------------------------------
 * commandRun
 */

typedef struct command_call {
	call base;
	command_args args;
	msb_command_result *res;
} command_call;

static int command_exec(call *c)
{
	command_call *o = (command_call *)c;
	msb_command_options co;

	command_args_options(&o->args, &co);
	if (c->tsfn)
		return CAP(c, msb_command_run_stream(&o->res, c->h->sb, &co,
						     stream_chunk, c));
	return CAP(c, msb_command_run(&o->res, c->h->sb, &co));
}

static napi_value command_done(napi_env env, call *c)
{
	return command_result_value(env, ((command_call *)c)->res);
}

static void command_release(call *c)
{
	command_call *o = (command_call *)c;

	command_args_free(&o->args);
	msb_command_result_free(o->res);
}

static const call_kind command_kind = {
	"msb.command", command_exec, command_done, command_release
};

/* commandRun(h, argv, opts, onChunk?) -> Promise<result> */
napi_value js_command_run(napi_env env, napi_callback_info info)
{
	ARGS(4);
	command_call *o = call_for_sb(env, argv[0], sizeof(*o), &command_kind);

	if (!o)
		return NULL;
	if (command_args_get(env, argv[1], argv[2], &o->args) < 0 ||
	    stream_open(env, &o->base, argv[3]) < 0)
		return call_abort(&o->base);
	return call_queue(env, &o->base);
}

/* ------------------------------------------------------------------------
 * _benchC
 */

typedef struct bench_call {
	call base;
	char **argv;
	int64_t n;
	uint64_t ns; /* the result */
} bench_call;

static int bench_exec(call *c)
{
	bench_call *o = (bench_call *)c;
	command_args a = { .argv = o->argv };
	msb_command_options co;
	struct timespec t0, t1;
	int rc;

	command_args_options(&a, &co);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int64_t i = 0; i < o->n; i++) {
		msb_command_result *r = NULL;

		if ((rc = CAP(c, msb_command_run(&r, c->h->sb, &co))))
			return rc;
		msb_command_result_free(r);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	o->ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull +
		(uint64_t)(t1.tv_nsec - t0.tv_nsec);
	return 0;
}

static napi_value bench_done(napi_env env, call *c)
{
	napi_value v;

	napi_create_double(env, (double)((bench_call *)c)->ns, &v);
	return v;
}

static void bench_release(call *c)
{
	free_strv(((bench_call *)c)->argv);
}

static const call_kind bench_kind = {
	"msb.benchC", bench_exec, bench_done, bench_release
};

/* _benchC(h, argv, n) -> Promise<ns>: n x msb_command_run from C, in one
 * async work (the reference the binding is measured against). */
napi_value js_bench_c(napi_env env, napi_callback_info info)
{
	ARGS(3);
	bench_call *o = call_for_sb(env, argv[0], sizeof(*o), &bench_kind);
	int64_t n = 0;

	if (!o)
		return NULL;
	if (get_strv(env, argv[1], &o->argv, "argv") < 0 || get_i64(env, argv[2], &n) < 0)
		return call_abort(&o->base);
	o->n = n;
	return call_queue(env, &o->base);
}
