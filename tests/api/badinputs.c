/*
 * badinputs.c - every entry point refuses bad arguments with the right code,
 * a message and a hint, and never crashes.
 */
#include <math.h>
#include <pthread.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The call returned `want`, and msb_error_last() agrees and explains. */
static void check_err(int rc, int want, int need_hint, const char *what)
{
	const msb_error *e = msb_error_last();
	if (!is_int(rc, want, "%s -> %s", what, msb_strerror(want))) {
		if (rc)
			msbt_diag_error(what, rc);
		return;
	}
	ok(e->code == want && e->message && e->message[0] && e->hint,
	   "%s: msb_error_last() has the code and a message", what);
	if (need_hint)
		ok(e->hint[0] != '\0', "%s: the hint is not empty (\"%s\")", what, e->hint);
}

static void create_fails(const msb_sandbox_options *o, int want, const char *what)
{
	msb_sandbox *sb = (msb_sandbox *)(uintptr_t)1; /* must be reset */
	int rc = msb_sandbox_create(&sb, o);
	check_err(rc, want, 1, what);
	ok(sb == NULL, "%s: *out is NULL after the failure", what);
	if (rc == 0 && sb != (msb_sandbox *)(uintptr_t)1)
		msb_sandbox_free(sb);
}

static void test_null_handles(void)
{
	msb_command_result *res = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_metrics m = MSB_METRICS_INIT;
	co.argv = ARGV("true");

	check_err(msb_sandbox_start(NULL), MSB_EINVAL, 1, "msb_sandbox_start(NULL)");
	check_err(msb_sandbox_stop(NULL, 0), MSB_EINVAL, 1, "msb_sandbox_stop(NULL)");
	check_err(msb_command_run(&res, NULL, &co), MSB_EINVAL, 1, "msb_command_run(sb NULL)");
	check_err(msb_sandbox_metrics(&m, NULL), MSB_EINVAL, 1, "msb_sandbox_metrics(sb NULL)");
	check_err(msb_sandbox_create(NULL, NULL), MSB_EINVAL, 1, "msb_sandbox_create(out NULL)");
	check_err(msb_sandbox_options_init(NULL, MSB_SANDBOX_OPTIONS_VERSION), MSB_EINVAL, 0,
		  "msb_sandbox_options_init(NULL)");
	check_err(msb_command_options_init(NULL, MSB_COMMAND_OPTIONS_VERSION), MSB_EINVAL, 0,
		  "msb_command_options_init(NULL)");
	check_err(msb_host_probe(NULL), MSB_EINVAL, 0, "msb_host_probe(NULL)");

	msb_error_clear();
	is_int(msb_error_last()->code, MSB_OK, "msb_error_clear() resets the code");
}

static void test_versions(void)
{
	msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
	o.version = 999;
	create_fails(&o, MSB_EVERSION, "sandbox options version 999");
	o.version = 0;
	create_fails(&o, MSB_EVERSION, "sandbox options version 0");

	msb_sandbox_options o2;
	check_err(msb_sandbox_options_init(&o2, 999), MSB_EVERSION, 1,
		  "msb_sandbox_options_init(version 999)");
	msb_command_options c2;
	check_err(msb_command_options_init(&c2, 999), MSB_EVERSION, 1,
		  "msb_command_options_init(version 999)");
	msb_host_info hi;
	memset(&hi, 0, sizeof hi);
	hi.version = 999;
	check_err(msb_host_probe(&hi), MSB_EVERSION, 0, "msb_host_probe(version 999)");
}

static void test_bad_options(void)
{
	msb_sandbox_options o;
	msb_volume vol;

#define BAD(field, value, what)                                  \
	do {                                                     \
		o = msbt_options();                              \
		o.field = value;                                 \
		create_fails(&o, MSB_EINVAL, what);              \
	} while (0)

	BAD(memory_bytes, -1, "negative memory");
	BAD(pids, -5, "negative pids");
	BAD(cpus, -1.0, "negative cpus");
	BAD(cpus, NAN, "NaN cpus");
	BAD(disk_bytes, -1, "negative disk");
	BAD(timeout_ms, -100, "negative sandbox timeout");
	BAD(workdir, "relative/dir", "relative workdir");
	BAD(name, "", "empty name");
	BAD(env, ARGV("NOEQUALS"), "sandbox env entry without '='");
	BAD(backend, (msb_backend)77, "unknown backend");
	BAD(hostname, "", "empty hostname");
	BAD(hostname, "-web", "hostname label starting with '-'");
	BAD(hostname, "web-", "hostname label ending with '-'");
	BAD(hostname, "a..b", "hostname with an empty label");
	BAD(hostname, "web.", "hostname ending with a dot");
	BAD(hostname, "has space", "hostname with a space");
	BAD(hostname, "under_score", "hostname with '_'");
	BAD(hostname, "a123456789b123456789c123456789d123456789e123456789f123456789g123",
	    "hostname of 64 characters");

	/* Good hostnames are taken; a version 3 caller has no hostname field
	 * and gets the name. */
	{
		static const char *const good[] = { "web-1", "a.b-c.d9", "X",
			"a123456789b123456789c123456789d123456789e123456789f123456789g12" };
		for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
			msb_sandbox *sb = NULL;

			o = msbt_options();
			o.hostname = good[i];
			ok(msb_sandbox_create(&sb, &o) == 0, "hostname \"%s\" is taken", good[i]);
			msb_sandbox_free(sb);
		}
		msb_sandbox *sb = NULL;
		o = msbt_options();
		o.version = 3;
		o.hostname = "";
		ok(msb_sandbox_create(&sb, &o) == 0,
		   "a version 3 caller's options never read the hostname field");
		msb_sandbox_free(sb);
	}

	o = msbt_options();
	o.volumes = NULL;
	o.volumes_len = 2;
	create_fails(&o, MSB_EINVAL, "volumes NULL with volumes_len 2");

	o = msbt_options();
	vol.host_path = msbt_dir();
	vol.sandbox_path = "relative/path";
	vol.read_only = 1;
	o.volumes = &vol;
	o.volumes_len = 1;
	create_fails(&o, MSB_EINVAL, "volume with a relative sandbox path");

	vol.sandbox_path = "/data/../../etc";
	create_fails(&o, MSB_EINVAL, "volume sandbox path with ..");

	vol.sandbox_path = "/";
	create_fails(&o, MSB_EINVAL, "volume mounted over /");

	vol.sandbox_path = "/data";
	vol.host_path = "relative/host";
	create_fails(&o, MSB_EINVAL, "volume with a relative host path");

	vol.host_path = "/nonexistent/msb-test-no-such-dir";
	{
		msb_sandbox *sb = NULL;
		int rc = msb_sandbox_create(&sb, &o);
		ok(rc == MSB_EINVAL || rc == MSB_ENOTFOUND,
		   "volume with a missing host path -> MSB_EINVAL or MSB_ENOTFOUND (%d)", rc);
		msb_sandbox_free(sb);
	}

	o = msbt_options();
	o.rootfs = "/nonexistent/msb-test-rootfs";
	{
		msb_sandbox *sb = NULL;
		int rc = msb_sandbox_create(&sb, &o);
		ok(rc == MSB_EINVAL || rc == MSB_ENOTFOUND,
		   "missing rootfs -> MSB_EINVAL or MSB_ENOTFOUND (%d)", rc);
		msb_sandbox_free(sb);
	}
#undef BAD
}

static void test_vm_backend(void)
{
	msb_host_info hi;
	memset(&hi, 0, sizeof hi);
	hi.version = MSB_HOST_INFO_VERSION;
	msb_host_probe(&hi);
	if (hi.kvm_standard_guest) {
		skip(3, "this host can run the vm backend");
		return;
	}
	msb_sandbox_options o = msbt_options();
	o.backend = MSB_BACKEND_VM;
	msb_sandbox *sb = NULL;
	int rc = msb_sandbox_create(&sb, &o);
	if (rc == 0) /* may also be refused at start */
		rc = msb_sandbox_start(sb);
	check_err(rc, MSB_EUNSUPPORTED, 1, "backend VM on a host without a usable KVM");
	msb_sandbox_free(sb);
}

/* file scope: a compound literal inside a macro's block would die with it */
static const char *const argv_true[] = {"true", NULL};

static void test_commands(void)
{
	msb_sandbox *sb = NULL;
	msb_sandbox_options o = msbt_options();
	msb_command_result *res = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;

	if (msb_sandbox_create(&sb, &o)) {
		skip(1, "cannot create a sandbox");
		return;
	}
	co.argv = ARGV("true");
	check_err(msb_command_run(&res, sb, &co), MSB_ESTATE, 1,
		  "a command on a not-started sandbox");
	ok(res == NULL, "no result after a failed run");
	msb_command_result_free(res);
	res = NULL;

	if (msb_sandbox_start(sb)) {
		msbt_diag_error("start", -1);
		msb_sandbox_free(sb);
		bail_out("cannot start a sandbox");
	}

#define RUN_FAILS(want, what)                                            \
	do {                                                             \
		res = NULL;                                              \
		check_err(msb_command_run(&res, sb, &co), want, 0, what); \
		msb_command_result_free(res);                            \
		co = (msb_command_options)MSB_COMMAND_OPTIONS_INIT;      \
		co.argv = argv_true;                                     \
	} while (0)

	co.argv = NULL;
	RUN_FAILS(MSB_EINVAL, "NULL argv");
	co.argv = (const char *const[]){NULL};
	RUN_FAILS(MSB_EINVAL, "empty argv");
	co.argv = ARGV("");
	RUN_FAILS(MSB_EINVAL, "empty argv[0]");
	co.argv = ARGV("msb-no-such-program-xyz");
	RUN_FAILS(MSB_ENOTFOUND, "unknown program");
	co.argv = ARGV("/no/such/program");
	RUN_FAILS(MSB_ENOTFOUND, "unknown absolute program");
	co.cwd = "/no/such/dir";
	RUN_FAILS(MSB_EINVAL, "nonexistent cwd");
	co.cwd = "relative";
	RUN_FAILS(MSB_EINVAL, "relative cwd");
	co.timeout_ms = -1;
	RUN_FAILS(MSB_EINVAL, "negative command timeout");
	co.output_cap = -1;
	RUN_FAILS(MSB_EINVAL, "negative output cap");
	co.stdin_data = NULL;
	co.stdin_len = 10;
	RUN_FAILS(MSB_EINVAL, "stdin_data NULL with stdin_len 10");
	co.env = ARGV("=nokey");
	RUN_FAILS(MSB_EINVAL, "command env entry without a key");
	co.version = 999;
	RUN_FAILS(MSB_EVERSION, "command options version 999");
	check_err(msb_command_run(&res, sb, NULL), MSB_EINVAL, 1, "NULL command options");
	check_err(msb_command_run(NULL, sb, &co), MSB_EINVAL, 1, "NULL result pointer");
#undef RUN_FAILS

	/* after all that, the sandbox still works */
	int code;
	char *out = msbt_output(sb, ARGV("echo", "fine"), &code);
	ok(code == 0 && !strcmp(out, "fine\n"), "the sandbox still works after bad commands");
	free(out);
	msb_sandbox_free(sb);
}

static int other_thread_code = 12345;

static void *other_thread(void *arg)
{
	(void)arg;
	other_thread_code = msb_error_last()->code;
	return NULL;
}

static void test_thread_local(void)
{
	msb_sandbox_start(NULL); /* raises MSB_EINVAL here */
	pthread_t th;
	pthread_create(&th, NULL, other_thread, NULL);
	pthread_join(th, NULL);
	is_int(other_thread_code, MSB_OK, "the last error is thread-local (a new thread sees MSB_OK)");
	is_int(msb_error_last()->code, MSB_EINVAL, "... while this thread still sees its error");
}

int main(void)
{
	msbt_watchdog(60);
	test_null_handles();
	test_versions();
	test_bad_options();
	test_vm_backend();
	test_thread_local();
	const char *why = msbt_sandbox_unavailable();
	if (why)
		skip(1, "%s", why);
	else
		test_commands();
	return done_testing();
}
