/*
 * repl_lang.c - the REPL's languages: the programs that run each one's
 * driver (guest/repl/driver.*, compiled into the agent), in order of
 * preference, how to hand them the driver, and the hint when none is
 * there.
 */
#include <stddef.h>
#include <string.h>

#include "repl_lang.h"

extern const char repl_driver_python[], repl_driver_node[], repl_driver_shell[];

static const char *const py_programs[] = { "python3", NULL };
static const char *const node_programs[] = { "node", "nodejs", NULL };
static const char *const sh_programs[] = { "bash", "sh", NULL };

static const struct repl_language languages[] = {
	{ REPL_PYTHON, "python", repl_driver_python, py_programs,
	  "install Python in the sandbox's root filesystem (Debian: apt-get "
	  "install python3), or give a --rootfs that has python3 on PATH" },
	{ REPL_NODE, "node", repl_driver_node, node_programs,
	  "install Node.js in the sandbox's root filesystem (Debian: apt-get "
	  "install nodejs), or give a --rootfs that has node on PATH" },
	{ REPL_SHELL, "shell", repl_driver_shell, sh_programs,
	  "install bash (or at least a POSIX sh) in the sandbox's root "
	  "filesystem, or give a --rootfs that has one on PATH" },
};

const struct repl_language *repl_lang_of(enum repl_lang_id lang)
{
	for (size_t i = 0; i < sizeof(languages) / sizeof(languages[0]); i++)
		if (languages[i].lang == lang)
			return &languages[i];
	return NULL;
}

const struct repl_language *repl_lang_named(const char *name)
{
	for (size_t i = 0; name && i < sizeof(languages) / sizeof(languages[0]); i++)
		if (!strcmp(languages[i].name, name))
			return &languages[i];
	return NULL;
}

void repl_lang_argv(const struct repl_language *l, size_t prog,
		    const char *argv[REPL_ARGV_MAX])
{
	int k = 0;

	argv[k++] = l->programs[prog];
	if (l->lang == REPL_PYTHON) {
		argv[k++] = "-u";
		argv[k++] = "-c";
	} else if (l->lang == REPL_NODE) {
		argv[k++] = "--expose-internals";
		argv[k++] = "-e";
	} else {
		argv[k++] = "-c";
	}
	argv[k++] = l->driver;
	if (l->lang == REPL_SHELL)
		argv[k++] = "msb-repl"; /* $0 */
	argv[k] = NULL;
}
