/*
 * lifecycle.c - the commands that manage named sandboxes: msb create (a
 * detached sandbox that outlives this process), ls, stop, kill, rm, ps.
 */
#include <stdio.h>
#include <time.h>
#include <jansson.h>

#include "flags.h"
#include "lifecycle.h"
#include "named.h"
#include "output.h"
#include "usage.h"

int cmd_create(int argc, char **argv)
{
	struct flags f;
	msb_sandbox *sb = NULL;
	int rc, status = 0;

	argv[0] = "msb create";
	if ((rc = parse_flags(argc, argv, F_SANDBOX | F_NAME, &f)))
		goto out;
	if (f.optind != argc - 1) {
		rc = bad_usage("%s", "create takes one NAME after its flags");
		goto out;
	}
	f.so.name = argv[f.optind];
	f.so.detached = 1;
	f.so.timeout_ms = f.timeout_ms;
	if ((rc = msb_sandbox_create(&sb, &f.so))) {
		print_error("cannot create the sandbox");
		status = rc == MSB_EINVAL || rc == MSB_EVERSION ? EXIT_USAGE : EXIT_SANDBOX;
	} else if (msb_sandbox_start(sb)) {
		print_error("cannot start the sandbox");
		status = EXIT_SANDBOX;
	} else {
		warn_enforcement(sb);
		printf("%s\n", msb_sandbox_name(sb));
	}
	msb_sandbox_free(sb);
	rc = status;
out:
	flags_free(&f);
	return rc;
}

int cmd_ls(int argc, char **argv)
{
	struct flags f;
	msb_sandbox_list *l = NULL;
	int rc;

	argv[0] = "msb ls";
	if ((rc = parse_flags(argc, argv, F_JSON, &f)))
		goto out;
	if (f.optind != argc) {
		rc = bad_usage("%s", "ls takes no arguments but --json");
		goto out;
	}
	if (msb_sandbox_list_all(&l)) {
		print_error("cannot list sandboxes");
		rc = EXIT_SANDBOX;
		goto out;
	}
	if (f.json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < l->len; i++)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I,s:I}",
				"name", l->items[i].name,
				"status", msb_status_name(l->items[i].status),
				"backend", msb_backend_name(l->items[i].backend),
				"created_ms", (json_int_t)l->items[i].created_ms,
				"pid", (json_int_t)l->items[i].pid));
		print_json(arr);
	} else {
		printf("%-24s %-8s %-7s %s\n", "NAME", "STATUS", "BACKEND", "CREATED");
		for (size_t i = 0; i < l->len; i++) {
			time_t t = (time_t)(l->items[i].created_ms / 1000);
			char when[32] = "-";
			struct tm tm;

			if (t && localtime_r(&t, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			printf("%-24s %-8s %-7s %s\n", l->items[i].name,
			       msb_status_name(l->items[i].status),
			       msb_backend_name(l->items[i].backend), when);
		}
	}
	msb_sandbox_list_free(l);
out:
	flags_free(&f);
	return rc;
}

int cmd_stop(int argc, char **argv)
{
	struct flags f;
	msb_sandbox *sb = NULL;
	int rc;

	argv[0] = "msb stop";
	if ((rc = parse_flags(argc, argv, F_STOP | F_NAME, &f)))
		goto out;
	if (f.optind != argc - 1) {
		rc = bad_usage("%s", "stop takes one NAME");
		goto out;
	}
	if ((rc = connect_named(&sb, argv[f.optind])))
		goto out;
	if (msb_sandbox_stop(sb, f.grace_ms)) {
		print_error(argv[f.optind]);
		rc = EXIT_SANDBOX;
	}
	msb_sandbox_free(sb);
out:
	flags_free(&f);
	return rc;
}

int cmd_kill(int argc, char **argv)
{
	if (argc != 2)
		return bad_usage("%s", "kill takes one NAME");
	if (msb_sandbox_kill(argv[1])) {
		print_error(argv[1]);
		return EXIT_SANDBOX;
	}
	return 0;
}

int cmd_rm(int argc, char **argv)
{
	struct flags f;
	int rc;

	argv[0] = "msb rm";
	if ((rc = parse_flags(argc, argv, F_FORCE, &f)))
		goto out;
	if (f.optind >= argc) {
		rc = bad_usage("%s", "rm takes one or more NAMEs");
		goto out;
	}
	for (int i = f.optind; i < argc; i++) {
		if (f.force)
			msb_sandbox_kill(argv[i]);
		if (msb_sandbox_remove(argv[i])) {
			print_error(argv[i]);
			rc = EXIT_SANDBOX;
		}
	}
out:
	flags_free(&f);
	return rc;
}

int cmd_ps(int argc, char **argv)
{
	msb_process_list *l = NULL;
	msb_sandbox *sb = NULL;
	int rc;

	if (argc != 2)
		return bad_usage("%s", "ps takes one NAME");
	if ((rc = connect_named(&sb, argv[1])))
		return rc;
	if (msb_process_list_all(&l, sb)) {
		print_error(argv[1]);
		rc = EXIT_SANDBOX;
	} else {
		printf("%-8s %-4s %s\n", "PID", "PTY", "COMMAND");
		for (size_t i = 0; i < l->len; i++)
			printf("%-8lld %-4s %s\n", (long long)l->items[i].pid,
			       l->items[i].pty ? "yes" : "no", l->items[i].command);
	}
	msb_process_list_free(l);
	msb_sandbox_free(sb);
	return rc;
}
