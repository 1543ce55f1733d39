/*
 * tree.c - a command's timeout and a kill end everything it started.
 *
 * The attack: a command starts children that leave its process group and
 * its parentage (setsid, a double fork) so that signalling the group
 * misses them, then it times out or is killed. Each escaped child writes
 * its pid to a file; a second command in the same sandbox then checks
 * with `kill -0` that it is gone. Also here: what a command that exits by
 * itself leaves running lives on (until the sandbox stops), and the
 * command's own exit code and signal are reported as they were, the
 * process list shows every process, the escaped ones too, and the
 * command cannot free its tree by signalling its supervisor.
 */
#include <signal.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static msb_sandbox *sb;

/* A script that starts a setsid'd and a double-forked `sleep 1000` (their
 * pids in TAG.1 and TAG.2 under /tmp), waits until both wrote their pid,
 * says "ready", then sleeps. */
static const char *escape_script(char *buf, size_t size, const char *tag)
{
	snprintf(buf, size,
		 "cd /tmp && rm -f %1$s.1 %1$s.2; "
		 "setsid sh -c 'echo $$ > %1$s.1; exec sleep 1000' </dev/null >/dev/null 2>&1 & "
		 "( sh -c 'echo $$ > %1$s.2; exec sleep 1000' </dev/null >/dev/null 2>&1 & ); "
		 "while ! [ -s %1$s.1 ] || ! [ -s %1$s.2 ]; do sleep 0.05; done; "
		 "echo ready; sleep 1000", tag);
	return buf;
}

/* Whether the process whose pid is in /tmp/FILE still lives, seen from a
 * second command: 1 alive, 0 gone (within 2 s), -1 unknown. */
static int alive(const char *file)
{
	char script[512];
	int code;

	snprintf(script, sizeof script,
		 "p=$(cat /tmp/%s) || exit 3; [ -n \"$p\" ] || exit 3; "
		 "for i in $(seq 20); do kill -0 $p 2>/dev/null || exit 0; "
		 "sleep 0.1; done; exit 1", file);
	free(msbt_output(sb, ARGV("sh", "-c", script), &code));
	return code == 0 ? 0 : code == 1 ? 1 : -1;
}

static void test_timeout(void)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	char script[1024];

	co.argv = ARGV("sh", "-c", escape_script(script, sizeof script, "to"));
	co.timeout_ms = 1000;
	int rc = msb_command_run(&res, sb, &co);
	if (!is_int(rc, 0, "the escaping command runs")) {
		msbt_diag_error("msb_command_run", rc);
		skip(5, "it did not run");
		return;
	}
	ok(res->timed_out, "it times out after 1 s");
	is_int(res->signal, SIGKILL, "... killed by SIGKILL, as before");
	is_int(res->exit_code, -1, "... exit code -1");
	ok(res->out.len >= 6 && !memcmp(res->out.ptr, "ready", 5),
	   "... after both children wrote their pids");
	msb_command_result_free(res);
	is_int(alive("to.1"), 0, "the setsid'd child is gone after the timeout");
	is_int(alive("to.2"), 0, "the double-forked child is gone after the timeout");
}

static void test_kill(void)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	msb_process *p = NULL;
	char script[1024], got[64] = "";
	size_t len = 0;

	co.argv = ARGV("sh", "-c", escape_script(script, sizeof script, "kill"));
	int rc = msb_process_start(&p, sb, &co);
	if (!is_int(rc, 0, "the escaping command starts in the background")) {
		msbt_diag_error("msb_process_start", rc);
		skip(4, "it did not start");
		return;
	}
	while (len < 5) {
		msb_buf b;
		int stream;

		if (msb_process_read(&b, &stream, p, 10000))
			break;
		if (stream == MSB_STREAM_STDOUT && b.len < sizeof got - len) {
			memcpy(got + len, b.ptr, b.len);
			len += b.len;
		}
		msb_buf_free(&b);
	}
	ok(len >= 5 && !memcmp(got, "ready", 5), "both children wrote their pids");
	is_int(msb_process_signal(p, SIGKILL), 0, "msb_process_signal(SIGKILL)");
	rc = msb_process_wait(&res, p, 10000);
	ok(rc == 0 && res && res->signal == SIGKILL,
	   "the process ends killed by SIGKILL (signal %d)", res ? res->signal : -1);
	msb_command_result_free(res);
	msb_process_free(p);
	is_int(alive("kill.1"), 0, "the setsid'd child is gone after the kill");
	is_int(alive("kill.2"), 0, "the double-forked child is gone after the kill");
}

/* A command that keeps double-forking until its timeout: nothing of it is
 * left, however it raced with the kill. */
static void test_churn(void)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	int code;

	co.argv = ARGV("sh", "-c", "while :; do ( setsid sleep 1001 </dev/null "
		       ">/dev/null 2>&1 & ); done");
	co.timeout_ms = 500;
	int rc = msb_command_run(&res, sb, &co);
	ok(rc == 0 && res && res->timed_out,
	   "a command forking escaped sleeps in a loop times out");
	msb_command_result_free(res);
	char *n = msbt_output(sb, ARGV("sh", "-c",
		"sleep 0.3; n=0; for f in /proc/[0-9]*/cmdline; do "
		"tr '\\0' ' ' < $f 2>/dev/null | grep -q '^sleep 1001' && "
		"n=$((n+1)); done; echo $n"), &code);
	is_str(msbt_chomp(n), "0", "none of its sleeps is left");
	free(n);
}

/* The command's supervisor is out of its reach: no signal to it (so it
 * cannot be stopped or killed to free the tree), and a command that
 * kills every process it can (kill -9 -1, its supervisor among them)
 * still ends, killed. */
static void test_supervisor(void)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *res = NULL;
	char script[1536], esc[1024], *out;
	int code;

	out = msbt_output(sb, ARGV("sh", "-c", "kill -9 $PPID 2>/dev/null; echo $?; "
				   "kill -STOP $PPID 2>/dev/null; echo $?; "
				   "kill -9 -$PPID 2>/dev/null; echo $?"), &code);
	is_str(out, "1\n1\n1\n", "a command cannot kill, stop or group-kill its supervisor");
	free(out);

	snprintf(script, sizeof script, "kill -9 $PPID; kill -STOP $PPID; %s",
		 escape_script(esc, sizeof esc, "sup"));
	co.argv = ARGV("sh", "-c", script);
	co.timeout_ms = 1000;
	int rc = msb_command_run(&res, sb, &co);
	ok(rc == 0 && res && res->timed_out && res->signal == SIGKILL,
	   "after trying, it still times out, killed");
	msb_command_result_free(res);
	is_int(alive("sup.1"), 0, "... and its setsid'd child is gone");

	co.argv = ARGV("sh", "-c", "kill -9 -1; sleep 1000");
	co.timeout_ms = 5000;
	rc = msb_command_run(&res, sb, &co);
	ok(rc == 0 && res && !res->timed_out && res->signal == SIGKILL &&
	   res->elapsed_us < 3000000,
	   "a command that kills its supervisor with kill -9 -1 is killed at once "
	   "(signal %d, %llu us)", res ? res->signal : -1,
	   res ? (unsigned long long)res->elapsed_us : 0ULL);
	msb_command_result_free(res);
}

/* The documented choice: a command that exits by itself leaves what it
 * started running; it lives until the sandbox stops (or is killed). */
static void test_normal_exit(void)
{
	msb_command_result *res = NULL;
	int rc = msbt_run(&res, sb, ARGV("sh", "-c",
		"cd /tmp && rm -f bg.1; "
		"setsid sh -c 'echo $$ > bg.1; exec sleep 1000' </dev/null >/dev/null 2>&1 & "
		"while ! [ -s bg.1 ]; do sleep 0.05; done; exit 3"));
	ok(rc == 0 && res && res->exit_code == 3 && !res->timed_out,
	   "a command exits by itself (3) while its setsid'd child runs");
	msb_command_result_free(res);
	is_int(alive("bg.1"), 1, "the child lives on after the command's end");
	free(msbt_output(sb, ARGV("sh", "-c", "kill -9 $(cat /tmp/bg.1)"), NULL));
	is_int(alive("bg.1"), 0, "... until it is killed");
}

/* Read a background process's stdout until "ready" (10 s at most). */
static int wait_ready(msb_process *p)
{
	char got[64] = "";
	size_t len = 0;

	while (len < 5) {
		msb_buf b;
		int stream;

		if (msb_process_read(&b, &stream, p, 10000))
			break;
		if (stream == MSB_STREAM_STDOUT && b.len < sizeof got - len) {
			memcpy(got + len, b.ptr, b.len);
			len += b.len;
		}
		msb_buf_free(&b);
	}
	return len >= 5 && !memcmp(got, "ready", 5);
}

/* The list holds every process: the command, what escaped from it, and
 * neither the agent nor the command's supervisor. */
static void test_ps(void)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_process_list *l = NULL;
	msb_process *p = NULL;
	char script[1024];
	time_t now = time(NULL);

	co.argv = ARGV("sh", "-c", escape_script(script, sizeof script, "ps"));
	if (msb_process_start(&p, sb, &co) || !wait_ready(p)) {
		skip(5, "the escaping command did not start");
		msb_process_free(p);
		return;
	}
	char *s1 = msbt_chomp(msbt_output(sb, ARGV("cat", "/tmp/ps.1"), NULL));
	int64_t esc = strtoll(s1, NULL, 10);
	free(s1);
	int rc = msb_process_list_all(&l, sb);
	if (!is_int(rc, 0, "msb_process_list_all succeeds")) {
		skip(4, "no list");
		msb_process_free(p);
		return;
	}
	const msb_process_info *cmd = NULL, *e = NULL;
	int agent = 0;
	for (size_t i = 0; i < l->len; i++) {
		if (l->items[i].pid == msb_process_pid(p))
			cmd = &l->items[i];
		if (l->items[i].pid == esc)
			e = &l->items[i];
		agent |= l->items[i].pid == 1 || strstr(l->items[i].command, "msb-agent") != NULL;
	}
	ok(cmd && !strncmp(cmd->command, "sh -c ", 6), "the command is listed");
	ok(e && !strcmp(e->command, "sleep 1000") && !e->pty,
	   "its setsid'd child is listed too, as \"sleep 1000\" (%s)", e ? e->command : "missing");
	ok(e && e->started_ms / 1000 >= now - 5 && e->started_ms / 1000 <= now + 5,
	   "... started_ms close to now (%lld)", e ? (long long)e->started_ms : 0LL);
	ok(!agent, "neither the agent nor a supervisor is listed");
	msb_process_list_free(l);
	msb_process_free(p);
}

/* The command's own end, through its supervisor, as it always was. */
static void test_status(void)
{
	static const struct {
		const char *script;
		int code, sig;
	} cases[] = {
		{ "exit 0", 0, 0 },
		{ "exit 42", 42, 0 },
		{ "exit 255", 255, 0 },
		{ "kill -TERM $$", -1, SIGTERM },
		{ "kill -SEGV $$", -1, SIGSEGV },
		{ "kill -KILL $$", -1, SIGKILL },
		{ "kill -PIPE $$", -1, SIGPIPE },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		msb_command_result *res = NULL;
		int rc = msbt_run(&res, sb, ARGV("sh", "-c", cases[i].script));

		ok(rc == 0 && res && res->exit_code == cases[i].code &&
		   res->signal == cases[i].sig && !res->timed_out,
		   "`%s`: exit code %d, signal %d (got %d, %d)", cases[i].script,
		   cases[i].code, cases[i].sig, res ? res->exit_code : -1000,
		   res ? res->signal : -1000);
		msb_command_result_free(res);
	}
}

/* What a supervisor per command costs: wall time of 50 `true`s. */
static void test_cost(void)
{
	uint64_t t0 = msbt_now_ms();
	int good = 1;

	for (int i = 0; i < 50; i++) {
		msb_command_result *res = NULL;

		good &= msbt_run(&res, sb, ARGV("true")) == 0 && res && res->exit_code == 0;
		msb_command_result_free(res);
	}
	ok(good, "50 commands run (%.2f ms each)", (double)(msbt_now_ms() - t0) / 50);
}

int main(void)
{
	msbt_watchdog(120);
	msbt_require_sandboxes();

	msb_sandbox_options o = msbt_options();
	sb = msbt_start(&o);
	if (!sb)
		bail_out("cannot start a sandbox");

	test_timeout();
	test_kill();
	test_churn();
	test_normal_exit();
	test_ps();
	test_supervisor();
	test_status();
	test_cost();

	msb_sandbox_free(sb);
	return done_testing();
}
