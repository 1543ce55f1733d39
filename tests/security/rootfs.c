/*
 * rootfs.c - a root filesystem given by the caller (msb_sandbox_options.
 * rootfs) is resolved inside itself.
 *
 * The test builds a small tree in /tmp (the host's sh, cat, libc and
 * dynamic loader, copied with the symlinks on their way) and plants
 * symlinks in it that point out of it: absolute ones aimed at the agent's
 * view of the host while it builds the sandbox (/oldroot/...), relative
 * ones with more ".." than the tree is deep. Each sandbox must either
 * start with every such link resolved as if the tree were / (it sees the
 * tree's files and nothing of the host's) or refuse with an error naming
 * the path; the host's canary files stay unchanged. All of it runs twice:
 * the second time without openat2 (a seccomp filter makes it ENOSYS), where
 * the agent must refuse to follow the links instead.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <link.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define SECRET "MSB-HOST-SECRET"
/* More ".." than any tree here is deep: from the tree's /etc they would
 * reach the staging root, where the host's root is /oldroot. */
#define UP "../../../../../../../../../../../../../../../../"

static int no_openat2;     /* the second round: openat2 answers ENOSYS */
static char base[64];     /* the test's directory in /tmp */
static char root[128];    /* the rootfs: base/root */
static char secret[128];  /* a host file: base/secret */
static char secretdir[128]; /* a host directory: base/secretdir (holds "hostfile") */

/* snprintf that bails out instead of truncating a path. */
static TAP_PRINTF(3, 4) void pj(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		bail_out("path too long: %s", buf);
}

static void die_errno(const char *what, const char *path)
{
	bail_out("%s %s: %s", what, path, strerror(errno));
}

static void put(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		die_errno("write", path);
	close(fd);
	chmod(path, mode);
}

static void link_at(const char *target, const char *rel)
{
	char p[PATH_MAX];
	pj(p, sizeof p, "%s/%s", root, rel);
	unlink(p);
	if (symlink(target, p) < 0)
		die_errno("symlink", p);
}

static void mkdir_at(const char *rel)
{
	char p[PATH_MAX];
	pj(p, sizeof p, "%s/%s", root, rel);
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		die_errno("mkdir", p);
	chmod(p, 0755);
}

static void copy_file(const char *from, const char *to)
{
	struct stat st;
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		die_errno("open", from);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (out < 0) {
		close(in);
		if (errno == EEXIST)
			return;
		die_errno("create", to);
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			die_errno("write", to);
	fchmod(out, st.st_mode & 0755);
	close(in);
	close(out);
}

/* Copy the host's file at path into the tree at the same path, creating
 * its directories and recreating every symlink met on the way (so that
 * /bin/sh on a merged-/usr host gives bin -> usr/bin and usr/bin/sh). */
static void graft(const char *path, int depth)
{
	char cur[PATH_MAX] = "", rest[PATH_MAX];
	if (depth > 16)
		bail_out("graft %s: too many symlinks", path);
	pj(rest, sizeof rest, "%s", path);
	for (char *save = NULL, *c = strtok_r(rest, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		char host[PATH_MAX], mine[PATH_MAX];
		struct stat st;
		pj(host, sizeof host, "%s/%s", cur, c);
		pj(mine, sizeof mine, "%s%s", root, host);
		if (lstat(host, &st) < 0)
			die_errno("lstat", host);
		if (S_ISLNK(st.st_mode)) {
			char t[PATH_MAX], next[PATH_MAX];
			ssize_t n = readlink(host, t, sizeof t - 1);
			if (n <= 0)
				die_errno("readlink", host);
			t[n] = '\0';
			if (symlink(t, mine) < 0 && errno != EEXIST)
				die_errno("symlink", mine);
			const char *tail = save && *save ? save : "";
			if (t[0] == '/')
				pj(next, sizeof next, "%s/%s", t, tail);
			else
				pj(next, sizeof next, "%s/%s/%s", cur, t, tail);
			graft(next, depth + 1);
			return;
		}
		if (S_ISDIR(st.st_mode)) {
			if (mkdir(mine, 0755) < 0 && errno != EEXIST)
				die_errno("mkdir", mine);
		} else {
			copy_file(host, mine);
		}
		pj(cur, sizeof cur, "%s", host);
	}
}

/* dl_iterate_phdr: this program's interpreter and its libc. */
static char interp[PATH_MAX], libc_path[PATH_MAX];
static int find_libs(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	if (!info->dlpi_name[0]) {
		for (int i = 0; i < info->dlpi_phnum; i++)
			if (info->dlpi_phdr[i].p_type == PT_INTERP)
				pj(interp, sizeof interp, "%s",
					 (const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr));
	} else if (strstr(info->dlpi_name, "/libc.so")) {
		pj(libc_path, sizeof libc_path, "%s", info->dlpi_name);
	}
	return 0;
}

static void build_tree(void)
{
	pj(base, sizeof base, "/tmp/msb-rootfs-XXXXXX");
	if (!mkdtemp(base))
		die_errno("mkdtemp", base);
	chmod(base, 0755); /* a root caller's sandbox runs as another uid */
	pj(root, sizeof root, "%s/root", base);
	pj(secret, sizeof secret, "%s/secret", base);
	pj(secretdir, sizeof secretdir, "%s/secretdir", base);
	if (mkdir(root, 0755) < 0 || mkdir(secretdir, 0755) < 0)
		die_errno("mkdir", base);
	chmod(root, 0755);
	chmod(secretdir, 0755);
	put(secret, SECRET "\n", 0644);
	char p[PATH_MAX];
	pj(p, sizeof p, "%s/hostfile", secretdir);
	put(p, SECRET "\n", 0644);

	dl_iterate_phdr(find_libs, NULL);
	if (!interp[0] || !libc_path[0])
		bail_out("cannot find this program's dynamic loader and libc");
	graft("/bin/sh", 0);
	graft("/bin/cat", 0);
	graft(interp, 0);
	graft(libc_path, 0);
	mkdir_at("etc");
	pj(p, sizeof p, "%s/etc/os-release", root);
	put(p, "ID=msb-rootfs-test\n", 0644);
}

/* Is the host's canary unchanged and the secret directory as it was? */
static void check_host(const char *when)
{
	char buf[64] = "";
	int fd = open(secret, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	is_str(buf, SECRET "\n", "%s: the host's canary file is unchanged", when);
	int entries = 0;
	DIR *d = opendir(secretdir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			entries++;
	if (d)
		closedir(d);
	is_int(entries, 1, "%s: nothing was created in the host's directory", when);
}

static msb_sandbox *start(const char *rootfs)
{
	msb_sandbox_options o = msbt_options();
	o.rootfs = rootfs;
	return msbt_start(&o);
}

/* The sandbox's answer for `probe sub path`, chomped (malloc'd). */
static char *probe(msb_sandbox *sb, const char *sub, const char *path)
{
	return msbt_chomp(msbt_output(sb, ARGV(MSBT_PROBE, sub, path), NULL));
}

static void no_secret_in(msb_sandbox *sb, const char *path)
{
	char *r = probe(sb, "cat", path);
	ok(!strstr(r, SECRET), "%s holds nothing of the host's file (%.60s)", path, r);
	free(r);
}

static void no_hostfile_in(msb_sandbox *sb, const char *dir)
{
	char *r = probe(sb, "ls", dir);
	ok(!strstr(r, "hostfile"), "%s lists nothing of the host's directory (%.60s)", dir, r);
	free(r);
}

/* Symlinks in the tree's /etc and at its top level that point out of it. */
static void test_links(void)
{
	char t[PATH_MAX];
	mkdir_at("etc/ssl");
	pj(t, sizeof t, "/oldroot%s", secret);
	link_at(t, "etc/resolv.conf");
	link_at(t, "etc/hostname");
	link_at(t, "etc/localtime");
	pj(t, sizeof t, UP "oldroot%s", secret);
	link_at(t, "etc/ld.so.cache");
	link_at(t, "etc/hosts");
	pj(t, sizeof t, "/oldroot%s", secretdir);
	link_at(t, "etc/ssl/certs");
	link_at(t, "tmp");
	link_at(t, "workspace");
	link_at(t, "sbin");
	pj(t, sizeof t, UP "oldroot%s", secretdir);
	link_at(t, "etc/alternatives");
	link_at(t, "root");

	msb_sandbox *sb = start(root);
	if (!ok(sb != NULL, "a sandbox on a tree whose links point out of it starts")) {
		skip(15, "no sandbox");
		check_host("links");
		return;
	}
	char *r = probe(sb, "cat", "/etc/os-release");
	is_str(r, "ID=msb-rootfs-test", "the sandbox sees the tree's own /etc/os-release");
	free(r);
	static const char *const files[] = { "/etc/resolv.conf", "/etc/ld.so.cache",
					     "/etc/hostname", "/etc/hosts", "/etc/localtime" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		no_secret_in(sb, files[i]);
	static const char *const dirs[] = { "/etc/ssl/certs", "/etc/alternatives", "/sbin",
					    "/tmp", "/workspace", "/root" };
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		no_hostfile_in(sb, dirs[i]);
	static const char *const rw[] = { "/tmp/msb-x", "/workspace/msb-x", "/root/msb-x" };
	for (size_t i = 0; i < sizeof rw / sizeof rw[0]; i++) {
		r = probe(sb, "write", rw[i]);
		is_str(r, "OK", "writing %s works (the sandbox's own area)", rw[i]);
		free(r);
	}
	msb_sandbox_free(sb);
	check_host("links");
}

/* The tree's whole /etc is a symlink: out of the tree, then (by ".."
 * beyond its top) to a directory inside it. */
static void test_etc_link(void)
{
	char t[PATH_MAX], p[PATH_MAX], hostetc[PATH_MAX];

	/* a host directory laid out like an /etc full of secrets */
	pj(hostetc, sizeof hostetc, "%s/hostetc", base);
	mkdir(hostetc, 0755);
	chmod(hostetc, 0755);
	static const char *const names[] = { "resolv.conf", "ld.so.cache", "os-release" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		pj(p, sizeof p, "%s/%s", hostetc, names[i]);
		put(p, SECRET "\n", 0644);
	}
	pj(p, sizeof p, "%s/ssl", hostetc);
	mkdir(p, 0755);
	chmod(p, 0755);
	pj(t, sizeof t, "%s/certs", p);
	if (symlink(secretdir, t) < 0 && errno != EEXIST)
		die_errno("symlink", t);

	pj(p, sizeof p, "%s/etc", root);
	pj(t, sizeof t, "%s/etc.real", root);
	if (rename(p, t) < 0)
		die_errno("rename", p);
	pj(t, sizeof t, "/oldroot%s", hostetc);
	link_at(t, "etc");
	msb_sandbox *sb = start(root);
	if (ok(sb != NULL, "a sandbox whose /etc links to the host's view starts")) {
		no_secret_in(sb, "/etc/resolv.conf");
		no_secret_in(sb, "/etc/ld.so.cache");
		no_secret_in(sb, "/etc/os-release");
		no_hostfile_in(sb, "/etc/ssl/certs");
		msb_sandbox_free(sb);
	} else {
		skip(4, "no sandbox");
	}

	link_at(UP "etc.real", "etc");
	sb = start(root);
	if (ok(sb != NULL, "a sandbox whose /etc is ../../.. (beyond its top) /etc.real starts")) {
		char *r = probe(sb, "cat", "/etc/os-release");
		if (no_openat2)
			ok(!strcmp(r, "ID=msb-rootfs-test") || !strcmp(r, "ENOENT"),
			   "the link is resolved inside the tree or not at all (%s)", r);
		else
			is_str(r, "ID=msb-rootfs-test",
			       "the link is resolved inside the tree: /etc/os-release is etc.real's");
		free(r);
		msb_sandbox_free(sb);
	} else {
		skip(1, "no sandbox");
	}
	pj(p, sizeof p, "%s/etc", root);
	pj(t, sizeof t, "%s/etc.real", root);
	if (unlink(p) < 0 || rename(t, p) < 0)
		die_errno("restore", p);
	check_host("etc link");
}

/* The rootfs named through a symlink on the host: resolved as the host
 * resolves it. */
static void test_rootfs_link(void)
{
	char link[PATH_MAX];
	pj(link, sizeof link, "%s/rootlink", base);
	unlink(link);
	if (symlink(root, link) < 0)
		die_errno("symlink", link);
	msb_sandbox *sb = start(link);
	if (ok(sb != NULL, "a rootfs named through an absolute symlink starts")) {
		char *r = probe(sb, "cat", "/etc/os-release");
		is_str(r, "ID=msb-rootfs-test", "it is the tree the link names");
		free(r);
		msb_sandbox_free(sb);
	} else {
		skip(1, "no sandbox");
	}
}

/* A volume whose mount point in the tree crosses a symlink out of it. */
static void test_volume_link(void)
{
	char t[PATH_MAX], host[PATH_MAX];
	pj(host, sizeof host, "%s/vol", base);
	mkdir(host, 0755);
	chmod(host, 0755);
	pj(t, sizeof t, "/oldroot%s", secretdir);
	link_at(t, "usr/vol");

	msb_volume vols[2];
	msb_sandbox_options o = msbt_options();
	vols[0] = o.volumes[0];
	vols[1].host_path = host;
	vols[1].sandbox_path = "/usr/vol/data";
	vols[1].read_only = 0;
	o.volumes = vols;
	o.volumes_len = 2;
	o.rootfs = root;
	msb_sandbox *sb = NULL;
	int rc = msb_sandbox_create(&sb, &o);
	if (!rc)
		rc = msb_sandbox_start(sb);
	const msb_error *e = msb_error_last();
	ok(rc != 0, "a volume mounted through a symlink out of the tree is refused (%d)", rc);
	ok(rc != 0 && strstr(e->message, "/usr/vol"), "the error names the path: %s", e->message);
	msb_sandbox_free(sb);
	check_host("volume");
}

/*
 * From here on openat2 answers ENOSYS in this process and what it starts
 * (a seccomp filter is inherited), as on kernels before 5.6: the agent
 * must then follow no symlink in the tree rather than resolve it.
 */
static int deny_openat2(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	return 0;
}

static void cleanup(void)
{
	char cmd[128];
	if (base[0]) {
		pj(cmd, sizeof cmd, "rm -rf '%s'", base);
		(void)!system(cmd);
	}
}

int main(void)
{
	msbt_watchdog(180);
	msbt_require_sandboxes();
	build_tree();
	atexit(cleanup);
	for (no_openat2 = 0; no_openat2 < 2; no_openat2++) {
		if (no_openat2) {
			if (deny_openat2() < 0) {
				diag("cannot install a seccomp filter: %s", strerror(errno));
				break;
			}
			diag("openat2 now answers ENOSYS, as before Linux 5.6");
		}
		test_links();
		test_etc_link();
		test_rootfs_link();
		test_volume_link();
	}
	return done_testing();
}
