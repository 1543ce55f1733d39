/*
 * agent.c - msb-agent's entry point: read the configuration from the host's
 * HELLO, isolate (isolate.c), then serve the protocol as PID 1 (serve.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent.h"
#include "proto.h"

#define CONFIG_TIMEOUT_MS 10000

int agent_fail(struct agent_err *e, int code, int os_errno, const char *hint,
	       const char *fmt, ...)
{
	va_list ap;
	size_t n;

	e->code = code;
	e->os_errno = os_errno;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt ? fmt : "", ap);
	va_end(ap);
	if (os_errno) {
		n = strlen(e->message);
		snprintf(e->message + n, sizeof(e->message) - n, ": %s",
			 strerror(os_errno));
	}
	snprintf(e->hint, sizeof(e->hint), "%s", hint ? hint : "");
	return -1;
}

static void send_error(int sock, const struct agent_err *e)
{
	json_t *msg = json_pack("{s:i,s:b,s:{s:i,s:s,s:s,s:i}}",
				"proto", MSB_PROTO_VERSION, "ok", 0, "error",
				"code", e->code, "message", e->message,
				"hint", e->hint, "errno", e->os_errno);

	if (msg)
		msb_frame_write_json(sock, MSB_FRAME_HELLO, 0, msg);
	json_decref(msg);
}

static char *dup_str(const json_t *v, const char *dflt)
{
	const char *s = json_string_value(v);

	return strdup(s ? s : dflt);
}

/* Parse the config; libmsb has validated it, but check the shape anyway. */
static int parse_config(const json_t *c, struct agent_config *cfg,
			struct agent_err *err)
{
	const json_t *env = json_object_get(c, "env");
	const json_t *vols = json_object_get(c, "volumes");
	size_t i, n;

	memset(cfg, 0, sizeof(*cfg));
	if (!json_is_object(c) || !json_is_array(env) || !json_is_array(vols))
		return agent_fail(err, MSB_EPROTO, 0, "use matching libmsb and "
				  "msb-agent versions", "malformed configuration");
	cfg->name = dup_str(json_object_get(c, "name"), "msb");
	cfg->memory_bytes = json_integer_value(json_object_get(c, "memory"));
	cfg->cpus = json_number_value(json_object_get(c, "cpus"));
	cfg->pids = json_integer_value(json_object_get(c, "pids"));
	cfg->disk_bytes = json_integer_value(json_object_get(c, "disk"));
	cfg->timeout_ms = json_integer_value(json_object_get(c, "timeout_ms"));
	cfg->workdir = dup_str(json_object_get(c, "workdir"), "/workspace");
	cfg->rootfs = dup_str(json_object_get(c, "rootfs"), "/");
	n = json_array_size(env);
	cfg->env = calloc(n + 1, sizeof(char *));
	if (!cfg->env)
		return agent_fail(err, MSB_ENOMEM, ENOMEM, NULL, "config");
	for (i = 0; i < n; i++)
		cfg->env[i] = dup_str(json_array_get(env, i), "");
	n = json_array_size(vols);
	cfg->volumes = calloc(n ? n : 1, sizeof(*cfg->volumes));
	if (!cfg->volumes)
		return agent_fail(err, MSB_ENOMEM, ENOMEM, NULL, "config");
	cfg->volumes_len = n;
	for (i = 0; i < n; i++) {
		const json_t *v = json_array_get(vols, i);

		cfg->volumes[i].host_path = dup_str(json_object_get(v, "host"), "");
		cfg->volumes[i].sandbox_path =
			dup_str(json_object_get(v, "sandbox"), "");
		cfg->volumes[i].read_only = json_is_true(json_object_get(v, "ro"));
	}
	cfg->listen_fd = -1;
	cfg->port_helper = cfg->port_helper_peer = -1;
	if (json_integer_value(json_object_get(c, "ports")) > 0 &&
	    json_integer_value(json_object_get(c, "ports")) <= AGENT_MAX_PORTS)
		cfg->ports = (unsigned)json_integer_value(json_object_get(c, "ports"));
	if (json_string_value(json_object_get(c, "socket")))
		cfg->socket_path = dup_str(json_object_get(c, "socket"), "");
	if (cfg->memory_bytes <= 0 || cfg->pids <= 0 || cfg->disk_bytes <= 0 ||
	    cfg->timeout_ms < 0 || !(cfg->cpus > 0))
		return agent_fail(err, MSB_EPROTO, 0, "use matching libmsb and "
				  "msb-agent versions", "configuration has "
				  "missing or invalid limits");
	return 0;
}

/* Wait for the host's HELLO carrying the configuration. */
static json_t *read_config(int sock, struct agent_err *err)
{
	struct msb_decoder dec;
	struct msb_frame f;
	const char *why = "the host closed the connection";
	json_t *hello = NULL;
	int rc;

	msb_decoder_init(&dec);
	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		uint8_t *buf;
		ssize_t n;

		rc = msb_decoder_next(&dec, &f, &why);
		if (rc != 0)
			break;
		if (poll(&p, 1, CONFIG_TIMEOUT_MS) == 0) {
			why = "no configuration from the host";
			rc = -1;
			break;
		}
		buf = msb_decoder_space(&dec, 4096);
		if (!buf) {
			rc = -1;
			break;
		}
		n = read(sock, buf, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -1;
			break;
		}
		msb_decoder_commit(&dec, (size_t)n);
	}
	if (rc == 1 && f.type != MSB_FRAME_HELLO) {
		why = "the first frame is not HELLO";
		rc = -1;
	}
	if (rc == 1)
		hello = msb_frame_json(&f, &why);
	if (hello && json_integer_value(json_object_get(hello, "proto")) !=
			     MSB_PROTO_VERSION) {
		json_decref(hello);
		hello = NULL;
		why = "the host speaks another protocol version";
	}
	msb_decoder_release(&dec);
	if (!hello)
		agent_fail(err, MSB_EPROTO, 0, "use matching libmsb and "
			   "msb-agent versions", "handshake failed: %s", why);
	return hello;
}

/*
 * A detached sandbox: listen on its socket (bound here, on the host, before
 * isolation, so that it is reachable from outside), and leave the process
 * that libmsb spawned, so that the creator need not wait for us.
 */
static int detach(struct agent_config *cfg, struct agent_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	pid_t pid;
	int fd;

	if (strlen(cfg->socket_path) >= sizeof(sa.sun_path))
		return agent_fail(err, MSB_EINVAL, 0, "set MSB_STATE_DIR to a shorter path",
				  "socket path %s is too long", cfg->socket_path);
	strcpy(sa.sun_path, cfg->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "socket");
	old = umask(0077); /* only the owner may connect */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		umask(old);
		close(fd);
		if (e == EADDRINUSE)
			return agent_fail(err, MSB_EEXISTS, e, "stop it or pick another name",
					  "a sandbox is already listening at %s", cfg->socket_path);
		return agent_fail(err, MSB_ESPAWN, e, NULL, "bind %s", cfg->socket_path);
	}
	umask(old);
	if (listen(fd, 16) < 0) {
		close(fd);
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "listen");
	}
	pid = fork();
	if (pid < 0) {
		close(fd);
		return agent_fail(err, MSB_ESPAWN, errno, NULL, "fork");
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
	cfg->listen_fd = fd;
	return 0;
}

/* /init of a microVM: the same agent, over the virtio-console channel. */
static int vm_main(void)
{
	struct agent_config cfg;
	struct agent_enforcement enf;
	struct agent_err err = { 0 };
	json_t *hello;
	int ch = -1, multiport = 0, sp[2];

	if (vm_early(&ch, &multiport, &err) < 0)
		vm_power_off(1);
	/* The channel is raw now: tell the host it may send its HELLO. */
	hello = json_pack("{s:i,s:b}", "proto", MSB_PROTO_VERSION, "ready", 1);
	if (!hello || msb_frame_write_json(ch, MSB_FRAME_HELLO, 0, hello) < 0)
		vm_power_off(1);
	json_decref(hello);
	hello = read_config(ch, &err);
	if (!hello || parse_config(json_object_get(hello, "config"), &cfg, &err)) {
		send_error(ch, &err);
		vm_power_off(1);
	}
	json_decref(hello);
	cfg.vm = 1;
	cfg.host_pid = getpid();
	if (cfg.volumes_len) {
		agent_fail(&err, MSB_EUNSUPPORTED, 0, "use the os backend for "
			   "host volumes", "the vm backend cannot do host "
			   "volumes yet");
		send_error(ch, &err);
		vm_power_off(1);
	}
	/* Detached: msb-vmm gives every client a port of its own; the
	 * socket is msb-vmm's, not ours. Not detached: the owner's
	 * connection alone, on port 1 (or the console, hvc0). */
	if ((cfg.socket_path && (!multiport || !cfg.ports)) ||
	    (!cfg.socket_path && cfg.ports)) {
		agent_fail(&err, MSB_EPROTO, 0, "install msb-vmm, msb-agent and "
			   "libmsb from the same release", "a %s sandbox in a VM "
			   "%s", cfg.socket_path ? "detached" : "non-detached",
			   multiport ? "with agent ports" : "without agent ports");
		send_error(ch, &err);
		vm_power_off(1);
	}
	free(cfg.socket_path);
	cfg.socket_path = NULL;
	if (cfg.ports) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
			agent_fail(&err, MSB_ESPAWN, errno, NULL, "socketpair");
			send_error(ch, &err);
			vm_power_off(1);
		}
		cfg.port_helper = sp[0];
		cfg.port_helper_peer = sp[1];
	}
	memset(&enf, 0, sizeof(enf));
	if (vm_root(&err) < 0 || isolate_enter(&cfg, ch, &enf, &err)) {
		send_error(ch, &err);
		vm_power_off(1);
	}
	return agent_serve(&cfg, ch, -1, &enf);
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
	struct agent_err err = { 0 };
	json_t *hello;
	int sock = -1;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("msb-agent %s (protocol %d)\n", MSB_VERSION,
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
	hello = read_config(sock, &err);
	if (!hello || parse_config(json_object_get(hello, "config"), &cfg, &err)) {
		send_error(sock, &err);
		return 1;
	}
	json_decref(hello);
	if (cfg.socket_path && detach(&cfg, &err) < 0) {
		send_error(sock, &err);
		return 1;
	}
	cfg.host_pid = getpid();
	memset(&enf, 0, sizeof(enf));
	if (isolate_enter(&cfg, sock, &enf, &err)) {
		send_error(sock, &err);
		return 1;
	}
	return agent_serve(&cfg, sock, cfg.listen_fd, &enf);
}
