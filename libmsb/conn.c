/*
 * conn.c - the connection to a sandbox's agent.
 *
 * Any thread may send. Receiving has no thread of its own: a thread that
 * waits for its request and finds nobody reading takes the lead, reads
 * the socket, delivers frames to whichever requests they belong to, and
 * wakes the others; when its own request has what it waits for, it lets
 * go and another waiter leads. All of this is under the sandbox lock,
 * except the read itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "clock.h"
#include "conn.h"
#include "error.h"
#include "sandbox.h"

static struct request *find_request(msb_sandbox *sb, uint32_t id)
{
	struct request *r;

	for (r = sb->conn.requests; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

/* Called with sb->lock held. */
static void deliver(msb_sandbox *sb, const struct msb_frame *f)
{
	struct request *r = find_request(sb, f->id);
	const char *why;
	json_t *obj;

	switch (f->type) {
	case MSB_FRAME_STDOUT:
	case MSB_FRAME_STDERR: {
		struct chunk *c;

		if (!r || f->len == 0)
			return;
		c = malloc(sizeof(*c) + f->len);
		if (!c)
			return; /* output lost under memory pressure */
		c->next = NULL;
		c->type = f->type;
		c->len = f->len;
		memcpy(c->data, f->data, f->len);
		if (r->tail)
			r->tail->next = c;
		else
			r->head = c;
		r->tail = c;
		return;
	}
	case MSB_FRAME_REPLY:
		if (!r || r->reply)
			return;
		obj = msb_frame_json(f, &why);
		if (!obj)
			obj = json_pack("{s:b,s:{s:i,s:s,s:s}}", "ok", 0, "error",
					"code", MSB_EPROTO, "message", why,
					"hint", "this is a bug in msb-agent or a "
					"compromised sandbox; stop the sandbox");
		r->reply = obj;
		return;
	case MSB_FRAME_EVENT:
		obj = msb_frame_json(f, &why);
		if (!obj)
			return;
		if (f->id != 0) {
			if (r) {
				json_decref(r->event);
				r->event = obj;
			} else {
				json_decref(obj);
			}
			return;
		}
		{
			const char *reason = json_string_value(
				json_object_get(obj, "reason"));

			if (reason)
				snprintf(sb->exit_reason, sizeof(sb->exit_reason),
					 "%s", reason);
		}
		json_decref(obj);
		return;
	default:
		return; /* HELLO after the handshake, STDIN, ...: ignored */
	}
}

/* The agent is gone (or spoke garbage). Called with sb->lock held. */
static void connection_lost(msb_sandbox *sb)
{
	struct request *r;

	sb->conn.dead = 1;
	if (sb->status == MSB_STATUS_RUNNING && !sb->stopping) {
		sb->status = MSB_STATUS_EXITED;
		if (!sb->exit_reason[0])
			snprintf(sb->exit_reason, sizeof(sb->exit_reason),
				 "the sandbox's agent exited unexpectedly");
	}
	for (r = sb->conn.requests; r; r = r->next)
		r->lost = 1;
	/* Later sends fail fast instead of blocking. */
	shutdown(sb->conn.fd, SHUT_RDWR);
}

/*
 * Lead: read what the socket has (waiting until deadline_ns at most, 0 =
 * forever; timeout_ms 0 = just look), deliver it, wake everyone. Called
 * and returns with sb->lock held; lets go of it while reading.
 */
static void lead(msb_sandbox *sb, uint64_t deadline_ns, int look_only)
{
	struct conn *cn = &sb->conn;
	struct msb_frame f;
	const char *why = NULL;
	uint8_t *p;
	ssize_t n = -1;
	int rc, timeout = -1, eof = 0;

	cn->reading = 1;
	p = msb_decoder_space(&cn->dec, 65536);
	pthread_mutex_unlock(&sb->lock);

	if (look_only) {
		timeout = 0;
	} else if (deadline_ns) {
		uint64_t now = msb_now_ns();

		timeout = now >= deadline_ns ? 0 :
			  (int)((deadline_ns - now) / 1000000ull) + 1;
	}
	if (p) {
		struct pollfd pfd = { .fd = cn->fd, .events = POLLIN };

		rc = poll(&pfd, 1, timeout);
		if (rc > 0) {
			n = read(cn->fd, p, 65536);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				eof = 1;
		} else if (rc < 0 && errno != EINTR) {
			eof = 1;
		}
	} else {
		eof = 1; /* out of memory: cannot go on */
	}

	pthread_mutex_lock(&sb->lock);
	if (n > 0) {
		msb_decoder_commit(&cn->dec, (size_t)n);
		while ((rc = msb_decoder_next(&cn->dec, &f, &why)) == 1)
			deliver(sb, &f);
		if (rc < 0) {
			snprintf(sb->exit_reason, sizeof(sb->exit_reason),
				 "protocol error from the agent: %s", why);
			eof = 1;
		}
	}
	if (eof && !cn->dead)
		connection_lost(sb);
	cn->reading = 0;
	pthread_cond_broadcast(&cn->cond);
}

/* Wait on the connection's cond until deadline_ns (0: none); -2 past it. */
static int cond_wait_until(msb_sandbox *sb, uint64_t deadline_ns)
{
	struct timespec ts;
	uint64_t now, real;

	if (!deadline_ns) {
		pthread_cond_wait(&sb->conn.cond, &sb->lock);
		return 0;
	}
	now = msb_now_ns();
	if (now >= deadline_ns)
		return -2;
	clock_gettime(CLOCK_REALTIME, &ts);
	real = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec +
	       (deadline_ns - now);
	ts.tv_sec = (time_t)(real / 1000000000ull);
	ts.tv_nsec = (long)(real % 1000000000ull);
	pthread_cond_timedwait(&sb->conn.cond, &sb->lock, &ts);
	return 0;
}

/* One step of waiting, sb->lock held: lead if nobody does, else sleep
 * until something happens. -2 when the deadline passed. */
static int wait_step(msb_sandbox *sb, uint64_t deadline_ns)
{
	if (deadline_ns && msb_now_ns() >= deadline_ns)
		return -2;
	if (!sb->conn.reading && !sb->conn.dead) {
		lead(sb, deadline_ns, 0);
		return 0;
	}
	return cond_wait_until(sb, deadline_ns);
}

int msb_conn_start(msb_sandbox *sb)
{
	/* Writes must never block while nobody reads (see send_frame). */
	fcntl(sb->conn.fd, F_SETFL, fcntl(sb->conn.fd, F_GETFL) | O_NONBLOCK);
	pthread_mutex_lock(&sb->lock);
	sb->conn.dead = 0;
	sb->conn.reading = 0;
	pthread_mutex_unlock(&sb->lock);
	return 0;
}

void msb_conn_poll(msb_sandbox *sb)
{
	pthread_mutex_lock(&sb->lock);
	if (sb->conn.fd >= 0 && !sb->conn.reading && !sb->conn.dead &&
	    sb->status == MSB_STATUS_RUNNING)
		lead(sb, 0, 1);
	pthread_mutex_unlock(&sb->lock);
}

void msb_conn_stop(msb_sandbox *sb)
{
	/* Wake a leading reader (EOF) and fail a blocked sender (EPIPE)
	 * first; then neither holds anything we need. */
	if (sb->conn.fd >= 0)
		shutdown(sb->conn.fd, SHUT_RDWR);
	pthread_mutex_lock(&sb->conn.wlock);
	pthread_mutex_lock(&sb->lock);
	if (sb->conn.fd >= 0) {
		while (sb->conn.reading)
			pthread_cond_wait(&sb->conn.cond, &sb->lock);
		if (!sb->conn.dead)
			connection_lost(sb);
		close(sb->conn.fd);
		sb->conn.fd = -1;
		pthread_cond_broadcast(&sb->conn.cond);
	}
	pthread_mutex_unlock(&sb->lock);
	pthread_mutex_unlock(&sb->conn.wlock);
}

/*
 * Write one frame on the non-blocking socket. When the socket is full, the
 * agent may itself be blocked writing output that nobody reads (a caller
 * sending megabytes of stdin before it reads any output): so while waiting
 * for room, take the lead and read whatever arrived, if nobody else does.
 * Called with wlock held (the lock order is wlock, then the sandbox lock).
 */
static int wait_room(void *arg)
{
	msb_sandbox *sb = arg;
	struct pollfd pfd = { .fd = sb->conn.fd, .events = POLLOUT | POLLIN };
	int lead_now;

	pthread_mutex_lock(&sb->lock);
	lead_now = !sb->conn.reading && !sb->conn.dead;
	pthread_mutex_unlock(&sb->lock);
	if (!lead_now)
		pfd.events = POLLOUT; /* the leader drains input */
	if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
		return -errno;
	if (pfd.revents & POLLIN) {
		pthread_mutex_lock(&sb->lock);
		if (!sb->conn.reading && !sb->conn.dead)
			lead(sb, 0, 1);
		pthread_mutex_unlock(&sb->lock);
	}
	return sb->conn.dead ? -EPIPE : 0;
}

static int send_frame(msb_sandbox *sb, uint8_t type, uint32_t id,
		      const void *data, size_t len)
{
	return msb_frame_write_wait(sb->conn.fd, type, id, data, len, wait_room, sb);
}

int msb_conn_send(msb_sandbox *sb, uint8_t type, uint32_t id,
		  const void *data, size_t len)
{
	int rc = -EPIPE;

	pthread_mutex_lock(&sb->conn.wlock);
	if (sb->conn.fd >= 0)
		rc = send_frame(sb, type, id, data, len);
	pthread_mutex_unlock(&sb->conn.wlock);
	if (rc < 0)
		return msb_fail(MSB_ESANDBOX, -rc,
				"the sandbox has exited; check "
				"msb_sandbox_exit_reason()",
				"cannot talk to the sandbox");
	return 0;
}

int msb_request_begin(msb_sandbox *sb, struct request **out, json_t *call)
{
	struct request *r = calloc(1, sizeof(*r));
	char *s;
	int rc;

	if (!r)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	pthread_mutex_lock(&sb->lock);
	if (sb->status != MSB_STATUS_RUNNING || sb->conn.dead) {
		const char *reason = sb->exit_reason[0] ? sb->exit_reason :
					"it is not running";
		msb_status st = sb->status;
		char buf[160];

		snprintf(buf, sizeof(buf), "%s", reason);
		pthread_mutex_unlock(&sb->lock);
		free(r);
		if (st == MSB_STATUS_CREATED)
			return msb_fail(MSB_ESTATE, 0,
					"call msb_sandbox_start() first",
					"the sandbox has not been started");
		return msb_fail(MSB_ESTATE, 0,
				"create and start a new sandbox",
				"the sandbox is %s (%s)", msb_status_name(st),
				buf);
	}
	do {
		r->id = ++sb->conn.next_id;
	} while (r->id == 0);
	r->next = sb->conn.requests;
	sb->conn.requests = r;
	pthread_mutex_unlock(&sb->lock);

	s = json_dumps(call, JSON_COMPACT);
	if (!s) {
		msb_request_end(sb, r);
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	if (strlen(s) > MSB_FRAME_MAX) {
		free(s);
		msb_request_end(sb, r);
		return msb_fail(MSB_EINVAL, 0,
				"pass large data through stdin or files",
				"the request is larger than %u bytes",
				MSB_FRAME_MAX);
	}
	rc = msb_conn_send(sb, MSB_FRAME_CALL, r->id, s, strlen(s));
	free(s);
	if (rc) {
		msb_request_end(sb, r);
		return rc;
	}
	*out = r;
	return 0;
}

static int lost_error(msb_sandbox *sb)
{
	char reason[160];

	pthread_mutex_lock(&sb->lock);
	snprintf(reason, sizeof(reason), "%s",
		 sb->exit_reason[0] ? sb->exit_reason : "the connection was closed");
	pthread_mutex_unlock(&sb->lock);
	return msb_fail(MSB_ESANDBOX, 0, "the sandbox is gone; create a new one",
			"the sandbox ended: %s", reason);
}

int msb_request_wait(msb_sandbox *sb, struct request *req,
		     struct chunk **chunk, uint64_t deadline_ns)
{
	int rc = 0;

	pthread_mutex_lock(&sb->lock);
	for (;;) {
		if (req->head) {
			*chunk = req->head;
			req->head = req->head->next;
			if (!req->head)
				req->tail = NULL;
			rc = 1;
			break;
		}
		if (req->reply) {
			rc = 0;
			break;
		}
		if (req->lost) {
			rc = -1;
			break;
		}
		if (wait_step(sb, deadline_ns) < 0) {
			rc = -2;
			break;
		}
	}
	pthread_mutex_unlock(&sb->lock);
	if (rc == -1)
		return lost_error(sb);
	if (rc == -2)
		return msb_fail(MSB_ETIMEDOUT, 0,
				"the agent did not answer in time; the sandbox "
				"may be overloaded",
				"timed out waiting for the sandbox");
	return rc;
}

int msb_request_wait_event(msb_sandbox *sb, struct request *req,
			   uint64_t deadline_ns)
{
	int rc = 0;

	pthread_mutex_lock(&sb->lock);
	while (!req->event && !req->reply && !req->lost && rc == 0)
		rc = wait_step(sb, deadline_ns);
	pthread_mutex_unlock(&sb->lock);
	if (req->event)
		return 0;
	if (req->reply) {
		if (json_is_true(json_object_get(req->reply, "ok")))
			return msb_fail(MSB_EPROTO, 0, "", "the agent ended the "
					"request without the expected event");
		return msb_fail_json(json_object_get(req->reply, "error"), NULL);
	}
	if (req->lost)
		return lost_error(sb);
	return msb_fail(MSB_ETIMEDOUT, 0, "the sandbox may be overloaded",
			"timed out waiting for the sandbox");
}

void msb_request_end(msb_sandbox *sb, struct request *req)
{
	struct request **pp;
	struct chunk *c;

	pthread_mutex_lock(&sb->lock);
	for (pp = &sb->conn.requests; *pp; pp = &(*pp)->next) {
		if (*pp == req) {
			*pp = req->next;
			break;
		}
	}
	pthread_mutex_unlock(&sb->lock);
	while ((c = req->head)) {
		req->head = c->next;
		free(c);
	}
	json_decref(req->reply);
	json_decref(req->event);
	free(req);
}

int msb_call(msb_sandbox *sb, json_t *call, json_t **reply, int64_t timeout_ms)
{
	struct request *req;
	struct chunk *c;
	uint64_t deadline = timeout_ms > 0 ?
		msb_now_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
	int rc = msb_request_begin(sb, &req, call);

	if (rc)
		return rc;
	while ((rc = msb_request_wait(sb, req, &c, deadline)) == 1)
		free(c);
	if (rc == 0) {
		json_t *r = req->reply;

		if (!json_is_true(json_object_get(r, "ok"))) {
			rc = msb_fail_json(json_object_get(r, "error"), NULL);
		} else {
			*reply = json_incref(r);
		}
	}
	msb_request_end(sb, req);
	return rc;
}
