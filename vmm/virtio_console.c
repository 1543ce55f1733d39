/*
 * virtio_console.c - virtio-console (device id 3), in one of two modes:
 *
 *  - one port (virtio_console_create, _create_fd): receiveq 0, transmitq 1,
 *    no MULTIPORT, no SIZE, no EMERG_WRITE. The port is joined to a host
 *    stream socket: a listening Unix socket (--console-socket; one client
 *    at a time, the next one is accepted after it goes away) or an
 *    already-connected socket (--console-fd, tests).
 *
 *  - MULTIPORT (virtio_console_create_ports; --agent-socket): ports
 *    1..nports, each a generic port (/dev/vportXpN in the guest), and the
 *    control queues (virtio 1.1, 5.3.6.2): control receiveq 2, control
 *    transmitq 3, port N's receiveq/transmitq 2N+2/2N+3. Port 0 is never
 *    added (its queues exist and are drained, nothing more). Each
 *    connection accepted on the listening socket is bound to a free port
 *    and announced with PORT_OPEN 1; when it closes, PORT_OPEN 0. A port is
 *    free when the guest has it open, no connection is bound to it, and the
 *    guest has closed and reopened it since a connection that moved bytes
 *    on it ended: so one client's leftover bytes can never reach the next
 *    client, nor the guest's replies to the old one reach the new one.
 *    Connections beyond the free ports wait in the listen backlog (the
 *    socket is polled only while a port is free). Clients going away never
 *    end the VM.
 *
 * No host buffering at all, so neither side can make the VMM grow:
 *  - guest -> host: bytes go from the guest's transmit buffer straight to
 *    the socket (non-blocking sendmsg). When the socket is full, the chain
 *    stays ours (with an offset) and the loop waits for POLLOUT; the guest
 *    gets its buffers back only when they were sent, so a flooding guest
 *    just fills its own transmitq. With no client connected yet on a
 *    one-port listening socket the data waits the same way (an agent
 *    channel must not lose bytes); once a client has gone and none is
 *    connected, transmitted bytes are discarded (MULTIPORT: a port's bytes
 *    are discarded whenever no connection is bound to it, and held while
 *    its PORT_OPEN 1 is not yet delivered).
 *  - host -> guest: the loop polls a socket for input only while the
 *    guest has receive buffers posted on its port, and reads straight into
 *    them (readv); with none posted the bytes stay in the socket and the
 *    host writer blocks: backpressure. (MULTIPORT: only once the guest has
 *    the port open and was told PORT_OPEN 1: the guest drops data for a
 *    port nobody has open.)
 *  - control messages to the guest are not queued: each port has two
 *    pending bits (PORT_ADD to send; PORT_OPEN to send when what the guest
 *    was told differs from the port's state), delivered as the driver posts
 *    control receive buffers. Control messages from the guest are handled
 *    at once on the vCPU (Linux spins until they come back used).
 *
 * Everything the guest sends on the control queue is hostile: a message
 * shorter than 8 bytes, a port id that was not added, an unknown event or
 * a value other than 0/1, or a control receive buffer too small for a
 * message puts the device in DEVICE_NEEDS_RESET.
 *
 * Threads: the vCPU thread runs notify (transmit directly, handle control
 * messages, or wake the loop for newly posted receive buffers); the loop
 * (virtio_console_start, or virtio_console_poll called by hand in tests)
 * does accept, receive and resumed transmits. Both hold the device lock
 * while touching queues and port state; only the loop closes sockets.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "virtio.h"

#define CTRL_RXQ 2
#define CTRL_TXQ 3
#define BATCH 64   /* chains moved per loop iteration and lock hold */

#define F_MULTIPORT 1           /* VIRTIO_CONSOLE_F_MULTIPORT */
#define MULTIPORT_QUEUE_MAX 128 /* the guest posts this many 4 KiB buffers per port */
#define CTRL_MSG_SIZE 8         /* struct virtio_console_control */

/* control events (virtio 1.1, 5.3.6.2) */
enum {
	EV_DEVICE_READY = 0,
	EV_PORT_ADD = 1,        /* "DEVICE_ADD" in the spec */
	EV_PORT_REMOVE = 2,
	EV_PORT_READY = 3,
	EV_CONSOLE_PORT = 4,
	EV_RESIZE = 5,
	EV_PORT_OPEN = 6,
	EV_PORT_NAME = 7,
};

struct port {
	unsigned id, rxq, txq;
	int conn_fd;
	bool conn_dead;           /* set by anyone, the loop closes */
	bool rx_starved;          /* no receive buffers: don't poll input */
	bool tx_blocked;          /* socket full: poll for output */
	bool tx_pending, rx_pending;
	uint64_t tx_off;
	struct virtq_chain tx, rx;
	/* MULTIPORT */
	bool add_pending;         /* PORT_ADD not yet delivered */
	bool added;               /* PORT_ADD delivered */
	bool ready;               /* the driver said PORT_READY 1 */
	bool guest_open;          /* the driver said PORT_OPEN 1 (a guest fd) */
	bool announced;           /* what the guest was told: PORT_OPEN 1 */
	bool engaged;             /* the bound connection moved bytes */
	bool need_reopen;         /* wait for the guest to close and reopen */
};

struct virtio_console {
	struct virtio_dev *vd;
	struct virtio_dev_ops ops; /* virtio_console_ops, or its MULTIPORT variant */
	bool multiport;
	unsigned nports;          /* MULTIPORT: ports 1..nports; else 0 */
	struct port *ports;       /* [0..nports] */
	int listen_fd, wake_fd;
	bool had_client;          /* one port: a client was connected once */
	struct virtq_chain ctrl;  /* scratch for control chains (lock held) */
	pthread_t thread;
	sem_t thread_up;          /* posted once the loop thread runs */
	bool thread_started;
	bool stop;                /* __atomic */
	uint8_t config[12];       /* cols, rows, max_nr_ports, emerg_wr */
	void (*hangup)(void *);   /* a given connection is gone (--console-fd) */
	void *hangup_arg;
};

static void wake(struct virtio_console *c)
{
	uint64_t one = 1;
	ssize_t r = write(c->wake_fd, &one, sizeof one);

	(void)r;   /* EAGAIN: the counter is already non-zero */
}

/* The port whose data queue q is, or NULL (the control queues). */
static struct port *port_of_queue(struct virtio_console *c, unsigned q)
{
	if (q < 2)
		return &c->ports[0];
	if (!c->multiport || q < 4 || (q - 2) / 2 > c->nports)
		return NULL;
	return &c->ports[(q - 2) / 2];
}

/* Bytes may flow between the port and its connection. */
static bool connected(const struct virtio_console *c, const struct port *p)
{
	if (p->conn_fd < 0 || p->conn_dead)
		return false;
	return !c->multiport || (p->guest_open && p->announced);
}

/* A MULTIPORT port a new connection may take. */
static bool port_free(const struct port *p)
{
	return p->ready && p->guest_open && !p->need_reopen && p->conn_fd < 0;
}

static struct port *free_port(struct virtio_console *c)
{
	for (unsigned i = 1; c->multiport && i <= c->nports; i++)
		if (port_free(&c->ports[i]))
			return &c->ports[i];
	return NULL;
}

/* ---- control messages (MULTIPORT) ---- */

/* Deliver one control message; false when the driver has no control
 * receive buffer posted (or broke the queue). Lock held. */
static bool ctrl_send(struct virtio_console *c, uint32_t id, uint16_t event, uint16_t value)
{
	struct virtq *q = virtio_dev_queue(c->vd, CTRL_RXQ);
	uint8_t m[CTRL_MSG_SIZE];
	uint32_t id_le = htole32(id);
	uint16_t ev_le = htole16(event), val_le = htole16(value);

	if (!q || virtq_pop(q, &c->ctrl) != 1)
		return false;
	if (c->ctrl.wlen < CTRL_MSG_SIZE) {
		virtq_push(q, c->ctrl.head, 0);
		virtio_dev_used(c->vd, CTRL_RXQ);
		virtio_dev_set_broken(c->vd, "control receive buffer shorter than a message");
		return false;
	}
	memcpy(m, &id_le, 4);
	memcpy(m + 4, &ev_le, 2);
	memcpy(m + 6, &val_le, 2);
	virtq_chain_write(&c->ctrl, 0, m, sizeof m);
	virtq_push(q, c->ctrl.head, CTRL_MSG_SIZE);
	virtio_dev_used(c->vd, CTRL_RXQ);
	return true;
}

/* Tell the driver what it does not know yet, as far as it posted control
 * receive buffers: ports to add, then each port's host side. Lock held. */
static void ctrl_flush(struct virtio_console *c)
{
	if (!c->multiport || !virtio_dev_running(c->vd))
		return;
	for (unsigned i = 1; i <= c->nports; i++) {
		struct port *p = &c->ports[i];
		bool want = p->conn_fd >= 0 && !p->conn_dead && p->guest_open;

		if (p->add_pending) {
			if (!ctrl_send(c, i, EV_PORT_ADD, 1))
				return;
			p->add_pending = false;
			p->added = true;
		}
		if (p->ready && want != p->announced) {
			if (!ctrl_send(c, i, EV_PORT_OPEN, want))
				return;
			p->announced = want;
			if (want) {
				/* data may move now */
				p->rx_starved = false;
				wake(c);
			}
		}
	}
}

static void console_tx(struct virtio_console *c, struct port *p);

/* One message from the driver. NULL, or why the device must be reset. */
static const char *ctrl_handle(struct virtio_console *c, uint32_t id, uint16_t event,
			       uint16_t value)
{
	struct port *p;

	if (value > 1)
		return "control message with a value other than 0 or 1";
	if (event == EV_DEVICE_READY) {
		/* 0: the driver failed to set up; nothing to do */
		for (unsigned i = 1; value && i <= c->nports; i++)
			c->ports[i].add_pending = true;
		return NULL;
	}
	if (event != EV_PORT_READY && event != EV_PORT_OPEN)
		return "unknown control event from the driver";
	if (id < 1 || id > c->nports)
		return "control message for a port that does not exist";
	p = &c->ports[id];
	if (event == EV_PORT_READY) {
		p->ready = value;
		return NULL;
	}
	/* Linux creates the port's device node before it sends PORT_READY:
	 * a process quick enough opens the port first (the guest's init
	 * looking for it does, now and then) */
	if (!p->ready && !p->added)
		return "PORT_OPEN for a port the device has not added";
	if (value) {
		p->guest_open = true;
		wake(c);   /* the port may be free: accept */
		return NULL;
	}
	/* The guest closed the port: its connection (if any) ends, and what
	 * the guest wrote before closing is discarded. Its reopening is the
	 * fresh start a new connection needs. */
	p->guest_open = false;
	p->need_reopen = false;
	p->engaged = false;
	if (p->conn_fd >= 0 && !p->conn_dead) {
		p->conn_dead = true;
		wake(c);
	}
	console_tx(c, p);
	return NULL;
}

/* Guest -> host control messages, handled at once. Lock held. */
static void ctrl_tx(struct virtio_console *c)
{
	struct virtq *q = virtio_dev_queue(c->vd, CTRL_TXQ);

	if (!q || !virtio_dev_running(c->vd))
		return;
	for (unsigned n = 0; n < VIRTQ_MAX_SIZE; n++) {
		uint8_t m[CTRL_MSG_SIZE];
		uint32_t id;
		uint16_t ev, val;
		const char *why = "control message shorter than 8 bytes";

		if (virtq_pop(q, &c->ctrl) != 1)
			break;
		/* one copy of the guest's bytes; fields come from the copy */
		if (virtq_chain_read(&c->ctrl, 0, m, sizeof m) == sizeof m) {
			memcpy(&id, m, 4);
			memcpy(&ev, m + 4, 2);
			memcpy(&val, m + 6, 2);
			why = ctrl_handle(c, le32toh(id), le16toh(ev), le16toh(val));
		}
		virtq_push(q, c->ctrl.head, 0);
		virtio_dev_used(c->vd, CTRL_TXQ);
		if (why) {
			virtio_dev_set_broken(c->vd, why);
			return;
		}
	}
	ctrl_flush(c);
}

/* ---- data ---- */

/* Finish the pending transmit chain. Lock held. */
static void tx_complete(struct virtio_console *c, struct port *p, struct virtq *q)
{
	virtq_push(q, p->tx.head, 0);
	p->tx_pending = false;
	virtio_dev_used(c->vd, p->txq);
}

/* Nobody to send to: keep the bytes (true) or discard them (false)? */
static bool tx_hold(const struct virtio_console *c, const struct port *p)
{
	if (!c->multiport)   /* until the first client of a listening socket */
		return c->listen_fd >= 0 && !c->had_client;
	/* bound, but the guest was not told yet */
	return p->conn_fd >= 0 && !p->conn_dead && p->guest_open && !p->announced;
}

/* Guest -> socket. Lock held. */
static void console_tx(struct virtio_console *c, struct port *p)
{
	struct virtq *q = virtio_dev_queue(c->vd, p->txq);

	if (!q || !virtio_dev_running(c->vd))
		return;
	for (int n = 0; n < BATCH; n++) {
		struct iovec iov[VIRTQ_MAX_SEGS];
		struct msghdr mh = {.msg_iov = iov};
		uint64_t off;
		ssize_t w;

		if (!p->tx_pending) {
			if (virtq_pop(q, &p->tx) != 1)
				return;
			p->tx_pending = true;
			p->tx_off = 0;
		}
		if (!connected(c, p)) {
			if (tx_hold(c, p))
				return;
			tx_complete(c, p, q);   /* nobody to send to: discard */
			continue;
		}
		off = p->tx_off;
		for (unsigned s = 0; s < p->tx.nr; s++) {
			if (off >= p->tx.r[s].len) {
				off -= p->tx.r[s].len;
				continue;
			}
			iov[mh.msg_iovlen].iov_base = p->tx.r[s].ptr + off;
			iov[mh.msg_iovlen].iov_len = p->tx.r[s].len - off;
			mh.msg_iovlen++;
			off = 0;
		}
		if (mh.msg_iovlen == 0) {
			tx_complete(c, p, q);
			continue;
		}
		w = sendmsg(p->conn_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* Wake the loop once so that it polls for room;
				 * waking it again while the socket stays full
				 * would only make it spin. */
				if (!p->tx_blocked) {
					p->tx_blocked = true;
					wake(c);
				}
				return;
			}
			if (errno == EINTR)
				continue;
			p->conn_dead = true;
			wake(c);
			tx_complete(c, p, q);
			continue;
		}
		if (w > 0)
			p->engaged = true;
		p->tx_off += (uint64_t)w;
		if (p->tx_off >= p->tx.rlen)
			tx_complete(c, p, q);
	}
	/* more may be waiting: let the loop come back */
	p->tx_blocked = true;
	wake(c);
}

/* Socket -> guest. Lock held. Returns 1 if it moved data, 0 otherwise. */
static int console_rx(struct virtio_console *c, struct port *p)
{
	struct virtq *q = virtio_dev_queue(c->vd, p->rxq);
	int moved = 0;

	if (!q || !virtio_dev_running(c->vd) || !connected(c, p))
		return 0;
	for (int n = 0; n < BATCH; n++) {
		struct iovec iov[VIRTQ_MAX_SEGS];
		struct msghdr mh = {.msg_iov = iov};
		ssize_t r;

		if (!p->rx_pending) {
			int g = virtq_pop(q, &p->rx);

			if (g != 1) {
				p->rx_starved = g == 0;
				return moved;
			}
			p->rx_pending = true;
		}
		for (unsigned s = 0; s < p->rx.nw; s++) {
			if (!p->rx.w[s].len)
				continue;
			iov[mh.msg_iovlen].iov_base = p->rx.w[s].ptr;
			iov[mh.msg_iovlen].iov_len = p->rx.w[s].len;
			mh.msg_iovlen++;
		}
		if (mh.msg_iovlen == 0) {      /* nothing writable: hand it back */
			virtq_push(q, p->rx.head, 0);
			p->rx_pending = false;
			virtio_dev_used(c->vd, p->rxq);
			continue;
		}
		r = recvmsg(p->conn_fd, &mh, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return moved;          /* keep the chain for next time */
		if (r <= 0) {
			p->conn_dead = true;   /* EOF or error; chain stays pending */
			return moved;
		}
		virtq_push(q, p->rx.head, (uint32_t)r);
		p->rx_pending = false;
		p->engaged = true;
		virtio_dev_used(c->vd, p->rxq);
		moved = 1;
	}
	return moved;
}

/* Lock held. */
static void close_conn(struct virtio_console *c, struct port *p)
{
	if (p->conn_fd >= 0)
		close(p->conn_fd);
	p->conn_fd = -1;
	p->conn_dead = false;
	p->tx_blocked = false;
	if (c->multiport) {
		/* the guest may have a client for it: it must close and
		 * reopen the port before anyone else gets it */
		if (p->engaged && p->guest_open)
			p->need_reopen = true;
		p->engaged = false;
	}
}

/* Lock held: a new connection from the listening socket. */
static void bind_conn(struct virtio_console *c, struct port *p, int fd)
{
	p->conn_fd = fd;
	p->conn_dead = false;
	p->rx_starved = false;
	p->tx_blocked = false;
	p->engaged = false;
	c->had_client = true;
	ctrl_flush(c);
}

int virtio_console_poll(struct virtio_console *c, int timeout_ms)
{
	struct pollfd pfd[VIRTIO_CONSOLE_MAX_PORTS + 3];
	int idx[VIRTIO_CONSOLE_MAX_PORTS + 1];
	int n = 1, listen_idx = -1;
	bool running;

	virtio_dev_lock(c->vd);
	for (unsigned i = 0; i <= c->nports; i++) {
		struct port *p = &c->ports[i];

		if (!p->conn_dead)
			continue;
		close_conn(c, p);
		/* pending transmits of a gone client are discarded */
		console_tx(c, p);
		/* a connection we were given cannot come back */
		if (c->listen_fd < 0 && c->hangup) {
			c->hangup(c->hangup_arg);
			c->hangup = NULL;
		}
	}
	ctrl_flush(c);
	running = virtio_dev_running(c->vd);
	pfd[0].fd = c->wake_fd;
	pfd[0].events = POLLIN;
	for (unsigned i = 0; i <= c->nports; i++) {
		struct port *p = &c->ports[i];
		short ev = 0;

		idx[i] = -1;
		if (p->conn_fd < 0)
			continue;
		if (running && !p->rx_starved && connected(c, p))
			ev |= POLLIN;
		if (running && p->tx_blocked)
			ev |= POLLOUT;
		pfd[n].fd = p->conn_fd;
		pfd[n].events = ev;
		idx[i] = n++;
	}
	if (c->listen_fd >= 0 && (c->multiport ? free_port(c) != NULL : c->ports[0].conn_fd < 0)) {
		pfd[n].fd = c->listen_fd;
		pfd[n].events = POLLIN;
		listen_idx = n++;
	}
	virtio_dev_unlock(c->vd);

	/* until the driver is up nothing tells us it is: look again soon */
	if (!running && (timeout_ms < 0 || timeout_ms > 50))
		timeout_ms = 50;
	if (poll(pfd, (nfds_t)n, timeout_ms) < 0)
		return errno == EINTR ? 0 : -1;

	if (pfd[0].revents & POLLIN) {
		uint64_t v;
		ssize_t r = read(c->wake_fd, &v, sizeof v);

		(void)r;
	}
	virtio_dev_lock(c->vd);
	if (listen_idx >= 0 && (pfd[listen_idx].revents & POLLIN)) {
		/* the port may have gone meanwhile: then the connection
		 * stays in the backlog */
		struct port *p = c->multiport ? free_port(c)
			       : c->ports[0].conn_fd < 0 ? &c->ports[0] : NULL;
		int fd = p ? accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) : -1;

		if (fd >= 0)
			bind_conn(c, p, fd);
	}
	for (unsigned i = 0; i <= c->nports; i++) {
		struct port *p = &c->ports[i];
		short re = idx[i] >= 0 && p->conn_fd == pfd[idx[i]].fd ? pfd[idx[i]].revents : 0;

		if ((re & (POLLHUP | POLLERR)) && !(re & POLLIN))
			p->conn_dead = true;
		/* every wake-up re-examines both queues: cheap, and no event
		 * is lost; a blocked transmit waits for room (POLLOUT) before
		 * it is retried */
		p->rx_starved = false;
		if (p->conn_fd < 0 || (re & (POLLOUT | POLLHUP | POLLERR)))
			p->tx_blocked = false;
		console_tx(c, p);
		console_rx(c, p);
	}
	virtio_dev_unlock(c->vd);
	return 0;
}

static void *loop(void *arg)
{
	struct virtio_console *c = arg;

	sem_post(&c->thread_up);
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE))
		if (virtio_console_poll(c, 1000) < 0)
			break;
	return NULL;
}

/* Start the loop thread and return once it runs: past glibc's start-up of
 * a new thread (rseq, set_robust_list), which main.c's seccomp filter,
 * installed next, does not allow. (A thread still starting when the filter
 * comes kills the VMM with SIGSYS; vm_start() waits for the vCPU threads
 * the same way.) */
int virtio_console_start(struct virtio_console *c)
{
	int e;

	if (sem_init(&c->thread_up, 0, 0) < 0)
		return vmm_fail(errno, "virtio-console: sem_init");
	e = pthread_create(&c->thread, NULL, loop, c);
	if (e) {
		sem_destroy(&c->thread_up);
		return vmm_fail(e, "virtio-console: cannot start its thread");
	}
	c->thread_started = true;
	while (sem_wait(&c->thread_up) < 0 && errno == EINTR)
		;
	return 0;
}

static struct virtio_console *alloc_console(unsigned nports)
{
	struct virtio_console *c = calloc(1, sizeof *c);

	if (!c || !(c->ports = calloc(nports + 1, sizeof *c->ports))) {
		free(c);
		vmm_fail(ENOMEM, "virtio-console");
		return NULL;
	}
	c->ops = virtio_console_ops;
	c->nports = nports;
	c->multiport = nports > 0;
	for (unsigned i = 0; i <= nports; i++) {
		struct port *p = &c->ports[i];

		p->id = i;
		p->rxq = i == 0 ? 0 : 2 * i + 2;
		p->txq = p->rxq + 1;
		p->conn_fd = -1;
	}
	if (c->multiport) {
		uint32_t max = htole32(nports + 1);

		c->ops.features |= 1ull << F_MULTIPORT;
		c->ops.num_queues = 2 * (nports + 1) + 2;
		c->ops.queue_max = MULTIPORT_QUEUE_MAX;
		memcpy(c->config + 4, &max, 4);
	}
	c->listen_fd = -1;
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd < 0) {
		vmm_fail(errno, "virtio-console: eventfd");
		free(c->ports);
		free(c);
		return NULL;
	}
	return c;
}

struct virtio_console *virtio_console_create_fd(int fd, unsigned ports)
{
	struct virtio_console *c;
	int fl;

	if (ports > 1) {
		vmm_fail(EINVAL, "virtio-console: a given socket takes 0 or 1 ports, not %u", ports);
		close(fd);
		return NULL;
	}
	c = alloc_console(ports);
	if (!c) {
		close(fd);
		return NULL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		vmm_fail(errno, "virtio-console: socket");
		close(fd);
		virtio_console_destroy(c);
		return NULL;
	}
	c->ports[ports].conn_fd = fd;
	c->had_client = true;
	return c;
}

static struct virtio_console *create_listening(const char *path, unsigned nports, int backlog)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct virtio_console *c;
	struct stat st;

	if (!path || strlen(path) >= sizeof sa.sun_path) {
		vmm_fail(ENAMETOOLONG, "virtio-console: socket path too long or missing");
		return NULL;
	}
	c = alloc_console(nports);
	if (!c)
		return NULL;
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd >= 0) {
		/* only our user may connect, whatever the directory allows */
		mode_t old = umask(0077);
		int rc = bind(c->listen_fd, (struct sockaddr *)&sa, sizeof sa);
		int e = errno;

		umask(old);
		errno = e;
		if (rc < 0) {
			close(c->listen_fd);
			c->listen_fd = -1;
		}
	}
	if (c->listen_fd < 0 || listen(c->listen_fd, backlog) < 0) {
		vmm_fail(errno, "virtio-console: cannot listen on %s", path);
		virtio_console_destroy(c);
		return NULL;
	}
	return c;
}

struct virtio_console *virtio_console_create(const char *path)
{
	return create_listening(path, 0, 1);
}

struct virtio_console *virtio_console_create_ports(const char *path, unsigned nports)
{
	if (nports < 1 || nports > VIRTIO_CONSOLE_MAX_PORTS) {
		vmm_fail(EINVAL, "virtio-console: %u ports (1..%d)", nports,
			 VIRTIO_CONSOLE_MAX_PORTS);
		return NULL;
	}
	return create_listening(path, nports, 64);
}

const struct virtio_dev_ops *virtio_console_dev_ops(const struct virtio_console *c)
{
	return &c->ops;
}

void virtio_console_on_hangup(struct virtio_console *c, void (*fn)(void *), void *arg)
{
	c->hangup = fn;
	c->hangup_arg = arg;
}

void virtio_console_attach(struct virtio_console *c, struct virtio_dev *vd)
{
	c->vd = vd;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		__atomic_store_n(&c->stop, true, __ATOMIC_RELEASE);
		wake(c);
		pthread_join(c->thread, NULL);
		sem_destroy(&c->thread_up);
	}
	for (unsigned i = 0; i <= c->nports; i++)
		if (c->ports[i].conn_fd >= 0)
			close(c->ports[i].conn_fd);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	free(c->ports);
	free(c);
}

/* ---- struct virtio_dev_ops ---- */

static void cons_config_read(void *dev, uint32_t off, uint8_t *data, unsigned len)
{
	struct virtio_console *c = dev;

	if (off <= sizeof c->config && len <= sizeof c->config - off)
		memcpy(data, c->config + off, len);
}

static void cons_config_write(void *dev, uint32_t off, const uint8_t *data, unsigned len)
{
	(void)dev; (void)off; (void)data; (void)len;   /* emerg_wr not offered */
}

static void cons_notify(void *dev, struct virtio_dev *vd, unsigned q)
{
	struct virtio_console *c = dev;
	struct port *p;

	(void)vd;
	if (c->multiport && q == CTRL_TXQ) {
		ctrl_tx(c);
		return;
	}
	if (c->multiport && q == CTRL_RXQ) {
		ctrl_flush(c);
		return;
	}
	p = port_of_queue(c, q);
	if (!p)
		return;
	if (q == p->txq) {
		console_tx(c, p);
	} else {
		p->rx_starved = false;
		wake(c);
	}
}

static void cons_reset(void *dev)
{
	struct virtio_console *c = dev;

	/* chains in flight belong to queues that no longer exist */
	for (unsigned i = 0; i <= c->nports; i++) {
		struct port *p = &c->ports[i];

		p->tx_pending = p->rx_pending = false;
		p->tx_off = 0;
		p->rx_starved = false;
		p->tx_blocked = false;
		if (!c->multiport)
			continue;
		/* the driver starts over: no port exists for it any more,
		 * so no connection can stay bound to one; but a connection
		 * we were given (--console-fd) has nowhere else to go: it
		 * waits for the port to be opened again (the driver resets
		 * the device when it probes it) */
		p->add_pending = p->added = p->ready = p->guest_open = false;
		p->announced = p->engaged = p->need_reopen = false;
		if (p->conn_fd >= 0 && !p->conn_dead && c->listen_fd >= 0) {
			p->conn_dead = true;
			wake(c);
		}
	}
}

const struct virtio_dev_ops virtio_console_ops = {
	.name = "virtio-console",
	.device_id = 3,
	.features = 1ull << VIRTIO_F_INDIRECT_DESC,
	.num_queues = 2,
	.queue_max = 256,
	.config_size = 12,
	.config_read = cons_config_read,
	.config_write = cons_config_write,
	.notify = cons_notify,
	.reset = cons_reset,
};
