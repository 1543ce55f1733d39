/*
 * files.c - the "file" operation: read, write, stat, exists, list, mkdir,
 * remove and rename files inside the sandbox.
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
 *  - paths are walked here one component at a time with O_PATH|O_NOFOLLOW,
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
 * loop from serving anything else: a read sends for at most READ_SLICE_NS,
 * or until its client is behind (client_congested), then watches its
 * (always readable) file fd, for that client (agent_watch_client), so that
 * the loop comes back to it after one turn over the other fds, once the
 * client has caught up. A write runs as its STDIN
 * frames arrive. list, remove and the others run to completion at once
 * (bounded by LIST_MAX entries and REMOVE_DEPTH levels).
 *
 * The request is {"op":"file", "action":..., ...}; see docs/PROTOCOL.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include "msb.h"
#include "base.h"
#include "files.h"
#include "proto.h"

#define MAX_SYMLINKS 40         /* as the kernel's own limit */
#define REMOVE_DEPTH 256        /* deeper trees are refused */
#define LIST_MAX 100000         /* entries in one listing */
#define READ_SLICE_NS (10ull * 1000000ull) /* a read's turn in the loop */
#define WALK_BUF (3 * PATH_MAX)
#define DEFAULT_MODE 0644

/* ---- errors ----------------------------------------------------------- */

struct ferr {
	int code;
	const char *hint;
	char buf[256];
};

static void map_errno(const struct agent *a, int e, struct ferr *f)
{
	f->hint = "";
	switch (e) {
	case ENOENT:
		f->code = MSB_ENOTFOUND;
		f->hint = "check the path; relative paths start at the sandbox's "
			  "workdir";
		break;
	case EROFS:
		f->code = MSB_EPERM;
		f->hint = "only /tmp, /workspace, /root, /dev/shm and writable "
			  "volumes can be written";
		break;
	case EACCES:
	case EPERM:
		f->code = MSB_EPERM;
		f->hint = "the agent is the sandbox's root without capabilities: "
			  "check the file's permissions (setuid and setgid modes "
			  "are never allowed)";
		break;
	case EBUSY:
		f->code = MSB_EPERM;
		f->hint = "it is a mount point (the writable area or a volume)";
		break;
	case EEXIST:
		f->code = MSB_EEXISTS;
		f->hint = "remove it first, or do not ask for exclusive creation";
		break;
	case ENOTEMPTY:
		f->code = MSB_EINVAL;
		f->hint = "the directory is not empty: remove it recursively";
		break;
	case EISDIR:
		f->code = MSB_EINVAL;
		f->hint = "it is a directory: list it instead";
		break;
	case ENOTDIR:
		f->code = MSB_EINVAL;
		f->hint = "a component of the path is not a directory";
		break;
	case ELOOP:
		f->code = MSB_EINVAL;
		f->hint = "too many symbolic links (a loop?)";
		break;
	case ENAMETOOLONG:
		f->code = MSB_EINVAL;
		f->hint = "shorten the path (or a symlink's target)";
		break;
	case EXDEV:
		f->code = MSB_EINVAL;
		f->hint = "the two paths are on different file systems: copy, "
			  "then remove";
		break;
	case EINVAL:
		f->code = MSB_EINVAL;
		break;
	case ENOSPC:
	case EDQUOT:
		f->code = MSB_EIO;
		snprintf(f->buf, sizeof(f->buf), "the sandbox's disk (%" PRId64
			 " bytes) is full: remove files, or create the sandbox "
			 "with a larger disk_bytes",
			 agent_config(a)->disk_bytes);
		f->hint = f->buf;
		break;
	case EFBIG:
		f->code = MSB_ETOOBIG;
		f->hint = "the file would exceed the file system's size limit";
		break;
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		f->code = MSB_ENOMEM;
		f->hint = "the sandbox is short of memory or file descriptors";
		break;
	default:
		f->code = MSB_EIO;
		break;
	}
}

static void fail_errno(struct agent *a, struct client *c, uint32_t id, int e,
		       const char *what, const char *path)
{
	struct ferr f;

	map_errno(a, e, &f);
	client_error(c, id, f.code, e, f.hint, "%s \"%.256s\"", what, path);
}

/* ---- path resolution -------------------------------------------------- */

static int open_root(void)
{
	return open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void swap_fd(int *cur, int nfd)
{
	close(*cur);
	*cur = nfd;
}

/*
 * Walk `path` (relative ones start at workdir) to the directory holding
 * its final component: *dirfd gets an O_PATH fd of that directory (close
 * it) and name the component ("." when the path names a directory through
 * "/", "." or ".."). Symlinks in the directories are followed by their
 * text; so is a symlink in the final component when `follow` is set.
 * With `parents`, missing directories are created (mode 0755), as mkdir -p.
 * Returns 0 or -errno.
 */
static int walk(const char *workdir, const char *path, int follow,
		int parents, int *dirfd, char name[NAME_MAX + 1])
{
	char buf[WALK_BUF], tmp[WALK_BUF];
	char comp[NAME_MAX + 1];
	int cur, links = 0, n;
	char *p;

	if (path[0] == '/')
		n = snprintf(buf, sizeof(buf), "%s", path);
	else
		n = snprintf(buf, sizeof(buf), "%s%s/%s",
			     workdir[0] == '/' ? "" : "/", workdir, path);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	if ((cur = open_root()) < 0)
		return -errno;
	p = buf;
	for (;;) {
		const char *after;
		struct stat st;
		size_t len;
		int nfd, last;
		char *end;

		while (*p == '/')
			p++;
		if (!*p) {
			strcpy(name, ".");
			*dirfd = cur;
			return 0;
		}
		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (len > NAME_MAX) {
			close(cur);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, len);
		comp[len] = 0;
		for (after = end; *after == '/'; after++)
			;
		last = !*after;
		p = end;
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			/* The kernel stops ".." at the process's root, which
			 * is the sandbox root. */
			nfd = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (nfd < 0)
				goto fail;
			swap_fd(&cur, nfd);
			continue;
		}
		if (last && !follow) {
			strcpy(name, comp);
			*dirfd = cur;
			return 0;
		}
		if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT && last) {
				strcpy(name, comp); /* to be created */
				*dirfd = cur;
				return 0;
			}
			if (errno != ENOENT || !parents)
				goto fail;
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
				goto fail;
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t tl;

			if (++links > MAX_SYMLINKS) {
				close(cur);
				return -ELOOP;
			}
			tl = readlinkat(cur, comp, tmp, PATH_MAX);
			if (tl < 0)
				goto fail;
			if (tl == 0) {
				close(cur);
				return -ENOENT;
			}
			/* The rest of the walk: the target, then what
			 * followed the link. */
			n = snprintf(tmp + tl, sizeof(tmp) - (size_t)tl, "/%s",
				     after);
			if (n < 0 || (size_t)(tl + n) >= sizeof(buf)) {
				close(cur);
				return -ENAMETOOLONG;
			}
			memcpy(buf, tmp, (size_t)(tl + n) + 1);
			p = buf;
			if (buf[0] == '/') {
				if ((nfd = open_root()) < 0)
					goto fail;
				swap_fd(&cur, nfd);
			}
			continue;
		} else if (last) {
			strcpy(name, comp);
			*dirfd = cur;
			return 0;
		}
		/* A directory on the way. O_NOFOLLOW: a symlink swapped in
		 * since the fstatat gives ENOTDIR, it is never followed. */
		nfd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0)
			goto fail;
		swap_fd(&cur, nfd);
	}
fail:
	n = errno;
	close(cur);
	return -n;
}

/* The request's path: a non-empty string without NULs. */
static const char *req_path(struct client *c, uint32_t id, const json_t *req,
			    const char *key)
{
	const json_t *j = json_object_get(req, key);
	const char *s = json_string_value(j);

	if (!s || !s[0] || strlen(s) != json_string_length(j)) {
		client_error(c, id, MSB_EINVAL, 0, "pass a non-empty path "
			     "without NUL bytes", "bad or missing \"%s\"", key);
		return NULL;
	}
	if (strlen(s) >= PATH_MAX) {
		client_error(c, id, MSB_EINVAL, 0, "shorten the path",
			     "the path is longer than %d bytes", PATH_MAX - 1);
		return NULL;
	}
	return s;
}

/* An optional non-negative integer field; -1 (and an error sent) when it
 * is not one. */
static int64_t req_uint(struct client *c, uint32_t id, const json_t *req,
			const char *key, int64_t def, int64_t max)
{
	const json_t *j = json_object_get(req, key);
	json_int_t v;

	if (!j || json_is_null(j))
		return def;
	if (!json_is_integer(j) || (v = json_integer_value(j)) < 0 || v > max) {
		client_error(c, id, MSB_EINVAL, 0, "", "bad \"%s\"", key);
		return -1;
	}
	return v;
}

static int req_bool(const json_t *req, const char *key)
{
	const json_t *j = json_object_get(req, key);

	return json_is_true(j) || (json_is_integer(j) && json_integer_value(j));
}

static const char *workdir(struct agent *a)
{
	const char *w = agent_config(a)->workdir;

	return w && w[0] ? w : "/";
}

static int is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/* After open: only regular files, and none on procfs. Returns 0 or an
 * errno-like reason with *why set. */
static int check_regular(int fd, struct stat *st, const char **why)
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

static void fail_not_regular(struct agent *a, struct client *c, uint32_t id,
			     int e, const char *why, const char *what,
			     const char *path)
{
	if (!why) {
		fail_errno(a, c, id, e, what, path);
		return;
	}
	client_error(c, id, e == EPERM ? MSB_EPERM : MSB_EINVAL, 0,
		     "only regular files can be read and written; run a "
		     "command to use FIFOs, devices or /proc",
		     "cannot %s \"%.256s\": %s", what, path, why);
}

/* ---- read ------------------------------------------------------------- */

struct reader {
	struct client *c;
	uint32_t id;
	int fd;
	int watched;
	uint64_t max;   /* 0: no cap */
	uint64_t sent;
	unsigned int mode;      /* permission bits, for copies */
	char path[PATH_MAX];
	uint8_t buf[MSB_DATA_CHUNK];
};

static void reader_end(struct agent *a, struct reader *r)
{
	if (r->watched)
		agent_unwatch(a, r->fd);
	close(r->fd);
	client_untrack(r->c, r->id);
	client_unref(r->c);
	free(r);
}

static void reader_ready(struct agent *a, int fd, short revents, void *data);

/* Send for one slice, while the client keeps up; ends the request (and
 * frees r) when done. */
static void reader_pump(struct agent *a, struct reader *r)
{
	uint64_t start = agent_now_ns();

	while (!client_congested(r->c) && agent_now_ns() - start < READ_SLICE_NS) {
		ssize_t n = read(r->fd, r->buf, sizeof(r->buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail_errno(a, r->c, r->id, errno, "cannot read", r->path);
			reader_end(a, r);
			return;
		}
		if (n == 0) {
			client_reply(r->c, r->id, json_pack("{s:b,s:I,s:i}", "ok", 1,
					"size", (json_int_t)r->sent,
					"mode", (int)r->mode));
			reader_end(a, r);
			return;
		}
		if (r->max && r->sent + (uint64_t)n > r->max) {
			client_error(r->c, r->id, MSB_ETOOBIG, 0,
				     "raise max_bytes, or read it in a stream",
				     "\"%.256s\" grew past the cap of %" PRIu64
				     " bytes while it was read", r->path, r->max);
			reader_end(a, r);
			return;
		}
		if (client_send(r->c, MSB_FRAME_STDOUT, r->id, r->buf,
				(size_t)n) < 0) {
			reader_end(a, r); /* the client is gone */
			return;
		}
		r->sent += (uint64_t)n;
	}

	/* More to send: come back after one turn of the loop. A regular
	 * file is always readable, so the watch fires at once (once the
	 * client has caught up). */
	if (!r->watched) {
		if (agent_watch(a, r->fd, POLLIN, reader_ready, r) < 0) {
			client_error(r->c, r->id, MSB_ENOMEM, ENOMEM, "",
				     "cannot schedule the read");
			reader_end(a, r);
			return;
		}
		agent_watch_client(a, r->fd, r->c);
		r->watched = 1;
	}
}

static void reader_ready(struct agent *a, int fd, short revents, void *data)
{
	reader_pump(a, data);
}

static void reader_cancel(struct agent *a, struct client *c, uint32_t id,
			  int sig, void *rd)
{
	client_error(c, id, MSB_ECANCELED, 0, "", "the read was canceled");
	reader_end(a, rd);
}

static void reader_detach(struct agent *a, struct client *c, uint32_t id,
			  void *rd)
{
	reader_end(a, rd);
}

static const struct request_ops reader_ops = {
	.on_cancel = reader_cancel,
	.on_detach = reader_detach,
};

static void do_read(struct agent *a, struct client *c, uint32_t id,
		    const json_t *req, const char *path)
{
	char name[NAME_MAX + 1];
	struct reader *r;
	struct stat st;
	const char *why;
	int64_t max;
	int dfd, fd, e;

	if ((max = req_uint(c, id, req, "max_bytes", 0, INT64_MAX)) < 0)
		return;
	if ((e = walk(workdir(a), path, 1, 0, &dfd, name)) < 0) {
		fail_errno(a, c, id, -e, "cannot read", path);
		return;
	}
	/* Refuse what is not a regular file before opening it (opening a
	 * device may do things); then check again what was opened. */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		fail_errno(a, c, id, errno, "cannot read", path);
		close(dfd);
		return;
	}
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			fail_errno(a, c, id, EISDIR, "cannot read", path);
		else
			fail_not_regular(a, c, id, EINVAL,
					 S_ISFIFO(st.st_mode) ? "it is a FIFO" :
					 S_ISSOCK(st.st_mode) ? "it is a socket" :
					 "it is a device", "read", path);
		close(dfd);
		return;
	}
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
		    O_CLOEXEC);
	e = errno;
	close(dfd);
	if (fd < 0) {
		fail_errno(a, c, id, e, "cannot read", path);
		return;
	}
	if ((e = check_regular(fd, &st, &why))) {
		fail_not_regular(a, c, id, e, why, "read", path);
		close(fd);
		return;
	}
	if (max && st.st_size > max) {
		client_error(c, id, MSB_ETOOBIG, 0,
			     "raise max_bytes, or read it in a stream",
			     "\"%.256s\" is %lld bytes, larger than the cap of "
			     "%" PRId64 " bytes", path, (long long)st.st_size, max);
		close(fd);
		return;
	}
	r = malloc(sizeof(*r));
	if (!r || client_track(c, id, &reader_ops, r) < 0) {
		free(r);
		close(fd);
		client_error(c, id, MSB_ENOMEM, ENOMEM, "", "cannot start the read");
		return;
	}
	client_ref(c);
	r->c = c;
	r->id = id;
	r->fd = fd;
	r->watched = 0;
	r->max = (uint64_t)max;
	r->sent = 0;
	r->mode = st.st_mode & 0777;
	snprintf(r->path, sizeof(r->path), "%s", path);
	reader_pump(a, r);
}

/* ---- write ------------------------------------------------------------ */

struct writer {
	struct client *c;
	uint32_t id;
	int fd;
	int created;
	int dirfd;              /* to undo a creation that failed */
	char name[NAME_MAX + 1];
	uint64_t size;
	char path[PATH_MAX];
};

static void writer_end(struct agent *a, struct writer *w, int undo)
{
	if (undo && w->created) {
		struct stat a_st, b_st;

		/* Remove what we created, if the name still names it. */
		if (fstat(w->fd, &a_st) == 0 && ftruncate(w->fd, 0) == 0 &&
		    fstatat(w->dirfd, w->name, &b_st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a_st.st_dev == b_st.st_dev && a_st.st_ino == b_st.st_ino)
			unlinkat(w->dirfd, w->name, 0);
	}
	close(w->fd);
	close(w->dirfd);
	client_untrack(w->c, w->id);
	client_unref(w->c);
	free(w);
}

static void writer_stdin(struct agent *a, struct client *c, uint32_t id,
			 const uint8_t *data, size_t len, void *rd)
{
	struct writer *w = rd;

	if (len == 0) {
		client_reply(c, id, json_pack("{s:b,s:I}", "ok", 1, "size",
					      (json_int_t)w->size));
		writer_end(a, w, 0);
		return;
	}
	while (len > 0) {
		ssize_t n = write(w->fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail_errno(a, c, id, n < 0 ? errno : ENOSPC,
				   "cannot write", w->path);
			writer_end(a, w, 1);
			return;
		}
		data += n;
		len -= (size_t)n;
		w->size += (uint64_t)n;
	}
}

static void writer_cancel(struct agent *a, struct client *c, uint32_t id,
			  int sig, void *rd)
{
	client_error(c, id, MSB_ECANCELED, 0, "", "the write was canceled");
	writer_end(a, rd, 1);
}

static void writer_detach(struct agent *a, struct client *c, uint32_t id,
			  void *rd)
{
	writer_end(a, rd, 1);
}

static const struct request_ops writer_ops = {
	.on_stdin = writer_stdin,
	.on_cancel = writer_cancel,
	.on_detach = writer_detach,
};

static void do_write(struct agent *a, struct client *c, uint32_t id,
		     const json_t *req, const char *path)
{
	const int base = O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	char name[NAME_MAX + 1];
	struct writer *w;
	struct stat st;
	const char *why;
	int64_t flags, mode;
	int dfd, fd, e, created = 0;

	if ((flags = req_uint(c, id, req, "flags", 0, 2)) < 0 ||
	    (mode = req_uint(c, id, req, "mode", DEFAULT_MODE, 07777)) < 0)
		return;
	if (mode & (S_ISUID | S_ISGID)) {
		client_error(c, id, MSB_EPERM, 0, "drop the setuid and setgid "
			     "bits: the sandbox never creates such files",
			     "mode %04llo is not allowed", (long long)mode);
		return;
	}
	if ((e = walk(workdir(a), path, 1, 0, &dfd, name)) < 0) {
		fail_errno(a, c, id, -e, "cannot write", path);
		return;
	}
	if (is_dot(name)) {
		fail_errno(a, c, id, EISDIR, "cannot write", path);
		close(dfd);
		return;
	}
	/* Create it, or open what is there (never through a symlink that
	 * appeared since the walk, never blocking on a FIFO). */
	fd = openat(dfd, name, base | O_CREAT | O_EXCL, (mode_t)mode);
	if (fd >= 0) {
		created = 1;
	} else if (errno == EEXIST && flags != MSB_WRITE_EXCL) {
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(st.st_mode)) {
			fail_not_regular(a, c, id, S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
					 S_ISDIR(st.st_mode) ? "it is a directory" :
					 S_ISFIFO(st.st_mode) ? "it is a FIFO" :
					 S_ISSOCK(st.st_mode) ? "it is a socket" :
					 S_ISLNK(st.st_mode) ? "it is a symlink" :
					 "it is a device", "write", path);
			close(dfd);
			return;
		}
		fd = openat(dfd, name, base | (flags == MSB_WRITE_APPEND ? O_APPEND : 0));
	}
	if (fd < 0) {
		e = errno;
		fail_errno(a, c, id, e == ENXIO ? EINVAL : e, "cannot write", path);
		close(dfd);
		return;
	}
	if ((e = check_regular(fd, &st, &why))) {
		fail_not_regular(a, c, id, e, why, "write", path);
		goto fail;
	}
	if (created) {
		/* Exactly the mode asked for, whatever the umask. */
		if (fchmod(fd, (mode_t)mode) < 0) {
			fail_errno(a, c, id, errno, "cannot set the mode of", path);
			goto fail;
		}
	} else if (flags == MSB_WRITE_TRUNCATE && ftruncate(fd, 0) < 0) {
		fail_errno(a, c, id, errno, "cannot truncate", path);
		goto fail;
	}
	w = malloc(sizeof(*w));
	if (!w || client_track(c, id, &writer_ops, w) < 0) {
		free(w);
		client_error(c, id, MSB_ENOMEM, ENOMEM, "", "cannot start the write");
		goto fail;
	}
	client_ref(c);
	w->c = c;
	w->id = id;
	w->fd = fd;
	w->created = created;
	w->dirfd = dfd;
	snprintf(w->name, sizeof(w->name), "%s", name);
	snprintf(w->path, sizeof(w->path), "%s", path);
	w->size = 0;
	return; /* the data comes as STDIN frames, then an empty one */
fail:
	if (created)
		unlinkat(dfd, name, 0);
	close(fd);
	close(dfd);
}

/* ---- stat, exists, list ------------------------------------------------ */

static const char *type_name(mode_t m)
{
	return S_ISREG(m) ? "regular" : S_ISDIR(m) ? "directory" :
	       S_ISLNK(m) ? "symlink" : "other";
}

static int type_num(mode_t m)
{
	return S_ISREG(m) ? MSB_FILE_REGULAR : S_ISDIR(m) ? MSB_FILE_DIRECTORY :
	       S_ISLNK(m) ? MSB_FILE_SYMLINK : MSB_FILE_OTHER;
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

	e = walk(workdir(a), path, 0, 0, &dfd, name);
	if (e == 0) {
		e = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
		close(dfd);
	}
	if (exists_only) {
		if (e == 0 || e == -ENOENT || e == -ENOTDIR)
			client_reply(c, id, json_pack("{s:b,s:b}", "ok", 1,
						      "exists", e == 0));
		else
			fail_errno(a, c, id, -e, "cannot look up", path);
		return;
	}
	if (e < 0) {
		fail_errno(a, c, id, -e, "cannot stat", path);
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

	if ((e = walk(workdir(a), path, 1, 0, &dfd, name)) < 0) {
		fail_errno(a, c, id, -e, "cannot list", path);
		return;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	e = errno;
	if (fd < 0) {
		fail_errno(a, c, id, e, "cannot list", path);
		close(dfd);
		return;
	}
	close(dfd);
	if (!(dir = fdopendir(fd))) {
		fail_errno(a, c, id, errno, "cannot list", path);
		close(fd);
		return;
	}
	for (;;) {
		errno = 0;
		if (!(d = readdir(dir))) {
			if (errno) {
				fail_errno(a, c, id, errno, "cannot list", path);
				goto out;
			}
			break;
		}
		if (is_dot(d->d_name))
			continue;
		if (n == LIST_MAX) {
			client_error(c, id, MSB_ETOOBIG, 0, "list its "
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
				fail_errno(a, c, id, ENOMEM, "cannot list", path);
				goto out;
			}
			ents = ne;
		}
		if (fstatat(dirfd(dir), d->d_name, &ents[n].st,
			    AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* removed meanwhile */
		if (!(ents[n].name = strdup(d->d_name))) {
			fail_errno(a, c, id, ENOMEM, "cannot list", path);
			goto out;
		}
		n++;
	}
	if (n)
		qsort(ents, n, sizeof(*ents), entry_cmp);
	if (!(out = malloc(2 * MSB_DATA_CHUNK))) {
		fail_errno(a, c, id, ENOMEM, "cannot list", path);
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
	int parents = req_bool(req, "parents");
	struct stat st;
	int64_t mode;
	int dfd, fd, e;

	if ((mode = req_uint(c, id, req, "mode", 0755, 07777)) < 0)
		return;
	if (mode & (S_ISUID | S_ISGID)) {
		client_error(c, id, MSB_EPERM, 0, "drop the setuid and setgid "
			     "bits", "mode %04llo is not allowed", (long long)mode);
		return;
	}
	if ((e = walk(workdir(a), path, 0, parents, &dfd, name)) < 0) {
		fail_errno(a, c, id, -e, "cannot create the directory", path);
		return;
	}
	if (mkdirat(dfd, name, (mode_t)mode) < 0) {
		e = errno;
		if (e == EEXIST && parents &&
		    fstatat(dfd, name, &st, 0) == 0 && S_ISDIR(st.st_mode)) {
			client_reply(c, id, json_pack("{s:b}", "ok", 1));
		} else {
			fail_errno(a, c, id, e, "cannot create the directory", path);
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
		fail_errno(a, c, id, e, "cannot set the mode of", path);
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

			if (is_dot(d->d_name))
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
	int recursive = req_bool(req, "recursive");
	struct stat st;
	int dfd, e;

	if ((e = walk(workdir(a), path, 0, 0, &dfd, name)) < 0) {
		fail_errno(a, c, id, -e, "cannot remove", path);
		return;
	}
	if (is_dot(name)) {
		client_error(c, id, MSB_EINVAL, 0, "name the directory itself, "
			     "without a trailing \".\" or \"..\"",
			     "cannot remove \"%.256s\"", path);
		close(dfd);
		return;
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		fail_errno(a, c, id, errno, "cannot remove", path);
	} else if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, name, 0) < 0)
			fail_errno(a, c, id, errno, "cannot remove", path);
		else
			client_reply(c, id, json_pack("{s:b}", "ok", 1));
	} else if (!recursive) {
		if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
			fail_errno(a, c, id, errno, "cannot remove", path);
		else
			client_reply(c, id, json_pack("{s:b}", "ok", 1));
	} else if ((e = remove_tree(dfd, name, 0, where, sizeof(where))) < 0) {
		if (e == -ELOOP)
			client_error(c, id, MSB_EINVAL, 0, "remove it with a "
				     "command (rm -rf)", "cannot remove "
				     "\"%.256s\": deeper than %d levels",
				     path, REMOVE_DEPTH);
		else {
			struct ferr f;

			map_errno(a, -e, &f);
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
	const char *from, *to;
	int d1, d2, e;

	if (!(from = req_path(c, id, req, "from")) ||
	    !(to = req_path(c, id, req, "to")))
		return;
	if ((e = walk(workdir(a), from, 0, 0, &d1, n1)) < 0) {
		fail_errno(a, c, id, -e, "cannot rename", from);
		return;
	}
	if ((e = walk(workdir(a), to, 0, 0, &d2, n2)) < 0) {
		fail_errno(a, c, id, -e, "cannot rename to", to);
		close(d1);
		return;
	}
	if (is_dot(n1) || is_dot(n2))
		client_error(c, id, MSB_EINVAL, 0, "name the entries themselves, "
			     "without a trailing \".\" or \"..\"",
			     "cannot rename \"%.256s\" to \"%.256s\"", from, to);
	else if (renameat(d1, n1, d2, n2) < 0)
		fail_errno(a, c, id, errno, "cannot rename", from);
	else
		client_reply(c, id, json_pack("{s:b}", "ok", 1));
	close(d1);
	close(d2);
}

/* ---- dispatch --------------------------------------------------------- */

void op_file(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	const char *action = json_string_value(json_object_get(req, "action"));
	const char *path;

	if (!action) {
		client_error(c, id, MSB_EINVAL, 0, "", "file request without action");
		return;
	}
	if (!strcmp(action, "rename")) {
		do_rename(a, c, id, req);
		return;
	}
	if (!(path = req_path(c, id, req, "path")))
		return;
	if (!strcmp(action, "read"))
		do_read(a, c, id, req, path);
	else if (!strcmp(action, "write"))
		do_write(a, c, id, req, path);
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
		client_error(c, id, MSB_EUNSUPPORTED, 0,
			     "update libmsb and msb-agent together",
			     "unknown file action \"%.64s\"", action);
}
