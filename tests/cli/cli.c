/*
 * cli.c - the msb command: exit statuses, --json, usage errors, info; named
 * sandboxes (create, exec, ls, ps, shell, repl, cp, stop, kill, rm) under a
 * private MSB_STATE_DIR.
 * Runs build/bin/msb (found next to this test: ../bin/msb).
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <jansson.h>

#include "tap.h"
#include "msbt.h"

static char msb[PATH_MAX];

/* Run `msb ARGS` through sh with stdin from the file `in` (NULL:
 * /dev/null), capturing stdout (and stderr when err != NULL). Returns the
 * exit status, or -1. */
static int run_in(const char *in, const char *args, char **out, char **err)
{
	char cmd[2 * PATH_MAX + 1024], errfile[] = "/tmp/msb-cli-err-XXXXXX";
	int fd = mkstemp(errfile);
	size_t cap = 1 << 16, n = 0;
	FILE *p;
	int st;

	if (fd < 0)
		bail_out("mkstemp failed");
	close(fd);
	snprintf(cmd, sizeof cmd, "'%s' %s 2>%s <'%s'", msb, args, errfile,
		 in ? in : "/dev/null");
	*out = calloc(1, cap);
	p = popen(cmd, "r");
	if (!p || !*out)
		bail_out("popen failed");
	while (n + 1 < cap) {
		size_t r = fread(*out + n, 1, cap - n - 1, p);
		if (r == 0)
			break;
		n += r;
	}
	st = pclose(p);
	if (err) {
		FILE *f = fopen(errfile, "r");
		*err = calloc(1, cap);
		if (f && *err) {
			size_t r = fread(*err, 1, cap - 1, f);
			(*err)[r] = 0;
		}
		if (f)
			fclose(f);
	}
	unlink(errfile);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(const char *args, char **out, char **err)
{
	return run_in(NULL, args, out, err);
}

/* Run `msb ARGS` with the given bytes on its stdin. */
static int run_input(const char *input, size_t len, const char *args, char **out,
		     char **err)
{
	char in[] = "/tmp/msb-cli-in-XXXXXX";
	int fd = mkstemp(in);

	if (fd < 0 || write(fd, input, len) != (ssize_t)len)
		bail_out("cannot write %s", in);
	close(fd);
	int st = run_in(in, args, out, err);
	unlink(in);
	return st;
}

static void check(const char *args, int want, const char *name)
{
	char *out, *err;
	int st = run(args, &out, &err);
	is_int(st, want, "%s: exit %d", name, want);
	if (st != want)
		diag("stdout: %s\nstderr: %s", out, err);
	free(out);
	free(err);
}

/*
 * `msb create ARGS` with its stdout in a file, not a pipe of ours, so that
 * a detached agent holding on to it cannot hang this test. The printed
 * name goes to printed (size 128) when given. Returns the exit status.
 */
static int create(const char *args, char *printed)
{
	char file[] = "/tmp/msb-cli-create-XXXXXX", cmd[PATH_MAX], *out, *err;
	int fd = mkstemp(file);

	if (fd < 0)
		bail_out("mkstemp failed");
	close(fd);
	snprintf(cmd, sizeof cmd, "create %s >'%s'", args, file);
	int st = run(cmd, &out, &err);
	if (st)
		diag("msb create %s: %d: %s", args, st, err);
	free(out);
	free(err);
	FILE *f = fopen(file, "r");
	if (printed) {
		printed[0] = '\0';
		if (f && !fgets(printed, 128, f))
			printed[0] = '\0';
	}
	if (f)
		fclose(f);
	unlink(file);
	return st;
}

/* Run a shell command with stdout and stderr to /dev/null; its exit status,
 * or -1 when it did not finish in `secs` (then its process group is killed). */
static int returns_within(const char *shcmd, int secs)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		bail_out("fork failed");
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		setpgid(0, 0);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/bin/sh", "sh", "-c", shcmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < secs * 50; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		usleep(20 * 1000);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* Bad usage of the named-sandbox commands: exit 2, before touching any. */
static void usage_errors(void)
{
	check("create", 2, "create without a NAME");
	check("create a b", 2, "create with two NAMEs");
	check("create --memory lots x", 2, "create with a bad --memory");
	check("exec", 2, "exec without a NAME");
	check("exec onlyname", 2, "exec without a command");
	check("exec --bogus x -- true", 2, "exec with an unknown flag");
	check("ls extra", 2, "ls with an argument");
	check("ls --bogus", 2, "ls with an unknown flag");
	check("ps", 2, "ps without a NAME");
	check("ps a b", 2, "ps with two NAMEs");
	check("stop", 2, "stop without a NAME");
	check("stop --grace soon x", 2, "stop with a bad --grace");
	check("kill", 2, "kill without a NAME");
	check("kill a b", 2, "kill with two NAMEs");
	check("rm", 2, "rm without a NAME");
	check("shell", 2, "shell without a NAME");
	check("repl x 'print(1)'", 2, "repl without --lang");
	check("repl --lang cobol x 1", 2, "repl with an unknown language");
	check("repl --lang python", 2, "repl without a NAME");
	check("cp onlyone", 2, "cp with one argument");
	check("cp /tmp/a /tmp/b", 2, "cp between two host paths");
	check("cp a:/x b:/y", 2, "cp between two sandboxes");
}

static json_t *ls_entry(const char *name)
{
	char *out;
	json_error_t jerr;
	json_t *arr, *found = NULL;

	if (run("ls --json", &out, NULL) != 0) {
		free(out);
		return NULL;
	}
	arr = json_loads(out, 0, &jerr);
	if (!json_is_array(arr))
		diag("ls --json is not a JSON array: %s", out);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *e = json_array_get(arr, i);
		if (!strcmp(json_string_value(json_object_get(e, "name")) ?: "", name))
			found = json_incref(e);
	}
	json_decref(arr);
	free(out);
	return found;
}

static const char *ls_status(const char *name)
{
	static char st[32];
	json_t *e = ls_entry(name);
	snprintf(st, sizeof st, "%s", e ? json_string_value(json_object_get(e, "status")) ?: "?" :
		 "absent");
	json_decref(e);
	return st;
}

/* Named sandboxes through the CLI, in a private state directory. */
static void named(void)
{
	char dir[] = "/tmp/msb-cli-state-XXXXXX", *out, *err;
	int st;

	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	setenv("MSB_STATE_DIR", dir, 1);

	char printed[128];
	st = create("clibox", printed);
	ok(st == 0 && !strcmp(printed, "clibox\n"), "msb create clibox prints its name (%d)", st);
	st = run("create clibox >/dev/null", &out, &err);
	ok(st != 0 && strstr(err, "clibox"), "a second msb create clibox fails and says why (%d)", st);
	free(out);
	free(err);
	st = create("'../x'", NULL);
	is_int(st, 2, "msb create with an invalid name: usage error, exit 2");

	/* The sandbox must not keep the creator's stdout: `$(msb create X)`
	 * and `msb create X | cat` have to return. */
	char cmd[2 * PATH_MAX + 128];
	snprintf(cmd, sizeof cmd, "name=$('%s' create capbox) && [ \"$name\" = capbox ]", msb);
	st = returns_within(cmd, 15);
	ok(st == 0, "name=$(msb create capbox) returns, with the name (%d; -1: hung)", st);
	snprintf(cmd, sizeof cmd, "'%s' kill capbox; '%s' rm capbox", msb, msb);
	returns_within(cmd, 15);

	st = run("exec clibox -- sh -c 'echo kept > /tmp/f; exit 4'", &out, NULL);
	is_int(st, 4, "msb exec exits with the command's status");
	free(out);
	st = run("exec clibox -- cat /tmp/f", &out, NULL);
	ok(st == 0 && !strcmp(out, "kept\n"), "a file written by one msb exec is read by the next");
	free(out);
	st = run_input("abc", 3, "exec -i clibox -- tr a-z A-Z", &out, NULL);
	ok(st == 0 && !strcmp(out, "ABC"), "msb exec -i passes stdin (%s)", out);
	free(out);
	check("exec clibox -- no-such-program-xyz", 127, "msb exec of a missing program: 127");
	st = run("exec nosuchbox -- true", &out, &err);
	ok(st != 0 && st != 2 && strstr(err, "nosuchbox"),
	   "msb exec on a missing name fails (%d) with a message naming it", st);
	free(out);
	free(err);

	json_t *e = ls_entry("clibox");
	ok(e && !strcmp(json_string_value(json_object_get(e, "status")) ?: "", "running") &&
	   json_integer_value(json_object_get(e, "pid")) > 0 &&
	   json_integer_value(json_object_get(e, "created_ms")) / 1000 > time(NULL) - 60 &&
	   !strcmp(json_string_value(json_object_get(e, "backend")) ?: "", "os"),
	   "msb ls --json lists clibox running, with pid, created_ms and backend");
	json_decref(e);
	st = run("ls", &out, NULL);
	ok(st == 0 && strstr(out, "clibox") && strstr(out, "running"), "msb ls shows it too");
	free(out);

	/* msb ps: a background process started through the library */
	msb_sandbox *sb = NULL;
	msb_process *p = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = (const char *const[]){ "sleep", "4242", NULL };
	if (msb_sandbox_connect(&sb, "clibox") == 0 && msb_process_start(&p, sb, &co) == 0) {
		char line[64];
		snprintf(line, sizeof line, "%lld", (long long)msb_process_pid(p));
		st = run("ps clibox", &out, NULL);
		ok(st == 0 && strstr(out, "sleep 4242") && strstr(out, line),
		   "msb ps lists a running background process with its pid");
		if (st || !strstr(out, "sleep 4242"))
			diag("ps: %s", out);
		free(out);
	} else {
		ok(0, "msb ps lists a running background process");
	}
	msb_process_free(p);
	msb_sandbox_free(sb);

	static const char script[] = "echo hi-$((1+1))\nexit 5\n";
	st = run_input(script, sizeof script - 1, "shell clibox", &out, &err);
	ok(st == 5 && strstr(out, "hi-2"), "msb shell with piped stdin runs it: hi-2, exit 5 (%d)", st);
	if (st != 5 || !strstr(out, "hi-2"))
		diag("stdout: %s\nstderr: %s", out, err);
	free(out);
	free(err);
	check("shell clibox -- sh -c 'exit 7'", 7, "msb shell NAME -- CMD exits with its status");

	/* msb repl: the interpreter's state outlives each invocation */
	st = run("repl --lang python clibox 'x = 41'", &out, &err);
	if (st == 0) {
		free(out);
		free(err);
		st = run("repl --lang python clibox 'x + 1'", &out, &err);
		ok(st == 0 && !strcmp(out, "42\n"),
		   "msb repl keeps state across invocations: x = 41, then x + 1 prints 42 (%s)", out);
		free(out);
		free(err);
		st = run_input("print(x * 2)\n", 13, "repl --lang python clibox", &out, NULL);
		ok(st == 0 && !strcmp(out, "82\n"), "msb repl reads code from stdin (%s)", out);
		free(out);
		st = run("repl clibox --lang python 'x - 1'", &out, NULL);
		ok(st == 0 && !strcmp(out, "40\n"),
		   "the NAME may come before the flags: msb repl NAME --lang ... (%s)", out);
		free(out);
		st = run("exec clibox --env GREET=hi -- sh -c 'echo $GREET'", &out, NULL);
		ok(st == 0 && !strcmp(out, "hi\n"),
		   "msb exec NAME --env K=V -- CMD (%s)", out);
		free(out);
		st = run("repl --lang python clibox '1/0'", &out, &err);
		ok(st == 1 && strstr(err, "ZeroDivisionError"),
		   "a failing msb repl exits 1 and shows the error (%d)", st);
		free(out);
		free(err);
	} else {
		diag("msb repl: %d: %s", st, err);
		free(out);
		free(err);
		ok(0, "msb repl runs python code in a named sandbox");
	}

	/* msb cp: host -> sandbox -> host */
	char src[] = "/tmp/msb-cli-cp-XXXXXX", back[PATH_MAX], args[2 * PATH_MAX];
	int fd = mkstemp(src);
	static const char data[] = "line one\n\0binary\377\n";
	if (fd < 0 || write(fd, data, sizeof data - 1) != (ssize_t)(sizeof data - 1))
		bail_out("cannot write %s", src);
	close(fd);
	snprintf(back, sizeof back, "%s.back", src);
	snprintf(args, sizeof args, "cp '%s' clibox:/tmp/copied", src);
	st = run(args, &out, &err);
	is_int(st, 0, "msb cp HOST NAME:PATH");
	if (st)
		diag("stderr: %s", err);
	free(out);
	free(err);
	st = run("exec clibox -- md5sum /tmp/copied", &out, NULL);
	char want[64] = "";
	snprintf(args, sizeof args, "md5sum '%s'", src);
	FILE *m = popen(args, "r");
	if (m) {
		if (!fgets(want, 33, m))
			want[0] = '\0';
		pclose(m);
	}
	ok(st == 0 && want[0] && !strncmp(out, want, 32),
	   "the copy inside has the same bytes (md5 %s)", want);
	free(out);
	snprintf(args, sizeof args, "cp clibox:/tmp/copied '%s'", back);
	st = run(args, &out, NULL);
	free(out);
	FILE *f = fopen(back, "rb");
	char got[64] = "";
	size_t n = f ? fread(got, 1, sizeof got, f) : 0;
	if (f)
		fclose(f);
	ok(st == 0 && n == sizeof data - 1 && !memcmp(got, data, n),
	   "msb cp NAME:PATH HOST brings the same bytes back (%zu)", n);
	snprintf(args, sizeof args, "cp clibox:/no/such/file '%s'", back);
	st = run(args, &out, &err);
	ok(st != 0 && err[0], "msb cp of a missing sandbox file fails with a message (%d)", st);
	free(out);
	free(err);

	/* msb cp of a 100G sparse file: refused, the hint says how to raise
	 * the cap, nothing lands on the host */
	unlink(back);
	st = run("exec clibox -- truncate -s 100G /tmp/big", &out, NULL);
	is_int(st, 0, "inside clibox: truncate -s 100G /tmp/big");
	free(out);
	snprintf(args, sizeof args, "cp clibox:/tmp/big '%s'", back);
	st = run(args, &out, &err);
	ok(st == 1 && strstr(err, "cap") && strstr(err, "--max-size"),
	   "msb cp of a 100G sparse file fails (exit %d) with the cap and "
	   "--max-size in the hint", st);
	if (!(st == 1 && strstr(err, "--max-size")))
		diag("stderr: %s", err);
	free(out);
	free(err);
	ok(access(back, F_OK) < 0, "and leaves no file on the host");
	snprintf(args, sizeof args, "cp --max-size 1M clibox:/tmp/copied '%s'", back);
	check(args, 0, "msb cp --max-size 1M of a small file");
	snprintf(args, sizeof args, "cp --max-size 10 clibox:/tmp/copied '%s'", back);
	st = run(args, &out, &err);
	ok(st == 1 && strstr(err, "10 bytes"),
	   "msb cp --max-size 10 of a larger file fails naming the cap (%d)", st);
	free(out);
	free(err);
	snprintf(args, sizeof args, "cp --max-size 1M '%s' clibox:/tmp/x", src);
	check(args, 2, "msb cp --max-size of a copy in is a usage error");
	check("cp --max-size lots clibox:/tmp/copied /tmp/x", 2, "a bad --max-size");
	unlink(src);
	unlink(back);

	/* stop, rm */
	check("rm clibox", 125, "msb rm of a running sandbox fails");
	check("stop clibox", 0, "msb stop clibox");
	is_str(ls_status("clibox"), "stopped", "msb ls --json shows it stopped");
	st = run("exec clibox -- true", &out, &err);
	ok(st != 0 && err[0], "msb exec on a stopped sandbox fails with a message (%d)", st);
	free(out);
	free(err);
	check("rm clibox", 0, "msb rm clibox");
	is_str(ls_status("clibox"), "absent", "... it is gone from msb ls --json");
	st = run("rm clibox", &out, &err);
	ok(st != 0 && err[0], "msb rm of a missing name fails with a message (%d)", st);
	free(out);
	free(err);

	/* kill, rm -f */
	is_int(create("killbox", NULL), 0, "msb create killbox");
	check("kill killbox", 0, "msb kill killbox");
	ok(strcmp(ls_status("killbox"), "running") && strcmp(ls_status("killbox"), "absent"),
	   "after msb kill it is listed, not running (%s)", ls_status("killbox"));
	check("rm killbox", 0, "msb rm killbox after kill");
	check("kill killbox", 125, "msb kill of a missing name fails");
	is_int(create("forced", NULL), 0, "msb create forced");
	check("rm -f forced", 0, "msb rm -f removes a running sandbox");
	is_str(ls_status("forced"), "absent", "... it is gone");

	/* msb create --hostname: every msb exec sees it */
	is_int(create("--hostname web-1 hostbox", NULL), 0, "msb create --hostname web-1 hostbox");
	st = run("exec hostbox -- hostname", &out, NULL);
	ok(st == 0 && !strcmp(out, "web-1\n"), "msb exec in it prints web-1 (%s)", out);
	free(out);
	check("rm -f hostbox", 0, "msb rm -f hostbox");

	st = run("ls --json", &out, NULL);
	json_error_t jerr;
	json_t *arr = json_loads(out, 0, &jerr);
	ok(st == 0 && json_is_array(arr) && json_array_size(arr) == 0,
	   "msb ls --json of an empty state directory is []");
	if (!(st == 0 && json_is_array(arr) && json_array_size(arr) == 0))
		diag("msb ls --json: %s", out);
	json_decref(arr);
	free(out);
	if (rmdir(dir) < 0)
		diag("the state directory %s is not empty", dir);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], *slash, *out, *err;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	msbt_watchdog(180);
	(void)argc;
	(void)argv;
	if (n <= 0)
		bail_out("readlink /proc/self/exe");
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	if (snprintf(msb, sizeof msb, "%s/../bin/msb", self) >= (int)sizeof msb)
		bail_out("path too long");
	if (access(msb, X_OK) != 0)
		bail_out("%s not found: run make first", msb);

	check("version", 0, "msb version");
	check("", 2, "msb without a command");
	check("frobnicate", 2, "an unknown command");
	check("run --memory lots -- true", 2, "a bad --memory");
	check("run --bogus -- true", 2, "an unknown flag");
	check("run --volume nocolon -- true", 2, "a bad --volume");
	check("run", 2, "run without a command");
	{
		char *ho = NULL, *he = NULL;
		int hst = run("run --hostname bad_name -- true", &ho, &he);
		ok(hst == 2 && he && strstr(he, "bad_name") && strstr(he, "hint"),
		   "a bad --hostname: exit 2, naming it, with a hint (%d: %s)",
		   hst, he ? he : "");
		free(ho);
		free(he);
	}
	check("create --hostname -bad x", 2, "create with a bad --hostname");
	usage_errors();

	msbt_require_sandboxes();
	check("run -- true", 0, "true");
	check("run -- sh -c 'exit 42'", 42, "the command's exit status");
	check("run -- sh -c 'kill -TERM $$'", 128 + 15, "killed by SIGTERM: 128+15");
	check("run --timeout 300ms -- sleep 10", 137, "a timeout kills: 137");
	check("run -- no-such-program-xyz", 127, "a missing program: 127");
	check("run --workdir /etc -- /etc/passwd", 126, "a file that is not executable: 126");
	check("run --backend vm -- true", 125, "the vm backend (not available): 125");
	{
		char *vo = NULL, *ve = NULL;
		run("run --backend vm -- true", &vo, &ve);
		ok(ve && strstr(ve, "vm backend") && strstr(ve, "hint"),
		   "the vm backend refusal says why, with a hint (%s)", ve ? ve : "");
		free(vo);
		free(ve);
	}
	check("run --memory 1K -- true", 2, "an impossible memory limit: usage error");

	int st = run("run --env GREETING=hi -- sh -c 'echo $GREETING'", &out, NULL);
	ok(st == 0 && !strcmp(out, "hi\n"), "--env reaches the command (%s)", out);
	free(out);

	st = run("run --workdir /tmp -- pwd", &out, NULL);
	ok(st == 0 && !strcmp(out, "/tmp\n"), "--workdir sets the cwd (%s)", out);
	free(out);

	st = run("run --hostname web-1 -- hostname", &out, NULL);
	ok(st == 0 && !strcmp(out, "web-1\n"), "--hostname sets the hostname (%s)", out);
	free(out);
	st = run("run --name cli-host -- hostname", &out, NULL);
	ok(st == 0 && !strcmp(out, "cli-host\n"), "without --hostname, the name is the hostname (%s)", out);
	free(out);

	/* output past the cap is cut, and said so */
	st = run("run --output-cap 1K -- sh -c 'head -c 5000 /dev/zero; exit 4'", &out, &err);
	ok(st == 4 && err && strstr(err, "stdout cut at 1024 bytes") &&
	   strstr(err, "--output-cap"),
	   "--output-cap 1K: the command's status, and stderr says stdout was cut (%s)", err);
	free(out);
	free(err);
	st = run("run --output-cap 1K -- sh -c 'head -c 5000 /dev/zero | tr \\\\0 x'", &out, &err);
	ok(st == 0 && strlen(out) == 1024, "... and keeps exactly 1024 bytes (%zu)", strlen(out));
	free(out);
	free(err);
	st = run("run --output-cap 1K -- sh -c 'echo small'", &out, &err);
	ok(st == 0 && !strcmp(out, "small\n") && !strstr(err, "cut at"),
	   "output under the cap: nothing is said (%s)", err);
	free(out);
	free(err);
	check("run --output-cap lots -- true", 2, "a bad --output-cap is a usage error");
	st = run("run --json --output-cap 1K -- sh -c 'head -c 5000 /dev/zero | tr \\\\0 x'", &out, NULL);
	json_t *jt = json_loads(out, 0, NULL);
	ok(jt && json_is_true(json_object_get(jt, "stdout_truncated")) &&
	   json_is_false(json_object_get(jt, "stderr_truncated")),
	   "--json says stdout_truncated true, stderr_truncated false");
	json_decref(jt);
	free(out);

	st = run("run --json -- sh -c 'printf out; printf err >&2; exit 3'", &out, &err);
	json_error_t jerr;
	json_t *j = json_loads(out, 0, &jerr);
	ok(st == 3 && j != NULL, "--json prints JSON and keeps the exit status");
	ok(j && json_integer_value(json_object_get(j, "exit_code")) == 3 &&
	   !strcmp(json_string_value(json_object_get(j, "stdout")) ?: "", "out") &&
	   !strcmp(json_string_value(json_object_get(j, "stderr")) ?: "", "err") &&
	   json_is_false(json_object_get(j, "timed_out")),
	   "the JSON holds exit_code, stdout, stderr and timed_out");
	ok(j && json_string_value(json_object_get(json_object_get(j, "sandbox"), "backend")) &&
	   !strcmp(json_string_value(json_object_get(json_object_get(j, "sandbox"), "backend")), "os"),
	   "the JSON names the backend that ran it");
	json_decref(j);
	free(out);
	free(err);

	st = run("info --json", &out, NULL);
	j = json_loads(out, 0, &jerr);
	ok(st == 0 && j && json_object_get(j, "user_namespaces") &&
	   json_object_get(j, "cgroup") && json_object_get(j, "kvm") &&
	   !strcmp(json_string_value(json_object_get(j, "auto_backend")) ?: "", "os"),
	   "info --json reports user namespaces, cgroups, kvm and auto's choice");
	json_decref(j);
	free(out);

	named();
	return done_testing();
}
