/*
 * l2init.c - /init of the L2 guest of the nested harness (tests/nested/run):
 * proves that the guest kernel booted by msb-vmm inside L1 reaches
 * userspace, and that its virtio devices work end to end.
 *
 * It mounts devtmpfs, proc and sysfs, and prints
 *   MSB-L2-INIT-OK <release> <machine> <n> cpus
 * on ttyS0.  When the command line announces no virtio-mmio device it then
 * resets at once (the smallest whole-path check).  Otherwise it opens the
 * virtio console (/dev/hvc0, raw mode), says
 *   READY msb-l2init
 * and answers the host one line per request line (tests/nested/l1check.c):
 *   ECHO <text>            -> ECHO <text>
 *   FACTS                  -> FACTS release=R machine=M cpus=N memtotal_kb=K
 *   DISK                   -> DISK size=BYTES ro=0|1 serial=S   or DISK none
 *   READ <sector> <count>  -> READ <sector> <count> fnv=<16 hex digits>
 *                             (FNV-1a 64 of the sectors, read with O_DIRECT)
 *   WRITE <sector> <seed>  -> WRITE <sector> ok
 *                          |  WRITE <sector> err=<ENAME> at=<open|write|fsync>
 *                             (one sector of pattern(seed, sector), written
 *                             through the page cache, then fsync)
 *   BYE                    -> BYE, then the reset
 *   anything else          -> ERR <what>
 * Failures of the init itself (no console, the host gone quiet) are
 * reported on ttyS0 as "MSB-L2: ..."; answers only go to the console.
 * The VM always ends by reset (the command line carries reboot=k: the i8042
 * reset ends msb-vmm with status 0), also when the host goes quiet for
 * IDLE_MS.  Static; packed as /init of a gzip initramfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "nested.h"

#define SECTOR    512u
#define DEV_WAIT_MS 10000   /* for /dev/hvc0 to appear */
#define IDLE_MS   120000    /* no request for this long: give up, reset */
#define MAX_READ  8192      /* sectors per READ request */

static int serial_fd = -1;

static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (serial_fd < 0 || n <= 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	(void)!write(serial_fd, buf, (size_t)n);
}

static __attribute__((noreturn)) void reset(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* ---- the console: line in, line out ------------------------------------- */

static int con = -1;
static char inbuf[1024];
static size_t inlen;

static void reply(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;
	size_t off = 0;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	while (off < (size_t)n) {
		ssize_t w = write(con, buf + off, (size_t)n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			say("MSB-L2: writing to /dev/hvc0: %s\n", strerror(errno));
			return;
		}
		off += (size_t)w;
	}
}

/* One request line (without the newline) into line; -1 on timeout/error. */
static int read_line(char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(inbuf, '\n', inlen);

		if (nl) {
			size_t n = (size_t)(nl - inbuf);

			if (n >= size)
				n = size - 1;
			memcpy(line, inbuf, n);
			line[n] = '\0';
			line[strcspn(line, "\r")] = '\0';
			inlen -= (size_t)(nl + 1 - inbuf);
			memmove(inbuf, nl + 1, inlen);
			return 0;
		}
		if (inlen == sizeof inbuf) {
			say("MSB-L2: request line too long\n");
			return -1;
		}
		struct pollfd pfd = {.fd = con, .events = POLLIN};
		int p = poll(&pfd, 1, IDLE_MS);

		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0) {
			say("MSB-L2: %s on /dev/hvc0\n", p == 0 ? "no request for a while" : strerror(errno));
			return -1;
		}
		ssize_t r = read(con, inbuf + inlen, sizeof inbuf - inlen);

		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {
			say("MSB-L2: reading /dev/hvc0: %s\n", r ? strerror(errno) : "end of file");
			return -1;
		}
		inlen += (size_t)r;
	}
}

/* ---- the requests -------------------------------------------------------- */

static void do_facts(void)
{
	struct utsname u;
	char mi[4096];
	unsigned long memtotal = 0;
	char *p;

	uname(&u);
	if (read_text("/proc/meminfo", mi, sizeof mi) == 0 && (p = strstr(mi, "MemTotal:")))
		memtotal = strtoul(p + 9, NULL, 10);
	reply("FACTS release=%s machine=%s cpus=%ld memtotal_kb=%lu",
	      u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN), memtotal);
}

static void do_disk(void)
{
	int fd = open("/dev/vda", O_RDONLY | O_CLOEXEC);
	uint64_t size = 0;
	int ro = -1;
	char serial[64] = "";

	if (fd < 0) {
		reply("DISK none");
		return;
	}
	if (ioctl(fd, BLKGETSIZE64, &size) < 0 || ioctl(fd, BLKROGET, &ro) < 0) {
		reply("DISK err=%s at=ioctl", strerrorname_np(errno));
		close(fd);
		return;
	}
	close(fd);
	if (read_text("/sys/block/vda/serial", serial, sizeof serial) == 0)
		serial[strcspn(serial, "\n ")] = '\0';
	reply("DISK size=%llu ro=%d serial=%s", (unsigned long long)size, ro,
	      serial[0] ? serial : "-");
}

static void do_read(const char *args)
{
	unsigned long long sector, count;
	uint64_t h = 0xcbf29ce484222325ull;
	void *buf = NULL;
	int fd;

	if (sscanf(args, "%llu %llu", &sector, &count) != 2 || count == 0 || count > MAX_READ) {
		reply("ERR READ wants <sector> <count 1..%d>", MAX_READ);
		return;
	}
	/* O_DIRECT: what the device returns, not what the page cache holds */
	fd = open("/dev/vda", O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		reply("READ %llu %llu err=%s at=open", sector, count, strerrorname_np(errno));
		return;
	}
	if (posix_memalign(&buf, 4096, 64 * SECTOR)) {
		reply("READ %llu %llu err=ENOMEM at=alloc", sector, count);
		close(fd);
		return;
	}
	for (unsigned long long done = 0; done < count;) {
		unsigned long long n = count - done < 64 ? count - done : 64;
		ssize_t r = pread(fd, buf, n * SECTOR, (off_t)((sector + done) * SECTOR));

		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)(n * SECTOR)) {
			reply("READ %llu %llu err=%s at=pread", sector, count,
			      r < 0 ? strerrorname_np(errno) : "short");
			free(buf);
			close(fd);
			return;
		}
		h = fnv1a(h, buf, (size_t)r);
		done += n;
	}
	free(buf);
	close(fd);
	reply("READ %llu %llu fnv=%016llx", sector, count, (unsigned long long)h);
}

static void do_write(const char *args)
{
	unsigned long long sector;
	unsigned int seed;
	uint8_t buf[SECTOR];
	const char *at = "open";
	int fd;

	if (sscanf(args, "%llu %u", &sector, &seed) != 2) {
		reply("ERR WRITE wants <sector> <seed>");
		return;
	}
	fill_pattern(buf, sizeof buf, seed, sector);
	fd = open("/dev/vda", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		at = "write";
		errno = 0;
		if (pwrite(fd, buf, sizeof buf, (off_t)(sector * SECTOR)) == (ssize_t)sizeof buf) {
			at = "fsync";
			if (fsync(fd) == 0) {
				close(fd);
				reply("WRITE %llu ok", sector);
				return;
			}
		} else if (errno == 0) {
			errno = EIO;   /* a short write */
		}
	}
	int e = errno;

	if (fd >= 0)
		close(fd);
	reply("WRITE %llu err=%s at=%s", sector, strerrorname_np(e), at);
}

static void serve(void)
{
	struct termios t;
	char line[sizeof inbuf];

	con = wait_open("/dev/hvc0", O_RDWR, DEV_WAIT_MS);
	if (con < 0) {
		say("MSB-L2: no virtio console: /dev/hvc0: %s\n", strerror(errno));
		return;
	}
	/* raw: no echo, no line editing, no \n -> \r\n */
	if (tcgetattr(con, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(con, TCSANOW, &t);
	}
	reply("READY msb-l2init");
	while (read_line(line, sizeof line) == 0) {
		if (!strncmp(line, "ECHO ", 5))
			reply("%s", line);
		else if (!strcmp(line, "FACTS"))
			do_facts();
		else if (!strcmp(line, "DISK"))
			do_disk();
		else if (!strncmp(line, "READ ", 5))
			do_read(line + 5);
		else if (!strncmp(line, "WRITE ", 6))
			do_write(line + 6);
		else if (!strcmp(line, "BYE")) {
			reply("BYE");
			tcdrain(con);
			return;
		} else
			reply("ERR unknown request '%.64s'", line);
	}
}

int main(void)
{
	struct utsname u;
	char cmdline[4096] = "";

	mkdir("/dev", 0755);
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	serial_fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (serial_fd < 0)
		serial_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	uname(&u);
	say("MSB-L2-INIT-OK %s %s %ld cpus\n", u.release, u.machine,
	    sysconf(_SC_NPROCESSORS_ONLN));
	read_text("/proc/cmdline", cmdline, sizeof cmdline);
	if (strstr(cmdline, "virtio_mmio.device="))
		serve();
	reset();
}
