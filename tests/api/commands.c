/*
 * commands.c - running commands: exit codes, signals, timeouts, binary
 * output, output caps, stdin, env, cwd, concurrency, streaming, cancel.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>

#include "tap.h"
#include "msbt.h"

static msb_sandbox *sb;

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static int run_opts(msb_command_result **res, msb_command_options *co)
{
	*res = NULL;
	int rc = msb_command_run(res, sb, co);
	if (rc)
		msbt_diag_error(co->argv ? co->argv[0] : "(null)", rc);
	return rc;
}

static int out_is(const msb_command_result *res, const char *want)
{
	size_t n = strlen(want);
	return res && res->out.len == n && (n == 0 || !memcmp(res->out.ptr, want, n));
}

static void test_exit_codes(void)
{
	msb_command_result *res;

	if (is_int(msbt_run(&res, sb, ARGV("echo", "hello")), 0, "run echo")) {
		ok(out_is(res, "hello\n"), "stdout is \"hello\\n\"");
		ok(res->out.ptr[res->out.len] == '\0', "stdout buffer is NUL-terminated");
		ok(res->err.len == 0, "stderr is empty");
		is_int(res->exit_code, 0, "exit code 0");
		is_int(res->signal, 0, "no signal");
		is_int(res->timed_out, 0, "not timed out");
		ok(res->out_truncated == 0 && res->err_truncated == 0, "not truncated");
		ok(res->elapsed_us > 0 && res->elapsed_us < 10 * 1000000ull,
		   "elapsed_us is plausible (%llu)", (unsigned long long)res->elapsed_us);
	} else {
		skip(8, "echo did not run");
	}
	msb_command_result_free(res);

	if (!msbt_run(&res, sb, ARGV("/bin/echo", "abs")))
		ok(out_is(res, "abs\n"), "an absolute argv[0] runs");
	else
		ok(0, "an absolute argv[0] runs");
	msb_command_result_free(res);

	static const int codes[] = {1, 7, 42, 255};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		char script[64];
		snprintf(script, sizeof script, "exit %d", codes[i]);
		if (!msbt_run(&res, sb, ARGV("sh", "-c", script))) {
			ok(res->exit_code == codes[i] && res->signal == 0,
			   "exit code %d comes back", codes[i]);
		} else {
			ok(0, "exit code %d comes back", codes[i]);
		}
		msb_command_result_free(res);
	}

	if (!msbt_run(&res, sb, ARGV("sh", "-c", "echo out; echo err >&2; exit 3"))) {
		ok(out_is(res, "out\n") && res->err.len == 4 &&
		   !memcmp(res->err.ptr, "err\n", 4) && res->exit_code == 3,
		   "stdout and stderr come back separately");
	} else {
		ok(0, "stdout and stderr come back separately");
	}
	msb_command_result_free(res);

	static const int sigs[] = {SIGTERM, SIGKILL, SIGSEGV};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		char script[64];
		snprintf(script, sizeof script, "kill -%d $$", sigs[i]);
		if (!msbt_run(&res, sb, ARGV("sh", "-c", script))) {
			ok(res->signal == sigs[i] && res->exit_code == -1,
			   "killed by signal %d: signal %d, exit_code -1 (got %d, %d)",
			   sigs[i], sigs[i], res->signal, res->exit_code);
		} else {
			ok(0, "killed by signal %d", sigs[i]);
		}
		msb_command_result_free(res);
	}
}

static void test_timeouts(void)
{
	msb_command_result *res;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;

	co.argv = ARGV("sleep", "30");
	co.timeout_ms = 300;
	uint64_t t0 = msbt_now_ms();
	if (!run_opts(&res, &co)) {
		uint64_t took = msbt_now_ms() - t0;
		ok(res->timed_out, "sleep 30 with a 300 ms timeout times out");
		ok(res->signal != 0 && res->exit_code == -1,
		   "... killed by a signal (%d), exit_code -1", res->signal);
		ok(took >= 250 && took < 5000, "... after about 300 ms (%llu ms)",
		   (unsigned long long)took);
	} else {
		skip(3, "the run failed");
	}
	msb_command_result_free(res);

	/* the whole process group goes, so a background child holding the
	 * output pipes open cannot keep the command alive */
	co.argv = ARGV("sh", "-c", "sleep 30 & sleep 30 & wait");
	co.timeout_ms = 300;
	t0 = msbt_now_ms();
	if (!run_opts(&res, &co)) {
		uint64_t took = msbt_now_ms() - t0;
		ok(res->timed_out && took < 5000,
		   "a timeout kills the process group, children included (%llu ms)",
		   (unsigned long long)took);
	} else {
		ok(0, "a timeout kills the process group");
	}
	msb_command_result_free(res);

	co.argv = ARGV("true");
	co.timeout_ms = 5000;
	if (!run_opts(&res, &co))
		ok(!res->timed_out && res->exit_code == 0,
		   "a command that ends before its timeout is not timed out");
	else
		ok(0, "a command that ends before its timeout is not timed out");
	msb_command_result_free(res);
}

static void test_binary_io(void)
{
	msb_command_result *res;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;

	/* output with NULs and high bytes, made inside the sandbox */
	if (!msbt_run(&res, sb, ARGV("printf", "a\\000b\\000\\377c"))) {
		static const uint8_t want[] = {'a', 0, 'b', 0, 0xff, 'c'};
		ok(res->out.len == sizeof want && !memcmp(res->out.ptr, want, sizeof want),
		   "binary output with NUL bytes comes back exactly (%zu bytes)",
		   res->out.len);
	} else {
		ok(0, "binary output with NUL bytes");
	}
	msb_command_result_free(res);

	/* every byte value through stdin and back */
	uint8_t all[512];
	for (size_t i = 0; i < sizeof all; i++)
		all[i] = (uint8_t)(i & 0xff);
	co.argv = ARGV("cat");
	co.stdin_data = all;
	co.stdin_len = sizeof all;
	if (!run_opts(&res, &co))
		ok(res->out.len == sizeof all && !memcmp(res->out.ptr, all, sizeof all),
		   "all 256 byte values round-trip through stdin and stdout");
	else
		ok(0, "all 256 byte values round-trip");
	msb_command_result_free(res);

	/* 3 MiB + 5 of pseudo-random bytes: many frames each way */
	size_t big = (3u << 20) + 5;
	uint8_t *data = malloc(big);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < big; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (uint8_t)x;
	}
	co.stdin_data = data;
	co.stdin_len = big;
	if (!run_opts(&res, &co)) {
		ok(res->out.len == big && !memcmp(res->out.ptr, data, big),
		   "3 MiB of random bytes round-trip exactly (got %zu bytes)", res->out.len);
	} else {
		ok(0, "3 MiB of random bytes round-trip");
	}
	msb_command_result_free(res);

	co.argv = ARGV("wc", "-c");
	if (!run_opts(&res, &co)) {
		char want[32];
		snprintf(want, sizeof want, "%zu\n", big);
		ok(out_is(res, want), "the command reads exactly the stdin bytes given");
	} else {
		ok(0, "the command reads exactly the stdin bytes given");
	}
	msb_command_result_free(res);
	free(data);

	co.argv = ARGV("sh", "-c", "cat; echo end");
	co.stdin_data = NULL;
	co.stdin_len = 0;
	uint64_t t0 = msbt_now_ms();
	if (!run_opts(&res, &co))
		ok(out_is(res, "end\n") && msbt_now_ms() - t0 < 5000,
		   "without stdin_data stdin is at EOF at once");
	else
		ok(0, "without stdin_data stdin is at EOF");
	msb_command_result_free(res);

	co.argv = ARGV("cat");
	co.stdin_data = "";
	co.stdin_len = 0;
	if (!run_opts(&res, &co))
		ok(res->out.len == 0 && res->exit_code == 0, "empty stdin_data gives EOF");
	else
		ok(0, "empty stdin_data gives EOF");
	msb_command_result_free(res);
}

static void test_output_caps(void)
{
	msb_command_result *res;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;

	co.argv = ARGV("head", "-c", "100000", "/dev/zero");
	co.output_cap = 1000;
	if (!run_opts(&res, &co)) {
		is_int(res->out.len, 1000, "stdout is capped at output_cap bytes");
		ok(res->out_truncated, "out_truncated is set");
		ok(!res->err_truncated, "err_truncated is not set");
		is_int(res->exit_code, 0, "the capped command still runs to completion");
	} else {
		skip(4, "the run failed");
	}
	msb_command_result_free(res);

	co.argv = ARGV("sh", "-c", "head -c 5000 /dev/zero >&2; echo small");
	co.output_cap = 1000;
	if (!run_opts(&res, &co)) {
		ok(res->err.len == 1000 && res->err_truncated && !res->out_truncated &&
		   out_is(res, "small\n"),
		   "stderr is capped on its own; stdout is intact");
	} else {
		ok(0, "stderr is capped on its own");
	}
	msb_command_result_free(res);

	co.argv = ARGV("head", "-c", "1000", "/dev/zero");
	co.output_cap = 1000;
	if (!run_opts(&res, &co))
		ok(res->out.len == 1000 && !res->out_truncated,
		   "output of exactly output_cap bytes is not truncated");
	else
		ok(0, "output of exactly output_cap bytes is not truncated");
	msb_command_result_free(res);

	/* the default cap is 16 MiB */
	co.argv = ARGV("head", "-c", "17000000", "/dev/zero");
	co.output_cap = 0;
	if (!run_opts(&res, &co))
		ok(res->out.len == (16u << 20) && res->out_truncated,
		   "the default cap is 16 MiB (kept %zu bytes)", res->out.len);
	else
		ok(0, "the default cap is 16 MiB");
	msb_command_result_free(res);
}

static void test_env_cwd(void)
{
	msb_command_result *res;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;

	co.argv = ARGV("sh", "-c", "printf '%s|%s|%s' \"$FOO\" \"$SB_VAR\" \"$EMPTY\"");
	co.env = ARGV("FOO=bar baz", "EMPTY=");
	if (!run_opts(&res, &co))
		ok(out_is(res, "bar baz|from-sandbox|"),
		   "command env and sandbox env are both visible (%.*s)",
		   (int)res->out.len, (const char *)res->out.ptr);
	else
		ok(0, "command env is visible");
	msb_command_result_free(res);

	co.env = ARGV("ODD=line1\nline2 \xc3\xa9\t$x'\"");
	co.argv = ARGV("sh", "-c", "printf %s \"$ODD\"");
	if (!run_opts(&res, &co))
		ok(out_is(res, "line1\nline2 \xc3\xa9\t$x'\""),
		   "env values with newlines, UTF-8, tabs and quotes arrive exactly");
	else
		ok(0, "env values with odd bytes");
	msb_command_result_free(res);

	co.env = ARGV("SB_VAR=overridden");
	co.argv = ARGV("sh", "-c", "printf %s \"$SB_VAR\"");
	if (!run_opts(&res, &co))
		ok(out_is(res, "overridden"), "command env overrides the sandbox env");
	else
		ok(0, "command env overrides the sandbox env");
	msb_command_result_free(res);

	co.env = NULL;
	co.argv = ARGV("sh", "-c", "printf %s \"${FOO-unset}\"");
	if (!run_opts(&res, &co))
		ok(out_is(res, "unset"), "command env does not leak into the next command");
	else
		ok(0, "command env does not leak into the next command");
	msb_command_result_free(res);

	co.argv = ARGV("pwd");
	if (!run_opts(&res, &co))
		ok(out_is(res, "/workspace\n"), "the default cwd is /workspace");
	else
		ok(0, "the default cwd is /workspace");
	msb_command_result_free(res);

	co.cwd = "/tmp";
	if (!run_opts(&res, &co))
		ok(out_is(res, "/tmp\n"), "cwd is honoured");
	else
		ok(0, "cwd is honoured");
	msb_command_result_free(res);
	co.cwd = NULL;

	/* a program from PATH that is not a shell builtin */
	co.argv = ARGV("ls", "-d", "/");
	if (!run_opts(&res, &co))
		ok(out_is(res, "/\n"), "argv[0] is looked up in PATH");
	else
		ok(0, "argv[0] is looked up in PATH");
	msb_command_result_free(res);

	/* no shell: metacharacters are plain arguments */
	co.argv = ARGV("echo", "$HOME;", "`id`", "*");
	if (!run_opts(&res, &co))
		ok(out_is(res, "$HOME; `id` *\n"), "argv goes to the program as is, no shell");
	else
		ok(0, "argv goes to the program as is");
	msb_command_result_free(res);
}

/* ---- concurrency ---- */

struct job {
	int n;
	int rc;
	int exit_code;
	char out[64], err[64];
};

static void *job_thread(void *arg)
{
	struct job *j = arg;
	char num[16];
	snprintf(num, sizeof num, "%d", j->n);
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("sh", "-c", "sleep 0.5; echo out$1; echo err$1 >&2; exit $1",
		       "sh", num);
	msb_command_result *res = NULL;
	j->rc = msb_command_run(&res, sb, &co);
	if (!j->rc && res) {
		j->exit_code = res->exit_code;
		snprintf(j->out, sizeof j->out, "%.*s", (int)res->out.len,
			 (const char *)res->out.ptr);
		snprintf(j->err, sizeof j->err, "%.*s", (int)res->err.len,
			 (const char *)res->err.ptr);
	}
	msb_command_result_free(res);
	return NULL;
}

static void test_concurrency(void)
{
	enum { N = 8 };
	struct job jobs[N];
	pthread_t th[N];
	uint64_t t0 = msbt_now_ms();
	for (int i = 0; i < N; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].n = i + 10;
		pthread_create(&th[i], NULL, job_thread, &jobs[i]);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	uint64_t took = msbt_now_ms() - t0;
	int all = 1;
	for (int i = 0; i < N; i++) {
		char o[32], e[32];
		snprintf(o, sizeof o, "out%d\n", jobs[i].n);
		snprintf(e, sizeof e, "err%d\n", jobs[i].n);
		if (jobs[i].rc || jobs[i].exit_code != jobs[i].n ||
		    strcmp(jobs[i].out, o) || strcmp(jobs[i].err, e)) {
			diag("job %d: rc %d exit %d out \"%s\" err \"%s\"", jobs[i].n,
			     jobs[i].rc, jobs[i].exit_code, jobs[i].out, jobs[i].err);
			all = 0;
		}
	}
	ok(all, "8 concurrent commands from 8 threads each get their own output and exit code");
	ok(took < 3500, "... and they run at the same time (%llu ms for 8 x 0.5 s)",
	   (unsigned long long)took);
}

/* ---- streaming ---- */

struct stream_state {
	char out[256], err[256];
	size_t out_len, err_len;
	int chunks;
	int bad_stream;
	pthread_t caller;
	int other_thread;
	uint64_t t0, first_ms;
	int cancel_at; /* cancel on this chunk (1-based), 0: never */
};

static int stream_cb(int stream, const uint8_t *data, size_t len, void *payload)
{
	struct stream_state *s = payload;
	s->chunks++;
	if (!pthread_equal(pthread_self(), s->caller))
		s->other_thread = 1;
	if (!s->first_ms)
		s->first_ms = msbt_now_ms() - s->t0;
	if (stream == MSB_STREAM_STDOUT) {
		size_t n = len < sizeof s->out - 1 - s->out_len ? len
				: sizeof s->out - 1 - s->out_len;
		memcpy(s->out + s->out_len, data, n);
		s->out_len += n;
	} else if (stream == MSB_STREAM_STDERR) {
		size_t n = len < sizeof s->err - 1 - s->err_len ? len
				: sizeof s->err - 1 - s->err_len;
		memcpy(s->err + s->err_len, data, n);
		s->err_len += n;
	} else {
		s->bad_stream = 1;
	}
	return s->cancel_at && s->chunks >= s->cancel_at;
}

struct big_state {
	size_t len;
	int chunks;
	int bad;
};

static int big_cb(int stream, const uint8_t *data, size_t len, void *payload)
{
	struct big_state *b = payload;
	if (stream != MSB_STREAM_STDOUT)
		b->bad = 1;
	for (size_t i = 0; i < len && !b->bad; i++)
		if (data[i] != (uint8_t)((b->len + i) % 251))
			b->bad = 1;
	b->len += len;
	b->chunks++;
	return 0;
}

static void test_streaming(void)
{
	struct stream_state st;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;

	memset(&st, 0, sizeof st);
	st.caller = pthread_self();
	st.t0 = msbt_now_ms();
	co.argv = ARGV("sh", "-c", "echo first; sleep 1; echo second >&2; echo third; exit 5");
	int rc = msb_command_run_stream(&res, sb, &co, stream_cb, &st);
	if (!is_int(rc, 0, "msb_command_run_stream succeeds"))
		msbt_diag_error("run_stream", rc);
	is_str(st.out, "first\nthird\n", "the callback sees all of stdout");
	is_str(st.err, "second\n", "the callback sees stderr as stderr");
	ok(!st.bad_stream, "the stream argument is MSB_STREAM_STDOUT or _STDERR");
	ok(st.chunks >= 2, "output arrives in several chunks (%d)", st.chunks);
	ok(st.first_ms > 0 && st.first_ms < 900,
	   "the first chunk arrives while the command still runs (%llu ms)",
	   (unsigned long long)st.first_ms);
	ok(!st.other_thread, "the callback runs on the calling thread");
	ok(res && res->exit_code == 5, "the streamed run still reports the exit code");
	ok(res && res->out.len == 0 && res->err.len == 0,
	   "the result buffers are empty when streamed");
	msb_command_result_free(res);

	/* cancel */
	memset(&st, 0, sizeof st);
	st.caller = pthread_self();
	st.t0 = msbt_now_ms();
	st.cancel_at = 1;
	res = NULL;
	co.argv = ARGV("sh", "-c", "echo go; exec sleep 30");
	rc = msb_command_run_stream(&res, sb, &co, stream_cb, &st);
	uint64_t took = msbt_now_ms() - st.t0;
	is_int(rc, MSB_ECANCELED, "a non-zero callback return cancels with MSB_ECANCELED");
	is_int(msb_error_last()->code, MSB_ECANCELED, "... and msb_error_last() says so");
	ok(took < 5000, "... promptly (%llu ms), the command is killed",
	   (unsigned long long)took);
	is_int(st.chunks, 1, "... and the callback is not called again");
	msb_command_result_free(res);

	res = NULL;
	if (!msbt_run(&res, sb, ARGV("echo", "still-here")))
		ok(out_is(res, "still-here\n"), "the sandbox works after a cancel");
	else
		ok(0, "the sandbox works after a cancel");
	msb_command_result_free(res);

	/* a large streamed output arrives whole and in order */
	struct big_state bs = {0, 0, 0};
	res = NULL;
	co.argv = ARGV(MSBT_PROBE, "echo-stdin");
	size_t big = (4u << 20) + 3;
	uint8_t *data = malloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i % 251);
	co.stdin_data = data;
	co.stdin_len = big;
	rc = msb_command_run_stream(&res, sb, &co, big_cb, &bs);
	ok(rc == 0 && bs.len == big && !bs.bad, "4 MiB streamed arrive whole and in order "
	   "(%zu bytes, %d chunks)", bs.len, bs.chunks);
	msb_command_result_free(res);
	free(data);
	co.stdin_data = NULL;
	co.stdin_len = 0;

	/* a streamed command that times out */
	memset(&st, 0, sizeof st);
	st.caller = pthread_self();
	st.t0 = msbt_now_ms();
	res = NULL;
	co.argv = ARGV("sh", "-c", "echo tick; exec sleep 30");
	co.timeout_ms = 300;
	rc = msb_command_run_stream(&res, sb, &co, stream_cb, &st);
	ok(rc == 0 && res && res->timed_out && !strcmp(st.out, "tick\n"),
	   "a streamed command times out like a buffered one (rc %d)", rc);
	msb_command_result_free(res);
	co.timeout_ms = 0;

	/* NULL callback */
	res = NULL;
	co.argv = ARGV("true");
	is_int(msb_command_run_stream(&res, sb, &co, NULL, NULL), MSB_EINVAL,
	       "msb_command_run_stream with a NULL callback is MSB_EINVAL");
	msb_command_result_free(res);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d)))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void test_no_fd_growth(void)
{
	msb_command_result *res;
	int before = count_fds();
	for (int i = 0; i < 20; i++) {
		if (!msbt_run(&res, sb, ARGV("true")))
			msb_command_result_free(res);
	}
	int after = count_fds();
	is_int(after, before, "20 commands leave no extra fds open in the caller");
}

int main(void)
{
	msbt_watchdog(90);
	msbt_require_sandboxes();

	msb_sandbox_options o = msbt_options();
	o.env = ARGV("SB_VAR=from-sandbox");
	sb = msbt_start(&o);
	if (!sb)
		bail_out("cannot start a sandbox");

	test_exit_codes();
	test_timeouts();
	test_binary_io();
	test_output_caps();
	test_env_cwd();
	test_concurrency();
	test_streaming();
	test_no_fd_growth();

	msb_sandbox_free(sb);
	return done_testing();
}
