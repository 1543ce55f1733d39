/*
 * guest.c - msb-vmm's freestanding test guest.
 *
 * Booted by msb-vmm exactly as a vmlinux is (64-bit boot protocol), it
 * checks what it was handed and prints one TAP-style line per check on
 * the 8250 at 0x3f8:  "ok N - what" / "not ok N - what", then "1..N".
 * It returns 0 to entry.S (which writes it to the debug exit port 0x501)
 * only if every check passed, 1 otherwise.
 *
 * Expectations come on the kernel command line (the host test sets them):
 *   msbtest.token=STR        any token ...
 *   msbtest.token_sum=HEX    ... and its FNV-1a 32 (proves the bytes arrived)
 *   msbtest.mem=BYTES        guest RAM size (hex with 0x, or decimal)
 *   msbtest.cpus=N           vCPUs announced in the MP table
 *   msbtest.initrd_size=N    initrd size, and
 *   msbtest.initrd_sum=HEX   its FNV-1a 32 (omit both when there is none)
 *
 * Virtio checks (virtio-mmio console and block): see virtio_checks() and
 * the comment above its part for the msbtest.blk_* keys and conventions.
 *
 * With "msbtest.bench=1" first on the command line it runs no checks but
 * the benchmark steps that bench/vmm.c times: see bench_main().
 */
#include <stddef.h>
#include <stdint.h>

/* ---- what entry.S recorded ------------------------------------------------- */
struct entry_state {
	uint64_t rflags;
	uint16_t cs, ds, ss, pad;
	uint64_t boot_params;
	uint64_t rip;
};
struct entry_state entry_state;

/* ---- port I/O and the serial port ------------------------------------------ */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc_(char c)
{
	for (int i = 0; i < 100000 && !(inb(0x3f8 + 5) & 0x20); i++)
		;
	outb(0x3f8, (uint8_t)c);
}
static void puts_(const char *s)
{
	while (*s)
		putc_(*s++);
}
static void putu(uint64_t v)
{
	char b[24];
	int n = 0;
	do {
		b[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		putc_(b[--n]);
}
static void putx(uint64_t v)
{
	puts_("0x");
	for (int s = 60; s >= 0; s -= 4) {
		unsigned d = (v >> s) & 0xf;
		if (d || s == 0 || v >> s)
			putc_("0123456789abcdef"[d]);
	}
}

/* ---- tiny libc ---------------------------------------------------------------- */
/* the compiler may emit calls to these */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}
void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}
int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

static uint32_t fnv1a(const uint8_t *p, uint64_t n)
{
	uint32_t h = 2166136261u;
	while (n--) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

/* ---- TAP --------------------------------------------------------------------- */
static unsigned ntests, nfailed;
static const char *check_prefix; /* "virtio-blk: " etc. */

static int check(int cond, const char *what)
{
	ntests++;
	if (!cond) {
		nfailed++;
		puts_("not ");
	}
	puts_("ok ");
	putu(ntests);
	puts_(" - ");
	if (check_prefix)
		puts_(check_prefix);
	puts_(what);
	putc_('\n');
	return cond;
}
static void diag2(const char *what, uint64_t v)
{
	puts_("# ");
	puts_(what);
	puts_(" = ");
	putx(v);
	putc_('\n');
}

/* ---- the command line ---------------------------------------------------------- */
static const char *cmdline;
static uint64_t cmdline_len;

/* The value of KEY= in the command line (a word), its length in *len. */
static const char *param(const char *key, uint64_t *len)
{
	uint64_t k = 0;
	while (key[k])
		k++;
	const char *c = cmdline;
	for (uint64_t i = 0; c && i < cmdline_len; i++) {
		if ((i == 0 || c[i - 1] == ' ') && i + k + 1 <= cmdline_len &&
		    memcmp(c + i, key, k) == 0 && c[i + k] == '=') {
			uint64_t j = i + k + 1, n = 0;
			while (j + n < cmdline_len && c[j + n] != ' ')
				n++;
			*len = n;
			return c + j;
		}
	}
	return 0;
}

/* a number: 0x-prefixed hex, or decimal; -1 when absent or malformed */
static int64_t param_num(const char *key, int hex)
{
	uint64_t n;
	const char *v = param(key, &n);
	if (!v || n == 0 || n > 18)
		return -1;
	uint64_t r = 0, i = 0;
	if (n > 2 && v[0] == '0' && v[1] == 'x') {
		hex = 1;
		i = 2;
	}
	for (; i < n; i++) {
		char ch = v[i];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (hex && ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else if (hex && ch >= 'A' && ch <= 'F')
			d = (unsigned)(ch - 'A' + 10);
		else
			return -1;
		r = r * (hex ? 16 : 10) + d;
	}
	return (int64_t)r;
}

/* ---- boot_params (offsets from Documentation/arch/x86/zero-page.rst) ---------- */
#define BP(bp, off, type) (*(volatile type *)((uint8_t *)(bp) + (off)))
struct e820 {
	uint64_t addr, size;
	uint32_t type;
} __attribute__((packed));

extern uint8_t _start[], _end[];

/* ---- virtio: the guest's driver, as Linux's virtio_mmio + virtio_blk +
 * virtio_console drive the devices, then on purpose as a hostile guest ------
 *
 * Devices come from the virtio_mmio.device=SIZE@ADDR:IRQ tokens (Linux's
 * format: SIZE takes K/M/G suffixes, ADDR is 0x-hex or decimal). Their
 * windows lie above the identity map the VMM built (the first 1 GiB), so
 * each window's page is mapped here with 4 KiB entries (uncached), from a
 * small pool of page tables in .bss. Everything is polled: interrupts stay
 * off, the used rings are read until they advance or a deadline (TSC) ends.
 *
 * Expectations, from the command line (the host test sets them):
 *   msbtest.virtio_devices=N   how many tokens there must be
 *   msbtest.blk_sectors=N      the disk's capacity in sectors
 *   msbtest.blk_sector=N       the sector to read, then overwrite, and
 *   msbtest.blk_seed=HEX       the pattern to write there (blk_pattern())
 *   msbtest.blk_id=STR         what GET_ID must answer (the image's name)
 * The image holds disk_fill() bytes when the guest starts (blk_fill()).
 *
 * virtio-console convention (tests/vmm/vmm_boot.c is the other end):
 *   guest -> host  "hello from the guest\n"
 *   host  -> guest "host got: hello from the guest\n"
 *   the host then reads nothing for 1 s, while the guest sends a burst
 *   of CONS_BURST bytes (byte k = burst_byte(k): 4 KiB chunks, each its
 *   little-endian 64-bit number, then k % 4096 * 7 + 1) as fast as the
 *   transmitq lets it; the host then drains and counts; nothing else is
 *   sent. (This PVM host emulates every guest instruction at CPL 0, ~0.3
 *   us each, so a byte loop costs ~3 us a byte: buffers are filled once
 *   and only their chunk numbers rewritten.)
 */
#define VIRTIO_MAGIC 0x74726976u
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_QUEUE_DESC_LOW 0x080
#define R_QUEUE_DESC_HIGH 0x084
#define R_QUEUE_DRIVER_LOW 0x090
#define R_QUEUE_DRIVER_HIGH 0x094
#define R_QUEUE_DEVICE_LOW 0x0a0
#define R_QUEUE_DEVICE_HIGH 0x0a4
#define R_CONFIG 0x100

#define S_ACK 0x01
#define S_DRIVER 0x02
#define S_DRIVER_OK 0x04
#define S_FEATURES_OK 0x08
#define S_NEEDS_RESET 0x40

#define F_INDIRECT (1ull << 28)
#define F_VERSION_1 (1ull << 32)

#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

#define QSZ 64                 /* every queue here: 64 entries */
#define CONS_BURST (2u << 20)  /* bytes in the console burst */
#define TICKS_PER_MS 3000000ull /* assumes TSC <= 3 GHz: slower only waits longer */

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
static inline void mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}
static inline void relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* exact-width MMIO accesses (the instruction is what the VMM sees) */
static inline uint8_t mr8(uint64_t a)
{
	uint8_t v;
	__asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(a) : "memory");
	return v;
}
static inline uint16_t mr16(uint64_t a)
{
	uint16_t v;
	__asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static inline uint32_t mr32(uint64_t a)
{
	uint32_t v;
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static inline uint64_t mr64(uint64_t a)
{
	uint64_t v;
	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static inline void mw8(uint64_t a, uint8_t v)
{
	__asm__ volatile("movb %0, (%1)" : : "q"(v), "r"(a) : "memory");
}
static inline void mw16(uint64_t a, uint16_t v)
{
	__asm__ volatile("movw %0, (%1)" : : "r"(v), "r"(a) : "memory");
}
static inline void mw32(uint64_t a, uint32_t v)
{
	__asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(a) : "memory");
}
static inline void mw64(uint64_t a, uint64_t v)
{
	__asm__ volatile("movq %0, (%1)" : : "r"(v), "r"(a) : "memory");
}

/* ---- mapping the MMIO windows ---- */
static uint64_t pt_pool[8][512] __attribute__((aligned(4096)));
static unsigned pt_used;

static int map_mmio_page(uint64_t addr)
{
	const uint64_t A = 0x000ffffffffff000ull;
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint64_t *t = (uint64_t *)(cr3 & A);
	for (int level = 3; level > 0; level--) { /* PML4, PDPT, PD */
		unsigned i = (addr >> (12 + 9 * level)) & 511;
		if (!(t[i] & 1)) {
			if (pt_used == 8)
				return -1;
			uint64_t *n = pt_pool[pt_used++];
			memset(n, 0, 4096);
			t[i] = (uint64_t)n | 3;
		} else if (t[i] & 0x80) {
			return -1; /* a large page there: not ours to split */
		}
		t = (uint64_t *)(t[i] & A);
	}
	t[(addr >> 12) & 511] = (addr & ~0xfffull) | 0x1b; /* P, RW, PWT, PCD */
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
	return 0;
}

/* ---- split virtqueues in guest memory ---- */
struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
struct gq {
	struct vdesc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[QSZ], used_event */
	volatile uint8_t *used;   /* flags, idx, {le32 id, le32 len}[QSZ] */
	uint16_t avail_idx, last_used;
};
struct vdev {
	uint64_t base, size;
	unsigned irq;
	uint32_t id;
	struct gq q[2];
};
static uint8_t ring_mem[3][3][4096] __attribute__((aligned(4096)));
static unsigned rings_used;

static uint16_t used_idx(const struct gq *q)
{
	return *(volatile const uint16_t *)(q->used + 2);
}
static void q_add(struct gq *q, uint16_t head)
{
	q->avail[2 + q->avail_idx % QSZ] = head;
	mb();
	q->avail[1] = ++q->avail_idx;
	mb();
}
static void q_notify(struct vdev *d, unsigned qi)
{
	mb();
	mw32(d->base + R_QUEUE_NOTIFY, qi);
}
/* the next used element: 1 with id/len, 0 when none */
static int q_used(struct gq *q, uint32_t *id, uint32_t *len)
{
	if (used_idx(q) == q->last_used)
		return 0;
	mb();
	volatile const uint8_t *e = q->used + 4 + 8 * (q->last_used % QSZ);
	*id = *(volatile const uint32_t *)e;
	*len = *(volatile const uint32_t *)(e + 4);
	q->last_used++;
	return 1;
}
static int q_wait(struct gq *q, uint64_t ms)
{
	uint64_t end = rdtsc() + ms * TICKS_PER_MS;
	while (used_idx(q) == q->last_used) {
		if (rdtsc() > end)
			return 0;
		relax();
	}
	return 1;
}

static uint32_t rd(const struct vdev *d, unsigned off)
{
	return mr32(d->base + off);
}
static void wr(const struct vdev *d, unsigned off, uint32_t v)
{
	mw32(d->base + off, v);
}

/* Queue setup as virtio_mmio's vm_setup_vq(): 0 on success. */
static int q_setup(struct vdev *d, unsigned qi)
{
	struct gq *q = &d->q[qi];
	wr(d, R_QUEUE_SEL, qi);
	if (rd(d, R_QUEUE_READY) != 0 || rd(d, R_QUEUE_NUM_MAX) < QSZ)
		return -1;
	memset((void *)q->desc, 0, 4096);
	memset((void *)q->avail, 0, 4096);
	memset((void *)q->used, 0xee, 4096); /* the device must zero idx */
	q->avail_idx = q->last_used = 0;
	wr(d, R_QUEUE_NUM, QSZ);
	uint64_t a = (uint64_t)q->desc, b = (uint64_t)q->avail, c = (uint64_t)q->used;
	wr(d, R_QUEUE_DESC_LOW, (uint32_t)a);
	wr(d, R_QUEUE_DESC_HIGH, (uint32_t)(a >> 32));
	wr(d, R_QUEUE_DRIVER_LOW, (uint32_t)b);
	wr(d, R_QUEUE_DRIVER_HIGH, (uint32_t)(b >> 32));
	wr(d, R_QUEUE_DEVICE_LOW, (uint32_t)c);
	wr(d, R_QUEUE_DEVICE_HIGH, (uint32_t)(c >> 32));
	wr(d, R_QUEUE_READY, 1);
	return rd(d, R_QUEUE_READY) == 1 && rd(d, R_QUEUE_NUM) == QSZ && used_idx(q) == 0 ? 0 : -1;
}

/* Reset, negotiate, set up nq queues, and DRIVER_OK if asked. verbose:
 * one check line per step (first probe); otherwise quiet, 0 on failure. */
static int vdev_init(struct vdev *d, unsigned nq, uint64_t want, int driver_ok, int verbose)
{
	int okall = 1;
#define STEP(cond, what) \
	do { \
		int c_ = !!(cond); \
		if (verbose) \
			check(c_, what); \
		if (!c_) { \
			okall = 0; \
			goto out; \
		} \
	} while (0)
	wr(d, R_STATUS, 0);
	STEP(rd(d, R_STATUS) == 0, "reset: Status reads 0 after writing 0");
	wr(d, R_STATUS, S_ACK);
	wr(d, R_STATUS, S_ACK | S_DRIVER);
	STEP(rd(d, R_STATUS) == (S_ACK | S_DRIVER), "ACKNOWLEDGE | DRIVER accepted");
	wr(d, R_DEV_FEATURES_SEL, 1);
	uint64_t f = (uint64_t)rd(d, R_DEV_FEATURES) << 32;
	wr(d, R_DEV_FEATURES_SEL, 0);
	f |= rd(d, R_DEV_FEATURES);
	STEP(f & F_VERSION_1, "device offers VIRTIO_F_VERSION_1 (feature bit 32)");
	uint64_t drv = f & want;
	wr(d, R_DRV_FEATURES_SEL, 1);
	wr(d, R_DRV_FEATURES, (uint32_t)(drv >> 32));
	wr(d, R_DRV_FEATURES_SEL, 0);
	wr(d, R_DRV_FEATURES, (uint32_t)drv);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	STEP(!!(rd(d, R_STATUS) & S_FEATURES_OK), "FEATURES_OK accepted and reads back");
	int qok = 1;
	for (unsigned i = 0; i < nq; i++)
		qok &= q_setup(d, i) == 0;
	STEP(qok, nq == 1 ? "queue 0 set up (QueueNumMax, QueueNum, rings, QueueReady)"
			  : "queues 0 and 1 set up (QueueNumMax, QueueNum, rings, QueueReady)");
	if (driver_ok) {
		wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
		STEP(rd(d, R_STATUS) == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK),
		     "DRIVER_OK: Status reads 0x0f");
	}
out:
	return okall;
#undef STEP
}

/* ---- virtio-blk ---- */
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_GET_ID 8
static struct {
	uint32_t type, reserved;
	uint64_t sector;
} blk_hdr __attribute__((aligned(16)));
static volatile uint8_t blk_status;
static uint8_t blk_buf[1024] __attribute__((aligned(512)));
static struct vdesc blk_ind[3] __attribute__((aligned(16)));

static uint8_t disk_fill(uint64_t off)
{
	return (uint8_t)((off >> 9) * 13 + (off & 511));
}
static uint8_t blk_pattern(uint32_t seed, unsigned i)
{
	return (uint8_t)((seed >> (8 * (i & 3))) ^ (i * 7) ^ (i >> 8));
}

/* Queue a request (header, data, status) without notifying; data may be
 * absent (len 0). indirect: through one indirect table. */
static void blk_post(struct vdev *d, uint32_t type, uint64_t sector, void *buf, uint32_t len,
		     int indirect)
{
	struct gq *q = &d->q[0];
	blk_hdr.type = type;
	blk_hdr.reserved = 0;
	blk_hdr.sector = sector;
	blk_status = 0xff;
	struct vdesc *t = indirect ? blk_ind : q->desc;
	unsigned n = 0;
	t[n] = (struct vdesc){ (uint64_t)&blk_hdr, 16, D_NEXT, (uint16_t)(n + 1) };
	n++;
	if (len) {
		t[n] = (struct vdesc){ (uint64_t)buf, len,
				       (uint16_t)(D_NEXT | (type == BLK_T_OUT ? 0 : D_WRITE)),
				       (uint16_t)(n + 1) };
		n++;
	}
	t[n] = (struct vdesc){ (uint64_t)&blk_status, 1, D_WRITE, 0 };
	n++;
	if (indirect)
		q->desc[0] = (struct vdesc){ (uint64_t)blk_ind, (uint32_t)(16 * n), D_INDIRECT, 0 };
	q_add(q, 0);
}
/* The whole request: returns the status byte, or -1 without completion. */
static int blk_req(struct vdev *d, uint32_t type, uint64_t sector, void *buf, uint32_t len,
		   int indirect, uint32_t *written)
{
	blk_post(d, type, sector, buf, len, indirect);
	q_notify(d, 0);
	uint32_t id, wl;
	if (!q_wait(&d->q[0], 2000) || !q_used(&d->q[0], &id, &wl) || id != 0)
		return -1;
	if (written)
		*written = wl;
	return blk_status;
}

/* Break the device with whatever desc[0..] holds (set up by the caller,
 * head 0) and check it went to NEEDS_RESET with a config interrupt. */
static void blk_expect_broken(struct vdev *d, const char *what)
{
	q_add(&d->q[0], 0);
	q_notify(d, 0);
	uint32_t st = rd(d, R_STATUS);
	uint32_t isr = rd(d, R_INT_STATUS);
	if (!check((st & S_NEEDS_RESET) && (isr & 2) && used_idx(&d->q[0]) == 0, what)) {
		diag2("Status", st);
		diag2("InterruptStatus", isr);
	}
}

static void blk_checks(struct vdev *d, int64_t mem)
{
	check_prefix = "virtio-blk: ";
	if (!vdev_init(d, 1, F_VERSION_1 | F_INDIRECT, 1, 1)) {
		check_prefix = 0;
		return;
	}
	/* config space: capacity at 0, at every width */
	int64_t want_cap = param_num("msbtest.blk_sectors", 0);
	uint64_t cap8 = mr64(d->base + R_CONFIG);
	uint64_t cap4 = rd(d, R_CONFIG) | (uint64_t)rd(d, R_CONFIG + 4) << 32;
	uint64_t cap2 = 0, cap1 = 0;
	for (unsigned i = 0; i < 4; i++)
		cap2 |= (uint64_t)mr16(d->base + R_CONFIG + 2 * i) << (16 * i);
	for (unsigned i = 0; i < 8; i++)
		cap1 |= (uint64_t)mr8(d->base + R_CONFIG + i) << (8 * i);
	if (!check(want_cap > 0 && cap8 == (uint64_t)want_cap && cap4 == cap8 && cap2 == cap8 &&
			   cap1 == cap8,
		   "config capacity matches msbtest.blk_sectors (8-, 4-, 2- and 1-byte reads agree)")) {
		diag2("capacity (8-byte read)", cap8);
		diag2("capacity (4-byte reads)", cap4);
	}

	/* IN: the image's bytes as the host wrote them */
	int64_t sec = param_num("msbtest.blk_sector", 0);
	int64_t seed = param_num("msbtest.blk_seed", 1);
	uint64_t s = sec > 0 ? (uint64_t)sec : 1;
	uint32_t wl = 0;
	memset(blk_buf, 0, sizeof blk_buf);
	int r = blk_req(d, BLK_T_IN, s, blk_buf, 1024, 0, &wl);
	int same = 1;
	for (unsigned i = 0; i < 1024; i++)
		same &= blk_buf[i] == disk_fill(s * 512 + i);
	if (!check(r == 0 && wl == 1025 && same,
		   "IN of 2 sectors: status OK, used length 1025, the image's bytes"))
		diag2("status", (uint64_t)r);
	uint32_t isr = rd(d, R_INT_STATUS);
	wr(d, R_INT_ACK, isr);
	check((isr & 1) && rd(d, R_INT_STATUS) == 0,
	      "InterruptStatus has the used-ring bit after a request; InterruptAck clears it");

	/* OUT a pattern, IN it back (the host checks the image afterwards) */
	for (unsigned i = 0; i < 512; i++)
		blk_buf[i] = blk_pattern((uint32_t)seed, i);
	r = blk_req(d, BLK_T_OUT, s, blk_buf, 512, 0, &wl);
	check(sec > 0 && seed >= 0 && r == 0, "OUT of the msbtest.blk_seed pattern to msbtest.blk_sector: status OK");
	memset(blk_buf, 0, sizeof blk_buf);
	r = blk_req(d, BLK_T_IN, s, blk_buf, 512, 0, &wl);
	same = 1;
	for (unsigned i = 0; i < 512; i++)
		same &= blk_buf[i] == blk_pattern((uint32_t)seed, i);
	check(r == 0 && same, "IN of that sector reads the pattern back");

	/* out of range: IOERR, and the device stays usable */
	r = blk_req(d, BLK_T_OUT, cap8, blk_buf, 512, 0, &wl);
	check(r == 1 && !(rd(d, R_STATUS) & S_NEEDS_RESET),
	      "OUT past the capacity: status IOERR, the device stays usable");

	/* GET_ID, directly and through an indirect table */
	uint64_t idlen = 0;
	const char *want_id = param("msbtest.blk_id", &idlen);
	memset(blk_buf, 0, 64);
	r = blk_req(d, BLK_T_GET_ID, 0, blk_buf, 20, 0, &wl);
	check(r == 0 && want_id && idlen <= 20 && memcmp(blk_buf, want_id, idlen) == 0 &&
		      (idlen == 20 || blk_buf[idlen] == 0),
	      "GET_ID: status OK, the serial is msbtest.blk_id");
	memset(blk_buf, 0, 64);
	r = blk_req(d, BLK_T_GET_ID, 0, blk_buf, 20, 1, &wl);
	check(r == 0 && want_id && memcmp(blk_buf, want_id, idlen) == 0,
	      "GET_ID through an indirect descriptor table (VIRTIO_RING_F_INDIRECT_DESC)");

	/* ---- odd-width and odd-offset transport accesses ---- */
	uint64_t b = d->base;
	uint8_t v8 = mr8(b + R_MAGIC);
	uint16_t v16 = mr16(b + R_MAGIC);
	uint32_t v32u = mr32(b + R_MAGIC + 1);
	uint64_t v64 = mr64(b + R_MAGIC);
	uint8_t tail = mr8(b + d->size - 1);
	int sane = (v8 == 0 || v8 == 0x76) && (v16 == 0 || v16 == 0x6976) &&
		   (v32u == 0 || v32u == 0x02747269) && (v64 == 0 || v64 == 0x0000000274726976ull) &&
		   tail == 0;
	if (!check(sane, "1-, 2-, 8-byte and unaligned reads of registers: zeros (or the register's bytes)")) {
		diag2("1-byte MagicValue", v8);
		diag2("2-byte MagicValue", v16);
		diag2("unaligned 4-byte at 1", v32u);
		diag2("8-byte at 0", v64);
	}
	mw8(b + R_STATUS, 0);
	mw16(b + R_STATUS, 0);
	mw32(b + R_STATUS + 1, 0);
	mw64(b + R_STATUS, 0);
	check(rd(d, R_STATUS) == 0x0f, "1-, 2-, 8-byte and unaligned writes of 0 to Status do not reset the device");
	blk_post(d, BLK_T_IN, s, blk_buf, 512, 0);
	mw16(b + R_QUEUE_NOTIFY, 0);
	mw8(b + R_QUEUE_NOTIFY, 0);
	int before = used_idx(&d->q[0]) == d->q[0].last_used;
	q_notify(d, 0);
	uint32_t id;
	int served = q_wait(&d->q[0], 2000) && q_used(&d->q[0], &id, &wl) && blk_status == 0;
	check(before && served, "2- and 1-byte QueueNotify writes are ignored; the 4-byte one serves the request");
	uint64_t cfg_past = mr8(b + R_CONFIG + 64) | mr64(b + R_CONFIG + 60) | mr32(b + R_CONFIG + 62) |
			    mr64(b + R_CONFIG + 0xf8);
	mw64(b + R_CONFIG, 0x1234);
	check(cfg_past == 0 && mr64(b + R_CONFIG) == cap8,
	      "config accesses past its end read 0; config writes are ignored");
	check(rd(d, R_MAGIC) == VIRTIO_MAGIC && rd(d, R_STATUS) == 0x0f,
	      "aligned 32-bit register reads still sane after the odd accesses");

	/* ---- feature negotiation refused ---- */
	wr(d, R_STATUS, 0);
	wr(d, R_STATUS, S_ACK | S_DRIVER);
	wr(d, R_DRV_FEATURES_SEL, 1);
	wr(d, R_DRV_FEATURES, 0);
	wr(d, R_DRV_FEATURES_SEL, 0);
	wr(d, R_DRV_FEATURES, 0);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	int no_v1 = !(rd(d, R_STATUS) & S_FEATURES_OK);
	wr(d, R_STATUS, 0);
	wr(d, R_STATUS, S_ACK | S_DRIVER);
	wr(d, R_DRV_FEATURES_SEL, 1);
	wr(d, R_DRV_FEATURES, 1 | 1u << 30); /* VERSION_1 and bit 62, not offered */
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	int extra = !(rd(d, R_STATUS) & S_FEATURES_OK);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	int no_dok = !(rd(d, R_STATUS) & S_DRIVER_OK);
	check(no_v1 && extra && no_dok,
	      "FEATURES_OK refused without VERSION_1 or with an unoffered feature; then no DRIVER_OK");

	/* ---- notify before DRIVER_OK ---- */
	int ok1 = vdev_init(d, 1, F_VERSION_1, 0, 0);
	blk_post(d, BLK_T_IN, s, blk_buf, 512, 0);
	q_notify(d, 0);
	for (int i = 0; i < 1000; i++)
		relax();
	int ignored = used_idx(&d->q[0]) == 0 && blk_status == 0xff;
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	q_notify(d, 0);
	served = q_wait(&d->q[0], 2000) && q_used(&d->q[0], &id, &wl) && blk_status == 0;
	check(ok1 && ignored && served,
	      "a notify before DRIVER_OK is ignored; after DRIVER_OK the request is served");

	/* ---- hostile descriptors: each must end in NEEDS_RESET ---- */
	uint64_t m = mem > 0 ? (uint64_t)mem : (64ull << 20);
	int reinit = 1;
	reinit &= vdev_init(d, 1, F_VERSION_1, 1, 0);
	d->q[0].desc[0] = (struct vdesc){ m, 16, 0, 0 };
	blk_expect_broken(d, "a descriptor just past the end of RAM: DEVICE_NEEDS_RESET + config interrupt");
	uint32_t st = rd(d, R_STATUS);
	wr(d, R_STATUS, st & ~(uint32_t)S_NEEDS_RESET);
	wr(d, R_STATUS, S_ACK);
	blk_post(d, BLK_T_IN, s, blk_buf, 512, 0);
	q_notify(d, 0);
	check((rd(d, R_STATUS) & S_NEEDS_RESET) && used_idx(&d->q[0]) == 0 && blk_status == 0xff,
	      "NEEDS_RESET stays through driver Status writes; notifies are ignored until reset");

	reinit &= vdev_init(d, 1, F_VERSION_1, 1, 0);
	d->q[0].desc[0] = (struct vdesc){ m - 8, 16, 0, 0 };
	blk_expect_broken(d, "a descriptor straddling the end of RAM: DEVICE_NEEDS_RESET");

	reinit &= vdev_init(d, 1, F_VERSION_1, 1, 0);
	d->q[0].desc[0] = (struct vdesc){ 0xfffffffffffffff0ull, 0x20, 0, 0 };
	blk_expect_broken(d, "a descriptor whose addr + len overflows: DEVICE_NEEDS_RESET");

	reinit &= vdev_init(d, 1, F_VERSION_1, 1, 0);
	d->q[0].desc[0] = (struct vdesc){ (uint64_t)&blk_hdr, 16, D_NEXT, 1 };
	d->q[0].desc[1] = (struct vdesc){ (uint64_t)blk_buf, 512, D_NEXT, 0 };
	blk_expect_broken(d, "a looping descriptor chain (0 -> 1 -> 0): DEVICE_NEEDS_RESET");

	reinit &= vdev_init(d, 1, F_VERSION_1, 1, 0);
	d->q[0].desc[0] = (struct vdesc){ (uint64_t)&blk_hdr, 16, D_NEXT, 200 };
	blk_expect_broken(d, "a next index past the queue size: DEVICE_NEEDS_RESET");

	reinit &= vdev_init(d, 1, F_VERSION_1, 1, 0);
	blk_ind[0] = (struct vdesc){ (uint64_t)&blk_hdr, 16, D_NEXT, 0 }; /* loops on itself */
	d->q[0].desc[0] = (struct vdesc){ (uint64_t)blk_ind, 16, D_INDIRECT, 0 };
	blk_expect_broken(d, "an indirect descriptor without the feature: DEVICE_NEEDS_RESET");

	reinit &= vdev_init(d, 1, F_VERSION_1 | F_INDIRECT, 1, 0);
	blk_ind[0] = (struct vdesc){ (uint64_t)&blk_hdr, 16, D_NEXT, 1 };
	blk_ind[1] = (struct vdesc){ (uint64_t)blk_buf, 512, D_NEXT, 0 };
	d->q[0].desc[0] = (struct vdesc){ (uint64_t)blk_ind, 32, D_INDIRECT, 0 };
	blk_expect_broken(d, "a looping chain inside an indirect table: DEVICE_NEEDS_RESET");

	reinit &= vdev_init(d, 1, F_VERSION_1, 1, 0);
	d->q[0].avail[2] = 0; /* avail idx jumps a whole ring and more ahead */
	mb();
	d->q[0].avail[1] = QSZ + 1;
	q_notify(d, 0);
	check((rd(d, R_STATUS) & S_NEEDS_RESET) && used_idx(&d->q[0]) == 0,
	      "avail idx more than the queue size ahead: DEVICE_NEEDS_RESET");

	/* rings outside RAM: refused when the queue is made ready */
	wr(d, R_STATUS, 0);
	wr(d, R_STATUS, S_ACK | S_DRIVER);
	wr(d, R_DRV_FEATURES_SEL, 1);
	wr(d, R_DRV_FEATURES, 1);
	wr(d, R_DRV_FEATURES_SEL, 0);
	wr(d, R_DRV_FEATURES, 0);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	wr(d, R_QUEUE_SEL, 0);
	wr(d, R_QUEUE_NUM, QSZ);
	wr(d, R_QUEUE_DESC_LOW, (uint32_t)(m - 16 * QSZ + 16));
	wr(d, R_QUEUE_DESC_HIGH, (uint32_t)((m - 16 * QSZ + 16) >> 32));
	wr(d, R_QUEUE_DRIVER_LOW, (uint32_t)(uint64_t)d->q[0].avail);
	wr(d, R_QUEUE_DEVICE_LOW, (uint32_t)(uint64_t)d->q[0].used);
	wr(d, R_QUEUE_READY, 1);
	check(rd(d, R_QUEUE_READY) == 0 && (rd(d, R_STATUS) & S_NEEDS_RESET),
	      "a descriptor table running past the end of RAM: QueueReady refused, DEVICE_NEEDS_RESET");

	/* after all that: a reset brings it back */
	reinit &= vdev_init(d, 1, F_VERSION_1, 1, 0);
	r = reinit ? blk_req(d, BLK_T_IN, s, blk_buf, 512, 0, &wl) : -1;
	same = 1;
	for (unsigned i = 0; i < 512; i++)
		same &= blk_buf[i] == blk_pattern((uint32_t)seed, i);
	check(reinit && r == 0 && same, "after each break a reset and re-probe make the device usable again");
	wr(d, R_STATUS, 0);
	check_prefix = 0;
}

/* ---- virtio-console ---- */
#define RXN 8
#define RXB 128
static uint8_t cons_rx[RXN][RXB] __attribute__((aligned(64)));
static uint8_t cons_tx[QSZ][4096] __attribute__((aligned(4096)));

static uint8_t burst_byte(uint64_t k)
{
	uint64_t c = k >> 12, o = k & 4095;
	return o < 8 ? (uint8_t)(c >> (8 * o)) : (uint8_t)(o * 7 + 1);
}

static void cons_post_rx(struct vdev *d, uint16_t i)
{
	d->q[0].desc[i] = (struct vdesc){ (uint64_t)cons_rx[i], RXB, D_WRITE, 0 };
	q_add(&d->q[0], i);
}

static void console_checks(struct vdev *d)
{
	check_prefix = "virtio-console: ";
	if (!vdev_init(d, 2, F_VERSION_1, 1, 1)) {
		check_prefix = 0;
		return;
	}
	struct gq *rx = &d->q[0], *tx = &d->q[1];
	/* receive buffers first, as the Linux driver fills them at probe */
	for (uint16_t i = 0; i < RXN; i++)
		cons_post_rx(d, i);
	q_notify(d, 0);

	static const char hello[] = "hello from the guest\n";
	static const char reply[] = "host got: hello from the guest\n";
	memcpy(cons_tx[0], hello, sizeof hello - 1);
	tx->desc[0] = (struct vdesc){ (uint64_t)cons_tx[0], sizeof hello - 1, 0, 0 };
	q_add(tx, 0);
	q_notify(d, 1);
	uint32_t id, len;
	check(q_wait(tx, 15000) && q_used(tx, &id, &len) && id == 0,
	      "transmitq: the line to the host comes back used (the host connected and read it)");

	/* the reply may come in pieces */
	char got[128];
	unsigned ngot = 0;
	int bad = 0;
	uint64_t end = rdtsc() + 15000 * TICKS_PER_MS;
	while (ngot < sizeof reply - 1 && rdtsc() < end) {
		if (!q_used(rx, &id, &len)) {
			relax();
			continue;
		}
		if (id >= RXN || len > RXB) {
			bad = 1;
			break;
		}
		for (uint32_t i = 0; i < len && ngot < sizeof got; i++)
			got[ngot++] = (char)cons_rx[id][i];
		cons_post_rx(d, (uint16_t)id);
		q_notify(d, 0);
	}
	if (!check(!bad && ngot == sizeof reply - 1 && memcmp(got, reply, ngot) == 0,
		   "receiveq: the host's answer arrives intact in the posted buffers"))
		diag2("bytes received", ngot);

	/* the burst: every transmit buffer in flight, refilled as they return */
	uint16_t freel[QSZ];
	unsigned nfree = 0, inflight = 0, maxin = 0;
	for (uint16_t i = 0; i < QSZ; i++) {
		freel[nfree++] = i;
		for (uint32_t o = 8; o < 4096; o++)
			cons_tx[i][o] = burst_byte(o);
	}
	uint64_t queued = 0, done = 0;
	uint32_t lens[QSZ];
	end = rdtsc() + 20000 * TICKS_PER_MS;
	while (done < CONS_BURST && rdtsc() < end) {
		while (q_used(tx, &id, &len)) {
			if (id >= QSZ) {
				bad = 1;
				break;
			}
			freel[nfree++] = (uint16_t)id;
			inflight--;
			done += lens[id];
		}
		if (bad)
			break;
		unsigned added = 0;
		while (nfree && queued < CONS_BURST) {
			uint16_t i = freel[--nfree];
			uint32_t n = CONS_BURST - queued < 4096 ? (uint32_t)(CONS_BURST - queued) : 4096;
			uint64_t chunk = queued >> 12; /* queued is a multiple of 4096 */
			memcpy(cons_tx[i], &chunk, 8);
			tx->desc[i] = (struct vdesc){ (uint64_t)cons_tx[i], n, 0, 0 };
			lens[i] = n;
			q_add(tx, i);
			queued += n;
			inflight++;
			added++;
		}
		if (inflight > maxin)
			maxin = inflight;
		if (added)
			q_notify(d, 1);
		else
			relax();
	}
	if (!check(!bad && done == CONS_BURST, "a burst of 2 MiB: every transmit buffer comes back used"))
		diag2("bytes acknowledged", done);
	check(maxin == QSZ, "while the host does not read, the transmitq fills up (backpressure, no VMM buffering)");

	/* hostile: a transmit descriptor outside RAM breaks the device */
	int64_t mem = param_num("msbtest.mem", 0);
	tx->desc[0] = (struct vdesc){ (uint64_t)(mem > 0 ? mem : 64 << 20) + 4096, 64, 0, 0 };
	q_add(tx, 0);
	q_notify(d, 1);
	uint32_t st = rd(d, R_STATUS), isr = rd(d, R_INT_STATUS);
	if (!check((st & S_NEEDS_RESET) && (isr & 2),
		   "a transmit descriptor outside RAM: DEVICE_NEEDS_RESET + config interrupt"))
		diag2("Status", st);
	/* a looping chain after re-probing (no receive buffers, no output) */
	int re = vdev_init(d, 2, F_VERSION_1, 1, 0);
	tx->desc[0] = (struct vdesc){ (uint64_t)cons_tx[0], 8, D_NEXT, 1 };
	tx->desc[1] = (struct vdesc){ (uint64_t)cons_tx[1], 8, D_NEXT, 0 };
	q_add(tx, 0);
	q_notify(d, 1);
	st = rd(d, R_STATUS);
	check(re && (st & S_NEEDS_RESET), "after reset, a looping transmit chain: DEVICE_NEEDS_RESET");
	wr(d, R_STATUS, 0);
	check(rd(d, R_STATUS) == 0, "reset clears DEVICE_NEEDS_RESET");
	check_prefix = 0;
}

/* a number as Linux's memparse() takes it: 0x-hex or decimal, K/M/G */
static uint64_t parse_num(const char *s, uint64_t n, uint64_t *i, int suffix, int *ok)
{
	uint64_t r = 0, base = 10, digits = 0;
	if (*i + 2 < n && s[*i] == '0' && (s[*i + 1] == 'x' || s[*i + 1] == 'X')) {
		base = 16;
		*i += 2;
	}
	for (; *i < n; (*i)++, digits++) {
		char c = s[*i];
		unsigned v;
		if (c >= '0' && c <= '9')
			v = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			v = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			v = (unsigned)(c - 'A' + 10);
		else
			break;
		r = r * base + v;
	}
	if (!digits)
		*ok = 0;
	if (suffix && *i < n) {
		char c = s[*i];
		unsigned sh = c == 'K' || c == 'k' ? 10 : c == 'M' || c == 'm' ? 20 : c == 'G' || c == 'g' ? 30 : 0;
		if (sh) {
			r <<= sh;
			(*i)++;
		}
	}
	return r;
}

/* The devices announced by virtio_mmio.device= tokens, at most max of
 * them into devs; *ntok counts the tokens, *parse_ok drops to 0 when one
 * does not parse (or there are too many). Returns how many were found. */
static unsigned find_devices(struct vdev *devs, unsigned max, unsigned *ntok, int *parse_ok)
{
	static const char key[] = "virtio_mmio.device=";
	const uint64_t k = sizeof key - 1;
	unsigned ndev = 0;
	*ntok = 0;
	*parse_ok = 1;
	memset(devs, 0, max * sizeof *devs);
	for (uint64_t i = 0; i < cmdline_len; i++) {
		if ((i && cmdline[i - 1] != ' ') || i + k > cmdline_len ||
		    memcmp(cmdline + i, key, k) != 0)
			continue;
		(*ntok)++;
		uint64_t j = i + k;
		int ok_ = 1;
		uint64_t size = parse_num(cmdline, cmdline_len, &j, 1, &ok_);
		if (j >= cmdline_len || cmdline[j++] != '@')
			ok_ = 0;
		uint64_t addr = ok_ ? parse_num(cmdline, cmdline_len, &j, 0, &ok_) : 0;
		if (j >= cmdline_len || cmdline[j++] != ':')
			ok_ = 0;
		uint64_t irq = ok_ ? parse_num(cmdline, cmdline_len, &j, 0, &ok_) : 0;
		if (j < cmdline_len && cmdline[j] != ' ')
			ok_ = 0;
		if (!ok_ || size < 0x100 || size > 0x1000 || ((addr ^ (addr + size - 1)) >> 12) ||
		    ndev == max) {
			*parse_ok = 0;
			continue;
		}
		devs[ndev].base = addr;
		devs[ndev].size = size;
		devs[ndev].irq = (unsigned)irq;
		ndev++;
	}
	return ndev;
}

/* Ring memory for d's nq queues, from ring_mem; 0 when it ran out. */
static int vdev_rings(struct vdev *d, unsigned nq)
{
	if (rings_used + nq > 3)
		return 0;
	for (unsigned qi = 0; qi < nq; qi++, rings_used++) {
		d->q[qi].desc = (struct vdesc *)(void *)ring_mem[rings_used][0];
		d->q[qi].avail = (volatile uint16_t *)(void *)ring_mem[rings_used][1];
		d->q[qi].used = ring_mem[rings_used][2];
	}
	return 1;
}

static void virtio_checks(void)
{
	struct vdev devs[4];
	unsigned ntok;
	int parse_ok;
	unsigned ndev = find_devices(devs, 4, &ntok, &parse_ok);
	if (ntok == 0) {
		puts_("# no virtio devices\n");
		return;
	}
	int64_t want = param_num("msbtest.virtio_devices", 0);
	if (!check(parse_ok && (want < 0 || (int64_t)ndev == want),
		   "virtio_mmio.device= tokens parse (SIZE@ADDR:IRQ), as many as msbtest.virtio_devices"))
		diag2("devices", ndev);

	int64_t mem = param_num("msbtest.mem", 0);
	int mapped = 1;
	for (unsigned i = 0; i < ndev; i++)
		mapped &= map_mmio_page(devs[i].base) == 0;
	check(mapped, "virtio-mmio windows mapped (4 KiB pages, uncached, above the identity map)");
	if (!mapped)
		return;
	for (unsigned i = 0; i < ndev; i++) {
		struct vdev *d = &devs[i];
		uint32_t magic = rd(d, R_MAGIC), ver = rd(d, R_VERSION);
		d->id = rd(d, R_DEVICE_ID);
		if (!vdev_rings(d, d->id == 3 ? 2 : 1)) {
			check(0, "virtio: ring memory for every device");
			continue;
		}
		check_prefix = d->id == 2 ? "virtio-blk: " : d->id == 3 ? "virtio-console: " : "virtio-?: ";
		if (!check(magic == VIRTIO_MAGIC && ver == 2 && (d->id == 2 || d->id == 3),
			   "MagicValue 'virt', Version 2 (modern), a known DeviceID")) {
			diag2("MagicValue", magic);
			diag2("Version", ver);
			diag2("DeviceID", d->id);
			check_prefix = 0;
			continue;
		}
		check_prefix = 0;
		if (d->id == 2)
			blk_checks(d, mem);
		else
			console_checks(d);
	}
}

static int in_usable_ram(const struct e820 *e, unsigned n, uint64_t a, uint64_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].type == 1 && a >= e[i].addr && a + len <= e[i].addr + e[i].size &&
		    a + len >= a)
			return 1;
	return 0;
}

static void check_mptable(int64_t want_cpus)
{
	/* the floating pointer in the last KiB of base memory or the BIOS area */
	const uint8_t *mpf = 0;
	for (uint64_t a = 0x9fc00; a < 0xa0000 && !mpf; a += 16)
		if (memcmp((const void *)a, "_MP_", 4) == 0)
			mpf = (const uint8_t *)a;
	for (uint64_t a = 0xf0000; a < 0x100000 && !mpf; a += 16)
		if (memcmp((const void *)a, "_MP_", 4) == 0)
			mpf = (const uint8_t *)a;
	if (!check(mpf != 0, "MP floating pointer found")) {
		check(0, "MP configuration table valid");
		check(0, "MP table announces every vCPU");
		return;
	}
	uint8_t s = 0;
	for (int i = 0; i < 16; i++)
		s = (uint8_t)(s + mpf[i]);
	uint32_t phys = *(const uint32_t *)(mpf + 4);
	const uint8_t *mpc = (const uint8_t *)(uint64_t)phys;
	int ok = s == 0 && phys >= 0x9fc00 && phys < 0xa0000 && memcmp(mpc, "PCMP", 4) == 0;
	uint16_t len = ok ? *(const uint16_t *)(mpc + 4) : 0;
	if (ok) {
		uint8_t t = 0;
		for (unsigned i = 0; i < len; i++)
			t = (uint8_t)(t + mpc[i]);
		ok = t == 0 && len >= 44 && phys + len <= 0xa0000;
	}
	check(ok, "MP configuration table valid (signatures, checksums, inside the EBDA)");
	unsigned cpus = 0, bsp = 0, ioapic = 0;
	for (unsigned off = 44; ok && off < len;) {
		uint8_t type = mpc[off];
		if (type == 0) {
			if (mpc[off + 3] & 1)
				cpus++;
			if (mpc[off + 3] & 2)
				bsp++;
			off += 20;
		} else if (type <= 4) {
			if (type == 2)
				ioapic++;
			off += 8;
		} else {
			break;
		}
	}
	if (!check(ok && (int64_t)cpus == want_cpus && bsp == 1 && ioapic == 1,
		   "MP table announces every vCPU (one BSP) and one IOAPIC"))
		diag2("processors in the MP table", cpus);
}

/* Point cmdline/cmdline_len at boot_params' command line: 1 when it is
 * set, in low memory and NUL-terminated within cmdline_size, else 0 (and
 * no command line). */
static int cmdline_init(uint8_t *bp)
{
	uint32_t cl = BP(bp, 0x228, uint32_t), clsize = BP(bp, 0x238, uint32_t);
	uint64_t n = 0;
	if (cl && cl < 0x100000)
		while (n <= clsize && ((const char *)(uint64_t)cl)[n])
			n++;
	int cl_ok = cl != 0 && cl < 0x100000 && n <= clsize && clsize >= 255;
	cmdline = cl_ok ? (const char *)(uint64_t)cl : 0;
	cmdline_len = cl_ok ? n : 0;
	return cl_ok;
}

/* ---- bench mode (bench/vmm.c is the other end) ---------------------------------
 *
 * Selected by "msbtest.bench=1" as the FIRST word of the command line: it
 * is recognised with two 8-byte loads before anything else runs (on this
 * project's PVM host every guest instruction at CPL 0 is emulated, ~0.3 us
 * each, so scanning the whole command line first would cost ~1 ms). Then,
 * on the serial port, one line per step (the host times their arrival;
 * msb-vmm's 8250 hands its log a line at a time):
 *   "\n"        at once: the first console byte
 *   "M\n" .. "m\n"   around msbtest.bench_mmio=K reads of the first
 *              virtio-mmio device's MagicValue (K MMIO exits)
 *   "E\n"       with msbtest.bench_echo=1: the virtio-console device is up
 *              with its receive buffers posted; from now on every chunk the
 *              host sends is transmitted back from the buffer it arrived in
 *              (no copy), until a chunk starting with 0x04 (EOT) arrives
 * then the guest ends through the debug exit port: 0, or 2 when nothing
 * came for 30 s, 3 for a device that misbehaved, 4 for a bad command line.
 */
static int bench_selected(const uint8_t *bp)
{
	uint32_t cl = BP(bp, 0x228, uint32_t);
	if (!cl || cl >= 0x100000 - 16)
		return 0;
	static const char key[16] = "msbtest.bench=1"; /* and a NUL */
	uint64_t w[2], k[2];
	__builtin_memcpy(w, (const void *)(uint64_t)cl, 16);
	__builtin_memcpy(k, key, 16);
	return w[0] == k[0] && (w[1] & 0x00ffffffffffffffull) == k[1] &&
	       ((w[1] >> 56) == ' ' || (w[1] >> 56) == 0);
}

/* K reads of a register: the same three instructions the bench's own bare
 * VM runs for its floor (movl (%rbx), %eax; dec %ecx; jnz). */
static void bench_mmio(uint64_t addr, uint32_t k)
{
	__asm__ volatile("1: movl (%1), %%eax\n\tdec %0\n\tjnz 1b"
			 : "+c"(k) : "b"(addr) : "eax", "memory");
}

static int bench_echo(struct vdev *d)
{
	if (!vdev_rings(d, 2) || !vdev_init(d, 2, F_VERSION_1, 1, 0))
		return 3;
	struct gq *rx = &d->q[0], *tx = &d->q[1];
	for (uint16_t i = 0; i < RXN; i++)
		cons_post_rx(d, i);
	q_notify(d, 0);
	puts_("E\n");
	uint64_t deadline = rdtsc() + 30000 * TICKS_PER_MS;
	for (;;) {
		uint32_t id, len, tid, tlen;
		if (!q_used(rx, &id, &len)) {
			if (rdtsc() > deadline)
				return 2;
			relax();
			continue;
		}
		if (id >= RXN || len > RXB)
			return 3;
		if (len && cons_rx[id][0] == 0x04)
			return 0;
		tx->desc[id] = (struct vdesc){ (uint64_t)cons_rx[id], len, 0, 0 };
		q_add(tx, (uint16_t)id);
		q_notify(d, 1);
		if (!q_wait(tx, 30000) || !q_used(tx, &tid, &tlen) || tid != id)
			return 3;
		cons_post_rx(d, (uint16_t)id);
		q_notify(d, 0);
		deadline = rdtsc() + 30000 * TICKS_PER_MS;
	}
}

static int bench_main(uint8_t *bp)
{
	putc_('\n'); /* the first console byte */
	if (!cmdline_init(bp))
		return 4;
	int64_t k = param_num("msbtest.bench_mmio", 0);
	int64_t echo = param_num("msbtest.bench_echo", 0);
	if (k <= 0 && echo <= 0)
		return 0;
	struct vdev devs[4];
	unsigned ntok;
	int parse_ok;
	unsigned ndev = find_devices(devs, 4, &ntok, &parse_ok);
	struct vdev *con = 0;
	for (unsigned i = 0; i < ndev; i++) {
		if (map_mmio_page(devs[i].base) < 0)
			return 4;
		devs[i].id = rd(&devs[i], R_DEVICE_ID);
		if (devs[i].id == 3 && !con)
			con = &devs[i];
	}
	if (k > 0) {
		if (!ndev || k > 0xffffffffll)
			return 4;
		puts_("M\n");
		bench_mmio(devs[0].base + R_MAGIC, (uint32_t)k);
		puts_("m\n");
	}
	if (echo > 0)
		return con ? bench_echo(con) : 4;
	return 0;
}

/* ---- CPUID: the CPU msb-vmm makes of KVM's supported set (vmm/cpuid.c) ----
 * (A PVM host answers some leaves, such as 1 ECX, 7 and 0xD, from its own
 * view of the CPU instead; the same properties must hold there too.) */

struct regs4 {
	uint32_t a, b, c, d;
};

static struct regs4 cpuid(uint32_t leaf, uint32_t sub)
{
	struct regs4 r;
	__asm__ volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(sub));
	return r;
}

/* The XSAVE image size for the user components in xcr0 (standard format). */
static uint32_t xsave_size(uint64_t xcr0)
{
	uint32_t size = 576;
	for (unsigned i = 2; i < 64; i++)
		if (xcr0 >> i & 1) {
			struct regs4 s = cpuid(0xd, i);
			if (s.b + s.a > size)
				size = s.b + s.a;
		}
	return size;
}

static void check_cpuid(int64_t want_cpus)
{
	struct regs4 l0 = cpuid(0, 0), l1 = cpuid(1, 0);
	check(l1.c >> 31 & 1, "CPUID: the hypervisor bit (leaf 1 ECX[31])");

	struct regs4 h = cpuid(0x40000000, 0);
	if (!check(h.b == 0x4b4d564b && h.c == 0x564b4d56 && h.d == 0x4d &&
		   h.a >= 0x40000001 && h.a < 0x40000100,
		   "CPUID 0x40000000: signature KVMKVMKVM, EAX = the last KVM leaf (>= 0x40000001)")) {
		diag2("eax", h.a);
		diag2("ebx", h.b);
	}

	/* XSAVE: every offered component has a subleaf and its CPU feature,
	 * ECX is the image for all of them */
	if (!(l1.c >> 26 & 1) || l0.a < 0xd) {
		check(1, "CPUID 0xD: XSAVE components match the features and sizes (no XSAVE)");
	} else {
		struct regs4 d0 = cpuid(0xd, 0), l7 = l0.a >= 7 ? cpuid(7, 0) : (struct regs4){ 0 };
		uint64_t offered = (uint64_t)d0.d << 32 | d0.a;
		int ok = (offered & 3) == 3;
		for (unsigned i = 2; i < 64; i++)
			if (offered >> i & 1 && cpuid(0xd, i).a == 0)
				ok = 0;
		if ((offered & 0x4) && !(l1.c >> 28 & 1))      /* YMM without AVX */
			ok = 0;
		if ((offered & 0xe0) && !(l7.b >> 16 & 1))     /* AVX-512 state without AVX512F */
			ok = 0;
		if ((offered & 0x200) && !(l7.c >> 3 & 1))     /* PKRU without PKU */
			ok = 0;
		uint32_t all = xsave_size(offered);
		if (!check(ok && d0.c == all,
			   "CPUID 0xD: XSAVE components match the features and sizes")) {
			diag2("offered", offered);
			diag2("ecx", d0.c);
			diag2("computed size", all);
		}
	}

	/* topology: one package of msbtest.cpus cores, one thread each; this is
	 * the boot vCPU, APIC id 0 */
	int topo = want_cpus > 0 && (l1.b >> 24) == 0 && (int64_t)(l1.b >> 16 & 0xff) == want_cpus &&
		   (want_cpus == 1 || (l1.d >> 28 & 1));  /* HTT: EBX[23:16] is valid */
	if (l0.a >= 4)
		for (unsigned i = 0; i < 8; i++) {
			struct regs4 c4 = cpuid(4, i);
			if ((c4.a & 0x1f) == 0)
				break;
			unsigned share = (c4.a >> 14 & 0xfff) + 1, level = c4.a >> 5 & 7;
			if ((int64_t)(c4.a >> 26) + 1 != want_cpus ||
			    share != (level >= 3 ? (unsigned)want_cpus : 1u))
				topo = 0;
		}
	for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb) {
		if (l0.a < leaf || cpuid(leaf, 0).b == 0)
			continue;
		struct regs4 smt = cpuid(leaf, 0), core = cpuid(leaf, 1), end = cpuid(leaf, 2);
		if (smt.b != 1 || (smt.c >> 8 & 0xff) != 1 || smt.d != 0 ||
		    (int64_t)core.b != want_cpus || (core.c >> 8 & 0xff) != 2 ||
		    (1ll << (core.a & 0x1f)) < want_cpus || (end.c >> 8 & 0xff) != 0)
			topo = 0;
	}
	struct regs4 e0 = cpuid(0x80000000, 0);
	int amd = l0.b == 0x68747541 && l0.c == 0x444d4163 && l0.d == 0x69746e65;
	if (amd && e0.a >= 0x80000008 && (int64_t)(cpuid(0x80000008, 0).c & 0xff) + 1 != want_cpus)
		topo = 0;
	if (!check(topo, "CPUID topology: APIC id 0, msbtest.cpus cores in one package "
			 "(leaves 1, 4, 0xB, 0x1F, 0x80000008)")) {
		diag2("leaf 1 ebx", l1.b);
		diag2("leaf 1 edx", l1.d);
	}
}

int guest_main(uint8_t *bp, struct entry_state *st);
int guest_main(uint8_t *bp, struct entry_state *st)
{
	if (bench_selected(bp))
		return bench_main(bp);
	puts_("# msb-vmm test guest\n");

	/* entry state, as the 64-bit boot protocol specifies */
	check((st->rflags & 0x200) == 0, "entered with interrupts disabled");
	if (!check(st->cs == 0x10 && st->ds == 0x18 && st->ss == 0x18,
		   "segments: CS = __BOOT_CS 0x10, DS = SS = __BOOT_DS 0x18")) {
		diag2("cs", st->cs);
		diag2("ds", st->ds);
		diag2("ss", st->ss);
	}
	check(st->rip == 0x100000, "entered at the ELF entry point (1 MiB, identity-mapped)");
	check(bp != 0 && (uint64_t)bp < 0x100000 && ((uint64_t)bp & 0xfff) == 0,
	      "RSI holds boot_params (page-aligned, low memory)");

	/* setup_header */
	check(BP(bp, 0x202, uint32_t) == 0x53726448, "boot_params header magic HdrS at 0x202");
	check(BP(bp, 0x1fe, uint16_t) == 0xaa55, "boot_flag 0xAA55 at 0x1fe");
	check(BP(bp, 0x206, uint16_t) >= 0x0206, "boot protocol version >= 2.06");
	check(BP(bp, 0x210, uint8_t) == 0xff, "type_of_loader 0xff");
	check(BP(bp, 0x211, uint8_t) & 0x01, "loadflags LOADED_HIGH");

	/* the command line */
	check(cmdline_init(bp), "cmd_line_ptr set, NUL-terminated within cmdline_size");
	uint64_t tlen = 0;
	const char *tok = param("msbtest.token", &tlen);
	int64_t tsum = param_num("msbtest.token_sum", 1);
	check(tok && tlen > 0 && tsum >= 0 && fnv1a((const uint8_t *)tok, tlen) == (uint32_t)tsum,
	      "command line carries msbtest.token intact (FNV-1a matches)");

	/* the e820 map */
	unsigned ne = BP(bp, 0x1e8, uint8_t);
	const struct e820 *e = (const struct e820 *)(bp + 0x2d0);
	int e_ok = ne >= 1 && ne <= 128;
	uint64_t prev_end = 0, ram = 0, top = 0;
	for (unsigned i = 0; e_ok && i < ne; i++) {
		if (e[i].size == 0 || e[i].addr < prev_end || e[i].addr + e[i].size < e[i].addr ||
		    e[i].type < 1 || e[i].type > 5)
			e_ok = 0;
		prev_end = e[i].addr + e[i].size;
		if (e[i].type == 1) {
			ram += e[i].size;
			top = prev_end;
		}
	}
	check(e_ok, "e820 map: 1..128 sorted, non-overlapping entries of known types");
	check(e_ok && in_usable_ram(e, ne, 0, 0x9f000), "e820: usable RAM below 640 KiB");
	int rsv = 0;
	for (unsigned i = 0; e_ok && i < ne; i++)
		if (e[i].type == 2 && e[i].addr <= 0x9fc00 && e[i].addr + e[i].size >= 0x100000)
			rsv = 1;
	check(rsv, "e820: 0x9fc00-0x100000 reserved (EBDA, MP table, BIOS area)");
	int64_t want_mem = param_num("msbtest.mem", 0);
	check(e_ok && in_usable_ram(e, ne, 0x100000, (uint64_t)(_end - _start)) &&
	      want_mem > 0 && top == (uint64_t)want_mem,
	      "e820: usable from 1 MiB to the top of guest memory (msbtest.mem)");
	if (top != (uint64_t)want_mem) {
		diag2("top of usable RAM", top);
		diag2("msbtest.mem", (uint64_t)want_mem);
	}

	/* the initrd */
	uint32_t rd = BP(bp, 0x218, uint32_t), rdsize = BP(bp, 0x21c, uint32_t);
	int64_t want_rdsize = param_num("msbtest.initrd_size", 0);
	int64_t want_rdsum = param_num("msbtest.initrd_sum", 1);
	if (want_rdsize >= 0) {
		int placed = rd != 0 && (rd & 0xfff) == 0 && rd >= (uint64_t)_end &&
			     in_usable_ram(e, ne, rd, rdsize);
		check(placed && rdsize == (uint64_t)want_rdsize,
		      "initrd: ramdisk_image/size page-aligned, above the kernel, in usable RAM");
		check(placed && want_rdsum >= 0 &&
		      fnv1a((const uint8_t *)(uint64_t)rd, rdsize) == (uint32_t)want_rdsum,
		      "initrd: bytes match msbtest.initrd_sum (read through the identity map)");
	} else {
		check(rd == 0 && rdsize == 0, "no initrd: ramdisk_image/size are zero");
	}

	check_mptable(param_num("msbtest.cpus", 0));
	check_cpuid(param_num("msbtest.cpus", 0));

	virtio_checks();

	puts_("1..");
	putu(ntests);
	putc_('\n');
	if (nfailed) {
		puts_("# failed ");
		putu(nfailed);
		puts_(" of ");
		putu(ntests);
		putc_('\n');
	} else {
		puts_("# all checks passed\n");
	}
	return nfailed ? 1 : 0;
}
