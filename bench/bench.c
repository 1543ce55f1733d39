/*
 * msb-bench - libmsb's benchmarks, each side by side with a reference
 * measured in the same run on the same machine. Prints medians and ratios.
 *
 *  (a) create -> run /bin/true -> destroy, against bubblewrap doing the
 *      same isolation for /bin/true (target: <= 0.5x bwrap)
 *  (b) a command round trip in a running sandbox, against a bare
 *      fork+exec+wait of /bin/true on the host (target: <= 1.5x)
 *
 * Usage: msb-bench [-n ITERATIONS]
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "msb.h"

extern char **environ;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int spawn_wait(char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ))
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void die(const char *what)
{
	const msb_error *e = msb_error_last();

	fprintf(stderr, "msb-bench: %s: %s\nhint: %s\n", what, e->message,
		e->hint);
	exit(1);
}

static int run_true(msb_sandbox *sb)
{
	static const char *const argv[] = { "/bin/true", NULL };
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	msb_command_result *r = NULL;
	int rc;

	co.argv = argv;
	rc = msb_command_run(&r, sb, &co);
	if (rc == 0)
		rc = r->exit_code;
	msb_command_result_free(r);
	return rc;
}

static double lifecycle_once(void)
{
	double t0 = now_ms();
	msb_sandbox *sb;

	if (msb_sandbox_create(&sb, NULL))
		die("create");
	if (msb_sandbox_start(sb))
		die("start");
	if (run_true(sb))
		die("run /bin/true");
	msb_sandbox_free(sb);
	return now_ms() - t0;
}

static void report(const char *name, double ours, const char *refname,
		   double ref, double target)
{
	double ratio = ours / ref;

	printf("%-34s msb %8.3f ms | %-22s %8.3f ms | ratio %5.2fx "
	       "(target <= %.2fx: %s)\n", name, ours, refname, ref, ratio,
	       target, ratio <= target ? "met" : "NOT met");
}

int main(int argc, char **argv)
{
	char *bwrap[] = { "/usr/bin/bwrap", "--unshare-all", "--die-with-parent",
			  "--ro-bind", "/", "/", "--proc", "/proc", "--dev",
			  "/dev", "--tmpfs", "/tmp", "/bin/true", NULL };
	char *host_true[] = { "/bin/true", NULL };
	int n = 30, i;
	double *a, *b;
	msb_sandbox *sb;

	if (argc == 3 && !strcmp(argv[1], "-n"))
		n = atoi(argv[2]);
	if (n < 3) {
		fprintf(stderr, "usage: msb-bench [-n ITERATIONS >= 3]\n");
		return 2;
	}
	a = calloc((size_t)n * 10, sizeof(double));
	b = calloc((size_t)n * 10, sizeof(double));
	if (!a || !b)
		return 1;
	printf("msb %s benchmarks, %d iterations each (uid %d), medians\n",
	       msb_version(), n, (int)getuid());

	/* (a) whole lifecycle vs bubblewrap, interleaved so that drift in
	 * the machine's load hits both alike. */
	if (access(bwrap[0], X_OK) != 0) {
		printf("(a) skipped: %s not installed (apt-get install "
		       "bubblewrap)\n", bwrap[0]);
	} else {
		lifecycle_once();
		spawn_wait(bwrap);
		for (i = 0; i < n; i++) {
			double t0;

			a[i] = lifecycle_once();
			t0 = now_ms();
			if (spawn_wait(bwrap) != 0) {
				fprintf(stderr, "msb-bench: bwrap failed\n");
				return 1;
			}
			b[i] = now_ms() - t0;
		}
		report("(a) create+run true+destroy", median(a, n),
		       "bwrap /bin/true", median(b, n), 0.5);
	}

	/* (b) round trip in a running sandbox vs fork+exec+wait. */
	if (msb_sandbox_create(&sb, NULL) || msb_sandbox_start(sb))
		die("start");
	run_true(sb);
	spawn_wait(host_true);
	for (i = 0; i < n * 10; i++) {
		double t0 = now_ms();

		if (run_true(sb))
			die("run /bin/true");
		a[i] = now_ms() - t0;
		t0 = now_ms();
		if (spawn_wait(host_true))
			die("host /bin/true");
		b[i] = now_ms() - t0;
	}
	msb_sandbox_free(sb);
	report("(b) command round trip", median(a, n * 10),
	       "fork+exec+wait true", median(b, n * 10), 1.5);
	free(a);
	free(b);
	return 0;
}
