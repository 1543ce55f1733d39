/*
 * hostinfo.c - what the host's files tell about the host does not reach a
 * sandbox: the boot command line, the kernel's configuration and interrupt
 * counters in /proc, and the host's nameservers in /etc/resolv.conf (the
 * sandbox has no network to use them on).
 *
 * Each check reads the file from inside (the probe) and compares it with
 * the host's own; a file the host does not have is skipped with the reason.
 */
#include <sys/stat.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static msb_sandbox *sb;

/* The first bytes of a host file ("" when it cannot be read). */
static void host_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
}

static void test_proc(void)
{
	static const char *const files[] = { "/proc/cmdline", "/proc/config.gz",
					     "/proc/interrupts" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char host[64];
		host_read(files[i], host, sizeof host);
		if (!host[0] && access(files[i], F_OK) < 0) {
			skip(1, "the host has no %s", files[i]);
			continue;
		}
		char *r = msbt_chomp(msbt_output(sb, ARGV(MSBT_PROBE, "read", files[i]), NULL));
		ok(!strcmp(r, "OK 0") || (r[0] == 'E'),
		   "%s yields nothing of the host's inside (%s)", files[i], r);
		free(r);
	}
}

static void test_resolv(void)
{
	char host[8192];
	host_read("/etc/resolv.conf", host, sizeof host);
	char *in = msbt_output(sb, ARGV(MSBT_PROBE, "cat", "/etc/resolv.conf"), NULL);
	int leaked = 0, nameservers = 0;
	for (char *save = NULL, *line = strtok_r(host, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "nameserver", 10) != 0)
			continue;
		nameservers++;
		if (msbt_has_line(in, line)) {
			diag("inside: %s", line);
			leaked++;
		}
	}
	if (nameservers)
		ok(!leaked, "none of the host's %d nameserver lines is in the sandbox's "
		   "/etc/resolv.conf", nameservers);
	else
		skip(1, "the host's /etc/resolv.conf names no nameserver");
	int any = !strncmp(in, "nameserver", 10) || strstr(in, "\nnameserver");
	ok(!any, "the sandbox's /etc/resolv.conf names no nameserver at all (%.80s)", in);
	free(in);
}

int main(void)
{
	msbt_watchdog(120);
	msbt_require_sandboxes();
	plan(5);
	sb = msbt_start(NULL);
	if (!sb)
		bail_out("cannot start a sandbox");
	test_proc();
	test_resolv();
	msb_sandbox_free(sb);
	return done_testing();
}
