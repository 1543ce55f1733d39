/*
 * cp.c - msb cp: a file between the host and a named sandbox, either way.
 * A copy out is capped (--max-size; by default libmsb's cap, the
 * sandbox's disk size), so that a huge or sparse file inside cannot fill
 * the host.
 */
#include "cp.h"
#include "flags.h"
#include "named.h"
#include "output.h"
#include "usage.h"

int cmd_cp(int argc, char **argv)
{
	char *spath = NULL, *dpath = NULL, *sname, *dname, *from, *to;
	msb_sandbox *sb = NULL;
	struct flags f;
	int rc;

	argv[0] = "msb cp";
	if ((rc = parse_flags(argc, argv, F_CP, &f)))
		goto out;
	if (f.optind != argc - 2) {
		rc = bad_usage("%s", "cp takes HOST NAME:PATH or NAME:PATH HOST");
		goto out;
	}
	from = argv[f.optind];
	to = argv[f.optind + 1];
	sname = sandbox_ref(from, &spath);
	dname = sandbox_ref(to, &dpath);
	if ((sname && dname) || (!sname && !dname)) {
		rc = bad_usage("%s", "cp copies between the host and one sandbox: "
			       "HOST NAME:PATH or NAME:PATH HOST");
		goto out;
	}
	if (f.max_size && !sname) {
		rc = bad_usage("%s", "--max-size caps copies out of a sandbox "
			       "(NAME:PATH HOST); a copy in is bounded by the "
			       "sandbox's disk");
		goto out;
	}
	if ((rc = connect_named(&sb, sname ? sname : dname)))
		goto out;
	if (sname ? msb_file_copy_out_capped(sb, spath, to, f.max_size) :
		    msb_file_copy_in(sb, from, dpath)) {
		print_error("cp");
		rc = msb_error_last()->code == MSB_EINVAL ? EXIT_USAGE : 1;
	}
	msb_sandbox_free(sb);
out:
	flags_free(&f);
	return rc;
}
