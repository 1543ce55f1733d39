/*
 * stream.c - streaming output to JavaScript through a threadsafe function.
 * The libmsb output callback runs on the worker and queues each chunk
 * (blocking when the queue is full: back-pressure on the sandbox); the
 * chunks reach the JavaScript callback in order. The promise of a
 * streaming call is settled from the threadsafe function's finalizer,
 * which runs only after every queued chunk was delivered, so no chunk ever
 * arrives after the promise settled.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "convert.h"
#include "stream.h"

typedef struct chunk {
	int stream;
	size_t len;
	uint8_t data[];
} chunk;

static void stream_call_js(napi_env env, napi_value cb, void *context, void *data)
{
	call *c = context;
	chunk *ch = data;
	napi_value args[2], undef, exc;
	bool pending = false;
	void *unused;
	napi_status st;

	if (!env || !cb) { /* tearing down */
		free(ch);
		return;
	}
	if (atomic_load(&c->cancel)) {
		free(ch);
		return;
	}
	napi_create_int32(env, ch->stream, &args[0]);
	napi_create_buffer_copy(env, ch->len, ch->len ? (void *)ch->data : "",
				&unused, &args[1]);
	free(ch);
	napi_get_undefined(env, &undef);
	st = napi_call_function(env, undef, cb, 2, args, NULL);
	napi_is_exception_pending(env, &pending);
	if (pending) {
		/* The callback threw: stop the run and reject with it. */
		napi_get_and_clear_last_exception(env, &exc);
		if (!c->exc)
			napi_create_reference(env, exc, 1, &c->exc);
		atomic_store(&c->cancel, 1);
	} else if (st != napi_ok) {
		/* JavaScript cannot run any more (a worker being terminated):
		 * stop the run, or the environment's teardown, which waits for
		 * work in flight, would wait for it forever. */
		atomic_store(&c->cancel, 1);
	}
}

static void stream_finalize(napi_env env, void *data, void *hint)
{
	call *c = data;

	(void)hint;
	c->tsfn = NULL;
	call_settle(env, c);
}

/* The libmsb output callback, on the worker thread. */
int stream_chunk(int stream, const uint8_t *data, size_t len, void *payload)
{
	call *c = payload;
	chunk *ch;

	if (atomic_load(&c->cancel))
		return 1;
	if (!(ch = malloc(sizeof(*ch) + len)))
		return 1;
	ch->stream = stream;
	ch->len = len;
	memcpy(ch->data, data, len);
	/* Blocking when the queue is full: back-pressure on the sandbox. */
	if (napi_call_threadsafe_function(c->tsfn, ch, napi_tsfn_blocking) != napi_ok) {
		free(ch);
		return 1;
	}
	return 0;
}

int stream_open(napi_env env, call *c, napi_value cb)
{
	napi_valuetype t;
	napi_value name;

	if (!cb || napi_typeof(env, cb, &t) != napi_ok || t == napi_undefined ||
	    t == napi_null)
		return 0;
	if (t != napi_function) {
		throw_type(env, "the output callback must be a function");
		return -1;
	}
	napi_create_string_utf8(env, "msb.stream", NAPI_AUTO_LENGTH, &name);
	if (napi_create_threadsafe_function(env, cb, NULL, name, 64, 1, c,
					    stream_finalize, c, stream_call_js,
					    &c->tsfn) != napi_ok) {
		throw_last(env, "napi_create_threadsafe_function");
		return -1;
	}
	return 0;
}
