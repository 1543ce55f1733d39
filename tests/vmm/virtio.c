/*
 * virtio.c - the virtio devices of msb-vmm without KVM: the split
 * virtqueue, the virtio-mmio transport, virtio-blk over a temp image and
 * virtio-console over a socketpair, driven through the MMIO registers the
 * way Linux's drivers do, with a fake guest memory (a malloc'd buffer) and
 * test doubles for the VM functions. Then every hostile case we know of:
 * each must end in DEVICE_NEEDS_RESET (or be ignored) and never crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tap.h"
#include "../../vmm/error.h"
#include "../../vmm/virtio.h"

#define BAD_ID_TEST 0xffffffffu

/* ---- test doubles for the VM ---- */

struct vm {
	int irq_level;
	unsigned irq_gsi;
	int irq_changes;
};

static struct vm fake_vm;
static struct guest_mem gmem;

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	vm->irq_level = level;
	vm->irq_gsi = gsi;
	vm->irq_changes++;
	return 0;
}
int vm_add_mmio(struct vm *vm, uint64_t base, uint64_t size, const struct io_ops *ops, void *dev)
{
	(void)vm; (void)base; (void)size; (void)ops; (void)dev;
	return 0;
}
struct guest_mem *vm_mem(struct vm *vm) { (void)vm; return &gmem; }

/* ---- a guest driver ---- */

#define MEM_SIZE (1u << 20)
#define DATA 0x20000u

static uint8_t *G(uint64_t gpa) { return gmem.host + gpa; }
static void w16(uint64_t gpa, uint16_t v) { memcpy(G(gpa), &v, 2); }
static void w32(uint64_t gpa, uint32_t v) { memcpy(G(gpa), &v, 4); }
static void w64(uint64_t gpa, uint64_t v) { memcpy(G(gpa), &v, 8); }
static uint16_t r16(uint64_t gpa) { uint16_t v; memcpy(&v, G(gpa), 2); return v; }
static uint32_t r32(uint64_t gpa) { uint32_t v; memcpy(&v, G(gpa), 4); return v; }

static uint32_t mr(struct virtio_dev *vd, uint64_t off)
{
	uint32_t v;
	virtio_mmio_io_ops.read(vd, off, (uint8_t *)&v, 4);
	return v;
}
static void mw(struct virtio_dev *vd, uint64_t off, uint32_t v)
{
	virtio_mmio_io_ops.write(vd, off, (const uint8_t *)&v, 4);
}

struct gq {
	unsigned qi;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen;
};

static void gq_init(struct gq *q, unsigned qi, uint16_t size, uint64_t base)
{
	q->qi = qi;
	q->size = size;
	q->desc = base;
	q->avail = base + 0x1000;
	q->used = base + 0x2000;
	q->avail_idx = q->used_seen = 0;
	memset(G(base), 0, 0x3000);
}

static void gq_desc(struct gq *q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint64_t d = q->desc + 16 * (uint64_t)i;
	w64(d, addr);
	w32(d + 8, len);
	w16(d + 12, flags);
	w16(d + 14, next);
}

static void gq_add(struct gq *q, uint16_t head)
{
	w16(q->avail + 4 + 2 * (q->avail_idx % q->size), head);
	q->avail_idx++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	w16(q->avail + 2, q->avail_idx);
}

/* 1 and the element if the device returned one */
static int gq_used(struct gq *q, uint32_t *id, uint32_t *len)
{
	if (r16(q->used + 2) == q->used_seen)
		return 0;
	uint64_t e = q->used + 4 + 8 * (q->used_seen % q->size);
	*id = r32(e);
	*len = r32(e + 4);
	q->used_seen++;
	return 1;
}

static void setup_queue(struct virtio_dev *vd, struct gq *q)
{
	mw(vd, VIRTIO_MMIO_QUEUE_SEL, q->qi);
	mw(vd, VIRTIO_MMIO_QUEUE_NUM, q->size);
	mw(vd, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	mw(vd, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	mw(vd, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
	mw(vd, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
	mw(vd, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
	mw(vd, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
	mw(vd, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* reset, ACK, DRIVER, features, FEATURES_OK; returns the status read back */
static uint32_t negotiate(struct virtio_dev *vd, uint64_t want)
{
	uint64_t offered;

	mw(vd, VIRTIO_MMIO_STATUS, 0);
	mw(vd, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	mw(vd, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mw(vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered = mr(vd, VIRTIO_MMIO_DEVICE_FEATURES);
	mw(vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)mr(vd, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	want &= offered;
	mw(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mw(vd, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
	mw(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mw(vd, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> 32));
	mw(vd, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	   VIRTIO_STATUS_FEATURES_OK);
	return mr(vd, VIRTIO_MMIO_STATUS);
}

#define F_V1 (1ull << VIRTIO_F_VERSION_1)
#define F_IND (1ull << VIRTIO_F_INDIRECT_DESC)
#define ST_OK (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK)

static void driver_ok(struct virtio_dev *vd)
{
	mw(vd, VIRTIO_MMIO_STATUS, ST_OK | VIRTIO_STATUS_DRIVER_OK);
}

static bool needs_reset(struct virtio_dev *vd)
{
	return mr(vd, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

/* ---- virtio-blk fixture ---- */

static char img_path[] = "/tmp/msb-virtio-test-XXXXXX";
static int img_fd = -1;
static struct virtio_blk *blk;
static struct virtio_dev *bvd;
static struct gq bq;

#define IMG_SECTORS 64

static void blk_up(bool ro, uint64_t feat)
{
	if (bvd)
		virtio_mmio_destroy(bvd);
	if (blk)
		virtio_blk_destroy(blk);
	blk = virtio_blk_create(img_path, ro);
	bvd = virtio_mmio_create(&fake_vm, &gmem, 0xd0000000, 5, virtio_blk_ops(blk), blk);
	gq_init(&bq, 0, 16, 0x1000);
	negotiate(bvd, feat);
	setup_queue(bvd, &bq);
	driver_ok(bvd);
}

/* header at DATA, data at DATA+0x100 (len), status at DATA+0x80 */
static int blk_req(uint32_t type, uint64_t sector, uint32_t len, bool data_writable,
		   uint32_t *used_len)
{
	uint32_t id = 0, ul = 0;

	w32(DATA, type);
	w32(DATA + 4, 0);
	w64(DATA + 8, sector);
	G(DATA + 0x80)[0] = 0xee;
	gq_desc(&bq, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	if (len) {
		gq_desc(&bq, 1, DATA + 0x100, len, VIRTQ_DESC_F_NEXT |
			(data_writable ? VIRTQ_DESC_F_WRITE : 0), 2);
		gq_desc(&bq, 2, DATA + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		gq_desc(&bq, 1, DATA + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	gq_add(&bq, 0);
	mw(bvd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	if (!gq_used(&bq, &id, &ul))
		return -1;
	if (used_len)
		*used_len = ul;
	return G(DATA + 0x80)[0];
}

static void test_blk(void)
{
	uint8_t buf[512], back[512];
	uint32_t ul = 0;

	img_fd = mkstemp(img_path);
	if (img_fd < 0)
		bail_out("mkstemp: %s", strerror(errno));
	if (ftruncate(img_fd, IMG_SECTORS * 512 + 100) < 0)
		bail_out("ftruncate");

	blk_up(false, F_V1 | F_IND);
	ok(blk != NULL && bvd != NULL, "blk: device created over a temp image");
	is_int(virtio_blk_capacity(blk), IMG_SECTORS, "blk: capacity rounds down to whole sectors");
	{
		uint64_t cap = 0;
		virtio_mmio_io_ops.read(bvd, 0x100, (uint8_t *)&cap, 8);
		is_int(cap, IMG_SECTORS, "blk: capacity in config space (8-byte read)");
		uint32_t lo = 0;
		virtio_mmio_io_ops.read(bvd, 0x100, (uint8_t *)&lo, 4);
		uint8_t b1 = 0xff;
		virtio_mmio_io_ops.read(bvd, 0x100, &b1, 1);
		ok(lo == IMG_SECTORS && b1 == IMG_SECTORS, "blk: config space 4- and 1-byte reads");
		uint64_t far = 0x1234;
		virtio_mmio_io_ops.read(bvd, 0x100 + 60, (uint8_t *)&far, 8);
		is_int(far, 0, "blk: config read crossing config_size reads zeros");
	}
	is_int(mr(bvd, VIRTIO_MMIO_STATUS), ST_OK | VIRTIO_STATUS_DRIVER_OK, "blk: status after DRIVER_OK");

	for (int i = 0; i < 512; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	memcpy(G(DATA + 0x100), buf, 512);
	is_int(blk_req(1, 3, 512, false, &ul), 0, "blk: OUT sector 3 -> OK");
	is_int(ul, 1, "blk: OUT used length is the status byte");
	ok(pread(img_fd, back, 512, 3 * 512) == 512 && !memcmp(back, buf, 512),
	   "blk: the bytes are in the image file");
	memset(G(DATA + 0x100), 0, 512);
	is_int(blk_req(0, 3, 512, true, &ul), 0, "blk: IN sector 3 -> OK");
	ok(!memcmp(G(DATA + 0x100), buf, 512) && ul == 513, "blk: IN read back the data, used len 513");
	is_int(blk_req(0, IMG_SECTORS, 512, true, NULL), 1, "blk: IN beyond capacity -> IOERR");
	is_int(blk_req(0, IMG_SECTORS - 1, 1024, true, NULL), 1, "blk: IN straddling the end -> IOERR");
	is_int(blk_req(0, UINT64_MAX - 0, 512, true, NULL), 1, "blk: sector near 2^64 (overflow) -> IOERR");
	is_int(blk_req(0, (UINT64_MAX / 512) + 1, 512, true, NULL), 1, "blk: sector*512 overflow -> IOERR");
	is_int(blk_req(0, 0, 100, true, NULL), 1, "blk: non-sector length -> IOERR");
	is_int(blk_req(4, 0, 0, false, NULL), 0, "blk: FLUSH -> OK");
	memset(G(DATA + 0x100), 0, 32);
	is_int(blk_req(8, 0, 20, true, &ul), 0, "blk: GET_ID -> OK");
	ok(ul == 21 && !memcmp(G(DATA + 0x100), "msb-virtio-test", 15), "blk: GET_ID gives the image name");
	is_int(blk_req(99, 0, 0, false, NULL), 2, "blk: unknown type -> UNSUPP");
	/* a chain with no writable byte: returned unused, device still fine */
	w32(DATA, 0); w64(DATA + 8, 0);
	gq_desc(&bq, 0, DATA, 16, 0, 0);
	gq_add(&bq, 0);
	mw(bvd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	{
		uint32_t id = 9, l = 9;
		ok(gq_used(&bq, &id, &l) && l == 0 && !needs_reset(bvd),
		   "blk: request without a status byte returned with length 0, no reset");
	}
	/* indirect descriptors: a read via an indirect table */
	{
		uint64_t t = DATA + 0x1000;
		uint32_t id, l;
		w32(DATA, 0); w64(DATA + 8, 3);
		memset(G(DATA + 0x100), 0, 512);
		G(DATA + 0x80)[0] = 0xee;
		w64(t, DATA); w32(t + 8, 16); w16(t + 12, VIRTQ_DESC_F_NEXT); w16(t + 14, 1);
		w64(t + 16, DATA + 0x100); w32(t + 24, 512); w16(t + 28, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE); w16(t + 30, 2);
		w64(t + 32, DATA + 0x80); w32(t + 40, 1); w16(t + 44, VIRTQ_DESC_F_WRITE); w16(t + 46, 0);
		gq_desc(&bq, 5, t, 48, VIRTQ_DESC_F_INDIRECT, 0);
		gq_add(&bq, 5);
		mw(bvd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		ok(gq_used(&bq, &id, &l) && id == 5 && l == 513 && G(DATA + 0x80)[0] == 0 &&
		   !memcmp(G(DATA + 0x100), buf, 512), "blk: IN through an indirect table");
	}
	ok(fake_vm.irq_level == 1 && (mr(bvd, VIRTIO_MMIO_INTERRUPT_STATUS) & 1),
	   "blk: used-buffer interrupt raised (level high)");
	mw(bvd, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	ok(fake_vm.irq_level == 0 && mr(bvd, VIRTIO_MMIO_INTERRUPT_STATUS) == 0,
	   "blk: InterruptACK lowers the line");
	/* NO_INTERRUPT suppresses it */
	w16(bq.avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
	blk_req(4, 0, 0, false, NULL);
	ok(fake_vm.irq_level == 0, "blk: VIRTQ_AVAIL_F_NO_INTERRUPT suppresses the interrupt");
	w16(bq.avail, 0);

	/* read-only */
	blk_up(true, F_V1 | F_IND | (1ull << 5));
	mw(bvd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	ok(mr(bvd, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << 5), "blk ro: VIRTIO_BLK_F_RO offered");
	memset(G(DATA + 0x100), 0xab, 512);
	is_int(blk_req(1, 3, 512, false, NULL), 1, "blk ro: OUT refused with IOERR");
	ok(pread(img_fd, back, 512, 3 * 512) == 512 && !memcmp(back, buf, 512),
	   "blk ro: the image is unchanged");
	is_int(blk_req(0, 3, 512, true, NULL), 0, "blk ro: IN still works");
	ok(virtio_blk_create("/nonexistent/disk.img", false) == NULL &&
	   strstr(vmm_error(), "/nonexistent/disk.img"),
	   "blk: unreadable image -> NULL with a message");
}

/* ---- transport ---- */

static void test_transport(void)
{
	struct virtio_dev *vd;
	char line[128];
	uint8_t b[8];

	blk_up(false, F_V1);
	vd = bvd;
	is_int(mr(vd, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976, "mmio: MagicValue");
	is_int(mr(vd, VIRTIO_MMIO_VERSION), 2, "mmio: Version 2");
	is_int(mr(vd, VIRTIO_MMIO_DEVICE_ID), 2, "mmio: DeviceID");
	ok(mr(vd, VIRTIO_MMIO_VENDOR_ID) != 0, "mmio: VendorID");

	/* a legacy-style driver without VERSION_1 is refused */
	ok(!(negotiate(vd, 1ull << VIRTIO_F_INDIRECT_DESC) & VIRTIO_STATUS_FEATURES_OK),
	   "mmio: FEATURES_OK refused without VIRTIO_F_VERSION_1");
	driver_ok(vd);
	ok(!(mr(vd, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK), "mmio: DRIVER_OK refused without FEATURES_OK");
	/* a feature not offered */
	mw(vd, VIRTIO_MMIO_STATUS, 0);
	mw(vd, VIRTIO_MMIO_STATUS, 3);
	mw(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mw(vd, VIRTIO_MMIO_DRIVER_FEATURES, 1 | 2);
	mw(vd, VIRTIO_MMIO_STATUS, ST_OK);
	ok(!(mr(vd, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK), "mmio: FEATURES_OK refused with an unoffered feature");
	is_int(negotiate(vd, F_V1), ST_OK, "mmio: FEATURES_OK kept with VERSION_1");
	mw(vd, VIRTIO_MMIO_QUEUE_SEL, 0);
	is_int(mr(vd, VIRTIO_MMIO_QUEUE_NUM_MAX), 256, "mmio: QueueNumMax");
	mw(vd, VIRTIO_MMIO_QUEUE_SEL, 7);
	is_int(mr(vd, VIRTIO_MMIO_QUEUE_NUM_MAX), 0, "mmio: QueueNumMax of a missing queue is 0");
	mw(vd, VIRTIO_MMIO_QUEUE_READY, 1);
	mw(vd, VIRTIO_MMIO_QUEUE_SEL, 0xffffffff);
	mw(vd, VIRTIO_MMIO_QUEUE_NUM, 8);
	is_int(mr(vd, VIRTIO_MMIO_QUEUE_READY), 0, "mmio: queue registers of a missing queue ignored");
	gq_init(&bq, 0, 16, 0x1000);
	setup_queue(vd, &bq);
	is_int(mr(vd, VIRTIO_MMIO_QUEUE_READY), 1, "mmio: QueueReady after setup");

	/* notify before DRIVER_OK */
	{
		struct virtio_stats s0 = virtio_dev_stats(vd);
		w32(DATA, 4);
		gq_desc(&bq, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
		gq_desc(&bq, 1, DATA + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
		gq_add(&bq, 0);
		mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		struct virtio_stats s1 = virtio_dev_stats(vd);
		ok(r16(bq.used + 2) == 0 && s1.notify_ignored == s0.notify_ignored + 1,
		   "mmio: notify before DRIVER_OK ignored and counted");
		driver_ok(vd);
		mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 5);
		ok(virtio_dev_stats(vd).notify_ignored == s0.notify_ignored + 2, "mmio: notify of a missing queue ignored");
		mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		is_int(r16(bq.used + 2), 1, "mmio: the same request served after DRIVER_OK");
	}

	/* odd widths and offsets */
	{
		struct virtio_stats s0 = virtio_dev_stats(vd);
		memset(b, 0xff, 8);
		virtio_mmio_io_ops.read(vd, 0, b, 1);
		ok(b[0] == 0, "mmio: 1-byte register read gives zero");
		memset(b, 0xff, 8);
		virtio_mmio_io_ops.read(vd, 0, b, 2);
		ok(b[0] == 0 && b[1] == 0, "mmio: 2-byte register read gives zero");
		memset(b, 0xff, 8);
		virtio_mmio_io_ops.read(vd, 1, b, 4);
		ok(!memcmp(b, "\0\0\0\0", 4), "mmio: unaligned 4-byte read gives zero");
		memset(b, 0xff, 8);
		virtio_mmio_io_ops.read(vd, 0, b, 8);
		ok(!memcmp(b, "\0\0\0\0\0\0\0\0", 8), "mmio: 8-byte register read gives zero");
		b[0] = 0;
		virtio_mmio_io_ops.write(vd, VIRTIO_MMIO_STATUS, b, 1);
		virtio_mmio_io_ops.write(vd, VIRTIO_MMIO_STATUS + 2, b, 2);
		memset(b, 0, 8);
		virtio_mmio_io_ops.write(vd, VIRTIO_MMIO_STATUS, b, 8);
		virtio_mmio_io_ops.write(vd, VIRTIO_MMIO_STATUS + 1, b, 4);
		is_int(mr(vd, VIRTIO_MMIO_STATUS), ST_OK | VIRTIO_STATUS_DRIVER_OK,
		       "mmio: odd-width writes to Status ignored (no reset)");
		ok(virtio_dev_stats(vd).bad_access == s0.bad_access + 8, "mmio: odd accesses counted");
		memset(b, 0xff, 8);
		virtio_mmio_io_ops.read(vd, 0x1fc, b, 8);
		ok(!memcmp(b, "\0\0\0\0\0\0\0\0", 8), "mmio: 8-byte read crossing the window end gives zeros");
		virtio_mmio_io_ops.read(vd, 0xffffffffffffull, b, 4);
		virtio_mmio_io_ops.read(vd, 0x100, b, 3);
		virtio_mmio_io_ops.write(vd, 0x100, b, 8);
		virtio_mmio_io_ops.write(vd, 0xfffffffffffffffcull, b, 4);
		virtio_mmio_io_ops.read(vd, 0x100, b, 0);
		ok(!(mr(vd, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET), "mmio: ... and leave the device working");
		mw(vd, VIRTIO_MMIO_STATUS, ST_OK | VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET);
		ok(!needs_reset(vd), "mmio: the driver cannot set DEVICE_NEEDS_RESET");
		mw(vd, VIRTIO_MMIO_STATUS, 1);
		is_int(mr(vd, VIRTIO_MMIO_STATUS), ST_OK | VIRTIO_STATUS_DRIVER_OK, "mmio: status bits only accumulate until reset");
	}

	virtio_mmio_cmdline(vd, line, sizeof line);
	is_str(line, "virtio_mmio.device=512@0xd0000000:5", "mmio: kernel command line token");
	virtio_mmio_cmdline_fmt(line, sizeof line, 4096, 0xd0001000, 6);
	is_str(line, "virtio_mmio.device=4K@0xd0001000:6", "mmio: command line token with a K size");
	mw(vd, VIRTIO_MMIO_STATUS, 0);
	ok(mr(vd, VIRTIO_MMIO_STATUS) == 0 && mr(vd, VIRTIO_MMIO_QUEUE_READY) == 0, "mmio: reset clears status and queues");
}

/* ---- hostile drivers ---- */

/* Set up the blk device with a fresh queue of `size`, run `build` to make
 * one hostile chain at head 0 and notify; return whether NEEDS_RESET. */
static int hostile(uint16_t size, uint64_t feat, void (*build)(void))
{
	blk_up(false, feat);
	gq_init(&bq, 0, size, 0x1000);
	mw(bvd, VIRTIO_MMIO_STATUS, 0);
	negotiate(bvd, feat);
	setup_queue(bvd, &bq);
	driver_ok(bvd);
	fake_vm.irq_level = 0;
	build();
	mw(bvd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	return needs_reset(bvd) && (mr(bvd, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG) &&
	       fake_vm.irq_level == 1;
}

static void h_outside(void) { gq_desc(&bq, 0, MEM_SIZE - 8, 16, 0, 0); gq_add(&bq, 0); }
static void h_overflow(void) { gq_desc(&bq, 0, 0xfffffffffffff000ull, 0x2000, 0, 0); gq_add(&bq, 0); }
static void h_overflow2(void) { gq_desc(&bq, 0, DATA, 0xffffffffu, 0, 0); gq_add(&bq, 0); }
static void h_loop(void)
{
	gq_desc(&bq, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	gq_desc(&bq, 1, DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	gq_add(&bq, 0);
}
static void h_selfloop(void) { gq_desc(&bq, 0, DATA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0); gq_add(&bq, 0); }
static void h_next_oob(void) { gq_desc(&bq, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 8); gq_add(&bq, 0); }
static void h_head_oob(void) { gq_add(&bq, 8); }
static void h_avail_ahead(void) { gq_desc(&bq, 0, DATA, 16, 0, 0); w16(bq.avail + 2, 9); }
static void h_r_after_w(void)
{
	gq_desc(&bq, 0, DATA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	gq_desc(&bq, 1, DATA, 16, 0, 0);
	gq_add(&bq, 0);
}
static uint64_t itab = DATA + 0x2000;
static void ind_entry(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint64_t t = itab + 16 * (uint64_t)i;
	w64(t, addr); w32(t + 8, len); w16(t + 12, flags); w16(t + 14, next);
}
static void h_ind_nested(void)
{
	ind_entry(0, itab, 32, VIRTQ_DESC_F_INDIRECT, 0);
	gq_desc(&bq, 0, itab, 32, VIRTQ_DESC_F_INDIRECT, 0);
	gq_add(&bq, 0);
}
static void h_ind_len(void) { gq_desc(&bq, 0, itab, 24, VIRTQ_DESC_F_INDIRECT, 0); gq_add(&bq, 0); }
static void h_ind_zero(void) { gq_desc(&bq, 0, itab, 0, VIRTQ_DESC_F_INDIRECT, 0); gq_add(&bq, 0); }
static void h_ind_huge(void)
{
	for (unsigned i = 0; i < 300; i++)
		ind_entry(i, DATA, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(i + 1));
	gq_desc(&bq, 0, itab, 16 * 300, VIRTQ_DESC_F_INDIRECT, 0);
	gq_add(&bq, 0);
}
static void h_ind_loop(void)
{
	ind_entry(0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	ind_entry(1, DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	gq_desc(&bq, 0, itab, 32, VIRTQ_DESC_F_INDIRECT, 0);
	gq_add(&bq, 0);
}
static void h_ind_next_oob(void)
{
	ind_entry(0, DATA, 16, VIRTQ_DESC_F_NEXT, 2);
	gq_desc(&bq, 0, itab, 32, VIRTQ_DESC_F_INDIRECT, 0);
	gq_add(&bq, 0);
}
static void h_ind_outside(void) { gq_desc(&bq, 0, MEM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0); gq_add(&bq, 0); }
static void h_ind_with_next(void) { ind_entry(0, DATA, 16, 0, 0); gq_desc(&bq, 0, itab, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1); gq_add(&bq, 0); }
static void h_ind_entry_outside(void)
{
	ind_entry(0, MEM_SIZE, 1, 0, 0);
	gq_desc(&bq, 0, itab, 16, VIRTQ_DESC_F_INDIRECT, 0);
	gq_add(&bq, 0);
}

static void test_hostile(void)
{
	ok(hostile(8, F_V1, h_outside), "hostile: descriptor outside guest memory -> NEEDS_RESET + config interrupt");
	ok(hostile(8, F_V1, h_overflow), "hostile: addr+len overflows 2^64 -> NEEDS_RESET");
	ok(hostile(8, F_V1, h_overflow2), "hostile: 4 GiB length -> NEEDS_RESET");
	ok(hostile(8, F_V1, h_loop), "hostile: looping chain 0->1->0 -> NEEDS_RESET (no hang)");
	ok(hostile(8, F_V1, h_selfloop), "hostile: descriptor chained to itself -> NEEDS_RESET");
	ok(hostile(8, F_V1, h_next_oob), "hostile: next index >= queue size -> NEEDS_RESET");
	ok(hostile(8, F_V1, h_head_oob), "hostile: avail ring head >= queue size -> NEEDS_RESET");
	ok(hostile(8, F_V1, h_avail_ahead), "hostile: avail idx more than queue size ahead -> NEEDS_RESET");
	ok(hostile(8, F_V1, h_r_after_w), "hostile: readable after writable -> NEEDS_RESET");
	ok(hostile(8, F_V1, h_ind_len), "hostile: indirect without the feature -> NEEDS_RESET");
	ok(hostile(8, F_V1 | F_IND, h_ind_nested), "hostile: nested indirect table -> NEEDS_RESET");
	ok(hostile(8, F_V1 | F_IND, h_ind_len), "hostile: indirect length not a multiple of 16 -> NEEDS_RESET");
	ok(hostile(8, F_V1 | F_IND, h_ind_zero), "hostile: empty indirect table -> NEEDS_RESET");
	ok(hostile(8, F_V1 | F_IND, h_ind_huge), "hostile: oversized indirect table (300 entries) -> NEEDS_RESET");
	ok(hostile(8, F_V1 | F_IND, h_ind_loop), "hostile: loop inside an indirect table -> NEEDS_RESET");
	ok(hostile(8, F_V1 | F_IND, h_ind_next_oob), "hostile: indirect next out of the table -> NEEDS_RESET");
	ok(hostile(8, F_V1 | F_IND, h_ind_outside), "hostile: indirect table outside memory -> NEEDS_RESET");
	ok(hostile(8, F_V1 | F_IND, h_ind_with_next), "hostile: INDIRECT together with NEXT -> NEEDS_RESET");
	ok(hostile(8, F_V1 | F_IND, h_ind_entry_outside), "hostile: indirect entry outside memory -> NEEDS_RESET");
	ok(virtio_dev_broken_reason(bvd) != NULL, "hostile: a reason is recorded (%s)",
	   virtio_dev_broken_reason(bvd) ? virtio_dev_broken_reason(bvd) : "none");

	/* after NEEDS_RESET, notifies are ignored; a reset revives the device */
	{
		uint64_t n0 = virtio_dev_stats(bvd).notify_ignored;
		mw(bvd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		ok(virtio_dev_stats(bvd).notify_ignored == n0 + 1, "hostile: notify on a broken device ignored");
		mw(bvd, VIRTIO_MMIO_STATUS, 0);
		ok(!needs_reset(bvd) && fake_vm.irq_level == 0, "hostile: reset clears NEEDS_RESET and the interrupt");
		gq_init(&bq, 0, 8, 0x1000);
		negotiate(bvd, F_V1);
		setup_queue(bvd, &bq);
		driver_ok(bvd);
		is_int(blk_req(4, 0, 0, false, NULL), 0, "hostile: the device works again after reset");
	}

	/* ring placement */
	struct { const char *name; uint64_t desc, avail, used; uint16_t size; } rings[] = {
		{ "used ring outside memory", 0x1000, 0x2000, MEM_SIZE - 8, 8 },
		{ "used ring straddling the end", 0x1000, 0x2000, MEM_SIZE - 64, 16 },
		{ "avail ring outside memory", 0x1000, 0xfffffffffffffff0ull, 0x3000, 8 },
		{ "descriptor table outside memory", MEM_SIZE, 0x2000, 0x3000, 8 },
		{ "misaligned descriptor table", 0x1008, 0x2000, 0x3000, 8 },
		{ "misaligned used ring", 0x1000, 0x2000, 0x3002, 8 },
		{ "queue size not a power of two", 0x1000, 0x2000, 0x3000, 6 },
		{ "queue size 0", 0x1000, 0x2000, 0x3000, 0 },
		{ "queue size above QueueNumMax", 0x1000, 0x2000, 0x3000, 512 },
	};
	for (size_t i = 0; i < sizeof rings / sizeof rings[0]; i++) {
		mw(bvd, VIRTIO_MMIO_STATUS, 0);
		negotiate(bvd, F_V1);
		bq.qi = 0; bq.size = rings[i].size;
		bq.desc = rings[i].desc; bq.avail = rings[i].avail; bq.used = rings[i].used;
		setup_queue(bvd, &bq);
		ok(mr(bvd, VIRTIO_MMIO_QUEUE_READY) == 0 && needs_reset(bvd), "hostile: %s -> not ready, NEEDS_RESET", rings[i].name);
		driver_ok(bvd);
		mw(bvd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	}
	mw(bvd, VIRTIO_MMIO_STATUS, 0);
}

/* ---- the virtqueue directly ---- */

static void test_virtq(void)
{
	struct virtq q = {0};
	struct virtq_chain *c = malloc(sizeof *c);
	struct gq g;
	uint32_t id, len;

	gq_init(&g, 0, 8, 0x1000);
	q.gm = &gmem; q.size = 8; q.desc_gpa = g.desc; q.avail_gpa = g.avail; q.used_gpa = g.used;
	is_int(virtq_enable(&q), 0, "virtq: enable");
	is_int(virtq_pop(&q, c), 0, "virtq: empty queue pops nothing");
	gq_desc(&g, 0, DATA, 10, VIRTQ_DESC_F_NEXT, 3);
	gq_desc(&g, 3, DATA + 100, 20, VIRTQ_DESC_F_NEXT, 6);
	gq_desc(&g, 6, DATA + 200, 30, VIRTQ_DESC_F_WRITE, 0);
	gq_add(&g, 0);
	is_int(virtq_pop(&q, c), 1, "virtq: pop a chain");
	ok(c->head == 0 && c->nr == 2 && c->nw == 1 && c->rlen == 30 && c->wlen == 30 &&
	   c->r[1].ptr == G(DATA + 100) && c->w[0].len == 30, "virtq: segments gathered");
	memcpy(G(DATA + 8), "ab", 2); memcpy(G(DATA + 100), "cd", 2);
	char tmp[4] = {0};
	ok(virtq_chain_read(c, 8, tmp, 4) == 4 && !memcmp(tmp, "ab", 2) && !memcmp(tmp + 2, "cd", 2),
	   "virtq: chain_read spans segments");
	is_int(virtq_pop(&q, c), 0, "virtq: nothing more");
	/* the guest scribbles the used idx: the device keeps its own */
	w16(g.used + 2, 5000);
	virtq_push(&q, 0, 7);
	ok(r16(g.used + 2) == 1 && gq_used(&g, &id, &len) && id == 0 && len == 7,
	   "virtq: used idx maintained by the device, not read back");
	virtq_push(&q, 200, 1);
	is_int(r16(g.used + 2), 1, "virtq: push of an impossible head ignored");
	free(c);
}

/* ---- virtio-console ---- */

static void test_console(void)
{
	int sv[2];
	struct virtio_console *con;
	struct virtio_dev *vd;
	struct gq rx, tx;
	uint32_t id, len;
	char buf[256];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bail_out("socketpair");
	con = virtio_console_create_fd(sv[0], 0);
	vd = virtio_mmio_create(&fake_vm, &gmem, 0xd0001000, 6, &virtio_console_ops, con);
	virtio_console_attach(con, vd);
	ok(con && vd && mr(vd, VIRTIO_MMIO_DEVICE_ID) == 3, "console: device id 3");
	gq_init(&rx, 0, 16, 0x1000);
	gq_init(&tx, 1, 16, 0x5000);
	is_int(negotiate(vd, F_V1 | F_IND), ST_OK, "console: features negotiated");
	setup_queue(vd, &rx);
	setup_queue(vd, &tx);
	driver_ok(vd);

	/* guest -> host */
	memcpy(G(DATA), "hello ", 6);
	memcpy(G(DATA + 64), "host", 4);
	gq_desc(&tx, 0, DATA, 6, VIRTQ_DESC_F_NEXT, 1);
	gq_desc(&tx, 1, DATA + 64, 4, 0, 0);
	gq_add(&tx, 0);
	mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	memset(buf, 0, sizeof buf);
	ok(read(sv[1], buf, sizeof buf) == 10 && !strcmp(buf, "hello host"), "console: transmitq bytes reach the socket");
	ok(gq_used(&tx, &id, &len) && id == 0, "console: transmit buffer returned");

	/* host -> guest: echo it back */
	if (write(sv[1], buf, 10) != 10)
		bail_out("write");
	gq_desc(&rx, 0, DATA + 0x1000, 64, VIRTQ_DESC_F_WRITE, 0);
	gq_add(&rx, 0);
	mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	for (int i = 0; i < 10 && r16(rx.used + 2) == 0; i++)
		virtio_console_poll(con, 100);
	ok(gq_used(&rx, &id, &len) && len == 10 && !memcmp(G(DATA + 0x1000), "hello host", 10),
	   "console: socket bytes fill the posted receive buffer (echo)");

	/* host floods with no receive buffer posted: nothing moves, nothing grows */
	memset(buf, 'x', sizeof buf);
	for (int i = 0; i < 4; i++)
		if (write(sv[1], buf, sizeof buf) != (ssize_t)sizeof buf)
			bail_out("write");
	for (int i = 0; i < 3; i++)
		virtio_console_poll(con, 10);
	is_int(r16(rx.used + 2), 1, "console: host data waits in the socket without receive buffers");
	gq_desc(&rx, 1, DATA + 0x1000, 100, VIRTQ_DESC_F_WRITE, 0);
	gq_add(&rx, 1);
	mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	virtio_console_poll(con, 100);
	ok(gq_used(&rx, &id, &len) && id == 1 && len == 100, "console: one posted buffer takes exactly its size");

	/* guest floods while the host does not read: backpressure */
	{
		int sz = 4096;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
		setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
		memset(G(DATA + 0x4000), 'y', 0x10000);
		uint16_t before = r16(tx.used + 2);
		for (unsigned i = 0; i < 16; i++) {
			gq_desc(&tx, i, DATA + 0x4000, 0x10000, 0, 0);
			gq_add(&tx, (uint16_t)i);
		}
		mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		virtio_console_poll(con, 10);
		uint16_t after = r16(tx.used + 2);
		ok((uint16_t)(after - before) < 16, "console: a full socket stops transmit (%u of 16 returned)",
		   (unsigned)(uint16_t)(after - before));
		/* drain the host side: transmission resumes */
		size_t got = 0;
		for (int i = 0; i < 2000 && r16(tx.used + 2) != (uint16_t)(before + 16); i++) {
			ssize_t n;
			while ((n = recv(sv[1], G(0x80000), 0x10000, MSG_DONTWAIT)) > 0)
				got += (size_t)n;
			virtio_console_poll(con, 1);
		}
		while (1) {
			ssize_t n = recv(sv[1], G(0x80000), 0x10000, MSG_DONTWAIT);
			if (n <= 0) break;
			got += (size_t)n;
		}
		ok(r16(tx.used + 2) == (uint16_t)(before + 16) && got == 16 * 0x10000,
		   "console: draining the socket completes all 16 buffers (%zu bytes)", got);
	}

	/* host goes away: transmits are discarded, the device stays sane */
	close(sv[1]);
	virtio_console_poll(con, 10);
	gq_desc(&tx, 0, DATA, 6, 0, 0);
	uint16_t u0 = r16(tx.used + 2);
	gq_add(&tx, 0);
	mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	virtio_console_poll(con, 10);
	ok(r16(tx.used + 2) == (uint16_t)(u0 + 1) && !needs_reset(vd), "console: after the host hangs up transmits are discarded");

	/* a broken console: bad tx descriptor */
	gq_desc(&tx, 0, 0xffffffffffffff00ull, 0x1000, 0, 0);
	gq_add(&tx, 0);
	mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	ok(needs_reset(vd), "console: a bad transmit descriptor -> NEEDS_RESET");
	virtio_console_destroy(con);
	virtio_mmio_destroy(vd);

	/* a listening socket, with the device thread */
	{
		char path[108];
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int cfd;

		snprintf(path, sizeof path, "/tmp/msb-virtio-cons-%d.sock", (int)getpid());
		con = virtio_console_create(path);
		vd = virtio_mmio_create(&fake_vm, &gmem, 0xd0001000, 6, &virtio_console_ops, con);
		virtio_console_attach(con, vd);
		ok(con && virtio_console_start(con) == 0, "console: listening on a Unix socket, thread started");
		gq_init(&rx, 0, 16, 0x1000);
		gq_init(&tx, 1, 16, 0x5000);
		virtio_dev_lock(vd); virtio_dev_unlock(vd);
		negotiate(vd, F_V1);
		setup_queue(vd, &rx);
		setup_queue(vd, &tx);
		driver_ok(vd);
		gq_desc(&rx, 0, DATA + 0x1000, 64, VIRTQ_DESC_F_WRITE, 0);
		gq_add(&rx, 0);
		mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		/* guest writes before anyone connected: held, not lost */
		memcpy(G(DATA), "early", 5);
		gq_desc(&tx, 0, DATA, 5, 0, 0);
		gq_add(&tx, 0);
		mw(vd, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		strcpy(sa.sun_path, path);
		cfd = socket(AF_UNIX, SOCK_STREAM, 0);
		ok(connect(cfd, (struct sockaddr *)&sa, sizeof sa) == 0, "console: a client connects");
		struct pollfd p = {.fd = cfd, .events = POLLIN};
		memset(buf, 0, sizeof buf);
		ok(poll(&p, 1, 3000) == 1 && read(cfd, buf, sizeof buf) == 5 && !strcmp(buf, "early"),
		   "console: bytes sent before the client connected are delivered");
		if (write(cfd, "ping", 4) != 4)
			bail_out("write");
		for (int i = 0; i < 300; i++) {
			virtio_dev_lock(vd);
			uint16_t u = r16(rx.used + 2);
			virtio_dev_unlock(vd);
			if (u)
				break;
			usleep(10000);
		}
		ok(gq_used(&rx, &id, &len) && len == 4 && !memcmp(G(DATA + 0x1000), "ping", 4),
		   "console: the thread delivers client bytes to the guest");
		close(cfd);
		virtio_console_destroy(con);
		virtio_mmio_destroy(vd);
		unlink(path);
	}
}

/* ---- virtio-console, MULTIPORT (--agent-socket) ---- */

#define F_MP (1ull << 1)
#define MP_PORTS 2
#define CTL_RXBUF 0x30000u              /* 16 control receive buffers, 16 bytes apart */
#define CTL_TXBUF 0x30800u
#define P_RXBUF(i) (0x31000u + (i) * 0x1000u)
#define P_TXBUF(i) (0x38000u + (i) * 0x1000u)
#define EV_READY 0
#define EV_ADD 1
#define EV_PREADY 3
#define EV_OPEN 6

static struct virtio_console *mcon;
static struct virtio_dev *mvd;
static struct gq mq[2 * (MP_PORTS + 1) + 2];
static char mpath[108];
static uint16_t ctl_slot;

static void mp_pump(int n)
{
	for (int i = 0; i < n; i++)
		virtio_console_poll(mcon, 5);
}

static void ctl_post(unsigned i)
{
	gq_desc(&mq[2], i, CTL_RXBUF + 16 * i, 8, VIRTQ_DESC_F_WRITE, 0);
	gq_add(&mq[2], (uint16_t)i);
}

/* The next control message from the device: 1, or 0 if none came. */
static int ctl_recv(uint32_t *id, uint16_t *ev, uint16_t *val)
{
	uint32_t h, l;

	if (!gq_used(&mq[2], &h, &l))
		return 0;
	*id = r32(CTL_RXBUF + 16 * h);
	*ev = r16(CTL_RXBUF + 16 * h + 4);
	*val = r16(CTL_RXBUF + 16 * h + 6);
	ctl_post(h);    /* hand the buffer back, as Linux does */
	return l == 8;
}

/* A control message from the driver, with `len` bytes. */
static void ctl_send_len(uint32_t id, uint16_t ev, uint16_t val, uint32_t len)
{
	uint64_t a = CTL_TXBUF + 16 * (ctl_slot % 16);
	uint32_t h, l;

	w32(a, id);
	w16(a + 4, ev);
	w16(a + 6, val);
	gq_desc(&mq[3], ctl_slot % 16, a, len, 0, 0);
	gq_add(&mq[3], ctl_slot % 16);
	ctl_slot++;
	mw(mvd, VIRTIO_MMIO_QUEUE_NOTIFY, 3);
	while (gq_used(&mq[3], &h, &l))
		;
}

static void ctl_send(uint32_t id, uint16_t ev, uint16_t val)
{
	ctl_send_len(id, ev, val, 8);
}

/* Expect exactly this message next. */
static int ctl_expect(uint32_t id, uint16_t ev, uint16_t val)
{
	uint32_t gi = 0;
	uint16_t ge = 0, gv = 0;

	mp_pump(2);
	if (!ctl_recv(&gi, &ge, &gv))
		return 0;
	return gi == id && ge == ev && gv == val;
}

static int ctl_none(void)
{
	uint32_t gi;
	uint16_t ge, gv;

	mp_pump(2);
	return !ctl_recv(&gi, &ge, &gv);
}

/* Reset and bring the device up as Linux does, up to PORT_READY for every
 * port; `ctl_bufs` control receive buffers posted. */
static void mp_up(unsigned ctl_bufs)
{
	negotiate(mvd, F_V1 | F_IND | F_MP);
	for (unsigned q = 0; q < sizeof mq / sizeof mq[0]; q++) {
		gq_init(&mq[q], q, 16, 0x1000 + 0x3000 * (uint64_t)q);
		setup_queue(mvd, &mq[q]);
	}
	driver_ok(mvd);
	ctl_slot = 0;
	for (unsigned i = 0; i < ctl_bufs; i++)
		ctl_post(i);
	mw(mvd, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
}

static void mp_ready_ports(void)
{
	uint32_t id;
	uint16_t ev, val;

	ctl_send(BAD_ID_TEST, EV_READY, 1);
	while (ctl_recv(&id, &ev, &val))
		;
	for (uint32_t i = 1; i <= MP_PORTS; i++)
		ctl_send(i, EV_PREADY, 1);
}

static int mp_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, mpath);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		bail_out("connect %s: %s", mpath, strerror(errno));
	return fd;
}

/* Post a receive buffer on port i's receiveq. */
static void port_post_rx(unsigned i)
{
	struct gq *q = &mq[2 * i + 2];

	gq_desc(q, 0, P_RXBUF(i), 64, VIRTQ_DESC_F_WRITE, 0);
	gq_add(q, 0);
	mw(mvd, VIRTIO_MMIO_QUEUE_NOTIFY, q->qi);
}

/* The guest receives on port i: the bytes, or -1 when nothing came. */
static int port_rx(unsigned i, char *buf, size_t n)
{
	struct gq *q = &mq[2 * i + 2];
	uint32_t h, l;

	for (int t = 0; t < 20; t++) {
		if (gq_used(q, &h, &l)) {
			memcpy(buf, G(P_RXBUF(i)), l < n ? l : n);
			return (int)l;
		}
		mp_pump(1);
	}
	return -1;
}

/* The guest transmits on port i; 1 if the buffer came back used. */
static int port_tx(unsigned i, const char *s)
{
	struct gq *q = &mq[2 * i + 3];
	uint32_t h, l;

	memcpy(G(P_TXBUF(i)), s, strlen(s));
	gq_desc(q, 0, P_TXBUF(i), (uint32_t)strlen(s), 0, 0);
	gq_add(q, 0);
	mw(mvd, VIRTIO_MMIO_QUEUE_NOTIFY, q->qi);
	mp_pump(1);
	return gq_used(q, &h, &l);
}

/* What a client reads within ms: bytes, 0 at EOF, -1 if nothing. */
static int client_read(int fd, char *buf, size_t n, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (int t = 0; t < ms / 5; t++) {
		mp_pump(1);
		if (poll(&p, 1, 0) == 1)
			return (int)read(fd, buf, n);
	}
	return -1;
}

static void test_multiport(void)
{
	char buf[64];
	uint8_t cfg[4] = {0};
	int c1, c2, c3, c4;

	snprintf(mpath, sizeof mpath, "/tmp/msb-virtio-mp-%d.sock", (int)getpid());
	ok(virtio_console_create_ports(mpath, 0) == NULL &&
	   virtio_console_create_ports(mpath, VIRTIO_CONSOLE_MAX_PORTS + 1) == NULL,
	   "multiport: 0 or more than %d ports refused", VIRTIO_CONSOLE_MAX_PORTS);
	mcon = virtio_console_create_ports(mpath, MP_PORTS);
	mvd = mcon ? virtio_mmio_create(&fake_vm, &gmem, 0xd0002000, 7, virtio_console_dev_ops(mcon), mcon) : NULL;
	if (!mcon || !mvd)
		bail_out("multiport console: %s", vmm_error());
	virtio_console_attach(mcon, mvd);
	mw(mvd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	ok(mr(mvd, VIRTIO_MMIO_DEVICE_FEATURES) & F_MP, "multiport: VIRTIO_CONSOLE_F_MULTIPORT offered");
	virtio_mmio_io_ops.read(mvd, 0x104, cfg, 4);
	is_int(cfg[0], MP_PORTS + 1, "multiport: max_nr_ports counts port 0 too");
	mw(mvd, VIRTIO_MMIO_QUEUE_SEL, 2 * (MP_PORTS + 1) + 1);
	ok(mr(mvd, VIRTIO_MMIO_QUEUE_NUM_MAX) > 0, "multiport: the last port's transmitq exists");
	mw(mvd, VIRTIO_MMIO_QUEUE_SEL, 2 * (MP_PORTS + 1) + 2);
	is_int(mr(mvd, VIRTIO_MMIO_QUEUE_NUM_MAX), 0, "multiport: no queue beyond it");

	/* the driver's start: DEVICE_READY, then one PORT_ADD per port */
	mp_up(16);
	ok(ctl_none(), "multiport: nothing said before DEVICE_READY");
	ctl_send(BAD_ID_TEST, EV_READY, 1);
	ok(ctl_expect(1, EV_ADD, 1) && ctl_expect(2, EV_ADD, 1) && ctl_none(),
	   "multiport: DEVICE_READY -> PORT_ADD for ports 1 and 2, port 0 is not added");
	ctl_send(1, EV_PREADY, 1);
	ctl_send(2, EV_PREADY, 1);
	ok(!needs_reset(mvd), "multiport: PORT_READY accepted");

	/* a client before the guest opened any port waits in the backlog */
	c1 = mp_connect();
	if (write(c1, "hello", 5) != 5)
		bail_out("write");
	ok(ctl_none(), "multiport: a client with no open port is not bound (no PORT_OPEN)");
	ctl_send(1, EV_OPEN, 1);
	ok(ctl_expect(1, EV_OPEN, 1), "multiport: the guest opens port 1 -> the client gets it (PORT_OPEN 1)");
	port_post_rx(1);
	ok(port_rx(1, buf, sizeof buf) == 5 && !memcmp(buf, "hello", 5),
	   "multiport: the client's bytes reach port 1's receiveq");
	ok(port_tx(1, "world") && client_read(c1, buf, sizeof buf, 200) == 5 && !memcmp(buf, "world", 5),
	   "multiport: port 1's transmitq reaches the client");

	/* a second client: port 2 once the guest opens it */
	c2 = mp_connect();
	ok(ctl_none(), "multiport: second client waits while port 2 is closed");
	ctl_send(2, EV_OPEN, 1);
	ok(ctl_expect(2, EV_OPEN, 1), "multiport: second client bound to port 2");
	if (write(c2, "two", 3) != 3)
		bail_out("write");
	port_post_rx(2);
	ok(port_rx(2, buf, sizeof buf) == 3 && !memcmp(buf, "two", 3), "multiport: port 2 carries the second client");

	/* the first client goes: PORT_OPEN 0, and port 1 is not given to
	 * anyone until the guest closed and reopened it */
	close(c1);
	ok(ctl_expect(1, EV_OPEN, 0), "multiport: client 1 hangs up -> PORT_OPEN 0 for port 1");
	c3 = mp_connect();
	ok(ctl_none(), "multiport: a new client does not get port 1 before the guest reopened it");
	ok(port_tx(1, "late"), "multiport: what the guest writes to an unbound port is discarded (buffer returned)");
	ctl_send(1, EV_OPEN, 0);
	ok(ctl_none(), "multiport: the guest closes port 1: nothing to say");
	ctl_send(1, EV_OPEN, 1);
	ok(ctl_expect(1, EV_OPEN, 1), "multiport: after the guest reopened port 1 the waiting client gets it");
	ok(client_read(c3, buf, sizeof buf, 50) == -1, "multiport: the new client sees none of the old bytes");

	/* a client that moved no bytes leaves port 1 free at once */
	close(c3);
	ok(ctl_expect(1, EV_OPEN, 0), "multiport: a silent client hangs up -> PORT_OPEN 0");
	c4 = mp_connect();
	ok(ctl_expect(1, EV_OPEN, 1), "multiport: ... and port 1 is free again without a reopen");

	/* the guest closes a port under its client: the client sees EOF */
	ctl_send(2, EV_OPEN, 0);
	ok(client_read(c2, buf, sizeof buf, 200) == 0, "multiport: the guest closes port 2 -> its client gets EOF");
	ok(ctl_expect(2, EV_OPEN, 0), "multiport: ... and the guest is told PORT_OPEN 0");

	/* port 0 exists only as queues: transmits are discarded */
	{
		uint32_t h, l;

		memcpy(G(P_TXBUF(0)), "zero", 4);
		gq_desc(&mq[1], 0, P_TXBUF(0), 4, 0, 0);
		gq_add(&mq[1], 0);
		mw(mvd, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		ok(gq_used(&mq[1], &h, &l) && !needs_reset(mvd), "multiport: port 0's transmitq is drained, no reset");
	}

	/* control messages are state, not a queue: with no receive buffers
	 * nothing is lost and nothing grows */
	mp_up(0);
	for (int i = 0; i < 200; i++)
		ctl_send(BAD_ID_TEST, EV_READY, 1);
	ok(!needs_reset(mvd) && r16(mq[2].used + 2) == 0, "multiport: 200 DEVICE_READY with no control buffer: nothing sent");
	gq_desc(&mq[2], 0, CTL_RXBUF, 8, VIRTQ_DESC_F_WRITE, 0);
	gq_add(&mq[2], 0);
	mw(mvd, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	mp_pump(2);
	ok(r16(mq[2].used + 2) == 1 && r32(CTL_RXBUF) == 1 && r16(CTL_RXBUF + 4) == EV_ADD,
	   "multiport: one buffer posted -> exactly one PORT_ADD (port 1)");
	gq_desc(&mq[2], 1, CTL_RXBUF + 16, 8, VIRTQ_DESC_F_WRITE, 0);
	gq_add(&mq[2], 1);
	gq_desc(&mq[2], 2, CTL_RXBUF + 32, 8, VIRTQ_DESC_F_WRITE, 0);
	gq_add(&mq[2], 2);
	mw(mvd, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	mp_pump(2);
	ok(r16(mq[2].used + 2) == 2 && r32(CTL_RXBUF + 16) == 2 && r16(CTL_RXBUF + 20) == EV_ADD,
	   "multiport: more buffers -> the PORT_ADD for port 2, and nothing more");

	/* a reset ends the bound connection */
	ok(client_read(c4, buf, sizeof buf, 200) == 0, "multiport: a device reset hangs up the bound client");
	close(c2);
	close(c4);

	/* hostile control messages: each one -> NEEDS_RESET, never a crash */
	struct { const char *name; uint32_t id; uint16_t ev, val; uint32_t len; } bad[] = {
		{ "control message of 7 bytes", 1, EV_OPEN, 1, 7 },
		{ "empty control message", 1, EV_OPEN, 1, 0 },
		{ "PORT_OPEN for port 0", 0, EV_OPEN, 1, 8 },
		{ "PORT_OPEN for port 3 (beyond the ports)", MP_PORTS + 1, EV_OPEN, 1, 8 },
		{ "PORT_OPEN for port 0xffffffff", 0xffffffffu, EV_OPEN, 1, 8 },
		{ "PORT_READY for port 0x80000001", 0x80000001u, EV_PREADY, 1, 8 },
		{ "PORT_OPEN with value 2", 1, EV_OPEN, 2, 8 },
		{ "DEVICE_READY with value 0xffff", BAD_ID_TEST, EV_READY, 0xffff, 8 },
		{ "RESIZE from the driver", 1, 5, 0, 8 },
		{ "PORT_ADD from the driver", 1, EV_ADD, 1, 8 },
		{ "unknown event 0xffff", 1, 0xffff, 0, 8 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		mp_up(16);
		mp_ready_ports();
		ctl_send_len(bad[i].id, bad[i].ev, bad[i].val, bad[i].len);
		ok(needs_reset(mvd), "multiport hostile: %s -> NEEDS_RESET", bad[i].name);
	}
	mp_up(0);   /* no control receive buffer: PORT_ADD cannot go out */
	ctl_send(BAD_ID_TEST, EV_READY, 1);
	ctl_send(1, EV_OPEN, 1);
	ok(needs_reset(mvd), "multiport hostile: PORT_OPEN before the device added the port -> NEEDS_RESET");
	/* Linux creates the port's node before it sends PORT_READY: an open
	 * in between is a driver's right, not an attack */
	mp_up(16);
	ctl_send(BAD_ID_TEST, EV_READY, 1);
	ctl_send(1, EV_OPEN, 1);
	ok(!needs_reset(mvd), "multiport: PORT_OPEN after PORT_ADD but before PORT_READY is accepted");
	ctl_send(1, EV_PREADY, 1);
	ok(!needs_reset(mvd), "multiport: ... and PORT_READY after it too");
	/* a control receive buffer too small for a message */
	mp_up(0);
	gq_desc(&mq[2], 0, CTL_RXBUF, 4, VIRTQ_DESC_F_WRITE, 0);
	gq_add(&mq[2], 0);
	mw(mvd, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	ctl_send(BAD_ID_TEST, EV_READY, 1);
	ok(needs_reset(mvd), "multiport hostile: a 4-byte control receive buffer -> NEEDS_RESET");
	/* a control message from a chain outside memory */
	mp_up(16);
	gq_desc(&mq[3], 0, MEM_SIZE - 4, 8, 0, 0);
	gq_add(&mq[3], 0);
	mw(mvd, VIRTIO_MMIO_QUEUE_NOTIFY, 3);
	ok(needs_reset(mvd), "multiport hostile: a control message outside guest memory -> NEEDS_RESET");
	/* a flood of opens and closes changes nothing outside the port */
	mp_up(16);
	mp_ready_ports();
	for (int i = 0; i < 1000; i++)
		ctl_send(1, EV_OPEN, (uint16_t)(i & 1));
	ok(!needs_reset(mvd), "multiport: 1000 opens and closes of a port, device still fine");
	c1 = mp_connect();
	ctl_send(1, EV_OPEN, 1);
	ok(ctl_expect(1, EV_OPEN, 1), "multiport: ... and it still binds a client");
	close(c1);

	virtio_console_destroy(mcon);
	virtio_mmio_destroy(mvd);
	unlink(mpath);
}

int main(void)
{
	gmem.size = MEM_SIZE;
	gmem.memfd = -1;
	gmem.host = aligned_alloc(4096, MEM_SIZE);
	if (!gmem.host)
		bail_out("out of memory");
	memset(gmem.host, 0, MEM_SIZE);

	test_virtq();
	test_blk();
	test_transport();
	test_hostile();
	test_console();
	test_multiport();

	virtio_mmio_destroy(bvd);
	virtio_blk_destroy(blk);
	if (img_fd >= 0) {
		close(img_fd);
		unlink(img_path);
	}
	free(gmem.host);
	return done_testing();
}
