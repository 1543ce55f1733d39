/*
 * handle.c - reference-counted sandbox and process handles and the
 * JavaScript externals that hold them.
 *
 * The JavaScript external holds one reference, every call in flight holds
 * one, and every process handle holds one on its sandbox (a process borrows
 * its sandbox). The last reference frees the libmsb handle: on the reaper
 * thread when it goes on the JavaScript thread (a GC finalizer, the
 * completion of a call), in place on a worker thread or at teardown.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "convert.h"
#include "errors.h"
#include "handle.h"
#include "instance.h"
#include "reaper.h"

static atomic_long live_sandboxes, live_processes;

static void sbh_destroy(void *arg)
{
	sbh *h = arg;

	msb_sandbox_free(h->sb);
	free(h);
	atomic_fetch_sub(&live_sandboxes, 1);
}

void sbh_unref(sbh *h, int may_block)
{
	if (atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	if (may_block || !h->sb)
		sbh_destroy(h);
	else
		reaper_push(sbh_destroy, h);
}

static void proch_destroy(void *arg)
{
	proch *ph = arg;

	msb_process_free(ph->p);
	sbh_unref(ph->h, 1); /* on the reaper or a worker: may block */
	free(ph);
	atomic_fetch_sub(&live_processes, 1);
}

void proch_unref(proch *ph, int may_block)
{
	if (atomic_fetch_sub(&ph->refs, 1) != 1)
		return;
	if (may_block)
		proch_destroy(ph);
	else
		reaper_push(proch_destroy, ph);
}

static void sbh_finalize(napi_env env, void *data, void *hint)
{
	jsref *r = data;
	addon *ad = hint;

	(void)env;
	if (r->handle)
		sbh_unref(r->handle, ad && ad->shutting_down);
	r->magic = 0;
	free(r);
}

static void proch_finalize(napi_env env, void *data, void *hint)
{
	jsref *r = data;
	addon *ad = hint;

	(void)env;
	if (r->handle)
		proch_unref(r->handle, ad && ad->shutting_down);
	r->magic = 0;
	free(r);
}

static napi_value wrap(napi_env env, unsigned int magic, void *handle)
{
	addon *ad = instance_get(env);
	napi_value v;
	jsref *r = malloc(sizeof(*r));

	if (!r) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		goto fail;
	}
	r->magic = magic;
	r->handle = handle;
	if (napi_create_external(env, r, magic == SB_MAGIC ? sbh_finalize :
				 proch_finalize, ad, &v) != napi_ok) {
		free(r);
		throw_last(env, "napi_create_external");
		goto fail;
	}
	return v;
fail:
	if (magic == SB_MAGIC)
		sbh_unref(handle, 0);
	else
		proch_unref(handle, 0);
	return NULL;
}

/* The jsref behind a JS value, or NULL with a TypeError pending. */
jsref *get_ref(napi_env env, napi_value v, unsigned int magic)
{
	napi_valuetype t;
	jsref *r = NULL;

	if (!v || napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
	    napi_get_value_external(env, v, (void **)&r) != napi_ok || !r ||
	    r->magic != magic) {
		throw_type(env, magic == SB_MAGIC ? "not a sandbox handle" :
			   "not a process handle");
		return NULL;
	}
	return r;
}

/* The live sandbox behind a JS value, or NULL with an exception pending. */
sbh *get_sbh(napi_env env, napi_value v)
{
	jsref *r = get_ref(env, v, SB_MAGIC);

	if (!r)
		return NULL;
	if (!r->handle) {
		napi_throw(env, state_error(env, "Sandbox is not started. Call start() first."));
		return NULL;
	}
	return r->handle;
}

proch *get_proch(napi_env env, napi_value v)
{
	jsref *r = get_ref(env, v, PROC_MAGIC);

	if (!r)
		return NULL;
	if (!r->handle) {
		napi_throw(env, make_error(env, MSB_ESTATE, "the process handle "
					   "was released", "", 0));
		return NULL;
	}
	return r->handle;
}

napi_value wrap_sandbox(napi_env env, msb_sandbox **sbp)
{
	sbh *h = calloc(1, sizeof(*h));

	if (!h) {
		msb_sandbox_free(*sbp); /* rare: blocks the JS thread */
		*sbp = NULL;
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	atomic_init(&h->refs, 1);
	h->sb = *sbp;
	*sbp = NULL;
	atomic_fetch_add(&live_sandboxes, 1);
	return wrap(env, SB_MAGIC, h);
}

napi_value wrap_process(napi_env env, msb_process **pp, sbh *h)
{
	proch *ph = calloc(1, sizeof(*ph));

	if (!ph) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		reaper_push((void (*)(void *))msb_process_free, *pp);
		*pp = NULL;
		return NULL;
	}
	atomic_init(&ph->refs, 1);
	ph->p = *pp;
	*pp = NULL;
	ph->h = h; /* the process borrows the sandbox: keep it */
	atomic_fetch_add(&h->refs, 1);
	atomic_fetch_add(&live_processes, 1);
	return wrap(env, PROC_MAGIC, ph);
}

long handle_live_sandboxes(void)
{
	return atomic_load(&live_sandboxes);
}

long handle_live_processes(void)
{
	return atomic_load(&live_processes);
}
