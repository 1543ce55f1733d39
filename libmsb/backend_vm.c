/*
 * backend_vm.c - the vm backend: a microVM per sandbox.
 *
 * libmsb spawns msb-vmm (vmm/), which boots the guest kernel with msb-agent
 * as /init of an initramfs (msb-vmm --init), the shared root filesystem
 * image as a read-only virtio-blk disk, and the virtio-console joined to
 * our end of a socketpair (--console-fd 3).  The agent then speaks the very
 * protocol of the os backend over that console (guest/vm.c), HELLO
 * first, and isolates the sandbox inside the guest as it would on a host.
 *
 * The VM ends when the sandbox does (the agent powers it off), when libmsb
 * closes its end (msb-vmm ends the VM when the console's host end goes:
 * this covers the owner's death), or on SIGTERM/SIGKILL to msb-vmm (the
 * table's kill: sb->agent_pid is the VMM).
 *
 * A detached (named) sandbox outlives its creator: msb-vmm runs in the
 * background (--detach: the process we spawn exits once the VM runs),
 * listens on the sandbox's agent.sock (--agent-socket) and gives each
 * connection a virtio-console port of its own (--ports; the guest's
 * /dev/vportXpN). Our first connection gets port 1, the one the agent
 * opens first, and carries the configuration just as the console does
 * (the agent's "ready" HELLO, then ours); every later connection, from
 * any process (msb_sandbox_connect), greets like a client of a detached os
 * sandbox. The VMM's pid is the listener's (SO_PEERCRED, never what the
 * guest says); the registry records it. The VM ends when the agent powers it off (stop) or on
 * SIGKILL to msb-vmm (msb_sandbox_kill); clients coming and going never
 * end it. Its serial console goes to console.log next to agent.sock.
 *
 * What the VM needs, each found next to libmsb or where `make install`
 * puts it, or named by an environment variable:
 *   MSB_VMM_PATH      msb-vmm
 *   MSB_VM_KERNEL     the guest kernel (vmlinux; `make kernel`)
 *   MSB_VM_ROOTFS     the root filesystem image (`make rootfs`)
 * and MSB_VM_LOG=FILE keeps the guest's serial console (kernel and agent
 * messages) in FILE, for debugging.
 * The agent is the os backend's (MSB_AGENT_PATH). Spawning, the HELLO
 * exchange, waiting and killing are agent_link.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "agent_link.h"
#include "backend_vm.h"
#include "error.h"
#include "sandbox.h"

#ifndef MSB_LIBEXECDIR
#define MSB_LIBEXECDIR "/usr/local/libexec"
#endif
#ifndef MSB_DATADIR
#define MSB_DATADIR "/usr/local/share"
#endif

#define GUEST_OVERHEAD (160ll << 20)   /* kernel, page cache, agent */
#define GUEST_MAX_MEM  (3ll << 30)     /* msb-vmm's limit */
#define SERIAL_TAIL    1024
/* A detached VM's clients: each gets a virtio-console port of its own,
 * at most this many at a time. */
#define MSB_VM_PORTS 8

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

/* What the vm backend cannot do yet that sb asks for. */
static const char *vm_unsupported(const msb_sandbox *sb, const char **hint)
{
	const char *h = NULL, *what = NULL;

	if (sb->config.volumes_len) {
		what = "host volumes";
		h = "copy files in and out with msb_file_write and "
		    "msb_file_read (msb cp) instead";
	} else if (strcmp(sb->config.rootfs, "/")) {
		what = "a root directory (it boots an image)";
		h = "leave rootfs unset and point MSB_VM_ROOTFS at an ext4 "
		    "image (make rootfs builds one)";
	}
	if (hint)
		*hint = h;
	return what;
}

/* The VMM's resident memory: its own and the guest memory it touched. */
static uint64_t vm_host_memory(const msb_sandbox *sb, uint64_t measured)
{
	char path[64], line[256];
	unsigned long long kib = 0;
	pid_t vmm = sb->detached ? sb->host_pid : sb->agent_pid;
	FILE *f;

	if (vmm <= 0 || (!sb->detached && sb->agent_reaped))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)vmm);
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

/* Add the end of the serial console in `log` to this thread's error. */
static int with_serial_tail(int rc, int log)
{
	struct msb_saved_error e;
	char tail[SERIAL_TAIL];
	static const char sep[] = "; the VM's console ended with: ";

	if (log < 0)
		return rc;
	serial_tail(log, tail, sizeof(tail));
	msb_error_save(&e);
	size_t used = strlen(e.message);

	if (tail[0] && used + sizeof(sep) < sizeof(e.message)) {
		memcpy(e.message + used, sep, sizeof(sep));
		used += sizeof(sep) - 1;
		/* the end of the tail: its last words */
		size_t room = sizeof(e.message) - used - 1;
		size_t tl = strlen(tail);
		const char *t = tl > room ? tail + tl - room : tail;

		memcpy(e.message + used, t, strlen(t) + 1);
	}
	return msb_error_restore(&e);
}

/* The agent speaks first in a VM: the console is a tty, and bytes that
 * reached it before the agent made it raw would have been cooked (echoed,
 * CR mapped, ^C eaten).  Only then the config. */
static int vm_handshake(msb_sandbox *sb)
{
	json_t *hello = NULL;   /* msb_read_hello leaves it unset on failure */
	int rc = msb_read_hello(sb, &hello);

	if (!rc && !msb_wire_vm_ready_decode(hello)) {
		rc = msb_fail(MSB_EPROTO, 0, "install msb-agent and libmsb from "
			      "the same release", "the VM's agent did not say "
			      "it is ready");
	}
	json_decref(hello);
	if (rc)
		return rc;
	/* a detached VM's clients come through msb-vmm's ports */
	sb->config.ports = sb->config.socket_path ? MSB_VM_PORTS : 0;
	return msb_handshake_config(sb);
}

/* A detached VM: msb-vmm --detach, then our connection to its socket. */
static int start_detached(msb_sandbox *sb, char **argv, int argc)
{
	char ports[16], logpath[PATH_MAX];
	const char *slash = strrchr(sb->config.socket_path, '/');
	int log, rc, fd = -1;

	/* console.log next to agent.sock: the serial console (unless
	 * MSB_VM_LOG took it) and msb-vmm's own messages. */
	if (!slash || snprintf(logpath, sizeof(logpath), "%.*s/console.log",
			       (int)(slash - sb->config.socket_path), sb->config.socket_path) >= (int)sizeof(logpath))
		return msb_fail(MSB_EINVAL, 0, "set MSB_STATE_DIR to a shorter path",
				"the sandbox's state path is too long");
	log = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log < 0)
		return msb_fail(MSB_EIO, errno, NULL, "cannot create %s", logpath);
	snprintf(ports, sizeof(ports), "%d", MSB_VM_PORTS);
	argv[argc++] = "--agent-socket";
	argv[argc++] = sb->config.socket_path;
	argv[argc++] = "--ports";
	argv[argc++] = ports;
	argv[argc++] = "--detach";
	argv[argc] = NULL;
	rc = msb_spawn(sb, argv[0], argv + 1, -1, log);
	if (rc) {
		close(log);
		return rc;
	}
	/* The process we spawned exits once the VM runs in its child. */
	if (!msb_agent_wait(sb, 30000)) {
		msb_agent_kill(sb);
		rc = msb_fail(MSB_ETIMEDOUT, 0, "the host may be overloaded; try "
			      "again", "msb-vmm did not start the VM in 30 s");
		goto fail;
	}
	msb_agent_forget(sb);
	if (!WIFEXITED(sb->agent_status) || WEXITSTATUS(sb->agent_status)) {
		rc = msb_fail(MSB_ESPAWN, 0, "see the message above; MSB_VM_LOG=FILE "
			      "keeps the guest's console", "msb-vmm could not start "
			      "the VM (status %d)", WIFEXITED(sb->agent_status) ?
			      WEXITSTATUS(sb->agent_status) : 128 + WTERMSIG(sb->agent_status));
		goto fail;
	}
	fd = msb_unix_connect(sb->config.socket_path);
	if (fd < 0) {
		rc = msb_fail(MSB_ESPAWN, errno, NULL, "cannot connect to the VM at %s",
			      sb->config.socket_path);
		goto fail;
	}
	/* the VMM is the socket's listener, as the kernel tells */
	if ((rc = msb_host_from_peer(sb, fd)))
		goto fail;
	sb->conn.fd = fd;
	if ((rc = vm_handshake(sb)))
		goto fail;
	close(log);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	sb->conn.fd = -1;
	if (sb->host_pid > 0) {
		msb_kill_host(sb->host_pidfd, sb->host_pid, 0, SIGKILL);
		if (sb->host_pidfd >= 0)
			close(sb->host_pidfd);
		sb->host_pidfd = -1;
		sb->host_pid = -1;
	}
	rc = with_serial_tail(rc, log);
	close(log);
	return rc;
}

static int vm_start(msb_sandbox *sb)
{
	struct vm_files f;
	const char *hint;
	const char *missing = vm_unsupported(sb, &hint);
	char disk[PATH_MAX + 8], mem[32], cpus[24];
	const char *vm_log = getenv("MSB_VM_LOG");
	long long mem_bytes;
	long ncpus;
	int sv[2], log = -1, rc, argc = 0;
	char *argv[32];

	if (missing)
		return msb_fail(MSB_EUNSUPPORTED, 0, hint,
				"the vm backend cannot do %s yet (the os "
				"backend can)", missing);
	if ((rc = msb_vm_find(&f)))
		return rc;

	/* The guest holds the sandbox's memory and its writable tmpfs, plus
	 * its own overhead; memfd pages cost only when touched. */
	mem_bytes = sb->config.memory_bytes + sb->config.disk_bytes + GUEST_OVERHEAD;
	if (mem_bytes > GUEST_MAX_MEM)
		mem_bytes = GUEST_MAX_MEM;
	ncpus = (long)sb->config.cpus + ((double)(long)sb->config.cpus < sb->config.cpus);
	if (ncpus < 1)
		ncpus = 1;
	snprintf(mem, sizeof(mem), "%lldM", mem_bytes >> 20);
	snprintf(cpus, sizeof(cpus), "%ld", ncpus);
	snprintf(disk, sizeof(disk), "%s:ro", f.rootfs);
	/* argv[0] is the path to run; argv + 1 the VMM's argv */
	argv[argc++] = f.vmm;
	argv[argc++] = "msb-vmm";
	argv[argc++] = "--kernel";
	argv[argc++] = f.kernel;
	argv[argc++] = "--init";
	argv[argc++] = f.agent;
	argv[argc++] = "--disk";
	argv[argc++] = disk;
	argv[argc++] = "--memory";
	argv[argc++] = mem;
	argv[argc++] = "--cpus";
	argv[argc++] = cpus;
	argv[argc++] = "--cmdline";
	argv[argc++] = "console=ttyS0 reboot=k panic=-1 quiet loglevel=3";
	if (vm_log && vm_log[0]) {
		argv[argc++] = "--serial-log";
		argv[argc++] = (char *)vm_log;
	}
	if (sb->detached)
		return start_detached(sb, argv, argc);
	/* the owner's connection on port 1 (/dev/vport0p1): the guest
	 * writes 32 KiB at a time there without waiting for us, where
	 * hvc0 waits for every page (about 4x the throughput) */
	argv[argc++] = "--console-fd";
	argv[argc++] = "3";
	argv[argc++] = "--ports";
	argv[argc++] = "1";
	argv[argc] = NULL;

	if ((rc = msb_socketpair(sv)))
		return rc;
	/* The serial console (kernel messages, the agent's own) goes to a
	 * memfd, msb-vmm's stderr: read back only when something failed. */
	log = memfd_create("msb-vm-serial", MFD_CLOEXEC);
	rc = msb_spawn(sb, f.vmm, argv + 1, sv[1], log);
	close(sv[1]);
	if (rc) {
		close(sv[0]);
		if (log >= 0)
			close(log);
		return rc;
	}
	sb->conn.fd = sv[0];
	rc = vm_handshake(sb);
	if (rc) {
		close(sb->conn.fd);
		sb->conn.fd = -1;
		msb_agent_kill(sb);
		rc = with_serial_tail(rc, log);
	}
	if (log >= 0)
		close(log);
	return rc;
}

/* The VM has nothing to clean up on the host: it just ends. */
static void vm_kill_detached(pid_t pid)
{
	msb_kill_agent_pid(pid, 0, SIGKILL);
}

const struct msb_backend_ops msb_backend_vm = {
	.id = MSB_BACKEND_VM,
	.name = "vm",
	.start = vm_start,
	.kill = msb_agent_kill,     /* the VMM: the guest dies with it */
	.kill_detached = vm_kill_detached,
	.unsupported = vm_unsupported,
	.host_memory = vm_host_memory,
};
