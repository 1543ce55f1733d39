/*
 * repl.h - msb repl.
 */
#ifndef MSB_CLI_REPL_H
#define MSB_CLI_REPL_H

/* msb repl [flags] NAME [CODE]: CODE from stdin when absent; exits 0 ok,
 * 1 the code failed, 124 timed out */
int cmd_repl(int argc, char **argv);

#endif
