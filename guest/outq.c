/*
 * outq.c - a connection's queue of frame bytes not written yet: frames
 * are copied into chunks (small frames share one), written out with
 * writev-sized batches of chunks, in order, as the fd takes them. The
 * client (client.c) decides how much may wait, the loop when to write.
 */
#include <stdlib.h>
#include <string.h>

#include "outq.h"
#include "proto.h"

#define OUT_CHUNK (16u << 10)       /* small frames share chunks this big */
#define OUT_IOV 64                  /* chunks per write */

/* Bytes queued for a client, in order. */
struct outbuf {
	struct outbuf *next;
	size_t off, len, cap;  /* data[off..len) waits */
	uint8_t data[];
};

void outq_clear(struct outq *q)
{
	for (struct outbuf *b = q->head, *n; b; b = n) {
		n = b->next;
		free(b);
	}
	q->head = q->tail = NULL;
	q->queued = 0;
}

int outq_flush(struct outq *q, outq_write_fn wr, void *ctx)
{
	while (q->head) {
		struct iovec iov[OUT_IOV];
		int n = 0;
		ssize_t w;

		for (struct outbuf *b = q->head; b && n < OUT_IOV; b = b->next)
			iov[n++] = (struct iovec){ b->data + b->off, b->len - b->off };
		w = wr(ctx, iov, n);
		if (w <= 0)
			return (int)w;
		q->queued -= (size_t)w;
		while (w > 0) {
			struct outbuf *b = q->head;
			size_t left = b->len - b->off;

			if ((size_t)w < left) {
				b->off += (size_t)w;
				break;
			}
			w -= (ssize_t)left;
			q->head = b->next;
			if (!q->head)
				q->tail = NULL;
			free(b);
		}
	}
	return 0;
}

int outq_frame(struct outq *q, const uint8_t *hdr, const void *data,
	       size_t len, size_t skip)
{
	struct outbuf *b = q->tail;
	size_t need = MSB_FRAME_HEADER + len - skip;

	if (!b || b->cap - b->len < need) {
		size_t cap = need > OUT_CHUNK ? need : OUT_CHUNK;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return -1;
		b->next = NULL;
		b->off = b->len = 0;
		b->cap = cap;
		if (q->tail)
			q->tail->next = b;
		else
			q->head = b;
		q->tail = b;
	}
	if (skip < MSB_FRAME_HEADER) {
		memcpy(b->data + b->len, hdr + skip, MSB_FRAME_HEADER - skip);
		b->len += MSB_FRAME_HEADER - skip;
		skip = 0;
	} else {
		skip -= MSB_FRAME_HEADER;
	}
	if (len > skip) {
		memcpy(b->data + b->len, (const uint8_t *)data + skip, len - skip);
		b->len += len - skip;
	}
	q->queued += need;
	return 0;
}
