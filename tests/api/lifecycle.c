/*
 * lifecycle.c - versions, names, status transitions, stop/free semantics,
 * host probing.
 */
#include <stddef.h>
#include <ctype.h>
#include <pthread.h>

#include "tap.h"
#include "msbt.h"

static int is_generated_name(const char *n)
{
	if (!n || strncmp(n, "msb-", 4) != 0 || strlen(n) != 12)
		return 0;
	for (int i = 4; i < 12; i++)
		if (!isxdigit((unsigned char)n[i]))
			return 0;
	return 1;
}

static void test_static_api(void)
{
	is_str(msb_version(), MSB_VERSION, "msb_version() matches MSB_VERSION");

	int codes_ok = 1;
	for (int c = MSB_OK; c >= MSB_ECANCELED; c--) {
		const char *s = msb_strerror(c);
		if (!s || !s[0]) {
			diag("msb_strerror(%d) is empty", c);
			codes_ok = 0;
		}
	}
	ok(codes_ok, "msb_strerror() describes every error code");
	ok(msb_strerror(-9999) != NULL, "msb_strerror() of an unknown code is not NULL");
	ok(strcmp(msb_strerror(MSB_EINVAL), msb_strerror(MSB_ESTATE)) != 0,
	   "msb_strerror() tells codes apart");

	msb_error_clear();
	const msb_error *e = msb_error_last();
	ok(e && e->code == MSB_OK && e->message && e->hint,
	   "msb_error_last() after msb_error_clear(): MSB_OK, message and hint not NULL");

	is_str(msb_status_name(MSB_STATUS_CREATED), "created", "status name created");
	is_str(msb_status_name(MSB_STATUS_RUNNING), "running", "status name running");
	is_str(msb_status_name(MSB_STATUS_STOPPED), "stopped", "status name stopped");
	is_str(msb_status_name(MSB_STATUS_EXITED), "exited", "status name exited");
	is_str(msb_backend_name(MSB_BACKEND_AUTO), "auto", "backend name auto");
	is_str(msb_backend_name(MSB_BACKEND_OS), "os", "backend name os");
	is_str(msb_backend_name(MSB_BACKEND_VM), "vm", "backend name vm");
	is_str(msb_enforcement_name(MSB_ENFORCE_NONE), "none", "enforcement name none");
	is_str(msb_enforcement_name(MSB_ENFORCE_RLIMIT), "rlimit", "enforcement name rlimit");
	is_str(msb_enforcement_name(MSB_ENFORCE_CGROUP), "cgroup", "enforcement name cgroup");
	is_str(msb_enforcement_name(MSB_ENFORCE_KERNEL), "kernel", "enforcement name kernel");

	msb_sandbox_options a = MSB_SANDBOX_OPTIONS_INIT, b;
	memset(&b, 0xa5, sizeof b);
	is_int(msb_sandbox_options_init(&b, MSB_SANDBOX_OPTIONS_VERSION), 0,
	       "msb_sandbox_options_init() succeeds");
	ok(b.version == a.version && b.backend == a.backend && b.name == a.name &&
	   b.memory_bytes == a.memory_bytes && b.cpus == a.cpus &&
	   b.pids == a.pids && b.disk_bytes == a.disk_bytes &&
	   b.timeout_ms == a.timeout_ms && b.env == a.env &&
	   b.workdir == a.workdir && b.network == a.network &&
	   b.rootfs == a.rootfs && b.volumes == a.volumes &&
	   b.volumes_len == a.volumes_len,
	   "msb_sandbox_options_init() equals MSB_SANDBOX_OPTIONS_INIT");

	msb_command_options ca = MSB_COMMAND_OPTIONS_INIT, cb;
	memset(&cb, 0xa5, sizeof cb);
	is_int(msb_command_options_init(&cb, MSB_COMMAND_OPTIONS_VERSION), 0,
	       "msb_command_options_init() succeeds");
	ok(cb.version == ca.version && cb.argv == ca.argv && cb.env == ca.env &&
	   cb.cwd == ca.cwd && cb.stdin_data == ca.stdin_data &&
	   cb.stdin_len == ca.stdin_len && cb.timeout_ms == ca.timeout_ms &&
	   cb.output_cap == ca.output_cap,
	   "msb_command_options_init() equals MSB_COMMAND_OPTIONS_INIT");

	/* NULL-safe frees and queries */
	msb_sandbox_free(NULL);
	msb_command_result_free(NULL);
	ok(1, "msb_sandbox_free(NULL) and msb_command_result_free(NULL) are no-ops");
	is_int(msb_sandbox_status(NULL), MSB_STATUS_STOPPED,
	       "msb_sandbox_status(NULL) is STOPPED");
}

static void test_host_probe(void)
{
	msb_host_info hi;
	memset(&hi, 0xa5, sizeof hi);
	hi.version = MSB_HOST_INFO_VERSION;
	int rc = msb_host_probe(&hi);
	if (!is_int(rc, 0, "msb_host_probe() succeeds"))
		msbt_diag_error("msb_host_probe", rc);
	diag("host: userns=%d cgroup v%d hybrid=%d writable=%d seccomp=%d kvm=%d "
	     "kvm_standard_guest=%d auto=%s (%.128s)",
	     hi.user_namespaces, hi.cgroup_version, hi.cgroup_hybrid,
	     hi.cgroup_writable, hi.seccomp, hi.kvm, hi.kvm_standard_guest,
	     msb_backend_name(hi.auto_backend), hi.kvm_detail);
	ok(memchr(hi.kvm_detail, '\0', sizeof hi.kvm_detail) != NULL,
	   "host info kvm_detail is NUL-terminated");
	ok(hi.cgroup_version >= 0 && hi.cgroup_version <= 2,
	   "host info cgroup_version is 0, 1 or 2");
	ok(hi.auto_backend == MSB_BACKEND_OS || hi.auto_backend == MSB_BACKEND_VM,
	   "host info auto_backend is a concrete backend");
	ok(hi.seccomp == 1, "host info: seccomp is available (Linux with seccomp filters)");
	if (geteuid() == 0)
		ok(hi.cgroup_writable == (hi.cgroup_version > 0),
		   "host info: root can create cgroups when the host has them");
	else
		skip(1, "cgroup_writable for root: not running as root");
}

/* Backend routing by trust: what AUTO picks, and why, on this
 * host; the microVM cases are checked where one can run (nested harness). */
static void test_routing(void)
{
	msb_host_info hi;
	memset(&hi, 0, sizeof hi);
	hi.version = MSB_HOST_INFO_VERSION;
	msb_host_probe(&hi);
	ok(memchr(hi.vm_detail, '\0', sizeof hi.vm_detail) && hi.vm_detail[0],
	   "host info says whether the vm backend can start here (%s)", hi.vm_detail);
	ok(hi.auto_backend == (hi.vm_ready ? MSB_BACKEND_VM : MSB_BACKEND_OS),
	   "auto picks vm exactly when the vm backend is ready");

	/* An older caller's struct is shorter: options_init(2) must not write
	 * past the version-2 fields. */
	struct { msb_sandbox_options o; char canary[16]; } big;
	memset(&big, 0x5a, sizeof big);
	is_int(msb_sandbox_options_init(&big.o, 2), 0, "options_init accepts version 2");
	const unsigned char *p = (const unsigned char *)&big.o;
	size_t v2 = offsetof(msb_sandbox_options, trust), bad = 0;
	for (size_t i = v2; i < sizeof big; i++)
		bad += p[i] != 0x5a;
	ok(bad == 0 && big.o.version == 2 && big.o.backend == MSB_BACKEND_AUTO,
	   "options_init(2) fills only the version-2 fields (%zu bytes beyond)", bad);
	is_int(msb_sandbox_options_init(&big.o, MSB_SANDBOX_OPTIONS_VERSION + 1),
	       MSB_EVERSION, "options_init refuses a future version");

	static const struct {
		msb_trust trust;
		int fallback;
		const char *name;
	} cases[] = {
		{ MSB_TRUST_DEFAULT, 0, "default trust" },
		{ MSB_TRUST_TRUSTED, 0, "trusted code" },
		{ MSB_TRUST_UNTRUSTED, 0, "untrusted code, no fallback" },
		{ MSB_TRUST_UNTRUSTED, 1, "untrusted code, fallback allowed" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
		msb_sandbox *sb = NULL;
		o.trust = cases[i].trust;
		o.allow_fallback = cases[i].fallback;
		int rc = msb_sandbox_create(&sb, &o);
		msb_backend want = hi.vm_ready && cases[i].trust != MSB_TRUST_TRUSTED
					   ? MSB_BACKEND_VM : MSB_BACKEND_OS;
		if (cases[i].trust == MSB_TRUST_UNTRUSTED && !cases[i].fallback && !hi.vm_ready) {
			is_int(rc, MSB_EUNSUPPORTED, "%s without a microVM fails closed", cases[i].name);
			const msb_error *e = msb_error_last();
			ok(strstr(e->message, "untrusted") && strstr(e->hint, "allow_fallback"),
			   "... saying why, with a hint (%s / %s)", e->message, e->hint);
		} else {
			is_int(rc, 0, "%s: created", cases[i].name);
			is_str(msb_backend_name(msb_sandbox_backend(sb)), msb_backend_name(want),
			       "%s: routed to %s", cases[i].name, msb_backend_name(want));
			const char *r = msb_sandbox_backend_reason(sb);
			ok(r && !strncmp(r, "auto: ", 6) &&
			   (cases[i].trust != MSB_TRUST_TRUSTED || strstr(r, "trusted")) &&
			   (!cases[i].fallback || hi.vm_ready || strstr(r, "fallback")),
			   "%s: the reason is visible (%s)", cases[i].name, r ? r : "(null)");
		}
		msb_sandbox_free(sb);
	}

	/* What the vm backend cannot do yet (host volumes) is named, whether
	 * or not this host could run a microVM: untrusted code fails closed,
	 * and with the fallback allowed it runs in os and says why. */
	msb_volume vol = { "/tmp", "/mnt", 1 };
	for (int fallback = 0; fallback <= 1; fallback++) {
		msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
		msb_sandbox *sb = NULL;
		o.trust = MSB_TRUST_UNTRUSTED;
		o.allow_fallback = fallback;
		o.volumes = &vol;
		o.volumes_len = 1;
		int rc = msb_sandbox_create(&sb, &o);
		if (!fallback) {
			is_int(rc, MSB_EUNSUPPORTED, "untrusted code with a host volume fails closed");
			const msb_error *e = msb_error_last();
			ok(strstr(e->message, "host volumes") && e->hint[0],
			   "... naming host volumes, with a hint (%s / %s)", e->message, e->hint);
		} else if (is_int(rc, 0, "untrusted code with a host volume, fallback allowed: created")) {
			const char *r = msb_sandbox_backend_reason(sb);
			ok(msb_sandbox_backend(sb) == MSB_BACKEND_OS && r && strstr(r, "host volumes"),
			   "... in os, saying the vm backend cannot do host volumes (%s)", r ? r : "(null)");
		}
		msb_sandbox_free(sb);
	}
	{
		msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
		msb_sandbox *sb = NULL;
		o.backend = MSB_BACKEND_VM;
		o.volumes = &vol;
		o.volumes_len = 1;
		is_int(msb_sandbox_create(&sb, &o), MSB_EUNSUPPORTED,
		       "the vm backend refuses a host volume");
		const msb_error *e = msb_error_last();
		ok(e->hint[0] && (hi.vm_ready ? strstr(e->message, "host volumes") != NULL
					      : strstr(e->message, "cannot run on this host") != NULL),
		   "... saying why (%s / %s)", e->message, e->hint);
		msb_sandbox_free(sb);
	}

	msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
	msb_sandbox *sb = NULL;
	o.trust = (msb_trust)7;
	is_int(msb_sandbox_create(&sb, &o), MSB_EINVAL, "an unknown trust level is refused");
	o.trust = MSB_TRUST_UNTRUSTED;
	o.backend = MSB_BACKEND_OS;
	if (is_int(msb_sandbox_create(&sb, &o), 0, "an explicit os backend overrides the trust level"))
		is_str(msb_sandbox_backend_reason(sb), "os (asked for)", "... and says so");
	msb_sandbox_free(sb);
}

static void *stop_thread(void *arg)
{
	msb_sandbox *sb = arg;
	usleep(300 * 1000);
	msb_sandbox_stop(sb, 200);
	return NULL;
}

static void test_lifecycle(void)
{
	msb_sandbox *sb = NULL, *sb2 = NULL;
	msb_sandbox_options o = msbt_options();

	int rc = msb_sandbox_create(&sb, &o);
	if (!is_int(rc, 0, "create with defaults")) {
		msbt_diag_error("create", rc);
		bail_out("cannot create a sandbox");
	}
	is_int(msb_sandbox_status(sb), MSB_STATUS_CREATED, "a new sandbox is CREATED");
	ok(is_generated_name(msb_sandbox_name(sb)),
	   "default name is \"msb-\" + 8 hex digits (%s)", msb_sandbox_name(sb));
	is_int(msb_sandbox_enforcement(sb, MSB_LIMIT_MEMORY), MSB_ENFORCE_NONE,
	       "enforcement before start is NONE");
	is_str(msb_sandbox_exit_reason(sb), "", "exit reason of a created sandbox is empty");

	is_int(msb_sandbox_create(&sb2, &o), 0, "create a second sandbox");
	ok(sb2 && strcmp(msb_sandbox_name(sb), msb_sandbox_name(sb2)) != 0,
	   "two generated names differ");
	msb_sandbox_free(sb2); /* never started: free without stop */
	sb2 = NULL;

	uint64_t t0 = msbt_now_ms();
	rc = msb_sandbox_start(sb);
	if (!is_int(rc, 0, "start")) {
		msbt_diag_error("start", rc);
		bail_out("cannot start a sandbox");
	}
	diag("start took %llu ms", (unsigned long long)(msbt_now_ms() - t0));
	is_int(msb_sandbox_status(sb), MSB_STATUS_RUNNING, "a started sandbox is RUNNING");
	is_int(msb_sandbox_backend(sb), MSB_BACKEND_OS, "AUTO resolves to the os backend here");
	for (int l = MSB_LIMIT_MEMORY; l <= MSB_LIMIT_DISK; l++) {
		msb_enforcement e = msb_sandbox_enforcement(sb, (msb_limit)l);
		diag("limit %d enforced by %s", l, msb_enforcement_name(e));
	}
	ok(msb_sandbox_enforcement(sb, MSB_LIMIT_MEMORY) != MSB_ENFORCE_NONE,
	   "the memory limit is enforced somehow");
	ok(msb_sandbox_enforcement(sb, MSB_LIMIT_PIDS) != MSB_ENFORCE_NONE,
	   "the pids limit is enforced somehow");
	ok(msb_sandbox_enforcement(sb, MSB_LIMIT_DISK) != MSB_ENFORCE_NONE,
	   "the disk limit is enforced somehow");
	is_int(msb_sandbox_start(sb), MSB_ESTATE, "starting a running sandbox is MSB_ESTATE");
	is_int(msb_sandbox_status(sb), MSB_STATUS_RUNNING, "... and it keeps running");

	int code;
	char *out = msbt_output(sb, (const char *const[]){"echo", "alive", NULL}, &code);
	ok(code == 0 && !strcmp(out, "alive\n"), "a command runs in the started sandbox");
	free(out);

	rc = msb_sandbox_stop(sb, -1);
	is_int(rc, 0, "stop");
	is_int(msb_sandbox_status(sb), MSB_STATUS_STOPPED, "a stopped sandbox is STOPPED");
	is_int(msb_sandbox_stop(sb, -1), 0, "stop again is fine (idempotent)");
	is_int(msb_sandbox_status(sb), MSB_STATUS_STOPPED, "... and it stays STOPPED");
	is_str(msb_sandbox_exit_reason(sb), "", "a stopped sandbox has no exit reason");

	msb_command_result *res = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = (const char *const[]){"true", NULL};
	is_int(msb_command_run(&res, sb, &co), MSB_ESTATE,
	       "a command on a stopped sandbox is MSB_ESTATE");
	ok(res == NULL, "... and gives no result");
	msb_command_result_free(res);
	is_int(msb_sandbox_start(sb), MSB_ESTATE, "restarting a stopped sandbox is MSB_ESTATE");
	msb_sandbox_free(sb);

	/* stop on a never-started sandbox */
	sb = NULL;
	is_int(msb_sandbox_create(&sb, &o), 0, "create another");
	is_int(msb_sandbox_stop(sb, 0), 0, "stop a created sandbox");
	ok(msb_sandbox_status(sb) == MSB_STATUS_STOPPED,
	   "a created-then-stopped sandbox is STOPPED");
	is_int(msb_sandbox_start(sb), MSB_ESTATE, "a stopped sandbox cannot start");
	msb_sandbox_free(sb);

	/* a custom name; free a running sandbox without stopping it */
	o.name = "lifecycle-test";
	sb = msbt_start(&o);
	ok(sb != NULL, "start a named sandbox");
	is_str(msb_sandbox_name(sb), "lifecycle-test", "the name is the caller's");
	msb_sandbox_free(sb);
	ok(1, "free a running sandbox");

	/* a hostile name is only a label: it must not reach paths */
	o.name = "../../x y/z;$(id)";
	sb = msbt_start(&o);
	ok(sb != NULL, "a sandbox named \"%s\" starts", o.name);
	is_str(msb_sandbox_name(sb), o.name, "... and keeps its name verbatim");
	if (sb) {
		out = msbt_output(sb, (const char *const[]){"echo", "ok", NULL}, &code);
		is_str(out, "ok\n", "... and runs commands");
		free(out);
	} else {
		skip(1, "no sandbox");
	}
	msb_sandbox_free(sb);
	o.name = NULL;

	/* stop while a command runs on another thread: the command returns */
	sb = msbt_start(&o);
	if (!sb) {
		skip(3, "could not start a sandbox");
		return;
	}
	pthread_t th;
	pthread_create(&th, NULL, stop_thread, sb);
	res = NULL;
	co.argv = (const char *const[]){"sleep", "30", NULL};
	t0 = msbt_now_ms();
	rc = msb_command_run(&res, sb, &co);
	uint64_t took = msbt_now_ms() - t0;
	pthread_join(th, NULL);
	ok(took < 10000, "a command returns when the sandbox is stopped under it (%llu ms)",
	   (unsigned long long)took);
	ok(rc != 0 || (res && (res->signal != 0 || res->exit_code != 0)),
	   "... and does not report success (rc %d)", rc);
	if (rc == 0 && res)
		diag("result: exit %d signal %d", res->exit_code, res->signal);
	is_int(msb_sandbox_status(sb), MSB_STATUS_STOPPED, "... and the sandbox is STOPPED");
	msb_command_result_free(res);
	msb_sandbox_free(sb);
}

int main(void)
{
	msbt_watchdog(60);
	test_static_api();
	test_host_probe();
	test_routing();
	const char *why = msbt_sandbox_unavailable();
	if (why)
		skip(1, "%s", why);
	else
		test_lifecycle();
	return done_testing();
}
