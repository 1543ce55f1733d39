/*
 * cgroup.h - the sandbox's cgroup, for cgroup v2 or v1 (detected at run time).
 *
 * Used by stage 0 only (on the host). Everything here is best effort: a
 * controller that cannot be used is reported as not enforced, and the caller
 * falls back to rlimits (memory, pids) or to nothing (cpu).
 */
#ifndef MSB_CGROUP_H
#define MSB_CGROUP_H

#include <sys/types.h>

#include "config.h"

enum { CG_MEMORY, CG_PIDS, CG_CPU, CG_NCTRL };

struct cg_sandbox {
	int version;             /* 0: no cgroup in use, 1 or 2 */
	/* v1: one directory per controller; v2: the same leaf in each slot
	 * whose controller is enabled there. NULL: not enforced. */
	char *dir[CG_NCTRL];
};

/* Create the sandbox's cgroup(s) and write the limits from cfg. Never fails:
 * what could not be done is left NULL in cg->dir. */
void cg_create(struct cg_sandbox *cg, const struct agent_config *cfg);

/* Move pid into every cgroup in cg. A controller whose move fails is dropped
 * (its directory removed and set to NULL). */
void cg_attach(struct cg_sandbox *cg, pid_t pid);

/* Kill what is left (v2 cgroup.kill) and remove the directories, retrying
 * for about a second while the kernel tears the pid namespace down. */
void cg_destroy(struct cg_sandbox *cg);

/* Fill the memory/cpu/pids/cgroup_version fields of enf from cg. */
void cg_enforcement(const struct cg_sandbox *cg, struct agent_enforcement *enf);

#endif
