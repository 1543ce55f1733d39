/*
 * client.c - one connection from libmsb, as the loop (loop.c) and the
 * operations see it: its output queue, its flow control, the frames sent
 * to it, and the requests that outlive their CALL.
 *
 * Writes to a client never block (a socket, a port or the console alike):
 * client_send() writes what the fd takes now and queues the rest (outq.c),
 * and the loop writes the queue out as the fd has room (POLLOUT). A
 * client whose queue is over OUT_HIGH is paused until it is back under
 * OUT_LOW: its watch stops asking for requests, and the watches that feed
 * it are not polled (agent_watch_client). What is always queued (replies,
 * events) is bounded by OUT_MAX: a client over it is broken, and the loop
 * closes it.
 *
 * A leaf below the loop: it changes what a client wants polled (events)
 * and the loop applies that before each poll, so nothing here calls back
 * into loop.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "wire.h"
#include "base.h"
#include "client.h"
#include "proto.h"

#define OUT_HIGH (1u << 20)         /* a client's producers pause over this */
#define OUT_LOW (256u << 10)        /* ... and go on under this */
#define OUT_MAX (64u << 20)         /* a client with more queued is dropped */

int client_alive(const struct client *c)
{
	return c && c->fd >= 0 && !c->broken;
}

void client_ref(struct client *c)
{
	c->refs++;
}

void client_out_free(struct client *c)
{
	outq_clear(&c->q);
	c->paused = 0;
}

void client_unref(struct client *c)
{
	if (--c->refs > 0)
		return;
	client_out_free(c);
	msb_decoder_release(&c->dec);
	free(c);
}

int client_congested(const struct client *c)
{
	return client_alive(c) && c->paused;
}

/* After the queue changed: the pause, and what the client's watch polls
 * (no requests while it is paused: their replies would queue up too).
 * The loop hands c->events to the watch before each poll. */
static void client_update(struct client *c)
{
	short ev;

	if (c->q.queued >= OUT_HIGH)
		c->paused = 1;
	else if (c->q.queued <= OUT_LOW)
		c->paused = 0;
	ev = (short)((c->paused ? 0 : POLLIN) | (c->q.queued ? POLLOUT : 0));
	if (c->fd >= 0 && ev != c->events)
		c->events = ev; /* the loop polls for it from its next turn */
}

/* Write what the fd takes now: the bytes written, 0 when it is full, or
 * -errno. A socket peer that went away gives EPIPE, never SIGPIPE. */
static ssize_t client_write(struct client *c, struct iovec *iov, int n)
{
	ssize_t w;

	do {
		if (c->sock) {
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };

			w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			w = writev(c->fd, iov, n);
		}
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return w;
}

/* client_write() for the queue: each write that takes bytes moves it. */
static ssize_t flush_write(void *ctx, struct iovec *iov, int n)
{
	struct client *c = ctx;
	ssize_t w = client_write(c, iov, n);

	if (w > 0)
		c->moved = agent_now_ns();
	return w;
}

/* Write out as much of the queue as the fd takes. Returns 0 or -errno. */
int client_out_flush(struct client *c)
{
	return outq_flush(&c->q, flush_write, c);
}

void client_flush(struct client *c)
{
	if (!client_alive(c))
		return;
	if (client_out_flush(c) < 0)
		c->broken = 1;
	client_update(c);
}

int client_send(struct client *c, uint8_t type, uint32_t id, const void *data, size_t len)
{
	uint8_t hdr[MSB_FRAME_HEADER];
	size_t done = 0;

	if (!client_alive(c))
		return -EPIPE;
	if (len > MSB_FRAME_MAX)
		return -EMSGSIZE;
	msb_frame_header(hdr, type, id, (uint32_t)len);
	if (!c->q.head) {
		/* Nothing waits: write what the fd takes now. */
		struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)data, len } };
		ssize_t w = client_write(c, iov, len ? 2 : 1);

		if (w < 0) {
			c->broken = 1;
			return (int)w;
		}
		done = (size_t)w;
		if (done == sizeof(hdr) + len)
			return 0;
		c->moved = agent_now_ns();
	}
	if (c->q.queued + sizeof(hdr) + len - done > OUT_MAX ||
	    outq_frame(&c->q, hdr, data, len, done) < 0) {
		/* Far behind, or no memory for it: as a send that timed out. */
		c->broken = 1;
		return -ENOBUFS;
	}
	client_update(c);
	return 0;
}

void client_send_json(struct client *c, uint8_t type, uint32_t id, json_t *obj)
{
	char *s;

	if (!obj)
		return;
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s)
		return;
	if (strlen(s) > MSB_FRAME_MAX) {
		/* Never the case for our own replies; refuse rather than
		 * send a frame the peer must reject. */
		free(s);
		s = strdup("{\"ok\":false,\"error\":{\"code\":-8,\"message\":"
			   "\"reply too large\",\"hint\":\"\"}}");
		if (!s)
			return;
	}
	client_send(c, type, id, s, strlen(s));
	free(s);
}

void client_reply(struct client *c, uint32_t id, json_t *obj)
{
	client_send_json(c, MSB_FRAME_REPLY, id, obj);
}

void client_event(struct client *c, uint32_t id, json_t *obj)
{
	client_send_json(c, MSB_FRAME_EVENT, id, obj);
}

void client_error(struct client *c, uint32_t id, int code, int os_errno,
		  const char *hint, const char *fmt, ...)
{
	struct msb_wire_error e;
	va_list ap;

	va_start(ap, fmt);
	msb_wire_vfail(&e, code, os_errno, hint, fmt, ap);
	va_end(ap);
	client_reply(c, id, msb_wire_failed_reply(&e));
}

int client_track(struct client *c, uint32_t id, const struct request_ops *ops, void *rd)
{
	struct tracked *t;

	for (t = c->tracked; t; t = t->next)
		if (t->id == id)
			return -1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->id = id;
	t->ops = ops;
	t->rd = rd;
	t->next = c->tracked;
	c->tracked = t;
	return 0;
}

void client_untrack(struct client *c, uint32_t id)
{
	for (struct tracked **pp = &c->tracked; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct tracked *t = *pp;

			*pp = t->next;
			free(t);
			return;
		}
}

struct tracked *client_find_tracked(struct client *c, uint32_t id)
{
	for (struct tracked *t = c->tracked; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

