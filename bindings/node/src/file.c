/*
 * file.c - file operations for index.js's sandbox.fs: one entry point,
 * file(h, action, path, a, b, c), whose action numbers index.js mirrors,
 * and one call per operation.
 */
#include <stdlib.h>

#include <msb.h>

#include "call.h"
#include "convert.h"
#include "file.h"

enum { F_READ, F_WRITE, F_STAT, F_EXISTS, F_LIST, F_MKDIR, F_REMOVE,
       F_RENAME, F_COPY_IN, F_COPY_OUT };

/* { type, size, mode, mtimeMs } */
static napi_value stat_value(napi_env env, const msb_file_stat *st)
{
	static const char *const types[] = { "unknown", "file", "directory",
					     "symlink", "other" };
	napi_value o;

	NAPI_OK(napi_create_object(env, &o));
	set_str(env, o, "type", st->type >= 1 && st->type <= 4 ? types[st->type] : types[0]);
	set_num(env, o, "size", (double)st->size);
	set_num(env, o, "mode", st->mode);
	set_num(env, o, "mtimeMs", (double)st->mtime_ms);
	return o;
}

/* Every file call starts with the path; the rest is per operation. */
typedef struct file_call {
	call base;
	char *path;
} file_call;

static void file_release(call *c)
{
	free(((file_call *)c)->path);
}

/* ------------------------------------------------------------------------
 * read, write
 */

typedef struct file_read_call {
	file_call f;
	int64_t max_bytes;
	msb_buf data; /* the result */
} file_read_call;

static int read_exec(call *c)
{
	file_read_call *o = (file_read_call *)c;

	return CAP(c, msb_file_read(&o->data, c->h->sb, o->f.path, o->max_bytes));
}

static napi_value read_done(napi_env env, call *c)
{
	return buf_value(env, &((file_read_call *)c)->data);
}

static void read_release(call *c)
{
	msb_buf_free(&((file_read_call *)c)->data);
	file_release(c);
}

static const call_kind read_kind = { "msb.file", read_exec, read_done, read_release };

typedef struct file_write_call {
	file_call f;
	void *data;
	size_t len;
	int flags;
	unsigned int mode;
} file_write_call;

static int write_exec(call *c)
{
	file_write_call *o = (file_write_call *)c;

	return CAP(c, msb_file_write(c->h->sb, o->f.path, o->data, o->len,
				     o->flags, o->mode));
}

static void write_release(call *c)
{
	free(((file_write_call *)c)->data);
	file_release(c);
}

static const call_kind write_kind = { "msb.file", write_exec, NULL, write_release };

/* ------------------------------------------------------------------------
 * stat, exists, list
 */

typedef struct file_stat_call {
	file_call f;
	msb_file_stat st; /* the result */
} file_stat_call;

static int stat_exec(call *c)
{
	file_stat_call *o = (file_stat_call *)c;

	return CAP(c, msb_file_stat_path(&o->st, c->h->sb, o->f.path));
}

static napi_value stat_done(napi_env env, call *c)
{
	return stat_value(env, &((file_stat_call *)c)->st);
}

static const call_kind stat_kind = { "msb.file", stat_exec, stat_done, file_release };

typedef struct file_exists_call {
	file_call f;
	int exists; /* the result */
} file_exists_call;

static int exists_exec(call *c)
{
	file_exists_call *o = (file_exists_call *)c;

	return CAP(c, msb_file_exists(&o->exists, c->h->sb, o->f.path));
}

static napi_value exists_done(napi_env env, call *c)
{
	napi_value v;

	napi_get_boolean(env, ((file_exists_call *)c)->exists != 0, &v);
	return v;
}

static const call_kind exists_kind = {
	"msb.file", exists_exec, exists_done, file_release
};

typedef struct file_list_call {
	file_call f;
	msb_dir_list *list; /* the result */
} file_list_call;

static int list_exec(call *c)
{
	file_list_call *o = (file_list_call *)c;

	return CAP(c, msb_file_list(&o->list, c->h->sb, o->f.path));
}

static napi_value list_done(napi_env env, call *c)
{
	const msb_dir_list *dl = ((file_list_call *)c)->list;
	napi_value v;

	NAPI_OK(napi_create_array_with_length(env, dl->len, &v));
	for (size_t i = 0; i < dl->len; i++) {
		napi_value e = stat_value(env, &dl->entries[i].stat);

		if (!e)
			return NULL;
		set_str(env, e, "name", dl->entries[i].name);
		napi_set_element(env, v, (uint32_t)i, e);
	}
	return v;
}

static void list_release(call *c)
{
	msb_dir_list_free(((file_list_call *)c)->list);
	file_release(c);
}

static const call_kind list_kind = { "msb.file", list_exec, list_done, list_release };

/* ------------------------------------------------------------------------
 * mkdir, remove
 */

typedef struct file_mkdir_call {
	file_call f;
	unsigned int mode;
	int parents;
} file_mkdir_call;

static int mkdir_exec(call *c)
{
	file_mkdir_call *o = (file_mkdir_call *)c;

	return CAP(c, msb_file_mkdir(c->h->sb, o->f.path, o->mode, o->parents));
}

static const call_kind mkdir_kind = { "msb.file", mkdir_exec, NULL, file_release };

typedef struct file_remove_call {
	file_call f;
	int recursive;
} file_remove_call;

static int remove_exec(call *c)
{
	file_remove_call *o = (file_remove_call *)c;

	return CAP(c, msb_file_remove(c->h->sb, o->f.path, o->recursive));
}

static const call_kind remove_kind = { "msb.file", remove_exec, NULL, file_release };

/* ------------------------------------------------------------------------
 * rename, copyIn, copyOut: from path to a second path
 */

typedef struct file_pair_call {
	file_call f;
	char *to;
} file_pair_call;

static int rename_exec(call *c)
{
	file_pair_call *o = (file_pair_call *)c;

	return CAP(c, msb_file_rename(c->h->sb, o->f.path, o->to));
}

static int copy_in_exec(call *c)
{
	file_pair_call *o = (file_pair_call *)c;

	return CAP(c, msb_file_copy_in(c->h->sb, o->f.path, o->to));
}

static int copy_out_exec(call *c)
{
	file_pair_call *o = (file_pair_call *)c;

	return CAP(c, msb_file_copy_out(c->h->sb, o->f.path, o->to));
}

static void pair_release(call *c)
{
	free(((file_pair_call *)c)->to);
	file_release(c);
}

static const call_kind rename_kind = { "msb.file", rename_exec, NULL, pair_release };
static const call_kind copy_in_kind = { "msb.file", copy_in_exec, NULL, pair_release };
static const call_kind copy_out_kind = { "msb.file", copy_out_exec, NULL, pair_release };

/* ------------------------------------------------------------------------
 * The entry point
 */

/* The call of kind for the sandbox argv0, holding path (taken over). */
static void *file_new(napi_env env, napi_value argv0, size_t size,
		      const call_kind *kind, char *path)
{
	file_call *o = call_for_sb(env, argv0, size, kind);

	if (!o) {
		free(path);
		return NULL;
	}
	o->path = path;
	return o;
}

/* file(h, action, path, a, b, c):
 *   read: a = maxBytes;  write: a = data, b = flags, c = mode;
 *   mkdir: a = mode, b = parents;  remove: a = recursive;
 *   rename / copyIn / copyOut: a = second path */
napi_value js_file(napi_env env, napi_callback_info info)
{
	ARGS(6);
	int64_t action = -1, mode = 0, x = 0;
	char *path = NULL;
	int b = 0;

	if (!get_sbh(env, argv[0]))
		return NULL;
	if (get_i64(env, argv[1], &action) < 0 ||
	    get_str(env, argv[2], &path, NULL, "path") < 0)
		return NULL;
	if (!path) {
		throw_type(env, "path must be a string");
		return NULL;
	}
	switch (action) {
	case F_READ: {
		file_read_call *o = file_new(env, argv[0], sizeof(*o), &read_kind, path);

		if (!o)
			return NULL;
		if (get_i64(env, argv[3], &o->max_bytes) < 0)
			return call_abort(&o->f.base);
		return call_queue(env, &o->f.base);
	}
	case F_WRITE: {
		file_write_call *o = file_new(env, argv[0], sizeof(*o), &write_kind, path);

		if (!o)
			return NULL;
		if (get_bytes(env, argv[3], &o->data, &o->len) < 0 ||
		    get_i64(env, argv[4], &x) < 0 || get_i64(env, argv[5], &mode) < 0)
			return call_abort(&o->f.base);
		o->flags = (int)x;
		o->mode = (unsigned int)mode;
		return call_queue(env, &o->f.base);
	}
	case F_STAT: {
		file_stat_call *o = file_new(env, argv[0], sizeof(*o), &stat_kind, path);

		return o ? call_queue(env, &o->f.base) : NULL;
	}
	case F_EXISTS: {
		file_exists_call *o = file_new(env, argv[0], sizeof(*o), &exists_kind, path);

		return o ? call_queue(env, &o->f.base) : NULL;
	}
	case F_LIST: {
		file_list_call *o = file_new(env, argv[0], sizeof(*o), &list_kind, path);

		return o ? call_queue(env, &o->f.base) : NULL;
	}
	case F_MKDIR: {
		file_mkdir_call *o = file_new(env, argv[0], sizeof(*o), &mkdir_kind, path);

		if (!o)
			return NULL;
		if (get_i64(env, argv[3], &mode) < 0 || get_bool(env, argv[4], &b) < 0)
			return call_abort(&o->f.base);
		o->mode = (unsigned int)mode;
		o->parents = b;
		return call_queue(env, &o->f.base);
	}
	case F_REMOVE: {
		file_remove_call *o = file_new(env, argv[0], sizeof(*o), &remove_kind, path);

		if (!o)
			return NULL;
		if (get_bool(env, argv[3], &b) < 0)
			return call_abort(&o->f.base);
		o->recursive = b;
		return call_queue(env, &o->f.base);
	}
	case F_RENAME:
	case F_COPY_IN:
	case F_COPY_OUT: {
		file_pair_call *o = file_new(env, argv[0], sizeof(*o),
					     action == F_RENAME ? &rename_kind :
					     action == F_COPY_IN ? &copy_in_kind :
					     &copy_out_kind, path);

		if (!o)
			return NULL;
		if (get_str(env, argv[3], &o->to, NULL, "path") < 0)
			return call_abort(&o->f.base);
		if (!o->to) {
			throw_type(env, "path must be a string");
			return call_abort(&o->f.base);
		}
		return call_queue(env, &o->f.base);
	}
	default:
		free(path);
		throw_type(env, "unknown file action");
		return NULL;
	}
}
