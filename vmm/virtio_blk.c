/*
 * virtio_blk.c - virtio-blk (device id 2) over a disk image file, one
 * request queue, served synchronously on the notifying vCPU thread with
 * pread/pwrite (the image is a regular file: no unbounded blocking).
 *
 * A request (virtio 1.x 5.2.6) is a chain: the 16-byte header
 * { le32 type; le32 reserved; le64 sector; } at the start of the readable
 * part, then data (readable for OUT, writable for IN and GET_ID), then the
 * status byte, the last byte of the writable part. The header is copied
 * out of guest memory once before use. Data lengths must be whole sectors;
 * sector + count must not overflow and must lie within the capacity (the
 * image size rounded down to 512 bytes). A read-only device (VIRTIO_BLK_F_RO,
 * image opened O_RDONLY) answers OUT with IOERR.
 *
 * A request whose chain has no room for a status byte or no complete
 * header is returned unused (length 0): the device stays usable. Only a
 * broken queue (bad descriptors) sends the device to NEEDS_RESET.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "virtio.h"

#define VIRTIO_BLK_F_RO     5
#define VIRTIO_BLK_F_FLUSH  9

#define VIRTIO_BLK_T_IN      0
#define VIRTIO_BLK_T_OUT     1
#define VIRTIO_BLK_T_FLUSH   4
#define VIRTIO_BLK_T_GET_ID  8

#define VIRTIO_BLK_S_OK      0
#define VIRTIO_BLK_S_IOERR   1
#define VIRTIO_BLK_S_UNSUPP  2

#define SECTOR 512u
#define ID_BYTES 20

struct virtio_blk {
	int fd;
	bool ro;
	uint64_t capacity;      /* sectors */
	uint8_t config[64];     /* capacity at 0, the rest zero */
	char id[ID_BYTES];
};

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* Sector range check, overflow-safe. */
static bool in_range(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t n;

	if (bytes % SECTOR)
		return false;
	n = bytes / SECTOR;
	return sector <= b->capacity && n <= b->capacity - sector;
}

/* Transfer `len` bytes between the image at `pos` and chain segments
 * (readable for a write, writable for a read) starting `skip` bytes in. */
static int do_io(struct virtio_blk *b, const struct virtq_chain *c, bool write,
		 uint64_t skip, uint64_t len, uint64_t pos)
{
	unsigned nseg = write ? c->nr : c->nw;
	const struct virtq_seg *seg = write ? c->r : c->w;

	for (unsigned s = 0; s < nseg && len; s++) {
		uint64_t sl = seg[s].len, off = 0;

		if (skip >= sl) {
			skip -= sl;
			continue;
		}
		off = skip;
		skip = 0;
		while (off < sl && len) {
			size_t n = (size_t)(sl - off < len ? sl - off : len);
			ssize_t r = write ? pwrite(b->fd, seg[s].ptr + off, n, (off_t)pos)
					  : pread(b->fd, seg[s].ptr + off, n, (off_t)pos);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;   /* error, or the image shrank under us */
			off += (uint64_t)r;
			pos += (uint64_t)r;
			len -= (uint64_t)r;
		}
	}
	return len ? -1 : 0;
}

/* Serve one request; returns the number of bytes written to the chain. */
static uint32_t handle(struct virtio_blk *b, const struct virtq_chain *c)
{
	struct blk_hdr h;
	uint8_t raw[16], status = VIRTIO_BLK_S_OK;
	uint64_t data_r, data_w, written = 0;

	if (c->nw == 0 || c->wlen == 0)
		return 0;                 /* nowhere to put the status */
	if (virtq_chain_read(c, 0, raw, sizeof raw) != sizeof raw)
		return 0;                 /* no complete header */
	memcpy(&h, raw, sizeof h);
	h.type = le32toh(h.type);
	h.sector = le64toh(h.sector);
	data_r = c->rlen - sizeof raw;   /* readable bytes after the header */
	data_w = c->wlen - 1;            /* writable bytes before the status */

	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		if (!in_range(b, h.sector, data_w) ||
		    do_io(b, c, false, 0, data_w, h.sector * SECTOR))
			status = VIRTIO_BLK_S_IOERR;
		else
			written = data_w;
		break;
	case VIRTIO_BLK_T_OUT:
		if (b->ro || !in_range(b, h.sector, data_r) ||
		    do_io(b, c, true, sizeof raw, data_r, h.sector * SECTOR))
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (!b->ro && fdatasync(b->fd) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID:
		written = data_w < ID_BYTES ? data_w : ID_BYTES;
		virtq_chain_write(c, 0, b->id, (size_t)written);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	virtq_chain_write(c, data_w, &status, 1);
	return (uint32_t)(written + 1);
}

static void blk_notify(void *dev, struct virtio_dev *vd, unsigned qi)
{
	struct virtio_blk *b = dev;
	struct virtq *q = virtio_dev_queue(vd, qi);
	struct virtq_chain *c;
	bool any = false;

	if (!q)
		return;
	c = malloc(sizeof *c);   /* 8 KiB: keep it off the vCPU stack */
	if (!c)
		return;
	/* at most one queue's worth per notify: a guest refilling the
	 * ring as fast as we serve it cannot pin the vCPU forever */
	for (unsigned n = 0; n < q->size; n++) {
		if (virtq_pop(q, c) != 1)
			break;
		virtq_push(q, c->head, handle(b, c));
		any = true;
	}
	free(c);
	if (any)
		virtio_dev_used(vd, qi);
}

static void blk_config_read(void *dev, uint32_t off, uint8_t *data, unsigned len)
{
	struct virtio_blk *b = dev;

	if (off <= sizeof b->config && len <= sizeof b->config - off)
		memcpy(data, b->config + off, len);
}

static void blk_config_write(void *dev, uint32_t off, const uint8_t *data, unsigned len)
{
	(void)dev; (void)off; (void)data; (void)len;   /* nothing writable */
}

static void blk_reset(void *dev)
{
	(void)dev;   /* requests complete synchronously: nothing in flight */
}

#define BLK_OPS(ro_feature) { \
	.name = "virtio-blk", \
	.device_id = 2, \
	.features = (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_BLK_F_FLUSH) | (ro_feature), \
	.num_queues = 1, \
	.queue_max = 256, \
	.config_size = 64, \
	.config_read = blk_config_read, \
	.config_write = blk_config_write, \
	.notify = blk_notify, \
	.reset = blk_reset, \
}

const struct virtio_dev_ops virtio_blk_ops_rw = BLK_OPS(0);
const struct virtio_dev_ops virtio_blk_ops_ro = BLK_OPS(1ull << VIRTIO_BLK_F_RO);

const struct virtio_dev_ops *virtio_blk_ops(const struct virtio_blk *b)
{
	return b->ro ? &virtio_blk_ops_ro : &virtio_blk_ops_rw;
}

uint64_t virtio_blk_capacity(const struct virtio_blk *b)
{
	return b->capacity;
}

struct virtio_blk *virtio_blk_create(const char *path, bool ro)
{
	struct virtio_blk *b;
	struct stat st;
	uint64_t cap;
	const char *base;

	b = calloc(1, sizeof *b);
	if (!b) {
		vmm_fail(ENOMEM, "virtio-blk");
		return NULL;
	}
	b->ro = ro;
	b->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		vmm_fail(errno, "cannot open disk image %s%s", path, ro ? "" : " read-write");
		free(b);
		return NULL;
	}
	off_t size = -1;
	errno = 0;
	if (fstat(b->fd, &st) == 0 && S_ISREG(st.st_mode))
		size = st.st_size;
	else if (S_ISBLK(st.st_mode))   /* a block device: its size is its end */
		size = lseek(b->fd, 0, SEEK_END);
	if (size < 0) {
		vmm_fail(errno ? errno : EINVAL, "disk image %s is not a regular file or block device", path);
		close(b->fd);
		free(b);
		return NULL;
	}
	b->capacity = (uint64_t)size / SECTOR;
	cap = htole64(b->capacity);
	memcpy(b->config, &cap, sizeof cap);
	/* the serial: the image's base name, truncated (not NUL-terminated
	 * when it fills all 20 bytes, as the spec allows) */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	memcpy(b->id, base, strnlen(base, sizeof b->id));
	return b;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	close(b->fd);
	free(b);
}
