/*
 * cp.c - msb cp: a file between the host and a named sandbox, either way.
 */
#include "cp.h"
#include "named.h"
#include "output.h"
#include "usage.h"

int cmd_cp(int argc, char **argv)
{
	char *spath = NULL, *dpath = NULL, *sname, *dname;
	msb_sandbox *sb = NULL;
	int rc;

	if (argc != 3)
		return bad_usage("%s", "cp takes HOST NAME:PATH or NAME:PATH HOST");
	sname = sandbox_ref(argv[1], &spath);
	dname = sandbox_ref(argv[2], &dpath);
	if ((sname && dname) || (!sname && !dname))
		return bad_usage("%s", "cp copies between the host and one sandbox: "
				 "HOST NAME:PATH or NAME:PATH HOST");
	if ((rc = connect_named(&sb, sname ? sname : dname)))
		return rc;
	if (sname ? msb_file_copy_out(sb, spath, argv[2]) :
		    msb_file_copy_in(sb, argv[1], dpath)) {
		print_error("cp");
		rc = msb_error_last()->code == MSB_EINVAL ? EXIT_USAGE : 1;
	}
	msb_sandbox_free(sb);
	return rc;
}
