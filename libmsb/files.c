/*
 * files.c - files inside the sandbox: read, write, stat, list, mkdir,
 * remove, rename, and copies between the host and the sandbox.
 *
 * Each call is one "file" request to the agent (see guest/files.c, which
 * does the path confinement). Data goes up as STDIN frames of at most
 * MSB_DATA_CHUNK bytes ended by an empty one, and comes down as STDOUT
 * frames; the REPLY carries the byte count, which is checked. The agent is
 * not trusted: sizes are capped here as well, listings are validated. A
 * copy out is capped (by default at the disk size: a sparse file must not
 * fill the host) and skips zeros, so a sparse file comes out sparse.
 * Paths are bytes (common/wire.h): any name is carried exactly.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "conn.h"
#include "error.h"
#include "sandbox.h"
#include "wire.h"
#include "wire_abi.h"

#define DEFAULT_READ_CAP (64ll << 20)
#define DEFAULT_FILE_MODE 0644
#define DEFAULT_DIR_MODE 0755
#define LIST_DATA_MAX (64ull << 20)  /* listing bytes accepted from the agent */
#define COPY_BUF (1u << 20)

/* ---- checks and requests ------------------------------------------------ */

static int check_path(const char *path, const char *what)
{
	if (!path)
		return msb_fail(MSB_EINVAL, 0, "pass a path inside the sandbox "
				"(relative ones start at the workdir)",
				"%s is NULL", what);
	if (!path[0])
		return msb_fail(MSB_EINVAL, 0, "pass a path inside the sandbox "
				"(relative ones start at the workdir)",
				"%s is empty", what);
	if (strlen(path) >= PATH_MAX)
		return msb_fail(MSB_EINVAL, 0, "shorten the path",
				"%s is longer than %d bytes", what, PATH_MAX - 1);
	return 0;
}

static int check_host_path(const char *path, const char *what)
{
	if (!path || !path[0])
		return msb_fail(MSB_EINVAL, 0, "pass a path on the host",
				"%s is %s", what, path ? "empty" : "NULL");
	return 0;
}


/* {"op":"file","action":action,"path":path}, the path a byte string
 * (common/wire.h); NULL (error raised) without memory. */
static json_t *file_call(const char *action, const char *path)
{
	json_t *call = json_pack("{s:s,s:s,s:o}", "op", "file", "action",
				 action, "path", msb_wire_str_encode(path));

	if (!call)
		msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	return call;
}

/* Does the request have its reply already (an early error)? */
static int replied(msb_sandbox *sb, struct request *req)
{
	int r;

	pthread_mutex_lock(&sb->lock);
	r = req->reply != NULL || req->lost;
	pthread_mutex_unlock(&sb->lock);
	return r;
}

/* Send the call and wait for an {"ok":true} REPLY (returned in *reply,
 * owned by the caller), ignoring data frames. */
static int call_ok(msb_sandbox *sb, json_t *call, json_t **reply)
{
	struct request *req;
	struct chunk *c;
	int rc;

	*reply = NULL;
	if (!call)
		return msb_error_last()->code;
	rc = msb_request_begin(sb, &req, call);
	json_decref(call);
	if (rc)
		return rc;
	while ((rc = msb_request_wait(sb, req, &c, 0)) == 1)
		free(c);
	if (rc == 0) {
		if (json_is_true(json_object_get(req->reply, "ok")))
			*reply = json_incref(req->reply);
		else
			rc = msb_fail_json(json_object_get(req->reply, "error"), NULL);
	}
	msb_request_end(sb, req);
	return rc;
}

static int simple_call(msb_sandbox *sb, json_t *call)
{
	json_t *reply;
	int rc = call_ok(sb, call, &reply);

	json_decref(reply);
	return rc ? rc : msb_ok();
}

/* ---- reading ----------------------------------------------------------- */

/* Takes data; returns 0 to go on, 1 to stop (canceled by the caller) or a
 * negative MSB_E* code with the error raised. */
typedef int (*sink_fn)(void *payload, const uint8_t *data, size_t len);

/* MSB_ETOOBIG for a file over the cap `max`, with the caller's hint
 * (how to raise the cap). The agent's message names the file's size;
 * its hint knows nothing of the call that was made, so ours replaces it. */
static int too_big(const char *path, int64_t max, const char *hint,
		   const char *agent_message)
{
	char msg[512];

	if (agent_message && agent_message[0])
		snprintf(msg, sizeof(msg), "%s", agent_message);
	else
		snprintf(msg, sizeof(msg), "\"%.200s\" is larger than the cap "
			 "of %lld bytes", path, (long long)max);
	return msb_fail(MSB_ETOOBIG, 0, hint, "%s", msg);
}

/* Read path into sink; past max bytes (0: no cap), MSB_ETOOBIG, cap_hint. */
static int read_core(msb_sandbox *sb, const char *path, int64_t max,
		     const char *cap_hint, sink_fn sink, void *payload,
		     unsigned int *mode)
{
	struct request *req;
	struct chunk *c;
	uint64_t got = 0;
	json_t *call;
	int rc;

	if (!(call = file_call("read", path)))
		return msb_error_last()->code;
	json_object_set_new(call, "max_bytes", json_integer(max));
	rc = msb_request_begin(sb, &req, call);
	json_decref(call);
	if (rc)
		return rc;
	while ((rc = msb_request_wait(sb, req, &c, 0)) == 1) {
		int r = 0;

		if (c->type != MSB_FRAME_STDOUT) {
			free(c);
			continue;
		}
		if (max && got + c->len > (uint64_t)max) {
			r = too_big(path, max, cap_hint, NULL);
		} else {
			r = sink(payload, c->data, c->len);
			got += c->len;
		}
		free(c);
		if (r) {
			/* Stop the agent; frames still coming for this id are
			 * dropped once the request ends. */
			int s = msb_conn_send(sb, MSB_FRAME_CANCEL, req->id,
					      "{\"signal\":9}", 12);

			if (s)
				r = s;
			else if (r > 0)
				r = msb_fail(MSB_ECANCELED, 0, "", "the callback "
					     "stopped the read of \"%.200s\"", path);
			msb_request_end(sb, req);
			return r;
		}
	}
	if (rc == 0) {
		const json_t *reply = req->reply;

		if (!json_is_true(json_object_get(reply, "ok"))) {
			rc = msb_fail_json(json_object_get(reply, "error"), NULL);
			if (rc == MSB_ETOOBIG && max)
				rc = too_big(path, max, cap_hint,
					     msb_error_last()->message);
		} else if ((uint64_t)json_integer_value(json_object_get(reply, "size")) != got)
			rc = msb_fail(MSB_EPROTO, 0, "this is a bug in msb-agent or "
				      "a compromised sandbox; stop the sandbox",
				      "the sandbox sent %llu bytes of \"%.200s\" "
				      "but reported another size",
				      (unsigned long long)got, path);
	}
	if (rc == 0 && mode)
		*mode = (unsigned)json_integer_value(json_object_get(req->reply,
								    "mode")) & 0777;
	msb_request_end(sb, req);
	return rc;
}

struct membuf {
	msb_buf *b;
	size_t cap;
};

static int mem_sink(void *payload, const uint8_t *data, size_t len)
{
	struct membuf *m = payload;
	msb_buf *b = m->b;

	if (b->len + len + 1 > m->cap) {
		size_t ncap = m->cap ? m->cap : 65536;
		uint8_t *p;

		while (ncap < b->len + len + 1)
			ncap *= 2;
		if (!(p = realloc(b->ptr, ncap)))
			return msb_fail(MSB_ENOMEM, ENOMEM, "lower the cap, or read "
					"the file in a stream", "out of memory "
					"reading a file");
		b->ptr = p;
		m->cap = ncap;
	}
	memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = 0;
	return 0;
}

int msb_file_read(msb_buf *out, msb_sandbox *sb, const char *path,
		  int64_t max_bytes)
{
	struct membuf m = { out, 0 };
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an msb_buf",
				"out is NULL");
	out->ptr = NULL;
	out->len = 0;
	if ((rc = msb_check_sb(sb)) || (rc = check_path(path, "path")))
		return rc;
	if (max_bytes < 0)
		return msb_fail(MSB_EINVAL, 0, "give the cap in bytes, or 0 for "
				"the default (64 MiB)", "max_bytes is negative "
				"(%lld)", (long long)max_bytes);
	if ((rc = read_core(sb, path, max_bytes ? max_bytes : DEFAULT_READ_CAP,
			    "pass a larger max_bytes to msb_file_read() (0 "
			    "means 64 MiB), or read the file with "
			    "msb_file_read_stream() or msb_file_copy_out_capped()",
			    mem_sink, &m, NULL))) {
		msb_buf_free(out);
		return rc;
	}
	if (!out->ptr && !(out->ptr = calloc(1, 1)))
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	return msb_ok();
}

struct cb_sink {
	msb_output_cb cb;
	void *payload;
};

static int user_sink(void *payload, const uint8_t *data, size_t len)
{
	struct cb_sink *s = payload;

	return s->cb(MSB_STREAM_STDOUT, data, len, s->payload) ? 1 : 0;
}

int msb_file_read_stream(msb_sandbox *sb, const char *path, int64_t max_bytes,
			 msb_output_cb cb, void *payload)
{
	struct cb_sink s = { cb, payload };
	int rc;

	if ((rc = msb_check_sb(sb)) || (rc = check_path(path, "path")))
		return rc;
	if (!cb)
		return msb_fail(MSB_EINVAL, 0, "use msb_file_read() to buffer the "
				"file instead", "callback is NULL");
	if (max_bytes < 0)
		return msb_fail(MSB_EINVAL, 0, "give the cap in bytes, or 0 for "
				"none", "max_bytes is negative (%lld)",
				(long long)max_bytes);
	rc = read_core(sb, path, max_bytes, "pass a larger max_bytes to "
		       "msb_file_read_stream() (0 means no cap)", user_sink, &s,
		       NULL);
	return rc ? rc : msb_ok();
}

/* ---- writing ----------------------------------------------------------- */

static int check_mode(unsigned int mode)
{
	if (mode > 07777)
		return msb_fail(MSB_EINVAL, 0, "give permission bits such as "
				"0644", "mode %#o is out of range", mode);
	return 0;
}

static int upload_begin(msb_sandbox *sb, struct request **req,
			const char *path, int flags, unsigned int mode)
{
	json_t *call = file_call("write", path);
	int rc;

	if (!call)
		return msb_error_last()->code;
	json_object_set_new(call, "flags",
			    json_integer(msb_write_flags_to_wire(flags)));
	json_object_set_new(call, "mode", json_integer(mode));
	rc = msb_request_begin(sb, req, call);
	json_decref(call);
	return rc;
}

/* Send data in chunks. Returns 0, 1 when the agent has answered already
 * (an error: stop sending), or a negative code. */
static int upload_send(msb_sandbox *sb, struct request *req,
		       const uint8_t *d, size_t n)
{
	int rc;

	while (n > 0) {
		size_t k = n > MSB_DATA_CHUNK ? MSB_DATA_CHUNK : n;

		if (replied(sb, req))
			return 1;
		if ((rc = msb_conn_send(sb, MSB_FRAME_STDIN, req->id, d, k)))
			return rc;
		d += k;
		n -= k;
	}
	return 0;
}

/* Send EOF (unless the agent answered already) and take the REPLY. */
static int upload_end(msb_sandbox *sb, struct request *req, int eof,
		      uint64_t sent, const char *path)
{
	struct chunk *c;
	int rc;

	if (eof && (rc = msb_conn_send(sb, MSB_FRAME_STDIN, req->id, NULL, 0)))
		return rc;
	while ((rc = msb_request_wait(sb, req, &c, 0)) == 1)
		free(c);
	if (rc)
		return rc;
	if (!json_is_true(json_object_get(req->reply, "ok")))
		return msb_fail_json(json_object_get(req->reply, "error"), NULL);
	if (!eof || (uint64_t)json_integer_value(json_object_get(req->reply,
								 "size")) != sent)
		return msb_fail(MSB_EPROTO, 0, "this is a bug in msb-agent or a "
				"compromised sandbox; stop the sandbox",
				"the sandbox stored another size than the %llu "
				"bytes sent to \"%.200s\"",
				(unsigned long long)sent, path);
	return 0;
}

static int check_write_args(msb_sandbox *sb, const char *path, int flags,
			    unsigned int mode)
{
	int rc;

	if ((rc = msb_check_sb(sb)) || (rc = check_path(path, "path")) ||
	    (rc = check_mode(mode)))
		return rc;
	if (flags < MSB_WRITE_TRUNCATE || flags > MSB_WRITE_EXCL)
		return msb_fail(MSB_EINVAL, 0, "pass MSB_WRITE_TRUNCATE, "
				"MSB_WRITE_APPEND or MSB_WRITE_EXCL",
				"unknown write flags %d", flags);
	return 0;
}

int msb_file_write(msb_sandbox *sb, const char *path, const void *data,
		   size_t len, int flags, unsigned int mode)
{
	struct request *req;
	int rc;

	if ((rc = check_write_args(sb, path, flags, mode)))
		return rc;
	if (len && !data)
		return msb_fail(MSB_EINVAL, 0, "pass the data, or a length of 0",
				"data is NULL but len is %zu", len);
	if ((rc = upload_begin(sb, &req, path, flags,
			       mode ? mode : DEFAULT_FILE_MODE)))
		return rc;
	rc = upload_send(sb, req, data, len);
	if (rc >= 0)
		rc = upload_end(sb, req, rc == 0, len, path);
	msb_request_end(sb, req);
	return rc ? rc : msb_ok();
}

/* ---- stat, exists, list ------------------------------------------------- */

/* A file type as the agent names it in file.stat's answer. */
static int parse_type(const char *s, msb_file_type *t)
{
	msb_file_type type = msb_file_type_from_wire(msb_wire_file_type_parse(s));

	if (!type)
		return -1;
	*t = type;
	return 0;
}

static int bad_reply(const char *what)
{
	return msb_fail(MSB_EPROTO, 0, "this is a bug in msb-agent or a "
			"compromised sandbox; stop the sandbox",
			"malformed %s reply from the sandbox", what);
}

int msb_file_stat_path(msb_file_stat *out, msb_sandbox *sb, const char *path)
{
	json_t *reply;
	json_int_t size;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_file_stat", "out is NULL");
	memset(out, 0, sizeof(*out));
	if ((rc = msb_check_sb(sb)) || (rc = check_path(path, "path")))
		return rc;
	if ((rc = call_ok(sb, file_call("stat", path), &reply)))
		return rc;
	size = json_integer_value(json_object_get(reply, "size"));
	if (parse_type(json_string_value(json_object_get(reply, "type")),
		       &out->type) || size < 0) {
		json_decref(reply);
		return bad_reply("stat");
	}
	out->size = (uint64_t)size;
	out->mode = (unsigned)json_integer_value(json_object_get(reply, "mode")) & 07777;
	out->mtime_ms = json_integer_value(json_object_get(reply, "mtime_ms"));
	json_decref(reply);
	return msb_ok();
}

int msb_file_exists(int *out, msb_sandbox *sb, const char *path)
{
	json_t *reply;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an int",
				"out is NULL");
	*out = 0;
	if ((rc = msb_check_sb(sb)) || (rc = check_path(path, "path")))
		return rc;
	if ((rc = call_ok(sb, file_call("exists", path), &reply)))
		return rc;
	*out = json_is_true(json_object_get(reply, "exists"));
	json_decref(reply);
	return msb_ok();
}

/* The public list, and the names it points into. */
struct dir_list {
	msb_dir_list pub;
	char *names;
};

void msb_dir_list_free(msb_dir_list *list)
{
	struct dir_list *l = (struct dir_list *)list;

	if (!l)
		return;
	free(l->pub.entries);
	free(l->names);
	free(l);
}

static int entry_cmp(const void *x, const void *y)
{
	return strcmp(((const msb_dir_entry *)x)->name,
		      ((const msb_dir_entry *)y)->name);
}

/* Parse one "<type> <size> <mode> <mtime_ms> <name>" record in place. */
static int parse_record(char *rec, msb_dir_entry *e)
{
	char *p = rec, *end;
	long long v[4];

	for (int i = 0; i < 4; i++) {
		errno = 0;
		v[i] = strtoll(p, &end, 10);
		if (errno || end == p || *end != ' ')
			return -1;
		p = end + 1;
	}
	if (v[0] < 0 || v[0] > INT_MAX || !msb_file_type_from_wire((int)v[0]) ||
	    v[1] < 0 || v[2] < 0 || v[2] > 07777 || !*p || strchr(p, '/') ||
	    !strcmp(p, ".") || !strcmp(p, ".."))
		return -1;
	e->stat.type = msb_file_type_from_wire((int)v[0]);
	e->stat.size = (uint64_t)v[1];
	e->stat.mode = (unsigned)v[2];
	e->stat.mtime_ms = v[3];
	e->name = p;
	return 0;
}

int msb_file_list(msb_dir_list **out, msb_sandbox *sb, const char *path)
{
	struct dir_list *l = NULL;
	struct request *req;
	struct chunk *c;
	msb_buf data = { NULL, 0 };
	struct membuf m = { &data, 0 };
	json_int_t count;
	json_t *call;
	size_t n = 0, off;
	int rc;

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_dir_list pointer", "out is NULL");
	*out = NULL;
	if ((rc = msb_check_sb(sb)) || (rc = check_path(path, "path")))
		return rc;
	if (!(call = file_call("list", path)))
		return msb_error_last()->code;
	rc = msb_request_begin(sb, &req, call);
	json_decref(call);
	if (rc)
		return rc;
	while ((rc = msb_request_wait(sb, req, &c, 0)) == 1) {
		if (c->type == MSB_FRAME_STDOUT) {
			if (data.len + c->len > LIST_DATA_MAX)
				rc = bad_reply("list");
			else
				rc = mem_sink(&m, c->data, c->len);
		}
		free(c);
		if (rc)
			break;
	}
	if (rc == 0 && !json_is_true(json_object_get(req->reply, "ok")))
		rc = msb_fail_json(json_object_get(req->reply, "error"), NULL);
	count = rc ? 0 : json_integer_value(json_object_get(req->reply, "count"));
	msb_request_end(sb, req);
	if (rc)
		goto fail;

	/* Records end with a NUL each. */
	for (off = 0; off < data.len; off++)
		if (!data.ptr[off])
			n++;
	if (count < 0 || (size_t)count != n || (data.len && data.ptr[data.len - 1])) {
		rc = bad_reply("list");
		goto fail;
	}
	if (!(l = calloc(1, sizeof(*l))) ||
	    (n && !(l->pub.entries = calloc(n, sizeof(*l->pub.entries))))) {
		rc = msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
		goto fail;
	}
	l->names = (char *)data.ptr;
	data.ptr = NULL;
	for (off = 0; l->pub.len < n; off += strlen(l->names + off) + 1) {
		if (parse_record(l->names + off, &l->pub.entries[l->pub.len])) {
			rc = bad_reply("list");
			goto fail;
		}
		l->pub.len++;
	}
	/* The agent sorts; the contract is ours to keep. */
	if (l->pub.len)
		qsort(l->pub.entries, l->pub.len, sizeof(*l->pub.entries), entry_cmp);
	*out = &l->pub;
	return msb_ok();
fail:
	msb_buf_free(&data);
	msb_dir_list_free(l ? &l->pub : NULL);
	return rc;
}

/* ---- mkdir, remove, rename ---------------------------------------------- */

int msb_file_mkdir(msb_sandbox *sb, const char *path, unsigned int mode,
		   int parents)
{
	json_t *call;
	int rc;

	if ((rc = msb_check_sb(sb)) || (rc = check_path(path, "path")) ||
	    (rc = check_mode(mode)))
		return rc;
	if (!(call = file_call("mkdir", path)))
		return msb_error_last()->code;
	json_object_set_new(call, "mode", json_integer(mode ? mode : DEFAULT_DIR_MODE));
	json_object_set_new(call, "parents", json_boolean(parents));
	return simple_call(sb, call);
}

int msb_file_remove(msb_sandbox *sb, const char *path, int recursive)
{
	json_t *call;
	int rc;

	if ((rc = msb_check_sb(sb)) || (rc = check_path(path, "path")))
		return rc;
	if (!(call = file_call("remove", path)))
		return msb_error_last()->code;
	json_object_set_new(call, "recursive", json_boolean(recursive));
	return simple_call(sb, call);
}

int msb_file_rename(msb_sandbox *sb, const char *from, const char *to)
{
	json_t *call;
	int rc;

	if ((rc = msb_check_sb(sb)) || (rc = check_path(from, "from")) ||
	    (rc = check_path(to, "to")))
		return rc;
	call = json_pack("{s:s,s:s,s:o,s:o}", "op", "file", "action", "rename",
			 "from", msb_wire_str_encode(from),
			 "to", msb_wire_str_encode(to));
	if (!call)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	return simple_call(sb, call);
}

/* ---- copies between the host and the sandbox ---------------------------- */

static int host_fail(int e, const char *what, const char *path)
{
	int code;
	const char *hint;

	switch (e) {
	case ENOENT:
		code = MSB_ENOTFOUND;
		hint = "check the host path (create its directory first)";
		break;
	case EACCES:
	case EPERM:
	case EROFS:
		code = MSB_EPERM;
		hint = "check the host path's permissions";
		break;
	case EISDIR:
	case ENOTDIR:
		code = MSB_EINVAL;
		hint = "give the path of a file, in a directory that exists";
		break;
	case ENOSPC:
	case EDQUOT:
		code = MSB_EIO;
		hint = "the host file system is full";
		break;
	case ENOMEM:
		code = MSB_ENOMEM;
		hint = "";
		break;
	default:
		code = MSB_EIO;
		hint = "";
		break;
	}
	return msb_fail(code, e, hint, "%s \"%.200s\"", what, path);
}

int msb_file_copy_in(msb_sandbox *sb, const char *host_path,
		     const char *sandbox_path)
{
	struct request *req;
	struct stat st;
	uint64_t sent = 0;
	uint8_t *buf;
	int fd, rc;

	if ((rc = msb_check_sb(sb)) || (rc = check_host_path(host_path, "host_path")) ||
	    (rc = check_path(sandbox_path, "sandbox_path")))
		return rc;
	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
	fd = open(host_path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return host_fail(errno, "cannot open the host file", host_path);
	if (fstat(fd, &st) < 0) {
		rc = host_fail(errno, "cannot stat the host file", host_path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return msb_fail(MSB_EINVAL, 0, "copy regular files only",
				"host path \"%.200s\" is not a regular file",
				host_path);
	}
	if (!(buf = malloc(COPY_BUF))) {
		close(fd);
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	}
	if ((rc = upload_begin(sb, &req, sandbox_path, MSB_WRITE_TRUNCATE,
			       st.st_mode & 0777))) {
		free(buf);
		close(fd);
		return rc;
	}
	for (;;) {
		ssize_t n = read(fd, buf, COPY_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = host_fail(errno, "cannot read the host file", host_path);
			/* The agent removes what it created when we go away
			 * mid-write; a cancel does the same now. */
			msb_conn_send(sb, MSB_FRAME_CANCEL, req->id,
				      "{\"signal\":9}", 12);
			break;
		}
		if (n == 0) {
			rc = upload_end(sb, req, 1, sent, sandbox_path);
			break;
		}
		rc = upload_send(sb, req, buf, (size_t)n);
		if (rc) {
			if (rc > 0)
				rc = upload_end(sb, req, 0, sent, sandbox_path);
			break;
		}
		sent += (uint64_t)n;
	}
	msb_request_end(sb, req);
	free(buf);
	close(fd);
	return rc ? rc : msb_ok();
}

/* Writes what arrives at its offset in fd, skipping the blocks (aligned
 * to the file's offsets) that are all zeros: they stay holes, and the
 * final ftruncate gives the file its size. */
struct fd_sink {
	int fd;
	const char *path;
	uint64_t pos;   /* the offset of the next byte */
	size_t block;   /* the host file system's block size */
};

static int all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

static int fd_write_at(struct fd_sink *s, const uint8_t *data, size_t len,
		       uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(s->fd, data, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return host_fail(errno, "cannot write the host file",
					 s->path);
		data += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int fd_sink(void *payload, const uint8_t *data, size_t len)
{
	struct fd_sink *s = payload;
	size_t run = 0, done = 0;  /* run: bytes not zero, before data + done */
	int rc;

	while (done < len) {
		size_t k = s->block - (size_t)((s->pos + done) % s->block);

		if (k > len - done)
			k = len - done;
		if (all_zero(data + done, k)) {
			if (run && (rc = fd_write_at(s, data + done - run, run,
						     s->pos + done - run)))
				return rc;
			run = 0;
		} else {
			run += k;
		}
		done += k;
	}
	if (run && (rc = fd_write_at(s, data + len - run, run,
				     s->pos + len - run)))
		return rc;
	s->pos += len;
	return 0;
}

static mode_t current_umask(void)
{
	char line[128];
	unsigned int m = 022;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &m) == 1)
			break;
	if (f)
		fclose(f);
	return (mode_t)m & 0777;
}

int msb_file_copy_out(msb_sandbox *sb, const char *sandbox_path,
		      const char *host_path)
{
	return msb_file_copy_out_capped(sb, sandbox_path, host_path, 0);
}

int msb_file_copy_out_capped(msb_sandbox *sb, const char *sandbox_path,
			     const char *host_path, int64_t max_bytes)
{
	unsigned int mode = 0644;
	struct stat hst;
	struct fd_sink s;
	char *tmp = NULL, hint[256];
	const char *slash;
	size_t dlen;
	int rc, fd;

	if ((rc = msb_check_sb(sb)) || (rc = check_path(sandbox_path, "sandbox_path")) ||
	    (rc = check_host_path(host_path, "host_path")))
		return rc;
	if (max_bytes < 0)
		return msb_fail(MSB_EINVAL, 0, "give the cap in bytes, or 0 for "
				"the sandbox's disk size", "max_bytes is "
				"negative (%lld)", (long long)max_bytes);
	if (!max_bytes)
		max_bytes = sb->config.disk_bytes;
	snprintf(hint, sizeof(hint), "to copy more than %lld bytes, pass a "
		 "larger max_bytes to msb_file_copy_out_capped() (msb cp "
		 "--max-size SIZE); the default cap is the sandbox's disk size",
		 (long long)max_bytes);
	if (stat(host_path, &hst) == 0 && S_ISDIR(hst.st_mode))
		return msb_fail(MSB_EINVAL, 0, "give the destination file's "
				"path, not its directory", "host path "
				"\"%.200s\" is a directory", host_path);

	/* A temporary file next to the destination, renamed over it at the
	 * end: the destination is never half written. */
	slash = strrchr(host_path, '/');
	dlen = slash ? (size_t)(slash - host_path) : 0;
	if (asprintf(&tmp, "%.*s%s.%s.msb-XXXXXX", (int)dlen, host_path,
		     slash ? "/" : "", slash ? slash + 1 : host_path) < 0)
		return msb_fail(MSB_ENOMEM, ENOMEM, NULL, "out of memory");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ?
			msb_fail(MSB_ENOTFOUND, ENOENT, "create the host "
				 "directory first", "the directory of host path "
				 "\"%.200s\" does not exist", host_path) :
			host_fail(errno, "cannot create a file next to", host_path);
		free(tmp);
		return rc;
	}
	s.fd = fd;
	s.path = host_path;
	s.pos = 0;
	s.block = fstat(fd, &hst) == 0 && hst.st_blksize >= 512 &&
		  hst.st_blksize <= COPY_BUF ? (size_t)hst.st_blksize : 4096;
	rc = read_core(sb, sandbox_path, max_bytes, hint, fd_sink, &s, &mode);
	/* The size, holes at the end included. */
	if (!rc && ftruncate(fd, (off_t)s.pos) < 0)
		rc = host_fail(errno, "cannot write the host file", host_path);
	if (!rc && fchmod(fd, (mode_t)mode & ~current_umask()) < 0)
		rc = host_fail(errno, "cannot set the mode of", host_path);
	if (close(fd) < 0 && !rc)
		rc = host_fail(errno, "cannot write the host file", host_path);
	if (!rc && rename(tmp, host_path) < 0)
		rc = host_fail(errno, "cannot rename the copy to", host_path);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc ? rc : msb_ok();
}
