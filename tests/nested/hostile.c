/*
 * hostile.c - the hostile-guest test's checker: in L1, where /dev/kvm
 * works, it boots msb-vmm with the hostile guest (hostile_guest.c, root in
 * the microVM attacking msb-vmm's devices; what the two agree on:
 * hostile.h) and checks that msb-vmm survives or exits cleanly and that
 * its host is unaffected.  TAP on stdout:
 *   hostile [--runs N] [--seed S] [--cpus N] [--vmm PATH] [--kernel PATH]
 *           [--l2-initrd PATH] [--guest PATH] [--keep] [--guest-args ARGS]
 * (HOSTILE_CPUS=N and HOSTILE_GUEST_ARGS=ARGS in the environment set the
 * defaults of --cpus and --guest-args; --guest defaults to hostile_guest
 * beside this program).  hostile.serial_kib=N in the guest arguments
 * shortens phase 6 to N KiB: below the cap, that check is a SKIP.
 * Each run makes an IMG_BYTES image in /tmp, starts msb-vmm (GUEST_MEM,
 * 2 vCPUs (--cpus), the image, a socketpair as --console-fd, the guest as
 * --init, hostile.seed=S on the command line: a run's garbage follows from
 * its seed) and checks (RUN_CHECKS, then one per check of the guest):
 * the flood comes, and msb-vmm's memory stays far below the guest's while
 * nobody reads it (it must not buffer the flood); the flood arrives
 * complete and in order; the forged transmit chain's marker arrives;
 * msb-vmm exits 0 through the guest's reboot (a signal, or status 70
 * caused by the guest, is a VMM bug); its peak memory stays below guest
 * memory + RSS_MARGIN_KB and its anonymous memory small; the image keeps
 * its size and holds exactly what the guest wrote; the serial log reports
 * every phase (phase 3 may SKIP) and the devices' NEEDS_RESET status, and
 * stops at its cap; every check of the guest passed; and afterwards a
 * fresh msb-vmm boots the normal L2 init (tests/nested/l2init.c) and exits
 * 0.  The guest's report lines are copied to the TAP stream as comments as
 * they come (so they survive L1 dying); should the flood stall, msb-vmm's
 * threads and the console rings' indices (read from guest memory) follow.
 * Every wait is bounded; msb-vmm is killed on a timeout; on a failure the
 * serial log's and msb-vmm's stderr's tails follow as "# " lines.  Exit
 * status 0 when every check passed, 1 otherwise.
 *
 * HOSTILE_RETRY_L0_FAULT=1 (make test-nested sets it): a failed try whose
 * guest triple-faulted with the emulator's signature (KVM reset the vCPU
 * at the shutdown intercept, as QEMU's nested SVM does now and then at
 * random points of a run, not at msb-vmm's) is reported in "# " lines and
 * the whole test runs once more; only the last try's TAP counts.  A
 * second fault, or any other failure, fails as it is.
 *
 *   tests/nested/run --tap --timeout 600 -- hostile
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "hostile.h"
#include "nested.h"

#define RUN_CHECKS     13
#define BOOT_MS        150000   /* msb-vmm started -> the flood begins */
#define STALL_MS       3000     /* the host does not read */
#define PROGRESS_MS    60000    /* the flood stops moving this long: failed */
#define END_MS         420000   /* flood read -> msb-vmm has exited (phase 6 is slow) */
#define FRESH_MS       90000    /* the fresh boot, each step */
#define SAMPLE_MS      100
#define RSS_MARGIN_KB  (32u << 10)
#define STALL_RSS_KB   ((unsigned long long)(GUEST_MEM >> 10) / 2)
#define ANON_MAX_KB    (32u << 10)

static const char *vmm_path = "/usr/libexec/msb/msb-vmm";
static const char *kernel_path = "/usr/share/msb/vmlinux";
static const char *l2_initrd = "/usr/share/msb/nested/l2-initrd.gz";
static char guest_path[4096];   /* --guest, or hostile_guest beside us */
static const char *guest_args;
/* 2 by default; 1 avoids the emulated platform's trouble with two (see
 * `both' and stall_report) */
static char vm_cpus[8] = "2";
static char tmpdir[] = "/tmp/msb-hostile.XXXXXX";

static void skip(const char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	printf("ok %d - ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", why);
	fflush(stdout);
}

static void show_tail(const char *what, const char *path, int lines)
{
	size_t len;
	char *s = slurp(path, &len), *p;
	int n = 0;

	if (!s) {
		diag("%s (%s): cannot read it: %s", what, path, strerror(errno));
		return;
	}
	for (size_t i = 0; i < len; i++)   /* garbage bytes from the guest */
		if (s[i] != '\n' && (s[i] < ' ' || s[i] > '~'))
			s[i] = s[i] == '\r' ? '\n' : '.';
	for (p = s + len; p > s; p--)
		if (p[-1] == '\n' && p[0] && ++n >= lines)
			break;
	diag("--- %s (%s), last %d lines:", what, path, lines);
	for (char *save = NULL, *l = strtok_r(p, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		diag("  %s", l);
	diag("--- end of %s", what);
	free(s);
}

/* msb-vmm, its console socket, its wait status and peak memory */
struct vmm {
	pid_t pid;          /* 0 once reaped */
	int status;
	long maxrss_kb;
	int sock;
	bool killed;
	long t0;            /* started, now_ms() */
};

static pid_t spawn_vmm(struct vmm *v, char *const argv[], const char *err)
{
	int sv[2];

	v->pid = 0;
	v->sock = -1;
	v->killed = false;
	v->maxrss_kb = 0;
	v->t0 = now_ms();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		diag("socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	v->pid = fork();
	if (v->pid < 0) {
		diag("fork: %s", strerror(errno));
		v->pid = 0;
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (v->pid == 0) {
		int in = open("/dev/null", O_RDONLY), out = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
		if (sv[1] == 3) {
			fcntl(3, F_SETFD, 0);
		} else if (dup2(sv[1], 3) < 0) {
			_exit(127);
		}
		execv(argv[0], argv);
		dprintf(2, "hostile: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	v->sock = sv[0];
	return v->pid;
}

static bool reap(struct vmm *v, int flags)
{
	struct rusage ru;
	pid_t p;

	if (!v->pid)
		return true;
	p = wait4(v->pid, &v->status, flags, &ru);
	if (p == v->pid) {
		v->pid = 0;
		v->maxrss_kb = ru.ru_maxrss;
		return true;
	}
	return false;
}

static void kill_vmm(struct vmm *v)
{
	if (!v->pid)
		return;
	kill(v->pid, SIGKILL);
	v->killed = true;
	reap(v, 0);
}

/* VmRSS and RssAnon of msb-vmm, in KiB (0 when unknown, or when the child
 * has not yet exec'd it: until then it is a copy of this program). */
static void sample_mem(pid_t pid, unsigned long long *rss, unsigned long long *anon)
{
	char path[64], buf[4096], name[32], *p;
	const char *base = strrchr(vmm_path, '/');

	*rss = *anon = 0;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	snprintf(name, sizeof name, "Name:\t%.15s\n", base ? base + 1 : vmm_path);
	if (read_text(path, buf, sizeof buf) < 0 || strncmp(buf, name, strlen(name)))
		return;
	if ((p = strstr(buf, "VmRSS:")))
		*rss = strtoull(p + 6, NULL, 10);
	if ((p = strstr(buf, "RssAnon:")))
		*anon = strtoull(p + 8, NULL, 10);
}

/* Live: the guest's report lines as they reach the serial log, as TAP
 * comments (so that they are out even if this machine dies). */
static const char *live_log;
static off_t live_pos;
static char live_buf[2048];
static size_t live_len;
static int live_run;

static void tail_serial(void)
{
	int fd;
	ssize_t r;

	if (!live_log || (fd = open(live_log, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	while ((r = pread(fd, live_buf + live_len, sizeof live_buf - 1 - live_len, live_pos)) > 0) {
		char *b = live_buf, *nl;

		live_pos += r;
		live_len += (size_t)r;
		while ((nl = memchr(b, '\n', live_len - (size_t)(b - live_buf)))) {
			char *h;

			*nl = '\0';
			if ((h = strstr(b, "HOSTILE: ")) && strncmp(h + 9, "check ok ", 9)) {
				h[strcspn(h, "\r")] = '\0';
				diag("run %d: guest: %s", live_run, h + 9);
			}
			b = nl + 1;
		}
		live_len -= (size_t)(b - live_buf);
		memmove(live_buf, b, live_len);
		if (live_len == sizeof live_buf - 1)
			live_len = 0;   /* a very long line (a flood): drop it */
	}
	close(fd);
}

struct memstat {
	unsigned long long rss_max, anon_max, where_anon;
	long last;
	char where[512];   /* the largest anonymous mappings when anon_max was seen */
};

/* The three mappings of pid with the most anonymous memory, as text. */
static void smaps_top(pid_t pid, char *out, size_t size)
{
	char path[64], *s, *save = NULL, cur[160] = "";
	struct { unsigned long long kb; char name[160]; } top[3] = { { 0, "" } };
	size_t n = 0;

	out[0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
	if (!(s = slurp(path, NULL)))
		return;
	for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned long long kb, a, b;
		char perms[8];

		if (sscanf(l, "%llx-%llx %7s", &a, &b, perms) == 3) {
			snprintf(cur, sizeof cur, "%s", l);   /* a mapping's header */
		} else if (sscanf(l, "Anonymous: %llu kB", &kb) == 1) {
			for (int i = 0; i < 3; i++)
				if (kb > top[i].kb) {
					memmove(&top[i + 1], &top[i], (size_t)(2 - i) * sizeof top[0]);
					top[i].kb = kb;
					snprintf(top[i].name, sizeof top[i].name, "%s", cur);
					break;
				}
		}
	}
	free(s);
	for (int i = 0; i < 3 && top[i].kb; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%llu KiB in [%s]", i ? "; " : "", top[i].kb,
				      top[i].name);
}

static void track_mem(const struct vmm *v, struct memstat *m, bool force)
{
	unsigned long long rss, anon;

	if (!v->pid || (!force && now_ms() - m->last < SAMPLE_MS))
		return;
	m->last = now_ms();
	tail_serial();
	sample_mem(v->pid, &rss, &anon);
	if (rss > m->rss_max)
		m->rss_max = rss;
	if (anon > m->anon_max) {
		if (anon >= m->where_anon + 1024) {
			m->where_anon = anon;
			int k = snprintf(m->where, sizeof m->where, "at %.1f s: ",
					 (now_ms() - v->t0) / 1000.0);

			smaps_top(v->pid, m->where + k, sizeof m->where - (size_t)k);
		}
		m->anon_max = anon;
	}
}

/* The lines of the serial log that carry "HOSTILE: <prefix>". */
static int find_lines(const char *log, size_t len, const char *prefix, char out[][640], int max)
{
	static const char tag[] = "HOSTILE: ";
	size_t pl = strlen(prefix);
	const char *p = log, *end = log + len;
	int n = 0;

	while (p < end && (p = memmem(p, (size_t)(end - p), tag, sizeof tag - 1))) {
		const char *b = p + sizeof tag - 1, *e = memchr(b, '\n', (size_t)(end - b));
		size_t l;

		if (!e)
			e = end;
		l = (size_t)(e - b);
		while (l && (b[l - 1] == '\r' || b[l - 1] == ' '))
			l--;
		if (l >= pl && !memcmp(b, prefix, pl)) {
			if (n < max) {
				if (l > 639)
					l = 639;
				memcpy(out[n], b, l);
				out[n][l] = '\0';
			}
			n++;
		}
		p = e;
	}
	return n;
}

/* ---- when the flood stops: where msb-vmm and the rings are ---- */

static void dump_threads(pid_t pid)
{
	char path[320], comm[64], stat[512], wchan[64], sc[128];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d))) {
		char *st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid, e->d_name);
		read_text(path, comm, sizeof comm);
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
		read_text(path, stat, sizeof stat);
		st = strrchr(stat, ')');
		snprintf(path, sizeof path, "/proc/%d/task/%s/wchan", (int)pid, e->d_name);
		read_text(path, wchan, sizeof wchan);
		snprintf(path, sizeof path, "/proc/%d/task/%s/syscall", (int)pid, e->d_name);
		read_text(path, sc, sizeof sc);
		sc[strcspn(sc, "\n")] = '\0';
		diag("  msb-vmm thread %s (%s): state %c, wchan %s, syscall %s", e->d_name, comm,
		     st && st[1] ? st[2] : '?', wchan[0] ? wchan : "-", sc[0] ? sc : "-");
	}
	closedir(d);
}

/* Read guest memory through msb-vmm's mapping of it. */
static bool read_guest(pid_t pid, uint64_t gpa, void *buf, size_t n)
{
	char path[64], *maps, *l;
	unsigned long long base = 0;
	bool ok = false;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	if (!(maps = slurp(path, NULL)))
		return false;
	if ((l = strstr(maps, "msb-vmm-guest-ram"))) {
		while (l > maps && l[-1] != '\n')
			l--;
		base = strtoull(l, NULL, 16);
	}
	free(maps);
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	if (base && gpa + n <= GUEST_MEM && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		ok = pread(fd, buf, n, (off_t)(base + gpa)) == (ssize_t)n;
		close(fd);
	}
	return ok;
}

/* The queue as the guest's watchdog reported it, and its rings now. */
static void show_ring(pid_t pid, const char *line, const char *q)
{
	const char *p = strstr(line, q);
	unsigned ready, num;
	unsigned long long desc, avail, used;
	uint16_t aidx, uidx, head;
	uint8_t d[16];

	if (!p || sscanf(p + strlen(q), " ready=%u num=%u desc=%llx avail=%llx used=%llx", &ready, &num,
			 &desc, &avail, &used) != 5) {
		diag("  %s: not in the watchdog's report", q);
		return;
	}
	if (!num || !read_guest(pid, avail + 2, &aidx, 2) || !read_guest(pid, used + 2, &uidx, 2)) {
		diag("  %s: ready %u, num %u: cannot read its rings", q, ready, num);
		return;
	}
	diag("  %s (ready %u, num %u): avail idx %u, used idx %u", q, ready, num, aidx, uidx);
	if (read_guest(pid, avail + 4 + 2 * ((uint16_t)(aidx - 1) % num), &head, 2) && head < num &&
	    read_guest(pid, desc + 16ull * head, d, 16)) {
		uint64_t a;
		uint32_t len;
		uint16_t fl, nx;

		memcpy(&a, d, 8);
		memcpy(&len, d + 8, 4);
		memcpy(&fl, d + 12, 2);
		memcpy(&nx, d + 14, 2);
		diag("  %s: the last chain offered: head %u: addr 0x%llx len %u flags 0x%x next %u", q, head,
		     (unsigned long long)a, len, fl, nx);
	}
}

static void stall_report(const struct vmm *v, int sock, const char *log)
{
	static char lines[4][640];
	size_t len;
	char *slog = slurp(log, &len);
	int queued = -1, n;

	if (ioctl(sock, FIONREAD, &queued) < 0)
		queued = -1;
	diag("the flood stopped: %d bytes wait in the socket; msb-vmm %s", queued,
	     v->pid ? "still runs:" : "has ended");
	if (v->pid)
		dump_threads(v->pid);
	n = slog ? find_lines(slog, len, "watchdog:", lines, 4) : 0;
	for (int i = 0; i < n && i < 4; i++)
		diag("  guest: %s", lines[i]);
	if (n && v->pid) {
		show_ring(v->pid, lines[n > 4 ? 3 : n - 1], "q1");   /* transmitq */
		show_ring(v->pid, lines[n > 4 ? 3 : n - 1], "q0");   /* receiveq */
	}
	free(slog);
}

/* A fresh msb-vmm boots the normal L2 init, answers on its console, exits 0. */
static bool fresh_boot(int idx, char *what, size_t wl, const char *log, const char *err)
{
	char mem[] = GUEST_MEM_ARG, fd3[] = "3", *cpus = vm_cpus;
	char *argv[] = {
		(char *)vmm_path, "--kernel", (char *)kernel_path, "--initrd", (char *)l2_initrd,
		"--cmdline", CMDLINE, "--memory", mem, "--cpus", cpus, "--console-fd", fd3,
		"--serial-log", (char *)log, NULL,
	};
	struct vmm v;
	char in[256];
	size_t inlen = 0;
	bool ready = false, bye = false;
	long end;
	char st[96] = "";
	char *l;

	(void)idx;
	if (spawn_vmm(&v, argv, err) <= 0) {
		snprintf(what, wl, "could not start msb-vmm");
		return false;
	}
	end = now_ms() + FRESH_MS;
	while (now_ms() < end && !bye) {
		struct pollfd pfd = { .fd = v.sock, .events = POLLIN };
		int pr = poll(&pfd, 1, 200);
		ssize_t r;

		if (pr <= 0) {
			if (reap(&v, WNOHANG))
				break;
			continue;
		}
		r = read(v.sock, in + inlen, sizeof in - 1 - inlen);
		if (r <= 0)
			break;
		inlen += (size_t)r;
		in[inlen] = '\0';
		if (!ready && strstr(in, "READY msb-l2init\n")) {
			ready = true;
			inlen = 0;
			if (send(v.sock, "BYE\n", 4, MSG_NOSIGNAL) != 4)
				break;
			end = now_ms() + FRESH_MS;
		} else if (ready && strstr(in, "BYE\n")) {
			bye = true;
		}
		if (inlen == sizeof in - 1)
			inlen = 0;
	}
	end = now_ms() + FRESH_MS;
	while (!reap(&v, WNOHANG) && now_ms() < end)
		usleep(20000);
	if (v.pid)
		kill_vmm(&v);
	close(v.sock);
	if (v.killed)
		snprintf(st, sizeof st, "still running after %d s: killed", FRESH_MS / 1000);
	else
		describe_status(v.status, st, sizeof st);
	l = slurp(log, NULL);
	bool ok_log = l && strstr(l, "MSB-L2-INIT-OK");
	free(l);
	snprintf(what, wl, "READY %s, BYE %s, MSB-L2-INIT-OK %s, %s", ready ? "yes" : "no",
		 bye ? "yes" : "no", ok_log ? "yes" : "no", st);
	return ready && bye && ok_log && !v.killed && WIFEXITED(v.status) && WEXITSTATUS(v.status) == 0;
}

static void run_once(int idx, unsigned seed)
{
	char dir[128], img[160], log[160], err[160], flog[160], ferr[160], cmdline[256];
	char mem[] = GUEST_MEM_ARG, fd3[] = "3", *cpus = vm_cpus;
	uint8_t *want = malloc(IMG_BYTES), *buf = malloc(1 << 16);
	int first = test_no, failed_before = failed;
	long t0 = now_ms(), t_flood = 0, t_read = 0, t_end = 0;
	struct memstat all = { 0 }, stall = { 0 };
	struct vmm v = { 0 };
	uint64_t got = 0, extra = 0, bad_at = UINT64_MAX;
	bool flood_started = false, marker = false, eof = false;
	char carry[64] = "";
	size_t carry_len = 0;
	int queued = -1, fd;

	if (!want || !buf) {
		diag("out of memory");
		exit(1);
	}
	snprintf(dir, sizeof dir, "%s/run%d", tmpdir, idx);
	mkdir(dir, 0755);
	snprintf(img, sizeof img, "%s/%s", dir, IMG_NAME);
	snprintf(log, sizeof log, "%s/serial.log", dir);
	snprintf(err, sizeof err, "%s/vmm.stderr", dir);
	snprintf(flog, sizeof flog, "%s/fresh-serial.log", dir);
	snprintf(ferr, sizeof ferr, "%s/fresh-vmm.stderr", dir);
	snprintf(cmdline, sizeof cmdline, "%s hostile.seed=%u%s%s", CMDLINE, seed, guest_args ? " " : "",
		 guest_args ? guest_args : "");
	live_log = log;
	live_pos = 0;
	live_len = 0;
	live_run = idx;

	fill_sectors(want, IMG_SEED, 0, IMG_SECTORS);
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, want, IMG_BYTES) != (ssize_t)IMG_BYTES || fsync(fd) < 0)
		diag("writing %s: %s", img, strerror(errno));
	if (fd >= 0)
		close(fd);

	char *argv[] = {
		(char *)vmm_path, "--kernel", (char *)kernel_path, "--init", guest_path,
		"--cmdline", cmdline, "--disk", img, "--console-fd", fd3, "--memory", mem,
		"--cpus", cpus, "--serial-log", log, NULL,
	};
	diag("run %d: seed %u: %s --kernel %s --init %s --cmdline '%s' --disk %s --console-fd 3 "
	     "--memory %s --cpus %s --serial-log %s", idx, seed, vmm_path, kernel_path, guest_path,
	     cmdline, img, mem, cpus, log);
	spawn_vmm(&v, argv, err);

	/* 1: the flood begins; we do not read */
	while (v.pid && now_ms() - t0 < BOOT_MS) {
		struct pollfd pfd = { .fd = v.sock, .events = POLLIN };

		char c1;

		track_mem(&v, &all, false);
		/* data, not the end of the connection (msb-vmm gone) */
		if (poll(&pfd, 1, SAMPLE_MS) > 0 && recv(v.sock, &c1, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
			flood_started = true;
			break;
		}
		if (reap(&v, WNOHANG))
			break;
	}
	t_flood = now_ms();
	check(flood_started, "run %d: msb-vmm boots the hostile guest, which floods the console (%.1f s)",
	      idx, (t_flood - t0) / 1000.0);

	/* 2: STALL_MS without reading: msb-vmm must not buffer the flood */
	if (flood_started) {
		while (v.pid && now_ms() - t_flood < STALL_MS) {
			track_mem(&v, &stall, true);
			if (reap(&v, WNOHANG))
				break;
			usleep(SAMPLE_MS * 1000);
		}
		if (ioctl(v.sock, FIONREAD, &queued) < 0)
			queued = -1;
	}
	if (stall.rss_max > all.rss_max)
		all.rss_max = stall.rss_max;
	if (stall.anon_max > all.anon_max) {
		all.anon_max = stall.anon_max;
		memcpy(all.where, stall.where, sizeof all.where);
	}
	check(flood_started && v.pid && stall.rss_max && stall.rss_max < STALL_RSS_KB &&
	      stall.anon_max < ANON_MAX_KB,
	      "run %d: while nobody reads the flood for %d s, msb-vmm stays small (VmRSS at most %llu KiB, "
	      "limit %llu; RssAnon at most %llu KiB, limit %u; %d bytes wait in the socket)",
	      idx, STALL_MS / 1000, stall.rss_max, STALL_RSS_KB, stall.anon_max, ANON_MAX_KB, queued);

	/* 3: the whole flood, in order */
	long last_progress = now_ms();
	while (flood_started && got < FLOOD_BYTES && now_ms() - last_progress < PROGRESS_MS) {
		struct pollfd pfd = { .fd = v.sock, .events = POLLIN };
		ssize_t r;

		track_mem(&v, &all, false);
		if (poll(&pfd, 1, SAMPLE_MS) <= 0) {
			reap(&v, WNOHANG);
			continue;
		}
		r = read(v.sock, buf, 1 << 16);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			eof = true;
			break;
		}
		last_progress = now_ms();
		for (ssize_t i = 0; i < r; i++) {
			if (got < FLOOD_BYTES) {
				if (bad_at == UINT64_MAX && (uint8_t)buf[i] != flood_byte(got))
					bad_at = got;
				got++;
			} else {
				extra++;
			}
		}
	}
	t_read = now_ms();
	if (flood_started && got < FLOOD_BYTES)
		stall_report(&v, v.sock, log);
	char wrong[64] = "";
	if (bad_at != UINT64_MAX)
		snprintf(wrong, sizeof wrong, ", the first wrong byte at %llu", (unsigned long long)bad_at);
	check(got == FLOOD_BYTES && bad_at == UINT64_MAX,
	      "run %d: the flood arrives complete and in order (%llu of %u bytes in %.1f s after the stall%s%s)",
	      idx, (unsigned long long)got, FLOOD_BYTES, (t_read - t_flood - STALL_MS) / 1000.0, wrong,
	      eof ? ", then the connection ended" : "");

	/* the rest of the console, until msb-vmm ends */
	while (v.pid && now_ms() - t_read < END_MS) {
		struct pollfd pfd = { .fd = v.sock, .events = POLLIN };
		ssize_t r;

		track_mem(&v, &all, false);
		if (eof || poll(&pfd, 1, SAMPLE_MS) <= 0) {
			if (eof)
				usleep(SAMPLE_MS * 1000);
			reap(&v, WNOHANG);
			continue;
		}
		r = read(v.sock, buf + carry_len, (1 << 16) - carry_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			eof = true;
			continue;
		}
		/* search carry (the end of the last read) + this read */
		size_t total = carry_len + (size_t)r, keep = sizeof TX_MARKER - 1;

		extra += (uint64_t)r;
		memcpy(buf, carry, carry_len);
		if (!marker && memmem(buf, total, TX_MARKER, sizeof TX_MARKER - 1))
			marker = true;
		if (keep > total)
			keep = total;
		memcpy(carry, buf + total - keep, keep);
		carry_len = keep;
	}
	t_end = now_ms();
	if (v.pid) {
		diag("run %d: msb-vmm still running %d s after the flood: killed", idx, END_MS / 1000);
		kill_vmm(&v);
	}
	reap(&v, 0);
	close(v.sock);
	tail_serial();
	live_log = NULL;

	/* 4, 5, 6 */
	check(marker, "run %d: the guest's forged transmit chain reaches the host (%llu bytes after the flood)",
	      idx, (unsigned long long)extra);
	char st[96];
	if (v.killed)
		snprintf(st, sizeof st, "killed after the timeout");
	else
		describe_status(v.status, st, sizeof st);
	check(!v.killed && WIFEXITED(v.status) && WEXITSTATUS(v.status) == 0,
	      "run %d: msb-vmm exits with status 0 through the guest's reboot (%s, %.1f s in all)", idx, st,
	      (t_end - t0) / 1000.0);
	check(v.maxrss_kb > 0 && (unsigned long long)v.maxrss_kb < (GUEST_MEM >> 10) + RSS_MARGIN_KB &&
	      all.anon_max < ANON_MAX_KB,
	      "run %d: msb-vmm's memory stays bounded (peak RSS %ld KiB, limit %llu; RssAnon at most %llu KiB, limit %u)",
	      idx, v.maxrss_kb, (GUEST_MEM >> 10) + RSS_MARGIN_KB, all.anon_max, ANON_MAX_KB);
	if (all.where[0])
		diag("run %d: msb-vmm's largest anonymous mappings at RssAnon's peak: %s", idx, all.where);

	/* 7, 8: the image */
	size_t ilen = 0;
	char *image = slurp(img, &ilen);
	size_t bad_sectors = 0;
	long first_bad = -1;
	fill_sectors(want, FINAL_SEED, 0, IMG_SECTORS);
	fill_sectors(want + (size_t)FORGE_SECTOR * SECTOR, FORGE_SEED, FORGE_SECTOR, 1);
	if (image && ilen == IMG_BYTES)
		for (unsigned s = 0; s < IMG_SECTORS; s++)
			if (memcmp(image + (size_t)s * SECTOR, want + (size_t)s * SECTOR, SECTOR)) {
				if (first_bad < 0)
					first_bad = s;
				bad_sectors++;
			}
	check(image && ilen == IMG_BYTES, "run %d: the image keeps its size (%zu bytes, was %u)", idx, ilen,
	      IMG_BYTES);
	char firstb[48] = "";
	if (first_bad >= 0)
		snprintf(firstb, sizeof firstb, ", the first %ld", first_bad);
	check(image && ilen == IMG_BYTES && bad_sectors == 0,
	      "run %d: the image holds the guest's final pattern and its forged write, nothing else "
	      "(%zu sectors differ%s)", idx, bad_sectors, firstb);
	free(image);

	/* 9-12: the serial log */
	size_t llen = 0;
	char *slog = slurp(log, &llen);
	static char lines[256][640];
	if (!slog)
		slog = calloc(1, 1);
	int ph[6] = { 0 };
	for (int p = 1; p <= 5; p++) {
		char pre[32];

		snprintf(pre, sizeof pre, "phase %d done", p);
		ph[p] = find_lines(slog, llen, pre, lines, 1);
	}
	int p3skip = find_lines(slog, llen, "phase 3 skipped", lines, 1);
	char p3why[640];
	snprintf(p3why, sizeof p3why, "%s", p3skip ? lines[0] : "");
	check(ph[1] && ph[2] && ph[4] && ph[5],
	      "run %d: the serial log reports phases 1 (flood), 2 (disk), 4 (virtio-mmio), 5 (memory) done "
	      "(%d %d %d %d)", idx, ph[1], ph[2], ph[4], ph[5]);
	if (!ph[3] && p3skip)
		skip(p3why, "run %d: the serial log reports phase 3 (port I/O) done", idx);
	else
		check(ph[3], "run %d: the serial log reports phase 3 (port I/O) done", idx);
	bool seen_blk = false, seen_con = false;
	int ng = find_lines(slog, llen, "garbage dev=", lines, 16);
	for (int i = 0; i < ng && i < 16; i++) {
		seen_blk |= strstr(lines[i], " id=2 ") && strstr(lines[i], "needs_reset=");
		seen_con |= strstr(lines[i], " id=3 ") && strstr(lines[i], "needs_reset=");
	}

	check(seen_blk && seen_con,
	      "run %d: the serial log reports the NEEDS_RESET status of the attacked devices (blk %s, console %s)",
	      idx, seen_blk ? "yes" : "no", seen_con ? "yes" : "no");
	static const char cap_note[] = "serial log reached its cap";
	bool p6 = find_lines(slog, llen, "phase 6 serial flood start", lines, 1) > 0;
	const char *kib = guest_args ? strstr(guest_args, "hostile.serial_kib=") : NULL;
	if (kib && strtoull(kib + 19, NULL, 10) * 1024 < SERIAL_CAP)
		skip("the serial flood was shortened (hostile.serial_kib): it does not reach the cap",
		     "run %d: the guest's serial flood stops at msb-vmm's cap", idx);
	else
		check(p6 && llen <= SERIAL_CAP + 256 && memmem(slog, llen, cap_note, sizeof cap_note - 1),
		      "run %d: the guest's serial flood stops at msb-vmm's cap (log of %zu bytes, cap %u, "
		      "flood %s, note %s)", idx, llen, SERIAL_CAP, p6 ? "started" : "not started",
		      memmem(slog, llen, cap_note, sizeof cap_note - 1) ? "present" : "missing");
	int nc = find_lines(slog, llen, "check ", lines, 256);
	for (int i = 0; i < GUEST_CHECKS; i++) {
		if (i < nc && i < 256)
			check(!strncmp(lines[i], "check ok ", 9), "run %d: guest: %s", idx,
			      lines[i] + (strncmp(lines[i], "check ok ", 9) ? 6 : 9));
		else
			check(false, "run %d: guest check %d was not reported", idx, i + 1);
	}
	if (nc != GUEST_CHECKS)
		diag("run %d: the guest reported %d checks, %d expected", idx, nc, GUEST_CHECKS);
	static const char *const bad_words[] = { "Kernel panic", "BUG:", "Oops", "WARNING:", "Call Trace" };
	for (size_t i = 0; i < sizeof bad_words / sizeof *bad_words; i++)
		if (memmem(slog, llen, bad_words[i], strlen(bad_words[i])))
			diag("run %d: note: the guest kernel's log has '%s'", idx, bad_words[i]);
	free(slog);

	/* 13: the host is unaffected */
	char what[200];
	bool fresh = fresh_boot(idx, what, sizeof what, flog, ferr);
	check(fresh, "run %d: afterwards a fresh msb-vmm boots the normal L2 init and exits 0 (%s)", idx, what);

	if (test_no - first != RUN_CHECKS + GUEST_CHECKS)
		check(false, "run %d: %d checks instead of %d (a bug in hostile.c)", idx, test_no - first,
		      RUN_CHECKS + GUEST_CHECKS);
	if (failed != failed_before) {
		show_tail("serial log", log, 80);
		show_tail("msb-vmm stderr", err, 20);
		if (!fresh) {
			show_tail("fresh serial log", flog, 30);
			show_tail("fresh msb-vmm stderr", ferr, 20);
		}
	}
	diag("run %d took %.1f s (boot to flood %.1f s, flood read %.1f s, rest %.1f s)", idx,
	     (now_ms() - t0) / 1000.0, (t_flood - t0) / 1000.0, (t_read - t_flood) / 1000.0,
	     (t_end - t_read) / 1000.0);
	free(want);
	free(buf);
}

static void rm_tree(const char *dir)
{
	static const char *const names[] = { IMG_NAME, "serial.log", "vmm.stderr", "fresh-serial.log",
					     "fresh-vmm.stderr" };
	char path[256];

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* The emulator's fault, as msb-vmm reports it in a try's output. */
static bool l0_fault(const char *out)
{
	return strstr(out, "triple fault") && strstr(out, "KVM reset the vCPU");
}

/*
 * HOSTILE_RETRY_L0_FAULT: run this program again (without the variable)
 * with its TAP in a file; pass it on as it is unless the try failed with
 * the emulator's fault, then say so and give the test one more try.
 */
static int run_with_retry(char **argv)
{
	char path[] = "/tmp/msb-hostile-try.XXXXXX";
	int fd = mkstemp(path), status;
	size_t len = 0;
	char *out;
	pid_t pid;

	if (fd < 0) {
		printf("Bail out! hostile: mkstemp: %s\n", strerror(errno));
		return 1;
	}
	unlink(path);
	unsetenv("HOSTILE_RETRY_L0_FAULT");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(fd, 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		printf("Bail out! hostile: cannot run the first try: %s\n", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	out = slurp(path, &len);
	close(fd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && out && l0_fault(out)) {
		char *line = strstr(out, "triple fault");

		while (line > out && line[-1] != '\n')
			line--;
		printf("# first try: the guest triple-faulted and KVM reset the vCPU (QEMU's nested "
		       "SVM, not msb-vmm; hostile.c, run_with_retry); one more try. Its line:\n");
		printf("%.*s\n", (int)strcspn(line, "\n"), line);
		fflush(stdout);
		free(out);
		execv("/proc/self/exe", argv);
		printf("Bail out! hostile: cannot run the second try: %s\n", strerror(errno));
		return 1;
	}
	if (out)
		fwrite(out, 1, len, stdout);
	free(out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "vmm", required_argument, NULL, 'v' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "l2-initrd", required_argument, NULL, 'i' },
		{ "guest", required_argument, NULL, 'G' },
		{ "keep", no_argument, NULL, 'K' },
		{ "guest-args", required_argument, NULL, 'g' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char usage[] =
		"usage: hostile [--runs N] [--seed S] [--cpus N] [--vmm PATH] [--kernel PATH] [--l2-initrd PATH]\n"
		"               [--guest PATH] [--keep] [--guest-args 'hostile.only=N hostile.both']\n";
	unsigned long runs = 1;
	unsigned seed = 0;
	bool have_seed = false, keep = false;
	ssize_t n;
	int c;

	/* --cpus's default, from the environment for prove's -e (make
	 * test-nested), which cannot pass arguments after the test's name */
	const char *cpus_arg = getenv("HOSTILE_CPUS");

	if (getenv("HOSTILE_GUEST_ARGS") && getenv("HOSTILE_GUEST_ARGS")[0])
		guest_args = getenv("HOSTILE_GUEST_ARGS");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			runs = strtoul(optarg, NULL, 10);
			if (runs < 1 || runs > 100) {
				fputs("hostile: --runs wants 1..100\n", stderr);
				return 2;
			}
			break;
		case 's': seed = (unsigned)strtoul(optarg, NULL, 0); have_seed = true; break;
		case 'v': vmm_path = optarg; break;
		case 'k': kernel_path = optarg; break;
		case 'i': l2_initrd = optarg; break;
		case 'G': snprintf(guest_path, sizeof guest_path, "%s", optarg); break;
		case 'K': keep = true; break;
		case 'g': guest_args = optarg; break;
		case 'c': cpus_arg = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (cpus_arg) {
		char *end;
		unsigned long v = strtoul(cpus_arg, &end, 10);
		if (*end || v < 1 || v > 32) {
			fprintf(stderr, "hostile: --cpus (or HOSTILE_CPUS) wants 1..32, not '%s'\n",
				cpus_arg);
			return 2;
		}
		snprintf(vm_cpus, sizeof vm_cpus, "%lu", v);
	}
	signal(SIGPIPE, SIG_IGN);
	if (getenv("HOSTILE_RETRY_L0_FAULT") && !strcmp(getenv("HOSTILE_RETRY_L0_FAULT"), "1"))
		return run_with_retry(argv);
	if (!guest_path[0]) {
		char self[4096], *slash;

		n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0) {
			printf("Bail out! hostile: /proc/self/exe: %s\n", strerror(errno));
			return 1;
		}
		self[n] = '\0';
		slash = strrchr(self, '/');
		snprintf(guest_path, sizeof guest_path, "%.*s/hostile_guest",
			 slash ? (int)(slash - self) : 1, slash ? self : ".");
	}
	if (access(guest_path, X_OK) < 0) {
		printf("Bail out! hostile: the guest %s: %s\n", guest_path, strerror(errno));
		return 1;
	}
	if (!have_seed)
		seed = (unsigned)time(NULL) ^ (unsigned)getpid() << 16;
	printf("1..%lu\n", runs * (unsigned long)(RUN_CHECKS + GUEST_CHECKS));
	fflush(stdout);
	if (access("/dev/kvm", R_OK | W_OK) < 0)
		diag("/dev/kvm: %s: msb-vmm cannot run here", strerror(errno));
	if (!mkdtemp(tmpdir)) {
		diag("mkdtemp: %s", strerror(errno));
		return 1;
	}
	for (unsigned long i = 0; i < runs; i++)
		run_once((int)i + 1, seed + (unsigned)i);
	if (keep) {
		diag("kept %s", tmpdir);
	} else {
		char dir[128];

		for (unsigned long i = 0; i < runs; i++) {
			snprintf(dir, sizeof dir, "%s/run%lu", tmpdir, i + 1);
			rm_tree(dir);
		}
		rmdir(tmpdir);
	}
	if (failed)
		diag("%d of %d checks failed", failed, test_no);
	return failed ? 1 : 0;
}

