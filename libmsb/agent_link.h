/*
 * agent_link.h - the link to a sandbox's agent (agent_link.c): spawning
 * it (or the VMM that boots it), the HELLO exchange, waiting and killing,
 * the transition to RUNNING, and the sockets and processes of detached
 * sandboxes. The backends build their start on these.
 */
#ifndef MSB_LIB_AGENT_LINK_H
#define MSB_LIB_AGENT_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "msb.h"

/* Find a file of ours: $env if set, else <dir of libmsb or of the program>/
 * REL for each of rels, else `installed`. */
int msb_find_file(const char *env, const char *const *rels,
		  const char *installed, const char *what, char *out,
		  size_t outsz);

/* A socketpair whose sv[1] is above 3 (to be the child's fd 3). */
int msb_socketpair(int sv[2]);
/* posix_spawn path with argv, child_fd (if >= 0) as fd 3, /dev/null on 0
 * and 1, and err_fd (or /dev/null) on 2; sets sb->agent_pid and
 * sb->agent_pidfd (-1 on kernels without pidfds), through which it is
 * waited for and signalled. */
int msb_spawn(msb_sandbox *sb, const char *path, char *const argv[],
	      int child_fd, int err_fd);
/* What we spawned is no longer ours to signal (it exited, or it was a
 * detached sandbox's starter): drop its pid and pidfd. */
void msb_agent_forget(msb_sandbox *sb);
/* Wait for what we spawned (sb->agent_pid: the agent, or msb-vmm) to exit,
 * up to timeout_ms; 1 if it exited (its wait status in sb->agent_status,
 * when we reaped it). */
int msb_agent_wait(msb_sandbox *sb, int64_t timeout_ms);
/* Make sure what we spawned is gone and reaped: SIGTERM, then SIGKILL. */
void msb_agent_kill(msb_sandbox *sb);

/* Read a HELLO frame from the agent on sb->conn.fd (30 s deadline) as
 * JSON. */
int msb_read_hello(msb_sandbox *sb, json_t **out);
/* The handshake of a new sandbox: its configuration (sb->config) in our
 * HELLO, then the agent's answer (common/wire.h), which fills
 * sb->enforcement. Nothing the agent says names a host process. */
int msb_handshake_config(msb_sandbox *sb);
/* The handshake of a later client of a detached sandbox: no config; then
 * the sandbox's host process from the kernel (msb_host_from_peer). */
int msb_handshake_join(msb_sandbox *sb);

/* The handshake is done: the sandbox is RUNNING from now, and its
 * connection serves requests. The one way a handle becomes RUNNING. */
int msb_agent_running(msb_sandbox *sb);

/* Connect to a Unix socket: the fd, or -1 with errno. */
int msb_unix_connect(const char *path);
/* The pid of the process listening at the other end of a connected Unix
 * socket (SO_PEERCRED), or -1. */
pid_t msb_peer_pid(int fd);
/* A detached sandbox's host process (its agent's stage 0, or msb-vmm) is
 * the listener at the other end of fd, a connection to its socket, as
 * the kernel tells (never as the agent says): set sb->host_pid and
 * sb->host_pidfd. */
int msb_host_from_peer(msb_sandbox *sb, int fd);
/* pidfd_open(pid): a pidfd, or -1 with errno (ENOSYS: no pidfds here). */
int msb_pidfd_open(pid_t pid);
/* Send sig through pidfd, or with kill(pid) when pidfd is -1 (a kernel
 * without pidfds). */
int msb_pid_signal(int pidfd, pid_t pid, int sig);
/* 1 if pid is an msb-agent or an msb-vmm (so that a recycled pid is never
 * signalled). */
int msb_is_agent(pid_t pid);
/* Wait up to grace_ms for the agent stage 0 or VMM (pidfd, or pid when
 * pidfd is -1; not our child) to end, then send sig (SIGTERM: then SIGKILL
 * 2 s later), only while it still is an msb-agent or msb-vmm. */
void msb_kill_host(int pidfd, pid_t pid, int grace_ms, int sig);
/* The same for a pid alone (the registry's): through a pidfd of it. */
void msb_kill_agent_pid(pid_t pid, int grace_ms, int sig);

#endif
