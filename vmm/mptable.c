/*
 * mptable.c - an Intel MultiProcessor Specification 1.4 table announcing
 * the vCPUs (no ACPI: Linux finds the CPUs, the IOAPIC and the ISA IRQ
 * routing here). Layout as Firecracker and kvmtool write it: the floating
 * pointer at `addr` (Linux scans the last KiB of base memory, 0x9fc00),
 * the configuration table right after it.
 */
#include <errno.h>
#include <string.h>

#include "error.h"
#include "vmm.h"

#define MP_APIC_VERSION   0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_IOAPIC_ADDR    0xfec00000u
#define MP_LAPIC_ADDR     0xfee00000u

struct mpf {                 /* floating pointer, 16 bytes */
	char signature[4];   /* "_MP_" */
	uint32_t physptr;
	uint8_t length;      /* in 16-byte units: 1 */
	uint8_t specification; /* 4 = 1.4 */
	uint8_t checksum;
	uint8_t feature1, feature2, feature3, feature4, feature5;
} __attribute__((packed));

struct mpc_table {           /* configuration table header, 44 bytes */
	char signature[4];   /* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint16_t reserved1;
	uint8_t reserved2;
	uint8_t reserved3;
} __attribute__((packed));

struct mpc_cpu {             /* type 0, 20 bytes */
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t cpufeature, featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {             /* type 1, 8 bytes */
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {          /* type 2, 8 bytes */
	uint8_t type, apicid, apicver, flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {          /* type 3 (I/O) and 4 (local), 8 bytes */
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf) == 16, "mpf");
_Static_assert(sizeof(struct mpc_table) == 44, "mpc_table");
_Static_assert(sizeof(struct mpc_cpu) == 20, "mpc_cpu");

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The size of the table for ncpus vCPUs. */
size_t mptable_size(unsigned ncpus)
{
	return sizeof(struct mpf) + sizeof(struct mpc_table) +
	       ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) + 18 * sizeof(struct mpc_intsrc);
}

int mptable_write(struct guest_mem *gm, uint64_t addr, uint64_t limit, unsigned ncpus)
{
	size_t size = mptable_size(ncpus);
	if (ncpus == 0 || ncpus > 254 || addr + size > limit)
		return vmm_fail(EINVAL, "an MP table for %u vCPUs does not fit below 0x%llx",
				ncpus, (unsigned long long)limit);
	uint8_t *base = gm_ptr(gm, addr, size);
	if (!base)
		return vmm_fail(EINVAL, "MP table outside guest memory");
	memset(base, 0, size);

	struct mpf *mpf = (struct mpf *)base;
	struct mpc_table *mpc = (struct mpc_table *)(base + sizeof *mpf);
	uint8_t *p = (uint8_t *)(mpc + 1);

	for (unsigned i = 0; i < ncpus; i++) {
		struct mpc_cpu cpu = {
			.type = 0, .apicid = (uint8_t)i, .apicver = MP_APIC_VERSION,
			.cpuflag = 1 | (i == 0 ? 2 : 0),       /* enabled, BSP */
			.cpufeature = 0x600, .featureflag = 0x201, /* FPU, APIC */
		};
		memcpy(p, &cpu, sizeof cpu);
		p += sizeof cpu;
	}
	struct mpc_bus bus = { .type = 1, .busid = 0, .bustype = "ISA   " };
	memcpy(p, &bus, sizeof bus);
	p += sizeof bus;
	uint8_t ioapic_id = (uint8_t)ncpus;
	struct mpc_ioapic io = { .type = 2, .apicid = ioapic_id, .apicver = MP_IOAPIC_VERSION,
				 .flags = 1, .apicaddr = MP_IOAPIC_ADDR };
	memcpy(p, &io, sizeof io);
	p += sizeof io;
	for (uint8_t irq = 0; irq < 16; irq++) {      /* ISA IRQ n -> IOAPIC pin n */
		struct mpc_intsrc is = { .type = 3, .irqtype = 0 /* INT */, .irqflag = 0,
					 .srcbus = 0, .srcbusirq = irq, .dstapic = ioapic_id,
					 .dstirq = irq };
		memcpy(p, &is, sizeof is);
		p += sizeof is;
	}
	struct mpc_intsrc lint0 = { .type = 4, .irqtype = 3 /* ExtINT */, .srcbus = 0,
				    .dstapic = 0xff, .dstirq = 0 };
	struct mpc_intsrc lint1 = { .type = 4, .irqtype = 1 /* NMI */, .srcbus = 0,
				    .dstapic = 0xff, .dstirq = 1 };
	memcpy(p, &lint0, sizeof lint0);
	p += sizeof lint0;
	memcpy(p, &lint1, sizeof lint1);
	p += sizeof lint1;

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "MSB     ", 8);
	memcpy(mpc->productid, "MSB-VMM     ", 12);
	mpc->oemcount = (uint16_t)(ncpus + 1 + 1 + 18);
	mpc->lapic = MP_LAPIC_ADDR;
	mpc->checksum = (uint8_t)-sum((uint8_t *)mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(addr + sizeof *mpf);
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = (uint8_t)-sum((uint8_t *)mpf, sizeof *mpf);
	return 0;
}
