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

/* The stage's name, for messages: "fork", "setsid", "dup2", "exec" ... */
const char *launch_stage_name(int stage);

/* The environment of commands: the documented defaults, then the
 * sandbox's env, then `extra` (a JSON array of "K=V", may be NULL).
 * NULL-terminated; free the array only (the strings are borrowed from
 * cfg and extra). */
char **launch_env(const struct agent_config *cfg, const json_t *extra);

#endif
