/*
 * agent.c - msb-agent's entry points, and nothing else: they string the
 * modules together.
 *
 * msb-agent runs in two stages. Stage 0 is the process libmsb spawned, on
 * the host: it reads the sandbox configuration from the HELLO frame
 * (config.c), sets up cgroups, and clones stage 1 into fresh namespaces
 * (isolate.c, stage0.c). Stage 1 finishes the isolation (mounts,
 * pivot_root, capabilities, seccomp) and then serves the protocol as PID 1
 * of the sandbox (loop.c), with the operations listed here. Stage 0 stays
 * behind only to wait for stage 1 and remove the cgroups.
 *
 * Every stage is non-dumpable from main()'s first line on: the code in the
 * sandbox may run as the agent's uid (an unprivileged caller), and must
 * not reach into its PID 1 through /proc/1/mem and the like.
 *
 * main() is the agent libmsb spawns with --fd N (the os backend);
 * vm_main() is the same agent as /init of a microVM (vm.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "wire.h"
#include "base.h"
#include "config.h"
#include "exec.h"
#include "files.h"
#include "isolate.h"
#include "loop.h"
#include "metrics.h"
#include "proto.h"
#include "repl.h"
#include "vm.h"

/* The operations the agent serves ("shutdown" is the loop's own). */
static const struct agent_op ops[] = {
	{ "exec", op_exec },
	{ "resize", op_resize },
	{ "ps", op_ps },
	{ "metrics", op_metrics },
	{ "repl.run", op_repl_run },
	{ "repl.context", op_repl_context },
	{ "file", op_file },
};

static int serve(const struct agent_config *cfg, int sock, int listen_fd,
		 const struct agent_enforcement *enf)
{
	metrics_start();
	return agent_serve(cfg, sock, listen_fd, enf, ops, sizeof(ops) / sizeof(ops[0]));
}

/*
 * A detached sandbox: listen on its socket (bound here, on the host, before
 * isolation, so that it is reachable from outside), and leave the process
 * that libmsb spawned, so that the creator need not wait for us.
 */
static int detach(struct agent_config *cfg, struct msb_wire_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	pid_t pid;
	int fd;

	if (strlen(cfg->w.socket_path) >= sizeof(sa.sun_path))
		return msb_wire_fail(err, MSB_WIRE_EINVAL, 0, "set MSB_STATE_DIR to a shorter path",
				  "socket path %s is too long", cfg->w.socket_path);
	strcpy(sa.sun_path, cfg->w.socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "socket");
	old = umask(0077); /* only the owner may connect */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		umask(old);
		close(fd);
		if (e == EADDRINUSE)
			return msb_wire_fail(err, MSB_WIRE_EEXISTS, e, "stop it or pick another name",
					  "a sandbox is already listening at %s", cfg->w.socket_path);
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, e, NULL, "bind %s", cfg->w.socket_path);
	}
	umask(old);
	pid = fork();
	if (pid < 0) {
		close(fd);
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "fork");
	}
	if (pid > 0)
		_exit(0); /* libmsb reaps this one; the child carries on */
	/* Nothing of the creator's may stay open here: not its terminal,
	 * not the pipe of a `name=$(msb create ...)`, which would wait for
	 * us to end. */
	setsid();
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; nul >= 0 && i < 3; i++)
		dup2(nul, i);
	if (nul > 2)
		close(nul);
	/* Listening here, in the process that stays: the kernel gives its pid
	 * to whoever connects (SO_PEERCRED), and libmsb signals that one. */
	if (listen(fd, 16) < 0) {
		close(fd);
		return msb_wire_fail(err, MSB_WIRE_ESPAWN, errno, NULL, "listen");
	}
	cfg->listen_fd = fd;
	return 0;
}

/* /init of a microVM: the same agent, over the virtio-console channel. */
static int vm_main(void)
{
	struct agent_config cfg;
	struct agent_enforcement enf;
	struct msb_wire_error err = { 0 };
	int ch = -1, multiport = 0;

	if (vm_early(&ch, &multiport, &err) < 0)
		vm_power_off(1);
	if (vm_greet(ch) < 0)
		vm_power_off(1);
	memset(&enf, 0, sizeof(enf));
	if (config_read(ch, &cfg, &err) < 0 ||
	    vm_configure(&cfg, multiport, &err) < 0 ||
	    vm_root(&err) < 0 || isolate_enter(&cfg, ch, &enf, &err)) {
		config_refuse(ch, &err);
		vm_power_off(1);
	}
	return serve(&cfg, ch, -1, &enf);
}

static void usage(void)
{
	fprintf(stderr, "usage: msb-agent --fd N\n"
			"msb-agent is started by libmsb; it is not meant to be "
			"run by hand.\n");
}

int main(int argc, char **argv)
{
	struct agent_config cfg;
	struct agent_enforcement enf;
	struct msb_wire_error err = { 0 };
	int sock = -1;

	/* Before anything else, in every backend and stage: no process of
	 * the same uid may read or write our memory, environment or fds
	 * through /proc/<pid>/{mem,maps,environ,fd,root,cwd,exe} or ptrace
	 * (the sandbox's code runs as our uid when the caller is not root).
	 * Stage 1 is so too once it has its ids (isolate.c); the programs
	 * the agent starts are not: execve makes them dumpable again. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return 1;
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("msb-agent %s (protocol %d)\n", MSB_AGENT_VERSION,
		       MSB_PROTO_VERSION);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--fd"))
		sock = atoi(argv[2]);
	else if (vm_detect())
		return vm_main();
	/* 0-2 must be taken, or the first socket we create would land there
	 * and be mistaken for stdio later. */
	int nul;

	while ((nul = open("/dev/null", O_RDWR)) >= 0 && nul <= 2)
		;
	if (nul > 2)
		close(nul);
	if (sock < 0 || fcntl(sock, F_GETFD) < 0) {
		usage();
		return 2;
	}
	/* Whatever else the caller left open (without O_CLOEXEC) is not ours:
	 * keeping it would hold the caller's pipes open for our lifetime. */
	if (sock > 3)
		syscall(SYS_close_range, 3u, (unsigned)sock - 1, 0u);
	syscall(SYS_close_range, (unsigned)sock + 1, ~0u, 0u);
	if (config_read(sock, &cfg, &err) < 0) {
		config_refuse(sock, &err);
		return 1;
	}
	if (cfg.w.socket_path && detach(&cfg, &err) < 0) {
		config_refuse(sock, &err);
		return 1;
	}
	cfg.host_pid = getpid();
	memset(&enf, 0, sizeof(enf));
	if (isolate_enter(&cfg, sock, &enf, &err)) {
		config_refuse(sock, &err);
		return 1;
	}
	return serve(&cfg, sock, cfg.listen_fd, &enf);
}
