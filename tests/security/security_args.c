/*
 * security_args.c - the seccomp rules that look at a syscall's arguments,
 * attacked with the raw syscall from inside a sandbox.
 *
 * The kernel reads most of these arguments as a 32-bit int (socket's
 * family, ioctl's request, personality) or narrower (a mode is 16 bits)
 * and drops the high bits of the 64-bit register; clone keeps only the
 * low 32 bits of its flags. A rule that compared all 64 bits would let
 * "denied value | 1 << 32" through while the kernel still acts on the
 * denied value. So every rule is tried with the denied value as is and
 * with high bits set (the probe's "sys" subcommand passes exact 64-bit
 * arguments, where libc wrappers would truncate them), next to a control
 * that shows a harmless value with high bits does reach the kernel. The
 * personality allowlist and the denied NUMA calls are tried here too.
 */
#include "tap.h"
#include "msbt.h"

/* The file the mode rules are tried on (created first). */
#define FILE_ "/tmp/msb-args"

static const struct {
	const char *what;
	const char *want; /* errno name, or "OK" for any success */
	const char *argv[7]; /* syscall name, then its arguments */
} cases[] = {
	/* socket(int family, ...): AF_VSOCK (40) reaches the host or VMM. */
	{ "socket(AF_VSOCK)", "EPERM", { "socket", "40", "1", "0" } },
	{ "socket(AF_VSOCK | 1 << 32)", "EPERM", { "socket", "0x100000028", "1", "0" } },
	{ "socket(AF_VSOCK | 0xffffffff << 32)", "EPERM",
	  { "socket", "0xffffffff00000028", "1", "0" } },
	{ "control: socket(AF_UNIX | 1 << 32) reaches the kernel", "OK",
	  { "socket", "0x100000001", "1", "0" } },

	/* ioctl(fd, unsigned int request, ...): fake terminal input. */
	{ "ioctl(TIOCSTI)", "EPERM", { "ioctl", "0", "0x5412", "@x" } },
	{ "ioctl(TIOCSTI | 1 << 32)", "EPERM", { "ioctl", "0", "0x100005412", "@x" } },
	{ "ioctl(TIOCLINUX | 1 << 32)", "EPERM", { "ioctl", "0", "0x10000541c", "@x" } },

	/* clone(unsigned long flags, ...): the kernel keeps the low 32 bits. */
	{ "clone(CLONE_NEWUSER)", "EPERM", { "clone", "0x10000011", "0", "0", "0", "0" } },
	{ "clone(CLONE_NEWUSER | 1 << 32)", "EPERM",
	  { "clone", "0x110000011", "0", "0", "0", "0" } },
	{ "clone(CLONE_NEWNS | 1 << 32)", "EPERM", { "clone", "0x100020011", "0", "0", "0", "0" } },
	{ "clone(CLONE_NEWPID | 1 << 32)", "EPERM", { "clone", "0x120000011", "0", "0", "0", "0" } },
	{ "clone(CLONE_NEWNET | 1 << 32)", "EPERM", { "clone", "0x140000011", "0", "0", "0", "0" } },
	{ "clone(CLONE_NEWUTS | 1 << 32)", "EPERM", { "clone", "0x104000011", "0", "0", "0", "0" } },
	{ "clone(CLONE_NEWIPC | 1 << 32)", "EPERM", { "clone", "0x108000011", "0", "0", "0", "0" } },
	{ "clone(CLONE_NEWCGROUP | 1 << 32)", "EPERM",
	  { "clone", "0x102000011", "0", "0", "0", "0" } },
	{ "control: clone(SIGCHLD | 1 << 32) reaches the kernel", "OK",
	  { "clone", "0x100000011", "0", "0", "0", "0" } },

	/* The mode (umode_t, 16 bits for the kernel) of chmod and friends:
	 * no setuid or setgid bits. */
	{ "chmod(04755)", "EPERM", { "chmod", "@" FILE_, "0x9ed" } },
	{ "chmod(04755 | 1 << 32)", "EPERM", { "chmod", "@" FILE_, "0x1000009ed" } },
	{ "chmod(02755 | 1 << 32)", "EPERM", { "chmod", "@" FILE_, "0x1000005ed" } },
	{ "chmod(04755 | 1 << 16)", "EPERM", { "chmod", "@" FILE_, "0x109ed" } },
	{ "fchmodat(04755 | 1 << 32)", "EPERM",
	  { "fchmodat", "-100", "@" FILE_, "0x1000009ed", "0" } },
	{ "open(O_CREAT, 04755 | 1 << 32)", "EPERM",
	  { "open", "@/tmp/msb-args-open", "0x41", "0x1000009ed" } },
	{ "openat(O_CREAT, 04755 | 1 << 32)", "EPERM",
	  { "openat", "-100", "@/tmp/msb-args-openat", "0x41", "0x1000009ed" } },
	{ "creat(04755 | 1 << 32)", "EPERM", { "creat", "@/tmp/msb-args-creat", "0x1000009ed" } },
	{ "mknod(S_IFREG | 04644 | 1 << 32)", "EPERM",
	  { "mknod", "@/tmp/msb-args-mknod", "0x1000089a4", "0" } },
	{ "mknodat(S_IFREG | 02644 | 1 << 32)", "EPERM",
	  { "mknodat", "-100", "@/tmp/msb-args-mknodat", "0x1000085a4", "0" } },
	{ "control: chmod(0755 | 1 << 32) reaches the kernel", "OK",
	  { "chmod", "@" FILE_, "0x1000001ed" } },

	/* personality(unsigned int): Docker's harmless personas only. */
	{ "personality(READ_IMPLIES_EXEC)", "EPERM", { "personality", "0x0400000" } },
	{ "personality(READ_IMPLIES_EXEC | 1 << 32)", "EPERM", { "personality", "0x100400000" } },
	{ "personality(ADDR_NO_RANDOMIZE)", "EPERM", { "personality", "0x0040000" } },
	{ "personality(ADDR_NO_RANDOMIZE | PER_LINUX32)", "EPERM", { "personality", "0x0040008" } },
	{ "personality(MMAP_PAGE_ZERO | 0xffffffff << 32)", "EPERM",
	  { "personality", "0xffffffff00100000" } },
	{ "personality(0xfffffffe)", "EPERM", { "personality", "0xfffffffe" } },
	{ "personality(0xfffffff7)", "EPERM", { "personality", "0xfffffff7" } },
	{ "personality(0xfffdffff)", "EPERM", { "personality", "0xfffdffff" } },
	{ "personality(0x7fffffff)", "EPERM", { "personality", "0x7fffffff" } },
	{ "personality(0xffffffff) (the query) works", "OK", { "personality", "0xffffffff" } },
	{ "personality(-1) (the query) works", "OK", { "personality", "0xffffffffffffffff" } },
	{ "personality(PER_LINUX) works", "OK", { "personality", "0" } },
	{ "personality(PER_LINUX32) works", "OK", { "personality", "0x8" } },
	{ "personality(UNAME26) works", "OK", { "personality", "0x20000" } },
	{ "personality(PER_LINUX32 | UNAME26) works", "OK", { "personality", "0x20008" } },
	{ "personality(PER_LINUX | 1 << 32) works (the kernel reads 0)", "OK",
	  { "personality", "0x100000000" } },

	/* NUMA placement: denied as in Docker without CAP_SYS_NICE. */
	{ "mbind", "EPERM", { "mbind", "0", "0", "0", "0", "0", "0" } },
	{ "set_mempolicy(MPOL_DEFAULT)", "EPERM", { "set_mempolicy", "0", "0", "0" } },
	{ "set_mempolicy_home_node", "EPERM", { "set_mempolicy_home_node", "0", "0", "0", "0" } },
	{ "get_mempolicy", "EPERM", { "get_mempolicy", "0", "0", "0", "0", "0" } },
	{ "migrate_pages", "EPERM", { "migrate_pages", "0", "0", "0", "0" } },
	{ "move_pages", "EPERM", { "move_pages", "0", "0", "0", "0", "0", "0" } },
};

/* Docker's personas and the query; the kernel reads 32 bits. */
static int persona_allowed(uint64_t v)
{
	uint32_t low = (uint32_t)v;
	return (low & ~UINT32_C(0x20008)) == 0 || low == UINT32_C(0xffffffff);
}

/*
 * personality over many values, each in a probe of its own: every single
 * bit, every pair of bits, and their complements (the filter's rules are
 * about which bits are set and which clear), the allowed ones, and some of
 * them again with high bits. Returns the number of values tried, or -1;
 * each mismatch is described with diag().
 */
static int sweep_personas(msb_sandbox *sb)
{
	static uint64_t vals[1200];
	size_t n = 0;
	for (unsigned i = 0; i < 32; i++) {
		vals[n++] = UINT64_C(1) << i;
		vals[n++] = UINT32_C(0xffffffff) ^ (UINT32_C(1) << i);
		for (unsigned j = 0; j < i; j++) {
			uint32_t two = (UINT32_C(1) << i) | (UINT32_C(1) << j);
			vals[n++] = two;
			vals[n++] = UINT32_C(0xffffffff) ^ two;
		}
	}
	static const uint64_t more[] = { 0, 0x8, 0x20000, 0x20008, 0xffffffff,
		UINT64_C(0xffffffffffffffff), UINT64_C(0x8000000000000000),
		UINT64_C(0xdead000000020008), UINT64_C(0x1ffffffff),
		UINT64_C(0x100000008), UINT64_C(0xdead000000400000),
		UINT64_C(0xffffffff7fffffff), UINT64_C(0x7fffffff00000000) };
	for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
		vals[n++] = more[i];

	size_t len = 200 + n * 20;
	char *cmd = malloc(len);
	if (!cmd)
		bail_out("out of memory");
	size_t at = (size_t)snprintf(cmd, len, "for v in");
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(cmd + at, len - at, " %#llx", (unsigned long long)vals[i]);
	snprintf(cmd + at, len - at, "; do echo \"$v $(%s sys personality $v)\"; done", MSBT_PROBE);
	int code;
	char *out = msbt_output(sb, (const char *const[]){"sh", "-c", cmd, NULL}, &code);
	free(cmd);

	int tried = 0, bad = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long long v;
		char got[32];
		if (sscanf(line, "%llx %31s", &v, got) != 2)
			continue;
		tried++;
		int allowed = !strcmp(got, "OK");
		if (allowed != persona_allowed(v) || (!allowed && strcmp(got, "EPERM"))) {
			if (bad++ < 10)
				diag("personality(%#llx): %s", v, got);
		}
	}
	free(out);
	return code == 0 && tried == (int)n && !bad ? tried : -1;
}

static int matches(const char *got, const char *want)
{
	if (!strcmp(want, "OK"))
		return !strncmp(got, "OK ", 3);
	return !strcmp(got, want);
}

int main(void)
{
	msbt_watchdog(60);
	msbt_require_sandboxes();
	msb_sandbox *sb = msbt_start(NULL);
	if (!sb)
		bail_out("cannot start a sandbox");

	int code;
	char *out = msbt_output(sb, (const char *const[]){MSBT_PROBE, "write", FILE_, NULL}, &code);
	is_str(msbt_chomp(out), "OK", "the file the mode rules are tried on is created");
	free(out);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *argv[10] = {MSBT_PROBE, "sys"};
		for (size_t a = 0; a < 7 && cases[i].argv[a]; a++)
			argv[2 + a] = cases[i].argv[a];
		out = msbt_output(sb, argv, &code);
		msbt_chomp(out);
		ok(code == 0 && matches(out, cases[i].want), "%s: %s (%s)", cases[i].what,
		   cases[i].want, out);
		free(out);
	}

	int tried = sweep_personas(sb);
	ok(tried > 0, "personality: only the allowed personas and the query work, "
	   "the rest fail with EPERM (%d values)", tried);

	/* fchmod needs an open descriptor: the shell opens it as fd 3 */
	out = msbt_output(sb, (const char *const[]){"sh", "-c",
		"exec " MSBT_PROBE " sys fchmod 3 0x1000009ed 3<" FILE_, NULL}, &code);
	is_str(msbt_chomp(out), "EPERM", "fchmod(04755 | 1 << 32): EPERM");
	free(out);

	/* nothing above left a setuid or setgid file behind */
	out = msbt_output(sb, (const char *const[]){"sh", "-c",
		"find /tmp -maxdepth 1 -name 'msb-args*' -perm /6000", NULL}, &code);
	is_str(out, "", "no file in /tmp has a setuid or setgid bit");
	free(out);

	msb_sandbox_free(sb);
	return done_testing();
}
