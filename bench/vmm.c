/*
 * msb-vmm-bench - msb-vmm's benchmarks, each side by side with a
 * floor or reference measured in the same run on the same machine.
 * Prints medians and ratios; asserts nothing.
 *
 *  (e) msb-vmm start -> test guest entry -> first console byte on the host
 *      (the guest's first serial byte, read from msb-vmm's --serial-log
 *      pipe), against the floor: the same program re-executed as a bare
 *      KVM user (KVM_CREATE_VM, one vCPU in long mode, KVM_RUN to a HLT)
 *      that then writes one byte to its stdout pipe. The same bare VM timed
 *      in-process (no exec) is printed below it.
 *  (f) an MMIO exit round trip as msb-vmm serves it (the guest reads a
 *      virtio-mmio register K times), against the same K reads, same
 *      instructions, in the bench's own bare VM whose loop just answers
 *      each KVM_EXIT_MMIO.
 *  (g) a virtio-console round trip: the host writes a 64-byte message to
 *      the console socket, the guest transmits it back, the host reads it;
 *      against a ping-pong of the same message over a unix socketpair
 *      between two host processes.
 *  (h) msb-vmm's RSS beyond the guest memory it touched (from
 *      /proc/PID/smaps: every mapping except the memfd holding guest RAM),
 *      sampled while the guest idles in its echo loop, against Firecracker's
 *      budget of 5 MiB.
 *
 * The guest is tests/vmm/testguest in bench mode (see bench_main() in guest.c):
 * one msb-vmm process per run gives one sample of each of (e)-(h), with
 * --memory 128M and --console-socket (as a sandbox runs it). So (e) counts
 * spawn + exec + dynamic linking (libc, libseccomp), the VM (memfd RAM,
 * irqchip, PIT, CPUID, vCPU), the console socket and its thread, loading
 * the ELF and building the identity map of 128 MiB, the seccomp filter,
 * the vCPU thread, the guest's code up to its first byte (two port exits:
 * LSR, THR) and the 8250 log's write to the pipe. Its floor counts spawn +
 * exec + dynamic linking (libc only), open /dev/kvm, KVM_CREATE_VM, 64 KiB
 * of anonymous memory, KVM_CREATE_VCPU, mmap kvm_run, SET_SREGS/SET_REGS,
 * one KVM_RUN to the HLT exit, and a one-byte write to the pipe; not the
 * teardown of either.
 * Runs ../bin/msb-vmm and ../share/msb/testguest.elf relative to this
 * binary. Without a usable /dev/kvm it prints SKIP and exits 0.
 *
 * Usage: msb-vmm-bench [-n RUNS] [-k MMIO_READS] [-r ROUND_TRIPS]
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define GUEST_MEM   "128M"     /* Firecracker's default guest size */
#define MSG_LEN     64         /* (g): one small message */
#define WARMUP_RT   20         /* (g): round trips before timing */
#define FC_BUDGET   (5.0 * 1024 * 1024)
#define EOT         0x04       /* tells the bench guest to end */

static char self[PATH_MAX], vmm[PATH_MAX], guest[PATH_MAX];
static char tmpdir[] = "/tmp/msb-vmm-bench.XXXXXX";

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void cleanup_tmp(void)
{
	char p[PATH_MAX];

	snprintf(p, sizeof p, "%s/console.sock", tmpdir);
	unlink(p);
	snprintf(p, sizeof p, "%s/stderr", tmpdir);
	unlink(p);
	rmdir(tmpdir);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "msb-vmm-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup_tmp();
	exit(1);
}

/* ---- a bare VM: the floors ---------------------------------------------------
 *
 * 64 KiB of anonymous memory as slot 0, a long-mode vCPU set up as msb-vmm
 * sets up its boot vCPU (flat __BOOT_CS/__BOOT_DS from a GDT, CR0 PG|PE,
 * CR4 PAE, EFER LME|LMA), 4-level page tables of 4 KiB pages (this PVM
 * host takes no large pages): the first 64 KiB identity-mapped, and the
 * page at 0xd0000000 uncached (PCD|PWT, as the test guest maps its
 * virtio-mmio windows) with no memory behind it, so reads there exit.
 * No irqchip, no CPUID, no devices: the least KVM needs to run code.
 */
#define BARE_MEM    0x10000u
#define BARE_GDT    0x500u
#define BARE_PML4   0x1000u
#define BARE_CODE   0x8000u
#define BARE_MMIO   0xd0000000ull

struct bare {
	int kvm, vm, cpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
};

static void bare_close(struct bare *b)
{
	if (b->run)
		munmap(b->run, b->run_size);
	if (b->mem)
		munmap(b->mem, BARE_MEM);
	if (b->cpu >= 0)
		close(b->cpu);
	if (b->vm >= 0)
		close(b->vm);
	if (b->kvm >= 0)
		close(b->kvm);
	memset(b, 0, sizeof *b);
	b->kvm = b->vm = b->cpu = -1;
}

/* Set up the VM with `code` at BARE_CODE; 0, or -1 with *why set. */
static int bare_open(struct bare *b, const uint8_t *code, size_t len, const char **why)
{
	memset(b, 0, sizeof *b);
	b->kvm = b->vm = b->cpu = -1;
	*why = "open /dev/kvm";
	b->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (b->kvm < 0)
		goto fail;
	*why = "KVM_CREATE_VM";
	b->vm = ioctl(b->kvm, KVM_CREATE_VM, 0);
	if (b->vm < 0)
		goto fail;
	*why = "mmap guest memory";
	b->mem = mmap(NULL, BARE_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->mem == MAP_FAILED) {
		b->mem = NULL;
		goto fail;
	}
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = BARE_MEM,
		.userspace_addr = (uintptr_t)b->mem,
	};
	*why = "KVM_SET_USER_MEMORY_REGION";
	if (ioctl(b->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		goto fail;

	uint64_t *gdt = (uint64_t *)(b->mem + BARE_GDT);
	gdt[2] = 0x00af9b000000ffffull;  /* 0x10: 64-bit code */
	gdt[3] = 0x00cf93000000ffffull;  /* 0x18: data */
	gdt[4] = 0x00008b0000000067ull;  /* 0x20: TSS */
	uint64_t *pml4 = (uint64_t *)(b->mem + BARE_PML4);
	uint64_t *pdpt = pml4 + 512, *pd0 = pml4 + 1024, *pt0 = pml4 + 1536;
	uint64_t *pd3 = pml4 + 2048, *ptm = pml4 + 2560;
	pml4[0] = (BARE_PML4 + 0x1000) | 3;
	pdpt[0] = (BARE_PML4 + 0x2000) | 3;
	pd0[0] = (BARE_PML4 + 0x3000) | 3;
	for (unsigned i = 0; i < BARE_MEM / 4096; i++)
		pt0[i] = (uint64_t)i * 4096 | 3;
	pdpt[3] = (BARE_PML4 + 0x4000) | 3;                       /* 3..4 GiB */
	pd3[(BARE_MMIO >> 21) & 511] = (BARE_PML4 + 0x5000) | 3;
	ptm[(BARE_MMIO >> 12) & 511] = BARE_MMIO | 0x1b;          /* P RW PWT PCD */
	memcpy(b->mem + BARE_CODE, code, len);

	*why = "KVM_CREATE_VCPU";
	b->cpu = ioctl(b->vm, KVM_CREATE_VCPU, 0);
	if (b->cpu < 0)
		goto fail;
	*why = "KVM_GET_VCPU_MMAP_SIZE";
	int sz = ioctl(b->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run))
		goto fail;
	b->run_size = (size_t)sz;
	*why = "mmap kvm_run";
	b->run = mmap(NULL, b->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, b->cpu, 0);
	if (b->run == MAP_FAILED) {
		b->run = NULL;
		goto fail;
	}
	struct kvm_sregs sregs;
	*why = "KVM_GET_SREGS";
	if (ioctl(b->cpu, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	struct kvm_segment cs = { .limit = 0xffffffff, .selector = 0x10, .type = 0xb,
				  .present = 1, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment ds = { .limit = 0xffffffff, .selector = 0x18, .type = 0x3,
				  .present = 1, .s = 1, .db = 1, .g = 1 };
	sregs.cs = cs;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = ds;
	sregs.tr = (struct kvm_segment){ .limit = 0x67, .selector = 0x20, .type = 0xb, .present = 1 };
	sregs.gdt.base = BARE_GDT;
	sregs.gdt.limit = 6 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = 0x80000011u;
	sregs.cr3 = BARE_PML4;
	sregs.cr4 = 0x20;
	sregs.efer = 0x500;
	*why = "KVM_SET_SREGS";
	if (ioctl(b->cpu, KVM_SET_SREGS, &sregs) < 0)
		goto fail;
	struct kvm_regs regs = { .rip = BARE_CODE, .rflags = 0x2 };
	*why = "KVM_SET_REGS";
	if (ioctl(b->cpu, KVM_SET_REGS, &regs) < 0)
		goto fail;
	return 0;
fail:;
	int e = errno;
	bare_close(b);
	errno = e;
	return -1;
}

/* Run to the HLT exit: port writes are timestamped into marks[] (up to
 * nmarks), MMIO reads answer the virtio MagicValue. 0, or -1 with *why. */
static int bare_run(struct bare *b, uint64_t *marks, unsigned nmarks, const char **why)
{
	unsigned m = 0;

	for (;;) {
		if (ioctl(b->cpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			*why = "KVM_RUN";
			return -1;
		}
		switch (b->run->exit_reason) {
		case KVM_EXIT_HLT:
			return 0;
		case KVM_EXIT_IO:
			if (m < nmarks)
				marks[m++] = now_ns();
			break;
		case KVM_EXIT_MMIO:
			if (!b->run->mmio.is_write)
				memcpy(b->run->mmio.data, "virt\0\0\0\0", 8);
			break;
		default:
			errno = 0;
			*why = "an unexpected KVM exit before the HLT";
			return -1;
		}
	}
}

/* the floor's guest: HLT */
static const uint8_t code_hlt[] = { 0xf4 };

/* out 0x80 (mark); mov $K, %ecx; movabs $BARE_MMIO, %rbx;
 * 1: movl (%rbx), %eax; dec %ecx; jnz 1b   <- as bench_mmio() in guest.c
 * out 0x80 (mark); hlt */
static size_t code_mmio(uint8_t *c, uint32_t k)
{
	static const uint8_t t[] = {
		0xe6, 0x80,
		0xb9, 0, 0, 0, 0,
		0x48, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0,
		0x8b, 0x03, 0xff, 0xc9, 0x75, 0xfa,
		0xe6, 0x80,
		0xf4,
	};
	uint64_t a = BARE_MMIO;

	memcpy(c, t, sizeof t);
	memcpy(c + 3, &k, 4);
	memcpy(c + 9, &a, 8);
	return sizeof t;
}

/* out 0x80; mov $K, %ecx; 1: dec %ecx; jnz 1b; out 0x80; hlt */
static size_t code_spin(uint8_t *c, uint32_t k)
{
	static const uint8_t t[] = { 0xe6, 0x80, 0xb9, 0, 0, 0, 0, 0xff, 0xc9,
				     0x75, 0xfc, 0xe6, 0x80, 0xf4 };

	memcpy(c, t, sizeof t);
	memcpy(c + 3, &k, 4);
	return sizeof t;
}

/* In-process floor of (e): from open("/dev/kvm") to the HLT exit. */
static double floor_hlt_inproc(void)
{
	struct bare b;
	const char *why;
	uint64_t t0 = now_ns();

	if (bare_open(&b, code_hlt, sizeof code_hlt, &why) < 0 ||
	    bare_run(&b, NULL, 0, &why) < 0)
		die("bare VM: %s: %s", why, strerror(errno));
	uint64_t t1 = now_ns();
	bare_close(&b);
	return (double)(t1 - t0) / 1e6;
}

/* ns per loop of code (k iterations between two port marks) */
static double bare_loop_ns(size_t (*gen)(uint8_t *, uint32_t), uint32_t k)
{
	uint8_t code[64];
	size_t n = gen(code, k);
	struct bare b;
	uint64_t marks[2] = { 0, 0 };
	const char *why;

	if (bare_open(&b, code, n, &why) < 0 || bare_run(&b, marks, 2, &why) < 0)
		die("bare VM: %s: %s", why, strerror(errno));
	bare_close(&b);
	return (double)(marks[1] - marks[0]) / k;
}

/* ---- processes ------------------------------------------------------------------ */

/* Spawn argv with stdout on a new pipe (its read end in *out_fd) and
 * stderr to tmpdir/stderr. Returns the pid. */
static pid_t spawn_piped(char *const argv[], int *out_fd)
{
	int p[2];
	char errpath[PATH_MAX];
	posix_spawn_file_actions_t fa;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	snprintf(errpath, sizeof errpath, "%s/stderr", tmpdir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (e)
		die("spawn %s: %s", argv[0], strerror(e));
	*out_fd = p[0];
	return pid;
}

static char *stderr_text(void)
{
	static char buf[4096];
	char p[PATH_MAX];
	int fd;
	ssize_t n = 0;

	snprintf(p, sizeof p, "%s/stderr", tmpdir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* Wait for pid until the deadline (now_ns()); kill it after that. */
static void reap(pid_t pid, uint64_t deadline, const char *what)
{
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			die("waitpid %s: %s", what, strerror(errno));
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			die("%s did not end in time; its stderr: %s", what, stderr_text());
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s ended with %s %d; its stderr: %s", what,
		    WIFEXITED(st) ? "status" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), stderr_text());
}

/* The serial lines of a run, each stamped with the time of the read()
 * that completed it. */
struct lines {
	int fd;
	pid_t pid;
	char cur[64];
	size_t len;
	char q[8][64];
	uint64_t qt[8];
	unsigned head, n;
	uint64_t first_byte;    /* the first read() that returned data */
};

/* a serial line for messages: its text, then a visible \n */
static const char *shown(const char *line, char *buf, size_t n)
{
	snprintf(buf, n, "%.*s\\n", (int)strcspn(line, "\n"), line);
	return buf;
}

/* The next line, which must be `want`; *t: when it arrived. */
static void next_line(struct lines *l, const char *want, uint64_t *t, uint64_t deadline)
{
	char w[64], g[64];

	while (l->n == 0) {
		struct pollfd pfd = { l->fd, POLLIN, 0 };
		char buf[256];
		uint64_t left = deadline > now_ns() ? deadline - now_ns() : 0;
		int r = poll(&pfd, 1, (int)(left / 1000000));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			kill(l->pid, SIGKILL);
			die("no '%s' line from the guest in time; msb-vmm's stderr: %s",
			    shown(want, w, sizeof w), stderr_text());
		}
		ssize_t n = read(l->fd, buf, sizeof buf);
		uint64_t tn = now_ns();

		if (n <= 0) {
			kill(l->pid, SIGKILL);
			die("msb-vmm's serial output ended before '%s'; its stderr: %s",
			    shown(want, w, sizeof w), stderr_text());
		}
		if (!l->first_byte)
			l->first_byte = tn;
		for (ssize_t i = 0; i < n; i++) {
			if (l->len < sizeof l->cur - 1)
				l->cur[l->len++] = buf[i];
			if (buf[i] != '\n')
				continue;
			if (l->n == 8)
				die("too many serial lines at once");
			unsigned slot = (l->head + l->n++) % 8;
			l->cur[l->len] = 0;
			memcpy(l->q[slot], l->cur, l->len + 1);
			l->qt[slot] = tn;
			l->len = 0;
		}
	}
	const char *got = l->q[l->head];

	if (strcmp(got, want) != 0) {
		kill(l->pid, SIGKILL);
		die("the guest printed '%s' where '%s' was expected; msb-vmm's stderr: %s",
		    shown(got, g, sizeof g), shown(want, w, sizeof w), stderr_text());
	}
	if (t)
		*t = l->qt[l->head];
	l->head = (l->head + 1) % 8;
	l->n--;
}

/* ---- (g): message round trips -------------------------------------------------- */

static int read_full(int fd, char *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* n round trips of one message over fd; each one's µs into us[] (when
 * not NULL). The peer sends back what it gets. */
static void pingpong(int fd, int n, double *us, const char *what)
{
	char msg[MSG_LEN], back[MSG_LEN];

	for (int i = 0; i < MSG_LEN; i++)
		msg[i] = (char)('a' + i % 26);
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (write(fd, msg, MSG_LEN) != MSG_LEN || read_full(fd, back, MSG_LEN) < 0)
			die("%s: round trip %d: %s", what, i, errno ? strerror(errno) : "EOF");
		if (us)
			us[i] = (double)(now_ns() - t0) / 1e3;
		if (memcmp(msg, back, MSG_LEN) != 0)
			die("%s: the message came back different", what);
	}
}

/* The reference: the same ping-pong between two processes over a unix
 * socketpair (SOCK_STREAM, as the console socket). */
static void socketpair_rt(int n, double *us)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char buf[MSG_LEN];

		close(sv[0]);
		while (read_full(sv[1], buf, MSG_LEN) == 0)
			if (write(sv[1], buf, MSG_LEN) != MSG_LEN)
				break;
		_exit(0);
	}
	close(sv[1]);
	pingpong(sv[0], WARMUP_RT, NULL, "socketpair");
	pingpong(sv[0], n, us, "socketpair");
	close(sv[0]);
	reap(pid, now_ns() + 10000000000ull, "the socketpair peer");
}

/* ---- (h): RSS ------------------------------------------------------------------------ */

struct rss {
	double total, guest, anon, file, other, priv;   /* bytes */
};

/* From /proc/PID/smaps: the memfd mapping of guest RAM apart from the
 * rest; the rest split into anonymous (heap, stacks), file-backed (the
 * binary and its libraries) and other (kvm_run, vDSO). priv: the rest's
 * Private_Clean + Private_Dirty (pages no other process shares). */
static struct rss rss_of(pid_t pid)
{
	char p[64], line[512];
	struct rss r = { 0 };
	int kind = 0;   /* 0 guest, 1 anon, 2 file, 3 other */
	FILE *f;

	snprintf(p, sizeof p, "/proc/%d/smaps", (int)pid);
	f = fopen(p, "re");
	if (!f)
		die("%s: %s", p, strerror(errno));
	while (fgets(line, sizeof line, f)) {
		unsigned long long kb;
		char path[256] = "";

		/* a mapping's header starts with its (lower-case hex) address,
		 * its fields with a capital: "Rss:    12 kB" */
		if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
			if (sscanf(line, "%*s %*s %*s %*s %*s %255[^\n]", path) != 1)
				path[0] = 0;
			if (strstr(path, "memfd:msb-vmm-guest-ram"))
				kind = 0;
			else if (path[0] == '/')
				kind = 2;
			else if (!path[0] || !strncmp(path, "[heap]", 6) || !strncmp(path, "[stack", 6) ||
				 !strncmp(path, "[anon", 5))
				kind = 1;
			else
				kind = 3;
			continue;
		}
		if (sscanf(line, "Rss: %llu kB", &kb) == 1) {
			double b = (double)kb * 1024;

			r.total += b;
			if (kind == 0)
				r.guest += b;
			else if (kind == 1)
				r.anon += b;
			else if (kind == 2)
				r.file += b;
			else
				r.other += b;
		} else if (kind && (sscanf(line, "Private_Clean: %llu kB", &kb) == 1 ||
				    sscanf(line, "Private_Dirty: %llu kB", &kb) == 1)) {
			r.priv += (double)kb * 1024;
		}
	}
	fclose(f);
	return r;
}

/* ---- one msb-vmm run: a sample of (e), (f), (g), (h) --------------------------------- */

struct sample {
	double start_ms, mmio_ns;
	struct rss rss;
};

static struct sample vmm_run(uint32_t k, int rts, double *rt_us)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cmdline[256], sock[sizeof sa.sun_path];
	int fd;
	struct lines l = { 0 };
	struct sample s;
	uint64_t tm0, tm1;

	snprintf(sock, sizeof sock, "%s/console.sock", tmpdir);
	snprintf(cmdline, sizeof cmdline, "msbtest.bench=1 msbtest.bench_mmio=%u msbtest.bench_echo=1",
		 (unsigned)k);
	char *argv[] = { vmm, "--kernel", guest, "--memory", GUEST_MEM, "--cmdline", cmdline,
			 "--console-socket", sock, "--serial-log", "/dev/stdout", NULL };
	uint64_t deadline = now_ns() + 60000000000ull;
	uint64_t t0 = now_ns();
	pid_t pid = spawn_piped(argv, &fd);

	l.fd = fd;
	l.pid = pid;
	next_line(&l, "\n", NULL, deadline);
	s.start_ms = (double)(l.first_byte - t0) / 1e6;
	next_line(&l, "M\n", &tm0, deadline);
	next_line(&l, "m\n", &tm1, deadline);
	s.mmio_ns = (double)(tm1 - tm0) / k;
	next_line(&l, "E\n", NULL, deadline);

	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, sock, sizeof sock);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) < 0) {
		kill(pid, SIGKILL);
		die("connect %s: %s", sock, strerror(errno));
	}
	pingpong(c, WARMUP_RT, NULL, "virtio-console");
	pingpong(c, rts, rt_us, "virtio-console");
	s.rss = rss_of(pid);   /* the guest polls its receive queue meanwhile */
	char eot = EOT;
	if (write(c, &eot, 1) != 1)
		die("write to the console socket: %s", strerror(errno));
	reap(pid, deadline, "msb-vmm");
	close(c);
	close(fd);
	return s;
}

/* The process floor of (e): this program re-executed with --floor-hlt;
 * ms from spawn to its byte on the pipe. */
static double floor_hlt_proc(void)
{
	char *argv[] = { self, "--floor-hlt", NULL };
	char b;
	int fd;
	uint64_t t0 = now_ns();
	pid_t pid = spawn_piped(argv, &fd);

	if (read(fd, &b, 1) != 1)
		die("the bare-KVM floor process wrote nothing: %s", stderr_text());
	uint64_t t1 = now_ns();
	reap(pid, t1 + 10000000000ull, "the bare-KVM floor process");
	close(fd);
	return (double)(t1 - t0) / 1e6;
}

/* --floor-hlt: the bare VM to its HLT, then one byte on stdout */
static int floor_hlt_child(void)
{
	struct bare b;
	const char *why;

	if (bare_open(&b, code_hlt, sizeof code_hlt, &why) < 0 ||
	    bare_run(&b, NULL, 0, &why) < 0) {
		fprintf(stderr, "%s: %s\n", why, strerror(errno));
		return 1;
	}
	return write(1, "\n", 1) == 1 ? 0 : 1;
}

#define ROW "%-33s msb-vmm %9.3f %-3s | %-27s %9.3f %-3s | ratio %6.2fx"

static void row(const char *name, const char *unit, double ours, const char *refname, double ref)
{
	printf(ROW "\n", name, ours, unit, refname, ref, unit, ours / ref);
}

int main(int argc, char **argv)
{
	int n = 15, rts = 200;
	unsigned long k = 20000;

	if (argc == 2 && !strcmp(argv[1], "--floor-hlt"))
		return floor_hlt_child();
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "-n"))
			n = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "-k"))
			k = strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && !strcmp(argv[i], "-r"))
			rts = atoi(argv[++i]);
		else
			n = 0;
	}
	if (n < 3 || k < 1 || k > 100000000 || rts < 1) {
		fprintf(stderr, "usage: msb-vmm-bench [-n RUNS >= 3] [-k MMIO_READS] [-r ROUND_TRIPS]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl < 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	self[sl] = 0;
	char dirbuf[PATH_MAX];
	memcpy(dirbuf, self, (size_t)sl + 1);
	char *dir = dirname(dirbuf);
	snprintf(vmm, sizeof vmm, "%s/../bin/msb-vmm", dir);
	snprintf(guest, sizeof guest, "%s/../share/msb/testguest.elf", dir);

	/* Can this host run a VM at all? */
	{
		struct bare b;
		const char *why;

		if (bare_open(&b, code_hlt, sizeof code_hlt, &why) < 0 ||
		    bare_run(&b, NULL, 0, &why) < 0) {
			printf("SKIP msb-vmm benchmarks (e)-(h): /dev/kvm is not usable here (%s: %s)\n",
			       why, errno ? strerror(errno) : "failed");
			return 0;
		}
		bare_close(&b);
	}
	if (access(vmm, X_OK) != 0 || access(guest, R_OK) != 0) {
		fprintf(stderr, "msb-vmm-bench: build %s and %s first (make)\n", vmm, guest);
		return 1;
	}
	if (!mkdtemp(tmpdir))
		die("mkdtemp: %s", strerror(errno));

	double *start = calloc((size_t)n, sizeof(double));
	double *fl_proc = calloc((size_t)n, sizeof(double));
	double *fl_inproc = calloc((size_t)n, sizeof(double));
	double *mmio = calloc((size_t)n, sizeof(double));
	double *fl_mmio = calloc((size_t)n, sizeof(double));
	double *rt = calloc((size_t)n * (size_t)rts, sizeof(double));
	double *rt_ref = calloc((size_t)n * (size_t)rts, sizeof(double));
	double *ovh = calloc((size_t)n, sizeof(double));
	double *tot = calloc((size_t)n, sizeof(double));
	double *gst = calloc((size_t)n, sizeof(double));
	double *anon = calloc((size_t)n, sizeof(double));
	double *file = calloc((size_t)n, sizeof(double));
	double *oth = calloc((size_t)n, sizeof(double));
	double *priv = calloc((size_t)n, sizeof(double));
	double *spin = calloc((size_t)n, sizeof(double));
	if (!start || !fl_proc || !fl_inproc || !mmio || !fl_mmio || !rt || !rt_ref || !ovh ||
	    !tot || !gst || !anon || !file || !oth || !priv || !spin)
		die("out of memory");

	printf("msb-vmm benchmarks: %d runs (msb-vmm --memory %s, the test guest in bench mode, "
	       "%lu MMIO reads and %d round trips of %d bytes per run), medians\n",
	       n, GUEST_MEM, k, rts, MSG_LEN);

	/* warm-up (caches, page cache of the binaries), not recorded */
	vmm_run((uint32_t)k, 1, rt);
	floor_hlt_proc();
	floor_hlt_inproc();

	/* interleaved, so that drift in the machine's load hits both alike */
	for (int i = 0; i < n; i++) {
		struct sample s = vmm_run((uint32_t)k, rts, rt + (size_t)i * rts);

		start[i] = s.start_ms;
		mmio[i] = s.mmio_ns;
		tot[i] = s.rss.total;
		gst[i] = s.rss.guest;
		anon[i] = s.rss.anon;
		file[i] = s.rss.file;
		oth[i] = s.rss.other;
		priv[i] = s.rss.priv;
		ovh[i] = s.rss.total - s.rss.guest;
		fl_proc[i] = floor_hlt_proc();
		fl_inproc[i] = floor_hlt_inproc();
		fl_mmio[i] = bare_loop_ns(code_mmio, (uint32_t)k);
		spin[i] = bare_loop_ns(code_spin, (uint32_t)k);
		socketpair_rt(rts, rt_ref + (size_t)i * rts);
	}
	cleanup_tmp();

	const double MiB = 1024.0 * 1024.0;
	row("(e) start -> first console byte", "ms", median(start, n),
	    "bare KVM to HLT, spawned", median(fl_proc, n));
	printf("%-33s %21s | %-27s %9.3f ms  |\n", "", "", "  the same, in-process",
	       median(fl_inproc, n));
	row("(f) MMIO exit round trip", "us", median(mmio, n) / 1e3, "bare KVM, the same loop",
	    median(fl_mmio, n) / 1e3);
	row("(g) virtio-console round trip", "us", median(rt, n * rts),
	    "socketpair ping-pong", median(rt_ref, n * rts));
	double o = median(ovh, n);
	printf(ROW " (target <= 1.00x: %s)\n", "(h) RSS beyond guest RAM touched", o / MiB, "MiB",
	       "Firecracker's budget", FC_BUDGET / MiB, "MiB", o / FC_BUDGET,
	       o <= FC_BUDGET ? "met" : "NOT met");
	printf("    VmRSS %.2f MiB = guest RAM touched %.2f + anonymous %.2f + files %.2f "
	       "+ kvm_run/vDSO %.2f; not shared: %.2f MiB\n",
	       median(tot, n) / MiB, median(gst, n) / MiB, median(anon, n) / MiB,
	       median(file, n) / MiB, median(oth, n) / MiB, median(priv, n) / MiB);
	printf("note: this /dev/kvm emulates a guest's CPL-0 code: %.0f ns per loop iteration "
	       "(dec; jnz) in the bare VM,\n      part of (f) on both sides and most of the "
	       "guest's share of (g)\n", median(spin, n));
	free(start);
	free(fl_proc);
	free(fl_inproc);
	free(mmio);
	free(fl_mmio);
	free(rt);
	free(rt_ref);
	free(ovh);
	free(tot);
	free(gst);
	free(anon);
	free(file);
	free(oth);
	free(priv);
	free(spin);
	return 0;
}
