/*
 * info.h - msb info.
 */
#ifndef MSB_CLI_INFO_H
#define MSB_CLI_INFO_H

/* msb info [--json] */
int cmd_info(int argc, char **argv);

#endif
