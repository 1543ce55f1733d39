/*
 * units.c - the CLI's parsers of sizes and durations (see units.h). They
 * read what users type, so they are fuzzed (tests/fuzz/fuzz_units.c).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

/* "512", "256K", "256M", "1G", "1.5G", "64MiB" -> bytes; -1 if bad. */
int64_t parse_size(const char *s)
{
	char *end;
	double v;
	double mul = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || isnan(v))
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1024.0; end++; break;
	case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
	case 'b': case 'B': case '\0': break;
	default: return -1;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v * mul > 9.0e18)
		return -1;
	return (int64_t)(v * mul);
}

/* "10s", "500ms", "2m", "1h", "3" (seconds) -> milliseconds; -1 if bad. */
int64_t parse_duration(const char *s)
{
	char *end;
	double v;
	double mul = 1000;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || isnan(v))
		return -1;
	if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "s") || !*end)
		mul = 1000;
	else if (!strcmp(end, "m"))
		mul = 60000;
	else if (!strcmp(end, "h"))
		mul = 3600000;
	else
		return -1;
	if (v * mul > 9.0e15)
		return -1;
	return (int64_t)(v * mul + 0.5);
}
