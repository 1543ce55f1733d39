/*
 * backend.h - what a backend is to libmsb: a table of operations.
 *
 * A backend runs a sandbox's agent somewhere (os: on this host, isolated
 * by namespaces; vm: in a microVM) and reaches it over a connection that
 * speaks the one protocol; everything above the link (commands, files,
 * REPL, metrics) is the same for all. sandbox.c and registry.c call a
 * backend only through its table.
 *
 * Adding a backend (remote, wasm, ...): its MSB_BACKEND_* value in msb.h
 * and its name in names.c, one file backend_<name>.c (with its header)
 * that fills a struct msb_backend_ops, and one line in backend.c's list.
 * Callers can then ask for it by name; MSB_BACKEND_AUTO picks it only
 * once sandbox.c's routing policy (route()) knows when to.
 */
#ifndef MSB_LIB_BACKEND_H
#define MSB_LIB_BACKEND_H

#include <stdint.h>
#include <sys/types.h>

#include "msb.h"

struct msb_backend_ops {
	msb_backend id;
	const char *name;  /* as msb_backend_name() names it */

	/* Start sb's agent and shake hands with it: fill sb->agent_pid (what
	 * we spawned, or -1 when it is detached and not our child),
	 * sb->conn.fd, sb->enforcement, and for a detached sandbox
	 * sb->host_pid from the kernel (msb_host_from_peer). On failure
	 * nothing is left running and the error is raised. */
	int (*start)(msb_sandbox *sb);
	/* Make sure what start spawned (sb->agent_pid) is gone and reaped. */
	void (*kill)(msb_sandbox *sb);
	/* Kill the detached sandbox whose host process is pid (from the
	 * registry; not our child): msb_sandbox_kill(). */
	void (*kill_detached)(pid_t pid);
	/* What sb asks for that this backend cannot do, or NULL; *hint (hint
	 * may be NULL) gets what to do instead. May be NULL: it can do all. */
	const char *(*unsupported)(const msb_sandbox *sb, const char **hint);
	/* The host memory a running sandbox costs, given what its agent
	 * measured inside (for msb_metrics.host_memory_bytes). */
	uint64_t (*host_memory)(const msb_sandbox *sb, uint64_t measured);
};

/* The table of backend b; NULL for AUTO or an unknown value. */
const struct msb_backend_ops *msb_backend_get(msb_backend b);

#endif
