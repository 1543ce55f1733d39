/*
 * repl.c - msb repl: code run by a named sandbox's interpreter, which
 * keeps its state between calls (per language and --context).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "flags.h"
#include "named.h"
#include "output.h"
#include "repl.h"
#include "terminal.h"
#include "usage.h"

int cmd_repl(int argc, char **argv)
{
	msb_repl_options ro = MSB_REPL_OPTIONS_INIT;
	msb_repl_result *res = NULL;
	struct flags f;
	msb_sandbox *sb = NULL;
	char *code = NULL;
	size_t len = 0;
	int rc;

	argv[0] = "msb repl";
	if ((rc = parse_flags(argc, argv, F_REPL | F_NAME, &f)))
		goto out;
	if (f.optind >= argc || !f.lang) {
		rc = bad_usage("%s", "repl takes NAME --lang python|node|shell [CODE]");
		goto out;
	}
	if (f.optind + 1 < argc) {
		/* The code is the rest of the line, joined by spaces. */
		for (int i = f.optind + 1; i < argc; i++)
			len += strlen(argv[i]) + 1;
		code = calloc(1, len + 1);
		for (int i = f.optind + 1; code && i < argc; i++) {
			strcat(code, argv[i]);
			if (i + 1 < argc)
				strcat(code, " ");
		}
		len = code ? strlen(code) : 0;
	} else {
		code = read_all_stdin(&len);
	}
	if (!code) {
		fprintf(stderr, "%s: out of memory\n", prog);
		rc = EXIT_SANDBOX;
		goto out;
	}
	if ((rc = connect_named(&sb, argv[f.optind])))
		goto out;
	ro.language = f.lang;
	ro.context = f.context;
	ro.timeout_ms = f.timeout_ms;
	rc = f.json ? msb_repl_run(&res, sb, &ro, code, len) :
		      msb_repl_run_stream(&res, sb, &ro, code, len, stream_cb, NULL);
	if (rc) {
		print_error(argv[f.optind]);
		rc = rc == MSB_EINVAL ? EXIT_USAGE : EXIT_SANDBOX;
		goto out;
	}
	if (f.json) {
		json_t *outs = json_array();

		for (size_t i = 0; i < res->outputs_len; i++)
			json_array_append_new(outs, json_pack("{s:s,s:o}", "mime",
				res->outputs[i].mime, "data", bytes_json(&res->outputs[i].data)));
		json_t *o = json_pack("{s:s,s:o,s:o,s:o,s:{s:s,s:s,s:o},s:o,s:b,s:I}",
			"status", res->status == MSB_REPL_OK ? "ok" :
				  res->status == MSB_REPL_TIMEOUT ? "timeout" : "error",
			"stdout", bytes_json(&res->out), "stderr", bytes_json(&res->err),
			"value", bytes_json(&res->value),
			"error", "type", res->error_type ? res->error_type : "",
			"message", res->error_message ? res->error_message : "",
			"traceback", bytes_json(&res->traceback),
			"outputs", outs, "state_lost", res->state_lost,
			"elapsed_us", (json_int_t)res->elapsed_us);
		json_object_set_new(o, "stdout_truncated", json_boolean(res->out_truncated));
		json_object_set_new(o, "stderr_truncated", json_boolean(res->err_truncated));
		json_object_set_new(o, "value_truncated", json_boolean(res->value_truncated));
		print_json(o);
	} else {
		if (res->value.len)
			printf("%.*s\n", (int)res->value.len, (const char *)res->value.ptr);
		if (res->status == MSB_REPL_ERROR && res->traceback.len)
			fprintf(stderr, "%.*s", (int)res->traceback.len,
				(const char *)res->traceback.ptr);
		else if (res->status == MSB_REPL_ERROR)
			fprintf(stderr, "%s: %s\n", res->error_type ? res->error_type : "error",
				res->error_message ? res->error_message : "");
		if (res->status == MSB_REPL_TIMEOUT)
			fprintf(stderr, "%s: timed out after %lld ms%s\n", prog,
				(long long)f.timeout_ms, res->state_lost ?
				"; the interpreter was restarted and its state is lost" : "");
		/* nothing is cut without a word */
		if (res->out_truncated || res->err_truncated)
			fprintf(stderr, "%s: the run's %s%s%s was cut at 64 MiB\n", prog,
				res->out_truncated ? "stdout" : "",
				res->out_truncated && res->err_truncated ? " and " : "",
				res->err_truncated ? "stderr" : "");
		if (res->value_truncated)
			fprintf(stderr, "%s: the value, error or rich outputs were cut to "
				"fit one reply (print large results instead)\n", prog);
	}
	rc = res->status == MSB_REPL_OK ? 0 : res->status == MSB_REPL_TIMEOUT ? 124 : 1;
out:
	msb_repl_result_free(res);
	msb_sandbox_free(sb);
	free(code);
	flags_free(&f);
	return rc;
}
