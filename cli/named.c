/*
 * named.c - reaching a named sandbox from the command line (see named.h).
 * The sandboxes themselves, and where they live, are libmsb's.
 */
#include <string.h>

#include "named.h"
#include "output.h"

int connect_named(msb_sandbox **sb, const char *name)
{
	if (msb_sandbox_connect(sb, name)) {
		print_error(name);
		return EXIT_SANDBOX;
	}
	return 0;
}

char *sandbox_ref(char *arg, char **path)
{
	char *colon = strchr(arg, ':');

	if (arg[0] == '/' || arg[0] == '.' || !colon || colon == arg)
		return NULL;
	*colon = '\0';
	*path = colon + 1;
	return arg;
}
