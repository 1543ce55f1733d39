/*
 * files.c - the "file" operation: read, write, stat, exists, list, mkdir,
 * remove and rename files inside the sandbox.
 *
 * The actions are here but for read and write (files_rw.c); paths are
 * resolved by path.c, and what the actions share is in files_req.c.
 *
 * Confinement. The agent's root is the sandbox root (pivot_root is done),
 * so a path, a ".." or a symlink planted in the sandbox (to /etc/shadow,
 * to ../../..) resolves inside the sandbox's own tree: the sandbox's
 * /etc/shadow does not exist, its /etc/passwd is the generated one. What
 * the agent has that sandboxed code has not is its own state: the
 * protocol socket, its memory, the fds of files it is reading or writing.
 * Those are reachable only through /proc's magic links (/proc/self/fd/N,
 * /proc/self/root, /proc/self/mem ...), so:
 *
 *  - paths are walked (path.c) one component at a time with O_PATH|O_NOFOLLOW,
 *    and symlinks are followed by their text (readlinkat), never by the
 *    kernel: a magic link's text ("socket:[1234]", "/dev/null") is just a
 *    path inside the sandbox, its magic is lost. openat2() would do this
 *    with RESOLVE_NO_MAGICLINKS, but the seccomp filter answers ENOSYS;
 *  - reads and writes open the final component with O_NOFOLLOW|O_NONBLOCK
 *    (a FIFO never blocks the open), then refuse anything that is not a
 *    regular file (FIFOs, sockets, devices such as /dev/zero) and any file
 *    on procfs (/proc/self/mem, /proc/self/environ are "regular" there);
 *  - remove never follows a symlink: every level of a tree is opened with
 *    O_DIRECTORY|O_NOFOLLOW relative to its parent, and depth is bounded.
 *
 * Scheduling. Regular files never block, but a large read would keep the
 * loop from serving anything else: a read (files_rw.c) sends for at most
 * READ_SLICE_NS, or until its client is behind (client_congested), then
 * watches its (always readable) file fd, for that client
 * (agent_watch_client), so that the loop comes back to it after one turn
 * over the other fds, once the client has caught up. A write runs as its
 * STDIN frames arrive. list, remove and the others run to completion at
 * once (bounded by LIST_MAX entries and REMOVE_DEPTH levels).
 *
 * The request is {"op":"file", "action":..., ...}; see docs/PROTOCOL.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "wire.h"
#include "base.h"
#include "client.h"
#include "files.h"
#include "files_req.h"
#include "files_rw.h"
#include "path.h"
#include "proto.h"

#define REMOVE_DEPTH 256        /* deeper trees are refused */
#define LIST_MAX 100000         /* entries in one listing */

/* ---- stat, exists, list ------------------------------------------------ */

static const char *type_name(mode_t m)
{
	return S_ISREG(m) ? "regular" : S_ISDIR(m) ? "directory" :
	       S_ISLNK(m) ? "symlink" : "other";
}

static int type_num(mode_t m)
{
	return S_ISREG(m) ? MSB_WIRE_FILE_REGULAR : S_ISDIR(m) ? MSB_WIRE_FILE_DIRECTORY :
	       S_ISLNK(m) ? MSB_WIRE_FILE_SYMLINK : MSB_WIRE_FILE_OTHER;
}

static int64_t mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

static void do_stat(struct agent *a, struct client *c, uint32_t id,
		    const char *path, int exists_only)
{
	char name[NAME_MAX + 1];
	struct stat st;
	int dfd, e;

	e = path_walk(file_workdir(a), path, 0, 0, &dfd, name);
	if (e == 0) {
		e = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
		close(dfd);
	}
	if (exists_only) {
		if (e == 0 || e == -ENOENT || e == -ENOTDIR)
			client_reply(c, id, json_pack("{s:b,s:b}", "ok", 1,
						      "exists", e == 0));
		else
			file_fail_errno(a, c, id, -e, "cannot look up", path);
		return;
	}
	if (e < 0) {
		file_fail_errno(a, c, id, -e, "cannot stat", path);
		return;
	}
	client_reply(c, id, json_pack("{s:b,s:s,s:I,s:i,s:I}", "ok", 1,
				      "type", type_name(st.st_mode),
				      "size", (json_int_t)st.st_size,
				      "mode", (int)(st.st_mode & 07777),
				      "mtime_ms", (json_int_t)mtime_ms(&st)));
}

struct entry {
	char *name;
	struct stat st;
};

static int entry_cmp(const void *x, const void *y)
{
	return strcmp(((const struct entry *)x)->name,
		      ((const struct entry *)y)->name);
}

/*
 * The entries go out as STDOUT data, not in the REPLY: 100000 of them do
 * not fit in one frame, and names need not be UTF-8. One record per entry:
 *   "<type> <size> <mode> <mtime_ms> <name>\0"
 * (decimal numbers, type an msb_file_type), sorted by name; the REPLY is
 * {"ok":true,"count":N}.
 */
static void do_list(struct agent *a, struct client *c, uint32_t id,
		    const char *path)
{
	char name[NAME_MAX + 1];
	struct entry *ents = NULL;
	size_t n = 0, cap = 0, i;
	uint8_t *out = NULL;
	size_t olen = 0;
	struct dirent *d;
	DIR *dir = NULL;
	int dfd, fd, e;

	if ((e = path_walk(file_workdir(a), path, 1, 0, &dfd, name)) < 0) {
		file_fail_errno(a, c, id, -e, "cannot list", path);
		return;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	e = errno;
	if (fd < 0) {
		file_fail_errno(a, c, id, e, "cannot list", path);
		close(dfd);
		return;
	}
	close(dfd);
	if (!(dir = fdopendir(fd))) {
		file_fail_errno(a, c, id, errno, "cannot list", path);
		close(fd);
		return;
	}
	for (;;) {
		errno = 0;
		if (!(d = readdir(dir))) {
			if (errno) {
				file_fail_errno(a, c, id, errno, "cannot list", path);
				goto out;
			}
			break;
		}
		if (path_is_dot(d->d_name))
			continue;
		if (n == LIST_MAX) {
			client_error(c, id, MSB_WIRE_ETOOBIG, 0, "list its "
				     "subdirectories, or run a command (ls, "
				     "find) for such a directory",
				     "\"%.256s\" holds more than %d entries",
				     path, LIST_MAX);
			goto out;
		}
		if (n == cap) {
			struct entry *ne;

			cap = cap ? cap * 2 : 64;
			if (!(ne = realloc(ents, cap * sizeof(*ents)))) {
				file_fail_errno(a, c, id, ENOMEM, "cannot list", path);
				goto out;
			}
			ents = ne;
		}
		if (fstatat(dirfd(dir), d->d_name, &ents[n].st,
			    AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* removed meanwhile */
		if (!(ents[n].name = strdup(d->d_name))) {
			file_fail_errno(a, c, id, ENOMEM, "cannot list", path);
			goto out;
		}
		n++;
	}
	if (n)
		qsort(ents, n, sizeof(*ents), entry_cmp);
	if (!(out = malloc(2 * MSB_DATA_CHUNK))) {
		file_fail_errno(a, c, id, ENOMEM, "cannot list", path);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct stat *st = &ents[i].st;
		int k = snprintf((char *)out + olen, 2 * MSB_DATA_CHUNK - olen,
				 "%d %lld %u %" PRId64 " %s", type_num(st->st_mode),
				 (long long)st->st_size,
				 (unsigned)(st->st_mode & 07777), mtime_ms(st),
				 ents[i].name);

		olen += (size_t)k + 1; /* keep the NUL */
		if (olen >= MSB_DATA_CHUNK) {
			if (client_send(c, MSB_FRAME_STDOUT, id, out, olen) < 0)
				goto out;
			olen = 0;
		}
	}
	if (olen && client_send(c, MSB_FRAME_STDOUT, id, out, olen) < 0)
		goto out;
	client_reply(c, id, json_pack("{s:b,s:I}", "ok", 1, "count",
				      (json_int_t)n));
out:
	for (i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	free(out);
	closedir(dir);
}

/* ---- mkdir, remove, rename --------------------------------------------- */

static void do_mkdir(struct agent *a, struct client *c, uint32_t id,
		     const json_t *req, const char *path)
{
	char name[NAME_MAX + 1];
	int parents = file_req_bool(req, "parents");
	struct stat st;
	int64_t mode;
	int dfd, fd, e;

	if ((mode = file_req_uint(c, id, req, "mode", 0755, 07777)) < 0)
		return;
	if (mode & (S_ISUID | S_ISGID)) {
		client_error(c, id, MSB_WIRE_EPERM, 0, "drop the setuid and setgid "
			     "bits", "mode %04llo is not allowed", (long long)mode);
		return;
	}
	if ((e = path_walk(file_workdir(a), path, 0, parents, &dfd, name)) < 0) {
		file_fail_errno(a, c, id, -e, "cannot create the directory", path);
		return;
	}
	if (mkdirat(dfd, name, (mode_t)mode) < 0) {
		e = errno;
		if (e == EEXIST && parents &&
		    fstatat(dfd, name, &st, 0) == 0 && S_ISDIR(st.st_mode)) {
			client_reply(c, id, json_pack("{s:b}", "ok", 1));
		} else {
			file_fail_errno(a, c, id, e, "cannot create the directory", path);
		}
		close(dfd);
		return;
	}
	/* Exactly the mode asked for, whatever the umask. */
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (fchmod(fd, (mode_t)mode) < 0)
			e = errno;
		close(fd);
	}
	close(dfd);
	if (e)
		file_fail_errno(a, c, id, e, "cannot set the mode of", path);
	else
		client_reply(c, id, json_pack("{s:b}", "ok", 1));
}

/* Empty the directory `name` under `parent` and remove it, never
 * following a symlink. Returns 0 or -errno; *where names what failed. */
static int remove_tree(int parent, const char *name, int depth,
		       char *where, size_t wlen)
{
	int fd, e = 0, pass;

	if (depth > REMOVE_DEPTH) {
		snprintf(where, wlen, "%s", name);
		return -ELOOP;
	}
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		e = -errno;
		snprintf(where, wlen, "%s", name);
		return e;
	}
	/* A few passes: entries created meanwhile are caught on the next. */
	for (pass = 0; pass < 3; pass++) {
		int dup_fd = dup(fd);
		struct dirent *d;
		DIR *dir;

		if (dup_fd < 0 || !(dir = fdopendir(dup_fd))) {
			e = -errno;
			if (dup_fd >= 0)
				close(dup_fd);
			break;
		}
		while ((d = readdir(dir))) {
			int isdir = d->d_type == DT_DIR;

			if (path_is_dot(d->d_name))
				continue;
			if (d->d_type == DT_UNKNOWN) {
				struct stat st;

				if (fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
					continue;
				isdir = S_ISDIR(st.st_mode);
			}
			if (isdir)
				e = remove_tree(fd, d->d_name, depth + 1, where, wlen);
			else if (unlinkat(fd, d->d_name, 0) < 0 && errno != ENOENT) {
				e = -errno;
				snprintf(where, wlen, "%s", d->d_name);
			}
			if (e)
				break;
		}
		closedir(dir);
		if (e)
			break;
		if (unlinkat(parent, name, AT_REMOVEDIR) == 0) {
			close(fd);
			return 0;
		}
		e = -errno;
		if (e != -ENOTEMPTY)
			break;
		e = 0;
	}
	close(fd);
	if (!e)
		e = -ENOTEMPTY;
	if (!where[0])
		snprintf(where, wlen, "%s", name);
	return e;
}

static void do_remove(struct agent *a, struct client *c, uint32_t id,
		      const json_t *req, const char *path)
{
	char name[NAME_MAX + 1], where[NAME_MAX + 1] = "";
	int recursive = file_req_bool(req, "recursive");
	struct stat st;
	int dfd, e;

	if ((e = path_walk(file_workdir(a), path, 0, 0, &dfd, name)) < 0) {
		file_fail_errno(a, c, id, -e, "cannot remove", path);
		return;
	}
	if (path_is_dot(name)) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "name the directory itself, "
			     "without a trailing \".\" or \"..\"",
			     "cannot remove \"%.256s\"", path);
		close(dfd);
		return;
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		file_fail_errno(a, c, id, errno, "cannot remove", path);
	} else if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, name, 0) < 0)
			file_fail_errno(a, c, id, errno, "cannot remove", path);
		else
			client_reply(c, id, json_pack("{s:b}", "ok", 1));
	} else if (!recursive) {
		if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
			file_fail_errno(a, c, id, errno, "cannot remove", path);
		else
			client_reply(c, id, json_pack("{s:b}", "ok", 1));
	} else if ((e = remove_tree(dfd, name, 0, where, sizeof(where))) < 0) {
		if (e == -ELOOP)
			client_error(c, id, MSB_WIRE_EINVAL, 0, "remove it with a "
				     "command (rm -rf)", "cannot remove "
				     "\"%.256s\": deeper than %d levels",
				     path, REMOVE_DEPTH);
		else {
			struct file_err f;

			file_map_errno(a, -e, &f);
			client_error(c, id, f.code, -e, f.hint, "cannot remove "
				     "\"%.256s\" (at \"%s\")", path, where);
		}
	} else {
		client_reply(c, id, json_pack("{s:b}", "ok", 1));
	}
	close(dfd);
}

static void do_rename(struct agent *a, struct client *c, uint32_t id,
		      const json_t *req)
{
	char n1[NAME_MAX + 1], n2[NAME_MAX + 1];
	_cleanup_free_ char *from = NULL, *to = NULL;
	int d1, d2, e;

	if (!(from = file_req_path(c, id, req, "from")) ||
	    !(to = file_req_path(c, id, req, "to")))
		return;
	if ((e = path_walk(file_workdir(a), from, 0, 0, &d1, n1)) < 0) {
		file_fail_errno(a, c, id, -e, "cannot rename", from);
		return;
	}
	if ((e = path_walk(file_workdir(a), to, 0, 0, &d2, n2)) < 0) {
		file_fail_errno(a, c, id, -e, "cannot rename to", to);
		close(d1);
		return;
	}
	if (path_is_dot(n1) || path_is_dot(n2))
		client_error(c, id, MSB_WIRE_EINVAL, 0, "name the entries themselves, "
			     "without a trailing \".\" or \"..\"",
			     "cannot rename \"%.256s\" to \"%.256s\"", from, to);
	else if (renameat(d1, n1, d2, n2) < 0)
		file_fail_errno(a, c, id, errno, "cannot rename", from);
	else
		client_reply(c, id, json_pack("{s:b}", "ok", 1));
	close(d1);
	close(d2);
}

/* ---- dispatch --------------------------------------------------------- */

void op_file(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	const char *action = json_string_value(json_object_get(req, "action"));
	_cleanup_free_ char *path = NULL;

	if (!action) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "", "file request without action");
		return;
	}
	if (!strcmp(action, "rename")) {
		do_rename(a, c, id, req);
		return;
	}
	if (!(path = file_req_path(c, id, req, "path")))
		return;
	if (!strcmp(action, "read"))
		file_read(a, c, id, req, path);
	else if (!strcmp(action, "write"))
		file_write(a, c, id, req, path);
	else if (!strcmp(action, "stat"))
		do_stat(a, c, id, path, 0);
	else if (!strcmp(action, "exists"))
		do_stat(a, c, id, path, 1);
	else if (!strcmp(action, "list"))
		do_list(a, c, id, path);
	else if (!strcmp(action, "mkdir"))
		do_mkdir(a, c, id, req, path);
	else if (!strcmp(action, "remove"))
		do_remove(a, c, id, req, path);
	else
		client_error(c, id, MSB_WIRE_EUNSUPPORTED, 0,
			     "update libmsb and msb-agent together",
			     "unknown file action \"%.64s\"", action);
}
