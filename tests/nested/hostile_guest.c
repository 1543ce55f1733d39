/*
 * hostile_guest.c - the hostile guest: root in a microVM attacks msb-vmm's
 * devices.  Its checker, in L1, is hostile.c (what they agree on:
 * hostile.h); msb-vmm must survive or exit cleanly and its host must be
 * unaffected.
 *
 * As PID 1 of the guest (msb-vmm --init hostile_guest, started by the
 * checker) it attacks, phase by phase, reporting on the serial console
 * through /dev/kmsg (printk writes the 8250 directly, whole lines, and
 * survives the virtio devices breaking) as "HOSTILE: ..." lines, then
 * reboots (reboot=k: msb-vmm exits 0):
 *   1. floods the virtio console (/dev/hvc0, raw) with FLOOD_BYTES of a
 *      counter sequence (32-bit little-endian words 0, 1, 2, ...) as fast
 *      as it goes, while the checker deliberately does not read for STALL_MS
 *      (a watchdog child reports the console's queues should it stall);
 *   2. abuses the disk (/dev/vda): garbage over all of it with O_DIRECT in
 *      random sizes, tiny and huge requests, unaligned ones, reads and
 *      writes past the end, buffered odd-sized writes; then writes the
 *      final pattern (FINAL_SEED) over the whole disk and reads it back;
 *   3. garbage port I/O with iopl(3) to ports that exit to msb-vmm (random
 *      widths, values, rep ins/outs), then garbage into the 8250's
 *      registers, which it restores; never the in-kernel PIC/PIT/ELCR
 *      ports, the debug exit port 0x501, the i8042 reset (0xfe to 0x64),
 *      or the PC reset controls 0x92 and 0xcf9, which would end the VM or
 *      the guest early.  On one vCPU (see `both').  Skipped, and
 *      reported so (a TAP SKIP), when the guest kernel has no iopl()
 *      (CONFIG_X86_IOPL_IOPERM);
 *   4. maps the virtio-mmio windows through /dev/mem and (after this the
 *      guest's own virtio drivers are broken for good):
 *      - writes garbage (on one vCPU: see `both') at random offsets and
 *        widths (1, 2, 4, 8, 16 and 32 bytes, aligned and not, rep movs,
 *        locked ops), with queue addresses outside RAM, in the MMIO
 *        window, overlapping one another, huge queue sizes, garbage Status
 *        bits; then storms of QueueReady and QueueNotify, a queue outside
 *        RAM; reports each device's Status and whether DEVICE_NEEDS_RESET
 *        (0x40) is set.  Ring addresses the garbage sets are only ever
 *        outside RAM, in this program's own (zeroed, locked) pages or in
 *        page 0, so that the devices never write into memory the guest
 *        kernel uses;
 *      - drives each device itself, as a driver in user space, through
 *        rings forged in locked pages (physical addresses from
 *        /proc/self/pagemap): valid requests after the garbage (the device
 *        must work again after a reset), requests the device must refuse
 *        (past the end, overflowing sectors, odd lengths, unknown types),
 *        and broken rings (buffers past RAM or in MMIO, addr + len
 *        overflow, loops, bad indices, indirect tables pointing anywhere,
 *        nested or looping, ring addresses outside RAM or misaligned, bad
 *        queue sizes), each of which must set DEVICE_NEEDS_RESET, make the
 *        device ignore notifies and be cleared by a reset.  Each outcome is
 *        one "HOSTILE: check ok|FAIL <name>" line;
 *   5. touches the guest's memory: MemAvailable less a margin;
 *   6. after its summary line, floods the serial console past msb-vmm's
 *      cap on the serial log (SERIAL_CAP): about a minute, an exit a byte.
 *
 * Its command line (hostile.seed=S, and the checker's --guest-args:
 * hostile.only=N, hostile.both, hostile.serial_kib=N) steers it; see the
 * debugging aids below.  Run other than as PID 1 it refuses.  A static
 * program, built by the Makefile as $(B)/nested/hostile_guest.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "hostile.h"
#include "nested.h"

/* The checks the guest reports, one line each: fixed ones plus one per
 * forged-ring case (the tables below). */
#define GUEST_FIXED_CHECKS 4

#define VIRTIO_WIN 0x200u
#define MAX_WINS   8

/* virtio-mmio registers and bits */
#define R_MAGIC         0x000
#define R_VERSION       0x004
#define R_DEVICE_ID     0x008
#define R_DEV_FEAT      0x010
#define R_DEV_FEAT_SEL  0x014
#define R_DRV_FEAT      0x020
#define R_DRV_FEAT_SEL  0x024
#define R_QUEUE_SEL     0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM     0x038
#define R_QUEUE_READY   0x044
#define R_QUEUE_NOTIFY  0x050
#define R_INT_STATUS    0x060
#define R_INT_ACK       0x064
#define R_STATUS        0x070
#define R_DESC_LO       0x080
#define R_DESC_HI       0x084
#define R_AVAIL_LO      0x090
#define R_AVAIL_HI      0x094
#define R_USED_LO       0x0a0
#define R_USED_HI       0x0a4
#define R_CONFIG_GEN    0x0fc
#define R_CONFIG        0x100

#define S_ACK         0x01
#define S_DRIVER      0x02
#define S_DRIVER_OK   0x04
#define S_FEATURES_OK 0x08
#define S_NEEDS_RESET 0x40
#define S_UP          (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)

#define F_INDIRECT  (1ull << 28)
#define F_VERSION_1 (1ull << 32)

#define D_NEXT     1
#define D_WRITE    2
#define D_INDIRECT 4

#define BLK_T_IN     0
#define BLK_T_OUT    1
#define BLK_T_FLUSH  4
#define BLK_T_GET_ID 8

static int kmsg_fd = -1, ttys_fd = -1;
static int g_passed, g_failed;
static bool have_iopl;
/* Debugging aids, from the command line (hostile --guest-args): run only
 * phase N (hostile.only=N; and phase 2 before it: the random sequence goes
 * on from there); the port I/O and MMIO garbage from both vCPUs at once
 * (hostile.both).
 *
 * Why not both by default: from both vCPUs at once, the garbage -- any
 * ports or MMIO, even addresses nothing emulates -- makes L1 reset
 * silently (QEMU exits 0), or the guest triple-fault or hang, in about
 * every other run under tests/nested/run (QEMU's TCG emulating SVM for two
 * L1 CPUs), never from one. A fault of the emulated platform: msb-vmm is
 * a sandboxed process in L1, and serialises its device handlers anyway,
 * so two streams would add little here. */
static int only;
static bool both;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint32_t rnd32(void)
{
	return (uint32_t)(rnd() >> 32);
}

/* One report line on the serial console: through printk when it can (whole
 * lines, written by the kernel's polling 8250 console), else ttyS0. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[700];
	va_list ap;
	int n = snprintf(buf, sizeof buf, "<3>HOSTILE: "), m;

	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	if ((size_t)m > sizeof buf - (size_t)n - 2)
		m = (int)(sizeof buf - (size_t)n - 2);
	n += m;
	buf[n++] = '\n';
	if (kmsg_fd >= 0 && write(kmsg_fd, buf, (size_t)n) == n)
		return;
	if (ttys_fd >= 0)
		(void)!write(ttys_fd, buf + 3, (size_t)n - 3);
}

static bool gcheck(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool gcheck(bool ok, const char *fmt, ...)
{
	char msg[560];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	say("check %s %s", ok ? "ok" : "FAIL", msg);
	if (ok)
		g_passed++;
	else
		g_failed++;
	return ok;
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		(void)!write(fd, text, strlen(text));
		close(fd);
	}
}

static unsigned long long meminfo_kb(const char *key)
{
	char mi[4096], *p;

	if (read_text("/proc/meminfo", mi, sizeof mi) < 0 || !(p = strstr(mi, key)))
		return 0;
	return strtoull(p + strlen(key), NULL, 10);
}

/* ---- faults: some instructions on MMIO may not be emulated ---------------- */

static sigjmp_buf probe_jb;
static volatile sig_atomic_t probing;
static unsigned long probe_faults;

static void on_fault(int sig)
{
	if (probing)
		siglongjmp(probe_jb, sig);
	say("unexpected signal %d in the guest's init: rebooting", sig);
	reboot(RB_AUTOBOOT);
	_exit(1);
}

/* Run fn(arg); a fault inside it (SIGSEGV, SIGBUS, SIGILL: an access KVM
 * does not emulate becomes #UD or #GP for the guest) is counted. */
static int probe(void (*fn)(void *), void *arg)
{
	void (*volatile f)(void *) = fn;
	void *volatile a = arg;

	if (sigsetjmp(probe_jb, 1)) {
		probing = 0;
		probe_faults++;
		return -1;
	}
	probing = 1;
	f(a);
	probing = 0;
	return 0;
}

/* ---- exact-width accesses ---------------------------------------------------- */

static void io_write(volatile uint8_t *p, unsigned width, uint64_t v)
{
	switch (width) {
	case 1: __asm__ volatile("movb %b1, (%0)" : : "r"(p), "q"((uint8_t)v) : "memory"); break;
	case 2: __asm__ volatile("movw %w1, (%0)" : : "r"(p), "r"((uint16_t)v) : "memory"); break;
	case 4: __asm__ volatile("movl %k1, (%0)" : : "r"(p), "r"((uint32_t)v) : "memory"); break;
	default: __asm__ volatile("movq %1, (%0)" : : "r"(p), "r"(v) : "memory"); break;
	}
}

static uint64_t io_read(volatile uint8_t *p, unsigned width)
{
	uint64_t v = 0;

	switch (width) {
	case 1: __asm__ volatile("movzbq (%1), %0" : "=r"(v) : "r"(p) : "memory"); break;
	case 2: __asm__ volatile("movzwq (%1), %0" : "=r"(v) : "r"(p) : "memory"); break;
	case 4: { uint32_t w; __asm__ volatile("movl (%1), %0" : "=r"(w) : "r"(p) : "memory"); v = w; break; }
	default: __asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(p) : "memory"); break;
	}
	return v;
}

struct wide_op {
	volatile uint8_t *p;
	uint8_t buf[64];
	unsigned kind;    /* 0 sse write, 1 sse read, 2 avx write, 3 avx read, 4 rep movsb, 5 lock xadd */
	unsigned len;
};

static void wide_access(void *arg)
{
	struct wide_op *o = arg;

	switch (o->kind) {
	case 0:
		__asm__ volatile("movdqu (%1), %%xmm0\n\tmovdqu %%xmm0, (%0)"
				 : : "r"(o->p), "r"(o->buf) : "xmm0", "memory");
		break;
	case 1:
		__asm__ volatile("movdqu (%0), %%xmm0\n\tmovdqu %%xmm0, (%1)"
				 : : "r"(o->p), "r"(o->buf) : "xmm0", "memory");
		break;
	case 2:
		__asm__ volatile("vmovdqu (%1), %%ymm0\n\tvmovdqu %%ymm0, (%0)\n\tvzeroupper"
				 : : "r"(o->p), "r"(o->buf) : "xmm0", "memory");
		break;
	case 3:
		__asm__ volatile("vmovdqu (%0), %%ymm0\n\tvmovdqu %%ymm0, (%1)\n\tvzeroupper"
				 : : "r"(o->p), "r"(o->buf) : "xmm0", "memory");
		break;
	case 4: {
		volatile uint8_t *d = o->p;
		const uint8_t *s = o->buf;
		size_t n = o->len;

		__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
		break;
	}
	default: {
		uint32_t v = 1;

		__asm__ volatile("lock xaddl %0, (%1)" : "+r"(v) : "r"(o->p) : "memory");
		break;
	}
	}
}

/* Run fn(ops / 2) on both vCPUs at once: in a child pinned to CPU 1 (with
 * its own random sequence) and here, pinned to CPU 0; or, not two, all of
 * it here. Returns the child's wait status (or -1). */
static int on_cpus(void (*fn)(unsigned), unsigned ops, bool two)
{
	cpu_set_t set;
	int st = -1;
	pid_t pid = two ? fork() : -1;

	if (pid == 0) {
		CPU_ZERO(&set);
		CPU_SET(1, &set);
		sched_setaffinity(0, sizeof set, &set);
		rng ^= 0x5851f42d4c957f2dull;
		fn(ops / 2);
		_exit(0);
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof set, &set);
	fn(pid > 0 ? ops / 2 : ops);
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	CPU_SET(1, &set);
	sched_setaffinity(0, sizeof set, &set);
	return st;
}

/* ======================= phase 1: flood the console ======================== */

#define WATCH_MS 15000
static void flood_watchdog(volatile uint64_t *progress);   /* after phase 4's helpers */

static void phase_flood(void)
{
	static uint8_t buf[64 << 10];
	struct termios t;
	uint64_t sent = 0;
	volatile uint64_t *progress;
	cpu_set_t set;
	pid_t dog = -1;
	long t0;
	int con;

	con = wait_open("/dev/hvc0", O_RDWR, 20000);
	if (con < 0) {
		say("phase 1 failed: /dev/hvc0: %s", strerror(errno));
		return;
	}
	if (tcgetattr(con, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(con, TCSANOW, &t);
	}
	say("phase 1 flood start bytes=%u", FLOOD_BYTES);
	/* a watchdog on CPU 1 reports the console's state should the flood
	 * stop moving (the kernel spins on CPU 0, interrupts off, until the
	 * host takes each buffer) */
	progress = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progress != MAP_FAILED) {
		*progress = 0;
		dog = fork();
		if (dog == 0)
			flood_watchdog(progress);
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof set, &set);
	t0 = now_ms();
	while (sent < FLOOD_BYTES) {
		size_t n = sizeof buf, off = 0;

		if (n > FLOOD_BYTES - sent)
			n = (size_t)(FLOOD_BYTES - sent);
		for (size_t i = 0; i < n; i += 4) {   /* sent is a multiple of 4 */
			uint32_t word = (uint32_t)((sent + i) / 4);

			memcpy(buf + i, &word, 4);   /* little-endian: flood_byte() */
		}
		while (off < n) {
			ssize_t w = write(con, buf + off, n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				say("phase 1 failed: writing /dev/hvc0 after %llu bytes: %s",
				    (unsigned long long)(sent + off), w ? strerror(errno) : "wrote 0");
				close(con);
				sent = FLOOD_BYTES + 1;   /* ends both loops */
				break;
			}
			off += (size_t)w;
			if (progress != MAP_FAILED)
				*progress = sent + off;
		}
		if (sent > FLOOD_BYTES)
			break;
		sent += n;
	}
	if (sent <= FLOOD_BYTES) {
		tcdrain(con);
		close(con);
	}
	if (dog > 0) {
		*progress = UINT64_MAX;
		while (waitpid(dog, NULL, 0) < 0 && errno == EINTR)
			;
	}
	CPU_SET(1, &set);
	sched_setaffinity(0, sizeof set, &set);
	if (sent <= FLOOD_BYTES)
		say("phase 1 done bytes=%llu ms=%ld", (unsigned long long)sent, now_ms() - t0);
}

/* ======================= phase 2: abuse the disk =========================== */

struct tally {
	unsigned ok, err;
	int last_errno;
};

static void tally(struct tally *t, ssize_t r, size_t want)
{
	if (r == (ssize_t)want) {
		t->ok++;
	} else {
		t->err++;
		t->last_errno = r < 0 ? errno : 0;
	}
}

static void phase_disk(void)
{
	uint8_t *big = NULL, *chk = NULL;
	uint64_t size = 0;
	struct tally gar = {0}, tiny = {0};
	long t0 = now_ms();
	int fd, bfd;
	ssize_t r;
	char odd[400];
	size_t ol = 0;

	fd = open("/dev/vda", O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0) {
		gcheck(false, "disk: /dev/vda opens and has a size: %s", strerror(errno));
		gcheck(false, "disk: the guest's final pattern reads back (not run)");
		say("phase 2 failed");
		if (fd >= 0)
			close(fd);
		return;
	}
	gcheck(size == IMG_BYTES, "disk: /dev/vda has the image's size (%llu bytes, image %u)",
	       (unsigned long long)size, IMG_BYTES);
	if (posix_memalign((void **)&big, 4096, 2 * (size_t)IMG_BYTES + 8192) ||
	    posix_memalign((void **)&chk, 4096, IMG_BYTES)) {
		gcheck(false, "disk: the guest's final pattern reads back (out of memory)");
		say("phase 2 failed");
		close(fd);
		return;
	}
	for (size_t i = 0; i < 2 * (size_t)IMG_BYTES + 8192; i += 8) {
		uint64_t v = rnd();

		memcpy(big + i, &v, 8);
	}

	/* garbage over the whole disk, in random sizes */
	for (uint64_t off = 0; off < size;) {
		size_t n = SECTOR * (1 + (size_t)(rnd() % 2048));

		if (n > size - off)
			n = (size_t)(size - off);
		r = pwrite(fd, big + (rnd() % 512) * 4096 % IMG_BYTES, n, (off_t)off);
		tally(&gar, r, n);
		off += n;
	}
	/* tiny: single sectors at random places, written and read */
	for (int i = 0; i < 256; i++) {
		off_t at = (off_t)(rnd() % IMG_SECTORS) * SECTOR;

		tally(&tiny, i & 1 ? pread(fd, big, SECTOR, at) : pwrite(fd, big + 4096, SECTOR, at),
		      SECTOR);
	}
	/* huge: the whole disk at once, twice as much as the disk, half past the end */
	r = pwrite(fd, big, IMG_BYTES, 0);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " whole=%zd", r);
	r = pwrite(fd, big, 2 * (size_t)IMG_BYTES, 0);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " double=%zd", r);
	r = pread(fd, big, IMG_BYTES, IMG_BYTES / 2);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " read_straddle=%zd", r);
	/* unaligned O_DIRECT: buffer, offset, length */
	r = pwrite(fd, big + 1, SECTOR, 0);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " ua_buf=%zd/%s", r, r < 0 ? strerrorname_np(errno) : "-");
	r = pwrite(fd, big, SECTOR, 1);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " ua_off=%zd/%s", r, r < 0 ? strerrorname_np(errno) : "-");
	r = pwrite(fd, big, 100, 0);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " ua_len=%zd/%s", r, r < 0 ? strerrorname_np(errno) : "-");
	/* past the end */
	r = pread(fd, big, 4096, (off_t)size);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " rd_end=%zd", r);
	r = pread(fd, big, 4096, (off_t)1 << 60);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " rd_far=%zd", r);
	r = pwrite(fd, big, 4096, (off_t)size);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " wr_end=%zd/%s", r, r < 0 ? strerrorname_np(errno) : "-");
	r = pwrite(fd, big, 4096, (off_t)size - SECTOR);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " wr_straddle=%zd", r);
	r = pwrite(fd, big, 4096, (off_t)1 << 60);
	ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " wr_far=%zd/%s", r, r < 0 ? strerrorname_np(errno) : "-");
	/* through the page cache: odd sizes and offsets, across the end */
	bfd = open("/dev/vda", O_RDWR | O_CLOEXEC);
	if (bfd >= 0) {
		r = pwrite(bfd, big + 3, 1, 7);
		ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " b1=%zd", r);
		r = pwrite(bfd, big + 5, 4097, 4095);
		ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " b4097=%zd", r);
		r = pwrite(bfd, big, 3, (off_t)size - 1);
		ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " bend=%zd", r);
		r = pread(bfd, big, 100, (off_t)size - 1);
		ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " brd_end=%zd", r);
		ol += (size_t)snprintf(odd + ol, sizeof odd - ol, " bfsync=%d", fsync(bfd));
		close(bfd);
	}
	(void)ol;
	say("phase 2 garbage writes=%u/%u tiny=%u/%u (ok/failed)%s", gar.ok, gar.err, tiny.ok,
	    tiny.err, odd);

	/* the final pattern, read back from the device */
	fill_sectors(big, FINAL_SEED, 0, IMG_SECTORS);
	r = pwrite(fd, big, IMG_BYTES, 0);
	int fs = fsync(fd);
	ssize_t rr = pread(fd, chk, IMG_BYTES, 0);
	gcheck(r == IMG_BYTES && fs == 0 && rr == IMG_BYTES && !memcmp(big, chk, IMG_BYTES),
	       "disk: the guest's final pattern reads back (write %zd, fsync %d, read %zd)", r, fs, rr);
	close(fd);
	free(big);
	free(chk);
	say("phase 2 done ms=%ld", now_ms() - t0);
}

/* ======================= phase 3: garbage port I/O ========================== */

/* Ports the guest must not touch here: the in-kernel PIC, PIT (and its
 * speaker port) and ELCR (KVM handles them: garbage would only break the
 * guest itself), the debug exit port and PC reset controls (they would end
 * the VM early), and COM1, attacked separately and restored. */
static bool port_excluded(unsigned port, unsigned width)
{
	static const struct { unsigned lo, hi; } ex[] = {
		{ 0x20, 0x21 }, { 0xa0, 0xa1 }, { 0x40, 0x43 }, { 0x61, 0x61 }, { 0x4d0, 0x4d1 },
		{ 0x501, 0x501 }, { 0x92, 0x92 }, { 0xcf9, 0xcf9 }, { 0x3f8, 0x3ff },
	};

	if (port + width > 0x10000)
		return true;
	for (size_t i = 0; i < sizeof ex / sizeof *ex; i++)
		if (port <= ex[i].hi && port + width - 1 >= ex[i].lo)
			return true;
	return false;
}

/* 0xfe written to the i8042's command port resets (ends) the VM. */
static uint32_t tame_i8042(unsigned port, unsigned width, uint32_t v)
{
	if (port <= 0x64 && port + width > 0x64) {
		unsigned sh = 8 * (0x64 - port);

		if (((v >> sh) & 0xff) == 0xfe)
			v ^= 1u << sh;
	}
	return v;
}

static uint32_t interesting32(void)
{
	static const uint32_t v[] = {
		0, 1, 2, 3, 4, 7, 8, 0xf, 0x10, 0x40, 0x7f, 0x80, 0xff, 0x100, 0x1ff, 0x200,
		0x3ff, 0x400, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000,
		0xfffffffe, 0xffffffff,
	};

	return rnd() % 4 ? v[rnd() % (sizeof v / sizeof *v)] : rnd32();
}

static void pio_out(unsigned port, unsigned width, uint32_t v)
{
	if (width == 1)
		outb((uint8_t)v, (uint16_t)port);
	else if (width == 2)
		outw((uint16_t)v, (uint16_t)port);
	else
		outl(v, (uint16_t)port);
}

static uint32_t pio_in(unsigned port, unsigned width)
{
	return width == 1 ? inb((uint16_t)port) : width == 2 ? inw((uint16_t)port) : inl((uint16_t)port);
}

static void rep_out(unsigned port, unsigned width, const void *buf, size_t count)
{
	const void *s = buf;
	size_t n = count;

	if (width == 1)
		__asm__ volatile("rep outsb" : "+S"(s), "+c"(n) : "d"((uint16_t)port) : "memory");
	else if (width == 2)
		__asm__ volatile("rep outsw" : "+S"(s), "+c"(n) : "d"((uint16_t)port) : "memory");
	else
		__asm__ volatile("rep outsl" : "+S"(s), "+c"(n) : "d"((uint16_t)port) : "memory");
}

static void rep_in(unsigned port, unsigned width, void *buf, size_t count)
{
	void *d = buf;
	size_t n = count;

	if (width == 1)
		__asm__ volatile("rep insb" : "+D"(d), "+c"(n) : "d"((uint16_t)port) : "memory");
	else if (width == 2)
		__asm__ volatile("rep insw" : "+D"(d), "+c"(n) : "d"((uint16_t)port) : "memory");
	else
		__asm__ volatile("rep insl" : "+D"(d), "+c"(n) : "d"((uint16_t)port) : "memory");
}

#define PIO_OPS 100000
#define PIO_REPS 64
#define COM1 0x3f8

static unsigned pio_outs, pio_ins, pio_reps;

static void pio_garbage(unsigned ops)
{
	static const unsigned near[] = {
		0x60, 0x62, 0x63, 0x64, 0x70, 0x71, 0x80, 0x87, 0xed, 0x2f8, 0x2fa, 0x2fd, 0x3e8,
		0x2e8, 0x3f0, 0x3f7, 0x400, 0x4ff, 0x500, 0x502, 0x503, 0x510, 0xcf8, 0xcfa, 0xcfc,
		0xcfe, 0xfffc, 0xffff,
	};
	static uint8_t buf[4096];

	for (unsigned i = 0; i < ops; i++) {
		unsigned width = 1u << (rnd() % 3);
		unsigned port = rnd() % 2 ? near[rnd() % (sizeof near / sizeof *near)] + (unsigned)(rnd() % 4)
					  : (unsigned)(rnd() % 0x10000);
		bool out, rep_outs = false;
		uint32_t v = 0;
		size_t count = 0;

		if (i % 20000 == 0)
			say("phase 3 progress cpu %d op %u", sched_getcpu(), i);
		if (port_excluded(port, width))
			continue;
		out = rnd() % 2;
		if (out)
			v = tame_i8042(port, width, interesting32());
		if (i % (ops / PIO_REPS + 1) == 0) {   /* and now and then a rep ins/outs of up to a page */
			count = 1 + (size_t)(rnd() % (sizeof buf / width));
			for (size_t k = 0; k < sizeof buf; k++) {
				buf[k] = (uint8_t)rnd();
				if (buf[k] == 0xfe)
					buf[k] = 0xfd;   /* never the i8042 reset */
			}
			rep_outs = rnd() % 2;
		}
		if (out) {
			pio_out(port, width, v);
			pio_outs++;
		} else {
			(void)pio_in(port, width);
			pio_ins++;
		}
		if (!count)
			continue;
		if (rep_outs)
			rep_out(port, width, buf, count);
		else
			rep_in(port, width, buf, count);
		pio_reps++;
	}
}

static void phase_pio(void)
{
	static uint8_t buf[64];
	unsigned com = 0;
	long t0 = now_ms();
	int child;

	if (iopl(3) < 0) {
		say("phase 3 skipped: iopl: %s (the guest kernel needs CONFIG_X86_IOPL_IOPERM)",
		    strerrorname_np(errno));
		return;
	}
	have_iopl = true;
	say("phase 3 start on %s", both ? "both vCPUs" : "one vCPU");
	child = on_cpus(pio_garbage, PIO_OPS, both);   /* one vCPU: see `both' */

	/* COM1: save the registers the kernel's driver set, garbage, restore.
	 * A few bytes reach the transmit register (and the serial log). */
	uint8_t lcr = inb(COM1 + 3), mcr = inb(COM1 + 4), ier, dll, dlm;

	outb(lcr & 0x7f, COM1 + 3);
	ier = inb(COM1 + 1);
	outb(lcr | 0x80, COM1 + 3);
	dll = inb(COM1 + 0);
	dlm = inb(COM1 + 1);
	outb(lcr & 0x7f, COM1 + 3);
	for (int i = 0; i < 400; i++) {
		unsigned width = 1u << (rnd() % 3);
		unsigned port = COM1 + 1 + (unsigned)(rnd() % 7);

		if (rnd() % 2) {
			pio_out(port, width, interesting32());
		} else {
			(void)pio_in(port, width);
		}
		if (i % 8 == 0)
			outb('a' + (uint8_t)(rnd() % 26), COM1);
		com++;
	}
	rep_in(COM1, 1, buf, sizeof buf);
	outb(0x80, COM1 + 3);
	outb(dll, COM1 + 0);
	outb(dlm, COM1 + 1);
	outb(lcr & 0x7f, COM1 + 3);
	outb(0, COM1 + 1);
	outb(ier, COM1 + 1);
	outb(mcr, COM1 + 4);
	outb(lcr, COM1 + 3);
	outb('\n', COM1);
	say("phase 3 done outs=%u ins=%u reps=%u (%s, %d) com1=%u ms=%ld", pio_outs, pio_ins, pio_reps,
	    both ? "this vCPU; as many on the other, wait status" : "one vCPU", child, com, now_ms() - t0);
}

/* ======================= phase 4: virtio-mmio ================================ */

struct vwin {
	uint64_t base;
	unsigned irq;
	volatile uint8_t *r;
	uint32_t id;
};

static struct vwin wins[MAX_WINS];
static unsigned nwins;
static volatile uint8_t *map;
static uint64_t map_pa, map_len;

/* Our own pages, locked, zeroed, with their physical addresses. */
#define SCRATCH_PAGES 24
static uint8_t *scratch;
static uint64_t scratch_pa[SCRATCH_PAGES];

enum {   /* scratch page roles */
	P_DESC, P_AVAIL, P_USED, P_DESC2, P_AVAIL2, P_USED2, P_HDR, P_IND, P_IND2,
	P_DATA,   /* P_DATA .. P_DATA + 7 */
	P_TX = P_DATA + 8,
};

static uint8_t *pg(unsigned i)
{
	return scratch + (size_t)i * 4096;
}

static uint32_t rd(const struct vwin *w, unsigned off)
{
	return (uint32_t)io_read(w->r + off, 4);
}

static void wr(const struct vwin *w, unsigned off, uint32_t v)
{
	io_write(w->r + off, 4, v);
}

static uint64_t virt_to_phys(const void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t e = 0;

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof e, (off_t)((uintptr_t)p / 4096 * 8)) != sizeof e)
		e = 0;
	close(fd);
	if (!(e & (1ull << 63)))
		return 0;
	return (e & ((1ull << 55) - 1)) * 4096 + ((uintptr_t)p & 4095);
}

static bool parse_windows(void)
{
	char cl[4096];
	const char *p = cl;

	if (read_text("/proc/cmdline", cl, sizeof cl) < 0)
		return false;
	while ((p = strstr(p, "virtio_mmio.device=")) && nwins < MAX_WINS) {
		char *e;
		unsigned long long sz, base;

		p += strlen("virtio_mmio.device=");
		sz = strtoull(p, &e, 0);
		if (*e == 'K' || *e == 'k')
			sz <<= 10, e++;
		else if (*e == 'M' || *e == 'm')
			sz <<= 20, e++;
		if (*e != '@')
			continue;
		base = strtoull(e + 1, &e, 0);
		if (*e != ':' || sz < VIRTIO_WIN)
			continue;
		wins[nwins].base = base;
		wins[nwins].irq = (unsigned)strtoul(e + 1, NULL, 0);
		nwins++;
	}
	return nwins > 0;
}

static bool map_windows(char *why, size_t len)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	int fd;
	void *m;

	if (!parse_windows()) {
		snprintf(why, len, "no virtio_mmio.device= on the command line");
		return false;
	}
	for (unsigned i = 0; i < nwins; i++) {
		if (wins[i].base < lo)
			lo = wins[i].base;
		if (wins[i].base + VIRTIO_WIN > hi)
			hi = wins[i].base + VIRTIO_WIN;
	}
	map_pa = lo & ~4095ull;
	map_len = ((hi + 4095) & ~4095ull) - map_pa + 4096;   /* and a page of nothing */
	fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "/dev/mem: %s", strerror(errno));
		return false;
	}
	m = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map_pa);
	close(fd);
	if (m == MAP_FAILED) {
		snprintf(why, len, "mmap /dev/mem at 0x%llx: %s", (unsigned long long)map_pa,
			 strerror(errno));
		return false;
	}
	map = m;
	for (unsigned i = 0; i < nwins; i++) {
		wins[i].r = map + (wins[i].base - map_pa);
		wins[i].id = rd(&wins[i], R_MAGIC) == 0x74726976u ? rd(&wins[i], R_DEVICE_ID) : 0;
	}
	return true;
}

static bool setup_scratch(char *why, size_t len)
{
	scratch = mmap(NULL, SCRATCH_PAGES * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1, 0);
	/* MADV_DONTFORK: a fork (on_cpus) must never turn these pages
	 * copy-on-write: a write here would move them under the devices */
	if (scratch == MAP_FAILED || mlock(scratch, SCRATCH_PAGES * 4096) < 0 ||
	    madvise(scratch, SCRATCH_PAGES * 4096, MADV_DONTFORK) < 0) {
		snprintf(why, len, "locked scratch pages: %s", strerror(errno));
		return false;
	}
	memset(scratch, 0, SCRATCH_PAGES * 4096);
	for (unsigned i = 0; i < SCRATCH_PAGES; i++) {
		scratch_pa[i] = virt_to_phys(pg(i));
		if (!scratch_pa[i] || scratch_pa[i] + 4096 > GUEST_MEM) {
			snprintf(why, len, "no physical address for a scratch page (pagemap)");
			return false;
		}
	}
	return true;
}

static struct vwin *find_dev(uint32_t id)
{
	for (unsigned i = 0; i < nwins; i++)
		if (wins[i].id == id)
			return &wins[i];
	return NULL;
}

/* The flood's watchdog, a child on CPU 1: when *progress has not moved for
 * WATCH_MS, report the console device's status and both queues' ring
 * addresses (the host then reads the rings' indices in guest memory).
 * Ends when *progress is UINT64_MAX. */
static void flood_watchdog(volatile uint64_t *progress)
{
	char why[200] = "";
	uint64_t last = 0;
	long since = now_ms();
	int reports = 0;
	const struct vwin *w;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(1, &set);
	sched_setaffinity(0, sizeof set, &set);
	if (!map_windows(why, sizeof why) || !(w = find_dev(3))) {
		say("watchdog: not watching: %s", why[0] ? why : "no console device");
		_exit(0);
	}
	while (*progress != UINT64_MAX) {
		uint64_t now = *progress;
		uint32_t r[2][8];

		usleep(200000);
		if (now != last) {
			last = now;
			since = now_ms();
			continue;
		}
		if (now_ms() - since < WATCH_MS || reports >= 3)
			continue;
		for (unsigned q = 0; q < 2; q++) {
			static const unsigned regs[8] = { R_QUEUE_READY, R_QUEUE_NUM, R_DESC_LO, R_DESC_HI,
							  R_AVAIL_LO, R_AVAIL_HI, R_USED_LO, R_USED_HI };

			wr(w, R_QUEUE_SEL, q);
			for (unsigned k = 0; k < 8; k++)
				r[q][k] = rd(w, regs[k]);
		}
		wr(w, R_QUEUE_SEL, 0);
		say("watchdog: flood stuck at %llu bytes for %ld s: console status=0x%x isr=0x%x "
		    "q0 ready=%u num=%u desc=0x%llx avail=0x%llx used=0x%llx "
		    "q1 ready=%u num=%u desc=0x%llx avail=0x%llx used=0x%llx",
		    (unsigned long long)now, (now_ms() - since) / 1000, rd(w, R_STATUS), rd(w, R_INT_STATUS),
		    r[0][0], r[0][1], (unsigned long long)r[0][2] | (unsigned long long)r[0][3] << 32,
		    (unsigned long long)r[0][4] | (unsigned long long)r[0][5] << 32,
		    (unsigned long long)r[0][6] | (unsigned long long)r[0][7] << 32,
		    r[1][0], r[1][1], (unsigned long long)r[1][2] | (unsigned long long)r[1][3] << 32,
		    (unsigned long long)r[1][4] | (unsigned long long)r[1][5] << 32,
		    (unsigned long long)r[1][6] | (unsigned long long)r[1][7] << 32);
		reports++;
		since = now_ms();
	}
	_exit(0);
}

/* ---- garbage ---- */

static const unsigned known_regs[] = {
	R_MAGIC, R_VERSION, R_DEVICE_ID, 0x00c, R_DEV_FEAT, R_DEV_FEAT_SEL, R_DRV_FEAT,
	R_DRV_FEAT_SEL, R_QUEUE_SEL, R_QUEUE_NUM_MAX, R_QUEUE_NUM, 0x03c, 0x040, R_QUEUE_READY,
	R_QUEUE_NOTIFY, R_INT_STATUS, R_INT_ACK, R_STATUS, R_DESC_LO, R_DESC_HI, R_AVAIL_LO,
	R_AVAIL_HI, R_USED_LO, R_USED_HI, 0x0ac, 0x0b0, 0x0b8, 0x0c0, R_CONFIG_GEN, R_CONFIG,
	R_CONFIG + 4, R_CONFIG + 8,
};

/* A ring address word: outside RAM, our own zeroed pages (also misaligned
 * and shared by several rings), or page 0: never memory the kernel uses. */
static uint32_t addr_word(bool high)
{
	if (high) {
		static const uint32_t h[] = { 0, 0, 0, 0, 1, 0x80000000u, 0xffffffffu };

		return h[rnd() % (sizeof h / sizeof *h)];
	}
	switch (rnd() % 10) {
	case 0: return 0;
	case 1: return (uint32_t)GUEST_MEM;
	case 2: return (uint32_t)GUEST_MEM + 0x1000;
	case 3: return 0xd0000000u + (uint32_t)(rnd() % 4) * 0x200;
	case 4: return 0xfee00000u;
	case 5: return 0xfffffff0u;
	case 6: return (uint32_t)scratch_pa[rnd() % SCRATCH_PAGES] + 8;
	default: return (uint32_t)scratch_pa[rnd() % SCRATCH_PAGES];
	}
}

static uint64_t garbage_value(uint64_t pa, unsigned width)
{
	static const uint32_t status_v[] = { 0, 1, 2, 3, 7, 0xb, 0xf, 0x40, 0x4f, 0x80, 0xff, 0xffffffff };
	static const uint32_t num_v[] = { 0, 1, 2, 3, 16, 255, 256, 257, 512, 1024, 0x8000, 0xffff,
					  0x10000, 0xffffffff };
	static const uint32_t sel_v[] = { 0, 1, 2, 3, 7, 8, 0xffff, 0xffffffff };

	for (unsigned i = 0; i < nwins; i++) {
		uint64_t off;

		if (pa < wins[i].base || pa >= wins[i].base + VIRTIO_WIN)
			continue;
		off = pa - wins[i].base;
		if (width == 4 && !(off & 3)) {
			switch (off) {
			case R_STATUS: return status_v[rnd() % (sizeof status_v / sizeof *status_v)];
			case R_QUEUE_NUM: return num_v[rnd() % (sizeof num_v / sizeof *num_v)];
			case R_QUEUE_SEL:
			case R_DEV_FEAT_SEL:
			case R_DRV_FEAT_SEL: return sel_v[rnd() % (sizeof sel_v / sizeof *sel_v)];
			case R_QUEUE_NOTIFY: return rnd() % 4 ? rnd() % 3 : interesting32();
			case R_DESC_LO: case R_AVAIL_LO: case R_USED_LO: return addr_word(false);
			case R_DESC_HI: case R_AVAIL_HI: case R_USED_HI: return addr_word(true);
			default: return interesting32();
			}
		}
		/* a partial or wide access over the ring addresses: all ones
		 * (far outside RAM, should a device ever take such writes) */
		if (off < R_USED_HI + 4 && off + width > R_DESC_LO)
			return ~0ull;
		break;
	}
	return interesting32() | (uint64_t)interesting32() << 32;
}

static bool over_addr_regs(uint64_t pa, unsigned len)
{
	for (unsigned i = 0; i < nwins; i++) {
		uint64_t b = wins[i].base;

		if (pa < b + R_USED_HI + 4 && pa + len > b + R_DESC_LO)
			return true;
	}
	return false;
}

#define MMIO_OPS 100000

static unsigned mmio_writes, mmio_reads, mmio_wide;

static void mmio_garbage(unsigned ops)
{
	static const unsigned widths[] = { 1, 2, 4, 8 };
	static struct wide_op op;
	bool avx = __builtin_cpu_supports("avx");

	for (unsigned n = 0; n < ops; n++) {
		const struct vwin *w = &wins[rnd() % nwins];
		uint64_t off = w->base - map_pa;
		unsigned width = 4, pick = (unsigned)(rnd() % 100);

		if (pick < 55) {
			off += known_regs[rnd() % (sizeof known_regs / sizeof *known_regs)];
		} else if (pick < 80) {
			off += rnd() % VIRTIO_WIN;
			width = widths[rnd() % 4];
		} else if (pick < 92) {
			off += R_CONFIG + rnd() % (VIRTIO_WIN - R_CONFIG);
			width = widths[rnd() % 4];
		} else if (pick < 97) {
			off = rnd() % map_len;   /* anywhere, the unmapped MMIO too */
			width = widths[rnd() % 4];
		} else {
			/* 16 and 32-byte moves, rep movsb, a locked add */
			op.kind = (unsigned)(rnd() % 6);
			if ((op.kind == 2 || op.kind == 3) && !avx)
				op.kind -= 2;
			op.len = 1 + (unsigned)(rnd() % 64);
			off = rnd() % (map_len - 64);
			if (op.kind == 5)
				off &= ~3ull;
			op.p = map + off;
			for (unsigned k = 0; k < sizeof op.buf; k++)
				op.buf[k] = over_addr_regs(map_pa + off, 64) ? 0xff : (uint8_t)rnd();
			if (op.kind == 5 && over_addr_regs(map_pa + off, 4))
				continue;
			probe(wide_access, &op);
			mmio_wide++;
			continue;
		}
		if (off + width > map_len)
			off = map_len - width;
		if (rnd() % 100 < 80) {
			io_write(map + off, width, garbage_value(map_pa + off, width));
			mmio_writes++;
		} else {
			(void)io_read(map + off, width);
			mmio_reads++;
		}
	}
}

static void garbage_mmio(void)
{
	unsigned writes = 0;
	int child = on_cpus(mmio_garbage, MMIO_OPS, both);   /* one vCPU: see `both' */

	for (unsigned i = 0; i < nwins; i++) {
		uint32_t st = rd(&wins[i], R_STATUS);

		say("garbage dev=0x%llx id=%u status=0x%x needs_reset=%d", (unsigned long long)wins[i].base,
		    wins[i].id, st, !!(st & S_NEEDS_RESET));
	}
	/* storms on every device: QueueReady on and off on every queue index
	 * (rings in our zeroed pages, overlapping), QueueNotify; then a queue
	 * outside RAM (NEEDS_RESET) and QueueNotify again */
	for (unsigned i = 0; i < nwins; i++) {
		const struct vwin *w = &wins[i];

		wr(w, R_STATUS, 0);
		wr(w, R_STATUS, S_ACK | S_DRIVER);
		wr(w, R_DRV_FEAT_SEL, 1);
		wr(w, R_DRV_FEAT, 1);   /* VERSION_1 */
		wr(w, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
		for (unsigned q = 0; q < 10; q++) {
			wr(w, R_QUEUE_SEL, q);
			wr(w, R_QUEUE_NUM, 1u << (q % 10));
			wr(w, R_DESC_LO, (uint32_t)scratch_pa[P_DESC]);
			wr(w, R_AVAIL_LO, (uint32_t)scratch_pa[P_DESC]);
			wr(w, R_USED_LO, (uint32_t)scratch_pa[P_DESC]);
			for (unsigned k = 0; k < 20; k++)
				wr(w, R_QUEUE_READY, k & 1);
			writes += 25;
		}
		wr(w, R_STATUS, S_UP);
		for (unsigned k = 0; k < 5000; k++)
			wr(w, R_QUEUE_NOTIFY, k % 5 == 4 ? interesting32() : k % 3);
		wr(w, R_QUEUE_SEL, 0);
		wr(w, R_QUEUE_READY, 0);
		wr(w, R_QUEUE_NUM, 256);
		wr(w, R_DESC_LO, (uint32_t)GUEST_MEM);
		wr(w, R_QUEUE_READY, 1);
		for (unsigned k = 0; k < 5000; k++)
			wr(w, R_QUEUE_NOTIFY, k % 3);
		writes += 10005;
	}
	say("phase 4 garbage writes=%u reads=%u wide=%u faults=%lu (%s, %d) storm_writes=%u", mmio_writes,
	    mmio_reads, mmio_wide, probe_faults, both ? "this vCPU; as many on the other, wait status" : "one vCPU",
	    child, writes);
}

/* ---- a driver in user space, for forged rings ---- */

#define QS 16

struct fq {
	unsigned qi;
	uint16_t size;
	uint8_t *desc, *avail, *used;
	uint64_t desc_pa, avail_pa, used_pa;
	uint16_t aidx;
};

struct seg {
	uint64_t pa;
	uint32_t len;
	uint16_t flags;
};

static void fq_init(struct fq *q, unsigned qi, unsigned pdesc, unsigned pavail, unsigned pused)
{
	q->qi = qi;
	q->size = QS;
	q->desc = pg(pdesc);
	q->avail = pg(pavail);
	q->used = pg(pused);
	q->desc_pa = scratch_pa[pdesc];
	q->avail_pa = scratch_pa[pavail];
	q->used_pa = scratch_pa[pused];
	q->aidx = 0;
}

static void put_desc(uint8_t *table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = table + (size_t)i * 16;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Descriptors first .. first + n - 1 of table, chained in order. */
static void put_chain(uint8_t *table, unsigned first, const struct seg *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		put_desc(table, first + i, s[i].pa, s[i].len,
			 (uint16_t)(s[i].flags | (i + 1 < n ? D_NEXT : 0)), (uint16_t)(first + i + 1));
}

static void fq_post(struct fq *q, uint16_t head)
{
	uint16_t flags = 1;   /* VIRTQ_AVAIL_F_NO_INTERRUPT */

	memcpy(q->avail, &flags, 2);
	memcpy(q->avail + 4 + 2 * (q->aidx % q->size), &head, 2);
	q->aidx++;
	__atomic_store_n((uint16_t *)(void *)(q->avail + 2), q->aidx, __ATOMIC_SEQ_CST);
}

static uint16_t fq_used(const struct fq *q)
{
	return __atomic_load_n((uint16_t *)(void *)(q->used + 2), __ATOMIC_SEQ_CST);
}

static uint32_t fq_used_len(const struct fq *q, unsigned i)
{
	uint32_t len;

	memcpy(&len, q->used + 4 + 8 * (i % q->size) + 4, 4);
	return len;
}

static void queue_regs(const struct vwin *w, const struct fq *q, uint32_t num)
{
	wr(w, R_QUEUE_SEL, q->qi);
	wr(w, R_QUEUE_NUM, num);
	wr(w, R_DESC_LO, (uint32_t)q->desc_pa);
	wr(w, R_DESC_HI, (uint32_t)(q->desc_pa >> 32));
	wr(w, R_AVAIL_LO, (uint32_t)q->avail_pa);
	wr(w, R_AVAIL_HI, (uint32_t)(q->avail_pa >> 32));
	wr(w, R_USED_LO, (uint32_t)q->used_pa);
	wr(w, R_USED_HI, (uint32_t)(q->used_pa >> 32));
	wr(w, R_QUEUE_READY, 1);
}

/* Reset, negotiate, set up the queues: true when the device is DRIVER_OK. */
static bool dev_start(const struct vwin *w, uint64_t feats, struct fq *q1, struct fq *q2)
{
	wr(w, R_STATUS, 0);
	if (rd(w, R_STATUS) != 0)
		return false;
	wr(w, R_STATUS, S_ACK);
	wr(w, R_STATUS, S_ACK | S_DRIVER);
	wr(w, R_DRV_FEAT_SEL, 0);
	wr(w, R_DRV_FEAT, (uint32_t)feats);
	wr(w, R_DRV_FEAT_SEL, 1);
	wr(w, R_DRV_FEAT, (uint32_t)(feats >> 32));
	wr(w, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(w, R_STATUS) & S_FEATURES_OK))
		return false;
	if (q1)
		queue_regs(w, q1, q1->size);
	if (q2)
		queue_regs(w, q2, q2->size);
	wr(w, R_STATUS, S_UP);
	return rd(w, R_STATUS) == S_UP;
}

static void clear_scratch(void)
{
	memset(scratch, 0, SCRATCH_PAGES * 4096);
}

/* Wait (2 s at most) until the used idx reaches want or the device needs a
 * reset; the device status. */
static uint32_t wait_used(const struct vwin *w, const struct fq *q, uint16_t want)
{
	long end = now_ms() + 2000;
	uint32_t st;

	for (;;) {
		st = rd(w, R_STATUS);
		if (fq_used(q) == want || (st & S_NEEDS_RESET) || now_ms() >= end)
			return st;
		usleep(1000);
	}
}

/* ---- virtio-blk cases ---- */

struct ctx {
	const struct vwin *w;
	struct fq q, q2;
	char *why;
	size_t why_len;
};

#define WHY(...) snprintf(c->why, c->why_len, __VA_ARGS__)

/* A request: header at P_HDR, data in P_DATA.. (one page per descriptor),
 * the status byte at P_HDR + 2048 (preset 0xee). Returns the used length
 * (or -1 if not completed) and the status byte. */
static long blk_request(struct ctx *c, uint32_t type, uint64_t sector, uint32_t data_len,
			bool data_in, uint8_t *status)
{
	struct seg s[12];
	unsigned n = 0;
	uint32_t hdr[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	uint16_t before = fq_used(&c->q);

	memcpy(pg(P_HDR), hdr, 16);
	pg(P_HDR)[2048] = 0xee;
	s[n++] = (struct seg){ scratch_pa[P_HDR], 16, 0 };
	for (uint32_t off = 0; off < data_len && n < 9; off += 4096) {
		uint32_t l = data_len - off < 4096 ? data_len - off : 4096;

		s[n++] = (struct seg){ scratch_pa[P_DATA + off / 4096], l, data_in ? D_WRITE : 0 };
	}
	s[n++] = (struct seg){ scratch_pa[P_HDR] + 2048, 1, D_WRITE };
	put_chain(c->q.desc, 0, s, n);
	fq_post(&c->q, 0);
	wr(c->w, R_QUEUE_NOTIFY, 0);
	wait_used(c->w, &c->q, (uint16_t)(before + 1));
	*status = pg(P_HDR)[2048];
	if (fq_used(&c->q) != (uint16_t)(before + 1))
		return -1;
	return fq_used_len(&c->q, before);
}

static bool blk_up(struct ctx *c)
{
	clear_scratch();
	fq_init(&c->q, 0, P_DESC, P_AVAIL, P_USED);
	if (!dev_start(c->w, F_VERSION_1 | F_INDIRECT, &c->q, NULL)) {
		WHY("the device did not come up (status 0x%x)", rd(c->w, R_STATUS));
		return false;
	}
	return true;
}

/* The request completed with the wanted status, used length, and the device is fine. */
static bool blk_expect(struct ctx *c, long used, uint8_t st, long want_used, uint8_t want_st)
{
	uint32_t ds = rd(c->w, R_STATUS);

	if (used != want_used || st != want_st || ds != S_UP) {
		WHY("used len %ld (want %ld), status byte 0x%x (want 0x%x), device status 0x%x",
		    used, want_used, st, want_st, ds);
		return false;
	}
	return true;
}

static bool blk_get_id(struct ctx *c)
{
	uint8_t st;
	long u;

	if (!blk_up(c))
		return false;
	u = blk_request(c, BLK_T_GET_ID, 0, 20, true, &st);
	if (!blk_expect(c, u, st, 21, 0))
		return false;
	if (memcmp(pg(P_DATA), IMG_NAME, sizeof IMG_NAME - 1)) {
		WHY("id '%.20s', want '%s'", (char *)pg(P_DATA), IMG_NAME);
		return false;
	}
	return true;
}

static bool blk_read_final(struct ctx *c)
{
	uint8_t st, want[4 * SECTOR];
	long u;

	if (!blk_up(c))
		return false;
	u = blk_request(c, BLK_T_IN, 8, 4 * SECTOR, true, &st);
	if (!blk_expect(c, u, st, 4 * SECTOR + 1, 0))
		return false;
	fill_sectors(want, FINAL_SEED, 8, 4);
	if (memcmp(pg(P_DATA), want, sizeof want)) {
		WHY("sectors 8-11 do not hold the guest's final pattern");
		return false;
	}
	return true;
}

static bool blk_write_forge(struct ctx *c)
{
	uint8_t st, want[SECTOR];
	long u;

	if (!blk_up(c))
		return false;
	fill_sectors(pg(P_DATA), FORGE_SEED, FORGE_SECTOR, 1);
	u = blk_request(c, BLK_T_OUT, FORGE_SECTOR, SECTOR, false, &st);
	if (!blk_expect(c, u, st, 1, 0))
		return false;
	memset(pg(P_DATA), 0, SECTOR);
	u = blk_request(c, BLK_T_IN, FORGE_SECTOR, SECTOR, true, &st);
	if (!blk_expect(c, u, st, SECTOR + 1, 0))
		return false;
	fill_sectors(want, FORGE_SEED, FORGE_SECTOR, 1);
	if (memcmp(pg(P_DATA), want, SECTOR)) {
		WHY("the sector read back differs from the one written");
		return false;
	}
	return true;
}

static bool blk_ioerr(struct ctx *c, uint32_t type, uint64_t sector, uint32_t len)
{
	uint8_t st;
	long u;

	if (!blk_up(c))
		return false;
	u = blk_request(c, type, sector, len, type == BLK_T_IN, &st);
	return blk_expect(c, u, st, 1, 1);   /* nothing written but the status */
}

static bool blk_in_at_end(struct ctx *c) { return blk_ioerr(c, BLK_T_IN, IMG_SECTORS, SECTOR); }
static bool blk_in_straddle(struct ctx *c) { return blk_ioerr(c, BLK_T_IN, IMG_SECTORS - 1, 2 * SECTOR); }
static bool blk_in_far(struct ctx *c) { return blk_ioerr(c, BLK_T_IN, 1ull << 55, SECTOR); }
static bool blk_in_max(struct ctx *c) { return blk_ioerr(c, BLK_T_IN, UINT64_MAX, SECTOR); }
static bool blk_in_odd(struct ctx *c) { return blk_ioerr(c, BLK_T_IN, 0, 100); }
static bool blk_out_at_end(struct ctx *c) { return blk_ioerr(c, BLK_T_OUT, IMG_SECTORS, SECTOR); }
static bool blk_out_straddle(struct ctx *c) { return blk_ioerr(c, BLK_T_OUT, IMG_SECTORS - 1, 4096); }
static bool blk_out_wrap(struct ctx *c) { return blk_ioerr(c, BLK_T_OUT, UINT64_MAX - 3, 4096); }

static bool blk_unknown_type(struct ctx *c)
{
	uint8_t st;
	long u;

	if (!blk_up(c))
		return false;
	u = blk_request(c, 0x1234, 0, 0, true, &st);
	return blk_expect(c, u, st, 1, 2);
}

static bool blk_flush(struct ctx *c)
{
	uint8_t st;
	long u;

	if (!blk_up(c))
		return false;
	u = blk_request(c, BLK_T_FLUSH, 0, 0, true, &st);
	return blk_expect(c, u, st, 1, 0);
}

/* The header in three pieces, the id in twenty one-byte buffers. */
static bool blk_split(struct ctx *c)
{
	struct seg s[26];
	unsigned n = 0;
	uint32_t hdr[4] = { BLK_T_GET_ID, 0, 0, 0 };
	uint8_t *h = pg(P_HDR);

	if (!blk_up(c))
		return false;
	memcpy(h, hdr, 5);
	memcpy(h + 100, (uint8_t *)hdr + 5, 5);
	memcpy(h + 200, (uint8_t *)hdr + 10, 6);
	s[n++] = (struct seg){ scratch_pa[P_HDR], 5, 0 };
	s[n++] = (struct seg){ scratch_pa[P_HDR] + 100, 5, 0 };
	s[n++] = (struct seg){ scratch_pa[P_HDR] + 200, 6, 0 };
	for (unsigned i = 0; i < 20; i++)
		s[n++] = (struct seg){ scratch_pa[P_DATA] + 64 * i, 1, D_WRITE };
	s[n++] = (struct seg){ scratch_pa[P_HDR] + 2048, 1, D_WRITE };
	h[2048] = 0xee;
	put_chain(c->q.desc, 0, s, n > QS ? QS : n);
	if (n > QS) {
		/* more than the ring holds: through an indirect table */
		put_chain(pg(P_IND), 0, s, n);
		put_desc(c->q.desc, 0, scratch_pa[P_IND], 16 * n, D_INDIRECT, 0);
	}
	fq_post(&c->q, 0);
	wr(c->w, R_QUEUE_NOTIFY, 0);
	wait_used(c->w, &c->q, 1);
	char id[21] = "";
	for (unsigned i = 0; i < 20; i++)
		id[i] = (char)pg(P_DATA)[64 * i];
	if (!blk_expect(c, fq_used(&c->q) == 1 ? (long)fq_used_len(&c->q, 0) : -1L, h[2048], 21, 0))
		return false;
	if (memcmp(id, IMG_NAME, sizeof IMG_NAME - 1)) {
		WHY("id '%s', want '%s'", id, IMG_NAME);
		return false;
	}
	return true;
}

/* Requests without room for a status, or without a whole header: handed
 * back unused; the device stays usable. */
static bool blk_no_status(struct ctx *c)
{
	struct seg s[2] = { { scratch_pa[P_HDR], 16, 0 }, { scratch_pa[P_DATA], 512, 0 } };
	uint32_t hdr[4] = { BLK_T_IN, 0, 0, 0 };
	uint8_t st;
	long u;

	if (!blk_up(c))
		return false;
	memcpy(pg(P_HDR), hdr, 16);
	put_chain(c->q.desc, 0, s, 2);
	fq_post(&c->q, 0);
	s[0].len = 8;   /* half a header, then a status byte */
	s[1] = (struct seg){ scratch_pa[P_HDR] + 2048, 1, D_WRITE };
	pg(P_HDR)[2048] = 0xee;
	put_chain(c->q.desc, 4, s, 2);
	fq_post(&c->q, 4);
	wr(c->w, R_QUEUE_NOTIFY, 0);
	wait_used(c->w, &c->q, 2);
	if (fq_used(&c->q) != 2 || fq_used_len(&c->q, 0) != 0 || fq_used_len(&c->q, 1) != 0 ||
	    pg(P_HDR)[2048] != 0xee || rd(c->w, R_STATUS) != S_UP) {
		WHY("used idx %u, lens %u %u, status byte 0x%x, device status 0x%x", fq_used(&c->q),
		    fq_used_len(&c->q, 0), fq_used_len(&c->q, 1), pg(P_HDR)[2048], rd(c->w, R_STATUS));
		return false;
	}
	u = blk_request(c, BLK_T_GET_ID, 0, 20, true, &st);
	return blk_expect(c, u, st, 21, 0);
}

/* ---- broken rings: each must set NEEDS_RESET ---- */

/* After the device went to NEEDS_RESET: nothing was completed, a further
 * (valid) request is ignored, and a reset clears the status. */
static bool after_broken(struct ctx *c, struct fq *q, uint32_t st, uint16_t used_before)
{
	uint16_t u1, u2;

	if (!(st & S_NEEDS_RESET)) {
		WHY("device status 0x%x: no NEEDS_RESET", st);
		return false;
	}
	u1 = fq_used(q);
	if (q->qi == 0 && c->w->id == 2) {
		uint32_t hdr[4] = { BLK_T_GET_ID, 0, 0, 0 };
		struct seg s[3] = { { scratch_pa[P_HDR], 16, 0 }, { scratch_pa[P_DATA], 20, D_WRITE },
				    { scratch_pa[P_HDR] + 2048, 1, D_WRITE } };

		memcpy(pg(P_HDR), hdr, 16);
		put_chain(q->desc, 8, s, 3);
		fq_post(q, 8);
	}
	wr(c->w, R_QUEUE_NOTIFY, q->qi);
	usleep(20000);
	u2 = fq_used(q);
	wr(c->w, R_STATUS, 0);
	if (u1 != used_before || u2 != u1 || rd(c->w, R_STATUS) != 0) {
		WHY("used idx %u -> %u -> %u, status after reset 0x%x", used_before, u1, u2,
		    rd(c->w, R_STATUS));
		return false;
	}
	return true;
}

enum bad_kind {
	BAD_PAST_RAM, BAD_OVERFLOW, BAD_IN_MMIO, BAD_HUGE_LEN, BAD_LOOP, BAD_SELF_LOOP,
	BAD_NEXT_RANGE, BAD_AVAIL_AHEAD, BAD_HEAD_RANGE, BAD_RD_AFTER_WR, BAD_IND_PAST_RAM,
	BAD_IND_ODD_LEN, BAD_IND_ZERO_LEN, BAD_IND_TOO_BIG, BAD_IND_NESTED, BAD_IND_LOOP,
	BAD_IND_NEXT, BAD_IND_BUF_PAST_RAM, BAD_IND_IN_MMIO, BAD_LONG_CHAIN,
};

/* Forge a broken chain of kind k on q (a request-shaped one) and notify. */
static void forge_bad(struct ctx *c, struct fq *q, enum bad_kind k)
{
	uint8_t *d = q->desc, *it = pg(P_IND);
	uint64_t hdr = scratch_pa[P_HDR], data = scratch_pa[P_DATA], stat = scratch_pa[P_HDR] + 2048;
	uint16_t head = 0;
	uint32_t h[4] = { BLK_T_IN, 0, 0, 0 };

	memcpy(pg(P_HDR), h, 16);
	switch (k) {
	case BAD_PAST_RAM:
		put_desc(d, 0, hdr, 16, D_NEXT, 1);
		put_desc(d, 1, GUEST_MEM - 8, 16, D_WRITE, 0);
		break;
	case BAD_OVERFLOW:
		put_desc(d, 0, hdr, 16, D_NEXT, 1);
		put_desc(d, 1, 0xfffffffffffffff0ull, 0x20, D_WRITE, 0);
		break;
	case BAD_IN_MMIO:
		put_desc(d, 0, hdr, 16, D_NEXT, 1);
		put_desc(d, 1, c->w->base, 16, D_WRITE, 0);
		break;
	case BAD_HUGE_LEN:
		put_desc(d, 0, 0, 0xffffffffu, D_WRITE, 0);
		break;
	case BAD_LOOP:
		put_desc(d, 0, hdr, 16, D_NEXT, 1);
		put_desc(d, 1, data, 512, D_NEXT | D_WRITE, 2);
		put_desc(d, 2, stat, 1, D_NEXT | D_WRITE, 1);
		break;
	case BAD_SELF_LOOP:
		put_desc(d, 0, data, 1, D_NEXT | D_WRITE, 0);
		break;
	case BAD_NEXT_RANGE:
		put_desc(d, 0, hdr, 16, D_NEXT, QS + 5);
		break;
	case BAD_AVAIL_AHEAD:
		put_desc(d, 0, stat, 1, D_WRITE, 0);
		q->aidx = QS;   /* fq_post makes it QS + 1: more than the ring holds */
		break;
	case BAD_HEAD_RANGE:
		head = QS;
		break;
	case BAD_RD_AFTER_WR:
		put_desc(d, 0, stat, 1, D_NEXT | D_WRITE, 1);
		put_desc(d, 1, hdr, 16, 0, 0);
		break;
	case BAD_IND_PAST_RAM:
		put_desc(d, 0, GUEST_MEM, 64, D_INDIRECT, 0);
		break;
	case BAD_IND_ODD_LEN:
		put_desc(it, 0, hdr, 16, 0, 0);
		put_desc(d, 0, scratch_pa[P_IND], 24, D_INDIRECT, 0);
		break;
	case BAD_IND_ZERO_LEN:
		put_desc(d, 0, scratch_pa[P_IND], 0, D_INDIRECT, 0);
		break;
	case BAD_IND_TOO_BIG:
		put_desc(d, 0, scratch_pa[P_IND], 257 * 16, D_INDIRECT, 0);
		break;
	case BAD_IND_NESTED:
		put_desc(it, 0, scratch_pa[P_IND2], 32, D_INDIRECT, 0);
		put_desc(pg(P_IND2), 0, hdr, 16, 0, 0);
		put_desc(d, 0, scratch_pa[P_IND], 16, D_INDIRECT, 0);
		break;
	case BAD_IND_LOOP:
		put_desc(it, 0, hdr, 16, D_NEXT, 1);
		put_desc(it, 1, data, 16, D_NEXT | D_WRITE, 0);
		put_desc(d, 0, scratch_pa[P_IND], 32, D_INDIRECT, 0);
		break;
	case BAD_IND_NEXT:
		put_desc(it, 0, hdr, 16, 0, 0);
		put_desc(d, 0, scratch_pa[P_IND], 16, D_INDIRECT | D_NEXT, 1);
		put_desc(d, 1, stat, 1, D_WRITE, 0);
		break;
	case BAD_IND_BUF_PAST_RAM:
		put_desc(it, 0, hdr, 16, D_NEXT, 1);
		put_desc(it, 1, GUEST_MEM - 4096, 8192, D_WRITE, 0);
		put_desc(d, 0, scratch_pa[P_IND], 32, D_INDIRECT, 0);
		break;
	case BAD_IND_IN_MMIO:
		put_desc(d, 0, 0xd0000000ull, 4096, D_INDIRECT, 0);
		break;
	case BAD_LONG_CHAIN:
		/* 256 + 1 descriptors: a full indirect table after a direct one */
		for (unsigned i = 0; i < 256; i++)
			put_desc(it, i, data + (i % 64) * 8, 8, (uint16_t)(D_WRITE | (i < 255 ? D_NEXT : 0)),
				 (uint16_t)(i + 1));
		put_desc(d, 0, hdr, 16, D_NEXT, 1);
		put_desc(d, 1, scratch_pa[P_IND], 256 * 16, D_INDIRECT, 0);
		break;
	}
	fq_post(q, head);
	wr(c->w, R_QUEUE_NOTIFY, q->qi);
}

static bool run_bad(struct ctx *c, struct fq *q, enum bad_kind k)
{
	uint32_t st;

	forge_bad(c, q, k);
	st = wait_used(c->w, q, 1);
	return after_broken(c, q, st, 0);
}

static bool blk_bad(struct ctx *c, enum bad_kind k)
{
	return blk_up(c) && run_bad(c, &c->q, k);
}

#define BLK_BAD(k) static bool blk_##k(struct ctx *c) { return blk_bad(c, k); }
BLK_BAD(BAD_PAST_RAM) BLK_BAD(BAD_OVERFLOW) BLK_BAD(BAD_IN_MMIO) BLK_BAD(BAD_HUGE_LEN)
BLK_BAD(BAD_LOOP) BLK_BAD(BAD_SELF_LOOP) BLK_BAD(BAD_NEXT_RANGE) BLK_BAD(BAD_AVAIL_AHEAD)
BLK_BAD(BAD_HEAD_RANGE) BLK_BAD(BAD_RD_AFTER_WR) BLK_BAD(BAD_IND_PAST_RAM)
BLK_BAD(BAD_IND_ODD_LEN) BLK_BAD(BAD_IND_ZERO_LEN) BLK_BAD(BAD_IND_TOO_BIG)
BLK_BAD(BAD_IND_NESTED) BLK_BAD(BAD_IND_LOOP) BLK_BAD(BAD_IND_NEXT)
BLK_BAD(BAD_IND_BUF_PAST_RAM) BLK_BAD(BAD_IND_IN_MMIO) BLK_BAD(BAD_LONG_CHAIN)

/* A queue the device must refuse when it is enabled: NEEDS_RESET at
 * QueueReady, which reads back 0. */
static bool bad_enable(struct ctx *c, uint64_t desc, uint64_t avail, uint64_t used, uint32_t num)
{
	struct fq q;
	uint32_t st, ready;

	clear_scratch();
	fq_init(&q, 0, P_DESC, P_AVAIL, P_USED);
	if (!dev_start(c->w, F_VERSION_1, NULL, NULL)) {
		WHY("the device did not come up (status 0x%x)", rd(c->w, R_STATUS));
		return false;
	}
	q.desc_pa = desc;
	q.avail_pa = avail;
	q.used_pa = used;
	queue_regs(c->w, &q, num);
	st = rd(c->w, R_STATUS);
	ready = rd(c->w, R_QUEUE_READY);
	if (ready) {
		WHY("QueueReady reads %u, device status 0x%x", ready, st);
		wr(c->w, R_STATUS, 0);
		return false;
	}
	return after_broken(c, &q, st, 0);
}

static bool q_desc_past_ram(struct ctx *c)
{
	return bad_enable(c, GUEST_MEM, scratch_pa[P_AVAIL], scratch_pa[P_USED], QS);
}

static bool q_desc_straddle(struct ctx *c)
{
	return bad_enable(c, GUEST_MEM - 16, scratch_pa[P_AVAIL], scratch_pa[P_USED], 2);
}

static bool q_used_straddle(struct ctx *c)
{
	return bad_enable(c, scratch_pa[P_DESC], scratch_pa[P_AVAIL], GUEST_MEM - 8, 2);
}

static bool q_avail_high(struct ctx *c)
{
	return bad_enable(c, scratch_pa[P_DESC], scratch_pa[P_AVAIL] | 1ull << 32, scratch_pa[P_USED], QS);
}

static bool q_rings_in_mmio(struct ctx *c)
{
	return bad_enable(c, c->w->base, c->w->base + 0x100, c->w->base + 0x180, QS);
}

static bool q_misaligned(struct ctx *c)
{
	return bad_enable(c, scratch_pa[P_DESC] + 8, scratch_pa[P_AVAIL], scratch_pa[P_USED], QS);
}

static bool q_size_3(struct ctx *c)
{
	return bad_enable(c, scratch_pa[P_DESC], scratch_pa[P_AVAIL], scratch_pa[P_USED], 3);
}

static bool q_size_huge(struct ctx *c)
{
	return bad_enable(c, scratch_pa[P_DESC], scratch_pa[P_AVAIL], scratch_pa[P_USED], 0x10000);
}

/* The avail and used rings on one page (the device's used idx is the
 * driver's avail idx, used elements overwrite the avail ring): a request is
 * served, further notifies find nothing new, and a reset brings it back.
 * (Not the descriptor table under the used ring: the device's writes would
 * make descriptors point into the kernel's memory.) */
static bool blk_overlap(struct ctx *c)
{
	uint32_t hdr[4] = { BLK_T_GET_ID, 0, 0, 0 };
	struct seg s[3] = { { scratch_pa[P_HDR], 16, 0 }, { scratch_pa[P_DATA], 20, D_WRITE },
			    { scratch_pa[P_HDR] + 2048, 1, D_WRITE } };
	uint32_t st;
	uint8_t sb;
	long u;

	clear_scratch();
	fq_init(&c->q, 0, P_DESC, P_AVAIL, P_AVAIL);
	if (!dev_start(c->w, F_VERSION_1 | F_INDIRECT, &c->q, NULL)) {
		WHY("the device did not come up (status 0x%x)", rd(c->w, R_STATUS));
		return false;
	}
	memcpy(pg(P_HDR), hdr, 16);
	put_chain(c->q.desc, 0, s, 3);
	fq_post(&c->q, 0);
	for (unsigned i = 0; i < 64; i++)
		wr(c->w, R_QUEUE_NOTIFY, 0);
	st = rd(c->w, R_STATUS);
	if (fq_used(&c->q) != 1 || pg(P_HDR)[2048] != 0 || st != S_UP) {
		WHY("used idx %u, status byte 0x%x, device status 0x%x", fq_used(&c->q), pg(P_HDR)[2048], st);
		return false;
	}
	u = blk_up(c) ? blk_request(c, BLK_T_GET_ID, 0, 20, true, &sb) : -2;
	return blk_expect(c, u, sb, 21, 0);
}

/* ---- virtio-console cases ---- */

static bool con_up(struct ctx *c, uint64_t feats)
{
	clear_scratch();
	fq_init(&c->q, 1, P_DESC, P_AVAIL, P_USED);        /* transmitq */
	fq_init(&c->q2, 0, P_DESC2, P_AVAIL2, P_USED2);    /* receiveq */
	if (!dev_start(c->w, feats, &c->q, &c->q2)) {
		WHY("the device did not come up (status 0x%x)", rd(c->w, R_STATUS));
		return false;
	}
	return true;
}

static bool con_tx_marker(struct ctx *c)
{
	char msg[64];
	int n = snprintf(msg, sizeof msg, "\n%s\n", TX_MARKER);
	struct seg s[2];
	uint32_t st;

	if (!con_up(c, F_VERSION_1))
		return false;
	memcpy(pg(P_TX), msg, (size_t)n);
	s[0] = (struct seg){ scratch_pa[P_TX], 3, 0 };     /* in two pieces */
	s[1] = (struct seg){ scratch_pa[P_TX] + 3, (uint32_t)n - 3, 0 };
	put_chain(c->q.desc, 0, s, 2);
	fq_post(&c->q, 0);
	wr(c->w, R_QUEUE_NOTIFY, 1);
	st = wait_used(c->w, &c->q, 1);
	if (fq_used(&c->q) != 1 || st != S_UP) {
		WHY("used idx %u, device status 0x%x", fq_used(&c->q), st);
		return false;
	}
	return true;
}

/* 64 KiB in sixteen 4 KiB pieces through an indirect table, and a chain
 * with nothing readable: both completed, the device fine. */
static bool con_tx_big(struct ctx *c)
{
	uint32_t st;

	if (!con_up(c, F_VERSION_1 | F_INDIRECT))
		return false;
	memset(pg(P_DATA), '.', 8 * 4096);
	for (unsigned i = 0; i < 16; i++)
		put_desc(pg(P_IND), i, scratch_pa[P_DATA + i % 8], 4096,
			 (uint16_t)(i < 15 ? D_NEXT : 0), (uint16_t)(i + 1));
	put_desc(c->q.desc, 0, scratch_pa[P_IND], 16 * 16, D_INDIRECT, 0);
	fq_post(&c->q, 0);
	put_desc(c->q.desc, 1, scratch_pa[P_DATA], 4096, D_WRITE, 0);
	fq_post(&c->q, 1);
	wr(c->w, R_QUEUE_NOTIFY, 1);
	st = wait_used(c->w, &c->q, 2);
	if (fq_used(&c->q) != 2 || st != S_UP) {
		WHY("used idx %u, device status 0x%x", fq_used(&c->q), st);
		return false;
	}
	return true;
}

/* A receive buffer posted, then the device reset while it waits. */
static bool con_rx_reset(struct ctx *c)
{
	if (!con_up(c, F_VERSION_1))
		return false;
	put_desc(c->q2.desc, 0, scratch_pa[P_DATA], 4096, D_WRITE, 0);
	fq_post(&c->q2, 0);
	wr(c->w, R_QUEUE_NOTIFY, 0);
	usleep(50000);
	wr(c->w, R_STATUS, 0);
	if (rd(c->w, R_STATUS) != 0) {
		WHY("status after reset 0x%x", rd(c->w, R_STATUS));
		return false;
	}
	return true;
}

static bool con_bad(struct ctx *c, bool rx, enum bad_kind k)
{
	struct fq *q = rx ? &c->q2 : &c->q;

	return con_up(c, F_VERSION_1 | F_INDIRECT) && run_bad(c, q, k);
}

#define CON_TX_BAD(k) static bool con_tx_##k(struct ctx *c) { return con_bad(c, false, k); }
#define CON_RX_BAD(k) static bool con_rx_##k(struct ctx *c) { return con_bad(c, true, k); }
CON_TX_BAD(BAD_PAST_RAM) CON_TX_BAD(BAD_OVERFLOW) CON_TX_BAD(BAD_LOOP)
CON_TX_BAD(BAD_IND_PAST_RAM) CON_TX_BAD(BAD_IND_IN_MMIO) CON_TX_BAD(BAD_AVAIL_AHEAD)
CON_RX_BAD(BAD_PAST_RAM) CON_RX_BAD(BAD_IN_MMIO) CON_RX_BAD(BAD_HEAD_RANGE)
CON_RX_BAD(BAD_IND_LOOP) CON_RX_BAD(BAD_RD_AFTER_WR)

struct fcase {
	const char *name;
	bool (*fn)(struct ctx *);
};

static const struct fcase blk_cases[] = {
	{ "blk: after the garbage and a reset, GET_ID answers the image's name", blk_get_id },
	{ "blk: a read returns the guest's final pattern", blk_read_final },
	{ "blk: a forged write lands and reads back", blk_write_forge },
	{ "blk: a read at the end answers IOERR", blk_in_at_end },
	{ "blk: a read across the end answers IOERR", blk_in_straddle },
	{ "blk: a read at sector 2^55 answers IOERR", blk_in_far },
	{ "blk: a read at sector 2^64-1 answers IOERR", blk_in_max },
	{ "blk: a read of 100 bytes answers IOERR", blk_in_odd },
	{ "blk: a write at the end answers IOERR", blk_out_at_end },
	{ "blk: a write across the end answers IOERR", blk_out_straddle },
	{ "blk: a write whose sector range wraps answers IOERR", blk_out_wrap },
	{ "blk: an unknown request type answers UNSUPP", blk_unknown_type },
	{ "blk: FLUSH answers OK", blk_flush },
	{ "blk: a header in three pieces and the id in twenty are served", blk_split },
	{ "blk: requests without status room or a whole header come back unused", blk_no_status },
	{ "blk: a buffer past the end of RAM: NEEDS_RESET", blk_BAD_PAST_RAM },
	{ "blk: a buffer whose addr + len overflows: NEEDS_RESET", blk_BAD_OVERFLOW },
	{ "blk: a buffer in the MMIO window: NEEDS_RESET", blk_BAD_IN_MMIO },
	{ "blk: a 4 GiB buffer: NEEDS_RESET", blk_BAD_HUGE_LEN },
	{ "blk: a descriptor loop: NEEDS_RESET", blk_BAD_LOOP },
	{ "blk: a descriptor chained to itself: NEEDS_RESET", blk_BAD_SELF_LOOP },
	{ "blk: a next index out of range: NEEDS_RESET", blk_BAD_NEXT_RANGE },
	{ "blk: the avail index more than a ring ahead: NEEDS_RESET", blk_BAD_AVAIL_AHEAD },
	{ "blk: an avail ring head out of range: NEEDS_RESET", blk_BAD_HEAD_RANGE },
	{ "blk: a readable buffer after a writable one: NEEDS_RESET", blk_BAD_RD_AFTER_WR },
	{ "blk: an indirect table past RAM: NEEDS_RESET", blk_BAD_IND_PAST_RAM },
	{ "blk: an indirect table of 24 bytes: NEEDS_RESET", blk_BAD_IND_ODD_LEN },
	{ "blk: an empty indirect table: NEEDS_RESET", blk_BAD_IND_ZERO_LEN },
	{ "blk: an indirect table of 257 entries: NEEDS_RESET", blk_BAD_IND_TOO_BIG },
	{ "blk: nested indirect tables: NEEDS_RESET", blk_BAD_IND_NESTED },
	{ "blk: a loop inside an indirect table: NEEDS_RESET", blk_BAD_IND_LOOP },
	{ "blk: an indirect descriptor with NEXT: NEEDS_RESET", blk_BAD_IND_NEXT },
	{ "blk: an indirect buffer across the end of RAM: NEEDS_RESET", blk_BAD_IND_BUF_PAST_RAM },
	{ "blk: an indirect table in the MMIO window: NEEDS_RESET", blk_BAD_IND_IN_MMIO },
	{ "blk: a chain of 258 descriptors: NEEDS_RESET", blk_BAD_LONG_CHAIN },
	{ "blk: a descriptor table past RAM: refused at QueueReady", q_desc_past_ram },
	{ "blk: a descriptor table across the end of RAM: refused at QueueReady", q_desc_straddle },
	{ "blk: a used ring across the end of RAM: refused at QueueReady", q_used_straddle },
	{ "blk: an avail ring above 4 GiB: refused at QueueReady", q_avail_high },
	{ "blk: rings in the MMIO window: refused at QueueReady", q_rings_in_mmio },
	{ "blk: a misaligned descriptor table: refused at QueueReady", q_misaligned },
	{ "blk: a queue of 3 entries: refused at QueueReady", q_size_3 },
	{ "blk: a queue of 65536 entries: refused at QueueReady", q_size_huge },
	{ "blk: avail and used rings on one page: served, then a reset brings it back", blk_overlap },
};

static const struct fcase con_cases[] = {
	{ "console: a forged transmit chain is sent", con_tx_marker },
	{ "console: 64 KiB through an indirect table and an empty chain are sent", con_tx_big },
	{ "console: a reset with a receive buffer pending", con_rx_reset },
	{ "console: a transmit buffer past RAM: NEEDS_RESET", con_tx_BAD_PAST_RAM },
	{ "console: a transmit buffer whose addr + len overflows: NEEDS_RESET", con_tx_BAD_OVERFLOW },
	{ "console: a transmit descriptor loop: NEEDS_RESET", con_tx_BAD_LOOP },
	{ "console: a transmit indirect table past RAM: NEEDS_RESET", con_tx_BAD_IND_PAST_RAM },
	{ "console: a transmit indirect table in MMIO: NEEDS_RESET", con_tx_BAD_IND_IN_MMIO },
	{ "console: the transmit avail index more than a ring ahead: NEEDS_RESET", con_tx_BAD_AVAIL_AHEAD },
	{ "console: a receive buffer past RAM: NEEDS_RESET", con_rx_BAD_PAST_RAM },
	{ "console: a receive buffer in the MMIO window: NEEDS_RESET", con_rx_BAD_IN_MMIO },
	{ "console: a receive ring head out of range: NEEDS_RESET", con_rx_BAD_HEAD_RANGE },
	{ "console: a loop in a receive indirect table: NEEDS_RESET", con_rx_BAD_IND_LOOP },
	{ "console: a readable buffer in a receive chain: NEEDS_RESET", con_rx_BAD_RD_AFTER_WR },
};

#define NBLK (sizeof blk_cases / sizeof *blk_cases)
#define NCON (sizeof con_cases / sizeof *con_cases)
_Static_assert(GUEST_FIXED_CHECKS + NBLK + NCON == GUEST_CHECKS,
	       "GUEST_CHECKS in hostile.h counts the checks the guest reports");

static void run_cases(const struct fcase *cases, size_t n, uint32_t id)
{
	struct vwin *w = map ? find_dev(id) : NULL;

	for (size_t i = 0; i < n; i++) {
		char why[300] = "";
		struct ctx c = { .w = w, .why = why, .why_len = sizeof why };
		bool ok = w && scratch && cases[i].fn(&c);

		if (!w)
			snprintf(why, sizeof why, "no device with id %u mapped", id);
		gcheck(ok, "%s%s%s", cases[i].name, ok ? "" : ": ", ok ? "" : why);
	}
}

static void phase_mmio(void)
{
	char why[200] = "";
	long t0 = now_ms();
	bool ok = map_windows(why, sizeof why) && setup_scratch(why, sizeof why);
	bool reset_ok = ok;

	if (ok) {
		for (unsigned i = 0; i < nwins; i++)
			say("phase 4 window dev=0x%llx id=%u irq=%u", (unsigned long long)wins[i].base,
			    wins[i].id, wins[i].irq);
		/* reset first: the queue registers forget the kernel's rings */
		for (unsigned i = 0; i < nwins; i++) {
			wr(&wins[i], R_STATUS, 0);
			reset_ok &= rd(&wins[i], R_STATUS) == 0;
		}
	}
	gcheck(ok && reset_ok, "mmio: the virtio-mmio windows map through /dev/mem and every device resets%s%s",
	       why[0] ? ": " : "", why);
	if (!ok) {
		say("phase 4 failed: %s", why);
		map = NULL;
		run_cases(blk_cases, NBLK, 2);
		run_cases(con_cases, NCON, 3);
		gcheck(false, "mmio: a queue outside RAM sets NEEDS_RESET, and a reset clears every device (not run)");
		return;
	}
	garbage_mmio();
	reset_ok = true;
	for (unsigned i = 0; i < nwins; i++) {
		uint32_t st = rd(&wins[i], R_STATUS);

		say("storm dev=0x%llx id=%u status=0x%x needs_reset=%d", (unsigned long long)wins[i].base,
		    wins[i].id, st, !!(st & S_NEEDS_RESET));
		reset_ok &= (st & S_NEEDS_RESET) != 0;
		wr(&wins[i], R_STATUS, 0);
		reset_ok &= rd(&wins[i], R_STATUS) == 0 && rd(&wins[i], R_MAGIC) == 0x74726976u;
	}
	gcheck(reset_ok, "mmio: a queue outside RAM sets NEEDS_RESET, and a reset clears every device");
	clear_scratch();
	run_cases(blk_cases, NBLK, 2);
	run_cases(con_cases, NCON, 3);
	for (unsigned i = 0; i < nwins; i++)
		wr(&wins[i], R_STATUS, 0);
	say("phase 4 done ms=%ld", now_ms() - t0);
}

/* ======================= phase 5: memory ====================================== */

static void phase_memory(void)
{
	unsigned long long avail = meminfo_kb("MemAvailable:") << 10;
	unsigned long long margin = (24ull << 20) + avail / 8, want;
	long t0 = now_ms();
	uint8_t *p;

	want = avail > margin ? (avail - margin) & ~4095ull : 0;
	p = want ? mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			-1, 0)
		 : MAP_FAILED;
	if (p == MAP_FAILED) {
		say("phase 5 failed: MemAvailable %llu KiB, mmap: %s", avail >> 10, strerror(errno));
		return;
	}
	for (unsigned long long i = 0; i < want; i += 4096)
		p[i] = (uint8_t)(i >> 12);
	say("phase 5 done touched_mb=%llu memavailable_mb=%llu memtotal_mb=%llu ms=%ld", want >> 20,
	    avail >> 20, meminfo_kb("MemTotal:") >> 10, now_ms() - t0);
}

/* ======================= phase 6: flood the serial log ========================= */

/* Last, after the summary: msb-vmm caps the serial log (SERIAL_CAP), so
 * nothing the guest says after this reaches the log. */
static uint64_t serial_flood = SERIAL_FLOOD;   /* hostile.serial_kib=N */

static void phase_serial(void)
{
	static char buf[4096];
	uint64_t sent = 0;
	int fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY | O_CLOEXEC);

	say("phase 6 serial flood start bytes=%llu", (unsigned long long)serial_flood);
	if (fd < 0) {
		say("phase 6 failed: /dev/ttyS0: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = i % 64 == 63 ? '\n' : (char)('A' + i % 26);
	/* straight into the transmit register when we may (an exit per byte;
	 * KVM emulates rep outsb an element per exit, slower still), else
	 * through the kernel's driver (also polls and interrupts) */
	while (have_iopl && sent < serial_flood) {
		for (size_t i = 0; i < sizeof buf; i++)
			outb((uint8_t)buf[i], COM1);
		sent += sizeof buf;
	}
	while (sent < serial_flood) {
		ssize_t w = write(fd, buf, sizeof buf);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		sent += (uint64_t)w;
	}
	tcdrain(fd);
	close(fd);
	say("phase 6 done bytes=%llu (not in the log: past its cap)", (unsigned long long)sent);
}

int main(void)
{
	char cl[4096], *s;
	struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_NODEFER };

	if (getpid() != 1) {
		fputs("hostile_guest: runs as PID 1 of a microVM (msb-vmm --init); "
		      "the test is its checker, hostile\n", stderr);
		return 2;
	}
	mkdir("/dev", 0755);
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	write_text("/proc/sys/kernel/printk_devkmsg", "on\n");
	kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	ttys_fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	if (read_text("/proc/cmdline", cl, sizeof cl) == 0 && (s = strstr(cl, "hostile.seed=")))
		rng ^= strtoull(s + strlen("hostile.seed="), NULL, 0) * 0x2545f4914f6cdd1dull;
	if (!rng)
		rng = 1;
	both = strstr(cl, "hostile.both") != NULL;
	if ((s = strstr(cl, "hostile.only=")))
		only = atoi(s + strlen("hostile.only="));
	if ((s = strstr(cl, "hostile.serial_kib=")) && strtoull(s + 19, NULL, 10) * 1024 < SERIAL_FLOOD)
		serial_flood = strtoull(s + 19, NULL, 10) * 1024;
	say("start: %ld cpus, MemTotal %llu KiB, %d checks to come", sysconf(_SC_NPROCESSORS_ONLN),
	    meminfo_kb("MemTotal:"), GUEST_CHECKS);

	if (!only || only == 1)
		phase_flood();
	if (!only || only >= 2)   /* phases 3-6 draw their garbage after it */
		phase_disk();
	if (!only || only == 3)
		phase_pio();
	if (!only || only == 4)
		phase_mmio();
	if (!only || only == 5)
		phase_memory();
	say("checks done passed=%d failed=%d", g_passed, g_failed);
	if (!only || only == 6)
		phase_serial();
	say("rebooting");
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
	return 0;
}
