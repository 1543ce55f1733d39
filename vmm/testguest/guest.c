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
 * Virtio checks (virtio-mmio console and block) plug in at virtio_checks().
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

static void virtio_checks(void)
{
	/* HOOK(virtio): find the virtio_mmio.device= entries on the command
	 * line and drive each device as Linux's virtio-mmio driver does
	 * (reset, VERSION_1 negotiation, queues, notify, used ring, config),
	 * then misbehave on purpose and check DEVICE_NEEDS_RESET. */
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

int guest_main(uint8_t *bp, struct entry_state *st);
int guest_main(uint8_t *bp, struct entry_state *st)
{
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
	uint32_t cl = BP(bp, 0x228, uint32_t), clsize = BP(bp, 0x238, uint32_t);
	uint64_t n = 0;
	if (cl && cl < 0x100000)
		while (n <= clsize && ((const char *)(uint64_t)cl)[n])
			n++;
	int cl_ok = cl != 0 && cl < 0x100000 && n <= clsize && clsize >= 255;
	check(cl_ok, "cmd_line_ptr set, NUL-terminated within cmdline_size");
	cmdline = cl_ok ? (const char *)(uint64_t)cl : 0;
	cmdline_len = cl_ok ? n : 0;
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
