/*
 * error.c - the thread-local last error: what msb_error_last() answers,
 * and how the rest of libmsb raises it (error.h). The codes' names and
 * descriptions are in names.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "wire_abi.h"

#define MSG_MAX 1024

static __thread char tl_message[MSG_MAX];
static __thread char tl_hint[MSG_MAX];
static __thread msb_error tl_error;

const msb_error *msb_error_last(void)
{
	if (!tl_error.message) {
		tl_error.code = MSB_OK;
		tl_error.message = "no error";
		tl_error.hint = "";
	}
	return &tl_error;
}

void msb_error_clear(void)
{
	tl_error.code = MSB_OK;
	tl_error.message = "no error";
	tl_error.hint = "";
	tl_error.os_errno = 0;
}

int msb_ok(void)
{
	msb_error_clear();
	return 0;
}

int msb_fail(int code, int os_errno, const char *hint, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(tl_message, sizeof(tl_message), fmt, ap);
	va_end(ap);
	if (os_errno) {
		n = strlen(tl_message);
		snprintf(tl_message + n, sizeof(tl_message) - n, ": %s",
			 strerror(os_errno));
	}
	snprintf(tl_hint, sizeof(tl_hint), "%s", hint ? hint : "");
	tl_error.code = code;
	tl_error.message = tl_message;
	tl_error.hint = tl_hint;
	tl_error.os_errno = os_errno;
	return code;
}

int msb_fail_wire(const struct msb_wire_error *e, const char *context)
{
	int code = msb_code_from_wire(e->code);

	if (code == MSB_OK) /* an error object never means success */
		code = MSB_ERROR;
	msb_fail(code, 0, e->hint, "%s%s%s", context ? context : "",
		 context ? ": " : "", e->message);
	tl_error.os_errno = e->os_errno;
	return code;
}

int msb_fail_json(const json_t *err, const char *context)
{
	struct msb_wire_error e;

	msb_wire_error_decode(err, &e);
	return msb_fail_wire(&e, context);
}

void msb_error_save(struct msb_saved_error *s)
{
	const msb_error *e = msb_error_last();

	s->code = e->code;
	s->os_errno = e->os_errno;
	snprintf(s->message, sizeof(s->message), "%s", e->message);
	snprintf(s->hint, sizeof(s->hint), "%s", e->hint);
}

int msb_error_restore(const struct msb_saved_error *s)
{
	msb_fail(s->code, 0, s->hint, "%s", s->message);
	tl_error.os_errno = s->os_errno;
	return s->code;
}
