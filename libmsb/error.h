/*
 * error.h - raising libmsb's thread-local error (error.c).
 *
 * Every fallible internal function returns 0 or a negative MSB_E* code and
 * raises the details (message, hint, errno) here, so that the public
 * function can simply return what it got.
 */
#ifndef MSB_LIB_ERROR_H
#define MSB_LIB_ERROR_H

#include <jansson.h>

#include "msb.h"

/* Raise an error on this thread; returns `code` so callers can
 * `return msb_fail(...)`. hint may be NULL. */
int msb_fail(int code, int os_errno, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Raise the agent's error e (its code mapped to the ABI's), its message
 * after "context: " when context is not NULL. */
struct msb_wire_error;
int msb_fail_wire(const struct msb_wire_error *e, const char *context);
/* The same from an agent's error object (common/wire.h decodes it; NULL
 * or a malformed one is MSB_ERROR). */
int msb_fail_json(const json_t *err, const char *context);

/* Keep this thread's error across cleanup code that may raise its own. */
struct msb_saved_error {
	int code, os_errno;
	char message[1024], hint[1024];
};
void msb_error_save(struct msb_saved_error *s);
int msb_error_restore(const struct msb_saved_error *s); /* returns code */

/* Return 0 after clearing the thread's error: `return msb_ok();` */
int msb_ok(void);

#endif
