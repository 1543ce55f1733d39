/*
 * repl_lang.h - the REPL's languages (repl_lang.c).
 */
#ifndef MSB_AGENT_REPL_LANG_H
#define MSB_AGENT_REPL_LANG_H

#include <stddef.h>

#include "msb.h"

#define REPL_ARGV_MAX 8

struct repl_language {
	msb_language lang;
	const char *name;
	const char *driver;
	const char *const *programs; /* tried in order */
	const char *hint;
};

/* By ABI value, or by its name in requests ("python", "node", "shell");
 * NULL for none. */
const struct repl_language *repl_lang_of(msb_language lang);
const struct repl_language *repl_lang_named(const char *name);

/* The argv that runs the driver with l->programs[prog]. */
void repl_lang_argv(const struct repl_language *l, size_t prog,
		    const char *argv[REPL_ARGV_MAX]);

#endif
