/*
 * repl_reply.h - a run's result as one REPLY frame (repl_reply.c).
 */
#ifndef MSB_AGENT_REPL_REPLY_H
#define MSB_AGENT_REPL_REPLY_H

#include <stdint.h>

#include <jansson.h>

#include "loop.h"

/* A name of 1 to 128 bytes without control characters (a context's
 * name, an output's MIME type)? */
int repl_valid_name(const char *s);

/* REPLY to request id with the run's status, value, error and outputs
 * (the driver's, unchecked), shrunk until it fits in one frame; an error
 * if even the smallest does not. */
void repl_reply(struct client *c, uint32_t id, uint64_t start_ns, int state_lost,
		const char *status, const json_t *value, const json_t *error,
		const json_t *outputs);

#endif
