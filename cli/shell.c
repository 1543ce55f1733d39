/*
 * shell.c - msb shell: an interactive terminal (a PTY) in a named
 * sandbox; terminal.c relays this process's terminal to it.
 */
#include <string.h>
#include <unistd.h>

#include "named.h"
#include "output.h"
#include "shell.h"
#include "terminal.h"
#include "usage.h"

int cmd_shell(int argc, char **argv)
{
	msb_pty_options po = MSB_PTY_OPTIONS_INIT;
	msb_command_result *res = NULL;
	msb_sandbox *sb = NULL;
	msb_process *p = NULL;
	int tty = isatty(0), rc = 0;

	if (argc < 2)
		return bad_usage("%s", "shell takes NAME [-- CMD ARGS...]");
	if ((rc = connect_named(&sb, argv[1])))
		return rc;
	if (argc > 2)
		po.argv = (const char *const *)argv + 2 + !strcmp(argv[2], "--");
	if (po.argv && !po.argv[0])
		po.argv = NULL;
	if (tty)
		term_size(&po.rows, &po.cols);
	if (msb_pty_open(&p, sb, &po)) {
		print_error(argv[1]);
		msb_sandbox_free(sb);
		return EXIT_SANDBOX;
	}
	if (term_relay(p, tty) < 0) {
		msb_process_free(p);
		msb_sandbox_free(sb);
		return EXIT_SANDBOX;
	}
	if (msb_process_wait(&res, p, 5000) == 0)
		rc = res->signal ? 128 + res->signal : res->exit_code;
	else
		rc = EXIT_SANDBOX;
	msb_command_result_free(res);
	msb_process_free(p);
	msb_sandbox_free(sb);
	return rc;
}
