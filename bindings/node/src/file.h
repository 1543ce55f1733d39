/*
 * file.h - the JavaScript entry point of file operations in a sandbox:
 * file(h, action, ...) for read, write, stat, exists, list, mkdir, remove,
 * rename, copyIn and copyOut.
 */
#ifndef MSB_NODE_FILE_H
#define MSB_NODE_FILE_H

#include <node_api.h>

napi_value js_file(napi_env env, napi_callback_info info);

#endif
