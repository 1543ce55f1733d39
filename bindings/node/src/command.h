/*
 * command.h - commands: commandRun (with or without streaming) and the
 * _benchC reference loop, and what background processes share with them:
 * the command arguments and the result object.
 */
#ifndef MSB_NODE_COMMAND_H
#define MSB_NODE_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include <node_api.h>

#include <msb.h>

/* What a command runs with, copied from JavaScript: the argv array and the
 * options object { env, cwd, stdin, timeoutMs, outputCap }. */
typedef struct command_args {
	char **argv, **env;
	char *cwd;
	void *stdin_data;
	size_t stdin_len;
	int64_t timeout_ms;
	int64_t output_cap;
} command_args;

/* Read argvv and opts into a (zeroed); -1 with an exception pending. What
 * was read is freed by command_args_free either way. */
int command_args_get(napi_env env, napi_value argvv, napi_value opts,
		     command_args *a);
void command_args_free(command_args *a);

/* libmsb command options pointing into a. */
void command_args_options(const command_args *a, msb_command_options *co);

/* { exitCode, signal, timedOut, stdoutTruncated, stderrTruncated,
 *   elapsedMs, stdout, stderr } */
napi_value command_result_value(napi_env env, const msb_command_result *r);

napi_value js_command_run(napi_env env, napi_callback_info info);
napi_value js_bench_c(napi_env env, napi_callback_info info);

#endif
