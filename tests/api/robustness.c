/*
 * robustness.c - the edges: big data in both directions at once, stdin
 * nobody reads, endless output under a cap, frame-boundary sizes, long
 * argv, PATH lookup, volumes, the agent dying under the library, sandboxes
 * started from several threads, stop during many commands, cgroup cleanup.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static msb_sandbox *sb;

static int run_co(msb_command_result **res, msb_sandbox *s, msb_command_options *co)
{
	*res = NULL;
	int rc = msb_command_run(res, s, co);
	if (rc)
		msbt_diag_error(co->argv[0], rc);
	return rc;
}

/* ---- big data through several commands at once ---- */

struct pump {
	size_t len;
	uint8_t seed;
	int good;
};

static void *pump_thread(void *arg)
{
	struct pump *p = arg;
	uint8_t *data = malloc(p->len);
	for (size_t i = 0; i < p->len; i++)
		data[i] = (uint8_t)(i * 31 + p->seed + (i >> 12));
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("cat");
	co.stdin_data = data;
	co.stdin_len = p->len;
	msb_command_result *res = NULL;
	int rc = msb_command_run(&res, sb, &co);
	p->good = !rc && res->exit_code == 0 && res->out.len == p->len &&
		  !memcmp(res->out.ptr, data, p->len);
	msb_command_result_free(res);
	free(data);
	return NULL;
}

static void test_parallel_data(void)
{
	enum { N = 4 };
	struct pump p[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		p[i].len = (2u << 20) + (size_t)i * 4099;
		p[i].seed = (uint8_t)(i * 67);
		p[i].good = 0;
		pthread_create(&th[i], NULL, pump_thread, &p[i]);
	}
	int all = 1;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		if (!p[i].good) {
			diag("pump %d (%zu bytes) came back wrong", i, p[i].len);
			all = 0;
		}
	}
	ok(all, "4 commands each pumping 2 MiB through cat at once get exactly their own bytes");
}

static void test_edges(void)
{
	msb_command_result *res;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;

	/* 8 MiB of stdin to a program that never reads it */
	size_t big = 8u << 20;
	uint8_t *data = calloc(1, big);
	co.argv = ARGV("true");
	co.stdin_data = data;
	co.stdin_len = big;
	co.timeout_ms = 20000;
	uint64_t t0 = msbt_now_ms();
	if (!run_co(&res, sb, &co))
		ok(res->exit_code == 0 && !res->timed_out && msbt_now_ms() - t0 < 10000,
		   "8 MiB of stdin to a program that does not read it: no hang (exit %d)",
		   res->exit_code);
	else
		ok(0, "8 MiB of stdin to a program that does not read it");
	msb_command_result_free(res);
	free(data);

	/* endless output under a small cap: kept bytes are capped, the
	 * command runs on until its timeout */
	co = (msb_command_options)MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("yes");
	co.output_cap = 1000;
	co.timeout_ms = 1000;
	t0 = msbt_now_ms();
	if (!run_co(&res, sb, &co))
		ok(res->out.len == 1000 && res->out_truncated && res->timed_out &&
		   msbt_now_ms() - t0 < 8000,
		   "endless output with a 1000-byte cap: 1000 bytes kept, then the timeout");
	else
		ok(0, "endless output with a cap");
	msb_command_result_free(res);

	/* sizes around the frame boundaries */
	static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 1048576, 1048577};
	int sizes_ok = 1;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char n[32];
		snprintf(n, sizeof n, "%zu", sizes[i]);
		co = (msb_command_options)MSB_COMMAND_OPTIONS_INIT;
		co.argv = ARGV("head", "-c", n, "/dev/zero");
		if (run_co(&res, sb, &co) || res->out.len != sizes[i]) {
			diag("head -c %zu gave %zu bytes", sizes[i], res ? res->out.len : 0);
			sizes_ok = 0;
		}
		msb_command_result_free(res);
	}
	ok(sizes_ok, "outputs of 0, 1, 64 KiB +-1, 1 MiB and 1 MiB + 1 bytes come back whole");

	/* a long argument and many arguments */
	char *longarg = malloc(100001);
	memset(longarg, 'a', 100000);
	longarg[100000] = '\0';
	co = (msb_command_options)MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("sh", "-c", "printf %s \"$1\" | wc -c", "sh", longarg);
	if (!run_co(&res, sb, &co))
		ok(res->out.len == 7 && !memcmp(res->out.ptr, "100000\n", 7),
		   "a 100000-byte argument arrives whole");
	else
		ok(0, "a 100000-byte argument arrives whole");
	msb_command_result_free(res);
	free(longarg);

	/* sh -c SCRIPT sh a1 ... a1000 */
	static const char *many[4 + 1000 + 1];
	static char bufs[1000][16];
	many[0] = "sh";
	many[1] = "-c";
	many[2] = "echo $# $1 ${1000}";
	many[3] = "sh";
	for (int i = 0; i < 1000; i++) {
		snprintf(bufs[i], sizeof bufs[i], "a%d", i + 1);
		many[4 + i] = bufs[i];
	}
	many[4 + 1000] = NULL;
	co = (msb_command_options)MSB_COMMAND_OPTIONS_INIT;
	co.argv = many;
	if (!run_co(&res, sb, &co))
		ok(res->out.len == 14 && !memcmp(res->out.ptr, "1000 a1 a1000\n", 14),
		   "1000 arguments arrive in order (%.*s)", (int)res->out.len,
		   (const char *)res->out.ptr);
	else
		ok(0, "1000 arguments arrive in order");
	msb_command_result_free(res);

	/* argv[0] is looked up in the command's PATH, inside the sandbox */
	co = (msb_command_options)MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("probe", "pid");
	co.env = ARGV("PATH=" MSBT_DIR);
	if (!run_co(&res, sb, &co))
		ok(res->exit_code == 0 && res->out.len > 0,
		   "argv[0] is found through the command's PATH (PATH=%s)", MSBT_DIR);
	else
		ok(0, "argv[0] is found through the command's PATH");
	msb_command_result_free(res);
	co.argv = ARGV("ls");
	co.env = ARGV("PATH=/nonexistent");
	res = NULL;
	is_int(msb_command_run(&res, sb, &co), MSB_ENOTFOUND,
	       "a program outside the command's PATH is MSB_ENOTFOUND");
	msb_command_result_free(res);

	/* the agent ignores signals from inside */
	co = (msb_command_options)MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("sh", "-c", "kill -KILL 1; kill -TERM 1; kill -INT 1; echo sent");
	if (!run_co(&res, sb, &co))
		diag("kill 1 from inside: exit %d", res->exit_code);
	msb_command_result_free(res);
	usleep(100 * 1000);
	int code;
	char *out = msbt_output(sb, ARGV("echo", "up"), &code);
	ok(!strcmp(out, "up\n") && msb_sandbox_status(sb) == MSB_STATUS_RUNNING,
	   "signals sent to pid 1 from inside do not kill the sandbox");
	free(out);
}

static void test_volumes(void)
{
	char dir[] = "/tmp/msb-test-vol-XXXXXX";
	if (!mkdtemp(dir)) {
		skip(5, "mkdtemp failed");
		return;
	}
	chmod(dir, 0755);
	char hostfile[128];
	snprintf(hostfile, sizeof hostfile, "%s/from-host", dir);
	FILE *f = fopen(hostfile, "w");
	if (f) {
		fputs("host data\n", f);
		fclose(f);
	}

	msb_volume vols[3] = {
		{msbt_dir(), MSBT_DIR, 1},
		{dir, "/data", 0},
		{dir, "/data-ro", 1},
	};
	msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
	o.volumes = vols;
	o.volumes_len = 3;
	msb_sandbox *v = msbt_start(&o);
	if (!v) {
		ok(0, "start a sandbox with a read-write and a read-only volume");
		skip(4, "no sandbox");
	} else {
		int code;
		char *out = msbt_output(v, ARGV("cat", "/data/from-host"), &code);
		is_str(out, "host data\n", "a volume shows the host's files");
		free(out);
		out = msbt_output(v, ARGV("sh", "-c", "echo from-sandbox > /data/new && echo ok"),
				  &code);
		is_str(out, "ok\n", "a read-write volume is writable");
		free(out);
		char newfile[160], buf[64] = "";
		snprintf(newfile, sizeof newfile, "%s/new", dir);
		f = fopen(newfile, "r");
		if (f) {
			if (!fgets(buf, sizeof buf, f))
				buf[0] = '\0';
			fclose(f);
		}
		is_str(buf, "from-sandbox\n", "the host sees what the sandbox wrote");
		out = msbt_chomp(msbt_output(v, ARGV(MSBT_PROBE, "write", "/data-ro/x"), &code));
		is_str(out, "EROFS", "the same directory mounted read-only is not writable");
		free(out);
		out = msbt_chomp(msbt_output(v, ARGV(MSBT_PROBE, "ls", "/data/.."), &code));
		ok(!strstr(out, "from-host"), "\"..\" from a volume leads to the sandbox's root");
		free(out);
		msb_sandbox_free(v);
		unlink(newfile);
	}
	unlink(hostfile);
	rmdir(dir);
}

/* ---- the agent dies under the library ---- */

static int child_pids(int *out, int max);

static int kill_children(void)
{
	int pids[64];
	int n = child_pids(pids, 64);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	return n;
}


static void test_agent_death(void)
{
	msb_sandbox *s = msbt_start(NULL);
	if (!s) {
		ok(0, "start a sandbox");
		return;
	}
	char marker[32], script[96];
	snprintf(marker, sizeof marker, "1002.%d", (int)getpid());
	snprintf(script, sizeof script, "sleep %s >/dev/null 2>&1 </dev/null & echo ok", marker);
	char *out = msbt_output(s, ARGV("sh", "-c", script), NULL);
	free(out);
	usleep(100 * 1000);
	ok(msbt_host_has_cmdline("sleep", marker), "a background sleep runs inside");

	int killed = kill_children();
	ok(killed >= 1, "SIGKILLed the agent's host process (%d children of the test)", killed);
	/* Let the agent be surely gone, so that the next send meets a closed
	 * socket: libmsb must see EPIPE, and this process no SIGPIPE (its
	 * disposition is the default: a SIGPIPE would end the test here). */
	signal(SIGPIPE, SIG_DFL);
	usleep(300 * 1000);
	msb_command_result *res = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("cat");
	co.stdin_data = "payload";
	co.stdin_len = 7;
	uint64_t t0 = msbt_now_ms();
	int rc = msb_command_run(&res, s, &co);
	ok(1, "sending to a dead sandbox raised no SIGPIPE in the caller");
	ok(rc == MSB_ESANDBOX || rc == MSB_ESTATE || rc == MSB_EIO,
	   "a command after the agent died fails cleanly (%d: %s) in %llu ms", rc,
	   msb_strerror(rc), (unsigned long long)(msbt_now_ms() - t0));
	msb_command_result_free(res);
	for (int i = 0; i < 30 && msb_sandbox_status(s) == MSB_STATUS_RUNNING; i++)
		usleep(100 * 1000);
	is_int(msb_sandbox_status(s), MSB_STATUS_EXITED, "the sandbox's status becomes EXITED");
	ok(msb_sandbox_exit_reason(s)[0] != '\0', "with a reason (\"%s\")",
	   msb_sandbox_exit_reason(s));
	int alive = msbt_host_has_cmdline("sleep", marker);
	for (int i = 0; i < 20 && alive; i++) {
		usleep(100 * 1000);
		alive = msbt_host_has_cmdline("sleep", marker);
	}
	ok(!alive, "no process inside outlives its killed agent");
	msb_sandbox_free(s);
	ok(1, "free after the agent died");
}

/* ---- many sandboxes from many threads ---- */

static void *churn_thread(void *arg)
{
	int *good = arg;
	*good = 1;
	for (int i = 0; i < 3; i++) {
		msb_sandbox *s = NULL;
		msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
		if (msb_sandbox_create(&s, &o) || msb_sandbox_start(s)) {
			*good = 0;
			msb_sandbox_free(s);
			continue;
		}
		msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
		co.argv = ARGV("sh", "-c", "echo $$");
		msb_command_result *res = NULL;
		if (msb_command_run(&res, s, &co) || res->exit_code != 0 || res->out.len < 2)
			*good = 0;
		msb_command_result_free(res);
		msb_sandbox_free(s);
	}
	return NULL;
}

static void test_churn(void)
{
	enum { N = 4 };
	pthread_t th[N];
	int good[N];
	for (int i = 0; i < N; i++)
		pthread_create(&th[i], NULL, churn_thread, &good[i]);
	int all = 1;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		all &= good[i];
	}
	ok(all, "4 threads each creating, using and freeing 3 sandboxes all succeed");
}

/* ---- stop while many commands run ---- */

static void *long_cmd(void *arg)
{
	msb_sandbox *s = arg;
	msb_command_result *res = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("sleep", "30");
	msb_command_run(&res, s, &co);
	msb_command_result_free(res);
	return NULL;
}

static void test_stop_busy(void)
{
	msb_sandbox *s = msbt_start(NULL);
	if (!s) {
		ok(0, "start a sandbox");
		return;
	}
	enum { N = 8 };
	pthread_t th[N];
	for (int i = 0; i < N; i++)
		pthread_create(&th[i], NULL, long_cmd, s);
	usleep(300 * 1000);
	uint64_t t0 = msbt_now_ms();
	msb_sandbox_stop(s, 300);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	uint64_t took = msbt_now_ms() - t0;
	ok(took < 8000, "stop returns, and 8 running commands with it (%llu ms)",
	   (unsigned long long)took);
	msb_sandbox_free(s);
}

/* ---- cgroups are removed ---- */

/* The pids of the test process's children (the agents' host processes). */
static int child_pids(int *out, int max)
{
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) && n < max) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		char *rp = strrchr(buf, ')');
		int ppid = 0;
		if (rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
			out[n++] = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

/* cgroup directories are named ...-<agent pid> (guest/cgroup.c) */
static char cg_suffix[32];
static int cg_count;
static char cg_first[4096];

static int cg_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	const char *base = path + ftw->base;
	size_t bl = strlen(base), sl = strlen(cg_suffix);
	if (type == FTW_D && bl > sl && !strcmp(base + bl - sl, cg_suffix) &&
	    strstr(path, "msb")) {
		if (!cg_count++)
			snprintf(cg_first, sizeof cg_first, "%s", path);
	}
	return 0;
}

static int count_cgroups(int agent_pid)
{
	snprintf(cg_suffix, sizeof cg_suffix, "-%d", agent_pid);
	cg_count = 0;
	cg_first[0] = '\0';
	nftw("/sys/fs/cgroup", cg_visit, 16, FTW_PHYS);
	return cg_count;
}

static void test_cgroup_cleanup(void)
{
	msb_sandbox *s = msbt_start(NULL);
	if (!s) {
		ok(0, "start a sandbox");
		return;
	}
	if (msb_sandbox_enforcement(s, MSB_LIMIT_PIDS) != MSB_ENFORCE_CGROUP) {
		skip(2, "the sandbox has no cgroup here (%s)",
		     msb_enforcement_name(msb_sandbox_enforcement(s, MSB_LIMIT_PIDS)));
		msb_sandbox_free(s);
		return;
	}
	int pids[8];
	int np = child_pids(pids, 8);
	if (np != 1) {
		skip(2, "cannot tell the agent's pid (%d children)", np);
		msb_sandbox_free(s);
		return;
	}
	int n = count_cgroups(pids[0]);
	ok(n >= 1, "the sandbox's cgroups exist while it runs (%d, e.g. %s)", n, cg_first);
	msb_sandbox_free(s);
	int left = count_cgroups(pids[0]);
	for (int i = 0; i < 20 && left; i++) {
		usleep(100 * 1000);
		left = count_cgroups(pids[0]);
	}
	ok(!left, "its cgroups are removed after free (%d left%s%s)", left,
	   left ? ", e.g. " : "", cg_first);
}

int main(void)
{
	msbt_watchdog(100);
	msbt_require_sandboxes();
	sb = msbt_start(NULL);
	if (!sb)
		bail_out("cannot start a sandbox");
	test_parallel_data();
	test_edges();
	msb_sandbox_free(sb);
	test_volumes();
	test_agent_death();
	test_churn();
	test_stop_busy();
	test_cgroup_cleanup();
	return done_testing();
}
