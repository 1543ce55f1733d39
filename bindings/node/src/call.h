/*
 * call.h - the async-work plumbing every blocking call goes through.
 *
 * A call is a typed struct per operation whose first member is a `call`:
 *
 *	typedef struct metrics_call {
 *		call base;
 *		msb_metrics m;
 *	} metrics_call;
 *
 * and a call_kind that says what runs where: exec on a worker thread (it
 * copies the error with CAP right after a failing libmsb call), done on
 * the JavaScript thread to turn the result into the promise's value, and
 * release to free the typed fields.
 */
#ifndef MSB_NODE_CALL_H
#define MSB_NODE_CALL_H

#include <stdatomic.h>
#include <stddef.h>

#include <node_api.h>

#include "handle.h"

typedef struct call call;

typedef struct call_kind {
	const char *name;                          /* the async resource name */
	int (*exec)(call *c);                      /* on a worker: 0 or MSB_E* */
	napi_value (*done)(napi_env env, call *c); /* on success; NULL: undefined */
	void (*release)(call *c);                  /* frees the typed fields */
} call_kind;

struct call {
	const call_kind *kind;
	napi_async_work work;
	napi_deferred deferred;
	sbh *h;           /* referenced while the work is in flight */
	proch *ph;
	int owned;        /* the work took over the JS reference on h or ph
	                     (stop, release): dropped in the worker */

	/* the error, copied in the worker */
	int rc, captured;
	int ecode, eerrno;
	char *emsg, *ehint;

	/* streaming (stream.c) */
	napi_threadsafe_function tsfn;
	atomic_int cancel;
	napi_ref exc;
	napi_status work_status;
};

/* Copy the calling thread's last error into c (call right after the
 * failing libmsb call, on the same thread). Returns rc. */
int capture(call *c, int rc);
#define CAP(c, expr) capture((c), (expr))

/* A zeroed call of size bytes and kind, or NULL with an exception pending. */
void *call_new(napi_env env, size_t size, const call_kind *kind);

/* The same, holding a reference on the live sandbox (process) behind v. */
void *call_for_sb(napi_env env, napi_value v, size_t size, const call_kind *kind);
void *call_for_proc(napi_env env, napi_value v, size_t size, const call_kind *kind);

/* Queue c; returns the promise, or NULL with an exception pending. Either
 * way c is taken care of (settled or freed, its references dropped). */
napi_value call_queue(napi_env env, call *c);

/* Drop a call that was never queued (argument errors); returns NULL. */
napi_value call_abort(call *c);

/* Settle c's promise and free c (the end of every queued call). */
void call_settle(napi_env env, call *c);

#ifdef MSB_NODE_TIMING
/* Time spent in exec and how many calls, since the last take. */
void call_timing_take(double *ns, double *count);
#endif

#endif
