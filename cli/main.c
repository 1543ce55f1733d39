/*
 * main.c - msb, the command-line front end of libmsb: the table of
 * commands.  Each command is a function in the file of its group (run.c:
 * run, exec; lifecycle.c: create, ls, stop, kill, rm, ps; shell.c; repl.c;
 * cp.c; info.c) that gets argv from its own name on and returns the exit
 * status (output.h).  `msb version` and `msb help` are answered here;
 * usage.c holds the help text.
 */
#include <stdio.h>
#include <string.h>

#include "cp.h"
#include "info.h"
#include "lifecycle.h"
#include "output.h"
#include "repl.h"
#include "run.h"
#include "shell.h"
#include "usage.h"

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
		{ "repl", cmd_repl }, { "cp", cmd_cp }, { "info", cmd_info },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
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
