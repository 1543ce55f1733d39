/*
 * process.h - the JavaScript entry points of background processes:
 * processStart, process (read, write, closeStdin, signal, resize, wait),
 * processRelease, processPid and processList.
 */
#ifndef MSB_NODE_PROCESS_H
#define MSB_NODE_PROCESS_H

#include <node_api.h>

napi_value js_process_start(napi_env env, napi_callback_info info);
napi_value js_process(napi_env env, napi_callback_info info);
napi_value js_process_release(napi_env env, napi_callback_info info);
napi_value js_process_pid(napi_env env, napi_callback_info info);
napi_value js_process_list(napi_env env, napi_callback_info info);

#endif
