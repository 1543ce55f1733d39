/*
 * files.h - the "file" operation (files.c): read, write, stat, exists,
 * list, mkdir, remove and rename files inside the sandbox.
 */
#ifndef MSB_AGENT_FILES_H
#define MSB_AGENT_FILES_H

#include <stdint.h>

#include <jansson.h>

#include "loop.h"

void op_file(struct agent *a, struct client *c, uint32_t id, const json_t *req);

#endif
