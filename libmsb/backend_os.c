/*
 * backend_os.c - the os backend: spawn msb-agent, which isolates itself in
 * fresh namespaces, and shake hands with it (the spawning and the HELLO
 * exchange are agent_link.c's).
 *
 * The agent is found next to libmsb or where `make install` puts it, or
 * named by MSB_AGENT_PATH.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include "agent_link.h"
#include "backend_os.h"
#include "error.h"
#include "sandbox.h"

#ifndef MSB_LIBEXECDIR
#define MSB_LIBEXECDIR "/usr/local/libexec"
#endif

static int find_agent(char *out, size_t outsz)
{
	static const char *const rels[] = {
		"../libexec/msb/msb-agent", "msb-agent", NULL
	};

	return msb_find_file("MSB_AGENT_PATH", rels,
			     MSB_LIBEXECDIR "/msb/msb-agent", "msb-agent",
			     out, outsz);
}

static int os_start(msb_sandbox *sb)
{
	char path[PATH_MAX];
	char *argv[] = { "msb-agent", "--fd", "3", NULL };
	int sv[2], rc;

	if ((rc = find_agent(path, sizeof(path))))
		return rc;
	if ((rc = msb_socketpair(sv)))
		return rc;
	rc = msb_spawn(sb, path, argv, sv[1], -1);
	close(sv[1]);
	if (rc) {
		close(sv[0]);
		return rc;
	}
	sb->conn.fd = sv[0];

	if ((rc = msb_handshake_config(sb)))
		goto fail;
	if (sb->detached) {
		/* The process we spawned forked the sandbox away and exited. */
		msb_agent_wait(sb, 2000);
		msb_agent_forget(sb);
		/* The stage 0 that stays is the one listening on the socket:
		 * the kernel names it to a connection. */
		int fd = msb_unix_connect(sb->config.socket_path);

		rc = fd < 0 ? msb_fail(MSB_ESPAWN, errno, NULL, "cannot connect to "
				       "the sandbox at %s", sb->config.socket_path)
			    : msb_host_from_peer(sb, fd);
		if (fd >= 0)
			close(fd);
		if (rc)
			goto fail;
	}
	return 0;
fail:
	close(sb->conn.fd);
	sb->conn.fd = -1;
	msb_agent_kill(sb);
	return rc;
}

/* A detached sandbox's stage 0 kills it and removes its cgroups on
 * SIGTERM: no grace for the sandbox itself. */
static void os_kill_detached(pid_t pid)
{
	msb_kill_agent_pid(pid, 0, SIGTERM);
}

/* On this host a sandbox costs what its agent measured of it. */
static uint64_t os_host_memory(const msb_sandbox *sb, uint64_t measured)
{
	return measured;
}

const struct msb_backend_ops msb_backend_os = {
	.id = MSB_BACKEND_OS,
	.name = "os",
	.start = os_start,
	.kill = msb_agent_kill,
	.kill_detached = os_kill_detached,
	.unsupported = NULL,
	.host_memory = os_host_memory,
};
