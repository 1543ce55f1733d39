/*
 * convert.h - JavaScript values to C and back, on the JavaScript thread:
 * the argument readers every entry point uses (each returns -1 with an
 * exception pending on a bad value) and the setters that build result
 * objects.
 */
#ifndef MSB_NODE_CONVERT_H
#define MSB_NODE_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include <node_api.h>

#include <msb.h>

/* Throw the last napi error (unless an exception is already pending) as
 * an MSB_ENAPI error. */
void throw_last(napi_env env, const char *what);

/* Throw a TypeError with code ERR_INVALID_ARG_TYPE. */
void throw_type(napi_env env, const char *msg);

/* Evaluate a napi call; on failure throw and return NULL from the caller. */
#define NAPI_OK(call)                                                       \
	do {                                                                \
		if ((call) != napi_ok) {                                    \
			throw_last(env, #call);                             \
			return NULL;                                        \
		}                                                           \
	} while (0)

/* In a napi callback: napi_value argv[n], missing ones undefined. */
#define ARGS(n)                                                             \
	size_t argc = (n);                                                  \
	napi_value argv[(n) > 0 ? (n) : 1];                                 \
	for (size_t i_ = 0; i_ < (size_t)(n); i_++)                         \
		argv[i_] = NULL;                                            \
	NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));      \
	for (size_t i_ = argc; i_ < (size_t)(n); i_++)                      \
		napi_get_undefined(env, &argv[i_])

/* The property name of obj, or NULL when obj is not an object. */
napi_value prop(napi_env env, napi_value obj, const char *name);

/* A string (undefined/null: NULL) as a malloc'd UTF-8 string; what names
 * the argument in the TypeError. */
int get_str(napi_env env, napi_value v, char **out, size_t *lenp, const char *what);

/* A number as an int64_t; undefined/null leave *out as it is. */
int get_i64(napi_env env, napi_value v, int64_t *out);

/* Any value coerced to a boolean; undefined/null leave *out as it is. */
int get_bool(napi_env env, napi_value v, int *out);

/* An array of strings (undefined/null: NULL) as a NULL-terminated vector,
 * freed with free_strv. */
int get_strv(napi_env env, napi_value v, char ***out, const char *what);
void free_strv(char **v);

/* A Buffer, TypedArray or string as a malloc'd copy (undefined: NULL). */
int get_bytes(napi_env env, napi_value v, void **out, size_t *len);

/* A copy of b as a Buffer, or NULL. */
napi_value buf_value(napi_env env, const msb_buf *b);

/* o[k] = a number, a boolean, a string (NULL: ""), a Buffer. */
void set_num(napi_env env, napi_value o, const char *k, double d);
void set_bool(napi_env env, napi_value o, const char *k, int b);
void set_str(napi_env env, napi_value o, const char *k, const char *s);
void set_buf(napi_env env, napi_value o, const char *k, const msb_buf *b);

#endif
