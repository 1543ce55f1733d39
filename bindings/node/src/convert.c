/*
 * convert.c - JavaScript values to C and back, on the JavaScript thread.
 * Readers copy what they read (strings, vectors, bytes) into malloc'd
 * memory, because the call that uses them runs later on a worker thread,
 * where no napi_value may be touched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

void throw_last(napi_env env, const char *what)
{
	const napi_extended_error_info *info = NULL;
	bool pending = false;

	napi_is_exception_pending(env, &pending);
	if (pending)
		return;
	napi_get_last_error_info(env, &info);
	napi_throw_error(env, "MSB_ENAPI",
			 info && info->error_message ? info->error_message : what);
}

void throw_type(napi_env env, const char *msg)
{
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

/* A JavaScript string (or undefined/null: NULL) as a malloc'd UTF-8 string.
 * Returns -1 with an exception pending on a bad value. */
int get_str(napi_env env, napi_value v, char **out, size_t *lenp,
	    const char *what)
{
	napi_valuetype t;
	size_t len;
	char msg[128];

	*out = NULL;
	if (lenp)
		*lenp = 0;
	if (!v || napi_typeof(env, v, &t) != napi_ok)
		return 0;
	if (t == napi_undefined || t == napi_null)
		return 0;
	if (t != napi_string) {
		snprintf(msg, sizeof(msg), "%s must be a string", what);
		throw_type(env, msg);
		return -1;
	}
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok)
		return -1;
	if (!(*out = malloc(len + 1))) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return -1;
	}
	napi_get_value_string_utf8(env, v, *out, len + 1, &len);
	if (lenp)
		*lenp = len;
	return 0;
}

napi_value prop(napi_env env, napi_value obj, const char *name)
{
	napi_value v = NULL;
	napi_valuetype t;

	if (!obj || napi_typeof(env, obj, &t) != napi_ok || t != napi_object)
		return NULL;
	if (napi_get_named_property(env, obj, name, &v) != napi_ok)
		return NULL;
	return v;
}

int get_i64(napi_env env, napi_value v, int64_t *out)
{
	napi_valuetype t;
	double d;

	if (!v || napi_typeof(env, v, &t) != napi_ok || t == napi_undefined ||
	    t == napi_null)
		return 0;
	if (t != napi_number) {
		throw_type(env, "expected a number");
		return -1;
	}
	napi_get_value_double(env, v, &d);
	*out = (int64_t)d;
	return 0;
}

int get_bool(napi_env env, napi_value v, int *out)
{
	bool b = false;
	napi_valuetype t;

	if (!v || napi_typeof(env, v, &t) != napi_ok || t == napi_undefined ||
	    t == napi_null)
		return 0;
	if (napi_coerce_to_bool(env, v, &v) != napi_ok ||
	    napi_get_value_bool(env, v, &b) != napi_ok)
		return -1;
	*out = b;
	return 0;
}

void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* An array of strings (or undefined: NULL) as a NULL-terminated vector. */
int get_strv(napi_env env, napi_value v, char ***out, const char *what)
{
	bool is_array = false;
	uint32_t n;
	char **vec;
	napi_valuetype t;
	char msg[128];

	*out = NULL;
	if (!v || napi_typeof(env, v, &t) != napi_ok || t == napi_undefined ||
	    t == napi_null)
		return 0;
	napi_is_array(env, v, &is_array);
	if (!is_array) {
		snprintf(msg, sizeof(msg), "%s must be an array of strings", what);
		throw_type(env, msg);
		return -1;
	}
	napi_get_array_length(env, v, &n);
	if (!(vec = calloc((size_t)n + 1, sizeof(*vec)))) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		napi_value e;

		if (napi_get_element(env, v, i, &e) != napi_ok ||
		    get_str(env, e, &vec[i], NULL, what) < 0 || !vec[i]) {
			bool pending = false;

			napi_is_exception_pending(env, &pending);
			if (!pending) {
				snprintf(msg, sizeof(msg), "%s must be an array of strings", what);
				throw_type(env, msg);
			}
			free_strv(vec);
			return -1;
		}
	}
	*out = vec;
	return 0;
}

/* A Buffer/TypedArray/string as a malloc'd copy (NULL for undefined). */
int get_bytes(napi_env env, napi_value v, void **out, size_t *len)
{
	napi_valuetype t;
	bool is;
	void *data = NULL;

	*out = NULL;
	*len = 0;
	if (!v || napi_typeof(env, v, &t) != napi_ok || t == napi_undefined ||
	    t == napi_null)
		return 0;
	if (t == napi_string)
		return get_str(env, v, (char **)out, len, "data");
	if (napi_is_buffer(env, v, &is) == napi_ok && is) {
		napi_get_buffer_info(env, v, &data, len);
	} else if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
		napi_typedarray_type tt;
		size_t n, off;
		napi_value ab;

		napi_get_typedarray_info(env, v, &tt, &n, &data, &ab, &off);
		*len = n * (tt == napi_uint8_array || tt == napi_int8_array ||
				    tt == napi_uint8_clamped_array ? 1 :
			    tt == napi_int16_array || tt == napi_uint16_array ? 2 :
			    tt == napi_float64_array || tt == napi_bigint64_array ||
				    tt == napi_biguint64_array ? 8 : 4);
	} else {
		throw_type(env, "data must be a string, Buffer or Uint8Array");
		return -1;
	}
	if (!(*out = malloc(*len ? *len : 1))) {
		napi_throw_error(env, "MSB_ENOMEM", "out of memory");
		return -1;
	}
	if (*len)
		memcpy(*out, data, *len);
	return 0;
}

napi_value buf_value(napi_env env, const msb_buf *b)
{
	napi_value v;
	void *unused;

	if (napi_create_buffer_copy(env, b->len, b->len ? (void *)b->ptr : "",
				    &unused, &v) != napi_ok)
		return NULL;
	return v;
}

void set_num(napi_env env, napi_value o, const char *k, double d)
{
	napi_value v;

	napi_create_double(env, d, &v);
	napi_set_named_property(env, o, k, v);
}

void set_bool(napi_env env, napi_value o, const char *k, int b)
{
	napi_value v;

	napi_get_boolean(env, b != 0, &v);
	napi_set_named_property(env, o, k, v);
}

void set_str(napi_env env, napi_value o, const char *k, const char *s)
{
	napi_value v;

	napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, o, k, v);
}

void set_buf(napi_env env, napi_value o, const char *k, const msb_buf *b)
{
	napi_value v = buf_value(env, b);

	if (v)
		napi_set_named_property(env, o, k, v);
}
