/*
 * repl.h - the JavaScript entry points of the REPL: replRun and
 * replContext (create, reset, destroy, list, interrupt).
 */
#ifndef MSB_NODE_REPL_H
#define MSB_NODE_REPL_H

#include <node_api.h>

napi_value js_repl_run(napi_env env, napi_callback_info info);
napi_value js_repl_context(napi_env env, napi_callback_info info);

#endif
