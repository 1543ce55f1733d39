/*
 * wire.h - the one schema of what libmsb and msb-agent say to each other
 * during the handshake, and the error object of every failed reply.
 *
 * Both sides encode and decode these records here and nowhere else: libmsb
 * builds a struct msb_wire_config from the caller's options and sends it
 * in its HELLO; the agent decodes the same struct, isolates, and answers
 * with a struct msb_wire_ready (or a struct msb_wire_error). The codes and
 * names below are the protocol's own: the agent never includes the client
 * ABI (include/msb.h), and libmsb maps wire codes to its ABI codes in one
 * place (libmsb/error.c). docs/PROTOCOL.md describes the same records.
 *
 * Decoders treat their input as hostile: unknown codes become
 * MSB_WIRE_ERROR, strings are copied, limits are range-checked. Strings
 * that are bytes on Linux (paths, env, argv) travel as byte strings
 * (msb_wire_bytes_encode), so that no byte is lost or refused on the way.
 */
#ifndef MSB_WIRE_H
#define MSB_WIRE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The error codes an error object carries (the "code" member). */
enum msb_wire_code {
	MSB_WIRE_OK = 0,
	MSB_WIRE_ERROR = -1,
	MSB_WIRE_EINVAL = -2,
	MSB_WIRE_ENOMEM = -3,
	MSB_WIRE_EVERSION = -4,
	MSB_WIRE_ESTATE = -5,
	MSB_WIRE_EUNSUPPORTED = -6,
	MSB_WIRE_ESPAWN = -7,
	MSB_WIRE_EPROTO = -8,
	MSB_WIRE_ESANDBOX = -9,
	MSB_WIRE_ETIMEDOUT = -10,
	MSB_WIRE_ENOTFOUND = -11,
	MSB_WIRE_EPERM = -12,
	MSB_WIRE_EIO = -13,
	MSB_WIRE_ECANCELED = -14,
	MSB_WIRE_EDONE = -15,
	MSB_WIRE_EEXISTS = -16,
	MSB_WIRE_ETOOBIG = -17,
	MSB_WIRE_CODE_LAST = MSB_WIRE_ETOOBIG /* the most negative known code */
};

/* An error object: {"code", "message", "hint", "errno"}. Messages are
 * text: msb_wire_error_encode() writes a byte that is not UTF-8 (from a
 * path in the message) as "\xNN". */
struct msb_wire_error {
	int code;           /* an msb_wire_code */
	int os_errno;       /* 0, or an errno value below 4096 */
	char message[1024];
	char hint[1024];    /* "" when there is none */
};

/* Record an error in e; returns -1, so that `return msb_wire_fail(...)`
 * reads well. A non-zero os_errno appends ": strerror(os_errno)" to the
 * message, as libmsb's own errors do. hint and fmt may be NULL. */
int msb_wire_fail(struct msb_wire_error *e, int code, int os_errno,
		  const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The same with a va_list. */
int msb_wire_vfail(struct msb_wire_error *e, int code, int os_errno,
		   const char *hint, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/* The error object for e (a new reference, or NULL without memory). */
json_t *msb_wire_error_encode(const struct msb_wire_error *e);
/* A request's failed REPLY: {"ok": false, "error": {...}}. */
json_t *msb_wire_failed_reply(const struct msb_wire_error *e);
/* Fill e from an error object from the peer; an unknown code becomes
 * MSB_WIRE_ERROR, an errno out of range 0, a missing message "the sandbox
 * reported an error". obj may be NULL or not an object. */
void msb_wire_error_decode(const json_t *obj, struct msb_wire_error *e);

/*
 * Byte strings. argv elements, env entries, paths and names are bytes on
 * Linux, JSON strings are UTF-8 text. A byte string travels as a JSON
 * string when its bytes are UTF-8 without NUL (so text looks as it always
 * did), else as {"b64": "<the bytes in base64>"} (RFC 4648, padded).
 */
/* 1 if s[0..n) is UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF) without NUL. */
int msb_wire_is_text(const char *s, size_t n);
/* The JSON value for the bytes p[0..n) (a new reference, or NULL without
 * memory). */
json_t *msb_wire_bytes_encode(const void *p, size_t n);
/* The same for a C string. */
json_t *msb_wire_str_encode(const char *s);
/* Decode a byte string: 0 with *out (malloc'd, NUL-terminated; free it)
 * and *len; -1 when v is not one (neither a string nor {"b64"} of valid
 * base64, or NULL); -2 without memory. */
int msb_wire_bytes_decode(const json_t *v, char **out, size_t *len);
/* The same for a C string: -1 also when the bytes hold a NUL. */
int msb_wire_str_decode(const json_t *v, char **out);
/* A JSON array of C strings into a NULL-terminated vector (*out, free it
 * with msb_wire_strv_free()). Returns 0; -1 when arr is not an array or
 * its element *bad is not a C string; -2 without memory. */
int msb_wire_strv_decode(const json_t *arr, char ***out, size_t *bad);
void msb_wire_strv_free(char **v);

/* How a limit ended up enforced. */
enum msb_wire_enforcement {
	MSB_WIRE_ENFORCE_NONE = 0,   /* "none" */
	MSB_WIRE_ENFORCE_RLIMIT = 1, /* "rlimit": per process */
	MSB_WIRE_ENFORCE_CGROUP = 2, /* "cgroup": for the whole sandbox */
	MSB_WIRE_ENFORCE_KERNEL = 3  /* "kernel": the sandbox's own kernel */
};
/* The limits, in the order of the ready record's enforcement[]. */
enum msb_wire_limit {
	MSB_WIRE_LIMIT_MEMORY = 0, /* "memory" */
	MSB_WIRE_LIMIT_CPU = 1,    /* "cpu" */
	MSB_WIRE_LIMIT_PIDS = 2,   /* "pids" */
	MSB_WIRE_LIMIT_DISK = 3,   /* "disk" */
	MSB_WIRE_LIMIT_TIME = 4,   /* "time" */
	MSB_WIRE_LIMITS = 5
};
/* "none", "rlimit", "cgroup", "kernel"; "none" for an unknown value. */
const char *msb_wire_enforcement_name(int enforcement);
/* The inverse; MSB_WIRE_ENFORCE_NONE for NULL or an unknown name. */
int msb_wire_enforcement_parse(const char *name);
/* "memory", "cpu", "pids", "disk", "time"; NULL for an unknown limit. */
const char *msb_wire_limit_name(int limit);

/* File types in file.stat's "type" and file.list's records. */
enum msb_wire_file_type {
	MSB_WIRE_FILE_REGULAR = 1,
	MSB_WIRE_FILE_DIRECTORY = 2,
	MSB_WIRE_FILE_SYMLINK = 3,
	MSB_WIRE_FILE_OTHER = 4
};
/* "regular", "directory", "symlink", "other"; "other" when unknown. */
const char *msb_wire_file_type_name(int type);
/* The inverse; 0 for NULL or an unknown name. */
int msb_wire_file_type_parse(const char *name);

/* file.write's "flags". */
enum msb_wire_write_flags {
	MSB_WIRE_WRITE_TRUNCATE = 0, /* create or truncate */
	MSB_WIRE_WRITE_APPEND = 1,   /* create or append */
	MSB_WIRE_WRITE_EXCL = 2      /* create; MSB_WIRE_EEXISTS if it exists */
};

/* A host path the sandbox sees. */
struct msb_wire_volume {
	char *host_path;
	char *sandbox_path;
	int read_only;
};

/* Most virtio-console ports a detached microVM's clients use. */
#define MSB_WIRE_MAX_PORTS 16
/* The longest hostname (a DNS name, as sethostname(2) takes it). */
#define MSB_WIRE_HOSTNAME_MAX 63

/*
 * The sandbox's configuration, the "config" of the host's HELLO. libmsb
 * resolves every limit before it sends it: no zero means "default".
 * Encoding borrows the strings; decoding allocates them (released by
 * msb_wire_config_release()).
 */
struct msb_wire_config {
	char *name;
	char *hostname;       /* NULL: the name, cut to 63 characters */
	int64_t memory_bytes; /* > 0 */
	double cpus;          /* > 0 */
	int64_t pids;         /* > 0 */
	int64_t disk_bytes;   /* > 0: the writable area's size */
	int64_t timeout_ms;   /* 0: no wall-time limit */
	char **env;           /* NULL-terminated "K=V"; decoded: never NULL */
	char *workdir;
	char *rootfs;         /* "/": the host's system directories */
	struct msb_wire_volume *volumes;
	size_t volumes_len;
	char *socket_path;    /* detached: where the agent listens, else NULL */
	unsigned ports;       /* a detached microVM: its client ports, else 0 */
};

/* The host's HELLO: {"proto": MSB_PROTO_VERSION, "config": {...}}. */
json_t *msb_wire_hello_encode(const struct msb_wire_config *c);
/* Decode a host's HELLO into c (zeroed first; release it either way).
 * Returns 0, or -1 with *why: another protocol version, a malformed
 * configuration, or missing or invalid limits. */
int msb_wire_hello_decode(const json_t *hello, struct msb_wire_config *c,
			  const char **why);
void msb_wire_config_release(struct msb_wire_config *c);

/* A later client of a detached sandbox starts with {"proto"}: no
 * configuration, the agent already has one. */
json_t *msb_wire_join_encode(void);
/* 1 if hello speaks this protocol version. */
int msb_wire_proto_ok(const json_t *hello);

/* In a microVM the agent speaks first, once its channel is open:
 * {"proto", "ready": true}; 1 if hello is that. */
json_t *msb_wire_vm_ready_encode(void);
int msb_wire_vm_ready_decode(const json_t *hello);

/*
 * The agent's answer once the sandbox is isolated and serving:
 * {"proto", "agent", "ok": true, "cgroup", "detached", "pid",
 *  "enforcement": {"memory": "cgroup", ...}}.
 */
struct msb_wire_ready {
	char agent[32];       /* the agent's version */
	int cgroup;           /* the cgroup version it used: 0, 1, 2 */
	int detached;
	int64_t pid;          /* stage 0's pid on the host: informative only */
	int enforcement[MSB_WIRE_LIMITS]; /* msb_wire_enforcement values */
};
json_t *msb_wire_ready_encode(const struct msb_wire_ready *r);
/* The answer when setup failed: {"proto", "ok": false, "error": {...}}. */
json_t *msb_wire_refusal_encode(const struct msb_wire_error *e);
/*
 * Decode the agent's answer. Returns 0 with *r filled; 1 when the agent
 * refused (its error in *e; a refusal without one is MSB_WIRE_ERROR);
 * -1 when the answer speaks another protocol version (*why says so).
 */
int msb_wire_ready_decode(const json_t *hello, struct msb_wire_ready *r,
			  struct msb_wire_error *e, const char **why);

#endif
