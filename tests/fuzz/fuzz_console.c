/*
 * fuzz_console.c - libFuzzer target for the MULTIPORT virtio-console
 * (--agent-socket): a hostile guest driving it through the virtio-mmio
 * registers with arbitrary control messages (any port id, event, value,
 * length), control receive buffers of any size, data on any port's
 * queues, resets, while host clients connect and hang up. The device must
 * never crash, hang, grow or touch memory outside the guest image; a
 * misbehaving guest ends in DEVICE_NEEDS_RESET.
 *
 * Input: a sequence of 4-byte operations {op, a, b, c}.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../vmm/virtio.h"

/* ---- test doubles for the VM ---- */
struct vm {
	int unused;
};
static struct vm fake_vm;
static struct guest_mem gm;

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	(void)vm; (void)gsi; (void)level;
	return 0;
}
int vm_add_mmio(struct vm *vm, uint64_t base, uint64_t size, const struct io_ops *ops, void *dev)
{
	(void)vm; (void)base; (void)size; (void)ops; (void)dev;
	return 0;
}
struct guest_mem *vm_mem(struct vm *vm) { (void)vm; return &gm; }

#define MEM (256u << 10)
#define PORTS 3
#define NQ (2 * (PORTS + 1) + 2)
#define QS 8
#define BUF 0x20000u               /* data buffers: 64 slots of 256 bytes */
#define MAXCLIENTS 4

static struct virtio_console *con;
static struct virtio_dev *vd;
static uint16_t avail[NQ];
static int clients[MAXCLIENTS] = { -1, -1, -1, -1 };
static char path[108];

static void mw(uint64_t off, uint32_t v)
{
	virtio_mmio_io_ops.write(vd, off, (const uint8_t *)&v, 4);
}

static uint64_t qbase(unsigned q) { return 0x1000 + 0x1000 * (uint64_t)q; }

static void setup(void)
{
	mw(VIRTIO_MMIO_STATUS, 0);
	mw(VIRTIO_MMIO_STATUS, 1);
	mw(VIRTIO_MMIO_STATUS, 3);
	mw(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mw(VIRTIO_MMIO_DRIVER_FEATURES, (1u << 1) | (1u << VIRTIO_F_INDIRECT_DESC));
	mw(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mw(VIRTIO_MMIO_DRIVER_FEATURES, 1);   /* VERSION_1 */
	mw(VIRTIO_MMIO_STATUS, 0xb);
	memset(gm.host, 0, MEM);
	for (unsigned q = 0; q < NQ; q++) {
		uint64_t b = qbase(q);

		avail[q] = 0;
		mw(VIRTIO_MMIO_QUEUE_SEL, q);
		mw(VIRTIO_MMIO_QUEUE_NUM, QS);
		mw(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)b);
		mw(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
		mw(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(b + 0x400));
		mw(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
		mw(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(b + 0x800));
		mw(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
		mw(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	mw(VIRTIO_MMIO_STATUS, 0xf);
}

/* Put one buffer on queue q and notify. */
static void give(unsigned q, uint32_t len, int writable, const uint8_t *data)
{
	uint16_t d = avail[q] % QS;
	uint64_t b = qbase(q), buf = BUF + 256u * ((q * QS + d) % 64);
	uint16_t flags = writable ? 2 : 0, idx;

	if (len > 256)
		len = 256;
	if (data)
		memcpy(gm.host + buf, data, len < 8 ? len : 8);
	memcpy(gm.host + b + 16 * d, &buf, 8);
	memcpy(gm.host + b + 16 * d + 8, &len, 4);
	memcpy(gm.host + b + 16 * d + 12, &flags, 2);
	memset(gm.host + b + 16 * d + 14, 0, 2);
	memcpy(gm.host + b + 0x400 + 4 + 2 * d, &d, 2);
	avail[q]++;
	idx = avail[q];
	memcpy(gm.host + b + 0x400 + 2, &idx, 2);
	mw(VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static void client(unsigned k, int connect_it)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	k %= MAXCLIENTS;
	if (clients[k] >= 0) {
		close(clients[k]);
		clients[k] = -1;
	}
	if (!connect_it)
		return;
	strcpy(sa.sun_path, path);
	clients[k] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (clients[k] >= 0 && connect(clients[k], (struct sockaddr *)&sa, sizeof sa) < 0 &&
	    errno != EAGAIN) {
		close(clients[k]);
		clients[k] = -1;
	}
	if (clients[k] >= 0)
		(void)!write(clients[k], "hi", 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!con) {
		gm.size = MEM;
		gm.memfd = -1;
		gm.host = aligned_alloc(4096, MEM);
		snprintf(path, sizeof path, "/tmp/msb-fuzz-console-%d.sock", (int)getpid());
		con = virtio_console_create_ports(path, PORTS);
		vd = con ? virtio_mmio_create(&fake_vm, &gm, 0xd0000000, 5,
					      virtio_console_dev_ops(con), con) : NULL;
		if (!gm.host || !vd)
			abort();
		virtio_console_attach(con, vd);
	}
	setup();
	for (size_t i = 0; i + 4 <= size && i < 4 * 256; i += 4) {
		uint8_t op = data[i], a = data[i + 1], b = data[i + 2], c = data[i + 3];
		uint8_t msg[8];
		uint32_t id = a < 250 ? a % (PORTS + 2) : 0xffffffffu - (255u - a);
		uint16_t ev = b < 240 ? b % 9 : 0xff00u | b, val = c < 250 ? c % 3 : 0xffffu;

		switch (op % 8) {
		case 0:   /* a control message from the driver, c % 12 bytes */
			memcpy(msg, &id, 4);
			memcpy(msg + 4, &ev, 2);
			memcpy(msg + 6, &val, 2);
			give(3, c % 12, 0, msg);
			break;
		case 1:   /* a control receive buffer of b % 16 bytes */
			give(2, b % 16, 1, NULL);
			break;
		case 2:   /* a receive buffer on any port's receiveq */
			give(2 * (a % (PORTS + 1)) + (a % (PORTS + 1) ? 2 : 0), b, 1, NULL);
			break;
		case 3:   /* data on any port's transmitq */
			memset(msg, c, sizeof msg);
			give(2 * (a % (PORTS + 1)) + (a % (PORTS + 1) ? 3 : 1), b, 0, msg);
			break;
		case 4:
			virtio_console_poll(con, 0);
			break;
		case 5:
			client(a, b & 1);
			break;
		case 6:   /* the guest as Linux starts it: DEVICE_READY, PORT_READY, PORT_OPEN */
			for (int k = 0; k < 4; k++)
				give(2, 8, 1, NULL);
			memcpy(msg, &(uint32_t){ 0xffffffffu }, 4);
			memcpy(msg + 4, &(uint16_t){ 0 }, 2);
			memcpy(msg + 6, &(uint16_t){ 1 }, 2);
			give(3, 8, 0, msg);
			for (uint32_t p = 1; p <= PORTS; p++)
				for (uint16_t e = 3; e <= 6; e += 3) {
					memcpy(msg, &p, 4);
					memcpy(msg + 4, &e, 2);
					give(3, 8, 0, msg);
				}
			break;
		case 7:
			if (a == 0)
				setup();   /* a reset, then up again */
			break;
		}
	}
	virtio_console_poll(con, 0);
	return 0;
}
