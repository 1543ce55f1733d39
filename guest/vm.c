/*
 * vm.c - msb-agent as /init of a microVM (the vm backend): everything
 * that only a VM needs. agent.c's vm_main() strings it together.
 *
 * msb-vmm boots the guest kernel with an initramfs that holds only this
 * static agent as /init (msb-vmm --init), the shared root filesystem image
 * as the first virtio-blk disk (/dev/vda, read-only), and the protocol
 * channel as port 1 of a MULTIPORT virtio-console (/dev/vportXp1; msb-vmm
 * --console-fd 3 --ports 1), whose host end is libmsb's socket; or, with
 * a plain console, /dev/hvc0, a tty that moves a page per round trip to
 * the host.  Here the agent:
 *
 *   1. mounts /proc, /sys, /dev (devtmpfs) and the cgroup tree;
 *   2. opens the channel (hvc0 in raw mode): from then on it carries the
 *      same framed protocol as the os backend's socketpair, HELLO first;
 *   3. after the HELLO, mounts the image read-only and makes it the root
 *      (moved over the initramfs, as switch_root does: pivot_root, which
 *      isolation needs, refuses the initramfs itself);
 *   4. isolates exactly as on the host (isolate.c: namespaces, a read-only
 *      root built from the image's system directories, writable tmpfs areas
 *      bounded by the disk limit, cgroups, seccomp), so that a guest kernel
 *      bug is not the only wall: the sandbox is a container inside the VM.
 *
 * Stage 0 stays PID 1 of the VM; when the sandbox ends it powers the VM
 * off (an i8042 reset, reboot=k on the kernel command line), which ends
 * msb-vmm.  PID 1 must never exit: the kernel would panic.
 *
 * A detached (named) sandbox's VM has more ports (msb-vmm --agent-socket):
 * /dev/vportXp1..N, one per host connection (ports are not ttys: nothing
 * to make raw).  Port 1's first
 * connection is the creator's and carries the configuration, as hvc0
 * does; every other connection is a client like those of a detached os
 * sandbox (loop.c).  A port whose client went away must be closed and
 * opened again before msb-vmm gives it to the next connection, and the
 * sandbox's own /dev has no such node: stage 0, outside the sandbox,
 * opens ports for stage 1 on request and passes the fds over a socketpair
 * (vm_serve_ports, vm_port_request).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <jansson.h>

#include "wire.h"
#include "proto.h"
#include "vm.h"

#define CHANNEL "/dev/hvc0"
#define ROOT_DISK "/dev/vda"
#define DEVICE_WAIT_MS 5000
#define HOST_WAIT_MS 30000   /* for the creator to connect to port 1 */

/* X of the ports' /dev/vportXpN (the console's virtio device index). */
static int vport_dev = -1;

int vm_detect(void)
{
	return getpid() == 1;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Is there a /dev/vportXp1 (a MULTIPORT console's port 1)? Sets vport_dev. */
static int find_port1(void)
{
	DIR *d = opendir("/dev");
	struct dirent *e;
	unsigned x, n;
	char tail;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (sscanf(e->d_name, "vport%up%u%c", &x, &n, &tail) == 2 && n == 1 &&
		    x < 1000) {
			vport_dev = (int)x;
			break;
		}
	closedir(d);
	return vport_dev >= 0;
}

static void port_path(char *buf, size_t n, unsigned port)
{
	snprintf(buf, n, "/dev/vport%dp%u", vport_dev, port);
}

/* Device nodes appear when their driver has probed; built-in drivers have
 * normally done so before init runs, but do not count on it. */
static int wait_for(const char *path)
{
	struct stat st;

	for (int waited = 0; stat(path, &st) < 0; waited += 10) {
		if (waited >= DEVICE_WAIT_MS)
			return -1;
		sleep_ms(10);
	}
	return 0;
}

static void vm_log(const char *msg)
{
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd >= 0) {
		(void)!write(fd, "msb-agent: ", 11);
		(void)!write(fd, msg, strlen(msg));
		(void)!write(fd, "\n", 1);
		close(fd);
	}
}

/* The VM's own pid namespace: only its PID 1 may power the VM off; the
 * sandbox's init (stage 1, PID 1 of a namespace of its own) just exits. */
static ino_t vm_pidns;

static ino_t pidns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 ? st.st_ino : 0;
}

void vm_power_off(int status)
{
	char msg[64];

	if (!vm_pidns || pidns() != vm_pidns)
		_exit(status);
	snprintf(msg, sizeof(msg), "sandbox ended (status %d); powering off", status);
	vm_log(msg);
	sync();
	reboot(RB_AUTOBOOT);   /* reboot=k: an i8042 reset ends msb-vmm */
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

/* Port 1, once the host connected to it (poll says POLLHUP while nobody
 * is: the driver's port_fops_poll). Blocking, for the handshake. */
static int open_port1(struct msb_wire_error *err)
{
	char path[64];
	int fd, fl;

	port_path(path, sizeof(path), 1);
	fd = open(path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "open %s", path);
	for (int waited = 0;; waited += 10) {
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

		if (poll(&p, 1, 0) == 1 && !(p.revents & (POLLHUP | POLLERR)))
			break;
		if (waited >= HOST_WAIT_MS) {
			vm_log("nobody connected to the agent socket");
			close(fd);
			return msb_wire_fail(err, MSB_WIRE_ETIMEDOUT, 0, NULL, "nobody connected");
		}
		sleep_ms(10);
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		close(fd);
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "fcntl %s", path);
	}
	return fd;
}

int vm_early(int *channel, int *multiport, struct msb_wire_error *err)
{
	struct termios t;
	int fd;

	/* The kernel mounted nothing: devtmpfs first, for stdio. */
	mkdir("/dev", 0755);
	if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") < 0 &&
	    errno != EBUSY)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mount devtmpfs on /dev");
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	/* Our own diagnostics go to the kernel console (the serial log). */
	fd = open("/dev/console", O_WRONLY | O_NOCTTY);
	if (fd < 0)
		fd = open("/dev/null", O_WRONLY);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mount /proc");
	vm_pidns = pidns();
	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mount /sys");
	if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		vm_log("no cgroup2 (limits fall back to rlimits)");

	/* The console (hvc0), or a detached VM's ports. */
	*multiport = 0;
	for (int waited = 0;; waited += 10) {
		struct stat st;

		if (stat(CHANNEL, &st) == 0)
			break;
		if (find_port1()) {
			*multiport = 1;
			break;
		}
		if (waited >= DEVICE_WAIT_MS) {
			vm_log("no " CHANNEL ": start msb-vmm with --console-fd, "
			       "--console-socket or --agent-socket");
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, ENODEV, NULL, "no %s", CHANNEL);
		}
		sleep_ms(10);
	}
	if (*multiport) {
		fd = open_port1(err);
		if (fd < 0)
			return -1;
	} else {
		fd = open(CHANNEL, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			vm_log("cannot open " CHANNEL);
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "open %s", CHANNEL);
		}
		/* A tty: raw bytes both ways, no echo, no line editing, no
		 * CR/LF mapping, no flow-control characters, reads return
		 * what is there. */
		if (tcgetattr(fd, &t) == 0) {
			cfmakeraw(&t);
			t.c_cc[VMIN] = 1;
			t.c_cc[VTIME] = 0;
			tcsetattr(fd, TCSANOW, &t);
		}
	}
	if (fd < 3) {
		int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);

		close(fd);
		fd = hi;
		if (fd < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "dup %s", CHANNEL);
	}
	*channel = fd;
	return 0;
}

int vm_greet(int channel)
{
	json_t *hello = msb_wire_vm_ready_encode();
	int rc = hello ? msb_frame_write_json(channel, MSB_FRAME_HELLO, 0, hello) : -1;

	json_decref(hello);
	return rc < 0 ? -1 : 0;
}

int vm_configure(struct agent_config *cfg, int multiport, struct msb_wire_error *err)
{
	int sp[2];

	cfg->vm = 1;
	cfg->host_pid = getpid();
	if (cfg->w.volumes_len)
		return msb_wire_fail(err, MSB_WIRE_EUNSUPPORTED, 0, "use the os backend for "
				  "host volumes", "the vm backend cannot do host "
				  "volumes yet");
	/* Detached: msb-vmm gives every client a port of its own; the
	 * socket is msb-vmm's, not ours. Not detached: the owner's
	 * connection alone, on port 1 (or the console, hvc0). */
	if ((cfg->w.socket_path && (!multiport || !cfg->w.ports)) ||
	    (!cfg->w.socket_path && cfg->w.ports))
		return msb_wire_fail(err, MSB_WIRE_EPROTO, 0, "install msb-vmm, msb-agent and "
				  "libmsb from the same release", "a %s sandbox in a VM "
				  "%s", cfg->w.socket_path ? "detached" : "non-detached",
				  multiport ? "with agent ports" : "without agent ports");
	free(cfg->w.socket_path);
	cfg->w.socket_path = NULL;
	if (cfg->w.ports) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "socketpair");
		cfg->port_helper = sp[0];
		cfg->port_helper_peer = sp[1];
	}
	return 0;
}

/* Move mount `what` to under the new root, keeping its name. */
static int move_into(const char *what, const char *root, struct msb_wire_error *err)
{
	char dst[64];

	snprintf(dst, sizeof(dst), "%s%s", root, what);
	mkdir(dst, 0755);
	if (mount(what, dst, NULL, MS_MOVE, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "the root filesystem image needs "
				  "/dev, /proc and /sys directories", "move %s into the root", what);
	return 0;
}

int vm_root(struct msb_wire_error *err)
{
	static const char root[] = "/newroot";

	if (wait_for(ROOT_DISK) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, ENODEV, "give msb-vmm the root "
				  "filesystem image as its first --disk",
				  "no root disk %s in the VM", ROOT_DISK);
	mkdir(root, 0755);
	if (mount(ROOT_DISK, root, "ext4", MS_RDONLY | MS_NODEV, "noload") < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "build the image with "
				  "scripts/build-rootfs.sh", "mount the root "
				  "filesystem image (%s, ext4)", ROOT_DISK);
	if (move_into("/dev", root, err) < 0 || move_into("/proc", root, err) < 0 ||
	    move_into("/sys", root, err) < 0)
		return -1;
	/* As switch_root does: the image over /, then chroot into it. */
	if (chdir(root) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "make the image the root");
	return 0;
}

/* ---- ports of a detached VM ---- */

void vm_serve_ports(int fd, unsigned nports)
{
	for (;;) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} u;
		struct msghdr mh = { 0 };
		struct iovec iov;
		uint32_t port;
		int32_t rc = 0;
		int pfd = -1;
		char path[64];
		ssize_t n = recv(fd, &port, sizeof(port), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;   /* stage 1 is gone */
		/* stage 1 is sandboxed: it gets its own ports, nothing else */
		if (n != sizeof(port) || port < 1 || port > nports || vport_dev < 0) {
			rc = EINVAL;
		} else {
			port_path(path, sizeof(path), port);
			pfd = open(path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
			if (pfd < 0)
				rc = errno;
		}
		iov.iov_base = &rc;
		iov.iov_len = sizeof(rc);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (pfd >= 0) {
			memset(&u, 0, sizeof(u));
			mh.msg_control = u.buf;
			mh.msg_controllen = sizeof(u.buf);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &pfd, sizeof(int));
		}
		while (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
			;
		/* only stage 1 may hold it: its close is the port's close */
		if (pfd >= 0)
			close(pfd);
	}
}

int vm_port_request(int helper, unsigned port)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr mh = { 0 };
	struct iovec iov;
	uint32_t p = port;
	int32_t rc = 0;
	ssize_t n;
	int fd = -1;

	if (send(helper, &p, sizeof(p), MSG_NOSIGNAL) != (ssize_t)sizeof(p))
		return -EPIPE;
	iov.iov_base = &rc;
	iov.iov_len = sizeof(rc);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(helper, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(rc))
		return -EPIPE;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc > 0 ? -rc : -EIO;
	}
	return fd >= 0 ? fd : -EIO;
}
