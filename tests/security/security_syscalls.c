/*
 * security_syscalls.c - every syscall the sandbox must deny is tried from
 * inside (by the probe, each in its own child) and must fail with the
 * expected errno: EPERM from the seccomp filter, ENOSYS for clone3 (so that
 * libc falls back to clone, whose flags the filter can inspect).
 */
#include "tap.h"
#include "msbt.h"

static const struct {
	const char *name; /* as the probe prints it */
	const char *want;
} expected[] = {
	{"keyctl", "EPERM"},
	{"add_key", "EPERM"},
	{"request_key", "EPERM"},
	{"bpf", "EPERM"},
	{"perf_event_open", "EPERM"},
	{"userfaultfd", "EPERM"},
	{"kexec_load", "EPERM"},
	{"init_module", "EPERM"},
	{"finit_module", "EPERM"},
	{"delete_module", "EPERM"},
	{"open_by_handle_at", "EPERM"},
	{"mount", "EPERM"},
	{"umount2", "EPERM"},
	{"unshare_newuser", "EPERM"},
	{"setns", "EPERM"},
	{"clone_newuser", "EPERM"},
	{"clone_newnet", "EPERM"},
	{"clone3", "ENOSYS"},
	{"io_uring_setup", "EPERM"},
	{"ptrace_attach", "EPERM"},
	{"socket_vsock", "EPERM"},
	/* denied by the dropped capabilities if not by the filter */
	{"chroot", "EPERM"},
	{"pivot_root", "EPERM"},
	{"reboot", "EPERM"},
	{"syslog", "EPERM"},
	{"settimeofday", "EPERM"},
	{"swapon", "EPERM"},
	{"acct", "EPERM"},
};

int main(void)
{
	msbt_watchdog(30);
	msbt_require_sandboxes();
	msb_sandbox *sb = msbt_start(NULL);
	if (!sb)
		bail_out("cannot start a sandbox");

	int code;
	char *out = msbt_output(sb, (const char *const[]){MSBT_PROBE, "syscalls", NULL},
				&code);
	is_int(code, 0, "the probe ran");
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		const char *got = msbt_line_value(out, expected[i].name);
		is_str(got ? got : "(not tried)", expected[i].want, "%s fails with %s",
		       expected[i].name, expected[i].want);
	}
	free(out);

	/* ordinary syscalls still work: fork, exec, pipes, sockets on lo */
	out = msbt_output(sb, (const char *const[]){"sh", "-c",
		"echo a | cat && ls / >/dev/null && echo done", NULL}, &code);
	ok(code == 0 && !strcmp(out, "a\ndone\n"), "fork, exec and pipes still work");
	free(out);
	out = msbt_output(sb, (const char *const[]){MSBT_PROBE, "connect", "127.0.0.1",
		"9", NULL}, &code);
	is_str(msbt_chomp(out), "ECONNREFUSED",
	       "TCP sockets on loopback work (connection refused, not denied)");
	free(out);

	msb_sandbox_free(sb);
	return done_testing();
}
