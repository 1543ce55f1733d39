/*
 * main.c - msb-vmm: one KVM microVM per process.
 *
 *   msb-vmm --kernel FILE [--initrd FILE | --init FILE] [--cmdline STR]
 *           [--memory SIZE] [--cpus N] [--disk FILE[:ro]]
 *           [--console-socket PATH | --console-fd N [--ports 1] |
 *            --agent-socket PATH [--ports N]] [--serial-log FILE] [--detach]
 *
 * Exit status:
 *   0       the guest ended cleanly (debug exit port value 0, i8042 reset),
 *           or the host closed the --console-fd connection; with --detach,
 *           the VM is running in the background (its process is the
 *           listener of --agent-socket: SO_PEERCRED names it)
 *   1..63   the guest wrote that value to the debug exit port (0x501)
 *   64      bad usage or bad input (missing/non-ELF kernel, bad sizes, ...)
 *   70      the VMM or KVM failed (including an unexpected KVM exit)
 *   80      the guest triple-faulted
 *   81      the boot vCPU halted with nothing to wake it (no irqchip)
 * Diagnostics go to stderr as one "msb-vmm: ..." line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "error.h"
#include "vmm.h"
#include "virtio.h"

/* Where the virtio-mmio devices go: above RAM (at most 3 GiB), IRQs 5 up. */
#define VIRTIO_BASE 0xd0000000ull
#define VIRTIO_IRQ 5


#define EXIT_USAGE 64
#define EXIT_VMM   70

#define DEFAULT_MEM   (256ull << 20)
#define MAX_MEM       (3ull << 30)   /* below the MMIO window; no RAM hole yet */
#define MAX_CPUS      32
#define SERIAL_CAP    (1ull << 20)
#define DEFAULT_PORTS 4

static void usage(FILE *f)
{
	fprintf(f,
		"usage: msb-vmm --kernel FILE [--initrd FILE | --init FILE] [--cmdline STR]\n"
		"               [--memory SIZE] [--cpus N] [--disk FILE[:ro]]\n"
		"               [--console-socket PATH | --console-fd N [--ports 1] |\n"
		"                --agent-socket PATH [--ports N]] [--serial-log FILE] [--detach]\n"
		"  --kernel FILE        an uncompressed x86-64 vmlinux (ELF), booted in 64-bit mode\n"
		"  --initrd FILE        an initramfs, placed high in guest memory\n"
		"  --init FILE          boot an initramfs that holds just FILE as /init\n"
		"  --cmdline STR        the kernel command line (at most 2047 bytes)\n"
		"  --memory SIZE        guest RAM: a number of MiB, or with a K, M or G suffix\n"
		"                       (default 256M, 4M..3G)\n"
		"  --cpus N             vCPUs, 1..%d (default 1)\n"
		"  --disk FILE[:ro]     a virtio-blk disk image\n"
		"  --console-socket P   connect virtio-console to the unix socket P (listens;\n"
		"                       one client at a time)\n"
		"  --console-fd N       connect virtio-console to the connected socket N; when\n"
		"                       its host end closes, the VM ends (status 0)\n"
		"  --agent-socket P     a multiport virtio-console: listen on the unix socket P\n"
		"                       and give each connection a port of its own (the guest's\n"
		"                       /dev/vportXp1..N); clients come and go, the VM stays\n"
		"  --ports N            how many ports --agent-socket has, 1..%d (default %d);\n"
		"                       more connections wait until a port is free; with\n"
		"                       --console-fd, --ports 1 puts the socket on port 1\n"
		"                       (/dev/vportXp1: faster than hvc0, not a tty)\n"
		"  --serial-log FILE    where the 8250 serial output goes (default stderr),\n"
		"                       capped at 1 MiB\n"
		"  --detach             run the VM in the background: exit 0 once it runs (or\n"
		"                       with the failure status if it cannot start)\n",
		MAX_CPUS, VIRTIO_CONSOLE_MAX_PORTS, DEFAULT_PORTS);
}

static int die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "msb-vmm: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'msb-vmm --help'.\n");
	return EXIT_USAGE;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	unsigned shift = 20;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: return -1;
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end)
			return -1;
	}
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/*
 * The seccomp allow-list for the running VMM (installed on every thread
 * with TSYNC before the guest runs). Anything else kills the process.
 * MSB_VMM_SECCOMP=log logs instead of killing (for finding a missing
 * syscall), =off disables the filter (debugging only).
 */
static int install_seccomp(void)
{
	const char *mode = getenv("MSB_VMM_SECCOMP");
	if (mode && strcmp(mode, "off") == 0)
		return 0;
	uint32_t deflt = (mode && strcmp(mode, "log") == 0) ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return vmm_fail(errno, "PR_SET_NO_NEW_PRIVS");
	scmp_filter_ctx ctx = seccomp_init(deflt);
	if (!ctx)
		return vmm_fail(ENOMEM, "seccomp_init");
	int rc = 0;
	rc |= seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
#define ALLOW(name) rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), 0)
	/* vCPU threads: KVM_RUN; devices: KVM_IRQ_LINE; triple-fault report: GET_(S)REGS */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			       SCMP_A1(SCMP_CMP_EQ, KVM_RUN));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			       SCMP_A1(SCMP_CMP_EQ, KVM_IRQ_LINE));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			       SCMP_A1(SCMP_CMP_EQ, KVM_GET_REGS));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			       SCMP_A1(SCMP_CMP_EQ, KVM_GET_SREGS));
	ALLOW(read);            /* console socket, disk */
	ALLOW(write);           /* serial log, console socket, diagnostics */
	ALLOW(readv);           /* stdio, socket I/O */
	ALLOW(writev);
	ALLOW(pread64);         /* virtio-blk */
	ALLOW(pwrite64);
	ALLOW(preadv);
	ALLOW(pwritev);
	ALLOW(fsync);           /* virtio-blk flush */
	ALLOW(fdatasync);
	ALLOW(lseek);           /* stdio */
	ALLOW(accept4);         /* virtio-console: the host's connection */
	ALLOW(accept);
	ALLOW(recvfrom);        /* virtio-console socket */
	ALLOW(sendto);
	ALLOW(recvmsg);
	ALLOW(sendmsg);
	ALLOW(poll);            /* device event loops */
	ALLOW(ppoll);
	ALLOW(epoll_wait);
	ALLOW(epoll_pwait);
	ALLOW(epoll_ctl);
	ALLOW(futex);           /* pthread mutexes and condvars */
	ALLOW(tgkill);          /* pthread_kill: kick a vCPU out of KVM_RUN */
	ALLOW(getpid);          /* pthread_kill */
	ALLOW(gettid);
	ALLOW(rt_sigreturn);    /* return from the SIGUSR1 kick */
	ALLOW(rt_sigprocmask);  /* pthread internals */
	ALLOW(sigaltstack);     /* thread exit under ASan */
	ALLOW(madvise);         /* malloc trimming; thread stacks on exit */
	ALLOW(mmap);            /* malloc */
	ALLOW(munmap);
	ALLOW(mprotect);        /* malloc arenas */
	ALLOW(brk);             /* malloc */
	ALLOW(clock_gettime);   /* timing (vDSO fallback) */
	ALLOW(clock_nanosleep);
	ALLOW(nanosleep);
	ALLOW(sched_yield);
	ALLOW(close);           /* teardown */
	ALLOW(fstat);           /* stdio */
	ALLOW(newfstatat);
	ALLOW(exit);            /* vCPU threads end */
	ALLOW(exit_group);      /* the process ends */
#undef ALLOW
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc)
		return vmm_fail(rc < 0 ? -rc : EINVAL, "installing the seccomp filter");
	return 0;
}

/*
 * --detach: fork before anything else exists (a VM belongs to the process
 * that created it), and let the parent wait until the child reports that
 * the VM runs, so that its exit status means "running" or "failed". The
 * child, in a session of its own, is the VMM: it binds and listens on
 * --agent-socket itself, so that SO_PEERCRED on a connection names it.
 */
static int detach_start(int *ready_fd)
{
	int p[2], st;
	pid_t pid;
	ssize_t n;
	char ch;

	if (pipe2(p, O_CLOEXEC) < 0)
		return vmm_fail(errno, "--detach: pipe");
	pid = fork();
	if (pid < 0)
		return vmm_fail(errno, "--detach: fork");
	if (pid == 0) {
		close(p[0]);
		setsid();
		*ready_fd = p[1];
		return 0;
	}
	close(p[1]);
	do
		n = read(p[0], &ch, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(0);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : EXIT_VMM);
}

/* --console-fd: the host end is gone, so nobody can use this VM any more. */
static void host_hangup(void *vm)
{
	vm_request_exit(vm, 0);
}

int main(int argc, char **argv)
{
	const char *kernel = NULL, *initrd = NULL, *cmdline = "", *serial_log = NULL;
	const char *disk = NULL, *console_socket = NULL, *init = NULL, *agent_socket = NULL;
	int console_fd = -1, detach = 0, ready_fd = -1;
	unsigned long ports = 0;
	char initrd_path[64];
	uint64_t mem = DEFAULT_MEM;
	unsigned long cpus = 1;

	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'n' },
		{ "disk", required_argument, NULL, 'd' },
		{ "console-socket", required_argument, NULL, 's' },
		{ "console-fd", required_argument, NULL, 'f' },
		{ "init", required_argument, NULL, 'I' },
		{ "serial-log", required_argument, NULL, 'l' },
		{ "agent-socket", required_argument, NULL, 'a' },
		{ "ports", required_argument, NULL, 'p' },
		{ "detach", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': kernel = optarg; break;
		case 'i': initrd = optarg; break;
		case 'c': cmdline = optarg; break;
		case 'm':
			if (parse_size(optarg, &mem) < 0)
				return die_usage("--memory '%s': expected a size such as 512M or 1G", optarg);
			if (mem == 0)
				return die_usage("--memory '%s': guest memory cannot be zero", optarg);
			if (mem < (4ull << 20) || mem > MAX_MEM)
				return die_usage("--memory '%s': must be between 4M and 3G", optarg);
			if (mem % 4096)
				return die_usage("--memory '%s': must be a multiple of 4 KiB", optarg);
			break;
		case 'n': {
			char *end;
			errno = 0;
			cpus = strtoul(optarg, &end, 10);
			if (errno || *optarg < '0' || *optarg > '9' || *end || cpus < 1 || cpus > MAX_CPUS) {
				fprintf(stderr, "msb-vmm: --cpus '%s': expected a number from 1 to %d\n",
					optarg, MAX_CPUS);
				return EXIT_USAGE;
			}
			break;
		}
		case 'd': disk = optarg; break;
		case 's': console_socket = optarg; break;
		case 'I': init = optarg; break;
		case 'f': {
			char *end;
			long v;
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *optarg < '0' || *optarg > '9' || *end || v < 3 || v > 65535 ||
			    fcntl((int)v, F_GETFD) < 0)
				return die_usage("--console-fd '%s': expected an open file descriptor (3 or above)", optarg);
			console_fd = (int)v;
			break;
		}
		case 'l': serial_log = optarg; break;
		case 'a': agent_socket = optarg; break;
		case 'p': {
			char *end;
			errno = 0;
			ports = strtoul(optarg, &end, 10);
			if (errno || *optarg < '0' || *optarg > '9' || *end || ports < 1 ||
			    ports > VIRTIO_CONSOLE_MAX_PORTS) {
				fprintf(stderr, "msb-vmm: --ports '%s': expected a number from 1 to %d\n",
					optarg, VIRTIO_CONSOLE_MAX_PORTS);
				return EXIT_USAGE;
			}
			break;
		}
		case 'D': detach = 1; break;
		case 'h': usage(stdout); return 0;
		default:
			if (optopt)
				fprintf(stderr, "msb-vmm: option '%s' needs an argument\n", argv[optind - 1]);
			else
				fprintf(stderr, "msb-vmm: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return die_usage("unexpected argument '%s'", argv[optind]);
	if (!kernel)
		return die_usage("%s", "--kernel FILE is required");
	if (init && initrd)
		return die_usage("%s", "give --initrd or --init, not both");
	if ((console_socket != NULL) + (console_fd >= 0) + (agent_socket != NULL) > 1)
		return die_usage("%s", "give one of --console-socket, --console-fd and --agent-socket");
	if (ports && !agent_socket && !(console_fd >= 0 && ports == 1))
		return die_usage("%s", "--ports goes with --agent-socket (or --ports 1 with --console-fd)");
	if (agent_socket && !ports)
		ports = DEFAULT_PORTS;
	if (console_fd >= 0) {
		int type = 0;
		socklen_t len = sizeof(type);
		if (getsockopt(console_fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
			return die_usage("%s", "--console-fd: not a stream socket");
		fcntl(console_fd, F_SETFD, FD_CLOEXEC);
	}
	if (init) {
		int fd = initramfs_build(init);
		if (fd < 0) {
			fprintf(stderr, "msb-vmm: %s\n", vmm_error());
			return EXIT_USAGE;
		}
		snprintf(initrd_path, sizeof(initrd_path), "/proc/self/fd/%d", fd);
		initrd = initrd_path;
	}

	if (detach && detach_start(&ready_fd) < 0) {
		fprintf(stderr, "msb-vmm: %s\n", vmm_error());
		return EXIT_VMM;
	}

	int log_fd = STDERR_FILENO;
	if (serial_log) {
		log_fd = open(serial_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
		if (log_fd < 0) {
			fprintf(stderr, "msb-vmm: --serial-log %s: %s\n", serial_log, strerror(errno));
			return EXIT_USAGE;
		}
	}

	struct vm *vm = NULL;
	if (vm_create(&vm, mem, (unsigned)cpus) < 0) {
		fprintf(stderr, "msb-vmm: cannot create the VM: %s\n", vmm_error());
		return EXIT_VMM;
	}
	/* The virtio devices, above the top of RAM (capped at 3 GiB), each
	 * announced on the command line as virtio_mmio.device=SIZE@ADDR:IRQ. */
	char full_cmdline[4096], token[128];
	if (snprintf(full_cmdline, sizeof(full_cmdline), "%s", cmdline) >= (int)sizeof(full_cmdline)) {
		fprintf(stderr, "msb-vmm: --cmdline is too long\n");
		vm_destroy(vm);
		return EXIT_USAGE;
	}
	if (disk || console_socket || console_fd >= 0 || agent_socket) {
		uint64_t base = VIRTIO_BASE;
		unsigned irq = VIRTIO_IRQ;
		struct virtio_dev *vd;

		if (disk) {
			char path[4096];
			int ro = 0;
			size_t n = strlen(disk);

			snprintf(path, sizeof(path), "%s", disk);
			if (n > 3 && !strcmp(path + n - 3, ":ro")) {
				path[n - 3] = '\0';
				ro = 1;
			}
			struct virtio_blk *b = virtio_blk_create(path, ro);
			if (!b || !(vd = virtio_mmio_create(vm, NULL, base, irq, virtio_blk_ops(b), b))) {
				fprintf(stderr, "msb-vmm: --disk %s: %s\n", disk, vmm_error());
				vm_destroy(vm);
				return EXIT_USAGE;
			}
			virtio_mmio_cmdline(vd, token, sizeof(token));
			strncat(full_cmdline, " ", sizeof(full_cmdline) - strlen(full_cmdline) - 1);
			strncat(full_cmdline, token, sizeof(full_cmdline) - strlen(full_cmdline) - 1);
			base += VIRTIO_MMIO_SIZE;
			irq++;
		}
		if (console_socket || console_fd >= 0 || agent_socket) {
			const char *what = console_socket ? console_socket :
					   agent_socket ? agent_socket : "(--console-fd)";
			struct virtio_console *con =
				console_socket ? virtio_console_create(console_socket) :
				agent_socket ? virtio_console_create_ports(agent_socket, (unsigned)ports) :
					       virtio_console_create_fd(console_fd, (unsigned)ports);
			if (!con || !(vd = virtio_mmio_create(vm, NULL, base, irq,
							      virtio_console_dev_ops(con), con))) {
				fprintf(stderr, "msb-vmm: --console %s: %s\n", what, vmm_error());
				vm_destroy(vm);
				return EXIT_USAGE;
			}
			virtio_console_attach(con, vd);
			if (console_fd >= 0)
				virtio_console_on_hangup(con, host_hangup, vm);
			if (virtio_console_start(con) < 0) {
				fprintf(stderr, "msb-vmm: --console %s: %s\n", what, vmm_error());
				vm_destroy(vm);
				return EXIT_VMM;
			}
			virtio_mmio_cmdline(vd, token, sizeof(token));
			strncat(full_cmdline, " ", sizeof(full_cmdline) - strlen(full_cmdline) - 1);
			strncat(full_cmdline, token, sizeof(full_cmdline) - strlen(full_cmdline) - 1);
		}
	}
	struct boot_out bo;
	if (boot_setup(vm_mem(vm), (unsigned)cpus, kernel, initrd, full_cmdline, &bo) < 0) {
		fprintf(stderr, "msb-vmm: %s\n", vmm_error());
		vm_destroy(vm);
		return EXIT_USAGE;
	}
	if (serial_init(vm, log_fd, SERIAL_CAP) < 0 ||
	    vm_set_boot_cpu(vm, bo.rip, bo.rsi, bo.cr3, bo.gdt_base, bo.gdt_limit) < 0 ||
	    vm_start(vm) < 0) {
		fprintf(stderr, "msb-vmm: %s\n", vmm_error());
		vm_destroy(vm);
		return EXIT_VMM;
	}
	if (install_seccomp() < 0) {
		fprintf(stderr, "msb-vmm: %s\n", vmm_error());
		vm_destroy(vm);
		return EXIT_VMM;
	}
	if (ready_fd >= 0) {
		/* the VM runs: the process that was started may go */
		ssize_t w = write(ready_fd, "1", 1);

		(void)w;
		close(ready_fd);
	}
	int status = EXIT_VMM;
	const char *reason = "";
	vm_run(vm, &status, &reason);
	serial_flush();
	if (status != 0)
		fprintf(stderr, "msb-vmm: guest ended with status %d: %s\n", status, reason);
	/* the process ends here: the kernel reclaims the VM (no munmap/close
	 * needed under the filter) */
	_exit(status);
}
