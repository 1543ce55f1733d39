/*
 * output.c - how msb reports to its caller (see output.h): libmsb's errors
 * with their hints, streamed output, JSON, enforcement warnings.  Nothing
 * here decides an exit status; the commands do, with output.h's names.
 */
#include <stdio.h>

#include "output.h"

const char prog[] = "msb";

void print_error(const char *what)
{
	const msb_error *e = msb_error_last();

	fprintf(stderr, "%s: %s: %s\n", prog, what, e->message);
	if (e->hint && e->hint[0])
		fprintf(stderr, "%s: hint: %s\n", prog, e->hint);
}

int stream_cb(int stream, const uint8_t *data, size_t len, void *p)
{
	FILE *f = stream == MSB_STREAM_STDOUT ? stdout : stderr;

	(void)p;
	fwrite(data, 1, len, f);
	fflush(f);
	return 0;
}

json_t *bytes_json(const msb_buf *b)
{
	json_t *s = json_stringn((const char *)b->ptr ? (const char *)b->ptr : "",
				 b->len);

	/* Not UTF-8: say so rather than guess an encoding. */
	return s ? s : json_pack("{s:s,s:I}", "binary", "not valid UTF-8",
				 "length", (json_int_t)b->len);
}

void print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(o);
}

void warn_enforcement(msb_sandbox *sb)
{
	static const struct { msb_limit l; const char *name; } limits[] = {
		{ MSB_LIMIT_MEMORY, "memory" }, { MSB_LIMIT_CPU, "cpu" },
		{ MSB_LIMIT_PIDS, "pids" },
	};

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		msb_enforcement e = msb_sandbox_enforcement(sb, limits[i].l);

		if (e != MSB_ENFORCE_CGROUP)
			fprintf(stderr, "%s: warning: the %s limit is %s "
				"(no usable cgroup; run as root or with a "
				"delegated cgroup for full enforcement)\n",
				prog, limits[i].name,
				e == MSB_ENFORCE_RLIMIT ? "enforced by rlimits only"
							: "not enforced");
	}
}
