/*
 * fuzz_units.c - libFuzzer target for the CLI's parsers of what users
 * type (cli/units.c): any bytes give a size or a duration in range, or a
 * clean -1; never a crash, an overflow or an over-read.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t v;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	v = parse_size(s);
	if (v < -1 || v > (int64_t)9.0e18)
		__builtin_trap();
	v = parse_duration(s);
	if (v < -1 || v > (int64_t)9.0e15 + 1)
		__builtin_trap();
	free(s);
	return 0;
}
