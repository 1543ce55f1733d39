/*
 * msbt.h - helpers shared by the C tests (header-only, include after tap.h).
 *
 * Every test program:
 *   - arms a watchdog (msbt_watchdog) so that a hung library turns into a
 *     "Bail out!" instead of a stuck suite;
 *   - mounts the directory holding its own executable (build/tests, with
 *     the probe helper in it) read-only at MSBT_DIR inside its sandboxes,
 *     so commands can run MSBT_PROBE.
 */
#ifndef MSBT_H
#define MSBT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msb.h"
#include "tap.h"

#define MSBT_DIR "/msb-tests"
#define MSBT_PROBE MSBT_DIR "/probe"

static TAP_UNUSED void msbt_alarm_(int sig)
{
	static const char msg[] = "Bail out! watchdog: the test took too long "
				  "(a hang in libmsb or the agent?)\n";
	(void)sig;
	(void)!write(1, msg, sizeof msg - 1);
	_exit(255);
}

/* Kill the test with "Bail out!" after `seconds`. */
static TAP_UNUSED void msbt_watchdog(unsigned seconds)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = msbt_alarm_;
	sigaction(SIGALRM, &sa, NULL);
	alarm(seconds);
}

static TAP_UNUSED uint64_t msbt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The directory holding this executable (build/tests). */
static TAP_UNUSED const char *msbt_dir(void)
{
	static char dir[PATH_MAX];
	if (!dir[0]) {
		ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
		if (n <= 0)
			bail_out("readlink /proc/self/exe: %s", strerror(errno));
		dir[n] = '\0';
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir)
			*slash = '\0';
	}
	return dir;
}

/* Print msb_error_last() after a failed call. */
static TAP_UNUSED void msbt_diag_error(const char *what, int rc)
{
	const msb_error *e = msb_error_last();
	diag("%s failed: %d (%s): %s%s%s [errno %d]", what, rc,
	     msb_strerror(rc), e->message, e->hint[0] ? " -- hint: " : "",
	     e->hint, e->os_errno);
}

/* Options with the test directory mounted read-only at MSBT_DIR. The
 * volume lives in static storage: the options may be copied around. */
static TAP_UNUSED msb_sandbox_options msbt_options(void)
{
	static msb_volume vol;
	msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
	vol.host_path = msbt_dir();
	vol.sandbox_path = MSBT_DIR;
	vol.read_only = 1;
	o.volumes = &vol;
	o.volumes_len = 1;
	return o;
}

/* Create and start a sandbox; NULL (with diagnostics) on failure. */
static TAP_UNUSED msb_sandbox *msbt_start(const msb_sandbox_options *o)
{
	msb_sandbox *sb = NULL;
	msb_sandbox_options def;
	if (!o) {
		def = msbt_options();
		o = &def;
	}
	int rc = msb_sandbox_create(&sb, o);
	if (rc) {
		msbt_diag_error("msb_sandbox_create", rc);
		return NULL;
	}
	rc = msb_sandbox_start(sb);
	if (rc) {
		msbt_diag_error("msb_sandbox_start", rc);
		msb_sandbox_free(sb);
		return NULL;
	}
	return sb;
}

/* Why this host cannot run os sandboxes at all (no user namespaces), or
 * NULL when it can. Anything else is the library's problem and fails. */
static TAP_UNUSED const char *msbt_sandbox_unavailable(void)
{
	msb_host_info hi;
	memset(&hi, 0, sizeof hi);
	hi.version = MSB_HOST_INFO_VERSION;
	if (msb_host_probe(&hi) == 0 && !hi.user_namespaces)
		return "this host offers no user namespaces to this user";
	return NULL;
}

/* Call first: skip the whole program when sandboxes cannot run here. */
static TAP_UNUSED void msbt_require_sandboxes(void)
{
	const char *why = msbt_sandbox_unavailable();
	if (why)
		skip_all("%s", why);
}

/* Run argv with default options. Returns the msb_command_run code; the
 * failure is described with diag(). */
static TAP_UNUSED int msbt_run(msb_command_result **res, msb_sandbox *sb,
			       const char *const *argv)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = argv;
	*res = NULL;
	int rc = msb_command_run(res, sb, &co);
	if (rc)
		msbt_diag_error(argv[0], rc);
	return rc;
}

/* Run argv and return its stdout as a malloc'd string ("" when it fails,
 * never NULL); *exit_code gets the exit code (or -1000 when the run
 * failed). */
static TAP_UNUSED char *msbt_output(msb_sandbox *sb, const char *const *argv,
				    int *exit_code)
{
	msb_command_result *res = NULL;
	int rc = sb ? msbt_run(&res, sb, argv) : MSB_EINVAL;
	char *s;
	if (rc || !res) {
		if (exit_code)
			*exit_code = -1000;
		s = strdup("");
	} else {
		if (exit_code)
			*exit_code = res->exit_code;
		s = malloc(res->out.len + 1);
		if (s) {
			memcpy(s, res->out.ptr ? (const char *)res->out.ptr : "",
			       res->out.len);
			s[res->out.len] = '\0';
		}
		if (res->err.len)
			diag("%s stderr: %.*s", argv[0],
			     (int)(res->err.len > 500 ? 500 : res->err.len),
			     (const char *)res->err.ptr);
	}
	msb_command_result_free(res);
	if (!s)
		bail_out("out of memory");
	return s;
}

/* Strip one trailing newline in place. */
static TAP_UNUSED char *msbt_chomp(char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == '\n')
		s[n - 1] = '\0';
	return s;
}

/* Does the text hold this exact line? */
static TAP_UNUSED int msbt_has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && !memcmp(p, line, n))
			return 1;
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

/* The value after "key " on a line of the text, or NULL. Returns a
 * pointer into a static buffer. */
static TAP_UNUSED const char *msbt_line_value(const char *text,
					      const char *key)
{
	static char val[512];
	size_t n = strlen(key);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > n && !memcmp(p, key, n) && p[n] == ' ') {
			size_t vl = len - n - 1;
			if (vl >= sizeof val)
				vl = sizeof val - 1;
			memcpy(val, p + n + 1, vl);
			val[vl] = '\0';
			return val;
		}
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static TAP_UNUSED int msbt_count_lines(const char *text)
{
	int n = 0;
	for (const char *p = text; *p; p++)
		if (*p == '\n')
			n++;
	if (*text && text[strlen(text) - 1] != '\n')
		n++;
	return n;
}

/* Is any host process's command line exactly "a0 a1"? */
static TAP_UNUSED int msbt_host_has_cmdline(const char *a0, const char *a1)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300], buf[256];
		snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		size_t l0 = strlen(buf);
		if (!strcmp(buf, a0) && (size_t)n > l0 + 1 && !strcmp(buf + l0 + 1, a1))
			found = 1;
	}
	if (d)
		closedir(d);
	return found;
}

#endif
