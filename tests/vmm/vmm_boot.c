/*
 * vmm_boot.c - msb-vmm boots the test guest through the Linux 64-bit boot
 * protocol (1 and 2 vCPUs, with an initrd and a command line) and every
 * check the guest makes passes; bad input ends with a clear message and a
 * non-zero status, never a signal; the guest's ways to end the VM (debug
 * exit port, i8042 reset, triple fault) give their documented statuses.
 *
 * Runs ../bin/msb-vmm and ../share/msb/testguest.elf relative to this
 * binary. Needs a usable /dev/kvm, else SKIP.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>
#include <libgen.h>
#include <limits.h>

#include "tap.h"

static char vmm[PATH_MAX], guest[PATH_MAX], tmpdir[] = "/tmp/msb-vmm-test.XXXXXX";

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	while (n--) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return strdup("");
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	return strdup(buf);
}

/* Start msb-vmm with argv (NULL-terminated, without argv[0]); stderr goes
 * to tmpdir/stderr. Returns its pid. */
static pid_t spawn_vmm(const char *const *args)
{
	const char *argv[32] = { vmm };
	int n = 1;
	for (; args[n - 1] && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	char errpath[PATH_MAX];
	snprintf(errpath, sizeof errpath, "%s/stderr", tmpdir);
	pid_t pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		execv(vmm, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

/* Wait for a spawned msb-vmm: its wait status, or -1 (killed) when it
 * has not ended by `deadline` (now()). */
static int wait_vmm(pid_t pid, double deadline)
{
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (now() > deadline)
			break;
		sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Run msb-vmm synchronously. Returns the wait status (or -1 on a timeout:
 * 30 s, a hang is a failure, not a benchmark). */
static int run_vmm(const char *const *args)
{
	return wait_vmm(spawn_vmm(args), now() + 30);
}

static char *stderr_text(void)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/stderr", tmpdir);
	return slurp(p);
}

static void describe(int st)
{
	if (st == -1)
		diag("timed out");
	else if (WIFSIGNALED(st))
		diag("killed by signal %d", WTERMSIG(st));
	else
		diag("exit status %d", WEXITSTATUS(st));
	char *e = stderr_text();
	if (*e)
		diag("stderr: %s", e);
	free(e);
}

/* exits with `want` (or any non-zero when want < 0), no signal, and
 * stderr mentions `msg` */
static void expect_exit(const char *name, int st, int want, const char *msg)
{
	int okst = st != -1 && WIFEXITED(st) &&
		   (want < 0 ? WEXITSTATUS(st) != 0 : WEXITSTATUS(st) == want);
	char *e = stderr_text();
	int okmsg = !msg || strstr(e, msg);
	if (!ok(okst && okmsg, "%s", name))
		describe(st);
	free(e);
}

static void write_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, n) != (ssize_t)n)
		bail_out("write %s: %s", path, strerror(errno));
	close(fd);
}

/* A minimal ELF64 executable: one PT_LOAD at paddr holding code. */
static void write_elf(const char *path, uint64_t paddr, const uint8_t *code, size_t n)
{
	uint8_t buf[4096] = { 0 };
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof *eh);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = paddr;
	eh->e_phoff = sizeof *eh;
	eh->e_ehsize = sizeof *eh;
	eh->e_phentsize = sizeof *ph;
	eh->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_flags = PF_R | PF_X;
	ph->p_offset = 256;
	ph->p_vaddr = ph->p_paddr = paddr;
	ph->p_filesz = ph->p_memsz = n;
	ph->p_align = 4096;
	memcpy(buf + 256, code, n);
	write_file(path, buf, 256 + n);
}

/* The conventions shared with tests/vmm/testguest/guest.c (see the comment
 * above its virtio part): the disk image's initial bytes, the pattern
 * the guest writes to msbtest.blk_sector, and the console burst. */
#define DISK_BYTES (64u << 10)
#define BLK_SECTOR 5
#define BLK_SEED 0x5eed1234u
#define CONS_BURST (2u << 20)
static const char guest_line[] = "hello from the guest\n";
static const char host_reply[] = "host got: hello from the guest\n";

static uint8_t disk_fill(uint64_t off)
{
	return (uint8_t)((off >> 9) * 13 + (off & 511));
}
static uint8_t blk_pattern(uint32_t seed, unsigned i)
{
	return (uint8_t)((seed >> (8 * (i & 3))) ^ (i * 7) ^ (i >> 8));
}
static uint8_t burst_byte(uint64_t k)
{
	uint64_t c = k >> 12, o = k & 4095;
	return o < 8 ? (uint8_t)(c >> (8 * o)) : (uint8_t)(o * 7 + 1);
}

static long rss_kib(pid_t pid)
{
	char p[64], line[256];
	long kib = -1;
	snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* read into buf until `want` bytes, EOF or the deadline; returns bytes */
static size_t read_until(int fd, char *buf, size_t want, double deadline)
{
	size_t got = 0;
	while (got < want && now() < deadline) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		ssize_t r = read(fd, buf + got, want - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(buf, '\n', got))
			break;
	}
	return got;
}

/* The host end of virtio-console while msb-vmm runs: connect (with
 * retries), read the guest's line, answer, stall 1 s while the guest
 * bursts (sampling msb-vmm's RSS), then drain to EOF and check the burst. */
static void console_host(pid_t pid, const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(sock) >= sizeof sa.sun_path)
		bail_out("socket path too long: %s", sock);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	int fd = -1;
	double deadline = now() + 10;
	while (now() < deadline && waitpid(pid, NULL, WNOHANG) == 0) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			bail_out("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			break;
		close(fd);
		fd = -1;
		sleep_ms(10);
	}
	if (!ok(fd >= 0, "console socket: the host connects to --console-socket")) {
		skip(3, "no console connection");
		return;
	}
	char line[256] = { 0 };
	size_t n = read_until(fd, line, sizeof line - 1, now() + 15);
	if (!ok(n == strlen(guest_line) && memcmp(line, guest_line, n) == 0,
		"console socket: the guest's line arrives ('hello from the guest')"))
		diag("got %zu bytes: '%.*s'", n, (int)n, line);
	long rss0 = rss_kib(pid);
	if (write(fd, host_reply, strlen(host_reply)) != (ssize_t)strlen(host_reply))
		diag("write reply: %s", strerror(errno));
	/* do not read: the guest's burst must back up into its own queue */
	sleep_ms(1000);
	long rss1 = rss_kib(pid);
	if (!ok(rss0 > 0 && rss1 > 0 && rss1 - rss0 < 4096,
		"console socket: msb-vmm's RSS grows < 4 MiB while the host does not read a 2 MiB burst"))
		diag("VmRSS before %ld KiB, during the stall %ld KiB", rss0, rss1);
	static char buf[1 << 16];
	uint64_t total = 0, bad_at = UINT64_MAX;
	deadline = now() + 30;
	while (now() < deadline) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		ssize_t r = read(fd, buf, sizeof buf);
		if (r <= 0)
			break;   /* EOF: msb-vmm ended */
		for (ssize_t i = 0; i < r; i++)
			if (bad_at == UINT64_MAX && (uint8_t)buf[i] != burst_byte(total + (uint64_t)i))
				bad_at = total + (uint64_t)i;
		total += (uint64_t)r;
	}
	if (!ok(total == CONS_BURST && bad_at == UINT64_MAX,
		"console socket: the 2 MiB burst arrives complete and in order, nothing more"))
		diag("received %llu bytes, first wrong byte at %lld", (unsigned long long)total,
		     bad_at == UINT64_MAX ? -1ll : (long long)bad_at);
	close(fd);
}

static int expect_ok_lines(const char *out, const char *const *expect)
{
	int all = 1;
	for (const char *const *e = expect; *e; e++) {
		const char *line = strstr(out, *e);
		/* the line holding it must start with "ok " */
		while (line && line > out && line[-1] != '\n')
			line--;
		if (!line || strncmp(line, "ok ", 3) != 0) {
			diag("missing an ok line for '%s'", *e);
			all = 0;
		}
	}
	return all;
}

static void boot_guest(unsigned cpus, const char *initrd, const uint8_t *rd, size_t rdn,
		       int devices)
{
	char cmdline[1024], log[PATH_MAX], cpus_s[16], disk[PATH_MAX], sock[PATH_MAX];
	const char *token = "hello-msb-42";
	int n = snprintf(cmdline, sizeof cmdline,
		 "console=ttyS0 msbtest.token=%s msbtest.token_sum=%x msbtest.mem=%llu "
		 "msbtest.cpus=%u msbtest.initrd_size=%zu msbtest.initrd_sum=%x",
		 token, fnv1a((const uint8_t *)token, strlen(token)), 64ull << 20, cpus, rdn,
		 fnv1a(rd, rdn));
	if (devices)
		snprintf(cmdline + n, sizeof cmdline - (size_t)n,
			 " msbtest.virtio_devices=2 msbtest.blk_sectors=%u msbtest.blk_sector=%u"
			 " msbtest.blk_seed=0x%x msbtest.blk_id=disk.img",
			 DISK_BYTES / 512, BLK_SECTOR, BLK_SEED);
	snprintf(log, sizeof log, "%s/serial-%u-%d.log", tmpdir, cpus, devices);
	snprintf(cpus_s, sizeof cpus_s, "%u", cpus);
	snprintf(disk, sizeof disk, "%s/disk.img", tmpdir);
	snprintf(sock, sizeof sock, "%s/console-%u.sock", tmpdir, cpus);
	static uint8_t image[DISK_BYTES];
	if (devices) {
		for (size_t i = 0; i < sizeof image; i++)
			image[i] = disk_fill(i);
		write_file(disk, image, sizeof image);
	}
	int st;
	if (devices) {
		pid_t pid = spawn_vmm((const char *const[]){ "--kernel", guest, "--initrd", initrd,
					       "--cmdline", cmdline, "--memory", "64M",
					       "--cpus", cpus_s, "--serial-log", log,
					       "--disk", disk, "--console-socket", sock, NULL });
		double deadline = now() + 60;
		console_host(pid, sock);
		st = wait_vmm(pid, deadline);
	} else {
		st = run_vmm((const char *const[]){ "--kernel", guest, "--initrd", initrd,
					       "--cmdline", cmdline, "--memory", "64M",
					       "--cpus", cpus_s, "--serial-log", log, NULL });
	}
	if (!ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		"%u vCPU(s)%s: the test guest boots and exits 0", cpus,
		devices ? ", virtio-blk and virtio-console attached (the filter lets their threads be)" : ""))
		describe(st);
	char *out = slurp(log);
	/* every check the guest makes, by name, must have passed */
	static const char *const expect[] = {
		"interrupts disabled", "CS = __BOOT_CS", "ELF entry point", "RSI holds boot_params",
		"HdrS", "boot_flag 0xAA55", "protocol version", "type_of_loader", "LOADED_HIGH",
		"cmd_line_ptr", "msbtest.token intact", "e820 map:", "below 640 KiB",
		"0x9fc00-0x100000 reserved", "to the top of guest memory", "initrd: ramdisk_image",
		"initrd: bytes match", "MP floating pointer", "MP configuration table",
		"announces every vCPU", "CPUID: the hypervisor bit",
		"CPUID 0x40000000: signature KVMKVMKVM", "CPUID 0xD: XSAVE components match",
		"CPUID topology: APIC id 0", NULL,
	};
	static const char *const expect_virtio[] = {
		"virtio_mmio.device= tokens parse",
		"virtio-mmio windows mapped",
		"virtio-blk: MagicValue 'virt', Version 2",
		"virtio-blk: reset: Status reads 0",
		"virtio-blk: ACKNOWLEDGE | DRIVER accepted",
		"virtio-blk: device offers VIRTIO_F_VERSION_1",
		"virtio-blk: FEATURES_OK accepted",
		"virtio-blk: queue 0 set up",
		"virtio-blk: DRIVER_OK",
		"virtio-blk: config capacity matches msbtest.blk_sectors",
		"virtio-blk: IN of 2 sectors",
		"virtio-blk: InterruptStatus has the used-ring bit",
		"virtio-blk: OUT of the msbtest.blk_seed pattern",
		"virtio-blk: IN of that sector reads the pattern back",
		"virtio-blk: OUT past the capacity: status IOERR",
		"virtio-blk: GET_ID: status OK",
		"virtio-blk: GET_ID through an indirect descriptor",
		"virtio-blk: 1-, 2-, 8-byte and unaligned reads",
		"virtio-blk: 1-, 2-, 8-byte and unaligned writes of 0 to Status",
		"virtio-blk: 2- and 1-byte QueueNotify writes are ignored",
		"virtio-blk: config accesses past its end read 0",
		"virtio-blk: aligned 32-bit register reads still sane",
		"virtio-blk: FEATURES_OK refused",
		"virtio-blk: a notify before DRIVER_OK is ignored",
		"virtio-blk: a descriptor just past the end of RAM",
		"virtio-blk: NEEDS_RESET stays through driver Status writes",
		"virtio-blk: a descriptor straddling the end of RAM",
		"virtio-blk: a descriptor whose addr + len overflows",
		"virtio-blk: a looping descriptor chain",
		"virtio-blk: a next index past the queue size",
		"virtio-blk: an indirect descriptor without the feature",
		"virtio-blk: a looping chain inside an indirect table",
		"virtio-blk: avail idx more than the queue size ahead",
		"virtio-blk: a descriptor table running past the end of RAM",
		"virtio-blk: after each break a reset and re-probe",
		"virtio-console: MagicValue 'virt', Version 2",
		"virtio-console: reset: Status reads 0",
		"virtio-console: FEATURES_OK accepted",
		"virtio-console: queues 0 and 1 set up",
		"virtio-console: DRIVER_OK",
		"virtio-console: transmitq: the line to the host comes back used",
		"virtio-console: receiveq: the host's answer arrives intact",
		"virtio-console: a burst of 2 MiB",
		"virtio-console: while the host does not read, the transmitq fills up",
		"virtio-console: a transmit descriptor outside RAM",
		"virtio-console: after reset, a looping transmit chain",
		"virtio-console: reset clears DEVICE_NEEDS_RESET",
		NULL,
	};
	int all = expect_ok_lines(out, expect);
	if (devices)
		all &= expect_ok_lines(out, expect_virtio);
	else if (!strstr(out, "# no virtio devices"))
		diag("missing the '# no virtio devices' line"), all = 0;
	if (!ok(all && !strstr(out, "not ok") && strstr(out, "# all checks passed"),
		"%u vCPU(s)%s: the serial log holds every expected ok line and no 'not ok'", cpus,
		devices ? " with devices" : ""))
		diag("serial log:\n%s", out);
	free(out);
	if (devices) {
		int fd = open(disk, O_RDONLY);
		ssize_t r = fd >= 0 ? read(fd, image, sizeof image) : -1;
		if (fd >= 0)
			close(fd);
		int same = r == (ssize_t)sizeof image;
		for (size_t i = 0; same && i < sizeof image; i++) {
			uint64_t s = i / 512;
			uint8_t want = s == BLK_SECTOR ? blk_pattern(BLK_SEED, (unsigned)(i % 512))
						       : disk_fill(i);
			if (image[i] != want) {
				diag("disk image byte %zu is 0x%02x, want 0x%02x", i, image[i], want);
				same = 0;
			}
		}
		ok(same, "disk image: sector %u holds the guest's pattern, every other byte is untouched",
		   BLK_SECTOR);
	}
}

int main(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		bail_out("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = 0;
	char *dir = dirname(self);
	snprintf(vmm, sizeof vmm, "%s/../bin/msb-vmm", dir);
	snprintf(guest, sizeof guest, "%s/../share/msb/testguest.elf", dir);

	int kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kfd < 0)
		skip_all("/dev/kvm is not usable here: %s", strerror(errno));
	int vmfd = ioctl(kfd, KVM_CREATE_VM, 0);
	if (ioctl(kfd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION || vmfd < 0)
		skip_all("/dev/kvm cannot create a VM");
	close(vmfd);
	close(kfd);
	if (access(vmm, X_OK) != 0 || access(guest, R_OK) != 0)
		bail_out("build %s and %s first", vmm, guest);
	signal(SIGPIPE, SIG_IGN);   /* a console peer that went away is a failed check */
	if (!mkdtemp(tmpdir))
		bail_out("mkdtemp: %s", strerror(errno));

	/* an initrd of pseudo-random bytes, not a multiple of the page size */
	static uint8_t rd[12345];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof rd; i++) {
		x = x * 1103515245u + 12345u;
		rd[i] = (uint8_t)(x >> 16);
	}
	char rdpath[PATH_MAX];
	snprintf(rdpath, sizeof rdpath, "%s/initrd", tmpdir);
	write_file(rdpath, rd, sizeof rd);

	boot_guest(1, rdpath, rd, sizeof rd, 0);
	boot_guest(2, rdpath, rd, sizeof rd, 0);
	boot_guest(2, rdpath, rd, sizeof rd, 1);

	/* ---- bad input ---- */
	char p[PATH_MAX], p2[PATH_MAX];
	int st = run_vmm((const char *const[]){ "--kernel", "/nonexistent/vmlinux", NULL });
	expect_exit("a missing kernel: non-zero exit, names the file", st, 64, "/nonexistent/vmlinux");

	st = run_vmm((const char *const[]){ "--memory", "64M", NULL });
	expect_exit("no --kernel: usage error", st, 64, "--kernel");

	snprintf(p, sizeof p, "%s/not-elf", tmpdir);
	write_file(p, "#!/bin/sh\necho hello\n", 21);
	st = run_vmm((const char *const[]){ "--kernel", p, NULL });
	expect_exit("a non-ELF kernel: non-zero exit, says so", st, 64, "not an ELF");

	write_file(p, "\177ELF", 4);
	st = run_vmm((const char *const[]){ "--kernel", p, NULL });
	expect_exit("a truncated ELF header: non-zero exit", st, 64, "not an ELF");

	st = run_vmm((const char *const[]){ "--kernel", guest, "--memory", "0", NULL });
	expect_exit("--memory 0: non-zero exit, says why", st, 64, "cannot be zero");

	st = run_vmm((const char *const[]){ "--kernel", guest, "--memory", "lots", NULL });
	expect_exit("--memory lots: non-zero exit", st, 64, "--memory");

	st = run_vmm((const char *const[]){ "--kernel", guest, "--cpus", "1000", NULL });
	expect_exit("--cpus 1000: non-zero exit", st, 64, "--cpus");

	st = run_vmm((const char *const[]){ "--kernel", guest, "--cpus", "0", NULL });
	expect_exit("--cpus 0: non-zero exit", st, 64, "--cpus");

	static const uint8_t hlt[] = { 0xf4 };
	snprintf(p, sizeof p, "%s/outside.elf", tmpdir);
	write_elf(p, 0x40000000, hlt, sizeof hlt);  /* 1 GiB, memory is 64 MiB */
	st = run_vmm((const char *const[]){ "--kernel", p, "--memory", "64M", NULL });
	expect_exit("an ELF segment outside guest memory: non-zero exit", st, 64,
		    "outside guest memory");

	write_elf(p, 0xfffffffffffff000ull, hlt, sizeof hlt);  /* paddr + memsz overflows */
	st = run_vmm((const char *const[]){ "--kernel", p, "--memory", "64M", NULL });
	expect_exit("an ELF segment whose end overflows: non-zero exit", st, 64,
		    "outside guest memory");

	write_elf(p, 0x1000, hlt, sizeof hlt);  /* over our low structures */
	st = run_vmm((const char *const[]){ "--kernel", p, "--memory", "64M", NULL });
	expect_exit("an ELF segment below 1 MiB: non-zero exit", st, 64, "outside guest memory");

	snprintf(p2, sizeof p2, "%s/unreadable-dir", tmpdir);
	mkdir(p2, 0755);
	st = run_vmm((const char *const[]){ "--kernel", guest, "--initrd", p2, NULL });
	expect_exit("an initrd that is a directory: non-zero exit", st, 64, "initrd");

	st = run_vmm((const char *const[]){ "--kernel", guest, "--initrd", "/nonexistent/rd", NULL });
	expect_exit("a missing initrd: non-zero exit, names it", st, 64, "/nonexistent/rd");

	char big[4096];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	st = run_vmm((const char *const[]){ "--kernel", guest, "--cmdline", big, NULL });
	expect_exit("a command line longer than 2047 bytes: non-zero exit", st, 64, "command line");

	/* ---- the guest's ways to end the VM ---- */
	static const uint8_t reset[] = { 0xb0, 0xfe, 0xe6, 0x64, 0xf4 };  /* out 0x64, 0xfe */
	write_elf(p, 0x100000, reset, sizeof reset);
	st = run_vmm((const char *const[]){ "--kernel", p, "--memory", "16M", NULL });
	expect_exit("i8042 reset (0xFE to port 0x64) ends the VM with 0", st, 0, NULL);

	/* mov dx, 0x501; mov al, 7; out dx, al */
	static const uint8_t dbg[] = { 0x66, 0xba, 0x01, 0x05, 0xb0, 0x07, 0xee, 0xf4 };
	write_elf(p, 0x100000, dbg, sizeof dbg);
	st = run_vmm((const char *const[]){ "--kernel", p, "--memory", "16M", NULL });
	expect_exit("debug exit port: the value written is the exit status", st, 7, NULL);

	static const uint8_t ud2[] = { 0x0f, 0x0b };  /* #UD with no IDT: triple fault */
	write_elf(p, 0x100000, ud2, sizeof ud2);
	st = run_vmm((const char *const[]){ "--kernel", p, "--memory", "16M", NULL });
	expect_exit("a triple fault ends the VM with status 80 and says so", st, 80,
		    "triple fault");
	/* Where: the ud2 at 0x100000 where KVM keeps the registers (Intel,
	 * PVM); on AMD KVM has reset the vCPU, and then the message must say
	 * that rather than print the reset vector as if the guest were there. */
	char *e = stderr_text();
	ok(strstr(e, "at rip 0x100000 ") ||
	   (strstr(e, "KVM reset the vCPU") && !strstr(e, "0xfff0")),
	   "the triple fault's message says where the guest was, or that KVM reset the vCPU");
	if (!strstr(e, "at rip 0x100000 "))
		diag("stderr: %s", e);
	free(e);


	/* ---- --detach with --agent-socket: the VM runs on in the background ---- */
	{
		static const uint8_t idle[] = { 0xf4, 0xeb, 0xfd };  /* hlt; jmp back */
		char sock[PATH_MAX], path[64], cmdline[256] = "";
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct ucred cr = { 0 };
		socklen_t crlen = sizeof cr;
		int fd = -1, alive = 0, gone = 0;

		write_elf(p, 0x100000, idle, sizeof idle);
		snprintf(sock, sizeof sock, "%s/agent.sock", tmpdir);
		double t0 = now();
		st = run_vmm((const char *const[]){ "--kernel", p, "--memory", "16M",
			"--agent-socket", sock, "--ports", "2", "--detach", NULL });
		ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && now() - t0 < 10,
		   "--detach: the process started exits 0 once the VM runs");
		strcpy(sa.sun_path, sock);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == 0 && cr.pid > 0) {
			snprintf(path, sizeof path, "/proc/%d/cmdline", (int)cr.pid);
			int cfd = open(path, O_RDONLY | O_CLOEXEC);
			if (cfd >= 0) {
				ssize_t got = read(cfd, cmdline, sizeof cmdline - 1);
				cmdline[got > 0 ? got : 0] = 0;
				close(cfd);
			}
		}
		ok(cr.pid > 0 && cr.pid != getpid() && !strcmp(cmdline, vmm),
		   "--detach: the socket's listener (SO_PEERCRED) is the msb-vmm running the VM");
		/* the guest has no port open: the client waits in the backlog;
		 * its going away does not end the VM */
		if (fd >= 0)
			close(fd);
		sleep_ms(300);
		alive = cr.pid > 0 && kill(cr.pid, 0) == 0;
		ok(alive, "--agent-socket: a client coming and going does not end the VM");
		if (cr.pid > 0) {
			kill(cr.pid, SIGKILL);
			for (int i = 0; i < 200 && !gone; i++) {
				char stat[256] = "";
				snprintf(path, sizeof path, "/proc/%d/stat", (int)cr.pid);
				int sfd = open(path, O_RDONLY | O_CLOEXEC);
				ssize_t got = sfd >= 0 ? read(sfd, stat, sizeof stat - 1) : 0;
				if (sfd >= 0)
					close(sfd);
				char *rp = got > 0 ? strrchr(stat, ')') : NULL;
				gone = !rp || rp[2] == 'Z';   /* reaped, or a zombie of init's */
				if (!gone)
					sleep_ms(10);
			}
		}
		ok(gone, "--detach: SIGKILL ends the background VM");

		st = run_vmm((const char *const[]){ "--kernel", "/nonexistent/vmlinux",
			"--agent-socket", sock, "--detach", NULL });
		expect_exit("--detach: a VM that cannot start: the process started says so, non-zero",
			    st, 64, "/nonexistent/vmlinux");
		st = run_vmm((const char *const[]){ "--kernel", guest, "--ports", "2", NULL });
		expect_exit("--ports without --agent-socket: usage error", st, 64, "--agent-socket");
		int csv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, csv) == 0) {   /* inherited */
			char fdarg[16];
			snprintf(fdarg, sizeof fdarg, "%d", csv[1]);
			st = run_vmm((const char *const[]){ "--kernel", guest, "--console-fd", fdarg,
				"--ports", "2", NULL });
			expect_exit("--console-fd with --ports 2: usage error", st, 64,
				    "--ports 1 with --console-fd");
			close(csv[0]);
			close(csv[1]);
		} else {
			ok(0, "socketpair: %s", strerror(errno));
		}
		st = run_vmm((const char *const[]){ "--kernel", guest, "--agent-socket", sock,
			"--ports", "17", NULL });
		expect_exit("--ports 17: usage error", st, 64, "--ports");
		st = run_vmm((const char *const[]){ "--kernel", guest, "--agent-socket", sock,
			"--console-socket", sock, NULL });
		expect_exit("--agent-socket with --console-socket: usage error", st, 64, "one of");
	}

	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		diag("could not remove %s", tmpdir);
	return done_testing();
}
