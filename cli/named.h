/*
 * named.h - how the commands reach a named sandbox: by its NAME, or by a
 * NAME:PATH that points inside it.
 */
#ifndef MSB_CLI_NAMED_H
#define MSB_CLI_NAMED_H

#include "msb.h"

/* Connect *sb to the named sandbox: 0, or EXIT_SANDBOX after saying why. */
int connect_named(msb_sandbox **sb, const char *name);

/* "NAME:PATH" names a sandbox path; a path starting with '/' or '.' is the
 * host's. Returns the sandbox part split off in *path, or NULL. */
char *sandbox_ref(char *arg, char **path);

#endif
