/*
 * files_req.c - what every action of the "file" operation shares: the
 * request's fields, the answer to an errno (code and hint), and the check
 * that an opened file is a regular file outside procfs and sysfs.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include "wire.h"
#include "client.h"
#include "files_req.h"

void file_map_errno(const struct agent *a, int e, struct file_err *f)
{
	f->hint = "";
	switch (e) {
	case ENOENT:
		f->code = MSB_WIRE_ENOTFOUND;
		f->hint = "check the path; relative paths start at the sandbox's "
			  "workdir";
		break;
	case EROFS:
		f->code = MSB_WIRE_EPERM;
		f->hint = "only /tmp, /workspace, /root, /dev/shm and writable "
			  "volumes can be written";
		break;
	case EACCES:
	case EPERM:
		f->code = MSB_WIRE_EPERM;
		f->hint = "the agent is the sandbox's root without capabilities: "
			  "check the file's permissions (setuid and setgid modes "
			  "are never allowed)";
		break;
	case EBUSY:
		f->code = MSB_WIRE_EPERM;
		f->hint = "it is a mount point (the writable area or a volume)";
		break;
	case EEXIST:
		f->code = MSB_WIRE_EEXISTS;
		f->hint = "remove it first, or do not ask for exclusive creation";
		break;
	case ENOTEMPTY:
		f->code = MSB_WIRE_EINVAL;
		f->hint = "the directory is not empty: remove it recursively";
		break;
	case EISDIR:
		f->code = MSB_WIRE_EINVAL;
		f->hint = "it is a directory: list it instead";
		break;
	case ENOTDIR:
		f->code = MSB_WIRE_EINVAL;
		f->hint = "a component of the path is not a directory";
		break;
	case ELOOP:
		f->code = MSB_WIRE_EINVAL;
		f->hint = "too many symbolic links (a loop?)";
		break;
	case ENAMETOOLONG:
		f->code = MSB_WIRE_EINVAL;
		f->hint = "shorten the path (or a symlink's target)";
		break;
	case EXDEV:
		f->code = MSB_WIRE_EINVAL;
		f->hint = "the two paths are on different file systems: copy, "
			  "then remove";
		break;
	case EINVAL:
		f->code = MSB_WIRE_EINVAL;
		break;
	case ENOSPC:
	case EDQUOT:
		f->code = MSB_WIRE_EIO;
		snprintf(f->buf, sizeof(f->buf), "the sandbox's disk (%" PRId64
			 " bytes) is full: remove files, or create the sandbox "
			 "with a larger disk_bytes",
			 agent_config(a)->w.disk_bytes);
		f->hint = f->buf;
		break;
	case EFBIG:
		f->code = MSB_WIRE_ETOOBIG;
		f->hint = "the file would exceed the file system's size limit";
		break;
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		f->code = MSB_WIRE_ENOMEM;
		f->hint = "the sandbox is short of memory or file descriptors";
		break;
	default:
		f->code = MSB_WIRE_EIO;
		break;
	}
}

void file_fail_errno(struct agent *a, struct client *c, uint32_t id, int e,
		     const char *what, const char *path)
{
	struct file_err f;

	file_map_errno(a, e, &f);
	client_error(c, id, f.code, e, f.hint, "%s \"%.256s\"", what, path);
}
/* The request's path: a byte string (common/wire.h), not empty, without
 * NULs. */
char *file_req_path(struct client *c, uint32_t id, const json_t *req,
		    const char *key)
{
	char *s = NULL;
	int rc = msb_wire_str_decode(json_object_get(req, key), &s);

	if (rc == -2) {
		client_error(c, id, MSB_WIRE_ENOMEM, ENOMEM, "", "file");
		return NULL;
	}
	if (rc || !s[0]) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "pass a non-empty path "
			     "without NUL bytes", "bad or missing \"%s\"", key);
		free(s);
		return NULL;
	}
	if (strlen(s) >= PATH_MAX) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "shorten the path",
			     "the path is longer than %d bytes", PATH_MAX - 1);
		free(s);
		return NULL;
	}
	return s;
}

/* An optional non-negative integer field; -1 (and an error sent) when it
 * is not one. */
int64_t file_req_uint(struct client *c, uint32_t id, const json_t *req,
		      const char *key, int64_t def, int64_t max)
{
	const json_t *j = json_object_get(req, key);
	json_int_t v;

	if (!j || json_is_null(j))
		return def;
	if (!json_is_integer(j) || (v = json_integer_value(j)) < 0 || v > max) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "", "bad \"%s\"", key);
		return -1;
	}
	return v;
}

int file_req_bool(const json_t *req, const char *key)
{
	const json_t *j = json_object_get(req, key);

	return json_is_true(j) || (json_is_integer(j) && json_integer_value(j));
}

const char *file_workdir(struct agent *a)
{
	const char *w = agent_config(a)->w.workdir;

	return w && w[0] ? w : "/";
}
/* After open: only regular files, and none on procfs. Returns 0 or an
 * errno-like reason with *why set. */
int file_check_regular(int fd, struct stat *st, const char **why)
{
	struct statfs sfs;

	if (fstat(fd, st) < 0) {
		*why = NULL;
		return errno;
	}
	if (!S_ISREG(st->st_mode)) {
		*why = S_ISDIR(st->st_mode) ? "it is a directory" :
		       S_ISFIFO(st->st_mode) ? "it is a FIFO" :
		       S_ISSOCK(st->st_mode) ? "it is a socket" :
		       S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ?
				"it is a device" : "it is not a regular file";
		return EINVAL;
	}
	if (fstatfs(fd, &sfs) < 0) {
		*why = NULL;
		return errno;
	}
	if (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC) {
		*why = "files under /proc and /sys are not served";
		return EPERM;
	}
	return 0;
}

void file_fail_not_regular(struct agent *a, struct client *c, uint32_t id,
			   int e, const char *why, const char *what,
			   const char *path)
{
	if (!why) {
		file_fail_errno(a, c, id, e, what, path);
		return;
	}
	client_error(c, id, e == EPERM ? MSB_WIRE_EPERM : MSB_WIRE_EINVAL, 0,
		     "only regular files can be read and written; run a "
		     "command to use FIFOs, devices or /proc",
		     "cannot %s \"%.256s\": %s", what, path, why);
}

