/* shim.c - see shim.h. */
#include <string.h>

#include "shim.h"
#include "_cgo_export.h"

static char *dup_or_empty(const char *s)
{
	char *d = strdup(s ? s : "");
	return d;
}

static int capture(int rc, msbgo_err *e)
{
	if (rc != 0 && e) {
		const msb_error *le = msb_error_last();

		e->code = le->code ? le->code : rc;
		e->os_errno = le->os_errno;
		e->message = dup_or_empty(le->message);
		e->hint = dup_or_empty(le->hint);
	}
	return rc;
}

void msbgo_err_free(msbgo_err *e)
{
	free(e->message);
	free(e->hint);
	e->message = e->hint = NULL;
}

static int trampoline(int stream, const uint8_t *data, size_t len, void *payload)
{
	return msbgoOutput(stream, (uint8_t *)data, len, (uintptr_t)payload);
}

int msbgo_sandbox_create(msb_sandbox **out, const msb_sandbox_options *o, msbgo_err *e)
{ return capture(msb_sandbox_create(out, o), e); }
int msbgo_sandbox_start(msb_sandbox *sb, msbgo_err *e)
{ return capture(msb_sandbox_start(sb), e); }
int msbgo_sandbox_stop(msb_sandbox *sb, int64_t grace_ms, msbgo_err *e)
{ return capture(msb_sandbox_stop(sb, grace_ms), e); }
int msbgo_sandbox_connect(msb_sandbox **out, const char *name, msbgo_err *e)
{ return capture(msb_sandbox_connect(out, name), e); }
int msbgo_sandbox_metrics(msb_metrics *out, msb_sandbox *sb, msbgo_err *e)
{ return capture(msb_sandbox_metrics(out, sb), e); }
int msbgo_sandbox_list_all(msb_sandbox_list **out, msbgo_err *e)
{ return capture(msb_sandbox_list_all(out), e); }
int msbgo_sandbox_kill(const char *name, msbgo_err *e)
{ return capture(msb_sandbox_kill(name), e); }
int msbgo_sandbox_remove(const char *name, msbgo_err *e)
{ return capture(msb_sandbox_remove(name), e); }
int msbgo_host_probe(msb_host_info *out, msbgo_err *e)
{ return capture(msb_host_probe(out), e); }

int msbgo_command_run(msb_command_result **out, msb_sandbox *sb,
		      const msb_command_options *o, msbgo_err *e)
{ return capture(msb_command_run(out, sb, o), e); }
int msbgo_command_run_stream(msb_command_result **out, msb_sandbox *sb,
			     const msb_command_options *o, uintptr_t h, msbgo_err *e)
{ return capture(msb_command_run_stream(out, sb, o, trampoline, (void *)h), e); }

int msbgo_process_start(msb_process **out, msb_sandbox *sb,
			const msb_command_options *o, msbgo_err *e)
{ return capture(msb_process_start(out, sb, o), e); }
int msbgo_pty_open(msb_process **out, msb_sandbox *sb, const msb_pty_options *o,
		   msbgo_err *e)
{ return capture(msb_pty_open(out, sb, o), e); }
int msbgo_process_read(msb_buf *out, int *stream, msb_process *p, int64_t timeout_ms,
		       msbgo_err *e)
{
	int rc = msb_process_read(out, stream, p, timeout_ms);
	/* EDONE and ETIMEDOUT are outcomes, not failures worth copying. */
	if (rc == MSB_EDONE || rc == MSB_ETIMEDOUT)
		return rc;
	return capture(rc, e);
}
int msbgo_process_write(msb_process *p, const void *data, size_t len, msbgo_err *e)
{ return capture(msb_process_write(p, data, len), e); }
int msbgo_process_close_stdin(msb_process *p, msbgo_err *e)
{ return capture(msb_process_close_stdin(p), e); }
int msbgo_process_signal(msb_process *p, int sig, msbgo_err *e)
{ return capture(msb_process_signal(p, sig), e); }
int msbgo_process_resize(msb_process *p, uint16_t rows, uint16_t cols, msbgo_err *e)
{ return capture(msb_process_resize(p, rows, cols), e); }
int msbgo_process_wait(msb_command_result **out, msb_process *p, int64_t timeout_ms,
		       msbgo_err *e)
{ return capture(msb_process_wait(out, p, timeout_ms), e); }
int msbgo_process_list_all(msb_process_list **out, msb_sandbox *sb, msbgo_err *e)
{ return capture(msb_process_list_all(out, sb), e); }

int msbgo_repl_run(msb_repl_result **out, msb_sandbox *sb, const msb_repl_options *o,
		   const char *code, size_t len, msbgo_err *e)
{ return capture(msb_repl_run(out, sb, o, code, len), e); }
int msbgo_repl_run_stream(msb_repl_result **out, msb_sandbox *sb,
			  const msb_repl_options *o, const char *code, size_t len,
			  uintptr_t h, msbgo_err *e)
{ return capture(msb_repl_run_stream(out, sb, o, code, len, trampoline, (void *)h), e); }
int msbgo_repl_context_op(int op, msb_sandbox *sb, msb_language lang,
			  const char *name, msbgo_err *e)
{
	switch (op) {
	case 0: return capture(msb_repl_context_create(sb, lang, name), e);
	case 1: return capture(msb_repl_context_reset(sb, lang, name), e);
	case 3: return capture(msb_repl_interrupt(sb, lang, name, NULL), e);
	default: return capture(msb_repl_context_destroy(sb, lang, name), e);
	}
}
int msbgo_repl_context_list(msb_repl_contexts **out, msb_sandbox *sb, msbgo_err *e)
{ return capture(msb_repl_context_list(out, sb), e); }

int msbgo_file_read(msb_buf *out, msb_sandbox *sb, const char *path, int64_t max,
		    msbgo_err *e)
{ return capture(msb_file_read(out, sb, path, max), e); }
int msbgo_file_read_stream(msb_sandbox *sb, const char *path, int64_t max,
			   uintptr_t h, msbgo_err *e)
{ return capture(msb_file_read_stream(sb, path, max, trampoline, (void *)h), e); }
int msbgo_file_write(msb_sandbox *sb, const char *path, const void *data, size_t len,
		     int flags, unsigned int mode, msbgo_err *e)
{ return capture(msb_file_write(sb, path, data, len, flags, mode), e); }
int msbgo_file_stat(msb_file_stat *out, msb_sandbox *sb, const char *path, msbgo_err *e)
{ return capture(msb_file_stat_path(out, sb, path), e); }
int msbgo_file_exists(int *out, msb_sandbox *sb, const char *path, msbgo_err *e)
{ return capture(msb_file_exists(out, sb, path), e); }
int msbgo_file_list(msb_dir_list **out, msb_sandbox *sb, const char *path, msbgo_err *e)
{ return capture(msb_file_list(out, sb, path), e); }
int msbgo_file_mkdir(msb_sandbox *sb, const char *path, unsigned int mode, int parents,
		     msbgo_err *e)
{ return capture(msb_file_mkdir(sb, path, mode, parents), e); }
int msbgo_file_remove(msb_sandbox *sb, const char *path, int recursive, msbgo_err *e)
{ return capture(msb_file_remove(sb, path, recursive), e); }
int msbgo_file_rename(msb_sandbox *sb, const char *from, const char *to, msbgo_err *e)
{ return capture(msb_file_rename(sb, from, to), e); }
int msbgo_file_copy_in(msb_sandbox *sb, const char *host, const char *path, msbgo_err *e)
{ return capture(msb_file_copy_in(sb, host, path), e); }
int msbgo_file_copy_out(msb_sandbox *sb, const char *path, const char *host, msbgo_err *e)
{ return capture(msb_file_copy_out(sb, path, host), e); }

int msbgo_bench_command_loop(msb_sandbox *sb, const char *const *argv, int n,
			     msbgo_err *e)
{
	msb_command_options o = MSB_COMMAND_OPTIONS_INIT;

	o.argv = argv;
	for (int i = 0; i < n; i++) {
		msb_command_result *r;
		int rc = msb_command_run(&r, sb, &o);

		if (rc)
			return capture(rc, e);
		msb_command_result_free(r);
	}
	return 0;
}
