/*
 * tap.h - a tiny, header-only TAP producer for the C tests.
 *
 *   plan(N)                 print "1..N" up front (or use done_testing())
 *   ok(cond, fmt, ...)      "ok N - name" / "not ok N - name"; returns cond
 *   is_int(got, want, ...)  ok(got == want) with a diagnostic on failure
 *   is_str(got, want, ...)  ok(strcmp == 0); NULL is handled
 *   skip(n, fmt, ...)       n times "ok N # SKIP reason"
 *   diag(fmt, ...)          "# ..." lines (on stdout, so prove -v shows
 *                           them next to the test they explain)
 *   skip_all(fmt, ...)      "1..0 # SKIP reason" and exit(0): nothing to run
 *   bail_out(fmt, ...)      "Bail out! ..." and exit(255)
 *   done_testing()          print the plan if none was given and return the
 *                           exit status for main(): 0 only if every test
 *                           passed and the plan was met
 *
 * Output is flushed after every line so that a crash loses nothing.
 * Not thread-safe: call it from one thread (collect results from workers
 * and report them afterwards).
 */
#ifndef MSB_TAP_H
#define MSB_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define TAP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define TAP_UNUSED __attribute__((unused))
#else
#define TAP_PRINTF(a, b)
#define TAP_UNUSED
#endif

static int tap_run_;     /* tests run so far */
static int tap_failed_;  /* tests that failed */
static int tap_planned_ = -1; /* -1: no plan yet */

static TAP_UNUSED void plan(int n)
{
	tap_planned_ = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static TAP_UNUSED TAP_PRINTF(1, 0) void tap_vdiag_(const char *fmt, va_list ap)
{
	char buf[4096];
	vsnprintf(buf, sizeof buf, fmt, ap);
	/* one "# " per line so multi-line diagnostics stay TAP */
	char *line = buf;
	for (;;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		printf("# %s\n", line);
		if (!nl || nl[1] == '\0')
			break;
		line = nl + 1;
	}
	fflush(stdout);
}

static TAP_UNUSED TAP_PRINTF(1, 2) void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vdiag_(fmt, ap);
	va_end(ap);
}

static TAP_UNUSED TAP_PRINTF(2, 0) int tap_vok_(int cond, const char *fmt,
						va_list ap)
{
	char name[1024];
	vsnprintf(name, sizeof name, fmt, ap);
	/* '#' would start a directive: keep names plain */
	for (char *p = name; *p; p++)
		if (*p == '#' || *p == '\n')
			*p = ' ';
	tap_run_++;
	if (!cond)
		tap_failed_++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_run_, name);
	fflush(stdout);
	return cond;
}

static TAP_UNUSED TAP_PRINTF(2, 3) int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vok_(cond, fmt, ap);
	va_end(ap);
	return cond;
}

#define is_int(got, want, ...) tap_is_int_((long long)(got), \
	(long long)(want), #got, __VA_ARGS__)

static TAP_UNUSED TAP_PRINTF(4, 5) int tap_is_int_(long long got,
						   long long want,
						   const char *expr,
						   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = tap_vok_(got == want, fmt, ap);
	va_end(ap);
	if (!r)
		diag("  %s: got %lld, expected %lld", expr, got, want);
	return r;
}

#define is_str(got, want, ...) tap_is_str_((got), (want), #got, __VA_ARGS__)

static TAP_UNUSED TAP_PRINTF(4, 5) int tap_is_str_(const char *got,
						   const char *want,
						   const char *expr,
						   const char *fmt, ...)
{
	int same = (got == NULL && want == NULL) ||
		   (got != NULL && want != NULL && strcmp(got, want) == 0);
	va_list ap;
	va_start(ap, fmt);
	int r = tap_vok_(same, fmt, ap);
	va_end(ap);
	if (!r)
		diag("  %s: got \"%s\", expected \"%s\"", expr,
		     got ? got : "(null)", want ? want : "(null)");
	return r;
}

static TAP_UNUSED TAP_PRINTF(2, 3) void skip(int n, const char *fmt, ...)
{
	char reason[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	for (char *p = reason; *p; p++)
		if (*p == '\n')
			*p = ' ';
	for (int i = 0; i < n; i++) {
		tap_run_++;
		printf("ok %d # SKIP %s\n", tap_run_, reason);
	}
	fflush(stdout);
}

static TAP_UNUSED TAP_PRINTF(1, 2) void skip_all(const char *fmt, ...)
{
	char reason[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	printf("1..0 # SKIP %s\n", reason);
	fflush(stdout);
	exit(0);
}

static TAP_UNUSED TAP_PRINTF(1, 2) void bail_out(const char *fmt, ...)
{
	char reason[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	printf("Bail out! %s\n", reason);
	fflush(stdout);
	exit(255);
}

static TAP_UNUSED int done_testing(void)
{
	if (tap_planned_ < 0) {
		printf("1..%d\n", tap_run_);
		tap_planned_ = tap_run_;
	}
	fflush(stdout);
	if (tap_planned_ != tap_run_) {
		diag("planned %d tests but ran %d", tap_planned_, tap_run_);
		return 1;
	}
	if (tap_failed_)
		diag("failed %d of %d tests", tap_failed_, tap_run_);
	return tap_failed_ ? 1 : 0;
}

#endif
