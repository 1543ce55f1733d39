/*
 * msb - the command-line front end of libmsb.
 *
 *   msb run [flags] -- CMD [ARGS...]   run one command in a fresh sandbox
 *   msb info [--json]                  what this host offers
 *   msb version
 *
 * Exit status of `msb run`: the command's own status; 128+N when a signal
 * N killed it (a timeout kills with SIGKILL: 137); 125 when the sandbox
 * itself failed; 126 when the command cannot be executed; 127 when it is
 * not found; 2 for bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <termios.h>
#include <time.h>
#include <sys/ioctl.h>
#include <jansson.h>

#include "msb.h"

#define EXIT_USAGE 2
#define EXIT_SANDBOX 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

static const char *prog = "msb";

static void usage(FILE *f)
{
	fprintf(f,
"usage: msb run [options] [--] CMD [ARGS...]     a command in a fresh sandbox\n"
"       msb create [options] NAME                 a named sandbox that stays\n"
"       msb exec [-i] [--env K=V] [--workdir DIR] [--timeout T] [--json] NAME -- CMD...\n"
"       msb repl [--lang python|node|shell] [--context C] [--timeout T] [--json]\n"
"                NAME [CODE]                      (CODE from stdin if absent)\n"
"       msb cp HOST NAME:PATH | msb cp NAME:PATH HOST\n"
"       msb shell NAME [-- CMD ARGS...]           an interactive terminal\n"
"       msb ls [--json] | msb ps NAME\n"
"       msb stop [--grace 2s] NAME | msb kill NAME | msb rm [-f] NAME...\n"
"       msb info [--json] | msb version\n"
"\n"
"msb run runs one command in a fresh sandbox and exits with its status.\n"
"  --backend os|vm|auto   isolation backend (default auto)\n"
"  --trust untrusted|trusted  how auto routes: untrusted code needs a microVM\n"
"                         (or fails), trusted code gets os (default: vm when\n"
"                         this host can run one, else os)\n"
"  --allow-fallback       let auto run untrusted code in os without a microVM\n"
"  --memory SIZE          memory limit, e.g. 256M, 1G (default 512M)\n"
"  --cpus N               CPU limit, fractions allowed (default 1)\n"
"  --pids N               process limit (default 512)\n"
"  --disk SIZE            size of the writable area /tmp, /workspace, /root\n"
"                         (default 512M)\n"
"  --timeout DURATION     kill the command after e.g. 10s, 500ms, 2m\n"
"                         (msb create: the sandbox's wall-time limit)\n"
"  --env KEY=VALUE        add to the environment (repeatable)\n"
"  --workdir DIR          working directory inside (default /workspace)\n"
"  --volume HOST:SANDBOX[:ro]  mount a host path (repeatable)\n"
"  --rootfs DIR           use DIR as the root filesystem instead of the\n"
"                         host's system directories\n"
"  --name NAME            sandbox name (default msb-XXXXXXXX)\n"
"  -i, --interactive      pass this process's stdin to the command\n"
"  --json                 print the whole result as JSON\n"
"\n"
"exit status: the command's; 128+N if killed by signal N (timeout: 137);\n"
"125 if the sandbox failed; 126 cannot execute; 127 not found; 2 usage.\n"
"msb repl: 0 ok, 1 the code failed, 124 timed out.\n"
"Named sandboxes live under $MSB_STATE_DIR (default $XDG_RUNTIME_DIR/msb,\n"
"/run/msb for root, else /tmp/msb-UID).\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return EXIT_USAGE;
}

/* "512", "256K", "256M", "1G", "1.5G", "64MiB" -> bytes; -1 if bad. */
static int64_t parse_size(const char *s)
{
	char *end;
	double v;
	double mul = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || isnan(v))
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1024.0; end++; break;
	case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
	case 'b': case 'B': case '\0': break;
	default: return -1;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v * mul > 9.0e18)
		return -1;
	return (int64_t)(v * mul);
}

/* "10s", "500ms", "2m", "1h", "3" (seconds) -> milliseconds; -1 if bad. */
static int64_t parse_duration(const char *s)
{
	char *end;
	double v;
	double mul = 1000;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || isnan(v))
		return -1;
	if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "s") || !*end)
		mul = 1000;
	else if (!strcmp(end, "m"))
		mul = 60000;
	else if (!strcmp(end, "h"))
		mul = 3600000;
	else
		return -1;
	if (v * mul > 9.0e15)
		return -1;
	return (int64_t)(v * mul + 0.5);
}

static void print_error(const char *what)
{
	const msb_error *e = msb_error_last();

	fprintf(stderr, "%s: %s: %s\n", prog, what, e->message);
	if (e->hint && e->hint[0])
		fprintf(stderr, "%s: hint: %s\n", prog, e->hint);
}

static int stream_cb(int stream, const uint8_t *data, size_t len, void *p)
{
	FILE *f = stream == MSB_STREAM_STDOUT ? stdout : stderr;

	(void)p;
	fwrite(data, 1, len, f);
	fflush(f);
	return 0;
}

static json_t *bytes_json(const msb_buf *b)
{
	json_t *s = json_stringn((const char *)b->ptr ? (const char *)b->ptr : "",
				 b->len);

	/* Not UTF-8: say so rather than guess an encoding. */
	return s ? s : json_pack("{s:s,s:I}", "binary", "not valid UTF-8",
				 "length", (json_int_t)b->len);
}

static void warn_enforcement(msb_sandbox *sb)
{
	static const struct { msb_limit l; const char *name; } limits[] = {
		{ MSB_LIMIT_MEMORY, "memory" }, { MSB_LIMIT_CPU, "cpu" },
		{ MSB_LIMIT_PIDS, "pids" },
	};

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		msb_enforcement e = msb_sandbox_enforcement(sb, limits[i].l);

		if (e != MSB_ENFORCE_CGROUP)
			fprintf(stderr, "%s: warning: the %s limit is %s "
				"(no usable cgroup; run as root or with a "
				"delegated cgroup for full enforcement)\n",
				prog, limits[i].name,
				e == MSB_ENFORCE_RLIMIT ? "enforced by rlimits only"
							: "not enforced");
	}
}

static char *read_all_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	while (buf) {
		ssize_t r;

		if (n == cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

/* ---- flags shared by the commands ---------------------------------------- */

enum {
	F_SANDBOX = 1,  /* --backend --memory --cpus --pids --disk --volume
	                   --rootfs --name: how to make a sandbox */
	F_COMMAND = 2,  /* --env --workdir -i --json --timeout: how to run */
	F_REPL = 4,     /* --lang --context --timeout --json */
	F_STOP = 8,     /* --grace */
	F_FORCE = 16,   /* -f */
	F_JSON = 32,    /* --json alone */
	F_NAME = 64,    /* a sandbox NAME may come before the flags too */
};

struct flags {
	msb_sandbox_options so;
	msb_command_options co;
	const char **env;
	msb_volume *vols;
	size_t nenv, nvol;
	int json, interactive, force;
	int64_t timeout_ms, grace_ms;
	msb_language lang;
	const char *context;
	int optind;
};

static void flags_free(struct flags *f)
{
	free(f->env);
	free(f->vols);
}

/* Parse the flags `allowed` lets through; the first non-flag argument
 * stops the parse (f->optind). Returns 0 or EXIT_USAGE. */
static int parse_flags(int argc, char **argv, unsigned allowed, struct flags *f)
{
	enum { O_BACKEND = 256, O_MEMORY, O_CPUS, O_PIDS, O_DISK, O_TIMEOUT,
	       O_ENV, O_WORKDIR, O_VOLUME, O_ROOTFS, O_NAME, O_JSON, O_LANG,
	       O_CONTEXT, O_GRACE, O_TRUST, O_FALLBACK };
	static const struct { struct option opt; unsigned need; } table[] = {
		{ { "backend", required_argument, NULL, O_BACKEND }, F_SANDBOX },
		{ { "trust", required_argument, NULL, O_TRUST }, F_SANDBOX },
		{ { "allow-fallback", no_argument, NULL, O_FALLBACK }, F_SANDBOX },
		{ { "memory", required_argument, NULL, O_MEMORY }, F_SANDBOX },
		{ { "cpus", required_argument, NULL, O_CPUS }, F_SANDBOX },
		{ { "pids", required_argument, NULL, O_PIDS }, F_SANDBOX },
		{ { "disk", required_argument, NULL, O_DISK }, F_SANDBOX },
		{ { "volume", required_argument, NULL, O_VOLUME }, F_SANDBOX },
		{ { "rootfs", required_argument, NULL, O_ROOTFS }, F_SANDBOX },
		{ { "name", required_argument, NULL, O_NAME }, F_SANDBOX },
		{ { "env", required_argument, NULL, O_ENV }, F_SANDBOX | F_COMMAND },
		{ { "workdir", required_argument, NULL, O_WORKDIR }, F_SANDBOX | F_COMMAND },
		{ { "timeout", required_argument, NULL, O_TIMEOUT }, F_SANDBOX | F_COMMAND | F_REPL },
		{ { "json", no_argument, NULL, O_JSON }, F_COMMAND | F_REPL | F_JSON },
		{ { "interactive", no_argument, NULL, 'i' }, F_COMMAND },
		{ { "lang", required_argument, NULL, O_LANG }, F_REPL },
		{ { "context", required_argument, NULL, O_CONTEXT }, F_REPL },
		{ { "grace", required_argument, NULL, O_GRACE }, F_STOP },
		{ { "force", no_argument, NULL, 'f' }, F_FORCE },
		{ { "help", no_argument, NULL, 'h' }, ~0u },
	};
	struct option longopts[sizeof(table) / sizeof(table[0]) + 1];
	size_t nopt = 0;
	char *end;
	int c;

	memset(f, 0, sizeof(*f));
	f->so = (msb_sandbox_options)MSB_SANDBOX_OPTIONS_INIT;
	f->co = (msb_command_options)MSB_COMMAND_OPTIONS_INIT;
	f->grace_ms = -1;
	f->env = calloc((size_t)argc + 1, sizeof(char *));
	f->vols = calloc((size_t)argc + 1, sizeof(msb_volume));
	if (!f->env || !f->vols) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return EXIT_SANDBOX;
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].need & allowed)
			longopts[nopt++] = table[i].opt;
	memset(&longopts[nopt], 0, sizeof(longopts[0]));
	/* `msb repl demo --lang python CODE` reads better than the flags
	 * first: set a leading NAME aside and put it back after the flags. */
	char *name = NULL;
	if ((allowed & F_NAME) && argc > 1 && argv[1][0] != '-') {
		name = argv[1];
		memmove(argv + 1, argv + 2, (size_t)(argc - 2) * sizeof(*argv));
		argc--;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, (allowed & F_FORCE) ? "+fh" :
				(allowed & F_COMMAND) ? "+ih" : "+h",
				longopts, NULL)) != -1) {
		switch (c) {
		case O_BACKEND:
			if (!strcmp(optarg, "os"))
				f->so.backend = MSB_BACKEND_OS;
			else if (!strcmp(optarg, "vm"))
				f->so.backend = MSB_BACKEND_VM;
			else if (!strcmp(optarg, "auto"))
				f->so.backend = MSB_BACKEND_AUTO;
			else
				return bad_usage("--backend must be os, vm or "
						 "auto, not \"%s\"", optarg);
			break;
		case O_TRUST:
			if (!strcmp(optarg, "untrusted"))
				f->so.trust = MSB_TRUST_UNTRUSTED;
			else if (!strcmp(optarg, "trusted"))
				f->so.trust = MSB_TRUST_TRUSTED;
			else if (!strcmp(optarg, "default"))
				f->so.trust = MSB_TRUST_DEFAULT;
			else
				return bad_usage("--trust must be untrusted, "
						 "trusted or default, not \"%s\"",
						 optarg);
			break;
		case O_FALLBACK:
			f->so.allow_fallback = 1;
			break;
		case O_MEMORY:
			if ((f->so.memory_bytes = parse_size(optarg)) <= 0)
				return bad_usage("bad --memory \"%s\" (try 256M)", optarg);
			break;
		case O_DISK:
			if ((f->so.disk_bytes = parse_size(optarg)) <= 0)
				return bad_usage("bad --disk \"%s\" (try 1G)", optarg);
			break;
		case O_CPUS:
			errno = 0;
			f->so.cpus = strtod(optarg, &end);
			if (errno || *end || !(f->so.cpus > 0))
				return bad_usage("bad --cpus \"%s\" (try 1 or 0.5)", optarg);
			break;
		case O_PIDS:
			errno = 0;
			f->so.pids = strtoll(optarg, &end, 10);
			if (errno || *end || f->so.pids <= 0)
				return bad_usage("bad --pids \"%s\" (a positive number)", optarg);
			break;
		case O_TIMEOUT:
			if ((f->timeout_ms = parse_duration(optarg)) <= 0)
				return bad_usage("bad --timeout \"%s\" (try 10s or 500ms)", optarg);
			break;
		case O_GRACE:
			if ((f->grace_ms = parse_duration(optarg)) < 0)
				return bad_usage("bad --grace \"%s\" (try 2s)", optarg);
			break;
		case O_ENV:
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return bad_usage("--env takes KEY=VALUE, not \"%s\"", optarg);
			f->env[f->nenv++] = optarg;
			break;
		case O_WORKDIR:
			f->so.workdir = optarg;
			f->co.cwd = optarg;
			break;
		case O_VOLUME: {
			char *host = optarg, *sbx = strchr(optarg, ':'), *mode;

			if (!sbx || sbx == host || !sbx[1])
				return bad_usage("--volume takes HOST:SANDBOX[:ro], "
						 "not \"%s\"", optarg);
			*sbx++ = '\0';
			mode = strchr(sbx, ':');
			if (mode) {
				*mode++ = '\0';
				if (strcmp(mode, "ro") && strcmp(mode, "rw"))
					return bad_usage("--volume mode must be ro "
							 "or rw, not \"%s\"", mode);
				f->vols[f->nvol].read_only = !strcmp(mode, "ro");
			}
			f->vols[f->nvol].host_path = host;
			f->vols[f->nvol].sandbox_path = sbx;
			f->nvol++;
			break;
		}
		case O_ROOTFS:
			f->so.rootfs = optarg;
			break;
		case O_NAME:
			f->so.name = optarg;
			break;
		case O_JSON:
			f->json = 1;
			break;
		case O_LANG:
			if (!(f->lang = msb_language_parse(optarg)))
				return bad_usage("--lang must be python, node or "
						 "shell, not \"%s\"", optarg);
			break;
		case O_CONTEXT:
			f->context = optarg;
			break;
		case 'i':
			f->interactive = 1;
			break;
		case 'f':
			f->force = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (name) {
		memmove(argv + optind + 1, argv + optind,
			(size_t)(argc - optind) * sizeof(*argv));
		argv[optind] = name;
	}
	f->so.env = f->nenv ? f->env : NULL;
	f->so.volumes = f->nvol ? f->vols : NULL;
	f->so.volumes_len = f->nvol;
	f->co.env = f->nenv ? f->env : NULL;
	f->optind = optind;
	return 0;
}

/* Run argv in sb as `msb run` and `msb exec` do; returns the exit status. */
static int run_in(msb_sandbox *sb, struct flags *f, char **argv)
{
	msb_command_result *res = NULL;
	char *in_data = NULL;
	size_t in_len = 0;
	int rc, status;

	f->co.argv = (const char *const *)argv;
	f->co.timeout_ms = f->timeout_ms;
	if (f->interactive) {
		in_data = read_all_stdin(&in_len);
		f->co.stdin_data = in_data ? in_data : "";
		f->co.stdin_len = in_data ? in_len : 0;
	}
	rc = f->json ? msb_command_run(&res, sb, &f->co) :
		       msb_command_run_stream(&res, sb, &f->co, stream_cb, NULL);
	free(in_data);
	if (rc) {
		print_error(argv[0]);
		return rc == MSB_ENOTFOUND ? EXIT_NOT_FOUND :
		       rc == MSB_EPERM || rc == MSB_EINVAL ? EXIT_CANNOT_EXEC :
							     EXIT_SANDBOX;
	}
	status = res->signal ? 128 + res->signal : res->exit_code;
	if (res->timed_out && !f->json)
		fprintf(stderr, "%s: %s: timed out after %lld ms, killed\n",
			prog, argv[0], (long long)f->timeout_ms);
	if (f->json) {
		json_t *enf = json_object();
		json_t *o;

		json_object_set_new(enf, "memory", json_string(msb_enforcement_name(
			msb_sandbox_enforcement(sb, MSB_LIMIT_MEMORY))));
		json_object_set_new(enf, "cpu", json_string(msb_enforcement_name(
			msb_sandbox_enforcement(sb, MSB_LIMIT_CPU))));
		json_object_set_new(enf, "pids", json_string(msb_enforcement_name(
			msb_sandbox_enforcement(sb, MSB_LIMIT_PIDS))));
		o = json_pack("{s:i,s:i,s:b,s:I,s:o,s:o,s:b,s:b,s:{s:s,s:s,s:s,s:o}}",
			      "exit_code", res->exit_code, "signal", res->signal,
			      "timed_out", res->timed_out,
			      "elapsed_us", (json_int_t)res->elapsed_us,
			      "stdout", bytes_json(&res->out),
			      "stderr", bytes_json(&res->err),
			      "stdout_truncated", res->out_truncated,
			      "stderr_truncated", res->err_truncated,
			      "sandbox", "name", msb_sandbox_name(sb),
			      "backend", msb_backend_name(msb_sandbox_backend(sb)),
			      "backend_reason", msb_sandbox_backend_reason(sb),
			      "enforcement", enf);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	}
	msb_command_result_free(res);
	return status;
}

static int cmd_run(int argc, char **argv)
{
	struct flags f;
	msb_sandbox *sb = NULL;
	int rc, status;

	argv[0] = "msb run";
	if ((rc = parse_flags(argc, argv, F_SANDBOX | F_COMMAND, &f)))
		goto out_flags;
	if (f.optind >= argc) {
		rc = bad_usage("%s", "run: no command given");
		goto out_flags;
	}
	if ((rc = msb_sandbox_create(&sb, &f.so))) {
		print_error("cannot create the sandbox");
		status = rc == MSB_EINVAL || rc == MSB_EVERSION ? EXIT_USAGE : EXIT_SANDBOX;
		goto out;
	}
	if (msb_sandbox_start(sb)) {
		print_error("cannot start the sandbox");
		status = EXIT_SANDBOX;
		goto out;
	}
	warn_enforcement(sb);
	status = run_in(sb, &f, argv + f.optind);
out:
	msb_sandbox_free(sb);
	flags_free(&f);
	return status;
out_flags:
	flags_free(&f);
	return rc;
}

/* ---- named sandboxes -------------------------------------------------------- */

static int connect_named(msb_sandbox **sb, const char *name)
{
	if (msb_sandbox_connect(sb, name)) {
		print_error(name);
		return EXIT_SANDBOX;
	}
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	struct flags f;
	msb_sandbox *sb = NULL;
	int rc, status = 0;

	argv[0] = "msb create";
	if ((rc = parse_flags(argc, argv, F_SANDBOX | F_NAME, &f)))
		goto out;
	if (f.optind != argc - 1) {
		rc = bad_usage("%s", "create takes one NAME after its flags");
		goto out;
	}
	f.so.name = argv[f.optind];
	f.so.detached = 1;
	f.so.timeout_ms = f.timeout_ms;
	if ((rc = msb_sandbox_create(&sb, &f.so))) {
		print_error("cannot create the sandbox");
		status = rc == MSB_EINVAL || rc == MSB_EVERSION ? EXIT_USAGE : EXIT_SANDBOX;
	} else if (msb_sandbox_start(sb)) {
		print_error("cannot start the sandbox");
		status = EXIT_SANDBOX;
	} else {
		warn_enforcement(sb);
		printf("%s\n", msb_sandbox_name(sb));
	}
	msb_sandbox_free(sb);
	rc = status;
out:
	flags_free(&f);
	return rc;
}

static int cmd_exec(int argc, char **argv)
{
	struct flags f;
	msb_sandbox *sb = NULL;
	int rc;

	argv[0] = "msb exec";
	if ((rc = parse_flags(argc, argv, F_COMMAND | F_NAME, &f)))
		goto out;
	if (f.optind + 1 >= argc) {
		rc = bad_usage("%s", "exec takes NAME -- CMD [ARGS...]");
		goto out;
	}
	if ((rc = connect_named(&sb, argv[f.optind])))
		goto out;
	rc = run_in(sb, &f, argv + f.optind + 1 +
		    (argv[f.optind + 1] && !strcmp(argv[f.optind + 1], "--")));
	msb_sandbox_free(sb);
out:
	flags_free(&f);
	return rc;
}

static int cmd_ls(int argc, char **argv)
{
	struct flags f;
	msb_sandbox_list *l = NULL;
	int rc;

	argv[0] = "msb ls";
	if ((rc = parse_flags(argc, argv, F_JSON, &f)))
		goto out;
	if (f.optind != argc) {
		rc = bad_usage("%s", "ls takes no arguments but --json");
		goto out;
	}
	if (msb_sandbox_list_all(&l)) {
		print_error("cannot list sandboxes");
		rc = EXIT_SANDBOX;
		goto out;
	}
	if (f.json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < l->len; i++)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I,s:I}",
				"name", l->items[i].name,
				"status", msb_status_name(l->items[i].status),
				"backend", msb_backend_name(l->items[i].backend),
				"created_ms", (json_int_t)l->items[i].created_ms,
				"pid", (json_int_t)l->items[i].pid));
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(arr);
	} else {
		printf("%-24s %-8s %-7s %s\n", "NAME", "STATUS", "BACKEND", "CREATED");
		for (size_t i = 0; i < l->len; i++) {
			time_t t = (time_t)(l->items[i].created_ms / 1000);
			char when[32] = "-";
			struct tm tm;

			if (t && localtime_r(&t, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			printf("%-24s %-8s %-7s %s\n", l->items[i].name,
			       msb_status_name(l->items[i].status),
			       msb_backend_name(l->items[i].backend), when);
		}
	}
	msb_sandbox_list_free(l);
out:
	flags_free(&f);
	return rc;
}

static int cmd_stop(int argc, char **argv)
{
	struct flags f;
	msb_sandbox *sb = NULL;
	int rc;

	argv[0] = "msb stop";
	if ((rc = parse_flags(argc, argv, F_STOP | F_NAME, &f)))
		goto out;
	if (f.optind != argc - 1) {
		rc = bad_usage("%s", "stop takes one NAME");
		goto out;
	}
	if ((rc = connect_named(&sb, argv[f.optind])))
		goto out;
	if (msb_sandbox_stop(sb, f.grace_ms)) {
		print_error(argv[f.optind]);
		rc = EXIT_SANDBOX;
	}
	msb_sandbox_free(sb);
out:
	flags_free(&f);
	return rc;
}

static int cmd_kill(int argc, char **argv)
{
	if (argc != 2)
		return bad_usage("%s", "kill takes one NAME");
	if (msb_sandbox_kill(argv[1])) {
		print_error(argv[1]);
		return EXIT_SANDBOX;
	}
	return 0;
}

static int cmd_rm(int argc, char **argv)
{
	struct flags f;
	int rc;

	argv[0] = "msb rm";
	if ((rc = parse_flags(argc, argv, F_FORCE, &f)))
		goto out;
	if (f.optind >= argc) {
		rc = bad_usage("%s", "rm takes one or more NAMEs");
		goto out;
	}
	for (int i = f.optind; i < argc; i++) {
		if (f.force)
			msb_sandbox_kill(argv[i]);
		if (msb_sandbox_remove(argv[i])) {
			print_error(argv[i]);
			rc = EXIT_SANDBOX;
		}
	}
out:
	flags_free(&f);
	return rc;
}

static int cmd_ps(int argc, char **argv)
{
	msb_process_list *l = NULL;
	msb_sandbox *sb = NULL;
	int rc;

	if (argc != 2)
		return bad_usage("%s", "ps takes one NAME");
	if ((rc = connect_named(&sb, argv[1])))
		return rc;
	if (msb_process_list_all(&l, sb)) {
		print_error(argv[1]);
		rc = EXIT_SANDBOX;
	} else {
		printf("%-8s %-4s %s\n", "PID", "PTY", "COMMAND");
		for (size_t i = 0; i < l->len; i++)
			printf("%-8lld %-4s %s\n", (long long)l->items[i].pid,
			       l->items[i].pty ? "yes" : "no", l->items[i].command);
	}
	msb_process_list_free(l);
	msb_sandbox_free(sb);
	return rc;
}

/* ---- msb shell: an interactive PTY -------------------------------------------- */

static volatile sig_atomic_t winch = 1;

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

struct pump {
	msb_process *p;
	int done_fd; /* written when the session's output ends */
};

static void *pump_output(void *arg)
{
	struct pump *pu = arg;
	msb_buf b;
	int stream;

	while (msb_process_read(&b, &stream, pu->p, -1) == 0) {
		ssize_t off = 0;

		while (off < (ssize_t)b.len) {
			ssize_t w = write(1, b.ptr + off, b.len - (size_t)off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += w;
		}
		msb_buf_free(&b);
	}
	if (write(pu->done_fd, "x", 1) < 0) {
		/* the main loop also stops on stdin EOF */
	}
	return NULL;
}

static int cmd_shell(int argc, char **argv)
{
	msb_pty_options po = MSB_PTY_OPTIONS_INIT;
	msb_command_result *res = NULL;
	struct termios saved, raw;
	msb_sandbox *sb = NULL;
	msb_process *p = NULL;
	struct pump pu;
	pthread_t th;
	int tty = isatty(0), done[2], rc = 0;

	if (argc < 2)
		return bad_usage("%s", "shell takes NAME [-- CMD ARGS...]");
	if ((rc = connect_named(&sb, argv[1])))
		return rc;
	if (argc > 2)
		po.argv = (const char *const *)argv + 2 + !strcmp(argv[2], "--");
	if (po.argv && !po.argv[0])
		po.argv = NULL;
	if (tty) {
		struct winsize ws;

		if (ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
			po.rows = ws.ws_row;
			po.cols = ws.ws_col;
		}
	}
	if (msb_pty_open(&p, sb, &po)) {
		print_error(argv[1]);
		msb_sandbox_free(sb);
		return EXIT_SANDBOX;
	}
	if (pipe(done) < 0) {
		msb_process_free(p);
		msb_sandbox_free(sb);
		return EXIT_SANDBOX;
	}
	if (tty && tcgetattr(0, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
	} else {
		tty = 0;
	}
	signal(SIGWINCH, on_winch);
	winch = 0;
	pu.p = p;
	pu.done_fd = done[1];
	pthread_create(&th, NULL, pump_output, &pu);
	for (;;) {
		struct pollfd pfd[2] = { { .fd = 0, .events = POLLIN },
					 { .fd = done[0], .events = POLLIN } };
		char buf[4096];
		ssize_t n;

		if (winch && tty) {
			struct winsize ws;

			winch = 0;
			if (ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
				msb_process_resize(p, ws.ws_row, ws.ws_col);
		}
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (!pfd[0].revents)
			continue;
		n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* No more input: let the session end by itself. */
			msb_process_write(p, "\x04", 1);
			pfd[0].fd = -1;
			poll(&pfd[1], 1, -1);
			break;
		}
		if (msb_process_write(p, buf, (size_t)n))
			break;
	}
	pthread_join(th, NULL);
	if (tty)
		tcsetattr(0, TCSANOW, &saved);
	if (msb_process_wait(&res, p, 5000) == 0)
		rc = res->signal ? 128 + res->signal : res->exit_code;
	else
		rc = EXIT_SANDBOX;
	msb_command_result_free(res);
	msb_process_free(p);
	msb_sandbox_free(sb);
	close(done[0]);
	close(done[1]);
	return rc;
}

/* ---- msb repl, msb cp -------------------------------------------------------- */

static int cmd_repl(int argc, char **argv)
{
	msb_repl_options ro = MSB_REPL_OPTIONS_INIT;
	msb_repl_result *res = NULL;
	struct flags f;
	msb_sandbox *sb = NULL;
	char *code = NULL;
	size_t len = 0;
	int rc;

	argv[0] = "msb repl";
	if ((rc = parse_flags(argc, argv, F_REPL | F_NAME, &f)))
		goto out;
	if (f.optind >= argc || !f.lang) {
		rc = bad_usage("%s", "repl takes NAME --lang python|node|shell [CODE]");
		goto out;
	}
	if (f.optind + 1 < argc) {
		/* The code is the rest of the line, joined by spaces. */
		for (int i = f.optind + 1; i < argc; i++)
			len += strlen(argv[i]) + 1;
		code = calloc(1, len + 1);
		for (int i = f.optind + 1; code && i < argc; i++) {
			strcat(code, argv[i]);
			if (i + 1 < argc)
				strcat(code, " ");
		}
		len = code ? strlen(code) : 0;
	} else {
		code = read_all_stdin(&len);
	}
	if (!code) {
		fprintf(stderr, "%s: out of memory\n", prog);
		rc = EXIT_SANDBOX;
		goto out;
	}
	if ((rc = connect_named(&sb, argv[f.optind])))
		goto out;
	ro.language = f.lang;
	ro.context = f.context;
	ro.timeout_ms = f.timeout_ms;
	rc = f.json ? msb_repl_run(&res, sb, &ro, code, len) :
		      msb_repl_run_stream(&res, sb, &ro, code, len, stream_cb, NULL);
	if (rc) {
		print_error(argv[f.optind]);
		rc = rc == MSB_EINVAL ? EXIT_USAGE : EXIT_SANDBOX;
		goto out;
	}
	if (f.json) {
		json_t *outs = json_array();

		for (size_t i = 0; i < res->outputs_len; i++)
			json_array_append_new(outs, json_pack("{s:s,s:o}", "mime",
				res->outputs[i].mime, "data", bytes_json(&res->outputs[i].data)));
		json_t *o = json_pack("{s:s,s:o,s:o,s:o,s:{s:s,s:s,s:o},s:o,s:b,s:I}",
			"status", res->status == MSB_REPL_OK ? "ok" :
				  res->status == MSB_REPL_TIMEOUT ? "timeout" : "error",
			"stdout", bytes_json(&res->out), "stderr", bytes_json(&res->err),
			"value", bytes_json(&res->value),
			"error", "type", res->error_type ? res->error_type : "",
			"message", res->error_message ? res->error_message : "",
			"traceback", bytes_json(&res->traceback),
			"outputs", outs, "state_lost", res->state_lost,
			"elapsed_us", (json_int_t)res->elapsed_us);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		if (res->value.len)
			printf("%.*s\n", (int)res->value.len, (const char *)res->value.ptr);
		if (res->status == MSB_REPL_ERROR && res->traceback.len)
			fprintf(stderr, "%.*s", (int)res->traceback.len,
				(const char *)res->traceback.ptr);
		else if (res->status == MSB_REPL_ERROR)
			fprintf(stderr, "%s: %s\n", res->error_type ? res->error_type : "error",
				res->error_message ? res->error_message : "");
		if (res->status == MSB_REPL_TIMEOUT)
			fprintf(stderr, "%s: timed out after %lld ms%s\n", prog,
				(long long)f.timeout_ms, res->state_lost ?
				"; the interpreter was restarted and its state is lost" : "");
	}
	rc = res->status == MSB_REPL_OK ? 0 : res->status == MSB_REPL_TIMEOUT ? 124 : 1;
out:
	msb_repl_result_free(res);
	msb_sandbox_free(sb);
	free(code);
	flags_free(&f);
	return rc;
}

/* "NAME:PATH" names a sandbox path; a path starting with '/' or '.' is the
 * host's. Returns the sandbox part split off in *path, or NULL. */
static char *sandbox_ref(char *arg, char **path)
{
	char *colon = strchr(arg, ':');

	if (arg[0] == '/' || arg[0] == '.' || !colon || colon == arg)
		return NULL;
	*colon = '\0';
	*path = colon + 1;
	return arg;
}

static int cmd_cp(int argc, char **argv)
{
	char *spath = NULL, *dpath = NULL, *sname, *dname;
	msb_sandbox *sb = NULL;
	int rc;

	if (argc != 3)
		return bad_usage("%s", "cp takes HOST NAME:PATH or NAME:PATH HOST");
	sname = sandbox_ref(argv[1], &spath);
	dname = sandbox_ref(argv[2], &dpath);
	if ((sname && dname) || (!sname && !dname))
		return bad_usage("%s", "cp copies between the host and one sandbox: "
				 "HOST NAME:PATH or NAME:PATH HOST");
	if ((rc = connect_named(&sb, sname ? sname : dname)))
		return rc;
	if (sname ? msb_file_copy_out(sb, spath, argv[2]) :
		    msb_file_copy_in(sb, argv[1], dpath)) {
		print_error("cp");
		rc = msb_error_last()->code == MSB_EINVAL ? EXIT_USAGE : 1;
	}
	msb_sandbox_free(sb);
	return rc;
}

static int cmd_info(int argc, char **argv)
{
	msb_host_info hi = { .version = MSB_HOST_INFO_VERSION };
	int json = argc > 1 && !strcmp(argv[1], "--json");

	if (argc > 2 || (argc == 2 && !json))
		return bad_usage("%s", "info takes only --json");
	if (msb_host_probe(&hi)) {
		print_error("cannot probe this host");
		return EXIT_SANDBOX;
	}
	if (json) {
		json_t *o = json_pack(
			"{s:s,s:b,s:{s:i,s:b,s:b},s:b,s:{s:b,s:b,s:s},s:s,s:s}",
			"version", msb_version(),
			"user_namespaces", hi.user_namespaces,
			"cgroup", "version", hi.cgroup_version,
			"hybrid", hi.cgroup_hybrid,
			"writable", hi.cgroup_writable,
			"seccomp", hi.seccomp,
			"kvm", "present", hi.kvm,
			"standard_guest", hi.kvm_standard_guest,
			"detail", hi.kvm_detail,
			"auto_backend", msb_backend_name(hi.auto_backend),
			"vm_backend", hi.vm_ready ? "ready" : "not available");
		json_object_set_new(o, "vm_detail", json_string(hi.vm_detail));
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
		return 0;
	}
	printf("msb %s\n", msb_version());
	printf("user namespaces:  %s\n", hi.user_namespaces ? "yes" : "no");
	if (hi.cgroup_version == 0)
		printf("cgroups:          none found\n");
	else
		printf("cgroups:          v%d%s, %s\n", hi.cgroup_version,
		       hi.cgroup_hybrid ? " (hybrid: v1 controllers + v2 tree)" : "",
		       hi.cgroup_writable ? "usable for limits" :
		       "not writable here (limits fall back to rlimits)");
	printf("seccomp:          %s\n", hi.seccomp ? "yes" : "no");
	printf("kvm:              %s\n", hi.kvm ? "yes" : "no");
	printf("standard guest:   %s (%s)\n", hi.kvm_standard_guest ? "yes" : "no",
	       hi.kvm_detail);
	printf("vm backend:       %s (%s)\n", hi.vm_ready ? "ready" : "not available",
	       hi.vm_detail);
	printf("auto picks:       %s\n", msb_backend_name(hi.auto_backend));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "run", cmd_run }, { "create", cmd_create }, { "exec", cmd_exec },
		{ "ls", cmd_ls }, { "stop", cmd_stop }, { "kill", cmd_kill },
		{ "rm", cmd_rm }, { "ps", cmd_ps }, { "shell", cmd_shell },
		{ "repl", cmd_repl }, { "cp", cmd_cp },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("msb %s\n", msb_version());
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "%s: unknown command \"%s\"\n", prog, argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
