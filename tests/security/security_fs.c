/*
 * security_fs.c - filesystem and identity attacks from inside a sandbox:
 * writes to system paths, reading host secrets, /proc leaks, user mapping,
 * capabilities, device nodes, hostname.
 *
 * Every check runs the probe inside the sandbox and looks at what the
 * attempt gave; the probe itself never judges.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static msb_sandbox *sb;

static char *probe(const char *sub, const char *arg, const char *arg2)
{
	const char *argv[5] = {MSBT_PROBE, sub, arg, arg2, NULL};
	return msbt_chomp(msbt_output(sb, argv, NULL));
}

/* No bytes of `path` can be read: it is absent, unreadable or empty. */
static int unreadable(const char *answer)
{
	return strcmp(answer, "OK 0") == 0 ||
	       (strncmp(answer, "OK", 2) != 0 && answer[0] == 'E');
}

static void test_readonly(void)
{
	static const char *const ro[] = {
		"/msb-probe-file", "/usr/msb-probe-file", "/etc/msb-probe-file",
		"/bin/msb-probe-file", "/lib/msb-probe-file", "/sbin/msb-probe-file",
		MSBT_DIR "/msb-probe-file",
	};
	for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
		char *r = probe("write", ro[i], NULL);
		is_str(r, "EROFS", "creating %s fails with EROFS", ro[i]);
		free(r);
	}
	char *r = probe("put", "/etc/passwd", "evil::0:0::/:/bin/sh\n");
	ok(strcmp(r, "OK") != 0, "overwriting /etc/passwd fails (%s)", r);
	free(r);

	static const char *const rw[] = {"/tmp/msb-probe-file",
					 "/workspace/msb-probe-file",
					 "/root/msb-probe-file"};
	for (size_t i = 0; i < sizeof rw / sizeof rw[0]; i++) {
		r = probe("write", rw[i], NULL);
		is_str(r, "OK", "creating %s works (writable area)", rw[i]);
		free(r);
	}
}

static void test_host_secrets(void)
{
	char *r;
	struct stat st;

	r = probe("read", "/etc/shadow", NULL);
	ok(!strcmp(r, "ENOENT") || !strcmp(r, "OK 0"),
	   "/etc/shadow is not visible (%s)", r);
	free(r);
	r = probe("read", "/etc/gshadow", NULL);
	ok(!strcmp(r, "ENOENT") || !strcmp(r, "OK 0"),
	   "/etc/gshadow is not visible (%s)", r);
	free(r);

	/* the host's /home */
	r = probe("ls", "/home", NULL);
	ok(!strcmp(r, "") || !strcmp(r, "ERR ENOENT"),
	   "the host's /home is not visible (%s)", r);
	free(r);

	/* the sandbox's /root is its own, fresh and empty */
	r = probe("ls", "/root", NULL);
	ok(!strcmp(r, "msb-probe-file"),
	   "/root holds only what the sandbox wrote, not the host's /root (%s)", r);
	free(r);

	/* ssh host keys: the host's, or (as root) a planted marker */
	int keys = 0, planted = 0;
	char marker[128] = "";
	DIR *d = opendir("/etc/ssh");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "ssh_host_", 9) != 0)
			continue;
		char path[300];
		snprintf(path, sizeof path, "/etc/ssh/%s", e->d_name);
		r = probe("read", path, NULL);
		ok(!strcmp(r, "ENOENT") || !strcmp(r, "OK 0"),
		   "the host's %s is not visible (%s)", path, r);
		free(r);
		keys++;
	}
	if (d)
		closedir(d);
	if (!keys && geteuid() == 0 && stat("/etc/ssh", &st) == 0) {
		/* plant a fake key for the duration of one check */
		snprintf(marker, sizeof marker,
			 "/etc/ssh/ssh_host_msbtest%d_key", (int)getpid());
		int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			(void)!write(fd, "not a key\n", 10);
			close(fd);
			planted = 1;
		}
	}
	if (planted) {
		r = probe("read", marker, NULL);
		unlink(marker);
		ok(!strcmp(r, "ENOENT") || !strcmp(r, "OK 0"),
		   "a host ssh host key (planted) is not visible (%s)", r);
		free(r);
	} else if (!keys) {
		skip(1, "no ssh host keys on this host and cannot plant one (not root)");
	}

	/* a planted file in the host's /root */
	if (geteuid() == 0 && stat("/root", &st) == 0) {
		snprintf(marker, sizeof marker, "/root/.msb-test-marker-%d", (int)getpid());
		int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			close(fd);
			char *name = strrchr(marker, '/') + 1;
			char inside[160];
			snprintf(inside, sizeof inside, "/root/%s", name);
			r = probe("stat", inside, NULL);
			unlink(marker);
			is_str(r, "ENOENT", "a file in the host's /root is not visible");
			free(r);
		} else {
			skip(1, "cannot write to the host's /root");
		}
	} else {
		skip(1, "planting a file in the host's /root needs root");
	}

	/* a host file outside the system directories, by absolute path */
	char hostfile[] = "/var/tmp/msb-test-hostfile-XXXXXX";
	int fd = mkstemp(hostfile);
	if (fd >= 0) {
		(void)!write(fd, "secret\n", 7);
		close(fd);
		chmod(hostfile, 0644);
		r = probe("read", hostfile, NULL);
		ok(strcmp(r, "OK 7") != 0, "a world-readable host file under /var/tmp is not "
		   "readable (%s)", r);
		free(r);
		unlink(hostfile);
	} else {
		skip(1, "cannot create a file in /var/tmp");
	}
}

static void test_proc(void)
{
	static const char *const masked[] = {"/proc/kcore", "/proc/keys",
					     "/proc/timer_list", "/proc/sched_debug"};
	for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++) {
		char *r = probe("read", masked[i], NULL);
		ok(unreadable(r), "%s yields no bytes (%s)", masked[i], r);
		free(r);
	}
	char *r = probe("put", "/proc/sysrq-trigger", "h");
	ok(strcmp(r, "OK") != 0, "writing /proc/sysrq-trigger fails (%s)", r);
	free(r);
	r = probe("put", "/proc/sys/vm/drop_caches", "1");
	ok(strcmp(r, "OK") != 0, "writing /proc/sys/vm/drop_caches fails (%s)", r);
	free(r);
	r = probe("write", "/sys/msb-probe-file", NULL);
	ok(strcmp(r, "OK") != 0, "creating files in /sys fails (%s)", r);
	free(r);
}

static void test_identity(void)
{
	char *map = msbt_output(sb, ARGV(MSBT_PROBE, "uid"), NULL);
	long inside = -1, outside = -1, count = -1;
	int found = 0;
	for (char *line = strtok(map, "\n"); line; line = strtok(NULL, "\n")) {
		if (sscanf(line, "%ld %ld %ld", &inside, &outside, &count) == 3 &&
		    inside == 0) {
			found = 1;
			break;
		}
	}
	ok(found, "/proc/self/uid_map maps sandbox uid 0");
	ok(found && outside != 0,
	   "sandbox uid 0 is not host uid 0 (maps to host uid %ld)", outside);
	if (geteuid() != 0)
		ok(found && outside == (long)geteuid(),
		   "unprivileged: sandbox uid 0 is the caller's uid %d", (int)geteuid());
	free(map);

	char *st = msbt_output(sb, ARGV(MSBT_PROBE, "status"), NULL);
	const char *v;
	v = msbt_line_value(st, "CapEff");
	is_str(v ? v : "", "0000000000000000", "commands have no effective capabilities");
	v = msbt_line_value(st, "CapPrm");
	is_str(v ? v : "", "0000000000000000", "commands have no permitted capabilities");
	v = msbt_line_value(st, "NoNewPrivs");
	is_str(v ? v : "", "1", "no_new_privs is set");
	v = msbt_line_value(st, "Seccomp");
	is_str(v ? v : "", "2", "a seccomp filter is installed");
	free(st);

	char *r = probe("mknod", "/tmp/msb-probe-null", NULL);
	ok(strcmp(r, "OK") != 0, "mknod of a character device fails (%s)", r);
	free(r);

	char *dev = msbt_output(sb, ARGV(MSBT_PROBE, "ls", "/dev"), NULL);
	static const char *const bad[] = {"mem", "kmem", "port", "kmsg", "sda", "vda",
					  "nvme0", "nvme0n1", "kvm", "fuse", "loop0"};
	int clean = 1;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (msbt_has_line(dev, bad[i])) {
			diag("/dev/%s is visible", bad[i]);
			clean = 0;
		}
	ok(clean, "no host devices (mem, kmsg, disks, kvm) in /dev");
	ok(msbt_has_line(dev, "null") && msbt_has_line(dev, "zero") &&
	   msbt_has_line(dev, "urandom"), "/dev has null, zero and urandom");
	free(dev);

	char before[256] = "", after[256] = "";
	gethostname(before, sizeof before);
	r = probe("sethostname", "msb-evil-host", NULL);
	diag("sethostname inside: %s", r);
	free(r);
	gethostname(after, sizeof after);
	is_str(after, before, "the host's hostname is unchanged by the sandbox");
}

/* A read-write volume is shared with the host: the sandbox must not be able
 * to leave a setuid or setgid file there (on the host it would run with
 * the rights of the volume's owner, root for a root caller). */
static void test_setuid_in_volume(void)
{
	char dir[] = "/tmp/msb-setuid-XXXXXX", path[64];
	struct stat st;

	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	msb_volume vols[2] = {
		{ msbt_dir(), MSBT_DIR, 1 },
		{ dir, "/data", 0 },
	};
	msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
	o.volumes = vols;
	o.volumes_len = 2;
	msb_sandbox *vsb = msbt_start(&o);
	if (!vsb)
		bail_out("cannot start a sandbox with a read-write volume");
	int code;
	char *r = msbt_output(vsb, ARGV("/bin/sh", "-c",
		"echo x > /data/f && echo ok-write && chmod u+s /data/f || echo denied-suid; "
		"chmod g+s /data/f || echo denied-sgid"), &code);
	ok(msbt_has_line(r, "ok-write"), "the sandbox can write its read-write volume");
	ok(msbt_has_line(r, "denied-suid"), "chmod u+s in a volume is refused");
	ok(msbt_has_line(r, "denied-sgid"), "chmod g+s in a volume is refused");
	free(r);
	snprintf(path, sizeof path, "%s/f", dir);
	memset(&st, 0, sizeof st);
	int found = stat(path, &st) == 0;
	ok(found && !(st.st_mode & (S_ISUID | S_ISGID)),
	   "the host sees the file without setuid/setgid bits (mode %o)",
	   (unsigned)st.st_mode);
	ok(st.st_uid == getuid(), "the file belongs to the volume's owner on the host "
	   "(uid %u)", (unsigned)st.st_uid);
	msb_sandbox_free(vsb);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	msbt_watchdog(60);
	msbt_require_sandboxes();
	sb = msbt_start(NULL);
	if (!sb)
		bail_out("cannot start a sandbox");
	test_readonly();
	test_host_secrets();
	test_proc();
	test_identity();
	test_setuid_in_volume();
	msb_sandbox_free(sb);
	return done_testing();
}
