/*
 * repl.c - the stateful REPL: state that persists (python, node, shell),
 * values, errors, rich output, timeouts that keep the state, interpreters
 * that ignore SIGINT or die, contexts, concurrency, code that could confuse
 * a framing (quotes, 10 MB, control bytes, fake markers, writes to the
 * driver's channel), streaming, a missing interpreter, bad inputs.
 */
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"
#include "msbt.h"

static msb_sandbox *sb;
static int have_node;

/* Run code; NULL (with diagnostics) when the call itself failed. */
static msb_repl_result *run_n(msb_language lang, const char *ctx,
			      const char *code, size_t len, int64_t timeout_ms)
{
	msb_repl_options o = MSB_REPL_OPTIONS_INIT;
	msb_repl_result *r = NULL;
	int rc;

	o.language = lang;
	o.context = ctx;
	o.timeout_ms = timeout_ms;
	rc = msb_repl_run(&r, sb, &o, code, len);
	if (rc) {
		msbt_diag_error("msb_repl_run", rc);
		return NULL;
	}
	if (r->status != MSB_REPL_OK)
		diag("  status %d: %s: %s\n%s", r->status, r->error_type,
		     r->error_message, (const char *)r->traceback.ptr);
	return r;
}

static msb_repl_result *run_in(msb_language lang, const char *ctx,
			       const char *code, int64_t timeout_ms)
{
	return run_n(lang, ctx, code, strlen(code), timeout_ms);
}

static msb_repl_result *run(msb_language lang, const char *code, int64_t timeout_ms)
{
	return run_n(lang, NULL, code, strlen(code), timeout_ms);
}

static int buf_is(const msb_buf *b, const char *want)
{
	size_t n = strlen(want);
	return b->ptr && b->len == n && !memcmp(b->ptr, want, n) && b->ptr[n] == 0;
}

/* Run and check status and value; returns 1 when both are as wanted. */
static int value_is(msb_language lang, const char *code, const char *want,
		    const char *name)
{
	msb_repl_result *r = run(lang, code, 10000);
	int good = r && r->status == MSB_REPL_OK && buf_is(&r->value, want);

	if (r && !good)
		diag("  value: \"%s\", expected \"%s\"", (const char *)r->value.ptr, want);
	msb_repl_result_free(r);
	return ok(good, "%s", name);
}

/* ---- python ------------------------------------------------------------- */

static void test_python_state(void)
{
	msb_repl_result *r;

	r = run(MSB_LANG_PYTHON, "x = 40\nimport math\ndef twice(v):\n    return v * 2\n", 0);
	ok(r && r->status == MSB_REPL_OK && r->value.len == 0 && !r->state_lost,
	   "python: assignments, an import and a def run with no value");
	msb_repl_result_free(r);
	value_is(MSB_LANG_PYTHON, "twice(x) + math.floor(2.9)", "82",
		 "python: variables, imports and functions persist");
	value_is(MSB_LANG_PYTHON, "x += 1\nx", "41", "python: the last expression is the value");
	value_is(MSB_LANG_PYTHON, "None", "", "python: None gives no value");
	value_is(MSB_LANG_PYTHON, "'it' + \"'s\"", "\"it's\"", "python: the value is the repr");
	value_is(MSB_LANG_PYTHON, "_", "\"it's\"", "python: _ holds the last value");

	r = run(MSB_LANG_PYTHON, "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\n7", 0);
	ok(r && buf_is(&r->out, "to out\n") && buf_is(&r->err, "to err\n") &&
	   buf_is(&r->value, "7"), "python: stdout, stderr and the value come apart");
	ok(r && r->elapsed_us > 0 && r->elapsed_us < 10000000ull, "python: elapsed_us is plausible");
	msb_repl_result_free(r);

	r = run(MSB_LANG_PYTHON, "print('no newline', end='')", 0);
	ok(r && buf_is(&r->out, "no newline"), "python: output without a trailing newline arrives whole");
	msb_repl_result_free(r);

	r = run(MSB_LANG_PYTHON, "import asyncio\nasync def f():\n    await asyncio.sleep(0.01)\n    return 5\nv = await f()\nv * 2", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->value, "10"), "python: top-level await");
	msb_repl_result_free(r);
}

static void test_python_errors(void)
{
	msb_repl_result *r;

	r = run(MSB_LANG_PYTHON, "def boom():\n    return 1 / 0\nprint('before')\nboom()", 0);
	ok(r && r->status == MSB_REPL_ERROR, "python: an exception gives status error");
	if (r) {
		is_str(r->error_type, "ZeroDivisionError", "python: the error type");
		is_str(r->error_message, "division by zero", "python: the error message");
		const char *tb = (const char *)r->traceback.ptr;
		ok(tb && strstr(tb, "Traceback") && strstr(tb, "in boom") &&
		   strstr(tb, "return 1 / 0") && strstr(tb, "ZeroDivisionError"),
		   "python: the traceback names the frames and the source line");
		ok(tb && !strstr(tb, "_msb_main") && !strstr(tb, "<string>"),
		   "python: the traceback holds no driver frame");
		ok(buf_is(&r->out, "before\n"), "python: output before the error is kept");
	} else {
		skip(4, "the run failed");
	}
	msb_repl_result_free(r);

	r = run(MSB_LANG_PYTHON, "def (:", 0);
	ok(r && r->status == MSB_REPL_ERROR && !strcmp(r->error_type, "SyntaxError") &&
	   strstr((const char *)r->traceback.ptr, "def (:"),
	   "python: a syntax error is an error with the line");
	msb_repl_result_free(r);

	r = run(MSB_LANG_PYTHON, "import sys\nkept = 'yes'\nsys.exit(4)", 0);
	ok(r && r->status == MSB_REPL_ERROR && !strcmp(r->error_type, "SystemExit") &&
	   !r->state_lost, "python: sys.exit() is an error, not the end of the interpreter");
	msb_repl_result_free(r);
	value_is(MSB_LANG_PYTHON, "kept", "'yes'", "python: the state survives sys.exit()");
}

static void test_python_rich(void)
{
	msb_repl_result *r;
	int html = 0, png = 0, md = 0;

	r = run(MSB_LANG_PYTHON,
		"class Rich:\n"
		"    def _repr_html_(self): return '<b>bold</b>'\n"
		"    def _repr_png_(self): return b'\\x89PNG'\n"
		"    def _repr_markdown_(self): return '*md*'\n"
		"    def _repr_svg_(self): return None\n"
		"    def __repr__(self): return 'Rich()'\n"
		"Rich()", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->value, "Rich()"),
	   "python: an object with rich representations has its repr as value");
	for (size_t i = 0; r && i < r->outputs_len; i++) {
		const msb_repl_output *o = &r->outputs[i];
		if (!strcmp(o->mime, "text/html") && buf_is(&o->data, "<b>bold</b>"))
			html = 1;
		if (!strcmp(o->mime, "image/png") && buf_is(&o->data, "iVBORw=="))
			png = 1;
		if (!strcmp(o->mime, "text/markdown") && buf_is(&o->data, "*md*"))
			md = 1;
		if (!strcmp(o->mime, "image/svg+xml"))
			md = -100; /* None means: no such representation */
	}
	ok(html, "python: _repr_html_ comes back as text/html");
	ok(png, "python: _repr_png_ comes back as base64 image/png");
	ok(md == 1, "python: _repr_markdown_ comes back; a None representation does not");
	msb_repl_result_free(r);

	r = run(MSB_LANG_PYTHON, "42", 0);
	ok(r && r->outputs_len == 0, "python: a plain value has no rich outputs");
	msb_repl_result_free(r);
}

static void test_python_timeouts(void)
{
	msb_repl_result *r;
	uint64_t t0;

	r = run_in(MSB_LANG_PYTHON, "to", "x = 1", 0);
	msb_repl_result_free(r);
	t0 = msbt_now_ms();
	r = run_in(MSB_LANG_PYTHON, "to", "while True: pass", 500);
	ok(r && r->status == MSB_REPL_TIMEOUT && !r->state_lost,
	   "python: a busy loop is interrupted by the timeout, state kept");
	ok(r && !strcmp(r->error_type, "KeyboardInterrupt"),
	   "python: the interruption is a KeyboardInterrupt (%s)", r ? r->error_type : "");
	ok(msbt_now_ms() - t0 < 2400, "python: the timeout is prompt (%llu ms)",
	   (unsigned long long)(msbt_now_ms() - t0));
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "to", "x", 0);
	ok(r && buf_is(&r->value, "1") && !r->state_lost, "python: x is still 1 after the timeout");
	msb_repl_result_free(r);

	r = run_in(MSB_LANG_PYTHON, "to", "import time\ntime.sleep(30)", 300);
	ok(r && r->status == MSB_REPL_TIMEOUT && !r->state_lost,
	   "python: a sleep is interrupted too");
	msb_repl_result_free(r);

	/* An interpreter that ignores SIGINT is killed and restarted. */
	const char *deaf = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass";
	t0 = msbt_now_ms();
	r = run_in(MSB_LANG_PYTHON, "to", deaf, 300);
	ok(r && r->status == MSB_REPL_TIMEOUT && r->state_lost,
	   "python: an interpreter that ignores SIGINT times out with state_lost");
	ok(msbt_now_ms() - t0 < 6000, "python: ... after the kill grace (%llu ms)",
	   (unsigned long long)(msbt_now_ms() - t0));
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "to", "'x' in globals()", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->value, "False") && !r->state_lost,
	   "python: the next run has a fresh interpreter, and says state_lost only once");
	msb_repl_result_free(r);
}

struct interrupter {
	msb_language lang;
	const char *ctx;
	int delay_ms, rc, interrupted;
};

static void *interrupt_later(void *arg)
{
	struct interrupter *t = arg;

	usleep((useconds_t)t->delay_ms * 1000);
	t->rc = msb_repl_interrupt(sb, t->lang, t->ctx, &t->interrupted);
	return NULL;
}

/* msb_repl_interrupt from another thread: the run ends INTERRUPTED (not
 * TIMEOUT), the state stays, and an idle context reports nothing to do. */
static void test_interrupt(void)
{
	struct interrupter t = { MSB_LANG_PYTHON, "intr", 400, -1, 0 };
	pthread_t th;
	msb_repl_result *r;
	uint64_t t0;
	int was = 1;

	r = run_in(MSB_LANG_PYTHON, "intr", "y = 7", 0);
	msb_repl_result_free(r);
	is_int(msb_repl_interrupt(sb, MSB_LANG_PYTHON, "intr", &was), 0,
	       "interrupt an idle context: no error");
	is_int(was, 0, "... and nothing was running");
	is_int(msb_repl_interrupt(sb, MSB_LANG_PYTHON, "no-such-context", NULL),
	       MSB_ENOTFOUND, "interrupt a context that does not exist: MSB_ENOTFOUND");
	is_int(msb_repl_interrupt(NULL, MSB_LANG_PYTHON, NULL, NULL), MSB_EINVAL,
	       "interrupt with a NULL sandbox: MSB_EINVAL");

	t0 = msbt_now_ms();
	pthread_create(&th, NULL, interrupt_later, &t);
	r = run_in(MSB_LANG_PYTHON, "intr", "import time\nwhile True: time.sleep(0.01)", 0);
	pthread_join(th, NULL);
	is_int(t.rc, 0, "interrupt a running python loop from another thread");
	ok(t.interrupted, "... it says code was running");
	ok(r && r->status == MSB_REPL_INTERRUPTED && !r->state_lost &&
	   !strcmp(r->error_type, "KeyboardInterrupt"),
	   "... the run ends INTERRUPTED with KeyboardInterrupt, state kept");
	ok(msbt_now_ms() - t0 < 5000, "... promptly, with no timeout set (%llu ms)",
	   (unsigned long long)(msbt_now_ms() - t0));
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "intr", "y", 0);
	ok(r && buf_is(&r->value, "7") && !r->state_lost, "... and y is still 7");
	msb_repl_result_free(r);

	struct interrupter ts = { MSB_LANG_SHELL, "intr", 300, -1, 0 };
	pthread_create(&th, NULL, interrupt_later, &ts);
	r = run_in(MSB_LANG_SHELL, "intr", "sleep 30", 0);
	pthread_join(th, NULL);
	ok(ts.rc == 0 && ts.interrupted && r && r->status == MSB_REPL_INTERRUPTED,
	   "a shell sleep is interrupted too (status %d)", r ? (int)r->status : -1);
	msb_repl_result_free(r);
}

static void test_python_death(void)
{
	msb_repl_result *r;

	r = run_in(MSB_LANG_PYTHON, "die", "y = 5", 0);
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "die", "import os\nprint('bye', flush=True)\nos._exit(3)", 0);
	ok(r && r->status == MSB_REPL_ERROR && r->state_lost,
	   "python: os._exit() mid-run is an error with state_lost");
	ok(r && !strcmp(r->error_type, "InterpreterDied") && strstr(r->error_message, "3"),
	   "python: ... of type InterpreterDied naming the status (%s)",
	   r ? r->error_message : "");
	ok(r && buf_is(&r->out, "bye\n"), "python: output before the death arrives");
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "die", "1 + 1", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->value, "2") && !r->state_lost,
	   "python: the next run works in a fresh interpreter");
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "die", "'y' in globals()", 0);
	ok(r && buf_is(&r->value, "False"), "python: the old state is gone");
	msb_repl_result_free(r);

	/* Dies between runs (a thread kills it later): the next run says so. */
	r = run_in(MSB_LANG_PYTHON, "die",
		   "import os, threading, time\nthreading.Thread(target=lambda: (time.sleep(0.2), os._exit(1))).start()", 0);
	ok(r && r->status == MSB_REPL_OK, "python: a thread that will end the interpreter starts");
	msb_repl_result_free(r);
	usleep(800 * 1000);
	r = run_in(MSB_LANG_PYTHON, "die", "2", 0);
	ok(r && r->status == MSB_REPL_OK && r->state_lost,
	   "python: a death between runs is reported by the next run");
	msb_repl_result_free(r);
}

/* ---- hostile code: framing --------------------------------------------- */

static void test_framing(void)
{
	msb_repl_result *r;
	static const char quotes[] =
		"s = '''it's \"quoted\" \\\\ `tick` $HOME %s {} \\n'''\nprint(s, end='')\nlen(s)";

	r = run(MSB_LANG_PYTHON, quotes, 0);
	ok(r && r->status == MSB_REPL_OK &&
	   buf_is(&r->out, "it's \"quoted\" \\ `tick` $HOME %s {} \n") && buf_is(&r->value, "36"),
	   "python: code with quotes, backslashes and shell metacharacters runs as written");
	msb_repl_result_free(r);

	/* Control bytes and UTF-8 inside a literal, printed back raw. */
	static const char ctl[] = "s = '\x01\x02\x1b[31m\x7f\t\xc3\xa9\xe6\x97\xa5'\n"
				  "import sys\nsys.stdout.write(s)\nlen(s)";
	r = run(MSB_LANG_PYTHON, ctl, 0);
	ok(r && r->status == MSB_REPL_OK &&
	   buf_is(&r->out, "\x01\x02\x1b[31m\x7f\t\xc3\xa9\xe6\x97\xa5") &&
	   buf_is(&r->value, "11"),
	   "python: control bytes and UTF-8 in the code and the output come through");
	msb_repl_result_free(r);

	r = run(MSB_LANG_PYTHON, "s = '\xff\xfe'", 0);
	ok(r && r->status == MSB_REPL_ERROR && !strcmp(r->error_type, "SyntaxError"),
	   "python: code that is not UTF-8 is a SyntaxError, not a broken run");
	msb_repl_result_free(r);

	/* Output that looks like the driver's framing or an end marker. */
	r = run(MSB_LANG_PYTHON,
		"import sys\n"
		"fake = '57\\n{\"status\":\"ok\",\"value\":\"fake\",\"error\":null,\"outputs\":[]}'\n"
		"print(fake)\nprint(fake, file=sys.stderr)\n"
		"print('__MSB_DONE__\\n\\x00\\x00\\x00\\x10', end='')\n'real'", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->value, "'real'") &&
	   r->out.len > 60 && strstr((const char *)r->out.ptr, "\"value\":\"fake\"") &&
	   r->err.len > 50,
	   "python: printing framing or markers does not end the run");
	msb_repl_result_free(r);

	/* The code finds the driver's response channel and writes garbage. */
	r = run_in(MSB_LANG_PYTHON, "hostile", "z = 1", 0);
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "hostile",
		   "import os, fcntl\n"
		   "for f in os.listdir('/proc/self/fd'):\n"
		   "    f = int(f)\n"
		   "    try:\n"
		   "        if f > 2 and fcntl.fcntl(f, fcntl.F_GETFL) & os.O_WRONLY:\n"
		   "            os.write(f, b'99999999999999999999\\n{garbage')\n"
		   "    except OSError:\n"
		   "        pass\n", 5000);
	ok(r && r->status != MSB_REPL_OK && r->state_lost,
	   "python: garbage written to the driver's channel kills only that interpreter");
	msb_repl_result_free(r);
	value_is(MSB_LANG_PYTHON, "'agent still fine'", "'agent still fine'",
		 "python: the agent serves the next run");

	r = run(MSB_LANG_PYTHON,
		"import subprocess\n"
		"subprocess.run(['sh', '-c', 'ls /proc/self/fd'], capture_output=True, text=True).stdout.split()", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->value, "['0', '1', '2', '3']"),
	   "python: a process the code starts inherits no driver fd (%s)",
	   r ? (const char *)r->value.ptr : "");
	msb_repl_result_free(r);

	/* A 10 MB script. */
	size_t n = 10u << 20;
	char *big = malloc(n + 64);
	if (!big)
		bail_out("out of memory");
	memcpy(big, "s = '", 5);
	memset(big + 5, 'a', n);
	strcpy(big + 5 + n, "'\nlen(s)");
	uint64_t t0 = msbt_now_ms();
	r = run_n(MSB_LANG_PYTHON, NULL, big, strlen(big), 60000);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->value, "10485760"),
	   "python: a 10 MB script runs (%llu ms)", (unsigned long long)(msbt_now_ms() - t0));
	msb_repl_result_free(r);
	free(big);

	/* A value too large for one frame is cut, not a failure. */
	r = run(MSB_LANG_PYTHON, "'x' * (3 << 20)", 0);
	ok(r && r->status == MSB_REPL_OK && r->value.len > 1000 && r->value.len < (1u << 20),
	   "python: a huge value is truncated to fit (%zu bytes)", r ? r->value.len : 0);
	msb_repl_result_free(r);
}

/* ---- node ---------------------------------------------------------------- */

static void test_node(void)
{
	msb_repl_result *r;

	if (!have_node) {
		skip(11, "node not installed");
		return;
	}
	r = run(MSB_LANG_NODE, "let a = 20; const os = require('os'); function dbl(v) { return v * 2 }", 0);
	ok(r && r->status == MSB_REPL_OK && r->value.len == 0, "node: declarations run with no value");
	msb_repl_result_free(r);
	value_is(MSB_LANG_NODE, "dbl(a) + 2", "42", "node: let, const, functions and require persist");
	value_is(MSB_LANG_NODE, "({k: [1, 'two']})", "{ k: [ 1, 'two' ] }",
		 "node: the value is util.inspect of the last expression");
	value_is(MSB_LANG_NODE, "undefined", "", "node: undefined gives no value");

	r = run(MSB_LANG_NODE, "const w = await new Promise(r => setTimeout(() => r(21), 20)); w * 2", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->value, "42"), "node: top-level await");
	msb_repl_result_free(r);
	value_is(MSB_LANG_NODE, "w", "21", "node: a declaration next to top-level await persists");

	r = run(MSB_LANG_NODE, "console.log('o'); console.error('e'); process.stdout.write('n')", 0);
	ok(r && buf_is(&r->out, "o\nn") && buf_is(&r->err, "e\n"),
	   "node: stdout and stderr come apart");
	msb_repl_result_free(r);

	r = run(MSB_LANG_NODE, "function f() { null.x }\nf()", 0);
	ok(r && r->status == MSB_REPL_ERROR && !strcmp(r->error_type, "TypeError") &&
	   strstr(r->error_message, "null") && strstr((const char *)r->traceback.ptr, "at f ("),
	   "node: an exception gives type, message and stack");
	msb_repl_result_free(r);

	r = run(MSB_LANG_NODE, "while (true) {}", 500);
	ok(r && r->status == MSB_REPL_TIMEOUT && !r->state_lost,
	   "node: a busy loop is interrupted, state kept");
	msb_repl_result_free(r);
	r = run(MSB_LANG_NODE, "await new Promise(() => {})", 500);
	ok(r && r->status == MSB_REPL_TIMEOUT && !r->state_lost,
	   "node: a pending await is interrupted, state kept");
	msb_repl_result_free(r);
	value_is(MSB_LANG_NODE, "a", "20", "node: the state is there after the timeouts");
}

/* ---- shell --------------------------------------------------------------- */

static void test_shell(void)
{
	msb_repl_result *r;

	r = run(MSB_LANG_SHELL, "cd /tmp && mkdir -p sub && cd sub\nV='a b'\ngreet() { echo \"hi $1\"; }", 0);
	ok(r && r->status == MSB_REPL_OK && r->value.len == 0, "shell: cd, a variable and a function");
	msb_repl_result_free(r);
	r = run(MSB_LANG_SHELL, "pwd; echo \"$V\"; greet you", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->out, "/tmp/sub\na b\nhi you\n"),
	   "shell: cwd, variables and functions persist");
	msb_repl_result_free(r);

	r = run(MSB_LANG_SHELL, "echo out; echo err >&2; printf 'tail'", 0);
	ok(r && buf_is(&r->out, "out\ntail") && buf_is(&r->err, "err\n"),
	   "shell: stdout and stderr come apart; no trailing newline needed");
	msb_repl_result_free(r);

	r = run(MSB_LANG_SHELL, "ls /nonexistent-dir 2>/dev/null", 0);
	ok(r && r->status == MSB_REPL_ERROR && !strcmp(r->error_type, "ExitStatus") &&
	   strstr(r->error_message, "2"), "shell: a non-zero exit status is an error naming it");
	msb_repl_result_free(r);

	r = run(MSB_LANG_SHELL, "printf '%s' '\x01\x80\xff\xfe quote\" '\\'''", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->out, "\x01\x80\xff\xfe quote\" '"),
	   "shell: bytes that are not UTF-8 pass through the code and the output");
	msb_repl_result_free(r);

	r = run(MSB_LANG_SHELL, "sleep 30; echo after", 500);
	ok(r && r->status == MSB_REPL_TIMEOUT && !r->state_lost && r->out.len == 0,
	   "shell: a timeout interrupts the command and ends the run");
	msb_repl_result_free(r);
	r = run(MSB_LANG_SHELL, "while :; do :; done", 500);
	ok(r && r->status == MSB_REPL_TIMEOUT && !r->state_lost,
	   "shell: a busy loop is interrupted too");
	msb_repl_result_free(r);
	r = run(MSB_LANG_SHELL, "echo \"$V\"; pwd", 0);
	ok(r && buf_is(&r->out, "a b\n/tmp/sub\n"), "shell: the state is kept after the timeouts");
	msb_repl_result_free(r);

	r = run(MSB_LANG_SHELL, "exit 3", 0);
	ok(r && r->status == MSB_REPL_ERROR && r->state_lost &&
	   !strcmp(r->error_type, "InterpreterDied"), "shell: exit ends the shell (state_lost)");
	msb_repl_result_free(r);
	r = run(MSB_LANG_SHELL, "echo \"[$V]\"; pwd", 0);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->out, "[]\n/workspace\n"),
	   "shell: the next run has a fresh shell in the workdir");
	msb_repl_result_free(r);
}

/* ---- contexts ------------------------------------------------------------- */

static int listed(msb_language lang, const char *name, int *running)
{
	msb_repl_contexts *l = NULL;
	int found = 0;

	if (msb_repl_context_list(&l, sb))
		return -1;
	for (size_t i = 0; i < l->len; i++)
		if (l->items[i].language == lang && !strcmp(l->items[i].name, name)) {
			found = 1;
			if (running)
				*running = l->items[i].running;
		}
	msb_repl_contexts_free(l);
	return found;
}

static void test_contexts(void)
{
	msb_repl_result *r;
	int running = 0;

	r = run_in(MSB_LANG_PYTHON, "one", "v = 'one'", 0);
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "two", "v = 'two'", 0);
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "one", "v", 0);
	ok(r && buf_is(&r->value, "'one'"), "contexts: each context has its own state");
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "two", "v", 0);
	ok(r && buf_is(&r->value, "'two'"), "contexts: ... both of them");
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_SHELL, "one", "echo ${v:-unset}", 0);
	ok(r && buf_is(&r->out, "unset\n"), "contexts: the same name in another language is another context");
	msb_repl_result_free(r);

	is_int(msb_repl_context_create(sb, MSB_LANG_PYTHON, "made"), 0, "contexts: create");
	ok(listed(MSB_LANG_PYTHON, "made", &running) == 1 && running,
	   "contexts: a created context is listed, running");
	is_int(msb_repl_context_create(sb, MSB_LANG_PYTHON, "made"), MSB_EEXISTS,
	       "contexts: creating it again is MSB_EEXISTS");
	is_int(msb_repl_context_create(sb, MSB_LANG_PYTHON, "one"), MSB_EEXISTS,
	       "contexts: a context made by a run exists too");

	r = run_in(MSB_LANG_PYTHON, "made", "k = 1", 0);
	msb_repl_result_free(r);
	is_int(msb_repl_context_reset(sb, MSB_LANG_PYTHON, "made"), 0, "contexts: reset");
	r = run_in(MSB_LANG_PYTHON, "made", "'k' in globals()", 0);
	ok(r && buf_is(&r->value, "False") && !r->state_lost,
	   "contexts: reset gives a fresh interpreter (not reported as a loss)");
	msb_repl_result_free(r);

	is_int(msb_repl_context_destroy(sb, MSB_LANG_PYTHON, "made"), 0, "contexts: destroy");
	ok(listed(MSB_LANG_PYTHON, "made", NULL) == 0, "contexts: a destroyed context is not listed");
	is_int(msb_repl_context_destroy(sb, MSB_LANG_PYTHON, "made"), MSB_ENOTFOUND,
	       "contexts: destroying it again is MSB_ENOTFOUND");
	is_int(msb_repl_context_reset(sb, MSB_LANG_PYTHON, "never"), MSB_ENOTFOUND,
	       "contexts: resetting an unknown context is MSB_ENOTFOUND");
	ok(listed(MSB_LANG_PYTHON, "one", NULL) == 1 && listed(MSB_LANG_PYTHON, "two", NULL) == 1,
	   "contexts: the others are still listed");
}

/* ---- concurrency ------------------------------------------------------------ */

struct job {
	const char *ctx;
	const char *code;
	msb_repl_result *r;
	int rc;
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	msb_repl_options o = MSB_REPL_OPTIONS_INIT;

	o.language = MSB_LANG_PYTHON;
	o.context = j->ctx;
	o.timeout_ms = 30000;
	j->rc = msb_repl_run(&j->r, sb, &o, j->code, strlen(j->code));
	return NULL;
}

static uint64_t run_jobs(struct job *jobs, int n)
{
	pthread_t th[8];
	uint64_t t0 = msbt_now_ms();

	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, job_main, &jobs[i]);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return msbt_now_ms() - t0;
}

static void test_concurrency(void)
{
	enum { N = 4 };
	struct job jobs[N];
	msb_repl_result *r;
	uint64_t ms;
	int good = 1, seen[N + 1] = { 0 };

	r = run_in(MSB_LANG_PYTHON, "ser", "count = 0\nbusy = False", 0);
	msb_repl_result_free(r);
	for (int i = 0; i < N; i++)
		jobs[i] = (struct job){ "ser",
			"import time\nassert not busy\nbusy = True\ntime.sleep(0.3)\n"
			"count += 1\nbusy = False\ncount", NULL, 0 };
	ms = run_jobs(jobs, N);
	for (int i = 0; i < N; i++) {
		int v;
		if (jobs[i].rc || jobs[i].r->status != MSB_REPL_OK ||
		    sscanf((const char *)jobs[i].r->value.ptr, "%d", &v) != 1 ||
		    v < 1 || v > N || seen[v]++)
			good = 0;
		msb_repl_result_free(jobs[i].r);
	}
	ok(good, "concurrency: %d runs on one context run one at a time, each seeing the last", N);
	ok(ms >= N * 300 - 50, "concurrency: ... so they take at least %d ms (%llu ms)",
	   N * 300, (unsigned long long)ms);

	static const char *names[N] = { "p0", "p1", "p2", "p3" };
	for (int i = 0; i < N; i++) {
		r = run_in(MSB_LANG_PYTHON, names[i], "import time", 0);
		msb_repl_result_free(r);
		jobs[i] = (struct job){ names[i], "time.sleep(0.8)\n'done'", NULL, 0 };
	}
	ms = run_jobs(jobs, N);
	good = 1;
	for (int i = 0; i < N; i++) {
		if (jobs[i].rc || jobs[i].r->status != MSB_REPL_OK ||
		    !buf_is(&jobs[i].r->value, "'done'"))
			good = 0;
		msb_repl_result_free(jobs[i].r);
	}
	ok(good, "concurrency: runs on %d contexts all succeed", N);
	ok(ms < 2 * 800, "concurrency: ... in parallel (%llu ms for %d x 800 ms)",
	   (unsigned long long)ms, N);
}

/* ---- streaming ------------------------------------------------------------------ */

struct stream_state {
	uint64_t first_ms;
	size_t out, err;
	int stop_after_first;
};

static int on_output(int stream, const uint8_t *data, size_t len, void *payload)
{
	struct stream_state *s = payload;

	(void)data;
	if (!s->first_ms)
		s->first_ms = msbt_now_ms();
	if (stream == MSB_STREAM_STDOUT)
		s->out += len;
	else
		s->err += len;
	return s->stop_after_first;
}

static void test_streaming(void)
{
	struct stream_state st = { 0, 0, 0, 0 };
	msb_repl_options o = MSB_REPL_OPTIONS_INIT;
	msb_repl_result *r = NULL;
	static const char code[] = "import sys, time\nprint('early', flush=True)\n"
				   "print('e', file=sys.stderr)\ntime.sleep(1)\nprint('late')\n3";
	int rc;

	o.language = MSB_LANG_PYTHON;
	rc = msb_repl_run_stream(&r, sb, &o, code, strlen(code), on_output, &st);
	uint64_t end = msbt_now_ms();
	is_int(rc, 0, "streaming: the run succeeds");
	ok(st.first_ms && end - st.first_ms >= 700,
	   "streaming: output arrives before the run ends (%llu ms before)",
	   (unsigned long long)(st.first_ms ? end - st.first_ms : 0));
	ok(st.out == strlen("early\nlate\n") && st.err == 2, "streaming: every byte comes to the callback");
	ok(r && r->out.len == 0 && r->err.len == 0 && buf_is(&r->value, "3"),
	   "streaming: the result holds the value and no buffered output");
	msb_repl_result_free(r);

	memset(&st, 0, sizeof st);
	st.stop_after_first = 1;
	r = NULL;
	uint64_t t0 = msbt_now_ms();
	static const char slow[] = "print('x', flush=True)\nimport time\ntime.sleep(20)";
	rc = msb_repl_run_stream(&r, sb, &o, slow, strlen(slow), on_output, &st);
	ok(rc == MSB_ECANCELED && r == NULL && msbt_now_ms() - t0 < 5000,
	   "streaming: a callback that returns non-zero cancels the run (MSB_ECANCELED)");
	value_is(MSB_LANG_PYTHON, "'after cancel'", "'after cancel'", "streaming: the context works after a cancel");
}

/* ---- a client that reads slowly ----------------------------------------------- */

struct slow_state {
	int sleep_ms;
	size_t got;
	const char *want;   /* NULL: only count */
	size_t want_len;
	int in_order;
};

static int slow_output(int stream, const uint8_t *data, size_t len, void *payload)
{
	struct slow_state *s = payload;

	if (stream == MSB_STREAM_STDOUT && s->want &&
	    (s->got + len > s->want_len || memcmp(s->want + s->got, data, len)))
		s->in_order = 0;
	if (stream == MSB_STREAM_STDOUT)
		s->got += len;
	usleep((useconds_t)s->sleep_ms * 1000);
	return 0;
}

static void test_slow_reader(void)
{
	msb_repl_options o = MSB_REPL_OPTIONS_INIT;
	msb_repl_result *r = NULL;
	static const char code[] =
		"import sys\n"
		"for b in range(100):\n"
		"    sys.stdout.write(''.join('%d\\n' % i for i in range(b * 10000, (b + 1) * 10000)))\n"
		"'done'";
	size_t cap = 8u << 20, n = 0;
	char *want = malloc(cap);
	int rc;

	if (!want)
		bail_out("out of memory");
	for (int i = 0; i < 1000000; i++)
		n += (size_t)snprintf(want + n, cap - n, "%d\n", i);
	struct slow_state st = { 3, 0, want, n, 1 };
	o.language = MSB_LANG_PYTHON;
	o.context = "slow";
	rc = msb_repl_run_stream(&r, sb, &o, code, strlen(code), slow_output, &st);
	ok(rc == 0 && r && r->status == MSB_REPL_OK && buf_is(&r->value, "'done'") &&
	   st.in_order && st.got == n,
	   "a slow reader gets all %zu bytes a run printed, in order, then its value (got %zu)",
	   n, st.got);
	msb_repl_result_free(r);
	free(want);

	/* The agent stops reading the interpreter while the client is behind:
	 * a timeout then interrupts code blocked in its writes, and the
	 * answer, read late, still counts (no kill, state kept). */
	r = run_in(MSB_LANG_PYTHON, "slow", "y = 5", 0);
	msb_repl_result_free(r);
	static const char endless[] = "import sys\nwhile True: sys.stdout.write('x' * 65536)";
	struct slow_state st2 = { 200, 0, NULL, 0, 1 };
	o.timeout_ms = 1000;
	r = NULL;
	uint64_t t0 = msbt_now_ms();
	rc = msb_repl_run_stream(&r, sb, &o, endless, strlen(endless), slow_output, &st2);
	ok(rc == 0 && r && r->status == MSB_REPL_TIMEOUT && !r->state_lost,
	   "endless output read slowly: the timeout interrupts it, state kept "
	   "(status %d, state_lost %d, %zu bytes in %llu ms)", r ? (int)r->status : -1,
	   r ? r->state_lost : -1, st2.got, (unsigned long long)(msbt_now_ms() - t0));
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "slow", "y", 0);
	ok(r && buf_is(&r->value, "5") && !r->state_lost, "... y is still 5");
	msb_repl_result_free(r);
}

/* ---- missing interpreters ------------------------------------------------------ */

static void test_missing(void)
{
	static const char *const env[] = { "PATH=/nonexistent", NULL };
	msb_sandbox_options so = msbt_options();
	msb_repl_options o = MSB_REPL_OPTIONS_INIT;
	msb_repl_result *r = NULL;
	msb_sandbox *bare;
	uint64_t t0;
	int rc;

	so.env = env;
	bare = msbt_start(&so);
	if (!bare) {
		ok(0, "missing: a sandbox whose PATH has no interpreter starts");
		skip(3, "no sandbox");
		return;
	}
	o.language = MSB_LANG_PYTHON;
	t0 = msbt_now_ms();
	rc = msb_repl_run(&r, bare, &o, "1", 1);
	is_int(rc, MSB_ENOTFOUND, "missing: no python3 on PATH is MSB_ENOTFOUND");
	ok(strstr(msb_error_last()->hint, "python3") != NULL && msbt_now_ms() - t0 < 5000,
	   "missing: ... promptly, with a hint naming the package (%s)", msb_error_last()->hint);
	o.language = MSB_LANG_NODE;
	rc = msb_repl_run(&r, bare, &o, "1", 1);
	ok(rc == MSB_ENOTFOUND && strstr(msb_error_last()->hint, "nodejs"),
	   "missing: no node is MSB_ENOTFOUND with a hint (%s)", msb_error_last()->hint);
	is_int(msb_repl_context_create(bare, MSB_LANG_SHELL, "x"), MSB_ENOTFOUND,
	       "missing: creating a context without a shell is MSB_ENOTFOUND");
	msb_sandbox_free(bare);
}

/* ---- a client that goes away mid-run ------------------------------------------ */

/* Run in the helper process: connect to the named sandbox and start a long
 * run (the parent kills us in the middle of it). */
static int detach_child(const char *name)
{
	msb_sandbox *h = NULL;
	msb_repl_result *r = NULL;
	msb_repl_options o = MSB_REPL_OPTIONS_INIT;
	static const char code[] = "import time\ntime.sleep(60)";
	int rc = msb_sandbox_connect(&h, name);

	if (rc) {
		msbt_diag_error("msb_sandbox_connect", rc);
		return 2;
	}
	o.language = MSB_LANG_PYTHON;
	o.context = "det";
	rc = msb_repl_run(&r, h, &o, code, strlen(code));
	if (rc)
		msbt_diag_error("msb_repl_run", rc);
	return 3;
}

static void test_detach(void)
{
	char name[64];
	msb_sandbox_options so = msbt_options();
	msb_sandbox *dsb, *saved = sb;
	msb_repl_result *r;
	pid_t pid;
	int status;

	/* A private state directory: the test leaves nothing in the user's. */
	static char statedir[] = "/tmp/msb-repl-state-XXXXXX";
	if (!mkdtemp(statedir))
		bail_out("mkdtemp: %s", strerror(errno));
	setenv("MSB_STATE_DIR", statedir, 1);
	snprintf(name, sizeof name, "msb-repl-test-%d", (int)getpid());
	so.version = 2;
	so.detached = 1;
	so.name = name;
	so.memory_bytes = 1ll << 30;
	dsb = msbt_start(&so);
	if (!dsb) {
		ok(0, "detach: a named sandbox starts");
		skip(3, "no sandbox");
		return;
	}
	sb = dsb;
	r = run_in(MSB_LANG_PYTHON, "det", "x = 'kept'", 0);
	msb_repl_result_free(r);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "repl", "--detach-child", name, (char *)NULL);
		_exit(1);
	}
	usleep(1500 * 1000); /* the child connects and its run starts */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (!ok(WIFSIGNALED(status), "detach: the other client was still in its run when it died"))
		diag("  the child exited with %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	uint64_t t0 = msbt_now_ms();
	r = run_in(MSB_LANG_PYTHON, "det", "x", 20000);
	ok(r && r->status == MSB_REPL_OK && buf_is(&r->value, "'kept'"),
	   "detach: a run whose client went away is interrupted; the state stays");
	ok(msbt_now_ms() - t0 < 4000, "detach: ... and the next run does not wait for it (%llu ms)",
	   (unsigned long long)(msbt_now_ms() - t0));
	msb_repl_result_free(r);
	r = run_in(MSB_LANG_PYTHON, "det", "import time\ntime.sleep(0.01)\n'fine'", 0);
	ok(r && buf_is(&r->value, "'fine'"), "detach: the context keeps working");
	msb_repl_result_free(r);
	sb = saved;
	msb_sandbox_stop(dsb, 1000);
	msb_sandbox_free(dsb);
	msb_sandbox_remove(name);
}

/* ---- the sh fallback ------------------------------------------------------------ */

/* A sandbox whose PATH holds only dash (as sh) and head: the shell context
 * must fall back to sh and still keep its state. */
static void test_sh_fallback(void)
{
	static msb_volume vols[2];
	static const char *const env[] = { "PATH=/shbin", NULL };
	char dir[] = "/tmp/msb-repl-sh.XXXXXX", path[64];
	msb_sandbox_options so = msbt_options();
	msb_sandbox *shsb;
	msb_repl_result *r;
	msb_sandbox *saved = sb;

	if (access("/bin/dash", X_OK) || access("/usr/bin/head", X_OK) || !mkdtemp(dir)) {
		skip(3, "needs /bin/dash and /usr/bin/head on the host");
		return;
	}
	chmod(dir, 0755);
	snprintf(path, sizeof path, "%s/sh", dir);
	(void)!symlink("/bin/dash", path);
	snprintf(path, sizeof path, "%s/head", dir);
	(void)!symlink("/usr/bin/head", path);
	vols[0] = so.volumes[0];
	vols[1].host_path = dir;
	vols[1].sandbox_path = "/shbin";
	vols[1].read_only = 1;
	so.volumes = vols;
	so.volumes_len = 2;
	so.env = env;
	shsb = msbt_start(&so);
	if (!shsb) {
		ok(0, "sh fallback: the sandbox starts");
		skip(2, "no sandbox");
	} else {
		sb = shsb;
		r = run(MSB_LANG_SHELL, "v=kept; cd /tmp", 0);
		msb_repl_result_free(r);
		r = run(MSB_LANG_SHELL, "echo \"$v\"; pwd; [ -z \"${BASH_VERSION-}\" ] && echo sh", 0);
		ok(r && r->status == MSB_REPL_OK && buf_is(&r->out, "kept\n/tmp\nsh\n"),
		   "sh fallback: without bash the shell context is sh, and keeps its state");
		msb_repl_result_free(r);
		r = run(MSB_LANG_SHELL, "while :; do :; done", 500);
		ok(r && r->status == MSB_REPL_TIMEOUT && !r->state_lost,
		   "sh fallback: a timeout interrupts a loop in sh");
		msb_repl_result_free(r);
		r = run(MSB_LANG_SHELL, "printf '%s' \"$v\"", 0);
		ok(r && buf_is(&r->out, "kept"), "sh fallback: the state survives the timeout");
		msb_repl_result_free(r);
		sb = saved;
		msb_sandbox_free(shsb);
	}
	snprintf(path, sizeof path, "%s/sh", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/head", dir);
	unlink(path);
	rmdir(dir);
}

/* ---- bad inputs ------------------------------------------------------------------ */

static void test_bad_inputs(void)
{
	msb_repl_options o = MSB_REPL_OPTIONS_INIT;
	msb_repl_result *r = (msb_repl_result *)(uintptr_t)1;
	msb_repl_contexts *l;

	o.language = MSB_LANG_PYTHON;
	is_int(msb_repl_run(&r, NULL, &o, "1", 1), MSB_EINVAL, "bad: NULL sandbox");
	ok(r == NULL, "bad: *out is NULL after a failure");
	ok(msb_error_last()->hint[0] != 0, "bad: the error has a hint");
	is_int(msb_repl_run(NULL, sb, &o, "1", 1), MSB_EINVAL, "bad: NULL out");
	is_int(msb_repl_run(&r, sb, NULL, "1", 1), MSB_EINVAL, "bad: NULL options");
	o.version = 0;
	is_int(msb_repl_run(&r, sb, &o, "1", 1), MSB_EVERSION, "bad: options version 0");
	o.version = 99;
	is_int(msb_repl_run(&r, sb, &o, "1", 1), MSB_EVERSION, "bad: options version 99");
	o.version = MSB_REPL_OPTIONS_VERSION;
	o.language = 0;
	is_int(msb_repl_run(&r, sb, &o, "1", 1), MSB_EINVAL, "bad: language 0");
	o.language = (msb_language)42;
	is_int(msb_repl_run(&r, sb, &o, "1", 1), MSB_EINVAL, "bad: unknown language");
	o.language = MSB_LANG_PYTHON;
	o.timeout_ms = -1;
	is_int(msb_repl_run(&r, sb, &o, "1", 1), MSB_EINVAL, "bad: negative timeout");
	o.timeout_ms = 0;
	is_int(msb_repl_run(&r, sb, &o, NULL, 5), MSB_EINVAL, "bad: NULL code with a length");
	is_int(msb_repl_run(&r, sb, &o, "a\0b", 3), MSB_EINVAL, "bad: a NUL byte in the code");
	o.context = "";
	is_int(msb_repl_run(&r, sb, &o, "1", 1), MSB_EINVAL, "bad: empty context name");
	o.context = "a\nb";
	is_int(msb_repl_run(&r, sb, &o, "1", 1), MSB_EINVAL, "bad: context name with a newline");
	o.context = "\xff\xfe";
	is_int(msb_repl_run(&r, sb, &o, "1", 1), MSB_EINVAL, "bad: context name not UTF-8");
	o.context = NULL;
	is_int(msb_repl_run_stream(&r, sb, &o, "1", 1, NULL, NULL), MSB_EINVAL,
	       "bad: streaming without a callback");
	r = NULL;
	is_int(msb_repl_run(&r, sb, &o, NULL, 0), 0, "bad: empty code (NULL, 0) is fine");
	ok(r && r->status == MSB_REPL_OK && r->value.len == 0, "bad: ... and does nothing");
	msb_repl_result_free(r);

	is_int(msb_repl_context_create(NULL, MSB_LANG_PYTHON, "x"), MSB_EINVAL, "bad: create with NULL sandbox");
	is_int(msb_repl_context_create(sb, (msb_language)9, "x"), MSB_EINVAL, "bad: create with an unknown language");
	{
		msb_repl_options d = MSB_REPL_OPTIONS_INIT;

		d.language = MSB_LANG_PYTHON; /* context NULL: "default" */
		if (msb_repl_run(&r, sb, &d, "pass", 4) == 0)
			msb_repl_result_free(r);
		is_int(msb_repl_context_create(sb, MSB_LANG_PYTHON, NULL), MSB_EEXISTS,
		       "a NULL context name means \"default\" for create too (it exists)");
	}
	is_int(msb_repl_context_list(NULL, sb), MSB_EINVAL, "bad: list with NULL out");
	is_int(msb_repl_context_list(&l, NULL), MSB_EINVAL, "bad: list with NULL sandbox");
	msb_repl_result_free(NULL);
	msb_repl_contexts_free(NULL);

	is_str(msb_language_name(MSB_LANG_PYTHON), "python", "names: python");
	is_str(msb_language_name(MSB_LANG_NODE), "node", "names: node");
	is_str(msb_language_name(MSB_LANG_SHELL), "shell", "names: shell");
	ok(msb_language_name((msb_language)0) == NULL, "names: 0 has no name");
	ok(msb_language_parse("javascript") == MSB_LANG_NODE && msb_language_parse("js") == MSB_LANG_NODE &&
	   msb_language_parse("bash") == MSB_LANG_SHELL && msb_language_parse("sh") == MSB_LANG_SHELL &&
	   msb_language_parse("python") == MSB_LANG_PYTHON,
	   "names: parse accepts the documented aliases");
	ok(msb_language_parse("cobol") == 0 && msb_language_parse(NULL) == 0,
	   "names: parse gives 0 for unknown names and NULL");

	msb_sandbox *created = NULL;
	msb_sandbox_options so = msbt_options();
	if (msb_sandbox_create(&created, &so) == 0) {
		o.language = MSB_LANG_PYTHON;
		is_int(msb_repl_run(&r, created, &o, "1", 1), MSB_ESTATE,
		       "bad: a sandbox not started yet is MSB_ESTATE");
		msb_sandbox_free(created);
	} else {
		ok(0, "bad: a sandbox not started yet is MSB_ESTATE");
	}
}

/* What does not fit is cut, and the result says so: a value larger than
 * a reply, and stdout past the 64 MiB cap. */
static void test_truncation(void)
{
	msb_repl_result *r = run(MSB_LANG_PYTHON, "'x' * 1000000", 0);
	ok(r && r->status == MSB_REPL_OK && r->value.len > 1000 && r->value.len < 1000000 &&
	   r->value_truncated && !r->out_truncated,
	   "python: a 1 MB value is cut to fit one reply, and value_truncated says so (%zu bytes)",
	   r ? r->value.len : 0);
	msb_repl_result_free(r);
	r = run(MSB_LANG_PYTHON, "'small'", 0);
	ok(r && buf_is(&r->value, "'small'") && !r->value_truncated && !r->out_truncated &&
	   !r->err_truncated, "python: a small value is whole, and no flag is set");
	msb_repl_result_free(r);
	r = run(MSB_LANG_PYTHON, "import sys\nsys.stdout.write('x' * (65 << 20))\nNone", 0);
	ok(r && r->status == MSB_REPL_OK && r->out.len == (64u << 20) && r->out_truncated &&
	   !r->err_truncated, "python: 65 MiB of stdout is cut at 64 MiB, and out_truncated says so "
	   "(%zu bytes)", r ? r->out.len : 0);
	msb_repl_result_free(r);
}

int main(int argc, char **argv)
{
	msb_command_result *cr = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	static const char *const probe[] = { "sh", "-c", "command -v node", NULL };

	msb_sandbox_options so = msbt_options();

	if (argc == 3 && !strcmp(argv[1], "--detach-child"))
		return detach_child(argv[2]);
	msbt_watchdog(300);
	msbt_require_sandboxes();
	/* Node's V8 reserves more than 512 MiB of address space, which the
	 * rlimit fallback (RLIMIT_DATA, without a usable cgroup) counts. */
	so.memory_bytes = 1ll << 30;
	sb = msbt_start(&so);
	if (!sb)
		bail_out("cannot start a sandbox");
	co.argv = probe;
	have_node = msb_command_run(&cr, sb, &co) == 0 && cr->exit_code == 0;
	msb_command_result_free(cr);

	test_python_state();
	test_python_errors();
	test_python_rich();
	test_python_timeouts();
	test_interrupt();
	test_python_death();
	test_framing();
	test_truncation();
	test_node();
	test_shell();
	test_contexts();
	test_concurrency();
	test_streaming();
	test_slow_reader();
	test_missing();
	test_sh_fallback();
	test_detach();
	test_bad_inputs();

	msb_sandbox_free(sb);
	return done_testing();
}
