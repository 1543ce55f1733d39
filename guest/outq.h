/*
 * outq.h - a connection's queue of frame bytes not written yet (outq.c).
 */
#ifndef MSB_AGENT_OUTQ_H
#define MSB_AGENT_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct outbuf;

struct outq {
	struct outbuf *head, *tail;
	size_t queued;   /* bytes waiting */
};

/* Drop everything queued. */
void outq_clear(struct outq *q);

/* Queue the bytes of a frame (header hdr, payload data[0..len)) from
 * `skip` on: what a write took already. 0, or -1 without memory. */
int outq_frame(struct outq *q, const uint8_t *hdr, const void *data,
	       size_t len, size_t skip);

/* Write the queue out, in order, as long as wr takes bytes. wr returns
 * the bytes written, 0 when the fd is full, or -errno. Returns 0 or the
 * -errno of wr. */
typedef ssize_t (*outq_write_fn)(void *ctx, struct iovec *iov, int n);
int outq_flush(struct outq *q, outq_write_fn wr, void *ctx);

#endif
