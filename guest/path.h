/*
 * path.h - paths inside the sandbox, resolved one component at a time,
 * symlinks by their text, never through a magic link (path.c).
 */
#ifndef MSB_AGENT_PATH_H
#define MSB_AGENT_PATH_H

#include <limits.h>

/*
 * Walk `path` (relative ones start at workdir) to the directory holding
 * its final component: *dirfd gets an O_PATH fd of that directory (close
 * it) and name the component ("." when the path names a directory through
 * "/", "." or ".."). Symlinks in the directories are followed by their
 * text; so is a symlink in the final component when `follow` is set.
 * With `parents`, missing directories are created (mode 0755), as mkdir -p.
 * Returns 0 or -errno.
 */
int path_walk(const char *workdir, const char *path, int follow,
	      int parents, int *dirfd, char name[NAME_MAX + 1]);

/* Is name "." or ".."? */
int path_is_dot(const char *name);

#endif
