/*
 * cgroup.c - the sandbox's cgroup (stage 0, on the host).
 *
 * cgroup v2 ("pure": /sys/fs/cgroup/cgroup.controllers exists):
 *   - as root: /sys/fs/cgroup/msb/<name>-<pid>, with +memory +pids +cpu
 *     enabled in the subtree_control of / and /msb;
 *   - otherwise (or if that fails): a delegated subtree, i.e. a sibling
 *     <parent of our own cgroup>/msb-<name>-<pid> when that parent is ours
 *     to write. Our own cgroup holds processes (us, and libmsb's caller), so
 *     the no-internal-processes rule forbids enabling controllers in it;
 *     its parent, if delegated, already has them enabled for its children.
 * cgroup v1 (anything else, including the v1/v2 hybrid): for each of the
 *   memory, pids and cpu hierarchies, <mount>/<own path>/msb-<pid>.
 *
 * Everything is best effort: whatever cannot be set up is left NULL and
 * the limit falls back to rlimits (memory, pids) or is not enforced (cpu).
 * Stale directories of sandboxes whose stage 0 was SIGKILLed (and so could
 * not clean up) are removed the next time a sandbox is created beside them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"
#include "base.h"
#include "cgroup.h"

#ifndef CG2_ROOT
#define CG2_ROOT "/sys/fs/cgroup"
#endif

static const char *const ctrl_name[CG_NCTRL] = { "memory", "pids", "cpu" };

static int write_str(const char *dir, const char *file, const char *s)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = strlen(s);
	ssize_t n = write(fd, s, len);
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)len ? 0 : -1;
}

/* Read a small file into buf as a NUL-terminated string; 0 or -1. */
static int read_str(const char *dir, const char *file, char *buf, size_t size)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Is word in a list separated by any of seps? */
static int has_word(const char *list, const char *word, const char *seps)
{
	size_t wl = strlen(word);
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, seps);
		if (n == wl && strncmp(p, word, wl) == 0)
			return 1;
		p += n;
		if (*p)
			p++;
	}
	return 0;
}


/* Our own cgroup path for a v1 controller (or the v2 entry if ctrl is NULL),
 * from /proc/self/cgroup. */
static int own_path(const char *ctrl, char *out, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1, *path = c2 + 1;
		int match = ctrl ? has_word(ctrls, ctrl, ",")
				 : (strcmp(line, "0") == 0 && *ctrls == '\0');
		if (match) {
			if (snprintf(out, size, "%s", path) >= (int)size)
				return -1;
			return 0;
		}
	}
	return -1;
}

/* The v1 hierarchy with controller ctrl: mount point and its root. */
static int v1_mount(const char *ctrl, char *mnt, size_t msize, char *root, size_t rsize)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		/* id parent maj:min root mountpoint opts [optional...] - type src superopts */
		char *dash = strstr(line, " - ");
		if (!dash)
			continue;
		*dash = '\0';
		char *rest = dash + 3;
		char *type = strtok(rest, " ");
		char *src = type ? strtok(NULL, " ") : NULL;
		char *super = src ? strtok(NULL, " ") : NULL;
		if (!super || strcmp(type, "cgroup") != 0 || !has_word(super, ctrl, ","))
			continue;
		char *save = NULL;
		char *fields[5];
		char *p = line;
		int i;
		for (i = 0; i < 5; i++) {
			fields[i] = strtok_r(p, " ", &save);
			p = NULL;
			if (!fields[i])
				break;
		}
		if (i < 5)
			continue;
		mountinfo_unescape(fields[3]);
		mountinfo_unescape(fields[4]);
		if (snprintf(root, rsize, "%s", fields[3]) >= (int)rsize ||
		    snprintf(mnt, msize, "%s", fields[4]) >= (int)msize)
			return -1;
		return 0;
	}
	return -1;
}

/* Remove directories under parent named <prefix>...-<pid> whose pid is gone:
 * left behind by a stage 0 that was SIGKILLed. rmdir fails harmlessly on
 * anything still populated. */
static void sweep(const char *parent, const char *prefix)
{
	DIR *d = opendir(parent);
	if (!d)
		return;
	size_t pl = strlen(prefix);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || strncmp(e->d_name, prefix, pl) != 0)
			continue;
		const char *dash = strrchr(e->d_name, '-');
		if (!dash || !dash[1] || strspn(dash + 1, "0123456789") != strlen(dash + 1))
			continue;
		long pid = strtol(dash + 1, NULL, 10);
		if (pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char path[4096];
		if (snprintf(path, sizeof(path), "%s/%s", parent, e->d_name) < (int)sizeof(path))
			(void)rmdir(path);
	}
	closedir(d);
}

/* Write one controller's limit into dir. */
static int set_limit(int version, int c, const char *dir, const struct agent_config *cfg)
{
	char v[64];
	switch (c) {
	case CG_MEMORY:
		if (cfg->w.memory_bytes <= 0)
			return -1;
		snprintf(v, sizeof(v), "%lld", (long long)cfg->w.memory_bytes);
		if (version == 1) {
			if (write_str(dir, "memory.limit_in_bytes", v) < 0)
				return -1;
			/* memory+swap: without it the sandbox could swap past the limit
			 * (absent when swap accounting is off: then there is no swap
			 * accounting to dodge either way). */
			(void)write_str(dir, "memory.memsw.limit_in_bytes", v);
			return 0;
		}
		if (write_str(dir, "memory.max", v) < 0)
			return -1;
		(void)write_str(dir, "memory.swap.max", "0");
		return 0;
	case CG_PIDS:
		if (cfg->w.pids <= 0)
			return -1;
		snprintf(v, sizeof(v), "%lld", (long long)cfg->w.pids);
		return write_str(dir, "pids.max", v);
	case CG_CPU: {
		if (!(cfg->w.cpus > 0))
			return -1;
		double q = cfg->w.cpus * 100000.0;
		long long quota = q > 1e12 ? (long long)1e12 : (long long)(q + 0.5);
		if (quota < 1000)
			quota = 1000; /* the kernel's minimum is 1 ms */
		if (version == 1) {
			if (write_str(dir, "cpu.cfs_period_us", "100000") < 0)
				return -1;
			snprintf(v, sizeof(v), "%lld", quota);
			return write_str(dir, "cpu.cfs_quota_us", v);
		}
		snprintf(v, sizeof(v), "%lld 100000", quota);
		return write_str(dir, "cpu.max", v);
	}
	}
	return -1;
}

/* Keep the sandbox name to characters that are safe in a path. */
static void safe_name(const char *name, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = name ? name : ""; *p && n + 1 < size && n < 48; p++)
		out[n++] = (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789_.", *p) && *p) ? *p : '_';
	if (n == 0 || out[0] == '.')
		n = (size_t)snprintf(out, size, "sandbox");
	out[n] = '\0';
}

static int mkdir_fresh(const char *path)
{
	if (mkdir(path, 0755) == 0)
		return 0;
	/* A stale directory with our pid (pid reuse): replace it. */
	if (errno == EEXIST && rmdir(path) == 0 && mkdir(path, 0755) == 0)
		return 0;
	return -1;
}

static void enable_controllers(const char *dir)
{
	char avail[1024];
	if (read_str(dir, "cgroup.controllers", avail, sizeof(avail)) < 0)
		return;
	for (int c = 0; c < CG_NCTRL; c++) {
		char op[32];
		if (!has_word(avail, ctrl_name[c], " \n"))
			continue;
		snprintf(op, sizeof(op), "+%s", ctrl_name[c]);
		(void)write_str(dir, "cgroup.subtree_control", op);
	}
}

/* Try one v2 leaf: create it, write the limits its controllers allow. */
static int v2_try_leaf(struct cg_sandbox *cg, const char *leaf, const struct agent_config *cfg)
{
	char avail[1024];
	int any = 0;
	if (mkdir_fresh(leaf) < 0)
		return -1;
	if (read_str(leaf, "cgroup.controllers", avail, sizeof(avail)) == 0) {
		for (int c = 0; c < CG_NCTRL; c++) {
			if (!has_word(avail, ctrl_name[c], " \n") ||
			    set_limit(2, c, leaf, cfg) < 0)
				continue;
			cg->dir[c] = strdup(leaf);
			if (cg->dir[c])
				any = 1;
		}
	}
	if (!any) {
		(void)rmdir(leaf);
		return -1;
	}
	cg->version = 2;
	return 0;
}

static void v2_create(struct cg_sandbox *cg, const struct agent_config *cfg, const char *name)
{
	char base[4096], leaf[4096], own[4096];
	pid_t pid = getpid();

	if (geteuid() == 0) {
		if (snprintf(base, sizeof(base), "%s/msb", CG2_ROOT) < (int)sizeof(base) &&
		    (mkdir(base, 0755) == 0 || errno == EEXIST)) {
			enable_controllers(CG2_ROOT);
			enable_controllers(base);
			sweep(base, "");
			if (snprintf(leaf, sizeof(leaf), "%s/%s-%d", base, name, (int)pid) <
				    (int)sizeof(leaf) &&
			    v2_try_leaf(cg, leaf, cfg) == 0)
				return;
		}
	}

	/* Delegated: a sibling of our own cgroup, in its parent. */
	if (own_path(NULL, own, sizeof(own)) < 0)
		return;
	char *slash = strrchr(own, '/');
	if (!slash || slash == own)
		return; /* our own cgroup is the (namespace) root: nothing delegated */
	*slash = '\0';
	if (snprintf(base, sizeof(base), "%s%s", CG2_ROOT, own) >= (int)sizeof(base))
		return;
	/* Moving a process needs write access to cgroup.procs of the common
	 * ancestor of the source and the destination: that is base. */
	if (access(base, W_OK) < 0)
		return;
	char procs[4096 + 16];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", base);
	if (access(procs, W_OK) < 0)
		return;
	sweep(base, "msb-");
	if (snprintf(leaf, sizeof(leaf), "%s/msb-%s-%d", base, name, (int)pid) < (int)sizeof(leaf))
		(void)v2_try_leaf(cg, leaf, cfg);
}

static void v1_create(struct cg_sandbox *cg, const struct agent_config *cfg)
{
	for (int c = 0; c < CG_NCTRL; c++) {
		char mnt[2048], root[2048], own[2048], parent[4096], dir[4096 + 32];
		if (v1_mount(ctrl_name[c], mnt, sizeof(mnt), root, sizeof(root)) < 0 ||
		    own_path(ctrl_name[c], own, sizeof(own)) < 0)
			continue;
		/* own is relative to the hierarchy's root; the mount shows root. */
		const char *rel = own;
		size_t rl = strlen(root);
		if (strcmp(root, "/") != 0) {
			if (strncmp(own, root, rl) != 0 || (own[rl] != '/' && own[rl] != '\0'))
				continue;
			rel = own + rl;
		}
		if (strcmp(rel, "/") == 0)
			rel = "";
		if (snprintf(parent, sizeof(parent), "%s%s", mnt, rel) >= (int)sizeof(parent))
			continue;
		snprintf(dir, sizeof(dir), "%s/msb-%d", parent, (int)getpid());

		/* Co-mounted controllers share one directory. */
		int shared = 0;
		for (int o = 0; o < c; o++)
			if (cg->dir[o] && strcmp(cg->dir[o], dir) == 0)
				shared = 1;
		if (!shared) {
			sweep(parent, "msb-");
			if (mkdir_fresh(dir) < 0)
				continue;
		}
		if (set_limit(1, c, dir, cfg) < 0 || !(cg->dir[c] = strdup(dir))) {
			if (!shared)
				(void)rmdir(dir);
			continue;
		}
		cg->version = 1;
	}
}

void cg_create(struct cg_sandbox *cg, const struct agent_config *cfg)
{
	char name[64];
	memset(cg, 0, sizeof(*cg));
	safe_name(cfg->w.name, name, sizeof(name));
	if (access(CG2_ROOT "/cgroup.controllers", F_OK) == 0)
		v2_create(cg, cfg, name);
	else
		v1_create(cg, cfg);
}

/* Is dir also used by an earlier slot? */
static int dup_slot(const struct cg_sandbox *cg, int c)
{
	for (int o = 0; o < c; o++)
		if (cg->dir[o] && strcmp(cg->dir[o], cg->dir[c]) == 0)
			return 1;
	return 0;
}

static void remove_dir(const char *dir)
{
	/* The kernel may still be tearing down the sandbox's processes. */
	for (int i = 0; i < 100; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			return;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

void cg_attach(struct cg_sandbox *cg, pid_t pid)
{
	char v[32];
	snprintf(v, sizeof(v), "%d", (int)pid);
	for (int c = 0; c < CG_NCTRL; c++) {
		if (!cg->dir[c] || dup_slot(cg, c))
			continue;
		if (write_str(cg->dir[c], "cgroup.procs", v) == 0)
			continue;
		/* Drop this directory from every slot that uses it. */
		char *dir = cg->dir[c];
		for (int o = c + 1; o < CG_NCTRL; o++)
			if (cg->dir[o] && strcmp(cg->dir[o], dir) == 0) {
				free(cg->dir[o]);
				cg->dir[o] = NULL;
			}
		remove_dir(dir);
		free(dir);
		cg->dir[c] = NULL;
	}
	int any = 0;
	for (int c = 0; c < CG_NCTRL; c++)
		any |= cg->dir[c] != NULL;
	if (!any)
		cg->version = 0;
}

void cg_destroy(struct cg_sandbox *cg)
{
	for (int c = 0; c < CG_NCTRL; c++) {
		if (!cg->dir[c] || dup_slot(cg, c))
			continue;
		if (cg->version == 2)
			(void)write_str(cg->dir[c], "cgroup.kill", "1");
		remove_dir(cg->dir[c]);
	}
	for (int c = 0; c < CG_NCTRL; c++) {
		free(cg->dir[c]);
		cg->dir[c] = NULL;
	}
	cg->version = 0;
}

void cg_enforcement(const struct cg_sandbox *cg, struct agent_enforcement *enf)
{
	enf->memory = cg->dir[CG_MEMORY] ? MSB_WIRE_ENFORCE_CGROUP : MSB_WIRE_ENFORCE_RLIMIT;
	enf->pids = cg->dir[CG_PIDS] ? MSB_WIRE_ENFORCE_CGROUP : MSB_WIRE_ENFORCE_RLIMIT;
	enf->cpu = cg->dir[CG_CPU] ? MSB_WIRE_ENFORCE_CGROUP : MSB_WIRE_ENFORCE_NONE;
	enf->cgroup_version = cg->version;
}
