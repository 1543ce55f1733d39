/*
 * serve.c - the agent's protocol loop, as PID 1 of the sandbox: runs
 * commands, streams their output, answers metrics, reaps orphans, enforces
 * the wall-time limit, and takes everything down when the host goes away.
 *
 * One thread, one poll() loop. The host's bytes are checked by the decoder
 * (proto.c); requests are checked here before use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include "agent.h"
#include "proto.h"

#define EXIT_GRACE_NS (100ull * 1000000ull) /* wait for pipes after exit */
#define MAX_JOBS 1024
#define MAX_ARGS 65536

extern char **environ;

struct job {
	struct job *next;
	uint32_t id;
	pid_t pid;           /* 0 once reaped */
	int out_fd, err_fd;  /* -1 once at EOF */
	int in_fd;           /* -1 once closed */
	uint8_t *in_buf;     /* stdin bytes not yet written */
	size_t in_len, in_off;
	int in_eof;          /* the host sent EOF */
	int status;
	uint64_t start_ns, deadline_ns, exit_ns;
	int timed_out;
	uint64_t cap, out_sent, err_sent;
	int out_trunc, err_trunc;
};

struct agent {
	const struct agent_config *cfg;
	const struct agent_enforcement *enf;
	int sock;
	int sigfd;
	struct job *jobs;
	size_t njobs;
	uint64_t start_ns, wall_deadline_ns;
	int dying;              /* wall-time limit: killing everything */
	uint32_t shutdown_id;   /* a shutdown request in progress */
	uint64_t shutdown_deadline_ns;
	uint64_t last_cpu_ns, last_sample_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void send_json(struct agent *a, uint8_t type, uint32_t id, json_t *obj)
{
	if (obj)
		msb_frame_write_json(a->sock, type, id, obj);
	json_decref(obj);
}

static void reply_error(struct agent *a, uint32_t id, int code, int os_errno,
			const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void reply_error(struct agent *a, uint32_t id, int code, int os_errno,
			const char *hint, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (os_errno) {
		size_t n = strlen(msg);

		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(os_errno));
	}
	send_json(a, MSB_FRAME_REPLY, id,
		  json_pack("{s:b,s:{s:i,s:s,s:s,s:i}}", "ok", 0, "error",
			    "code", code, "message", msg, "hint",
			    hint ? hint : "", "errno", os_errno));
}

/* Signal every process of the sandbox. Only PID 1 of the sandbox's pid
 * namespace may do this: anywhere else kill(-1) would hit the host. */
static void kill_all(int sig)
{
	if (getpid() == 1)
		kill(-1, sig);
}

static struct job *find_job(struct agent *a, uint32_t id)
{
	for (struct job *j = a->jobs; j; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void free_job(struct agent *a, struct job *job)
{
	struct job **pp;

	for (pp = &a->jobs; *pp; pp = &(*pp)->next)
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	close_fd(&job->out_fd);
	close_fd(&job->err_fd);
	close_fd(&job->in_fd);
	free(job->in_buf);
	free(job);
	a->njobs--;
}

/* ---- the environment of commands ------------------------------------- */

/* Put "K=V" into env (replacing an entry with the same key). */
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

/* The documented defaults, then the sandbox's env, then the command's. */
static char **build_env(const struct agent_config *cfg, const json_t *cmd_env)
{
	static const char *const defaults[] = {
		"PATH=" AGENT_DEFAULT_PATH, "HOME=/root", "LANG=C.UTF-8",
	};
	size_t max = 3 + json_array_size(cmd_env) + 1, n = 0;
	char **env;

	for (char **e = cfg->env; *e; e++)
		max++;
	env = calloc(max, sizeof(char *));
	if (!env)
		return NULL;
	for (size_t i = 0; i < 3; i++)
		env_put(env, &n, defaults[i]);
	for (char **e = cfg->env; *e; e++)
		env_put(env, &n, *e);
	for (size_t i = 0; i < json_array_size(cmd_env); i++) {
		const char *s = json_string_value(json_array_get(cmd_env, i));

		if (s && strchr(s, '=') && s[0] != '=')
			env_put(env, &n, s);
	}
	env[n] = NULL;
	return env;
}

/* ---- exec -------------------------------------------------------------- */

struct exec_failure {
	int stage; /* 1 chdir workdir, 2 chdir cwd, 3 exec */
	int err;
};

static void child_fail(int fd, int stage)
{
	struct exec_failure f = { stage, errno };

	if (write(fd, &f, sizeof(f)) < 0) {
		/* nothing left to tell */
	}
	_exit(127);
}

static void do_exec(struct agent *a, uint32_t id, const json_t *req)
{
	const json_t *jargv = json_object_get(req, "argv");
	const json_t *jenv = json_object_get(req, "env");
	const char *cwd = json_string_value(json_object_get(req, "cwd"));
	int want_stdin = json_is_true(json_object_get(req, "stdin"));
	json_int_t timeout = json_integer_value(json_object_get(req, "timeout_ms"));
	json_int_t cap = json_integer_value(json_object_get(req, "output_cap"));
	size_t argc = json_array_size(jargv);
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
	int ep[2] = { -1, -1 };
	struct exec_failure fail;
	struct job *job = NULL;
	char **argv = NULL, **env = NULL;
	ssize_t n;
	pid_t pid;

	if (!json_is_array(jargv) || argc == 0 || argc > MAX_ARGS ||
	    (jenv && !json_is_array(jenv)) || timeout < 0 || cap < 0) {
		reply_error(a, id, MSB_EINVAL, 0, "", "malformed exec request");
		return;
	}
	if (find_job(a, id)) {
		reply_error(a, id, MSB_EPROTO, 0, "", "request id %u is in use",
			    id);
		return;
	}
	if (a->njobs >= MAX_JOBS) {
		reply_error(a, id, MSB_EINVAL, 0, "wait for some commands to "
			    "finish", "too many commands running (%d)",
			    MAX_JOBS);
		return;
	}
	argv = calloc(argc + 1, sizeof(char *));
	env = build_env(a->cfg, jenv);
	job = calloc(1, sizeof(*job));
	if (!argv || !env || !job) {
		reply_error(a, id, MSB_ENOMEM, ENOMEM, "", "exec");
		goto out;
	}
	for (size_t i = 0; i < argc; i++) {
		argv[i] = (char *)json_string_value(json_array_get(jargv, i));
		if (!argv[i]) {
			reply_error(a, id, MSB_EINVAL, 0, "", "argv[%zu] is "
				    "not a string", i);
			goto out;
		}
	}
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) ||
	    pipe2(ep, O_CLOEXEC) || (want_stdin && pipe2(in, O_CLOEXEC))) {
		reply_error(a, id, MSB_ERROR, errno, "the sandbox may have "
			    "too many open files", "cannot create pipes");
		goto out;
	}
	job->start_ns = now_ns();
	pid = fork();
	if (pid < 0) {
		reply_error(a, id, MSB_ERROR, errno, "the sandbox may be at "
			    "its process limit", "cannot start the command");
		goto out;
	}
	if (pid == 0) {
		sigset_t none;
		int nul;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		setpgid(0, 0);
		if (want_stdin) {
			dup2(in[0], 0);
		} else if ((nul = open("/dev/null", O_RDONLY)) >= 0) {
			dup2(nul, 0);
			if (nul != 0)
				close(nul);
		}
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (chdir(a->cfg->workdir) < 0)
			child_fail(ep[1], 1);
		if (cwd && chdir(cwd) < 0)
			child_fail(ep[1], 2);
		environ = env;
		execvp(argv[0], argv);
		child_fail(ep[1], 3);
	}
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&in[0]);
	close_fd(&ep[1]);
	do
		n = read(ep[0], &fail, sizeof(fail));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(fail)) {
		int st;

		waitpid(pid, &st, 0);
		if (fail.stage == 3 && fail.err == ENOENT)
			reply_error(a, id, MSB_ENOTFOUND, 0, "check the name; the "
				    "sandbox sees the host's /usr, /bin and its "
				    "volumes, and PATH=" AGENT_DEFAULT_PATH,
				    "command not found: %s", argv[0]);
		else if (fail.stage == 3)
			reply_error(a, id, fail.err == EACCES ? MSB_EPERM :
				    MSB_ERROR, fail.err, "check that the file "
				    "is an executable program",
				    "cannot execute %s", argv[0]);
		else
			reply_error(a, id, MSB_EINVAL, fail.err,
				    "give an existing directory inside the "
				    "sandbox", "cannot change to directory %s",
				    fail.stage == 2 ? cwd : a->cfg->workdir);
		goto out;
	}
	job->id = id;
	job->pid = pid;
	job->out_fd = out[0];
	job->err_fd = err[0];
	job->in_fd = want_stdin ? in[1] : -1;
	out[0] = err[0] = in[1] = -1;
	fcntl(job->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(job->err_fd, F_SETFL, O_NONBLOCK);
	if (job->in_fd >= 0)
		fcntl(job->in_fd, F_SETFL, O_NONBLOCK);
	job->deadline_ns = timeout ? job->start_ns + (uint64_t)timeout * 1000000ull : 0;
	job->cap = (uint64_t)cap;
	job->next = a->jobs;
	a->jobs = job;
	a->njobs++;
	job = NULL;
out:
	close_fd(&out[0]); close_fd(&out[1]);
	close_fd(&err[0]); close_fd(&err[1]);
	close_fd(&in[0]); close_fd(&in[1]);
	close_fd(&ep[0]); close_fd(&ep[1]);
	free(job);
	free(argv);
	free(env);
}

/* Forward what a command wrote; returns 1 at EOF. */
static int pump_output(struct agent *a, struct job *job, int *fd, uint8_t type)
{
	static uint8_t buf[MSB_DATA_CHUNK];
	uint64_t *sent = type == MSB_FRAME_STDOUT ? &job->out_sent : &job->err_sent;
	int *trunc = type == MSB_FRAME_STDOUT ? &job->out_trunc : &job->err_trunc;

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(*fd, buf, sizeof(buf));
		uint64_t room;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			close_fd(fd);
			return 1;
		}
		room = job->cap > *sent ? job->cap - *sent : 0;
		if ((uint64_t)n > room) {
			*trunc = 1;
			n = (ssize_t)room;
		}
		if (n > 0) {
			msb_frame_write(a->sock, type, job->id, buf, (size_t)n);
			*sent += (uint64_t)n;
		}
	}
	return 0;
}

static void pump_stdin(struct job *job)
{
	while (job->in_fd >= 0 && job->in_off < job->in_len) {
		ssize_t n = write(job->in_fd, job->in_buf + job->in_off,
				  job->in_len - job->in_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) { /* EPIPE: the command closed stdin */
			close_fd(&job->in_fd);
			break;
		}
		job->in_off += (size_t)n;
	}
	if (job->in_off == job->in_len) {
		free(job->in_buf);
		job->in_buf = NULL;
		job->in_len = job->in_off = 0;
		if (job->in_eof)
			close_fd(&job->in_fd);
	}
}

static void finish_job(struct agent *a, struct job *job)
{
	int st = job->status;
	json_t *r = json_pack("{s:b,s:i,s:i,s:b,s:b,s:b,s:I}", "ok", 1,
			      "exit_code", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
			      "signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0,
			      "timed_out", job->timed_out,
			      "out_truncated", job->out_trunc,
			      "err_truncated", job->err_trunc,
			      "elapsed_us",
			      (json_int_t)((job->exit_ns - job->start_ns) / 1000));

	send_json(a, MSB_FRAME_REPLY, job->id, r);
	free_job(a, job);
}

static void reap(struct agent *a)
{
	struct signalfd_siginfo si;
	int st;
	pid_t pid;

	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (struct job *j = a->jobs; j; j = j->next)
			if (j->pid == pid) {
				j->pid = 0;
				j->status = st;
				j->exit_ns = now_ns();
				close_fd(&j->in_fd);
			}
		/* anything else was an orphan: reaped, as PID 1 must */
	}
}

/* ---- metrics ----------------------------------------------------------- */

static void do_metrics(struct agent *a, uint32_t id)
{
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	uint64_t cpu_ticks = 0, rss_pages = 0, now = now_ns(), cpu_ns;
	double pct = 0;
	unsigned pids = 0;
	struct statfs sfs;
	uint64_t disk = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	while (d && (de = readdir(d))) {
		char path[64], buf[1024], *p;
		unsigned long long ut, stt, cut, cst, rss;
		ssize_t n;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		/* The command name may hold spaces and ')': skip to the last ')'. */
		p = strrchr(buf, ')');
		if (!p)
			continue;
		/* fields from 3 on: state ppid pgrp session tty tpgid flags
		 * minflt cminflt majflt cmajflt utime stime cutime cstime
		 * priority nice threads itrealvalue starttime vsize rss */
		if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			   "%llu %llu %llu %llu %*d %*d %*d %*d %*u %*u %llu",
			   &ut, &stt, &cut, &cst, &rss) != 5)
			continue;
		pids++;
		cpu_ticks += ut + stt + cut + cst;
		rss_pages += rss;
	}
	if (d)
		closedir(d);
	if (statfs(AGENT_RW_TMP, &sfs) == 0)
		disk = (uint64_t)(sfs.f_blocks - sfs.f_bfree) * (uint64_t)sfs.f_bsize;
	cpu_ns = cpu_ticks * (1000000000ull / (uint64_t)(tick > 0 ? tick : 100));
	if (now > a->last_sample_ns && cpu_ns >= a->last_cpu_ns)
		pct = 100.0 * (double)(cpu_ns - a->last_cpu_ns) /
		      (double)(now - a->last_sample_ns);
	a->last_cpu_ns = cpu_ns;
	a->last_sample_ns = now;
	send_json(a, MSB_FRAME_REPLY, id,
		  json_pack("{s:b,s:f,s:I,s:I,s:i,s:I,s:I}", "ok", 1,
			    "cpu_percent", pct,
			    "memory", (json_int_t)(rss_pages * (uint64_t)page),
			    "disk", (json_int_t)disk, "pids", pids,
			    "cpu_ns", (json_int_t)cpu_ns,
			    "uptime_ms", (json_int_t)((now - a->start_ns) / 1000000)));
}

/* ---- requests ----------------------------------------------------------- */

static void do_call(struct agent *a, const struct msb_frame *f)
{
	const char *why, *op;
	json_t *req;

	if (f->id == 0)
		return; /* a reply could not be addressed */
	req = msb_frame_json(f, &why);
	if (!req) {
		reply_error(a, f->id, MSB_EPROTO, 0, "", "bad request: %s", why);
		return;
	}
	op = json_string_value(json_object_get(req, "op"));
	if (!op) {
		reply_error(a, f->id, MSB_EPROTO, 0, "", "request without op");
	} else if (a->dying || a->shutdown_id) {
		reply_error(a, f->id, MSB_ESTATE, 0, "create a new sandbox",
			    "the sandbox is shutting down");
	} else if (!strcmp(op, "exec")) {
		do_exec(a, f->id, req);
	} else if (!strcmp(op, "metrics")) {
		do_metrics(a, f->id);
	} else if (!strcmp(op, "shutdown")) {
		json_int_t grace = json_integer_value(json_object_get(req, "grace_ms"));

		if (grace < 0 || grace > 600000)
			grace = 2000;
		a->shutdown_id = f->id;
		a->shutdown_deadline_ns = now_ns() + (uint64_t)grace * 1000000ull;
		kill_all(SIGTERM);
	} else {
		reply_error(a, f->id, MSB_EUNSUPPORTED, 0, "update libmsb and "
			    "msb-agent together", "unknown operation \"%.64s\"",
			    op);
	}
	json_decref(req);
}

static void do_stdin(struct agent *a, const struct msb_frame *f)
{
	struct job *job = find_job(a, f->id);
	uint8_t *nb;

	if (!job)
		return;
	if (f->len == 0) {
		job->in_eof = 1;
		if (job->in_len == job->in_off)
			close_fd(&job->in_fd);
		return;
	}
	if (job->in_fd < 0)
		return;
	nb = realloc(job->in_buf, job->in_len + f->len);
	if (!nb)
		return;
	memcpy(nb + job->in_len, f->data, f->len);
	job->in_buf = nb;
	job->in_len += f->len;
	pump_stdin(job);
}

static void do_cancel(struct agent *a, const struct msb_frame *f)
{
	struct job *job = find_job(a, f->id);
	const char *why;
	json_t *req;
	int sig = SIGKILL;

	if (!job || job->pid <= 0)
		return;
	req = msb_frame_json(f, &why);
	if (req) {
		json_int_t s = json_integer_value(json_object_get(req, "signal"));

		if (s > 0 && s < 65)
			sig = (int)s;
		json_decref(req);
	}
	if (kill(-job->pid, sig) < 0)
		kill(job->pid, sig);
}

/* Returns -1 when the host is gone or spoke garbage. */
static int read_host(struct agent *a, struct msb_decoder *dec)
{
	struct msb_frame f;
	const char *why;
	uint8_t *p = msb_decoder_space(dec, 65536);
	ssize_t n;
	int rc;

	if (!p)
		return -1;
	n = read(a->sock, p, 65536);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	msb_decoder_commit(dec, (size_t)n);
	while ((rc = msb_decoder_next(dec, &f, &why)) == 1) {
		switch (f.type) {
		case MSB_FRAME_CALL: do_call(a, &f); break;
		case MSB_FRAME_STDIN: do_stdin(a, &f); break;
		case MSB_FRAME_CANCEL: do_cancel(a, &f); break;
		default: break; /* nothing else is meant for the agent */
		}
	}
	return rc < 0 ? -1 : 0;
}

static int no_children(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
	       errno == ECHILD;
}

int agent_serve(const struct agent_config *cfg, int sock,
		const struct agent_enforcement *enf)
{
	struct agent a = { .cfg = cfg, .enf = enf, .sock = sock };
	struct msb_decoder dec;
	struct pollfd *pfds = NULL;
	struct job **pjobs = NULL;
	size_t pcap = 0;
	sigset_t mask;
	json_t *hello;
	int status = 0;
	const char *names[] = { "none", "rlimit", "cgroup", "kernel" };

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	a.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	a.start_ns = a.last_sample_ns = now_ns();
	if (cfg->timeout_ms > 0)
		a.wall_deadline_ns = a.start_ns + (uint64_t)cfg->timeout_ms * 1000000ull;

#define ENF(x) names[(unsigned)(x) < 4 ? (unsigned)(x) : 0]
	hello = json_pack("{s:i,s:s,s:b,s:i,s:{s:s,s:s,s:s,s:s,s:s}}",
			  "proto", MSB_PROTO_VERSION, "agent", MSB_VERSION,
			  "ok", 1, "cgroup", enf->cgroup_version,
			  "enforcement", "memory", ENF(enf->memory),
			  "cpu", ENF(enf->cpu), "pids", ENF(enf->pids),
			  "disk", ENF(enf->disk), "time", ENF(enf->time));
#undef ENF
	if (a.sigfd < 0 || !hello ||
	    msb_frame_write_json(sock, MSB_FRAME_HELLO, 0, hello) < 0) {
		json_decref(hello);
		return 1;
	}
	json_decref(hello);

	msb_decoder_init(&dec);
	for (;;) {
		uint64_t now = now_ns(), next = 0;
		size_t np = 0;
		struct job *j, *jn;
		int timeout_ms;

#define SOONER(t) do { if ((t) && (!next || (t) < next)) next = (t); } while (0)
		/* Timers: command timeouts, pipe grace after exit, wall time. */
		for (j = a.jobs; j; j = jn) {
			jn = j->next;
			if (j->pid > 0 && j->deadline_ns && now >= j->deadline_ns) {
				j->timed_out = 1;
				j->deadline_ns = 0;
				if (kill(-j->pid, SIGKILL) < 0)
					kill(j->pid, SIGKILL);
			}
			if (j->pid == 0 && (j->out_fd >= 0 || j->err_fd >= 0) &&
			    now >= j->exit_ns + EXIT_GRACE_NS) {
				/* A background process holds the pipes. */
				if (j->out_fd >= 0)
					pump_output(&a, j, &j->out_fd, MSB_FRAME_STDOUT);
				if (j->err_fd >= 0)
					pump_output(&a, j, &j->err_fd, MSB_FRAME_STDERR);
				close_fd(&j->out_fd);
				close_fd(&j->err_fd);
			}
			if (j->pid == 0 && j->out_fd < 0 && j->err_fd < 0) {
				finish_job(&a, j);
				continue;
			}
			if (j->pid > 0)
				SOONER(j->deadline_ns);
			else
				SOONER(j->exit_ns + EXIT_GRACE_NS);
		}
		if (a.wall_deadline_ns && !a.dying && now >= a.wall_deadline_ns) {
			a.dying = 1;
			kill_all(SIGKILL);
		}
		if (a.dying && !a.jobs) {
			send_json(&a, MSB_FRAME_EVENT, 0,
				  json_pack("{s:s,s:s}", "event", "exit",
					    "reason", "wall-time limit reached"));
			status = 3;
			break;
		}
		if (a.shutdown_id) {
			if (no_children() || now >= a.shutdown_deadline_ns) {
				kill_all(SIGKILL);
				send_json(&a, MSB_FRAME_REPLY, a.shutdown_id,
					  json_pack("{s:b}", "ok", 1));
				break;
			}
			SOONER(a.shutdown_deadline_ns);
		}
		if (!a.dying)
			SOONER(a.wall_deadline_ns);
#undef SOONER

		if (pcap < 2 + 3 * a.njobs) {
			pcap = 2 + 3 * a.njobs + 16;
			free(pfds);
			free(pjobs);
			pfds = calloc(pcap, sizeof(*pfds));
			pjobs = calloc(pcap, sizeof(*pjobs));
			if (!pfds || !pjobs) {
				status = 1;
				break;
			}
		}
		pfds[np++] = (struct pollfd){ .fd = sock, .events = POLLIN };
		pfds[np++] = (struct pollfd){ .fd = a.sigfd, .events = POLLIN };
		for (j = a.jobs; j; j = j->next) {
			if (j->out_fd >= 0) {
				pjobs[np] = j;
				pfds[np++] = (struct pollfd){ .fd = j->out_fd, .events = POLLIN };
			}
			if (j->err_fd >= 0) {
				pjobs[np] = j;
				pfds[np++] = (struct pollfd){ .fd = j->err_fd, .events = POLLIN };
			}
			if (j->in_fd >= 0 && j->in_off < j->in_len) {
				pjobs[np] = j;
				pfds[np++] = (struct pollfd){ .fd = j->in_fd, .events = POLLOUT };
			}
		}
		if (next) {
			uint64_t d = next > now ? next - now : 0;

			timeout_ms = (int)(d / 1000000ull) + 1;
		} else {
			timeout_ms = -1;
		}
		if (poll(pfds, np, timeout_ms) < 0) {
			if (errno == EINTR)
				continue;
			status = 1;
			break;
		}
		if (pfds[1].revents)
			reap(&a);
		/* Output first, so it is sent before the replies it precedes. */
		for (size_t i = 2; i < np; i++) {
			j = pjobs[i];
			if (!pfds[i].revents)
				continue;
			if (pfds[i].fd == j->out_fd)
				pump_output(&a, j, &j->out_fd, MSB_FRAME_STDOUT);
			else if (pfds[i].fd == j->err_fd)
				pump_output(&a, j, &j->err_fd, MSB_FRAME_STDERR);
			else if (pfds[i].fd == j->in_fd)
				pump_stdin(j);
		}
		if (pfds[0].revents && read_host(&a, &dec) < 0) {
			/* The host closed the connection or sent garbage:
			 * nobody is left to serve. */
			kill_all(SIGKILL);
			break;
		}
	}
	msb_decoder_release(&dec);
	free(pfds);
	free(pjobs);
	return status;
}
