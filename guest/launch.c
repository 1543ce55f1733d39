/*
 * launch.c - start a program in the sandbox: fork, set the child up, exec,
 * and learn through a CLOEXEC pipe whether it got that far (see launch.h).
 *
 * The agent is PID 1 of the sandbox and serves everyone from one thread:
 * the parent only ever blocks until the child has executed or failed,
 * which is short. The child undoes what the agent changed for itself
 * (ignored SIGPIPE, SIGTERM, SIGINT and SIGHUP; SIGCHLD and SIGIO blocked
 * for the signalfd): every signal back to its default, the mask empty.
 *
 * A supervised launch puts a subreaper between the agent and the program
 * (launch.h says why). The supervisor is a forked agent, not a program:
 * it closes every fd but the ones it passes on, ignores what signals it
 * can, keeps the program (under a seccomp filter of its own) from
 * signalling it, blocks in poll() on its
 * children and on a control pipe from the agent, and on SIGKILL walks
 * /proc for its descendants and kills them, round after round, until none
 * is left. The agent never waits for it synchronously; it is reaped like
 * any child, with the program's own status.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <seccomp.h>

#include "launch.h"

extern char **environ;

const char *launch_stage_name(int stage)
{
	switch (stage) {
	case LAUNCH_PIPE: return "pipe";
	case LAUNCH_FORK: return "fork";
	case LAUNCH_SETSID: return "setsid";
	case LAUNCH_TTY: return "tty";
	case LAUNCH_DUP2: return "dup2";
	case LAUNCH_WORKDIR: return "chdir workdir";
	case LAUNCH_CWD: return "chdir";
	case LAUNCH_EXEC: return "exec";
	case LAUNCH_SUBREAPER: return "subreaper";
	}
	return "launch";
}

/* What the supervisor and the program tell the agent over the launch pipe:
 * the program's pid (stage 0), or where the program failed. */
struct launch_record {
	int stage;
	int err;
	pid_t pid;
};

/* In the child: tell the parent where it failed, and end. */
static void child_fail(int fd, int stage, int err)
{
	struct launch_record f = { stage, err, 0 };

	if (write(fd, &f, sizeof(f)) < 0) {
		/* nothing left to tell */
	}
	_exit(127);
}

/* In a supervised program: its supervisor is out of its reach, and of
 * everything it starts (the filter is inherited and stays): no signal to
 * it by pid or to its group, no pidfd of it; pidfd_send_signal, which
 * also takes a /proc/PID directory, says ENOSYS, so callers fall back to
 * kill(). pid_t arguments are ints: only their low 32 bits count. */
static int guard_supervisor(pid_t sup)
{
	static const struct {
		const char *name;
		unsigned arg;
		int neg;
	} rules[] = {
		{ "kill", 0, 0 }, { "kill", 0, 1 },
		{ "tkill", 0, 0 },
		{ "tgkill", 0, 0 }, { "tgkill", 1, 0 },
		{ "rt_sigqueueinfo", 0, 0 },
		{ "rt_tgsigqueueinfo", 0, 0 }, { "rt_tgsigqueueinfo", 1, 0 },
		{ "pidfd_open", 0, 0 },
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = ctx ? 0 : -ENOMEM, nr;

	for (size_t i = 0; !rc && i < sizeof(rules) / sizeof(rules[0]); i++) {
		uint32_t v = (uint32_t)(rules[i].neg ? -sup : sup);
		struct scmp_arg_cmp cmp = { rules[i].arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, v };

		if ((nr = seccomp_syscall_resolve_name(rules[i].name)) != __NR_SCMP_ERROR)
			rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &cmp);
	}
	if (!rc && (nr = seccomp_syscall_resolve_name("pidfd_send_signal")) != __NR_SCMP_ERROR)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
	if (!rc)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc;
}

/* In the child: everything up to the exec; `sup`, when not 0, is the
 * supervisor to guard. Never returns. */
static void child(const struct launch_spec *s, int ep, pid_t sup)
{
	int epw = fcntl(ep, F_DUPFD_CLOEXEC, 10), fd, e = 0;
	sigset_t none;

	/* Out of the way of the fds the child is given. */
	if (epw < 0)
		epw = ep;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (s->tty) {
		/* A session of its own with the terminal as its tty. */
		if (setsid() < 0)
			child_fail(epw, LAUNCH_SETSID, errno);
		if ((fd = open(s->tty, O_RDWR)) < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
			child_fail(epw, LAUNCH_TTY, errno);
		for (int i = 0; i < 3; i++)
			if (dup2(fd, i) < 0)
				child_fail(epw, LAUNCH_DUP2, errno);
		if (fd > 2)
			close(fd);
	} else {
		int high[LAUNCH_MAX_FDS];

		setpgid(0, 0);
		/* Out of the way first: the sources may sit on fds 0 to n-1.
		 * The copies are CLOEXEC; dup2 clears that on 0..n-1. */
		for (int i = 0; i < s->nfds; i++) {
			high[i] = -1;
			if (s->fds[i] == LAUNCH_DEVNULL) {
				/* Without /dev/null, fd i stays the agent's own
				 * (which is /dev/null too). */
				int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

				if (nul < 0)
					continue;
				high[i] = fcntl(nul, F_DUPFD_CLOEXEC, 10);
				close(nul);
			} else {
				high[i] = fcntl(s->fds[i], F_DUPFD_CLOEXEC, 10);
			}
			if (high[i] < 0)
				child_fail(epw, LAUNCH_DUP2, errno);
		}
		for (int i = 0; i < s->nfds; i++)
			if (high[i] >= 0 && dup2(high[i], i) < 0)
				child_fail(epw, LAUNCH_DUP2, errno);
	}
	if (s->workdir && chdir(s->workdir) < 0)
		child_fail(epw, LAUNCH_WORKDIR, errno);
	if (s->cwd && chdir(s->cwd) < 0)
		child_fail(epw, LAUNCH_CWD, errno);
	if (sup && (e = guard_supervisor(sup)) < 0)
		child_fail(epw, LAUNCH_SUBREAPER, -e);
	e = 0;
	environ = s->env;
	for (char *const *const *argv = s->argv; *argv; argv++) {
		execvp((*argv)[0], *argv);
		/* Keep the most telling error: not ENOENT if any. */
		if (!e || e == ENOENT)
			e = errno;
	}
	child_fail(epw, LAUNCH_EXEC, e ? e : ENOENT);
}

pid_t launch(const struct launch_spec *s, struct launch_failure *fail)
{
	struct launch_record r;
	int ep[2];
	ssize_t n;
	pid_t pid;

	memset(fail, 0, sizeof(*fail));
	if (pipe2(ep, O_CLOEXEC)) {
		fail->stage = LAUNCH_PIPE;
		fail->err = errno;
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fail->stage = LAUNCH_FORK;
		fail->err = errno;
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	if (pid == 0)
		child(s, ep[1], 0);
	close(ep[1]);
	do
		n = read(ep[0], &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(r)) {
		fail->stage = r.stage;
		fail->err = r.err;
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* ---- a supervised launch ------------------------------------------------ */

#define TREE_KILL_ROUNDS 200    /* about 2 s of rounds before giving up */

static void record_write(int fd, int stage, int err, pid_t pid)
{
	struct launch_record r = { stage, err, pid };

	if (write(fd, &r, sizeof(r)) < 0) {
		/* the agent reads EOF and says the launch failed */
	}
}

/* In the supervisor: close every fd but the `n` in keep (sorted here). */
static void close_all_but(int *keep, int n)
{
	int lo = 0;

	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (int i = 0; i <= n; i++) {
		int hi = i < n ? keep[i] - 1 : INT_MAX;

		if (hi >= lo && syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0) < 0)
			for (int fd = lo; fd <= hi && fd < 65536; fd++)
				close(fd);
		if (i < n)
			lo = keep[i] + 1;
	}
}

struct proc_entry {
	pid_t pid, ppid;
	char state;
	char mark;
};

/* Read /proc: every process's pid, parent and state. NULL without /proc. */
static struct proc_entry *proc_read(size_t *n)
{
	DIR *d = opendir("/proc");
	struct proc_entry *v = NULL;
	size_t cap = 0;
	struct dirent *e;

	*n = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		char path[64], buf[512], *p;
		long pid = strtol(e->d_name, &p, 10);
		ssize_t len;
		int fd;

		if (pid <= 0 || *p)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* "pid (comm) S ppid ...": comm may hold anything, even ")". */
		if (!(p = strrchr(buf, ')')) || p[1] != ' ' || !p[2])
			continue;
		if (*n == cap) {
			struct proc_entry *nv = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		v[*n].pid = (pid_t)pid;
		v[*n].state = p[2];
		v[*n].ppid = (pid_t)strtol(p + 3, NULL, 10);
		v[*n].mark = 0;
		(*n)++;
	}
	closedir(d);
	return v;
}

/* Signal every live descendant of the caller; how many there were, or -1
 * without /proc. */
static int signal_descendants(int sig)
{
	pid_t self = getpid();
	size_t n;
	struct proc_entry *v = proc_read(&n);
	int changed = 1, live = 0;

	if (!v)
		return -1;
	while (changed) {
		changed = 0;
		for (size_t i = 0; i < n; i++) {
			if (v[i].mark || v[i].pid == self)
				continue;
			if (v[i].ppid == self)
				v[i].mark = changed = 1;
			else
				for (size_t j = 0; j < n; j++)
					if (v[j].mark && v[j].pid == v[i].ppid) {
						v[i].mark = changed = 1;
						break;
					}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].mark && v[i].state != 'Z' && v[i].state != 'X') {
			kill(v[i].pid, sig);
			live++;
		}
	free(v);
	return live;
}

/* In the supervisor: reap what ended; the program's status in *st. */
static void reap_all(pid_t prog, int *have, int *st)
{
	pid_t p;
	int s;

	while ((p = waitpid(-1, &s, WNOHANG)) > 0)
		if (p == prog) {
			*have = 1;
			*st = s;
		}
}

/* In the supervisor: end the whole tree. A killed process forks no more,
 * so each round finds only what the one before raced with. */
static void kill_tree(pid_t prog, int *have, int *st)
{
	if (!*have)
		kill(-prog, SIGKILL);
	for (int round = 0; round < TREE_KILL_ROUNDS; round++) {
		struct timespec ts = { 0, round < 10 ? 1000000L : 10000000L };
		int live = signal_descendants(SIGKILL);

		reap_all(prog, have, st);
		if (live == 0 || (live < 0 && *have))
			break;
		if (live < 0 && !*have)
			kill(prog, SIGKILL);
		nanosleep(&ts, NULL);
	}
}

/* In the supervisor: end as the program ended. */
static void mirror(int st)
{
	if (WIFSIGNALED(st)) {
		sigset_t set;
		int sig = WTERMSIG(st);

		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		/* The agent is not dumpable, nor is this copy: no core. */
		kill(getpid(), sig);
		_exit(128 + sig);
	}
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 127);
}

/* The supervisor: never returns. */
static void supervise(const struct launch_spec *s, int ep, int ctl)
{
	int keep[LAUNCH_MAX_FDS + 2], nkeep = 0, have = 0, st = 0, sfd;
	sigset_t chld;
	pid_t prog, self;

	keep[nkeep++] = ep;
	keep[nkeep++] = ctl;
	for (int i = 0; !s->tty && i < s->nfds; i++)
		if (s->fds[i] >= 0)
			keep[nkeep++] = s->fds[i];
	close_all_but(keep, nkeep);
	/* Out of the way of the agent's group, and deaf to every signal
	 * that can be ignored (SIGCHLD is read through a signalfd). */
	setpgid(0, 0);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGCHLD && sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		record_write(ep, LAUNCH_SUBREAPER, errno, 0);
		_exit(127);
	}
	if ((sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		record_write(ep, LAUNCH_SUBREAPER, errno, 0);
		_exit(127);
	}
	self = getpid();
	prog = fork();
	if (prog < 0) {
		record_write(ep, LAUNCH_FORK, errno, 0);
		_exit(127);
	}
	if (prog == 0)
		child(s, ep, self);
	record_write(ep, 0, 0, prog);
	close(ep);
	for (int i = 0; !s->tty && i < s->nfds; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	while (!have) {
		struct pollfd pf[2] = { { sfd, POLLIN, 0 }, { ctl, POLLIN, 0 } };
		uint8_t sig[64];

		if (poll(pf, ctl >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (pf[0].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			reap_all(prog, &have, &st);
		}
		if (ctl >= 0 && pf[1].revents) {
			ssize_t n = read(ctl, sig, sizeof(sig));

			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				close(ctl); /* the agent is gone: nobody asks any more */
				ctl = -1;
			}
			for (ssize_t i = 0; i < n; i++) {
				if (sig[i] == SIGKILL)
					kill_tree(prog, &have, &st);
				else if (!have && kill(-prog, sig[i]) < 0)
					kill(prog, sig[i]);
			}
		}
	}
	if (!have && waitpid(prog, &st, 0) < 0)
		_exit(127);
	mirror(st);
}

int launch_supervised(const struct launch_spec *s, struct launch_tree *t,
		      struct launch_failure *fail)
{
	struct launch_record r;
	int ep[2], ctl[2];
	pid_t sup;
	ssize_t n;

	memset(fail, 0, sizeof(*fail));
	memset(t, 0, sizeof(*t));
	if (pipe2(ep, O_CLOEXEC) < 0) {
		fail->stage = LAUNCH_PIPE;
		fail->err = errno;
		return -1;
	}
	if (pipe2(ctl, O_CLOEXEC) < 0) {
		fail->stage = LAUNCH_PIPE;
		fail->err = errno;
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	sup = fork();
	if (sup == 0) {
		close(ep[0]);
		close(ctl[1]);
		supervise(s, ep[1], ctl[0]);
	}
	close(ep[1]);
	close(ctl[0]);
	if (sup < 0) {
		fail->stage = LAUNCH_FORK;
		fail->err = errno;
		close(ep[0]);
		close(ctl[1]);
		return -1;
	}
	/* The supervisor's record (the program's pid), then EOF once the
	 * program executed, or a failure from either. */
	for (;;) {
		do
			n = read(ep[0], &r, sizeof(r));
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof(r))
			break;
		if (r.stage == 0) {
			t->pid = r.pid;
		} else {
			fail->stage = r.stage;
			fail->err = r.err;
		}
	}
	close(ep[0]);
	if (!fail->stage && t->pid <= 0) {
		/* The supervisor died before it could say anything. */
		fail->stage = LAUNCH_FORK;
		fail->err = ECHILD;
	}
	if (fail->stage) {
		waitpid(sup, NULL, 0);
		close(ctl[1]);
		memset(t, 0, sizeof(*t));
		return -1;
	}
	fcntl(ctl[1], F_SETFL, O_NONBLOCK);
	t->sup = sup;
	t->ctl = ctl[1];
	return 0;
}

void launch_tree_signal(const struct launch_tree *t, int sig)
{
	uint8_t b = (uint8_t)sig;

	if (t->sup <= 0 || sig <= 0 || sig > 255)
		return;
	if (write(t->ctl, &b, 1) < 0) {
		/* full (it reads soon) or gone (then it is being reaped) */
	}
	/* A program may stop its supervisor: let it listen again. */
	kill(t->sup, SIGCONT);
}

/* ---- the environment ------------------------------------------------------ */

static void env_put(char **env, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < *n; i++)
		if (!strncmp(env[i], kv, klen) && env[i][klen] == '=') {
			env[i] = (char *)kv;
			return;
		}
	env[(*n)++] = (char *)kv;
}

char **launch_env(const struct agent_config *cfg, char *const *extra)
{
	static const char *const defaults[] = {
		"PATH=" AGENT_DEFAULT_PATH, "HOME=/root", "LANG=C.UTF-8",
	};
	size_t max = 3 + 1, n = 0;
	char **env;

	for (char **e = cfg->w.env; *e; e++)
		max++;
	for (char *const *e = extra; e && *e; e++)
		max++;
	env = calloc(max, sizeof(char *));
	if (!env)
		return NULL;
	for (size_t i = 0; i < 3; i++)
		env_put(env, &n, defaults[i]);
	for (char **e = cfg->w.env; *e; e++)
		env_put(env, &n, *e);
	for (char *const *e = extra; e && *e; e++)
		if (strchr(*e, '=') && **e != '=')
			env_put(env, &n, *e);
	env[n] = NULL;
	return env;
}
