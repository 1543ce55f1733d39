/*
 * launch.c - start a program in the sandbox: fork, set the child up, exec,
 * and learn through a CLOEXEC pipe whether it got that far (see launch.h).
 *
 * The agent is PID 1 of the sandbox and serves everyone from one thread:
 * the parent only ever blocks until the child has executed or failed,
 * which is short. The child undoes what the agent changed for itself
 * (ignored SIGPIPE, SIGTERM, SIGINT and SIGHUP; SIGCHLD and SIGIO blocked
 * for the signalfd): every signal back to its default, the mask empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

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
	}
	return "launch";
}

/* In the child: tell the parent where it failed, and end. */
static void child_fail(int fd, int stage, int err)
{
	struct launch_failure f = { stage, err };

	if (write(fd, &f, sizeof(f)) < 0) {
		/* nothing left to tell */
	}
	_exit(127);
}

/* In the child: everything up to the exec. Never returns. */
static void child(const struct launch_spec *s, int ep)
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
		child(s, ep[1]);
	close(ep[1]);
	do
		n = read(ep[0], fail, sizeof(*fail));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(*fail)) {
		waitpid(pid, NULL, 0);
		return -1;
	}
	memset(fail, 0, sizeof(*fail));
	return pid;
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

char **launch_env(const struct agent_config *cfg, const json_t *extra)
{
	static const char *const defaults[] = {
		"PATH=" AGENT_DEFAULT_PATH, "HOME=/root", "LANG=C.UTF-8",
	};
	size_t max = 3 + json_array_size(extra) + 1, n = 0;
	char **env;

	for (char **e = cfg->w.env; *e; e++)
		max++;
	env = calloc(max, sizeof(char *));
	if (!env)
		return NULL;
	for (size_t i = 0; i < 3; i++)
		env_put(env, &n, defaults[i]);
	for (char **e = cfg->w.env; *e; e++)
		env_put(env, &n, *e);
	for (size_t i = 0; i < json_array_size(extra); i++) {
		const char *str = json_string_value(json_array_get(extra, i));

		if (str && strchr(str, '=') && str[0] != '=')
			env_put(env, &n, str);
	}
	env[n] = NULL;
	return env;
}
