/*
 * fuzz_virtq.c - libFuzzer target for the split virtqueue parser: the
 * input is a guest memory image plus queue geometry; virtq_pop/push must
 * never crash, hang or touch memory outside the image (ASan sees the image
 * as exactly `size` bytes of heap), and every segment handed out must lie
 * within it.
 *
 * Input: [0] log2 queue size (mod 9), [1] bit 0: INDIRECT_DESC negotiated,
 * [2..3] avail idx (written into the image when the ring is inside it),
 * [4..15] descriptor table, avail and used ring addresses (le32 each,
 * taken modulo image size + 4096 so some fall outside), the rest: the
 * guest memory image.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../vmm/virtio.h"

#define HDR 16

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check_seg(const struct guest_mem *gm, const struct virtq_seg *s)
{
	if (s->ptr < gm->host || (uint64_t)(s->ptr - gm->host) > gm->size ||
	    s->len > gm->size - (uint64_t)(s->ptr - gm->host))
		__builtin_trap();
	if (s->len) {
		volatile uint8_t sink = s->ptr[0];
		(void)sink;
		sink = s->ptr[s->len - 1];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain chain;
	struct guest_mem gm;
	struct virtq q;
	uint64_t span;

	if (size < HDR)
		return 0;
	gm.size = size - HDR;
	gm.memfd = -1;
	gm.host = malloc(gm.size ? gm.size : 1);
	if (!gm.host)
		return 0;
	memcpy(gm.host, data + HDR, gm.size);

	memset(&q, 0, sizeof q);
	span = gm.size + 4096;
	q.gm = &gm;
	q.size = (uint16_t)(1u << (data[0] % 9));
	q.indirect = data[1] & 1;
	q.desc_gpa = le32(data + 4) % span;
	q.avail_gpa = le32(data + 8) % span;
	q.used_gpa = le32(data + 12) % span;
	if (virtq_enable(&q) == 0) {
		uint16_t idx = (uint16_t)(data[2] | data[3] << 8);

		memcpy(q.avail + 2, &idx, 2);
		/* enough rounds to wrap the ring twice */
		for (unsigned n = 0; n < 2u * q.size + 4; n++) {
			int r = virtq_pop(&q, &chain);
			uint8_t tmp[8] = {0};

			if (r != 1)
				break;
			if (chain.head >= q.size || chain.nr > VIRTQ_MAX_SEGS || chain.nw > VIRTQ_MAX_SEGS)
				__builtin_trap();
			for (unsigned i = 0; i < chain.nr; i++)
				check_seg(&gm, &chain.r[i]);
			for (unsigned i = 0; i < chain.nw; i++)
				check_seg(&gm, &chain.w[i]);
			virtq_chain_read(&chain, chain.rlen ? chain.rlen - 1 : 0, tmp, sizeof tmp);
			virtq_chain_write(&chain, chain.wlen ? chain.wlen - 1 : 0, tmp, sizeof tmp);
			virtq_push(&q, chain.head, (uint32_t)chain.wlen);
			(void)virtq_need_notify(&q);
		}
		if ((uint16_t)(q.used_idx) != q.last_avail)
			__builtin_trap();   /* one push per pop, counted by us */
	}
	free(gm.host);
	return 0;
}
