/*
 * repl.h - long-lived interpreters whose state persists between runs
 * (repl.c), as operations of the loop.
 */
#ifndef MSB_AGENT_REPL_H
#define MSB_AGENT_REPL_H

#include <stdint.h>

#include <jansson.h>

#include "loop.h"

void op_repl_run(struct agent *a, struct client *c, uint32_t id, const json_t *req);
void op_repl_context(struct agent *a, struct client *c, uint32_t id, const json_t *req);

#endif
