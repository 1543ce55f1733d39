/*
 * files_rw.c - the read and write actions of the "file" operation.
 *
 * Both open the final component with O_NOFOLLOW|O_NONBLOCK (a FIFO never
 * blocks the open), then refuse anything that is not a regular file
 * (FIFOs, sockets, devices such as /dev/zero) and any file on procfs
 * (/proc/self/mem, /proc/self/environ are "regular" there).
 *
 * Regular files never block, but a large read would keep the loop from
 * serving anything else: a read sends for at most READ_SLICE_NS, or until
 * its client is behind (client_congested), then watches its (always
 * readable) file fd, for that client (agent_watch_client), so that the
 * loop comes back to it after one turn over the other fds, once the
 * client has caught up. A write runs as its STDIN frames arrive.
 */
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

#include "wire.h"
#include "base.h"
#include "client.h"
#include "files_req.h"
#include "files_rw.h"
#include "path.h"
#include "proto.h"

#define READ_SLICE_NS (10ull * 1000000ull) /* a read's turn in the loop */
#define DEFAULT_MODE 0644

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
			file_fail_errno(a, r->c, r->id, errno, "cannot read", r->path);
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
			client_error(r->c, r->id, MSB_WIRE_ETOOBIG, 0,
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
			client_error(r->c, r->id, MSB_WIRE_ENOMEM, ENOMEM, "",
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
	client_error(c, id, MSB_WIRE_ECANCELED, 0, "", "the read was canceled");
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

void file_read(struct agent *a, struct client *c, uint32_t id,
	       const json_t *req, const char *path)
{
	char name[NAME_MAX + 1];
	struct reader *r;
	struct stat st;
	const char *why;
	int64_t max;
	int dfd, fd, e;

	if ((max = file_req_uint(c, id, req, "max_bytes", 0, INT64_MAX)) < 0)
		return;
	if ((e = path_walk(file_workdir(a), path, 1, 0, &dfd, name)) < 0) {
		file_fail_errno(a, c, id, -e, "cannot read", path);
		return;
	}
	/* Refuse what is not a regular file before opening it (opening a
	 * device may do things); then check again what was opened. */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		file_fail_errno(a, c, id, errno, "cannot read", path);
		close(dfd);
		return;
	}
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			file_fail_errno(a, c, id, EISDIR, "cannot read", path);
		else
			file_fail_not_regular(a, c, id, EINVAL,
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
		file_fail_errno(a, c, id, e, "cannot read", path);
		return;
	}
	if ((e = file_check_regular(fd, &st, &why))) {
		file_fail_not_regular(a, c, id, e, why, "read", path);
		close(fd);
		return;
	}
	if (max && st.st_size > max) {
		client_error(c, id, MSB_WIRE_ETOOBIG, 0,
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
		client_error(c, id, MSB_WIRE_ENOMEM, ENOMEM, "", "cannot start the read");
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
			file_fail_errno(a, c, id, n < 0 ? errno : ENOSPC,
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
	client_error(c, id, MSB_WIRE_ECANCELED, 0, "", "the write was canceled");
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

void file_write(struct agent *a, struct client *c, uint32_t id,
		const json_t *req, const char *path)
{
	const int base = O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	char name[NAME_MAX + 1];
	struct writer *w;
	struct stat st;
	const char *why;
	int64_t flags, mode;
	int dfd, fd, e, created = 0;

	if ((flags = file_req_uint(c, id, req, "flags", 0, 2)) < 0 ||
	    (mode = file_req_uint(c, id, req, "mode", DEFAULT_MODE, 07777)) < 0)
		return;
	if (mode & (S_ISUID | S_ISGID)) {
		client_error(c, id, MSB_WIRE_EPERM, 0, "drop the setuid and setgid "
			     "bits: the sandbox never creates such files",
			     "mode %04llo is not allowed", (long long)mode);
		return;
	}
	if ((e = path_walk(file_workdir(a), path, 1, 0, &dfd, name)) < 0) {
		file_fail_errno(a, c, id, -e, "cannot write", path);
		return;
	}
	if (path_is_dot(name)) {
		file_fail_errno(a, c, id, EISDIR, "cannot write", path);
		close(dfd);
		return;
	}
	/* Create it, or open what is there (never through a symlink that
	 * appeared since the walk, never blocking on a FIFO). */
	fd = openat(dfd, name, base | O_CREAT | O_EXCL, (mode_t)mode);
	if (fd >= 0) {
		created = 1;
	} else if (errno == EEXIST && flags != MSB_WIRE_WRITE_EXCL) {
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(st.st_mode)) {
			file_fail_not_regular(a, c, id, S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
					      S_ISDIR(st.st_mode) ? "it is a directory" :
					      S_ISFIFO(st.st_mode) ? "it is a FIFO" :
					      S_ISSOCK(st.st_mode) ? "it is a socket" :
					      S_ISLNK(st.st_mode) ? "it is a symlink" :
					      "it is a device", "write", path);
			close(dfd);
			return;
		}
		fd = openat(dfd, name, base | (flags == MSB_WIRE_WRITE_APPEND ? O_APPEND : 0));
	}
	if (fd < 0) {
		e = errno;
		file_fail_errno(a, c, id, e == ENXIO ? EINVAL : e, "cannot write", path);
		close(dfd);
		return;
	}
	if ((e = file_check_regular(fd, &st, &why))) {
		file_fail_not_regular(a, c, id, e, why, "write", path);
		goto fail;
	}
	if (created) {
		/* Exactly the mode asked for, whatever the umask. */
		if (fchmod(fd, (mode_t)mode) < 0) {
			file_fail_errno(a, c, id, errno, "cannot set the mode of", path);
			goto fail;
		}
	} else if (flags == MSB_WIRE_WRITE_TRUNCATE && ftruncate(fd, 0) < 0) {
		file_fail_errno(a, c, id, errno, "cannot truncate", path);
		goto fail;
	}
	w = malloc(sizeof(*w));
	if (!w || client_track(c, id, &writer_ops, w) < 0) {
		free(w);
		client_error(c, id, MSB_WIRE_ENOMEM, ENOMEM, "", "cannot start the write");
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

