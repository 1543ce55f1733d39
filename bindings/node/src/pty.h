/*
 * pty.h - PTYs: ptyOpen, and the resize of a process that runs on one.
 */
#ifndef MSB_NODE_PTY_H
#define MSB_NODE_PTY_H

#include <node_api.h>

/* ptyOpen(h, {argv, env, cwd, rows, cols}) -> Promise<proc> */
napi_value js_pty_open(napi_env env, napi_callback_info info);

/* process(p, 4, rows, cols): resize the PTY of the process p. */
napi_value pty_resize(napi_env env, napi_value p, napi_value rows, napi_value cols);

#endif
