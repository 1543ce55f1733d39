/*
 * run.h - the commands that run one command: msb run, msb exec.
 */
#ifndef MSB_CLI_RUN_H
#define MSB_CLI_RUN_H

/* msb run [flags] [--] CMD [ARGS...] */
int cmd_run(int argc, char **argv);

/* msb exec [flags] NAME [--] CMD [ARGS...] */
int cmd_exec(int argc, char **argv);

#endif
