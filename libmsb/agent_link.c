/*
 * agent_link.c - the link between libmsb and a sandbox's agent, whichever
 * backend runs it: finding our programs and files, spawning the agent (os
 * backend) or msb-vmm (vm backend) on a socketpair, the HELLO exchange
 * with a deadline, waiting for and killing what we spawned, the sockets
 * and processes of detached sandboxes, and the one transition to RUNNING
 * that every way of getting a running handle takes.
 *
 * libmsb lives in other people's (multi-threaded) processes, so it never
 * forks and runs code in the child: it posix_spawn()s static programs.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

#include "agent_link.h"
#include "clock.h"
#include "conn.h"
#include "error.h"
#include "wire_abi.h"
#include "sandbox.h"

#define HANDSHAKE_TIMEOUT_MS 30000

/* Finding our files ------------------------------------------------------- */

/* A regular file we may read, and execute if it has any x bit; or a block
 * device we may read (a root filesystem image on a disk). */
static int is_usable(const char *p)
{
	struct stat st;

	if (stat(p, &st) < 0)
		return 0;
	if (S_ISBLK(st.st_mode))
		return access(p, R_OK) == 0;
	return S_ISREG(st.st_mode) &&
	       access(p, (st.st_mode & 0111) ? X_OK : R_OK) == 0;
}

/* <dir of file>/REL for each REL of rels (NULL-terminated). */
static int near(const char *file, const char *const *rels, char *out, size_t outsz)
{
	char real[PATH_MAX];
	char *slash;

	if (!file || !realpath(file, real))
		return 0;
	slash = strrchr(real, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	for (; *rels; rels++)
		if (snprintf(out, outsz, "%s/%s", real, *rels) < (int)outsz &&
		    is_usable(out))
			return 1;
	return 0;
}

int msb_find_file(const char *env, const char *const *rels,
		  const char *installed, const char *what, char *out,
		  size_t outsz)
{
	const char *val = getenv(env);
	char hint[128];
	Dl_info info;

	if (val && val[0]) {
		snprintf(out, outsz, "%s", val);
		if (is_usable(out))
			return 0;
		snprintf(hint, sizeof(hint), "fix or unset %s", env);
		return msb_fail(MSB_ESPAWN, 0, hint, "%s=%s is not a usable file",
				env, val);
	}
	/* Next to libmsb (an installed or a build tree: the object holding
	 * this very function), next to the program (a static link), then
	 * where `make install` put it. */
	if (dladdr((void *)msb_find_file, &info) &&
	    near(info.dli_fname, rels, out, outsz))
		return 0;
	if (near("/proc/self/exe", rels, out, outsz))
		return 0;
	snprintf(out, outsz, "%s", installed);
	if (is_usable(out))
		return 0;
	snprintf(hint, sizeof(hint), "install msb (make install) or set %s", env);
	return msb_fail(MSB_ESPAWN, 0, hint, "%s not found next to libmsb nor "
			"at %s", what, installed);
}

/* Spawning, waiting, killing --------------------------------------------- */

int msb_socketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return msb_fail(MSB_ESPAWN, errno, NULL, "socketpair");
	/* dup2(3, 3) would keep O_CLOEXEC: move the child's end out of the way. */
	if (sv[1] <= 3) {
		int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);

		close(sv[1]);
		if (fd < 0) {
			close(sv[0]);
			return msb_fail(MSB_ESPAWN, errno, NULL, "fcntl");
		}
		sv[1] = fd;
	}
	return 0;
}

int msb_spawn(msb_sandbox *sb, const char *path, char *const argv[],
	      int child_fd, int err_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char *envp[] = { NULL };
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	if (child_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, child_fd, 3);
	/* The agent never uses the caller's stdio: it must not keep the
	 * caller's terminal or pipes open, and 0-2 must be taken even when
	 * the caller's are closed (or close-on-exec, as in Node). */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (err_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	/* The caller's environment stays out of the sandbox. */
	rc = posix_spawn(&sb->agent_pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc) {
		sb->agent_pid = -1;
		return msb_fail(MSB_ESPAWN, rc, "check that it is executable",
				"cannot run %s", path);
	}
	sb->agent_reaped = 0;
	/* What we signal later is this very process, even if someone else
	 * reaped it and its pid went to another: the pidfd, taken while it
	 * is our unreaped child. */
	sb->agent_pidfd = msb_pidfd_open(sb->agent_pid);
	if (sb->agent_pidfd < 0 && errno != ENOSYS) {
		int e = errno;

		kill(sb->agent_pid, SIGKILL); /* unreaped: still ours */
		waitpid(sb->agent_pid, NULL, 0);
		sb->agent_pid = -1;
		return msb_fail(MSB_ESPAWN, e, NULL, "pidfd_open of %s", path);
	}
	return 0;
}

void msb_agent_forget(msb_sandbox *sb)
{
	if (sb->agent_pidfd >= 0)
		close(sb->agent_pidfd);
	sb->agent_pidfd = -1;
	sb->agent_pid = -1;
}

int msb_agent_wait(msb_sandbox *sb, int64_t timeout_ms)
{
	uint64_t deadline = msb_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int pidfd = sb->agent_pidfd, status;

	if (sb->agent_pid <= 0 || sb->agent_reaped)
		return 1;
	for (;;) {
		pid_t r = waitpid(sb->agent_pid, &status, WNOHANG);
		uint64_t now;

		if (r == sb->agent_pid || (r < 0 && errno == ECHILD)) {
			/* ECHILD: someone else reaped it (a SIGCHLD=SIG_IGN
			 * host); either way it is gone. */
			sb->agent_reaped = 1;
			sb->agent_status = r == sb->agent_pid ? status : 0;
			break;
		}
		now = msb_now_ns();
		if (now >= deadline)
			break;
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };

			poll(&p, 1, (int)((deadline - now) / 1000000ull) + 1);
		} else {
			usleep(2000);
		}
	}
	return sb->agent_reaped;
}

void msb_agent_kill(msb_sandbox *sb)
{
	if (sb->agent_pid <= 0 || sb->agent_reaped)
		return;
	/* Stage 0 kills the sandbox and removes its cgroups on SIGTERM;
	 * SIGKILL is the last resort (the sandbox still dies with it). */
	msb_pid_signal(sb->agent_pidfd, sb->agent_pid, SIGTERM);
	if (msb_agent_wait(sb, 1000))
		return;
	msb_pid_signal(sb->agent_pidfd, sb->agent_pid, SIGKILL);
	msb_agent_wait(sb, 5000);
}

/* The HELLO exchange ------------------------------------------------------
 *
 * The agent's configuration travels in our HELLO; the agent answers with
 * a HELLO of its own (ok or an error, its protocol version, how each limit
 * is enforced, the pid of its stage 0 on the host). The wire format is
 * docs/PROTOCOL.md's. That pid is never used: an agent that the code it
 * runs took over could name any process of ours, and the processes we
 * signal are those the kernel names (our spawn, a socket's listener).
 */

/* Read the agent's HELLO, with a deadline. */
int msb_read_hello(msb_sandbox *sb, json_t **out)
{
	struct msb_decoder dec;
	struct msb_frame f;
	const char *why = "the agent closed the connection during setup";
	int rc;

	uint64_t t0 = msb_now_ns();

	msb_decoder_init(&dec);
	rc = msb_frame_read(sb->conn.fd, &dec, &f, t0 + HANDSHAKE_TIMEOUT_MS * 1000000ull, &why);
	if (rc == 0) {
		/* the time it really waited: since the start began (a VM's boot
		 * and an earlier HELLO count too), else since this read */
		uint64_t since = sb->started_ns && sb->started_ns < t0 ? sb->started_ns : t0;

		rc = msb_fail(MSB_ETIMEDOUT, 0, "the host may be overloaded; "
			      "try again", "the sandbox did not become ready: "
			      "no answer from its agent in %d ms (%llu ms since "
			      "the start)", HANDSHAKE_TIMEOUT_MS,
			      (unsigned long long)((msb_now_ns() - since) / 1000000ull));
		goto done;
	}
	if (rc == 1 && f.type != MSB_FRAME_HELLO) {
		why = "the agent's first frame is not HELLO";
		rc = -1;
	} else if (rc == 1) {
		*out = msb_frame_json(&f, &why);
		rc = *out ? 0 : -1;
	}
	if (rc < 0)
		rc = msb_fail(MSB_ESPAWN, 0, "run `msb info` to see what this "
			      "host supports", "sandbox setup failed: %s", why);
done:
	msb_decoder_release(&dec);
	return rc;
}

/* Send our HELLO (taking the reference; NULL: out of memory) and check
 * the agent's answer; fills sb->enforcement. */
static int handshake(msb_sandbox *sb, json_t *hello)
{
	struct msb_wire_ready ready;
	struct msb_wire_error err;
	const char *why = "";
	json_t *reply = NULL;
	int rc;

	if (!hello)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	rc = msb_frame_write_json(sb->conn.fd, MSB_FRAME_HELLO, 0, hello);
	json_decref(hello);
	if (rc < 0)
		return msb_fail(MSB_ESPAWN, -rc, "run `msb info` to see what this "
				"host supports", "msb-agent exited at once");
	if ((rc = msb_read_hello(sb, &reply)))
		return rc;
	rc = msb_wire_ready_decode(reply, &ready, &err, &why);
	json_decref(reply);
	if (rc > 0) {
		rc = msb_fail_wire(&err, "sandbox setup failed");
		return rc == MSB_ERROR ? MSB_ESPAWN : rc;
	}
	if (rc < 0)
		return msb_fail(MSB_EPROTO, 0, "install msb-agent and libmsb from "
				"the same release", "%s", why);
	for (int l = MSB_LIMIT_MEMORY; l <= MSB_LIMIT_TIME; l++)
		sb->enforcement[l] = msb_enforcement_from_wire(
			ready.enforcement[msb_limit_to_wire((msb_limit)l)]);
	return 0;
}

int msb_handshake_config(msb_sandbox *sb)
{
	return handshake(sb, msb_wire_hello_encode(&sb->config));
}

int msb_handshake_join(msb_sandbox *sb)
{
	int rc = handshake(sb, msb_wire_join_encode());

	return rc ? rc : msb_host_from_peer(sb, sb->conn.fd);
}

/* RUNNING ------------------------------------------------------------------ */

int msb_agent_running(msb_sandbox *sb)
{
	sb->started_ns = msb_now_ns();
	pthread_mutex_lock(&sb->lock);
	sb->status = MSB_STATUS_RUNNING;
	pthread_mutex_unlock(&sb->lock);
	return msb_conn_start(sb);
}

/* Detached sandboxes: their sockets and host processes --------------------- */

/* Connect to an agent's socket: the fd, or -1 with errno. */
int msb_unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

pid_t msb_peer_pid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.pid <= 0)
		return -1;
	return cr.pid;
}

int msb_host_from_peer(msb_sandbox *sb, int fd)
{
	socklen_t len = sizeof(int);
	pid_t pid = msb_peer_pid(fd);
	int pidfd = -1;

	if (pid <= 0)
		return msb_fail(MSB_ESPAWN, errno, NULL, "cannot tell which process "
				"listens at %s (SO_PEERCRED)", sb->config.socket_path ?
				sb->config.socket_path : sb->config.name);
	/* The listener itself (Linux 6.5+), else its pid's process, which is
	 * the listener unless it died in between (kills check it is an agent
	 * still). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		pidfd = msb_pidfd_open(pid);
	/* Without a pidfd only on kernels that have none: a listener that
	 * is gone is never signalled by its pid. */
	if (pidfd < 0 && errno != ENOSYS)
		return msb_fail(MSB_ESTATE, errno, NULL, "the sandbox's process "
				"on this host (pid %d) is gone", (int)pid);
	if (sb->host_pidfd >= 0)
		close(sb->host_pidfd);
	sb->host_pid = pid;
	sb->host_pidfd = pidfd;
	return 0;
}

int msb_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec */
}

int msb_pid_signal(int pidfd, pid_t pid, int sig)
{
	if (pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
	return kill(pid, sig);
}

/* Is pid an msb-agent or an msb-vmm (so that a recycled pid is never
 * signalled)? A zombie has no command line: it is not. */
int msb_is_agent(pid_t pid)
{
	char path[64], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return !strcmp(buf, "msb-agent") || !strcmp(buf, "msb-vmm");
}

/* Wait up to ms for the process (pidfd, or pid when pidfd is -1) to end
 * or stop being an agent; 1 if it did. */
static int wait_gone(int pidfd, pid_t pid, int ms)
{
	if (pidfd >= 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int r;

		do /* readable once it has ended */
			r = poll(&p, 1, ms);
		while (r < 0 && errno == EINTR);
		return r > 0 || !msb_is_agent(pid);
	}
	for (int i = 0; i < ms / 10; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return 1;
		if (!msb_is_agent(pid))
			return 1;
		usleep(10000);
	}
	return 0;
}

void msb_kill_host(int pidfd, pid_t pid, int grace_ms, int sig)
{
	/* With a pidfd, pid is the pidfd's process while that lives: then
	 * the check is of the very process we signal (and a signal to one
	 * that ended fails). */
	if (pid <= 1 || !msb_is_agent(pid) || wait_gone(pidfd, pid, grace_ms))
		return;
	msb_pid_signal(pidfd, pid, sig);
	if (sig != SIGKILL && !wait_gone(pidfd, pid, 2000))
		msb_pid_signal(pidfd, pid, SIGKILL);
	wait_gone(pidfd, pid, 2000);
}

void msb_kill_agent_pid(pid_t pid, int grace_ms, int sig)
{
	int pidfd = pid > 1 ? msb_pidfd_open(pid) : -1;

	if (pidfd < 0 && errno != ENOSYS)
		return; /* ESRCH: gone already */
	msb_kill_host(pidfd, pid, grace_ms, sig);
	if (pidfd >= 0)
		close(pidfd);
}
