/*
 * conn.c - the connection to a sandbox's agent: one reader thread per
 * sandbox demultiplexes frames to the requests waiting for them; any thread
 * may send.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "internal.h"

uint64_t msb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cond_wait_until(msb_sandbox *sb, struct request *req, uint64_t deadline_ns);

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
		pthread_cond_broadcast(&r->cond);
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
		pthread_cond_broadcast(&r->cond);
		return;
	case MSB_FRAME_EVENT:
		obj = msb_frame_json(f, &why);
		if (!obj)
			return;
		if (f->id != 0) {
			if (r) {
				json_decref(r->event);
				r->event = obj;
				pthread_cond_broadcast(&r->cond);
			} else {
				json_decref(obj);
			}
			return;
		}
		if (f->id == 0) {
			const char *reason = json_string_value(
				json_object_get(obj, "reason"));
			if (reason)
				snprintf(sb->exit_reason,
					 sizeof(sb->exit_reason), "%s", reason);
		}
		json_decref(obj);
		return;
	default:
		return; /* HELLO after the handshake, STDIN, ...: ignored */
	}
}

static void *reader_main(void *arg)
{
	msb_sandbox *sb = arg;
	struct msb_decoder dec;
	struct msb_frame f;
	const char *why = NULL;
	struct request *r;

	msb_decoder_init(&dec);
	for (;;) {
		uint8_t *p = msb_decoder_space(&dec, 65536);
		ssize_t n;
		int rc;

		if (!p)
			break;
		n = read(sb->conn.fd, p, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		msb_decoder_commit(&dec, (size_t)n);
		pthread_mutex_lock(&sb->lock);
		while ((rc = msb_decoder_next(&dec, &f, &why)) == 1)
			deliver(sb, &f);
		pthread_mutex_unlock(&sb->lock);
		if (rc < 0) {
			snprintf(sb->exit_reason, sizeof(sb->exit_reason),
				 "protocol error from the agent: %s", why);
			break;
		}
	}
	msb_decoder_release(&dec);

	/* The agent is gone (or spoke garbage): every waiter learns it. */
	pthread_mutex_lock(&sb->lock);
	if (sb->status == MSB_STATUS_RUNNING && !sb->stopping) {
		sb->status = MSB_STATUS_EXITED;
		if (!sb->exit_reason[0])
			snprintf(sb->exit_reason, sizeof(sb->exit_reason),
				 "the sandbox's agent exited unexpectedly");
	}
	for (r = sb->conn.requests; r; r = r->next) {
		r->lost = 1;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&sb->lock);
	/* Make later sends fail fast instead of blocking. */
	shutdown(sb->conn.fd, SHUT_RDWR);
	return NULL;
}

int msb_conn_start(msb_sandbox *sb)
{
	int rc = pthread_create(&sb->conn.reader, NULL, reader_main, sb);

	if (rc)
		return msb_fail(MSB_ESPAWN, rc, NULL,
				"cannot start the sandbox's reader thread");
	sb->conn.reader_running = 1;
	return 0;
}

void msb_conn_stop(msb_sandbox *sb)
{
	if (sb->conn.fd >= 0)
		shutdown(sb->conn.fd, SHUT_RDWR);
	if (sb->conn.reader_running) {
		pthread_join(sb->conn.reader, NULL);
		sb->conn.reader_running = 0;
	}
	if (sb->conn.fd >= 0) {
		close(sb->conn.fd);
		sb->conn.fd = -1;
	}
}

int msb_conn_send(msb_sandbox *sb, uint8_t type, uint32_t id,
		  const void *data, size_t len)
{
	int rc;

	pthread_mutex_lock(&sb->conn.wlock);
	rc = msb_frame_write(sb->conn.fd, type, id, data, len);
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
	pthread_cond_init(&r->cond, NULL);
	pthread_mutex_lock(&sb->lock);
	if (sb->status != MSB_STATUS_RUNNING) {
		const char *reason = sb->exit_reason[0] ? sb->exit_reason :
					"it is not running";
		msb_status st = sb->status;
		char buf[160];

		snprintf(buf, sizeof(buf), "%s", reason);
		pthread_mutex_unlock(&sb->lock);
		pthread_cond_destroy(&r->cond);
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
		if (cond_wait_until(sb, req, deadline_ns) < 0) {
			rc = -2;
			break;
		}
	}
	pthread_mutex_unlock(&sb->lock);
	if (rc == -1) {
		char reason[160];

		pthread_mutex_lock(&sb->lock);
		snprintf(reason, sizeof(reason), "%s",
			 sb->exit_reason[0] ? sb->exit_reason :
					      "the connection was closed");
		pthread_mutex_unlock(&sb->lock);
		return msb_fail(MSB_ESANDBOX, 0,
				"the sandbox is gone; create a new one",
				"the sandbox ended: %s", reason);
	}
	if (rc == -2)
		return msb_fail(MSB_ETIMEDOUT, 0,
				"the agent did not answer in time; the sandbox "
				"may be overloaded",
				"timed out waiting for the sandbox");
	return rc;
}

/* Wait on req->cond until the deadline (0: none); 0, or -2 past it. */
static int cond_wait_until(msb_sandbox *sb, struct request *req, uint64_t deadline_ns)
{
	struct timespec ts;
	uint64_t now, real;

	if (!deadline_ns) {
		pthread_cond_wait(&req->cond, &sb->lock);
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
	pthread_cond_timedwait(&req->cond, &sb->lock, &ts);
	return 0;
}

int msb_request_wait_event(msb_sandbox *sb, struct request *req,
			   uint64_t deadline_ns)
{
	int rc = 0;

	pthread_mutex_lock(&sb->lock);
	while (!req->event && !req->reply && !req->lost && rc == 0)
		rc = cond_wait_until(sb, req, deadline_ns);
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
		return msb_fail(MSB_ESANDBOX, 0, "the sandbox is gone; create a "
				"new one", "the sandbox ended");
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
	pthread_cond_destroy(&req->cond);
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
