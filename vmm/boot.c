/*
 * boot.c - direct 64-bit boot of an ELF vmlinux, as the Linux x86 boot
 * protocol (Documentation/arch/x86/boot.rst, "64-bit BOOT PROTOCOL") asks.
 *
 * Guest physical layout (all below 1 MiB is ours, the kernel's from 1 MiB):
 *   0x00500  GDT: 0x10 __BOOT_CS (64-bit code), 0x18 __BOOT_DS, 0x20 TSS
 *   0x07000  boot_params, the "zero page"
 *   0x20000  the command line (at most COMMAND_LINE_SIZE = 2048 bytes)
 *   0x9fc00  the MP table (e820-reserved with the rest up to 1 MiB)
 *   1 MiB..  the kernel's PT_LOAD segments, at their physical addresses
 *   ..top    the initrd, page-aligned, as high as allowed (below 896 MiB
 *            and below the page tables)
 *   top      identity-map page tables for the first min(RAM, 1 GiB), 4 KiB
 *            pages only (PVM refuses 2 MiB pages; the kernel replaces them
 *            with its own at once, so they stay e820-usable)
 *
 * The entry point is e_entry: for a vmlinux it is phys_startup_64, the
 * physical address of startup_64 (vmlinux.lds.S: ENTRY(phys_startup_64)),
 * which is what Firecracker's linux-loader jumps to as well. (The "+0x200"
 * entry belongs to a bzImage's protected-mode code, not to a vmlinux.)
 *
 * Everything read from the ELF is checked before use: magic, class, data,
 * machine, type, program headers inside the file, segments inside the file
 * and inside guest RAM (with overflow checks), the entry inside a segment.
 */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "vmm.h"

#define GDT_ADDR        0x500ull
#define ZERO_PAGE_ADDR  0x7000ull
#define CMDLINE_ADDR    0x20000ull
#define CMDLINE_MAX     2048ull
#define MPTABLE_ADDR    0x9fc00ull
#define EBDA_END        0xa0000ull
#define HIMEM_START     0x100000ull
#define MAP_LIMIT       (1ull << 30)
#define INITRD_ADDR_MAX 0x37ffffffull
#define PAGE            4096ull
#define MAX_PHDRS       64

#define E820_RAM      1
#define E820_RESERVED 2

static int read_full(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Identity map [0, top) with 4 KiB pages; tables in [base, base + size). */
static uint64_t pt_size(uint64_t top)
{
	uint64_t npt = (top + (2ull << 20) - 1) >> 21;  /* one PT per 2 MiB */
	uint64_t npd = (top + (1ull << 30) - 1) >> 30;  /* one PD per 1 GiB */
	return (npt + npd + 2) * PAGE;
}

static int build_page_tables(struct guest_mem *gm, uint64_t base, uint64_t top)
{
	uint64_t size = pt_size(top);
	uint64_t *t = gm_ptr(gm, base, size);
	if (!t)
		return vmm_fail(EINVAL, "page tables outside guest memory");
	memset(t, 0, size);
	uint64_t npt = (top + (2ull << 20) - 1) >> 21;
	uint64_t npd = (top + (1ull << 30) - 1) >> 30;
	uint64_t pml4 = base, pdpt = base + PAGE, pd0 = base + 2 * PAGE,
		 pt0 = pd0 + npd * PAGE;
	const uint64_t P_RW = 0x3; /* present, writable */

	t[0] = pdpt | P_RW;                                     /* PML4[0] */
	for (uint64_t i = 0; i < npd; i++)                      /* PDPT[i] */
		t[(pdpt - base) / 8 + i] = (pd0 + i * PAGE) | P_RW;
	for (uint64_t i = 0; i < npt; i++)                      /* PD entries */
		t[(pd0 - base) / 8 + i] = (pt0 + i * PAGE) | P_RW;
	for (uint64_t a = 0; a < top; a += PAGE)                /* PTEs */
		t[(pt0 - base) / 8 + a / PAGE] = a | P_RW;
	(void)pml4;
	return 0;
}

static void write_gdt(struct guest_mem *gm)
{
	uint64_t *gdt = gm_ptr(gm, GDT_ADDR, 6 * 8);
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffull; /* 0x10: code, 64-bit, present, DPL 0 */
	gdt[3] = 0x00cf93000000ffffull; /* 0x18: data, flat 4 GiB, writable */
	gdt[4] = 0x00008b0000000067ull; /* 0x20: 64-bit TSS (busy), base 0 */
	gdt[5] = 0;
}

/* Load the PT_LOAD segments of the ELF at `path`; report the entry and
 * the end of the highest segment. Segments must lie in [1 MiB, limit). */
static int load_elf(struct guest_mem *gm, const char *path, uint64_t limit,
		    uint64_t *entry, uint64_t *kernel_end)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_fail(errno, "kernel %s", path);
	int rc = -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		vmm_fail(errno, "kernel %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		vmm_fail(0, "kernel %s: not a regular file", path);
		goto out;
	}
	uint64_t fsize = (uint64_t)st.st_size;
	Elf64_Ehdr eh;
	if (fsize < sizeof eh || read_full(fd, &eh, sizeof eh, 0) < 0 ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		vmm_fail(0, "kernel %s: not an ELF file (msb-vmm boots an uncompressed vmlinux)", path);
		goto out;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_machine != EM_X86_64) {
		vmm_fail(0, "kernel %s: not a 64-bit little-endian x86-64 ELF", path);
		goto out;
	}
	if (eh.e_type != ET_EXEC) {
		vmm_fail(0, "kernel %s: ELF type %u, expected an executable (ET_EXEC)", path, eh.e_type);
		goto out;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > MAX_PHDRS || eh.e_phoff > fsize ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > fsize - eh.e_phoff) {
		vmm_fail(0, "kernel %s: bad program header table", path);
		goto out;
	}
	Elf64_Phdr ph[MAX_PHDRS];
	if (read_full(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), (off_t)eh.e_phoff) < 0) {
		vmm_fail(errno, "kernel %s: reading program headers", path);
		goto out;
	}
	/* validate every segment before writing any */
	unsigned nload = 0;
	int entry_ok = 0;
	uint64_t end = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD)
			continue;
		nload++;
		if (p->p_filesz > p->p_memsz || p->p_offset > fsize ||
		    p->p_filesz > fsize - p->p_offset) {
			vmm_fail(0, "kernel %s: segment %u lies outside the file", path, i);
			goto out;
		}
		if (p->p_paddr < HIMEM_START || p->p_paddr > limit ||
		    p->p_memsz > limit - p->p_paddr) {
			vmm_fail(0, "kernel %s: segment %u (0x%llx, %llu bytes) lies outside guest memory [1 MiB, 0x%llx)",
				 path, i, (unsigned long long)p->p_paddr,
				 (unsigned long long)p->p_memsz, (unsigned long long)limit);
			goto out;
		}
		if (eh.e_entry >= p->p_paddr && eh.e_entry - p->p_paddr < p->p_memsz)
			entry_ok = 1;
		if (p->p_paddr + p->p_memsz > end)
			end = p->p_paddr + p->p_memsz;
	}
	if (nload == 0) {
		vmm_fail(0, "kernel %s: no loadable segment", path);
		goto out;
	}
	if (!entry_ok) {
		vmm_fail(0, "kernel %s: entry point 0x%llx is not in a loaded segment", path,
			 (unsigned long long)eh.e_entry);
		goto out;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD)
			continue;
		uint8_t *dst = gm_ptr(gm, p->p_paddr, p->p_memsz);
		if (!dst || read_full(fd, dst, p->p_filesz, (off_t)p->p_offset) < 0) {
			vmm_fail(errno, "kernel %s: reading segment %u", path, i);
			goto out;
		}
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
	}
	*entry = eh.e_entry;
	*kernel_end = end;
	rc = 0;
out:
	close(fd);
	return rc;
}

static int load_initrd(struct guest_mem *gm, const char *path, uint64_t lo, uint64_t hi,
		       uint64_t *addr, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_fail(errno, "initrd %s", path);
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		vmm_fail(errno ? errno : EINVAL, "initrd %s: not a readable regular file", path);
		goto out;
	}
	uint64_t n = (uint64_t)st.st_size;
	if (n > hi || ((hi - n) & ~(PAGE - 1)) < lo) {
		vmm_fail(0, "initrd %s (%llu bytes) does not fit in guest memory above the kernel; raise --memory",
			 path, (unsigned long long)n);
		goto out;
	}
	uint64_t at = (hi - n) & ~(PAGE - 1);
	uint8_t *dst = gm_ptr(gm, at, n);
	if (!dst || read_full(fd, dst, n, 0) < 0) {
		vmm_fail(errno, "initrd %s: read", path);
		goto out;
	}
	*addr = at;
	*size = n;
	rc = 0;
out:
	close(fd);
	return rc;
}

int boot_setup(struct guest_mem *gm, unsigned ncpus, const char *kernel,
	       const char *initrd, const char *cmdline, struct boot_out *out)
{
	uint64_t mem = gm->size;
	if (mem < 4 * HIMEM_START)
		return vmm_fail(EINVAL, "guest memory of %llu bytes is too small (at least 4 MiB)",
				(unsigned long long)mem);
	size_t clen = cmdline ? strlen(cmdline) : 0;
	if (clen + 1 > CMDLINE_MAX)
		return vmm_fail(E2BIG, "kernel command line of %zu bytes is longer than %llu", clen,
				CMDLINE_MAX - 1);

	uint64_t map_top = mem < MAP_LIMIT ? mem : MAP_LIMIT;
	uint64_t pt_base = (map_top - pt_size(map_top)) & ~(PAGE - 1);

	uint64_t entry = 0, kend = 0;
	/* the kernel may use any RAM, but not our page tables at the top */
	if (load_elf(gm, kernel, pt_base, &entry, &kend) < 0)
		return -1;

	uint64_t rd_addr = 0, rd_size = 0;
	if (initrd) {
		uint64_t hi = pt_base < INITRD_ADDR_MAX + 1 ? pt_base : INITRD_ADDR_MAX + 1;
		uint64_t lo = (kend + PAGE - 1) & ~(PAGE - 1);
		if (load_initrd(gm, initrd, lo, hi, &rd_addr, &rd_size) < 0)
			return -1;
	}
	if (build_page_tables(gm, pt_base, map_top) < 0)
		return -1;
	write_gdt(gm);
	if (mptable_write(gm, MPTABLE_ADDR, EBDA_END, ncpus) < 0)
		return -1;

	char *cl = gm_ptr(gm, CMDLINE_ADDR, CMDLINE_MAX);
	memset(cl, 0, CMDLINE_MAX);
	if (clen)
		memcpy(cl, cmdline, clen);

	struct boot_params *bp = gm_ptr(gm, ZERO_PAGE_ADDR, sizeof *bp);
	memset(bp, 0, sizeof *bp);
	struct setup_header *h = &bp->hdr;
	h->boot_flag = 0xaa55;
	h->header = 0x53726448;            /* "HdrS" */
	h->version = 0x020f;               /* protocol 2.15 */
	h->type_of_loader = 0xff;          /* undefined loader */
	h->loadflags = LOADED_HIGH;        /* kernel at 1 MiB and above */
	h->code32_start = HIMEM_START;
	h->cmd_line_ptr = (uint32_t)CMDLINE_ADDR;
	h->cmdline_size = (uint32_t)(CMDLINE_MAX - 1);
	h->ramdisk_image = (uint32_t)rd_addr;
	h->ramdisk_size = (uint32_t)rd_size;
	h->initrd_addr_max = (uint32_t)INITRD_ADDR_MAX;
	h->kernel_alignment = 0x1000000;
	h->xloadflags = XLF_KERNEL_64;

	struct boot_e820_entry *e = bp->e820_table;
	e[0] = (struct boot_e820_entry){ 0, MPTABLE_ADDR, E820_RAM };
	e[1] = (struct boot_e820_entry){ MPTABLE_ADDR, HIMEM_START - MPTABLE_ADDR, E820_RESERVED };
	e[2] = (struct boot_e820_entry){ HIMEM_START, mem - HIMEM_START, E820_RAM };
	bp->e820_entries = 3;

	out->rip = entry;
	out->rsi = ZERO_PAGE_ADDR;
	out->cr3 = pt_base;
	out->gdt_base = GDT_ADDR;
	out->gdt_limit = 6 * 8 - 1;
	return 0;
}
