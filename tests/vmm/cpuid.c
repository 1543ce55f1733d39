/*
 * cpuid.c - msb-vmm's CPUID normalization (vmm/cpuid.c) without KVM, on
 * KVM_GET_SUPPORTED_CPUID tables recorded from two hosts: an L1 Linux 6.1
 * KVM on QEMU's emulated AMD CPU (-cpu max, tests/nested/run) and this
 * project's Intel PVM host. The guest must see a hypervisor with KVM's
 * leaves, XSAVE state that matches its features, one package of N cores,
 * and nothing KVM did not offer; a table with no room fails cleanly.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>

#include "tap.h"
#include "../../vmm/error.h"
#include "../../vmm/vmm.h"

/* ---- recorded tables: function, index, flags, eax, ebx, ecx, edx ---- */

struct rec {
	uint32_t fn, idx, flags, a, b, c, d;
};

/* L1 KVM (Linux 6.1) on QEMU 7.2 TCG -cpu max: AuthenticAMD. Offers PKRU
 * in 0xD without PKU in leaf 7, no hypervisor bit, 2 cores in 0x80000008. */
static const struct rec amd_l1[] = {
	{ 0x00000000, 0x00, 0, 0x0000000d, 0x68747541, 0x444d4163, 0x69746e65 },
	{ 0x00000001, 0x00, 0, 0x00060fb1, 0x01020800, 0x76f83203, 0x0f8bfbfd },
	{ 0x00000002, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000003, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000004, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000005, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000006, 0x00, 0, 0x00000004, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000007, 0x00, 1, 0x00000000, 0x019803ab, 0x00010204, 0x20000000 },
	{ 0x00000008, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000009, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000a, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000b, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000001 },
	{ 0x0000000c, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000d, 0x00, 1, 0x00000207, 0x00000a88, 0x00000a88, 0x00000000 },
	{ 0x0000000d, 0x01, 1, 0x00000005, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000d, 0x02, 1, 0x00000100, 0x00000240, 0x00000000, 0x00000000 },
	{ 0x0000000d, 0x09, 1, 0x00000008, 0x00000a80, 0x00000000, 0x00000000 },
	{ 0x80000000, 0x00, 0, 0x8000000a, 0x68747541, 0x444d4163, 0x69746e65 },
	{ 0x80000001, 0x00, 0, 0x00060fb1, 0x00000000, 0x00000077, 0xedd3fbfd },
	{ 0x80000002, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000003, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000004, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000005, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000006, 0x00, 0, 0x00000000, 0x42004200, 0x02008140, 0x00808140 },
	{ 0x80000007, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000008, 0x00, 0, 0x00003928, 0x04000000, 0x00001001, 0x00000000 },
	{ 0x80000009, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x8000000a, 0x00, 0, 0x00000001, 0x00000008, 0x00000000, 0x10010021 },
	{ 0x40000000, 0x00, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x0000004d },
	{ 0x40000001, 0x00, 0, 0x01007efb, 0x00000000, 0x00000000, 0x00000000 },
};

/* PVM on an Intel host: AVX-512 state in 0xD without AVX512F in leaf 7,
 * empty 0xB/0x1F, leaf 4 for 2 cores. */
static const struct rec intel_pvm[] = {
	{ 0x00000000, 0x00, 0, 0x00000024, 0x756e6547, 0x6c65746e, 0x49656e69 },
	{ 0x00000001, 0x00, 0, 0x000a0671, 0x00020800, 0x81202000, 0x0f8bfbff },
	{ 0x00000002, 0x00, 0, 0x00feff01, 0x000000f0, 0x00000000, 0x00000000 },
	{ 0x00000003, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000004, 0x00, 1, 0x04000121, 0x02c0003f, 0x0000003f, 0x00000000 },
	{ 0x00000004, 0x01, 1, 0x04000122, 0x03c0003f, 0x0000003f, 0x00000000 },
	{ 0x00000004, 0x02, 1, 0x04000143, 0x03c0003f, 0x000007ff, 0x00000000 },
	{ 0x00000004, 0x03, 1, 0x04004163, 0x03c0003f, 0x00077fff, 0x00000000 },
	{ 0x00000004, 0x04, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000005, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000006, 0x00, 0, 0x00000004, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000007, 0x00, 1, 0x00000002, 0x01802852, 0x1a010104, 0x20010000 },
	{ 0x00000007, 0x01, 1, 0x00001c00, 0x00000000, 0x00000000, 0x00004000 },
	{ 0x00000007, 0x02, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000001 },
	{ 0x00000008, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000009, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000a, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000b, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000c, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000d, 0x00, 1, 0x000000e7, 0x00000a80, 0x00000a80, 0x00000000 },
	{ 0x0000000d, 0x01, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000d, 0x02, 1, 0x00000100, 0x00000240, 0x00000000, 0x00000000 },
	{ 0x0000000d, 0x05, 1, 0x00000040, 0x00000440, 0x00000000, 0x00000000 },
	{ 0x0000000d, 0x06, 1, 0x00000200, 0x00000480, 0x00000000, 0x00000000 },
	{ 0x0000000d, 0x07, 1, 0x00000400, 0x00000680, 0x00000000, 0x00000000 },
	{ 0x0000000e, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000000f, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000010, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000011, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000012, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000013, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000014, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000015, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000016, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000017, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000018, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000019, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000001a, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000001b, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000001c, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000001d, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000001e, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x0000001f, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000020, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000021, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000022, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000023, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x00000024, 0x00, 1, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000000, 0x00, 0, 0x80000008, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000001, 0x00, 0, 0x00000000, 0x00000000, 0x00000101, 0x20100800 },
	{ 0x80000002, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000003, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000004, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000005, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x80000006, 0x00, 0, 0x00000000, 0x00000000, 0x08007040, 0x00000000 },
	{ 0x80000007, 0x00, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000100 },
	{ 0x80000008, 0x00, 0, 0x00003930, 0x00000000, 0x00000000, 0x00000000 },
	{ 0x40000000, 0x00, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x0000004d },
	{ 0x40000001, 0x00, 0, 0x01007efb, 0x00000000, 0x00000000, 0x00000000 },
};

#define NREC(t) (sizeof(t) / sizeof((t)[0]))

static struct kvm_cpuid2 *table(const struct rec *r, unsigned n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof *c + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (!c)
		bail_out("out of memory");
	for (unsigned i = 0; i < n; i++)
		c->entries[i] = (struct kvm_cpuid_entry2){
			.function = r[i].fn, .index = r[i].idx, .flags = r[i].flags,
			.eax = r[i].a, .ebx = r[i].b, .ecx = r[i].c, .edx = r[i].d,
		};
	c->nent = n;
	return c;
}

/* What the guest's CPUID instruction would return (KVM's lookup: an entry
 * whose index matters must match it; no entry reads as zeros). */
static struct kvm_cpuid_entry2 q(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == fn &&
		    (e->index == idx || !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
			return *e;
	}
	return (struct kvm_cpuid_entry2){ .function = fn, .index = idx };
}

static unsigned count(const struct kvm_cpuid2 *c, uint32_t fn)
{
	unsigned n = 0;
	for (unsigned i = 0; i < c->nent; i++)
		n += c->entries[i].function == fn;
	return n;
}

static int kvm_leaves(const struct kvm_cpuid2 *c, uint32_t features)
{
	struct kvm_cpuid_entry2 s = q(c, 0x40000000, 0), f = q(c, 0x40000001, 0);
	return s.eax == 0x40000001 && s.ebx == 0x4b4d564b && s.ecx == 0x564b4d56 &&
	       s.edx == 0x4d && f.eax == features && count(c, 0x40000000) == 1 &&
	       count(c, 0x40000001) == 1;
}

/* 0xB or 0x1F for vCPU `id` of n */
static int ext_topology(const struct kvm_cpuid2 *c, uint32_t fn, unsigned n, unsigned id)
{
	struct kvm_cpuid_entry2 smt = q(c, fn, 0), core = q(c, fn, 1), end = q(c, fn, 2);
	return smt.eax == 0 && smt.ebx == 1 && smt.ecx == 0x100 && smt.edx == id &&
	       (1u << core.eax) >= n && (n == 1 || (1u << core.eax) < 2 * n) &&
	       core.ebx == n && core.ecx == 0x201 && core.edx == id &&
	       end.eax == 0 && end.ebx == 0 && end.ecx == 2 && end.edx == id;
}

static void amd(void)
{
	struct kvm_cpuid2 *c = table(amd_l1, NREC(amd_l1));
	ok(cpuid_normalize(c, 1, 1, 1) == 0, "AMD L1: normalizes for 1 vCPU");
	cpuid_set_apic_id(c, 0);
	struct kvm_cpuid_entry2 l1 = q(c, 1, 0);
	ok(l1.ecx >> 31 & 1, "AMD L1: the hypervisor bit is set (KVM leaves it to the VMM)");
	ok(!(q(c, 0x80000001, 0).ecx >> 2 & 1) && (q(c, 0x80000001, 0).ecx & 0x73) == 0x73,
	   "AMD L1: SVM is hidden (no nested virtualization for the guest), the rest of the leaf kept");
	struct kvm_cpuid_entry2 svm = q(c, 0x8000000a, 0);
	ok(!svm.eax && !svm.ebx && !svm.ecx && !svm.edx,
	   "AMD L1: SVM's feature leaf is zero too (no npt, vmcb_clean, vgif in the guest's flags)");
	ok(!(l1.ecx >> 5 & 1), "AMD L1: no VMX either");
	ok(l1.ecx >> 24 & 1, "AMD L1: TSC-deadline with an in-kernel LAPIC and the capability");
	ok(kvm_leaves(c, 0x01007efb), "AMD L1: KVM's signature and its features (kvmclock...) as offered");

	struct kvm_cpuid_entry2 d0 = q(c, 0xd, 0), d2 = q(c, 0xd, 2), d9 = q(c, 0xd, 9);
	if (!ok(d0.eax == 0x7 && d0.edx == 0 && d0.ecx == 832 && d0.ebx == 832 &&
		d2.eax == 256 && d2.ebx == 576 && d9.eax == 0 && d9.ebx == 0,
		"AMD L1: 0xD drops PKRU (no PKU), sizes for x87|SSE|AVX (832)"))
		diag("0xD.0 %08x %08x %08x %08x", d0.eax, d0.ebx, d0.ecx, d0.edx);
	ok(cpuid_xcr0(c) == 0x7, "AMD L1: XCR0 for the guest is x87|SSE|AVX");

	struct kvm_cpuid_entry2 x8 = q(c, 0x80000008, 0);
	ok((l1.ebx >> 16 & 0xff) == 1 && (x8.ecx & 0xf0ff) == 0 && (x8.ecx >> 16) == 0,
	   "AMD L1, 1 vCPU: one logical CPU (leaf 1), one core (0x80000008 NC 0)");
	ok(ext_topology(c, 0xb, 1, 0), "AMD L1, 1 vCPU: 0xB describes 1 thread, 1 core");
	free(c);

	c = table(amd_l1, NREC(amd_l1));
	ok(cpuid_normalize(c, 3, 1, 1) == 0, "AMD L1: normalizes for 3 vCPUs");
	cpuid_set_apic_id(c, 2);
	l1 = q(c, 1, 0);
	x8 = q(c, 0x80000008, 0);
	ok((l1.ebx >> 24) == 2 && (l1.ebx >> 16 & 0xff) == 3 && (l1.edx >> 28 & 1) &&
	   (x8.ecx & 0xff) == 2 && (x8.ecx >> 12 & 0xf) == 2,
	   "AMD L1, vCPU 2 of 3: APIC id 2, HTT with 3 logical CPUs, NC 2 with 2 APIC id bits");
	ok(ext_topology(c, 0xb, 3, 2), "AMD L1, vCPU 2 of 3: 0xB subleaves 0..2, x2APIC id 2 in each");
	free(c);
}

static void intel(void)
{
	{
		/* a host with nested VMX offers it: the guest must not see it */
		struct kvm_cpuid2 *c = table(intel_pvm, NREC(intel_pvm));
		for (unsigned i = 0; i < c->nent; i++)
			if (c->entries[i].function == 1)
				c->entries[i].ecx |= 1u << 5;
		cpuid_normalize(c, 1, 1, 0);
		ok(!(q(c, 1, 0).ecx >> 5 & 1) && (q(c, 1, 0).ecx & 0x1202000) == 0x1202000,
		   "Intel: VMX offered by KVM is hidden from the guest, the rest of leaf 1 kept");
		free(c);
	}
	for (unsigned n = 1; n <= 32; n = n * 2 + 1) {
		struct kvm_cpuid2 *c = table(intel_pvm, NREC(intel_pvm));
		unsigned before = c->nent;
		if (!ok(cpuid_normalize(c, n, 1, 0) == 0, "Intel PVM: normalizes for %u vCPUs", n))
			diag("%s", vmm_error());
		unsigned id = n - 1;
		cpuid_set_apic_id(c, id);
		struct kvm_cpuid_entry2 l1 = q(c, 1, 0);
		ok((l1.ecx >> 31 & 1) && kvm_leaves(c, 0x01007efb) && c->nent == before + 4,
		   "Intel PVM, %u vCPUs: hypervisor bit, KVM's leaves; adds only 0xB/0x1F subleaves 1, 2", n);
		int caches = 1;
		for (unsigned i = 0; i < 4; i++) {
			struct kvm_cpuid_entry2 e = q(c, 4, i);
			unsigned level = e.eax >> 5 & 7, share = (e.eax >> 14 & 0xfff) + 1;
			if ((e.eax >> 26) + 1 != n || share != (level >= 3 ? n : 1) ||
			    (e.eax & 0x3fff) != (intel_pvm[4 + i].a & 0x3fff))
				caches = 0;
		}
		ok(caches && q(c, 4, 4).eax == 0,
		   "Intel PVM, %u vCPUs: leaf 4 has %u cores, L1/L2 per core, L3 shared", n, n);
		ok((l1.ebx >> 24) == id && (l1.ebx >> 16 & 0xff) == n &&
		   ext_topology(c, 0xb, n, id) && ext_topology(c, 0x1f, n, id),
		   "Intel PVM, vCPU %u of %u: APIC id in leaf 1, 0xB and 0x1F", id, n);
		ok(q(c, 0x80000008, 0).ecx == 0, "Intel PVM, %u vCPUs: 0x80000008 ECX stays reserved", n);
		free(c);
	}

	struct kvm_cpuid2 *c = table(intel_pvm, NREC(intel_pvm));
	cpuid_normalize(c, 2, 1, 0);
	struct kvm_cpuid_entry2 d0 = q(c, 0xd, 0);
	ok(d0.eax == 0xe7 && d0.ebx == 0xa80 && d0.ecx == 0xa80 && q(c, 0xd, 5).eax == 0x40 &&
	   cpuid_xcr0(c) == 0,
	   "Intel PVM: leaf 1 offers no XSAVE: 0xD stays as KVM gave it, no XCR0 to load");
	ok(q(c, 1, 0).ecx >> 24 & 1,
	   "Intel PVM: TSC-deadline as KVM offered it (in-kernel LAPIC, no capability)");
	free(c);

	c = table(intel_pvm, NREC(intel_pvm));
	cpuid_normalize(c, 2, 0, 1);
	ok(!(q(c, 1, 0).ecx >> 24 & 1), "no in-kernel LAPIC: no TSC-deadline timer");
	free(c);
}

static void edges(void)
{
	/* a KVM that offers no paravirt leaves: an empty features leaf */
	struct rec bare[] = {
		{ 0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69 },
		{ 1, 0, 0, 0x000a0671, 0x01020800, 0x01202000, 0x0f8bfbff },
	};
	struct kvm_cpuid2 *c = table(bare, NREC(bare));
	ok(cpuid_normalize(c, 1, 1, 0) == 0 && kvm_leaves(c, 0) && c->nent == 4,
	   "no KVM leaves offered: the signature and an empty features leaf, nothing more");
	free(c);

	/* an old host: signature with EAX 0 */
	struct rec old[] = {
		{ 0, 0, 0, 0x1, 0x756e6547, 0x6c65746e, 0x49656e69 },
		{ 1, 0, 0, 0x000a0671, 0x01020800, 0x01202000, 0x0f8bfbff },
		{ 0x40000000, 0, 0, 0, 0x4b4d564b, 0x564b4d56, 0x4d },
		{ 0x40000001, 0, 0, 0x9, 0, 0, 0 },
	};
	c = table(old, NREC(old));
	ok(cpuid_normalize(c, 1, 1, 0) == 0 && kvm_leaves(c, 0x9),
	   "an old host's signature with EAX 0 gets EAX 0x40000001");
	free(c);

	/* a full table cannot take KVM's leaves: an error, no overflow */
	c = table(intel_pvm, 0);
	for (unsigned i = 0; i < CPUID_MAX_ENTRIES; i++)
		c->entries[i] = (struct kvm_cpuid_entry2){ .function = 0x80000100 + i };
	c->nent = CPUID_MAX_ENTRIES;
	errno = 0;
	ok(cpuid_normalize(c, 1, 1, 0) == -1 && errno == ENOSPC && c->nent == CPUID_MAX_ENTRIES,
	   "a table with no room left: ENOSPC, nothing written past it");
	c->nent = CPUID_MAX_ENTRIES + 1;
	errno = 0;
	ok(cpuid_normalize(c, 1, 1, 0) == -1 && errno == EINVAL, "a table longer than KVM's limit: EINVAL");
	free(c);

	/* 0xD: state without its feature goes, and so does all of its group */
	struct rec x1[] = {
		{ 0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69 },
		{ 1, 0, 0, 0x000a0671, 0x01020800, 0x15202000, 0x0f8bfbff },   /* XSAVE, AVX */
		{ 7, 0, 1, 0, 0, 0x8, 0 },                                     /* PKU */
		{ 0xd, 0, 1, 0x2e7, 0xa88, 0xa88, 0 },
		{ 0xd, 1, 1, 0x1, 0, 0, 0 },
		{ 0xd, 2, 1, 0x100, 0x240, 0, 0 },
		{ 0xd, 5, 1, 0x40, 0x440, 0, 0 },
		{ 0xd, 6, 1, 0x200, 0x480, 0, 0 },
		{ 0xd, 7, 1, 0x400, 0x680, 0, 0 },
		{ 0xd, 9, 1, 0x8, 0xa80, 0, 0 },
	};
	c = table(x1, NREC(x1));
	cpuid_normalize(c, 1, 1, 0);
	struct kvm_cpuid_entry2 d0 = q(c, 0xd, 0);
	if (!ok(d0.eax == 0x207 && d0.ecx == 0xa88 && q(c, 0xd, 5).eax == 0 && q(c, 0xd, 7).ebx == 0 &&
		q(c, 0xd, 9).eax == 8 && cpuid_xcr0(c) == 0x207,
		"0xD: AVX-512 state without AVX512F goes (all three), PKRU with PKU stays; ECX to its end"))
		diag("0xD.0 %08x %08x %08x %08x", d0.eax, d0.ebx, d0.ecx, d0.edx);
	free(c);

	/* 0xD subleaves that wrap, start inside the header, or are missing */
	struct rec x2[] = {
		{ 0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69 },
		{ 1, 0, 0, 0x000a0671, 0x01020800, 0x15202000, 0x0f8bfbff },   /* XSAVE, AVX */
		{ 7, 0, 1, 0, 0x00014000, 0x8, 0 },                            /* AVX512F, MPX, PKU */
		{ 0xd, 0, 1, 0x2ff, 0xa88, 0xa88, 0 },
		{ 0xd, 2, 1, 0x100, 0x240, 0, 0 },
		{ 0xd, 3, 1, 0x40, 0x100, 0, 0 },       /* inside the legacy area */
		{ 0xd, 4, 1, 0x40, 0x3c0, 0, 0 },
		{ 0xd, 5, 1, 0x40, 0xffffffe0, 0, 0 },  /* wraps */
		{ 0xd, 6, 1, 0x200, 0x480, 0, 0 },
		{ 0xd, 7, 1, 0x400, 0x680, 0, 0 },
		/* PKRU (9) offered without a subleaf */
	};
	c = table(x2, NREC(x2));
	cpuid_normalize(c, 1, 1, 0);
	d0 = q(c, 0xd, 0);
	if (!ok(d0.eax == 0x7 && d0.ecx == 832 && q(c, 0xd, 4).eax == 0 && q(c, 0xd, 6).eax == 0,
		"0xD: a subleaf that wraps or overlaps the header drops its group, a missing one its component"))
		diag("0xD.0 %08x %08x %08x %08x", d0.eax, d0.ebx, d0.ecx, d0.edx);
	free(c);
}

int main(void)
{
	amd();
	intel();
	edges();
	return done_testing();
}
