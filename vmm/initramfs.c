/*
 * initramfs.c - msb-vmm --init FILE: an initramfs holding FILE as /init,
 * written in the kernel's "newc" cpio format into a memfd.  libmsb boots
 * its microVMs this way with msb-agent as /init, so the guest always runs
 * the very agent that libmsb found next to itself, and no archive needs to
 * be built or kept in step with it.
 *
 * The kernel unpacks this on top of its built-in initramfs (which already
 * holds /dev, /dev/console and /root).  Format: for each entry a 110-byte
 * ASCII header ("070701" and 13 fields of 8 hex digits), the NUL-terminated
 * name, padding to 4 bytes, the data, padding to 4 bytes; the archive ends
 * with an entry named "TRAILER!!!".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "vmm.h"

#define MAX_INIT (64u << 20)   /* a static agent is about 2 MiB */

static int put(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int pad4(int fd, size_t done)
{
	static const char zero[4];

	return put(fd, zero, (4 - done % 4) % 4);
}

static int entry(int fd, unsigned ino, unsigned mode, const char *name,
		 const void *data, size_t size)
{
	char hdr[160];
	size_t namesz = strlen(name) + 1;

	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 ino, mode, 0u, 0u, (mode & S_IFDIR) ? 2u : 1u, 0u, (unsigned)size,
		 0u, 0u, 0u, 0u, (unsigned)namesz, 0u);
	if (put(fd, hdr, 110) < 0 || put(fd, name, namesz) < 0 ||
	    pad4(fd, 110 + namesz) < 0 || put(fd, data, size) < 0 ||
	    pad4(fd, size) < 0)
		return -1;
	return 0;
}

int initramfs_build(const char *init_path)
{
	struct stat st;
	void *data = MAP_FAILED;
	int in, fd = -1;

	in = open(init_path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return vmm_fail(errno, "--init %s", init_path);
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		vmm_fail(errno ? errno : EINVAL, "--init %s: not a regular file", init_path);
		goto out;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > MAX_INIT) {
		vmm_fail(EINVAL, "--init %s: %lld bytes (expected 1 byte to 64 MiB)",
			 init_path, (long long)st.st_size);
		goto out;
	}
	data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, in, 0);
	if (data == MAP_FAILED) {
		vmm_fail(errno, "--init %s: mmap", init_path);
		goto out;
	}
	fd = memfd_create("msb-initramfs", MFD_CLOEXEC);
	if (fd < 0) {
		vmm_fail(errno, "--init: memfd_create");
		goto out;
	}
	if (entry(fd, 1, S_IFREG | 0755, "init", data, (size_t)st.st_size) < 0 ||
	    entry(fd, 2, S_IFDIR | 0755, "proc", NULL, 0) < 0 ||
	    entry(fd, 3, S_IFDIR | 0755, "sys", NULL, 0) < 0 ||
	    entry(fd, 4, S_IFDIR | 0755, "run", NULL, 0) < 0 ||
	    entry(fd, 0, 0, "TRAILER!!!", NULL, 0) < 0) {
		vmm_fail(errno, "--init: writing the initramfs");
		close(fd);
		fd = -1;
	}
out:
	if (data != MAP_FAILED)
		munmap(data, (size_t)st.st_size);
	close(in);
	return fd;
}
