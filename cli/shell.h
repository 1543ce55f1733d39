/*
 * shell.h - msb shell.
 */
#ifndef MSB_CLI_SHELL_H
#define MSB_CLI_SHELL_H

/* msb shell NAME [-- CMD ARGS...]: exits with the session's status */
int cmd_shell(int argc, char **argv);

#endif
