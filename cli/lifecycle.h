/*
 * lifecycle.h - the commands that manage named sandboxes.
 */
#ifndef MSB_CLI_LIFECYCLE_H
#define MSB_CLI_LIFECYCLE_H

/* msb create [flags] NAME: prints the name once it runs */
int cmd_create(int argc, char **argv);

/* msb ls [--json] */
int cmd_ls(int argc, char **argv);

/* msb stop [--grace T] NAME */
int cmd_stop(int argc, char **argv);

/* msb kill NAME */
int cmd_kill(int argc, char **argv);

/* msb rm [-f] NAME... */
int cmd_rm(int argc, char **argv);

/* msb ps NAME */
int cmd_ps(int argc, char **argv);

#endif
