/*
 * usage.h - msb's help text, and the usage error that ends with it.
 */
#ifndef MSB_CLI_USAGE_H
#define MSB_CLI_USAGE_H

#include <stdio.h>

/* The help text: every command and flag, the exit statuses. */
void usage(FILE *f);

/* "msb: " fmt (with arg) on stderr, then the help text; returns
 * EXIT_USAGE for the command to exit with. */
int bad_usage(const char *fmt, const char *arg);

#endif
