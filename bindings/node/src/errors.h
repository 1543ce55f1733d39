/*
 * errors.h - libmsb errors as JavaScript errors: an MsbError (the class
 * index.js registers) with message, code (the code's name), errno (the
 * code), hint and osErrno.
 */
#ifndef MSB_NODE_ERRORS_H
#define MSB_NODE_ERRORS_H

#include <node_api.h>

/* A new error (not thrown); msg NULL: msb_strerror(code). NULL on failure. */
napi_value make_error(napi_env env, int code, const char *msg,
		      const char *hint, int os_errno);

/* The MSB_ESTATE error of a call on a sandbox that is not started. */
napi_value state_error(napi_env env, const char *what);

/* setErrorClass(MsbError): the class make_error instantiates. */
napi_value js_set_error_class(napi_env env, napi_callback_info info);

#endif
