/*
 * process.c - background processes and PTY sessions: output read in
 * chunks as it comes, stdin written and closed, signals, wait, pids,
 * read timeouts, listing, several at once, free kills, timeouts, bad
 * inputs; terminals: a shell, tty, size and resize, session leadership,
 * exit codes, and TIOCSTI refused inside the sandbox.
 */
#include <signal.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static msb_sandbox *sb;

/* Start argv in the background; NULL (with diagnostics) on failure. */
static msb_process *start(const char *const *argv, int64_t timeout_ms)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_process *p = NULL;

	co.argv = argv;
	co.timeout_ms = timeout_ms;
	int rc = msb_process_start(&p, sb, &co);
	if (rc)
		msbt_diag_error("msb_process_start", rc);
	return p;
}

static msb_process *pty(const char *const *argv, uint16_t rows, uint16_t cols)
{
	msb_pty_options po = MSB_PTY_OPTIONS_INIT;
	msb_process *p = NULL;

	po.argv = argv;
	po.rows = rows;
	po.cols = cols;
	int rc = msb_pty_open(&p, sb, &po);
	if (rc)
		msbt_diag_error("msb_pty_open", rc);
	return p;
}

/* A growing text buffer for what a process printed. */
struct text {
	char *s;
	size_t len;
};

static void text_add(struct text *t, const uint8_t *data, size_t len)
{
	char *n = realloc(t->s, t->len + len + 1);
	if (!n)
		bail_out("out of memory");
	memcpy(n + t->len, data, len);
	t->len += len;
	n[t->len] = '\0';
	t->s = n;
}

/*
 * Read stdout chunks into t until `want` appears in it, the process ends or
 * ms pass. Returns 1 when it appeared.
 */
static int read_until(msb_process *p, struct text *t, const char *want, int64_t ms)
{
	uint64_t deadline = msbt_now_ms() + (uint64_t)ms;

	if (!t->s)
		text_add(t, (const uint8_t *)"", 0);
	while (!strstr(t->s, want)) {
		uint64_t now = msbt_now_ms();
		msb_buf b;
		int stream;

		if (now >= deadline)
			return 0;
		int rc = msb_process_read(&b, &stream, p, (int64_t)(deadline - now));
		if (rc == MSB_ETIMEDOUT || rc == MSB_EDONE)
			return 0;
		if (rc) {
			msbt_diag_error("msb_process_read", rc);
			return 0;
		}
		text_add(t, b.ptr, b.len);
		msb_buf_free(&b);
	}
	return 1;
}

/* Read everything up to MSB_EDONE; returns the last read's code. */
static int read_all(msb_process *p, struct text *out, struct text *err, int64_t ms)
{
	uint64_t deadline = msbt_now_ms() + (uint64_t)ms;
	int rc;

	for (;;) {
		uint64_t now = msbt_now_ms();
		msb_buf b;
		int stream;

		rc = msb_process_read(&b, &stream, p, now < deadline ?
				      (int64_t)(deadline - now) : 0);
		if (rc)
			break;
		text_add(stream == MSB_STREAM_STDERR && err ? err : out, b.ptr, b.len);
		msb_buf_free(&b);
	}
	if (!out->s)
		text_add(out, (const uint8_t *)"", 0);
	return rc;
}

static int hint_given(void)
{
	const msb_error *e = msb_error_last();
	return e->hint && e->hint[0];
}

/* ---- background processes -------------------------------------------------- */

static void test_incremental(void)
{
	msb_process *p = start(ARGV("sh", "-c", "echo a; sleep 0.3; echo b"), 0);
	msb_buf b;
	int stream = 0;

	if (!p) {
		skip(7, "the process did not start");
		return;
	}
	uint64_t t0 = msbt_now_ms();
	int rc = msb_process_read(&b, &stream, p, 5000);
	uint64_t t1 = msbt_now_ms();
	ok(rc == 0 && b.len == 2 && !memcmp(b.ptr, "a\n", 2) && stream == MSB_STREAM_STDOUT,
	   "the first chunk is \"a\\n\" on stdout alone (rc %d, %zu bytes)", rc, b.len);
	ok(rc == 0 && t1 - t0 < 250,
	   "... and it arrives before the process ends (%llu ms)",
	   (unsigned long long)(t1 - t0));
	msb_buf_free(&b);

	rc = msb_process_read(&b, &stream, p, 5000);
	uint64_t t2 = msbt_now_ms();
	ok(rc == 0 && b.len == 2 && !memcmp(b.ptr, "b\n", 2),
	   "the second chunk is \"b\\n\" (rc %d)", rc);
	ok(t2 - t0 >= 200, "... about 300 ms later (%llu ms)",
	   (unsigned long long)(t2 - t0));
	msb_buf_free(&b);

	rc = msb_process_read(&b, &stream, p, 5000);
	is_int(rc, MSB_EDONE, "after the end, read gives MSB_EDONE");
	ok(b.ptr == NULL && b.len == 0, "... and an empty buffer");

	msb_command_result *res = NULL;
	rc = msb_process_wait(&res, p, 5000);
	ok(rc == 0 && res && res->exit_code == 0 && res->signal == 0 &&
	   res->out.len == 0, "wait gives exit code 0 and no unread output (rc %d)", rc);
	msb_command_result_free(res);
	msb_process_free(p);

	/* wait without reading hands back the output */
	p = start(ARGV("sh", "-c", "echo out; echo err >&2; exit 9"), 0);
	res = NULL;
	rc = p ? msb_process_wait(&res, p, 5000) : -1;
	ok(rc == 0 && res && res->exit_code == 9 && res->out.len == 4 &&
	   !memcmp(res->out.ptr, "out\n", 4) && res->err.len == 4 &&
	   !memcmp(res->err.ptr, "err\n", 4),
	   "wait without reads returns exit code 9 and the unread stdout and stderr");
	msb_command_result_free(res);
	msb_process_free(p);
}

static void test_stdin(void)
{
	static const char *const pieces[] = { "one ", "two\n", "", "three", "\0\377\n" };
	static const size_t lens[] = { 4, 4, 0, 5, 3 };
	msb_process *p = start(ARGV("cat"), 0);
	struct text out = { 0 };
	int good = 1;

	if (!p) {
		skip(4, "cat did not start");
		return;
	}
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		int rc = msb_process_write(p, pieces[i], lens[i]);
		if (rc) {
			msbt_diag_error("msb_process_write", rc);
			good = 0;
		}
	}
	ok(good, "five writes to cat's stdin succeed (one of them empty)");
	is_int(msb_process_close_stdin(p), 0, "closing stdin succeeds");
	int rc = read_all(p, &out, NULL, 5000);
	is_int(rc, MSB_EDONE, "cat ends after stdin is closed");
	ok(out.len == 16 && !memcmp(out.s, "one two\nthree\0\377\n", 16),
	   "cat gives back exactly what was written, NUL and 0xff included (%zu bytes)",
	   out.len);
	free(out.s);
	msb_process_free(p);

	/* stdin_data is written first, and stdin stays open after it */
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("cat");
	co.stdin_data = "first,";
	co.stdin_len = 6;
	p = NULL;
	memset(&out, 0, sizeof out);
	if (msb_process_start(&p, sb, &co) == 0) {
		msb_process_write(p, "second", 6);
		msb_process_close_stdin(p);
		read_all(p, &out, NULL, 5000);
		ok(out.len == 12 && !memcmp(out.s, "first,second", 12),
		   "stdin_data comes first and stdin stays open for writes (\"%s\")", out.s);
	} else {
		ok(0, "cat with stdin_data starts");
	}
	free(out.s);
	msb_process_free(p);
}

static void test_streams_and_big_stdin(void)
{
	msb_process *p = start(ARGV("sh", "-c", "echo to-err >&2"), 0);
	msb_buf b;
	int stream = 0;

	int rc = p ? msb_process_read(&b, &stream, p, 5000) : -1;
	ok(rc == 0 && stream == MSB_STREAM_STDERR && b.len == 7 && !memcmp(b.ptr, "to-err\n", 7),
	   "stderr output comes as an MSB_STREAM_STDERR chunk");
	if (rc == 0)
		msb_buf_free(&b);
	msb_process_free(p);

	/* 4 MiB through cat: written in pieces, read back exactly */
	enum { LEN = 4 << 20, PIECE = 100000 };
	uint8_t *data = malloc(LEN);
	struct text out = { 0 };
	if (!data)
		bail_out("out of memory");
	for (size_t i = 0; i < LEN; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	p = start(ARGV("cat"), 0);
	int good = p != NULL;
	for (size_t off = 0; good && off < LEN; off += PIECE)
		good = msb_process_write(p, data + off, off + PIECE > LEN ? LEN - off : PIECE) == 0;
	if (good)
		good = msb_process_close_stdin(p) == 0;
	rc = good ? read_all(p, &out, NULL, 20000) : -1;
	ok(rc == MSB_EDONE && out.len == LEN && !memcmp(out.s, data, LEN),
	   "4 MiB written to cat in pieces come back exactly (%zu bytes)", out.len);
	free(out.s);
	free(data);
	msb_process_free(p);

	/* a background child keeps the output open after the process exits */
	p = start(ARGV("sh", "-c", "sleep 100 & echo parent-done"), 0);
	memset(&out, 0, sizeof out);
	uint64_t t0 = msbt_now_ms();
	rc = p ? read_all(p, &out, NULL, 5000) : -1;
	ok(rc == MSB_EDONE && !strcmp(out.s, "parent-done\n") && msbt_now_ms() - t0 < 3000,
	   "a process whose child holds its stdout open still ends (MSB_EDONE after %llu ms)",
	   (unsigned long long)(msbt_now_ms() - t0));
	free(out.s);
	msb_process_free(p);
}

/* A wait that times out must not eat the output it saw. */
static void test_wait_timeout_keeps_output(void)
{
	msb_process *p = start(ARGV("sh", "-c", "echo early; sleep 0.5; echo late"), 0);
	msb_command_result *res = NULL;

	if (!p) {
		skip(2, "sh did not start");
		return;
	}
	usleep(200 * 1000); /* "early" is out by now */
	int rc = msb_process_wait(&res, p, 100);
	is_int(rc, MSB_ETIMEDOUT, "wait on a running process times out: MSB_ETIMEDOUT");
	msb_command_result_free(res);
	res = NULL;
	rc = msb_process_wait(&res, p, 5000);
	if (!ok(rc == 0 && res && res->out.len == 11 && !memcmp(res->out.ptr, "early\nlate\n", 11),
		"after a wait that timed out, the next wait still returns all unread output"))
		diag("rc %d, stdout \"%s\"", rc, res && res->out.ptr ? (char *)res->out.ptr : "");
	msb_command_result_free(res);
	msb_process_free(p);
}

/* The sandbox goes away under live process handles: calls fail, never hang. */
static void test_sandbox_stops_under_process(void)
{
	msb_sandbox *s2 = msbt_start(NULL);
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	msb_process *p = NULL;
	msb_buf b;
	int stream;

	co.argv = ARGV("sleep", "100");
	if (!s2 || msb_process_start(&p, s2, &co)) {
		skip(3, "no second sandbox");
		msb_sandbox_free(s2);
		return;
	}
	msb_sandbox_stop(s2, 0);
	uint64_t t0 = msbt_now_ms();
	int rc = msb_process_read(&b, &stream, p, 5000);
	ok(rc != 0 && rc != MSB_ETIMEDOUT && msbt_now_ms() - t0 < 3000,
	   "read after the sandbox stopped fails at once (%d: %s)", rc, msb_strerror(rc));
	t0 = msbt_now_ms();
	rc = msb_process_wait(&res, p, 5000);
	ok(rc != MSB_ETIMEDOUT && msbt_now_ms() - t0 < 3000,
	   "... so does wait (%d)", rc);
	msb_command_result_free(res);
	t0 = msbt_now_ms();
	msb_process_free(p);
	msb_sandbox_free(s2);
	ok(msbt_now_ms() - t0 < 3000, "... and freeing both is prompt");
}

static void test_signal(void)
{
	msb_process *p = start(ARGV("sleep", "100"), 0);
	msb_command_result *res = NULL;

	if (!p) {
		skip(2, "sleep did not start");
		return;
	}
	is_int(msb_process_signal(p, SIGTERM), 0, "SIGTERM to sleep 100 is sent");
	uint64_t t0 = msbt_now_ms();
	int rc = msb_process_wait(&res, p, 5000);
	ok(rc == 0 && res && res->signal == SIGTERM && res->exit_code == -1 &&
	   !res->timed_out && msbt_now_ms() - t0 < 3000,
	   "wait reports signal 15 and exit code -1 (rc %d, signal %d)",
	   rc, res ? res->signal : -1);
	msb_command_result_free(res);
	msb_process_free(p);

	/* a shell that ignores SIGTERM but not SIGKILL; its child sleep is in
	 * its process group and goes too */
	p = start(ARGV("sh", "-c", "trap '' TERM; echo ready; sleep 100; echo not-killed"), 0);
	struct text out = { 0 };
	if (p && read_until(p, &out, "ready\n", 5000)) {
		msb_process_signal(p, SIGTERM);
		res = NULL;
		rc = msb_process_wait(&res, p, 400);
		is_int(rc, MSB_ETIMEDOUT, "a shell ignoring SIGTERM is still running (wait 400 ms times out)");
		msb_command_result_free(res);
		res = NULL;
		msb_process_signal(p, SIGKILL);
		rc = msb_process_wait(&res, p, 5000);
		ok(rc == 0 && res && res->signal == SIGKILL,
		   "... SIGKILL ends it: signal 9 (rc %d)", rc);
		msb_command_result_free(res);
	} else {
		skip(2, "the shell did not start");
	}
	free(out.s);
	msb_process_free(p);
}

static void test_pid(void)
{
	msb_process *p = start(ARGV("sh", "-c", "echo $$; cat"), 0);
	struct text out = { 0 };

	if (!p) {
		skip(2, "sh did not start");
		return;
	}
	int64_t pid = msb_process_pid(p);
	ok(pid > 1, "msb_process_pid is a pid inside the sandbox (%lld)", (long long)pid);
	if (read_until(p, &out, "\n", 5000)) {
		ok(atoll(out.s) == pid, "it is the pid the process sees as $$ (%lld, %lld)",
		   (long long)pid, atoll(out.s));
	} else {
		ok(0, "the process printed its pid");
	}
	msb_process_close_stdin(p);
	free(out.s);
	msb_process_free(p);
}

static void test_read_timeout(void)
{
	msb_process *p = start(ARGV("cat"), 0);
	msb_buf b;
	int stream;

	if (!p) {
		skip(5, "cat did not start");
		return;
	}
	uint64_t t0 = msbt_now_ms();
	int rc = msb_process_read(&b, &stream, p, 100);
	uint64_t took = msbt_now_ms() - t0;
	is_int(rc, MSB_ETIMEDOUT, "no output in 100 ms: MSB_ETIMEDOUT");
	ok(took >= 90 && took < 1000, "... after about 100 ms (%llu ms)",
	   (unsigned long long)took);
	t0 = msbt_now_ms();
	rc = msb_process_read(&b, &stream, p, 0);
	ok(rc == MSB_ETIMEDOUT && msbt_now_ms() - t0 < 100,
	   "a zero timeout polls: MSB_ETIMEDOUT at once (rc %d)", rc);
	msb_process_write(p, "ping\n", 5);
	struct text out = { 0 };
	ok(read_until(p, &out, "ping\n", 5000), "after a timeout, reads still work");
	msb_process_close_stdin(p);
	rc = read_all(p, &out, NULL, 5000);
	is_int(rc, MSB_EDONE, "... down to MSB_EDONE");
	free(out.s);
	msb_process_free(p);
}

static const msb_process_info *find_pid(const msb_process_list *l, int64_t pid)
{
	for (size_t i = 0; l && i < l->len; i++)
		if (l->items[i].pid == pid)
			return &l->items[i];
	return NULL;
}

static void test_list(void)
{
	msb_process *bg = start(ARGV("sleep", "100"), 0);
	msb_process *tt = pty(ARGV("/bin/sh"), 0, 0);
	msb_process *done = start(ARGV("true"), 0);
	msb_command_result *res = NULL;
	msb_process_list *l = NULL;
	time_t now = time(NULL);

	if (done)
		msb_process_wait(&res, done, 5000);
	msb_command_result_free(res);
	if (!bg || !tt || !done) {
		skip(5, "the processes did not start");
		goto out;
	}
	int rc = msb_process_list_all(&l, sb);
	if (!is_int(rc, 0, "msb_process_list_all succeeds")) {
		msbt_diag_error("msb_process_list_all", rc);
		skip(4, "no list");
		goto out;
	}
	const msb_process_info *a = find_pid(l, msb_process_pid(bg));
	const msb_process_info *t = find_pid(l, msb_process_pid(tt));
	ok(a && !strcmp(a->command, "sleep 100") && !a->pty,
	   "the background sleep is listed as \"sleep 100\", not a PTY (%s)",
	   a ? a->command : "missing");
	ok(t && !strcmp(t->command, "/bin/sh") && t->pty,
	   "the PTY session is listed as \"/bin/sh\" with the pty flag");
	ok(a && a->started_ms / 1000 >= now - 5 && a->started_ms / 1000 <= now + 5,
	   "started_ms is close to now (%lld)", a ? (long long)a->started_ms : 0LL);
	ok(!find_pid(l, msb_process_pid(done)), "a finished process is not listed");
	msb_process_list_free(l);
out:
	msb_process_free(bg);
	msb_process_free(tt);
	msb_process_free(done);
}

static void test_several(void)
{
	enum { N = 4 };
	msb_process *p[N];
	char script[N][64];
	int good = 1;

	uint64_t t0 = msbt_now_ms();
	for (int i = 0; i < N; i++) {
		snprintf(script[i], sizeof script[i], "sleep 0.5; echo proc-%d; exit %d", i, i + 1);
		p[i] = start(ARGV("sh", "-c", script[i]), 0);
	}
	for (int i = N - 1; i >= 0; i--) {
		msb_command_result *res = NULL;
		char want[32];
		snprintf(want, sizeof want, "proc-%d\n", i);
		if (!p[i] || msb_process_wait(&res, p[i], 10000) || res->exit_code != i + 1 ||
		    res->out.len != strlen(want) || memcmp(res->out.ptr, want, res->out.len)) {
			diag("process %d went wrong", i);
			good = 0;
		}
		msb_command_result_free(res);
		msb_process_free(p[i]);
	}
	uint64_t took = msbt_now_ms() - t0;
	ok(good, "%d processes at once each give their own output and exit code", N);
	ok(took < 1800, "... and run at the same time (%llu ms for %d x 500 ms)",
	   (unsigned long long)took, N);
}

static void test_free_kills(void)
{
	char marker[32];
	snprintf(marker, sizeof marker, "1003.%d", (int)getpid());
	msb_process *p = start(ARGV("sleep", marker), 0);

	if (!p) {
		skip(3, "sleep did not start");
		return;
	}
	int64_t pid = msb_process_pid(p);
	int seen = 0;
	for (int i = 0; i < 50 && !seen; i++) {
		seen = msbt_host_has_cmdline("sleep", marker);
		if (!seen)
			usleep(20 * 1000);
	}
	ok(seen, "the background sleep runs (seen in the host's /proc)");
	msb_process_free(p);
	int alive = 1;
	for (int i = 0; i < 50 && alive; i++) {
		alive = msbt_host_has_cmdline("sleep", marker);
		if (alive)
			usleep(20 * 1000);
	}
	ok(!alive, "freeing the handle of a running process kills it");
	msb_process_list *l = NULL;
	if (msb_process_list_all(&l, sb) == 0)
		ok(!find_pid(l, pid), "... and it is no longer listed");
	else
		ok(0, "... and it is no longer listed");
	msb_process_list_free(l);
}

static void test_timeout(void)
{
	msb_process *p = start(ARGV("sleep", "30"), 300);
	msb_command_result *res = NULL;

	if (!p) {
		skip(2, "sleep did not start");
		return;
	}
	uint64_t t0 = msbt_now_ms();
	int rc = msb_process_wait(&res, p, 10000);
	uint64_t took = msbt_now_ms() - t0;
	ok(rc == 0 && res && res->timed_out && res->signal == SIGKILL,
	   "a process with a 300 ms timeout is killed and reports timed_out (rc %d)", rc);
	ok(took < 5000, "... soon (%llu ms)", (unsigned long long)took);
	msb_command_result_free(res);
	msb_process_free(p);
}

static void test_bad_inputs(void)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	msb_process *p = NULL;
	msb_buf b;
	int stream;

	co.argv = ARGV("true");
	is_int(msb_process_start(NULL, sb, &co), MSB_EINVAL, "start with out NULL: MSB_EINVAL");
	ok(msb_process_start(&p, NULL, &co) == MSB_EINVAL && hint_given() && !p,
	   "start with a NULL sandbox: MSB_EINVAL with a hint");
	ok(msb_process_start(&p, sb, NULL) == MSB_EINVAL && !p,
	   "start with NULL options: MSB_EINVAL");
	co.argv = NULL;
	ok(msb_process_start(&p, sb, &co) == MSB_EINVAL && !p,
	   "start with a NULL argv: MSB_EINVAL");
	co.argv = ARGV("no-such-program-xyz");
	int rc = msb_process_start(&p, sb, &co);
	if (!ok(rc == MSB_ENOTFOUND && hint_given() && !p,
		"start of a missing program: MSB_ENOTFOUND with a hint"))
		msbt_diag_error("msb_process_start", rc);

	ok(msb_process_read(&b, &stream, NULL, 0) == MSB_EINVAL && hint_given(),
	   "read on NULL: MSB_EINVAL with a hint");
	ok(msb_process_write(NULL, "x", 1) == MSB_EINVAL && hint_given(),
	   "write on NULL: MSB_EINVAL with a hint");
	is_int(msb_process_close_stdin(NULL), MSB_EINVAL, "close_stdin on NULL: MSB_EINVAL");
	is_int(msb_process_signal(NULL, SIGTERM), MSB_EINVAL, "signal on NULL: MSB_EINVAL");
	is_int(msb_process_resize(NULL, 24, 80), MSB_EINVAL, "resize on NULL: MSB_EINVAL");
	ok(msb_process_wait(&res, NULL, 0) == MSB_EINVAL && !res,
	   "wait on NULL: MSB_EINVAL");
	is_int(msb_process_pid(NULL), 0, "pid of NULL is 0");
	msb_process_free(NULL);
	ok(1, "msb_process_free(NULL) is a no-op");
	is_int(msb_process_list_all(NULL, sb), MSB_EINVAL, "list_all with out NULL: MSB_EINVAL");
	msb_process_list *l = NULL;
	ok(msb_process_list_all(&l, NULL) == MSB_EINVAL && !l,
	   "list_all on a NULL sandbox: MSB_EINVAL");
	msb_pty_options po = MSB_PTY_OPTIONS_INIT;
	ok(msb_pty_open(&p, NULL, &po) == MSB_EINVAL && !p, "pty_open on a NULL sandbox: MSB_EINVAL");
	po.version = 99;
	is_int(msb_pty_open(&p, sb, &po), MSB_EVERSION, "pty_open with options version 99: MSB_EVERSION");
	po.version = MSB_PTY_OPTIONS_VERSION;
	po.argv = ARGV("");
	is_int(msb_pty_open(&p, sb, &po), MSB_EINVAL, "pty_open with an empty argv[0]: MSB_EINVAL");

	p = start(ARGV("cat"), 0);
	if (!p) {
		skip(8, "cat did not start");
		return;
	}
	is_int(msb_process_write(p, NULL, 3), MSB_EINVAL, "write of NULL data with a length: MSB_EINVAL");
	ok(msb_process_read(NULL, &stream, p, 0) == MSB_EINVAL &&
	   msb_process_read(&b, NULL, p, 0) == MSB_EINVAL,
	   "read with a NULL buffer or stream: MSB_EINVAL");
	static const int bad[] = { 0, -1, 65, 1000 };
	int all = 1;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (msb_process_signal(p, bad[i]) != MSB_EINVAL) {
			diag("signal %d was accepted", bad[i]);
			all = 0;
		}
	ok(all && hint_given(), "signals 0, -1, 65 and 1000: MSB_EINVAL with a hint");
	ok(msb_process_resize(p, 30, 100) == MSB_EINVAL && hint_given(),
	   "resize on a process without a terminal: MSB_EINVAL with a hint");
	is_int(msb_process_wait(NULL, p, 0), MSB_EINVAL, "wait with out NULL: MSB_EINVAL");
	msb_process_close_stdin(p);
	res = NULL;
	rc = msb_process_wait(&res, p, 5000);
	msb_command_result_free(res);
	ok(rc == 0, "cat ends once stdin is closed");
	is_int(msb_process_write(p, "late", 4), MSB_ESTATE, "write after the end: MSB_ESTATE");
	is_int(msb_process_signal(p, SIGTERM), MSB_ESTATE, "signal after the end: MSB_ESTATE");
	msb_process_free(p);
}

/* ---- PTY sessions ------------------------------------------------------------ */

static void test_pty_shell(const char *const *argv, const char *what)
{
	msb_process *p = pty(argv, 0, 0);
	struct text out = { 0 };

	if (!p) {
		ok(0, "%s opens on a PTY", what);
		return;
	}
	msb_process_write(p, "echo $((6*7))\n", 14);
	/* the echoed input line holds no "42"; bash may put escapes (bracketed
	 * paste) before the answer */
	ok(read_until(p, &out, "42\r\n", 10000),
	   "%s on a PTY: \"echo $((6*7))\" prints 42", what);
	if (!strstr(out.s ? out.s : "", "42\r\n"))
		diag("output: [%s]", out.s ? out.s : "");
	free(out.s);
	msb_process_free(p);
}

static void test_pty_tty(void)
{
	msb_process *p = pty(ARGV("tty"), 0, 0);
	struct text out = { 0 };

	if (!p) {
		ok(0, "tty runs on a PTY");
		return;
	}
	int rc = read_all(p, &out, NULL, 5000);
	unsigned n = 0;
	char tail[8] = "";
	if (!ok(rc == MSB_EDONE && sscanf(out.s, "/dev/pts/%u%7s", &n, tail) >= 1 &&
		!strcmp(out.s + strcspn(out.s, "\r\n"), "\r\n"), "`tty` prints /dev/pts/N"))
		diag("output: %s", out.s);
	free(out.s);
	msb_process_free(p);
}

static void test_pty_size(void)
{
	msb_process *p = pty(ARGV("stty", "size"), 30, 100);
	struct text out = { 0 };

	if (p) {
		read_all(p, &out, NULL, 5000);
		if (!ok(!strcmp(out.s, "30 100\r\n"), "`stty size` shows the rows and cols given at open"))
			diag("output: %s", out.s);
	} else {
		ok(0, "stty runs on a PTY");
	}
	free(out.s);
	msb_process_free(p);

	p = pty(ARGV("stty", "size"), 0, 0);
	memset(&out, 0, sizeof out);
	if (p) {
		read_all(p, &out, NULL, 5000);
		if (!ok(!strcmp(out.s, "24 80\r\n"), "... 24 x 80 by default"))
			diag("output: %s", out.s);
	} else {
		ok(0, "stty runs on a PTY");
	}
	free(out.s);
	msb_process_free(p);

	p = pty(ARGV("/bin/sh"), 30, 100);
	memset(&out, 0, sizeof out);
	if (!p) {
		skip(3, "sh did not open on a PTY");
		return;
	}
	is_int(msb_process_resize(p, 40, 120), 0, "msb_process_resize succeeds");
	msb_process_write(p, "stty size\n", 10);
	/* the prompt may come between the echoed line and the answer */
	if (!ok(read_until(p, &out, "40 120\r\n", 10000),
		"`stty size` shows the new size after a resize"))
		diag("output: %s", out.s);
	ok(msb_process_resize(p, 0, 80) == MSB_EINVAL && msb_process_resize(p, 24, 0) == MSB_EINVAL,
	   "resize to 0 rows or 0 cols: MSB_EINVAL");
	free(out.s);
	msb_process_free(p);
}

static void test_pty_env_cwd(void)
{
	msb_pty_options po = MSB_PTY_OPTIONS_INIT;
	struct text out = { 0 };
	msb_process *p = NULL;

	po.argv = ARGV("sh", "-c", "echo \"$TERM $GREETING $(pwd)\"");
	po.env = ARGV("GREETING=hello");
	po.cwd = "/tmp";
	int rc = msb_pty_open(&p, sb, &po);
	if (rc == 0) {
		read_all(p, &out, NULL, 5000);
		if (!ok(!strcmp(out.s, "xterm-256color hello /tmp\r\n"),
			"a PTY session gets TERM=xterm-256color, its env and its cwd"))
			diag("output: %s", out.s);
	} else {
		msbt_diag_error("msb_pty_open", rc);
		ok(0, "a PTY session gets TERM=xterm-256color, its env and its cwd");
	}
	free(out.s);
	msb_process_free(p);

	p = NULL;
	po.env = ARGV("TERM=dumb");
	po.cwd = NULL;
	po.argv = ARGV("sh", "-c", "echo $TERM");
	memset(&out, 0, sizeof out);
	if (msb_pty_open(&p, sb, &po) == 0) {
		read_all(p, &out, NULL, 5000);
		ok(!strcmp(out.s, "dumb\r\n"), "... and the caller's TERM wins over the default");
	} else {
		ok(0, "... and the caller's TERM wins over the default");
	}
	free(out.s);
	msb_process_free(p);

	p = NULL;
	po.argv = ARGV("no-such-program-xyz");
	rc = msb_pty_open(&p, sb, &po);
	if (!ok(rc == MSB_ENOTFOUND && hint_given() && !p,
		"a PTY session of a missing program: MSB_ENOTFOUND with a hint"))
		msbt_diag_error("msb_pty_open", rc);
	p = NULL;
	po.argv = ARGV("true");
	po.cwd = "/no/such/dir";
	rc = msb_pty_open(&p, sb, &po);
	ok(rc == MSB_EINVAL && !p, "a PTY session in a missing cwd: MSB_EINVAL (rc %d)", rc);
	msb_process_free(p);
}

static void test_pty_session(void)
{
	msb_process *p = pty(ARGV("sh", "-c", "read a b c d e f g rest < /proc/$$/stat; "
				  "echo \"pid=$a pgrp=$e sid=$f tty=$g\""), 0, 0);
	struct text out = { 0 };
	long pid = -1, pgrp = -2, sid = -3, tty = 0;

	if (!p) {
		skip(2, "sh did not open on a PTY");
		return;
	}
	int64_t want = msb_process_pid(p);
	read_all(p, &out, NULL, 5000);
	int n = sscanf(out.s, "pid=%ld pgrp=%ld sid=%ld tty=%ld", &pid, &pgrp, &sid, &tty);
	if (!ok(n == 4 && pid == want && sid == pid && pgrp == pid,
		"the PTY's process leads its own session and process group"))
		diag("output: %s (pid %lld)", out.s, (long long)want);
	ok(n == 4 && tty != 0, "... with the PTY as its controlling terminal (tty_nr %ld)", tty);
	free(out.s);
	msb_process_free(p);
}

static void test_pty_exit(void)
{
	msb_process *p = pty(ARGV("/bin/sh"), 0, 0);
	msb_command_result *res = NULL;

	if (!p) {
		skip(1, "sh did not open on a PTY");
		return;
	}
	msb_process_write(p, "exit 3\n", 7);
	int rc = msb_process_wait(&res, p, 10000);
	ok(rc == 0 && res && res->exit_code == 3 && res->signal == 0,
	   "\"exit 3\" in a PTY shell: wait gives exit code 3 (rc %d, exit %d)",
	   rc, res ? res->exit_code : -1000);
	msb_command_result_free(res);
	msb_process_free(p);

	p = pty(ARGV("sleep", "100"), 0, 0);
	res = NULL;
	if (p) {
		msb_process_signal(p, SIGHUP);
		rc = msb_process_wait(&res, p, 5000);
		ok(rc == 0 && res && res->signal == SIGHUP,
		   "a signal reaches a PTY session's process (signal %d)", res ? res->signal : -1);
	} else {
		ok(0, "sleep opens on a PTY");
	}
	msb_command_result_free(res);
	msb_process_free(p);
}

/* The attack: push input into the terminal with TIOCSTI. Our seccomp filter
 * refuses it with EPERM, so nothing can be typed into whoever reads the
 * terminal. */
static void test_tiocsti(void)
{
	static const char *py =
		"import fcntl, termios\n"
		"try:\n"
		"    fcntl.ioctl(0, termios.TIOCSTI, b'x')\n"
		"    print('TIOCSTI-ok')\n"
		"except OSError as e:\n"
		"    print('TIOCSTI-errno', e.errno)\n";
	msb_process *p = pty(ARGV("python3", "-c", py), 0, 0);
	struct text out = { 0 };

	if (!p) {
		skip(2, "python3 did not open on a PTY");
		return;
	}
	read_all(p, &out, NULL, 10000);
	if (!ok(strstr(out.s, "TIOCSTI-errno 1\r\n") != NULL,
		"TIOCSTI on the sandbox's own PTY fails with EPERM"))
		diag("output: %s", out.s);
	free(out.s);
	msb_process_free(p);

	/* a background process has no controlling terminal to reach at all */
	char *s = msbt_output(sb, ARGV("sh", "-c", "{ echo x > /dev/tty; } 2>/dev/null && echo reached || echo refused"),
			      NULL);
	if (!ok(!strcmp(s, "refused\n"), "a command without a PTY cannot open /dev/tty"))
		diag("output: %s", s);
	free(s);
}

int main(void)
{
	msbt_watchdog(180);
	msbt_require_sandboxes();

	msb_sandbox_options o = msbt_options();
	sb = msbt_start(&o);
	if (!sb)
		bail_out("cannot start a sandbox");

	test_incremental();
	test_stdin();
	test_streams_and_big_stdin();
	test_wait_timeout_keeps_output();
	test_signal();
	test_pid();
	test_read_timeout();
	test_list();
	test_several();
	test_free_kills();
	test_timeout();
	test_bad_inputs();

	test_pty_shell(ARGV("/bin/sh"), "/bin/sh");
	test_pty_shell(NULL, "the default shell");
	test_pty_tty();
	test_pty_size();
	test_pty_env_cwd();
	test_pty_session();
	test_pty_exit();
	test_tiocsti();
	test_sandbox_stops_under_process();

	msb_sandbox_free(sb);
	return done_testing();
}
