/*
 * virtio.h - split virtqueues (virtio.c), the virtio-mmio transport
 * (virtio_mmio.c) and the device models (virtio_console.c, virtio_blk.c).
 *
 * Threat model: everything in guest memory is hostile and may change under
 * us at any time (another vCPU writes it). The virtqueue code reads each
 * guest-controlled value (avail idx, ring entry, descriptor) exactly once
 * into a local copy, checks the copy, and only then uses it. The used index
 * lives in the device (struct virtq) and is never read back from the guest.
 * A queue the guest breaks is marked broken; the transport then sets
 * DEVICE_NEEDS_RESET and raises a configuration-change interrupt.
 *
 * Locking: each virtio_dev has one mutex. The transport holds it for every
 * MMIO access (so dev ops notify/reset/config_* run with it held); device
 * threads (the console's socket loop) take it with virtio_dev_lock() before
 * touching queues. Nothing blocks while holding it (sockets are
 * non-blocking; virtio-blk does pread/pwrite on a regular file).
 */
#ifndef MSB_VIRTIO_H
#define MSB_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm.h"

/* ---- constants from the virtio 1.x spec ------------------------------------ */

#define VIRTIO_F_INDIRECT_DESC   28   /* VIRTIO_RING_F_INDIRECT_DESC */
#define VIRTIO_F_EVENT_IDX       29   /* not offered */
#define VIRTIO_F_VERSION_1       32

#define VIRTIO_STATUS_ACKNOWLEDGE  0x01
#define VIRTIO_STATUS_DRIVER       0x02
#define VIRTIO_STATUS_DRIVER_OK    0x04
#define VIRTIO_STATUS_FEATURES_OK  0x08
#define VIRTIO_STATUS_NEEDS_RESET  0x40
#define VIRTIO_STATUS_FAILED       0x80

#define VIRTIO_INT_USED_RING  0x1
#define VIRTIO_INT_CONFIG     0x2

#define VIRTQ_DESC_F_NEXT      1
#define VIRTQ_DESC_F_WRITE     2
#define VIRTQ_DESC_F_INDIRECT  4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* Most client ports of a MULTIPORT virtio-console (port ids 1..this). */
#define VIRTIO_CONSOLE_MAX_PORTS 16
/* Most queues a device may have: a MULTIPORT console's, port 0 included. */
#define VIRTIO_MAX_QUEUES (2 * (VIRTIO_CONSOLE_MAX_PORTS + 1) + 2)

/* Largest queue any device here offers (and the most a queue may hold). */
#define VIRTQ_MAX_SIZE  256
/* Most descriptors one chain may use, direct and indirect together; an
 * indirect table may hold at most this many entries. */
#define VIRTQ_MAX_SEGS  256

/* virtio-mmio register offsets (version 2) */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC   0x74726976u   /* "virt" */
#define VIRTIO_MMIO_VENDOR  0x0062736du   /* "msb" */

/* ---- split virtqueue (virtio.c) ---------------------------------------------- */

struct virtq {
	/* set by the transport before virtq_enable() */
	const struct guest_mem *gm;
	uint16_t size;            /* QueueNum, a power of two <= VIRTQ_MAX_SIZE */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool indirect;            /* VIRTIO_F_INDIRECT_DESC negotiated */

	/* device state, valid while ready */
	bool ready;
	bool broken;              /* the guest broke it: NEEDS_RESET */
	uint16_t last_avail;      /* next avail ring slot to consume */
	uint16_t used_idx;        /* ours; never read back from the guest */
	const char *why;          /* what broke it (static string) */

	/* host pointers to the rings, checked once at enable time */
	uint8_t *desc, *avail, *used;

	/* called (with the device lock held) when the guest breaks it */
	void (*on_broken)(void *ctx, struct virtq *q);
	void *ctx;
};

/* One buffer of a chain: a host pointer into guest memory (the bytes behind
 * it remain guest-writable: copy before parsing) and its length. */
struct virtq_seg {
	uint8_t *ptr;
	uint32_t len;
};

/* A popped descriptor chain: readable segments first (r[0..nr)), then
 * writable ones (w[0..nw)), with their totals. */
struct virtq_chain {
	uint16_t head;
	unsigned nr, nw;
	uint64_t rlen, wlen;
	struct virtq_seg r[VIRTQ_MAX_SEGS];
	struct virtq_seg w[VIRTQ_MAX_SEGS];
};

/* Check the queue's geometry and ring addresses against guest memory and
 * make it ready. -1 (and q->why) when they are invalid. */
int virtq_enable(struct virtq *q);
/* Forget all device state (the queue registers stay). */
void virtq_reset(struct virtq *q);
/* Take the next available chain: 1 with *out filled, 0 when none is
 * available (or the queue is not ready or broken), -1 when the guest broke
 * the queue (q->broken set, on_broken called). */
int virtq_pop(struct virtq *q, struct virtq_chain *out);
/* Return a chain: `written` bytes were written to its writable part. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/* After pushes: does the driver want an interrupt? */
bool virtq_need_notify(struct virtq *q);

/* Gather/scatter helpers over a chain: copy up to len bytes starting at
 * byte `off` of the readable (resp. writable) part; return bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *buf, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *buf, size_t len);

/* ---- virtio-mmio transport (virtio_mmio.c) --------------------------------- */

struct virtio_stats {
	uint64_t notify_ignored;  /* notifies before DRIVER_OK, bad queue, ... */
	uint64_t bad_access;      /* odd width/offset register accesses */
	uint64_t broken;          /* times the device went to NEEDS_RESET */
};

/* A device on the transport at [base, base + VIRTIO_MMIO_SIZE), interrupt
 * `gsi`. vm may be NULL (tests): nothing is registered and interrupts go
 * only through vm_irq_line(NULL, ...). Returns NULL (vmm_fail) on error. */
struct virtio_dev *virtio_mmio_create(struct vm *vm, const struct guest_mem *gm,
				      uint64_t base, unsigned gsi,
				      const struct virtio_dev_ops *ops, void *dev);
void virtio_mmio_destroy(struct virtio_dev *vd);
/* The struct io_ops handed to vm_add_mmio (dev = struct virtio_dev *). */
extern const struct io_ops virtio_mmio_io_ops;
/* "virtio_mmio.device=<size>@<base>:<irq>" into buf; returns the length
 * snprintf would (>= len means truncated). */
int virtio_mmio_cmdline(const struct virtio_dev *vd, char *buf, size_t len);
int virtio_mmio_cmdline_fmt(char *buf, size_t len, uint64_t size, uint64_t base, unsigned irq);

void virtio_dev_lock(struct virtio_dev *vd);
void virtio_dev_unlock(struct virtio_dev *vd);
/* The following take the lock as held. */
struct virtq *virtio_dev_queue(struct virtio_dev *vd, unsigned q);
bool virtio_dev_running(const struct virtio_dev *vd);   /* DRIVER_OK, !NEEDS_RESET */
uint64_t virtio_dev_features(const struct virtio_dev *vd); /* negotiated */
uint32_t virtio_dev_status(const struct virtio_dev *vd);
/* Used buffers were pushed on queue q: interrupt if the driver wants one. */
void virtio_dev_used(struct virtio_dev *vd, unsigned q);
/* The guest broke the device: NEEDS_RESET + configuration interrupt. */
void virtio_dev_set_broken(struct virtio_dev *vd, const char *why);
void virtio_dev_config_changed(struct virtio_dev *vd);
struct virtio_stats virtio_dev_stats(struct virtio_dev *vd);
/* Why the device went to NEEDS_RESET (static string), or NULL. */
const char *virtio_dev_broken_reason(struct virtio_dev *vd);

/* ---- virtio-console (virtio_console.c) ------------------------------------- */

struct virtio_console;
/* The one-port device's operations (virtio_console_create, _create_fd). */
extern const struct virtio_dev_ops virtio_console_ops;

/* One port: listen on the Unix socket `path` (removed first if it is a
 * socket); one client at a time is accepted. */
struct virtio_console *virtio_console_create(const char *path);
/* Use an already-connected stream socket (--console-fd, tests; a
 * socketpair). Takes it. ports 0: one port, the console (the guest's
 * /dev/hvc0); ports 1: MULTIPORT with the socket on port 1 (the guest's
 * /dev/vportXp1, which takes 32 KiB writes without waiting for the host,
 * where hvc0 waits for every page). */
struct virtio_console *virtio_console_create_fd(int fd, unsigned ports);
/* MULTIPORT: listen on `path`; each accepted connection is bound to a free
 * port of 1..nports (1..VIRTIO_CONSOLE_MAX_PORTS), the rest wait in the
 * backlog. Clients going away never end the VM. */
struct virtio_console *virtio_console_create_ports(const char *path, unsigned nports);
/* The operations to give virtio_mmio_create() for this console. */
const struct virtio_dev_ops *virtio_console_dev_ops(const struct virtio_console *c);
/* Call fn(arg) once, from the device loop, when the connection given to
 * virtio_console_create_fd() is gone (the host end closed). */
void virtio_console_on_hangup(struct virtio_console *c, void (*fn)(void *), void *arg);
/* Attach to its transport device (after virtio_mmio_create). */
void virtio_console_attach(struct virtio_console *c, struct virtio_dev *vd);
/* One iteration of the device loop: wait up to timeout_ms for the socket
 * or a wake-up, then move data. -1 on a fatal error. */
int virtio_console_poll(struct virtio_console *c, int timeout_ms);
/* Run the loop on a thread / stop it. */
int virtio_console_start(struct virtio_console *c);
void virtio_console_destroy(struct virtio_console *c);

/* ---- virtio-blk (virtio_blk.c) --------------------------------------------- */

struct virtio_blk;
extern const struct virtio_dev_ops virtio_blk_ops_rw;
extern const struct virtio_dev_ops virtio_blk_ops_ro;

/* Open a disk image; `ro` opens it O_RDONLY and offers VIRTIO_BLK_F_RO. */
struct virtio_blk *virtio_blk_create(const char *path, bool ro);
const struct virtio_dev_ops *virtio_blk_ops(const struct virtio_blk *b);
uint64_t virtio_blk_capacity(const struct virtio_blk *b); /* sectors */
void virtio_blk_destroy(struct virtio_blk *b);

#endif
