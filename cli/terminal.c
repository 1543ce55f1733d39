/*
 * terminal.c - this process's standard input and terminal (see
 * terminal.h).  An interactive session has two directions: a thread copies
 * the process's output to stdout (msb_process_read blocks), and the
 * calling thread polls stdin, a pipe the thread writes when the output
 * ends, and SIGWINCH's flag.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "terminal.h"

char *read_all_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	while (buf) {
		ssize_t r;

		if (n == cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

int term_size(uint16_t *rows, uint16_t *cols)
{
	struct winsize ws;

	if (ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
		return 0;
	}
	return -1;
}

static volatile sig_atomic_t winch = 1;

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

struct pump {
	msb_process *p;
	int done_fd; /* written when the session's output ends */
};

static void *pump_output(void *arg)
{
	struct pump *pu = arg;
	msb_buf b;
	int stream;

	while (msb_process_read(&b, &stream, pu->p, -1) == 0) {
		ssize_t off = 0;

		while (off < (ssize_t)b.len) {
			ssize_t w = write(1, b.ptr + off, b.len - (size_t)off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += w;
		}
		msb_buf_free(&b);
	}
	if (write(pu->done_fd, "x", 1) < 0) {
		/* the main loop also stops on stdin EOF */
	}
	return NULL;
}

int term_relay(msb_process *p, int tty)
{
	struct termios saved, raw;
	struct pump pu;
	pthread_t th;
	int done[2];

	if (pipe(done) < 0)
		return -1;
	if (tty && tcgetattr(0, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
	} else {
		tty = 0;
	}
	signal(SIGWINCH, on_winch);
	winch = 0;
	pu.p = p;
	pu.done_fd = done[1];
	pthread_create(&th, NULL, pump_output, &pu);
	for (;;) {
		struct pollfd pfd[2] = { { .fd = 0, .events = POLLIN },
					 { .fd = done[0], .events = POLLIN } };
		char buf[4096];
		ssize_t n;

		if (winch && tty) {
			uint16_t rows, cols;

			winch = 0;
			if (term_size(&rows, &cols) == 0)
				msb_process_resize(p, rows, cols);
		}
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (!pfd[0].revents)
			continue;
		n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* No more input: let the session end by itself. */
			msb_process_write(p, "\x04", 1);
			pfd[0].fd = -1;
			poll(&pfd[1], 1, -1);
			break;
		}
		if (msb_process_write(p, buf, (size_t)n))
			break;
	}
	pthread_join(th, NULL);
	if (tty)
		tcsetattr(0, TCSANOW, &saved);
	close(done[0]);
	close(done[1]);
	return 0;
}
