/*
 * seccomp_filter.c - the sandbox's seccomp filter.
 *
 * A deny-list after Docker's default profile: everything is allowed except
 * the calls below, which fail with EPERM (ENOSYS for clone3, openat2 and
 * fchmodat2). Most of them need capabilities the sandbox no longer has; the
 * filter is the second wall, and the only one for the kernel attack surface
 * that needs none (keyctl, bpf, userfaultfd, io_uring, perf_event_open, user
 * namespaces). Some calls are denied only for some arguments (a socket
 * family, an ioctl request, clone flags, setuid mode bits, personas); those
 * rules compare what the kernel reads, the low 32 bits (deny_low32).
 *
 * Only the native architecture is added to the filter. libseccomp's default
 * bad-architecture action (kill) then stops 32-bit syscalls made through
 * int 0x80 and x32 syscall numbers, which would otherwise bypass every rule.
 */
#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <unistd.h>

#include "wire.h"
#include "seccomp_filter.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

static void ctx_release(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}
#define _cleanup_seccomp_ __attribute__((cleanup(ctx_release)))

/* Syscalls that fail with EPERM, whatever their arguments. */
static const struct {
	const char *name;
	const char *why; /* kept next to the name so that every rule has one */
} deny[] = {
	/* Kernel keyring: not namespaced; a long history of bugs. */
	{ "keyctl", "keyring is not namespaced" },
	{ "add_key", "keyring is not namespaced" },
	{ "request_key", "keyring is not namespaced" },
	/* eBPF programs: a large kernel attack surface (verifier bugs). */
	{ "bpf", "eBPF verifier attack surface" },
	/* Performance counters: side channels and many kernel bugs. */
	{ "perf_event_open", "side channels, kernel bugs" },
	/* userfaultfd makes kernel races easy to win in exploits. */
	{ "userfaultfd", "exploit primitive for kernel races" },
	/* Loading kernels and modules: host kernel control. */
	{ "kexec_load", "loads a new kernel" },
	{ "kexec_file_load", "loads a new kernel" },
	{ "init_module", "loads kernel modules" },
	{ "finit_module", "loads kernel modules" },
	{ "delete_module", "unloads kernel modules" },
	{ "create_module", "obsolete module interface" },
	{ "get_kernel_syms", "obsolete module interface" },
	{ "query_module", "obsolete module interface" },
	/* File handles bypass path-based access checks (the "shocker" escape). */
	{ "open_by_handle_at", "opens files by handle, bypassing path checks" },
	{ "name_to_handle_at", "companion of open_by_handle_at; leaks inode handles" },
	/* Mounting: the sandbox's file system layout is fixed. */
	{ "mount", "mount table is fixed" },
	{ "umount2", "would reveal what the masks hide" },
	{ "umount", "would reveal what the masks hide" },
	{ "pivot_root", "mount table is fixed" },
	/* chroot needs CAP_SYS_CHROOT, which is gone; denied anyway since nothing
	 * inside needs it and chroot tricks are a classic escape ingredient. */
	{ "chroot", "classic escape ingredient, no legitimate use inside" },
	/* The new mount API: same reasons as mount. */
	{ "fsopen", "new mount API" },
	{ "fsconfig", "new mount API" },
	{ "fsmount", "new mount API" },
	{ "fspick", "new mount API" },
	{ "move_mount", "new mount API" },
	{ "open_tree", "new mount API (can clone mounts)" },
	{ "mount_setattr", "new mount API (can change mount flags)" },
	/* Namespaces: nested user namespaces give back capabilities and reach
	 * kernel code that is otherwise root-only. */
	{ "unshare", "new namespaces" },
	{ "setns", "join other namespaces" },
	/* Reading or writing other processes' memory (incl. the agent). */
	{ "ptrace", "inspect/modify other processes, incl. PID 1" },
	{ "process_vm_readv", "read another process's memory" },
	{ "process_vm_writev", "write another process's memory" },
	{ "kcmp", "compares kernel pointers of other processes; KASLR leak" },
	{ "pidfd_getfd", "steals file descriptors from other processes" },
	/* io_uring: a large attack surface, and its operations are not seen by
	 * this filter (Docker and Google disable it too). */
	{ "io_uring_setup", "io_uring bypasses seccomp, many CVEs" },
	{ "io_uring_enter", "io_uring bypasses seccomp, many CVEs" },
	{ "io_uring_register", "io_uring bypasses seccomp, many CVEs" },
	/* Host administration. */
	{ "swapon", "host swap" },
	{ "swapoff", "host swap" },
	{ "reboot", "host reboot" },
	{ "acct", "process accounting on host files" },
	{ "quotactl", "host quotas" },
	{ "quotactl_fd", "host quotas" },
	{ "nfsservctl", "kernel NFS server (removed)" },
	{ "syslog", "kernel log: leaks kernel addresses" },
	{ "vhangup", "hangs up the terminal" },
	{ "fanotify_init", "watches file systems globally" },
	{ "sethostname", "uts is fixed (CAP_SYS_ADMIN anyway)" },
	{ "setdomainname", "uts is fixed (CAP_SYS_ADMIN anyway)" },
	/* Clock: the time namespace is not used; the clock is the host's.
	 * adjtimex and clock_adjtime stay allowed: glibc's adjtimex() and
	 * ntp_gettime() read the clock state through clock_adjtime(modes=0),
	 * whose modes live in memory where seccomp cannot see them; setting
	 * the clock through them needs CAP_SYS_TIME in the initial user
	 * namespace, which the sandbox never has (as in Docker's profile). */
	{ "settimeofday", "host clock" },
	{ "clock_settime", "host clock" },
	{ "stime", "host clock (32-bit only)" },
	/* Obsolete or arch-specific interfaces with bug histories. */
	{ "lookup_dcookie", "profiling interface, leaks kernel data" },
	{ "iopl", "raw I/O port access" },
	{ "ioperm", "raw I/O port access" },
	{ "uselib", "obsolete a.out loader" },
	{ "ustat", "obsolete, leaks device info" },
	{ "sysfs", "obsolete" },
	{ "_sysctl", "obsolete sysctl interface" },
	{ "vm86", "x86-32 virtual 8086 mode" },
	{ "vm86old", "x86-32 virtual 8086 mode" },
	{ "modify_ldt", "16-bit segments; a history of kernel bugs, used only by Wine/DOSEMU" },
	/* NUMA placement. Docker allows these only with CAP_SYS_NICE, which
	 * the sandbox does not have: a sandbox does not choose where its memory
	 * lives on the host's nodes. */
	{ "move_pages", "moves pages of other processes" },
	{ "migrate_pages", "moves pages of other processes" },
	{ "mbind", "binds memory to NUMA nodes" },
	{ "set_mempolicy", "sets the NUMA policy" },
	{ "set_mempolicy_home_node", "sets the NUMA home node" },
	/* get_mempolicy only reads the caller's own policy, but it is denied
	 * with the rest, as in Docker: it is how programs probe for NUMA
	 * (libnuma's numa_available takes EPERM for "no NUMA" since 2.0.19),
	 * and a program that saw it work would go on to mbind and fail there;
	 * and it is kernel code nothing here needs (CVE-2018-10675 was a
	 * use-after-free in it). */
	{ "get_mempolicy", "NUMA probe; denied with the rest, as in Docker" },
};

/*
 * Every rule that looks at an argument goes through here: "fail with
 * errno_ when (argument & mask) == value", mask and value being 32-bit.
 * Each argument these rules look at is one the kernel reads as 32 bits or
 * fewer, dropping the high half of the 64-bit register, so the high half
 * must decide nothing: a plain SCMP_CMP_EQ compares all 64 bits and lets
 * "AF_VSOCK | 1 << 32" through while the kernel still makes an AF_VSOCK
 * socket. libseccomp compares the two halves of a masked comparison
 * separately; with no mask bits in the high half, that half always matches.
 */
static int deny_low32(scmp_filter_ctx ctx, int errno_, int nr, unsigned arg,
		      uint32_t mask, uint32_t value)
{
	struct scmp_arg_cmp cmp = {
		.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = value,
	};
	return seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(errno_), nr, 1, &cmp);
}

/* The namespace flags clone() must not carry. CLONE_NEWTIME is only
 * accepted by clone3/unshare; its bit in clone()'s flags is part of the
 * exit signal, which is never >= 128, so the rule costs nothing. */
static const struct {
	uint32_t flag;
	const char *name;
} clone_ns[] = {
	{ CLONE_NEWNS, "CLONE_NEWNS" },
	{ CLONE_NEWCGROUP, "CLONE_NEWCGROUP" },
	{ CLONE_NEWUTS, "CLONE_NEWUTS" },
	{ CLONE_NEWIPC, "CLONE_NEWIPC" },
	{ CLONE_NEWUSER, "CLONE_NEWUSER" },
	{ CLONE_NEWPID, "CLONE_NEWPID" },
	{ CLONE_NEWNET, "CLONE_NEWNET" },
	{ CLONE_NEWTIME, "CLONE_NEWTIME" },
};

/*
 * personality(unsigned int persona), 32 bits for the kernel. Allowed, as in
 * Docker's default profile: PER_LINUX (0), PER_LINUX32 (0x8), UNAME26
 * (0x20000), both (0x20008) and the query 0xffffffff, which changes
 * nothing. Every other persona fails with EPERM: READ_IMPLIES_EXEC makes
 * every readable mapping executable, ADDR_NO_RANDOMIZE turns off ASLR for
 * the caller and what it executes, MMAP_PAGE_ZERO maps page 0, and the
 * foreign personas reach kernel code nothing else uses.
 *
 * The filter is a deny-list of masked equalities, which says "none of
 * these" as follows. Let H be the 30 bits outside PERSONA_BITS. A value is
 * allowed when no bit of H is set (the four personas) or when all 32 bits
 * are (the query). It is denied when
 *  - some bit of H is set and another is clear: then, going round the bits
 *    of H in a circle, some set bit is followed by a clear one, so one rule
 *    per pair of neighbours (this set, the next clear) catches it;
 *  - all of H is set but 0x8 or 0x20000 is clear: one rule each.
 */
#define PERSONA_BITS 0x00020008u /* UNAME26 | PER_LINUX32 */

static int deny_personas(scmp_filter_ctx ctx, int nr)
{
	uint32_t h[32];
	size_t n = 0;
	int rc;

	for (unsigned b = 0; b < 32; b++)
		if (!(PERSONA_BITS & (1u << b)))
			h[n++] = 1u << b;
	for (size_t i = 0; i < n; i++) {
		uint32_t set = h[i], clear = h[(i + 1) % n];
		if ((rc = deny_low32(ctx, EPERM, nr, 0, set | clear, set)) < 0)
			return rc;
	}
	for (uint32_t b = 1; b <= PERSONA_BITS; b <<= 1) {
		if (!(PERSONA_BITS & b))
			continue;
		if ((rc = deny_low32(ctx, EPERM, nr, 0, ~PERSONA_BITS | b, ~PERSONA_BITS)) < 0)
			return rc;
	}
	return 0;
}

static int fail(struct msb_wire_error *err, int rc, const char *what, const char *name)
{
	return msb_wire_fail(err, MSB_WIRE_ESPAWN, -rc, "the kernel needs CONFIG_SECCOMP_FILTER",
			  "seccomp: %s%s%s failed", what, name ? " " : "", name ? name : "");
}

/* Build the filter and write it, as a BPF program, to fd. */
int seccomp_export(int fd, struct msb_wire_error *err)
{
	_cleanup_seccomp_ scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc, nr;

	if (!ctx)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, ENOMEM, NULL, "seccomp: seccomp_init failed");

	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++) {
		/* Names this architecture does not have are skipped. */
		nr = seccomp_syscall_resolve_name(deny[i].name);
		if (nr < 0)
			continue;
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0)) < 0)
			return fail(err, rc, "deny", deny[i].name);
	}

	/* clone() creating any namespace: one rule per flag (rules are ORed).
	 * The flags are an unsigned long, but the kernel keeps only their low
	 * 32 bits (lower_32_bits(clone_flags) in kernel/fork.c). */
	nr = seccomp_syscall_resolve_name("clone");
	for (size_t i = 0; nr >= 0 && i < sizeof(clone_ns) / sizeof(clone_ns[0]); i++) {
		rc = deny_low32(ctx, EPERM, nr, 0, clone_ns[i].flag, clone_ns[i].flag);
		if (rc < 0)
			return fail(err, rc, "clone rule", clone_ns[i].name);
	}

	/* clone3 passes its flags in memory, where seccomp cannot look: ENOSYS
	 * makes glibc (and others) fall back to clone(), filtered above. */
	nr = seccomp_syscall_resolve_name("clone3");
	if (nr >= 0 && (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0)) < 0)
		return fail(err, rc, "deny", "clone3");

	/* AF_VSOCK reaches the hypervisor / other VMs on the host. The family
	 * is an int for the kernel: the low 32 bits, all of them. */
	nr = seccomp_syscall_resolve_name("socket");
	if (nr >= 0 && (rc = deny_low32(ctx, EPERM, nr, 0, 0xffffffffu, AF_VSOCK)) < 0)
		return fail(err, rc, "socket rule", "AF_VSOCK");

	/* TIOCSTI fakes terminal input (types commands into a shell owning
	 * the tty); TIOCLINUX can do the same on virtual consoles. The request
	 * is an unsigned int for the kernel: the low 32 bits, all of them. */
	nr = seccomp_syscall_resolve_name("ioctl");
	static const struct { uint32_t req; const char *name; } ioctls[] = {
		{ TIOCSTI, "TIOCSTI" },
		{ TIOCLINUX, "TIOCLINUX" },
	};
	for (size_t i = 0; nr >= 0 && i < sizeof(ioctls) / sizeof(ioctls[0]); i++) {
		rc = deny_low32(ctx, EPERM, nr, 1, 0xffffffffu, ioctls[i].req);
		if (rc < 0)
			return fail(err, rc, "ioctl rule", ioctls[i].name);
	}

	/* No setuid or setgid files: with no_new_privs they are useless inside,
	 * but a volume is shared with the host, where such a file (owned by
	 * the volume's owner, perhaps root) would grant that owner's rights to
	 * whoever runs it. Each rule names the syscall's mode argument, a
	 * umode_t (16 bits) for the kernel; the rule tests one bit of it. */
	static const struct { const char *name; unsigned arg; } modes[] = {
		{ "chmod", 1 }, { "fchmod", 1 }, { "fchmodat", 2 },
		{ "open", 2 }, { "openat", 3 }, { "creat", 1 },
		{ "mknod", 1 }, { "mknodat", 2 },
	};
	static const uint32_t bits[] = { S_ISUID, S_ISGID };
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		nr = seccomp_syscall_resolve_name(modes[i].name);
		for (size_t b = 0; nr >= 0 && b < 2; b++) {
			rc = deny_low32(ctx, EPERM, nr, modes[i].arg, bits[b], bits[b]);
			if (rc < 0)
				return fail(err, rc, "setuid rule", modes[i].name);
		}
	}
	/* openat2 and fchmodat2 carry the mode where the rules above cannot
	 * see it (a struct; a syscall newer than this libseccomp): ENOSYS
	 * makes libc fall back to openat and fchmodat. */
	static const int hidden_mode[] = { 437 /* openat2 */, 452 /* fchmodat2 */ };
	for (size_t i = 0; i < sizeof(hidden_mode) / sizeof(hidden_mode[0]); i++)
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), hidden_mode[i], 0)) < 0)
			return fail(err, rc, "deny", "openat2/fchmodat2");

	/* personality: only the harmless personas (deny_personas). */
	nr = seccomp_syscall_resolve_name("personality");
	if (nr >= 0 && (rc = deny_personas(ctx, nr)) < 0)
		return fail(err, rc, "personality rule", NULL);

	if ((rc = seccomp_export_bpf(ctx, fd)) < 0)
		return fail(err, rc, "export the filter", NULL);
	return 0;
}

int seccomp_load_fd(int fd, struct msb_wire_error *err)
{
	static struct sock_filter insns[BPF_MAXINSNS];
	size_t got = 0;

	for (;;) {
		ssize_t n = read(fd, (char *)insns + got, sizeof(insns) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "seccomp: reading the filter failed");
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == sizeof(insns))
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, E2BIG, NULL, "seccomp: the filter is too long");
	}
	if (got == 0 || got % sizeof(insns[0]))
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, EINVAL, NULL, "seccomp: no filter came from stage 0");
	struct sock_fprog prog = { .len = (unsigned short)(got / sizeof(insns[0])), .filter = insns };
	/* no_new_privs is set (drop_caps), as the kernel requires without
	 * CAP_SYS_ADMIN. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, "the kernel needs CONFIG_SECCOMP_FILTER",
				  "seccomp: loading the filter failed");
	return 0;
}
