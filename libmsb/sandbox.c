/*
 * sandbox.c - sandbox handles: options, routing to a backend, every birth
 * of a handle (create, and connect to a named one), lifecycle, status,
 * metrics. What differs between backends is behind their tables
 * (backend.h); the link to the agent is agent_link.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_link.h"
#include "backend.h"
#include "clock.h"
#include "conn.h"
#include "error.h"
#include "host.h"
#include "registry.h"
#include "sandbox.h"

#define DEFAULT_MEMORY (512ll << 20)
#define DEFAULT_DISK (512ll << 20)
#define DEFAULT_PIDS 512
#define MIN_MEMORY (16ll << 20)
#define MIN_DISK (1ll << 20)
#define MIN_PIDS 8

const char *msb_version(void)
{
	return MSB_VERSION;
}

int msb_sandbox_options_init(msb_sandbox_options *opts, unsigned int version)
{
	msb_sandbox_options def = MSB_SANDBOX_OPTIONS_INIT;

	if (!opts)
		return msb_fail(MSB_EINVAL, 0, "pass a pointer to an "
				"msb_sandbox_options", "opts is NULL");
	if (version == 0 || version > MSB_SANDBOX_OPTIONS_VERSION)
		return msb_fail(MSB_EVERSION, 0, "pass MSB_SANDBOX_OPTIONS_VERSION",
				"unknown msb_sandbox_options version %u",
				version);
	/* A caller built against an older msb.h has a shorter struct. */
	def.version = version;
	memcpy(opts, &def, version == 1 ? offsetof(msb_sandbox_options, detached)
			 : version == 2 ? offsetof(msb_sandbox_options, trust)
			 : version == 3 ? offsetof(msb_sandbox_options, hostname)
			 : sizeof(def));
	return msb_ok();
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Check a "KEY=VALUE" list; copy it when out is not NULL. */
int msb_check_env(const char *const *env, char ***out, const char *what)
{
	size_t n = 0, i;
	char **v;

	if (out)
		*out = NULL;
	for (; env && env[n]; n++) {
		const char *eq = strchr(env[n], '=');

		if (!eq || eq == env[n])
			return msb_fail(MSB_EINVAL, 0,
					"write each entry as KEY=VALUE",
					"%s entry %zu (\"%.64s\") is not KEY=VALUE",
					what, n, env[n]);
	}
	if (!out)
		return 0;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	for (i = 0; i < n; i++) {
		v[i] = strdup(env[i]);
		if (!v[i]) {
			free_strv(v);
			return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
		}
	}
	*out = v;
	return 0;
}

/* A hostname as sethostname(2) and resolvers take it (RFC 1123): at most
 * 63 characters of dot-separated labels of letters, digits and '-', no
 * label empty or starting or ending with '-'. */
static int check_hostname(const char *h)
{
	size_t len = strlen(h), label = 0;

	for (size_t i = 0; i <= len; i++) {
		char c = h[i];

		if (c == '.' || c == '\0') {
			if (!label || h[i - 1] == '-')
				break;
			label = 0;
			if (c == '\0')
				return len <= MSB_WIRE_HOSTNAME_MAX ? 0 :
				       msb_fail(MSB_EINVAL, 0, "use at most 63 "
						"characters", "hostname \"%.80s\" "
						"is too long", h);
			continue;
		}
		if (!(isalnum((unsigned char)c) || (c == '-' && label)))
			break;
		label++;
	}
	return msb_fail(MSB_EINVAL, 0, "use letters, digits and '-' in "
			"dot-separated labels (such as \"web-1\"), or leave it unset for "
			"the sandbox's name", "hostname \"%.80s\" is not a valid "
			"hostname", h);
}

static int check_sandbox_path(const char *p, const char *what)
{
	const char *s;

	if (!p || p[0] != '/')
		return msb_fail(MSB_EINVAL, 0, "use an absolute path such as "
				"/data", "%s \"%s\" is not an absolute path",
				what, p ? p : "(null)");
	for (s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == '/' || !s[2]))
			return msb_fail(MSB_EINVAL, 0, "use a path without "
					"\"..\"", "%s \"%s\" contains \"..\"",
					what, p);
	if (strlen(p) >= 4096)
		return msb_fail(MSB_EINVAL, 0, NULL, "%s is too long", what);
	return 0;
}

static int check_volume(const msb_volume *v, size_t i)
{
	struct stat st;
	int rc;

	if (!v->host_path || v->host_path[0] != '/')
		return msb_fail(MSB_EINVAL, 0, "give the host path as an "
				"absolute path", "volume %zu: host path \"%s\" is "
				"not absolute", i,
				v->host_path ? v->host_path : "(null)");
	if (stat(v->host_path, &st) < 0)
		return msb_fail(errno == ENOENT ? MSB_ENOTFOUND : MSB_EINVAL,
				errno, "create the host directory first",
				"volume %zu: host path %s", i, v->host_path);
	if ((rc = check_sandbox_path(v->sandbox_path, "volume sandbox path")))
		return rc;
	if (!strcmp(v->sandbox_path, "/") ||
	    !strncmp(v->sandbox_path, "/proc", 5) ||
	    !strncmp(v->sandbox_path, "/dev", 4))
		return msb_fail(MSB_EINVAL, 0, "mount volumes on a path of "
				"their own such as /data",
				"volume %zu: cannot mount over %s", i,
				v->sandbox_path);
	return 0;
}

static int check_limit(int64_t v, int64_t min, const char *name,
		       const char *hint)
{
	if (v < 0)
		return msb_fail(MSB_EINVAL, 0, hint,
				"%s is negative (%lld)", name, (long long)v);
	if (v > 0 && v < min)
		return msb_fail(MSB_EINVAL, 0, hint,
				"%s %lld is below the minimum %lld", name,
				(long long)v, (long long)min);
	return 0;
}

/*
 * Pick the backend.  One asked for is taken as asked (vm fails at once
 * when this host cannot run microVMs).  AUTO follows the trust level: trusted
 * code gets os; untrusted code gets vm, or fails closed unless the caller
 * allows the fallback; by default vm when this host can run it and the
 * sandbox asks for nothing the vm backend lacks, else os.
 */
static int route(msb_sandbox *sb, const msb_sandbox_options *o)
{
	msb_trust trust = o->version >= 3 ? o->trust : MSB_TRUST_DEFAULT;
	int fallback = o->version >= 3 && o->allow_fallback;
	const char *lacks, *lacks_hint = NULL;
	char why[256], hint[256];
	size_t n = sizeof(sb->backend_reason);

	if (o->backend == MSB_BACKEND_VM && !msb_kvm_check(NULL, why, sizeof(why)))
		return msb_fail(MSB_EUNSUPPORTED, 0,
				"use MSB_BACKEND_OS, or AUTO (which "
				"picks os here); the vm backend needs "
				"KVM on a CPU with VT-x or AMD-V",
				"the vm backend cannot run on this "
				"host: %s", why);
	if (o->backend != MSB_BACKEND_AUTO) {
		sb->backend = o->backend;
		snprintf(sb->backend_reason, n, "%s (asked for)",
			 msb_backend_name(o->backend));
		return 0;
	}
	if (trust == MSB_TRUST_TRUSTED) {
		sb->backend = MSB_BACKEND_OS;
		snprintf(sb->backend_reason, n, "auto: os (trusted code)");
		return 0;
	}
	lacks = msb_backend_get(MSB_BACKEND_VM)->unsupported(sb, &lacks_hint);
	if (lacks)
		snprintf(why, sizeof(why), "the vm backend cannot do %s yet",
			 lacks);
	if (!lacks && msb_vm_ready(why, sizeof(why))) {
		sb->backend = MSB_BACKEND_VM;
		snprintf(sb->backend_reason, n, "auto: vm (%s code; %s)",
			 trust == MSB_TRUST_UNTRUSTED ? "untrusted" : "any",
			 why);
		return 0;
	}
	if (trust == MSB_TRUST_UNTRUSTED && !fallback) {
		snprintf(hint, sizeof(hint), "%s, set allow_fallback to accept "
			 "the os backend, or mark the code trusted", lacks ?
			 lacks_hint : "run it on a host with VT-x/AMD-V and the "
			 "microVM files (make kernel rootfs)");
		return msb_fail(MSB_EUNSUPPORTED, 0, hint,
				"untrusted code needs a microVM, and this "
				"sandbox cannot have one: %s", why);
	}
	sb->backend = MSB_BACKEND_OS;
	snprintf(sb->backend_reason, n, "auto: os (%s%s)",
		 trust == MSB_TRUST_UNTRUSTED ? "untrusted code, fallback "
		 "allowed: " : "no microVM: ", why);
	return 0;
}

/*
 * Every handle is born here, from options already checked (create) or the
 * defaults and a name (connect): CREATED, on the os backend until routed,
 * with no agent and no connection.
 */
static int sandbox_new(msb_sandbox **out, const msb_sandbox_options *o)
{
	msb_sandbox *sb;

	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	pthread_mutex_init(&sb->lock, NULL);
	pthread_mutex_init(&sb->conn.wlock, NULL);
	pthread_cond_init(&sb->conn.cond, NULL);
	msb_decoder_init(&sb->conn.dec);
	sb->conn.fd = -1;
	sb->agent_pid = -1;
	sb->agent_pidfd = -1;
	sb->host_pidfd = -1;
	sb->status = MSB_STATUS_CREATED;
	sb->backend = MSB_BACKEND_OS;
	sb->ops = msb_backend_get(MSB_BACKEND_OS);
	sb->config.memory_bytes = o->memory_bytes ? o->memory_bytes : DEFAULT_MEMORY;
	sb->config.pids = o->pids ? o->pids : DEFAULT_PIDS;
	sb->config.disk_bytes = o->disk_bytes ? o->disk_bytes : DEFAULT_DISK;
	sb->config.timeout_ms = o->timeout_ms;
	sb->config.cpus = o->cpus > 0 ? o->cpus : 1.0;
	if (o->name) {
		sb->config.name = strdup(o->name);
	} else {
		uint32_t r = 0;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)msb_now_ns() ^ (uint32_t)getpid();
		sb->config.name = malloc(16);
		if (sb->config.name)
			snprintf(sb->config.name, 16, "msb-%08x", r);
	}
	sb->detached = o->version >= 2 && o->detached;
	if (o->version >= 4 && o->hostname &&
	    !(sb->config.hostname = strdup(o->hostname))) {
		msb_sandbox_free(sb);
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	sb->config.workdir = strdup(o->workdir ? o->workdir : "/workspace");
	sb->config.rootfs = strdup(o->rootfs ? o->rootfs : "/");
	if (!sb->config.name || !sb->config.workdir || !sb->config.rootfs ||
	    msb_check_env(o->env, &sb->config.env, "env")) {
		msb_sandbox_free(sb);
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	if (o->volumes_len) {
		sb->config.volumes = calloc(o->volumes_len, sizeof(*sb->config.volumes));
		if (!sb->config.volumes) {
			msb_sandbox_free(sb);
			return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
		}
		sb->config.volumes_len = o->volumes_len;
		for (size_t i = 0; i < o->volumes_len; i++) {
			sb->config.volumes[i].host_path = strdup(o->volumes[i].host_path);
			sb->config.volumes[i].sandbox_path =
				strdup(o->volumes[i].sandbox_path);
			sb->config.volumes[i].read_only = o->volumes[i].read_only != 0;
			if (!sb->config.volumes[i].host_path ||
			    !sb->config.volumes[i].sandbox_path) {
				msb_sandbox_free(sb);
				return msb_fail(MSB_ENOMEM, ENOMEM, NULL,
						"out of memory");
			}
		}
	}
	*out = sb;
	return 0;
}

int msb_sandbox_create(msb_sandbox **out, const msb_sandbox_options *user)
{
	msb_sandbox_options def = MSB_SANDBOX_OPTIONS_INIT;
	const msb_sandbox_options *o = user ? user : &def;
	msb_sandbox *sb;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_sandbox pointer", "out is NULL");
	*out = NULL;
	if (o->version == 0 || o->version > MSB_SANDBOX_OPTIONS_VERSION)
		return msb_fail(MSB_EVERSION, 0,
				"initialise options with MSB_SANDBOX_OPTIONS_INIT "
				"or msb_sandbox_options_init()",
				"unknown msb_sandbox_options version %u "
				"(this libmsb knows 1..%d)", o->version,
				MSB_SANDBOX_OPTIONS_VERSION);
	if (o->backend != MSB_BACKEND_AUTO && !msb_backend_get(o->backend))
		return msb_fail(MSB_EINVAL, 0, "use MSB_BACKEND_AUTO, _OS or _VM",
				"unknown backend %d", (int)o->backend);
	if (o->version >= 3 && (o->trust < MSB_TRUST_DEFAULT ||
				o->trust > MSB_TRUST_TRUSTED))
		return msb_fail(MSB_EINVAL, 0, "use MSB_TRUST_DEFAULT, _UNTRUSTED "
				"or _TRUSTED", "unknown trust level %d",
				(int)o->trust);
	if (o->network != MSB_NETWORK_NONE)
		return msb_fail(MSB_EUNSUPPORTED, 0,
				"use MSB_NETWORK_NONE (loopback only)",
				"unknown network mode %d", (int)o->network);
	if ((rc = check_limit(o->memory_bytes, MIN_MEMORY, "memory limit",
			      "give the memory limit in bytes, at least "
			      "16 MiB, or 0 for the default")) ||
	    (rc = check_limit(o->pids, MIN_PIDS, "pids limit",
			      "give at least 8 processes, or 0 for the "
			      "default")) ||
	    (rc = check_limit(o->disk_bytes, MIN_DISK, "disk size",
			      "give the disk size in bytes, at least 1 MiB, "
			      "or 0 for the default")) ||
	    (rc = check_limit(o->timeout_ms, 1, "sandbox timeout",
			      "give the wall-time limit in milliseconds, or "
			      "0 for none")))
		return rc;
	if (isnan(o->cpus) || o->cpus < 0 || (o->cpus > 0 && o->cpus < 0.01) ||
	    o->cpus > 4096)
		return msb_fail(MSB_EINVAL, 0, "give a number of CPUs such as "
				"0.5 or 2, or 0 for the default",
				"cpu limit %g is out of range", o->cpus);
	if (o->version >= 2 && o->detached && !o->name)
		return msb_fail(MSB_EINVAL, 0, "give a detached sandbox a name, so "
				"that it can be found again",
				"a detached sandbox needs a name");
	if (o->version >= 2 && o->detached &&
	    (rc = msb_registry_check_name(o->name)))
		return rc;
	if (o->name && (!o->name[0] || strlen(o->name) > 128))
		return msb_fail(MSB_EINVAL, 0, "use 1 to 128 characters, or "
				"NULL for a generated name",
				"sandbox name is empty or too long");
	/* A name is text (it is shown, and is the default hostname); the
	 * paths and env below are bytes, and travel as such. */
	if (o->name && !msb_wire_is_text(o->name, strlen(o->name)))
		return msb_fail(MSB_EINVAL, 0, "give the name as UTF-8 text, "
				"or NULL for a generated one", "the sandbox name must be "
				"UTF-8 (\"%.128s\" is not)", o->name);
	if (o->workdir && (rc = check_sandbox_path(o->workdir, "workdir")))
		return rc;
	if (o->version >= 4 && o->hostname && (rc = check_hostname(o->hostname)))
		return rc;
	if (o->rootfs) {
		struct stat st;

		if (o->rootfs[0] != '/')
			return msb_fail(MSB_EINVAL, 0, "give an absolute path",
					"rootfs \"%s\" is not absolute",
					o->rootfs);
		if (stat(o->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
			return msb_fail(MSB_ENOTFOUND, errno ? errno : ENOTDIR,
					"point rootfs at a directory holding "
					"usr/, bin/, lib/ ...",
					"rootfs %s", o->rootfs);
	}
	if ((rc = msb_check_env(o->env, NULL, "env")))
		return rc;
	if (o->volumes_len && !o->volumes)
		return msb_fail(MSB_EINVAL, 0, "pass the volumes array or set "
				"volumes_len to 0", "volumes is NULL but "
				"volumes_len is %zu", o->volumes_len);
	for (size_t i = 0; i < o->volumes_len; i++)
		if ((rc = check_volume(&o->volumes[i], i)))
			return rc;

	if ((rc = sandbox_new(&sb, o)))
		return rc;
	if ((rc = route(sb, o))) {
		msb_sandbox_free(sb);
		return rc;
	}
	sb->ops = msb_backend_get(sb->backend);
	*out = sb;
	return msb_ok();
}

/*
 * A handle on a named sandbox that runs detached, maybe started by another
 * process: born like any other, then tied to the agent's socket. No
 * routing: the sandbox runs where its entry says.
 */
int msb_sandbox_connect(msb_sandbox **out, const char *name)
{
	msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
	msb_backend backend;
	msb_sandbox *sb;
	int rc, fd;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an msb_sandbox "
				"pointer", "out is NULL");
	*out = NULL;
	if ((rc = msb_registry_open(name, &fd, &backend)))
		return rc;
	o.name = name;
	if ((rc = sandbox_new(&sb, &o))) {
		close(fd);
		return rc;
	}
	sb->detached = 1;
	sb->conn.fd = fd;
	sb->backend = backend;
	sb->ops = msb_backend_get(backend);
	snprintf(sb->backend_reason, sizeof(sb->backend_reason),
		 "%s (connected to %s)", sb->ops->name, name);
	/* a client's HELLO: the sandbox has its configuration already */
	rc = msb_handshake_join(sb);
	if (rc == 0)
		rc = msb_agent_running(sb);
	if (rc) {
		struct msb_saved_error e;

		/* freeing the half-born handle must not hide why it failed */
		msb_error_save(&e);
		sb->status = MSB_STATUS_STOPPED;
		msb_sandbox_free(sb);
		return msb_error_restore(&e);
	}
	*out = sb;
	return msb_ok();
}

int msb_check_sb(const msb_sandbox *sb)
{
	if (!sb)
		return msb_fail(MSB_EINVAL, 0, "pass a handle from "
				"msb_sandbox_create()", "sandbox handle is NULL");
	return 0;
}

#define CHECK_SB(sb)                          \
	do {                                  \
		int rc_ = msb_check_sb(sb);   \
		if (rc_)                      \
			return rc_;           \
	} while (0)

int msb_sandbox_start(msb_sandbox *sb)
{
	int rc;

	CHECK_SB(sb);
	pthread_mutex_lock(&sb->lock);
	if (sb->status != MSB_STATUS_CREATED) {
		msb_status st = sb->status;

		pthread_mutex_unlock(&sb->lock);
		return msb_fail(MSB_ESTATE, 0, "create a new sandbox to start "
				"another one", "the sandbox is already %s",
				msb_status_name(st));
	}
	pthread_mutex_unlock(&sb->lock);

	if (sb->detached &&
	    (rc = msb_registry_prepare(sb->config.name, &sb->config.socket_path)))
		return rc;
	/* until RUNNING: when the start began, for a failure to say how long
	 * it waited */
	sb->started_ns = msb_now_ns();
	if ((rc = sb->ops->start(sb)))
		return rc;
	if (sb->detached && (rc = msb_registry_record(sb->config.name, sb->host_pid,
						      sb->backend))) {
		msb_sandbox_stop(sb, 0);
		return rc;
	}
	rc = msb_agent_running(sb);
	if (rc) {
		sb->ops->kill(sb);
		pthread_mutex_lock(&sb->lock);
		sb->status = MSB_STATUS_EXITED;
		pthread_mutex_unlock(&sb->lock);
		return rc;
	}
	return msb_ok();
}

int msb_sandbox_stop(msb_sandbox *sb, int64_t grace_ms)
{
	msb_status st;
	json_t *call, *reply = NULL;

	CHECK_SB(sb);
	if (grace_ms < 0)
		grace_ms = 2000;
	pthread_mutex_lock(&sb->lock);
	st = sb->status;
	if (st == MSB_STATUS_CREATED) {
		sb->status = MSB_STATUS_STOPPED;
		pthread_mutex_unlock(&sb->lock);
		return msb_ok();
	}
	if (sb->stopping || st == MSB_STATUS_STOPPED) {
		pthread_mutex_unlock(&sb->lock);
		/* Idempotent, but a concurrent stop may still be finishing. */
		return msb_ok();
	}
	sb->stopping = 1;
	pthread_mutex_unlock(&sb->lock);

	if (st == MSB_STATUS_RUNNING) {
		call = json_pack("{s:s,s:I}", "op", "shutdown", "grace_ms",
				 (json_int_t)grace_ms);
		/* Errors here just mean the agent is already gone. */
		if (call && msb_call(sb, call, &reply, grace_ms + 3000) == 0)
			json_decref(reply);
		json_decref(call);
	}
	msb_conn_stop(sb);
	if (sb->detached) {
		/* Not our child: the agent is gone when its name is free. Its
		 * process is the one the kernel named when we connected. */
		msb_kill_host(sb->host_pidfd, sb->host_pid, 2000, SIGTERM);
		msb_registry_stopped(sb->config.name);
	} else if (!msb_agent_wait(sb, 2000)) {
		sb->ops->kill(sb);
	}
	pthread_mutex_lock(&sb->lock);
	if (sb->status == MSB_STATUS_RUNNING)
		sb->status = MSB_STATUS_STOPPED;
	pthread_mutex_unlock(&sb->lock);
	return msb_ok();
}

void msb_sandbox_free(msb_sandbox *sb)
{
	if (!sb)
		return;
	if (sb->detached && sb->status == MSB_STATUS_RUNNING) {
		/* It lives on without us: just hang up. */
		msb_conn_stop(sb);
		sb->status = MSB_STATUS_STOPPED;
	}
	if (sb->status == MSB_STATUS_RUNNING || sb->conn.fd >= 0 ||
	    (sb->agent_pid > 0 && !sb->agent_reaped))
		msb_sandbox_stop(sb, 500);
	msb_conn_stop(sb);
	if (sb->agent_pid > 0 && !sb->agent_reaped)
		sb->ops->kill(sb);
	msb_agent_forget(sb);
	if (sb->host_pidfd >= 0)
		close(sb->host_pidfd);
	msb_wire_config_release(&sb->config);
	msb_decoder_release(&sb->conn.dec);
	pthread_cond_destroy(&sb->conn.cond);
	pthread_mutex_destroy(&sb->conn.wlock);
	pthread_mutex_destroy(&sb->lock);
	free(sb);
}

msb_status msb_sandbox_status(const msb_sandbox *sb)
{
	msb_status st;

	if (!sb)
		return MSB_STATUS_STOPPED;
	/* Between requests nobody reads: look whether the agent went away. */
	msb_conn_poll((msb_sandbox *)sb);
	pthread_mutex_lock((pthread_mutex_t *)&sb->lock);
	st = sb->status;
	pthread_mutex_unlock((pthread_mutex_t *)&sb->lock);
	return st;
}

const char *msb_sandbox_name(const msb_sandbox *sb)
{
	return sb ? sb->config.name : "";
}

const char *msb_sandbox_backend_reason(const msb_sandbox *sb)
{
	return sb ? sb->backend_reason : "";
}

msb_backend msb_sandbox_backend(const msb_sandbox *sb)
{
	return sb ? sb->backend : MSB_BACKEND_AUTO;
}

const char *msb_sandbox_exit_reason(const msb_sandbox *sb)
{
	if (!sb || sb->status != MSB_STATUS_EXITED)
		return "";
	return sb->exit_reason;
}

msb_enforcement msb_sandbox_enforcement(const msb_sandbox *sb, msb_limit limit)
{
	if (!sb || (unsigned)limit > MSB_LIMIT_TIME ||
	    sb->status == MSB_STATUS_CREATED)
		return MSB_ENFORCE_NONE;
	return sb->enforcement[limit];
}

int msb_sandbox_metrics(msb_metrics *out, msb_sandbox *sb)
{
	json_t *call, *reply = NULL;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass an msb_metrics initialised "
				"with MSB_METRICS_INIT", "out is NULL");
	CHECK_SB(sb);
	if (out->version == 0 || out->version > MSB_METRICS_VERSION)
		return msb_fail(MSB_EVERSION, 0, "initialise with MSB_METRICS_INIT",
				"unknown msb_metrics version %u", out->version);
	out->running = 0;
	out->cpu_percent = 0;
	out->memory_bytes = out->disk_bytes = out->uptime_ms = 0;
	out->pids = 0;
	if (out->version >= 2)
		out->host_memory_bytes = 0;
	if (msb_sandbox_status(sb) != MSB_STATUS_RUNNING)
		return msb_ok();
	call = json_pack("{s:s}", "op", "metrics");
	if (!call)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	rc = msb_call(sb, call, &reply, 10000);
	json_decref(call);
	if (rc) {
		/* A sandbox that ended meanwhile is "not running", not an error. */
		if (msb_sandbox_status(sb) != MSB_STATUS_RUNNING)
			return msb_ok();
		return rc;
	}
	out->running = 1;
	out->cpu_percent = json_number_value(json_object_get(reply, "cpu_percent"));
	out->memory_bytes = (uint64_t)json_integer_value(json_object_get(reply, "memory"));
	out->disk_bytes = (uint64_t)json_integer_value(json_object_get(reply, "disk"));
	out->pids = (uint32_t)json_integer_value(json_object_get(reply, "pids"));
	/* the agent's count, from the sandbox's start; an agent that does
	 * not send one: since this handle's start or connection */
	if (json_integer_value(json_object_get(reply, "uptime_ms")) > 0)
		out->uptime_ms = (uint64_t)json_integer_value(json_object_get(reply, "uptime_ms"));
	else
		out->uptime_ms = (msb_now_ns() - sb->started_ns) / 1000000ull;
	if (out->version >= 2)
		out->host_memory_bytes = sb->ops->host_memory(sb,
							      out->memory_bytes);
	json_decref(reply);
	return msb_ok();
}
