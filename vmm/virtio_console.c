/*
 * virtio_console.c - virtio-console (device id 3), one port: receiveq 0,
 * transmitq 1, no MULTIPORT, no SIZE, no EMERG_WRITE. The port is joined
 * to a host stream socket: a listening Unix socket (--console-socket; one
 * client at a time, the next one is accepted after it goes away) or, for
 * tests, an already-connected socket.
 *
 * No host buffering at all, so neither side can make the VMM grow:
 *  - guest -> host: bytes go from the guest's transmit buffer straight to
 *    the socket (non-blocking sendmsg). When the socket is full, the chain
 *    stays ours (with an offset) and the loop waits for POLLOUT; the guest
 *    gets its buffers back only when they were sent, so a flooding guest
 *    just fills its own transmitq. With no client connected yet on a
 *    listening socket the data waits the same way (an agent channel must
 *    not lose bytes); once a client has gone and none is connected,
 *    transmitted bytes are discarded.
 *  - host -> guest: the loop polls the socket for input only while the
 *    guest has receive buffers posted, and reads straight into them
 *    (readv); with none posted the bytes stay in the socket and the host
 *    writer blocks: backpressure.
 *
 * Threads: the vCPU thread runs notify (transmit directly, or wake the
 * loop for newly posted receive buffers); the loop (virtio_console_start,
 * or virtio_console_poll called by hand in tests) does accept, receive and
 * resumed transmits. Both hold the device lock while touching queues; only
 * the loop closes sockets.
 */
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

#include "virtio.h"

#define RXQ 0
#define TXQ 1
#define BATCH 64   /* chains moved per loop iteration and lock hold */

struct virtio_console {
	struct virtio_dev *vd;
	int listen_fd, conn_fd, wake_fd;
	bool conn_dead;           /* set by anyone, the loop closes */
	bool had_client;
	bool rx_starved;          /* no receive buffers: don't poll input */
	bool tx_blocked;          /* socket full: poll for output */
	bool tx_pending, rx_pending;
	uint64_t tx_off;
	struct virtq_chain tx, rx;
	pthread_t thread;
	sem_t thread_up;          /* posted once the loop thread runs */
	bool thread_started;
	bool stop;                /* __atomic */
	uint8_t config[12];       /* cols, rows, max_nr_ports, emerg_wr: zeros */
	void (*hangup)(void *);   /* a given connection is gone (--console-fd) */
	void *hangup_arg;
};

static void wake(struct virtio_console *c)
{
	uint64_t one = 1;
	ssize_t r = write(c->wake_fd, &one, sizeof one);

	(void)r;   /* EAGAIN: the counter is already non-zero */
}

/* Finish the pending transmit chain. Lock held. */
static void tx_complete(struct virtio_console *c, struct virtq *q)
{
	virtq_push(q, c->tx.head, 0);
	c->tx_pending = false;
	virtio_dev_used(c->vd, TXQ);
}

/* Guest -> socket. Lock held. */
static void console_tx(struct virtio_console *c)
{
	struct virtq *q = virtio_dev_queue(c->vd, TXQ);

	if (!q || !virtio_dev_running(c->vd))
		return;
	for (int n = 0; n < BATCH; n++) {
		struct iovec iov[VIRTQ_MAX_SEGS];
		struct msghdr mh = {.msg_iov = iov};
		uint64_t off;
		ssize_t w;

		if (!c->tx_pending) {
			if (virtq_pop(q, &c->tx) != 1)
				return;
			c->tx_pending = true;
			c->tx_off = 0;
		}
		if (c->conn_fd < 0 || c->conn_dead) {
			if (c->listen_fd >= 0 && !c->had_client)
				return;   /* hold until a client connects */
			tx_complete(c, q);   /* nobody to send to: discard */
			continue;
		}
		off = c->tx_off;
		for (unsigned s = 0; s < c->tx.nr; s++) {
			if (off >= c->tx.r[s].len) {
				off -= c->tx.r[s].len;
				continue;
			}
			iov[mh.msg_iovlen].iov_base = c->tx.r[s].ptr + off;
			iov[mh.msg_iovlen].iov_len = c->tx.r[s].len - off;
			mh.msg_iovlen++;
			off = 0;
		}
		if (mh.msg_iovlen == 0) {
			tx_complete(c, q);
			continue;
		}
		w = sendmsg(c->conn_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* Wake the loop once so that it polls for room;
				 * waking it again while the socket stays full
				 * would only make it spin. */
				if (!c->tx_blocked) {
					c->tx_blocked = true;
					wake(c);
				}
				return;
			}
			if (errno == EINTR)
				continue;
			c->conn_dead = true;
			wake(c);
			tx_complete(c, q);
			continue;
		}
		c->tx_off += (uint64_t)w;
		if (c->tx_off >= c->tx.rlen)
			tx_complete(c, q);
	}
	/* more may be waiting: let the loop come back */
	c->tx_blocked = true;
	wake(c);
}

/* Socket -> guest. Lock held. Returns 1 if it moved data, 0 otherwise. */
static int console_rx(struct virtio_console *c)
{
	struct virtq *q = virtio_dev_queue(c->vd, RXQ);
	int moved = 0;

	if (!q || !virtio_dev_running(c->vd) || c->conn_fd < 0 || c->conn_dead)
		return 0;
	for (int n = 0; n < BATCH; n++) {
		struct iovec iov[VIRTQ_MAX_SEGS];
		struct msghdr mh = {.msg_iov = iov};
		ssize_t r;

		if (!c->rx_pending) {
			int p = virtq_pop(q, &c->rx);

			if (p != 1) {
				c->rx_starved = p == 0;
				return moved;
			}
			c->rx_pending = true;
		}
		for (unsigned s = 0; s < c->rx.nw; s++) {
			if (!c->rx.w[s].len)
				continue;
			iov[mh.msg_iovlen].iov_base = c->rx.w[s].ptr;
			iov[mh.msg_iovlen].iov_len = c->rx.w[s].len;
			mh.msg_iovlen++;
		}
		if (mh.msg_iovlen == 0) {      /* nothing writable: hand it back */
			virtq_push(q, c->rx.head, 0);
			c->rx_pending = false;
			virtio_dev_used(c->vd, RXQ);
			continue;
		}
		r = recvmsg(c->conn_fd, &mh, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return moved;          /* keep the chain for next time */
		if (r <= 0) {
			c->conn_dead = true;   /* EOF or error; chain stays pending */
			return moved;
		}
		virtq_push(q, c->rx.head, (uint32_t)r);
		c->rx_pending = false;
		virtio_dev_used(c->vd, RXQ);
		moved = 1;
	}
	return moved;
}

static void close_conn(struct virtio_console *c)
{
	if (c->conn_fd >= 0)
		close(c->conn_fd);
	c->conn_fd = -1;
	c->conn_dead = false;
	c->tx_blocked = false;
}

int virtio_console_poll(struct virtio_console *c, int timeout_ms)
{
	struct pollfd pfd[2];
	int n = 1, conn_idx = -1;
	bool running;

	virtio_dev_lock(c->vd);
	if (c->conn_dead) {
		close_conn(c);
		/* pending transmits of a gone client are discarded */
		console_tx(c);
		/* a connection we were given cannot come back */
		if (c->listen_fd < 0 && c->hangup) {
			c->hangup(c->hangup_arg);
			c->hangup = NULL;
		}
	}
	running = virtio_dev_running(c->vd);
	pfd[0].fd = c->wake_fd;
	pfd[0].events = POLLIN;
	if (c->conn_fd >= 0) {
		short ev = 0;

		if (running && !c->rx_starved)
			ev |= POLLIN;
		if (running && c->tx_blocked)
			ev |= POLLOUT;
		pfd[1].fd = c->conn_fd;
		pfd[1].events = ev;
		conn_idx = n++;
	} else if (c->listen_fd >= 0) {
		pfd[1].fd = c->listen_fd;
		pfd[1].events = POLLIN;
		n++;
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
	if (conn_idx < 0 && n == 2 && (pfd[1].revents & POLLIN) && c->conn_fd < 0) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			c->conn_fd = fd;
			c->had_client = true;
			c->rx_starved = false;
		}
	}
	if (conn_idx >= 0 && (pfd[conn_idx].revents & (POLLHUP | POLLERR)) &&
	    !(pfd[conn_idx].revents & POLLIN))
		c->conn_dead = true;
	/* every wake-up re-examines both queues: cheap, and no event is lost;
	 * a blocked transmit waits for room (POLLOUT) before it is retried */
	c->rx_starved = false;
	if (conn_idx < 0 || (pfd[conn_idx].revents & (POLLOUT | POLLHUP | POLLERR)))
		c->tx_blocked = false;
	console_tx(c);
	console_rx(c);
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

static struct virtio_console *alloc_console(void)
{
	struct virtio_console *c = calloc(1, sizeof *c);

	if (!c) {
		vmm_fail(ENOMEM, "virtio-console");
		return NULL;
	}
	c->listen_fd = c->conn_fd = -1;
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd < 0) {
		vmm_fail(errno, "virtio-console: eventfd");
		free(c);
		return NULL;
	}
	return c;
}

struct virtio_console *virtio_console_create_fd(int fd)
{
	struct virtio_console *c = alloc_console();
	int fl;

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
	c->conn_fd = fd;
	c->had_client = true;
	return c;
}

struct virtio_console *virtio_console_create(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct virtio_console *c;
	struct stat st;

	if (!path || strlen(path) >= sizeof sa.sun_path) {
		vmm_fail(ENAMETOOLONG, "virtio-console: socket path too long or missing");
		return NULL;
	}
	c = alloc_console();
	if (!c)
		return NULL;
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0 ||
	    bind(c->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(c->listen_fd, 1) < 0) {
		vmm_fail(errno, "virtio-console: cannot listen on %s", path);
		virtio_console_destroy(c);
		return NULL;
	}
	return c;
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
	if (c->conn_fd >= 0)
		close(c->conn_fd);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
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

	(void)vd;
	if (q == TXQ) {
		console_tx(c);
	} else {
		c->rx_starved = false;
		wake(c);
	}
}

static void cons_reset(void *dev)
{
	struct virtio_console *c = dev;

	/* chains in flight belong to queues that no longer exist */
	c->tx_pending = c->rx_pending = false;
	c->tx_off = 0;
	c->rx_starved = false;
	c->tx_blocked = false;
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
