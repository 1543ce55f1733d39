/*
 * exec.h - commands in the sandbox (exec.c): run-to-completion, background
 * processes and PTY sessions, as operations of the loop.
 */
#ifndef MSB_AGENT_EXEC_H
#define MSB_AGENT_EXEC_H

#include <stdint.h>

#include <jansson.h>

#include "loop.h"

void op_exec(struct agent *a, struct client *c, uint32_t id, const json_t *req);
void op_resize(struct agent *a, struct client *c, uint32_t id, const json_t *req);
void op_ps(struct agent *a, struct client *c, uint32_t id, const json_t *req);

#endif
