/*
 * metrics.c - msb_sandbox_metrics(): running, pids, memory, uptime, disk,
 * cpu, and what a stopped sandbox reports; a detached sandbox's uptime
 * counts from its start, not from when a later handle connected.
 */
#include <pthread.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static int get(msb_metrics *m, msb_sandbox *sb)
{
	msb_metrics init = MSB_METRICS_INIT;
	*m = init;
	int rc = msb_sandbox_metrics(m, sb);
	if (rc)
		msbt_diag_error("msb_sandbox_metrics", rc);
	else
		diag("metrics: running %d cpu %.1f%% mem %llu disk %llu pids %u uptime %llu ms",
		     m->running, m->cpu_percent, (unsigned long long)m->memory_bytes,
		     (unsigned long long)m->disk_bytes, m->pids,
		     (unsigned long long)m->uptime_ms);
	return rc;
}

static void *sleeper(void *arg)
{
	msb_command_result *res = NULL;
	msbt_run(&res, arg, ARGV("sleep", "1.5"));
	msb_command_result_free(res);
	return NULL;
}

static void *spinner(void *arg)
{
	msb_command_result *res = NULL;
	msbt_run(&res, arg, ARGV(MSBT_PROBE, "spin", "3000"));
	msb_command_result_free(res);
	return NULL;
}

/* A detached sandbox, 1.5 s old when a new handle connects to it. */
static void uptime_of_detached(void)
{
	char dir[] = "/tmp/msb-metrics-XXXXXX";
	msb_sandbox_options o = msbt_options();
	msb_sandbox *sb = NULL, *later = NULL;
	msb_metrics m;

	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	setenv("MSB_STATE_DIR", dir, 1);
	o.name = "uptime";
	o.detached = 1;
	if (msb_sandbox_create(&sb, &o) || msb_sandbox_start(sb)) {
		msbt_diag_error("detached start", msb_error_last()->code);
		skip(1, "no detached sandbox");
	} else {
		usleep(1500 * 1000);
		m.uptime_ms = 0;
		int got = msb_sandbox_connect(&later, "uptime") == 0 && get(&m, later) == 0;
		if (!ok(got && m.uptime_ms >= 1500,
			"a handle that connects later sees the sandbox's uptime (%llu ms, "
			"at least 1500)", (unsigned long long)m.uptime_ms))
			msbt_diag_error("connect", msb_error_last()->code);
		msb_sandbox_free(later);
		msb_sandbox_stop(sb, -1);
	}
	msb_sandbox_free(sb);
	msb_sandbox_remove("uptime");
	unsetenv("MSB_STATE_DIR");
	rmdir(dir);
}

int main(void)
{
	msbt_watchdog(60);
	msbt_require_sandboxes();

	msb_metrics m;
	msb_sandbox *sb = NULL;
	msb_sandbox_options o = msbt_options();

	is_int(msb_sandbox_create(&sb, &o), 0, "create");
	is_int(get(&m, sb), 0, "metrics of a created sandbox is not an error");
	is_int(m.running, 0, "... and says not running");

	m.version = 999;
	is_int(msb_sandbox_metrics(&m, sb), MSB_EVERSION, "metrics version 999 is MSB_EVERSION");
	m.version = 0;
	is_int(msb_sandbox_metrics(&m, sb), MSB_EVERSION, "metrics version 0 is MSB_EVERSION");

	if (msb_sandbox_start(sb)) {
		msbt_diag_error("start", -1);
		bail_out("cannot start a sandbox");
	}

	if (is_int(get(&m, sb), 0, "metrics of a running sandbox")) {
		ok(m.running, "running is set");
		ok(m.pids >= 1, "pids >= 1 (the agent counts) (%u)", m.pids);
		ok(m.memory_bytes > 0, "memory > 0");
		ok(m.cpu_percent >= 0, "cpu_percent >= 0");
		ok(m.host_memory_bytes >= m.memory_bytes && m.host_memory_bytes > 0,
		   "host_memory_bytes: what it costs the host, at least its memory (%llu)",
		   (unsigned long long)m.host_memory_bytes);
	} else {
		skip(5, "no metrics");
	}
	{
		/* a version-1 caller's struct ends before host_memory_bytes */
		struct { msb_metrics m; } v1;
		memset(&v1, 0x5a, sizeof v1);
		v1.m.version = 1;
		int rc = msb_sandbox_metrics(&v1.m, sb);
		ok(rc == 0 && v1.m.running && v1.m.host_memory_bytes == 0x5a5a5a5a5a5a5a5aull,
		   "metrics version 1 leaves the version-2 field alone");
	}
	uint64_t up1 = m.uptime_ms;
	uint32_t pids1 = m.pids;
	uint64_t disk1 = m.disk_bytes;

	usleep(300 * 1000);
	get(&m, sb);
	ok(m.uptime_ms >= up1 + 250, "uptime grows (%llu -> %llu ms)",
	   (unsigned long long)up1, (unsigned long long)m.uptime_ms);

	/* pids counts processes while a command runs */
	pthread_t th;
	pthread_create(&th, NULL, sleeper, sb);
	usleep(500 * 1000);
	get(&m, sb);
	ok(m.pids > pids1, "pids grows while a command runs (%u -> %u)", pids1, m.pids);
	pthread_join(th, NULL);

	/* disk: write 4 MiB into /tmp */
	msb_command_result *res = NULL;
	int rc = msbt_run(&res, sb, ARGV("sh", "-c",
		"head -c 4194304 /dev/zero > /tmp/metrics-fill && echo done"));
	ok(!rc && res && res->exit_code == 0, "write a 4 MiB file to /tmp");
	msb_command_result_free(res);
	get(&m, sb);
	ok(m.disk_bytes >= disk1 + (3u << 20), "disk grows by ~4 MiB (%llu -> %llu)",
	   (unsigned long long)disk1, (unsigned long long)m.disk_bytes);

	/* cpu: an idle window, then one while the probe spins for a second
	 * (on a loaded machine the spinner gets less than a CPU: compare) */
	get(&m, sb);
	usleep(500 * 1000);
	get(&m, sb);
	double idle = m.cpu_percent;
	pthread_create(&th, NULL, spinner, sb);
	/* the window starts once the spinner runs (a loaded machine may take
	 * a while to start it): pids grows by one */
	for (int i = 0; i < 40; i++) {
		usleep(50 * 1000);
		get(&m, sb);
		if (m.pids > pids1)
			break;
	}
	usleep(100 * 1000);
	get(&m, sb); /* start a fresh cpu window */
	usleep(500 * 1000);
	get(&m, sb);
	pthread_join(th, NULL);
	ok(m.cpu_percent > 10.0 && m.cpu_percent > idle + 5.0,
	   "cpu_percent shows a busy process (%.1f%%, idle %.1f%%)", m.cpu_percent, idle);
	ok(m.cpu_percent <= 100.0 * 2 + 10, "cpu_percent is at most 100 per CPU (%.1f%%)",
	   m.cpu_percent);

	is_int(msb_sandbox_stop(sb, -1), 0, "stop");
	m.running = 1;
	m.pids = 7;
	is_int(get(&m, sb), 0, "metrics of a stopped sandbox is not an error");
	ok(m.running == 0 && m.pids == 0 && m.memory_bytes == 0,
	   "a stopped sandbox has running 0 and zeros");

	msb_sandbox_free(sb);
	uptime_of_detached();
	return done_testing();
}
