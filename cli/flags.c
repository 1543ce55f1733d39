/*
 * flags.c - msb's flags (see flags.h): one getopt_long table, each flag
 * tagged with the groups that accept it (sizes and durations are parsed
 * by units.c; backends and trust levels by libmsb).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "units.h"
#include "output.h"
#include "usage.h"


void flags_free(struct flags *f)
{
	free(f->env);
	free(f->vols);
}

int parse_flags(int argc, char **argv, unsigned allowed, struct flags *f)
{
	enum { O_BACKEND = 256, O_MEMORY, O_CPUS, O_PIDS, O_DISK, O_TIMEOUT,
	       O_ENV, O_WORKDIR, O_VOLUME, O_ROOTFS, O_NAME, O_JSON, O_LANG,
	       O_CONTEXT, O_GRACE, O_TRUST, O_FALLBACK, O_HOSTNAME, O_OUTPUT_CAP,
	       O_MAX_SIZE };
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
		{ { "hostname", required_argument, NULL, O_HOSTNAME }, F_SANDBOX },
		{ { "env", required_argument, NULL, O_ENV }, F_SANDBOX | F_COMMAND },
		{ { "workdir", required_argument, NULL, O_WORKDIR }, F_SANDBOX | F_COMMAND },
		{ { "timeout", required_argument, NULL, O_TIMEOUT }, F_SANDBOX | F_COMMAND | F_REPL },
		{ { "output-cap", required_argument, NULL, O_OUTPUT_CAP }, F_COMMAND },
		{ { "json", no_argument, NULL, O_JSON }, F_COMMAND | F_REPL | F_JSON },
		{ { "interactive", no_argument, NULL, 'i' }, F_COMMAND },
		{ { "lang", required_argument, NULL, O_LANG }, F_REPL },
		{ { "context", required_argument, NULL, O_CONTEXT }, F_REPL },
		{ { "grace", required_argument, NULL, O_GRACE }, F_STOP },
		{ { "force", no_argument, NULL, 'f' }, F_FORCE },
		{ { "max-size", required_argument, NULL, O_MAX_SIZE }, F_CP },
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
			if (msb_backend_parse(optarg, &f->so.backend))
				return bad_usage("--backend must be os, vm or "
						 "auto, not \"%s\"", optarg);
			break;
		case O_TRUST:
			if (msb_trust_parse(optarg, &f->so.trust))
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
		case O_OUTPUT_CAP:
			if ((f->co.output_cap = parse_size(optarg)) <= 0)
				return bad_usage("bad --output-cap \"%s\" (try 64K or 100M)", optarg);
			break;
		case O_MAX_SIZE:
			if ((f->max_size = parse_size(optarg)) <= 0)
				return bad_usage("bad --max-size \"%s\" (try 2G)", optarg);
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
		case O_HOSTNAME:
			/* libmsb checks it and says what is wrong. */
			f->so.hostname = optarg;
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
