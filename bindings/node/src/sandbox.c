/*
 * sandbox.c - the sandbox lifecycle and named sandboxes, for index.js's
 * Sandbox class: sandboxStart (create and start in one call), sandboxConnect,
 * sandboxStop, sandboxInfo, and named() for list, kill and remove.
 */
#include <stdlib.h>

#include <msb.h>

#include "call.h"
#include "convert.h"
#include "errors.h"
#include "handle.h"
#include "sandbox.h"

/* ------------------------------------------------------------------------
 * Start and connect
 */

typedef struct sandbox_start_call {
	call base;
	msb_sandbox_options so; /* points into the fields below */
	char *name, *workdir, *rootfs, *hostname;
	char **env;
	msb_volume *volumes;
	size_t volumes_len;
	msb_sandbox *sb;        /* the result, until wrapped */
} sandbox_start_call;

static int start_exec(call *c)
{
	sandbox_start_call *o = (sandbox_start_call *)c;
	msb_sandbox *sb = NULL;
	int rc;

	if ((rc = CAP(c, msb_sandbox_create(&sb, &o->so))))
		return rc;
	if ((rc = CAP(c, msb_sandbox_start(sb)))) {
		msb_sandbox_free(sb); /* after the error was copied */
		return rc;
	}
	o->sb = sb;
	return 0;
}

static napi_value start_done(napi_env env, call *c)
{
	return wrap_sandbox(env, &((sandbox_start_call *)c)->sb);
}

static void start_release(call *c)
{
	sandbox_start_call *o = (sandbox_start_call *)c;

	free(o->name);
	free(o->workdir);
	free(o->rootfs);
	free(o->hostname);
	free_strv(o->env);
	for (size_t i = 0; i < o->volumes_len; i++) {
		free((char *)o->volumes[i].host_path);
		free((char *)o->volumes[i].sandbox_path);
	}
	free(o->volumes);
}

static const call_kind start_kind = {
	"msb.start", start_exec, start_done, start_release
};

static int get_backend(napi_env env, napi_value v, msb_backend *out)
{
	char *s = NULL;
	int rc = 0;

	if (get_str(env, v, &s, NULL, "backend") < 0)
		return -1;
	if (!s) {
		*out = MSB_BACKEND_AUTO;
	} else if (msb_backend_parse(s, out) != 0) {
		napi_throw(env, make_error(env, MSB_EINVAL, "unknown backend",
					   "use \"auto\", \"os\" or \"vm\"", 0));
		rc = -1;
	}
	free(s);
	return rc;
}

static int get_trust(napi_env env, napi_value v, msb_trust *out)
{
	char *s = NULL;
	int rc = 0;

	if (get_str(env, v, &s, NULL, "trust") < 0)
		return -1;
	if (!s) {
		*out = MSB_TRUST_DEFAULT;
	} else if (msb_trust_parse(s, out) != 0) {
		napi_throw(env, make_error(env, MSB_EINVAL, "unknown trust level",
					   "use \"default\", \"untrusted\" or \"trusted\"", 0));
		rc = -1;
	}
	free(s);
	return rc;
}

/* The volumes option, an array of { hostPath, sandboxPath, readOnly }
 * (index.js has parsed the "HOST:SANDBOX[:ro]" strings). */
static int get_volumes(napi_env env, napi_value vols, sandbox_start_call *o)
{
	bool is_array = false;
	uint32_t n;

	if (!vols || napi_is_array(env, vols, &is_array) != napi_ok || !is_array)
		return 0;
	napi_get_array_length(env, vols, &n);
	if (n && !(o->volumes = calloc(n, sizeof(*o->volumes)))) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		napi_value e;
		char *hp = NULL, *sp = NULL;
		int ro = 0;

		napi_get_element(env, vols, i, &e);
		o->volumes_len = i + 1;
		if (get_str(env, prop(env, e, "hostPath"), &hp, NULL, "hostPath") < 0 ||
		    get_str(env, prop(env, e, "sandboxPath"), &sp, NULL, "sandboxPath") < 0 ||
		    get_bool(env, prop(env, e, "readOnly"), &ro) < 0) {
			free(hp);
			free(sp);
			return -1;
		}
		o->volumes[i].host_path = hp;
		o->volumes[i].sandbox_path = sp;
		o->volumes[i].read_only = ro;
	}
	o->so.volumes = o->volumes;
	o->so.volumes_len = o->volumes_len;
	return 0;
}

/* sandboxStart(opts) -> Promise<handle>: create and start in one work. */
napi_value js_sandbox_start(napi_env env, napi_callback_info info)
{
	ARGS(1);
	napi_value opts = argv[0];
	sandbox_start_call *o = call_new(env, sizeof(*o), &start_kind);
	int detached = 0, fallback = 0;

	if (!o)
		return NULL;
	msb_sandbox_options_init(&o->so, MSB_SANDBOX_OPTIONS_VERSION);
	if (get_backend(env, prop(env, opts, "backend"), &o->so.backend) < 0 ||
	    get_trust(env, prop(env, opts, "trust"), &o->so.trust) < 0 ||
	    get_bool(env, prop(env, opts, "allowFallback"), &fallback) < 0 ||
	    get_str(env, prop(env, opts, "name"), &o->name, NULL, "name") < 0 ||
	    get_str(env, prop(env, opts, "workdir"), &o->workdir, NULL, "workdir") < 0 ||
	    get_str(env, prop(env, opts, "rootfs"), &o->rootfs, NULL, "rootfs") < 0 ||
	    get_str(env, prop(env, opts, "hostname"), &o->hostname, NULL, "hostname") < 0 ||
	    get_i64(env, prop(env, opts, "memoryBytes"), &o->so.memory_bytes) < 0 ||
	    get_i64(env, prop(env, opts, "pids"), &o->so.pids) < 0 ||
	    get_i64(env, prop(env, opts, "diskBytes"), &o->so.disk_bytes) < 0 ||
	    get_i64(env, prop(env, opts, "timeoutMs"), &o->so.timeout_ms) < 0 ||
	    get_strv(env, prop(env, opts, "env"), &o->env, "env") < 0 ||
	    get_bool(env, prop(env, opts, "detached"), &detached) < 0)
		return call_abort(&o->base);
	{
		napi_value c = prop(env, opts, "cpus");
		napi_valuetype t;

		if (c && napi_typeof(env, c, &t) == napi_ok && t == napi_number)
			napi_get_value_double(env, c, &o->so.cpus);
	}
	if (get_volumes(env, prop(env, opts, "volumes"), o) < 0)
		return call_abort(&o->base);
	o->so.name = o->name;
	o->so.workdir = o->workdir;
	o->so.rootfs = o->rootfs;
	o->so.hostname = o->hostname;
	o->so.env = (const char *const *)o->env;
	o->so.detached = detached;
	o->so.allow_fallback = fallback;
	return call_queue(env, &o->base);
}

typedef struct sandbox_connect_call {
	call base;
	char *name;
	msb_sandbox *sb; /* the result, until wrapped */
} sandbox_connect_call;

static int connect_exec(call *c)
{
	sandbox_connect_call *o = (sandbox_connect_call *)c;

	return CAP(c, msb_sandbox_connect(&o->sb, o->name));
}

static napi_value connect_done(napi_env env, call *c)
{
	return wrap_sandbox(env, &((sandbox_connect_call *)c)->sb);
}

static void connect_release(call *c)
{
	free(((sandbox_connect_call *)c)->name);
}

static const call_kind connect_kind = {
	"msb.connect", connect_exec, connect_done, connect_release
};

/* sandboxConnect(name) -> Promise<handle> */
napi_value js_sandbox_connect(napi_env env, napi_callback_info info)
{
	ARGS(1);
	sandbox_connect_call *o = call_new(env, sizeof(*o), &connect_kind);

	if (!o)
		return NULL;
	if (get_str(env, argv[0], &o->name, NULL, "name") < 0)
		return call_abort(&o->base);
	return call_queue(env, &o->base);
}

/* ------------------------------------------------------------------------
 * Stop and info
 */

typedef struct sandbox_stop_call {
	call base;       /* owns the JS reference on base.h */
	int64_t grace_ms;
	int release_only;
} sandbox_stop_call;

static int stop_exec(call *c)
{
	sandbox_stop_call *o = (sandbox_stop_call *)c;

	/* The handle is not freed here: call.c drops the reference the work
	 * took over, which frees it when no other call uses it (for a
	 * detached sandbox that only disconnects). */
	if (o->release_only)
		return 0;
	return CAP(c, msb_sandbox_stop(c->h->sb, o->grace_ms));
}

static const call_kind stop_kind = { "msb.stop", stop_exec, NULL, NULL };

/* sandboxStop(h, graceMs, releaseOnly) -> Promise<void>: stops (unless
 * releaseOnly) and releases the handle.
 * Calls already running finish (with an error from the stopped sandbox);
 * new calls are refused. Idempotent. */
napi_value js_sandbox_stop(napi_env env, napi_callback_info info)
{
	ARGS(3);
	jsref *r = get_ref(env, argv[0], SB_MAGIC);
	sandbox_stop_call *o;
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
	if (!(o = call_new(env, sizeof(*o), &stop_kind)))
		return NULL;
	o->grace_ms = -1;
	if (get_i64(env, argv[1], &o->grace_ms) < 0)
		return call_abort(&o->base);
	o->base.h = r->handle; /* takes over the JS reference */
	o->base.owned = 1;
	o->release_only = release_only;
	r->handle = NULL;
	return call_queue(env, &o->base);
}

/* sandboxInfo(h) -> {name, status, backend, exitReason, enforcement} */
napi_value js_sandbox_info(napi_env env, napi_callback_info info)
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
 * Named sandboxes
 */

typedef struct named_list_call {
	call base;
	msb_sandbox_list *list;
} named_list_call;

static int named_list_exec(call *c)
{
	return CAP(c, msb_sandbox_list_all(&((named_list_call *)c)->list));
}

static napi_value named_list_done(napi_env env, call *c)
{
	const msb_sandbox_list *sl = ((named_list_call *)c)->list;
	napi_value arr;

	if (!sl)
		return NULL;
	NAPI_OK(napi_create_array_with_length(env, sl->len, &arr));
	for (size_t i = 0; i < sl->len; i++) {
		const msb_sandbox_info *s = &sl->items[i];
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

static void named_list_release(call *c)
{
	msb_sandbox_list_free(((named_list_call *)c)->list);
}

static const call_kind named_list_kind = {
	"msb.named", named_list_exec, named_list_done, named_list_release
};

/* kill and remove: by name. */
typedef struct named_call {
	call base;
	char *name;
} named_call;

static int named_kill_exec(call *c)
{
	return CAP(c, msb_sandbox_kill(((named_call *)c)->name));
}

static int named_remove_exec(call *c)
{
	return CAP(c, msb_sandbox_remove(((named_call *)c)->name));
}

static void named_release(call *c)
{
	free(((named_call *)c)->name);
}

static const call_kind named_kill_kind = {
	"msb.named", named_kill_exec, NULL, named_release
};
static const call_kind named_remove_kind = {
	"msb.named", named_remove_exec, NULL, named_release
};

/* named(action, name): 0 list, 1 kill, 2 (or anything else) remove */
napi_value js_named(napi_env env, napi_callback_info info)
{
	ARGS(2);
	int64_t action = 0;
	char *name = NULL;
	named_list_call *l;
	named_call *o;

	if (get_i64(env, argv[0], &action) < 0 ||
	    get_str(env, argv[1], &name, NULL, "name") < 0)
		return NULL;
	if ((int)action == 0) {
		free(name);
		if (!(l = call_new(env, sizeof(*l), &named_list_kind)))
			return NULL;
		return call_queue(env, &l->base);
	}
	if (!(o = call_new(env, sizeof(*o), (int)action == 1 ? &named_kill_kind :
			   &named_remove_kind))) {
		free(name);
		return NULL;
	}
	o->name = name;
	return call_queue(env, &o->base);
}
