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
"usage: msb run [options] [--] CMD [ARGS...]\n"
"       msb info [--json]\n"
"       msb version\n"
"\n"
"msb run runs one command in a fresh sandbox and exits with its status.\n"
"  --backend os|vm|auto   isolation backend (default auto)\n"
"  --memory SIZE          memory limit, e.g. 256M, 1G (default 512M)\n"
"  --cpus N               CPU limit, fractions allowed (default 1)\n"
"  --pids N               process limit (default 512)\n"
"  --disk SIZE            size of the writable area /tmp, /workspace, /root\n"
"                         (default 512M)\n"
"  --timeout DURATION     kill the command after e.g. 10s, 500ms, 2m\n"
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
"125 if the sandbox failed; 126 cannot execute; 127 not found; 2 usage.\n");
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

static void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))

static int cmd_run(int argc, char **argv)
{
	enum { O_BACKEND = 256, O_MEMORY, O_CPUS, O_PIDS, O_DISK, O_TIMEOUT,
	       O_ENV, O_WORKDIR, O_VOLUME, O_ROOTFS, O_NAME, O_JSON };
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "pids", required_argument, NULL, O_PIDS },
		{ "disk", required_argument, NULL, O_DISK },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "env", required_argument, NULL, O_ENV },
		{ "workdir", required_argument, NULL, O_WORKDIR },
		{ "volume", required_argument, NULL, O_VOLUME },
		{ "rootfs", required_argument, NULL, O_ROOTFS },
		{ "name", required_argument, NULL, O_NAME },
		{ "json", no_argument, NULL, O_JSON },
		{ "interactive", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	msb_sandbox_options so = MSB_SANDBOX_OPTIONS_INIT;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	msb_sandbox *sb = NULL;
	_cleanup_free_ const char **env = calloc((size_t)argc + 1, sizeof(char *));
	_cleanup_free_ msb_volume *vols = calloc((size_t)argc + 1, sizeof(msb_volume));
	size_t nenv = 0, nvol = 0, in_len = 0;
	char *in_data = NULL;
	int json = 0, interactive = 0, c, rc, status;
	char *end;

	if (!env || !vols) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return EXIT_SANDBOX;
	}
	argv[0] = "msb run";
	optind = 1;
	while ((c = getopt_long(argc, argv, "+ih", longopts, NULL)) != -1) {
		switch (c) {
		case O_BACKEND:
			if (!strcmp(optarg, "os"))
				so.backend = MSB_BACKEND_OS;
			else if (!strcmp(optarg, "vm"))
				so.backend = MSB_BACKEND_VM;
			else if (!strcmp(optarg, "auto"))
				so.backend = MSB_BACKEND_AUTO;
			else
				return bad_usage("--backend must be os, vm or "
						 "auto, not \"%s\"", optarg);
			break;
		case O_MEMORY:
			if ((so.memory_bytes = parse_size(optarg)) <= 0)
				return bad_usage("bad --memory \"%s\" (try 256M)",
						 optarg);
			break;
		case O_DISK:
			if ((so.disk_bytes = parse_size(optarg)) <= 0)
				return bad_usage("bad --disk \"%s\" (try 1G)",
						 optarg);
			break;
		case O_CPUS:
			errno = 0;
			so.cpus = strtod(optarg, &end);
			if (errno || *end || !(so.cpus > 0))
				return bad_usage("bad --cpus \"%s\" (try 1 or "
						 "0.5)", optarg);
			break;
		case O_PIDS:
			errno = 0;
			so.pids = strtoll(optarg, &end, 10);
			if (errno || *end || so.pids <= 0)
				return bad_usage("bad --pids \"%s\" (a positive "
						 "number)", optarg);
			break;
		case O_TIMEOUT:
			if ((co.timeout_ms = parse_duration(optarg)) <= 0)
				return bad_usage("bad --timeout \"%s\" (try 10s "
						 "or 500ms)", optarg);
			break;
		case O_ENV:
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return bad_usage("--env takes KEY=VALUE, not "
						 "\"%s\"", optarg);
			env[nenv++] = optarg;
			break;
		case O_WORKDIR:
			so.workdir = optarg;
			break;
		case O_VOLUME: {
			char *host = optarg, *sbx = strchr(optarg, ':'), *mode;

			if (!sbx || sbx == host || !sbx[1])
				return bad_usage("--volume takes HOST:SANDBOX"
						 "[:ro], not \"%s\"", optarg);
			*sbx++ = '\0';
			mode = strchr(sbx, ':');
			if (mode) {
				*mode++ = '\0';
				if (strcmp(mode, "ro") && strcmp(mode, "rw"))
					return bad_usage("--volume mode must be "
							 "ro or rw, not \"%s\"",
							 mode);
				vols[nvol].read_only = !strcmp(mode, "ro");
			}
			vols[nvol].host_path = host;
			vols[nvol].sandbox_path = sbx;
			nvol++;
			break;
		}
		case O_ROOTFS:
			so.rootfs = optarg;
			break;
		case O_NAME:
			so.name = optarg;
			break;
		case O_JSON:
			json = 1;
			break;
		case 'i':
			interactive = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return bad_usage("%s", "run: no command given");
	so.env = nenv ? env : NULL;
	so.volumes = nvol ? vols : NULL;
	so.volumes_len = nvol;
	co.argv = (const char *const *)argv + optind;
	if (interactive) {
		in_data = read_all_stdin(&in_len);
		co.stdin_data = in_data ? in_data : "";
		co.stdin_len = in_data ? in_len : 0;
	}

	if ((rc = msb_sandbox_create(&sb, &so))) {
		print_error("cannot create the sandbox");
		status = rc == MSB_EINVAL || rc == MSB_EVERSION ? EXIT_USAGE :
								   EXIT_SANDBOX;
		goto out;
	}
	if ((rc = msb_sandbox_start(sb))) {
		print_error("cannot start the sandbox");
		status = EXIT_SANDBOX;
		goto out;
	}
	warn_enforcement(sb);
	rc = json ? msb_command_run(&res, sb, &co) :
		    msb_command_run_stream(&res, sb, &co, stream_cb, NULL);
	if (rc) {
		print_error(argv[optind]);
		status = rc == MSB_ENOTFOUND ? EXIT_NOT_FOUND :
			 rc == MSB_EPERM ? EXIT_CANNOT_EXEC :
			 rc == MSB_EINVAL ? EXIT_CANNOT_EXEC : EXIT_SANDBOX;
		goto out;
	}
	status = res->signal ? 128 + res->signal : res->exit_code;
	if (res->timed_out && !json)
		fprintf(stderr, "%s: %s: timed out after %lld ms, killed\n",
			prog, argv[optind], (long long)co.timeout_ms);
	if (json) {
		json_t *enf = json_object();
		json_t *o;

		json_object_set_new(enf, "memory", json_string(msb_enforcement_name(
			msb_sandbox_enforcement(sb, MSB_LIMIT_MEMORY))));
		json_object_set_new(enf, "cpu", json_string(msb_enforcement_name(
			msb_sandbox_enforcement(sb, MSB_LIMIT_CPU))));
		json_object_set_new(enf, "pids", json_string(msb_enforcement_name(
			msb_sandbox_enforcement(sb, MSB_LIMIT_PIDS))));
		o = json_pack("{s:i,s:i,s:b,s:I,s:o,s:o,s:b,s:b,s:{s:s,s:s,s:o}}",
			      "exit_code", res->exit_code, "signal", res->signal,
			      "timed_out", res->timed_out,
			      "elapsed_us", (json_int_t)res->elapsed_us,
			      "stdout", bytes_json(&res->out),
			      "stderr", bytes_json(&res->err),
			      "stdout_truncated", res->out_truncated,
			      "stderr_truncated", res->err_truncated,
			      "sandbox", "name", msb_sandbox_name(sb),
			      "backend", msb_backend_name(msb_sandbox_backend(sb)),
			      "enforcement", enf);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	}
out:
	msb_command_result_free(res);
	msb_sandbox_free(sb);
	free(in_data);
	return status;
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
			"vm_backend", "not available in this version");
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
	printf("vm backend:       not available in this version\n");
	printf("auto picks:       %s\n", msb_backend_name(hi.auto_backend));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
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
