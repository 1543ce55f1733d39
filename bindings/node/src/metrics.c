/*
 * metrics.c - what index.js's sandbox.metrics and hostInfo() read:
 * metrics(h), one sample of a sandbox's usage, and hostProbe(), what this
 * host can isolate with. Both can block, so both run as calls.
 */
#include <msb.h>

#include "call.h"
#include "convert.h"
#include "metrics.h"

typedef struct metrics_call {
	call base;
	msb_metrics m; /* the result */
} metrics_call;

static int metrics_exec(call *c)
{
	metrics_call *o = (metrics_call *)c;

	o->m.version = MSB_METRICS_VERSION;
	return CAP(c, msb_sandbox_metrics(&o->m, c->h->sb));
}

static napi_value metrics_done(napi_env env, call *c)
{
	const msb_metrics *m = &((metrics_call *)c)->m;
	napi_value v;

	NAPI_OK(napi_create_object(env, &v));
	set_bool(env, v, "running", m->running);
	set_num(env, v, "cpuPercent", m->cpu_percent);
	set_num(env, v, "memoryBytes", (double)m->memory_bytes);
	set_num(env, v, "diskBytes", (double)m->disk_bytes);
	set_num(env, v, "pids", m->pids);
	set_num(env, v, "uptimeMs", (double)m->uptime_ms);
	set_num(env, v, "hostMemoryBytes", (double)m->host_memory_bytes);
	return v;
}

static const call_kind metrics_kind = { "msb.metrics", metrics_exec, metrics_done, NULL };

/* metrics(h) -> Promise<{running, cpuPercent, memoryBytes, ...}> */
napi_value js_metrics(napi_env env, napi_callback_info info)
{
	ARGS(1);
	metrics_call *o = call_for_sb(env, argv[0], sizeof(*o), &metrics_kind);

	if (!o)
		return NULL;
	return call_queue(env, &o->base);
}

typedef struct host_probe_call {
	call base;
	msb_host_info hi; /* the result */
} host_probe_call;

static int probe_exec(call *c)
{
	host_probe_call *o = (host_probe_call *)c;

	o->hi.version = MSB_HOST_INFO_VERSION;
	return CAP(c, msb_host_probe(&o->hi));
}

static napi_value probe_done(napi_env env, call *c)
{
	const msb_host_info *hi = &((host_probe_call *)c)->hi;
	napi_value v;

	NAPI_OK(napi_create_object(env, &v));
	set_bool(env, v, "userNamespaces", hi->user_namespaces);
	set_num(env, v, "cgroupVersion", hi->cgroup_version);
	set_bool(env, v, "cgroupHybrid", hi->cgroup_hybrid);
	set_bool(env, v, "cgroupWritable", hi->cgroup_writable);
	set_bool(env, v, "seccomp", hi->seccomp);
	set_bool(env, v, "kvm", hi->kvm);
	set_bool(env, v, "kvmStandardGuest", hi->kvm_standard_guest);
	set_str(env, v, "autoBackend", msb_backend_name(hi->auto_backend));
	set_str(env, v, "kvmDetail", hi->kvm_detail);
	set_bool(env, v, "vmReady", hi->vm_ready);
	set_str(env, v, "vmDetail", hi->vm_detail);
	return v;
}

static const call_kind probe_kind = { "msb.hostProbe", probe_exec, probe_done, NULL };

/* hostProbe() -> Promise<{userNamespaces, cgroupVersion, kvm, ...}> */
napi_value js_host_probe(napi_env env, napi_callback_info info)
{
	host_probe_call *o = call_new(env, sizeof(*o), &probe_kind);

	(void)info;
	if (!o)
		return NULL;
	return call_queue(env, &o->base);
}
