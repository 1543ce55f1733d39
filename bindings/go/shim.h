/*
 * shim.h - the C side of the Go binding.
 *
 * Every fallible libmsb call is wrapped so that, on failure, the thread-local
 * error (msb_error_last) is copied inside the same C call, on the same OS
 * thread, before control returns to Go. The copy's strings are malloc'ed and
 * released by the Go side (msbgo_err_free).
 *
 * Callbacks: a cgo.Handle travels through libmsb's `void *payload` as an
 * integer; the trampoline turns it back into one and calls the exported Go
 * function msbgoOutput. No Go pointer is ever kept by C.
 */
#ifndef MSBGO_SHIM_H
#define MSBGO_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include <msb.h>

typedef struct msbgo_err {
	int code;
	int os_errno;
	char *message; /* malloc'ed copy */
	char *hint;    /* malloc'ed copy */
} msbgo_err;

void msbgo_err_free(msbgo_err *e);

int msbgo_sandbox_create(msb_sandbox **out, const msb_sandbox_options *o, msbgo_err *e);
int msbgo_sandbox_start(msb_sandbox *sb, msbgo_err *e);
int msbgo_sandbox_stop(msb_sandbox *sb, int64_t grace_ms, msbgo_err *e);
int msbgo_sandbox_connect(msb_sandbox **out, const char *name, msbgo_err *e);
int msbgo_sandbox_metrics(msb_metrics *out, msb_sandbox *sb, msbgo_err *e);
int msbgo_sandbox_list_all(msb_sandbox_list **out, msbgo_err *e);
int msbgo_sandbox_kill(const char *name, msbgo_err *e);
int msbgo_sandbox_remove(const char *name, msbgo_err *e);
int msbgo_host_probe(msb_host_info *out, msbgo_err *e);

int msbgo_command_run(msb_command_result **out, msb_sandbox *sb,
		      const msb_command_options *o, msbgo_err *e);
int msbgo_command_run_stream(msb_command_result **out, msb_sandbox *sb,
			     const msb_command_options *o, uintptr_t h, msbgo_err *e);

int msbgo_process_start(msb_process **out, msb_sandbox *sb,
			const msb_command_options *o, msbgo_err *e);
int msbgo_pty_open(msb_process **out, msb_sandbox *sb, const msb_pty_options *o,
		   msbgo_err *e);
int msbgo_process_read(msb_buf *out, int *stream, msb_process *p, int64_t timeout_ms,
		       msbgo_err *e);
int msbgo_process_write(msb_process *p, const void *data, size_t len, msbgo_err *e);
int msbgo_process_close_stdin(msb_process *p, msbgo_err *e);
int msbgo_process_signal(msb_process *p, int sig, msbgo_err *e);
int msbgo_process_resize(msb_process *p, uint16_t rows, uint16_t cols, msbgo_err *e);
int msbgo_process_wait(msb_command_result **out, msb_process *p, int64_t timeout_ms,
		       msbgo_err *e);
int msbgo_process_list_all(msb_process_list **out, msb_sandbox *sb, msbgo_err *e);

int msbgo_repl_run(msb_repl_result **out, msb_sandbox *sb, const msb_repl_options *o,
		   const char *code, size_t len, msbgo_err *e);
int msbgo_repl_run_stream(msb_repl_result **out, msb_sandbox *sb,
			  const msb_repl_options *o, const char *code, size_t len,
			  uintptr_t h, msbgo_err *e);
int msbgo_repl_context_op(int op, msb_sandbox *sb, msb_language lang,
			  const char *name, msbgo_err *e);
int msbgo_repl_context_list(msb_repl_contexts **out, msb_sandbox *sb, msbgo_err *e);

int msbgo_file_read(msb_buf *out, msb_sandbox *sb, const char *path, int64_t max,
		    msbgo_err *e);
int msbgo_file_read_stream(msb_sandbox *sb, const char *path, int64_t max,
			   uintptr_t h, msbgo_err *e);
int msbgo_file_write(msb_sandbox *sb, const char *path, const void *data, size_t len,
		     int flags, unsigned int mode, msbgo_err *e);
int msbgo_file_stat(msb_file_stat *out, msb_sandbox *sb, const char *path, msbgo_err *e);
int msbgo_file_exists(int *out, msb_sandbox *sb, const char *path, msbgo_err *e);
int msbgo_file_list(msb_dir_list **out, msb_sandbox *sb, const char *path, msbgo_err *e);
int msbgo_file_mkdir(msb_sandbox *sb, const char *path, unsigned int mode, int parents,
		     msbgo_err *e);
int msbgo_file_remove(msb_sandbox *sb, const char *path, int recursive, msbgo_err *e);
int msbgo_file_rename(msb_sandbox *sb, const char *from, const char *to, msbgo_err *e);
int msbgo_file_copy_in(msb_sandbox *sb, const char *host, const char *path, msbgo_err *e);
int msbgo_file_copy_out(msb_sandbox *sb, const char *path, const char *host, msbgo_err *e);

/* The benchmark's C side: n times msb_command_run(argv) + free, as a C
 * caller would write it. Returns 0 or the first failure. */
int msbgo_bench_command_loop(msb_sandbox *sb, const char *const *argv, int n,
			     msbgo_err *e);

#endif
