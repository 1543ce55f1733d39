/*
 * vmm.h - msb-vmm's internal interfaces: guest memory, the VM and its
 * exits, and the devices that plug into it.
 *
 * msb-vmm is one process per microVM (see README.md). Everything the
 * guest controls is hostile: guest addresses are translated only through
 * gm_ptr(), which checks bounds (including overflow of addr + len), and
 * devices copy what they read from the guest before using it.
 */
#ifndef MSB_VMM_H
#define MSB_VMM_H

#include <stddef.h>
#include <stdint.h>

/* ---- guest memory --------------------------------------------------------- */

struct guest_mem {
	uint8_t *host;   /* mapping of guest physical 0 .. size */
	uint64_t size;
	int memfd;       /* the backing memfd (snapshots later), or -1 */
};

/* A host pointer for guest physical [gpa, gpa + len), or NULL when any of
 * it lies outside guest memory (or gpa + len overflows). len may be 0. */
static inline void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (gpa > gm->size || len > gm->size - gpa)
		return NULL;
	return gm->host + gpa;
}

/* ---- the VM ------------------------------------------------------------------- */

struct vm;

/* An MMIO or port I/O device. Accesses of any width (1, 2, 4, 8) and any
 * offset within [base, base + size) arrive here; a handler must accept
 * them all (ignore writes and read zeros where the device defines
 * nothing). `data` is little-endian, `len` bytes. */
struct io_ops {
	const char *name;
	void (*read)(void *dev, uint64_t offset, uint8_t *data, unsigned len);
	void (*write)(void *dev, uint64_t offset, const uint8_t *data, unsigned len);
};

/* Register a device for guest physical addresses [base, base + size). */
int vm_add_mmio(struct vm *vm, uint64_t base, uint64_t size,
		const struct io_ops *ops, void *dev);
/* Register a device for I/O ports [port, port + count). */
int vm_add_pio(struct vm *vm, uint16_t port, uint16_t count,
	       const struct io_ops *ops, void *dev);

/* Raise (1) or lower (0) a legacy interrupt line (edge devices pulse). */
int vm_irq_line(struct vm *vm, unsigned gsi, int level);

/* The guest's memory. */
struct guest_mem *vm_mem(struct vm *vm);

/* End the VM from a device (power-off, reset): the run loop stops and the
 * process exits with `status`. Thread-safe. */
void vm_request_exit(struct vm *vm, int status);

/* Create the VM: KVM, guest memory of mem_size bytes, ncpus vCPUs. */
int vm_create(struct vm **out, uint64_t mem_size, unsigned ncpus);
void vm_destroy(struct vm *vm);
/* Whether the in-kernel interrupt controller exists (vm_irq_line works). */
int vm_has_irqchip(struct vm *vm);
/* The boot vCPU's entry state (64-bit, paging on, flat segments). */
int vm_set_boot_cpu(struct vm *vm, uint64_t rip, uint64_t rsi, uint64_t cr3,
		    uint64_t gdt_base, uint16_t gdt_limit);
/* Create the vCPU threads, parked until vm_run(). */
int vm_start(struct vm *vm);
/* Run until the guest ends the VM: *status is the exit status for the
 * process, *reason a static description. */
int vm_run(struct vm *vm, int *status, const char **reason);

/* ---- CPUID (cpuid.c) ---------------------------------------------------------------- */

struct kvm_cpuid2;

/* KVM_MAX_CPUID_ENTRIES: the most KVM_GET_SUPPORTED_CPUID returns and
 * KVM_SET_CPUID2 takes; tables are allocated with room for this many. */
#define CPUID_MAX_ENTRIES 256

/* Make KVM_GET_SUPPORTED_CPUID's table (room for CPUID_MAX_ENTRIES) the
 * CPU of a VM with ncpus vCPUs: the hypervisor bit and KVM's leaves, XSAVE
 * state that matches the features, one package of ncpus cores. irqchip:
 * the in-kernel LAPIC exists; tsc_deadline: KVM_CAP_TSC_DEADLINE_TIMER.
 * Fails only when a leaf to add does not fit. */
int cpuid_normalize(struct kvm_cpuid2 *c, unsigned ncpus, int irqchip, int tsc_deadline);
/* Give the table vCPU `id`'s APIC id (leaves 1, 0xB, 0x1F, 0x8000001E). */
void cpuid_set_apic_id(struct kvm_cpuid2 *c, unsigned id);
/* The XSAVE user state components a normalized table offers (what Linux
 * enables in XCR0), or 0 without XSAVE. */
uint64_t cpuid_xcr0(struct kvm_cpuid2 *c);

/* ---- booting (boot.c, mptable.c) ------------------------------------------------ */

struct boot_out {
	uint64_t rip, rsi, cr3, gdt_base;
	uint16_t gdt_limit;
};

/* Load an ELF vmlinux and lay out what the Linux 64-bit boot protocol
 * hands the kernel: zero page, e820, command line, initrd, MP table, GDT
 * and an identity map of 4 KiB pages. */
int boot_setup(struct guest_mem *gm, unsigned ncpus, const char *kernel,
	       const char *initrd, const char *cmdline, struct boot_out *out);
/* An MP 1.4 table at addr announcing ncpus vCPUs, an ISA bus and an IOAPIC. */
int mptable_write(struct guest_mem *gm, uint64_t addr, uint64_t limit, unsigned ncpus);

/* ---- initramfs.c ------------------------------------------------------------------ */

/* A memfd holding a newc initramfs with the file init_path as /init (and
 * empty /proc, /sys, /run); -1 with the error set. */
int initramfs_build(const char *init_path);

/* ---- the serial console (serial.c) ------------------------------------------------ */

/* An 8250 at 0x3f8 (IRQ 4) writing to log_fd, at most cap bytes. */
int serial_init(struct vm *vm, int log_fd, uint64_t cap);
void serial_flush(void);

/* ---- the virtio-mmio transport (virtio_mmio.c) -------------------------------- */

#define VIRTIO_MMIO_SIZE 0x200

struct virtq;          /* virtio.c: a split virtqueue, parsed defensively */
struct virtio_dev;     /* virtio_mmio.c: one device on the transport */

/* What a device model provides (virtio_console.c, virtio_blk.c). */
struct virtio_dev_ops {
	const char *name;
	uint32_t device_id;          /* 3 console, 2 block */
	uint64_t features;           /* device features, VERSION_1 added */
	unsigned num_queues;
	unsigned queue_max;          /* max queue size offered */
	/* config space: any offset and width, bounds-checked by the
	 * transport against config_size */
	uint32_t config_size;
	void (*config_read)(void *dev, uint32_t offset, uint8_t *data, unsigned len);
	void (*config_write)(void *dev, uint32_t offset, const uint8_t *data, unsigned len);
	/* the driver notified queue `q` (after DRIVER_OK only) */
	void (*notify)(void *dev, struct virtio_dev *vd, unsigned q);
	/* the driver reset the device: drop all queue state */
	void (*reset)(void *dev);
};

#endif
