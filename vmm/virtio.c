/*
 * virtio.c - split virtqueues, parsed defensively.
 *
 * Layout (virtio 1.x, 2.7 "Split Virtqueues"), all little-endian:
 *   descriptor table: size x { le64 addr; le32 len; le16 flags; le16 next; }
 *   avail ring:       le16 flags; le16 idx; le16 ring[size]; (le16 used_event)
 *   used ring:        le16 flags; le16 idx; { le32 id; le32 len; }[size]; (avail_event)
 *
 * Every value the guest controls is read once into a local and checked:
 * the avail idx may run at most `size` entries ahead of what we consumed,
 * ring heads and next indices must be < size (or < the indirect table's
 * length), chains are bounded by the number of descriptors they may use
 * (so a loop ends as an error), every buffer goes through gm_ptr(), and
 * indirect tables must be a non-empty multiple of 16 bytes within memory,
 * at most VIRTQ_MAX_SEGS entries, and may not nest.
 *
 * Barriers (2.7.13, 2.7.7): after reading avail->idx, an acquire fence
 * before reading the ring entry and descriptors; before publishing
 * used->idx, a release store so the used element is visible first; before
 * reading avail->flags to decide on an interrupt, a full fence so the
 * driver sees our used->idx or we see its flags.
 */
#include <endian.h>
#include <string.h>

#include "virtio.h"

#define DESC_SIZE 16

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static inline uint16_t load16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}

static inline uint16_t load16_acquire(const uint8_t *p)
{
	/* p is 2-aligned: checked at enable time */
	uint16_t v = __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
	return le16toh(v);
}

static inline void store32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline void read_desc(const uint8_t *table, unsigned i, struct desc *d)
{
	uint8_t raw[DESC_SIZE];
	uint64_t a;
	uint32_t l;
	uint16_t f, n;

	/* one copy of the guest's bytes; fields come from the copy */
	memcpy(raw, table + (size_t)i * DESC_SIZE, DESC_SIZE);
	memcpy(&a, raw, 8);
	memcpy(&l, raw + 8, 4);
	memcpy(&f, raw + 12, 2);
	memcpy(&n, raw + 14, 2);
	d->addr = le64toh(a);
	d->len = le32toh(l);
	d->flags = le16toh(f);
	d->next = le16toh(n);
}

static int fail(struct virtq *q, const char *why)
{
	if (!q->broken) {
		q->broken = true;
		q->why = why;
		if (q->on_broken)
			q->on_broken(q->ctx, q);
	}
	return -1;
}

void virtq_reset(struct virtq *q)
{
	q->ready = false;
	q->broken = false;
	q->why = NULL;
	q->last_avail = 0;
	q->used_idx = 0;
	q->desc = q->avail = q->used = NULL;
}

int virtq_enable(struct virtq *q)
{
	uint64_t n = q->size;

	virtq_reset(q);
	if (!q->gm) {
		q->why = "no guest memory";
		return -1;
	}
	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1))) {
		q->why = "queue size is not a power of two within QueueNumMax";
		return -1;
	}
	/* alignment (2.7): desc 16, avail 2, used 4 */
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3)) {
		q->why = "misaligned ring address";
		return -1;
	}
	/* with room for used_event / avail_event, as drivers allocate it */
	q->desc = gm_ptr(q->gm, q->desc_gpa, DESC_SIZE * n);
	q->avail = gm_ptr(q->gm, q->avail_gpa, 6 + 2 * n);
	q->used = gm_ptr(q->gm, q->used_gpa, 6 + 8 * n);
	if (!q->desc || !q->avail || !q->used) {
		q->why = !q->desc ? "descriptor table outside guest memory"
		       : !q->avail ? "avail ring outside guest memory"
				   : "used ring outside guest memory";
		q->desc = q->avail = q->used = NULL;
		return -1;
	}
	/* the device owns used->flags and used->idx from here on */
	__atomic_store_n((uint16_t *)(void *)q->used, 0, __ATOMIC_RELAXED);
	__atomic_store_n((uint16_t *)(void *)(q->used + 2), 0, __ATOMIC_RELEASE);
	q->ready = true;
	return 0;
}

/* Add one buffer to the chain; readable ones must come before writable. */
static int add_seg(struct virtq *q, struct virtq_chain *c, const struct desc *d)
{
	uint8_t *p = gm_ptr(q->gm, d->addr, d->len);

	if (!p)
		return fail(q, "descriptor buffer outside guest memory");
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		if (c->nw >= VIRTQ_MAX_SEGS)
			return fail(q, "too many writable descriptors");
		c->w[c->nw].ptr = p;
		c->w[c->nw].len = d->len;
		c->nw++;
		c->wlen += d->len;
	} else {
		if (c->nw)
			return fail(q, "readable descriptor after a writable one");
		if (c->nr >= VIRTQ_MAX_SEGS)
			return fail(q, "too many readable descriptors");
		c->r[c->nr].ptr = p;
		c->r[c->nr].len = d->len;
		c->nr++;
		c->rlen += d->len;
	}
	return 0;
}

static int walk_indirect(struct virtq *q, struct virtq_chain *c, const struct desc *id,
			 unsigned *budget)
{
	uint64_t n;
	const uint8_t *table;
	unsigned i = 0, steps = 0;

	if (!q->indirect)
		return fail(q, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (id->flags & VIRTQ_DESC_F_NEXT)
		return fail(q, "indirect descriptor with NEXT");
	if (id->len == 0 || id->len % DESC_SIZE)
		return fail(q, "indirect table length not a multiple of 16");
	n = id->len / DESC_SIZE;
	if (n > VIRTQ_MAX_SEGS)
		return fail(q, "indirect table too large");
	table = gm_ptr(q->gm, id->addr, id->len);
	if (!table)
		return fail(q, "indirect table outside guest memory");
	for (;;) {
		struct desc d;

		if (steps++ >= n || (*budget)-- == 0)
			return fail(q, "indirect chain loops or is too long");
		read_desc(table, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return fail(q, "nested indirect descriptor");
		if (add_seg(q, c, &d))
			return -1;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return fail(q, "indirect next index out of range");
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t avail_idx, pending, head, i;
	unsigned steps = 0, budget = VIRTQ_MAX_SEGS;

	if (!q->ready || q->broken)
		return 0;
	avail_idx = load16_acquire(q->avail + 2);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return fail(q, "avail idx more than queue size ahead");
	/* acquire above: ring entry and descriptors are read after idx */
	head = load16(q->avail + 4 + 2 * (size_t)(q->last_avail % q->size));
	if (head >= q->size)
		return fail(q, "avail ring head out of range");

	c->head = head;
	c->nr = c->nw = 0;
	c->rlen = c->wlen = 0;
	i = head;
	for (;;) {
		struct desc d;

		/* a chain visits each descriptor at most once: more steps
		 * than the queue size means a loop */
		if (steps++ >= q->size || budget-- == 0)
			return fail(q, "descriptor chain loops or is too long");
		read_desc(q->desc, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (walk_indirect(q, c, &d, &budget))
				return -1;
			break;
		}
		if (add_seg(q, c, &d))
			return -1;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= q->size)
			return fail(q, "next index out of range");
		i = d.next;
	}
	q->last_avail++;
	return 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	uint8_t *elem;

	if (!q->ready || !q->used || head >= q->size)
		return;
	elem = q->used + 4 + 8 * (size_t)(q->used_idx % q->size);
	store32(elem, head);
	store32(elem + 4, written);
	q->used_idx++;
	/* release: the element is visible before the new idx */
	__atomic_store_n((uint16_t *)(void *)(q->used + 2), htole16(q->used_idx),
			 __ATOMIC_RELEASE);
}

bool virtq_need_notify(struct virtq *q)
{
	uint16_t flags;

	if (!q->ready || !q->avail)
		return false;
	/* our used->idx store before their flags load (2.7.7.2) */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = load16_acquire(q->avail);
	return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned s = 0; s < c->nr && done < len; s++) {
		uint64_t sl = c->r[s].len;

		if (off >= sl) {
			off -= sl;
			continue;
		}
		size_t n = (size_t)(sl - off) < len - done ? (size_t)(sl - off) : len - done;
		memcpy((uint8_t *)buf + done, c->r[s].ptr + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned s = 0; s < c->nw && done < len; s++) {
		uint64_t sl = c->w[s].len;

		if (off >= sl) {
			off -= sl;
			continue;
		}
		size_t n = (size_t)(sl - off) < len - done ? (size_t)(sl - off) : len - done;
		memcpy(c->w[s].ptr + off, (const uint8_t *)buf + done, n);
		done += n;
		off = 0;
	}
	return done;
}
