/*
 * isolate.c - enter the sandbox (os backend).
 *
 * Stage 0 (the process libmsb spawned, on the host, single-threaded):
 *   creates the sandbox's cgroup (cgroup.c), clones stage 1 into new user,
 *   pid, mount, net, ipc and uts namespaces, moves it into the cgroup,
 *   writes its uid/gid maps (sandbox root = an unprivileged host uid) and
 *   tells it to go on. Then it closes the protocol socket, waits for stage
 *   1, removes the cgroup and exits with stage 1's status.
 * Stage 1 (PID 1 of the new pid namespace): becomes root of its user
 *   namespace, enters a new cgroup namespace, builds the sandbox root the
 *   way bubblewrap does (tmpfs root, read-only binds of the system
 *   directories, a generated /etc, masked /proc, minimal /dev, one tmpfs
 *   for every writable area), pivots into it, brings up lo, sets rlimits,
 *   starts a new session, closes stray fds, drops every capability, sets
 *   no_new_privs and installs the seccomp filter.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

#include "agent.h"
#include "cgroup.h"

/* Volumes prepared by stage 0 as detached, idmapped mount trees (one fd per
 * volume, -1 for a plain bind). Stage 1 inherits the array with its copy of
 * the address space. */
static int *volume_trees;

/* ---- small helpers ------------------------------------------------------ */

static void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static void freep(void *p) { free(*(void **)p); }
static void fclosep(FILE **f) { if (*f) fclose(*f); }
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_fclose_ __attribute__((cleanup(fclosep)))

/* snprintf that fails (ENAMETOOLONG) instead of truncating. */
__attribute__((format(printf, 3, 4)))
static int pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Create (or replace) path with the given contents. */
static int write_file(const char *path, const char *data, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -1;
	return write_all(fd, data, strlen(data));
}

/* Write to an existing file such as /proc/PID/uid_map. */
static int write_proc(const char *path, const char *data)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return write_all(fd, data, strlen(data));
}

static int mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -1;
	return chmod(path, mode); /* mode is subject to umask; 1777 too */
}

/* mkdir -p of an absolute path; existing directories are fine. */
static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (pathf(buf, sizeof(buf), "%s", path) < 0)
		return -1;
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -1;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/* ---- mounts ------------------------------------------------------------- */

/* Where the host's /proc is while we build the root (after the first
 * pivot_root it is /oldroot/proc). */
#define HOST_PROC "/oldroot/proc"
#define NEWROOT "/newroot"

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
void mountinfo_unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
		    r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/*
 * Remount one mount point with `flags` added (MS_RDONLY, MS_NOSUID, ...).
 * Inside a user namespace the flags of mounts inherited from the host are
 * locked: a remount must keep nosuid/nodev/noexec (and the atime mode) as
 * they are or it fails with EPERM. statvfs tells which are set; the atime
 * mode is preserved by the kernel when no atime flag is passed.
 */
static int remount_one(const char *path, unsigned long flags)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return -1;
	unsigned long locked = 0;
	if (sv.f_flag & ST_NOSUID)
		locked |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		locked |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		locked |= MS_NOEXEC;
	if (sv.f_flag & ST_RDONLY)
		locked |= MS_RDONLY;
	return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | locked | flags, NULL);
}

/* Remount path and every mount below it (from mountinfo) with flags. */
static int remount_tree(const char *path, unsigned long flags, struct agent_err *err)
{
	if (remount_one(path, flags) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, "the host may forbid remounting this bind mount read-only from a user namespace",
				  "remount %s read-only/nosuid failed", path);

	_cleanup_fclose_ FILE *f = fopen(HOST_PROC "/self/mountinfo", "re");
	if (!f)
		return agent_fail(err, MSB_ESPAWN, errno, "is /proc mounted on the host?",
				  "open %s/self/mountinfo", HOST_PROC);
	size_t plen = strlen(path);
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *mp = NULL, *p = line;
		for (int i = 0; i < 5; i++, p = NULL)
			if (!(mp = strtok_r(p, " \n", &save)))
				break;
		if (!mp)
			continue;
		mountinfo_unescape(mp);
		if (strncmp(mp, path, plen) != 0 || mp[plen] != '/')
			continue;
		if (remount_one(mp, flags) < 0) {
			/* A mount point we cannot even look up is not reachable
			 * from inside either (bubblewrap ignores these too). */
			if (errno == EACCES || errno == ENOENT)
				continue;
			return agent_fail(err, MSB_ESPAWN, errno, "the host may forbid remounting this mount read-only from a user namespace",
					  "remount submount %s read-only failed", mp);
		}
	}
	return 0;
}

/* Bind src on dst (recursively), then add flags to the whole tree. */
static int bind_tree(const char *src, const char *dst, unsigned long flags, struct agent_err *err)
{
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "bind mount %s on %s failed", src, dst);
	return remount_tree(dst, flags, err);
}

static int mount_tmpfs(const char *dst, unsigned long flags, const char *opts, struct agent_err *err)
{
	if (mount("tmpfs", dst, "tmpfs", flags, opts) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "mount tmpfs (%s) on %s failed", opts, dst);
	return 0;
}

/* The system directories, each a symlink (merged /usr) or a read-only bind. */
static int setup_system_dirs(const char *src_root, struct agent_err *err)
{
	static const char *const dirs[] = { "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char src[PATH_MAX], dst[PATH_MAX], target[PATH_MAX];
		struct stat st;
		if (pathf(src, sizeof(src), "%s/%s", src_root, dirs[i]) < 0 ||
		    pathf(dst, sizeof(dst), NEWROOT "/%s", dirs[i]) < 0)
			return agent_fail(err, MSB_EINVAL, errno, NULL, "rootfs path too long");
		if (lstat(src, &st) < 0) {
			if (errno == ENOENT)
				continue;
			return agent_fail(err, MSB_ESPAWN, errno, "the sandbox's host uid must be able to read the rootfs",
					  "lstat %s failed", src + strlen("/oldroot"));
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(src, target, sizeof(target) - 1);
			if (n < 0)
				return agent_fail(err, MSB_ESPAWN, errno, NULL, "readlink %s failed", src);
			target[n] = '\0';
			if (symlink(target, dst) < 0)
				return agent_fail(err, MSB_ESPAWN, errno, NULL, "symlink %s -> %s failed", dst, target);
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		if (mkdir(dst, 0755) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir %s failed", dst);
		if (bind_tree(src, dst, MS_RDONLY | MS_NOSUID | MS_NODEV, err) < 0)
			return -1;
	}
	return 0;
}

/* Copy a small regular file from the rootfs's /etc; a symlink is copied as
 * a symlink unless follow is set. Missing or unreadable files are skipped:
 * none of them is essential. */
static void copy_etc(const char *src_root, const char *name, int follow)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	if (pathf(src, sizeof(src), "%s/etc/%s", src_root, name) < 0 ||
	    pathf(dst, sizeof(dst), NEWROOT "/etc/%s", name) < 0 ||
	    lstat(src, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode) && !follow) {
		char target[PATH_MAX];
		ssize_t n = readlink(src, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			(void)symlink(target, dst);
		}
		return;
	}
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20))
		return;
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write_all(out, buf, (size_t)n) < 0)
			break;
}

static int setup_etc(const char *src_root, const char *hostname, struct agent_err *err)
{
	char hosts[512], hn[128];
	struct {
		const char *name, *data;
	} gen[] = {
		{ "passwd", "root:x:0:0:root:/root:/bin/sh\n"
			    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" },
		{ "group", "root:x:0:\nnogroup:x:65534:\n" },
		{ "hosts", hosts },
		{ "nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\n"
				   "hosts: files dns\n" },
		{ "hostname", hn },
	};
	snprintf(hosts, sizeof(hosts),
		 "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", hostname);
	snprintf(hn, sizeof(hn), "%s\n", hostname);

	if (mkdir(NEWROOT "/etc", 0755) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir " NEWROOT "/etc failed");
	for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++) {
		char path[PATH_MAX];
		if (pathf(path, sizeof(path), NEWROOT "/etc/%s", gen[i].name) < 0 ||
		    write_file(path, gen[i].data, 0644) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "write /etc/%s failed", gen[i].name);
	}
	copy_etc(src_root, "resolv.conf", 1); /* often a symlink into /run */
	copy_etc(src_root, "ld.so.cache", 1);
	copy_etc(src_root, "localtime", 0);   /* -> /usr/share/zoneinfo/... */
	copy_etc(src_root, "os-release", 0);  /* -> ../usr/lib/os-release */

	/* Read-only views of a few directories that programs need. Only the
	 * certificates of /etc/ssl: never /etc/ssl/private, shadow or keys. */
	static const char *const ro[] = { "alternatives", "ssl/certs", "ca-certificates" };
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		char src[PATH_MAX], dst[PATH_MAX];
		struct stat st;
		if (pathf(src, sizeof(src), "%s/etc/%s", src_root, ro[i]) < 0 ||
		    pathf(dst, sizeof(dst), NEWROOT "/etc/%s", ro[i]) < 0)
			return agent_fail(err, MSB_EINVAL, errno, NULL, "rootfs path too long");
		if (stat(src, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (mkdir_p(dst, 0755) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir %s failed", dst);
		if (bind_tree(src, dst, MS_RDONLY | MS_NOSUID | MS_NODEV, err) < 0)
			return -1;
	}
	return 0;
}

/* /dev: a small tmpfs with binds of the host's harmless device nodes (no
 * mknod in a user namespace), a private devpts, and /dev/shm. */
static int setup_dev(struct agent_err *err)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const struct { const char *target, *name; } links[] = {
		{ "pts/ptmx", "ptmx" },
		{ "/proc/self/fd", "fd" },
		{ "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" },
	};
	if (mkdir(NEWROOT "/dev", 0755) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir /dev failed");
	if (mount_tmpfs(NEWROOT "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k", err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		char src[64], dst[64];
		snprintf(src, sizeof(src), "/oldroot/dev/%s", nodes[i]);
		snprintf(dst, sizeof(dst), NEWROOT "/dev/%s", nodes[i]);
		if (access(src, F_OK) < 0 && strcmp(nodes[i], "tty") == 0)
			continue;
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "create %s failed", dst);
		close(fd);
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, "the host's /dev must provide null, zero, full, random and urandom",
					  "bind mount /dev/%s failed", nodes[i]);
		if (remount_one(dst, MS_NOSUID | MS_NOEXEC) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "remount /dev/%s nosuid,noexec failed", nodes[i]);
	}
	if (mkdir(NEWROOT "/dev/pts", 0755) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir /dev/pts failed");
	/* No gid= option: the host's tty group is not mapped. */
	if (mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620") < 0)
		return agent_fail(err, MSB_ESPAWN, errno, "the kernel needs CONFIG_DEVPTS_MULTIPLE_INSTANCES (always on since 4.7)",
				  "mount devpts on /dev/pts failed");
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char dst[64];
		snprintf(dst, sizeof(dst), NEWROOT "/dev/%s", links[i].name);
		if (symlink(links[i].target, dst) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "symlink /dev/%s failed", links[i].name);
	}
	if (mkdir(NEWROOT "/dev/shm", 01777) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir /dev/shm failed");
	if (mount("/rw/shm", NEWROOT "/dev/shm", NULL, MS_BIND, NULL) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "bind mount /dev/shm failed");
	/* Nothing in /dev itself is for the sandbox to create. */
	if (mount(NULL, NEWROOT "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "remount /dev read-only failed");
	return 0;
}

/* A fresh /proc for the new pid namespace, masked like Docker's default. */
static int setup_proc(struct agent_err *err)
{
	static const char *const null_files[] = { "kcore", "keys", "timer_list", "sched_debug",
						  "latency_stats", "timer_stats" };
	static const char *const empty_dirs[] = { "acpi", "asound", "scsi" };
	static const char *const ro_paths[] = { "bus", "fs", "irq", "sys", "sysrq-trigger" };
	char path[64];
	struct stat st;

	if (mkdir(NEWROOT "/proc", 0555) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir /proc failed");
	if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return agent_fail(err, MSB_ESPAWN, errno,
				  "mounting proc in a user namespace needs an unobstructed /proc on the host (no files or directories of it mounted over, as in some containers)",
				  "mount proc on /proc failed");
	for (size_t i = 0; i < sizeof(null_files) / sizeof(null_files[0]); i++) {
		snprintf(path, sizeof(path), NEWROOT "/proc/%s", null_files[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (mount(NEWROOT "/dev/null", path, NULL, MS_BIND, NULL) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "mask /proc/%s failed", null_files[i]);
	}
	for (size_t i = 0; i < sizeof(empty_dirs) / sizeof(empty_dirs[0]); i++) {
		snprintf(path, sizeof(path), NEWROOT "/proc/%s", empty_dirs[i]);
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (mount_tmpfs(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=4k", err) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(ro_paths) / sizeof(ro_paths[0]); i++) {
		snprintf(path, sizeof(path), NEWROOT "/proc/%s", ro_paths[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (bind_tree(path, path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, err) < 0)
			return -1;
	}
	return 0;
}

/* Is a sandbox path acceptable as a volume mount point? */
static int volume_path_ok(const char *p)
{
	if (!p || p[0] != '/' || strcmp(p, "/") == 0)
		return 0;
	for (const char *s = p; *s;) {
		while (*s == '/')
			s++;
		size_t n = strcspn(s, "/");
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n;
	}
	static const char *const banned[] = { "/proc", "/dev" };
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(banned[i]);
		const char *q = p;
		while (q[0] == '/' && q[1] == '/')
			q++;
		if (strncmp(q, banned[i], n) == 0 && (q[n] == '\0' || q[n] == '/'))
			return 0;
	}
	return 1;
}

static int setup_volume(const struct agent_volume *v, int tree, struct agent_err *err)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat sst, st;

	if (!v->host_path || v->host_path[0] != '/')
		return agent_fail(err, MSB_EINVAL, 0, "give the volume's host path as an absolute path",
				  "volume host path '%s' is not absolute", v->host_path ? v->host_path : "");
	if (!volume_path_ok(v->sandbox_path))
		return agent_fail(err, MSB_EINVAL, 0,
				  "use an absolute path without '.' or '..' that is not /, /proc or /dev, e.g. /workspace/data",
				  "volume sandbox path '%s' is not allowed", v->sandbox_path ? v->sandbox_path : "");
	if (pathf(src, sizeof(src), "/oldroot%s", v->host_path) < 0 ||
	    pathf(dst, sizeof(dst), NEWROOT "%s", v->sandbox_path) < 0)
		return agent_fail(err, MSB_EINVAL, ENAMETOOLONG, NULL, "volume path too long");
	if (stat(src, &sst) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return agent_fail(err, MSB_ENOTFOUND, errno, "create it on the host first or fix the path",
					  "volume host path %s does not exist", v->host_path);
		return agent_fail(err, MSB_EPERM, errno,
				  "the sandbox runs as an unprivileged host uid: the host path and its parent directories must be accessible to it",
				  "cannot access volume host path %s", v->host_path);
	}

	/* Create the mount point, refusing to cross symlinks (they would
	 * resolve against the staging root, not the sandbox's). */
	char *p = dst + strlen(NEWROOT) + 1;
	for (;;) {
		while (*p == '/')
			p++;
		char *slash = strchr(p, '/');
		int last = !slash || slash[strspn(slash, "/")] == '\0';
		if (slash)
			*slash = '\0';
		if (lstat(dst, &st) == 0) {
			if (S_ISLNK(st.st_mode))
				return agent_fail(err, MSB_EINVAL, 0, "mount the volume at a path without symlinks",
						  "volume sandbox path %s crosses the symlink %s", v->sandbox_path,
						  dst + strlen(NEWROOT));
			if (!last && !S_ISDIR(st.st_mode))
				return agent_fail(err, MSB_EINVAL, ENOTDIR, NULL, "volume sandbox path %s: %s is not a directory",
						  v->sandbox_path, dst + strlen(NEWROOT));
		} else if (errno == ENOENT) {
			int rc;
			if (!last || S_ISDIR(sst.st_mode)) {
				rc = mkdir(dst, 0755);
			} else {
				rc = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
				if (rc >= 0)
					close(rc);
			}
			if (rc < 0) {
				if (errno == EROFS)
					return agent_fail(err, MSB_EINVAL, errno,
							  "mount volumes under a writable or new directory (e.g. /workspace, /mnt, /data), or at a path that exists in the rootfs",
							  "volume sandbox path %s lies under a read-only system directory and %s does not exist",
							  v->sandbox_path, dst + strlen(NEWROOT));
				return agent_fail(err, MSB_ESPAWN, errno, NULL, "create volume mount point %s failed",
						  dst + strlen(NEWROOT));
			}
		} else {
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "lstat %s failed", dst + strlen(NEWROOT));
		}
		if (last)
			break;
		*slash = '/';
		p = slash + 1;
	}
	if (tree >= 0) {
		/* Already read-only, nosuid and nodev as asked (stage 0). */
		if (move_mount(tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "attach volume %s at %s failed",
					  v->host_path, v->sandbox_path);
		return 0;
	}
	return bind_tree(src, dst, (v->read_only ? MS_RDONLY : 0) | MS_NOSUID | MS_NODEV, err);
}

static int setup_fs(const struct agent_config *cfg, const char *hostname, struct agent_err *err)
{
	char src_root[PATH_MAX], opts[128];
	const char *rootfs = cfg->rootfs && cfg->rootfs[0] ? cfg->rootfs : "/";

	if (rootfs[0] != '/')
		return agent_fail(err, MSB_EINVAL, 0, "give the rootfs as an absolute path", "rootfs '%s' is not absolute", rootfs);
	if (pathf(src_root, sizeof(src_root), "/oldroot%s", strcmp(rootfs, "/") == 0 ? "" : rootfs) < 0)
		return agent_fail(err, MSB_EINVAL, errno, NULL, "rootfs path too long");
	if (cfg->disk_bytes <= 0)
		return agent_fail(err, MSB_EINVAL, 0, NULL, "disk limit must be positive");

	/* Host mount events may reach us, ours never reach the host. */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "make / a recursive slave mount failed");
	/* A staging root on /tmp: /newroot (the sandbox's root to be),
	 * /oldroot (the host's root) and /rw (the writable area). */
	if (mount_tmpfs("/tmp", MS_NOSUID | MS_NODEV, "mode=0755,size=1m", err) < 0)
		return -1;
	if (chdir("/tmp") < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "chdir to the staging root failed");
	if (mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0755) < 0 || mkdir("rw", 0755) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir in the staging root failed");
	if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "pivot_root into the staging root failed");
	if (chdir("/") < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "chdir / failed");

	if (mount_tmpfs(NEWROOT, MS_NOSUID | MS_NODEV, "mode=0755,size=8m", err) < 0)
		return -1;
	/* One tmpfs bounds every writable area together. */
	snprintf(opts, sizeof(opts), "mode=0755,size=%lld", (long long)cfg->disk_bytes);
	if (mount_tmpfs("/rw", MS_NOSUID | MS_NODEV, opts, err) < 0)
		return -1;
	if (mkdir_mode("/rw/tmp", 01777) < 0 || mkdir_mode("/rw/workspace", 0755) < 0 ||
	    mkdir_mode("/rw/root", 0700) < 0 || mkdir_mode("/rw/shm", 01777) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir in the writable tmpfs failed");

	if (setup_system_dirs(src_root, err) < 0 || setup_etc(src_root, hostname, err) < 0)
		return -1;

	static const struct { const char *rw, *at; mode_t mode; } areas[] = {
		{ "/rw/tmp", NEWROOT AGENT_RW_TMP, 01777 },
		{ "/rw/workspace", NEWROOT AGENT_RW_WORKSPACE, 0755 },
		{ "/rw/root", NEWROOT AGENT_RW_HOME, 0700 },
	};
	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		if (mkdir(areas[i].at, areas[i].mode) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "mkdir %s failed", areas[i].at);
		if (mount(areas[i].rw, areas[i].at, NULL, MS_BIND, NULL) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "bind mount %s failed", areas[i].at);
	}

	if (setup_dev(err) < 0 || setup_proc(err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->volumes_len; i++)
		if (setup_volume(&cfg->volumes[i], volume_trees ? volume_trees[i] : -1, err) < 0)
			return -1;

	/* Writes to /, /etc, ... now fail with EROFS. */
	if (mount(NULL, NEWROOT, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "remount the sandbox root read-only failed");
	if (umount2("/oldroot", MNT_DETACH) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "detach the host root failed");
	if (chdir(NEWROOT) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "chdir " NEWROOT " failed");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "pivot_root into the sandbox root failed");
	if (umount2(".", MNT_DETACH) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "detach the staging root failed");
	if (chdir("/") < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "chdir / failed");
	return 0;
}

/* ---- the rest of stage 1 ------------------------------------------------ */

static int enter_workdir(const char *workdir, struct agent_err *err)
{
	const char *wd = workdir && workdir[0] ? workdir : AGENT_RW_WORKSPACE;
	if (wd[0] != '/')
		return agent_fail(err, MSB_EINVAL, 0, "give the workdir as an absolute path", "workdir '%s' is not absolute", wd);
	if (chdir(wd) == 0)
		return 0;
	if (errno == ENOENT && mkdir_p(wd, 0755) == 0 && chdir(wd) == 0)
		return 0;
	return agent_fail(err, MSB_EINVAL, errno,
			  "choose a workdir under " AGENT_RW_WORKSPACE ", " AGENT_RW_TMP " or " AGENT_RW_HOME
			  " (or an existing directory)",
			  "workdir %s does not exist and cannot be created: it is not in a writable area", wd);
}

static int loopback_up(struct agent_err *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	if (s < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "socket(AF_INET) for lo failed");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "SIOCGIFFLAGS on lo failed");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "bring lo up (SIOCSIFFLAGS) failed");
	return 0;
}

/* Lower a limit to at most v (rlimits can only go down without privilege). */
static int limit(int res, rlim_t v, const char *name, struct agent_err *err)
{
	struct rlimit rl;
	if (getrlimit(res, &rl) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "getrlimit(%s) failed", name);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < v)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = v;
	if (setrlimit(res, &rl) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "setrlimit(%s, %llu) failed", name,
				  (unsigned long long)v);
	return 0;
}

static int set_rlimits(const struct agent_config *cfg, struct agent_enforcement *enf, struct agent_err *err)
{
	if (limit(RLIMIT_CORE, 0, "RLIMIT_CORE", err) < 0 ||
	    limit(RLIMIT_NOFILE, 4096, "RLIMIT_NOFILE", err) < 0)
		return -1;
	if (enf->memory != MSB_ENFORCE_CGROUP) {
		enf->memory = MSB_ENFORCE_NONE;
		if (cfg->memory_bytes > 0) {
			/* RLIMIT_DATA, not RLIMIT_AS: it counts private writable
			 * memory (heap, anonymous mappings), what a memory limit
			 * means, and not the address space that V8, Go and Java
			 * reserve without using (node cannot even start under a
			 * 512 MiB RLIMIT_AS). */
			if (limit(RLIMIT_DATA, (rlim_t)cfg->memory_bytes, "RLIMIT_DATA", err) < 0)
				return -1;
			enf->memory = MSB_ENFORCE_RLIMIT;
		}
	}
	if (enf->pids != MSB_ENFORCE_CGROUP) {
		enf->pids = MSB_ENFORCE_NONE;
		if (cfg->pids > 0) {
			/* Counted per (user namespace, uid) on current kernels. */
			if (limit(RLIMIT_NPROC, (rlim_t)cfg->pids, "RLIMIT_NPROC", err) < 0)
				return -1;
			enf->pids = MSB_ENFORCE_RLIMIT;
		}
	}
	if (enf->cpu != MSB_ENFORCE_CGROUP)
		enf->cpu = MSB_ENFORCE_NONE; /* no rlimit can cap a share of cpu */
	return 0;
}

/* Close every fd from 3 up but `keep` and `keep2` (-1: none): the protocol
 * socket, and the listening socket or a VM's port helper. */
static int close_other_fds(int keep, int keep2, struct agent_err *err)
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
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "open /proc/self/fd failed");
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
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "set FD_CLOEXEC on fd %d failed", keep2);
	if (fcntl(keep, F_SETFD, FD_CLOEXEC) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "set FD_CLOEXEC on the protocol socket failed");
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "open /dev/null failed");
	for (int i = 0; i < 3; i++)
		if (fd != i && dup2(fd, i) < 0)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "dup2 /dev/null to fd %d failed", i);
	if (fd > 2)
		close(fd);
	return 0;
}

static int drop_caps(struct agent_err *err)
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
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "drop capability %d from the bounding set failed", c);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "clear the ambient capabilities failed");
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
					     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED,
		  0, 0, 0) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "set securebits failed");
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "capset to no capabilities failed");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "set no_new_privs failed");
	return 0;
}

/* What stage 0 sends stage 1 once the cgroup and id maps are in place. */
/* Stage 0 tells stage 1 to go on in two steps: once the id maps are
 * written (go_ids), and once the cgroups are in place (go_limits), which
 * stage 0 sets up while stage 1 builds its mounts. The seccomp filter,
 * compiled by stage 0 meanwhile, follows on a pipe of its own. */
struct go_ids {
	int clear_groups; /* setgroups is allowed: drop supplementary groups */
};

struct go_limits {
	struct agent_enforcement enf;
};

/* Read exactly len bytes from stage 0; EOF means stage 0 is gone. */
static int read_go(int fd, void *buf, size_t len, struct agent_err *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return agent_fail(err, MSB_ESPAWN, n < 0 ? errno : 0, NULL,
					  "stage 0 went away before the sandbox was set up");
		got += (size_t)n;
	}
	return 0;
}

static int stage1(const struct agent_config *cfg, int sock, int go_fd, int bpf_fd,
		  struct agent_enforcement *enf, struct agent_err *err)
{
	struct go_ids ids;
	struct go_limits lim;

	/* If stage 0 dies, so do we, and with us the whole pid namespace. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "prctl(PR_SET_PDEATHSIG) failed");
	/* getppid() is 0 across a pid namespace, so parent death is seen as
	 * EOF here instead: stage 0 keeps the write end open until it exits. */
	if (read_go(go_fd, &ids, sizeof(ids), err) < 0)
		return -1;

	if (setresgid(0, 0, 0) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "setresgid(0) in the user namespace failed");
	if (ids.clear_groups && setgroups(0, NULL) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "setgroups(0) in the user namespace failed");
	if (setresuid(0, 0, 0) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "setresuid(0) in the user namespace failed");
	/* Changing the euid (root caller) cleared the death signal: set it
	 * again and check that stage 0 did not die in between. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "prctl(PR_SET_PDEATHSIG) failed");
	struct pollfd pfd = { .fd = go_fd, .events = POLLIN };
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
		return agent_fail(err, MSB_ESPAWN, 0, NULL, "stage 0 went away during setup");

	char hostname[64];
	const char *name = cfg->name && cfg->name[0] ? cfg->name : "msb";
	snprintf(hostname, sizeof(hostname), "%s", name); /* at most 63 chars */
	if (sethostname(hostname, strlen(hostname)) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "sethostname(%s) failed", hostname);

	umask(022);
	if (setup_fs(cfg, hostname, err) < 0 || enter_workdir(cfg->workdir, err) < 0)
		return -1;
	if (loopback_up(err) < 0)
		return -1;

	/* Now in our cgroup: make it the root of a cgroup namespace. */
	if (read_go(go_fd, &lim, sizeof(lim), err) < 0)
		return -1;
	close(go_fd);
	*enf = lim.enf;
	if (unshare(CLONE_NEWCGROUP) < 0)
		return agent_fail(err, MSB_ESPAWN, errno, "the kernel needs cgroup namespaces (CONFIG_CGROUPS, Linux 4.6+)",
				  "unshare(CLONE_NEWCGROUP) failed");
	if (set_rlimits(cfg, enf, err) < 0)
		return -1;
	/* Our own session: TIOCSTI and job control cannot reach the caller's tty. */
	if (setsid() < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "setsid failed");
	if (drop_caps(err) < 0 || seccomp_load_fd(bpf_fd, err) < 0)
		return -1;
	close(bpf_fd);
	return close_other_fds(sock, cfg->listen_fd >= 0 ? cfg->listen_fd : cfg->port_helper, err);
}

/* ---- stage 0 ------------------------------------------------------------- */

static int write_id_maps(pid_t pid, int privileged, uid_t uid, gid_t gid, struct agent_err *err)
{
	char path[64], map[64];
	if (!privileged) {
		/* An unprivileged writer must give up setgroups() first. */
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
		if (write_proc(path, "deny") < 0 && errno != ENOENT)
			return agent_fail(err, MSB_ESPAWN, errno, NULL, "write %s failed", path);
	}
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if (write_proc(path, map) < 0)
		return agent_fail(err, MSB_EPERM, errno, NULL, "write %s (%s) failed", path, "0 -> host uid");
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	if (write_proc(path, map) < 0)
		return agent_fail(err, MSB_EPERM, errno, NULL, "write %s (%s) failed", path, "0 -> host gid");
	return 0;
}

/* Is id mapped in our own user namespace (a line of /proc/self/uid_map)?
 * Root of a nested user namespace (unshare -Ur, rootless containers) is
 * root in name only: it can map just the ids its own namespace has. */
static int id_mapped(const char *map_file, unsigned long id)
{
	FILE *f = fopen(map_file, "re");
	unsigned long inside, outside, count;
	int found = 0;
	if (!f)
		return 0;
	while (!found && fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
		found = id >= inside && id - inside < count;
	fclose(f);
	return found;
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int wait_child(pid_t pid)
{
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, 0);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return 255;
		/* libmsb's last resort before SIGKILL: end the sandbox
		 * (PID 1 takes the namespace with it) and clean up. */
		if (stop_requested)
			kill(pid, SIGKILL);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

static int stage0(const struct agent_config *cfg, int sock, pid_t pid, int go_fd,
		  int bpf_fd, struct agent_enforcement *enf, struct agent_err *err)
{
	struct cg_sandbox cg;
	struct go_ids ids = { 0 };
	struct go_limits lim;
	/* Sandbox root is never host root: a caller's own uid, or for a root
	 * caller an otherwise unused uid unique among live sandboxes. */
	unsigned long id = 1000000ul + (unsigned long)getpid();
	int privileged = geteuid() == 0 && id_mapped("/proc/self/uid_map", id) &&
			 id_mapped("/proc/self/gid_map", id);
	uid_t uid = privileged ? (uid_t)id : geteuid();
	gid_t gid = privileged ? (gid_t)id : getegid();

	ids.clear_groups = privileged;
	/* stage 1's end of the port helper: its closing tells us it is gone */
	if (cfg->port_helper >= 0)
		close(cfg->port_helper);
	if (write_id_maps(pid, privileged, uid, gid, err) < 0 ||
	    (write_all(go_fd, &ids, sizeof(ids)) < 0 &&
	     agent_fail(err, MSB_ESPAWN, errno, NULL, "signal stage 1 failed") < 0)) {
		kill(pid, SIGKILL);
		(void)wait_child(pid);
		close(go_fd);
		close(bpf_fd);
		return -1;
	}

	/* While stage 1 builds its mounts: the cgroups, and the filter. Stage 1
	 * forks nothing before it hears from us, so nothing escapes the move. */
	cg_create(&cg, cfg);
	cg_attach(&cg, pid);
	memset(&lim, 0, sizeof(lim));
	cg_enforcement(&cg, &lim.enf);
	lim.enf.disk = MSB_ENFORCE_KERNEL;
	lim.enf.time = MSB_ENFORCE_KERNEL;
	*enf = lim.enf;
	if ((write_all(go_fd, &lim, sizeof(lim)) < 0 &&
	     agent_fail(err, MSB_ESPAWN, errno, NULL, "signal stage 1 failed") < 0) ||
	    seccomp_export(bpf_fd, err) < 0) {
		kill(pid, SIGKILL);
		(void)wait_child(pid);
		cg_destroy(&cg);
		close(go_fd);
		close(bpf_fd);
		return -1;
	}
	close(bpf_fd);

	/* Only stage 1 talks to the host: its EOF must be the sandbox's. */
	close(sock);
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: waitpid must see EINTR */
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* A detached VM: open ports for stage 1 until it goes. */
	if (cfg->port_helper_peer >= 0) {
		vm_serve_ports(cfg->port_helper_peer, cfg->ports);
		close(cfg->port_helper_peer);
	}
	int status = wait_child(pid);
	/* Stage 1 was PID 1: its exit killed the rest of the namespace. */
	cg_destroy(&cg);
	if (cfg->vm)
		vm_power_off(status);
	_exit(status);
}

/* A user namespace that maps host uid/gid `owner` to `id`, for an idmapped
 * mount: a child is cloned into it, its maps written, the namespace kept
 * open by fd, and the child let go. Returns the fd or -1. */
static int idmap_userns(uid_t owner, gid_t gowner, unsigned long id)
{
	char path[64], map[64];
	int p[2], fd = -1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		char c;
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	if (pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		snprintf(map, sizeof(map), "%lu %lu 1\n", (unsigned long)owner, id);
		if (write_proc(path, map) == 0) {
			snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
			snprintf(map, sizeof(map), "%lu %lu 1\n", (unsigned long)gowner, id);
			if (write_proc(path, map) == 0) {
				snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
				fd = open(path, O_RDONLY | O_CLOEXEC);
			}
		}
	}
	close(p[1]);
	if (pid > 0)
		(void)wait_child(pid);
	return fd;
}

/*
 * A root caller's sandbox root is an unprivileged host uid, which could not
 * write (or even read) a volume owned by someone else. Each volume is
 * therefore mounted idmapped: the volume's owner appears as the sandbox's
 * root, and what the sandbox creates there belongs to that owner on the
 * host. (The seccomp filter forbids setuid/setgid bits, so that ownership
 * cannot be turned into a privilege on the host.) Filesystems without
 * idmap support, and kernels before 5.12, get a plain bind instead.
 */
static void prepare_volumes(const struct agent_config *cfg, unsigned long id)
{
	volume_trees = calloc(cfg->volumes_len ? cfg->volumes_len : 1, sizeof(int));
	if (!volume_trees)
		return;
	for (size_t i = 0; i < cfg->volumes_len; i++) {
		const struct agent_volume *v = &cfg->volumes[i];
		struct stat st;
		int ns, tree = -1;

		volume_trees[i] = -1;
		if (!v->host_path || v->host_path[0] != '/' || stat(v->host_path, &st) < 0)
			continue; /* stage 1 reports it */
		if ((ns = idmap_userns(st.st_uid, st.st_gid, id)) < 0)
			continue;
		tree = (int)open_tree(AT_FDCWD, v->host_path,
				      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (tree >= 0) {
			struct mount_attr attr = {
				.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					    (v->read_only ? MOUNT_ATTR_RDONLY : 0),
				.userns_fd = (uint64_t)ns,
			};
			if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
				close(tree);
				tree = -1;
			}
		}
		close(ns);
		volume_trees[i] = tree;
	}
}

static void release_volumes(const struct agent_config *cfg)
{
	for (size_t i = 0; volume_trees && i < cfg->volumes_len; i++)
		if (volume_trees[i] >= 0)
			close(volume_trees[i]);
	free(volume_trees);
	volume_trees = NULL;
}

int isolate_enter(const struct agent_config *cfg, int sock,
		  struct agent_enforcement *enf, struct agent_err *err)
{
	int p[2], b[2];

	memset(enf, 0, sizeof(*enf));
	if (sock < 3)
		return agent_fail(err, MSB_ESPAWN, EBADF, NULL, "the protocol socket is fd %d; it must be 3 or above", sock);

	unsigned long id = 1000000ul + (unsigned long)getpid();
	if (cfg->volumes_len && geteuid() == 0 && id_mapped("/proc/self/uid_map", id) &&
	    id_mapped("/proc/self/gid_map", id))
		prepare_volumes(cfg, id);
	if (pipe2(p, O_CLOEXEC) < 0) {
		int e = errno;
		release_volumes(cfg);
		return agent_fail(err, MSB_ESPAWN, e, NULL, "pipe2 failed");
	}
	if (pipe2(b, O_CLOEXEC) < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		release_volumes(cfg);
		return agent_fail(err, MSB_ESPAWN, e, NULL, "pipe2 failed");
	}
	/* A raw clone returns in the child like fork(), so that stage 1 can
	 * return from this function. We are single-threaded here. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
						      CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
				   NULL, NULL, NULL, NULL);
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		close(b[0]);
		close(b[1]);
		release_volumes(cfg);
		if (e == EPERM || e == EINVAL || e == ENOSPC || e == EUSERS)
			return agent_fail(err, MSB_EUNSUPPORTED, e,
					  "enable unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1 (Debian/Ubuntu), user.max_user_namespaces > 0, and on Ubuntu 24.04+ kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile",
					  "cannot create a user namespace (clone with CLONE_NEWUSER failed)");
		return agent_fail(err, MSB_ESPAWN, e, NULL, "clone of the sandbox's init failed");
	}
	if (pid == 0) {
		close(p[1]);
		close(b[1]);
		return stage1(cfg, sock, p[0], b[0], enf, err);
	}
	close(p[0]);
	close(b[0]);
	release_volumes(cfg); /* stage 1 has its own copies */
	return stage0(cfg, sock, pid, p[1], b[1], enf, err);
}
