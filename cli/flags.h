/*
 * flags.h - the flags msb's commands share: each command names the groups
 * it accepts, and parse_flags fills one struct flags with sandbox options,
 * command options and the CLI's own switches.
 */
#ifndef MSB_CLI_FLAGS_H
#define MSB_CLI_FLAGS_H

#include <stddef.h>
#include <stdint.h>

#include "msb.h"

/* The groups of flags a command accepts; -h, --help in every one. */
enum {
	F_SANDBOX = 1,  /* --backend --trust --allow-fallback --memory --cpus
	                   --pids --disk --volume --rootfs --name --hostname,
	                   and --env --workdir --timeout: how to make a
	                   sandbox */
	F_COMMAND = 2,  /* --env --workdir -i --json --timeout --output-cap: how to run */
	F_REPL = 4,     /* --lang --context --timeout --json */
	F_STOP = 8,     /* --grace */
	F_FORCE = 16,   /* -f */
	F_JSON = 32,    /* --json alone */
	F_NAME = 64,    /* a sandbox NAME may come before the flags too */
	F_CP = 128,     /* --max-size */
};

struct flags {
	msb_sandbox_options so;
	msb_command_options co;
	const char **env;
	msb_volume *vols;
	size_t nenv, nvol;
	int json, interactive, force;
	int64_t timeout_ms, grace_ms;
	int64_t max_size;       /* msb cp's cap on a copy out; 0: default */
	msb_language lang;
	const char *context;
	int optind;
};

/* Parse the flags `allowed` lets through; the first non-flag argument
 * stops the parse (f->optind). Returns 0 or EXIT_USAGE (EXIT_SANDBOX when
 * out of memory); --help prints the help text and exits 0. The options in
 * f point into argv. Free f with flags_free whatever it returns. */
int parse_flags(int argc, char **argv, unsigned allowed, struct flags *f);

void flags_free(struct flags *f);

#endif
