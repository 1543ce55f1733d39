/*
 * handle.h - reference-counted sandbox and process handles, and the
 * JavaScript externals that hold them (see handle.c for who holds a
 * reference and where the last one frees).
 */
#ifndef MSB_NODE_HANDLE_H
#define MSB_NODE_HANDLE_H

#include <stdatomic.h>

#include <node_api.h>

#include <msb.h>

#define SB_MAGIC 0x6d736273u /* "msbs" */
#define PROC_MAGIC 0x6d736270u

typedef struct sbh {
	atomic_int refs;
	msb_sandbox *sb;
} sbh;

typedef struct proch {
	atomic_int refs;
	msb_process *p;
	sbh *h;          /* the sandbox it borrows (holds a reference) */
} proch;

/* What a JavaScript external points to: owned by the external alone (freed
 * by its finalizer), so a stale external never reaches freed memory. Its
 * pointer is the JS reference on the handle; NULL once stop()/release()
 * took that reference over. */
typedef struct jsref {
	unsigned int magic;
	void *handle; /* sbh or proch */
} jsref;

/* Drop a reference; the last one frees the handle, in place when may_block,
 * else on the reaper thread. */
void sbh_unref(sbh *h, int may_block);
void proch_unref(proch *ph, int may_block);

/* A new handle holding *sbp (taken over: *sbp becomes NULL) in a new
 * external, or NULL with an exception pending. */
napi_value wrap_sandbox(napi_env env, msb_sandbox **sbp);

/* The same for a process started on the sandbox h, on which the new handle
 * takes a reference. */
napi_value wrap_process(napi_env env, msb_process **pp, sbh *h);

/* The jsref behind a JS value, or NULL with a TypeError pending. */
jsref *get_ref(napi_env env, napi_value v, unsigned int magic);

/* The live handle behind a JS value, or NULL with an exception pending
 * (a TypeError, or MSB_ESTATE once stopped or released). */
sbh *get_sbh(napi_env env, napi_value v);
proch *get_proch(napi_env env, napi_value v);

/* How many handles are alive (for the leak tests). */
long handle_live_sandboxes(void);
long handle_live_processes(void);

#endif
