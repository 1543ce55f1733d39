/*
 * probe - a helper that the C tests run INSIDE sandboxes.
 *
 * The tests mount build/tests read-only into the sandbox (at /msb-tests)
 * and run /msb-tests/probe SUBCOMMAND. Each subcommand tries something and
 * prints a small, line-oriented answer that the test parses; errors are
 * printed as errno names ("EPERM"), successes as "OK ...". The probe never
 * decides whether the sandbox is secure: the tests do.
 *
 *   syscalls             try each syscall the sandbox must deny, each in a
 *                        child process; print "name ERRNO" (or "name OK")
 *   fds                  print "fd target" for every open fd but 0, 1, 2
 *   forkbomb MAX         fork children that wait, until fork fails or MAX;
 *                        print "forked N ERRNO", kill them, exit 0
 *   forkbomb-exp MS      a real fork bomb: every process forks in a loop
 *                        until MS milliseconds have passed, then exits;
 *                        the first process prints "failed-forks N" at the end
 *   membomb MAXMIB       malloc and touch 1 MiB chunks up to MAXMIB; print
 *                        "allocated N" to stdout after each chunk; on
 *                        failure print "ENOMEM after N" and exit 3
 *   spin [MS]            busy loop, forever or for MS milliseconds; then
 *                        print "spun CPU_MS WALL_MS"
 *   env                  print the environment, one entry a line
 *   uid                  print /proc/self/uid_map
 *   status               print "CapEff HEX", CapPrm, CapBnd, CapInh, CapAmb,
 *                        "NoNewPrivs N", "Seccomp N" from /proc/self/status,
 *                        plus "uid N" and "gid N"
 *   write PATH           create PATH (O_CREAT|O_EXCL) and write 1 byte;
 *                        print "OK" or the errno name
 *   put PATH DATA        open an existing PATH for writing (no O_CREAT)
 *                        and write DATA; print "OK" or the errno name
 *   writebig PATH MIB    write MIB MiB to PATH; print "OK" or errno name
 *   mkdir PATH           print "OK" or errno name
 *   read PATH            read up to 64 KiB; print "OK <bytes>" or errno name
 *   cat PATH             copy the file to stdout (errno name on failure)
 *   stat PATH            print "OK" or the errno name of stat()
 *   ls PATH              print the names in a directory, sorted, one a
 *                        line, without . and ..; or "ERR <errno name>"
 *   ps                   print "pid cmdline" for each process in /proc
 *   netdev               print the interface names in /proc/net/dev
 *   connect IP PORT      try a TCP connect (1 s); print "OK" or errno name
 *   sethostname NAME     print "OK" or errno name
 *   mknod PATH           try to make a char device (1,3); errno name
 *   kill PID SIG         print "OK" or errno name
 *   sleep MS             sleep, then print "slept"
 *   pid                  print getpid() and getppid()
 *   echo-stdin           copy stdin to stdout and print nothing else
 *   sys NAME [ARG...]    issue syscall NAME (a name from the table below or
 *                        a number) with up to 6 exact 64-bit arguments:
 *                        numbers (strtoull, base 0: 0x.., -100 is 2^64-100)
 *                        or @TEXT, a pointer to TEXT; missing ones are 0.
 *                        Print "OK <return value>" or the errno name. For
 *                        seccomp rules that compare arguments: libc
 *                        wrappers truncate to int, this does not.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef CLONE_NEWUSER
#define CLONE_NEWUSER 0x10000000
#endif
#ifndef CLONE_NEWNET
#define CLONE_NEWNET 0x40000000
#endif

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "EUNKNOWN";
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* syscalls: each attempt runs in a child; it returns 0 (allowed) or an
 * errno. Arguments are harmless: where the call could succeed it touches
 * nothing that matters, and the child exits right after. */

static int r(long ret)
{
	return ret < 0 ? errno : 0;
}

static int try_keyctl(void)
{
	return r(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
}
static int try_add_key(void)
{
	return r(syscall(SYS_add_key, "user", "msb-probe", "x", 1, -3));
}
static int try_request_key(void)
{
	return r(syscall(SYS_request_key, "user", "msb-probe", NULL, 0));
}
static int try_bpf(void)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	return r(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
}
static int try_perf_event_open(void)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.exclude_kernel = 1;
	return r(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
}
static int try_userfaultfd(void)
{
	return r(syscall(SYS_userfaultfd, O_CLOEXEC));
}
static int try_kexec_load(void)
{
	return r(syscall(SYS_kexec_load, 0, 0, NULL, 0));
}
static int try_init_module(void)
{
	static const char img[16];
	return r(syscall(SYS_init_module, img, sizeof img, ""));
}
static int try_finit_module(void)
{
	int fd = open("/dev/null", O_RDONLY);
	return r(syscall(SYS_finit_module, fd, "", 0));
}
static int try_delete_module(void)
{
	return r(syscall(SYS_delete_module, "msb_probe_no_such_module", 0));
}
static int try_open_by_handle_at(void)
{
	char buf[sizeof(struct file_handle) + 8];
	struct file_handle *h = (struct file_handle *)buf;
	memset(buf, 0, sizeof buf);
	h->handle_bytes = 8;
	return r(syscall(SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY));
}
static int try_mount(void)
{
	return r(syscall(SYS_mount, "none", "/msb-probe-no-such-dir", "tmpfs",
			 0, NULL));
}
static int try_umount2(void)
{
	return r(syscall(SYS_umount2, "/msb-probe-no-such-dir", 0));
}
static int try_unshare_user(void)
{
	return r(syscall(SYS_unshare, CLONE_NEWUSER));
}
static int try_setns(void)
{
	int fd = open("/proc/self/ns/uts", O_RDONLY);
	if (fd < 0)
		return errno;
	return r(syscall(SYS_setns, fd, CLONE_NEWUTS));
}
static int try_clone_flags(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(0);
	waitpid((pid_t)pid, NULL, 0);
	return 0;
}
static int try_clone_newuser(void)
{
	return try_clone_flags(CLONE_NEWUSER);
}
static int try_clone_newnet(void)
{
	return try_clone_flags(CLONE_NEWNET);
}
static int try_clone3(void)
{
	/* Allowed, clone3 with size 0 fails with EINVAL; the sandbox must
	 * answer ENOSYS so that libc falls back to clone (which the filter
	 * can inspect). */
	return r(syscall(SYS_clone3, NULL, 0));
}
static int try_io_uring_setup(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	return r(syscall(SYS_io_uring_setup, 1, &p));
}
static int try_ptrace(void)
{
	return r(ptrace(PTRACE_ATTACH, 1, NULL, NULL));
}
static int try_socket_vsock(void)
{
	return r(socket(AF_VSOCK, SOCK_STREAM, 0));
}

static int try_chroot(void)
{
	return r(syscall(SYS_chroot, "/tmp"));
}
static int try_pivot_root(void)
{
	return r(syscall(SYS_pivot_root, "/tmp", "/tmp"));
}
static int try_reboot(void)
{
	/* wrong magic: EINVAL if the call got that far */
	return r(syscall(SYS_reboot, 0, 0, 0, NULL));
}
static int try_syslog(void)
{
	static char buf[256];
	return r(syscall(SYS_syslog, 3 /* READ_ALL */, buf, (int)sizeof buf));
}
static int try_settimeofday(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return r(syscall(SYS_settimeofday, &tv, NULL));
}
static int try_swapon(void)
{
	return r(syscall(SYS_swapon, "/msb-probe-no-such-file", 0));
}
static int try_acct(void)
{
	return r(syscall(SYS_acct, NULL));
}

static const struct {
	const char *name;
	int (*fn)(void);
} attempts[] = {
	{"keyctl", try_keyctl},
	{"add_key", try_add_key},
	{"request_key", try_request_key},
	{"bpf", try_bpf},
	{"perf_event_open", try_perf_event_open},
	{"userfaultfd", try_userfaultfd},
	{"kexec_load", try_kexec_load},
	{"init_module", try_init_module},
	{"finit_module", try_finit_module},
	{"delete_module", try_delete_module},
	{"open_by_handle_at", try_open_by_handle_at},
	{"mount", try_mount},
	{"umount2", try_umount2},
	{"unshare_newuser", try_unshare_user},
	{"setns", try_setns},
	{"clone_newuser", try_clone_newuser},
	{"clone_newnet", try_clone_newnet},
	{"clone3", try_clone3},
	{"io_uring_setup", try_io_uring_setup},
	{"ptrace_attach", try_ptrace},
	{"socket_vsock", try_socket_vsock},
	{"chroot", try_chroot},
	{"pivot_root", try_pivot_root},
	{"reboot", try_reboot},
	{"syslog", try_syslog},
	{"settimeofday", try_settimeofday},
	{"swapon", try_swapon},
	{"acct", try_acct},
};

/* The initial user namespace has the identity map "0 0 4294967295". */
static int in_initial_userns(void)
{
	FILE *f = fopen("/proc/self/uid_map", "re");
	unsigned long a = 1, b = 1, c = 0;
	if (!f)
		return 0;
	int n = fscanf(f, "%lu %lu %lu", &a, &b, &c);
	fclose(f);
	return n == 3 && a == 0 && b == 0 && c == 4294967295ul;
}

static int cmd_syscalls(void)
{
	/* Some attempts (settimeofday, acct, chroot) would really act on a
	 * host: run them only inside a sandbox. */
	if (in_initial_userns() && !getenv("PROBE_ON_HOST")) {
		fprintf(stderr, "probe syscalls: refusing to run outside a "
			"user namespace (set PROBE_ON_HOST=1 to insist)\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
		int p[2];
		if (pipe(p) < 0)
			return 1;
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(p[0]);
			int e = attempts[i].fn();
			(void)!write(p[1], &e, sizeof e);
			_exit(0);
		}
		close(p[1]);
		int e = -1;
		ssize_t n = read(p[0], &e, sizeof e);
		close(p[0]);
		int st;
		waitpid(pid, &st, 0);
		if (n != (ssize_t)sizeof e) {
			if (WIFSIGNALED(st))
				printf("%s SIG%s\n", attempts[i].name,
				       sigabbrev_np(WTERMSIG(st)));
			else
				printf("%s NOANSWER\n", attempts[i].name);
		} else if (e == 0) {
			printf("%s OK\n", attempts[i].name);
		} else {
			printf("%s %s\n", attempts[i].name, ename(e));
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* sys: one raw syscall with exact arguments. */

static const struct {
	const char *name;
	long nr;
} sys_names[] = {
	{"socket", SYS_socket},
	{"ioctl", SYS_ioctl},
	{"clone", SYS_clone},
	{"chmod", SYS_chmod},
	{"fchmod", SYS_fchmod},
	{"fchmodat", SYS_fchmodat},
	{"open", SYS_open},
	{"openat", SYS_openat},
	{"creat", SYS_creat},
	{"mknod", SYS_mknod},
	{"mknodat", SYS_mknodat},
	{"personality", SYS_personality},
	{"mbind", SYS_mbind},
	{"set_mempolicy", SYS_set_mempolicy},
	{"get_mempolicy", SYS_get_mempolicy},
	{"migrate_pages", SYS_migrate_pages},
	{"move_pages", SYS_move_pages},
	{"set_mempolicy_home_node", 450},
};

static int cmd_sys(int argc, char **argv)
{
	long nr = -1;
	uint64_t arg[6] = {0};
	char *end;

	for (size_t i = 0; i < sizeof sys_names / sizeof sys_names[0]; i++)
		if (!strcmp(argv[0], sys_names[i].name))
			nr = sys_names[i].nr;
	if (nr < 0) {
		nr = strtol(argv[0], &end, 0);
		if (*end || nr < 0) {
			fprintf(stderr, "probe sys: unknown syscall %s\n", argv[0]);
			return 2;
		}
	}
	if (argc - 1 > 6) {
		fprintf(stderr, "probe sys: at most 6 arguments\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '@') {
			arg[i - 1] = (uint64_t)(uintptr_t)(argv[i] + 1);
			continue;
		}
		errno = 0;
		arg[i - 1] = strtoull(argv[i], &end, 0);
		if (errno || *end || end == argv[i]) {
			fprintf(stderr, "probe sys: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	pid_t self = getpid();
	long ret = syscall(nr, arg[0], arg[1], arg[2], arg[3], arg[4], arg[5]);
	int e = errno;
	if (getpid() != self) /* the child of a clone that was let through */
		_exit(0);
	if (ret < 0) {
		printf("%s\n", ename(e));
		return 0;
	}
	if (nr == SYS_clone && ret > 0)
		waitpid((pid_t)ret, NULL, __WALL);
	printf("OK %ld\n", ret);
	return 0;
}

/* ------------------------------------------------------------------ */

static int cmd_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		printf("ERR %s\n", ename(errno));
		return 1;
	}
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd <= 2 || fd == self)
			continue;
		char path[64], target[4096];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, target, sizeof target - 1);
		if (n < 0)
			snprintf(target, sizeof target, "?%s", ename(errno));
		else
			target[n] = '\0';
		printf("%d %s\n", fd, target);
	}
	closedir(d);
	return 0;
}

static int cmd_forkbomb(long max)
{
	pid_t *kids = calloc((size_t)max, sizeof *kids);
	long n = 0;
	int err = 0;
	if (!kids)
		return 2;
	while (n < max) {
		pid_t pid = fork();
		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			/* hold the slot until killed */
			for (;;)
				pause();
		}
		kids[n++] = pid;
	}
	printf("forked %ld %s\n", n, err ? ename(err) : "OK");
	fflush(stdout);
	for (long i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (long i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}

static int cmd_forkbomb_exp(long ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	pid_t top = getpid();
	long failed = 0;
	/* children must not keep the command's stdout open */
	int devnull = open("/dev/null", O_WRONLY);
	while (now_ms() < end) {
		pid_t pid = fork();
		if (pid < 0) {
			failed++;
			usleep(1000);
			continue;
		}
		if (pid == 0) {
			if (devnull >= 0) {
				dup2(devnull, 1);
				dup2(devnull, 2);
			}
			continue; /* the child bombs too */
		}
	}
	if (getpid() != top)
		_exit(0);
	/* reap what we can, briefly */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	printf("failed-forks %ld\n", failed);
	return 0;
}

static int cmd_membomb(long max_mib)
{
	long n = 0;
	for (; n < max_mib; n++) {
		char *p = malloc(1 << 20);
		if (!p) {
			printf("ENOMEM after %ld\n", n);
			fflush(stdout);
			return 3;
		}
		for (size_t i = 0; i < (1u << 20); i += 4096)
			p[i] = (char)i | 1;
		printf("allocated %ld\n", n + 1);
		fflush(stdout);
	}
	printf("survived %ld\n", n);
	return 0;
}

static int cmd_spin(long ms)
{
	uint64_t start = now_ms();
	uint64_t end = ms > 0 ? start + (uint64_t)ms : UINT64_MAX;
	while (now_ms() < end)
		for (int i = 0; i < 100000; i++)
			__asm__ volatile("" : : "r"(i) : "memory"); /* keep the loop */
	struct timespec cpu;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	printf("spun %llu %llu\n",
	       (unsigned long long)cpu.tv_sec * 1000 + (unsigned long long)cpu.tv_nsec / 1000000,
	       (unsigned long long)(now_ms() - start));
	return 0;
}

static int cmd_env(void)
{
	extern char **environ;
	for (char **e = environ; *e; e++)
		printf("%s\n", *e);
	return 0;
}

static int copy_file(const char *path, int quiet_missing)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (!quiet_missing)
			printf("%s\n", ename(errno));
		return 1;
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return 0;
}

static int cmd_status(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f) {
		printf("ERR %s\n", ename(errno));
		return 1;
	}
	char line[512];
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "CapPrm:", 7) ||
		    !strncmp(line, "CapBnd:", 7) || !strncmp(line, "CapAmb:", 7) ||
		    !strncmp(line, "CapInh:", 7) ||
		    !strncmp(line, "NoNewPrivs:", 11) ||
		    !strncmp(line, "Seccomp:", 8)) {
			/* "Name:\tvalue" -> "Name value" */
			char *colon = strchr(line, ':');
			char *v = colon + 1;
			*colon = '\0';
			v += strspn(v, " \t");
			printf("%s %s", line, v);
		}
	}
	fclose(f);
	printf("uid %u\ngid %u\n", (unsigned)getuid(), (unsigned)getgid());
	return 0;
}

static int cmd_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		printf("%s\n", ename(errno));
		return 0;
	}
	if (write(fd, "x", 1) != 1) {
		printf("%s\n", ename(errno));
		close(fd);
		return 0;
	}
	close(fd);
	printf("OK\n");
	return 0;
}

static int cmd_writebig(const char *path, long mib)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		printf("%s\n", ename(errno));
		return 0;
	}
	static char buf[1 << 20];
	memset(buf, 'm', sizeof buf);
	for (long i = 0; i < mib; i++) {
		size_t off = 0;
		while (off < sizeof buf) {
			ssize_t n = write(fd, buf + off, sizeof buf - off);
			if (n < 0) {
				printf("%s after %ld\n", ename(errno), i);
				close(fd);
				return 0;
			}
			off += (size_t)n;
		}
	}
	if (close(fd) < 0) {
		printf("%s at close\n", ename(errno));
		return 0;
	}
	printf("OK\n");
	return 0;
}

static int cmd_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("%s\n", ename(errno));
		return 0;
	}
	static char buf[65536];
	size_t total = 0;
	while (total < sizeof buf) {
		ssize_t n = read(fd, buf + total, sizeof buf - total);
		if (n < 0) {
			printf("%s after %zu\n", ename(errno), total);
			close(fd);
			return 0;
		}
		if (n == 0)
			break;
		total += (size_t)n;
	}
	close(fd);
	printf("OK %zu\n", total);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_ls(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		printf("ERR %s\n", ename(errno));
		return 0;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof *names);
			if (!nn)
				return 2;
			names = nn;
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		printf("%s\n", names[i]);
		free(names[i]);
	}
	free(names);
	return 0;
}

static int cmd_ps(void)
{
	DIR *d = opendir("/proc");
	if (!d) {
		printf("ERR %s\n", ename(errno));
		return 1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300], buf[1024];
		snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof buf - 1);
		if (fd >= 0)
			close(fd);
		if (n < 0)
			n = 0;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		while (n > 0 && buf[n - 1] == ' ')
			n--;
		buf[n] = '\0';
		printf("%s %s\n", e->d_name, buf);
	}
	closedir(d);
	return 0;
}

static int cmd_netdev(void)
{
	FILE *f = fopen("/proc/net/dev", "re");
	if (!f) {
		printf("ERR %s\n", ename(errno));
		return 1;
	}
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue; /* the two header lines */
		*colon = '\0';
		char *name = line;
		while (*name == ' ')
			name++;
		printf("%s\n", name);
	}
	fclose(f);
	return 0;
}

static int cmd_connect(const char *ip, int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		printf("%s\n", ename(errno));
		return 0;
	}
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		printf("EINVAL\n");
		return 0;
	}
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
		printf("OK\n");
		return 0;
	}
	if (errno != EINPROGRESS) {
		printf("%s\n", ename(errno));
		return 0;
	}
	struct pollfd pfd = {.fd = s, .events = POLLOUT};
	if (poll(&pfd, 1, 1000) == 0) {
		printf("ETIMEDOUT\n");
		return 0;
	}
	int err = 0;
	socklen_t len = sizeof err;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
	printf("%s\n", err ? ename(err) : "OK");
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: probe SUBCOMMAND [ARGS] (see probe.c)\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return usage();
	const char *c = argv[1];
	const char *a = argc > 2 ? argv[2] : NULL;
	const char *b = argc > 3 ? argv[3] : NULL;

	if (!strcmp(c, "syscalls"))
		return cmd_syscalls();
	if (!strcmp(c, "fds"))
		return cmd_fds();
	if (!strcmp(c, "forkbomb"))
		return cmd_forkbomb(a ? atol(a) : 100000);
	if (!strcmp(c, "forkbomb-exp"))
		return cmd_forkbomb_exp(a ? atol(a) : 2000);
	if (!strcmp(c, "membomb"))
		return cmd_membomb(a ? atol(a) : 4096);
	if (!strcmp(c, "spin"))
		return cmd_spin(a ? atol(a) : 0);
	if (!strcmp(c, "env"))
		return cmd_env();
	if (!strcmp(c, "uid"))
		return copy_file("/proc/self/uid_map", 0);
	if (!strcmp(c, "status"))
		return cmd_status();
	if (!strcmp(c, "pid")) {
		printf("%d %d\n", (int)getpid(), (int)getppid());
		return 0;
	}
	if (!strcmp(c, "echo-stdin")) {
		char buf[65536];
		ssize_t n;
		while ((n = read(0, buf, sizeof buf)) > 0)
			if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
				return 1;
		return 0;
	}
	if (!strcmp(c, "sleep") && a) {
		usleep((useconds_t)atol(a) * 1000);
		printf("slept\n");
		return 0;
	}
	if (!strcmp(c, "ps"))
		return cmd_ps();
	if (!strcmp(c, "sys") && a)
		return cmd_sys(argc - 2, argv + 2);
	if (!strcmp(c, "netdev"))
		return cmd_netdev();
	if (!a)
		return usage();
	if (!strcmp(c, "write"))
		return cmd_write(a);
	if (!strcmp(c, "put") && b) {
		int fd = open(a, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, b, strlen(b)) < 0)
			printf("%s\n", ename(errno));
		else
			printf("OK\n");
		return 0;
	}
	if (!strcmp(c, "writebig") && b)
		return cmd_writebig(a, atol(b));
	if (!strcmp(c, "mkdir")) {
		printf("%s\n", mkdir(a, 0755) ? ename(errno) : "OK");
		return 0;
	}
	if (!strcmp(c, "read"))
		return cmd_read(a);
	if (!strcmp(c, "cat"))
		return copy_file(a, 0);
	if (!strcmp(c, "stat")) {
		struct stat st;
		printf("%s\n", lstat(a, &st) ? ename(errno) : "OK");
		return 0;
	}
	if (!strcmp(c, "ls"))
		return cmd_ls(a);
	if (!strcmp(c, "connect") && b)
		return cmd_connect(a, atoi(b));
	if (!strcmp(c, "sethostname")) {
		printf("%s\n", sethostname(a, strlen(a)) ? ename(errno) : "OK");
		return 0;
	}
	if (!strcmp(c, "mknod")) {
		printf("%s\n", mknod(a, S_IFCHR | 0666, makedev(1, 3))
				       ? ename(errno) : "OK");
		return 0;
	}
	if (!strcmp(c, "kill") && b) {
		printf("%s\n", kill(atoi(a), atoi(b)) ? ename(errno) : "OK");
		return 0;
	}
	return usage();
}
