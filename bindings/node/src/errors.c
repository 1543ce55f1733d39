/*
 * errors.c - libmsb errors as JavaScript errors. The error is built on the
 * JavaScript thread from the copy a call took of msb_error_last() in its
 * worker (see call.c); until index.js registers MsbError, a plain Error
 * carries the same properties.
 */
#include <msb.h>

#include "convert.h"
#include "errors.h"
#include "instance.h"

napi_value make_error(napi_env env, int code, const char *msg,
		      const char *hint, int os_errno)
{
	addon *ad = instance_get(env);
	napi_value err = NULL, m, v, ctor;

	if (napi_create_string_utf8(env, msg ? msg : msb_strerror(code),
				    NAPI_AUTO_LENGTH, &m) != napi_ok)
		return NULL;
	if (ad && ad->error_class &&
	    napi_get_reference_value(env, ad->error_class, &ctor) == napi_ok &&
	    ctor) {
		if (napi_new_instance(env, ctor, 1, &m, &err) != napi_ok)
			err = NULL;
	}
	if (!err && napi_create_error(env, NULL, m, &err) != napi_ok)
		return NULL;
	napi_create_string_utf8(env, msb_error_name(code), NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, err, "code", v);
	napi_create_int32(env, code, &v);
	napi_set_named_property(env, err, "errno", v);
	napi_create_string_utf8(env, hint ? hint : "", NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, err, "hint", v);
	napi_create_int32(env, os_errno, &v);
	napi_set_named_property(env, err, "osErrno", v);
	return err;
}

napi_value state_error(napi_env env, const char *what)
{
	return make_error(env, MSB_ESTATE, what,
			  "start the sandbox (await sb.start()) before using it",
			  0);
}

napi_value js_set_error_class(napi_env env, napi_callback_info info)
{
	ARGS(1);
	addon *ad = instance_get(env);

	if (!ad)
		return NULL;
	if (ad->error_class)
		napi_delete_reference(env, ad->error_class);
	NAPI_OK(napi_create_reference(env, argv[0], 1, &ad->error_class));
	return NULL;
}
