/*
 * files.c - files inside the sandbox: round trips (text, every byte value,
 * empty, 20 MiB), append and exclusive creation, modes, stat, exists,
 * list, mkdir -p, recursive remove, rename, host copies, and the hostile
 * cases: symlinks and ".." planted in the sandbox, /proc magic links,
 * FIFOs, devices, size caps, a full disk, copies out of huge and sparse
 * files, bad arguments.
 */
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "tap.h"
#include "msbt.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define MiB (1024 * 1024)

static msb_sandbox *sb;

/* Run a shell snippet in the sandbox; its stdout (caller frees). */
static char *sh(const char *script, int *code)
{
	return msbt_output(sb, ARGV("sh", "-c", script), code);
}

static int sh_ok(const char *script)
{
	int code;
	free(sh(script, &code));
	if (code != 0)
		diag("sandbox command failed (%d): %s", code, script);
	return code == 0;
}

static uint8_t *pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	uint32_t x = seed ? seed : 1;
	if (!p)
		bail_out("out of memory");
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

static int buf_is(const msb_buf *b, const void *want, size_t n)
{
	return b->ptr && b->len == n && (n == 0 || !memcmp(b->ptr, want, n)) &&
	       b->ptr[n] == 0;
}

/* Read a sandbox file; the code, and the bytes in *b. */
static int rd(msb_buf *b, const char *path, int64_t max)
{
	return msb_file_read(b, sb, path, max);
}

static int wr(const char *path, const void *d, size_t n, int flags, unsigned mode)
{
	int rc = msb_file_write(sb, path, d, n, flags, mode);
	if (rc)
		msbt_diag_error("msb_file_write", rc);
	return rc;
}

/* The whole content of a host file (NULL if unreadable). */
static char *host_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	size_t cap = 0, n = 0, k;
	if (!f)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = (n + 4096 + 1) * 2;
			s = realloc(s, cap);
			if (!s)
				bail_out("out of memory");
		}
		k = fread(s + n, 1, 4096, f);
		n += k;
	} while (k > 0);
	fclose(f);
	s[n] = 0;
	if (len)
		*len = n;
	return s;
}

static void test_round_trips(void)
{
	msb_buf b;
	const char *text = "hello\nworld\n";

	is_int(wr("/tmp/t.txt", text, strlen(text), MSB_WRITE_TRUNCATE, 0644), 0,
	       "write a text file");
	is_int(rd(&b, "/tmp/t.txt", 0), 0, "read it back");
	ok(buf_is(&b, text, strlen(text)), "text round trip, NUL-terminated");
	msb_buf_free(&b);
	ok(b.ptr == NULL && b.len == 0, "msb_buf_free resets the buffer");
	char *cat = sh("cat /tmp/t.txt", NULL);
	is_str(cat, text, "a command in the sandbox sees what was written");
	free(cat);

	uint8_t all[256 * 4];
	for (size_t i = 0; i < sizeof all; i++)
		all[i] = (uint8_t)(i * 7 + i / 256);
	is_int(wr("/tmp/bin", all, sizeof all, 0, 0644), 0, "write all 256 byte values");
	is_int(rd(&b, "/tmp/bin", 0), 0, "read binary back");
	ok(buf_is(&b, all, sizeof all), "binary round trip (NUL, 0xff, ...)");
	msb_buf_free(&b);
	char *sum = sh("od -An -tx1 -v /tmp/bin | tr -s ' \\n' '\\n\\n' | sort -u | grep -c .", NULL);
	is_str(msbt_chomp(sum), "256", "the sandbox's copy holds 256 distinct byte values");
	free(sum);

	is_int(wr("/tmp/empty", "", 0, 0, 0644), 0, "write 0 bytes");
	is_int(rd(&b, "/tmp/empty", 0), 0, "read an empty file");
	ok(b.ptr && b.len == 0 && b.ptr[0] == 0, "empty: len 0, ptr is \"\"");
	msb_buf_free(&b);
	is_int(msb_file_write(sb, "/tmp/empty2", NULL, 0, 0, 0), 0,
	       "write NULL data of length 0");

	size_t big = 20 * MiB;
	uint8_t *p = pattern(big, 12345);
	uint64_t t0 = msbt_now_ms();
	is_int(wr("/tmp/big", p, big, 0, 0644), 0, "write 20 MiB");
	uint64_t t1 = msbt_now_ms();
	is_int(rd(&b, "/tmp/big", 0), 0, "read 20 MiB");
	uint64_t t2 = msbt_now_ms();
	ok(buf_is(&b, p, big), "20 MiB round trip is identical");
	diag("20 MiB: write %llu ms, read %llu ms", (unsigned long long)(t1 - t0),
	     (unsigned long long)(t2 - t1));
	msb_buf_free(&b);
	free(p);
	char *sz = sh("wc -c < /tmp/big", NULL);
	is_str(msbt_chomp(sz), "20971520", "the sandbox sees 20971520 bytes");
	free(sz);
}

struct stream_st {
	size_t total, chunks, max_chunk;
	int bad_stream;
	uint8_t *data;
	size_t stop_after; /* 0: never */
};

static int stream_cb(int stream, const uint8_t *data, size_t len, void *payload)
{
	struct stream_st *s = payload;
	if (stream != MSB_STREAM_STDOUT)
		s->bad_stream = 1;
	if (s->data)
		memcpy(s->data + s->total, data, len);
	s->total += len;
	s->chunks++;
	if (len > s->max_chunk)
		s->max_chunk = len;
	return s->stop_after && s->chunks >= s->stop_after;
}

static void test_stream(void)
{
	struct stream_st s;
	size_t big = 20 * MiB;
	uint8_t *want = pattern(big, 12345);

	memset(&s, 0, sizeof s);
	s.data = malloc(big);
	is_int(msb_file_read_stream(sb, "/tmp/big", 0, stream_cb, &s), 0,
	       "stream 20 MiB");
	ok(s.total == big && !memcmp(s.data, want, big), "streamed bytes are identical");
	ok(s.chunks >= big / (64 * 1024) && s.max_chunk <= 64 * 1024,
	   "delivered in chunks of at most 64 KiB (%zu chunks)", s.chunks);
	ok(!s.bad_stream, "the stream is MSB_STREAM_STDOUT");
	free(s.data);
	free(want);

	memset(&s, 0, sizeof s);
	s.stop_after = 2;
	is_int(msb_file_read_stream(sb, "/tmp/big", 0, stream_cb, &s), MSB_ECANCELED,
	       "a callback returning non-zero stops the read (MSB_ECANCELED)");
	ok(s.chunks == 2, "no chunk is delivered after the stop (%zu)", s.chunks);
	msb_buf b;
	is_int(rd(&b, "/tmp/t.txt", 0), 0, "the sandbox serves reads after a canceled one");
	msb_buf_free(&b);
}

static void test_flags_modes(void)
{
	msb_buf b;
	msb_file_stat st;

	wr("/tmp/ap", "abc", 3, MSB_WRITE_TRUNCATE, 0644);
	is_int(wr("/tmp/ap", "def", 3, MSB_WRITE_APPEND, 0644), 0, "append");
	rd(&b, "/tmp/ap", 0);
	ok(buf_is(&b, "abcdef", 6), "append adds to the end (%.*s)", (int)b.len,
	   b.ptr ? (char *)b.ptr : "");
	msb_buf_free(&b);
	is_int(wr("/tmp/ap-new", "x", 1, MSB_WRITE_APPEND, 0644), 0,
	       "append creates a missing file");
	wr("/tmp/ap", "Z", 1, MSB_WRITE_TRUNCATE, 0644);
	rd(&b, "/tmp/ap", 0);
	ok(buf_is(&b, "Z", 1), "truncate replaces the content");
	msb_buf_free(&b);

	is_int(msb_file_write(sb, "/tmp/ap", "q", 1, MSB_WRITE_EXCL, 0644), MSB_EEXISTS,
	       "exclusive creation of an existing file: MSB_EEXISTS");
	rd(&b, "/tmp/ap", 0);
	ok(buf_is(&b, "Z", 1), "and the file is untouched");
	msb_buf_free(&b);
	is_int(wr("/tmp/excl-new", "q", 1, MSB_WRITE_EXCL, 0644), 0,
	       "exclusive creation of a new file works");

	static const unsigned modes[] = {0600, 0755, 0640, 0777, 0400};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		char path[64], cmd[128];
		snprintf(path, sizeof path, "/tmp/mode-%o", modes[i]);
		wr(path, "m", 1, 0, modes[i]);
		if (!is_int(msb_file_stat_path(&st, sb, path), 0, "stat %s", path))
			msbt_diag_error("stat", -1);
		is_int(st.mode, modes[i], "mode %04o honoured (whatever the umask)", modes[i]);
		snprintf(cmd, sizeof cmd, "stat -c %%a %s", path);
		char *a = msbt_chomp(sh(cmd, NULL));
		char want[16];
		snprintf(want, sizeof want, "%o", modes[i]);
		is_str(a, want, "the sandbox agrees: %s", want);
		free(a);
	}
	wr("/tmp/mode-default", "m", 1, 0, 0);
	msb_file_stat_path(&st, sb, "/tmp/mode-default");
	is_int(st.mode, 0644, "mode 0 means 0644");
	wr("/tmp/mode-600", "again", 5, 0, 0666);
	msb_file_stat_path(&st, sb, "/tmp/mode-600");
	is_int(st.mode, 0600, "the mode applies on creation only");
	is_int(msb_file_write(sb, "/tmp/suid", "x", 1, 0, 04755), MSB_EPERM,
	       "a setuid mode is refused (MSB_EPERM)");
	int ex = 1;
	msb_file_exists(&ex, sb, "/tmp/suid");
	ok(!ex, "and nothing was created");
	is_int(wr("rel.txt", "relative", 8, 0, 0644), 0, "write a relative path");
	char *c = sh("cat /workspace/rel.txt", NULL);
	is_str(c, "relative", "relative paths start at the workdir (/workspace)");
	free(c);
}

static void test_stat_exists(void)
{
	msb_file_stat st;
	int ex;
	int64_t now_ms = (int64_t)time(NULL) * 1000;

	is_int(msb_file_stat_path(&st, sb, "/tmp/t.txt"), 0, "stat a file");
	is_int(st.type, MSB_FILE_REGULAR, "type regular");
	is_int(st.size, 12, "size 12");
	ok(st.mtime_ms > now_ms - 120000 && st.mtime_ms < now_ms + 120000,
	   "mtime_ms is recent (%lld vs %lld)", (long long)st.mtime_ms, (long long)now_ms);
	is_int(msb_file_stat_path(&st, sb, "/tmp"), 0, "stat a directory");
	is_int(st.type, MSB_FILE_DIRECTORY, "type directory");
	is_int(msb_file_stat_path(&st, sb, "/"), 0, "stat /");
	is_int(st.type, MSB_FILE_DIRECTORY, "/ is a directory");
	sh_ok("ln -sf /tmp/t.txt /tmp/link && ln -sf /nonexistent /tmp/dangling");
	is_int(msb_file_stat_path(&st, sb, "/tmp/link"), 0, "stat a symlink");
	is_int(st.type, MSB_FILE_SYMLINK, "a symlink is reported as one (lstat)");
	is_int(msb_file_stat_path(&st, sb, "/dev/null"), 0, "stat /dev/null");
	is_int(st.type, MSB_FILE_OTHER, "a device is \"other\"");
	is_int(msb_file_stat_path(&st, sb, "/tmp/missing"), MSB_ENOTFOUND,
	       "stat of a missing file: MSB_ENOTFOUND");
	ok(msb_error_last()->hint[0] != 0, "with a hint");

	ex = 0;
	is_int(msb_file_exists(&ex, sb, "/tmp/t.txt"), 0, "exists on a file");
	is_int(ex, 1, "it exists");
	ex = 1;
	is_int(msb_file_exists(&ex, sb, "/tmp/missing"), 0, "exists on a missing file");
	is_int(ex, 0, "it does not exist");
	ex = 0;
	msb_file_exists(&ex, sb, "/tmp/dangling");
	is_int(ex, 1, "a dangling symlink exists");
	ex = 1;
	is_int(msb_file_exists(&ex, sb, "/tmp/t.txt/sub"), 0,
	       "exists under a file is not an error");
	is_int(ex, 0, "and says no");
	msb_buf b;
	is_int(rd(&b, "/tmp/link", 0), 0, "read through a symlink inside the sandbox");
	ok(buf_is(&b, "hello\nworld\n", 12), "gives its target's content");
	msb_buf_free(&b);
}

static void test_list(void)
{
	msb_dir_list *l = NULL;

	sh_ok("mkdir -p /tmp/L/d && printf 12345 > /tmp/L/b && : > /tmp/L/a && "
	      "printf xy > /tmp/L/c && ln -s b /tmp/L/e && mkfifo /tmp/L/f && "
	      ": > '/tmp/L/with space'");
	if (!is_int(msb_file_list(&l, sb, "/tmp/L"), 0, "list a directory")) {
		msbt_diag_error("msb_file_list", -1);
		return;
	}
	static const char *const names[] = {"a", "b", "c", "d", "e", "f", "with space"};
	static const int types[] = {MSB_FILE_REGULAR, MSB_FILE_REGULAR, MSB_FILE_REGULAR,
				    MSB_FILE_DIRECTORY, MSB_FILE_SYMLINK,
				    MSB_FILE_OTHER, MSB_FILE_REGULAR};
	is_int(l->len, 7, "7 entries, without . and ..");
	int names_ok = l->len == 7, types_ok = l->len == 7;
	for (size_t i = 0; i < l->len && i < 7; i++) {
		if (strcmp(l->entries[i].name, names[i]))
			names_ok = 0;
		if ((int)l->entries[i].stat.type != types[i])
			types_ok = 0;
	}
	ok(names_ok, "sorted by name");
	ok(types_ok, "types: regular, directory, symlink, other");
	ok(l->len == 7 && l->entries[1].stat.size == 5 && l->entries[2].stat.size == 2,
	   "sizes are right");
	ok(l->len == 7 && l->entries[3].stat.mode != 0, "modes are set");
	msb_dir_list_free(l);
	msb_dir_list_free(NULL);

	/* Names are bytes: one that is not UTF-8 is listed as it is. */
	sh_ok("mkdir /tmp/L2 && : > \"$(printf '/tmp/L2/\\377name')\" && : > /tmp/L2/plain");
	if (is_int(msb_file_list(&l, sb, "/tmp/L2"), 0, "list names that are not UTF-8")) {
		ok(l->len == 2 && !strcmp(l->entries[0].name, "plain") &&
		   !strcmp(l->entries[1].name, "\377name"),
		   "the raw name comes back (%zu entries)", l->len);
	} else {
		skip(1, "list failed");
	}
	msb_dir_list_free(l);

	is_int(msb_file_list(&l, sb, "/tmp/t.txt"), MSB_EINVAL, "listing a file: MSB_EINVAL");
	ok(l == NULL, "out is NULL on failure");
	is_int(msb_file_list(&l, sb, "/tmp/nope"), MSB_ENOTFOUND,
	       "listing a missing directory: MSB_ENOTFOUND");

	sh_ok("mkdir /tmp/many && cd /tmp/many && i=0; while [ $i -lt 3000 ]; do "
	      ": > f$i; i=$((i+1)); done");
	if (is_int(msb_file_list(&l, sb, "/tmp/many"), 0, "list 3000 entries")) {
		int sorted = 1;
		for (size_t i = 1; i < l->len; i++)
			if (strcmp(l->entries[i - 1].name, l->entries[i].name) >= 0)
				sorted = 0;
		ok(l->len == 3000 && sorted, "3000 entries, sorted (%zu)", l->len);
	} else {
		skip(1, "list failed");
	}
	msb_dir_list_free(l);
	sh_ok("rm -rf /tmp/many");
}

static void test_mkdir_remove_rename(void)
{
	msb_file_stat st;
	int ex;

	is_int(msb_file_mkdir(sb, "/tmp/p/q/r", 0755, 1), 0, "mkdir -p /tmp/p/q/r");
	is_int(msb_file_stat_path(&st, sb, "/tmp/p/q/r"), 0, "it exists");
	is_int(st.type, MSB_FILE_DIRECTORY, "as a directory");
	is_int(msb_file_mkdir(sb, "/tmp/p/q/r", 0755, 1), 0,
	       "mkdir -p of an existing directory is fine");
	is_int(msb_file_mkdir(sb, "/tmp/p/q/r", 0755, 0), MSB_EEXISTS,
	       "mkdir without parents of an existing one: MSB_EEXISTS");
	is_int(msb_file_mkdir(sb, "/tmp/x/y/z", 0755, 0), MSB_ENOTFOUND,
	       "mkdir without parents under a missing one: MSB_ENOTFOUND");
	is_int(msb_file_mkdir(sb, "/tmp/m700", 0700, 0), 0, "mkdir 0700");
	msb_file_stat_path(&st, sb, "/tmp/m700");
	is_int(st.mode, 0700, "mode 0700 honoured");
	is_int(msb_file_mkdir(sb, "/tmp/t.txt/sub", 0755, 1), MSB_EINVAL,
	       "mkdir -p through a file: MSB_EINVAL");
	is_int(msb_file_mkdir(sb, "/usr/msb-nope", 0755, 0), MSB_EPERM,
	       "mkdir in the read-only root: MSB_EPERM");

	/* remove */
	wr("/tmp/rmme", "x", 1, 0, 0644);
	is_int(msb_file_remove(sb, "/tmp/rmme", 0), 0, "remove a file");
	msb_file_exists(&ex, sb, "/tmp/rmme");
	is_int(ex, 0, "it is gone");
	is_int(msb_file_remove(sb, "/tmp/rmme", 0), MSB_ENOTFOUND,
	       "remove a missing file: MSB_ENOTFOUND");
	is_int(msb_file_remove(sb, "/tmp/p", 0), MSB_EINVAL,
	       "remove a non-empty directory without recursive: MSB_EINVAL");
	ok(strstr(msb_error_last()->hint, "recursive") != NULL,
	   "the hint says recursive (%s)", msb_error_last()->hint);
	is_int(msb_file_remove(sb, "/tmp/p/q/r", 0), 0, "remove an empty directory");

	/* A tree with a symlink to a directory outside it: the target
	 * survives, the link goes. */
	sh_ok("mkdir -p /tmp/outside/keep && echo precious > /tmp/outside/keep/f && "
	      "mkdir -p /tmp/tree/a/b/c && echo 1 > /tmp/tree/a/f && "
	      "echo 2 > /tmp/tree/a/b/c/g && ln -s /tmp/outside /tmp/tree/a/out && "
	      "ln -s ../../../outside/keep /tmp/tree/a/b/rel && mkfifo /tmp/tree/fifo && "
	      "chmod 000 /tmp/tree/a/b/c/g");
	is_int(msb_file_remove(sb, "/tmp/tree", 1), 0, "remove a tree recursively");
	msb_file_exists(&ex, sb, "/tmp/tree");
	is_int(ex, 0, "the tree is gone");
	char *k = sh("cat /tmp/outside/keep/f", NULL);
	is_str(k, "precious\n", "the symlinks' target outside the tree survives");
	free(k);
	sh_ok("ln -s /tmp/outside /tmp/linkdir");
	is_int(msb_file_remove(sb, "/tmp/linkdir", 1), 0,
	       "remove a symlink to a directory, recursively");
	msb_file_exists(&ex, sb, "/tmp/outside/keep/f");
	is_int(ex, 1, "removes the link only, not the directory it points to");
	is_int(msb_file_remove(sb, "/", 1), MSB_EINVAL, "remove / is refused");
	msb_file_exists(&ex, sb, "/tmp/t.txt");
	is_int(ex, 1, "and nothing went");

	/* a deep tree, deeper than the limit */
	sh_ok("cd /tmp && mkdir deep && cd deep && i=0; while [ $i -lt 300 ]; do "
	      "mkdir d && cd d || exit 1; i=$((i+1)); done");
	int rc = msb_file_remove(sb, "/tmp/deep", 1);
	ok(rc == MSB_EINVAL || rc == 0, "a 300-level tree is refused or removed, "
	   "never a crash (%d)", rc);
	is_int(msb_file_exists(&ex, sb, "/tmp/t.txt"), 0, "the agent still answers");

	/* rename */
	wr("/tmp/ren-a", "renamed", 7, 0, 0644);
	is_int(msb_file_rename(sb, "/tmp/ren-a", "/tmp/ren-b"), 0, "rename");
	msb_file_exists(&ex, sb, "/tmp/ren-a");
	is_int(ex, 0, "the old name is gone");
	msb_buf b;
	rd(&b, "/tmp/ren-b", 0);
	ok(buf_is(&b, "renamed", 7), "the new name has the content");
	msb_buf_free(&b);
	is_int(msb_file_rename(sb, "/tmp/ren-missing", "/tmp/ren-c"), MSB_ENOTFOUND,
	       "rename a missing file: MSB_ENOTFOUND");
	is_int(msb_file_rename(sb, "/tmp/ren-b", "/tmp/no/such/dir/x"), MSB_ENOTFOUND,
	       "rename into a missing directory: MSB_ENOTFOUND");
	/* /tmp and /workspace are two mounts of one tmpfs: rename(2) says
	 * EXDEV. */
	is_int(msb_file_rename(sb, "/tmp/ren-b", "/workspace/ren-b"), MSB_EINVAL,
	       "rename across mounts (/tmp to /workspace): MSB_EINVAL");
	ok(strstr(msb_error_last()->hint, "copy") != NULL,
	   "the hint says to copy instead (%s)", msb_error_last()->hint);
	wr("/workspace/ren-c", "c", 1, 0, 0644);
	is_int(msb_file_rename(sb, "/workspace/ren-c", "ren-d"), 0,
	       "rename to a relative path");
	msb_file_exists(&ex, sb, "/workspace/ren-d");
	is_int(ex, 1, "which is in the workdir");
}

static void test_copies(void)
{
	char dir[] = "/tmp/msbt-files-XXXXXX";
	char src[256], dst[256], nodir[300];
	size_t n = 3 * MiB + 17;
	uint8_t *p = pattern(n, 777);
	msb_file_stat st;

	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(src, sizeof src, "%s/src", dir);
	snprintf(dst, sizeof dst, "%s/dst", dir);
	snprintf(nodir, sizeof nodir, "%s/missing-dir/dst", dir);
	FILE *f = fopen(src, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f))
		bail_out("cannot write %s", src);
	chmod(src, 0640);

	is_int(msb_file_copy_in(sb, src, "/tmp/copied"), 0, "copy_in 3 MiB");
	msb_buf b;
	rd(&b, "/tmp/copied", 0);
	ok(buf_is(&b, p, n), "the sandbox has the same bytes");
	msb_buf_free(&b);
	msb_file_stat_path(&st, sb, "/tmp/copied");
	is_int(st.mode, 0640, "copy_in keeps the host file's permission bits");

	is_int(msb_file_copy_out(sb, "/tmp/copied", dst), 0, "copy_out back to the host");
	size_t len = 0;
	char *got = host_slurp(dst, &len);
	ok(got && len == n && !memcmp(got, p, n), "the host copy is identical");
	free(got);
	DIR *d = opendir(dir);
	struct dirent *e;
	int others = 0;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "src") && strcmp(e->d_name, "dst"))
			others++;
	if (d)
		closedir(d);
	is_int(others, 0, "no temporary file is left next to the destination");

	int rc = msb_file_copy_out(sb, "/tmp/copied", nodir);
	is_int(rc, MSB_ENOTFOUND, "copy_out into a missing host directory: MSB_ENOTFOUND");
	ok(strstr(msb_error_last()->message, "missing-dir") != NULL &&
	   msb_error_last()->hint[0], "the error names the path and has a hint (%s)",
	   msb_error_last()->message);
	is_int(msb_file_copy_out(sb, "/tmp/nope", dst), MSB_ENOTFOUND,
	       "copy_out of a missing sandbox file: MSB_ENOTFOUND");
	got = host_slurp(dst, &len);
	ok(got && len == n, "a failed copy_out leaves the destination alone");
	free(got);
	is_int(msb_file_copy_out(sb, "/tmp", dst), MSB_EINVAL,
	       "copy_out of a directory: MSB_EINVAL");
	is_int(msb_file_copy_out(sb, "/tmp/copied", dir), MSB_EINVAL,
	       "copy_out onto a host directory: MSB_EINVAL");
	others = 0;
	d = opendir(dir);
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "src") && strcmp(e->d_name, "dst"))
			others++;
	if (d)
		closedir(d);
	is_int(others, 0, "failed copies leave no temporary file");

	is_int(msb_file_copy_in(sb, dir, "/tmp/dir"), MSB_EINVAL,
	       "copy_in of a host directory: MSB_EINVAL");
	char fifo[300];
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	mkfifo(fifo, 0600);
	uint64_t t0 = msbt_now_ms();
	is_int(msb_file_copy_in(sb, fifo, "/tmp/fifo-in"), MSB_EINVAL,
	       "copy_in of a host FIFO: MSB_EINVAL");
	ok(msbt_now_ms() - t0 < 2000, "without hanging");
	unlink(fifo);
	is_int(msb_file_copy_in(sb, "/nonexistent/msb", "/tmp/x"), MSB_ENOTFOUND,
	       "copy_in of a missing host file: MSB_ENOTFOUND");

	unlink(src);
	unlink(dst);
	rmdir(dir);
	free(p);
}

/* No byte of a host file shows up in what the sandbox returned. */
static void test_escapes(void)
{
	msb_buf b;
	int rc;
	size_t hlen = 0;
	char *host_shadow = host_slurp("/etc/shadow", &hlen);
	char *host_passwd = host_slurp("/etc/passwd", NULL);
	char *sb_passwd = sh("cat /etc/passwd", NULL);

	sh_ok("ln -s /etc/shadow /tmp/shadow && "
	      "ln -s ../../../../../../../etc/passwd /tmp/up && "
	      "mkdir -p /workspace/a/b && ln -s ../../../../../../../.. /workspace/a/b/root");

	rc = rd(&b, "/tmp/shadow", 0);
	ok(rc != 0 || !host_shadow || hlen == 0 ||
	   !(b.len == hlen && !memcmp(b.ptr, host_shadow, hlen)),
	   "a planted symlink to /etc/shadow does not give the host's (rc %d)", rc);
	is_int(rc, MSB_ENOTFOUND, "the sandbox has no /etc/shadow: MSB_ENOTFOUND");
	msb_buf_free(&b);

	rc = rd(&b, "/tmp/up", 0);
	is_int(rc, 0, "a symlink to ../../../../etc/passwd resolves in the sandbox");
	ok(rc == 0 && b.len == strlen(sb_passwd) && !memcmp(b.ptr, sb_passwd, b.len),
	   "to the sandbox's own /etc/passwd");
	ok(!host_passwd || strcmp((char *)(b.ptr ? b.ptr : (uint8_t *)""), host_passwd),
	   "not the host's");
	msb_buf_free(&b);

	rc = rd(&b, "/../../../../../etc/passwd", 0);
	ok(rc == 0 && b.len == strlen(sb_passwd) && !memcmp(b.ptr, sb_passwd, b.len),
	   "/../../../../../etc/passwd is the sandbox's");
	msb_buf_free(&b);
	rc = rd(&b, "../../../../../../etc/passwd", 0);
	ok(rc == 0 && b.len == strlen(sb_passwd) && !memcmp(b.ptr, sb_passwd, b.len),
	   "a relative ../../../../etc/passwd is the sandbox's");
	msb_buf_free(&b);
	rc = rd(&b, "/workspace/a/b/root/etc/passwd", 0);
	ok(rc == 0 && b.len == strlen(sb_passwd) && !memcmp(b.ptr, sb_passwd, b.len),
	   "through a symlink to ../../../.. it is still the sandbox's");
	msb_buf_free(&b);

	/* Writes through .. land inside the sandbox. */
	char host_marker[128];
	snprintf(host_marker, sizeof host_marker, "/tmp/msbt-dotdot-%d", (int)getpid());
	unlink(host_marker);
	char path[256];
	snprintf(path, sizeof path, "/tmp/../../../..%s", host_marker);
	is_int(wr(path, "in", 2, 0, 0644), 0, "write through /tmp/../../..");
	ok(access(host_marker, F_OK) != 0, "nothing appeared on the host at %s", host_marker);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "cat %s", host_marker);
	char *c = sh(cmd, NULL);
	is_str(c, "in", "the file is in the sandbox's /tmp");
	free(c);
	unlink(host_marker);

	/* A symlink to a host-looking absolute path, written through. */
	sh_ok("ln -s /etc/msbt-evil /tmp/evil");
	rc = msb_file_write(sb, "/tmp/evil", "x", 1, 0, 0644);
	ok(rc == MSB_EPERM, "writing through a symlink to /etc hits the sandbox's "
	   "read-only /etc (%d)", rc);
	ok(access("/etc/msbt-evil", F_OK) != 0, "and the host's /etc is untouched");

	/* Symlink loops end with an error, not a spin. */
	sh_ok("ln -s loop2 /tmp/loop1 && ln -s loop1 /tmp/loop2");
	uint64_t t0 = msbt_now_ms();
	rc = rd(&b, "/tmp/loop1", 0);
	ok(rc == MSB_EINVAL && msbt_now_ms() - t0 < 2000,
	   "a symlink loop: MSB_EINVAL, quickly (%d)", rc);
	msb_buf_free(&b);
	rc = msb_file_write(sb, "/tmp/loop1/x", "x", 1, 0, 0644);
	is_int(rc, MSB_EINVAL, "writing under a symlink loop: MSB_EINVAL");

	free(host_shadow);
	free(host_passwd);
	free(sb_passwd);
}

static void test_proc_and_devices(void)
{
	msb_buf b;
	int rc, refused = 0, leaked = 0;
	char path[64];

	for (int fd = 0; fd <= 10; fd++) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		rc = rd(&b, path, 0);
		if (rc != 0)
			refused++;
		else
			leaked++;
		msb_buf_free(&b);
		rc = msb_file_write(sb, path, "x", 1, 0, 0644);
		if (rc == 0)
			leaked++;
	}
	is_int(refused, 11, "/proc/self/fd/0 .. 10 are refused for reading");
	is_int(leaked, 0, "no read or write through /proc/self/fd succeeds");
	static const char *const procs[] = {
		"/proc/self/environ", "/proc/self/mem", "/proc/1/environ",
		"/proc/self/cmdline", "/proc/self/root/etc/passwd",
		"/proc/1/cwd/rel.txt", "/proc/self/status",
	};
	for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++) {
		rc = rd(&b, procs[i], 0);
		/* /proc/self/root and cwd are plain paths once resolved by
		 * text: they may give the sandbox's own files. */
		if (strstr(procs[i], "root/") || strstr(procs[i], "cwd/")) {
			char *want = sh(strstr(procs[i], "root/") ? "cat /etc/passwd" :
					"cat /workspace/rel.txt", NULL);
			ok(rc != 0 || (b.len == strlen(want) && !memcmp(b.ptr, want, b.len)),
			   "%s is refused or the sandbox's own file (%d)", procs[i], rc);
			free(want);
		} else {
			ok(rc != 0, "%s is refused (%d)", procs[i], rc);
		}
		msb_buf_free(&b);
	}
	sh_ok("ln -s /proc/self/fd /tmp/fds && ln -s /proc/1 /tmp/agentproc");
	int any = 0;
	for (int fd = 0; fd <= 10; fd++) {
		snprintf(path, sizeof path, "/tmp/fds/%d", fd);
		if (rd(&b, path, 0) == 0)
			any++;
		msb_buf_free(&b);
	}
	is_int(any, 0, "a planted symlink to /proc/self/fd reaches no fd");
	ok(rd(&b, "/tmp/agentproc/environ", 0) != 0, "nor /proc/1/environ through a link");
	msb_buf_free(&b);

	static const char *const devs[] = {"/dev/zero", "/dev/urandom", "/dev/random",
					   "/dev/null", "/dev/tty", "/dev/full"};
	for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
		uint64_t t0 = msbt_now_ms();
		rc = rd(&b, devs[i], 0);
		ok(rc == MSB_EINVAL && msbt_now_ms() - t0 < 2000,
		   "reading %s is refused quickly (%d)", devs[i], rc);
		msb_buf_free(&b);
	}
	rc = msb_file_write(sb, "/dev/null", "x", 1, 0, 0644);
	is_int(rc, MSB_EINVAL, "writing /dev/null is refused (not a regular file)");

	/* FIFOs: never a hang. */
	sh_ok("mkfifo /tmp/fifo");
	uint64_t t0 = msbt_now_ms();
	rc = rd(&b, "/tmp/fifo", 0);
	ok(rc == MSB_EINVAL && msbt_now_ms() - t0 < 2000,
	   "reading a FIFO fails quickly (%d)", rc);
	ok(strstr(msb_error_last()->message, "FIFO") != NULL, "saying it is a FIFO (%s)",
	   msb_error_last()->message);
	msb_buf_free(&b);
	t0 = msbt_now_ms();
	rc = msb_file_write(sb, "/tmp/fifo", "x", 1, 0, 0644);
	ok(rc == MSB_EINVAL && msbt_now_ms() - t0 < 2000,
	   "writing a FIFO fails quickly (%d)", rc);
	t0 = msbt_now_ms();
	rc = msb_file_write(sb, "/tmp/fifo", "x", 1, MSB_WRITE_APPEND, 0644);
	ok(rc == MSB_EINVAL && msbt_now_ms() - t0 < 2000,
	   "appending to a FIFO fails quickly (%d)", rc);
	/* with a reader waiting on the other end */
	msb_process *p = NULL;
	msb_command_options co = MSB_COMMAND_OPTIONS_INIT;
	co.argv = ARGV("sh", "-c", "exec cat /tmp/fifo");
	if (msb_process_start(&p, sb, &co) == 0) {
		usleep(200 * 1000);
		t0 = msbt_now_ms();
		rc = msb_file_write(sb, "/tmp/fifo", "x", 1, 0, 0644);
		ok(rc == MSB_EINVAL && msbt_now_ms() - t0 < 2000,
		   "writing a FIFO with a reader is refused too (%d)", rc);
		msb_process_signal(p, 9);
		msb_process_free(p);
	} else {
		skip(1, "msb_process_start failed");
	}
	sh_ok("ln -s /dev/zero /tmp/zero");
	rc = rd(&b, "/tmp/zero", 0);
	is_int(rc, MSB_EINVAL, "a symlink to /dev/zero is refused");
	msb_buf_free(&b);
	is_int(rd(&b, "/tmp", 0), MSB_EINVAL, "reading a directory: MSB_EINVAL");
	is_int(msb_file_write(sb, "/tmp", "x", 1, 0, 0644), MSB_EINVAL,
	       "writing a directory: MSB_EINVAL");
	is_int(msb_file_write(sb, "/", "x", 1, 0, 0644), MSB_EINVAL,
	       "writing / : MSB_EINVAL");
}

static void test_caps(void)
{
	msb_buf b;
	struct stream_st s;
	uint8_t *p = pattern(MiB, 5);

	wr("/tmp/1m", p, MiB, 0, 0644);
	is_int(rd(&b, "/tmp/1m", 1000), MSB_ETOOBIG,
	       "a file larger than max_bytes: MSB_ETOOBIG");
	ok(b.ptr == NULL && b.len == 0, "and no buffer");
	ok(msb_error_last()->hint[0] != 0, "with a hint");
	is_int(rd(&b, "/tmp/1m", MiB), 0, "max_bytes equal to the size is fine");
	ok(buf_is(&b, p, MiB), "and gives the content");
	msb_buf_free(&b);
	memset(&s, 0, sizeof s);
	is_int(msb_file_read_stream(sb, "/tmp/1m", 1000, stream_cb, &s), MSB_ETOOBIG,
	       "a stream past max_bytes: MSB_ETOOBIG");
	is_int(s.total, 0, "before any data");
	free(p);

	/* A full disk. */
	msb_sandbox_options o = msbt_options();
	o.disk_bytes = 4 * MiB;
	msb_sandbox *small = msbt_start(&o);
	if (!small) {
		ok(0, "start a sandbox with a 4 MiB disk");
		return;
	}
	size_t n = 8 * MiB;
	p = pattern(n, 9);
	int rc = msb_file_write(small, "/tmp/huge", p, n, 0, 0644);
	is_int(rc, MSB_EIO, "writing 8 MiB on a 4 MiB disk: MSB_EIO");
	ok(strstr(msb_error_last()->hint, "disk") != NULL,
	   "the hint is about the disk size (%s)", msb_error_last()->hint);
	int ex = 1;
	is_int(msb_file_exists(&ex, small, "/tmp/huge"), 0, "the sandbox still answers");
	is_int(ex, 0, "the partial file was removed");
	is_int(msb_file_write(small, "/tmp/small", "ok", 2, 0, 0644), 0,
	       "and small writes work again");
	rc = msb_file_copy_in(small, "/proc/self/exe", "/tmp/exe");
	ok(rc == 0 || rc == MSB_EIO, "copy_in of a big host file onto a small disk "
	   "works or fails with MSB_EIO (%d)", rc);
	free(p);
	msb_sandbox_free(small);
}

/* Nothing in dir but the names given (NULL-terminated). */
static int dir_only(const char *dir, const char *const *keep)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int others = 0;

	while (d && (e = readdir(d))) {
		int k = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
		for (const char *const *n = keep; *n && !k; n++)
			k = !strcmp(e->d_name, *n);
		if (!k) {
			diag("left on the host: %s/%s", dir, e->d_name);
			others++;
		}
	}
	if (d)
		closedir(d);
	return d && others == 0;
}

static long long free_mib(const char *dir)
{
	struct statvfs v;
	return statvfs(dir, &v) < 0 ? -1 :
	       (long long)((unsigned long long)v.f_bavail * v.f_frsize >> 20);
}

/* A sparse file's apparent size costs the sandbox nothing: a copy out is
 * capped (by default at the disk size) and keeps holes. */
static void test_copy_out_caps(void)
{
	char dir[] = "/tmp/msbt-copyout-XXXXXX", dst[256];
	msb_buf b, h;
	struct stat st;
	long long before, after;
	int rc;

	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(dst, sizeof dst, "%s/big", dir);
	ok(sh_ok("truncate -s 100G /tmp/big"), "inside: truncate -s 100G /tmp/big");

	before = free_mib(dir);
	rc = msb_file_copy_out(sb, "/tmp/big", dst);
	after = free_mib(dir);
	is_int(rc, MSB_ETOOBIG, "copy_out of the 100G sparse file: MSB_ETOOBIG");
	ok(strstr(msb_error_last()->message, "cap of 536870912 bytes") != NULL,
	   "the message names the cap, the disk size (%s)", msb_error_last()->message);
	ok(strstr(msb_error_last()->hint, "msb_file_copy_out_capped") &&
	   strstr(msb_error_last()->hint, "--max-size"),
	   "the hint says how to raise it (%s)", msb_error_last()->hint);
	ok(dir_only(dir, (const char *const[]){ NULL }), "nothing is left on the host");
	ok(before >= 0 && after >= before - 256,
	   "the host's free space is unchanged (%lld MiB before, %lld after)",
	   before, after);

	rc = msb_file_copy_out_capped(sb, "/tmp/big", dst, 1ll << 30);
	ok(rc == MSB_ETOOBIG && strstr(msb_error_last()->message, "1073741824"),
	   "copy_out_capped under 1 GiB: MSB_ETOOBIG naming that cap (%s)",
	   msb_error_last()->message);
	is_int(msb_file_copy_out_capped(sb, "/tmp/big", dst, -1), MSB_EINVAL,
	       "a negative cap: MSB_EINVAL");
	is_int(msb_file_copy_out_capped(NULL, "/tmp/big", dst, 0), MSB_EINVAL,
	       "copy_out_capped: NULL sandbox");
	ok(dir_only(dir, (const char *const[]){ NULL }), "still nothing on the host");

	rc = rd(&b, "/tmp/big", 0);
	ok(rc == MSB_ETOOBIG && strstr(msb_error_last()->hint, "max_bytes"),
	   "msb_file_read of it under the default cap: MSB_ETOOBIG, the hint "
	   "names max_bytes (%s)", msb_error_last()->hint);
	rc = rd(&b, "/tmp/big", MiB);
	ok(rc == MSB_ETOOBIG && strstr(msb_error_last()->message, "1048576"),
	   "msb_file_read with a 1 MiB cap: MSB_ETOOBIG naming it (%s)",
	   msb_error_last()->message);
	sh_ok("rm -f /tmp/big");

	/* 5 MiB with 1 MiB of data in the middle: the holes come out. */
	uint8_t *p = pattern(MiB, 55), *want = calloc(1, 5 * MiB);
	if (!want)
		bail_out("out of memory");
	memcpy(want + 2 * MiB, p, MiB);
	ok(wr("/tmp/data", p, MiB, 0, 0644) == 0 &&
	   sh_ok("truncate -s 5M /tmp/sparse && dd if=/tmp/data of=/tmp/sparse "
		 "bs=1M seek=2 conv=notrunc 2>/dev/null && rm /tmp/data"),
	   "inside: a 5 MiB sparse file with 1 MiB of data");
	snprintf(dst, sizeof dst, "%s/sparse", dir);
	is_int(msb_file_copy_out_capped(sb, "/tmp/sparse", dst, 10 * MiB), 0,
	       "copy_out_capped under 10 MiB");
	h.ptr = (uint8_t *)host_slurp(dst, &h.len);
	ok(h.ptr && buf_is(&h, want, 5 * MiB), "the host copy has the same 5 MiB");
	free(h.ptr);
	free(want);
	free(p);
	if (stat(dst, &st) < 0)
		memset(&st, 0, sizeof st);
	ok(st.st_size == 5 * MiB &&
	   st.st_blocks * 512 >= MiB && st.st_blocks * 512 <= MiB + 128 * 1024,
	   "and is sparse on the host (%lld bytes allocated)",
	   (long long)st.st_blocks * 512);
	unlink(dst);
	is_int(msb_file_copy_out_capped(sb, "/tmp/sparse", dst, 4 * MiB),
	       MSB_ETOOBIG, "under a 4 MiB cap: MSB_ETOOBIG (apparent size counts)");
	ok(dir_only(dir, (const char *const[]){ NULL }), "and nothing on the host");
	sh_ok("rm -f /tmp/sparse");
	rmdir(dir);
}

static void test_bad_inputs(void)
{
	msb_buf b;
	msb_file_stat st;
	msb_dir_list *l;
	int ex;

	is_int(msb_file_read(&b, NULL, "/tmp/t.txt", 0), MSB_EINVAL, "read: NULL sandbox");
	is_int(msb_file_read(NULL, sb, "/tmp/t.txt", 0), MSB_EINVAL, "read: NULL out");
	is_int(msb_file_read(&b, sb, NULL, 0), MSB_EINVAL, "read: NULL path");
	is_int(msb_file_read(&b, sb, "", 0), MSB_EINVAL, "read: empty path");
	is_int(msb_file_read(&b, sb, "/tmp/t.txt", -1), MSB_EINVAL, "read: negative cap");
	is_int(msb_file_read(&b, sb, "/tmp/\xff\xfe", 0), MSB_ENOTFOUND,
	       "read: a path that is not UTF-8 is carried (tests/api/bytes.c)");
	is_int(msb_file_read_stream(sb, "/tmp/t.txt", 0, NULL, NULL), MSB_EINVAL,
	       "read_stream: NULL callback");
	is_int(msb_file_read_stream(sb, "/tmp/t.txt", -5, stream_cb, NULL), MSB_EINVAL,
	       "read_stream: negative cap");
	is_int(msb_file_write(sb, "/tmp/w", NULL, 3, 0, 0644), MSB_EINVAL,
	       "write: NULL data with a length");
	is_int(msb_file_write(sb, "/tmp/w", "x", 1, 3, 0644), MSB_EINVAL,
	       "write: flags out of range");
	is_int(msb_file_write(sb, "/tmp/w", "x", 1, -1, 0644), MSB_EINVAL,
	       "write: negative flags");
	is_int(msb_file_write(sb, "/tmp/w", "x", 1, 0, 010000), MSB_EINVAL,
	       "write: mode out of range");
	is_int(msb_file_write(NULL, "/tmp/w", "x", 1, 0, 0644), MSB_EINVAL,
	       "write: NULL sandbox");
	is_int(msb_file_stat_path(NULL, sb, "/tmp"), MSB_EINVAL, "stat: NULL out");
	is_int(msb_file_stat_path(&st, sb, ""), MSB_EINVAL, "stat: empty path");
	is_int(msb_file_exists(NULL, sb, "/tmp"), MSB_EINVAL, "exists: NULL out");
	is_int(msb_file_exists(&ex, NULL, "/tmp"), MSB_EINVAL, "exists: NULL sandbox");
	is_int(msb_file_list(NULL, sb, "/tmp"), MSB_EINVAL, "list: NULL out");
	is_int(msb_file_list(&l, sb, NULL), MSB_EINVAL, "list: NULL path");
	is_int(msb_file_mkdir(sb, "/tmp/m", 070000, 0), MSB_EINVAL, "mkdir: bad mode");
	is_int(msb_file_mkdir(sb, NULL, 0755, 0), MSB_EINVAL, "mkdir: NULL path");
	is_int(msb_file_remove(NULL, "/tmp/x", 0), MSB_EINVAL, "remove: NULL sandbox");
	is_int(msb_file_rename(sb, "/tmp/t.txt", ""), MSB_EINVAL, "rename: empty to");
	is_int(msb_file_rename(sb, NULL, "/tmp/x"), MSB_EINVAL, "rename: NULL from");
	is_int(msb_file_copy_in(sb, NULL, "/tmp/x"), MSB_EINVAL, "copy_in: NULL host path");
	is_int(msb_file_copy_out(sb, "/tmp/t.txt", ""), MSB_EINVAL,
	       "copy_out: empty host path");
	char longp[5000];
	memset(longp, 'a', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = 0;
	is_int(msb_file_read(&b, sb, longp, 0), MSB_EINVAL, "read: a path over PATH_MAX");
	longp[300] = 0;
	is_int(msb_file_read(&b, sb, longp, 0), MSB_EINVAL,
	       "read: a component over NAME_MAX");
	msb_buf_free(NULL);
	ok(1, "msb_buf_free(NULL) and msb_dir_list_free(NULL) are no-ops");

	/* A stopped sandbox. */
	msb_sandbox *dead = NULL;
	msb_sandbox_options o = msbt_options();
	if (msb_sandbox_create(&dead, &o) == 0) {
		is_int(msb_file_read(&b, dead, "/tmp/t.txt", 0), MSB_ESTATE,
		       "a sandbox that was not started: MSB_ESTATE");
		msb_sandbox_free(dead);
	} else {
		skip(1, "cannot create a sandbox");
	}
}

/* Several threads reading and writing big files at once, while another
 * one asks small questions: everything is right and nothing waits long. */
struct worker {
	int index;
	int ok;
	uint64_t max_ms;
};

static void *rw_worker(void *arg)
{
	struct worker *w = arg;
	char path[64];
	size_t n = 8 * MiB + (size_t)w->index * 1000;
	uint8_t *p = pattern(n, 100 + (uint32_t)w->index);
	msb_buf b;

	snprintf(path, sizeof path, "/tmp/conc-%d", w->index);
	w->ok = 1;
	for (int round = 0; round < 3 && w->ok; round++) {
		if (msb_file_write(sb, path, p, n, 0, 0644) ||
		    msb_file_read(&b, sb, path, 0) || !buf_is(&b, p, n))
			w->ok = 0;
		msb_buf_free(&b);
	}
	free(p);
	return NULL;
}

static void *small_worker(void *arg)
{
	struct worker *w = arg;
	int ex;

	w->ok = 1;
	for (int i = 0; i < 50; i++) {
		uint64_t t0 = msbt_now_ms();
		if (msb_file_exists(&ex, sb, "/tmp/t.txt") || !ex)
			w->ok = 0;
		uint64_t dt = msbt_now_ms() - t0;
		if (dt > w->max_ms)
			w->max_ms = dt;
	}
	return NULL;
}

static void test_concurrency(void)
{
	pthread_t t[4];
	struct worker w[4];

	memset(w, 0, sizeof w);
	for (int i = 0; i < 4; i++) {
		w[i].index = i;
		pthread_create(&t[i], NULL, i < 3 ? rw_worker : small_worker, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ok(w[0].ok && w[1].ok && w[2].ok,
	   "three threads writing and reading 8 MiB files at once all get their bytes");
	ok(w[3].ok, "small requests meanwhile are answered correctly");
	ok(w[3].max_ms < 2000, "and none waits long (max %llu ms)",
	   (unsigned long long)w[3].max_ms);
}

int main(void)
{
	msbt_watchdog(240);
	msbt_require_sandboxes();
	sb = msbt_start(NULL);
	if (!sb)
		bail_out("cannot start a sandbox");

	test_round_trips();
	test_stream();
	test_flags_modes();
	test_stat_exists();
	test_list();
	test_mkdir_remove_rename();
	test_copies();
	test_escapes();
	test_proc_and_devices();
	test_caps();
	test_copy_out_caps();
	test_concurrency();
	test_bad_inputs();

	msb_sandbox_free(sb);
	return done_testing();
}
