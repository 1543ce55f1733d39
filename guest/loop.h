/*
 * loop.h - the agent's event loop (loop.c): serving the protocol as PID 1
 * of the sandbox, and what the modules that implement operations use from
 * it (watches, timers, children). Frames to a client: client.h.
 */
#ifndef MSB_AGENT_LOOP_H
#define MSB_AGENT_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "config.h"

struct agent;   /* the server: one per sandbox */
struct client;  /* one connection from libmsb */

/* An operation: a CALL {"op": name, ...}. The handler answers with
 * client_reply()/client_error() now or later (then it tracks the id). */
typedef void (*op_fn)(struct agent *a, struct client *c, uint32_t id, const json_t *req);

struct agent_op {
	const char *name;
	op_fn fn;
};

/* Serve the protocol on `sock` (and, for a detached sandbox, on every
 * connection accepted on `listen_fd`, else -1) until the host goes away
 * or asks to shut down. CALLs go to the operation of that name in
 * ops[0..nops) ("shutdown" is the loop's own). Returns the agent's exit
 * status. */
int agent_serve(const struct agent_config *cfg, int sock, int listen_fd,
		const struct agent_enforcement *enf,
		const struct agent_op *ops, size_t nops);

/* The sandbox's configuration, for modules. */
const struct agent_config *agent_config(const struct agent *a);

/* Call fn when fd is ready for `events` (POLLIN, POLLOUT); one watch per
 * fd. agent_unwatch() before closing the fd. Callbacks may (un)watch. */
typedef void (*watch_fn)(struct agent *a, int fd, short revents, void *data);
int agent_watch(struct agent *a, int fd, short events, watch_fn fn, void *data);
void agent_watch_events(struct agent *a, int fd, short events);
void agent_unwatch(struct agent *a, int fd);
/* Flow control: fd's bytes go to client c (NULL: to nobody). While c is
 * behind (client_congested), the loop does not poll fd at all, so the
 * producer stops reading its source until the client has caught up. The
 * watch keeps a reference to c; agent_watch() and agent_unwatch() drop
 * it. */
void agent_watch_client(struct agent *a, int fd, struct client *c);

/* Call fn once at deadline (agent_now_ns() clock). Returns a timer id
 * (never 0) for agent_timer_cancel(), which ignores ids that fired. */
typedef void (*timer_fn)(struct agent *a, void *data);
uint64_t agent_timer(struct agent *a, uint64_t deadline_ns, timer_fn fn, void *data);
void agent_timer_cancel(struct agent *a, uint64_t id);

/* Call fn with the wait status when child pid exits (the loop reaps every
 * child; unclaimed ones are orphans, reaped as PID 1 must). */
typedef void (*child_fn)(struct agent *a, pid_t pid, int status, void *data);
int agent_child(struct agent *a, pid_t pid, child_fn fn, void *data);

/* Signal every process in the sandbox but the agent (PID 1 only). */
void agent_kill_all(int sig);

#endif
