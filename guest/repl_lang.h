/*
 * repl_lang.h - the REPL's languages (repl_lang.c).
 */
#ifndef MSB_AGENT_REPL_LANG_H
#define MSB_AGENT_REPL_LANG_H

#include <stddef.h>

#define REPL_ARGV_MAX 8

/* The languages; on the wire they travel by name only. */
enum repl_lang_id {
	REPL_PYTHON = 1,
	REPL_NODE = 2,
	REPL_SHELL = 3
};

struct repl_language {
	enum repl_lang_id lang;
	const char *name;
	const char *driver;
	const char *const *programs; /* tried in order */
	const char *hint;
};

/* By id, or by its name in requests ("python", "node", "shell"); NULL for
 * none. */
const struct repl_language *repl_lang_of(enum repl_lang_id lang);
const struct repl_language *repl_lang_named(const char *name);

/* The argv that runs the driver with l->programs[prog]. */
void repl_lang_argv(const struct repl_language *l, size_t prog,
		    const char *argv[REPL_ARGV_MAX]);

#endif
