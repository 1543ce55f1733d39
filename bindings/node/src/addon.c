/*
 * addon.c - the native half of the msb Node binding: plain C against
 * node_api.h (NAPI_VERSION pinned by the build to 8: Node 18 and later).
 * This file is the module: it sets up the per-environment state and
 * exports the functions index.js calls, which live in one file per
 * section:
 *
 *   sandbox.c   the sandbox lifecycle and named sandboxes
 *   command.c   commands
 *   process.c   background processes;  pty.c  PTYs
 *   repl.c      the REPL
 *   file.c      files
 *   metrics.c   metrics and the host probe
 *
 * on shared ground: convert.c (arguments and results), errors.c (errors
 * with code and hint; msb_error_name gives the code's name), call.c and
 * stream.c (async work settling promises, streaming through threadsafe
 * functions), handle.c and reaper.c (reference-counted handles), instance.c (per-environment
 * state and teardown).
 *
 * Every libmsb call that can block runs as async work on the libuv thread
 * pool (call.c) and settles a promise.
 */
#ifndef NAPI_VERSION
#error "build with -DNAPI_VERSION=8 (see Makefile)"
#endif
#include <node_api.h>

#include <msb.h>

#include "call.h"
#include "command.h"
#include "convert.h"
#include "errors.h"
#include "file.h"
#include "handle.h"
#include "instance.h"
#include "metrics.h"
#include "process.h"
#include "pty.h"
#include "reaper.h"
#include "repl.h"
#include "sandbox.h"

static napi_value js_version(napi_env env, napi_callback_info info)
{
	napi_value v;

	(void)info;
	napi_create_string_utf8(env, msb_version(), NAPI_AUTO_LENGTH, &v);
	return v;
}

static int nop_exec(call *c)
{
	(void)c;
	return 0;
}

static const call_kind nop_kind = { "msb.nop", nop_exec, NULL, NULL };

/* _nop() -> Promise<void>: an async work that does nothing, to measure
 * the round trip through the thread pool. */
static napi_value js_nop(napi_env env, napi_callback_info info)
{
	call *c = call_new(env, sizeof(*c), &nop_kind);

	(void)info;
	if (!c)
		return NULL;
	return call_queue(env, c);
}

/* _stats() -> {sandboxes, processes, reaperPending}: live native handles,
 * for leak tests. */
static napi_value js_stats(napi_env env, napi_callback_info info)
{
	napi_value v;

	(void)info;
	NAPI_OK(napi_create_object(env, &v));
	set_num(env, v, "sandboxes", (double)handle_live_sandboxes());
	set_num(env, v, "processes", (double)handle_live_processes());
	set_num(env, v, "reaperPending", (double)reaper_pending());
#ifdef MSB_NODE_TIMING
	{
		double ns, count;

		call_timing_take(&ns, &count);
		set_num(env, v, "execNs", ns);
		set_num(env, v, "execCount", count);
	}
#endif
	return v;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */)
{
	static const struct {
		const char *name;
		napi_callback fn;
	} fns[] = {
		{ "version", js_version },
		{ "setErrorClass", js_set_error_class },
		{ "hostProbe", js_host_probe },
		{ "sandboxStart", js_sandbox_start },
		{ "sandboxConnect", js_sandbox_connect },
		{ "sandboxStop", js_sandbox_stop },
		{ "sandboxInfo", js_sandbox_info },
		{ "named", js_named },
		{ "commandRun", js_command_run },
		{ "replRun", js_repl_run },
		{ "replContext", js_repl_context },
		{ "metrics", js_metrics },
		{ "file", js_file },
		{ "processStart", js_process_start },
		{ "ptyOpen", js_pty_open },
		{ "process", js_process },
		{ "processRelease", js_process_release },
		{ "processPid", js_process_pid },
		{ "processList", js_process_list },
		{ "_benchC", js_bench_c },
		{ "_stats", js_stats },
		{ "_nop", js_nop },
	};

	if (instance_init(env) < 0) {
		napi_throw_error(env, "MSB_ENOMEM", "cannot initialise the addon");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(fns) / sizeof(*fns); i++) {
		napi_value f;

		NAPI_OK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH,
					     fns[i].fn, NULL, &f));
		NAPI_OK(napi_set_named_property(env, exports, fns[i].name, f));
	}
	return exports;
}
