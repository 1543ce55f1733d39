/*
 * base.h - what every module of msb-agent builds on: the error record
 * (the wire's), the monotonic clock, cleanup attributes (so that every early
 * return closes and frees what it should), and small file-system helpers
 * that neither truncate a path nor leave a write half done.
 *
 * Of the protocol it takes only the error record and the clock (common/);
 * nothing here knows about the loop or the sandbox's layout. Every other
 * module of the agent may include it.
 */
#ifndef MSB_AGENT_BASE_H
#define MSB_AGENT_BASE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "proto.h"
#include "wire.h"

/* An error inside the agent is a struct msb_wire_error, recorded with
 * msb_wire_fail() (common/wire.h): it becomes the HELLO's refusal or a
 * REPLY's error object as it is. */

/* CLOCK_MONOTONIC in nanoseconds (msb_clock_ns()): every deadline and
 * timer of the agent. */
uint64_t agent_now_ns(void);

/* ---- cleanup attributes -------------------------------------------------- */

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}
static inline void freep(void *p) { free(*(void **)p); }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_fclose_ __attribute__((cleanup(fclosep)))

/* ---- file-system helpers ------------------------------------------------- */

/* snprintf that fails (ENAMETOOLONG) instead of truncating. */
int pathf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write all of buf (retrying EINTR and short writes); 0 or -1. */
int write_all(int fd, const void *buf, size_t len);

/* Create (or replace) path with the given contents, never through a
 * symlink. */
int write_file(const char *path, const char *data, mode_t mode);

/* Write to an existing file such as /proc/PID/uid_map. */
int write_proc(const char *path, const char *data);

/* mkdir that accepts an existing directory, then sets the exact mode
 * (mkdir's is subject to the umask; 1777 too). */
int mkdir_mode(const char *path, mode_t mode);

/* mkdir -p of an absolute path; existing directories are fine. */
int mkdir_p(const char *path, mode_t mode);

/* Undo /proc/self/mountinfo's octal escapes (\040 for a space, ...) in
 * place. */
void mountinfo_unescape(char *s);

#endif
