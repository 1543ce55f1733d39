/*
 * addon.c - the native half of the msb Node binding: plain C against
 * node_api.h (NAPI_VERSION pinned by the build to 8: Node 18 and later).
 *
 * Rules this file keeps:
 *  - Every libmsb call that can block (start, stop, commands, REPL, files,
 *    processes, metrics, probing) runs as napi async work on the libuv
 *    thread pool and settles a promise. msb_error_last() is thread-local,
 *    so it is copied inside the worker right after the failing call.
 *  - Streaming output reaches JavaScript through a threadsafe function.
 *    The promise of a streaming call is settled from that function's
 *    finalizer, which runs only after every queued chunk was delivered, so
 *    no chunk ever arrives after the promise settled.
 *  - Handles are reference counted: the JavaScript external holds one
 *    reference, every async work in flight holds one, and every process
 *    handle holds one on its sandbox (a process borrows its sandbox). The
 *    last reference frees the libmsb handle. Freeing a running sandbox or
 *    process can block (it stops the sandbox, kills the process), so when
 *    the last reference goes on the JavaScript thread (a GC finalizer, the
 *    completion of a call) the free is handed to one background "reaper"
 *    thread. On a worker thread it is done in place.
 *  - At environment teardown the cleanup hook drains the reaper, and
 *    finalizers that run after it free in place (blocking at exit is fine).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef NAPI_VERSION
#error "build with -DNAPI_VERSION=8 (see Makefile)"
#endif
#include <node_api.h>

#include <msb.h>

/* ------------------------------------------------------------------------
 * Helpers for napi calls on the JavaScript thread
 */

#define NAPI_OK(call)                                                       \
	do {                                                                \
		if ((call) != napi_ok) {                                    \
			throw_last(env, #call);                             \
			return NULL;                                        \
		}                                                           \
	} while (0)

static void throw_last(napi_env env, const char *what)
{
	const napi_extended_error_info *info = NULL;
	bool pending = false;

	napi_is_exception_pending(env, &pending);
	if (pending)
		return;
	napi_get_last_error_info(env, &info);
	napi_throw_error(env, "MSB_ENAPI",
			 info && info->error_message ? info->error_message : what);
}

static const char *const code_names[] = {
	"MSB_OK", "MSB_ERROR", "MSB_EINVAL", "MSB_ENOMEM", "MSB_EVERSION",
	"MSB_ESTATE", "MSB_EUNSUPPORTED", "MSB_ESPAWN", "MSB_EPROTO",
	"MSB_ESANDBOX", "MSB_ETIMEDOUT", "MSB_ENOTFOUND", "MSB_EPERM",
	"MSB_EIO", "MSB_ECANCELED", "MSB_EDONE", "MSB_EEXISTS", "MSB_ETOOBIG",
};

static const char *code_name(int code)
{
	if (code <= 0 && -code < (int)(sizeof(code_names) / sizeof(*code_names)))
		return code_names[-code];
	return "MSB_ERROR";
}

/* Per-environment state. */
typedef struct addon {
	napi_ref error_class; /* MsbError, set by index.js */
	int shutting_down;    /* the environment is being torn down */
} addon;

static atomic_long live_sandboxes, live_processes;
#ifdef MSB_NODE_TIMING
static atomic_long exec_ns, exec_count;
#endif

static napi_value make_error(napi_env env, int code, const char *msg,
			     const char *hint, int os_errno)
{
	addon *ad = NULL;
	napi_value err = NULL, m, v, ctor;

	napi_get_instance_data(env, (void **)&ad);
	if (napi_create_string_utf8(env, msg ? msg : msb_strerror(code),
				    NAPI_AUTO_LENGTH, &m) != napi_ok)
		return NULL;
	if (ad && ad->error_class &&
	    napi_get_reference_value(env, ad->error_class, &ctor) == napi_ok &&
	    ctor) {
		if (napi_new_instance(env, ctor, 1, &m, &err) != napi_ok)
			err = NULL;
	}
	if (!err && napi_create_error(env, NULL, m, &err) != napi_ok)
		return NULL;
	napi_create_string_utf8(env, code_name(code), NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, err, "code", v);
	napi_create_int32(env, code, &v);
	napi_set_named_property(env, err, "errno", v);
	napi_create_string_utf8(env, hint ? hint : "", NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, err, "hint", v);
	napi_create_int32(env, os_errno, &v);
	napi_set_named_property(env, err, "osErrno", v);
	return err;
}

static void throw_type(napi_env env, const char *msg)
{
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

/* A JavaScript string (or undefined/null: NULL) as a malloc'd UTF-8 string.
 * Returns -1 with an exception pending on a bad value. */
static int get_str(napi_env env, napi_value v, char **out, size_t *lenp,
		   const char *what)
{
	napi_valuetype t;
	size_t len;
	char msg[128];

	*out = NULL;
	if (lenp)
		*lenp = 0;
	if (!v || napi_typeof(env, v, &t) != napi_ok)
		return 0;
	if (t == napi_undefined || t == napi_null)
		return 0;
	if (t != napi_string) {
		snprintf(msg, sizeof(msg), "%s must be a string", what);
		throw_type(env, msg);
		return -1;
	}
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok)
		return -1;
	if (!(*out = malloc(len + 1))) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return -1;
	}
	napi_get_value_string_utf8(env, v, *out, len + 1, &len);
	if (lenp)
		*lenp = len;
	return 0;
}

static napi_value prop(napi_env env, napi_value obj, const char *name)
{
	napi_value v = NULL;
	napi_valuetype t;

	if (!obj || napi_typeof(env, obj, &t) != napi_ok || t != napi_object)
		return NULL;
	if (napi_get_named_property(env, obj, name, &v) != napi_ok)
		return NULL;
	return v;
}

static int get_i64(napi_env env, napi_value v, int64_t *out)
{
	napi_valuetype t;
	double d;

	if (!v || napi_typeof(env, v, &t) != napi_ok || t == napi_undefined ||
	    t == napi_null)
		return 0;
	if (t != napi_number) {
		throw_type(env, "expected a number");
		return -1;
	}
	napi_get_value_double(env, v, &d);
	*out = (int64_t)d;
	return 0;
}

static int get_bool(napi_env env, napi_value v, int *out)
{
	bool b = false;
	napi_valuetype t;

	if (!v || napi_typeof(env, v, &t) != napi_ok || t == napi_undefined ||
	    t == napi_null)
		return 0;
	if (napi_coerce_to_bool(env, v, &v) != napi_ok ||
	    napi_get_value_bool(env, v, &b) != napi_ok)
		return -1;
	*out = b;
	return 0;
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* An array of strings (or undefined: NULL) as a NULL-terminated vector. */
static int get_strv(napi_env env, napi_value v, char ***out, const char *what)
{
	bool is_array = false;
	uint32_t n;
	char **vec;
	napi_valuetype t;
	char msg[128];

	*out = NULL;
	if (!v || napi_typeof(env, v, &t) != napi_ok || t == napi_undefined ||
	    t == napi_null)
		return 0;
	napi_is_array(env, v, &is_array);
	if (!is_array) {
		snprintf(msg, sizeof(msg), "%s must be an array of strings", what);
		throw_type(env, msg);
		return -1;
	}
	napi_get_array_length(env, v, &n);
	if (!(vec = calloc((size_t)n + 1, sizeof(*vec)))) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		napi_value e;

		if (napi_get_element(env, v, i, &e) != napi_ok ||
		    get_str(env, e, &vec[i], NULL, what) < 0 || !vec[i]) {
			bool pending = false;

			napi_is_exception_pending(env, &pending);
			if (!pending) {
				snprintf(msg, sizeof(msg), "%s must be an array of strings", what);
				throw_type(env, msg);
			}
			free_strv(vec);
			return -1;
		}
	}
	*out = vec;
	return 0;
}

/* A Buffer/TypedArray/string as a malloc'd copy (NULL for undefined). */
static int get_bytes(napi_env env, napi_value v, void **out, size_t *len)
{
	napi_valuetype t;
	bool is;
	void *data = NULL;

	*out = NULL;
	*len = 0;
	if (!v || napi_typeof(env, v, &t) != napi_ok || t == napi_undefined ||
	    t == napi_null)
		return 0;
	if (t == napi_string)
		return get_str(env, v, (char **)out, len, "data");
	if (napi_is_buffer(env, v, &is) == napi_ok && is) {
		napi_get_buffer_info(env, v, &data, len);
	} else if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
		napi_typedarray_type tt;
		size_t n, off;
		napi_value ab;

		napi_get_typedarray_info(env, v, &tt, &n, &data, &ab, &off);
		*len = n * (tt == napi_uint8_array || tt == napi_int8_array ||
				    tt == napi_uint8_clamped_array ? 1 :
			    tt == napi_int16_array || tt == napi_uint16_array ? 2 :
			    tt == napi_float64_array || tt == napi_bigint64_array ||
				    tt == napi_biguint64_array ? 8 : 4);
	} else {
		throw_type(env, "data must be a string, Buffer or Uint8Array");
		return -1;
	}
	if (!(*out = malloc(*len ? *len : 1))) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return -1;
	}
	if (*len)
		memcpy(*out, data, *len);
	return 0;
}

static napi_value buf_value(napi_env env, const msb_buf *b)
{
	napi_value v;
	void *unused;

	if (napi_create_buffer_copy(env, b->len, b->len ? (void *)b->ptr : "",
				    &unused, &v) != napi_ok)
		return NULL;
	return v;
}

static void set_num(napi_env env, napi_value o, const char *k, double d)
{
	napi_value v;

	napi_create_double(env, d, &v);
	napi_set_named_property(env, o, k, v);
}

static void set_bool(napi_env env, napi_value o, const char *k, int b)
{
	napi_value v;

	napi_get_boolean(env, b != 0, &v);
	napi_set_named_property(env, o, k, v);
}

static void set_str(napi_env env, napi_value o, const char *k, const char *s)
{
	napi_value v;

	napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, o, k, v);
}

static void set_buf(napi_env env, napi_value o, const char *k, const msb_buf *b)
{
	napi_value v = buf_value(env, b);

	if (v)
		napi_set_named_property(env, o, k, v);
}

/* ------------------------------------------------------------------------
 * The reaper: frees handles whose last reference went on the JS thread
 */

typedef struct job {
	void (*fn)(void *);
	void *arg;
	struct job *next;
} job;

static pthread_mutex_t reaper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t reaper_idle = PTHREAD_COND_INITIALIZER;
static job *reaper_head, *reaper_tail;
static int reaper_started, reaper_busy;
static atomic_long reaper_pending;

static void *reaper_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&reaper_lock);
	for (;;) {
		while (!reaper_head)
			pthread_cond_wait(&reaper_cond, &reaper_lock);
		job *j = reaper_head;
		reaper_head = j->next;
		if (!reaper_head)
			reaper_tail = NULL;
		reaper_busy = 1;
		pthread_mutex_unlock(&reaper_lock);
		j->fn(j->arg);
		free(j);
		atomic_fetch_sub(&reaper_pending, 1);
		pthread_mutex_lock(&reaper_lock);
		reaper_busy = 0;
		if (!reaper_head)
			pthread_cond_broadcast(&reaper_idle);
	}
	return NULL;
}

/* Run fn(arg) on the reaper thread; in place if that is impossible. */
static void reaper_push(void (*fn)(void *), void *arg)
{
	job *j = malloc(sizeof(*j));
	pthread_t t;
	pthread_attr_t attr;

	if (!j) {
		fn(arg);
		return;
	}
	j->fn = fn;
	j->arg = arg;
	j->next = NULL;
	pthread_mutex_lock(&reaper_lock);
	if (!reaper_started) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, reaper_main, NULL) == 0)
			reaper_started = 1;
		pthread_attr_destroy(&attr);
		if (!reaper_started) {
			pthread_mutex_unlock(&reaper_lock);
			free(j);
			fn(arg);
			return;
		}
	}
	atomic_fetch_add(&reaper_pending, 1);
	if (reaper_tail)
		reaper_tail->next = j;
	else
		reaper_head = j;
	reaper_tail = j;
	pthread_cond_signal(&reaper_cond);
	pthread_mutex_unlock(&reaper_lock);
}

/* Wait until every queued free has been done. */
static void reaper_flush(void)
{
	pthread_mutex_lock(&reaper_lock);
	while (reaper_head || reaper_busy)
		pthread_cond_wait(&reaper_idle, &reaper_lock);
	pthread_mutex_unlock(&reaper_lock);
}

/* ------------------------------------------------------------------------
 * Reference-counted handles
 */

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

static void sbh_destroy(void *arg)
{
	sbh *h = arg;

	msb_sandbox_free(h->sb);
	free(h);
	atomic_fetch_sub(&live_sandboxes, 1);
}

static void sbh_unref(sbh *h, int may_block)
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

static void proch_unref(proch *ph, int may_block)
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
	addon *ad = NULL;
	napi_value v;
	jsref *r = malloc(sizeof(*r));

	napi_get_instance_data(env, (void **)&ad);
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

static napi_value state_error(napi_env env, const char *what)
{
	return make_error(env, MSB_ESTATE, what,
			  "start the sandbox (await sb.start()) before using it",
			  0);
}

/* The jsref behind a JS value, or NULL with a TypeError pending. */
static jsref *get_ref(napi_env env, napi_value v, unsigned int magic)
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
static sbh *get_sbh(napi_env env, napi_value v)
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

static proch *get_proch(napi_env env, napi_value v)
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

/* ------------------------------------------------------------------------
 * Async work: one struct for every kind of call
 */

typedef struct op op;
typedef int (*exec_fn)(op *);
typedef napi_value (*done_fn)(napi_env, op *);

struct op {
	napi_async_work work;
	napi_deferred deferred;
	exec_fn exec;
	done_fn done;
	sbh *h;           /* referenced while the work is in flight */
	proch *ph;
	int owned;        /* the work took over the JS reference on h or ph
	                     (stop, release): dropped in the worker */
	int64_t n;

	/* the error, copied in the worker */
	int rc, captured;
	int ecode, eerrno;
	char *emsg, *ehint;

	/* inputs */
	char **argv, **env;
	char *s1, *s2, *s3;
	void *data;
	size_t len;
	int64_t i1, i2;
	int flags;
	unsigned int mode;
	msb_sandbox_options so;
	msb_volume *vols;
	size_t nvols;

	/* outputs */
	msb_command_result *cres;
	msb_repl_result *rres;
	msb_buf buf;
	int stream;
	msb_metrics m;
	msb_file_stat st;
	msb_dir_list *dl;
	msb_sandbox_list *sl;
	msb_process_list *pl;
	msb_repl_contexts *cl;
	msb_host_info hi;
	msb_process *proc;
	msb_sandbox *sb;
	int exists;
	uint64_t ns;
	sbh *newh;

	/* streaming */
	napi_threadsafe_function tsfn;
	atomic_int cancel;
	napi_ref exc;
	napi_status work_status;
};

/* Copy the calling thread's last error into the op (call right after the
 * failing libmsb call, on the same thread). */
static int capture(op *o, int rc)
{
	const msb_error *e;

	if (rc >= 0 || o->captured)
		return rc;
	e = msb_error_last();
	o->captured = 1;
	o->rc = rc;
	o->ecode = e->code ? e->code : rc;
	o->eerrno = e->os_errno;
	o->emsg = strdup(e->message ? e->message : "");
	o->ehint = strdup(e->hint ? e->hint : "");
	return rc;
}

#define CAP(o, call) capture((o), (call))

static op *op_new(void)
{
	op *o = calloc(1, sizeof(*o));

	return o;
}

static void op_free(op *o)
{
	free(o->emsg);
	free(o->ehint);
	free_strv(o->argv);
	free_strv(o->env);
	free(o->s1);
	free(o->s2);
	free(o->s3);
	free(o->data);
	for (size_t i = 0; i < o->nvols; i++) {
		free((char *)o->vols[i].host_path);
		free((char *)o->vols[i].sandbox_path);
	}
	free(o->vols);
	msb_command_result_free(o->cres);
	msb_repl_result_free(o->rres);
	msb_buf_free(&o->buf);
	msb_dir_list_free(o->dl);
	msb_sandbox_list_free(o->sl);
	msb_process_list_free(o->pl);
	msb_repl_contexts_free(o->cl);
	free(o);
}

static void op_execute(napi_env env, void *data)
{
	op *o = data;
	int rc;

	(void)env; /* never touch env off the JS thread */
#ifdef MSB_NODE_TIMING
	struct timespec a_, b_;
	clock_gettime(CLOCK_MONOTONIC, &a_);
#endif
	rc = o->exec(o);
#ifdef MSB_NODE_TIMING
	clock_gettime(CLOCK_MONOTONIC, &b_);
	atomic_fetch_add(&exec_ns, (b_.tv_sec - a_.tv_sec) * 1000000000L + (b_.tv_nsec - a_.tv_nsec));
	atomic_fetch_add(&exec_count, 1);
#endif
	if (rc < 0) {
		capture(o, rc);
	} else {
		o->rc = rc;
	}
	if (o->owned && o->h) {
		/* stop(): drop the JS reference the work took over; when it is
		 * the last one, free here, off the JS thread. */
		sbh *h = o->h;

		o->h = NULL;
		sbh_unref(h, 1);
	}
	if (o->owned && o->ph) {
		proch *ph = o->ph;

		o->ph = NULL;
		proch_unref(ph, 1);
	}
}

static void op_settle(napi_env env, op *o)
{
	napi_value v = NULL, exc;
	bool pending = false;

	if (!o->deferred) {
		if (o->exc)
			napi_delete_reference(env, o->exc);
	} else if (o->exc) {
		napi_get_reference_value(env, o->exc, &exc);
		napi_reject_deferred(env, o->deferred, exc);
		napi_delete_reference(env, o->exc);
	} else if (o->work_status != napi_ok && o->work_status != napi_cancelled) {
		napi_reject_deferred(env, o->deferred,
				     make_error(env, MSB_ERROR, "async work failed", "", 0));
	} else if (o->rc < 0) {
		napi_reject_deferred(env, o->deferred,
				     make_error(env, o->ecode, o->emsg, o->ehint, o->eerrno));
	} else {
		if (o->done)
			v = o->done(env, o);
		napi_is_exception_pending(env, &pending);
		if (pending) {
			napi_get_and_clear_last_exception(env, &exc);
			napi_reject_deferred(env, o->deferred, exc);
		} else {
			if (!v)
				napi_get_undefined(env, &v);
			napi_resolve_deferred(env, o->deferred, v);
		}
	}
	if (o->work)
		napi_delete_async_work(env, o->work);
	if (o->h)
		sbh_unref(o->h, 0);
	if (o->ph)
		proch_unref(o->ph, 0);
	op_free(o);
}

static void op_complete(napi_env env, napi_status status, void *data)
{
	op *o = data;

	o->work_status = status;
	if (o->tsfn) {
		/* Settled by stream_finalize, after the queued chunks. */
		napi_release_threadsafe_function(o->tsfn, napi_tsfn_release);
		return;
	}
	op_settle(env, o);
}

/* Queue o; returns the promise, or NULL with an exception pending. Either
 * way o is taken care of (settled or freed, its references dropped). */
static napi_value op_queue(napi_env env, op *o, const char *name)
{
	napi_value promise = NULL, res;

	if (napi_create_promise(env, &o->deferred, &promise) != napi_ok) {
		throw_last(env, name);
		o->deferred = NULL;
		promise = NULL;
		goto settle;
	}
	napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &res);
	if (napi_create_async_work(env, NULL, res, op_execute, op_complete, o,
				   &o->work) != napi_ok ||
	    napi_queue_async_work(env, o->work) != napi_ok) {
		o->rc = o->ecode = MSB_ERROR;
		o->captured = 1;
		o->emsg = strdup("could not queue async work");
		goto settle;
	}
	return promise;
settle:
	if (o->tsfn)
		napi_release_threadsafe_function(o->tsfn, napi_tsfn_abort);
	else
		op_settle(env, o);
	return promise;
}

static op *op_for_sb(napi_env env, napi_value v)
{
	sbh *h = get_sbh(env, v);
	op *o;

	if (!h)
		return NULL;
	if (!(o = op_new())) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	atomic_fetch_add(&h->refs, 1);
	o->h = h;
	return o;
}

static op *op_for_proc(napi_env env, napi_value v)
{
	proch *ph = get_proch(env, v);
	op *o;

	if (!ph)
		return NULL;
	if (!(o = op_new())) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	atomic_fetch_add(&ph->refs, 1);
	o->ph = ph;
	return o;
}

/* Drop an op that was never queued (argument errors). */
static napi_value op_abort(op *o)
{
	if (o->h)
		sbh_unref(o->h, 0);
	if (o->ph)
		proch_unref(o->ph, 0);
	op_free(o);
	return NULL;
}

#define ARGS(n)                                                             \
	size_t argc = (n);                                                  \
	napi_value argv[(n) > 0 ? (n) : 1];                                 \
	for (size_t i_ = 0; i_ < (size_t)(n); i_++)                         \
		argv[i_] = NULL;                                            \
	NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));      \
	for (size_t i_ = argc; i_ < (size_t)(n); i_++)                      \
		napi_get_undefined(env, &argv[i_])

/* ------------------------------------------------------------------------
 * Streaming through a threadsafe function
 */

typedef struct chunk {
	int stream;
	size_t len;
	uint8_t data[];
} chunk;

static void stream_call_js(napi_env env, napi_value cb, void *context, void *data)
{
	op *o = context;
	chunk *c = data;
	napi_value args[2], undef, exc;
	bool pending = false;
	void *unused;
	napi_status st;

	if (!env || !cb) { /* tearing down */
		free(c);
		return;
	}
	if (atomic_load(&o->cancel)) {
		free(c);
		return;
	}
	napi_create_int32(env, c->stream, &args[0]);
	napi_create_buffer_copy(env, c->len, c->len ? (void *)c->data : "",
				&unused, &args[1]);
	free(c);
	napi_get_undefined(env, &undef);
	st = napi_call_function(env, undef, cb, 2, args, NULL);
	napi_is_exception_pending(env, &pending);
	if (pending) {
		/* The callback threw: stop the run and reject with it. */
		napi_get_and_clear_last_exception(env, &exc);
		if (!o->exc)
			napi_create_reference(env, exc, 1, &o->exc);
		atomic_store(&o->cancel, 1);
	} else if (st != napi_ok) {
		/* JavaScript cannot run any more (a worker being terminated):
		 * stop the run, or the environment's teardown, which waits for
		 * work in flight, would wait for it forever. */
		atomic_store(&o->cancel, 1);
	}
}

static void stream_finalize(napi_env env, void *data, void *hint)
{
	op *o = data;

	(void)hint;
	o->tsfn = NULL;
	op_settle(env, o);
}

/* The libmsb output callback, on the worker thread. */
static int stream_cb(int stream, const uint8_t *data, size_t len, void *payload)
{
	op *o = payload;
	chunk *c;

	if (atomic_load(&o->cancel))
		return 1;
	if (!(c = malloc(sizeof(*c) + len)))
		return 1;
	c->stream = stream;
	c->len = len;
	memcpy(c->data, data, len);
	/* Blocking when the queue is full: back-pressure on the sandbox. */
	if (napi_call_threadsafe_function(o->tsfn, c, napi_tsfn_blocking) != napi_ok) {
		free(c);
		return 1;
	}
	return 0;
}

/* Set up streaming to the JS function cb (undefined: no streaming). */
static int op_stream(napi_env env, op *o, napi_value cb)
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
	if (napi_create_threadsafe_function(env, cb, NULL, name, 64, 1, o,
					    stream_finalize, o, stream_call_js,
					    &o->tsfn) != napi_ok) {
		throw_last(env, "napi_create_threadsafe_function");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Results as JS objects
 */

static napi_value command_result_value(napi_env env, const msb_command_result *r)
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

static napi_value stat_value(napi_env env, const msb_file_stat *st)
{
	static const char *const types[] = { "unknown", "file", "directory",
					     "symlink", "other" };
	napi_value o;

	NAPI_OK(napi_create_object(env, &o));
	set_str(env, o, "type", st->type >= 1 && st->type <= 4 ? types[st->type] : types[0]);
	set_num(env, o, "size", (double)st->size);
	set_num(env, o, "mode", st->mode);
	set_num(env, o, "mtimeMs", (double)st->mtime_ms);
	return o;
}

/* ------------------------------------------------------------------------
 * Sandboxes
 */

static int start_exec(op *o)
{
	msb_sandbox *sb = NULL;
	int rc;

	if ((rc = CAP(o, msb_sandbox_create(&sb, &o->so))))
		return rc;
	if ((rc = CAP(o, msb_sandbox_start(sb)))) {
		msb_sandbox_free(sb); /* after the error was copied */
		return rc;
	}
	o->sb = sb;
	return 0;
}

static int connect_exec(op *o)
{
	return CAP(o, msb_sandbox_connect(&o->sb, o->s1));
}

static napi_value start_done(napi_env env, op *o)
{
	sbh *h = calloc(1, sizeof(*h));

	if (!h) {
		msb_sandbox_free(o->sb); /* rare: blocks the JS thread */
		o->sb = NULL;
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	atomic_init(&h->refs, 1);
	h->sb = o->sb;
	o->sb = NULL;
	atomic_fetch_add(&live_sandboxes, 1);
	return wrap(env, SB_MAGIC, h);
}

static int parse_backend(napi_env env, napi_value v, msb_backend *out)
{
	char *s = NULL;
	int rc = 0;

	if (get_str(env, v, &s, NULL, "backend") < 0)
		return -1;
	if (!s || !strcmp(s, "auto"))
		*out = MSB_BACKEND_AUTO;
	else if (!strcmp(s, "os"))
		*out = MSB_BACKEND_OS;
	else if (!strcmp(s, "vm"))
		*out = MSB_BACKEND_VM;
	else {
		napi_throw(env, make_error(env, MSB_EINVAL, "unknown backend",
					   "use \"auto\", \"os\" or \"vm\"", 0));
		rc = -1;
	}
	free(s);
	return rc;
}

static int parse_trust(napi_env env, napi_value v, msb_trust *out)
{
	char *s = NULL;
	int rc = 0;

	if (get_str(env, v, &s, NULL, "trust") < 0)
		return -1;
	if (!s || !strcmp(s, "default"))
		*out = MSB_TRUST_DEFAULT;
	else if (!strcmp(s, "untrusted"))
		*out = MSB_TRUST_UNTRUSTED;
	else if (!strcmp(s, "trusted"))
		*out = MSB_TRUST_TRUSTED;
	else {
		napi_throw(env, make_error(env, MSB_EINVAL, "unknown trust level",
					   "use \"default\", \"untrusted\" or \"trusted\"", 0));
		rc = -1;
	}
	free(s);
	return rc;
}

/* sandboxStart(opts) -> Promise<handle>: create and start in one work. */
static napi_value js_sandbox_start(napi_env env, napi_callback_info info)
{
	ARGS(1);
	napi_value opts = argv[0], vols;
	op *o = op_new();
	int detached = 0, fallback = 0;
	bool is_array = false;

	if (!o) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	msb_sandbox_options_init(&o->so, MSB_SANDBOX_OPTIONS_VERSION);
	if (parse_backend(env, prop(env, opts, "backend"), &o->so.backend) < 0 ||
	    parse_trust(env, prop(env, opts, "trust"), &o->so.trust) < 0 ||
	    get_bool(env, prop(env, opts, "allowFallback"), &fallback) < 0 ||
	    get_str(env, prop(env, opts, "name"), &o->s1, NULL, "name") < 0 ||
	    get_str(env, prop(env, opts, "workdir"), &o->s2, NULL, "workdir") < 0 ||
	    get_str(env, prop(env, opts, "rootfs"), &o->s3, NULL, "rootfs") < 0 ||
	    get_i64(env, prop(env, opts, "memoryBytes"), &o->so.memory_bytes) < 0 ||
	    get_i64(env, prop(env, opts, "pids"), &o->so.pids) < 0 ||
	    get_i64(env, prop(env, opts, "diskBytes"), &o->so.disk_bytes) < 0 ||
	    get_i64(env, prop(env, opts, "timeoutMs"), &o->so.timeout_ms) < 0 ||
	    get_strv(env, prop(env, opts, "env"), &o->env, "env") < 0 ||
	    get_bool(env, prop(env, opts, "detached"), &detached) < 0)
		return op_abort(o);
	{
		napi_value c = prop(env, opts, "cpus");
		napi_valuetype t;

		if (c && napi_typeof(env, c, &t) == napi_ok && t == napi_number)
			napi_get_value_double(env, c, &o->so.cpus);
	}
	vols = prop(env, opts, "volumes");
	if (vols && napi_is_array(env, vols, &is_array) == napi_ok && is_array) {
		uint32_t n;

		napi_get_array_length(env, vols, &n);
		if (n && !(o->vols = calloc(n, sizeof(*o->vols)))) {
			napi_throw_error(env, "MSB_ENOMEM", "out of memory");
			return op_abort(o);
		}
		for (uint32_t i = 0; i < n; i++) {
			napi_value e;
			char *hp = NULL, *sp = NULL;
			int ro = 0;

			napi_get_element(env, vols, i, &e);
			o->nvols = i + 1;
			if (get_str(env, prop(env, e, "hostPath"), &hp, NULL, "hostPath") < 0 ||
			    get_str(env, prop(env, e, "sandboxPath"), &sp, NULL, "sandboxPath") < 0 ||
			    get_bool(env, prop(env, e, "readOnly"), &ro) < 0) {
				free(hp);
				free(sp);
				return op_abort(o);
			}
			o->vols[i].host_path = hp;
			o->vols[i].sandbox_path = sp;
			o->vols[i].read_only = ro;
		}
		o->so.volumes = o->vols;
		o->so.volumes_len = o->nvols;
	}
	o->so.name = o->s1;
	o->so.workdir = o->s2;
	o->so.rootfs = o->s3;
	o->so.env = (const char *const *)o->env;
	o->so.detached = detached;
	o->so.allow_fallback = fallback;
	o->exec = start_exec;
	o->done = start_done;
	return op_queue(env, o, "msb.start");
}

/* sandboxConnect(name) -> Promise<handle> */
static napi_value js_sandbox_connect(napi_env env, napi_callback_info info)
{
	ARGS(1);
	op *o = op_new();

	if (!o) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	if (get_str(env, argv[0], &o->s1, NULL, "name") < 0)
		return op_abort(o);
	o->exec = connect_exec;
	o->done = start_done;
	return op_queue(env, o, "msb.connect");
}

static int stop_exec(op *o)
{
	/* The handle is not freed here: op_execute drops the reference the
	 * work took over, which frees it when no other call uses it (for a
	 * detached sandbox that only disconnects). */
	if (o->flags)
		return 0; /* release only */
	return CAP(o, msb_sandbox_stop(o->h->sb, o->i1));
}

/* sandboxStop(h, graceMs, releaseOnly) -> Promise<void>: stops (unless
 * releaseOnly) and releases the handle.
 * Calls already running finish (with an error from the stopped sandbox);
 * new calls are refused. Idempotent. */
static napi_value js_sandbox_stop(napi_env env, napi_callback_info info)
{
	ARGS(3);
	jsref *r = get_ref(env, argv[0], SB_MAGIC);
	op *o;
	napi_value p, undef;
	int release_only = 0;

	if (!r)
		return NULL;
	if (get_bool(env, argv[2], &release_only) < 0)
		return NULL;
	if (!r->handle) { /* already stopped: resolve at once */
		napi_deferred d;

		napi_create_promise(env, &d, &p);
		napi_get_undefined(env, &undef);
		napi_resolve_deferred(env, d, undef);
		return p;
	}
	if (!(o = op_new())) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	o->i1 = -1;
	if (get_i64(env, argv[1], &o->i1) < 0)
		return op_abort(o);
	o->h = r->handle; /* takes over the JS reference */
	o->owned = 1;
	o->flags = release_only;
	r->handle = NULL;
	o->exec = stop_exec;
	return op_queue(env, o, "msb.stop");
}

/* sandboxInfo(h) -> {name, status, backend, exitReason, enforcement} */
static napi_value js_sandbox_info(napi_env env, napi_callback_info info)
{
	static const char *const limits[] = { "memory", "cpu", "pids", "disk", "time" };
	ARGS(1);
	jsref *r = get_ref(env, argv[0], SB_MAGIC);
	sbh *h;
	napi_value o, enf;

	if (!r)
		return NULL;
	h = r->handle;
	NAPI_OK(napi_create_object(env, &o));
	if (!h) {
		set_str(env, o, "status", "stopped");
		return o;
	}
	/* These only take the handle's mutex: fine on the JS thread. */
	set_str(env, o, "name", msb_sandbox_name(h->sb));
	set_str(env, o, "status", msb_status_name(msb_sandbox_status(h->sb)));
	set_str(env, o, "backend", msb_backend_name(msb_sandbox_backend(h->sb)));
	set_str(env, o, "backendReason", msb_sandbox_backend_reason(h->sb));
	set_str(env, o, "exitReason", msb_sandbox_exit_reason(h->sb));
	NAPI_OK(napi_create_object(env, &enf));
	for (int i = 0; i < 5; i++)
		set_str(env, enf, limits[i],
			msb_enforcement_name(msb_sandbox_enforcement(h->sb, (msb_limit)i)));
	napi_set_named_property(env, o, "enforcement", enf);
	return o;
}

/* ------------------------------------------------------------------------
 * Commands
 */

static int parse_command_opts(napi_env env, op *o, napi_value argvv, napi_value opts,
			      msb_command_options *co)
{
	msb_command_options_init(co, MSB_COMMAND_OPTIONS_VERSION);
	if (get_strv(env, argvv, &o->argv, "argv") < 0 ||
	    get_strv(env, prop(env, opts, "env"), &o->env, "env") < 0 ||
	    get_str(env, prop(env, opts, "cwd"), &o->s1, NULL, "cwd") < 0 ||
	    get_bytes(env, prop(env, opts, "stdin"), &o->data, &o->len) < 0 ||
	    get_i64(env, prop(env, opts, "timeoutMs"), &o->i1) < 0 ||
	    get_i64(env, prop(env, opts, "outputCap"), &o->i2) < 0)
		return -1;
	return 0;
}

static void fill_command_opts(op *o, msb_command_options *co)
{
	msb_command_options_init(co, MSB_COMMAND_OPTIONS_VERSION);
	co->argv = (const char *const *)o->argv;
	co->env = (const char *const *)o->env;
	co->cwd = o->s1;
	co->stdin_data = o->data;
	co->stdin_len = o->len;
	co->timeout_ms = o->i1;
	co->output_cap = o->i2;
}

static int command_exec(op *o)
{
	msb_command_options co;

	fill_command_opts(o, &co);
	if (o->tsfn)
		return CAP(o, msb_command_run_stream(&o->cres, o->h->sb, &co,
						     stream_cb, o));
	return CAP(o, msb_command_run(&o->cres, o->h->sb, &co));
}

static napi_value command_done(napi_env env, op *o)
{
	return command_result_value(env, o->cres);
}

/* commandRun(h, argv, opts, onChunk?) -> Promise<result> */
static napi_value js_command_run(napi_env env, napi_callback_info info)
{
	ARGS(4);
	msb_command_options co;
	op *o = op_for_sb(env, argv[0]);

	if (!o)
		return NULL;
	if (parse_command_opts(env, o, argv[1], argv[2], &co) < 0 ||
	    op_stream(env, o, argv[3]) < 0)
		return op_abort(o);
	o->exec = command_exec;
	o->done = command_done;
	return op_queue(env, o, "msb.command");
}

static int bench_exec(op *o)
{
	msb_command_options co;
	struct timespec a, b;
	int rc;

	fill_command_opts(o, &co);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int64_t i = 0; i < o->n; i++) {
		msb_command_result *r = NULL;

		if ((rc = CAP(o, msb_command_run(&r, o->h->sb, &co))))
			return rc;
		msb_command_result_free(r);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	o->ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull +
		(uint64_t)(b.tv_nsec - a.tv_nsec);
	return 0;
}

static napi_value bench_done(napi_env env, op *o)
{
	napi_value v;

	napi_create_double(env, (double)o->ns, &v);
	return v;
}

/* _benchC(h, argv, n) -> Promise<ns>: n x msb_command_run from C, in one
 * async work (the reference the binding is measured against). */
static napi_value js_bench_c(napi_env env, napi_callback_info info)
{
	ARGS(3);
	op *o = op_for_sb(env, argv[0]);
	int64_t n = 0;

	if (!o)
		return NULL;
	if (get_strv(env, argv[1], &o->argv, "argv") < 0 || get_i64(env, argv[2], &n) < 0)
		return op_abort(o);
	o->n = n;
	o->exec = bench_exec;
	o->done = bench_done;
	return op_queue(env, o, "msb.benchC");
}

/* ------------------------------------------------------------------------
 * REPL
 */

static int repl_exec(op *o)
{
	msb_repl_options ro;

	ro.version = MSB_REPL_OPTIONS_VERSION;
	ro.language = (msb_language)o->flags;
	ro.context = o->s2;
	ro.timeout_ms = o->i1;
	if (o->tsfn)
		return CAP(o, msb_repl_run_stream(&o->rres, o->h->sb, &ro, o->s1,
						  o->len, stream_cb, o));
	return CAP(o, msb_repl_run(&o->rres, o->h->sb, &ro, o->s1, o->len));
}

static napi_value repl_done(napi_env env, op *o)
{
	static const char *const st[] = { "success", "error", "timeout", "interrupted" };
	const msb_repl_result *r = o->rres;
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

static int get_lang(napi_env env, napi_value v, int *out)
{
	char *s = NULL;

	if (get_str(env, v, &s, NULL, "language") < 0)
		return -1;
	*out = s ? (int)msb_language_parse(s) : 0;
	free(s);
	if (!*out) {
		napi_throw(env, make_error(env, MSB_EINVAL, "unknown language",
					   "use \"python\", \"node\" or \"shell\"", 0));
		return -1;
	}
	return 0;
}

/* replRun(h, language, code, {context, timeoutMs}, onChunk?) */
static napi_value js_repl_run(napi_env env, napi_callback_info info)
{
	ARGS(5);
	op *o = op_for_sb(env, argv[0]);

	if (!o)
		return NULL;
	if (get_lang(env, argv[1], &o->flags) < 0 ||
	    get_str(env, argv[2], &o->s1, &o->len, "code") < 0 ||
	    get_str(env, prop(env, argv[3], "context"), &o->s2, NULL, "context") < 0 ||
	    get_i64(env, prop(env, argv[3], "timeoutMs"), &o->i1) < 0)
		return op_abort(o);
	if (!o->s1) {
		throw_type(env, "code must be a string");
		return op_abort(o);
	}
	if (op_stream(env, o, argv[4]) < 0)
		return op_abort(o);
	o->exec = repl_exec;
	o->done = repl_done;
	return op_queue(env, o, "msb.repl");
}

static int ctx_exec(op *o)
{
	msb_language l = (msb_language)o->flags;

	switch (o->i1) {
	case 0:
		return CAP(o, msb_repl_context_create(o->h->sb, l, o->s1));
	case 1:
		return CAP(o, msb_repl_context_reset(o->h->sb, l, o->s1));
	case 2:
		return CAP(o, msb_repl_context_destroy(o->h->sb, l, o->s1));
	case 4: {
		int was = 0;
		int rc = CAP(o, msb_repl_interrupt(o->h->sb, l, o->s1, &was));

		o->i2 = was;
		return rc;
	}
	default:
		return CAP(o, msb_repl_context_list(&o->cl, o->h->sb));
	}
}

static napi_value ctx_done(napi_env env, op *o)
{
	napi_value arr;

	if (o->i1 == 4) {
		NAPI_OK(napi_get_boolean(env, o->i2 != 0, &arr));
		return arr;
	}
	if (!o->cl)
		return NULL;
	NAPI_OK(napi_create_array_with_length(env, o->cl->len, &arr));
	for (size_t i = 0; i < o->cl->len; i++) {
		napi_value e;

		NAPI_OK(napi_create_object(env, &e));
		set_str(env, e, "language", msb_language_name(o->cl->items[i].language));
		set_str(env, e, "name", o->cl->items[i].name);
		set_bool(env, e, "running", o->cl->items[i].running);
		napi_set_element(env, arr, (uint32_t)i, e);
	}
	return arr;
}

/* replContext(h, action, language, name): action 0 create, 1 reset,
 * 2 destroy, 3 list, 4 interrupt (resolves to whether code was running). */
static napi_value js_repl_context(napi_env env, napi_callback_info info)
{
	ARGS(4);
	op *o = op_for_sb(env, argv[0]);

	if (!o)
		return NULL;
	if (get_i64(env, argv[1], &o->i1) < 0)
		return op_abort(o);
	if (o->i1 != 3 && (get_lang(env, argv[2], &o->flags) < 0 ||
			   get_str(env, argv[3], &o->s1, NULL, "name") < 0))
		return op_abort(o);
	o->exec = ctx_exec;
	o->done = ctx_done;
	return op_queue(env, o, "msb.replContext");
}

/* ------------------------------------------------------------------------
 * Metrics and host
 */

static int metrics_exec(op *o)
{
	o->m.version = MSB_METRICS_VERSION;
	return CAP(o, msb_sandbox_metrics(&o->m, o->h->sb));
}

static napi_value metrics_done(napi_env env, op *o)
{
	napi_value v;

	NAPI_OK(napi_create_object(env, &v));
	set_bool(env, v, "running", o->m.running);
	set_num(env, v, "cpuPercent", o->m.cpu_percent);
	set_num(env, v, "memoryBytes", (double)o->m.memory_bytes);
	set_num(env, v, "diskBytes", (double)o->m.disk_bytes);
	set_num(env, v, "pids", o->m.pids);
	set_num(env, v, "uptimeMs", (double)o->m.uptime_ms);
	set_num(env, v, "hostMemoryBytes", (double)o->m.host_memory_bytes);
	return v;
}

static napi_value js_metrics(napi_env env, napi_callback_info info)
{
	ARGS(1);
	op *o = op_for_sb(env, argv[0]);

	if (!o)
		return NULL;
	o->exec = metrics_exec;
	o->done = metrics_done;
	return op_queue(env, o, "msb.metrics");
}

static int probe_exec(op *o)
{
	o->hi.version = MSB_HOST_INFO_VERSION;
	return CAP(o, msb_host_probe(&o->hi));
}

static napi_value probe_done(napi_env env, op *o)
{
	napi_value v;

	NAPI_OK(napi_create_object(env, &v));
	set_bool(env, v, "userNamespaces", o->hi.user_namespaces);
	set_num(env, v, "cgroupVersion", o->hi.cgroup_version);
	set_bool(env, v, "cgroupHybrid", o->hi.cgroup_hybrid);
	set_bool(env, v, "cgroupWritable", o->hi.cgroup_writable);
	set_bool(env, v, "seccomp", o->hi.seccomp);
	set_bool(env, v, "kvm", o->hi.kvm);
	set_bool(env, v, "kvmStandardGuest", o->hi.kvm_standard_guest);
	set_str(env, v, "autoBackend", msb_backend_name(o->hi.auto_backend));
	set_str(env, v, "kvmDetail", o->hi.kvm_detail);
	set_bool(env, v, "vmReady", o->hi.vm_ready);
	set_str(env, v, "vmDetail", o->hi.vm_detail);
	return v;
}

static napi_value js_host_probe(napi_env env, napi_callback_info info)
{
	op *o = op_new();

	(void)info;
	if (!o) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	o->exec = probe_exec;
	o->done = probe_done;
	return op_queue(env, o, "msb.hostProbe");
}

/* Named sandboxes: list, kill, remove. */
static int named_exec(op *o)
{
	switch (o->flags) {
	case 0:
		return CAP(o, msb_sandbox_list_all(&o->sl));
	case 1:
		return CAP(o, msb_sandbox_kill(o->s1));
	default:
		return CAP(o, msb_sandbox_remove(o->s1));
	}
}

static napi_value named_done(napi_env env, op *o)
{
	napi_value arr;

	if (!o->sl)
		return NULL;
	NAPI_OK(napi_create_array_with_length(env, o->sl->len, &arr));
	for (size_t i = 0; i < o->sl->len; i++) {
		const msb_sandbox_info *s = &o->sl->items[i];
		napi_value e;

		NAPI_OK(napi_create_object(env, &e));
		set_str(env, e, "name", s->name);
		set_str(env, e, "status", msb_status_name(s->status));
		set_str(env, e, "backend", msb_backend_name(s->backend));
		set_num(env, e, "createdMs", (double)s->created_ms);
		set_num(env, e, "pid", (double)s->pid);
		napi_set_element(env, arr, (uint32_t)i, e);
	}
	return arr;
}

/* named(action, name): 0 list, 1 kill, 2 remove */
static napi_value js_named(napi_env env, napi_callback_info info)
{
	ARGS(2);
	op *o = op_new();
	int64_t a = 0;

	if (!o) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	if (get_i64(env, argv[0], &a) < 0 ||
	    get_str(env, argv[1], &o->s1, NULL, "name") < 0)
		return op_abort(o);
	o->flags = (int)a;
	o->exec = named_exec;
	o->done = named_done;
	return op_queue(env, o, "msb.named");
}

/* ------------------------------------------------------------------------
 * Files
 */

enum { F_READ, F_WRITE, F_STAT, F_EXISTS, F_LIST, F_MKDIR, F_REMOVE,
       F_RENAME, F_COPY_IN, F_COPY_OUT };

static int file_exec(op *o)
{
	msb_sandbox *sb = o->h->sb;

	switch (o->flags) {
	case F_READ:
		return CAP(o, msb_file_read(&o->buf, sb, o->s1, o->i1));
	case F_WRITE:
		return CAP(o, msb_file_write(sb, o->s1, o->data, o->len,
					     (int)o->i1, o->mode));
	case F_STAT:
		return CAP(o, msb_file_stat_path(&o->st, sb, o->s1));
	case F_EXISTS:
		return CAP(o, msb_file_exists(&o->exists, sb, o->s1));
	case F_LIST:
		return CAP(o, msb_file_list(&o->dl, sb, o->s1));
	case F_MKDIR:
		return CAP(o, msb_file_mkdir(sb, o->s1, o->mode, (int)o->i1));
	case F_REMOVE:
		return CAP(o, msb_file_remove(sb, o->s1, (int)o->i1));
	case F_RENAME:
		return CAP(o, msb_file_rename(sb, o->s1, o->s2));
	case F_COPY_IN:
		return CAP(o, msb_file_copy_in(sb, o->s1, o->s2));
	default:
		return CAP(o, msb_file_copy_out(sb, o->s1, o->s2));
	}
}

static napi_value file_done(napi_env env, op *o)
{
	napi_value v;

	switch (o->flags) {
	case F_READ:
		return buf_value(env, &o->buf);
	case F_STAT:
		return stat_value(env, &o->st);
	case F_EXISTS:
		napi_get_boolean(env, o->exists != 0, &v);
		return v;
	case F_LIST:
		NAPI_OK(napi_create_array_with_length(env, o->dl->len, &v));
		for (size_t i = 0; i < o->dl->len; i++) {
			napi_value e = stat_value(env, &o->dl->entries[i].stat);

			if (!e)
				return NULL;
			set_str(env, e, "name", o->dl->entries[i].name);
			napi_set_element(env, v, (uint32_t)i, e);
		}
		return v;
	default:
		return NULL;
	}
}

/* file(h, action, path, a, b, c):
 *   read: a = maxBytes;  write: a = data, b = flags, c = mode;
 *   mkdir: a = mode, b = parents;  remove: a = recursive;
 *   rename / copyIn / copyOut: a = second path */
static napi_value js_file(napi_env env, napi_callback_info info)
{
	ARGS(6);
	op *o = op_for_sb(env, argv[0]);
	int64_t action = -1, mode = 0, x = 0;
	int b = 0;

	if (!o)
		return NULL;
	if (get_i64(env, argv[1], &action) < 0 ||
	    get_str(env, argv[2], &o->s1, NULL, "path") < 0)
		return op_abort(o);
	if (!o->s1) {
		throw_type(env, "path must be a string");
		return op_abort(o);
	}
	o->flags = (int)action;
	switch (action) {
	case F_READ:
		if (get_i64(env, argv[3], &o->i1) < 0)
			return op_abort(o);
		break;
	case F_WRITE:
		if (get_bytes(env, argv[3], &o->data, &o->len) < 0 ||
		    get_i64(env, argv[4], &x) < 0 || get_i64(env, argv[5], &mode) < 0)
			return op_abort(o);
		o->i1 = x;
		o->mode = (unsigned int)mode;
		break;
	case F_MKDIR:
		if (get_i64(env, argv[3], &mode) < 0 || get_bool(env, argv[4], &b) < 0)
			return op_abort(o);
		o->mode = (unsigned int)mode;
		o->i1 = b;
		break;
	case F_REMOVE:
		if (get_bool(env, argv[3], &b) < 0)
			return op_abort(o);
		o->i1 = b;
		break;
	case F_RENAME:
	case F_COPY_IN:
	case F_COPY_OUT:
		if (get_str(env, argv[3], &o->s2, NULL, "path") < 0)
			return op_abort(o);
		if (!o->s2) {
			throw_type(env, "path must be a string");
			return op_abort(o);
		}
		break;
	case F_STAT:
	case F_EXISTS:
	case F_LIST:
		break;
	default:
		throw_type(env, "unknown file action");
		return op_abort(o);
	}
	o->exec = file_exec;
	o->done = file_done;
	return op_queue(env, o, "msb.file");
}

/* ------------------------------------------------------------------------
 * Background processes and PTYs
 */

static int pstart_exec(op *o)
{
	if (o->flags) {
		msb_pty_options po = MSB_PTY_OPTIONS_INIT;

		po.argv = (const char *const *)o->argv;
		po.env = (const char *const *)o->env;
		po.cwd = o->s1;
		po.rows = (uint16_t)o->i1;
		po.cols = (uint16_t)o->i2;
		return CAP(o, msb_pty_open(&o->proc, o->h->sb, &po));
	} else {
		msb_command_options co;

		fill_command_opts(o, &co);
		return CAP(o, msb_process_start(&o->proc, o->h->sb, &co));
	}
}

static napi_value pstart_done(napi_env env, op *o)
{
	proch *ph = calloc(1, sizeof(*ph));

	if (!ph) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		reaper_push((void (*)(void *))msb_process_free, o->proc);
		o->proc = NULL;
		return NULL;
	}
	atomic_init(&ph->refs, 1);
	ph->p = o->proc;
	o->proc = NULL;
	ph->h = o->h; /* the process borrows the sandbox: keep it */
	atomic_fetch_add(&o->h->refs, 1);
	atomic_fetch_add(&live_processes, 1);
	return wrap(env, PROC_MAGIC, ph);
}

/* processStart(h, argv, opts) -> Promise<proc> */
static napi_value js_process_start(napi_env env, napi_callback_info info)
{
	ARGS(3);
	msb_command_options co;
	op *o = op_for_sb(env, argv[0]);

	if (!o)
		return NULL;
	if (parse_command_opts(env, o, argv[1], argv[2], &co) < 0)
		return op_abort(o);
	o->exec = pstart_exec;
	o->done = pstart_done;
	return op_queue(env, o, "msb.processStart");
}

/* ptyOpen(h, {argv, env, cwd, rows, cols}) -> Promise<proc> */
static napi_value js_pty_open(napi_env env, napi_callback_info info)
{
	ARGS(2);
	op *o = op_for_sb(env, argv[0]);

	if (!o)
		return NULL;
	if (get_strv(env, prop(env, argv[1], "argv"), &o->argv, "argv") < 0 ||
	    get_strv(env, prop(env, argv[1], "env"), &o->env, "env") < 0 ||
	    get_str(env, prop(env, argv[1], "cwd"), &o->s1, NULL, "cwd") < 0 ||
	    get_i64(env, prop(env, argv[1], "rows"), &o->i1) < 0 ||
	    get_i64(env, prop(env, argv[1], "cols"), &o->i2) < 0)
		return op_abort(o);
	o->flags = 1;
	o->exec = pstart_exec;
	o->done = pstart_done;
	return op_queue(env, o, "msb.ptyOpen");
}

enum { P_READ, P_WRITE, P_CLOSE_STDIN, P_SIGNAL, P_RESIZE, P_WAIT };

static int proc_exec(op *o)
{
	msb_process *p = o->ph->p;
	int rc;

	switch (o->flags) {
	case P_READ:
		rc = msb_process_read(&o->buf, &o->stream, p, o->i1);
		/* The end and a timeout are answers, not errors. */
		if (rc == MSB_EDONE || rc == MSB_ETIMEDOUT) {
			o->exists = rc;
			msb_error_clear();
			return 0;
		}
		return CAP(o, rc);
	case P_WRITE:
		return CAP(o, msb_process_write(p, o->data, o->len));
	case P_CLOSE_STDIN:
		return CAP(o, msb_process_close_stdin(p));
	case P_SIGNAL:
		return CAP(o, msb_process_signal(p, (int)o->i1));
	case P_RESIZE:
		return CAP(o, msb_process_resize(p, (uint16_t)o->i1, (uint16_t)o->i2));
	default:
		return CAP(o, msb_process_wait(&o->cres, p, o->i1));
	}
}

static napi_value proc_done(napi_env env, op *o)
{
	napi_value v;

	switch (o->flags) {
	case P_READ:
		NAPI_OK(napi_create_object(env, &v));
		if (o->exists == MSB_EDONE) {
			set_bool(env, v, "done", 1);
		} else if (o->exists == MSB_ETIMEDOUT) {
			set_bool(env, v, "timedOut", 1);
		} else {
			set_str(env, v, "stream", o->stream == MSB_STREAM_STDERR ?
				"stderr" : "stdout");
			set_buf(env, v, "data", &o->buf);
		}
		return v;
	case P_WAIT:
		return command_result_value(env, o->cres);
	default:
		return NULL;
	}
}

/* process(p, action, a, b) */
static napi_value js_process(napi_env env, napi_callback_info info)
{
	ARGS(4);
	op *o = op_for_proc(env, argv[0]);
	int64_t action = -1;

	if (!o)
		return NULL;
	if (get_i64(env, argv[1], &action) < 0)
		return op_abort(o);
	o->flags = (int)action;
	o->i1 = -1;
	switch (action) {
	case P_READ:
	case P_WAIT:
	case P_SIGNAL:
		if (get_i64(env, argv[2], &o->i1) < 0)
			return op_abort(o);
		break;
	case P_WRITE:
		if (get_bytes(env, argv[2], &o->data, &o->len) < 0)
			return op_abort(o);
		break;
	case P_RESIZE:
		if (get_i64(env, argv[2], &o->i1) < 0 || get_i64(env, argv[3], &o->i2) < 0)
			return op_abort(o);
		break;
	case P_CLOSE_STDIN:
		break;
	default:
		throw_type(env, "unknown process action");
		return op_abort(o);
	}
	o->exec = proc_exec;
	o->done = proc_done;
	return op_queue(env, o, "msb.process");
}

static int pfree_exec(op *o)
{
	(void)o;
	return 0; /* op_execute drops the reference, off the JS thread */
}

/* processRelease(p) -> Promise: kill it if it runs, free the handle (in
 * the worker, once no other call uses it). Idempotent. */
static napi_value js_process_release(napi_env env, napi_callback_info info)
{
	ARGS(1);
	jsref *r = get_ref(env, argv[0], PROC_MAGIC);
	op *o;
	napi_value p, undef;

	if (!r)
		return NULL;
	if (!r->handle) {
		napi_deferred d;

		NAPI_OK(napi_create_promise(env, &d, &p));
		napi_get_undefined(env, &undef);
		napi_resolve_deferred(env, d, undef);
		return p;
	}
	if (!(o = op_new())) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	o->ph = r->handle; /* takes over the JS reference */
	o->owned = 1;
	r->handle = NULL;
	o->exec = pfree_exec;
	return op_queue(env, o, "msb.processRelease");
}

static napi_value js_process_pid(napi_env env, napi_callback_info info)
{
	ARGS(1);
	proch *ph = get_proch(env, argv[0]);
	napi_value v;

	if (!ph)
		return NULL;
	napi_create_double(env, (double)msb_process_pid(ph->p), &v);
	return v;
}

static int plist_exec(op *o)
{
	return CAP(o, msb_process_list_all(&o->pl, o->h->sb));
}

static napi_value plist_done(napi_env env, op *o)
{
	napi_value arr;

	NAPI_OK(napi_create_array_with_length(env, o->pl->len, &arr));
	for (size_t i = 0; i < o->pl->len; i++) {
		napi_value e;

		NAPI_OK(napi_create_object(env, &e));
		set_num(env, e, "pid", (double)o->pl->items[i].pid);
		set_str(env, e, "command", o->pl->items[i].command);
		set_bool(env, e, "pty", o->pl->items[i].pty);
		set_num(env, e, "startedMs", (double)o->pl->items[i].started_ms);
		napi_set_element(env, arr, (uint32_t)i, e);
	}
	return arr;
}

static napi_value js_process_list(napi_env env, napi_callback_info info)
{
	ARGS(1);
	op *o = op_for_sb(env, argv[0]);

	if (!o)
		return NULL;
	o->exec = plist_exec;
	o->done = plist_done;
	return op_queue(env, o, "msb.processList");
}

/* ------------------------------------------------------------------------
 * Module
 */

static napi_value js_version(napi_env env, napi_callback_info info)
{
	napi_value v;

	(void)info;
	napi_create_string_utf8(env, msb_version(), NAPI_AUTO_LENGTH, &v);
	return v;
}

static napi_value js_set_error_class(napi_env env, napi_callback_info info)
{
	ARGS(1);
	addon *ad = NULL;

	napi_get_instance_data(env, (void **)&ad);
	if (!ad)
		return NULL;
	if (ad->error_class)
		napi_delete_reference(env, ad->error_class);
	NAPI_OK(napi_create_reference(env, argv[0], 1, &ad->error_class));
	return NULL;
}

static int nop_exec(op *o)
{
	(void)o;
	return 0;
}

/* _nop() -> Promise<void>: an async work that does nothing, to measure
 * the round trip through the thread pool. */
static napi_value js_nop(napi_env env, napi_callback_info info)
{
	op *o = op_new();

	(void)info;
	if (!o) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return NULL;
	}
	o->exec = nop_exec;
	return op_queue(env, o, "msb.nop");
}

/* _stats() -> {sandboxes, processes, reaperPending}: live native handles,
 * for leak tests. */
static napi_value js_stats(napi_env env, napi_callback_info info)
{
	napi_value v;

	(void)info;
	NAPI_OK(napi_create_object(env, &v));
	set_num(env, v, "sandboxes", (double)atomic_load(&live_sandboxes));
	set_num(env, v, "processes", (double)atomic_load(&live_processes));
	set_num(env, v, "reaperPending", (double)atomic_load(&reaper_pending));
#ifdef MSB_NODE_TIMING
	set_num(env, v, "execNs", (double)atomic_exchange(&exec_ns, 0));
	set_num(env, v, "execCount", (double)atomic_exchange(&exec_count, 0));
#endif
	return v;
}

static void cleanup_hook(void *arg)
{
	addon *ad = arg;

	/* Runs before the environment's finalizers: from now on they free
	 * in place, and what the reaper holds is freed before we go. */
	ad->shutting_down = 1;
	reaper_flush();
}

static void addon_finalize(napi_env env, void *data, void *hint)
{
	addon *ad = data;

	(void)hint;
	if (ad->error_class)
		napi_delete_reference(env, ad->error_class);
	free(ad);
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
	addon *ad = calloc(1, sizeof(*ad));

	if (!ad || napi_set_instance_data(env, ad, addon_finalize, NULL) != napi_ok) {
		free(ad);
		napi_throw_error(env, "MSB_ENOMEM", "cannot initialise the addon");
		return NULL;
	}
	napi_add_env_cleanup_hook(env, cleanup_hook, ad);
	for (size_t i = 0; i < sizeof(fns) / sizeof(*fns); i++) {
		napi_value f;

		NAPI_OK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH,
					     fns[i].fn, NULL, &f));
		NAPI_OK(napi_set_named_property(env, exports, fns[i].name, f));
	}
	return exports;
}
