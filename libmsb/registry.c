/*
 * registry.c - named, detached sandboxes: their entries under the state
 * directory, from which any process of the same user finds, connects to
 * (msb_sandbox_connect, in sandbox.c, through msb_registry_open), lists,
 * kills and removes them.
 *
 *   <state dir>/<name>/agent.sock   the agent's listening socket (vm
 *                                   backend: msb-vmm's, one guest port per
 *                                   connection)
 *   <state dir>/<name>/state.json   {"name","pid","created_ms","backend",
 *                                    "stopped"}; pid: the agent's stage 0
 *                                   (os) or msb-vmm (vm)
 *   <state dir>/<name>/console.log  vm backend: the guest's serial console
 *                                   and msb-vmm's messages
 *
 * The state directory is the first of
 *
 *   $MSB_STATE_DIR
 *   $XDG_RUNTIME_DIR/msb
 *   /run/msb                       for root
 *   $XDG_STATE_HOME/msb, else $HOME/.local/state/msb
 *   /tmp/msb-<uid>
 *
 * that applies. The threat is another local user who makes the path first
 * (a directory of theirs, a symlink, a file) to lock this user out or to
 * steer the sandboxes' sockets. The first three are set by the user or only
 * root can create them. One under the home is taken only when its base
 * ($XDG_STATE_HOME, or $HOME) is a directory of this user's that others
 * cannot write, when it can be made, and when it is short enough that the
 * longest entry's socket path fits in a sockaddr_un; so the choice depends
 * on nothing another user can make (unless $XDG_STATE_HOME points where
 * others write). Only then /tmp, where anyone can make the name first. Whichever it is, it is created 0700 and must be a
 * real directory (checked with lstat after mkdir, never followed through a
 * symlink) owned by the user and closed to others, else MSB_EPERM naming
 * the path and its owner; /tmp itself must be sticky, so that nobody else
 * can swap the checked directory for another afterwards.
 *
 * An entry is running when its socket accepts a connection; an entry that
 * is neither running nor marked stopped was left by a crash: it is reported
 * EXITED and its socket removed.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent_link.h"
#include "backend.h"
#include "error.h"
#include "names.h"
#include "registry.h"

#define NAME_MAX_LEN 63
/* The longest state directory every entry's socket,
 * "<dir>/<name>/agent.sock", fits under (sun_path holds the NUL too). */
#define SOCK_DIR_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1 - \
		      (1 + NAME_MAX_LEN + sizeof("/agent.sock") - 1))

/* "uid N (login)" of uid, into buf. */
static const char *owner_name(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char pwbuf[1024];

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
		snprintf(buf, size, "uid %u (%s)", (unsigned)uid, res->pw_name);
	else
		snprintf(buf, size, "uid %u", (unsigned)uid);
	return buf;
}

/*
 * Make path (0700) unless it exists, and check that it is a private
 * directory of this user: lstat, so that a symlink is refused, never
 * followed. squat: the fallback in /tmp, where another user may have made
 * it first; its error says so, with why no better place was taken.
 */
static int own_dir(const char *path, const char *squat)
{
	char owner[160], what[64];
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return msb_fail(MSB_EIO, errno, "set MSB_STATE_DIR to a directory "
				"you own", "cannot create the state directory %s",
				path);
	if (lstat(path, &st) < 0)
		return msb_fail(MSB_EIO, errno, NULL, "%s", path);
	if (S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 077))
		return 0;
	if (S_ISLNK(st.st_mode))
		snprintf(what, sizeof(what), "is a symbolic link");
	else if (!S_ISDIR(st.st_mode))
		snprintf(what, sizeof(what), "is not a directory");
	else if (st.st_uid != geteuid())
		snprintf(what, sizeof(what), "is another user's");
	else
		snprintf(what, sizeof(what), "is open to other users (mode %04o)",
			 (unsigned)(st.st_mode & 07777));
	owner_name(st.st_uid, owner, sizeof(owner));
	if (!squat)
		return msb_fail(MSB_EPERM, 0, "remove it, or set MSB_STATE_DIR to a "
				"directory only you can write",
				"the state directory %s %s (owner: %s; this user: "
				"uid %u)", path, what, owner, (unsigned)geteuid());
	return msb_fail(MSB_EPERM, 0, "another user may have made it to lock you "
			"out: set XDG_RUNTIME_DIR or MSB_STATE_DIR to a directory only "
			"you can write, or have root remove it",
			"the state directory %s %s (owner: %s; this user: uid %u), "
			"and there is none under the home: %s", path, what, owner,
			(unsigned)geteuid(), squat);
}

/*
 * $XDG_STATE_HOME/msb, else $HOME/.local/state/msb, made with its parents
 * below the base. 1, with why, when neither can be had (no base of this
 * user's, too long, cannot be made); else own_dir()'s answer.
 */
static int home_dir(char *buf, size_t size, char *why, size_t wsize)
{
	const char *bases[2] = { getenv("XDG_STATE_HOME"), getenv("HOME") };
	const char *subs[2] = { "/msb", "/.local/state/msb" };
	struct stat st;

	snprintf(why, wsize, "HOME is not set");
	for (int i = 0; i < 2; i++) {
		const char *base = bases[i];
		size_t blen;
		int n;

		if (!base || base[0] != '/')
			continue;
		blen = strlen(base);
		n = snprintf(buf, size, "%s%s", base, subs[i]);
		if (n < 0 || (size_t)n >= size || (size_t)n > SOCK_DIR_MAX) {
			snprintf(why, wsize, "%.*s%s is too long for a socket path",
				 (int)(wsize / 2), base, subs[i]);
			continue;
		}
		if (i == 0)
			mkdir(base, 0700); /* the XDG base directory spec's way */
		if (stat(base, &st) < 0) {
			snprintf(why, wsize, "%.*s: %s", (int)(wsize / 2), base,
				 strerror(errno));
			continue;
		}
		if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
		    (st.st_mode & S_IWOTH)) {
			snprintf(why, wsize, "%.*s is not a directory of this user's",
				 (int)(wsize / 2), base);
			continue;
		}
		/* the parents below the base: the user's own ground */
		for (char *p = buf + blen + 1; (p = strchr(p, '/')); p++) {
			*p = '\0';
			mkdir(buf, 0700);
			*p = '/';
		}
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			snprintf(why, wsize, "cannot create %.*s: %s", (int)(wsize / 2),
				 buf, strerror(errno));
			continue;
		}
		return own_dir(buf, NULL);
	}
	return 1;
}

/* /tmp/msb-<uid>, in a /tmp whose sticky bit keeps it ours once made. */
static int tmp_dir(char *buf, size_t size, const char *why)
{
	struct stat st;

	snprintf(buf, size, "/tmp/msb-%u", (unsigned)geteuid());
	if (lstat("/tmp", &st) < 0 || !S_ISDIR(st.st_mode) ||
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)))
		return msb_fail(MSB_EPERM, 0, "set XDG_RUNTIME_DIR or MSB_STATE_DIR "
				"to a directory only you can write",
				"/tmp is not a sticky directory: others could replace "
				"the state directory %s, and there is none under the "
				"home: %s", buf, why);
	return own_dir(buf, why);
}

static int state_dir(char *buf, size_t size)
{
	const char *env = getenv("MSB_STATE_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
	char why[PATH_MAX / 8];
	int n, rc;

	if (env && env[0])
		n = snprintf(buf, size, "%s", env);
	else if (xdg && xdg[0] == '/')
		n = snprintf(buf, size, "%s/msb", xdg);
	else if (geteuid() == 0)
		n = snprintf(buf, size, "/run/msb");
	else if ((rc = home_dir(buf, size, why, sizeof(why))) <= 0)
		return rc;
	else
		return tmp_dir(buf, size, why);
	if (n < 0 || (size_t)n >= size)
		return msb_fail(MSB_EINVAL, 0, "set MSB_STATE_DIR to a shorter path",
				"the state directory path is too long");
	return own_dir(buf, NULL);
}

int msb_registry_check_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NAME_MAX_LEN || name[0] == '.' || name[0] == '-' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789_.-") != n)
		return msb_fail(MSB_EINVAL, 0, "use 1 to 63 letters, digits, '.', "
				"'_' or '-', starting with a letter or digit",
				"\"%s\" is not a valid sandbox name", name ? name : "");
	return 0;
}

/* <state dir>/<name>[/<file>] */
static int entry_path(char *buf, size_t size, const char *name, const char *file)
{
	char dir[PATH_MAX];
	int rc, n;

	if ((rc = msb_registry_check_name(name)) || (rc = state_dir(dir, sizeof(dir))))
		return rc;
	n = file ? snprintf(buf, size, "%s/%s/%s", dir, name, file) :
		   snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size)
		return msb_fail(MSB_EINVAL, 0, "set MSB_STATE_DIR to a shorter path",
				"the sandbox's state path is too long");
	return 0;
}

/* The backend an entry records (msb_registry_record); os when it names
 * none that this libmsb has. */
static msb_backend state_backend(const json_t *st)
{
	const char *name = json_string_value(json_object_get(st, "backend"));
	msb_backend b;

	if (msb_backend_lookup(name, &b) || !msb_backend_get(b))
		return MSB_BACKEND_OS;
	return b;
}

static json_t *read_state(const char *name);

/* Running: its agent (stage 0, or msb-vmm: the pid recorded in its state,
 * which the caller passes when it has read it already) is alive and its
 * socket accepts. Both, so that a dying agent, or a socket some other
 * process holds open, never makes a crashed sandbox look alive. */
static int is_running(const char *name, const json_t *state)
{
	char sock[PATH_MAX];
	json_t *own = state ? NULL : read_state(name);
	pid_t pid = (pid_t)json_integer_value(json_object_get(state ? state : own, "pid"));
	int fd;

	json_decref(own);
	if (entry_path(sock, sizeof(sock), name, "agent.sock"))
		return 0;
	if (pid > 1 && !msb_is_agent(pid))
		return 0;
	fd = msb_unix_connect(sock);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static json_t *read_state(const char *name)
{
	char path[PATH_MAX];
	json_error_t jerr;

	if (entry_path(path, sizeof(path), name, "state.json"))
		return NULL;
	return json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
}

static int write_state(const char *name, json_t *state)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int rc;

	if ((rc = entry_path(path, sizeof(path), name, "state.json")))
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (json_dump_file(state, tmp, JSON_COMPACT) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return msb_fail(MSB_EIO, errno, NULL, "cannot write %s", path);
	}
	return 0;
}

int msb_registry_prepare(const char *name, char **socket_path)
{
	char dir[PATH_MAX], sock[PATH_MAX];
	int rc;

	if ((rc = entry_path(dir, sizeof(dir), name, NULL)) ||
	    (rc = entry_path(sock, sizeof(sock), name, "agent.sock")))
		return rc;
	if (is_running(name, NULL))
		return msb_fail(MSB_EEXISTS, 0, "stop it first, or pick another "
				"name", "a sandbox named %s is running", name);
	/* Whatever is left of an earlier one goes. */
	unlink(sock);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return msb_fail(MSB_EIO, errno, NULL, "cannot create %s", dir);
	*socket_path = strdup(sock);
	if (!*socket_path)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	return 0;
}

int msb_registry_record(const char *name, pid_t pid, msb_backend backend)
{
	json_t *st = json_pack("{s:s,s:I,s:I,s:s,s:b}", "name", name,
			       "pid", (json_int_t)pid,
			       "created_ms", (json_int_t)time(NULL) * 1000,
			       "backend", msb_backend_name(backend),
			       "stopped", 0);
	int rc = st ? write_state(name, st) :
		      msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");

	json_decref(st);
	return rc;
}

static void mark_stopped(const char *name)
{
	json_t *st = read_state(name);
	char sock[PATH_MAX];

	if (st) {
		json_object_set_new(st, "stopped", json_true());
		json_object_set_new(st, "pid", json_integer(0));
		write_state(name, st);
		json_decref(st);
	}
	if (entry_path(sock, sizeof(sock), name, "agent.sock") == 0)
		unlink(sock);
}

void msb_registry_stopped(const char *name)
{
	mark_stopped(name);
}

int msb_registry_open(const char *name, int *fd, msb_backend *backend)
{
	char sock[PATH_MAX];
	json_t *st;
	int rc;

	if ((rc = entry_path(sock, sizeof(sock), name, "agent.sock")))
		return rc;
	st = read_state(name);
	if (!st)
		return msb_fail(MSB_ENOTFOUND, 0, "list them with `msb ls`",
				"no sandbox named %s", name);
	*fd = is_running(name, st) ? msb_unix_connect(sock) : -1;
	*backend = state_backend(st);
	json_decref(st);
	if (*fd < 0)
		return msb_fail(MSB_ESTATE, 0, "start a new one with `msb create`",
				"the sandbox %s is not running", name);
	return 0;
}

static int cmp_info(const void *x, const void *y)
{
	return strcmp(((const msb_sandbox_info *)x)->name,
		      ((const msb_sandbox_info *)y)->name);
}

int msb_sandbox_list_all(msb_sandbox_list **out)
{
	char dir[PATH_MAX];
	msb_sandbox_list *l;
	struct dirent *e;
	size_t cap = 0;
	DIR *d;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_sandbox_list pointer", "out is NULL");
	*out = NULL;
	if ((rc = state_dir(dir, sizeof(dir))))
		return rc;
	l = calloc(1, sizeof(*l));
	d = opendir(dir);
	if (!l || !d) {
		free(l);
		if (d)
			closedir(d);
		return msb_fail(MSB_EIO, errno, NULL, "cannot read %s", dir);
	}
	while ((e = readdir(d))) {
		json_t *st;
		msb_sandbox_info *it;

		if (e->d_name[0] == '.' || msb_registry_check_name(e->d_name))
			continue;
		st = read_state(e->d_name);
		if (!st)
			continue;
		if (l->len == cap) {
			msb_sandbox_info *ni = realloc(l->items, (cap = cap ? cap * 2 : 8) *
						       sizeof(*ni));
			if (!ni) {
				json_decref(st);
				break;
			}
			l->items = ni;
		}
		it = &l->items[l->len];
		memset(it, 0, sizeof(*it));
		it->name = strdup(e->d_name);
		if (!it->name) {
			json_decref(st);
			break;
		}
		it->backend = state_backend(st);
		it->created_ms = json_integer_value(json_object_get(st, "created_ms"));
		if (is_running(e->d_name, st)) {
			it->status = MSB_STATUS_RUNNING;
			it->pid = json_integer_value(json_object_get(st, "pid"));
		} else if (json_is_true(json_object_get(st, "stopped"))) {
			it->status = MSB_STATUS_STOPPED;
		} else {
			/* Left by a crash, or ended by its wall-time limit:
			 * never report it running; its socket goes. */
			char sock[PATH_MAX];

			it->status = MSB_STATUS_EXITED;
			if (entry_path(sock, sizeof(sock), e->d_name, "agent.sock") == 0)
				unlink(sock);
		}
		l->len++;
		json_decref(st);
	}
	closedir(d);
	if (l->len)
		qsort(l->items, l->len, sizeof(*l->items), cmp_info);
	*out = l;
	msb_error_clear();
	return 0;
}

void msb_sandbox_list_free(msb_sandbox_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->len; i++)
		free((char *)l->items[i].name);
	free(l->items);
	free(l);
}

/* Kill it the way its backend needs, wherever its owner is. */
int msb_sandbox_kill(const char *name)
{
	json_t *st;
	pid_t pid;
	msb_backend backend;
	int rc;

	if ((rc = msb_registry_check_name(name)))
		return rc;
	st = read_state(name);
	if (!st)
		return msb_fail(MSB_ENOTFOUND, 0, "list them with `msb ls`",
				"no sandbox named %s", name);
	pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
	backend = state_backend(st);
	json_decref(st);
	msb_backend_get(backend)->kill_detached(pid);
	mark_stopped(name);
	return msb_ok();
}

int msb_sandbox_remove(const char *name)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int rc;

	if ((rc = entry_path(dir, sizeof(dir), name, NULL)))
		return rc;
	if (is_running(name, NULL))
		return msb_fail(MSB_ESTATE, 0, "stop it first (msb stop NAME)",
				"the sandbox %s is running", name);
	if (access(dir, F_OK) < 0)
		return msb_fail(MSB_ENOTFOUND, 0, "list them with `msb ls`",
				"no sandbox named %s", name);
	entry_path(path, sizeof(path), name, "state.json");
	unlink(path);
	entry_path(path, sizeof(path), name, "agent.sock");
	unlink(path);
	entry_path(path, sizeof(path), name, "console.log");
	unlink(path);
	if (rmdir(dir) < 0)
		return msb_fail(MSB_EIO, errno, "remove what else is in it by hand",
				"cannot remove %s", dir);
	return msb_ok();
}
