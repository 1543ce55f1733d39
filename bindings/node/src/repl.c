/*
 * repl.c - the REPL for index.js's PythonSandbox and NodeSandbox: replRun
 * runs code in a context (streaming its output when given a callback) and
 * replContext manages the contexts.
 */
#include <stdlib.h>

#include <msb.h>

#include "call.h"
#include "convert.h"
#include "errors.h"
#include "repl.h"
#include "stream.h"

static int get_lang(napi_env env, napi_value v, msb_language *out)
{
	char *s = NULL;

	if (get_str(env, v, &s, NULL, "language") < 0)
		return -1;
	*out = s ? msb_language_parse(s) : (msb_language)0;
	free(s);
	if (!*out) {
		napi_throw(env, make_error(env, MSB_EINVAL, "unknown language",
					   "use \"python\", \"node\" or \"shell\"", 0));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * replRun
 */

typedef struct repl_run_call {
	call base;
	msb_language language;
	char *code;
	size_t code_len;
	char *context;
	int64_t timeout_ms;
	msb_repl_result *res;
} repl_run_call;

static int repl_exec(call *c)
{
	repl_run_call *o = (repl_run_call *)c;
	msb_repl_options ro;

	ro.version = MSB_REPL_OPTIONS_VERSION;
	ro.language = o->language;
	ro.context = o->context;
	ro.timeout_ms = o->timeout_ms;
	if (c->tsfn)
		return CAP(c, msb_repl_run_stream(&o->res, c->h->sb, &ro, o->code,
						  o->code_len, stream_chunk, c));
	return CAP(c, msb_repl_run(&o->res, c->h->sb, &ro, o->code, o->code_len));
}

static napi_value repl_done(napi_env env, call *c)
{
	static const char *const st[] = { "success", "error", "timeout", "interrupted" };
	const msb_repl_result *r = ((repl_run_call *)c)->res;
	napi_value v, outs;

	NAPI_OK(napi_create_object(env, &v));
	set_str(env, v, "status", r->status <= 3 ? st[r->status] : "error");
	set_buf(env, v, "stdout", &r->out);
	set_buf(env, v, "stderr", &r->err);
	set_buf(env, v, "value", &r->value);
	set_str(env, v, "errorType", r->error_type);
	set_str(env, v, "errorMessage", r->error_message);
	set_buf(env, v, "traceback", &r->traceback);
	set_bool(env, v, "stateLost", r->state_lost);
	set_bool(env, v, "stdoutTruncated", r->out_truncated);
	set_bool(env, v, "stderrTruncated", r->err_truncated);
	set_bool(env, v, "valueTruncated", r->value_truncated);
	set_num(env, v, "elapsedMs", (double)r->elapsed_us / 1000.0);
	NAPI_OK(napi_create_array_with_length(env, r->outputs_len, &outs));
	for (size_t i = 0; i < r->outputs_len; i++) {
		napi_value e;

		NAPI_OK(napi_create_object(env, &e));
		set_str(env, e, "mime", r->outputs[i].mime);
		set_buf(env, e, "data", &r->outputs[i].data);
		napi_set_element(env, outs, (uint32_t)i, e);
	}
	napi_set_named_property(env, v, "outputs", outs);
	return v;
}

static void repl_release(call *c)
{
	repl_run_call *o = (repl_run_call *)c;

	free(o->code);
	free(o->context);
	msb_repl_result_free(o->res);
}

static const call_kind repl_kind = { "msb.repl", repl_exec, repl_done, repl_release };

/* replRun(h, language, code, {context, timeoutMs}, onChunk?) */
napi_value js_repl_run(napi_env env, napi_callback_info info)
{
	ARGS(5);
	repl_run_call *o = call_for_sb(env, argv[0], sizeof(*o), &repl_kind);

	if (!o)
		return NULL;
	if (get_lang(env, argv[1], &o->language) < 0 ||
	    get_str(env, argv[2], &o->code, &o->code_len, "code") < 0 ||
	    get_str(env, prop(env, argv[3], "context"), &o->context, NULL, "context") < 0 ||
	    get_i64(env, prop(env, argv[3], "timeoutMs"), &o->timeout_ms) < 0)
		return call_abort(&o->base);
	if (!o->code) {
		throw_type(env, "code must be a string");
		return call_abort(&o->base);
	}
	if (stream_open(env, &o->base, argv[4]) < 0)
		return call_abort(&o->base);
	return call_queue(env, &o->base);
}

/* ------------------------------------------------------------------------
 * replContext
 */

enum { CTX_CREATE, CTX_RESET, CTX_DESTROY, CTX_LIST, CTX_INTERRUPT };

/* create, reset, destroy, interrupt: a context by language and name. */
typedef struct repl_context_call {
	call base;
	msb_language language;
	char *name;
	int was_running; /* interrupt's result */
} repl_context_call;

static int ctx_create_exec(call *c)
{
	repl_context_call *o = (repl_context_call *)c;

	return CAP(c, msb_repl_context_create(c->h->sb, o->language, o->name));
}

static int ctx_reset_exec(call *c)
{
	repl_context_call *o = (repl_context_call *)c;

	return CAP(c, msb_repl_context_reset(c->h->sb, o->language, o->name));
}

static int ctx_destroy_exec(call *c)
{
	repl_context_call *o = (repl_context_call *)c;

	return CAP(c, msb_repl_context_destroy(c->h->sb, o->language, o->name));
}

static int ctx_interrupt_exec(call *c)
{
	repl_context_call *o = (repl_context_call *)c;

	return CAP(c, msb_repl_interrupt(c->h->sb, o->language, o->name,
					 &o->was_running));
}

static napi_value ctx_interrupt_done(napi_env env, call *c)
{
	napi_value v;

	NAPI_OK(napi_get_boolean(env, ((repl_context_call *)c)->was_running != 0, &v));
	return v;
}

static void ctx_release(call *c)
{
	free(((repl_context_call *)c)->name);
}

static const call_kind ctx_create_kind = {
	"msb.replContext", ctx_create_exec, NULL, ctx_release
};
static const call_kind ctx_reset_kind = {
	"msb.replContext", ctx_reset_exec, NULL, ctx_release
};
static const call_kind ctx_destroy_kind = {
	"msb.replContext", ctx_destroy_exec, NULL, ctx_release
};
static const call_kind ctx_interrupt_kind = {
	"msb.replContext", ctx_interrupt_exec, ctx_interrupt_done, ctx_release
};

typedef struct repl_list_call {
	call base;
	msb_repl_contexts *list;
} repl_list_call;

static int ctx_list_exec(call *c)
{
	return CAP(c, msb_repl_context_list(&((repl_list_call *)c)->list, c->h->sb));
}

static napi_value ctx_list_done(napi_env env, call *c)
{
	const msb_repl_contexts *cl = ((repl_list_call *)c)->list;
	napi_value arr;

	if (!cl)
		return NULL;
	NAPI_OK(napi_create_array_with_length(env, cl->len, &arr));
	for (size_t i = 0; i < cl->len; i++) {
		napi_value e;

		NAPI_OK(napi_create_object(env, &e));
		set_str(env, e, "language", msb_language_name(cl->items[i].language));
		set_str(env, e, "name", cl->items[i].name);
		set_bool(env, e, "running", cl->items[i].running);
		napi_set_element(env, arr, (uint32_t)i, e);
	}
	return arr;
}

static void ctx_list_release(call *c)
{
	msb_repl_contexts_free(((repl_list_call *)c)->list);
}

static const call_kind ctx_list_kind = {
	"msb.replContext", ctx_list_exec, ctx_list_done, ctx_list_release
};

/* replContext(h, action, language, name): action 0 create, 1 reset,
 * 2 destroy, 3 list, 4 interrupt (resolves to whether code was running).
 * Any other action lists, after reading language and name. */
napi_value js_repl_context(napi_env env, napi_callback_info info)
{
	ARGS(4);
	const call_kind *kind;
	repl_context_call *o;
	repl_list_call *l;
	msb_language language = (msb_language)0;
	char *name = NULL;
	int64_t action = 0;

	if (!get_sbh(env, argv[0]))
		return NULL;
	if (get_i64(env, argv[1], &action) < 0)
		return NULL;
	if (action != CTX_LIST && (get_lang(env, argv[2], &language) < 0 ||
				   get_str(env, argv[3], &name, NULL, "name") < 0))
		return NULL;
	switch (action) {
	case CTX_CREATE:
		kind = &ctx_create_kind;
		break;
	case CTX_RESET:
		kind = &ctx_reset_kind;
		break;
	case CTX_DESTROY:
		kind = &ctx_destroy_kind;
		break;
	case CTX_INTERRUPT:
		kind = &ctx_interrupt_kind;
		break;
	default:
		free(name);
		if (!(l = call_for_sb(env, argv[0], sizeof(*l), &ctx_list_kind)))
			return NULL;
		return call_queue(env, &l->base);
	}
	if (!(o = call_for_sb(env, argv[0], sizeof(*o), kind))) {
		free(name);
		return NULL;
	}
	o->language = language;
	o->name = name;
	return call_queue(env, &o->base);
}
