/*
 * soak.c - many sandboxes, one after another and from many threads at
 * once, must leave nothing behind: no file descriptor, no memory growth
 * beyond noise, no mount, no cgroup, no process, no state-directory entry
 * and no temporary file. TAP on stdout.
 *
 *   soak [--cycles N] [--threads T] [--cli N] [--kill N]
 *
 *   --cycles N   create -> start -> run a command -> free, N times in all
 *                (default 10000; `make soak-short`, part of `make test`,
 *                runs 300)
 *   --threads T  spread the cycles over T threads (default 1); a second
 *                pass with T threads follows the first when T > 1
 *   --cli N      also N `msb run -- true` processes (build/bin/msb,
 *                found beside this program as ../bin/msb)
 *   --kill N     also N owners killed with SIGKILL at a random point of
 *                create, run, copy in and out, and stop (a child process
 *                of this one cycling; killed after 0-300 ms); a named
 *                sandbox must outlive its killed creator
 *
 * What is counted before and after: this process's open fds and VmRSS;
 * the host's mounts (this process's mount namespace); processes whose
 * parent is this process; entries of the private MSB_STATE_DIR the test
 * sets. And what was made since the soak began and is still there: cgroup
 * directories named msb-* under /sys/fs/cgroup (v1 and v2), msb-agent
 * processes, entries of /tmp named msb-* (so that what others left
 * before the soak began does not count; what others make while it runs
 * does: run it on an otherwise quiet machine). The first few cycles are a
 * warm-up (the allocator, libraries loading) and are not counted against
 * RSS; RSS may grow by at most 8 MiB after them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"
#include "msbt.h"

#define WARMUP 20
#define RSS_SLACK_KB (8 * 1024)

static char state_dir[64];
static struct timespec began;   /* CLOCK_REALTIME: for mtimes */
static unsigned long long began_ticks; /* since boot: for process start times */

/* Made at or after the soak began (a second of slack for coarse mtimes). */
static int is_new(const struct timespec *t)
{
	return t->tv_sec + 1 >= began.tv_sec;
}

struct counts {
	long fds, rss_kb, mounts, cgroups, children, agents, state, tmp;
};

/* Entries of path (named prefix*, when given; made since the soak began,
 * when only_new). */
static long count_dir(const char *path, const char *prefix, int only_new)
{
	DIR *d = opendir(path);
	struct dirent *de;
	long n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' || (prefix && strncmp(de->d_name, prefix, strlen(prefix))))
			continue;
		if (only_new && (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
				 !is_new(&st.st_mtim) || !strcmp(de->d_name, state_dir + 5)))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

static long count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* msb-* directories anywhere below dir (a cgroup tree), not descending
 * into what it counts; depth-limited. */
static long count_cgroups(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	long n = 0;

	if (!d || depth > 8) {
		if (d)
			closedir(d);
		return 0;
	}
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name) >= (int)sizeof sub ||
		    lstat(sub, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (!strncmp(de->d_name, "msb-", 4))
			n += is_new(&st.st_mtim);
		else
			n += count_cgroups(sub, depth + 1);
	}
	closedir(d);
	return n;
}

/* Processes whose parent is us, and msb-agent processes started since the
 * soak began. */
static void count_procs(long *children, long *agents)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	*children = *agents = 0;
	while (d && (de = readdir(d))) {
		char path[64], buf[512], *p;
		ssize_t n;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%.20s/stat", de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (!p)
			continue;
		if (strtol(p + 4, NULL, 10) == getpid())
			(*children)++;
		/* field 22, starttime, 20 fields after the state */
		unsigned long long start = 0;
		if (strstr(buf, "(msb-agent)") &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
			   "%*d %*d %*d %*d %*d %*d %llu", &start) == 1 && start >= began_ticks)
			(*agents)++;
	}
	if (d)
		closedir(d);
}

static void measure(struct counts *c)
{
	c->fds = count_dir("/proc/self/fd", NULL, 0);
	c->rss_kb = rss_kb();
	c->mounts = count_lines("/proc/self/mountinfo");
	c->cgroups = count_cgroups("/sys/fs/cgroup", 0);
	count_procs(&c->children, &c->agents);
	c->state = count_dir(state_dir, NULL, 0);
	c->tmp = count_dir("/tmp", "msb-", 1);
}

/* One cycle; 0 when the command ran and said what it should. */
static int cycle(void)
{
	msb_sandbox_options o = msbt_options();
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	msb_sandbox *sb = NULL;
	int rc;

	co.argv = (const char *const[]){ "echo", "soak", NULL };
	rc = msb_sandbox_create(&sb, &o);
	if (!rc)
		rc = msb_sandbox_start(sb);
	if (!rc)
		rc = msb_command_run(&res, sb, &co);
	if (!rc && (res->exit_code != 0 || res->out.len != 5 || memcmp(res->out.ptr, "soak\n", 5)))
		rc = MSB_ERROR;
	msb_command_result_free(res);
	msb_sandbox_free(sb);
	return rc;
}

struct worker {
	pthread_t th;
	long cycles, failed;
	int first_rc;
	char first_msg[256];
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < w->cycles; i++) {
		int rc = cycle();

		if (rc && !w->failed++) {
			w->first_rc = rc;
			snprintf(w->first_msg, sizeof w->first_msg, "%s", msb_error_last()->message);
		}
	}
	return NULL;
}

/* cycles over threads; returns the failures. */
static long run_pass(long cycles, int threads)
{
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	long failed = 0;

	if (!w)
		bail_out("out of memory");
	for (int t = 0; t < threads; t++) {
		w[t].cycles = cycles / threads + (t < cycles % threads);
		if (pthread_create(&w[t].th, NULL, work, &w[t]))
			bail_out("pthread_create failed");
	}
	for (int t = 0; t < threads; t++) {
		pthread_join(w[t].th, NULL);
		if (w[t].failed)
			diag("thread %d: %ld of %ld cycles failed, the first with %d: %s", t,
			     w[t].failed, w[t].cycles, w[t].first_rc, w[t].first_msg);
		failed += w[t].failed;
	}
	free(w);
	return failed;
}

/* Processes end a moment after the handle lets go (stage 0 removes its
 * cgroups on its way out; an agent whose owner was killed first gives
 * its commands their grace): wait up to secs for the counts to settle. */
static void settle_for(struct counts *after, const struct counts *before, int secs)
{
	for (int i = 0; i < secs * 10; i++) {
		measure(after);
		if (after->agents <= before->agents && after->children <= before->children &&
		    after->cgroups <= before->cgroups && after->mounts <= before->mounts &&
		    after->tmp <= before->tmp)
			return;
		usleep(100 * 1000);
	}
}

static void settle(struct counts *after, const struct counts *before)
{
	settle_for(after, before, 10);
}

static void compare(const char *pass, const struct counts *b, const struct counts *a,
		    long cycles, long failed)
{
	ok(failed == 0, "%s: %ld cycles, every command answered (%ld failed)", pass, cycles, failed);
	is_int(a->fds, b->fds, "%s: no file descriptor left open", pass);
	ok(a->rss_kb <= b->rss_kb + RSS_SLACK_KB, "%s: RSS %ld KiB after, %ld KiB after the warm-up "
	   "(at most %d KiB more)", pass, a->rss_kb, b->rss_kb, RSS_SLACK_KB);
	is_int(a->mounts, b->mounts, "%s: no mount left in the host's mount namespace", pass);
	is_int(a->cgroups, b->cgroups, "%s: no msb-* cgroup left", pass);
	is_int(a->children, b->children, "%s: no child process left", pass);
	is_int(a->agents, b->agents, "%s: no msb-agent process left", pass);
	is_int(a->state, b->state, "%s: no state-directory entry left", pass);
	is_int(a->tmp, b->tmp, "%s: no msb-* file left in /tmp", pass);
}

static long run_cli(long n)
{
	char self[PATH_MAX], cli[PATH_MAX + 16], *slash;
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	long failed = 0;

	if (len <= 0)
		bail_out("/proc/self/exe: %s", strerror(errno));
	self[len] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(cli, sizeof cli, "%s/../bin/msb", self);
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			execl(cli, "msb", "run", "--", "true", (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	return failed;
}

/* An owner that cycles until it is killed: create, start, run, copy a
 * file in and out, stop, free. */
static void owner(void)
{
	for (;;) {
		msb_sandbox_options o = msbt_options();
		msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
		msb_command_result *res = NULL;
		msb_sandbox *sb = NULL;
		char host[96];

		co.argv = (const char *const[]){ "sh", "-c", "echo x > /tmp/x; sleep 0.05", NULL };
		snprintf(host, sizeof host, "%s/copy", state_dir);
		if (!msb_sandbox_create(&sb, &o) && !msb_sandbox_start(sb) &&
		    !msb_command_run(&res, sb, &co) &&
		    !msb_file_write(sb, "/tmp/in", "data", 4, MSB_WRITE_TRUNCATE, 0644))
			msb_file_copy_out(sb, "/tmp/x", host);
		msb_command_result_free(res);
		msb_sandbox_stop(sb, 100);
		msb_sandbox_free(sb);
	}
}

/* A detached sandbox's creator is killed right after the start: the
 * sandbox lives on and answers another handle. */
static int named_survives(void)
{
	int p[2], st, rc = 0;
	pid_t pid;
	char c;

	if (pipe(p) < 0)
		return 0;
	pid = fork();
	if (pid == 0) {
		msb_sandbox_options o = msbt_options();
		msb_sandbox *sb = NULL;

		o.name = "soak-survivor";
		o.detached = 1;
		if (!msb_sandbox_create(&sb, &o) && !msb_sandbox_start(sb))
			c = 'y';
		else
			c = 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) == 1 && c == 'y') {
		msb_sandbox *sb = NULL;
		msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
		msb_command_result *res = NULL;

		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		pid = 0;
		co.argv = (const char *const[]){ "echo", "alive", NULL };
		rc = !msb_sandbox_connect(&sb, "soak-survivor") &&
		     !msb_command_run(&res, sb, &co) && res->out.len == 6;
		msb_command_result_free(res);
		if (sb)
			msb_sandbox_stop(sb, 100);
		msb_sandbox_free(sb);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	close(p[0]);
	msb_sandbox_kill("soak-survivor");
	msb_sandbox_remove("soak-survivor");
	return rc;
}

static long run_kills(long n)
{
	long started = 0;

	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			owner();
			_exit(0);
		}
		if (pid < 0)
			break;
		started++;
		usleep((useconds_t)(rand() % 300) * 1000);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	return started;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cycles", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "cli", required_argument, NULL, 'l' },
		{ "kill", required_argument, NULL, 'k' },
		{ 0 },
	};
	long cycles = 10000, cli = 0, kills = 0;
	int threads = 1, c;
	struct counts before, after;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cycles = strtol(optarg, NULL, 10); break;
		case 't': threads = (int)strtol(optarg, NULL, 10); break;
		case 'l': cli = strtol(optarg, NULL, 10); break;
		case 'k': kills = strtol(optarg, NULL, 10); break;
		default:
			fputs("usage: soak [--cycles N] [--threads T] [--cli N] [--kill N]\n", stderr);
			return 2;
		}
	}
	if (cycles < 1 || threads < 1 || threads > 256 || cli < 0 || kills < 0)
		bail_out("soak: --cycles >= 1, --threads 1..256, --cli >= 0, --kill >= 0");
	msbt_watchdog((unsigned)(600 + cycles / 5 + cli / 2 + kills));
	msbt_require_sandboxes();
	snprintf(state_dir, sizeof state_dir, "/tmp/msb-soak-XXXXXX");
	if (!mkdtemp(state_dir))
		bail_out("mkdtemp: %s", strerror(errno));
	setenv("MSB_STATE_DIR", state_dir, 1);

	struct timespec boot;
	clock_gettime(CLOCK_REALTIME, &began);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	began_ticks = (unsigned long long)boot.tv_sec * (unsigned long long)sysconf(_SC_CLK_TCK);

	/* warm up, let its sandboxes end, then count: what the soak made and
	 * left is the difference */
	for (int i = 0; i < WARMUP; i++)
		if (cycle())
			bail_out("the warm-up failed: %s", msb_error_last()->message);
	struct counts zero = { 0 };
	zero.mounts = count_lines("/proc/self/mountinfo");
	settle(&before, &zero);
	diag("before: %ld fds, %ld KiB RSS, %ld mounts, %ld msb cgroups, %ld children, "
	     "%ld agents", before.fds, before.rss_kb, before.mounts, before.cgroups,
	     before.children, before.agents);
	uint64_t t0 = msbt_now_ms();
	long failed = run_pass(cycles, 1);
	settle(&after, &before);
	diag("one thread: %ld cycles in %llu ms; after: %ld fds, %ld KiB RSS, %ld mounts, "
	     "%ld msb cgroups", cycles, (unsigned long long)(msbt_now_ms() - t0), after.fds,
	     after.rss_kb, after.mounts, after.cgroups);
	compare("one thread", &before, &after, cycles, failed);

	if (threads > 1) {
		t0 = msbt_now_ms();
		failed = run_pass(cycles, threads);
		settle(&after, &before);
		diag("%d threads: %ld cycles in %llu ms; RSS %ld KiB", threads, cycles,
		     (unsigned long long)(msbt_now_ms() - t0), after.rss_kb);
		compare("threads", &before, &after, cycles, failed);
	}
	if (cli) {
		t0 = msbt_now_ms();
		failed = run_cli(cli);
		settle(&after, &before);
		diag("cli: %ld runs in %llu ms", cli, (unsigned long long)(msbt_now_ms() - t0));
		ok(failed == 0, "cli: %ld `msb run -- true`, all exit 0 (%ld failed)", cli, failed);
		is_int(after.mounts, before.mounts, "cli: no mount left");
		is_int(after.cgroups, before.cgroups, "cli: no msb-* cgroup left");
		is_int(after.agents, before.agents, "cli: no msb-agent process left");
		is_int(after.tmp, before.tmp, "cli: no msb-* file left in /tmp");
	}
	if (kills) {
		t0 = msbt_now_ms();
		srand((unsigned)getpid());
		long started = run_kills(kills);
		settle_for(&after, &before, 30);
		diag("kill: %ld owners killed in %llu ms", started, (unsigned long long)(msbt_now_ms() - t0));
		ok(started == kills, "kill: %ld owners started and killed with SIGKILL", started);
		is_int(after.mounts, before.mounts, "kill: no mount left");
		is_int(after.cgroups, before.cgroups, "kill: no msb-* cgroup left");
		is_int(after.agents, before.agents, "kill: no msb-agent process left");
		is_int(after.children, before.children, "kill: no child process left");
		is_int(after.tmp, before.tmp, "kill: no msb-* file left in /tmp");
		ok(named_survives(), "kill: a named sandbox outlives its creator killed with SIGKILL, "
		   "and answers another handle");
	}
	char copy[96];
	snprintf(copy, sizeof copy, "%s/copy", state_dir);
	unlink(copy);
	rmdir(state_dir);
	return done_testing();
}
