/*
 * exec.c - commands in the sandbox: run-to-completion, background
 * processes and PTY sessions are all one thing here, a job.
 *
 * A job forwards its output as STDOUT/STDERR frames as it is produced,
 * takes STDIN frames for its stdin (or terminal), CANCEL frames as
 * signals, and ends with one REPLY once the process exited and its output
 * reached EOF (or 100 ms after the exit, when a background process keeps
 * the pipes open). With "events" set it first sends an EVENT {"event":
 * "started","pid":N}, so that libmsb can hand back a process handle.
 *
 * Output is read only while the job's client keeps up: its pipes (a PTY's
 * master) are watched with agent_watch_client(), so that a client that
 * reads slowly leaves them full, and the command blocks in its writes, as
 * it would on any pipe. Its timeout still runs.
 *
 * Each job runs under a supervisor (launch_supervised): a timeout, SIGKILL
 * from the client and the client going away end the command's whole tree,
 * setsid'd and double-forked children too; other signals go to its
 * process group. What a command leaves running when it exits by itself
 * lives on until the sandbox stops.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "wire.h"
#include "base.h"
#include "client.h"
#include "exec.h"
#include "launch.h"
#include "proto.h"

#define EXIT_GRACE_NS (100ull * 1000000ull)
#define MAX_JOBS 1024
#define MAX_ARGS 65536
#define MAX_STDIN_BUFFER (64u << 20) /* unread stdin the agent holds */

struct job {
	struct job *next;
	struct agent *a;
	struct client *c;      /* referenced; may be gone (sends are no-ops) */
	uint32_t id;
	int tracked;
	pid_t pid;             /* the command; 0 once its supervisor is reaped */
	struct launch_tree tree;
	int pty;
	int out_fd, err_fd;    /* -1 once at EOF; a PTY's master is out_fd */
	int in_fd;             /* pipes only; a PTY writes to out_fd */
	uint8_t *in_buf;
	size_t in_len, in_off;
	int in_eof;
	int status;
	uint64_t start_ns, exit_ns;
	int64_t started_ms;    /* wall clock, for ps */
	uint64_t timeout_timer, grace_timer;
	int timed_out;
	uint64_t cap, out_sent, err_sent;
	int out_trunc, err_trunc;
	char *command;         /* argv joined, for ps */
};

static struct job *jobs;
static size_t njobs;

/* ---- the end of a job ------------------------------------------------------ */

static void close_fd(struct agent *a, int *fd)
{
	if (*fd >= 0) {
		agent_unwatch(a, *fd);
		close(*fd);
	}
	*fd = -1;
}

static void job_free(struct job *job)
{
	struct agent *a = job->a;

	for (struct job **pp = &jobs; *pp; pp = &(*pp)->next)
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	njobs--;
	close_fd(a, &job->out_fd);
	close_fd(a, &job->err_fd);
	close_fd(a, &job->in_fd);
	agent_timer_cancel(a, job->timeout_timer);
	agent_timer_cancel(a, job->grace_timer);
	if (job->tree.ctl > 0)
		close(job->tree.ctl);
	if (job->tracked)
		client_untrack(job->c, job->id);
	client_unref(job->c);
	free(job->in_buf);
	free(job->command);
	free(job);
}

static void maybe_finish(struct job *job)
{
	int st = job->status;

	if (job->pid != 0 || job->out_fd >= 0 || job->err_fd >= 0)
		return;
	client_reply(job->c, job->id,
		     json_pack("{s:b,s:i,s:i,s:b,s:b,s:b,s:I}", "ok", 1,
			       "exit_code", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
			       "signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0,
			       "timed_out", job->timed_out,
			       "out_truncated", job->out_trunc,
			       "err_truncated", job->err_trunc,
			       "elapsed_us",
			       (json_int_t)((job->exit_ns - job->start_ns) / 1000)));
	job_free(job);
}

/* ---- output and input ------------------------------------------------------ */

/* Forward what the job wrote on *fd, while the client keeps up; closes
 * it at EOF. */
static void pump_output(struct job *job, int *fd, uint8_t type)
{
	static uint8_t buf[MSB_DATA_CHUNK];
	uint64_t *sent = type == MSB_FRAME_STDOUT ? &job->out_sent : &job->err_sent;
	int *trunc = type == MSB_FRAME_STDOUT ? &job->out_trunc : &job->err_trunc;

	for (int rounds = 0; rounds < 16 && *fd >= 0 && !client_congested(job->c); rounds++) {
		ssize_t n = read(*fd, buf, sizeof(buf));
		uint64_t room;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* EOF, or EIO: a PTY whose last slave user is gone */
			close_fd(job->a, fd);
			if (job->pty)
				job->in_fd = -1;
			return;
		}
		room = job->cap > *sent ? job->cap - *sent : 0;
		if ((uint64_t)n > room) {
			*trunc = 1;
			n = (ssize_t)room;
		}
		if (n > 0) {
			client_send(job->c, type, job->id, buf, (size_t)n);
			*sent += (uint64_t)n;
		}
	}
}

static int input_fd(const struct job *job)
{
	return job->pty ? job->out_fd : job->in_fd;
}

static void pump_stdin(struct job *job)
{
	int fd = input_fd(job);

	while (fd >= 0 && job->in_off < job->in_len) {
		ssize_t n = write(fd, job->in_buf + job->in_off, job->in_len - job->in_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) { /* EPIPE: the command closed its stdin */
			if (!job->pty)
				close_fd(job->a, &job->in_fd);
			job->in_off = job->in_len;
			break;
		}
		job->in_off += (size_t)n;
	}
	if (job->in_off == job->in_len) {
		free(job->in_buf);
		job->in_buf = NULL;
		job->in_len = job->in_off = 0;
		if (job->in_eof && !job->pty)
			close_fd(job->a, &job->in_fd);
	}
	/* Watch for room only while input waits. */
	if (job->pty && job->out_fd >= 0)
		agent_watch_events(job->a, job->out_fd,
				   POLLIN | (job->in_len ? POLLOUT : 0));
	else if (job->in_fd >= 0)
		agent_watch_events(job->a, job->in_fd, job->in_len ? POLLOUT : 0);
}

static void on_out(struct agent *a, int fd, short revents, void *data)
{
	struct job *job = data;

	if (job->pty && (revents & POLLOUT))
		pump_stdin(job);
	if (revents & (POLLIN | POLLHUP | POLLERR))
		pump_output(job, &job->out_fd, MSB_FRAME_STDOUT);
	maybe_finish(job);
}

static void on_err(struct agent *a, int fd, short revents, void *data)
{
	struct job *job = data;

	pump_output(job, &job->err_fd, MSB_FRAME_STDERR);
	maybe_finish(job);
}

static void on_in(struct agent *a, int fd, short revents, void *data)
{
	pump_stdin(data);
}

/* ---- requests from the client ---------------------------------------------- */

static void job_stdin(struct agent *a, struct client *c, uint32_t id,
		      const uint8_t *data, size_t len, void *rd)
{
	struct job *job = rd;
	uint8_t *nb;

	if (len == 0) {
		if (job->pty) {
			/* A terminal has no EOF of its own: type the EOF
			 * character (^D), as a user would. */
			static const uint8_t eot = 0x04;

			data = &eot;
			len = 1;
		} else {
			job->in_eof = 1;
			pump_stdin(job);
			return;
		}
	}
	if (input_fd(job) < 0 || job->in_len + len > MAX_STDIN_BUFFER)
		return; /* nobody reads it any more, or far too much waits */
	nb = realloc(job->in_buf, job->in_len + len);
	if (!nb)
		return;
	memcpy(nb + job->in_len, data, len);
	job->in_buf = nb;
	job->in_len += len;
	pump_stdin(job);
}

static void job_signal(struct job *job, int sig)
{
	if (job->pid <= 0)
		return;
	/* Through its supervisor: SIGKILL ends the whole tree, others go to
	 * its process group (a PTY's: its session). */
	launch_tree_signal(&job->tree, sig);
}

static void job_cancel(struct agent *a, struct client *c, uint32_t id, int sig, void *rd)
{
	job_signal(rd, sig);
}

static void job_detach(struct agent *a, struct client *c, uint32_t id, void *rd)
{
	struct job *job = rd;

	/* The client went away: the command goes too. The job lingers until
	 * it is reaped; its sends are no-ops now. */
	client_untrack(c, id);
	job->tracked = 0;
	job_signal(job, SIGKILL);
}

static const struct request_ops job_ops = {
	.on_stdin = job_stdin,
	.on_cancel = job_cancel,
	.on_detach = job_detach,
};

static void on_timeout(struct agent *a, void *data)
{
	struct job *job = data;

	job->timeout_timer = 0;
	job->timed_out = 1;
	job_signal(job, SIGKILL);
}

static void on_grace(struct agent *a, void *data)
{
	struct job *job = data;

	/* A background process holds the output open: take what is there
	 * and stop waiting. */
	job->grace_timer = 0;
	if (job->out_fd >= 0)
		pump_output(job, &job->out_fd, MSB_FRAME_STDOUT);
	if (job->err_fd >= 0)
		pump_output(job, &job->err_fd, MSB_FRAME_STDERR);
	/* Unless the client is behind: what the pipes hold is the command's
	 * last output, which it must still get. Look again later. */
	if ((job->out_fd >= 0 || job->err_fd >= 0) && client_congested(job->c) &&
	    (job->grace_timer = agent_timer(a, agent_now_ns() + EXIT_GRACE_NS,
					    on_grace, job)))
		return;
	close_fd(a, &job->out_fd);
	close_fd(a, &job->err_fd);
	maybe_finish(job);
}

static void on_exit_status(struct agent *a, pid_t pid, int status, void *data)
{
	struct job *job = data;

	siginfo_t si;

	/* A supervisor reaps its command before it ends; one killed under
	 * it leaves the command to the agent: it dies now (it is the
	 * agent's child, so its pid is not anyone else's). */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)job->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
		kill(-job->pid, SIGKILL);
		kill(job->pid, SIGKILL);
	}
	job->pid = 0;
	job->status = status;
	job->exit_ns = agent_now_ns();
	agent_timer_cancel(a, job->timeout_timer);
	job->timeout_timer = 0;
	if (!job->pty)
		close_fd(a, &job->in_fd);
	if (job->out_fd >= 0 || job->err_fd >= 0)
		job->grace_timer = agent_timer(a, job->exit_ns + EXIT_GRACE_NS, on_grace, job);
	maybe_finish(job);
}

/* ---- starting ---------------------------------------------------------------- */

static char *join_argv(char **argv)
{
	size_t len = 1;
	char *s;

	for (char **a = argv; *a; a++)
		len += strlen(*a) + 1;
	s = malloc(len > 4096 ? 4096 : len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (char **a = argv; *a; a++) {
		size_t used = strlen(s), room = (len > 4096 ? 4096 : len) - used;

		snprintf(s + used, room, "%s%s", a == argv ? "" : " ", *a);
	}
	return s;
}

/* Open a PTY pair: *master (non-blocking) and the slave's path. */
static int open_pty(int *master, char *slave, size_t slave_size,
		    unsigned rows, unsigned cols)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);

	if (m < 0)
		return -1;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, slave, slave_size) != 0) {
		int e = errno;

		close(m);
		errno = e;
		return -1;
	}
	ioctl(m, TIOCSWINSZ, &ws);
	*master = m;
	return 0;
}

/*
 * The request's argv, env and cwd: byte strings (common/wire.h), decoded
 * here. An env entry that is not KEY=VALUE is refused, not dropped.
 * Returns 0, or -1 with the error sent.
 */
static int exec_args(struct client *c, uint32_t id, const json_t *req,
		     char ***argv, char ***env, char **cwd)
{
	const json_t *jcwd = json_object_get(req, "cwd");
	const json_t *jenv = json_object_get(req, "env");
	char **v = NULL;
	size_t bad;
	int rc;

	if ((rc = msb_wire_strv_decode(json_object_get(req, "argv"), argv, &bad)))
		goto fail_argv;
	if (jcwd && !json_is_null(jcwd) && (rc = msb_wire_str_decode(jcwd, cwd)))
		goto fail_cwd;
	if (!jenv || json_is_null(jenv))
		return 0;
	if ((rc = msb_wire_strv_decode(jenv, &v, &bad)))
		goto fail_env;
	for (bad = 0; v[bad]; bad++)
		if (!strchr(v[bad], '=') || v[bad][0] == '=') {
			client_error(c, id, MSB_WIRE_EINVAL, 0, "write each entry "
				     "as KEY=VALUE", "env entry %zu (\"%.64s\") is "
				     "not KEY=VALUE", bad, v[bad]);
			msb_wire_strv_free(v);
			return -1;
		}
	*env = v;
	return 0;
fail_argv:
	if (rc == -1) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "", "argv[%zu] is not a "
			     "byte string without NUL", bad);
		return -1;
	}
	goto fail_mem;
fail_cwd:
	if (rc == -1) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "", "cwd is not a byte "
			     "string without NUL");
		return -1;
	}
	goto fail_mem;
fail_env:
	if (rc == -1) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "", "env entry %zu is not "
			     "a byte string without NUL", bad);
		return -1;
	}
fail_mem:
	msb_wire_strv_free(v);
	client_error(c, id, MSB_WIRE_ENOMEM, ENOMEM, "", "exec");
	return -1;
}

void op_exec(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	const struct agent_config *cfg = agent_config(a);
	const json_t *jargv = json_object_get(req, "argv");
	const json_t *jenv = json_object_get(req, "env");
	const json_t *jpty = json_object_get(req, "pty");
	int want_stdin = json_is_true(json_object_get(req, "stdin"));
	int events = json_is_true(json_object_get(req, "events"));
	json_int_t timeout = json_integer_value(json_object_get(req, "timeout_ms"));
	json_int_t cap = json_integer_value(json_object_get(req, "output_cap"));
	json_int_t rows = json_integer_value(json_object_get(jpty, "rows"));
	json_int_t cols = json_integer_value(json_object_get(jpty, "cols"));
	size_t argc = json_array_size(jargv);
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
	int master = -1;
	char slave[128];
	struct launch_spec spec = { 0 };
	struct launch_failure fail;
	struct job *job = NULL;
	char **argv = NULL, **env = NULL, *cwd = NULL;
	char **xenv = NULL;
	pid_t pid;

	if (!json_is_array(jargv) || argc == 0 || argc > MAX_ARGS ||
	    (jenv && !json_is_array(jenv)) || timeout < 0 || cap < 0 ||
	    (jpty && (!json_is_object(jpty) || rows < 0 || rows > 10000 ||
		      cols < 0 || cols > 10000))) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "", "malformed exec request");
		return;
	}
	if (njobs >= MAX_JOBS) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "wait for some commands to finish",
			     "too many commands running (%d)", MAX_JOBS);
		return;
	}
	if (exec_args(c, id, req, &argv, &xenv, &cwd) < 0)
		goto out;
	env = launch_env(cfg, xenv);
	job = calloc(1, sizeof(*job));
	if (!env || !job) {
		client_error(c, id, MSB_WIRE_ENOMEM, ENOMEM, "", "exec");
		goto out;
	}
	if (jpty) {
		if (open_pty(&master, slave, sizeof(slave), rows ? (unsigned)rows : 24,
			     cols ? (unsigned)cols : 80) < 0) {
			client_error(c, id, MSB_WIRE_ERROR, errno, "the sandbox's /dev/pts may "
				     "be exhausted", "cannot open a pseudo-terminal");
			goto out;
		}
	} else if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) ||
		   (want_stdin && pipe2(in, O_CLOEXEC))) {
		client_error(c, id, MSB_WIRE_ERROR, errno, "the sandbox may have too many "
			     "open files", "cannot create pipes");
		goto out;
	}
	if (jpty) {
		spec.tty = slave;
	} else {
		spec.fds[0] = want_stdin ? in[0] : LAUNCH_DEVNULL;
		spec.fds[1] = out[1];
		spec.fds[2] = err[1];
		spec.nfds = 3;
	}
	spec.workdir = cfg->w.workdir;
	spec.cwd = cwd;
	spec.env = env;
	spec.argv[0] = argv;
	job->start_ns = agent_now_ns();
	pid = launch_supervised(&spec, &job->tree, &fail) < 0 ? -1 : job->tree.pid;
	if (out[1] >= 0) close(out[1]);
	if (err[1] >= 0) close(err[1]);
	if (in[0] >= 0) close(in[0]);
	out[1] = err[1] = in[0] = -1;
	if (pid < 0) {
		if (fail.stage == LAUNCH_PIPE)
			client_error(c, id, MSB_WIRE_ERROR, fail.err, "the sandbox may have too many "
				     "open files", "cannot create pipes");
		else if (fail.stage == LAUNCH_FORK)
			client_error(c, id, MSB_WIRE_ERROR, fail.err, "the sandbox may be at its "
				     "process limit", "cannot start the command");
		else if (fail.stage == LAUNCH_EXEC && fail.err == ENOENT)
			client_error(c, id, MSB_WIRE_ENOTFOUND, 0, "check the name; the sandbox "
				     "sees the host's /usr, /bin and its volumes, and "
				     "PATH=" AGENT_DEFAULT_PATH, "command not found: %s", argv[0]);
		else if (fail.stage == LAUNCH_EXEC)
			client_error(c, id, fail.err == EACCES ? MSB_WIRE_EPERM : MSB_WIRE_ERROR,
				     fail.err, "check that the file is an executable program",
				     "cannot execute %s", argv[0]);
		else if (fail.stage == LAUNCH_SUBREAPER)
			client_error(c, id, MSB_WIRE_ERROR, fail.err, "", "cannot start the "
				     "command's supervisor");
		else if (fail.stage == LAUNCH_SETSID || fail.stage == LAUNCH_TTY)
			client_error(c, id, MSB_WIRE_ERROR, fail.err, "", "cannot set up the terminal");
		else if (fail.stage == LAUNCH_DUP2)
			client_error(c, id, MSB_WIRE_ERROR, fail.err, "", "cannot start the "
				     "command: %s failed", launch_stage_name(fail.stage));
		else
			client_error(c, id, MSB_WIRE_EINVAL, fail.err, "give an existing "
				     "directory inside the sandbox",
				     "cannot change to directory %s",
				     fail.stage == LAUNCH_CWD ? cwd : cfg->w.workdir);
		goto out;
	}

	job->a = a;
	job->c = c;
	client_ref(c);
	job->id = id;
	job->pid = pid;
	job->pty = jpty != NULL;
	job->cap = (uint64_t)cap;
	job->command = join_argv(argv);
	job->started_ms = (int64_t)time(NULL) * 1000;
	if (job->pty) {
		job->out_fd = master;
		job->err_fd = -1;
		job->in_fd = -1;
		master = -1;
	} else {
		job->out_fd = out[0];
		job->err_fd = err[0];
		job->in_fd = want_stdin ? in[1] : -1;
		out[0] = err[0] = in[1] = -1;
		fcntl(job->out_fd, F_SETFL, O_NONBLOCK);
		fcntl(job->err_fd, F_SETFL, O_NONBLOCK);
		if (job->in_fd >= 0)
			fcntl(job->in_fd, F_SETFL, O_NONBLOCK);
	}
	job->next = jobs;
	jobs = job;
	njobs++;
	agent_watch(a, job->out_fd, POLLIN, on_out, job);
	agent_watch_client(a, job->out_fd, c);
	if (job->err_fd >= 0) {
		agent_watch(a, job->err_fd, POLLIN, on_err, job);
		agent_watch_client(a, job->err_fd, c);
	}
	if (job->in_fd >= 0)
		agent_watch(a, job->in_fd, 0, on_in, job);
	agent_child(a, job->tree.sup, on_exit_status, job);
	if (timeout)
		job->timeout_timer = agent_timer(a, job->start_ns + (uint64_t)timeout * 1000000ull,
						 on_timeout, job);
	job->tracked = client_track(c, id, &job_ops, job) == 0;
	if (events)
		client_event(c, id, json_pack("{s:s,s:i}", "event", "started", "pid", (int)pid));
	job = NULL;
out:
	if (out[0] >= 0) close(out[0]);
	if (out[1] >= 0) close(out[1]);
	if (err[0] >= 0) close(err[0]);
	if (err[1] >= 0) close(err[1]);
	if (in[0] >= 0) close(in[0]);
	if (in[1] >= 0) close(in[1]);
	if (master >= 0) close(master);
	free(job);
	msb_wire_strv_free(argv);
	free(env);
	msb_wire_strv_free(xenv);
	free(cwd);
}

/* {"op":"resize","target":ID,"rows":R,"cols":C}: the PTY job that this
 * client started as request ID. */
void op_resize(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	json_int_t target = json_integer_value(json_object_get(req, "target"));
	json_int_t rows = json_integer_value(json_object_get(req, "rows"));
	json_int_t cols = json_integer_value(json_object_get(req, "cols"));

	if (rows <= 0 || rows > 10000 || cols <= 0 || cols > 10000) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "give rows and cols between 1 and 10000",
			     "bad terminal size %lldx%lld", (long long)rows, (long long)cols);
		return;
	}
	for (struct job *j = jobs; j; j = j->next) {
		if (j->c != c || j->id != (uint32_t)target)
			continue;
		if (!j->pty || j->out_fd < 0) {
			client_error(c, id, MSB_WIRE_EINVAL, 0, "resize works on PTY sessions",
				     "the process has no terminal");
			return;
		}
		struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
		if (ioctl(j->out_fd, TIOCSWINSZ, &ws) < 0) {
			client_error(c, id, MSB_WIRE_ERROR, errno, "", "resize failed");
			return;
		}
		client_reply(c, id, json_pack("{s:b}", "ok", 1));
		return;
	}
	client_error(c, id, MSB_WIRE_ENOTFOUND, 0, "the process may have ended",
		     "no such process");
}

/* ---- ps ------------------------------------------------------------------ */

#define PS_MAX 4096            /* processes listed */
#define PF_KTHREAD 0x00200000  /* a kernel thread, in /proc/PID/stat's flags */
#define PS_COMMAND_MAX 4096    /* bytes of a command line */

static int is_job_process(pid_t pid)
{
	for (struct job *j = jobs; j; j = j->next)
		if (j->pid == pid || j->tree.sup == pid)
			return 1;
	return 0;
}

/* A process that no job started: its command line (NUL-separated words
 * joined with spaces; "[comm]" when it has none) and start time from
 * /proc. NULL when it is gone, or is a zombie. */
static json_t *ps_other(pid_t pid, int64_t boot_ms)
{
	char path[64], buf[1024], cmd[PS_COMMAND_MAX], *p;
	unsigned long long start = 0;
	unsigned long flags = 0;
	json_t *it;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": the flags are field 9, the start time
	 * field 22. A microVM's kernel threads are not the sandbox's. */
	if (!(p = strrchr(buf, ')')) || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X' ||
	    sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %lu %*s %*s %*s %*s %*s %*s %*s "
		   "%*s %*s %*s %*s %*s %llu", &flags, &start) != 2 ||
	    (flags & PF_KTHREAD))
		return NULL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
	}
	if (n > 0) {
		while (n > 0 && cmd[n - 1] == '\0')
			n--;
		for (ssize_t i = 0; i < n; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		cmd[n] = '\0';
	} else {
		char *open_paren = strchr(buf, '(');

		*p = '\0';
		snprintf(cmd, sizeof(cmd), "[%s]", open_paren ? open_paren + 1 : "?");
	}
	/* the command line is bytes, as the execs' are (common/wire.h) */
	it = json_pack("{s:i,s:o,s:b,s:I}", "pid", (int)pid, "command", msb_wire_str_encode(cmd),
		       "pty", 0, "started_ms",
		       (json_int_t)(boot_ms + (int64_t)(start * 1000 /
				(unsigned long long)sysconf(_SC_CLK_TCK))));
	return it;
}

/* {"op":"ps"}: every process in the sandbox but the agent and the
 * commands' supervisors: first the commands running, from every client,
 * then the rest (what they started, REPL interpreters) from /proc. */
void op_ps(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	json_t *list = json_array();
	struct timespec rt, bt;
	int64_t boot_ms;
	struct dirent *e;
	DIR *d;

	for (struct job *j = jobs; j; j = j->next)
		if (j->pid > 0)
			json_array_append_new(list, json_pack("{s:i,s:o,s:b,s:I}",
				"pid", (int)j->pid,
				"command", msb_wire_str_encode(j->command ? j->command : ""),
				"pty", j->pty, "started_ms", (json_int_t)j->started_ms));
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	boot_ms = ((int64_t)rt.tv_sec - bt.tv_sec) * 1000 +
		  ((int64_t)rt.tv_nsec - bt.tv_nsec) / 1000000;
	if ((d = opendir("/proc"))) {
		while ((e = readdir(d)) && json_array_size(list) < PS_MAX) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);
			json_t *it;

			if (pid <= 1 || *end || pid == getpid() || is_job_process((pid_t)pid))
				continue;
			if ((it = ps_other((pid_t)pid, boot_ms)))
				json_array_append_new(list, it);
		}
		closedir(d);
	}
	client_reply(c, id, json_pack("{s:b,s:o}", "ok", 1, "processes", list));
}
