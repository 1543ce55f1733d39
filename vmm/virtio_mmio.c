/*
 * virtio_mmio.c - the virtio-mmio transport, version 2 ("modern", virtio
 * 1.x section 4.2.2), for the devices in virtio_console.c and virtio_blk.c.
 *
 * Access widths. The control registers (0x000..0x0ff) are 32 bits wide
 * and the spec lets drivers use only aligned 32-bit accesses. Anything
 * else (1, 2 or 8 bytes, or an unaligned offset) is not reassembled: reads
 * return zeros, writes are ignored, and both are counted in
 * stats.bad_access. Registers this transport does not implement (the
 * shared-memory ones, QueueReset, reserved holes) read as zero and ignore
 * writes. The device config space (0x100..) accepts 1, 2, 4 and 8-byte
 * accesses at any offset that lies wholly within the device's config_size;
 * outside it, reads return zeros and writes are ignored.
 *
 * Status. Bits only accumulate until the driver writes 0 (reset).
 * FEATURES_OK is kept only if the driver accepted VIRTIO_F_VERSION_1 and
 * no feature the device did not offer; DRIVER_OK only after FEATURES_OK.
 * DEVICE_NEEDS_RESET (0x40) belongs to the device: driver writes cannot set
 * or clear it; it is set when the guest breaks a queue (bad descriptors,
 * rings outside memory) together with a configuration-change interrupt,
 * and from then on notifications are ignored until reset.
 *
 * Interrupts are level: the line is high while InterruptStatus != 0.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "virtio.h"

#define MAX_QUEUES VIRTIO_MAX_QUEUES

struct virtio_dev {
	pthread_mutex_t lock;
	struct vm *vm;
	const struct guest_mem *gm;
	uint64_t base;
	unsigned gsi;
	const struct virtio_dev_ops *ops;
	void *dev;

	uint64_t dev_features, drv_features;
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
	uint32_t status, isr, config_gen;
	int irq_level;
	const char *broken_why;
	struct virtio_stats stats;
	struct virtq q[MAX_QUEUES];
};

static void update_irq(struct virtio_dev *vd)
{
	int level = vd->isr != 0;

	if (level != vd->irq_level) {
		vd->irq_level = level;
		vm_irq_line(vd->vm, vd->gsi, level);
	}
}

void virtio_dev_lock(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
}

void virtio_dev_unlock(struct virtio_dev *vd)
{
	pthread_mutex_unlock(&vd->lock);
}

struct virtq *virtio_dev_queue(struct virtio_dev *vd, unsigned q)
{
	return q < vd->ops->num_queues ? &vd->q[q] : NULL;
}

bool virtio_dev_running(const struct virtio_dev *vd)
{
	return (vd->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vd->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

uint64_t virtio_dev_features(const struct virtio_dev *vd)
{
	return (vd->status & VIRTIO_STATUS_FEATURES_OK) ? vd->drv_features : 0;
}

uint32_t virtio_dev_status(const struct virtio_dev *vd)
{
	return vd->status;
}

void virtio_dev_used(struct virtio_dev *vd, unsigned q)
{
	struct virtq *vq = virtio_dev_queue(vd, q);

	if (vq && virtq_need_notify(vq)) {
		vd->isr |= VIRTIO_INT_USED_RING;
		update_irq(vd);
	}
}

void virtio_dev_config_changed(struct virtio_dev *vd)
{
	vd->config_gen++;
	vd->isr |= VIRTIO_INT_CONFIG;
	update_irq(vd);
}

void virtio_dev_set_broken(struct virtio_dev *vd, const char *why)
{
	if (vd->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	vd->broken_why = why ? why : "device broken by the driver";
	vd->stats.broken++;
	vd->isr |= VIRTIO_INT_CONFIG;
	update_irq(vd);
}

struct virtio_stats virtio_dev_stats(struct virtio_dev *vd)
{
	struct virtio_stats s;

	virtio_dev_lock(vd);
	s = vd->stats;
	virtio_dev_unlock(vd);
	return s;
}

const char *virtio_dev_broken_reason(struct virtio_dev *vd)
{
	const char *why;

	virtio_dev_lock(vd);
	why = vd->broken_why;
	virtio_dev_unlock(vd);
	return why;
}

static void queue_broken(void *ctx, struct virtq *q)
{
	virtio_dev_set_broken(ctx, q->why);
}

static void dev_reset(struct virtio_dev *vd)
{
	vd->drv_features = 0;
	vd->dev_feat_sel = vd->drv_feat_sel = vd->queue_sel = 0;
	vd->status = 0;
	vd->isr = 0;
	vd->broken_why = NULL;
	for (unsigned i = 0; i < MAX_QUEUES; i++) {
		struct virtq *q = &vd->q[i];

		virtq_reset(q);
		q->size = 0;
		q->desc_gpa = q->avail_gpa = q->used_gpa = 0;
		q->indirect = false;
		q->gm = vd->gm;
		q->on_broken = queue_broken;
		q->ctx = vd;
	}
	if (vd->ops->reset)
		vd->ops->reset(vd->dev);
	update_irq(vd);
}

struct virtio_dev *virtio_mmio_create(struct vm *vm, const struct guest_mem *gm,
				      uint64_t base, unsigned gsi,
				      const struct virtio_dev_ops *ops, void *dev)
{
	struct virtio_dev *vd;
	unsigned qm = ops ? ops->queue_max : 0;

	if (!ops || ops->num_queues == 0 || ops->num_queues > MAX_QUEUES ||
	    qm == 0 || qm > VIRTQ_MAX_SIZE || (qm & (qm - 1))) {
		vmm_fail(EINVAL, "virtio-mmio: invalid device description");
		return NULL;
	}
	if (!gm && vm)
		gm = vm_mem(vm);
	if (!gm) {
		vmm_fail(EINVAL, "virtio-mmio %s: no guest memory", ops->name);
		return NULL;
	}
	vd = calloc(1, sizeof *vd);
	if (!vd) {
		vmm_fail(ENOMEM, "virtio-mmio %s", ops->name);
		return NULL;
	}
	pthread_mutex_init(&vd->lock, NULL);
	vd->vm = vm;
	vd->gm = gm;
	vd->base = base;
	vd->gsi = gsi;
	vd->ops = ops;
	vd->dev = dev;
	vd->dev_features = ops->features | (1ull << VIRTIO_F_VERSION_1);
	dev_reset(vd);
	if (vm && vm_add_mmio(vm, base, VIRTIO_MMIO_SIZE, &virtio_mmio_io_ops, vd)) {
		pthread_mutex_destroy(&vd->lock);
		free(vd);
		return NULL;
	}
	return vd;
}

void virtio_mmio_destroy(struct virtio_dev *vd)
{
	if (!vd)
		return;
	pthread_mutex_destroy(&vd->lock);
	free(vd);
}

int virtio_mmio_cmdline_fmt(char *buf, size_t len, uint64_t size, uint64_t base, unsigned irq)
{
	/* Linux parses <size> with memparse() and <base> with strtoull(,0) */
	if (size && size % 1024 == 0)
		return snprintf(buf, len, "virtio_mmio.device=%" PRIu64 "K@0x%" PRIx64 ":%u",
				size / 1024, base, irq);
	return snprintf(buf, len, "virtio_mmio.device=%" PRIu64 "@0x%" PRIx64 ":%u",
			size, base, irq);
}

int virtio_mmio_cmdline(const struct virtio_dev *vd, char *buf, size_t len)
{
	return virtio_mmio_cmdline_fmt(buf, len, VIRTIO_MMIO_SIZE, vd->base, vd->gsi);
}

/* FEATURES_OK: the driver must take VERSION_1 and nothing not offered. */
static bool features_ok(const struct virtio_dev *vd)
{
	if (!(vd->drv_features & (1ull << VIRTIO_F_VERSION_1)))
		return false;
	return (vd->drv_features & ~vd->dev_features) == 0;
}

static uint32_t reg_read(struct virtio_dev *vd, uint64_t off)
{
	struct virtq *q = virtio_dev_queue(vd, vd->queue_sel);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return vd->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (vd->dev_feat_sel > 1)
			return 0;
		return (uint32_t)(vd->dev_features >> (32 * vd->dev_feat_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? vd->ops->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_NUM:
		return q ? q->size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return vd->isr;
	case VIRTIO_MMIO_STATUS:
		return vd->status;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return q ? (uint32_t)q->desc_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return q ? (uint32_t)(q->desc_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
		return q ? (uint32_t)q->avail_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		return q ? (uint32_t)(q->avail_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
		return q ? (uint32_t)q->used_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		return q ? (uint32_t)(q->used_gpa >> 32) : 0;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return vd->config_gen;
	default:
		return 0;   /* write-only and unimplemented registers */
	}
}

static void set_addr(uint64_t *a, uint32_t v, bool high)
{
	if (high)
		*a = (*a & 0xffffffffull) | ((uint64_t)v << 32);
	else
		*a = (*a & ~0xffffffffull) | v;
}

static void write_status(struct virtio_dev *vd, uint32_t val)
{
	uint32_t old = vd->status, st;

	if (val == 0) {
		dev_reset(vd);
		return;
	}
	/* bits accumulate; NEEDS_RESET is the device's */
	st = ((val & 0xff) | old) & ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET;
	if ((st & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		if (!(st & VIRTIO_STATUS_DRIVER) || !features_ok(vd))
			st &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
	}
	if (!(st & VIRTIO_STATUS_FEATURES_OK))
		st &= ~(uint32_t)VIRTIO_STATUS_DRIVER_OK;
	vd->status = st | (old & VIRTIO_STATUS_NEEDS_RESET);
}

static void reg_write(struct virtio_dev *vd, uint64_t off, uint32_t val)
{
	struct virtq *q = virtio_dev_queue(vd, vd->queue_sel);
	bool q_writable = q && !q->ready;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		vd->dev_feat_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (!(vd->status & VIRTIO_STATUS_DRIVER) ||
		    (vd->status & VIRTIO_STATUS_FEATURES_OK) || vd->drv_feat_sel > 1)
			break;
		if (vd->drv_feat_sel == 0)
			vd->drv_features = (vd->drv_features & ~0xffffffffull) | val;
		else
			vd->drv_features = (vd->drv_features & 0xffffffffull) | ((uint64_t)val << 32);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		vd->drv_feat_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		vd->queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (q_writable)
			q->size = val <= vd->ops->queue_max ? (uint16_t)val : 0;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (!q)
			break;
		if (val == 0) {
			virtq_reset(q);
		} else if (!q->ready) {
			if (!(vd->status & VIRTIO_STATUS_FEATURES_OK) ||
			    (vd->status & VIRTIO_STATUS_NEEDS_RESET))
				break;
			q->gm = vd->gm;
			q->indirect = vd->drv_features & (1ull << VIRTIO_F_INDIRECT_DESC);
			if (virtq_enable(q))
				virtio_dev_set_broken(vd, q->why);
		}
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		if (!virtio_dev_running(vd) || val >= vd->ops->num_queues ||
		    !vd->q[val].ready || vd->q[val].broken) {
			vd->stats.notify_ignored++;
			break;
		}
		if (vd->ops->notify)
			vd->ops->notify(vd->dev, vd, val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		vd->isr &= ~val;
		update_irq(vd);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(vd, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (q_writable)
			set_addr(&q->desc_gpa, val, off == VIRTIO_MMIO_QUEUE_DESC_HIGH);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if (q_writable)
			set_addr(&q->avail_gpa, val, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if (q_writable)
			set_addr(&q->used_gpa, val, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH);
		break;
	default:
		break;      /* read-only and unimplemented registers */
	}
}

static bool config_range(const struct virtio_dev *vd, uint64_t off, unsigned len)
{
	return (len == 1 || len == 2 || len == 4 || len == 8) &&
	       off >= VIRTIO_MMIO_CONFIG && off - VIRTIO_MMIO_CONFIG <= vd->ops->config_size &&
	       len <= vd->ops->config_size - (off - VIRTIO_MMIO_CONFIG);
}

static void mmio_read(void *dev, uint64_t off, uint8_t *data, unsigned len)
{
	struct virtio_dev *vd = dev;

	if (!data || len == 0)
		return;
	memset(data, 0, len);
	virtio_dev_lock(vd);
	if (off < VIRTIO_MMIO_CONFIG) {
		if (len == 4 && !(off & 3)) {
			uint32_t v = htole32(reg_read(vd, off));

			memcpy(data, &v, 4);
		} else {
			vd->stats.bad_access++;
		}
	} else if (config_range(vd, off, len) && vd->ops->config_read) {
		vd->ops->config_read(vd->dev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
	}
	virtio_dev_unlock(vd);
}

static void mmio_write(void *dev, uint64_t off, const uint8_t *data, unsigned len)
{
	struct virtio_dev *vd = dev;

	if (!data || len == 0)
		return;
	virtio_dev_lock(vd);
	if (off < VIRTIO_MMIO_CONFIG) {
		if (len == 4 && !(off & 3)) {
			uint32_t v;

			memcpy(&v, data, 4);
			reg_write(vd, off, le32toh(v));
		} else {
			vd->stats.bad_access++;
		}
	} else if (config_range(vd, off, len) && vd->ops->config_write) {
		vd->ops->config_write(vd->dev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
	}
	virtio_dev_unlock(vd);
}

const struct io_ops virtio_mmio_io_ops = {
	.name = "virtio-mmio",
	.read = mmio_read,
	.write = mmio_write,
};
