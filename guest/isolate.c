/*
 * isolate.c - enter the sandbox: the clone into new namespaces, and
 * stage 1's side of the isolation (in both backends; in a microVM, "the
 * host" is the VM). Stage 0's side is stage0.c, the mount tree mounts.c.
 *
 * Stage 0 (the process libmsb spawned, on the host, single-threaded):
 *   creates the sandbox's cgroup (cgroup.c), clones stage 1 into new user,
 *   pid, mount, net, ipc and uts namespaces, moves it into the cgroup,
 *   writes its uid/gid maps (sandbox root = an unprivileged host uid) and
 *   tells it to go on. Then it closes the protocol socket, waits for stage
 *   1, removes the cgroup and exits with stage 1's status.
 * Stage 1 (PID 1 of the new pid namespace): becomes root of its user
 *   namespace (dumpable only until then, for stage 0 to write its id
 *   maps; see agent.c), enters a new cgroup namespace, builds the
 *   sandbox root the way bubblewrap does (tmpfs root, read-only binds of the system
 *   directories, a generated /etc, masked /proc, minimal /dev, one tmpfs
 *   for every writable area), pivots into it, brings up lo, sets rlimits,
 *   starts a new session, closes stray fds, drops every capability, sets
 *   no_new_privs and installs the seccomp filter.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <grp.h>

#include "wire.h"
#include "base.h"
#include "isolate.h"
#include "mounts.h"
#include "seccomp_filter.h"
#include "stage0.h"

/* ---- stage 1 ------------------------------------------------------------ */

static int loopback_up(struct msb_wire_error *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	if (s < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "socket(AF_INET) for lo failed");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "SIOCGIFFLAGS on lo failed");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "bring lo up (SIOCSIFFLAGS) failed");
	return 0;
}

/* Lower a limit to at most v (rlimits can only go down without privilege). */
static int limit(int res, rlim_t v, const char *name, struct msb_wire_error *err)
{
	struct rlimit rl;
	if (getrlimit(res, &rl) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "getrlimit(%s) failed", name);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < v)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = v;
	if (setrlimit(res, &rl) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "setrlimit(%s, %llu) failed", name,
				  (unsigned long long)v);
	return 0;
}

static int set_rlimits(const struct agent_config *cfg, struct agent_enforcement *enf, struct msb_wire_error *err)
{
	if (limit(RLIMIT_CORE, 0, "RLIMIT_CORE", err) < 0 ||
	    limit(RLIMIT_NOFILE, 4096, "RLIMIT_NOFILE", err) < 0)
		return -1;
	if (enf->memory != MSB_WIRE_ENFORCE_CGROUP) {
		enf->memory = MSB_WIRE_ENFORCE_NONE;
		if (cfg->w.memory_bytes > 0) {
			/* RLIMIT_DATA, not RLIMIT_AS: it counts private writable
			 * memory (heap, anonymous mappings), what a memory limit
			 * means, and not the address space that V8, Go and Java
			 * reserve without using (node cannot even start under a
			 * 512 MiB RLIMIT_AS). */
			if (limit(RLIMIT_DATA, (rlim_t)cfg->w.memory_bytes, "RLIMIT_DATA", err) < 0)
				return -1;
			enf->memory = MSB_WIRE_ENFORCE_RLIMIT;
		}
	}
	if (enf->pids != MSB_WIRE_ENFORCE_CGROUP) {
		enf->pids = MSB_WIRE_ENFORCE_NONE;
		if (cfg->w.pids > 0) {
			/* Counted per (user namespace, uid) on current kernels. */
			if (limit(RLIMIT_NPROC, (rlim_t)cfg->w.pids, "RLIMIT_NPROC", err) < 0)
				return -1;
			enf->pids = MSB_WIRE_ENFORCE_RLIMIT;
		}
	}
	if (enf->cpu != MSB_WIRE_ENFORCE_CGROUP)
		enf->cpu = MSB_WIRE_ENFORCE_NONE; /* no rlimit can cap a share of cpu */
	return 0;
}

/* Close every fd from 3 up but `keep` and `keep2` (-1: none): the protocol
 * socket, and the listening socket or a VM's port helper. */
static int close_other_fds(int keep, int keep2, struct msb_wire_error *err)
{
	int lo = keep2 >= 0 && keep2 < keep ? keep2 : keep;
	int hi = keep2 >= 0 && keep2 > keep ? keep2 : keep;
	int rc = 0;

	/* [3, lo) (lo, hi) (hi, inf) */
	if (lo > 3)
		rc = (int)syscall(SYS_close_range, 3u, (unsigned)lo - 1, 0u);
	if (rc == 0 && hi > lo + 1)
		rc = (int)syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1, 0u);
	if (rc == 0)
		rc = (int)syscall(SYS_close_range, (unsigned)hi + 1, ~0u, 0u);
	if (rc < 0) {
		/* Kernels before 5.9: walk /proc/self/fd. */
		DIR *d = opendir("/proc/self/fd");
		if (!d)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "open /proc/self/fd failed");
		int dfd = dirfd(d);
		struct dirent *e;
		while ((e = readdir(d))) {
			int fd = atoi(e->d_name);
			if (e->d_name[0] != '.' && fd > 2 && fd != keep && fd != keep2 && fd != dfd)
				close(fd);
		}
		closedir(d);
	}
	if (keep2 >= 0 && fcntl(keep2, F_SETFD, FD_CLOEXEC) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "set FD_CLOEXEC on fd %d failed", keep2);
	if (fcntl(keep, F_SETFD, FD_CLOEXEC) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "set FD_CLOEXEC on the protocol socket failed");
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "open /dev/null failed");
	for (int i = 0; i < 3; i++)
		if (fd != i && dup2(fd, i) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "dup2 /dev/null to fd %d failed", i);
	if (fd > 2)
		close(fd);
	return 0;
}

static int drop_caps(struct msb_wire_error *err)
{
	int last = 63;
	char buf[16];
	_cleanup_close_ int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			last = atoi(buf);
		}
	}
	for (int c = 0; c <= last && c < 64; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "drop capability %d from the bounding set failed", c);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "clear the ambient capabilities failed");
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
					     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED,
		  0, 0, 0) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "set securebits failed");
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "capset to no capabilities failed");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "set no_new_privs failed");
	return 0;
}

/* Read exactly len bytes from stage 0; EOF means stage 0 is gone. */
static int read_go(int fd, void *buf, size_t len, struct msb_wire_error *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, n < 0 ? errno : 0, NULL,
					  "stage 0 went away before the sandbox was set up");
		got += (size_t)n;
	}
	return 0;
}

static int stage1(const struct agent_config *cfg, int sock, int go_fd, int bpf_fd,
		  const int *volume_trees, struct agent_enforcement *enf,
		  struct msb_wire_error *err)
{
	struct go_ids ids;
	struct go_limits lim;

	/* If stage 0 dies, so do we, and with us the whole pid namespace. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "prctl(PR_SET_PDEATHSIG) failed");
	/* getppid() is 0 across a pid namespace, so parent death is seen as
	 * EOF here instead: stage 0 keeps the write end open until it exits. */
	if (read_go(go_fd, &ids, sizeof(ids), err) < 0)
		return -1;

	if (setresgid(0, 0, 0) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "setresgid(0) in the user namespace failed");
	if (ids.clear_groups && setgroups(0, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "setgroups(0) in the user namespace failed");
	if (setresuid(0, 0, 0) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "setresuid(0) in the user namespace failed");
	/* Out of reach again, for good: the code we run may share our uid,
	 * and the uid change (a root caller's) set dumpability to whatever
	 * fs.suid_dumpable says. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "prctl(PR_SET_DUMPABLE, 0) failed");
	/* Changing the euid (root caller) cleared the death signal: set it
	 * again and check that stage 0 did not die in between. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "prctl(PR_SET_PDEATHSIG) failed");
	struct pollfd pfd = { .fd = go_fd, .events = POLLIN };
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, 0, NULL, "stage 0 went away during setup");

	char hostname[64];
	config_hostname(cfg, hostname); /* at most 63 chars */
	if (sethostname(hostname, strlen(hostname)) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "sethostname(%s) failed", hostname);

	umask(022);
	if (mounts_build(cfg, hostname, volume_trees, err) < 0 ||
	    mounts_enter_workdir(cfg->w.workdir, err) < 0)
		return -1;
	if (loopback_up(err) < 0)
		return -1;

	/* Now in our cgroup: make it the root of a cgroup namespace. */
	if (read_go(go_fd, &lim, sizeof(lim), err) < 0)
		return -1;
	close(go_fd);
	*enf = lim.enf;
	if (unshare(CLONE_NEWCGROUP) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "the kernel needs cgroup namespaces (CONFIG_CGROUPS, Linux 4.6+)",
				  "unshare(CLONE_NEWCGROUP) failed");
	if (set_rlimits(cfg, enf, err) < 0)
		return -1;
	/* Our own session: TIOCSTI and job control cannot reach the caller's tty. */
	if (setsid() < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "setsid failed");
	if (drop_caps(err) < 0)
		return -1;
	/* Dropping capabilities leaves dumpability alone; make sure. */
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, 0, NULL, "the agent is dumpable after setup");
	if (seccomp_load_fd(bpf_fd, err) < 0)
		return -1;
	close(bpf_fd);
	return close_other_fds(sock, cfg->listen_fd >= 0 ? cfg->listen_fd : cfg->port_helper, err);
}

int isolate_enter(const struct agent_config *cfg, int sock,
		  struct agent_enforcement *enf, struct msb_wire_error *err)
{
	int p[2], b[2];

	memset(enf, 0, sizeof(*enf));
	if (sock < 3)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, EBADF, NULL, "the protocol socket is fd %d; it must be 3 or above", sock);

	const int *volume_trees = stage0_volumes(cfg);
	if (pipe2(p, O_CLOEXEC) < 0) {
		int e = errno;
		stage0_release_volumes(cfg);
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, e, NULL, "pipe2 failed");
	}
	if (pipe2(b, O_CLOEXEC) < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		stage0_release_volumes(cfg);
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, e, NULL, "pipe2 failed");
	}
	/* Stage 1 is born dumpable and stays so until it has its ids (nothing
	 * of the sandbox runs before): a non-dumpable process's /proc files
	 * are root's, and an unprivileged stage 0 could not write its id
	 * maps. We are out of reach again as soon as the clone is done. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	/* A raw clone returns in the child like fork(), so that stage 1 can
	 * return from this function. We are single-threaded here. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
						      CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
				   NULL, NULL, NULL, NULL);
	if (pid != 0) {
		int e = errno;

		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* cannot fail for 0 */
		errno = e;
	}
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		close(b[0]);
		close(b[1]);
		stage0_release_volumes(cfg);
		if (e == EPERM || e == EINVAL || e == ENOSPC || e == EUSERS)
			return msb_wire_fail(err, MSB_WIRE_EUNSUPPORTED, e,
					  "enable unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1 (Debian/Ubuntu), user.max_user_namespaces > 0, and on Ubuntu 24.04+ kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile",
					  "cannot create a user namespace (clone with CLONE_NEWUSER failed)");
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, e, NULL, "clone of the sandbox's init failed");
	}
	if (pid == 0) {
		close(p[1]);
		close(b[1]);
		return stage1(cfg, sock, p[0], b[0], volume_trees, enf, err);
	}
	close(p[0]);
	close(b[0]);
	stage0_release_volumes(cfg); /* stage 1 has its own copies */
	return stage0_run(cfg, sock, pid, p[1], b[1], enf, err);
}
