/*
 * loop.c - the agent's event loop, as PID 1 of the sandbox.
 *
 * One thread, one poll(): the protocol connections (the one libmsb spawned
 * us with, and for a detached sandbox every connection accepted on its
 * socket), the fds that modules watch (command pipes, PTYs, REPL drivers),
 * timers, and SIGCHLD through a signalfd, reaping every child as PID 1
 * must. Operations are dispatched by name through the table that the
 * caller hands to agent_serve() (agent.c lists exec.c's, repl.c's,
 * files.c's and metrics.c's); "shutdown" is the loop's own.
 *
 * A detached microVM has no socket of ours: msb-vmm binds each host
 * connection to a virtio-console port (vm.c). An idle port (open, no
 * client) cannot be polled: while nobody is connected on the host side,
 * the driver reports it readable and hung up, always. So idle ports are
 * O_ASYNC: the driver sends SIGIO (through the signalfd here) when the
 * host side connects or data arrives, and each idle port is then read
 * once, without blocking. Bytes make it a client, like a connection
 * accepted on a detached os sandbox's socket (it must greet with HELLO);
 * nothing (EOF: nobody there; EAGAIN: connected, nothing sent yet) leaves
 * it idle. A client whose port reads EOF (its host connection closed) is
 * closed like any other, and its port closed and opened afresh (by stage
 * 0) for the next one: msb-vmm gives the port to a new connection only
 * after that.
 *
 * Writes to a client never block (client.c): what the fd does not take
 * now is queued and written out here as the fd has room (POLLOUT). So one
 * client that stops reading stalls nobody else. Flow control keeps the
 * queues small: a watch that feeds a client (a command's pipe, a file
 * being read, an interpreter's output; agent_watch_client) is not polled
 * while that client is paused (client_congested), and neither are the
 * client's own requests; so a slow reader slows down only its own
 * commands, as a blocking write would, and gets every byte. A client that
 * broke (a failed write, a queue over its bound), or whose queue has not
 * moved for SEND_TIMEOUT_S, is closed at the end of the turn. Before the
 * agent exits, the queues get DRAIN_NS to go out.
 *
 * The host's bytes are checked by the decoder (proto.c); each module checks
 * its requests before use.
 *
 * Here: the poll set (watches, timers, children), the connections' life
 * (accepted, a VM's ports, closed), the requests they carry and their
 * dispatch. Elsewhere: a connection's output and tracked requests
 * (client.c, its queue outq.c), the HELLO's contents (config.c), the VM's
 * ports on the device side (vm.c), the operations (the table from
 * agent.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "wire.h"
#include "base.h"
#include "loop.h"
#include "client.h"
#include "proto.h"
#include "vm.h"

#define MAX_CLIENTS 64
#define PORT_RETRY_NS (50ull * 1000000ull) /* a port still held (EBUSY) */
#define PORT_RETRIES 200                   /* ENOENT: not added yet */
#define SEND_TIMEOUT_S 60           /* a client that stops reading is dropped */
#define SEND_TIMEOUT_NS (SEND_TIMEOUT_S * 1000000000ull)
#define WALL_GRACE_NS (2000ull * 1000000ull)
#define DRAIN_NS (2000ull * 1000000ull) /* for the queues, before exiting */

struct watch {
	int fd;
	short events;
	uint64_t serial;
	watch_fn fn;
	void *data;
	struct client *feeds;  /* referenced: not polled while it is behind */
};

struct timer {
	struct timer *next;
	uint64_t id, deadline;
	timer_fn fn;
	void *data;
};

struct child_watch {
	struct child_watch *next;
	pid_t pid;
	child_fn fn;
	void *data;
};

/* A detached VM's port without a client. */
struct port_slot {
	int fd;          /* open and idle, or -1 */
	unsigned tries;  /* failed openings in a row */
};

struct agent {
	const struct agent_config *cfg;
	const struct agent_enforcement *enf;
	const struct agent_op *ops;
	size_t nops;
	int listen_fd;
	int detached;    /* clients come and go (a socket, or VM ports) */
	unsigned nports;
	struct port_slot ports[AGENT_MAX_PORTS + 1];
	int sigfd;
	struct watch *watches;
	size_t nwatches, capwatches;
	uint64_t next_serial;
	struct timer *timers;
	uint64_t next_timer;
	struct child_watch *children;
	struct client *clients;
	size_t nclients;
	int stop, status;
	/* shutdown: a request in progress */
	struct client *shutdown_client;
	uint32_t shutdown_id;
	uint64_t shutdown_deadline;
	/* the wall-time limit was reached: everything is being killed */
	int dying;
	uint64_t dying_deadline;
};

const struct agent_config *agent_config(const struct agent *a)
{
	return a->cfg;
}

void agent_kill_all(int sig)
{
	/* Only PID 1 of the sandbox's pid namespace: anywhere else kill(-1)
	 * would hit the host. */
	if (getpid() == 1)
		kill(-1, sig);
}

/* ---- watches, timers, children ---------------------------------------- */

static struct watch *find_watch(struct agent *a, int fd)
{
	for (size_t i = 0; i < a->nwatches; i++)
		if (a->watches[i].fd == fd)
			return &a->watches[i];
	return NULL;
}

int agent_watch(struct agent *a, int fd, short events, watch_fn fn, void *data)
{
	struct watch *w = find_watch(a, fd);

	if (!w) {
		if (a->nwatches == a->capwatches) {
			size_t cap = a->capwatches ? a->capwatches * 2 : 32;
			struct watch *nw = realloc(a->watches, cap * sizeof(*nw));

			if (!nw)
				return -1;
			a->watches = nw;
			a->capwatches = cap;
		}
		w = &a->watches[a->nwatches++];
		w->feeds = NULL;
	}
	if (w->feeds)
		client_unref(w->feeds);
	w->feeds = NULL;
	w->fd = fd;
	w->events = events;
	w->serial = ++a->next_serial;
	w->fn = fn;
	w->data = data;
	return 0;
}

void agent_watch_events(struct agent *a, int fd, short events)
{
	struct watch *w = find_watch(a, fd);

	if (w)
		w->events = events;
}

void agent_watch_client(struct agent *a, int fd, struct client *c)
{
	struct watch *w = find_watch(a, fd);

	if (!w || w->feeds == c)
		return;
	if (c)
		client_ref(c);
	if (w->feeds)
		client_unref(w->feeds);
	w->feeds = c;
}

void agent_unwatch(struct agent *a, int fd)
{
	struct watch *w = find_watch(a, fd);
	struct client *c;

	if (!w)
		return;
	c = w->feeds;
	*w = a->watches[--a->nwatches];
	if (c)
		client_unref(c);
}

uint64_t agent_timer(struct agent *a, uint64_t deadline_ns, timer_fn fn, void *data)
{
	struct timer *t = calloc(1, sizeof(*t));

	if (!t)
		return 0;
	t->id = ++a->next_timer;
	t->deadline = deadline_ns;
	t->fn = fn;
	t->data = data;
	t->next = a->timers;
	a->timers = t;
	return t->id;
}

void agent_timer_cancel(struct agent *a, uint64_t id)
{
	for (struct timer **pp = &a->timers; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct timer *t = *pp;

			*pp = t->next;
			free(t);
			return;
		}
}

int agent_child(struct agent *a, pid_t pid, child_fn fn, void *data)
{
	struct child_watch *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->pid = pid;
	c->fn = fn;
	c->data = data;
	c->next = a->children;
	a->children = c;
	return 0;
}

static void reap(struct agent *a)
{
	struct signalfd_siginfo si;
	pid_t pid;
	int st;

	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (struct child_watch **pp = &a->children; *pp; pp = &(*pp)->next)
			if ((*pp)->pid == pid) {
				struct child_watch *c = *pp;

				*pp = c->next;
				c->fn(a, pid, st, c->data);
				free(c);
				break;
			}
		/* anything else was an orphan: reaped, as PID 1 must */
	}
}

static int no_children(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
	       errno == ECHILD;
}

/* ---- clients ------------------------------------------------------------ */

static json_t *hello_json(struct agent *a)
{
	return config_hello(a->cfg, a->enf, a->detached);
}

static void client_io(struct agent *a, int fd, short revents, void *data);
static void port_reopen(struct agent *a, unsigned i);

static struct client *client_new(struct agent *a, int fd, int primary)
{
	struct client *c = calloc(1, sizeof(*c));
	int type, fl;
	socklen_t tl = sizeof(type);

	if (!c)
		return NULL;
	c->fd = fd;
	c->refs = 1;
	c->primary = primary;
	c->greeted = primary; /* its HELLO came before isolation */
	c->sock = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0;
	c->events = POLLIN;
	msb_decoder_init(&c->dec);
	/* Only we hold it (stage 0 closed its copy): never block on it. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    agent_watch(a, fd, POLLIN, client_io, c) < 0) {
		free(c);
		return NULL;
	}
	c->next = a->clients;
	a->clients = c;
	a->nclients++;
	return c;
}

static void client_close(struct agent *a, struct client *c)
{
	struct tracked *t;

	if (c->fd < 0)
		return;
	/* What the fd takes now still goes (a HELLO refusing it, say); the
	 * rest is dropped. */
	client_out_flush(c);
	client_out_free(c);
	agent_unwatch(a, c->fd);
	close(c->fd);
	c->fd = -1;
	/* Tell every request still in flight; each ends itself. */
	while ((t = c->tracked)) {
		uint32_t id = t->id;

		if (t->ops->on_detach)
			t->ops->on_detach(a, c, id, t->rd);
		if (c->tracked == t && t->id == id)
			client_untrack(c, id); /* a handler that forgot */
	}
	for (struct client **pp = &a->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	a->nclients--;
	if (c->port)
		port_reopen(a, c->port);
	if (c->primary && !a->detached) {
		/* The owner is gone and nobody else can connect: nobody is
		 * left to serve. */
		agent_kill_all(SIGKILL);
		a->stop = 1;
	}
	client_unref(c);
}

/* ---- operations ---------------------------------------------------------- */

static void op_shutdown(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	json_int_t grace = json_integer_value(json_object_get(req, "grace_ms"));

	if (grace < 0 || grace > 600000)
		grace = 2000;
	if (a->shutdown_client) {
		client_error(c, id, MSB_WIRE_ESTATE, 0, "", "the sandbox is already stopping");
		return;
	}
	client_ref(c);
	a->shutdown_client = c;
	a->shutdown_id = id;
	a->shutdown_deadline = agent_now_ns() + (uint64_t)grace * 1000000ull;
	agent_kill_all(SIGTERM);
}


static void do_call(struct agent *a, struct client *c, const struct msb_frame *f)
{
	const char *why, *op;
	json_t *req;

	if (f->id == 0)
		return; /* a reply could not be addressed */
	if (client_find_tracked(c, f->id)) {
		client_error(c, f->id, MSB_WIRE_EPROTO, 0, "", "request id %u is in use", f->id);
		return;
	}
	req = msb_frame_json(f, &why);
	if (!req) {
		client_error(c, f->id, MSB_WIRE_EPROTO, 0, "", "bad request: %s", why);
		return;
	}
	op = json_string_value(json_object_get(req, "op"));
	if (!op) {
		client_error(c, f->id, MSB_WIRE_EPROTO, 0, "", "request without op");
	} else if (a->dying || a->shutdown_client) {
		client_error(c, f->id, MSB_WIRE_ESTATE, 0, "create a new sandbox",
			     "the sandbox is shutting down");
	} else if (!strcmp(op, "shutdown")) {
		op_shutdown(a, c, f->id, req);
	} else {
		size_t i;

		for (i = 0; i < a->nops; i++)
			if (!strcmp(op, a->ops[i].name))
				break;
		if (i < a->nops)
			a->ops[i].fn(a, c, f->id, req);
		else
			client_error(c, f->id, MSB_WIRE_EUNSUPPORTED, 0,
				     "update libmsb and msb-agent together",
				     "unknown operation \"%.64s\"", op);
	}
	json_decref(req);
}

static void do_hello(struct agent *a, struct client *c, const struct msb_frame *f)
{
	const char *why;
	json_t *h = msb_frame_json(f, &why);

	if (!h || json_integer_value(json_object_get(h, "proto")) != MSB_PROTO_VERSION) {
		client_send_json(c, MSB_FRAME_HELLO, 0, config_hello_mismatch());
		c->broken = 1;
	} else {
		c->greeted = 1;
		client_send_json(c, MSB_FRAME_HELLO, 0, hello_json(a));
	}
	json_decref(h);
}

/* Act on the whole frames in the client's decoder. */
static void client_frames(struct agent *a, struct client *c)
{
	struct msb_frame f;
	const char *why;
	int rc;

	client_ref(c);
	while (client_alive(c) && (rc = msb_decoder_next(&c->dec, &f, &why)) == 1) {
		struct tracked *t;

		if (!c->greeted) {
			if (f.type == MSB_FRAME_HELLO)
				do_hello(a, c, &f);
			else
				c->broken = 1;
			continue;
		}
		switch (f.type) {
		case MSB_FRAME_CALL:
			do_call(a, c, &f);
			break;
		case MSB_FRAME_STDIN:
			if ((t = client_find_tracked(c, f.id)) && t->ops->on_stdin)
				t->ops->on_stdin(a, c, f.id, f.data, f.len, t->rd);
			break;
		case MSB_FRAME_CANCEL:
			if ((t = client_find_tracked(c, f.id)) && t->ops->on_cancel) {
				json_t *j = msb_frame_json(&f, &why);
				json_int_t sig = j ? json_integer_value(json_object_get(j, "signal")) : 0;

				json_decref(j);
				t->ops->on_cancel(a, c, f.id, sig > 0 && sig < 65 ? (int)sig : SIGKILL, t->rd);
			}
			break;
		default:
			break; /* nothing else is meant for the agent */
		}
	}
	if (rc < 0)
		c->broken = 1; /* garbage: this connection is done */
	client_unref(c);
}

static void client_read(struct agent *a, int fd, short revents, void *data)
{
	struct client *c = data;
	uint8_t *p;
	ssize_t n;

	if (!client_alive(c))
		return;
	p = msb_decoder_space(&c->dec, 65536);
	if (!p) {
		c->broken = 1;
		return;
	}
	n = read(fd, p, 65536);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		c->broken = 1;
		return;
	}
	msb_decoder_commit(&c->dec, (size_t)n);
	client_frames(a, c);
}

static void client_io(struct agent *a, int fd, short revents, void *data)
{
	struct client *c = data;

	if (revents & POLLOUT)
		client_flush(c);
	/* A hang-up is seen by reading (EOF), paused or not. */
	if (revents & (POLLIN | POLLHUP | POLLERR))
		client_read(a, fd, revents, c);
}

/* ---- a detached VM's ports ------------------------------------------------- */

/* Has the host side of idle port i connected and sent something? */
static void port_check(struct agent *a, unsigned i)
{
	struct port_slot *ps = &a->ports[i];
	uint8_t buf[4096];
	struct client *c;
	ssize_t n;
	int fd = ps->fd, fl;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;      /* nobody there, or nothing sent yet: SIGIO again */
	ps->fd = -1;
	if (n < 0) {         /* the port is gone (unplugged) */
		close(fd);
		return;
	}
	/* A client: no more SIGIO for this fd, the loop polls it now. */
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_ASYNC);
	if (a->nclients >= MAX_CLIENTS || !(c = client_new(a, fd, 0))) {
		close(fd);
		port_reopen(a, i);
		return;
	}
	c->port = i;
	if (msb_decoder_feed(&c->dec, buf, (size_t)n) < 0)
		c->broken = 1;
	else
		client_frames(a, c);
}

static void ports_check(struct agent *a)
{
	for (unsigned i = 1; i <= a->nports; i++)
		port_check(a, i);
}

static void port_retry(struct agent *a, void *data)
{
	port_reopen(a, (unsigned)(uintptr_t)data);
}

/* Open port i afresh (stage 0 does it) and wait for its next client. */
static void port_reopen(struct agent *a, unsigned i)
{
	struct port_slot *ps = &a->ports[i];
	int fd, fl;

	if (ps->fd >= 0 || a->cfg->port_helper < 0)
		return;
	fd = vm_port_request(a->cfg->port_helper, i);
	if (fd < 0) {
		/* EBUSY: a child forked meanwhile holds the old fd until its
		 * exec; ENOENT/ENXIO: the port is not added yet */
		if ((fd == -EBUSY || ((fd == -ENOENT || fd == -ENXIO) && ps->tries < PORT_RETRIES)) &&
		    agent_timer(a, agent_now_ns() + PORT_RETRY_NS, port_retry, (void *)(uintptr_t)i))
			ps->tries++;
		return;
	}
	ps->tries = 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETOWN, getpid()) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK | O_ASYNC) < 0) {
		close(fd);
		return;
	}
	ps->fd = fd;
	/* whatever came before O_ASYNC took effect sent no SIGIO */
	port_check(a, i);
}

static void accept_client(struct agent *a, int fd, short revents, void *data)
{
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (cfd < 0)
		return;
	if (a->nclients >= MAX_CLIENTS || !client_new(a, cfd, 0))
		close(cfd);
}

/* ---- the loop --------------------------------------------------------------- */

static void broadcast_exit(struct agent *a, const char *reason)
{
	for (struct client *c = a->clients; c; c = c->next)
		client_event(c, 0, json_pack("{s:s,s:s}", "event", "exit", "reason", reason));
}

/* Before exiting: every queue gets up to DRAIN_NS to go out (a shutdown's
 * reply, the exit event, the output before them). */
static void drain(struct agent *a)
{
	uint64_t end = agent_now_ns() + DRAIN_NS;

	for (;;) {
		struct pollfd pfds[MAX_CLIENTS];
		struct client *cs[MAX_CLIENTS];
		uint64_t now = agent_now_ns();
		size_t n = 0;

		for (struct client *c = a->clients; c && n < MAX_CLIENTS; c = c->next)
			if (client_alive(c) && c->q.head) {
				cs[n] = c;
				pfds[n++] = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
			}
		if (!n || now >= end)
			return;
		if (poll(pfds, n, (int)((end - now) / 1000000ull) + 1) < 0 && errno != EINTR)
			return;
		for (size_t i = 0; i < n; i++) {
			if (pfds[i].revents & POLLOUT)
				client_flush(cs[i]);
			else if (pfds[i].revents)
				cs[i]->broken = 1; /* hung up: it takes nothing more */
		}
	}
}

static void wall_time_reached(struct agent *a, void *data)
{
	a->dying = 1;
	a->dying_deadline = agent_now_ns() + WALL_GRACE_NS;
	agent_kill_all(SIGKILL);
}

int agent_serve(const struct agent_config *cfg, int sock, int listen_fd,
		const struct agent_enforcement *enf,
		const struct agent_op *ops, size_t nops)
{
	struct agent a = { .cfg = cfg, .enf = enf, .ops = ops, .nops = nops,
			   .listen_fd = listen_fd,
			   .detached = listen_fd >= 0 || cfg->w.ports > 0,
			   .nports = cfg->w.ports <= AGENT_MAX_PORTS ? cfg->w.ports : 0 };
	struct pollfd *pfds = NULL;
	uint64_t *serials = NULL;
	size_t pcap = 0;
	struct client *primary;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (a.nports)
		sigaddset(&mask, SIGIO);   /* an idle port's host side moved */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (unsigned i = 0; i <= AGENT_MAX_PORTS; i++)
		a.ports[i].fd = -1;
	a.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (a.sigfd < 0 || !(primary = client_new(&a, sock, 1)))
		return 1;
	if (a.nports)
		primary->port = 1; /* port 1 carried the configuration */
	client_send_json(primary, MSB_FRAME_HELLO, 0, hello_json(&a));
	for (unsigned i = 2; i <= a.nports; i++)
		port_reopen(&a, i);
	if (listen_fd >= 0)
		agent_watch(&a, listen_fd, POLLIN, accept_client, NULL);
	if (cfg->w.timeout_ms > 0)
		agent_timer(&a, agent_now_ns() + (uint64_t)cfg->w.timeout_ms * 1000000ull,
			    wall_time_reached, NULL);

	while (!a.stop) {
		uint64_t now = agent_now_ns(), next = 0;
		int timeout_ms;
		size_t np = 0;

		/* Timers that are due. One at a time: a callback may change
		 * the list. */
		for (;;) {
			struct timer *t, *due = NULL, **pp, **due_pp = NULL;

			for (pp = &a.timers; (t = *pp); pp = &t->next)
				if (t->deadline <= now && (!due || t->deadline < due->deadline)) {
					due = t;
					due_pp = pp;
				}
			if (!due)
				break;
			*due_pp = due->next;
			due->fn(&a, due->data);
			free(due);
			now = agent_now_ns();
		}
		/* Connections that broke during the last turn, or whose
		 * output has not moved for SEND_TIMEOUT_S (a peer that
		 * stopped reading). */
		for (struct client *c = a.clients, *cn; c; c = cn) {
			cn = c->next;
			if (c->q.head && c->moved + SEND_TIMEOUT_NS <= now)
				c->broken = 1;
			if (c->broken)
				client_close(&a, c);
		}
		if (a.stop)
			break;
		if (a.shutdown_client) {
			if (no_children() || now >= a.shutdown_deadline) {
				agent_kill_all(SIGKILL);
				client_reply(a.shutdown_client, a.shutdown_id,
					     json_pack("{s:b}", "ok", 1));
				client_unref(a.shutdown_client);
				a.shutdown_client = NULL;
				break;
			}
			next = a.shutdown_deadline;
		}
		if (a.dying) {
			if (no_children() || now >= a.dying_deadline) {
				broadcast_exit(&a, "wall-time limit reached");
				a.status = 3;
				break;
			}
			if (!next || a.dying_deadline < next)
				next = a.dying_deadline;
		}
		for (struct timer *t = a.timers; t; t = t->next)
			if (!next || t->deadline < next)
				next = t->deadline;
		for (struct client *c = a.clients; c; c = c->next)
			if (c->q.head && (!next || c->moved + SEND_TIMEOUT_NS < next))
				next = c->moved + SEND_TIMEOUT_NS;

		if (pcap < a.nwatches + 1) {
			pcap = a.nwatches + 33;
			free(pfds);
			free(serials);
			pfds = calloc(pcap, sizeof(*pfds));
			serials = calloc(pcap, sizeof(*serials));
			if (!pfds || !serials) {
				a.status = 1;
				break;
			}
		}
		/* What each connection polls for now (client_update). */
		for (struct client *c = a.clients; c; c = c->next)
			if (c->fd >= 0)
				agent_watch_events(&a, c->fd, c->events);
		pfds[np++] = (struct pollfd){ .fd = a.sigfd, .events = POLLIN };
		for (size_t i = 0; i < a.nwatches; i++) {
			const struct watch *w = &a.watches[i];

			/* A producer whose client is behind waits (fd -1:
			 * poll skips it, hang-ups included). */
			serials[np] = w->serial;
			pfds[np++] = (struct pollfd){
				.fd = w->feeds && client_congested(w->feeds) ? -1 : w->fd,
				.events = w->events };
		}
		timeout_ms = next ? (int)((next > now ? next - now : 0) / 1000000ull) + 1 : -1;
		if (poll(pfds, np, timeout_ms) < 0) {
			if (errno == EINTR)
				continue;
			a.status = 1;
			break;
		}
		if (pfds[0].revents) {
			reap(&a);
			ports_check(&a);
		}
		for (size_t i = 1; i < np; i++) {
			struct watch *w;

			if (!pfds[i].revents)
				continue;
			/* The watch may have gone, or its fd been reused. */
			w = find_watch(&a, pfds[i].fd);
			if (w && w->serial == serials[i])
				w->fn(&a, w->fd, pfds[i].revents, w->data);
		}
	}

	/* Whatever is left dies with us (PID 1); what is queued goes out. */
	agent_kill_all(SIGKILL);
	drain(&a);
	free(pfds);
	free(serials);
	return a.status;
}
