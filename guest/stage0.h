/*
 * stage0.h - stage 0 of the isolation, on the host side (stage0.c), and
 * what it tells stage 1 (isolate.c).
 */
#ifndef MSB_AGENT_STAGE0_H
#define MSB_AGENT_STAGE0_H

#include <sys/types.h>

#include "base.h"
#include "config.h"

/* Stage 0 tells stage 1 to go on in two steps: once the id maps are
 * written (go_ids), and once the cgroups are in place (go_limits), which
 * stage 0 sets up while stage 1 builds its mounts. The seccomp filter,
 * compiled by stage 0 meanwhile, follows on a pipe of its own. */
struct go_ids {
	int clear_groups; /* setgroups is allowed: drop supplementary groups */
};

struct go_limits {
	struct agent_enforcement enf;
};

/* Before the clone: for a root caller, each volume as a detached mount
 * tree idmapped to the sandbox's root (an fd per volume, -1 for a plain
 * bind); NULL when there are none. Stage 1 inherits the array; stage 0
 * lets go of its copy with stage0_release_volumes() after the clone. */
const int *stage0_volumes(const struct agent_config *cfg);
void stage0_release_volumes(const struct agent_config *cfg);

/* After the clone of stage 1 (pid): id maps, go_ids on go_fd, cgroups,
 * go_limits, the seccomp filter on bpf_fd; then wait for stage 1 and exit
 * with its status (never returns). Returns -1 with *err when the setup
 * failed (stage 1 is killed and reaped). */
int stage0_run(const struct agent_config *cfg, int sock, pid_t pid, int go_fd,
	       int bpf_fd, struct agent_enforcement *enf, struct msb_wire_error *err);

#endif
