/*
 * sandbox.h - the sandbox handle (sandbox.c): its structure, which the
 * modules that serve a handle (conn, agent link, backends, commands,
 * files, REPL) read and fill, and sandbox.c's checks that they share.
 */
#ifndef MSB_LIB_SANDBOX_H
#define MSB_LIB_SANDBOX_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "msb.h"
#include "conn.h"
#include "wire.h"

struct msb_backend_ops;

/* The sandbox. `lock` guards status, the request list and the exit data. */
struct msb_sandbox {
	pthread_mutex_t lock;
	msb_status status;
	msb_backend backend;
	const struct msb_backend_ops *ops; /* the backend's (backend.h) */

	/* The validated, resolved options (owned copies), in the shape the
	 * agent receives them (common/wire.h): name, limits, env, workdir,
	 * rootfs, volumes, and a detached sandbox's socket_path and ports. */
	struct msb_wire_config config;

	pid_t agent_pid;     /* what we spawned: the agent, or msb-vmm */
	int agent_pidfd;     /* its pidfd, -1 without pidfds (agent_link.c) */
	int agent_reaped;
	int agent_status;    /* its wait status, once reaped by msb_agent_wait */
	struct conn conn;
	int stopping;
	char exit_reason[128];
	msb_enforcement enforcement[5];
	uint64_t started_ns;  /* RUNNING since; before that, when the start began */

	/* Named, detached sandboxes (registry.c). */
	int detached;        /* outlives this handle: free only disconnects */
	char backend_reason[320]; /* why this backend (msb_sandbox_backend_reason) */
	pid_t host_pid;      /* stage 0 of its agent, or msb-vmm, on the host */
	int host_pidfd;      /* its pidfd, or -1 (both from the kernel) */
};

/* MSB_EINVAL with a hint when the handle is NULL, else 0. */
int msb_check_sb(const msb_sandbox *sb);
/* Check a "KEY=VALUE" list; copy it when out is not NULL. */
int msb_check_env(const char *const *env, char ***out, const char *what);

#endif
