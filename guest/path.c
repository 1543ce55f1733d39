/*
 * path.c - paths inside the sandbox, resolved without the kernel's help.
 *
 * The agent's root is the sandbox root, so every path resolves inside the
 * sandbox's tree; what the agent has and sandboxed code has not (its
 * protocol socket, its memory, the fds of files it reads or writes) is
 * reachable only through /proc's magic links (/proc/self/fd/N,
 * /proc/self/root, /proc/self/mem ...). So paths are walked here one
 * component at a time with O_PATH|O_NOFOLLOW, and symlinks are followed by
 * their text (readlinkat), never by the kernel: a magic link's text
 * ("socket:[1234]", "/dev/null") is just a path inside the sandbox, its
 * magic is lost. openat2() would do this with RESOLVE_NO_MAGICLINKS, but
 * the seccomp filter answers ENOSYS.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "path.h"

#define MAX_SYMLINKS 40         /* as the kernel's own limit */
#define WALK_BUF (3 * PATH_MAX)

static int open_root(void)
{
	return open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void swap_fd(int *cur, int nfd)
{
	close(*cur);
	*cur = nfd;
}

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
	      int parents, int *dirfd, char name[NAME_MAX + 1])
{
	char buf[WALK_BUF], tmp[WALK_BUF];
	char comp[NAME_MAX + 1];
	int cur, links = 0, n;
	char *p;

	if (path[0] == '/')
		n = snprintf(buf, sizeof(buf), "%s", path);
	else
		n = snprintf(buf, sizeof(buf), "%s%s/%s",
			     workdir[0] == '/' ? "" : "/", workdir, path);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	if ((cur = open_root()) < 0)
		return -errno;
	p = buf;
	for (;;) {
		const char *after;
		struct stat st;
		size_t len;
		int nfd, last;
		char *end;

		while (*p == '/')
			p++;
		if (!*p) {
			strcpy(name, ".");
			*dirfd = cur;
			return 0;
		}
		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (len > NAME_MAX) {
			close(cur);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, len);
		comp[len] = 0;
		for (after = end; *after == '/'; after++)
			;
		last = !*after;
		p = end;
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			/* The kernel stops ".." at the process's root, which
			 * is the sandbox root. */
			nfd = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (nfd < 0)
				goto fail;
			swap_fd(&cur, nfd);
			continue;
		}
		if (last && !follow) {
			strcpy(name, comp);
			*dirfd = cur;
			return 0;
		}
		if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT && last) {
				strcpy(name, comp); /* to be created */
				*dirfd = cur;
				return 0;
			}
			if (errno != ENOENT || !parents)
				goto fail;
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
				goto fail;
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t tl;

			if (++links > MAX_SYMLINKS) {
				close(cur);
				return -ELOOP;
			}
			tl = readlinkat(cur, comp, tmp, PATH_MAX);
			if (tl < 0)
				goto fail;
			if (tl == 0) {
				close(cur);
				return -ENOENT;
			}
			/* The rest of the walk: the target, then what
			 * followed the link. */
			n = snprintf(tmp + tl, sizeof(tmp) - (size_t)tl, "/%s",
				     after);
			if (n < 0 || (size_t)(tl + n) >= sizeof(buf)) {
				close(cur);
				return -ENAMETOOLONG;
			}
			memcpy(buf, tmp, (size_t)(tl + n) + 1);
			p = buf;
			if (buf[0] == '/') {
				if ((nfd = open_root()) < 0)
					goto fail;
				swap_fd(&cur, nfd);
			}
			continue;
		} else if (last) {
			strcpy(name, comp);
			*dirfd = cur;
			return 0;
		}
		/* A directory on the way. O_NOFOLLOW: a symlink swapped in
		 * since the fstatat gives ENOTDIR, it is never followed. */
		nfd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0)
			goto fail;
		swap_fd(&cur, nfd);
	}
fail:
	n = errno;
	close(cur);
	return -n;
}

int path_is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}
