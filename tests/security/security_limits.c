/*
 * security_limits.c - resource attacks: a fork bomb, a memory bomb, a CPU
 * spin, a disk filler, and the sandbox's wall-time limit. Each is stopped
 * by the limit, the host stays responsive, and the limit's enforcement is
 * named in the test so that a weaker (rlimit) run says so.
 */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

extern char **environ;

/* fork+exec /bin/true from the test process; milliseconds it took, or -1 */
static long host_spawn_ms(void)
{
	uint64_t t0 = msbt_now_ms();
	pid_t pid;
	char *argv[] = {"/bin/true", NULL};
	if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
		return -1;
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return (long)(msbt_now_ms() - t0);
}

static int run(msb_command_result **res, msb_sandbox *sb, const char *const *argv,
	       int64_t timeout_ms)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = argv;
	co.timeout_ms = timeout_ms;
	*res = NULL;
	int rc = msb_command_run(res, sb, &co);
	if (rc)
		msbt_diag_error(argv[0], rc);
	else if ((*res)->err.len)
		diag("stderr: %.*s", (int)((*res)->err.len > 300 ? 300 : (*res)->err.len),
		     (const char *)(*res)->err.ptr);
	return rc;
}

static char *out_str(const msb_command_result *res)
{
	char *s = malloc(res->out.len + 1);
	memcpy(s, res->out.ptr, res->out.len);
	s[res->out.len] = '\0';
	return s;
}

/* Run echo until it works again (processes of a bomb may still be
 * exiting); 1 when it did within ~3 s. */
static int sandbox_usable(msb_sandbox *sb)
{
	for (int i = 0; i < 30; i++) {
		msb_command_result *res = NULL;
		msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
		co.argv = ARGV("echo", "ok");
		co.timeout_ms = 2000;
		int rc = msb_command_run(&res, sb, &co);
		int good = !rc && res->exit_code == 0 && res->out.len == 3;
		msb_command_result_free(res);
		if (good)
			return 1;
		usleep(100 * 1000);
	}
	return 0;
}

struct watch {
	volatile int stop;
	long worst_ms;
	int failures;
	int samples;
};

static void *watch_host(void *arg)
{
	struct watch *w = arg;
	while (!w->stop) {
		long ms = host_spawn_ms();
		if (ms < 0)
			w->failures++;
		else if (ms > w->worst_ms)
			w->worst_ms = ms;
		w->samples++;
		usleep(100 * 1000);
	}
	return NULL;
}

static void test_forkbomb(void)
{
	msb_sandbox_options o = msbt_options();
	o.pids = 32;
	msb_sandbox *sb = msbt_start(&o);
	if (!sb) {
		ok(0, "start a sandbox with pids = 32");
		return;
	}
	const char *how = msb_enforcement_name(msb_sandbox_enforcement(sb, MSB_LIMIT_PIDS));
	msb_command_result *res;

	/* linear: count how many processes fit */
	if (!run(&res, sb, ARGV(MSBT_PROBE, "forkbomb", "10000"), 20000)) {
		char *out = out_str(res);
		long n = -1;
		char err[32] = "";
		sscanf(out, "forked %ld %31s", &n, err);
		ok(!strcmp(err, "EAGAIN") && n >= 0 && n < 32,
		   "[pids by %s] fork fails with EAGAIN below the pids limit (forked %ld, %s)",
		   how, n, err);
		free(out);
	} else {
		ok(0, "[pids by %s] the linear fork bomb ran", how);
	}
	msb_command_result_free(res);

	/* exponential, for 2 s, while the host is watched */
	struct watch w = {0, 0, 0, 0};
	pthread_t th;
	pthread_create(&th, NULL, watch_host, &w);
	uint64_t t0 = msbt_now_ms();
	int rc = run(&res, sb, ARGV(MSBT_PROBE, "forkbomb-exp", "2000"), 20000);
	uint64_t took = msbt_now_ms() - t0;
	w.stop = 1;
	pthread_join(th, NULL);
	if (!rc) {
		char *out = out_str(res);
		long failed = -1;
		sscanf(out, "failed-forks %ld", &failed);
		ok(failed > 0, "[pids by %s] the fork bomb hits the limit (%ld failed forks)",
		   how, failed);
		ok(!res->timed_out && took < 15000,
		   "[pids by %s] the fork bomb's command ends (%llu ms)", how,
		   (unsigned long long)took);
		free(out);
	} else {
		ok(0, "[pids by %s] the fork bomb ran", how);
		skip(1, "no result");
	}
	msb_command_result_free(res);
	ok(w.failures == 0 && w.samples > 0 && w.worst_ms < 2000,
	   "the host can fork/exec during the bomb (%d samples, worst %ld ms, %d failures)",
	   w.samples, w.worst_ms, w.failures);
	long ms = host_spawn_ms();
	ok(ms >= 0 && ms < 1000, "the host can fork/exec /bin/true after the bomb (%ld ms)", ms);
	ok(sandbox_usable(sb), "the sandbox runs commands again after the bomb");
	msb_sandbox_free(sb);
}

static void test_membomb(void)
{
	msb_sandbox_options o = msbt_options();
	o.memory_bytes = 64ll << 20;
	msb_sandbox *sb = msbt_start(&o);
	if (!sb) {
		ok(0, "start a sandbox with memory = 64 MiB");
		return;
	}
	msb_enforcement e = msb_sandbox_enforcement(sb, MSB_LIMIT_MEMORY);
	msb_command_result *res;
	if (run(&res, sb, ARGV(MSBT_PROBE, "membomb", "1024"), 30000)) {
		ok(0, "[memory by %s] the memory bomb ran", msb_enforcement_name(e));
		msb_sandbox_free(sb);
		return;
	}
	char *out = out_str(res);
	long last = 0;
	for (char *p = out; (p = strstr(p, "allocated ")); p++)
		last = atol(p + 10);
	diag("membomb: exit %d signal %d, last allocated %ld MiB, tail: %s",
	     res->exit_code, res->signal, last,
	     strlen(out) > 60 ? out + strlen(out) - 60 : out);
	ok(!strstr(out, "survived"), "[memory by %s] 1 GiB cannot be allocated under a 64 MiB limit",
	   msb_enforcement_name(e));
	ok(last < 64, "[memory by %s] less than 64 MiB was touched (%ld MiB)",
	   msb_enforcement_name(e), last);
	if (e == MSB_ENFORCE_CGROUP) {
		is_int(res->signal, SIGKILL, "[memory by cgroup] the bomb is OOM-killed (SIGKILL)");
		ok(!res->timed_out, "[memory by cgroup] ... by the limit, not the timeout");
	} else if (e == MSB_ENFORCE_RLIMIT) {
		ok(res->exit_code == 3 && strstr(out, "ENOMEM after"),
		   "[memory by rlimit] allocation fails and the bomb exits non-zero (exit %d)",
		   res->exit_code);
		ok(!res->timed_out, "[memory by rlimit] ... by the limit, not the timeout");
	} else {
		ok(0, "the memory limit is enforced (%s)", msb_enforcement_name(e));
		skip(1, "no enforcement");
	}
	free(out);
	msb_command_result_free(res);
	ok(sandbox_usable(sb), "[memory by %s] the sandbox survives the bomb",
	   msb_enforcement_name(e));
	ok(host_spawn_ms() >= 0, "the host is fine after the memory bomb");
	msb_sandbox_free(sb);
}

static void test_cpu_and_disk(void)
{
	msb_sandbox_options o = msbt_options();
	o.cpus = 0.5;
	o.disk_bytes = 8ll << 20;
	msb_sandbox *sb = msbt_start(&o);
	if (!sb) {
		ok(0, "start a sandbox with cpus 0.5 and 8 MiB of disk");
		return;
	}
	msb_command_result *res;

	/* a spin past the command timeout is killed */
	uint64_t t0 = msbt_now_ms();
	if (!run(&res, sb, ARGV(MSBT_PROBE, "spin"), 500)) {
		uint64_t took = msbt_now_ms() - t0;
		ok(res->timed_out && res->signal != 0 && res->exit_code == -1,
		   "a CPU spin past its timeout is killed (timed_out %d, signal %d)",
		   res->timed_out, res->signal);
		ok(took < 5000, "... soon after the timeout (%llu ms)", (unsigned long long)took);
	} else {
		skip(2, "the spin did not run");
	}
	msb_command_result_free(res);

	/* cpus = 0.5: a spinning process gets about half a CPU */
	msb_enforcement ce = msb_sandbox_enforcement(sb, MSB_LIMIT_CPU);
	if (ce == MSB_ENFORCE_CGROUP) {
		if (!run(&res, sb, ARGV(MSBT_PROBE, "spin", "1500"), 10000)) {
			char *out = out_str(res);
			unsigned long long cpu = 0, wall = 1;
			sscanf(out, "spun %llu %llu", &cpu, &wall);
			ok(wall > 0 && cpu * 100 / wall < 75,
			   "[cpu by cgroup] cpus 0.5 throttles a spinning process "
			   "(%llu ms CPU in %llu ms)", cpu, wall);
			free(out);
		} else {
			ok(0, "[cpu by cgroup] the spin ran");
		}
		msb_command_result_free(res);
	} else {
		skip(1, "the cpu limit is enforced by %s, not a cgroup",
		     msb_enforcement_name(ce));
	}

	/* disk: 8 MiB of writable area */
	const char *how = msb_enforcement_name(msb_sandbox_enforcement(sb, MSB_LIMIT_DISK));
	if (!run(&res, sb, ARGV(MSBT_PROBE, "writebig", "/tmp/fill", "64"), 20000)) {
		char *out = out_str(res);
		long n = -1;
		char err[32] = "";
		sscanf(out, "%31s after %ld", err, &n);
		ok(!strcmp(err, "ENOSPC") && n >= 0 && n <= 8,
		   "[disk by %s] writing 64 MiB into an 8 MiB sandbox fails with ENOSPC (%s)",
		   how, msbt_chomp(out));
		free(out);
	} else {
		ok(0, "[disk by %s] the disk filler ran", how);
	}
	msb_command_result_free(res);
	if (!run(&res, sb, ARGV(MSBT_PROBE, "writebig", "/workspace/fill2", "16"), 20000)) {
		char *out = out_str(res);
		ok(strncmp(out, "OK", 2) != 0,
		   "[disk by %s] /workspace shares the limit (%s)", how, msbt_chomp(out));
		free(out);
	} else {
		ok(0, "[disk by %s] the second disk filler ran", how);
	}
	msb_command_result_free(res);
	ok(sandbox_usable(sb), "the sandbox still runs commands with a full disk");
	msb_sandbox_free(sb);
}

/* Empty files take no page of the disk, but each takes an inode: kernel
 * memory. An 8 MiB sandbox's writable area holds at most 8192 of them. */
static void test_inode_bomb(void)
{
	msb_sandbox_options o = msbt_options();
	msb_sandbox *sb = NULL;
	int code;

	o.disk_bytes = 8ll << 20;
	if (msb_sandbox_create(&sb, &o) || msb_sandbox_start(sb)) {
		ok(0, "start a sandbox with 8 MiB of disk for the inode bomb");
		skip(2, "no sandbox");
		msb_sandbox_free(sb);
		return;
	}
	char *out = msbt_output(sb, ARGV("sh", "-c",
		"mkdir /tmp/bomb && cd /tmp/bomb && i=0; "
		"while [ $i -lt 30000 ] && true > f$i 2>/dev/null; do i=$((i+1)); done; echo $i"), &code);
	long made = strtol(out, NULL, 10);
	ok(code == 0 && made >= 8000 && made <= 8192,
	   "inode bomb: 30000 empty files in an 8 MiB sandbox stop at its inode bound "
	   "(%ld made; the bound is 8192 inodes)", made);
	free(out);
	out = msbt_output(sb, ARGV("sh", "-c", "rm -rf /tmp/bomb && : > /tmp/after && echo OK"), &code);
	is_str(msbt_chomp(out), "OK", "... and once they are removed, files can be made again");
	free(out);
	ok(sandbox_usable(sb), "the sandbox still runs commands after the inode bomb");
	msb_sandbox_free(sb);
}

static void test_wall_time(void)
{
	msb_sandbox_options o = msbt_options();
	o.timeout_ms = 1000;
	msb_sandbox *sb = msbt_start(&o);
	if (!sb) {
		ok(0, "start a sandbox with a 1 s wall-time limit");
		return;
	}
	msb_enforcement e = msb_sandbox_enforcement(sb, MSB_LIMIT_TIME);
	ok(e != MSB_ENFORCE_NONE, "the wall-time limit is enforced (%s)",
	   msb_enforcement_name(e));

	msb_command_result *res = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("sleep", "30");
	uint64_t t0 = msbt_now_ms();
	int rc = msb_command_run(&res, sb, &co);
	uint64_t took = msbt_now_ms() - t0;
	ok(took < 6000, "a command running past the wall-time limit returns (%llu ms)",
	   (unsigned long long)took);
	ok(rc != 0 || (res && (res->signal || res->exit_code)),
	   "... and does not look like a success (rc %d)", rc);
	msb_command_result_free(res);

	for (int i = 0; i < 50 && msb_sandbox_status(sb) == MSB_STATUS_RUNNING; i++)
		usleep(100 * 1000);
	is_int(msb_sandbox_status(sb), MSB_STATUS_EXITED,
	       "the sandbox ends with status EXITED");
	const char *why = msb_sandbox_exit_reason(sb);
	ok(why && why[0], "and says why (\"%s\")", why ? why : "(null)");
	res = NULL;
	co.argv = ARGV("true");
	rc = msb_command_run(&res, sb, &co);
	ok(rc == MSB_ESTATE || rc == MSB_ESANDBOX,
	   "a command on the exited sandbox fails with MSB_ESTATE or MSB_ESANDBOX (%d)", rc);
	msb_command_result_free(res);
	msb_metrics m = MSB_METRICS_INIT;
	ok(msb_sandbox_metrics(&m, sb) == 0 && m.running == 0,
	   "metrics of the exited sandbox say not running");
	is_int(msb_sandbox_stop(sb, 0), 0, "stop on an exited sandbox is fine");
	msb_sandbox_free(sb);
}

int main(void)
{
	msbt_watchdog(100);
	msbt_require_sandboxes();
	test_forkbomb();
	test_membomb();
	test_cpu_and_disk();
	test_inode_bomb();
	test_wall_time();
	return done_testing();
}
