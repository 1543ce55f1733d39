/*
 * conn.h - the connection to a sandbox's agent, once it is up (conn.c):
 * requests in flight, their output and replies.
 */
#ifndef MSB_LIB_CONN_H
#define MSB_LIB_CONN_H

#include <pthread.h>
#include <stdint.h>
#include <jansson.h>

#include "msb.h"
#include "proto.h"

struct chunk {
	struct chunk *next;
	uint8_t type;  /* MSB_FRAME_STDOUT / MSB_FRAME_STDERR */
	size_t len;
	uint8_t data[];
};

/* One request in flight: the reader thread fills it, the caller drains it. */
struct request {
	struct request *next;
	uint32_t id;
	struct chunk *head, *tail;
	json_t *reply;     /* the REPLY, once it arrived */
	json_t *event;     /* the latest EVENT for this request */
	int lost;          /* the connection died before the reply */
};

/*
 * The connection. There is no reader thread: a thread waiting for its
 * request reads the socket itself when nobody else is (it "leads"),
 * delivers whatever frames arrive to their requests, and wakes the other
 * waiters, one of which leads next. This saves a thread per sandbox and a
 * thread switch per request.
 */
struct conn {
	int fd;
	pthread_mutex_t wlock;  /* serialises frame writes */
	/* guarded by the sandbox lock: */
	pthread_cond_t cond;    /* something was delivered, or the lead is free */
	int reading;            /* a thread is reading the socket */
	int dead;               /* EOF or garbage: nothing more will come */
	struct msb_decoder dec;
	uint32_t next_id;
	struct request *requests;
};

/* Start serving requests on sb->conn.fd (after the handshake). */
int msb_conn_start(msb_sandbox *sb);
/* Shut the connection down (waits for a reading thread to let go). */
void msb_conn_stop(msb_sandbox *sb);
/* Notice, without blocking, whether the agent went away or said it is
 * ending (for status queries between requests). */
void msb_conn_poll(msb_sandbox *sb);

/* Register a request and send its CALL. On success *out is registered and
 * must be released with msb_request_end(). */
int msb_request_begin(msb_sandbox *sb, struct request **out, json_t *call);
/* Wait for the next event: a chunk (returned, caller frees) or the reply.
 * Returns 1 with *chunk set, 0 when the reply is there (req->reply) and no
 * chunk is left, or a negative MSB_E* code when the sandbox is gone or the
 * deadline (absolute, msb_now_ns clock, 0 = none) passes. */
int msb_request_wait(msb_sandbox *sb, struct request *req,
		     struct chunk **chunk, uint64_t deadline_ns);
void msb_request_end(msb_sandbox *sb, struct request *req);
/* Wait until the request has an EVENT (returns 0; chunks stay queued), or
 * fails (its error REPLY, the sandbox gone, the deadline). */
int msb_request_wait_event(msb_sandbox *sb, struct request *req,
			   uint64_t deadline_ns);
/* Send a frame on the connection (thread-safe). Returns 0, or
 * MSB_ESANDBOX when the agent is gone. */
int msb_conn_send(msb_sandbox *sb, uint8_t type, uint32_t id,
		  const void *data, size_t len);
/* A CALL that expects one JSON REPLY with "ok": true; returns the reply. */
int msb_call(msb_sandbox *sb, json_t *call, json_t **reply, int64_t timeout_ms);

#endif
