/*
 * backend_vm.c - the vm backend: a microVM per sandbox.
 *
 * libmsb spawns msb-vmm (vmm/), which boots the guest kernel with msb-agent
 * as /init of an initramfs (msb-vmm --init), the shared root filesystem
 * image as a read-only virtio-blk disk, and the virtio-console joined to
 * our end of a socketpair (--console-fd 3).  The agent then speaks the very
 * protocol of the os backend over that console (guest/vminit.c), HELLO
 * first, and isolates the sandbox inside the guest as it would on a host.
 *
 * The VM ends when the sandbox does (the agent powers it off), when libmsb
 * closes its end (msb-vmm ends the VM when the console's host end goes:
 * this covers the owner's death), or on SIGTERM/SIGKILL to msb-vmm
 * (msb_os_kill, since sb->agent_pid is the VMM).
 *
 * What the VM needs, each found next to libmsb or where `make install`
 * puts it, or named by an environment variable:
 *   MSB_VMM_PATH      msb-vmm
 *   MSB_VM_KERNEL     the guest kernel (vmlinux; `make kernel`)
 *   MSB_VM_ROOTFS     the root filesystem image (`make rootfs`)
 * and MSB_VM_LOG=FILE keeps the guest's serial console (kernel and agent
 * messages) in FILE, for debugging.
 * The agent is the os backend's (MSB_AGENT_PATH).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "internal.h"

#ifndef MSB_LIBEXECDIR
#define MSB_LIBEXECDIR "/usr/local/libexec"
#endif
#ifndef MSB_DATADIR
#define MSB_DATADIR "/usr/local/share"
#endif

#define GUEST_OVERHEAD (160ll << 20)   /* kernel, page cache, agent */
#define GUEST_MAX_MEM  (3ll << 30)     /* msb-vmm's limit */
#define SERIAL_TAIL    1024

struct vm_files {
	char vmm[PATH_MAX], agent[PATH_MAX], kernel[PATH_MAX], rootfs[PATH_MAX];
};

int msb_vm_find(struct vm_files *f)
{
	static const char *const vmm_rels[] = {
		"../libexec/msb/msb-vmm", "../bin/msb-vmm", "msb-vmm", NULL
	};
	static const char *const agent_rels[] = {
		"../libexec/msb/msb-agent", "msb-agent", NULL
	};
	static const char *const kernel_rels[] = { "../share/msb/vmlinux", NULL };
	static const char *const rootfs_rels[] = { "../share/msb/rootfs.ext4", NULL };
	struct vm_files scratch;
	int rc;

	if (!f)
		f = &scratch;
	if ((rc = msb_find_file("MSB_VMM_PATH", vmm_rels, MSB_LIBEXECDIR
				"/msb/msb-vmm", "msb-vmm", f->vmm,
				sizeof(f->vmm))) ||
	    (rc = msb_find_file("MSB_AGENT_PATH", agent_rels, MSB_LIBEXECDIR
				"/msb/msb-agent", "msb-agent", f->agent,
				sizeof(f->agent))) ||
	    (rc = msb_find_file("MSB_VM_KERNEL", kernel_rels, MSB_DATADIR
				"/msb/vmlinux", "the guest kernel (make kernel)",
				f->kernel, sizeof(f->kernel))) ||
	    (rc = msb_find_file("MSB_VM_ROOTFS", rootfs_rels, MSB_DATADIR
				"/msb/rootfs.ext4", "the root filesystem image "
				"(make rootfs)", f->rootfs, sizeof(f->rootfs))))
		return rc;
	return 0;
}

const char *msb_vm_unsupported(const msb_sandbox *sb)
{
	if (sb->detached)
		return "detached (named) sandboxes";
	if (sb->volumes_len)
		return "host volumes";
	if (strcmp(sb->rootfs, "/"))
		return "a root directory (it boots an image: set MSB_VM_ROOTFS)";
	return NULL;
}

uint64_t msb_vm_rss(const msb_sandbox *sb)
{
	char path[64], line[256];
	unsigned long long kib = 0;
	FILE *f;

	if (sb->agent_pid <= 0 || sb->agent_reaped)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)sb->agent_pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib * 1024;
}

/* The end of the guest's serial console, for an error message: the
 * kernel's last words when the VM did not come up. */
static void serial_tail(int fd, char *out, size_t outsz)
{
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)outsz - 1 ? end - (off_t)outsz + 1 : 0;
	ssize_t n = end > 0 ? pread(fd, out, outsz - 1, from) : 0;

	out[n > 0 ? n : 0] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\r' || (*p < ' ' && *p != '\n'))
			*p = ' ';
}

int msb_vm_start(msb_sandbox *sb)
{
	struct vm_files f;
	const char *missing = msb_vm_unsupported(sb);
	char disk[PATH_MAX + 8], mem[32], cpus[24];
	const char *vm_log = getenv("MSB_VM_LOG");
	long long mem_bytes;
	long ncpus;
	int sv[2], log = -1, rc;
	json_t *hello;

	if (missing)
		return msb_fail(MSB_EUNSUPPORTED, 0, "use the os backend for it",
				"the vm backend cannot do %s yet", missing);
	if ((rc = msb_vm_find(&f)))
		return rc;

	/* The guest holds the sandbox's memory and its writable tmpfs, plus
	 * its own overhead; memfd pages cost only when touched. */
	mem_bytes = sb->memory_bytes + sb->disk_bytes + GUEST_OVERHEAD;
	if (mem_bytes > GUEST_MAX_MEM)
		mem_bytes = GUEST_MAX_MEM;
	ncpus = (long)sb->cpus + ((double)(long)sb->cpus < sb->cpus);
	if (ncpus < 1)
		ncpus = 1;
	snprintf(mem, sizeof(mem), "%lldM", mem_bytes >> 20);
	snprintf(cpus, sizeof(cpus), "%ld", ncpus);
	snprintf(disk, sizeof(disk), "%s:ro", f.rootfs);
	char *argv[] = {
		"msb-vmm", "--kernel", f.kernel, "--init", f.agent,
		"--disk", disk, "--console-fd", "3",
		"--memory", mem, "--cpus", cpus,
		"--cmdline", "console=ttyS0 reboot=k panic=-1 quiet loglevel=3",
		NULL, NULL, NULL
	};

	if (vm_log && vm_log[0]) {
		argv[15] = "--serial-log";
		argv[16] = (char *)vm_log;
	}

	if ((rc = msb_socketpair(sv)))
		return rc;
	/* The serial console (kernel messages, the agent's own) goes to a
	 * memfd, msb-vmm's stderr: read back only when something failed. */
	log = memfd_create("msb-vm-serial", MFD_CLOEXEC);
	rc = msb_spawn(sb, f.vmm, argv, sv[1], log);
	close(sv[1]);
	if (rc) {
		close(sv[0]);
		if (log >= 0)
			close(log);
		return rc;
	}
	sb->conn.fd = sv[0];
	/* The agent speaks first in a VM: the console is a tty, and bytes
	 * that reached it before the agent made it raw would have been
	 * cooked (echoed, CR mapped, ^C eaten).  Only then the config. */
	rc = msb_read_hello(sb, &hello);
	if (!rc && !json_is_true(json_object_get(hello, "ready"))) {
		rc = msb_fail(MSB_EPROTO, 0, "install msb-agent and libmsb from "
			      "the same release", "the VM's agent did not say "
			      "it is ready");
	}
	json_decref(hello);
	hello = NULL;
	if (!rc) {
		hello = msb_config_json(sb);
		rc = hello ? msb_handshake(sb, hello)
			   : msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
		json_decref(hello);
	}
	if (rc) {
		struct msb_saved_error e;
		char tail[SERIAL_TAIL];

		close(sb->conn.fd);
		sb->conn.fd = -1;
		msb_os_kill(sb);
		if (log >= 0) {
			serial_tail(log, tail, sizeof(tail));
			msb_error_save(&e);
			size_t used = strlen(e.message);
			static const char sep[] = "; the VM's console ended with: ";

			if (tail[0] && used + sizeof(sep) < sizeof(e.message)) {
				memcpy(e.message + used, sep, sizeof(sep));
				used += sizeof(sep) - 1;
				/* the end of the tail: its last words */
				size_t room = sizeof(e.message) - used - 1;
				size_t tl = strlen(tail);
				const char *t = tl > room ? tail + tl - room : tail;

				memcpy(e.message + used, t, strlen(t) + 1);
			}
			rc = msb_error_restore(&e);
		}
	}
	if (log >= 0)
		close(log);
	return rc;
}
