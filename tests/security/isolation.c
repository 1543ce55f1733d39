/*
 * isolation.c - what crosses the sandbox boundary: network interfaces, the
 * host's file descriptors, processes that outlive a sandbox, one sandbox
 * seeing another, and the environment.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/*
 * The environment a command sees when the caller passes nothing: the
 * agent's defaults (also in README.md's table).  The test keeps its own
 * copy on purpose: it checks what the agent does, not what it declares.
 */
static const char *const default_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"LANG=C.UTF-8",
};

static char *probe(msb_sandbox *sb, const char *sub, const char *a, const char *b)
{
	const char *argv[5] = {MSBT_PROBE, sub, a, b, NULL};
	return msbt_output(sb, argv, NULL);
}

static void test_network(msb_sandbox *sb)
{
	char *ifs = probe(sb, "netdev", NULL, NULL);
	is_str(ifs, "lo\n", "only lo is in /proc/net/dev");
	free(ifs);

	char *r = msbt_chomp(probe(sb, "connect", "1.1.1.1", "53"));
	ok(!strcmp(r, "ENETUNREACH") || !strcmp(r, "EHOSTUNREACH") ||
	   !strcmp(r, "EPERM") || !strcmp(r, "EACCES"),
	   "an outside address is unreachable (%s)", r);
	free(r);
	r = msbt_chomp(probe(sb, "connect", "10.0.2.2", "22"));
	ok(strcmp(r, "OK") != 0 && strcmp(r, "ETIMEDOUT") != 0 &&
	   strcmp(r, "ECONNREFUSED") != 0,
	   "a private address is unreachable at once (%s)", r);
	free(r);
}

/* A process listening on the host's loopback is not reachable: the
 * sandbox's lo is its own. */
static void test_host_loopback(msb_sandbox *sb)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) || listen(s, 4) ||
	    getsockname(s, (struct sockaddr *)&sa, &len)) {
		skip(1, "cannot listen on the host's loopback");
		if (s >= 0)
			close(s);
		return;
	}
	char port[16];
	snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
	char *r = msbt_chomp(probe(sb, "connect", "127.0.0.1", port));
	ok(strcmp(r, "OK") != 0, "a host service on 127.0.0.1:%s is not reachable (%s)",
	   port, r);
	free(r);
	close(s);
}

static void test_fd_leaks(void)
{
	/* fds without O_CLOEXEC, opened before the sandbox starts */
	char tmpl[] = "/tmp/msb-test-leak-XXXXXX";
	int f = mkstemp(tmpl); /* mkstemp does not set O_CLOEXEC */
	int p[2] = {-1, -1}, sp[2] = {-1, -1};
	int pipe_ok = pipe(p) == 0;
	int sp_ok = socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0;
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	ok(f >= 0 && pipe_ok && sp_ok && dir >= 0,
	   "opened a file, a pipe, a socketpair and a directory without O_CLOEXEC");

	msb_sandbox *sb = msbt_start(NULL);
	if (!sb) {
		ok(0, "start a sandbox");
	} else {
		char *fds = probe(sb, "fds", NULL, NULL);
		is_str(fds, "", "a command sees no fds but 0, 1 and 2");
		if (fds[0])
			diag("visible fds:\n%s", fds);
		free(fds);
		/* and the agent (pid 1) neither holds the host's files */
		char *ls = probe(sb, "ls", "/proc/1/fd", NULL);
		ok(!strstr(ls, "msb-test-leak"), "the agent holds none of the test's files");
		free(ls);
		msb_sandbox_free(sb);
	}
	if (f >= 0) {
		close(f);
		unlink(tmpl);
	}
	if (pipe_ok) {
		close(p[0]);
		close(p[1]);
	}
	if (sp_ok) {
		close(sp[0]);
		close(sp[1]);
	}
	if (dir >= 0)
		close(dir);
}

/* Is any host process's cmdline exactly "sleep <marker>"? */
static int host_has_sleep(const char *marker)
{
	return msbt_host_has_cmdline("sleep", marker);
}

static void test_no_survivors(void)
{
	char marker[64];
	snprintf(marker, sizeof marker, "1000.%d", (int)getpid());
	char script[128];
	snprintf(script, sizeof script,
		 "sleep %s >/dev/null 2>&1 </dev/null & echo $!", marker);

	msb_sandbox *sb = msbt_start(NULL);
	if (!sb) {
		ok(0, "start a sandbox");
		return;
	}
	int code;
	char *out = msbt_output(sb, ARGV("sh", "-c", script), &code);
	ok(code == 0 && atoi(out) > 0, "a background sleep started inside (pid %s)",
	   msbt_chomp(out));
	free(out);
	usleep(100 * 1000);
	ok(host_has_sleep(marker), "the host sees the background sleep while the sandbox runs");
	msb_sandbox_free(sb);
	int alive = host_has_sleep(marker);
	for (int i = 0; i < 20 && alive; i++) {
		usleep(100 * 1000);
		alive = host_has_sleep(marker);
	}
	ok(!alive, "no process outlives a freed sandbox");

	/* the same with stop() */
	sb = msbt_start(NULL);
	if (!sb) {
		ok(0, "start a sandbox");
		return;
	}
	snprintf(marker, sizeof marker, "1001.%d", (int)getpid());
	snprintf(script, sizeof script,
		 "setsid sleep %s >/dev/null 2>&1 </dev/null & echo started", marker);
	out = msbt_output(sb, ARGV("sh", "-c", script), &code);
	free(out);
	usleep(100 * 1000);
	ok(host_has_sleep(marker), "a setsid'd background sleep runs inside");
	msb_sandbox_stop(sb, 200);
	alive = host_has_sleep(marker);
	for (int i = 0; i < 20 && alive; i++) {
		usleep(100 * 1000);
		alive = host_has_sleep(marker);
	}
	ok(!alive, "no process (even in its own session) outlives a stopped sandbox");
	msb_sandbox_free(sb);
}

/* The owner of a sandbox dies without freeing it (SIGKILL): everything in
 * the sandbox must die with it. */
static void test_owner_death(void)
{
	char marker[64], script[128];
	int ready[2];

	snprintf(marker, sizeof marker, "1002.%d", (int)getpid());
	snprintf(script, sizeof script,
		 "setsid sleep %s >/dev/null 2>&1 </dev/null & echo started", marker);
	if (pipe(ready) < 0)
		bail_out("pipe: %s", strerror(errno));
	pid_t owner = fork();
	if (owner < 0)
		bail_out("fork: %s", strerror(errno));
	if (owner == 0) {
		msb_sandbox *sb = msbt_start(NULL);
		int code = -1;
		if (sb)
			free(msbt_output(sb, ARGV("sh", "-c", script), &code));
		if (write(ready[1], code == 0 ? "y" : "n", 1) != 1)
			_exit(1);
		pause(); /* until the parent kills us, sandbox still running */
		_exit(0);
	}
	close(ready[1]);
	char c = 'n';
	if (read(ready[0], &c, 1) != 1)
		c = 'n';
	close(ready[0]);
	usleep(100 * 1000);
	ok(c == 'y' && host_has_sleep(marker),
	   "the owner's sandbox runs a background sleep in its own session");
	kill(owner, SIGKILL);
	waitpid(owner, NULL, 0);
	int alive = host_has_sleep(marker);
	for (int i = 0; i < 30 && alive; i++) {
		usleep(100 * 1000);
		alive = host_has_sleep(marker);
	}
	ok(!alive, "when the owning process is killed, every process in its sandbox dies");
}

struct bg {
	msb_sandbox *sb;
	const char *marker;
};

static void *bg_sleep(void *arg)
{
	struct bg *b = arg;
	msb_command_result *res = NULL;
	msbt_run(&res, b->sb, ARGV("sleep", b->marker));
	msb_command_result_free(res);
	return NULL;
}

static void test_two_sandboxes(void)
{
	msb_sandbox *a = msbt_start(NULL), *b = msbt_start(NULL);
	if (!a || !b) {
		ok(0, "start two sandboxes");
		msb_sandbox_free(a);
		msb_sandbox_free(b);
		return;
	}
	int code;
	char *out = msbt_output(a, ARGV("sh", "-c", "echo secret > /tmp/x && echo written"), &code);
	ok(!strcmp(out, "written\n"), "A writes /tmp/x");
	free(out);
	out = msbt_chomp(probe(b, "stat", "/tmp/x", NULL));
	is_str(out, "ENOENT", "B does not see A's /tmp/x");
	free(out);
	out = msbt_chomp(probe(b, "stat", "/workspace", NULL));
	is_str(out, "OK", "B has its own /workspace");
	free(out);

	/* a process in A is invisible in B */
	char marker[32];
	snprintf(marker, sizeof marker, "1.%d", (int)getpid());
	struct bg bga = {a, marker};
	pthread_t th;
	pthread_create(&th, NULL, bg_sleep, &bga);
	usleep(300 * 1000);
	char *psa = probe(a, "ps", NULL, NULL);
	char *psb = probe(b, "ps", NULL, NULL);
	pthread_join(th, NULL);
	char want[64];
	snprintf(want, sizeof want, "sleep %s", marker);
	ok(strstr(psa, want) != NULL, "A's ps shows A's sleep");
	ok(strstr(psb, want) == NULL, "B's ps does not show A's sleep");
	int n = msbt_count_lines(psb);
	ok(n >= 1 && n <= 3, "B's /proc holds only B's own processes (%d)", n);
	ok(strncmp(psb, "1 ", 2) == 0 || strstr(psb, "\n1 ") != NULL,
	   "B's processes are numbered from 1 (its own pid namespace)");
	if (n > 3)
		diag("B's ps:\n%s", psb);
	free(psa);
	free(psb);

	/* B cannot signal A's agent or anything by host pid */
	out = msbt_output(a, ARGV(MSBT_PROBE, "pid"), NULL);
	diag("A's probe pid/ppid: %s", msbt_chomp(out));
	free(out);
	pid_t self = getpid();
	char pidbuf[16];
	snprintf(pidbuf, sizeof pidbuf, "%d", (int)self);
	out = msbt_chomp(probe(b, "kill", pidbuf, "0"));
	ok(strcmp(out, "OK") != 0, "the sandbox cannot signal the test process by its host pid (%s)",
	   out);
	free(out);

	msb_sandbox_free(a);
	msb_sandbox_free(b);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void test_env(void)
{
	msb_sandbox_options o = msbt_options();
	o.env = ARGV("SB_ONE=1", "LANG=sandbox-override");
	msb_sandbox *sb = msbt_start(&o);
	if (!sb) {
		ok(0, "start a sandbox with env");
		return;
	}
	/* what the caller's own environment holds must not leak in */
	setenv("MSB_TEST_HOST_SECRET", "leak", 1);

	msb_command_result *res = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV(MSBT_PROBE, "env");
	co.env = ARGV("CMD_TWO=2");
	if (msb_command_run(&res, sb, &co)) {
		msbt_diag_error("probe env", -1);
		ok(0, "the probe printed its environment");
		msb_sandbox_free(sb);
		return;
	}
	char *got = malloc(res->out.len + 1);
	memcpy(got, res->out.ptr, res->out.len);
	got[res->out.len] = '\0';
	msb_command_result_free(res);

	/* expected: defaults, overridden by the sandbox's, plus the command's */
	const char *want[16];
	size_t nw = 0;
	for (size_t i = 0; i < sizeof default_env / sizeof default_env[0]; i++)
		if (strncmp(default_env[i], "LANG=", 5) != 0)
			want[nw++] = default_env[i];
	want[nw++] = "LANG=sandbox-override";
	want[nw++] = "SB_ONE=1";
	want[nw++] = "CMD_TWO=2";
	qsort(want, nw, sizeof want[0], cmp_str);

	char *lines[64];
	size_t nl = 0;
	for (char *l = strtok(got, "\n"); l && nl < 64; l = strtok(NULL, "\n"))
		lines[nl++] = l;
	qsort(lines, nl, sizeof lines[0], cmp_str);

	int same = nl == nw;
	for (size_t i = 0; same && i < nw; i++)
		same = !strcmp(lines[i], want[i]);
	ok(same, "the environment is exactly the documented defaults + the caller's");
	if (!same) {
		for (size_t i = 0; i < nl; i++)
			diag("  got:  %s", lines[i]);
		for (size_t i = 0; i < nw; i++)
			diag("  want: %s", want[i]);
	}
	free(got);

	/* and with nothing passed, exactly the defaults */
	msb_sandbox_free(sb);
	sb = msbt_start(NULL);
	char *plain = sb ? probe(sb, "env", NULL, NULL) : strdup("");
	nl = 0;
	for (char *l = strtok(plain, "\n"); l && nl < 64; l = strtok(NULL, "\n"))
		lines[nl++] = l;
	qsort(lines, nl, sizeof lines[0], cmp_str);
	nw = 0;
	for (size_t i = 0; i < sizeof default_env / sizeof default_env[0]; i++)
		want[nw++] = default_env[i];
	qsort(want, nw, sizeof want[0], cmp_str);
	same = nl == nw;
	for (size_t i = 0; same && i < nw; i++)
		same = !strcmp(lines[i], want[i]);
	ok(same, "with no env given, the environment is exactly the documented defaults");
	if (!same)
		for (size_t i = 0; i < nl; i++)
			diag("  got:  %s", lines[i]);
	free(plain);
	msb_sandbox_free(sb);
	unsetenv("MSB_TEST_HOST_SECRET");
}

int main(void)
{
	msbt_watchdog(60);
	msbt_require_sandboxes();
	msb_sandbox *sb = msbt_start(NULL);
	if (!sb)
		bail_out("cannot start a sandbox");
	test_network(sb);
	test_host_loopback(sb);
	msb_sandbox_free(sb);
	test_fd_leaks();
	test_no_survivors();
	test_owner_death();
	test_two_sandboxes();
	test_env();
	return done_testing();
}
