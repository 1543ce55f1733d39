/*
 * sandbox.h - the JavaScript entry points of the sandbox lifecycle (start,
 * connect, stop, info) and of named sandboxes (list, kill, remove).
 */
#ifndef MSB_NODE_SANDBOX_H
#define MSB_NODE_SANDBOX_H

#include <node_api.h>

napi_value js_sandbox_start(napi_env env, napi_callback_info info);
napi_value js_sandbox_connect(napi_env env, napi_callback_info info);
napi_value js_sandbox_stop(napi_env env, napi_callback_info info);
napi_value js_sandbox_info(napi_env env, napi_callback_info info);
napi_value js_named(napi_env env, napi_callback_info info);

#endif
