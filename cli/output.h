/*
 * output.h - how msb reports to its caller: the exit statuses, libmsb's
 * errors on stderr, a command's output streamed as it comes, results as
 * JSON, and the warning about limits that are not fully enforced.
 */
#ifndef MSB_CLI_OUTPUT_H
#define MSB_CLI_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "msb.h"

/*
 * Exit status of `msb run` and `msb exec`: the command's own status;
 * 128+N when a signal N killed it (a timeout kills with SIGKILL: 137);
 * 125 when the sandbox itself failed; 126 when the command cannot be
 * executed; 127 when it is not found; 2 for bad usage.  `msb repl`: 0 ok,
 * 1 the code failed, 124 timed out.
 */
#define EXIT_USAGE 2
#define EXIT_SANDBOX 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

/* The name every message starts with: "msb: ...". */
extern const char prog[];

/* libmsb's last error on stderr: "msb: WHAT: message", then its hint. */
void print_error(const char *what);

/* An msb_output_fn: a command's stdout to ours, its stderr to ours. */
int stream_cb(int stream, const uint8_t *data, size_t len, void *p);

/* A byte buffer as a JSON string, or {"binary": ..., "length": N} when it
 * is not UTF-8. */
json_t *bytes_json(const msb_buf *b);

/* o on stdout, indented, with a newline; takes the reference. */
void print_json(json_t *o);

/* On stderr: each limit of sb that no cgroup enforces. */
void warn_enforcement(msb_sandbox *sb);

#endif
