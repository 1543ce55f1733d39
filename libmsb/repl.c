/*
 * repl.c - code run in long-lived interpreters inside a sandbox.
 *
 * A run is a CALL {"op":"repl.run","language","context","timeout_ms"}
 * followed by the code as STDIN frames (split at MSB_DATA_CHUNK; an empty
 * frame ends it), so code of any size fits; the interpreter's output comes
 * back as STDOUT/STDERR frames and the result as the REPLY. Contexts are
 * managed with {"op":"repl.context","action":...}. See docs/PROTOCOL.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "conn.h"
#include "error.h"
#include "sandbox.h"

/* Output buffered by msb_repl_run() per stream; more is dropped. */
#define REPL_OUTPUT_CAP (64ll << 20)
#define MAX_CONTEXT_NAME 128

static int check_target(msb_sandbox *sb, msb_language lang, const char *name)
{
	size_t n;
	int rc;

	if ((rc = msb_check_sb(sb)))
		return rc;
	if (!msb_language_name(lang))
		return msb_fail(MSB_EINVAL, 0, "use MSB_LANG_PYTHON, "
				"MSB_LANG_NODE or MSB_LANG_SHELL",
				"unknown REPL language %d", (int)lang);
	if (!name)
		return 0;
	n = strlen(name);
	if (n == 0 || n > MAX_CONTEXT_NAME)
		return msb_fail(MSB_EINVAL, 0, "give a context name of 1 to 128 "
				"bytes, or NULL for \"default\"",
				"invalid REPL context name (%zu bytes)", n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return msb_fail(MSB_EINVAL, 0, "use printable characters "
					"in context names",
					"REPL context name holds a control character");
	return 0;
}

/* A CALL for (lang, name); NULL when the name is not UTF-8 (or no memory). */
static json_t *target_call(const char *op, const char *action,
			   msb_language lang, const char *name)
{
	json_t *call = json_pack("{s:s,s:s}", "op", op, "language",
				 msb_language_name(lang));
	json_t *jname = json_string(name ? name : "default");

	if (!call || !jname) {
		json_decref(call);
		json_decref(jname);
		return NULL;
	}
	json_object_set_new(call, "context", jname);
	if (action)
		json_object_set_new(call, "action", json_string(action));
	return call;
}


/* A CALL answered by one REPLY; returns the reply ("ok": true) in *out. */
static int repl_call(msb_sandbox *sb, json_t *req, json_t **out)
{
	struct request *r;
	struct chunk *c;
	int rc = msb_request_begin(sb, &r, req);

	if (rc)
		return rc;
	while ((rc = msb_request_wait(sb, r, &c, 0)) == 1)
		free(c);
	if (rc == 0) {
		if (!json_is_true(json_object_get(r->reply, "ok")))
			rc = msb_fail_json(json_object_get(r->reply, "error"), NULL);
		else
			*out = json_incref(r->reply);
	}
	msb_request_end(sb, r);
	return rc;
}

/* ---- results ------------------------------------------------------------- */

void msb_repl_result_free(msb_repl_result *r)
{
	if (!r)
		return;
	free(r->out.ptr);
	free(r->err.ptr);
	free(r->value.ptr);
	free((char *)r->error_type);
	free((char *)r->error_message);
	free(r->traceback.ptr);
	for (size_t i = 0; i < r->outputs_len; i++) {
		free((char *)r->outputs[i].mime);
		free(r->outputs[i].data.ptr);
	}
	free(r->outputs);
	free(r);
}

static int buf_set(msb_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	free(b->ptr);
	b->ptr = malloc(n + 1);
	if (!b->ptr) {
		b->len = 0;
		return -1;
	}
	memcpy(b->ptr, s ? s : "", n);
	b->ptr[n] = 0;
	b->len = n;
	return 0;
}


static char *dup_str(const json_t *j)
{
	const char *s = json_string_value(j);

	return strdup(s ? s : "");
}

/* Fill the result from an "ok" reply. */
static int fill_result(msb_repl_result *res, const json_t *reply)
{
	const char *status = json_string_value(json_object_get(reply, "status"));
	const json_t *err = json_object_get(reply, "error");
	const json_t *outs = json_object_get(reply, "outputs");
	json_int_t elapsed = json_integer_value(json_object_get(reply, "elapsed_us"));
	size_t n = json_array_size(outs);

	if (!status)
		return msb_fail(MSB_EPROTO, 0, "use matching libmsb and msb-agent "
				"versions", "REPL reply without a status");
	if (!strcmp(status, "ok"))
		res->status = MSB_REPL_OK;
	else if (!strcmp(status, "timeout"))
		res->status = MSB_REPL_TIMEOUT;
	else if (!strcmp(status, "interrupted"))
		res->status = MSB_REPL_INTERRUPTED;
	else
		res->status = MSB_REPL_ERROR;
	res->state_lost = json_is_true(json_object_get(reply, "state_lost"));
	res->elapsed_us = elapsed > 0 ? (uint64_t)elapsed : 0;
	res->error_type = dup_str(json_object_get(err, "type"));
	res->error_message = dup_str(json_object_get(err, "message"));
	if (!res->error_type || !res->error_message ||
	    buf_set(&res->value, json_string_value(json_object_get(reply, "value"))) ||
	    buf_set(&res->traceback, json_string_value(json_object_get(err, "traceback"))))
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	if (n) {
		res->outputs = calloc(n, sizeof(*res->outputs));
		if (!res->outputs)
			return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *o = json_array_get(outs, i);
		msb_repl_output *ro = &res->outputs[res->outputs_len];
		const char *mime = json_string_value(json_object_get(o, "mime"));
		const char *data = json_string_value(json_object_get(o, "data"));

		if (!mime || !data)
			continue;
		ro->mime = strdup(mime);
		if (!ro->mime || buf_set(&ro->data, data)) {
			free((char *)ro->mime);
			ro->mime = NULL;
			return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
		}
		res->outputs_len++;
	}
	return 0;
}

static int run(msb_repl_result **out, msb_sandbox *sb, const msb_repl_options *o,
	       const char *code, size_t len, msb_output_cb cb, void *payload)
{
	msb_repl_result *res;
	struct request *req;
	json_t *call, *reply;
	int rc, canceled = 0;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_repl_result pointer", "out is NULL");
	*out = NULL;
	if ((rc = msb_check_sb(sb)))
		return rc;
	if (!o)
		return msb_fail(MSB_EINVAL, 0, "pass options with at least the "
				"language set", "REPL options are NULL");
	if (o->version == 0 || o->version > MSB_REPL_OPTIONS_VERSION)
		return msb_fail(MSB_EVERSION, 0, "initialise options with "
				"MSB_REPL_OPTIONS_INIT",
				"unknown msb_repl_options version %u", o->version);
	if ((rc = check_target(sb, o->language, o->context)))
		return rc;
	if (o->timeout_ms < 0)
		return msb_fail(MSB_EINVAL, 0, "give the timeout in milliseconds, "
				"or 0 for none", "REPL timeout is negative (%lld)",
				(long long)o->timeout_ms);
	if (!code && len)
		return msb_fail(MSB_EINVAL, 0, "pass the code, or a length of 0",
				"code is NULL but code_len is %zu", len);
	if (len && memchr(code, 0, len))
		return msb_fail(MSB_EINVAL, 0, "remove the NUL bytes (escape them "
				"in string literals)", "the code holds a NUL byte");
	call = target_call("repl.run", NULL, o->language, o->context);
	if (!call)
		return msb_fail(MSB_EINVAL, 0, "give the context name as UTF-8",
				"the REPL context name is not valid UTF-8");
	json_object_set_new(call, "timeout_ms", json_integer((json_int_t)o->timeout_ms));
	res = calloc(1, sizeof(*res));
	if (!res) {
		json_decref(call);
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	rc = msb_request_begin(sb, &req, call);
	json_decref(call);
	if (rc) {
		free(res);
		return rc;
	}
	if ((rc = msb_send_data(sb, req->id, code, len, 1)))
		goto fail;

	rc = msb_request_collect(sb, req, &res->out, &res->out_truncated, &res->err,
				 &res->err_truncated, REPL_OUTPUT_CAP, cb, payload,
				 SIGINT, &canceled);
	if (rc < 0)
		goto fail;
	reply = req->reply;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		rc = msb_fail_json(json_object_get(reply, "error"), NULL);
		goto fail;
	}
	if ((rc = fill_result(res, reply)))
		goto fail;
	res->value_truncated = json_is_true(json_object_get(reply, "truncated"));
	if (!res->out.ptr && buf_set(&res->out, ""))
		goto nomem;
	if (!res->err.ptr && buf_set(&res->err, ""))
		goto nomem;
	msb_request_end(sb, req);
	if (canceled) {
		msb_repl_result_free(res);
		return msb_fail(MSB_ECANCELED, 0, "", "the output callback "
				"stopped the run");
	}
	*out = res;
	return msb_ok();
nomem:
	rc = msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
fail:
	msb_request_end(sb, req);
	msb_repl_result_free(res);
	return rc;
}

int msb_repl_run(msb_repl_result **out, msb_sandbox *sb,
		 const msb_repl_options *opts, const char *code, size_t code_len)
{
	return run(out, sb, opts, code, code_len, NULL, NULL);
}

int msb_repl_run_stream(msb_repl_result **out, msb_sandbox *sb,
			const msb_repl_options *opts, const char *code,
			size_t code_len, msb_output_cb cb, void *payload)
{
	if (!cb) {
		if (out)
			*out = NULL;
		return msb_fail(MSB_EINVAL, 0, "use msb_repl_run() to buffer "
				"output instead", "output callback is NULL");
	}
	return run(out, sb, opts, code, code_len, cb, payload);
}

/* ---- contexts ---------------------------------------------------------------- */

static int context_op(msb_sandbox *sb, msb_language lang, const char *name,
		      const char *action, int *interrupted)
{
	json_t *req, *reply = NULL;
	int rc;

	if ((rc = check_target(sb, lang, name)))
		return rc;
	if (!name)
		name = "default"; /* as for runs */
	req = target_call("repl.context", action, lang, name);
	if (!req)
		return msb_fail(MSB_EINVAL, 0, "give the context name as UTF-8",
				"the REPL context name is not valid UTF-8");
	rc = repl_call(sb, req, &reply);
	json_decref(req);
	if (!rc && interrupted)
		*interrupted = json_is_true(json_object_get(reply, "interrupted"));
	json_decref(reply);
	return rc ? rc : msb_ok();
}

int msb_repl_interrupt(msb_sandbox *sb, msb_language lang, const char *name,
		       int *interrupted)
{
	if (interrupted)
		*interrupted = 0;
	return context_op(sb, lang, name, "interrupt", interrupted);
}

int msb_repl_context_create(msb_sandbox *sb, msb_language lang, const char *name)
{
	return context_op(sb, lang, name, "create", NULL);
}

int msb_repl_context_reset(msb_sandbox *sb, msb_language lang, const char *name)
{
	return context_op(sb, lang, name, "reset", NULL);
}

int msb_repl_context_destroy(msb_sandbox *sb, msb_language lang, const char *name)
{
	return context_op(sb, lang, name, "destroy", NULL);
}

void msb_repl_contexts_free(msb_repl_contexts *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->len; i++)
		free((char *)list->items[i].name);
	free(list->items);
	free(list);
}

int msb_repl_context_list(msb_repl_contexts **out, msb_sandbox *sb)
{
	msb_repl_contexts *list;
	json_t *req, *reply = NULL, *items;
	size_t n;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_repl_contexts pointer", "out is NULL");
	*out = NULL;
	if ((rc = msb_check_sb(sb)))
		return rc;
	req = json_pack("{s:s,s:s}", "op", "repl.context", "action", "list");
	if (!req)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	rc = repl_call(sb, req, &reply);
	json_decref(req);
	if (rc)
		return rc;
	items = json_object_get(reply, "contexts");
	n = json_array_size(items);
	list = calloc(1, sizeof(*list));
	if (!list || (n && !(list->items = calloc(n, sizeof(*list->items))))) {
		free(list);
		json_decref(reply);
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *it = json_array_get(items, i);
		msb_language lang = msb_language_parse(
			json_string_value(json_object_get(it, "language")));
		const char *name = json_string_value(json_object_get(it, "name"));
		msb_repl_context *rc_item = &list->items[list->len];

		if (!lang || !name)
			continue;
		rc_item->language = lang;
		rc_item->running = json_is_true(json_object_get(it, "running"));
		rc_item->name = strdup(name);
		if (!rc_item->name) {
			msb_repl_contexts_free(list);
			json_decref(reply);
			return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
		}
		list->len++;
	}
	json_decref(reply);
	*out = list;
	return msb_ok();
}
