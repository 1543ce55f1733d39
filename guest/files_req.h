/*
 * files_req.h - what every action of the "file" operation shares
 * (files_req.c): the request's fields, errno answers, the regular-file
 * check.
 */
#ifndef MSB_AGENT_FILES_REQ_H
#define MSB_AGENT_FILES_REQ_H

#include <stdint.h>
#include <sys/stat.h>

#include <jansson.h>

#include "loop.h"

/* The answer to an errno: an MSB_E* code and a hint (static, or in buf). */
struct file_err {
	int code;
	const char *hint;
	char buf[256];
};

void file_map_errno(const struct agent *a, int e, struct file_err *f);

/* Answer request id with errno e: "<what> \"<path>\"" and e's code and
 * hint. */
void file_fail_errno(struct agent *a, struct client *c, uint32_t id, int e,
		     const char *what, const char *path);

/* The request's path under `key`: a byte string (common/wire.h), not
 * empty, without NULs, shorter than PATH_MAX; malloc'd (free it), or NULL
 * (and an error sent) when it is not one. */
char *file_req_path(struct client *c, uint32_t id, const json_t *req,
		    const char *key);

/* An optional non-negative integer field; -1 (and an error sent) when it
 * is not one. */
int64_t file_req_uint(struct client *c, uint32_t id, const json_t *req,
		      const char *key, int64_t def, int64_t max);

/* An optional flag: true, or a non-zero integer. */
int file_req_bool(const json_t *req, const char *key);

/* Where relative paths start: the sandbox's workdir (or /). */
const char *file_workdir(struct agent *a);

/* After open: only regular files, and none on procfs or sysfs. Returns 0
 * or an errno-like reason with *why set (NULL: a plain errno). */
int file_check_regular(int fd, struct stat *st, const char **why);

/* Answer a failed file_check_regular(): what cannot be done to path, and
 * why. */
void file_fail_not_regular(struct agent *a, struct client *c, uint32_t id,
			   int e, const char *why, const char *what,
			   const char *path);

#endif
