/*
 * client.h - one connection from libmsb (client.c): what operations send
 * to it and track on it, and, for the loop, its state.
 */
#ifndef MSB_AGENT_CLIENT_H
#define MSB_AGENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "loop.h"
#include "outq.h"
#include "proto.h"

/* Frames to a client. client_reply() takes the reference to obj. A client
 * that went away makes these no-ops (check client_alive()). They never
 * block: what the connection does not take now is queued, and a client
 * too far behind is dropped (client_send() then returns < 0). */
int client_send(struct client *c, uint8_t type, uint32_t id, const void *data, size_t len);
/* Whether c's queue is over its high-water mark, until it is back under
 * its low-water mark: a producer stops sending to it meanwhile (and
 * watches its source with agent_watch_client()). */
int client_congested(const struct client *c);
void client_reply(struct client *c, uint32_t id, json_t *obj);
void client_event(struct client *c, uint32_t id, json_t *obj);
void client_error(struct client *c, uint32_t id, int code, int os_errno,
		  const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
int client_alive(const struct client *c);
/* Clients are reference counted so that modules may keep one past its
 * disconnection (sends then do nothing). */
void client_ref(struct client *c);
void client_unref(struct client *c);

/* A request that outlives its CALL (a running command, a file upload):
 * STDIN and CANCEL frames with its id go to these callbacks. on_detach
 * runs when the client disconnects; it must end the request (untrack). */
struct request_ops {
	void (*on_stdin)(struct agent *a, struct client *c, uint32_t id,
			 const uint8_t *data, size_t len, void *rd); /* len 0: EOF */
	void (*on_cancel)(struct agent *a, struct client *c, uint32_t id,
			  int sig, void *rd);
	void (*on_detach)(struct agent *a, struct client *c, uint32_t id, void *rd);
};
int client_track(struct client *c, uint32_t id, const struct request_ops *ops, void *rd);
void client_untrack(struct client *c, uint32_t id);

/* ---- for the loop (loop.c) ------------------------------------------------ */

/* A request in flight: its id and where its STDIN and CANCEL go. */
struct tracked {
	struct tracked *next;
	uint32_t id;
	const struct request_ops *ops;
	void *rd;
};

struct client {
	struct client *next;
	int fd;          /* -1 once closed; non-blocking */
	int sock;        /* fd is a socket (else a port or the console) */
	int broken;      /* a send failed: close at the end of this turn */
	int refs;
	int greeted;     /* the HELLO exchange is done */
	int primary;     /* the connection libmsb spawned us with */
	unsigned port;   /* a detached VM's virtio-console port, else 0 */
	struct msb_decoder dec;
	struct tracked *tracked;
	/* output the fd did not take yet */
	struct outq q;
	int paused;      /* queued went over OUT_HIGH, not yet under OUT_LOW */
	short events;    /* what its watch polls for */
	uint64_t moved;  /* when the queue last moved (or started) */
};

/* Write out what the fd takes of c's queue; then the pause and events. */
void client_flush(struct client *c);
/* The same without the pause and events: 0 or -errno. */
int client_out_flush(struct client *c);
/* Drop c's queue (and its pause). */
void client_out_free(struct client *c);
/* Send obj (its reference taken) as one JSON frame of this type. */
void client_send_json(struct client *c, uint8_t type, uint32_t id, json_t *obj);
struct tracked *client_find_tracked(struct client *c, uint32_t id);

#endif
