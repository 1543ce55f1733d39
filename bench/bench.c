/*
 * msb-bench - libmsb's benchmarks, each side by side with a reference
 * measured in the same run on the same machine. Prints medians and ratios.
 *
 *  (a) create -> run /bin/true -> destroy, against bubblewrap doing the
 *      same isolation for /bin/true (target: <= 0.5x bwrap)
 *  (b) a command round trip in a running sandbox, against a bare
 *      fork+exec+wait of /bin/true on the host (target: <= 1.5x)
 *  (c) a REPL round trip (`x += 1` in python) against a cold
 *      `python3 -c pass` on the host (target: <= 1/100)
 *  (d) writing and reading back 64 MiB through the files API, against
 *      pushing 64 MiB through `cat` over pipes on the host
 *      (target: throughput >= 0.5x)
 *
 * Usage: msb-bench [-n ITERATIONS]
 *        msb-bench --vm [-n ITERATIONS]
 *
 * --vm compares the vm backend with the os backend on the same machine
 * (run inside the nested harness's L1, where microVMs can run):
 *  (v1) create -> agent ready -> destroy of a microVM, against the same
 *       for an os-backend sandbox
 *  (v2) a command round trip in the VM, against one in an os sandbox
 *  (v3) a REPL round trip in the VM, against one in an os sandbox
 *  (v4) 64 MiB written into the VM and read back, against cat through
 *       pipes on the same machine
 *  (v5) 10 microVMs started at once, each running a command, stopped:
 *       the wall time, and that none failed
 * MSB_BENCH_OS_ROOTFS=DIR gives the os sandboxes a root directory (the
 * microVMs' image, mounted: tests/nested/bench.sh).
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <pthread.h>

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

/* 64 MiB through /bin/cat and back over pipes, the host's reference. */
static double cat_roundtrip(const uint8_t *data, size_t len)
{
	int in[2], out[2];
	pid_t pid;
	size_t off = 0, got = 0;
	static uint8_t buf[1 << 16];
	double t0 = now_ms();

	if (pipe(in) || pipe(out))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execl("/bin/cat", "cat", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	while (got < len) {
		struct pollfd p[2] = { { .fd = off < len ? in[1] : -1, .events = POLLOUT },
				       { .fd = out[0], .events = POLLIN } };

		poll(p, 2, -1);
		if (p[0].revents & POLLOUT) {
			ssize_t w = write(in[1], data + off, len - off > 65536 ? 65536 : len - off);
			if (w > 0)
				off += (size_t)w;
			if (off == len)
				close(in[1]);
		}
		if (p[1].revents) {
			ssize_t r = read(out[0], buf, sizeof(buf));
			if (r <= 0)
				break;
			got += (size_t)r;
		}
	}
	close(out[0]);
	waitpid(pid, NULL, 0);
	return now_ms() - t0;
}

/* 64 MiB of a pattern, for the file benchmarks. */
static uint8_t *pattern(size_t len)
{
	uint8_t *data = malloc(len);

	if (!data)
		die("malloc");
	for (size_t j = 0; j < len; j++)
		data[j] = (uint8_t)(j * 131 + (j >> 9));
	return data;
}

/* Write data into the sandbox's /tmp and read it back: the time in ms. */
static double file_roundtrip(msb_sandbox *sb, const uint8_t *data, size_t len)
{
	double t0 = now_ms();
	msb_buf back;

	if (msb_file_write(sb, "/tmp/bench.bin", data, len, MSB_WRITE_TRUNCATE, 0644) ||
	    msb_file_read(&back, sb, "/tmp/bench.bin", 0))
		die("64 MiB file write+read");
	if (back.len != len || memcmp(back.ptr, data, len))
		die("64 MiB file came back different");
	msb_buf_free(&back);
	return now_ms() - t0;
}

static msb_sandbox *start_backend(msb_backend be)
{
	msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
	msb_sandbox *sb;

	o.backend = be;
	/* the os sandbox on the microVMs' root image, so that both run the
	 * same programs (L1 itself has only busybox) */
	if (be == MSB_BACKEND_OS && getenv("MSB_BENCH_OS_ROOTFS"))
		o.rootfs = getenv("MSB_BENCH_OS_ROOTFS");
	if (msb_sandbox_create(&sb, &o))
		die("create");
	if (msb_sandbox_start(sb))
		die(be == MSB_BACKEND_VM ? "start a microVM" : "start");
	return sb;
}

static double repl_rt(msb_sandbox *sb)
{
	msb_repl_options ro = MSB_REPL_OPTIONS_INIT;
	msb_repl_result *rr = NULL;
	double t0 = now_ms();

	ro.language = MSB_LANG_PYTHON;
	if (msb_repl_run(&rr, sb, &ro, "x = x + 1 if 'x' in dir() else 0", 32) ||
	    rr->status != MSB_REPL_OK)
		die("repl round trip");
	msb_repl_result_free(rr);
	return now_ms() - t0;
}

static void pair(const char *name, const char *unit, double vm, const char *refname,
		 double ref)
{
	printf("%-30s vm %9.2f %s | %-24s %9.2f %s | ratio %6.2fx\n", name, vm,
	       unit, refname, ref, unit, vm / ref);
}

struct concurrent {
	pthread_t t;
	int rc;
	char why[512]; /* the error of a failed one */
};

static void *one_vm(void *arg)
{
	struct concurrent *c = arg;
	msb_sandbox_options o = MSB_SANDBOX_OPTIONS_INIT;
	msb_sandbox *sb = NULL;

	o.backend = MSB_BACKEND_VM;
	o.memory_bytes = 64ll << 20;
	o.disk_bytes = 16ll << 20;
	c->rc = msb_sandbox_create(&sb, &o);
	if (!c->rc)
		c->rc = msb_sandbox_start(sb);
	if (!c->rc)
		c->rc = run_true(sb);
	if (!c->rc)
		c->rc = msb_sandbox_stop(sb, 1000);
	if (c->rc > 0) {
		snprintf(c->why, sizeof c->why, "/bin/true exited %d", c->rc);
	} else if (c->rc) {
		const msb_error *e = msb_error_last();
		snprintf(c->why, sizeof c->why, "%s%s%s", e->message,
			 e->hint[0] ? " (hint: " : "", e->hint[0] ? e->hint : "");
		if (e->hint[0])
			strncat(c->why, ")", sizeof c->why - strlen(c->why) - 1);
	}
	msb_sandbox_free(sb);
	return NULL;
}

static int vm_main(int n)
{
	double *a = calloc((size_t)n * 10, sizeof(double));
	double *b = calloc((size_t)n * 10, sizeof(double));
	msb_sandbox *vm, *os;
	int i;

	if (!a || !b)
		return 1;
	printf("msb %s: the vm backend against the os backend on this machine, "
	       "%d iterations, medians\n", msb_version(), n);
	/* (v1) interleaved, so that drift hits both alike */
	for (i = 0; i < n; i++) {
		double t0 = now_ms();

		vm = start_backend(MSB_BACKEND_VM);
		a[i] = now_ms() - t0;
		msb_sandbox_free(vm);
		t0 = now_ms();
		os = start_backend(MSB_BACKEND_OS);
		b[i] = now_ms() - t0;
		msb_sandbox_free(os);
	}
	pair("(v1) create -> agent ready", "ms", median(a, n), "os sandbox", median(b, n));

	vm = start_backend(MSB_BACKEND_VM);
	os = start_backend(MSB_BACKEND_OS);
	for (i = 0; i < n * 5; i++) {
		double t0 = now_ms();

		if (run_true(vm))
			die("true in the VM");
		a[i] = now_ms() - t0;
		t0 = now_ms();
		if (run_true(os))
			die("true in os");
		b[i] = now_ms() - t0;
	}
	pair("(v2) command round trip", "ms", median(a, n * 5), "os sandbox", median(b, n * 5));

	repl_rt(vm);
	repl_rt(os);
	for (i = 0; i < n * 5; i++) {
		a[i] = repl_rt(vm);
		b[i] = repl_rt(os);
	}
	pair("(v3) REPL round trip", "ms", median(a, n * 5), "os sandbox", median(b, n * 5));

	{
		size_t len = 64u << 20;
		uint8_t *data = pattern(len);
		int k = n < 3 ? n : 3;

		for (i = 0; i < k; i++) {
			a[i] = 64 * 1000.0 / file_roundtrip(vm, data, len);
			b[i] = 64 * 1000.0 / cat_roundtrip(data, len);
		}
		pair("(v4) 64 MiB in and back", "MiB/s", median(a, k), "cat through pipes",
		     median(b, k));
		free(data);
	}
	msb_sandbox_free(vm);
	msb_sandbox_free(os);

	{
		struct concurrent c[10];
		double t0 = now_ms();
		int failed = 0;

		for (i = 0; i < 10; i++)
			if (pthread_create(&c[i].t, NULL, one_vm, &c[i]))
				die("pthread_create");
		for (i = 0; i < 10; i++) {
			pthread_join(c[i].t, NULL);
			failed += c[i].rc != 0;
			if (c[i].rc)
				fprintf(stderr, "msb-bench: (v5) microVM %d failed: %s\n",
					i, c[i].why);
		}
		printf("%-30s 10 VMs started, ran true, stopped in %.0f ms: %d failed\n",
		       "(v5) 10 concurrent microVMs", now_ms() - t0, failed);
		if (failed)
			return 1;
	}
	free(a);
	free(b);
	return 0;
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

	int vm = argc > 1 && !strcmp(argv[1], "--vm");

	if (vm) {
		argc--;
		argv++;
	}
	if (argc == 3 && !strcmp(argv[1], "-n"))
		n = atoi(argv[2]);
	else if (argc != 1)
		n = 0;
	if (n < 3) {
		fprintf(stderr, "usage: msb-bench [--vm] [-n ITERATIONS >= 3]\n");
		return 2;
	}
	if (vm)
		return vm_main(n);
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
	report("(b) command round trip", median(a, n * 10),
	       "fork+exec+wait true", median(b, n * 10), 1.5);

	/* (c) REPL round trip vs a cold interpreter. */
	{
		char *py[] = { "/usr/bin/python3", "-c", "pass", NULL };
		msb_repl_options ro = MSB_REPL_OPTIONS_INIT;
		msb_repl_result *rr = NULL;

		ro.language = MSB_LANG_PYTHON;
		if (access(py[0], X_OK) != 0 ||
		    msb_repl_run(&rr, sb, &ro, "x = 0", 5) != 0) {
			printf("(c) skipped: no python3 (apt-get install python3)\n");
		} else {
			msb_repl_result_free(rr);
			/* In blocks: an 8 ms interpreter start between two
			 * round trips would flush the caches they rely on. */
			for (i = 0; i < n * 10; i++) {
				double t0 = now_ms();

				if (msb_repl_run(&rr, sb, &ro, "x += 1", 6) ||
				    rr->status != MSB_REPL_OK)
					die("repl x += 1");
				msb_repl_result_free(rr);
				a[i] = now_ms() - t0;
			}
			for (i = 0; i < n; i++) {
				double t0 = now_ms();

				if (spawn_wait(py))
					die("python3 -c pass");
				b[i] = now_ms() - t0;
			}
			report("(c) REPL round trip x += 1", median(a, n * 10),
			       "cold python3 -c pass", median(b, n), 0.01);
		}
	}

	/* (d) 64 MiB written and read back vs cat through pipes. */
	{
		size_t len = 64u << 20;
		uint8_t *data = pattern(len);
		int k = n < 5 ? n : 5;

		for (i = 0; i < k; i++) {
			a[i] = file_roundtrip(sb, data, len);
			b[i] = cat_roundtrip(data, len);
		}
		/* Throughput ratio: ours over the reference's. */
		printf("%-34s msb %8.1f MiB/s | %-22s %8.1f MiB/s | ratio %5.2fx "
		       "(target >= 0.50x: %s)\n", "(d) 64 MiB write+read",
		       64 * 1000.0 / median(a, k), "cat through pipes",
		       64 * 1000.0 / median(b, k), median(b, k) / median(a, k),
		       median(b, k) / median(a, k) >= 0.5 ? "met" : "NOT met");
		free(data);
	}
	msb_sandbox_free(sb);
	free(a);
	free(b);
	return 0;
}
