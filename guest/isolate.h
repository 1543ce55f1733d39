/*
 * isolate.h - enter the sandbox (isolate.c).
 */
#ifndef MSB_AGENT_ISOLATE_H
#define MSB_AGENT_ISOLATE_H

#include "base.h"
#include "config.h"

/*
 * Called by stage 0 with the protocol socket `sock`. Returns 0 in stage 1,
 * which is then PID 1 of a fully isolated sandbox (root is the sandbox
 * root, cwd is the workdir, capabilities are gone, no_new_privs and the
 * seccomp filter are in place, every fd but `sock` is closed). Stage 0
 * never returns from a successful call: it waits for stage 1, removes the
 * cgroups and exits with stage 1's status. Returns -1 with *err filled
 * when isolation fails, in either stage; the caller reports it over
 * `sock` and exits.
 */
int isolate_enter(const struct agent_config *cfg, int sock,
		  struct agent_enforcement *enf, struct msb_wire_error *err);

#endif
