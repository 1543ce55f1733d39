/*
 * units.h - sizes and durations as users type them (units.c).
 */
#ifndef MSB_CLI_UNITS_H
#define MSB_CLI_UNITS_H

#include <stdint.h>

/* "512", "256K", "256M", "1G", "1.5G", "64MiB" -> bytes; -1 if bad. */
int64_t parse_size(const char *s);

/* "10s", "500ms", "2m", "1h", "3" (seconds) -> milliseconds; -1 if bad. */
int64_t parse_duration(const char *s);

#endif
