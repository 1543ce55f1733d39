/*
 * nested.h - what the nested harness's static programs share: l2init.c
 * (the L2 guest's init), l1check.c and hostile.c (checkers in L1) and
 * hostile_guest.c (the hostile guest's PID 1).  Each is one file, built
 * static by the Makefile as $(B)/nested/<name> for tests/nested/run; this
 * header (and hostile.h) ride along beside them.
 *
 * The disk pattern above all must be one definition: the guest writes
 * what the host checks.
 */
#ifndef MSB_NESTED_H
#define MSB_NESTED_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NESTED_UNUSED __attribute__((unused))

static NESTED_UNUSED long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The disk pattern: xorshift32 seeded from seed and sector. */
static NESTED_UNUSED void fill_pattern(uint8_t *p, size_t n, uint32_t seed, uint64_t sector)
{
	uint32_t x = seed ^ (uint32_t)(sector * 2654435761u) ^ 0x9e3779b9u;

	if (!x)
		x = 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* Open path once it exists (devtmpfs creates nodes as drivers probe). */
static NESTED_UNUSED int wait_open(const char *path, int flags, int timeout_ms)
{
	long end = now_ms() + timeout_ms;

	for (;;) {
		int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);

		if (fd >= 0 || errno != ENOENT || now_ms() >= end)
			return fd;
		usleep(20000);
	}
}

/* A small file into buf, NUL-terminated; buf is "" when it cannot be read
 * (then -1). */
static NESTED_UNUSED int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* ---- TAP, for the checkers ---- */

static NESTED_UNUSED int test_no, failed;

static NESTED_UNUSED bool check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failed++;
	return ok;
}

static NESTED_UNUSED void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Read a whole (small) file; NUL-terminated; NULL if it cannot be read. */
static NESTED_UNUSED char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 1 << 16, n = 0;
	char *buf;

	if (len)
		*len = 0;
	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	while (buf) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			char *nb = realloc(buf, 2 * cap + 1);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	if (buf) {
		buf[n] = '\0';
		if (len)
			*len = n;
	}
	return buf;
}

/* A wait status in words. */
static NESTED_UNUSED void describe_status(int st, char *buf, size_t size)
{
	if (WIFEXITED(st))
		snprintf(buf, size, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, size, "wait status 0x%x", st);
}

#endif
