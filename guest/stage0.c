/*
 * stage0.c - what stage 0 of the isolation does on the host side: before
 * the clone, the volumes as idmapped mount trees; after it, stage 1's
 * uid/gid maps, the sandbox's cgroups (cgroup.c) and its seccomp filter
 * (seccomp_filter.c), each followed by a go-ahead to stage 1; then it waits for
 * stage 1 to end, removes the cgroups and exits with its status (or, as
 * /init of a microVM, powers the VM off).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wire.h"
#include "base.h"
#include "cgroup.h"
#include "seccomp_filter.h"
#include "stage0.h"
#include "vm.h"

static int write_id_maps(pid_t pid, int privileged, uid_t uid, gid_t gid, struct msb_wire_error *err)
{
	char path[64], map[64];
	if (!privileged) {
		/* An unprivileged writer must give up setgroups() first. */
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
		if (write_proc(path, "deny") < 0 && errno != ENOENT)
			return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "write %s failed", path);
	}
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if (write_proc(path, map) < 0)
		return msb_wire_fail(err, MSB_WIRE_EPERM, errno, NULL, "write %s (%s) failed", path, "0 -> host uid");
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	if (write_proc(path, map) < 0)
		return msb_wire_fail(err, MSB_WIRE_EPERM, errno, NULL, "write %s (%s) failed", path, "0 -> host gid");
	return 0;
}

/* Is id mapped in our own user namespace (a line of /proc/self/uid_map)?
 * Root of a nested user namespace (unshare -Ur, rootless containers) is
 * root in name only: it can map just the ids its own namespace has. */
static int id_mapped(const char *map_file, unsigned long id)
{
	FILE *f = fopen(map_file, "re");
	unsigned long inside, outside, count;
	int found = 0;
	if (!f)
		return 0;
	while (!found && fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
		found = id >= inside && id - inside < count;
	fclose(f);
	return found;
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int wait_child(pid_t pid)
{
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, 0);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return 255;
		/* libmsb's last resort before SIGKILL: end the sandbox
		 * (PID 1 takes the namespace with it) and clean up. */
		if (stop_requested)
			kill(pid, SIGKILL);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

int stage0_run(const struct agent_config *cfg, int sock, pid_t pid, int go_fd,
	       int bpf_fd, struct agent_enforcement *enf, struct msb_wire_error *err)
{
	struct cg_sandbox cg;
	struct go_ids ids = { 0 };
	struct go_limits lim;
	/* Sandbox root is never host root: a caller's own uid, or for a root
	 * caller an otherwise unused uid unique among live sandboxes. */
	unsigned long id = 1000000ul + (unsigned long)getpid();
	int privileged = geteuid() == 0 && id_mapped("/proc/self/uid_map", id) &&
			 id_mapped("/proc/self/gid_map", id);
	uid_t uid = privileged ? (uid_t)id : geteuid();
	gid_t gid = privileged ? (gid_t)id : getegid();

	ids.clear_groups = privileged;
	/* stage 1's end of the port helper: its closing tells us it is gone */
	if (cfg->port_helper >= 0)
		close(cfg->port_helper);
	if (write_id_maps(pid, privileged, uid, gid, err) < 0 ||
	    (write_all(go_fd, &ids, sizeof(ids)) < 0 &&
	     msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "signal stage 1 failed") < 0)) {
		kill(pid, SIGKILL);
		(void)wait_child(pid);
		close(go_fd);
		close(bpf_fd);
		return -1;
	}

	/* While stage 1 builds its mounts: the cgroups, and the filter. Stage 1
	 * forks nothing before it hears from us, so nothing escapes the move. */
	cg_create(&cg, cfg);
	cg_attach(&cg, pid);
	memset(&lim, 0, sizeof(lim));
	cg_enforcement(&cg, &lim.enf);
	lim.enf.disk = MSB_WIRE_ENFORCE_KERNEL;
	lim.enf.time = MSB_WIRE_ENFORCE_KERNEL;
	*enf = lim.enf;
	if ((write_all(go_fd, &lim, sizeof(lim)) < 0 &&
	     msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "signal stage 1 failed") < 0) ||
	    seccomp_export(bpf_fd, err) < 0) {
		kill(pid, SIGKILL);
		(void)wait_child(pid);
		cg_destroy(&cg);
		close(go_fd);
		close(bpf_fd);
		return -1;
	}
	close(bpf_fd);

	/* Only stage 1 talks to the host: its EOF must be the sandbox's. */
	close(sock);
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: waitpid must see EINTR */
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* A detached VM: open ports for stage 1 until it goes. */
	if (cfg->port_helper_peer >= 0) {
		vm_serve_ports(cfg->port_helper_peer, cfg->w.ports);
		close(cfg->port_helper_peer);
	}
	int status = wait_child(pid);
	/* Stage 1 was PID 1: its exit killed the rest of the namespace. */
	cg_destroy(&cg);
	if (cfg->vm)
		vm_power_off(status);
	_exit(status);
}

/* A user namespace that maps host uid/gid `owner` to `id`, for an idmapped
 * mount: a child is cloned into it, its maps written, the namespace kept
 * open by fd, and the child let go. Returns the fd or -1. */
static int idmap_userns(uid_t owner, gid_t gowner, unsigned long id)
{
	char path[64], map[64];
	int p[2], fd = -1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		char c;
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	if (pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		snprintf(map, sizeof(map), "%lu %lu 1\n", (unsigned long)owner, id);
		if (write_proc(path, map) == 0) {
			snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
			snprintf(map, sizeof(map), "%lu %lu 1\n", (unsigned long)gowner, id);
			if (write_proc(path, map) == 0) {
				snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
				fd = open(path, O_RDONLY | O_CLOEXEC);
			}
		}
	}
	close(p[1]);
	if (pid > 0)
		(void)wait_child(pid);
	return fd;
}

/* Volumes prepared as detached, idmapped mount trees (one fd per volume,
 * -1 for a plain bind). Stage 1 inherits the array with its copy of the
 * address space. */
static int *volume_trees;

/*
 * A root caller's sandbox root is an unprivileged host uid, which could not
 * write (or even read) a volume owned by someone else. Each volume is
 * therefore mounted idmapped: the volume's owner appears as the sandbox's
 * root, and what the sandbox creates there belongs to that owner on the
 * host. (The seccomp filter forbids setuid/setgid bits, so that ownership
 * cannot be turned into a privilege on the host.) Filesystems without
 * idmap support, and kernels before 5.12, get a plain bind instead.
 */
static void prepare_volumes(const struct agent_config *cfg, unsigned long id)
{
	volume_trees = calloc(cfg->w.volumes_len ? cfg->w.volumes_len : 1, sizeof(int));
	if (!volume_trees)
		return;
	for (size_t i = 0; i < cfg->w.volumes_len; i++) {
		const struct msb_wire_volume *v = &cfg->w.volumes[i];
		struct stat st;
		int ns, tree = -1;

		volume_trees[i] = -1;
		if (!v->host_path || v->host_path[0] != '/' || stat(v->host_path, &st) < 0)
			continue; /* stage 1 reports it */
		if ((ns = idmap_userns(st.st_uid, st.st_gid, id)) < 0)
			continue;
		tree = (int)open_tree(AT_FDCWD, v->host_path,
				      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (tree >= 0) {
			struct mount_attr attr = {
				.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					    (v->read_only ? MOUNT_ATTR_RDONLY : 0),
				.userns_fd = (uint64_t)ns,
			};
			if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
				close(tree);
				tree = -1;
			}
		}
		close(ns);
		volume_trees[i] = tree;
	}
}

const int *stage0_volumes(const struct agent_config *cfg)
{
	unsigned long id = 1000000ul + (unsigned long)getpid();

	if (cfg->w.volumes_len && geteuid() == 0 && id_mapped("/proc/self/uid_map", id) &&
	    id_mapped("/proc/self/gid_map", id))
		prepare_volumes(cfg, id);
	return volume_trees;
}

void stage0_release_volumes(const struct agent_config *cfg)
{
	for (size_t i = 0; volume_trees && i < cfg->w.volumes_len; i++)
		if (volume_trees[i] >= 0)
			close(volume_trees[i]);
	free(volume_trees);
	volume_trees = NULL;
}
