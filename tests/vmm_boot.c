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
#include <sys/ioctl.h>
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

/* Run msb-vmm with argv (NULL-terminated, without argv[0]); stderr goes
 * to tmpdir/stderr. Returns the wait status (or -1 on a timeout). */
static int run_vmm(const char *const *args)
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
	for (int i = 0; i < 600; i++) { /* 30 s: a hang is a failure, not a benchmark */
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
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

static void boot_guest(unsigned cpus, const char *initrd, const uint8_t *rd, size_t rdn,
		       int devices)
{
	char cmdline[1024], log[PATH_MAX], cpus_s[16], disk[PATH_MAX], sock[PATH_MAX];
	const char *token = "hello-msb-42";
	snprintf(cmdline, sizeof cmdline,
		 "console=ttyS0 msbtest.token=%s msbtest.token_sum=%x msbtest.mem=%llu "
		 "msbtest.cpus=%u msbtest.initrd_size=%zu msbtest.initrd_sum=%x",
		 token, fnv1a((const uint8_t *)token, strlen(token)), 64ull << 20, cpus, rdn,
		 fnv1a(rd, rdn));
	snprintf(log, sizeof log, "%s/serial-%u-%d.log", tmpdir, cpus, devices);
	snprintf(cpus_s, sizeof cpus_s, "%u", cpus);
	snprintf(disk, sizeof disk, "%s/disk.img", tmpdir);
	snprintf(sock, sizeof sock, "%s/console-%u.sock", tmpdir, cpus);
	if (devices) {
		static uint8_t zero[64 << 10];
		write_file(disk, zero, sizeof zero);
	}
	int st = devices ?
		run_vmm((const char *const[]){ "--kernel", guest, "--initrd", initrd,
					       "--cmdline", cmdline, "--memory", "64M",
					       "--cpus", cpus_s, "--serial-log", log,
					       "--disk", disk, "--console-socket", sock, NULL }) :
		run_vmm((const char *const[]){ "--kernel", guest, "--initrd", initrd,
					       "--cmdline", cmdline, "--memory", "64M",
					       "--cpus", cpus_s, "--serial-log", log, NULL });
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
		"announces every vCPU", NULL,
	};
	int all = 1;
	for (const char *const *e = expect; *e; e++) {
		char *line = strstr(out, *e);
		/* the line holding it must start with "ok " */
		while (line && line > out && line[-1] != '\n')
			line--;
		if (!line || strncmp(line, "ok ", 3) != 0) {
			diag("missing an ok line for '%s'", *e);
			all = 0;
		}
	}
	if (!ok(all && !strstr(out, "not ok") && strstr(out, "# all checks passed"),
		"%u vCPU(s): the serial log holds every expected ok line and no 'not ok'", cpus))
		diag("serial log:\n%s", out);
	free(out);
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

	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		diag("could not remove %s", tmpdir);
	return done_testing();
}
