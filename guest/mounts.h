/*
 * mounts.h - the sandbox's mount tree (mounts.c), built by stage 1.
 */
#ifndef MSB_AGENT_MOUNTS_H
#define MSB_AGENT_MOUNTS_H

#include "base.h"
#include "config.h"

/* The writable area (a tmpfs of disk_bytes) is visible at these paths
 * inside the sandbox; metrics use the first to measure disk use. */
#define AGENT_RW_TMP "/tmp"
#define AGENT_RW_WORKSPACE "/workspace"
#define AGENT_RW_HOME "/root"

/* Build the sandbox's root and pivot into it (in a new mount namespace,
 * as root of a user namespace). volume_trees: from stage0_volumes(), one
 * fd per volume or -1 (or NULL: all -1). Returns 0 or -1 with *err. */
int mounts_build(const struct agent_config *cfg, const char *hostname,
		 const int *volume_trees, struct msb_wire_error *err);

/* chdir to the workdir, creating it if it lies in a writable area. */
int mounts_enter_workdir(const char *workdir, struct msb_wire_error *err);

#endif
