/*
 * agent.c - the agent is out of reach of the code it runs, and libmsb
 * signals no host process the agent names.
 *
 * The code in a sandbox runs as the same uid as its PID 1, the agent, when
 * the caller is not root (root in the sandbox's user namespace is the
 * caller's uid). The agent is non-dumpable, so that the kernel refuses
 * that code its memory (/proc/1/mem, read or write: a write would get past
 * the seccomp filter that protects the agent), its maps, environment, fds,
 * root, cwd and executable, and a copy of its fds (pidfd_getfd). Each is
 * tried from inside, by python3 from the host's /usr; run-c-tests.sh runs
 * this as root and as an unprivileged user. Programs the agent starts stay
 * dumpable (execve makes them so) and the agent still reads their /proc.
 *
 * A detached sandbox's agent answers every client's HELLO with a pid, and
 * an agent the code took over could name any process of the caller's
 * there. A fake agent does: its HELLO names a victim that looks like an
 * msb-agent, and stopping the sandbox must leave the victim alone (libmsb
 * signals the socket's listener, as the kernel names it). A real detached
 * sandbox's recorded pid is its socket's listener.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Each attack prints "<name> REFUSED <errno>" or "<name> ALLOWED <what>". */
static const char attack_py[] =
	"import ctypes, errno, os\n"
	"def res(name, f):\n"
	"    try:\n"
	"        print(name, 'ALLOWED', f(), flush=True)\n"
	"    except OSError as e:\n"
	"        print(name, 'REFUSED', errno.errorcode.get(e.errno, e.errno), flush=True)\n"
	"def mem_write():\n"
	"    fd = os.open('/proc/1/mem', os.O_RDWR)\n"
	"    try:\n"
	"        addr = 0x400000\n"
	"        for l in open('/proc/1/maps'):\n"
	"            if '[stack]' in l:\n"
	"                addr = int(l.split('-')[1].split()[0], 16) - 64\n"
	"        b = os.pread(fd, 8, addr)\n"
	"        return os.pwrite(fd, b, addr)  # the same bytes back: harmless\n"
	"    finally:\n"
	"        os.close(fd)\n"
	"def mem_read():\n"
	"    fd = os.open('/proc/1/mem', os.O_RDONLY)\n"
	"    try:\n"
	"        return len(os.pread(fd, 8, 0x400000))\n"
	"    finally:\n"
	"        os.close(fd)\n"
	"def fd_open():\n"
	"    for n in range(16):\n"
	"        try:\n"
	"            os.close(os.open('/proc/1/fd/%d' % n, os.O_RDONLY))\n"
	"            return n\n"
	"        except FileNotFoundError:\n"
	"            pass\n"
	"    raise OSError(errno.ENOENT, 'no fd')\n"
	"def getfd():\n"
	"    pfd = os.pidfd_open(1)\n"
	"    libc = ctypes.CDLL(None, use_errno=True)\n"
	"    for n in range(16):\n"
	"        r = libc.syscall(438, pfd, n, 0)  # pidfd_getfd\n"
	"        if r >= 0:\n"
	"            return n\n"
	"        if ctypes.get_errno() != errno.EBADF:\n"
	"            raise OSError(ctypes.get_errno(), 'pidfd_getfd')\n"
	"    raise OSError(errno.EBADF, 'no fd')\n"
	"print('uid', os.getuid(), 'agent-uid',\n"
	"      open('/proc/1/status').read().split('Uid:')[1].split()[0], flush=True)\n"
	"res('mem-write', mem_write)\n"
	"res('mem-read', mem_read)\n"
	"res('maps', lambda: open('/proc/1/maps').read().count('\\n'))\n"
	"res('environ', lambda: len(open('/proc/1/environ', 'rb').read()))\n"
	"res('fd-list', lambda: len(os.listdir('/proc/1/fd')))\n"
	"res('fd-open', fd_open)\n"
	"res('exe', lambda: os.readlink('/proc/1/exe'))\n"
	"res('root', lambda: len(os.listdir('/proc/1/root')))\n"
	"res('cwd', lambda: os.readlink('/proc/1/cwd'))\n"
	"res('pidfd-getfd', getfd)\n";

static const char *const attacks[] = {
	"mem-write", "mem-read", "maps", "environ", "fd-list",
	"fd-open", "exe", "root", "cwd", "pidfd-getfd",
};
#define NATTACKS (int)(sizeof attacks / sizeof attacks[0])

static void test_out_of_reach(void)
{
	msb_sandbox *sb = msbt_start(NULL);
	int code;

	if (!sb) {
		ok(0, "start a sandbox");
		skip(NATTACKS + 3, "no sandbox");
		return;
	}
	char *out = msbt_output(sb, ARGV("python3", "-c", attack_py), &code);
	if (code == -1000 || (code == 127 && !out[0])) {
		skip(NATTACKS + 1, "python3 does not run in the sandbox");
	} else {
		const char *uid = msbt_line_value(out, "uid");

		diag("in the sandbox: uid %s (the caller is %s)", uid ? uid : "?",
		     geteuid() ? "unprivileged" : "root");
		for (int i = 0; i < NATTACKS; i++) {
			const char *r = msbt_line_value(out, attacks[i]);

			ok(r && !strncmp(r, "REFUSED ", 8), "%s of the agent (pid 1) "
			   "is refused from inside (%s)", attacks[i], r ? r : "no answer");
		}
		is_int(code, 0, "the attacks ran to the end");
	}
	free(out);

	/* The sandbox serves on as before. */
	char *echo = msbt_output(sb, ARGV("echo", "still here"), &code);
	is_str(echo, "still here\n", "the sandbox still runs commands after the attempts");
	free(echo);

	/* What the agent starts is dumpable again (execve), and reachable
	 * by its own kind: a child reads its parent shell's memory map. */
	char *own = msbt_output(sb, ARGV("sh", "-c", "cat /proc/$$/maps >/dev/null && "
					  "cat /proc/self/environ >/dev/null && echo ok"), &code);
	is_str(own, "ok\n", "a command's processes read each other's /proc/<pid>/maps and environ");
	free(own);

	/* The agent still reads its children's /proc (metrics). */
	msb_metrics m = MSB_METRICS_INIT;
	int rc = msb_sandbox_metrics(&m, sb);
	ok(rc == 0 && m.running && m.pids >= 1, "the agent still measures the sandbox "
	   "(pids %u)", (unsigned)m.pids);
	msb_sandbox_free(sb);
}

/* ---- the HELLO's pid is not trusted -------------------------------------- */

static char state_dir[PATH_MAX];

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int sun_set(struct sockaddr_un *sa, const char *path)
{
	if (strlen(path) >= sizeof sa->sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Does pid's command line start with "msb-agent" (as libmsb checks)? */
static int is_msb_agent(pid_t pid)
{
	char path[64], buf[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return !strcmp(buf, "msb-agent");
}

/* A fake detached agent: every client's HELLO is answered with a HELLO
 * that names `victim` as the sandbox's host process; whatever comes next
 * ends the connection. Runs until killed, in a child forked while the
 * test runs no sandbox (no allocation here). */
static void fake_agent(int lfd, pid_t victim)
{
	char body[512];
	uint8_t hdr[12];

	snprintf(body, sizeof body, "{\"proto\":1,\"agent\":\"fake\",\"ok\":true,"
		 "\"cgroup\":0,\"detached\":true,\"pid\":%d,\"enforcement\":{}}",
		 (int)victim);
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		uint32_t len;

		if (c < 0)
			continue;
		if (read_all(c, hdr, sizeof hdr) == 0) {
			char skipbuf[4096];
			int ok_ = 1;

			len = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24;
			/* the client's HELLO, unread: nothing in it matters */
			while (ok_ && len > 0) {
				size_t n = len < sizeof skipbuf ? len : sizeof skipbuf;

				ok_ = read_all(c, skipbuf, n) == 0;
				len -= (uint32_t)n;
			}
			if (ok_) {
				uint32_t bl = (uint32_t)strlen(body);
				uint8_t out[12] = { bl & 255, bl >> 8 & 255, bl >> 16 & 255,
						    bl >> 24, 1 /* HELLO */ };

				(void)!write(c, out, sizeof out);
				(void)!write(c, body, bl);
				(void)!read(c, hdr, 1); /* the next frame: done */
			}
		}
		close(c);
	}
}

static void test_forged_hello(void)
{
	char dir[PATH_MAX + 16], path[PATH_MAX + 64], state[256];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t victim, fake;
	int lfd, st;

	/* The victim looks like an msb-agent to a check of its command line. */
	victim = fork();
	if (victim == 0) {
		execl("/bin/sleep", "msb-agent", "60", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; victim > 0 && i < 300 && !is_msb_agent(victim); i++)
		usleep(10000); /* until it has executed */
	snprintf(dir, sizeof dir, "%s/forged", state_dir);
	snprintf(path, sizeof path, "%s/agent.sock", dir);
	snprintf(state, sizeof state, "{\"name\":\"forged\",\"pid\":%d,\"created_ms\":1,"
		 "\"backend\":\"os\",\"stopped\":false}", (int)victim);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (victim < 0 || sun_set(&sa, path) < 0 || mkdir(dir, 0700) < 0 || lfd < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 8) < 0) {
		skip(3, "cannot set up a fake agent: %s", strerror(errno));
		if (victim > 0)
			kill(victim, SIGKILL);
		return;
	}
	snprintf(path, sizeof path, "%s/state.json", dir);
	write_file(path, state);
	fake = fork();
	if (fake == 0)
		fake_agent(lfd, victim);
	close(lfd);

	msb_sandbox *sb = NULL;
	int rc = msb_sandbox_connect(&sb, "forged");

	ok(rc == 0, "a client connects to the fake agent (its HELLO names pid %d)",
	   (int)victim);
	if (rc)
		msbt_diag_error("msb_sandbox_connect", rc);
	rc = sb ? msb_sandbox_stop(sb, 0) : -1;
	ok(rc == 0, "the sandbox stops");
	msb_sandbox_free(sb);
	ok(waitpid(victim, &st, WNOHANG) == 0,
	   "the process the agent named was not signalled");
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	kill(fake, SIGKILL);
	waitpid(fake, NULL, 0);
}

/* pid has ended (it may stay a zombie where our init does not reap). */
static int gone(pid_t pid)
{
	char path[64], buf[256];

	for (int i = 0; i < 300; i++) {
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
		const char *paren;

		if (fd >= 0)
			close(fd);
		if (n <= 0)
			return 1;
		buf[n] = '\0';
		paren = strrchr(buf, ')');
		if (paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'))
			return 1;
		usleep(10000);
	}
	return 0;
}

/* A real detached sandbox: what libmsb records and signals is the process
 * listening on its socket, as the kernel tells a connection. */
static void test_detached_pid(void)
{
	msb_sandbox_options o = msbt_options();
	char path[PATH_MAX + 64], buf[256], *p;
	struct ucred cr;
	socklen_t len = sizeof cr;
	int fd = -1;

	o.name = "reach";
	o.detached = 1;
	o.backend = MSB_BACKEND_OS;
	msb_sandbox *sb = msbt_start(&o);
	if (!sb) {
		ok(0, "start a detached sandbox");
		skip(2, "no sandbox");
		return;
	}
	snprintf(path, sizeof path, "%s/reach/state.json", state_dir);
	int sfd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = sfd < 0 ? -1 : read(sfd, buf, sizeof buf - 1);

	if (sfd >= 0)
		close(sfd);
	buf[n > 0 ? n : 0] = '\0';
	p = strstr(buf, "\"pid\":");
	long recorded = p ? strtol(p + 6, NULL, 10) : -1;

	snprintf(path, sizeof path, "%s/reach/agent.sock", state_dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	fd = sun_set(&sa, path) < 0 ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		cr.pid = -2;
	if (fd >= 0)
		close(fd);
	ok(recorded > 1 && recorded == cr.pid, "the recorded pid (%ld) is the "
	   "socket's listener (%d)", recorded, (int)cr.pid);
	ok(msb_sandbox_kill("reach") == 0, "msb_sandbox_kill returns");
	ok(recorded > 1 && gone((pid_t)recorded), "and the listener is gone");
	msb_sandbox_free(sb);
	msb_sandbox_remove("reach");
}

int main(void)
{
	msbt_watchdog(90);
	msbt_require_sandboxes();
	snprintf(state_dir, sizeof state_dir, "/tmp/msb-test-agent-XXXXXX");
	if (!mkdtemp(state_dir))
		bail_out("mkdtemp: %s", strerror(errno));
	setenv("MSB_STATE_DIR", state_dir, 1);
	plan(NATTACKS + 4 + 3 + 3);
	test_out_of_reach();
	test_forged_hello();
	test_detached_pid();
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf %s", state_dir);
	(void)!system(cmd);
	return done_testing();
}
