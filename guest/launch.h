/*
 * launch.h - the one way the agent starts a program in the sandbox
 * (launch.c): commands, PTY sessions and REPL interpreters alike.
 *
 * The child gets default signal dispositions and an empty signal mask, a
 * process group of its own (or, with a terminal, a session with that
 * terminal as its controlling tty and stdio), its fds 0..n-1 as asked,
 * the sandbox's workdir (then `cwd`) as its directory and `env` as its
 * environment. When any step fails before the program runs, the child
 * tells the parent which (a named stage and errno) over a pipe, and the
 * caller turns that into its own error message.
 */
#ifndef MSB_AGENT_LAUNCH_H
#define MSB_AGENT_LAUNCH_H

#include <sys/types.h>

#include <jansson.h>

#include "config.h"

#define AGENT_DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#define LAUNCH_MAX_FDS 8
#define LAUNCH_MAX_PROGRAMS 4
#define LAUNCH_DEVNULL (-2) /* a fd slot: /dev/null, read-only */

/* Where a launch failed. */
enum launch_stage {
	LAUNCH_PIPE = 1, /* parent: the error pipe */
	LAUNCH_FORK,     /* parent: fork */
	LAUNCH_SETSID,   /* a session of its own (terminal) */
	LAUNCH_TTY,      /* open the terminal, make it the controlling tty */
	LAUNCH_DUP2,     /* fds 0..n-1 */
	LAUNCH_WORKDIR,  /* chdir to the sandbox's workdir */
	LAUNCH_CWD,      /* chdir to the requested directory */
	LAUNCH_EXEC,     /* no program could be executed */
	LAUNCH_SUBREAPER, /* the supervisor: subreaper, signalfd */
};

struct launch_failure {
	int stage;       /* an enum launch_stage */
	int err;         /* errno */
};

struct launch_spec {
	/* A terminal's path: the child starts a session with it as its
	 * controlling tty and as fds 0, 1 and 2 (fds is ignored). */
	const char *tty;
	/* Else: fd i of the child is fds[i] (or LAUNCH_DEVNULL) for i <
	 * nfds; the caller's fds stay open and the caller's to close. */
	int fds[LAUNCH_MAX_FDS];
	int nfds;
	const char *workdir;
	const char *cwd;       /* NULL: stay in workdir */
	char **env;
	/* argv of each program to try, in order (NULL-terminated list);
	 * the first that executes runs. A failure reports the most telling
	 * errno: not ENOENT if any program gave another. */
	char *const *argv[LAUNCH_MAX_PROGRAMS + 1];
};

/* Start the program: its pid once it runs (exec succeeded), or -1 with
 * *fail filled (the child, if any, reaped). */
pid_t launch(const struct launch_spec *s, struct launch_failure *fail);

/*
 * A command's tree: the program runs under a supervisor of its own, a
 * child of the agent that is a subreaper (PR_SET_CHILD_SUBREAPER), so
 * that what the program starts and orphans (double forks, setsid) stays
 * below the supervisor instead of going to the agent, until the program
 * itself exits. The supervisor ends with the program's own status
 * (exit code or signal), so waiting for it is waiting for the program.
 * Once the program exited, the supervisor exits at once: what the
 * program left running goes to the agent and lives until the sandbox
 * stops (the timeout is the command's, not its daemons').
 */
struct launch_tree {
	pid_t sup;   /* the supervisor: the agent's child, to wait for */
	pid_t pid;   /* the program: its process group, the pid callers see */
	int ctl;     /* the agent's end of the control pipe (CLOEXEC) */
};

/* Start the program under a supervisor: 0 once it runs, with *t filled
 * (the caller closes t->ctl after t->sup was reaped), or -1 with *fail
 * filled (everything reaped). */
int launch_supervised(const struct launch_spec *s, struct launch_tree *t,
		      struct launch_failure *fail);

/* Ask the supervisor to signal the program: SIGKILL ends the whole tree
 * (every descendant of the supervisor, again until none is left; bounded);
 * any other signal goes to the program's process group, as with launch().
 * Call only while t->sup is not reaped. */
void launch_tree_signal(const struct launch_tree *t, int sig);

/* The stage's name, for messages: "fork", "setsid", "dup2", "exec" ... */
const char *launch_stage_name(int stage);

/* The environment of commands: the documented defaults, then the
 * sandbox's env, then `extra` (NULL-terminated "K=V" entries, may be
 * NULL). NULL-terminated; free the array only (the strings are borrowed
 * from cfg and extra). */
char **launch_env(const struct agent_config *cfg, char *const *extra);

#endif
