/*
 * cli.c - the msb command: exit statuses, --json, usage errors, info.
 * Runs build/bin/msb (found next to this test: ../bin/msb).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <jansson.h>

#include "tap.h"
#include "msbt.h"

static char msb[PATH_MAX];

/* Run `msb ARGS` through sh, capturing stdout (and stderr when err != NULL).
 * Returns the exit status, or -1. */
static int run(const char *args, char **out, char **err)
{
	char cmd[PATH_MAX + 1024], errfile[] = "/tmp/msb-cli-err-XXXXXX";
	int fd = mkstemp(errfile);
	size_t cap = 1 << 16, n = 0;
	FILE *p;
	int st;

	if (fd < 0)
		bail_out("mkstemp failed");
	close(fd);
	snprintf(cmd, sizeof cmd, "'%s' %s 2>%s </dev/null", msb, args, errfile);
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

int main(int argc, char **argv)
{
	char self[PATH_MAX], *slash, *out, *err;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	msbt_watchdog(120);
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

	msbt_require_sandboxes();
	check("run -- true", 0, "true");
	check("run -- sh -c 'exit 42'", 42, "the command's exit status");
	check("run -- sh -c 'kill -TERM $$'", 128 + 15, "killed by SIGTERM: 128+15");
	check("run --timeout 300ms -- sleep 10", 137, "a timeout kills: 137");
	check("run -- no-such-program-xyz", 127, "a missing program: 127");
	check("run --workdir /etc -- /etc/passwd", 126, "a file that is not executable: 126");
	check("run --backend vm -- true", 125, "the vm backend (not available): 125");
	check("run --memory 1K -- true", 2, "an impossible memory limit: usage error");

	int st = run("run --env GREETING=hi -- sh -c 'echo $GREETING'", &out, NULL);
	ok(st == 0 && !strcmp(out, "hi\n"), "--env reaches the command (%s)", out);
	free(out);

	st = run("run --workdir /tmp -- pwd", &out, NULL);
	ok(st == 0 && !strcmp(out, "/tmp\n"), "--workdir sets the cwd (%s)", out);
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
	return done_testing();
}
