/*
 * serial.c - msb-vmm's 8250 console (vmm/serial.c) without KVM: its log
 * keeps at most `cap` bytes, then one note and nothing more, whatever the
 * guest writes; odd widths and offsets are harmless; the transmitter is
 * always ready.  The nested hostile-guest test floods a real guest's
 * serial console too, but a million port exits under emulation are slow,
 * so `make test-nested` cuts that flood short: the cap is checked here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tap.h"
#include "../../vmm/vmm.h"

/* ---- the VM, faked: the serial registers itself and raises IRQ 4 ---- */

struct vm {
	int unused;
};
static struct vm fake_vm;
static const struct io_ops *uart_ops;
static void *uart_dev;
static uint16_t uart_port, uart_count;
static int irq_raised;

int vm_add_pio(struct vm *vm, uint16_t port, uint16_t count, const struct io_ops *ops, void *dev)
{
	(void)vm;
	uart_port = port;
	uart_count = count;
	uart_ops = ops;
	uart_dev = dev;
	return 0;
}

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	(void)vm;
	if (gsi == 4 && level)
		irq_raised++;
	return 0;
}

static void out8(unsigned reg, uint8_t v)
{
	uart_ops->write(uart_dev, reg, &v, 1);
}

static uint8_t in8(unsigned reg)
{
	uint8_t v = 0xee;

	uart_ops->read(uart_dev, reg, &v, 1);
	return v;
}

static char *log_of(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)end + 1);

	if (!buf || pread(fd, buf, (size_t)end, 0) != end)
		bail_out("cannot read the log back");
	*len = (size_t)end;
	return buf;
}

int main(void)
{
	enum { CAP = 4096 };
	static const char note[] = "serial log reached its cap of 4096 bytes";
	int fd = memfd_create("serial-log", MFD_CLOEXEC);
	size_t len;
	char *log;

	if (fd < 0)
		bail_out("memfd_create failed");
	ok(serial_init(&fake_vm, fd, CAP) == 0 && uart_ops && uart_port == 0x3f8 && uart_count == 8,
	   "the UART registers ports 0x3f8..0x3ff");
	ok(in8(5) & 0x20, "LSR: the transmitter is always ready (THRE)");

	/* reads of every width at every offset, as a hostile guest may do:
	 * harmless, and the UART still works after them */
	for (unsigned off = 0; off < 8; off++)
		for (unsigned w = 1; w <= 8; w *= 2) {
			uint8_t r[8];
			uart_ops->read(uart_dev, off, r, w);
		}
	out8(7, 0x5a);
	is_int(in8(7), 0x5a, "the scratch register keeps what was written");

	/* a line under the cap arrives whole, once flushed */
	for (const char *p = "hello\n"; *p; p++)
		out8(0, (uint8_t)*p);
	serial_flush();
	log = log_of(fd, &len);
	ok(len == 6 && !memcmp(log, "hello\n", 6), "a line reaches the log (%zu bytes)", len);
	free(log);

	/* the THR-empty interrupt, when the driver enables it */
	irq_raised = 0;
	out8(1, 0x02);   /* IER: THRI */
	out8(0, '\n');
	ok(irq_raised > 0, "IER THRI: a write raises IRQ 4");
	out8(1, 0);

	/* flood: 64 KiB of lines, far past the cap */
	for (unsigned i = 0; i < 65536; i++)
		out8(0, i % 64 == 63 ? '\n' : (uint8_t)('A' + i % 26));
	serial_flush();
	log = log_of(fd, &len);
	ok(len <= CAP + 128 && len >= CAP, "the log stops at its cap (%zu bytes, cap %d)", len, CAP);
	char *n = memmem(log, len, note, sizeof note - 1);
	ok(n != NULL, "... with one note saying so");
	ok(n && !memmem(n + 1, len - (size_t)(n + 1 - log), note, sizeof note - 1) &&
	   (size_t)(n - log) == CAP + 11, "... once, right after the cap (at %td)", n ? n - log : -1);
	free(log);

	/* nothing more, ever */
	size_t before = len;
	for (unsigned i = 0; i < 10000; i++)
		out8(0, '\n');
	serial_flush();
	log = log_of(fd, &len);
	is_int(len, before, "after the cap the log grows no more");
	free(log);
	ok(in8(5) & 0x20, "... and the guest still sees a ready transmitter");
	close(fd);
	return done_testing();
}
