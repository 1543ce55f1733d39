/*
 * mounts.c - the sandbox's mount tree, built by stage 1 in its own mount
 * namespace the way bubblewrap does: a staging tmpfs with the host's root
 * pivoted to /oldroot, a tmpfs root (/newroot) with read-only binds of the
 * rootfs's system directories, a generated /etc, a minimal /dev, a masked
 * /proc, one tmpfs of disk_bytes behind every writable area, the volumes
 * (every tmpfs with a bound on its inodes as well as its size);
 * then the root remounted read-only and pivoted into, the host's root
 * detached.
 *
 * The rootfs is the caller's and may hold symlinks aimed anywhere (an
 * image's /etc/resolv.conf -> /oldroot/etc/shadow, ../../../..). Every
 * path taken from it is opened under an fd of the rootfs as if it were /
 * (openat2 RESOLVE_IN_ROOT; without openat2 no symlink is followed), and
 * mounts are made from and onto those fds (/proc/self/fd/N), so that no
 * path string is resolved again through the staging root, where the
 * host's root is one /oldroot away.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wire.h"
#include "base.h"
#include "mounts.h"

/* ---- mounts ------------------------------------------------------------- */

/* Where the host's /proc is while we build the root (after the first
 * pivot_root it is /oldroot/proc). */
#define HOST_PROC "/oldroot/proc"
#define NEWROOT "/newroot"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Resolve every symlink as if the directory were / and ".." stopped there. */
#define IN_ROOT ((uint64_t)(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS))
/* Follow no symlink at all. */
#define NO_LINKS ((uint64_t)(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS))

/* Without openat2: walk path from dir one component at a time, never
 * following a symlink (ELOOP or ENOTDIR) nor "..". */
static int open_walk(int dir, const char *path, int flags)
{
	char buf[PATH_MAX];
	if (pathf(buf, sizeof(buf), "%s", path) < 0)
		return -1;
	_cleanup_close_ int cur = path[0] == '/' ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)
						 : fcntl(dir, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -1;
	char *save = NULL, *c = strtok_r(buf, "/", &save);
	if (!c)
		return openat(cur, ".", flags | O_CLOEXEC);
	for (;;) {
		char *next = strtok_r(NULL, "/", &save);
		if (strcmp(c, "..") == 0) {
			errno = EXDEV;
			return -1;
		}
		if (!next)
			return openat(cur, c, flags | O_NOFOLLOW | O_CLOEXEC);
		int fd = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -1;
		close(cur);
		cur = fd;
		c = next;
	}
}

/*
 * openat(dir, path, flags) with openat2's resolve flags (IN_ROOT or
 * NO_LINKS). Where openat2 is missing (before Linux 5.6) no symlink is
 * followed: a path through one fails, which is safe for both.
 */
static int open_resolved(int dir, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .resolve = resolve };
	if (!path[0])
		path = ".";
	for (int tries = 0; tries < 16; tries++) {
		long fd = syscall(SYS_openat2, dir, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN) /* EAGAIN: a rename raced the lookup */
			break;
	}
	if (errno != ENOSYS)
		return -1;
	return open_walk(dir, path, flags);
}

/* The path through which mount(2) reaches the file an fd refers to (the
 * host's /proc is all there is while we build). */
struct fd_path {
	char s[48];
};
static struct fd_path fd_path(int fd)
{
	struct fd_path p;
	snprintf(p.s, sizeof(p.s), HOST_PROC "/self/fd/%d", fd);
	return p;
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
	_cleanup_close_ int fd = open_resolved(AT_FDCWD, path, O_PATH, NO_LINKS);
	if (fd < 0 || fstatvfs(fd, &sv) < 0)
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
	return mount(NULL, fd_path(fd).s, NULL, MS_REMOUNT | MS_BIND | locked | flags, NULL);
}

/* Remount path and every mount below it (from mountinfo) with flags. The
 * paths are opened without following symlinks: a link swapped in by the
 * host meanwhile fails the remount rather than redirect it. */
static int remount_tree(const char *path, unsigned long flags, struct msb_wire_error *err)
{
	if (remount_one(path, flags) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "the host may forbid remounting this bind mount read-only from a user namespace",
				  "remount %s read-only/nosuid failed", path);

	_cleanup_fclose_ FILE *f = fopen(HOST_PROC "/self/mountinfo", "re");
	if (!f)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "is /proc mounted on the host?",
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
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "the host may forbid remounting this mount read-only from a user namespace",
					  "remount submount %s read-only failed", mp);
		}
	}
	return 0;
}

/* Bind src on dst (recursively), then add flags to the whole tree. */
static int bind_tree(const char *src, const char *dst, unsigned long flags, struct msb_wire_error *err)
{
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "bind mount %s on %s failed", src, dst);
	return remount_tree(dst, flags, err);
}

/* bind_tree from an fd (what: its path for messages) onto dst, an fd too
 * when dstfd >= 0. */
static int bind_fd_tree(int src, const char *what, int dstfd, const char *dst, unsigned long flags,
			struct msb_wire_error *err)
{
	if (mount(fd_path(src).s, dstfd >= 0 ? fd_path(dstfd).s : dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "bind mount %s on %s failed", what, dst);
	return remount_tree(dst, flags, err);
}

static int mount_tmpfs(const char *dst, unsigned long flags, const char *opts, struct msb_wire_error *err)
{
	if (mount("tmpfs", dst, "tmpfs", flags, opts) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mount tmpfs (%s) on %s failed", opts, dst);
	return 0;
}

/* The system directories, each a symlink (merged /usr; kept as text, it is
 * resolved in the sandbox's own root) or a read-only bind. */
static int setup_system_dirs(int root, struct msb_wire_error *err)
{
	static const char *const dirs[] = { "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char dst[PATH_MAX], target[PATH_MAX];
		struct stat st;
		if (pathf(dst, sizeof(dst), NEWROOT "/%s", dirs[i]) < 0)
			return msb_wire_fail(err, MSB_WIRE_EINVAL, errno, NULL, "rootfs path too long");
		_cleanup_close_ int fd = open_resolved(root, dirs[i], O_PATH | O_NOFOLLOW, IN_ROOT);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0 || fstat(fd, &st) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "the sandbox's host uid must be able to read the rootfs",
					  "open /%s in the rootfs failed", dirs[i]);
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
			if (n < 0)
				return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "readlink /%s in the rootfs failed", dirs[i]);
			target[n] = '\0';
			if (symlink(target, dst) < 0)
				return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "symlink %s -> %s failed", dst, target);
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		if (mkdir(dst, 0755) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir %s failed", dst);
		if (bind_fd_tree(fd, dst + strlen(NEWROOT), -1, dst, MS_RDONLY | MS_NOSUID | MS_NODEV, err) < 0)
			return -1;
	}
	return 0;
}

/* Copy a small regular file from the rootfs's /etc; a symlink is copied as
 * a symlink unless follow is set, and then followed inside the rootfs.
 * Missing or unreadable files are skipped: none of them is essential. */
static void copy_etc(int root, const char *name, int follow)
{
	char rel[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	if (pathf(rel, sizeof(rel), "etc/%s", name) < 0 ||
	    pathf(dst, sizeof(dst), NEWROOT "/etc/%s", name) < 0)
		return;
	_cleanup_close_ int lfd = open_resolved(root, rel, O_PATH | O_NOFOLLOW, IN_ROOT);
	if (lfd < 0 || fstat(lfd, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode) && !follow) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(lfd, "", target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			(void)symlink(target, dst);
		}
		return;
	}
	_cleanup_close_ int in = open_resolved(root, rel, O_RDONLY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW), IN_ROOT);
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

static int setup_etc(int root, const char *hostname, struct msb_wire_error *err)
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
		/* No network: the host's (or the image's) nameservers would only
		 * tell about the host. */
		{ "resolv.conf", "# msb: the sandbox has no network, hence no nameserver\n" },
	};
	snprintf(hosts, sizeof(hosts),
		 "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", hostname);
	snprintf(hn, sizeof(hn), "%s\n", hostname);

	if (mkdir(NEWROOT "/etc", 0755) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir " NEWROOT "/etc failed");
	for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++) {
		char path[PATH_MAX];
		if (pathf(path, sizeof(path), NEWROOT "/etc/%s", gen[i].name) < 0 ||
		    write_file(path, gen[i].data, 0644) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "write /etc/%s failed", gen[i].name);
	}
	copy_etc(root, "ld.so.cache", 1);
	copy_etc(root, "localtime", 0);   /* -> /usr/share/zoneinfo/... */
	copy_etc(root, "os-release", 0);  /* -> ../usr/lib/os-release */

	/* Read-only views of a few directories that programs need. Only the
	 * certificates of /etc/ssl: never /etc/ssl/private, shadow or keys. */
	static const char *const ro[] = { "alternatives", "ssl/certs", "ca-certificates" };
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		char rel[PATH_MAX], dst[PATH_MAX];
		if (pathf(rel, sizeof(rel), "etc/%s", ro[i]) < 0 ||
		    pathf(dst, sizeof(dst), NEWROOT "/etc/%s", ro[i]) < 0)
			return msb_wire_fail(err, MSB_WIRE_EINVAL, errno, NULL, "rootfs path too long");
		_cleanup_close_ int fd = open_resolved(root, rel, O_PATH | O_DIRECTORY, IN_ROOT);
		if (fd < 0)
			continue;
		if (mkdir_p(dst, 0755) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir %s failed", dst);
		if (bind_fd_tree(fd, dst + strlen(NEWROOT), -1, dst, MS_RDONLY | MS_NOSUID | MS_NODEV, err) < 0)
			return -1;
	}
	return 0;
}

/* /dev: a small tmpfs with binds of the host's harmless device nodes (no
 * mknod in a user namespace), a private devpts, and /dev/shm. */
static int setup_dev(struct msb_wire_error *err)
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
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir /dev failed");
	if (mount_tmpfs(NEWROOT "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=512", err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		char src[64], dst[64];
		snprintf(src, sizeof(src), "/oldroot/dev/%s", nodes[i]);
		snprintf(dst, sizeof(dst), NEWROOT "/dev/%s", nodes[i]);
		if (access(src, F_OK) < 0 && strcmp(nodes[i], "tty") == 0)
			continue;
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "create %s failed", dst);
		close(fd);
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "the host's /dev must provide null, zero, full, random and urandom",
					  "bind mount /dev/%s failed", nodes[i]);
		if (remount_one(dst, MS_NOSUID | MS_NOEXEC) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "remount /dev/%s nosuid,noexec failed", nodes[i]);
	}
	if (mkdir(NEWROOT "/dev/pts", 0755) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir /dev/pts failed");
	/* No gid= option: the host's tty group is not mapped. */
	if (mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620") < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "the kernel needs CONFIG_DEVPTS_MULTIPLE_INSTANCES (always on since 4.7)",
				  "mount devpts on /dev/pts failed");
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char dst[64];
		snprintf(dst, sizeof(dst), NEWROOT "/dev/%s", links[i].name);
		if (symlink(links[i].target, dst) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "symlink /dev/%s failed", links[i].name);
	}
	if (mkdir(NEWROOT "/dev/shm", 01777) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir /dev/shm failed");
	if (mount("/rw/shm", NEWROOT "/dev/shm", NULL, MS_BIND, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "bind mount /dev/shm failed");
	/* Nothing in /dev itself is for the sandbox to create. */
	if (mount(NULL, NEWROOT "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "remount /dev read-only failed");
	return 0;
}

/* A fresh /proc for the new pid namespace, masked like Docker's default,
 * and like gVisor also what tells about the host rather than the sandbox:
 * its boot command line, kernel configuration and interrupt counters. */
static int setup_proc(struct msb_wire_error *err)
{
	static const char *const null_files[] = { "kcore", "keys", "timer_list", "sched_debug",
						  "latency_stats", "timer_stats",
						  "cmdline", "config.gz", "interrupts" };
	static const char *const empty_dirs[] = { "acpi", "asound", "scsi" };
	static const char *const ro_paths[] = { "bus", "fs", "irq", "sys", "sysrq-trigger" };
	char path[64];
	struct stat st;

	if (mkdir(NEWROOT "/proc", 0555) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir /proc failed");
	if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno,
				  "mounting proc in a user namespace needs an unobstructed /proc on the host (no files or directories of it mounted over, as in some containers)",
				  "mount proc on /proc failed");
	for (size_t i = 0; i < sizeof(null_files) / sizeof(null_files[0]); i++) {
		snprintf(path, sizeof(path), NEWROOT "/proc/%s", null_files[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (mount(NEWROOT "/dev/null", path, NULL, MS_BIND, NULL) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mask /proc/%s failed", null_files[i]);
	}
	for (size_t i = 0; i < sizeof(empty_dirs) / sizeof(empty_dirs[0]); i++) {
		snprintf(path, sizeof(path), NEWROOT "/proc/%s", empty_dirs[i]);
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (mount_tmpfs(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=4k,nr_inodes=16", err) < 0)
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

/*
 * Open the volume's mount point in the sandbox's root to be (creating
 * what is missing: directories, and a file for a file volume), one
 * component at a time and refusing symlinks: a link would resolve against
 * the staging root, and a bound rootfs directory can change under us.
 * Returns an O_PATH fd or -1 with *err.
 */
static int volume_target(const struct msb_wire_volume *v, int src_is_dir, struct msb_wire_error *err)
{
	char buf[PATH_MAX], at[PATH_MAX] = "";
	if (pathf(buf, sizeof(buf), "%s", v->sandbox_path) < 0)
		return msb_wire_fail(err, MSB_WIRE_EINVAL, ENAMETOOLONG, NULL, "volume path too long");
	int cur = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "open " NEWROOT " failed");
	char *save = NULL, *c = strtok_r(buf, "/", &save);
	while (c) {
		char *next = strtok_r(NULL, "/", &save);
		struct stat st;
		size_t len = strlen(at);
		snprintf(at + len, sizeof(at) - len, "/%s", c); /* fits: at is a prefix of the path */
		int fd = openat(cur, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT) {
			int rc;
			if (next || src_is_dir) {
				rc = mkdirat(cur, c, 0755);
			} else {
				rc = openat(cur, c, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (rc >= 0)
					close(rc);
			}
			if (rc < 0) {
				int e = errno;
				close(cur);
				if (e == EROFS)
					return msb_wire_fail(err, MSB_WIRE_EINVAL, e,
							  "mount volumes under a writable or new directory (e.g. /workspace, /mnt, /data), or at a path that exists in the rootfs",
							  "volume sandbox path %s lies under a read-only system directory and %s does not exist",
							  v->sandbox_path, at);
				return msb_wire_fail(err, MSB_WIRE_ESPAWN, e, NULL, "create volume mount point %s failed", at);
			}
			fd = openat(cur, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		int e = errno;
		close(cur);
		if (fd < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, e, NULL, "open %s failed", at);
		if (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode)) {
			close(fd);
			return msb_wire_fail(err, MSB_WIRE_EINVAL, 0, "mount the volume at a path without symlinks",
					  "volume sandbox path %s crosses the symlink %s", v->sandbox_path, at);
		}
		if (next && !S_ISDIR(st.st_mode)) {
			close(fd);
			return msb_wire_fail(err, MSB_WIRE_EINVAL, ENOTDIR, NULL, "volume sandbox path %s: %s is not a directory",
					  v->sandbox_path, at);
		}
		cur = fd;
		c = next;
	}
	return cur;
}

/* src: the host path opened before the pivot, or -errno. */
static int setup_volume(const struct msb_wire_volume *v, int tree, int src, struct msb_wire_error *err)
{
	char dst[PATH_MAX];
	struct stat sst;

	if (!v->host_path || v->host_path[0] != '/')
		return msb_wire_fail(err, MSB_WIRE_EINVAL, 0, "give the volume's host path as an absolute path",
				  "volume host path '%s' is not absolute", v->host_path ? v->host_path : "");
	if (!volume_path_ok(v->sandbox_path))
		return msb_wire_fail(err, MSB_WIRE_EINVAL, 0,
				  "use an absolute path without '.' or '..' that is not /, /proc or /dev, e.g. /workspace/data",
				  "volume sandbox path '%s' is not allowed", v->sandbox_path ? v->sandbox_path : "");
	if (pathf(dst, sizeof(dst), NEWROOT "%s", v->sandbox_path) < 0)
		return msb_wire_fail(err, MSB_WIRE_EINVAL, ENAMETOOLONG, NULL, "volume path too long");
	if (src < 0)
		errno = -src;
	if (src < 0 || fstat(src, &sst) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return msb_wire_fail(err, MSB_WIRE_ENOTFOUND, errno, "create it on the host first or fix the path",
					  "volume host path %s does not exist", v->host_path);
		return msb_wire_fail(err, MSB_WIRE_EPERM, errno,
				  "the sandbox runs as an unprivileged host uid: the host path and its parent directories must be accessible to it",
				  "cannot access volume host path %s", v->host_path);
	}

	_cleanup_close_ int at = volume_target(v, S_ISDIR(sst.st_mode), err);
	if (at < 0)
		return -1;
	if (tree >= 0) {
		/* Already read-only, nosuid and nodev as asked (stage 0). */
		if (move_mount(tree, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "attach volume %s at %s failed",
					  v->host_path, v->sandbox_path);
		return 0;
	}
	return bind_fd_tree(src, v->host_path, at, dst, (v->read_only ? MS_RDONLY : 0) | MS_NOSUID | MS_NODEV, err);
}

/* The volumes' host paths, opened before the pivot. */
struct fds {
	int *fd;
	size_t n;
};
static void fds_close(struct fds *f)
{
	for (size_t i = 0; f->fd && i < f->n; i++)
		closep(&f->fd[i]);
	free(f->fd);
}

int mounts_build(const struct agent_config *cfg, const char *hostname,
		 const int *volume_trees, struct msb_wire_error *err)
{
	char opts[128];
	const char *rootfs = cfg->w.rootfs && cfg->w.rootfs[0] ? cfg->w.rootfs : "/";

	if (rootfs[0] != '/')
		return msb_wire_fail(err, MSB_WIRE_EINVAL, 0, "give the rootfs as an absolute path", "rootfs '%s' is not absolute", rootfs);
	if (cfg->w.disk_bytes <= 0)
		return msb_wire_fail(err, MSB_WIRE_EINVAL, 0, NULL, "disk limit must be positive");

	/* The paths the caller named (the rootfs, the volumes' host paths)
	 * are opened now, while / is still the host's: they resolve as they
	 * do on the host. Everything else is resolved from these fds. */
	_cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return msb_wire_fail(err, errno == ENOENT || errno == ENOTDIR ? MSB_WIRE_ENOTFOUND : MSB_WIRE_ESPAWN, errno,
				  "the sandbox's host uid must be able to reach the rootfs, a directory",
				  "open the rootfs %s failed", rootfs);
	__attribute__((cleanup(fds_close))) struct fds srcs = { calloc(cfg->w.volumes_len + 1, sizeof(int)), cfg->w.volumes_len };
	if (!srcs.fd)
		return msb_wire_fail(err, MSB_WIRE_ENOMEM, ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < srcs.n; i++) {
		const char *hp = cfg->w.volumes[i].host_path;
		srcs.fd[i] = hp && hp[0] == '/' ? open(hp, O_PATH | O_CLOEXEC) : -1;
		if (srcs.fd[i] < 0)
			srcs.fd[i] = -errno;
	}

	/* Host mount events may reach us, ours never reach the host. */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "make / a recursive slave mount failed");
	/* A staging root on /tmp: /newroot (the sandbox's root to be),
	 * /oldroot (the host's root) and /rw (the writable area). */
	if (mount_tmpfs("/tmp", MS_NOSUID | MS_NODEV, "mode=0755,size=1m,nr_inodes=64", err) < 0)
		return -1;
	if (chdir("/tmp") < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "chdir to the staging root failed");
	if (mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0755) < 0 || mkdir("rw", 0755) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir in the staging root failed");
	if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "pivot_root into the staging root failed");
	if (chdir("/") < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "chdir / failed");

	if (mount_tmpfs(NEWROOT, MS_NOSUID | MS_NODEV, "mode=0755,size=8m,nr_inodes=4096", err) < 0)
		return -1;
	/* One tmpfs bounds every writable area together, its inodes too: they
	 * are kernel memory that size= does not count, and tmpfs's default
	 * (half the host's pages) lets empty files pin gigabytes. A file with
	 * data takes a page anyway, so one inode per page of disk refuses no
	 * real use (and 8192 at least, for trees of empty files). */
	long long inodes = cfg->w.disk_bytes / 4096;
	snprintf(opts, sizeof(opts), "mode=0755,size=%lld,nr_inodes=%lld",
		 (long long)cfg->w.disk_bytes, inodes < 8192 ? 8192 : inodes);
	if (mount_tmpfs("/rw", MS_NOSUID | MS_NODEV, opts, err) < 0)
		return -1;
	if (mkdir_mode("/rw/tmp", 01777) < 0 || mkdir_mode("/rw/workspace", 0755) < 0 ||
	    mkdir_mode("/rw/root", 0700) < 0 || mkdir_mode("/rw/shm", 01777) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir in the writable tmpfs failed");

	if (setup_system_dirs(root, err) < 0 || setup_etc(root, hostname, err) < 0)
		return -1;

	static const struct { const char *rw, *at; mode_t mode; } areas[] = {
		{ "/rw/tmp", NEWROOT AGENT_RW_TMP, 01777 },
		{ "/rw/workspace", NEWROOT AGENT_RW_WORKSPACE, 0755 },
		{ "/rw/root", NEWROOT AGENT_RW_HOME, 0700 },
	};
	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		if (mkdir(areas[i].at, areas[i].mode) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "mkdir %s failed", areas[i].at);
		if (mount(areas[i].rw, areas[i].at, NULL, MS_BIND, NULL) < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "bind mount %s failed", areas[i].at);
	}

	if (setup_dev(err) < 0 || setup_proc(err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->w.volumes_len; i++)
		if (setup_volume(&cfg->w.volumes[i], volume_trees ? volume_trees[i] : -1, srcs.fd[i], err) < 0)
			return -1;

	/* Writes to /, /etc, ... now fail with EROFS. */
	if (mount(NULL, NEWROOT, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "remount the sandbox root read-only failed");
	if (umount2("/oldroot", MNT_DETACH) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "detach the host root failed");
	if (chdir(NEWROOT) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "chdir " NEWROOT " failed");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "pivot_root into the sandbox root failed");
	if (umount2(".", MNT_DETACH) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "detach the staging root failed");
	if (chdir("/") < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "chdir / failed");
	return 0;
}

int mounts_enter_workdir(const char *workdir, struct msb_wire_error *err)
{
	const char *wd = workdir && workdir[0] ? workdir : AGENT_RW_WORKSPACE;
	if (wd[0] != '/')
		return msb_wire_fail(err, MSB_WIRE_EINVAL, 0, "give the workdir as an absolute path", "workdir '%s' is not absolute", wd);
	if (chdir(wd) == 0)
		return 0;
	if (errno == ENOENT && mkdir_p(wd, 0755) == 0 && chdir(wd) == 0)
		return 0;
	return msb_wire_fail(err, MSB_WIRE_EINVAL, errno,
			  "choose a workdir under " AGENT_RW_WORKSPACE ", " AGENT_RW_TMP " or " AGENT_RW_HOME
			  " (or an existing directory)",
			  "workdir %s does not exist and cannot be created: it is not in a writable area", wd);
}
