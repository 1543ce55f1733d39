/*
 * files_rw.h - the read and write actions of the "file" operation
 * (files_rw.c). Both answer request id themselves, now or as the data
 * flows; path is the request's, already checked (file_req_path).
 */
#ifndef MSB_AGENT_FILES_RW_H
#define MSB_AGENT_FILES_RW_H

#include <stdint.h>

#include <jansson.h>

#include "loop.h"

/* Send the file as STDOUT frames, then REPLY {size, mode}. */
void file_read(struct agent *a, struct client *c, uint32_t id,
	       const json_t *req, const char *path);

/* Create, truncate or append to the file; its data comes as STDIN frames,
 * ended by an empty one, then REPLY {size}. */
void file_write(struct agent *a, struct client *c, uint32_t id,
		const json_t *req, const char *path);

#endif
