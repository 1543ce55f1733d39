/*
 * kvm.c - the VM: /dev/kvm, guest memory, vCPU threads and the exit loop.
 *
 * One thread per vCPU runs KVM_RUN and dispatches port I/O and MMIO exits
 * to the devices registered with vm_add_pio()/vm_add_mmio(). Device
 * handlers are called with the VM's I/O lock held, so at most one handler
 * runs at a time (kvmtool's big device lock; fine for a handful of
 * devices). The main thread waits in vm_run() until the guest or a device
 * ends the VM (vm_request_exit), then stops the vCPUs.
 *
 * Endings and their statuses (see main.c for the full table):
 *   debug exit port 0x501, value v      -> v (0..63; larger values -> 63)
 *   i8042 reset (port 0x64, cmd 0xFE)    -> 0
 *   triple fault (KVM_EXIT_SHUTDOWN)     -> VMM_EXIT_TRIPLE_FAULT
 *   HLT exit on the boot vCPU            -> VMM_EXIT_HALT (only seen
 *       without an in-kernel irqchip: nothing could ever wake it)
 *   a KVM failure / unknown exit         -> VMM_EXIT_ERROR
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "vmm.h"

#define VMM_EXIT_ERROR        70
#define VMM_EXIT_TRIPLE_FAULT 80
#define VMM_EXIT_HALT         81

#define VM_MAX_CPUS 32
#define VM_MAX_DEVS 32

/* ---- the VM ------------------------------------------------------------------- */

struct io_dev {
	uint64_t base, size;
	const struct io_ops *ops;
	void *dev;
};

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int started;
	atomic_int in_run;
};

struct vm {
	int kvm_fd, vm_fd;
	struct guest_mem mem;
	size_t run_size;
	int has_irqchip;
	unsigned ncpus;
	struct vcpu cpus[VM_MAX_CPUS];

	pthread_mutex_t io_lock;       /* serialises device handlers */
	struct io_dev pio[VM_MAX_DEVS], mmio[VM_MAX_DEVS];
	unsigned npio, nmmio;

	pthread_mutex_t lock;          /* exit state + start gate */
	pthread_cond_t cond;
	int go;                        /* vCPUs may enter the guest */
	unsigned parked;               /* vCPU threads waiting for go */
	atomic_int exiting;
	int exit_status;
	char exit_reason[256];
	unsigned warned_pio, warned_mmio;
};

static void vm_end(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vm_end(struct vm *vm, int status, const char *fmt, ...)
{
	pthread_mutex_lock(&vm->lock);
	if (!atomic_load(&vm->exiting)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->exit_reason, sizeof vm->exit_reason, fmt, ap);
		va_end(ap);
		vm->exit_status = status;
		atomic_store(&vm->exiting, 1);
		/* kick every vCPU out of KVM_RUN (they also check the flag) */
		for (unsigned i = 0; i < vm->ncpus; i++) {
			struct vcpu *c = &vm->cpus[i];
			if (c->run)
				c->run->immediate_exit = 1;
			if (c->started && !pthread_equal(c->thread, pthread_self()))
				pthread_kill(c->thread, SIGUSR1);
		}
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

void vm_request_exit(struct vm *vm, int status)
{
	vm_end(vm, status, "exit requested by a device (status %d)", status);
}

struct guest_mem *vm_mem(struct vm *vm)
{
	return &vm->mem;
}

int vm_has_irqchip(struct vm *vm)
{
	return vm->has_irqchip;
}

static int add_dev(struct io_dev *tab, unsigned *n, uint64_t base, uint64_t size,
		   const struct io_ops *ops, void *dev, const char *kind)
{
	if (!ops || !size || base + size < base)
		return vmm_fail(EINVAL, "%s device %s: bad range", kind,
				ops && ops->name ? ops->name : "?");
	for (unsigned i = 0; i < *n; i++)
		if (base < tab[i].base + tab[i].size && tab[i].base < base + size)
			return vmm_fail(EBUSY, "%s device %s at 0x%llx overlaps %s", kind,
					ops->name ? ops->name : "?", (unsigned long long)base,
					tab[i].ops->name ? tab[i].ops->name : "?");
	if (*n >= VM_MAX_DEVS)
		return vmm_fail(ENOSPC, "too many %s devices", kind);
	tab[(*n)++] = (struct io_dev){ base, size, ops, dev };
	return 0;
}

int vm_add_mmio(struct vm *vm, uint64_t base, uint64_t size,
		const struct io_ops *ops, void *dev)
{
	if (base < vm->mem.size)
		return vmm_fail(EINVAL, "MMIO device %s at 0x%llx lies in guest RAM",
				ops && ops->name ? ops->name : "?", (unsigned long long)base);
	return add_dev(vm->mmio, &vm->nmmio, base, size, ops, dev, "MMIO");
}

int vm_add_pio(struct vm *vm, uint16_t port, uint16_t count,
	       const struct io_ops *ops, void *dev)
{
	return add_dev(vm->pio, &vm->npio, port, count, ops, dev, "PIO");
}

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	/* Without an in-kernel irqchip there is nothing to deliver to: the
	 * guest polls (the test guest does). Not an error for devices. */
	if (!vm->has_irqchip)
		return 0;
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		return vmm_fail(errno, "KVM_IRQ_LINE %u", gsi);
	return 0;
}

/* ---- machine devices: debug exit port, i8042 reset ---------------------------- */

static void nop_read(void *dev, uint64_t off, uint8_t *data, unsigned len)
{
	memset(data, 0, len);
}

static void debug_exit_write(void *dev, uint64_t off, const uint8_t *data, unsigned len)
{
	if (off != 0 || len < 1)
		return;
	int v = data[0] > 63 ? 63 : data[0];
	vm_end(dev, v, "guest wrote %u to the debug exit port", data[0]);
}

static const struct io_ops debug_exit_ops = {
	.name = "debug-exit", .read = nop_read, .write = debug_exit_write,
};

/* i8042 at 0x60..0x64: status reads 0 (no data, input buffer empty),
 * command 0xFE (pulse reset line) on 0x64 ends the VM: Linux's reboot=k. */
static void i8042_write(void *dev, uint64_t off, const uint8_t *data, unsigned len)
{
	if (off == 4 && len >= 1 && data[0] == 0xfe)
		vm_end(dev, 0, "guest reset through the i8042");
}

static const struct io_ops i8042_ops = {
	.name = "i8042", .read = nop_read, .write = i8042_write,
};

/* ---- creation ------------------------------------------------------------------- */

/*
 * MTRRs on, default type write-back, no ranges: what firmware leaves on a
 * PC (Firecracker does the same). With KVM's reset value, all off, Linux
 * finds "MTRRs disabled" and turns PAT off with them, losing
 * write-combining. Every vCPU alike (Linux checks they agree). Best
 * effort: KVM ignores guest MTRRs for RAM, this only tells the guest.
 */
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_ENABLE       (1u << 11)
#define MTRR_TYPE_WB      6u

static void set_mtrr_default(struct vcpu *c)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} msrs = {
		.hdr.nmsrs = 1,
		.e = { { .index = MSR_MTRR_DEF_TYPE, .data = MTRR_ENABLE | MTRR_TYPE_WB } },
	};
	(void)ioctl(c->fd, KVM_SET_MSRS, &msrs);
}

/*
 * XCR0 starts with every user state component the guest's CPUID offers:
 * what Linux enables anyway, so on a sound host its XSETBV changes
 * nothing. It matters where KVM never sees the guest's XSETBV: QEMU's
 * emulated SVM before 8.2 does not intercept it (tests/nested/run), so an
 * L1 KVM keeps its reset value, x87 only, as the guest's XCR0, loads that
 * on every guest entry and sizes CPUID 0xD.0 EBX for it, and Linux warns
 * "XSAVE consistency problem: size 832 != kernel_size 576". XCR0
 * survives INIT, so the APs keep it too. Best effort: a KVM that refuses
 * leaves XCR0 at its reset value.
 */
static void set_xcr0(struct vm *vm, struct vcpu *c, uint64_t xcr0)
{
	if (!xcr0 || ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) <= 0)
		return;
	struct kvm_xcrs xcrs = { .nr_xcrs = 1, .xcrs = { { .xcr = 0, .value = xcr0 } } };
	(void)ioctl(c->fd, KVM_SET_XCRS, &xcrs);
}

static void sigusr1_nop(int sig)
{
	(void)sig;
}

void vm_destroy(struct vm *vm);

int vm_create(struct vm **out, uint64_t mem_size, unsigned ncpus)
{
	*out = NULL;
	if (ncpus < 1 || ncpus > VM_MAX_CPUS)
		return vmm_fail(EINVAL, "%u vCPUs: must be 1..%d", ncpus, VM_MAX_CPUS);
	if (mem_size == 0 || mem_size % 4096)
		return vmm_fail(EINVAL, "guest memory must be a non-zero multiple of 4 KiB");

	struct vm *vm = calloc(1, sizeof *vm);
	if (!vm)
		return vmm_fail(ENOMEM, "vm");
	vm->kvm_fd = vm->vm_fd = vm->mem.memfd = -1;
	vm->ncpus = ncpus;
	for (unsigned i = 0; i < VM_MAX_CPUS; i++)
		vm->cpus[i].fd = -1;
	pthread_mutex_init(&vm->io_lock, NULL);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		vmm_fail(errno, "open /dev/kvm");
		goto fail;
	}
	int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		vmm_fail(0, "/dev/kvm speaks KVM API %d, msb-vmm needs %d", api, KVM_API_VERSION);
		goto fail;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0 ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
		vmm_fail(0, "/dev/kvm lacks KVM_CAP_USER_MEMORY or KVM_CAP_IMMEDIATE_EXIT");
		goto fail;
	}
	int mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run)) {
		vmm_fail(errno, "KVM_GET_VCPU_MMAP_SIZE");
		goto fail;
	}
	vm->run_size = (size_t)mmap_size;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		vmm_fail(errno, "KVM_CREATE_VM");
		goto fail;
	}
	fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC);

	/* guest memory: a memfd, so that snapshots can map it later */
	vm->mem.memfd = memfd_create("msb-vmm-guest-ram", MFD_CLOEXEC);
	if (vm->mem.memfd < 0) {
		vmm_fail(errno, "memfd_create");
		goto fail;
	}
	if (ftruncate(vm->mem.memfd, (off_t)mem_size) < 0) {
		vmm_fail(errno, "guest memory of %llu bytes", (unsigned long long)mem_size);
		goto fail;
	}
	void *host = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_NORESERVE, vm->mem.memfd, 0);
	if (host == MAP_FAILED) {
		vmm_fail(errno, "mmap guest memory");
		goto fail;
	}
	vm->mem.host = host;
	vm->mem.size = mem_size;
	madvise(host, mem_size, MADV_DONTDUMP);

	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = mem_size,
		.userspace_addr = (uintptr_t)host,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		vmm_fail(errno, "KVM_SET_USER_MEMORY_REGION");
		goto fail;
	}

	/* An in-kernel PIC/IOAPIC/LAPIC and PIT, as Linux needs. A PVM
	 * /dev/kvm may refuse them: then run without (the test guest polls). */
	(void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL); /* VMX needs it; harmless elsewhere */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) == 0) {
		vm->has_irqchip = 1;
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
		if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
			fprintf(stderr, "msb-vmm: note: KVM_CREATE_PIT2: %s (continuing without a PIT)\n",
				strerror(errno));
	} else {
		fprintf(stderr, "msb-vmm: note: KVM_CREATE_IRQCHIP: %s (continuing without an interrupt controller)\n",
			strerror(errno));
	}

	/* The CPU the guest sees: KVM's supported CPUID, normalized (cpuid.c).
	 * A /dev/kvm that cannot say what it supports keeps its own default. */
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid +
					  CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (!cpuid) {
		vmm_fail(ENOMEM, "cpuid");
		goto fail;
	}
	cpuid->nent = CPUID_MAX_ENTRIES;
	int have_cpuid = ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0;
	if (have_cpuid &&
	    cpuid_normalize(cpuid, ncpus, vm->has_irqchip,
			    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0) < 0) {
		free(cpuid);
		goto fail;
	}

	for (unsigned i = 0; i < ncpus; i++) {
		struct vcpu *c = &vm->cpus[i];
		c->vm = vm;
		c->id = i;
		c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (c->fd < 0) {
			vmm_fail(errno, "KVM_CREATE_VCPU %u", i);
			free(cpuid);
			goto fail;
		}
		fcntl(c->fd, F_SETFD, FD_CLOEXEC);
		void *r = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (r == MAP_FAILED) {
			vmm_fail(errno, "mmap kvm_run of vCPU %u", i);
			free(cpuid);
			goto fail;
		}
		c->run = r;
		if (have_cpuid) {
			/* each vCPU learns its own APIC id */
			cpuid_set_apic_id(cpuid, i);
			if (ioctl(c->fd, KVM_SET_CPUID2, cpuid) < 0)
				fprintf(stderr, "msb-vmm: note: KVM_SET_CPUID2 on vCPU %u: %s\n",
					i, strerror(errno));
			else
				set_xcr0(vm, c, cpuid_xcr0(cpuid));
		}
		set_mtrr_default(c);
	}
	free(cpuid);

	if (vm_add_pio(vm, 0x501, 1, &debug_exit_ops, vm) < 0 ||
	    vm_add_pio(vm, 0x60, 5, &i8042_ops, vm) < 0)
		goto fail;

	struct sigaction sa = { .sa_handler = sigusr1_nop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	*out = vm;
	return 0;
fail:
	vm_destroy(vm);
	return -1;
}

/* ---- boot state ------------------------------------------------------------------- */

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = code ? 0 : 1, .s = 1, .l = code ? 1 : 0,
		.g = 1,
	};
}

/*
 * The boot vCPU as the 64-bit boot protocol asks: long mode with paging
 * (cr3 = identity map), __BOOT_CS = 0x10 / __BOOT_DS = 0x18 flat segments
 * from the GDT at gdt_base, interrupts off, RSI = boot_params.
 * The other vCPUs wait for INIT/SIPI in the in-kernel LAPIC, as on a PC.
 */
int vm_set_boot_cpu(struct vm *vm, uint64_t rip, uint64_t rsi, uint64_t cr3,
		    uint64_t gdt_base, uint16_t gdt_limit)
{
	struct vcpu *c = &vm->cpus[0];
	struct kvm_sregs sregs;
	if (ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0)
		return vmm_fail(errno, "KVM_GET_SREGS");
	seg(&sregs.cs, 0x10, 0xb, 1);
	seg(&sregs.ds, 0x18, 0x3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .selector = 0x20,
		.type = 0xb, .present = 1, .s = 0 };
	sregs.gdt.base = gdt_base;
	sregs.gdt.limit = gdt_limit;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = 0x80000011u;   /* PG | ET | PE */
	sregs.cr3 = cr3;
	sregs.cr4 = 0x20;          /* PAE */
	sregs.efer = 0x500;        /* LME | LMA */
	if (ioctl(c->fd, KVM_SET_SREGS, &sregs) < 0)
		return vmm_fail(errno, "KVM_SET_SREGS");

	struct kvm_regs regs = { .rip = rip, .rsi = rsi, .rflags = 0x2 };
	if (ioctl(c->fd, KVM_SET_REGS, &regs) < 0)
		return vmm_fail(errno, "KVM_SET_REGS");
	return 0;
}

/* ---- the run loop ------------------------------------------------------------------- */

static struct io_dev *find(struct io_dev *tab, unsigned n, uint64_t addr, unsigned len)
{
	for (unsigned i = 0; i < n; i++)
		if (addr >= tab[i].base && addr - tab[i].base < tab[i].size) {
			/* an access that straddles the end is cut by the device */
			(void)len;
			return &tab[i];
		}
	return NULL;
}

static void dispatch(struct vm *vm, struct io_dev *tab, unsigned n, uint64_t addr,
		     uint8_t *data, unsigned len, int is_write, unsigned *warned,
		     const char *kind)
{
	pthread_mutex_lock(&vm->io_lock);
	struct io_dev *d = find(tab, n, addr, len);
	if (d) {
		if (is_write)
			d->ops->write(d->dev, addr - d->base, data, len);
		else
			d->ops->read(d->dev, addr - d->base, data, len);
	} else if (!is_write) {
		/* nothing there: ports float high, MMIO reads as zero */
		memset(data, kind[0] == 'P' ? 0xff : 0x00, len);
	}
	if (!d && *warned < 8 && kind[0] == 'M') {
		(*warned)++;
		fprintf(stderr, "msb-vmm: note: guest %s unmapped MMIO 0x%llx (%u bytes)\n",
			is_write ? "wrote" : "read", (unsigned long long)addr, len);
	}
	pthread_mutex_unlock(&vm->io_lock);
}

/*
 * Where a vCPU was when it shut down, for the message. KVM on Intel (and
 * PVM) leaves the registers as they were at the triple fault; KVM on AMD
 * does not: SVM's SHUTDOWN intercept leaves the VMCB undefined, so KVM
 * INITs the vCPU before it returns to us, and what we would read is the
 * reset vector (cs 0xf000, rip 0xfff0, real mode) -- no clue at all.
 * Say so then, instead of printing that rip: the serial log is the clue.
 */
static void shutdown_where(struct vcpu *c, char *buf, size_t size)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(c->fd, KVM_GET_REGS, &regs) < 0 || ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf, size, "; its registers cannot be read");
		return;
	}
	if (regs.rip == 0xfff0 && sregs.cs.selector == 0xf000 && !(sregs.cr0 & 1))
		snprintf(buf, size, "; KVM reset the vCPU on the way out (it does on AMD), "
			 "so where it faulted is unknown: see the guest's serial log");
	else
		snprintf(buf, size, " at rip 0x%llx (cs 0x%x, cr3 0x%llx)",
			 (unsigned long long)regs.rip, sregs.cs.selector,
			 (unsigned long long)sregs.cr3);
}

static int handle_exit(struct vcpu *c)
{
	struct vm *vm = c->vm;
	struct kvm_run *run = c->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		unsigned size = run->io.size, count = run->io.count;
		if ((size != 1 && size != 2 && size != 4) || count == 0 ||
		    run->io.data_offset > vm->run_size ||
		    (uint64_t)size * count > vm->run_size - run->io.data_offset) {
			vm_end(vm, VMM_EXIT_ERROR, "vCPU %u: malformed I/O exit", c->id);
			return -1;
		}
		uint8_t *p = (uint8_t *)run + run->io.data_offset;
		for (unsigned i = 0; i < count; i++, p += size)
			dispatch(vm, vm->pio, vm->npio, run->io.port, p, size,
				 run->io.direction == KVM_EXIT_IO_OUT, &vm->warned_pio, "PIO");
		return 0;
	}
	case KVM_EXIT_MMIO: {
		unsigned len = run->mmio.len;
		if (len == 0 || len > 8) {
			vm_end(vm, VMM_EXIT_ERROR, "vCPU %u: MMIO exit of %u bytes", c->id, len);
			return -1;
		}
		dispatch(vm, vm->mmio, vm->nmmio, run->mmio.phys_addr, run->mmio.data, len,
			 run->mmio.is_write, &vm->warned_mmio, "MMIO");
		return 0;
	}
	case KVM_EXIT_HLT:
		if (c->id == 0) {
			vm_end(vm, VMM_EXIT_HALT, "the boot vCPU halted (HLT) and nothing can wake it");
			return -1;
		}
		return 1; /* an AP halted: park it */
	case KVM_EXIT_SHUTDOWN: {
		char where[160];
		shutdown_where(c, where, sizeof where);
		vm_end(vm, VMM_EXIT_TRIPLE_FAULT, "vCPU %u: triple fault (shutdown)%s", c->id, where);
		return -1;
	}
	case KVM_EXIT_SYSTEM_EVENT:
		vm_end(vm, 0, "vCPU %u: system event %u (reset/shutdown)", c->id,
		       run->system_event.type);
		return -1;
	case KVM_EXIT_FAIL_ENTRY:
		vm_end(vm, VMM_EXIT_ERROR, "vCPU %u: KVM entry failed, reason 0x%llx", c->id,
		       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return -1;
	case KVM_EXIT_INTERNAL_ERROR:
		vm_end(vm, VMM_EXIT_ERROR, "vCPU %u: KVM internal error, suberror %u", c->id,
		       run->internal.suberror);
		return -1;
	case KVM_EXIT_INTR:
		return 0;
	default:
		vm_end(vm, VMM_EXIT_ERROR, "vCPU %u: unexpected KVM exit %u", c->id,
		       run->exit_reason);
		return -1;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct vm *vm = c->vm;

	/* SIGUSR1 only kicks us out of KVM_RUN; the main thread blocks it */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	pthread_mutex_lock(&vm->lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->cond);
	while (!vm->go && !atomic_load(&vm->exiting))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);

	/* Without an irqchip an AP would start at the reset vector with no
	 * one to send it a SIPI: it stays parked (announced, never run). */
	if (c->id > 0 && !vm->has_irqchip)
		return NULL;

	while (!atomic_load(&vm->exiting)) {
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				c->run->immediate_exit = 0;
				continue;
			}
			vm_end(vm, VMM_EXIT_ERROR, "vCPU %u: KVM_RUN: %s", c->id, strerror(errno));
			break;
		}
		if (handle_exit(c) != 0)
			break;
	}
	return NULL;
}

/* Create the vCPU threads, parked until vm_run(): so that the seccomp
 * filter can be installed (on every thread) before the guest runs. */
int vm_start(struct vm *vm)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->cpus[i];
		int e = pthread_create(&c->thread, NULL, vcpu_thread, c);
		if (e) {
			vm_end(vm, VMM_EXIT_ERROR, "pthread_create");
			return vmm_fail(e, "vCPU %u thread", i);
		}
		c->started = 1;
	}
	/* wait until every thread is parked: past glibc's thread start-up
	 * (rseq, set_robust_list), which the seccomp filter does not allow */
	pthread_mutex_lock(&vm->lock);
	while (vm->parked < vm->ncpus)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* Let the guest run; return when the VM ended, with its status and a
 * one-line reason (borrowed, valid until vm_destroy). */
int vm_run(struct vm *vm, int *status, const char **reason)
{
	pthread_mutex_lock(&vm->lock);
	vm->go = 1;
	pthread_cond_broadcast(&vm->cond);
	while (!atomic_load(&vm->exiting))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->cpus[i].started) {
			pthread_join(vm->cpus[i].thread, NULL);
			vm->cpus[i].started = 0;
		}
	*status = vm->exit_status;
	*reason = vm->exit_reason;
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (!atomic_load(&vm->exiting))
		vm_end(vm, VMM_EXIT_ERROR, "destroyed");
	pthread_mutex_lock(&vm->lock);
	vm->go = 1;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < VM_MAX_CPUS; i++) {
		struct vcpu *c = &vm->cpus[i];
		if (c->started)
			pthread_join(c->thread, NULL);
		if (c->run)
			munmap(c->run, vm->run_size);
		if (c->fd >= 0)
			close(c->fd);
	}
	if (vm->mem.host)
		munmap(vm->mem.host, vm->mem.size);
	if (vm->mem.memfd >= 0)
		close(vm->mem.memfd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm);
}
