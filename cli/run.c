/*
 * run.c - msb run (one command in a fresh sandbox, which ends with it) and
 * msb exec (one command in a named sandbox): the same flags, the same
 * output, the same exit statuses (output.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "flags.h"
#include "named.h"
#include "output.h"
#include "run.h"
#include "terminal.h"
#include "usage.h"

/* Run argv in sb as `msb run` and `msb exec` do; returns the exit status. */
static int run_in(msb_sandbox *sb, struct flags *f, char **argv)
{
	msb_command_result *res = NULL;
	char *in_data = NULL;
	size_t in_len = 0;
	int rc, status;

	f->co.argv = (const char *const *)argv;
	f->co.timeout_ms = f->timeout_ms;
	if (f->interactive) {
		in_data = read_all_stdin(&in_len);
		f->co.stdin_data = in_data ? in_data : "";
		f->co.stdin_len = in_data ? in_len : 0;
	}
	rc = f->json ? msb_command_run(&res, sb, &f->co) :
		       msb_command_run_stream(&res, sb, &f->co, stream_cb, NULL);
	free(in_data);
	if (rc) {
		print_error(argv[0]);
		return rc == MSB_ENOTFOUND ? EXIT_NOT_FOUND :
		       rc == MSB_EPERM || rc == MSB_EINVAL ? EXIT_CANNOT_EXEC :
							     EXIT_SANDBOX;
	}
	status = res->signal ? 128 + res->signal : res->exit_code;
	if (res->timed_out && !f->json)
		fprintf(stderr, "%s: %s: timed out after %lld ms, killed\n",
			prog, argv[0], (long long)f->timeout_ms);
	/* nothing is cut without a word */
	if (!f->json && (res->out_truncated || res->err_truncated))
		fprintf(stderr, "%s: %s: %s%s%s cut at %lld bytes (the output cap; "
			"--output-cap SIZE keeps more)\n", prog, argv[0],
			res->out_truncated ? "stdout" : "",
			res->out_truncated && res->err_truncated ? " and " : "",
			res->err_truncated ? "stderr" : "",
			(long long)(f->co.output_cap ? f->co.output_cap : 16ll << 20));
	if (f->json) {
		json_t *enf = json_object();
		json_t *o;

		json_object_set_new(enf, "memory", json_string(msb_enforcement_name(
			msb_sandbox_enforcement(sb, MSB_LIMIT_MEMORY))));
		json_object_set_new(enf, "cpu", json_string(msb_enforcement_name(
			msb_sandbox_enforcement(sb, MSB_LIMIT_CPU))));
		json_object_set_new(enf, "pids", json_string(msb_enforcement_name(
			msb_sandbox_enforcement(sb, MSB_LIMIT_PIDS))));
		o = json_pack("{s:i,s:i,s:b,s:I,s:o,s:o,s:b,s:b,s:{s:s,s:s,s:s,s:o}}",
			      "exit_code", res->exit_code, "signal", res->signal,
			      "timed_out", res->timed_out,
			      "elapsed_us", (json_int_t)res->elapsed_us,
			      "stdout", bytes_json(&res->out),
			      "stderr", bytes_json(&res->err),
			      "stdout_truncated", res->out_truncated,
			      "stderr_truncated", res->err_truncated,
			      "sandbox", "name", msb_sandbox_name(sb),
			      "backend", msb_backend_name(msb_sandbox_backend(sb)),
			      "backend_reason", msb_sandbox_backend_reason(sb),
			      "enforcement", enf);
		print_json(o);
	}
	msb_command_result_free(res);
	return status;
}

int cmd_run(int argc, char **argv)
{
	struct flags f;
	msb_sandbox *sb = NULL;
	int rc, status;

	argv[0] = "msb run";
	if ((rc = parse_flags(argc, argv, F_SANDBOX | F_COMMAND, &f)))
		goto out_flags;
	if (f.optind >= argc) {
		rc = bad_usage("%s", "run: no command given");
		goto out_flags;
	}
	if ((rc = msb_sandbox_create(&sb, &f.so))) {
		print_error("cannot create the sandbox");
		status = rc == MSB_EINVAL || rc == MSB_EVERSION ? EXIT_USAGE : EXIT_SANDBOX;
		goto out;
	}
	if (msb_sandbox_start(sb)) {
		print_error("cannot start the sandbox");
		status = EXIT_SANDBOX;
		goto out;
	}
	warn_enforcement(sb);
	status = run_in(sb, &f, argv + f.optind);
out:
	msb_sandbox_free(sb);
	flags_free(&f);
	return status;
out_flags:
	flags_free(&f);
	return rc;
}

int cmd_exec(int argc, char **argv)
{
	struct flags f;
	msb_sandbox *sb = NULL;
	int rc;

	argv[0] = "msb exec";
	if ((rc = parse_flags(argc, argv, F_COMMAND | F_NAME, &f)))
		goto out;
	if (f.optind + 1 >= argc) {
		rc = bad_usage("%s", "exec takes NAME -- CMD [ARGS...]");
		goto out;
	}
	if ((rc = connect_named(&sb, argv[f.optind])))
		goto out;
	rc = run_in(sb, &f, argv + f.optind + 1 +
		    (argv[f.optind + 1] && !strcmp(argv[f.optind + 1], "--")));
	msb_sandbox_free(sb);
out:
	flags_free(&f);
	return rc;
}
