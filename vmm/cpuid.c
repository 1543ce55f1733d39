/*
 * cpuid.c - the CPUID table the guest sees.
 *
 * KVM_GET_SUPPORTED_CPUID says what KVM and the host CPU can give a guest;
 * it is a menu, not yet a CPU. msb-vmm makes a CPU of it, as Firecracker,
 * kvmtool and crosvm do, and never adds a feature KVM did not offer:
 *
 *   leaf 1        the hypervisor bit (Linux looks for KVM only behind it);
 *                 no VMX (and leaf 0x80000001: no SVM, leaf 0x8000000A,
 *                 SVM's features, zero): a guest gets no
 *                 nested virtualization, so the host's nested-VMX/SVM
 *                 emulation, a classic source of escapes, is out of reach
 *                 (KVM refuses VMXON/VMRUN when CPUID hides them);
 *                 the TSC-deadline timer exactly when the in-kernel LAPIC
 *                 emulates it; the logical CPU count (with HTT)
 *   0x40000000    KVM's signature "KVMKVMKVM\0\0\0", EAX = the last
 *                 hypervisor leaf (0x40000001)
 *   0x40000001    KVM's paravirtual features (kvmclock, ...) as KVM offers
 *                 them; an empty leaf when it offers none
 *   0xD           the XSAVE state components are the ones whose CPU feature
 *                 the guest sees (PKRU only with PKU, ...), all-or-none
 *                 groups stay whole, and the sizes follow from what is left
 *   topology      one package of ncpus cores with one thread each, APIC id =
 *                 vCPU index, as the MP table says: leaves 4, 0xB, 0x1F,
 *                 0x80000008 (AMD), 0x8000001D, 0x8000001E, where KVM
 *                 offers them
 *
 * cpuid_normalize() does what every vCPU shares, cpuid_set_apic_id() the
 * per-vCPU fields. No KVM calls here: tests/vmm/cpuid.c runs it on recorded
 * tables.
 */
#include <errno.h>
#include <linux/kvm.h>

#include "error.h"
#include "vmm.h"

#define SIG_EBX 0x4b4d564bu   /* "KVMK" */
#define SIG_ECX 0x564b4d56u   /* "VMKV" */
#define SIG_EDX 0x0000004du   /* "M\0\0\0" */

#define KVM_LEAF_SIG      0x40000000u
#define KVM_LEAF_FEATURES 0x40000001u

#define L1_ECX_TSC_DEADLINE (1u << 24)
#define L1_ECX_XSAVE_BIT    26
#define L1_ECX_HYPERVISOR   (1u << 31)
#define L1_ECX_VMX          (1u << 5)
#define EXT1_ECX_SVM        (1u << 2)
#define LEAF_SVM            0x8000000au  /* SVM revision and features */
#define L1_EDX_HTT          (1u << 28)

/* Legacy area + XSAVE header: the smallest XSAVE image. */
#define XSAVE_MIN_SIZE 576u

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == fn &&
		    (e->index == idx || !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
			return e;
	}
	return NULL;
}

/* The entry for (fn, idx), added (zeroed) when missing; NULL when full. */
static struct kvm_cpuid_entry2 *get(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx,
				    uint32_t flags)
{
	struct kvm_cpuid_entry2 *e = find(c, fn, idx);
	if (e)
		return e;
	if (c->nent >= CPUID_MAX_ENTRIES)
		return NULL;
	e = &c->entries[c->nent++];
	*e = (struct kvm_cpuid_entry2){ .function = fn, .index = idx, .flags = flags };
	return e;
}

/* Whether leaf fn (basic or extended) is in range of its range's max leaf. */
static int in_range(struct kvm_cpuid2 *c, uint32_t fn)
{
	struct kvm_cpuid_entry2 *max = find(c, fn & 0x80000000u, 0);
	return max && max->eax >= fn && find(c, fn, 0);
}

/* Bits needed to number n things (0 for 1, 1 for 2, 2 for 3..4, ...). */
static unsigned order(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

static int is_amd(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = find(c, 0, 0);
	/* "AuthenticAMD", and Hygon's "HygonGenuine" (AMD's topology leaves) */
	return e && ((e->ebx == 0x68747541u && e->ecx == 0x444d4163u && e->edx == 0x69746e65u) ||
		     (e->ebx == 0x6f677948u && e->ecx == 0x656e6975u && e->edx == 0x6e65476eu));
}

/* ---- XSAVE (leaf 0xD) ---------------------------------------------------------- */

/* A group of user state components the guest may have only together, and
 * only when it sees the CPU feature (leaf `fn`.0, register `reg`, `bit`)
 * that uses them; `needs`: components that must stay too. */
struct xgroup {
	uint64_t mask, needs;
	uint32_t fn;
	char reg;              /* 'b' EBX, 'c' ECX, 'd' EDX */
	unsigned bit;
};

static const struct xgroup xgroups[] = {
	{ 1ull << 2, 0x3, 1, 'c', 28 },                        /* YMM: AVX */
	{ 3ull << 3, 0x3, 7, 'b', 14 },                        /* BNDREGS, BNDCSR: MPX */
	{ 7ull << 5, 0x7, 7, 'b', 16 },                        /* opmask, ZMM: AVX512F */
	{ 1ull << 9, 0x3, 7, 'c', 3 },                         /* PKRU: PKU */
	{ 3ull << 17, 0x3, 7, 'd', 24 },                       /* XTILECFG, XTILEDATA: AMX-TILE */
};

static int has_feature(struct kvm_cpuid2 *c, uint32_t fn, char reg, unsigned bit)
{
	struct kvm_cpuid_entry2 *e = find(c, fn, 0);
	if (!e)
		return 0;
	uint32_t v = reg == 'b' ? e->ebx : reg == 'c' ? e->ecx : e->edx;
	return (v >> bit) & 1;
}

static void normalize_xsave(struct kvm_cpuid2 *c)
{
	/* without XSAVE in leaf 1 the guest never reads 0xD: leave it be */
	struct kvm_cpuid_entry2 *d0 = find(c, 0xd, 0);
	if (!d0 || !in_range(c, 0xd) || !has_feature(c, 1, 'c', L1_ECX_XSAVE_BIT))
		return;
	uint64_t keep = ((uint64_t)d0->edx << 32) | d0->eax;

	/* every component has a subleaf that says where it lives: after the
	 * legacy area and header, not wrapping around */
	for (unsigned i = 2; i < 64; i++) {
		struct kvm_cpuid_entry2 *s = (keep >> i & 1) ? find(c, 0xd, i) : NULL;
		if ((keep >> i & 1) && (!s || s->index != i || s->eax == 0 ||
					s->ebx < XSAVE_MIN_SIZE || s->ebx + s->eax < s->ebx))
			keep &= ~(1ull << i);
	}
	/* then each group whole, with its CPU feature and what it builds on
	 * (in table order: AVX-512 state after YMM); x87 and SSE as offered */
	for (unsigned i = 0; i < sizeof xgroups / sizeof xgroups[0]; i++) {
		const struct xgroup *g = &xgroups[i];
		if ((keep & g->mask) && ((keep & g->mask) != g->mask ||
					 (keep & g->needs) != g->needs ||
					 !has_feature(c, g->fn, g->reg, g->bit)))
			keep &= ~g->mask;
	}

	/* supervisor components (XSAVES, leaf 0xD.1 ECX/EDX) keep their subleaves */
	struct kvm_cpuid_entry2 *d1 = find(c, 0xd, 1);
	uint64_t xss = d1 && d1->index == 1 ? ((uint64_t)d1->edx << 32) | d1->ecx : 0;

	uint32_t size = XSAVE_MIN_SIZE;
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *s = &c->entries[i];
		if (s->function != 0xd || s->index < 2 || s->index >= 64)
			continue;
		if (!((keep | xss) >> s->index & 1)) {
			/* a component the guest does not have: no subleaf */
			s->eax = s->ebx = s->ecx = s->edx = 0;
			continue;
		}
		/* user components (standard format): offset EBX, size EAX */
		if (keep >> s->index & 1 && s->ebx + s->eax > size)
			size = s->ebx + s->eax;
	}
	d0->eax = (uint32_t)keep;
	d0->edx = (uint32_t)(keep >> 32);
	d0->ecx = size;  /* the largest image, every component in XCR0 */
	d0->ebx = size;  /* the image for XCR0 = cpuid_xcr0(), which KVM loads;
			  * KVM updates it whenever the guest changes XCR0 */
}

uint64_t cpuid_xcr0(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *d0 = find(c, 0xd, 0);
	if (!d0 || !in_range(c, 0xd) || !has_feature(c, 1, 'c', L1_ECX_XSAVE_BIT))
		return 0;
	return ((uint64_t)d0->edx << 32) | d0->eax;
}

/* ---- topology ---------------------------------------------------------------------- */

/* Leaf 0xB / 0x1F: SMT level (1 thread per core), core level (ncpus). */
static int normalize_ext_topology(struct kvm_cpuid2 *c, uint32_t fn, unsigned ncpus)
{
	if (!in_range(c, fn))
		return 0;
	/* the index matters: mark subleaf 0 so that it stops answering for 1, 2 */
	const uint32_t fl = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	struct kvm_cpuid_entry2 *smt = find(c, fn, 0), *core, *end;
	smt->index = 0;
	smt->flags |= fl;
	core = get(c, fn, 1, fl);
	end = core ? get(c, fn, 2, fl) : NULL;
	if (!core || !end)
		return vmm_fail(ENOSPC, "CPUID leaf 0x%x: no room for its subleaves", fn);
	smt->eax = 0;                  /* APIC id bits below the core level */
	smt->ebx = 1;                  /* threads per core */
	smt->ecx = (1u << 8) | 0;      /* type SMT, subleaf 0 */
	core->eax = order(ncpus);      /* APIC id bits below the package */
	core->ebx = ncpus;             /* logical CPUs in the package */
	core->ecx = (2u << 8) | 1;     /* type core, subleaf 1 */
	end->eax = end->ebx = 0;
	end->ecx = 2;                  /* type invalid: the last level */
	return 0;
}

/* Cache descriptors (leaf 4, AMD's 0x8000001D): L1 and L2 per core, L3 and
 * beyond shared by the package. EAX[25:14] = sharing CPUs - 1. */
static void normalize_caches(struct kvm_cpuid2 *c, uint32_t fn, unsigned ncpus)
{
	if (!in_range(c, fn))
		return;
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != fn || (e->eax & 0x1f) == 0)  /* no cache */
			continue;
		unsigned level = (e->eax >> 5) & 7;
		uint32_t sharing = level >= 3 ? ncpus - 1 : 0;
		e->eax = (e->eax & ~(0xfffu << 14)) | (sharing & 0xfff) << 14;
		if (fn == 4) /* EAX[31:26]: cores in the package - 1 */
			e->eax = (e->eax & 0x03ffffffu) | ((ncpus - 1) & 0x3f) << 26;
	}
}

static int normalize_topology(struct kvm_cpuid2 *c, unsigned ncpus)
{
	struct kvm_cpuid_entry2 *e = find(c, 1, 0);
	if (e) {
		/* EBX[23:16]: logical CPUs in the package, valid with HTT (which
		 * a single CPU may keep: real single-thread parts do) */
		e->ebx = (e->ebx & 0xff00ffffu) | (ncpus > 255 ? 255 : ncpus) << 16;
		if (ncpus > 1)
			e->edx |= L1_EDX_HTT;
	}
	normalize_caches(c, 4, ncpus);
	normalize_caches(c, 0x8000001d, ncpus);
	if (normalize_ext_topology(c, 0xb, ncpus) < 0 ||
	    normalize_ext_topology(c, 0x1f, ncpus) < 0)
		return -1;
	if (is_amd(c) && in_range(c, 0x80000008) && (e = find(c, 0x80000008, 0))) {
		/* ECX[7:0] cores - 1, ECX[15:12] APIC id bits for them */
		e->ecx = (e->ecx & ~0xf0ffu) | ((ncpus - 1) & 0xff) | order(ncpus) << 12;
	}
	if (in_range(c, 0x8000001e) && (e = find(c, 0x8000001e, 0))) {
		e->ebx &= ~0xff00u;   /* EBX[15:8]: threads per core - 1 */
		e->ecx &= ~0x7ffu;    /* ECX: node 0, one node in the package */
	}
	return 0;
}

void cpuid_set_apic_id(struct kvm_cpuid2 *c, unsigned id)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x00ffffffu) | (id & 0xff) << 24;
			break;
		case 0xb:
		case 0x1f:
			e->edx = id;           /* x2APIC id, every subleaf */
			break;
		case 0x8000001e:
			e->eax = id;           /* extended APIC id */
			e->ebx = (e->ebx & ~0xffu) | (id & 0xff);  /* core id */
			break;
		}
	}
}

/* ---- the whole table ------------------------------------------------------------- */

int cpuid_normalize(struct kvm_cpuid2 *c, unsigned ncpus, int irqchip, int tsc_deadline)
{
	if (c->nent > CPUID_MAX_ENTRIES || ncpus < 1)
		return vmm_fail(EINVAL, "CPUID table of %u entries for %u vCPUs", c->nent, ncpus);

	struct kvm_cpuid_entry2 *e = find(c, 1, 0);
	if (e) {
		e->ecx |= L1_ECX_HYPERVISOR;
		e->ecx &= ~L1_ECX_VMX;
		/* the TSC-deadline timer lives in the in-kernel LAPIC */
		if (irqchip && tsc_deadline)
			e->ecx |= L1_ECX_TSC_DEADLINE;
		else if (!irqchip)
			e->ecx &= ~L1_ECX_TSC_DEADLINE;
	}

	/* KVM's leaves: the signature, and the features leaf it points to
	 * (empty when KVM offered none: a KVM without paravirt features) */
	struct kvm_cpuid_entry2 *feat = get(c, KVM_LEAF_FEATURES, 0, 0);
	struct kvm_cpuid_entry2 *sig = get(c, KVM_LEAF_SIG, 0, 0);
	if (!feat || !sig)
		return vmm_fail(ENOSPC, "CPUID: no room for KVM's leaves");
	if (sig->eax < KVM_LEAF_FEATURES || sig->eax > KVM_LEAF_SIG + 0xff)
		sig->eax = KVM_LEAF_FEATURES;
	sig->ebx = SIG_EBX;
	sig->ecx = SIG_ECX;
	sig->edx = SIG_EDX;

	struct kvm_cpuid_entry2 *ext = find(c, 0x80000001u, 0);
	if (ext)
		ext->ecx &= ~EXT1_ECX_SVM;
	/* ...and SVM's own leaf, whose feature bits (npt, vmcb_clean, vgif,
	 * ...) Linux lists whatever 0x80000001 says: without SVM the leaf is
	 * reserved, so zero, and nested virtualization hides consistently */
	struct kvm_cpuid_entry2 *svm = find(c, LEAF_SVM, 0);
	if (svm)
		svm->eax = svm->ebx = svm->ecx = svm->edx = 0;

	normalize_xsave(c);
	return normalize_topology(c, ncpus);
}
