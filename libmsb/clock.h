/*
 * clock.h - the one clock libmsb measures deadlines and uptime with.
 *
 * Header-only: CLOCK_MONOTONIC in nanoseconds, so that deadlines survive
 * changes of the wall clock.
 */
#ifndef MSB_LIB_CLOCK_H
#define MSB_LIB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t msb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
