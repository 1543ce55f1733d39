/*
 * command.c - running commands in a sandbox: the exec CALL (argv, env and
 * cwd as byte strings, common/wire.h), its output and its result.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "conn.h"
#include "error.h"
#include "sandbox.h"
#include "wire.h"

int msb_command_options_init(msb_command_options *opts, unsigned int version)
{
	msb_command_options def = MSB_COMMAND_OPTIONS_INIT;

	if (!opts)
		return msb_fail(MSB_EINVAL, 0, "pass a pointer to an "
				"msb_command_options", "opts is NULL");
	if (version != MSB_COMMAND_OPTIONS_VERSION)
		return msb_fail(MSB_EVERSION, 0, "pass MSB_COMMAND_OPTIONS_VERSION",
				"unknown msb_command_options version %u",
				version);
	*opts = def;
	return msb_ok();
}

void msb_command_result_free(msb_command_result *r)
{
	if (!r)
		return;
	free(r->out.ptr);
	free(r->err.ptr);
	free(r);
}

int msb_command_check(const msb_command_options *o)
{
	int rc;

	if (!o)
		return msb_fail(MSB_EINVAL, 0, "pass options with at least argv "
				"set", "command options are NULL");
	if (o->version == 0 || o->version > MSB_COMMAND_OPTIONS_VERSION)
		return msb_fail(MSB_EVERSION, 0, "initialise options with "
				"MSB_COMMAND_OPTIONS_INIT",
				"unknown msb_command_options version %u",
				o->version);
	if (!o->argv || !o->argv[0] || !o->argv[0][0])
		return msb_fail(MSB_EINVAL, 0, "pass a NULL-terminated argv "
				"whose first entry names the program",
				"no command given");
	if (o->timeout_ms < 0)
		return msb_fail(MSB_EINVAL, 0, "give the timeout in "
				"milliseconds, or 0 for none",
				"command timeout is negative (%lld)",
				(long long)o->timeout_ms);
	if (o->output_cap < 0)
		return msb_fail(MSB_EINVAL, 0, "give the cap in bytes, or 0 for "
				"the default (16 MiB)",
				"output cap is negative (%lld)",
				(long long)o->output_cap);
	if (o->stdin_len && !o->stdin_data)
		return msb_fail(MSB_EINVAL, 0, "pass stdin_data or set stdin_len "
				"to 0", "stdin_data is NULL but stdin_len is %zu",
				o->stdin_len);
	if ((rc = msb_check_env(o->env, NULL, "command env")))
		return rc;
	return 0;
}

/* A JSON array of the byte strings in v (NULL-terminated; v may be NULL),
 * after the strings in first; NULL without memory. */
json_t *msb_bytes_array(const char *const *first, const char *const *v)
{
	json_t *a = json_array();

	for (const char *const *p = first; a && p && *p; p++)
		if (json_array_append_new(a, msb_wire_str_encode(*p)))
			goto fail;
	for (const char *const *p = v; a && p && *p; p++)
		if (json_array_append_new(a, msb_wire_str_encode(*p)))
			goto fail;
	return a;
fail:
	json_decref(a);
	return NULL;
}

/*
 * argv, env and cwd are byte strings, and travel as such (see
 * common/wire.h): none is refused for its bytes, none is dropped.
 */
int msb_exec_call(json_t **out, const msb_command_options *o, int64_t cap)
{
	json_t *call = json_pack("{s:s,s:o,s:o,s:b,s:I,s:I}", "op", "exec",
				 "argv", msb_bytes_array(NULL, o->argv),
				 "env", msb_bytes_array(NULL, o->env),
				 "stdin", o->stdin_data != NULL,
				 "timeout_ms", (json_int_t)o->timeout_ms,
				 "output_cap", (json_int_t)cap);

	if (call && o->cwd &&
	    json_object_set_new(call, "cwd", msb_wire_str_encode(o->cwd))) {
		json_decref(call);
		call = NULL;
	}
	if (!call)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	*out = call;
	return 0;
}

int msb_buf_append(msb_buf *b, const uint8_t *d, size_t n, int64_t cap,
		   int *truncated)
{
	size_t room = (size_t)cap > b->len ? (size_t)cap - b->len : 0;
	uint8_t *p;

	if (n > room) {
		n = room;
		*truncated = 1;
	}
	if (n == 0)
		return 0;
	p = realloc(b->ptr, b->len + n + 1);
	if (!p)
		return -1;
	memcpy(p + b->len, d, n);
	b->ptr = p;
	b->len += n;
	p[b->len] = 0;
	return 0;
}

int msb_send_data(msb_sandbox *sb, uint32_t id, const void *data, size_t n,
		  int eof)
{
	const uint8_t *d = data;
	int rc;

	while (n > 0) {
		size_t k = n > MSB_DATA_CHUNK ? MSB_DATA_CHUNK : n;

		if ((rc = msb_conn_send(sb, MSB_FRAME_STDIN, id, d, k)))
			return rc;
		d += k;
		n -= k;
	}
	return eof ? msb_conn_send(sb, MSB_FRAME_STDIN, id, NULL, 0) : 0;
}

int msb_result_fill(msb_command_result *res, const json_t *reply)
{
	if (!json_is_true(json_object_get(reply, "ok")))
		return msb_fail_json(json_object_get(reply, "error"), NULL);
	res->exit_code = (int)json_integer_value(json_object_get(reply, "exit_code"));
	res->signal = (int)json_integer_value(json_object_get(reply, "signal"));
	res->timed_out = json_is_true(json_object_get(reply, "timed_out"));
	res->out_truncated |= json_is_true(json_object_get(reply, "out_truncated"));
	res->err_truncated |= json_is_true(json_object_get(reply, "err_truncated"));
	res->elapsed_us = (uint64_t)json_integer_value(json_object_get(reply, "elapsed_us"));
	if (res->signal < 0 || res->signal >= 65)
		res->signal = 0;
	return 0;
}

int msb_request_collect(msb_sandbox *sb, struct request *req, msb_buf *out,
			int *out_truncated, msb_buf *err, int *err_truncated,
			int64_t cap, msb_output_cb cb, void *payload,
			int cancel_signal, int *canceled)
{
	struct chunk *c;
	int rc;

	*canceled = 0;
	while ((rc = msb_request_wait(sb, req, &c, 0)) == 1) {
		int stream = c->type == MSB_FRAME_STDOUT ? MSB_STREAM_STDOUT :
							   MSB_STREAM_STDERR;
		int r = 0;

		if (*canceled) {
			/* drain until the reply */
		} else if (cb) {
			if (cb(stream, c->data, c->len, payload)) {
				char buf[32];

				*canceled = 1;
				snprintf(buf, sizeof(buf), "{\"signal\":%d}", cancel_signal);
				msb_conn_send(sb, MSB_FRAME_CANCEL, req->id, buf, strlen(buf));
			}
		} else if (stream == MSB_STREAM_STDOUT) {
			r = msb_buf_append(out, c->data, c->len, cap, out_truncated);
		} else {
			r = msb_buf_append(err, c->data, c->len, cap, err_truncated);
		}
		free(c);
		if (r)
			return msb_fail(MSB_ENOMEM, ENOMEM, "lower the output cap, or "
					"stream the output", "out of memory buffering output");
	}
	return rc;
}

static int run(msb_command_result **out, msb_sandbox *sb,
	       const msb_command_options *o, msb_output_cb cb, void *payload)
{
	msb_command_result *res;
	struct request *req;
	json_t *call;
	int64_t cap;
	int rc, canceled = 0;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_command_result pointer", "out is NULL");
	*out = NULL;
	if ((rc = msb_check_sb(sb)))
		return rc;
	if ((rc = msb_command_check(o)))
		return rc;
	cap = o->output_cap ? o->output_cap : MSB_DEFAULT_OUTPUT_CAP;
	if ((rc = msb_exec_call(&call, o, cap)))
		return rc;
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
	if (o->stdin_data && (rc = msb_send_data(sb, req->id, o->stdin_data,
						 o->stdin_len, 1)))
		goto fail;

	rc = msb_request_collect(sb, req, &res->out, &res->out_truncated,
				 &res->err, &res->err_truncated, cap, cb, payload,
				 SIGKILL, &canceled);
	if (rc < 0)
		goto fail;

	if ((rc = msb_result_fill(res, req->reply)))
		goto fail;
	msb_request_end(sb, req);
	if (canceled) {
		msb_command_result_free(res);
		return msb_fail(MSB_ECANCELED, 0, "", "the output callback "
				"stopped the command");
	}
	*out = res;
	return msb_ok();
fail:
	msb_request_end(sb, req);
	msb_command_result_free(res);
	return rc;
}

int msb_command_run(msb_command_result **out, msb_sandbox *sb,
		    const msb_command_options *opts)
{
	return run(out, sb, opts, NULL, NULL);
}

int msb_command_run_stream(msb_command_result **out, msb_sandbox *sb,
			   const msb_command_options *opts, msb_output_cb cb,
			   void *payload)
{
	if (!cb)
		return msb_fail(MSB_EINVAL, 0, "use msb_command_run() to buffer "
				"output instead", "output callback is NULL");
	return run(out, sb, opts, cb, payload);
}
