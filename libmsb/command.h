/*
 * command.h - what command.c shares with process.c and repl.c: the exec
 * CALL, sending stdin, and collecting a request's output into buffers or
 * a callback.
 */
#ifndef MSB_LIB_COMMAND_H
#define MSB_LIB_COMMAND_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "msb.h"

struct request;

#define MSB_DEFAULT_OUTPUT_CAP (16ll << 20)
int msb_command_check(const msb_command_options *o);
/* The JSON array of the byte strings in first, then in v (each
 * NULL-terminated, or NULL), as common/wire.h encodes them; NULL without
 * memory. */
json_t *msb_bytes_array(const char *const *first, const char *const *v);
/* The exec CALL for o (output capped at cap bytes per stream); argv, env
 * and cwd travel as byte strings. */
int msb_exec_call(json_t **out, const msb_command_options *o, int64_t cap);
/* Append to b, keeping at most cap bytes (sets *truncated past it). 0 or -1. */
int msb_buf_append(msb_buf *b, const uint8_t *d, size_t n, int64_t cap,
		   int *truncated);
/* Send bytes as STDIN frames for request id, then EOF if asked. */
int msb_send_data(msb_sandbox *sb, uint32_t id, const void *data, size_t n,
		  int eof);
/* Take a request's output until its REPLY: into out/err (at most cap bytes
 * each) or, with cb, to the callback on this thread; a callback returning
 * non-zero sends a CANCEL with cancel_signal, sets *canceled and the rest
 * is drained. Returns 0 once the REPLY is there, or an error. */
int msb_request_collect(msb_sandbox *sb, struct request *req, msb_buf *out,
			int *out_truncated, msb_buf *err, int *err_truncated,
			int64_t cap, msb_output_cb cb, void *payload,
			int cancel_signal, int *canceled);
/* Fill res from an exec REPLY; raises the agent's error if it failed. */
int msb_result_fill(msb_command_result *res, const json_t *reply);

#endif
