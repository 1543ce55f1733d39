/*
 * bytes.c - argv, env, working directories and file names are byte
 * strings on Linux, not UTF-8 text: each travels to the sandbox exactly
 * (the protocol carries bytes that are not UTF-8 losslessly), or is
 * refused with MSB_EINVAL naming the argument. Nothing is dropped or
 * ignored silently, nothing is reported as "out of memory".
 */
#include <sys/stat.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Invalid UTF-8: a lone 0xff, 0xfe (never in UTF-8), a truncated
 * sequence and an overlong encoding of '/'. */
#define BAD "\xff\xfe ok"
#define BAD_NAME "f\xff\xc3-\xc0\xaf.txt"
#define BAD_DIR "/tmp/d\xff\xfe"

static msb_sandbox *sb;

static int run(msb_command_result **res, msb_sandbox *s,
	       const char *const *argv, const char *const *env, const char *cwd)
{
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = argv;
	co.env = env;
	co.cwd = cwd;
	*res = NULL;
	int rc = msb_command_run(res, s, &co);
	if (rc)
		msbt_diag_error(argv[0], rc);
	return rc;
}

/* Did the command exit 0 with exactly these bytes on stdout? */
static int out_is(const msb_command_result *res, const char *want, size_t n)
{
	if (res && res->err.len)
		diag("stderr: %.*s", (int)(res->err.len > 300 ? 300 : res->err.len),
		     (const char *)res->err.ptr);
	return res && res->exit_code == 0 && res->out.len == n &&
	       !memcmp(res->out.ptr, want, n);
}

static void test_argv(void)
{
	msb_command_result *res;

	if (!run(&res, sb, ARGV("sh", "-c", "printf %s \"$1\"", "sh", BAD), NULL, NULL))
		ok(out_is(res, BAD, strlen(BAD)), "an argv element that is not "
		   "UTF-8 reaches the command exactly");
	else
		ok(0, "an argv element that is not UTF-8 reaches the command exactly");
	msb_command_result_free(res);

	/* argv[0] itself, through a symlink of that name */
	if (!run(&res, sb, ARGV("sh", "-c", "ln -sf /bin/echo \"$1\"", "sh",
				"/tmp/e" BAD_NAME), NULL, NULL) && res->exit_code == 0) {
		msb_command_result_free(res);
		if (!run(&res, sb, ARGV("/tmp/e" BAD_NAME, "hi"), NULL, NULL))
			ok(out_is(res, "hi\n", 3), "a program named with invalid "
			   "UTF-8 runs");
		else
			ok(0, "a program named with invalid UTF-8 runs");
	} else {
		ok(0, "a program named with invalid UTF-8 runs");
	}
	msb_command_result_free(res);
}

static void test_env(void)
{
	msb_command_result *res;

	if (!run(&res, sb, ARGV("printenv", "BYTES"), ARGV("BYTES=" BAD), NULL))
		ok(out_is(res, BAD "\n", strlen(BAD) + 1), "an env value that is "
		   "not UTF-8 reaches the command exactly");
	else
		ok(0, "an env value that is not UTF-8 reaches the command exactly");
	msb_command_result_free(res);

	/* env itself: a shell would drop a name that is no identifier */
	if (!run(&res, sb, ARGV("env"), ARGV("K\xe9Y=1"), NULL))
		ok(res->exit_code == 0 && res->out.len >= 7 &&
		   memmem(res->out.ptr, res->out.len, "\nK\xe9Y=1\n", 7),
		   "an env name that is not UTF-8 reaches the command exactly");
	else
		ok(0, "an env name that is not UTF-8 reaches the command exactly");
	msb_command_result_free(res);
}

static void test_cwd(void)
{
	msb_command_result *res;

	if (run(&res, sb, ARGV("mkdir", "-p", BAD_DIR), NULL, NULL) || res->exit_code) {
		skip(2, "cannot create " BAD_DIR);
		msb_command_result_free(res);
		return;
	}
	msb_command_result_free(res);
	if (!run(&res, sb, ARGV("pwd"), NULL, BAD_DIR))
		ok(out_is(res, BAD_DIR "\n", strlen(BAD_DIR) + 1), "a cwd that is "
		   "not UTF-8 is the command's working directory");
	else
		ok(0, "a cwd that is not UTF-8 is the command's working directory");
	msb_command_result_free(res);

	/* a background process takes the same way */
	msb_process *p = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("pwd");
	co.cwd = BAD_DIR;
	int rc = msb_process_start(&p, sb, &co);
	if (rc) {
		msbt_diag_error("msb_process_start", rc);
		ok(0, "a process started in a cwd that is not UTF-8 runs there");
		return;
	}
	res = NULL;
	rc = msb_process_wait(&res, p, 10000);
	ok(!rc && out_is(res, BAD_DIR "\n", strlen(BAD_DIR) + 1),
	   "a process started in a cwd that is not UTF-8 runs there");
	msb_command_result_free(res);
	msb_process_free(p);
}

static void test_ps(void)
{
	msb_process *p = NULL;
	msb_process_list *list = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	int found = 0;

	co.argv = ARGV("sh", "-c", "sleep 30", BAD);
	if (msb_process_start(&p, sb, &co)) {
		ok(0, "ps shows a command whose argv is not UTF-8");
		return;
	}
	int rc = msb_process_list_all(&list, sb);
	if (rc)
		msbt_diag_error("msb_process_list_all", rc);
	for (size_t i = 0; !rc && i < list->len; i++)
		if (list->items[i].command &&
		    !strcmp(list->items[i].command, "sh -c sleep 30 " BAD))
			found = 1;
	ok(found, "ps shows a command whose argv is not UTF-8, exactly");
	msb_process_list_free(list);
	msb_process_free(p);
}

static void test_files(void)
{
	const char *path = "/tmp/" BAD_NAME, *path2 = "/tmp/2" BAD_NAME;
	msb_buf buf = { 0 };
	msb_file_stat st;
	msb_dir_list *list = NULL;
	int rc, found = 0, exists = 0;

	rc = msb_file_write(sb, path, "data", 4, MSB_WRITE_TRUNCATE, 0);
	if (rc)
		msbt_diag_error("msb_file_write", rc);
	is_int(rc, 0, "a file named with invalid UTF-8 is written");
	rc = msb_file_read(&buf, sb, path, 0);
	if (rc)
		msbt_diag_error("msb_file_read", rc);
	ok(!rc && buf.len == 4 && !memcmp(buf.ptr, "data", 4),
	   "and read back");
	msb_buf_free(&buf);
	rc = msb_file_stat_path(&st, sb, path);
	ok(!rc && st.type == MSB_FILE_REGULAR && st.size == 4, "and stat'ed");
	rc = msb_file_list(&list, sb, "/tmp");
	for (size_t i = 0; !rc && i < list->len; i++)
		if (!strcmp(list->entries[i].name, BAD_NAME))
			found = 1;
	ok(found, "and listed with its exact name");
	msb_dir_list_free(list);

	/* the sandbox's own view of it */
	msb_command_result *res;
	if (!run(&res, sb, ARGV("cat", path), NULL, NULL))
		ok(out_is(res, "data", 4), "a command sees it under the same bytes");
	else
		ok(0, "a command sees it under the same bytes");
	msb_command_result_free(res);

	rc = msb_file_rename(sb, path, path2);
	if (rc)
		msbt_diag_error("msb_file_rename", rc);
	ok(!rc && !msb_file_exists(&exists, sb, path) && !exists &&
	   !msb_file_exists(&exists, sb, path2) && exists,
	   "it is renamed to another name that is not UTF-8");
	rc = msb_file_mkdir(sb, "/tmp/dir" BAD_NAME, 0, 1);
	ok(!rc, "a directory named with invalid UTF-8 is made");
	rc = msb_file_remove(sb, path2, 0);
	ok(!rc && !msb_file_exists(&exists, sb, path2) && !exists,
	   "the file is removed");

	/* An error message naming such a path still comes back. */
	rc = msb_file_read(&buf, sb, "/tmp/missing" BAD_NAME, 0);
	is_int(rc, MSB_ENOTFOUND, "a missing file named with invalid UTF-8 is "
	       "MSB_ENOTFOUND, with a message");
	diag("message: %s", msb_error_last()->message);
}

static void test_sandbox_options(void)
{
	msb_sandbox_options o = msbt_options();
	msb_command_result *res;
	msb_sandbox *s2;

	o.env = ARGV("SBYTES=" BAD);
	o.workdir = "/tmp/w\xff\xfe";
	s2 = msbt_start(&o);
	ok(s2 != NULL, "a sandbox with env and workdir that are not UTF-8 starts");
	if (!s2) {
		skip(2, "no sandbox");
	} else {
		if (!run(&res, s2, ARGV("printenv", "SBYTES"), NULL, NULL))
			ok(out_is(res, BAD "\n", strlen(BAD) + 1), "the sandbox's env "
			   "value reaches commands exactly");
		else
			ok(0, "the sandbox's env value reaches commands exactly");
		msb_command_result_free(res);
		if (!run(&res, s2, ARGV("pwd"), NULL, NULL))
			ok(out_is(res, "/tmp/w\xff\xfe\n", 9), "the sandbox's workdir "
			   "is the commands' working directory");
		else
			ok(0, "the sandbox's workdir is the commands' working directory");
		msb_command_result_free(res);
		msb_sandbox_free(s2);
	}

	/* A volume whose paths are not UTF-8. */
	char host[PATH_MAX];
	snprintf(host, sizeof host, "/tmp/msbt-bytes-%d-\xff", (int)getpid());
	if (mkdir(host, 0755) < 0) {
		skip(1, "cannot create %s: %s", host, strerror(errno));
	} else {
		msb_volume vols[2];
		char file[PATH_MAX + 8];
		FILE *f;

		snprintf(file, sizeof file, "%s/x", host);
		if ((f = fopen(file, "w"))) {
			fputs("vol", f);
			fclose(f);
		}
		o = msbt_options();
		vols[0] = o.volumes[0];
		vols[1].host_path = host;
		vols[1].sandbox_path = "/mnt/v\xfe";
		vols[1].read_only = 1;
		o.volumes = vols;
		o.volumes_len = 2;
		s2 = msbt_start(&o);
		if (s2 && !run(&res, s2, ARGV("cat", "/mnt/v\xfe/x"), NULL, NULL))
			ok(out_is(res, "vol", 3), "a volume whose paths are not UTF-8 "
			   "is mounted where asked");
		else
			ok(0, "a volume whose paths are not UTF-8 is mounted where asked");
		msb_command_result_free(res);
		msb_sandbox_free(s2);
		unlink(file);
		rmdir(host);
	}

	/* The name is text: refused clearly, not "out of memory". */
	o = msbt_options();
	o.name = "n\xff";
	s2 = NULL;
	int rc = msb_sandbox_create(&s2, &o);
	if (!rc)
		rc = msb_sandbox_start(s2);
	is_int(rc, MSB_EINVAL, "a sandbox name that is not UTF-8 is MSB_EINVAL");
	ok(strstr(msb_error_last()->message, "name") != NULL,
	   "whose message names the name (\"%s\")", msb_error_last()->message);
	msb_sandbox_free(s2);
}

static void test_refused(void)
{
	msb_command_result *res = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;

	/* An env entry without '=' names itself, whatever its bytes. */
	co.argv = ARGV("true");
	co.env = ARGV("NOEQ\xff");
	int rc = msb_command_run(&res, sb, &co);
	is_int(rc, MSB_EINVAL, "an env entry without '=' is MSB_EINVAL");
	ok(strstr(msb_error_last()->message, "env") != NULL,
	   "whose message names the env (\"%s\")", msb_error_last()->message);
	msb_command_result_free(res);
}

int main(void)
{
	msbt_watchdog(120);
	msbt_require_sandboxes();

	msb_sandbox_options o = msbt_options();
	sb = msbt_start(&o);
	if (!sb)
		bail_out("cannot start a sandbox");

	test_argv();
	test_env();
	test_cwd();
	test_ps();
	test_files();
	test_refused();
	test_sandbox_options();

	msb_sandbox_free(sb);
	return done_testing();
}
