/*
 * proto.c - frame encoding and a decoder that trusts nothing.
 */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

void msb_decoder_init(struct msb_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void msb_decoder_release(struct msb_decoder *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

uint8_t *msb_decoder_space(struct msb_decoder *d, size_t want)
{
	/* Drop consumed bytes first so the buffer stays bounded. */
	if (d->off > 0) {
		memmove(d->buf, d->buf + d->off, d->len - d->off);
		d->len -= d->off;
		d->off = 0;
	}
	if (d->cap - d->len < want) {
		size_t cap = d->cap ? d->cap : 4096;
		uint8_t *nb;

		while (cap - d->len < want) {
			if (cap > SIZE_MAX / 2)
				return NULL;
			cap *= 2;
		}
		nb = realloc(d->buf, cap);
		if (!nb)
			return NULL;
		d->buf = nb;
		d->cap = cap;
	}
	return d->buf + d->len;
}

void msb_decoder_commit(struct msb_decoder *d, size_t n)
{
	d->len += n;
}

int msb_decoder_feed(struct msb_decoder *d, const void *data, size_t n)
{
	uint8_t *p = msb_decoder_space(d, n);

	if (!p)
		return -1;
	if (n)
		memcpy(p, data, n);
	msb_decoder_commit(d, n);
	return 0;
}

int msb_decoder_next(struct msb_decoder *d, struct msb_frame *f,
		     const char **why)
{
	const uint8_t *h;
	size_t avail = d->len - d->off;
	uint32_t len;

	if (d->failed) {
		*why = "stream already malformed";
		return -1;
	}
	if (avail < MSB_FRAME_HEADER)
		return 0;
	h = d->buf + d->off;
	len = get_le32(h);
	if (len > MSB_FRAME_MAX) {
		*why = "frame longer than the protocol allows";
		goto bad;
	}
	if (h[4] == 0 || h[4] > MSB_FRAME_TYPE_MAX) {
		*why = "unknown frame type";
		goto bad;
	}
	if (h[5] != 0 || h[6] != 0 || h[7] != 0) {
		*why = "reserved header bits set";
		goto bad;
	}
	if (avail - MSB_FRAME_HEADER < len)
		return 0;
	f->type = h[4];
	f->id = get_le32(h + 8);
	f->len = len;
	f->data = h + MSB_FRAME_HEADER;
	d->off += MSB_FRAME_HEADER + (size_t)len;
	return 1;
bad:
	d->failed = 1;
	return -1;
}

void msb_frame_header(uint8_t *out, uint8_t type, uint32_t id, uint32_t len)
{
	put_le32(out, len);
	out[4] = type;
	out[5] = out[6] = out[7] = 0;
	put_le32(out + 8, id);
}

int msb_frame_write_wait(int fd, uint8_t type, uint32_t id, const void *data,
			 size_t len, int (*wait)(void *arg), void *arg)
{
	uint8_t hdr[MSB_FRAME_HEADER];
	struct iovec iov[2];
	struct iovec *v = iov;
	int n = len ? 2 : 1, rc;

	if (len > MSB_FRAME_MAX)
		return -EMSGSIZE;
	msb_frame_header(hdr, type, id, (uint32_t)len);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	while (n > 0) {
		/* A socket peer that went away must give EPIPE, never a
		 * SIGPIPE in the (library caller's) process; writev for
		 * whatever is not a socket. */
		struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (w < 0 && errno == ENOTSOCK)
			w = writev(fd, v, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && wait) {
			if ((rc = wait(arg)) < 0)
				return rc;
			continue;
		}
		if (w < 0)
			return -errno;
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int msb_frame_write(int fd, uint8_t type, uint32_t id, const void *data,
		    size_t len)
{
	return msb_frame_write_wait(fd, type, id, data, len, NULL, NULL);
}

int msb_frame_write_json(int fd, uint8_t type, uint32_t id, const json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);
	int rc;

	if (!s)
		return -ENOMEM;
	rc = msb_frame_write(fd, type, id, s, strlen(s));
	free(s);
	return rc;
}

json_t *msb_frame_json(const struct msb_frame *f, const char **why)
{
	json_error_t jerr;
	json_t *v;

	if (f->len == 0) {
		*why = "empty control frame";
		return NULL;
	}
	/* JSON_DISALLOW_NULL... keep defaults; the length is explicit, so an
	 * embedded NUL is rejected by jansson instead of truncating. */
	v = json_loadb((const char *)f->data, f->len, JSON_REJECT_DUPLICATES,
		       &jerr);
	if (!v) {
		*why = "control frame is not valid JSON";
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		*why = "control frame is not a JSON object";
		return NULL;
	}
	return v;
}

uint64_t msb_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int msb_frame_read(int fd, struct msb_decoder *d, struct msb_frame *f,
		   uint64_t deadline_ns, const char **why)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc = msb_decoder_next(d, f, why), wait_ms = -1;
		uint8_t *p;
		ssize_t n;

		if (rc != 0)
			return rc;
		if (deadline_ns) {
			uint64_t now = msb_clock_ns();

			if (now >= deadline_ns)
				return 0;
			wait_ms = (int)((deadline_ns - now) / 1000000ull) + 1;
		}
		rc = poll(&pfd, 1, wait_ms);
		if (rc < 0 && errno != EINTR) {
			*why = "cannot wait for the connection";
			return -1;
		}
		if (rc <= 0)
			continue;
		p = msb_decoder_space(d, 4096);
		if (!p) {
			errno = ENOMEM;
			*why = "out of memory";
			return -1;
		}
		n = read(fd, p, 4096);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0 && errno != ECONNRESET) {
			*why = "cannot read the connection";
			return -1;
		}
		if (n <= 0) /* the end, or the peer hung up on unread bytes */
			return -1;
		msb_decoder_commit(d, (size_t)n);
	}
}
