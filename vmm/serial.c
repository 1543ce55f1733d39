/*
 * serial.c - an 8250/16550A UART at 0x3f8 (COM1, IRQ 4), output only.
 *
 * What the guest transmits goes to a bounded log (a file, or stderr): at
 * most `cap` bytes are written, then one note and nothing more, so a
 * guest cannot fill the host's disk. Reads of the receive register return
 * 0 (no input: the agent channel is virtio-console). LSR always reports
 * the transmitter empty (THRE|TEMT); the THR-empty interrupt is raised on
 * IRQ 4 the way Linux's 8250 driver expects when it enables it in IER.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

#define UART_IER_RDI  0x01
#define UART_IER_THRI 0x02
#define UART_IIR_NONE 0x01
#define UART_IIR_THRI 0x02
#define UART_IIR_FIFO 0xc0
#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

struct serial {
	struct vm *vm;
	unsigned irq;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	int thri_pending;
	int irq_level;
	/* the log */
	int fd;
	uint64_t cap, written;
	int truncated;
	uint8_t buf[512];
	size_t len;
};

static struct serial com1;

static void log_write(struct serial *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(s->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* a broken log must not stop the guest */
		}
		p += w;
		n -= (size_t)w;
	}
}

void serial_flush(void)
{
	struct serial *s = &com1;
	if (s->len == 0 || s->fd < 0)
		return;
	size_t n = s->len;
	s->len = 0;
	if (s->truncated)
		return;
	if (s->written + n > s->cap) {
		n = (size_t)(s->cap - s->written);
		log_write(s, s->buf, n);
		s->written += n;
		char note[128];
		int k = snprintf(note, sizeof note,
				 "\n[msb-vmm: serial log reached its cap of %llu bytes; further output dropped]\n",
				 (unsigned long long)s->cap);
		log_write(s, (const uint8_t *)note, (size_t)k);
		s->truncated = 1;
		return;
	}
	log_write(s, s->buf, n);
	s->written += n;
}

static void tx(struct serial *s, uint8_t c)
{
	if (s->truncated)
		return;
	s->buf[s->len++] = c;
	if (c == '\n' || s->len == sizeof s->buf)
		serial_flush();
}

static uint8_t iir(struct serial *s)
{
	if ((s->ier & UART_IER_THRI) && s->thri_pending)
		return UART_IIR_THRI | (s->fcr & 1 ? UART_IIR_FIFO : 0);
	return UART_IIR_NONE | (s->fcr & 1 ? UART_IIR_FIFO : 0);
}

static void update_irq(struct serial *s)
{
	int level = !(iir(s) & UART_IIR_NONE);
	if (level != s->irq_level) {
		s->irq_level = level;
		vm_irq_line(s->vm, s->irq, level);
	}
}

static uint8_t reg_read(struct serial *s, unsigned reg)
{
	int dlab = s->lcr & UART_LCR_DLAB;
	switch (reg) {
	case 0: return dlab ? s->dll : 0;             /* RBR: no input */
	case 1: return dlab ? s->dlm : s->ier;
	case 2: {                                      /* IIR */
		uint8_t v = iir(s);
		if ((v & 0x0f) == UART_IIR_THRI)
			s->thri_pending = 0;               /* reading IIR acks THRI */
		update_irq(s);
		return v;
	}
	case 3: return s->lcr;
	case 4: return s->mcr;
	case 5: return UART_LSR_THRE | UART_LSR_TEMT; /* LSR */
	case 6:                                        /* MSR */
		if (s->mcr & UART_MCR_LOOP) /* loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
			return (uint8_t)(((s->mcr & 1) << 5) | ((s->mcr & 2) << 3) |
					 ((s->mcr & 4) << 4) | ((s->mcr & 8) << 4));
		return 0xb0;                           /* DCD | DSR | CTS */
	case 7: return s->scr;
	}
	return 0;
}

static void reg_write(struct serial *s, unsigned reg, uint8_t v)
{
	int dlab = s->lcr & UART_LCR_DLAB;
	switch (reg) {
	case 0:
		if (dlab) {
			s->dll = v;
		} else {
			if (!(s->mcr & UART_MCR_LOOP))
				tx(s, v);
			s->thri_pending = 1;               /* sent at once */
		}
		break;
	case 1:
		if (dlab) {
			s->dlm = v;
		} else {
			/* enabling THRI with an empty THR raises it at once */
			if ((v & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
				s->thri_pending = 1;
			s->ier = v & 0x0f;
		}
		break;
	case 2: s->fcr = v; break;
	case 3: s->lcr = v; break;
	case 4: s->mcr = v & 0x1f; break;
	case 7: s->scr = v; break;
	default: break; /* LSR, MSR: read-only */
	}
	update_irq(s);
}

/* Any width: a wide access touches consecutive registers, as on the bus. */
static void serial_read(void *dev, uint64_t off, uint8_t *data, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		data[i] = off + i < 8 ? reg_read(dev, (unsigned)(off + i)) : 0xff;
}

static void serial_write(void *dev, uint64_t off, const uint8_t *data, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		if (off + i < 8)
			reg_write(dev, (unsigned)(off + i), data[i]);
}

static const struct io_ops serial_ops = {
	.name = "serial-8250", .read = serial_read, .write = serial_write,
};

/* The UART at 0x3f8..0x3ff, IRQ 4, logging to log_fd (kept open) with at
 * most cap bytes. */
int serial_init(struct vm *vm, int log_fd, uint64_t cap)
{
	struct serial *s = &com1;
	memset(s, 0, sizeof *s);
	s->vm = vm;
	s->irq = 4;
	s->fd = log_fd;
	s->cap = cap;
	s->dll = 12; /* 9600 baud, as after a BIOS */
	s->lcr = 0x03;
	return vm_add_pio(vm, 0x3f8, 8, &serial_ops, s);
}
