/*
 * call.c - the async-work plumbing: every libmsb call that can block
 * (start, stop, commands, REPL, files, processes, metrics, probing) runs as
 * napi async work on the libuv thread pool and settles a promise.
 * msb_error_last() is thread-local, so it is copied inside the worker right
 * after the failing call, and turned into an MsbError on the JavaScript
 * thread. A call that streams is settled by stream.c instead, after its
 * last chunk.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msb.h>

#include "call.h"
#include "convert.h"
#include "errors.h"

#ifdef MSB_NODE_TIMING
static atomic_long exec_ns, exec_count;

void call_timing_take(double *ns, double *count)
{
	*ns = (double)atomic_exchange(&exec_ns, 0);
	*count = (double)atomic_exchange(&exec_count, 0);
}
#endif

int capture(call *c, int rc)
{
	const msb_error *e;

	if (rc >= 0 || c->captured)
		return rc;
	e = msb_error_last();
	c->captured = 1;
	c->rc = rc;
	c->ecode = e->code ? e->code : rc;
	c->eerrno = e->os_errno;
	c->emsg = strdup(e->message ? e->message : "");
	c->ehint = strdup(e->hint ? e->hint : "");
	return rc;
}

void *call_new(napi_env env, size_t size, const call_kind *kind)
{
	call *c = calloc(1, size);

	if (!c) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	c->kind = kind;
	return c;
}

void *call_for_sb(napi_env env, napi_value v, size_t size, const call_kind *kind)
{
	sbh *h = get_sbh(env, v);
	call *c;

	if (!h || !(c = call_new(env, size, kind)))
		return NULL;
	atomic_fetch_add(&h->refs, 1);
	c->h = h;
	return c;
}

void *call_for_proc(napi_env env, napi_value v, size_t size, const call_kind *kind)
{
	proch *ph = get_proch(env, v);
	call *c;

	if (!ph || !(c = call_new(env, size, kind)))
		return NULL;
	atomic_fetch_add(&ph->refs, 1);
	c->ph = ph;
	return c;
}

static void call_free(call *c)
{
	free(c->emsg);
	free(c->ehint);
	if (c->kind->release)
		c->kind->release(c);
	free(c);
}

static void call_execute(napi_env env, void *data)
{
	call *c = data;
	int rc;

	(void)env; /* never touch env off the JS thread */
#ifdef MSB_NODE_TIMING
	struct timespec a_, b_;
	clock_gettime(CLOCK_MONOTONIC, &a_);
#endif
	rc = c->kind->exec(c);
#ifdef MSB_NODE_TIMING
	clock_gettime(CLOCK_MONOTONIC, &b_);
	atomic_fetch_add(&exec_ns, (b_.tv_sec - a_.tv_sec) * 1000000000L + (b_.tv_nsec - a_.tv_nsec));
	atomic_fetch_add(&exec_count, 1);
#endif
	if (rc < 0) {
		capture(c, rc);
	} else {
		c->rc = rc;
	}
	if (c->owned && c->h) {
		/* stop(): drop the JS reference the work took over; when it is
		 * the last one, free here, off the JS thread. */
		sbh *h = c->h;

		c->h = NULL;
		sbh_unref(h, 1);
	}
	if (c->owned && c->ph) {
		proch *ph = c->ph;

		c->ph = NULL;
		proch_unref(ph, 1);
	}
}

void call_settle(napi_env env, call *c)
{
	napi_value v = NULL, exc;
	bool pending = false;

	if (!c->deferred) {
		if (c->exc)
			napi_delete_reference(env, c->exc);
	} else if (c->exc) {
		napi_get_reference_value(env, c->exc, &exc);
		napi_reject_deferred(env, c->deferred, exc);
		napi_delete_reference(env, c->exc);
	} else if (c->work_status != napi_ok && c->work_status != napi_cancelled) {
		napi_reject_deferred(env, c->deferred,
				     make_error(env, MSB_ERROR, "async work failed", "", 0));
	} else if (c->rc < 0) {
		napi_reject_deferred(env, c->deferred,
				     make_error(env, c->ecode, c->emsg, c->ehint, c->eerrno));
	} else {
		if (c->kind->done)
			v = c->kind->done(env, c);
		napi_is_exception_pending(env, &pending);
		if (pending) {
			napi_get_and_clear_last_exception(env, &exc);
			napi_reject_deferred(env, c->deferred, exc);
		} else {
			if (!v)
				napi_get_undefined(env, &v);
			napi_resolve_deferred(env, c->deferred, v);
		}
	}
	if (c->work)
		napi_delete_async_work(env, c->work);
	if (c->h)
		sbh_unref(c->h, 0);
	if (c->ph)
		proch_unref(c->ph, 0);
	call_free(c);
}

static void call_complete(napi_env env, napi_status status, void *data)
{
	call *c = data;

	c->work_status = status;
	if (c->tsfn) {
		/* Settled by the stream's finalizer, after the queued chunks. */
		napi_release_threadsafe_function(c->tsfn, napi_tsfn_release);
		return;
	}
	call_settle(env, c);
}

napi_value call_queue(napi_env env, call *c)
{
	napi_value promise = NULL, res;

	if (napi_create_promise(env, &c->deferred, &promise) != napi_ok) {
		throw_last(env, c->kind->name);
		c->deferred = NULL;
		promise = NULL;
		goto settle;
	}
	napi_create_string_utf8(env, c->kind->name, NAPI_AUTO_LENGTH, &res);
	if (napi_create_async_work(env, NULL, res, call_execute, call_complete, c,
				   &c->work) != napi_ok ||
	    napi_queue_async_work(env, c->work) != napi_ok) {
		c->rc = c->ecode = MSB_ERROR;
		c->captured = 1;
		c->emsg = strdup("could not queue async work");
		goto settle;
	}
	return promise;
settle:
	if (c->tsfn)
		napi_release_threadsafe_function(c->tsfn, napi_tsfn_abort);
	else
		call_settle(env, c);
	return promise;
}

napi_value call_abort(call *c)
{
	if (c->h)
		sbh_unref(c->h, 0);
	if (c->ph)
		proch_unref(c->ph, 0);
	call_free(c);
	return NULL;
}
