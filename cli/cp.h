/*
 * cp.h - msb cp.
 */
#ifndef MSB_CLI_CP_H
#define MSB_CLI_CP_H

/* msb cp HOST NAME:PATH | msb cp NAME:PATH HOST */
int cmd_cp(int argc, char **argv);

#endif
