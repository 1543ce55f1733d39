/*
 * named.c - named, detached sandboxes: they outlive their handle and the
 * process that created them, are listed with status, creation time and
 * pid, are reached by name from another handle or process, stop, kill and
 * remove; names are checked; a crashed one is never reported running; the
 * wall-time limit still holds; a client that stops reading stalls nobody
 * else, and one that reads slowly still gets every byte. All under a
 * private MSB_STATE_DIR, but for the squatting tests: another local user
 * who makes the fallback state directory first locks nobody out silently.
 */
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static char state_dir[64];

static msb_sandbox_options detached(const char *name)
{
	msb_sandbox_options o = msbt_options();
	o.version = 2;
	o.detached = 1;
	o.name = name;
	return o;
}

/* Create and start a detached sandbox; NULL with diagnostics on failure. */
static msb_sandbox *start_named(const char *name, int64_t timeout_ms)
{
	msb_sandbox_options o = detached(name);
	o.timeout_ms = timeout_ms;
	return msbt_start(&o);
}

/* The list entry for name: a copy, with status -1 when it is absent. */
static msb_sandbox_info lookup(const char *name)
{
	msb_sandbox_info info = { NULL, (msb_status)-1, 0, 0, 0 };
	msb_sandbox_list *l = NULL;
	int rc = msb_sandbox_list_all(&l);

	if (rc) {
		msbt_diag_error("msb_sandbox_list_all", rc);
		return info;
	}
	for (size_t i = 0; i < l->len; i++)
		if (!strcmp(l->items[i].name, name)) {
			info = l->items[i];
			info.name = NULL;
		}
	msb_sandbox_list_free(l);
	return info;
}

/* Is pid a live msb-agent on the host? */
static int agent_alive(int64_t pid)
{
	char path[64], buf[64];

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%lld/cmdline", (long long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0; /* a zombie has no command line */
	buf[n] = '\0';
	return !strcmp(buf, "msb-agent");
}

/* Wait up to ms for the agent to go; 1 when it is gone. */
static int agent_gone(int64_t pid, int ms)
{
	for (int i = 0; i < ms / 20 && agent_alive(pid); i++)
		usleep(20 * 1000);
	return !agent_alive(pid);
}

static char *out_of(msb_sandbox *sb, const char *const *argv)
{
	return msbt_chomp(msbt_output(sb, argv, NULL));
}

/* `msb ARGS` (build/bin/msb), stdout into a malloc'd string; exit status. */
static int cli(const char *args, char **out)
{
	char cmd[PATH_MAX + 512];
	size_t cap = 1 << 16, n = 0;

	snprintf(cmd, sizeof cmd, "'%s/../bin/msb' %s 2>/dev/null </dev/null", msbt_dir(), args);
	*out = calloc(1, cap);
	FILE *p = popen(cmd, "r");
	if (!p || !*out)
		bail_out("popen failed");
	for (size_t r; n + 1 < cap && (r = fread(*out + n, 1, cap - n - 1, p)) > 0;)
		n += r;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the creating process exits ------------------------------------------ */

/* Runs first, before this process has any libmsb threads to fork with. */
static void test_creator_exits(void)
{
	pid_t child = fork();
	int st = -1;

	if (child < 0)
		bail_out("fork: %s", strerror(errno));
	if (child == 0) {
		msb_sandbox *sb = start_named("survivor", 0);
		int code = -1;
		if (sb)
			free(msbt_output(sb, ARGV("sh", "-c", "echo from-the-creator > /tmp/mark"),
					 &code));
		_exit(sb && code == 0 ? 0 : 1); /* no free: the process just ends */
	}
	waitpid(child, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "a child process creates a detached sandbox, writes a file and exits");

	msb_sandbox_info info = lookup("survivor");
	ok(info.status == MSB_STATUS_RUNNING && agent_alive(info.pid),
	   "after its creator exited, the sandbox is listed RUNNING and its agent lives");
	msb_sandbox *sb = NULL;
	int rc = msb_sandbox_connect(&sb, "survivor");
	if (is_int(rc, 0, "the parent connects to it by name")) {
		char *s = out_of(sb, ARGV("cat", "/tmp/mark"));
		is_str(s, "from-the-creator", "the file the creator wrote is there");
		free(s);
		is_int(msb_sandbox_stop(sb, -1), 0, "stop it");
	} else {
		msbt_diag_error("msb_sandbox_connect", rc);
		skip(2, "not connected");
	}
	msb_sandbox_free(sb);
	ok(agent_gone(info.pid, 3000), "... its agent is gone");
	msb_sandbox_remove("survivor");
}

/* ---- a detached sandbox outlives its handle ------------------------------- */

static void test_outlives_handle(void)
{
	time_t before = time(NULL);
	msb_sandbox *sb = start_named("box", 0);

	if (!sb) {
		skip(18, "the detached sandbox did not start");
		return;
	}
	is_int(msb_sandbox_status(sb), MSB_STATUS_RUNNING, "a detached sandbox runs");
	is_str(msb_sandbox_name(sb), "box", "under its name");
	char *s = out_of(sb, ARGV("sh", "-c", "echo persisted > /tmp/x && echo written"));
	is_str(s, "written", "a file is written in /tmp");
	free(s);

	msb_sandbox_info info = lookup("box");
	is_int(info.status, MSB_STATUS_RUNNING, "msb_sandbox_list_all shows it RUNNING");
	ok(info.created_ms >= (int64_t)before * 1000 - 1000 &&
	   info.created_ms <= (int64_t)time(NULL) * 1000 + 1000,
	   "created_ms is close to now (%lld)", (long long)info.created_ms);
	ok(info.pid > 0 && agent_alive(info.pid),
	   "pid is a live msb-agent on the host (%lld)", (long long)info.pid);
	is_int(info.backend, MSB_BACKEND_OS, "backend is os");

	msb_sandbox_free(sb);
	info = lookup("box");
	ok(info.status == MSB_STATUS_RUNNING && agent_alive(info.pid),
	   "after msb_sandbox_free the sandbox is still RUNNING, its agent alive");

	sb = NULL;
	int rc = msb_sandbox_connect(&sb, "box");
	if (!is_int(rc, 0, "a new handle connects to it by name")) {
		msbt_diag_error("msb_sandbox_connect", rc);
		skip(9, "not connected");
		return;
	}
	is_int(msb_sandbox_status(sb), MSB_STATUS_RUNNING, "the connected handle is RUNNING");
	is_str(msb_sandbox_name(sb), "box", "... named box");
	s = out_of(sb, ARGV("cat", "/tmp/x"));
	is_str(s, "persisted", "the file written through the first handle is still there");
	free(s);

	/* another process: the CLI */
	int st = cli("exec box -- cat /tmp/x", &s);
	ok(st == 0 && !strcmp(s, "persisted\n"),
	   "another process (msb exec box -- cat /tmp/x) reads it too (%d)", st);
	free(s);

	/* two handles at once; a background process of one is listed by the other */
	msb_sandbox *sb2 = NULL;
	rc = msb_sandbox_connect(&sb2, "box");
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_process *p = NULL;
	co.argv = ARGV("sleep", "77");
	if (rc == 0 && msb_process_start(&p, sb2, &co) == 0) {
		msb_process_list *l = NULL;
		int seen = 0;
		if (msb_process_list_all(&l, sb) == 0)
			for (size_t i = 0; i < l->len; i++)
				seen |= l->items[i].pid == msb_process_pid(p) &&
					!strcmp(l->items[i].command, "sleep 77");
		msb_process_list_free(l);
		ok(seen, "a process started through one handle is listed through another");
		s = out_of(sb, ARGV("sh", "-c", "echo $(hostname)"));
		is_str(s, "box", "both handles reach the same sandbox (hostname box)");
		free(s);
	} else {
		msbt_diag_error("second connection", rc);
		skip(2, "no second connection");
	}
	msb_process_free(p);
	msb_sandbox_free(sb2);
	s = out_of(sb, ARGV("echo", "still"));
	is_str(s, "still", "freeing the second handle leaves the first working");
	free(s);

	/* a second sandbox of the same name, while this one runs */
	msb_sandbox_options o = detached("box");
	msb_sandbox *dup = NULL;
	rc = msb_sandbox_create(&dup, &o);
	if (rc == 0)
		rc = msb_sandbox_start(dup);
	is_int(rc, MSB_EEXISTS, "creating a second sandbox named box: MSB_EEXISTS");
	msb_sandbox_free(dup);
	s = out_of(sb, ARGV("cat", "/tmp/x"));
	ok(!strcmp(s, "persisted") && lookup("box").status == MSB_STATUS_RUNNING,
	   "... and the first one is untouched");
	free(s);
	msb_sandbox_free(sb);
}

/* ---- names and options ----------------------------------------------------- */

static void test_names(void)
{
	static const char *const bad[] = {
		"", "../x", "a/b", ".hidden", "-dash", "sp ace", "new\nline", "..",
		"0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
	};
	int all = 1;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msb_sandbox_options o = detached(bad[i]);
		msb_sandbox *sb = NULL;
		int rc = msb_sandbox_create(&sb, &o);
		if (rc == 0)
			rc = msb_sandbox_start(sb);
		if (rc != MSB_EINVAL) {
			diag("name \"%s\": %d", bad[i], rc);
			all = 0;
		}
		msb_sandbox_free(sb);
	}
	ok(all, "names that are empty, paths, hidden, start with '-', hold spaces or are 64+ chars: MSB_EINVAL");

	all = 1;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msb_sandbox_options o = detached(bad[i]);
		msb_sandbox *sb = NULL;
		if (msb_sandbox_create(&sb, &o) != MSB_EINVAL) {
			diag("create accepted the name \"%s\"", bad[i]);
			all = 0;
		}
		msb_sandbox_free(sb);
	}
	ok(all, "... refused by msb_sandbox_create already (options are validated there)");

	all = 1;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msb_sandbox *sb = NULL;
		if (msb_sandbox_connect(&sb, bad[i]) != MSB_EINVAL || sb ||
		    msb_sandbox_kill(bad[i]) != MSB_EINVAL ||
		    msb_sandbox_remove(bad[i]) != MSB_EINVAL) {
			diag("connect/kill/remove accepted \"%s\"", bad[i]);
			all = 0;
		}
	}
	ok(all, "connect, kill and remove refuse the same names with MSB_EINVAL");
	msb_sandbox *sb = NULL;
	ok(msb_sandbox_connect(&sb, NULL) == MSB_EINVAL && msb_sandbox_kill(NULL) == MSB_EINVAL &&
	   msb_sandbox_remove(NULL) == MSB_EINVAL && msb_sandbox_connect(NULL, "box") == MSB_EINVAL,
	   "NULL names and a NULL out: MSB_EINVAL");
	is_int(msb_sandbox_list_all(NULL), MSB_EINVAL, "list_all with out NULL: MSB_EINVAL");

	msb_sandbox_options o = detached(NULL);
	sb = NULL;
	int rc = msb_sandbox_create(&sb, &o);
	ok(rc == MSB_EINVAL && !sb && msb_error_last()->hint[0],
	   "detached without a name: MSB_EINVAL with a hint (%d)", rc);
	msb_sandbox_free(sb);

	/* 63 characters is the longest name */
	const char *longest = "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh";
	sb = start_named(longest, 0);
	ok(sb && lookup(longest).status == MSB_STATUS_RUNNING,
	   "a 63-character name works (%zu chars)", strlen(longest));
	msb_sandbox_stop(sb, 0);
	msb_sandbox_free(sb);
	msb_sandbox_remove(longest);

	sb = NULL;
	rc = msb_sandbox_connect(&sb, "never-was");
	ok(rc == MSB_ENOTFOUND && !sb && msb_error_last()->hint[0],
	   "connecting to a name that never existed: MSB_ENOTFOUND with a hint");
	is_int(msb_sandbox_kill("never-was"), MSB_ENOTFOUND, "killing it: MSB_ENOTFOUND");
	is_int(msb_sandbox_remove("never-was"), MSB_ENOTFOUND, "removing it: MSB_ENOTFOUND");
}

/* ---- stop, remove ------------------------------------------------------------ */

static void test_stop_remove(void)
{
	msb_sandbox *sb = start_named("stopme", 0);

	if (!sb) {
		skip(10, "the detached sandbox did not start");
		return;
	}
	msb_sandbox_free(sb);
	int64_t pid = lookup("stopme").pid;
	int rc = msb_sandbox_remove("stopme");
	ok(rc == MSB_ESTATE && msb_error_last()->hint[0],
	   "removing a running sandbox: MSB_ESTATE with a hint");
	is_int(lookup("stopme").status, MSB_STATUS_RUNNING, "... it still runs");

	sb = NULL;
	if (msb_sandbox_connect(&sb, "stopme") != 0) {
		skip(8, "cannot connect");
		return;
	}
	uint64_t t0 = msbt_now_ms();
	is_int(msb_sandbox_stop(sb, -1), 0, "msb_sandbox_stop on a connected handle");
	ok(msbt_now_ms() - t0 < 5000, "... returns promptly (%llu ms)",
	   (unsigned long long)(msbt_now_ms() - t0));
	is_int(msb_sandbox_status(sb), MSB_STATUS_STOPPED, "the handle is STOPPED");
	msb_sandbox_free(sb);
	msb_sandbox_info info = lookup("stopme");
	ok(info.status == MSB_STATUS_STOPPED && info.pid == 0,
	   "the list shows it STOPPED, pid 0 (status %d)", (int)info.status);
	ok(agent_gone(pid, 3000), "no msb-agent is left on the host (pid %lld)", (long long)pid);
	sb = NULL;
	rc = msb_sandbox_connect(&sb, "stopme");
	ok(rc == MSB_ESTATE && !sb, "connecting to a stopped sandbox: MSB_ESTATE (%d)", rc);
	is_int(msb_sandbox_remove("stopme"), 0, "removing a stopped sandbox");
	ok((int)lookup("stopme").status == -1, "... it is gone from the list");
	is_int(msb_sandbox_remove("stopme"), MSB_ENOTFOUND, "removing it again: MSB_ENOTFOUND");
	is_int(msb_sandbox_connect(&sb, "stopme"), MSB_ENOTFOUND,
	       "connecting to a removed sandbox: MSB_ENOTFOUND");

	/* the name is free for a new sandbox */
	sb = start_named("stopme", 0);
	char *s = sb ? out_of(sb, ARGV("sh", "-c", "cat /tmp/x 2>/dev/null; echo fresh")) : NULL;
	ok(s && !strcmp(s, "fresh"), "the name can be used again, for a fresh sandbox");
	free(s);
	msb_sandbox_stop(sb, 0);
	msb_sandbox_free(sb);
	msb_sandbox_remove("stopme");
}

/* ---- kill --------------------------------------------------------------------- */

static void test_kill(void)
{
	char marker[32];
	snprintf(marker, sizeof marker, "1004.%d", (int)getpid());
	msb_sandbox *sb = start_named("killme", 0);

	if (!sb) {
		skip(6, "the detached sandbox did not start");
		return;
	}
	char script[96];
	snprintf(script, sizeof script, "setsid sleep %s >/dev/null 2>&1 </dev/null & echo ok", marker);
	free(out_of(sb, ARGV("sh", "-c", script)));
	msb_sandbox_free(sb);
	int64_t pid = lookup("killme").pid;
	usleep(100 * 1000);
	ok(agent_alive(pid) && msbt_host_has_cmdline("sleep", marker),
	   "a detached sandbox runs a background sleep, its handle freed");
	uint64_t t0 = msbt_now_ms();
	is_int(msb_sandbox_kill("killme"), 0, "msb_sandbox_kill by name");
	ok(msbt_now_ms() - t0 < 3000, "... at once (%llu ms)", (unsigned long long)(msbt_now_ms() - t0));
	ok(agent_gone(pid, 3000), "its msb-agent is gone");
	int alive = 1;
	for (int i = 0; i < 50 && alive; i++) {
		alive = msbt_host_has_cmdline("sleep", marker);
		if (alive)
			usleep(20 * 1000);
	}
	ok(!alive, "... and so is everything that ran inside");
	msb_sandbox_info info = lookup("killme");
	ok(info.status != MSB_STATUS_RUNNING && info.status != (msb_status)-1,
	   "the list keeps it, not RUNNING (status %d)", (int)info.status);
	is_int(msb_sandbox_connect(&sb, "killme"), MSB_ESTATE, "connecting to it: MSB_ESTATE");
	is_int(msb_sandbox_remove("killme"), 0, "and it can be removed");
}

/* ---- a crash leaves a stale entry ------------------------------------------ */

static void test_stale(void)
{
	char marker[32];
	snprintf(marker, sizeof marker, "1005.%d", (int)getpid());
	msb_sandbox *sb = start_named("crash", 0);

	if (!sb) {
		skip(8, "the detached sandbox did not start");
		return;
	}
	char script[96];
	snprintf(script, sizeof script, "setsid sleep %s >/dev/null 2>&1 </dev/null & echo ok", marker);
	free(out_of(sb, ARGV("sh", "-c", script)));
	msb_sandbox_free(sb);
	int64_t pid = lookup("crash").pid;
	if (!ok(agent_alive(pid), "the agent of a detached sandbox runs (pid %lld)", (long long)pid)) {
		skip(7, "no agent to crash");
		return;
	}
	/* the crash: SIGKILL gives stage 0 no chance to clean up */
	kill((pid_t)pid, SIGKILL);
	ok(agent_gone(pid, 3000), "SIGKILL ends the agent");
	int alive = 1;
	for (int i = 0; i < 100 && alive; i++) {
		alive = msbt_host_has_cmdline("sleep", marker);
		if (alive)
			usleep(20 * 1000);
	}
	ok(!alive, "... and the sandbox with it (PDEATHSIG)");
	msb_sandbox_info info = lookup("crash");
	ok(info.status == MSB_STATUS_EXITED && info.pid == 0,
	   "the stale entry is listed EXITED, pid 0 (status %d, pid %lld)",
	   (int)info.status, (long long)info.pid);
	info = lookup("crash");
	is_int(info.status, MSB_STATUS_EXITED, "... and still EXITED when listed again (never STOPPED or RUNNING)");
	sb = NULL;
	uint64_t t0 = msbt_now_ms();
	int rc = msb_sandbox_connect(&sb, "crash");
	ok(rc != 0 && !sb && msbt_now_ms() - t0 < 3000,
	   "connecting to it fails at once (%d, %llu ms)", rc,
	   (unsigned long long)(msbt_now_ms() - t0));
	is_int(rc, MSB_ESTATE, "... with MSB_ESTATE");
	sb = start_named("crash", 0);
	ok(sb != NULL, "a new sandbox can take the name of the crashed one");
	msb_sandbox_stop(sb, 0);
	msb_sandbox_free(sb);
	msb_sandbox_remove("crash");
}

/* ---- the wall-time limit ------------------------------------------------------ */

static void test_wall_time(void)
{
	msb_sandbox *sb = start_named("timed", 1000);

	if (!sb) {
		skip(3, "the detached sandbox did not start");
		return;
	}
	msb_sandbox_free(sb);
	int64_t pid = lookup("timed").pid;
	ok(agent_alive(pid), "a detached sandbox with a 1 s wall-time limit runs, its handle freed");
	ok(agent_gone(pid, 5000), "the limit ends it: its agent is gone");
	msb_sandbox_info info = lookup("timed");
	ok(info.status == MSB_STATUS_EXITED,
	   "the list shows it EXITED (ended on its own; status %d)", (int)info.status);
	is_int(msb_sandbox_connect(&sb, "timed"), MSB_ESTATE, "connecting to it: MSB_ESTATE");
	msb_sandbox_remove("timed");
}

/* ---- clients that stop reading ---------------------------------------------- */

/* A number from /proc/pid/status ("VmRSS:", "PPid:"), or -1. */
static long proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, strlen(key))) {
			v = strtol(line + strlen(key), NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* The agent that serves a detached sandbox: stage 0's child msb-agent
 * (stage 1, PID 1 of the sandbox); 0 if there is none. */
static pid_t serving_agent(int64_t stage0)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && (e = readdir(d)) && !found) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (proc_status(pid, "PPid:") == stage0 && agent_alive(pid))
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

static int stuck_cb(int stream, const uint8_t *data, size_t len, void *payload)
{
	(void)!write(*(int *)payload, "x", 1);
	for (;;)
		pause();
	return 0;
}

/*
 * Another process that connects to the sandbox, asks for 1 GiB of a
 * command's output (or, with file, a 64 MiB file), takes the first chunk
 * and then never reads again: a stuck or malicious client. *ready becomes
 * readable when it has its first chunk.
 */
static pid_t stuck_client(const char *name, int file, int *ready)
{
	int p[2];

	if (pipe(p) < 0)
		bail_out("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		msb_sandbox *sb = NULL;
		msb_command_result *res = NULL;
		msb_command_options co = MSB_COMMAND_OPTIONS_INIT;

		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (msb_sandbox_connect(&sb, name))
			_exit(1);
		co.argv = ARGV("head", "-c", "1G", "/dev/zero");
		if (file)
			msb_file_read_stream(sb, "/tmp/big", 0, stuck_cb, &p[1]);
		else
			msb_command_run_stream(&res, sb, &co, stuck_cb, &p[1]);
		_exit(2);
	}
	close(p[1]);
	*ready = p[0];
	return pid;
}

static int ready_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1;
}

static int command_listed(msb_sandbox *sb, const char *command)
{
	msb_process_list *l = NULL;
	int seen = 0;

	if (msb_process_list_all(&l, sb) == 0)
		for (size_t i = 0; i < l->len; i++)
			seen |= !strcmp(l->items[i].command, command);
	msb_process_list_free(l);
	return seen;
}

/* `seq 1 N`, as the sandbox's seq prints it. */
static char *seq_text(unsigned n, size_t *len)
{
	size_t cap = (size_t)n * 8 + 64, used = 0;
	char *s = malloc(cap);

	if (!s)
		bail_out("out of memory");
	for (unsigned i = 1; i <= n; i++)
		used += (size_t)snprintf(s + used, cap - used, "%u\n", i);
	*len = used;
	return s;
}

/* A client that reads seq's ~31 MB slowly: every byte, in order; the
 * agent's RSS stays within max_kb meanwhile. */
static void slow_reader(msb_sandbox *sb, pid_t agent, long max_kb)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	msb_process *p = NULL;
	size_t want_len, got = 0;
	char *want = seq_text(4000000, &want_len);
	long rss_max = 0;
	int in_order = 1, stream, reads = 0;
	msb_buf b;

	co.argv = ARGV("seq", "1", "4000000");
	uint64_t t0 = msbt_now_ms();
	int rc = msb_process_start(&p, sb, &co);
	if (rc) {
		msbt_diag_error("msb_process_start", rc);
		skip(2, "seq did not start");
		free(want);
		return;
	}
	while (msb_process_read(&b, &stream, p, 60000) == 0) {
		if (stream == MSB_STREAM_STDOUT) {
			if (got + b.len > want_len || memcmp(want + got, b.ptr, b.len))
				in_order = 0;
			got += b.len;
		}
		msb_buf_free(&b);
		if (++reads % 16 == 0) {
			long rss = proc_status(agent, "VmRSS:");
			if (rss > rss_max)
				rss_max = rss;
			usleep(10 * 1000);
		}
	}
	rc = msb_process_wait(&res, p, 60000);
	ok(in_order && got == want_len && rc == 0 && res && res->exit_code == 0,
	   "a client reading slowly (%d reads, %llu ms) gets all %zu bytes of seq 1 4000000, "
	   "in order (got %zu, exit %d)", reads, (unsigned long long)(msbt_now_ms() - t0),
	   want_len, got, res ? res->exit_code : -1);
	ok(rss_max > 0 && rss_max < max_kb,
	   "... while the agent's RSS stays under %ld kB (at most %ld kB)", max_kb, rss_max);
	msb_command_result_free(res);
	msb_process_free(p);
	free(want);
}

struct file_check {
	const char *want;
	size_t want_len, got;
	int in_order, calls;
};

static int file_slowly(int stream, const uint8_t *data, size_t len, void *payload)
{
	struct file_check *f = payload;

	if (f->got + len > f->want_len || memcmp(f->want + f->got, data, len))
		f->in_order = 0;
	f->got += len;
	f->calls++;
	usleep(10 * 1000);
	return 0;
}

/* A file read slowly: every byte, in order. */
static void slow_file_reader(msb_sandbox *sb)
{
	size_t len;
	char *want = seq_text(1000000, &len);
	struct file_check f = { want, len, 0, 1, 0 };
	int code = -1;

	free(msbt_output(sb, ARGV("sh", "-c", "seq 1 1000000 > /tmp/seq"), &code));
	uint64_t t0 = msbt_now_ms();
	int rc = msb_file_read_stream(sb, "/tmp/seq", 0, file_slowly, &f);
	ok(code == 0 && rc == 0 && f.in_order && f.got == len,
	   "a file read slowly (%d chunks, %llu ms) comes whole, in order (%zu of %zu bytes)",
	   f.calls, (unsigned long long)(msbt_now_ms() - t0), f.got, len);
	free(want);
}

/* A command that ends while its last output still waits in its pipe, for a
 * client that is behind: that output still comes (the agent must not give
 * up on the pipe 100 ms after the exit, as it does for a background
 * process holding it open). The pipe is made 1 MiB so that it holds a lot
 * at the end. */
static void tail_after_exit(msb_sandbox *sb)
{
	static const char script[] =
		"import fcntl, sys\n"
		"fcntl.fcntl(1, 1031, 1 << 20)\n" /* F_SETPIPE_SZ */
		"sys.stdout.buffer.write(bytes(i % 251 for i in range(2 << 20)))\n";
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	msb_process *p = NULL;
	size_t got = 0;
	int in_order = 1, stream;
	msb_buf b;

	co.argv = ARGV("python3", "-c", script);
	int rc = msb_process_start(&p, sb, &co);
	if (rc) {
		msbt_diag_error("msb_process_start", rc);
		skip(1, "python3 did not start");
		return;
	}
	usleep(1500 * 1000); /* behind: it writes 2 MiB and exits meanwhile */
	while (msb_process_read(&b, &stream, p, 30000) == 0) {
		for (size_t i = 0; stream == MSB_STREAM_STDOUT && i < b.len; i++)
			in_order &= b.ptr[i] == (uint8_t)((got + i) % 251);
		if (stream == MSB_STREAM_STDOUT)
			got += b.len;
		msb_buf_free(&b);
	}
	rc = msb_process_wait(&res, p, 30000);
	ok(rc == 0 && res && res->exit_code == 0 && got == (2u << 20) && in_order,
	   "a command that exits while 1 MiB of its output waits in the pipe for a client "
	   "that is behind: all %u bytes come, in order (got %zu, exit %d)", 2u << 20, got,
	   res ? res->exit_code : -1);
	msb_command_result_free(res);
	msb_process_free(p);
}

static void test_stuck_clients(void)
{
	msb_sandbox *sb = start_named("flow", 0);
	int code = -1, r1 = -1, r2 = -1, r3 = -1;

	if (!sb) {
		skip(13, "the detached sandbox did not start");
		return;
	}
	pid_t agent = serving_agent(lookup("flow").pid);
	free(out_of(sb, ARGV("sh", "-c", "head -c 64M /dev/zero > /tmp/big")));
	free(msbt_output(sb, ARGV("true"), &code));
	long rss0 = agent ? proc_status(agent, "VmRSS:") : -1;
	if (!ok(agent > 0 && rss0 > 0 && code == 0,
		"a detached sandbox with a 64 MiB file; its agent (pid %d) uses %ld kB",
		(int)agent, rss0)) {
		skip(12, "no agent to measure");
		msb_sandbox_stop(sb, 0);
		msb_sandbox_free(sb);
		msb_sandbox_remove("flow");
		return;
	}

	/* The attack: two more clients ask for a lot and stop reading. */
	pid_t c1 = stuck_client("flow", 0, &r1), c2 = stuck_client("flow", 1, &r2);
	ok(ready_within(r1, 20000) && ready_within(r2, 20000),
	   "two other processes connect, ask for 1 GiB of command output and a 64 MiB "
	   "file, take the first chunk and stop reading");
	usleep(1000 * 1000); /* for the agent to fill whatever it would fill */

	uint64_t worst = 0;
	int all = 1;
	for (int i = 0; i < 10; i++) {
		uint64_t t0 = msbt_now_ms();
		char *s = out_of(sb, ARGV("echo", "hi"));
		uint64_t dt = msbt_now_ms() - t0;
		all &= !strcmp(s, "hi");
		free(s);
		if (dt > worst)
			worst = dt;
	}
	ok(all && worst < 5000,
	   "meanwhile this client's commands run: 10 in a row, the slowest took %llu ms",
	   (unsigned long long)worst);
	ok(command_listed(sb, "head -c 1G /dev/zero"),
	   "the stuck client's command is paused, not killed");
	long rss1 = proc_status(agent, "VmRSS:");
	ok(rss1 > 0 && rss1 - rss0 < 16 * 1024,
	   "the agent holds no more than a few MiB for them: RSS %ld kB, was %ld kB", rss1, rss0);

	/* A slow reader is not a stuck one. */
	slow_reader(sb, agent, rss0 + 16 * 1024);
	tail_after_exit(sb);
	slow_file_reader(sb);

	kill(c1, SIGKILL);
	kill(c2, SIGKILL);
	waitpid(c1, NULL, 0);
	waitpid(c2, NULL, 0);
	int listed = 1;
	for (int i = 0; i < 100 && listed; i++) {
		listed = command_listed(sb, "head -c 1G /dev/zero");
		if (listed)
			usleep(50 * 1000);
	}
	ok(!listed, "killing the stuck clients kills their command");
	char *s = out_of(sb, ARGV("echo", "still"));
	is_str(s, "still", "... and this client goes on");
	free(s);

	/* Stopping with a stuck client connected. */
	pid_t c3 = stuck_client("flow", 0, &r3);
	ready_within(r3, 20000);
	usleep(500 * 1000);
	int64_t stage0 = lookup("flow").pid;
	uint64_t t0 = msbt_now_ms();
	is_int(msb_sandbox_stop(sb, -1), 0, "stop the sandbox while a stuck client is connected");
	ok(agent_gone(stage0, 10000) && msbt_now_ms() - t0 < 10000,
	   "... its agent is gone after %llu ms", (unsigned long long)(msbt_now_ms() - t0));
	kill(c3, SIGKILL);
	waitpid(c3, NULL, 0);
	close(r1);
	close(r2);
	close(r3);
	msb_sandbox_free(sb);
	msb_sandbox_remove("flow");
}

/* ---- the state directory ----------------------------------------------------- */

static void test_state_dir(void)
{
	char open_dir[] = "/tmp/msb-named-open-XXXXXX";
	msb_sandbox_list *l = NULL;

	if (!mkdtemp(open_dir))
		bail_out("mkdtemp: %s", strerror(errno));
	chmod(open_dir, 0777);
	setenv("MSB_STATE_DIR", open_dir, 1);
	int rc = msb_sandbox_list_all(&l);
	ok(rc == MSB_EPERM && !l && msb_error_last()->hint[0],
	   "a state directory others can write is refused: MSB_EPERM with a hint (%d)", rc);
	msb_sandbox_list_free(l);
	setenv("MSB_STATE_DIR", state_dir, 1);
	rmdir(open_dir);

	l = NULL;
	rc = msb_sandbox_list_all(&l);
	ok(rc == 0 && l, "the private state directory lists fine");
	msb_sandbox_list_free(l);
}

/* ---- squatting: another user makes the fallback state directory first ------ */

/*
 * The attack: with neither MSB_STATE_DIR nor XDG_RUNTIME_DIR set, an
 * unprivileged user's state directory was /tmp/msb-<uid>, which any other
 * local user can make first: a directory of theirs, a file, a symlink. The
 * victim runs in a child (as root: dropped to an unused uid, the squatter
 * being SQUATTER), which sends its checks to this process to report.
 */
#define SQUATTER 65534

struct victim {
	uid_t uid;
	const char *home;      /* NULL: HOME unset */
	char fallback[64];     /* /tmp/msb-<uid> */
	const char *owner;     /* the squat's owner as the error names it */
	const char *why;       /* what the error says of the home */
};

struct squat_check {
	int pass;              /* -1: skipped */
	char name[500];
};

static int squat_fd = -1; /* the child's end of the pipe */

static TAP_PRINTF(2, 3) void child_ok(int pass, const char *fmt, ...)
{
	struct squat_check c = { .pass = pass };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c.name, sizeof c.name, fmt, ap);
	va_end(ap);
	(void)!write(squat_fd, &c, sizeof c); /* < PIPE_BUF: one piece */
}

/* Run fn as the victim, in a child with its environment and uid; report
 * its checks, which must be n. */
static void as_victim(const struct victim *v, void (*fn)(const struct victim *),
		      int n, const char *what)
{
	struct squat_check c;
	int p[2], got = 0, st = -1;
	pid_t pid;

	if (pipe(p) < 0 || (pid = fork()) < 0)
		bail_out("pipe/fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		squat_fd = p[1];
		msbt_watchdog(90);
		unsetenv("MSB_STATE_DIR");
		unsetenv("XDG_RUNTIME_DIR");
		unsetenv("XDG_STATE_HOME");
		if (v->home)
			setenv("HOME", v->home, 1);
		else
			unsetenv("HOME");
		if (v->uid != geteuid() &&
		    (setgroups(0, NULL) < 0 || setresgid(v->uid, v->uid, v->uid) < 0 ||
		     setresuid(v->uid, v->uid, v->uid) < 0)) {
			child_ok(0, "%s: become uid %u: %s", what, (unsigned)v->uid,
				 strerror(errno));
			_exit(1);
		}
		fn(v);
		_exit(0);
	}
	close(p[1]);
	while (read(p[0], &c, sizeof c) == (ssize_t)sizeof c) {
		c.name[sizeof c.name - 1] = '\0';
		if (c.pass < 0)
			skip(1, "%s", c.name);
		else
			ok(c.pass, "%s: %s", what, c.name);
		got++;
	}
	close(p[0]);
	waitpid(pid, &st, 0);
	if (got != n || !WIFEXITED(st) || WEXITSTATUS(st))
		ok(0, "%s: the victim made %d of %d checks and ended with status 0x%x",
		   what, got, n, st);
}

/* With a home: the state directory is under it, whatever /tmp holds.
 * 4 checks. */
static void victim_home(const struct victim *v)
{
	char sock[PATH_MAX];
	msb_sandbox_list *l = NULL;
	msb_sandbox *sb, *sb2 = NULL;
	const char *why;
	struct stat st;
	int rc;

	rc = msb_sandbox_list_all(&l);
	child_ok(rc == 0 && l, "listing works (%d: %s)", rc, rc ? msb_error_last()->message : "");
	msb_sandbox_list_free(l);
	if ((why = msbt_sandbox_unavailable())) {
		for (int i = 0; i < 3; i++)
			child_ok(-1, "uid %u cannot run sandboxes: %s", (unsigned)v->uid, why);
		return;
	}
	snprintf(sock, sizeof sock, "%s/.local/state/msb/squat-home/agent.sock", v->home);
	sb = start_named("squat-home", 0);
	child_ok(sb && lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode),
		 "a detached sandbox starts, its socket under the home (%s)", sock);
	rc = msb_sandbox_connect(&sb2, "squat-home");
	child_ok(rc == 0 && lookup("squat-home").status == MSB_STATUS_RUNNING,
		 "... is reached by name and listed running (%d)", rc);
	msb_sandbox_free(sb2);
	rc = sb ? msb_sandbox_stop(sb, -1) : -1;
	msb_sandbox_free(sb);
	if (rc == 0)
		rc = msb_sandbox_remove("squat-home");
	child_ok(rc == 0, "... stops and is removed (%d)", rc);
}

/* No usable home, the fallback squatted: MSB_EPERM that says where and
 * whose, and what to do. 2 checks. */
static void victim_locked_out(const struct victim *v)
{
	msb_sandbox_list *l = NULL;
	msb_sandbox *sb = NULL;
	const msb_error *e;
	int rc;

	rc = msb_sandbox_list_all(&l);
	e = msb_error_last();
	child_ok(rc == MSB_EPERM && !l && strstr(e->message, v->fallback) &&
		 strstr(e->message, v->owner) && strstr(e->message, v->why) &&
		 e->hint[0], "listing fails with MSB_EPERM naming %s, %s and the "
		 "home, with a hint (%d: %s -- hint: %s)", v->fallback, v->owner, rc,
		 e->message, e->hint);
	msb_sandbox_list_free(l);
	msb_sandbox_options o = detached("squat-tmp");
	rc = msb_sandbox_create(&sb, &o);
	if (rc == 0)
		rc = msb_sandbox_start(sb);
	child_ok(rc == MSB_EPERM, "a detached sandbox does not start: MSB_EPERM (%d)", rc);
	msb_sandbox_free(sb);
}

/* Nothing squatted, no home: /tmp/msb-<uid> as before. 1 check. */
static void victim_tmp(const struct victim *v)
{
	msb_sandbox_list *l = NULL;
	int rc = msb_sandbox_list_all(&l);

	child_ok(rc == 0 && l, "listing works (%d)", rc);
	msb_sandbox_list_free(l);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(path) < 0 ? -1 : 0;
}

static void rm_tree(const char *path)
{
	if (path[0])
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* path: a directory with nothing in it, owned by uid */
static int empty_dir_of(const char *path, uid_t uid)
{
	struct stat st;
	struct dirent *e;
	int n = 0;
	DIR *d;

	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid ||
	    !(d = opendir(path)))
		return 0;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n == 0;
}

static void test_squatting(void)
{
	int root = geteuid() == 0;
	char home[] = "/tmp/msbhXXXXXX", long_home[] = "/tmp/msb-named-long-home-XXXXXX";
	char target[] = "/tmp/msb-named-target-XXXXXX", owner[32], why[32];
	struct victim v = { .uid = geteuid(), .home = NULL };
	struct stat st;
	int fd;

	/* The victim: this user, or as root an unused uid (from one that
	 * depends on the pid, should two of these tests run at once). */
	for (int i = 0; root && i < 1000; i++) {
		uid_t u = 61000 + (uid_t)((getpid() + i) % 1000);

		snprintf(v.fallback, sizeof v.fallback, "/tmp/msb-%u", (unsigned)u);
		if (!getpwuid(u) && lstat(v.fallback, &st) < 0) {
			v.uid = u;
			break;
		}
	}
	snprintf(v.fallback, sizeof v.fallback, "/tmp/msb-%u", (unsigned)v.uid);
	if ((root && v.uid == 0) || lstat(v.fallback, &st) == 0) {
		skip(17, "%s exists: this user's own state directory, not ours to squat",
		     v.fallback);
		return;
	}
	if (!mkdtemp(home) || !mkdtemp(long_home) || !mkdtemp(target) ||
	    (root && (chown(home, v.uid, v.uid) < 0 || chown(long_home, v.uid, v.uid) < 0 ||
		      chown(target, v.uid, v.uid) < 0)))
		bail_out("cannot make the victim's directories: %s", strerror(errno));

	/* Nothing squatted, no home: /tmp/msb-<uid> as before. */
	v.home = "/nonexistent";
	as_victim(&v, victim_tmp, 1, "nothing squatted, no home");
	ok(empty_dir_of(v.fallback, v.uid) && lstat(v.fallback, &st) == 0 &&
	   (st.st_mode & 0777) == 0700, "... %s is the state directory, 0700", v.fallback);
	rmdir(v.fallback);

	if (root) {
		/* A directory of the squatter's. */
		if (mkdir(v.fallback, 0700) < 0 || chown(v.fallback, SQUATTER, SQUATTER) < 0)
			bail_out("cannot squat %s: %s", v.fallback, strerror(errno));
		snprintf(owner, sizeof owner, "uid %u", SQUATTER);
		v.owner = owner;
		v.home = home;
		as_victim(&v, victim_home, 4, "squatted, with a home");
		ok(empty_dir_of(v.fallback, SQUATTER), "... the squatter's %s is untouched",
		   v.fallback);
		v.home = "/nonexistent";
		v.why = "/nonexistent";
		as_victim(&v, victim_locked_out, 2, "squatted, no home");
		v.home = long_home;
		v.why = "too long";
		as_victim(&v, victim_locked_out, 2, "squatted, a home too long for sockets");
		ok(empty_dir_of(v.fallback, SQUATTER), "... the squatter's %s is untouched",
		   v.fallback);
		rmdir(v.fallback);

		/* A file of the squatter's. */
		if ((fd = open(v.fallback, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644)) < 0 ||
		    fchown(fd, SQUATTER, SQUATTER) < 0)
			bail_out("cannot squat %s: %s", v.fallback, strerror(errno));
		close(fd);
		v.home = NULL;
		v.why = "HOME";
		as_victim(&v, victim_locked_out, 2, "a file squats, HOME unset");
		unlink(v.fallback);
	} else {
		v.home = home;
		as_victim(&v, victim_home, 4, "with a home");
		ok(lstat(v.fallback, &st) < 0, "... the home is taken before /tmp: "
		   "no %s", v.fallback);
		skip(7, "not root: making a directory owned by another user takes root");
	}

	/* A symlink to a directory of the victim's own: refused, not followed. */
	if (symlink(target, v.fallback) < 0 ||
	    (root && lchown(v.fallback, SQUATTER, SQUATTER) < 0))
		bail_out("cannot squat %s: %s", v.fallback, strerror(errno));
	snprintf(owner, sizeof owner, "uid %u", root ? SQUATTER : (unsigned)v.uid);
	snprintf(why, sizeof why, "/nonexistent");
	v.owner = owner;
	v.home = "/nonexistent";
	v.why = why;
	as_victim(&v, victim_locked_out, 2, "a symlink squats, no home");
	ok(empty_dir_of(target, v.uid) && lstat(v.fallback, &st) == 0 &&
	   S_ISLNK(st.st_mode), "... the link is not followed: %s stays empty", target);
	unlink(v.fallback);

	rm_tree(home);
	rm_tree(long_home);
	rm_tree(target);
}

/* A socket that accepts and hangs up at once (mute: accepts and never
 * answers), where a sandbox's entry says its agent listens: connecting
 * fails, and says why (the handshake's error must survive the cleanup of
 * the half-born handle; a timeout says how long it really waited). */
static void test_connect_fake(int mute)
{
	char dir[96], path[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	msb_sandbox *sb = (msb_sandbox *)1;
	FILE *f;
	int fd, rc;
	pid_t child;

	snprintf(dir, sizeof dir, "%.64s/liar", state_dir);
	snprintf(path, sizeof path, "%s/state.json", dir);
	if (mkdir(dir, 0700) < 0 || !(f = fopen(path, "w")))
		bail_out("cannot make the fake entry: %s", strerror(errno));
	fputs("{\"name\":\"liar\",\"pid\":0,\"created_ms\":1,\"backend\":\"os\"}", f);
	fclose(f);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%.90s/agent.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0)
		bail_out("cannot listen at %s: %s", sa.sun_path, strerror(errno));
	child = fork();
	if (child == 0) {
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c >= 0 && !mute)
				close(c);
		}
	}
	close(fd);
	uint64_t t0 = msbt_now_ms();
	rc = msb_sandbox_connect(&sb, "liar");
	const msb_error *e = msb_error_last();
	if (!mute) {
		ok(rc != 0 && sb == NULL, "connecting to a socket that hangs up fails (%d)", rc);
		ok(e->code == rc && strcmp(e->message, "no error") != 0 && e->message[0] &&
		   e->hint[0], "... and the error says why, with a hint: %s (%s)", e->message,
		   e->hint);
	} else {
		unsigned long long said = 0, took = msbt_now_ms() - t0;
		const char *p = strstr(e->message, "ms since the start");
		while (p && p > e->message && p[-1] == ' ')
			p--;
		while (p && p > e->message && p[-1] >= '0' && p[-1] <= '9')
			p--;
		if (p)
			said = strtoull(p, NULL, 10);
		ok(rc == MSB_ETIMEDOUT && sb == NULL, "connecting to a socket that never answers "
		   "times out (%d after %llu ms)", rc, took);
		ok(said >= 30000 && said <= took + 1000 && e->hint[0],
		   "... and says how long it really waited, with a hint: %s", e->message);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	unlink(sa.sun_path);
	unlink(path);
	rmdir(dir);
}

/* Leave nothing behind: kill and remove every entry, then the directory. */
static void cleanup(void)
{
	msb_sandbox_list *l = NULL;

	if (msb_sandbox_list_all(&l) == 0)
		for (size_t i = 0; i < l->len; i++) {
			msb_sandbox_kill(l->items[i].name);
			msb_sandbox_remove(l->items[i].name);
		}
	msb_sandbox_list_free(l);
	if (rmdir(state_dir) < 0)
		diag("the state directory %s is not empty: %s", state_dir, strerror(errno));
}

int main(void)
{
	msbt_watchdog(180);
	msbt_require_sandboxes();
	snprintf(state_dir, sizeof state_dir, "/tmp/msb-named-XXXXXX");
	if (!mkdtemp(state_dir))
		bail_out("mkdtemp: %s", strerror(errno));
	setenv("MSB_STATE_DIR", state_dir, 1);

	test_creator_exits();
	test_outlives_handle();
	test_names();
	test_stop_remove();
	test_kill();
	test_stale();
	test_wall_time();
	test_stuck_clients();
	test_state_dir();
	test_squatting();
	test_connect_fake(0);
	test_connect_fake(1);

	cleanup();
	return done_testing();
}
