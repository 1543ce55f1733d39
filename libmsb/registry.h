/*
 * registry.h - named, detached sandboxes' entries under the state
 * directory (registry.c). msb_sandbox_connect() (sandbox.c) opens one;
 * msb_sandbox_list_all(), _kill() and _remove() are registry.c's own.
 */
#ifndef MSB_LIB_REGISTRY_H
#define MSB_LIB_REGISTRY_H

#include <sys/types.h>

#include "msb.h"

/* A name a detached sandbox can have (it names a directory). */
int msb_registry_check_name(const char *name);
/* Before a detached start: check the name, clear a stale entry, and give
 * the path its agent is to listen on (*socket_path, the caller's to free). */
int msb_registry_prepare(const char *name, char **socket_path);
/* After it: record the sandbox (the pid of its host process, its backend,
 * the creation time). */
int msb_registry_record(const char *name, pid_t pid, msb_backend backend);
/* After it stopped: mark it so, and remove its socket. */
void msb_registry_stopped(const char *name);
/* Connect to the running sandbox `name`: its socket's fd (*fd) and its
 * backend. MSB_ENOTFOUND when there is no such sandbox, MSB_ESTATE when
 * it is not running. */
int msb_registry_open(const char *name, int *fd, msb_backend *backend);

#endif
