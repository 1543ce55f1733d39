/*
 * clock.h - the one clock libmsb measures deadlines and uptime with.
 *
 * CLOCK_MONOTONIC in nanoseconds (common/proto.c's msb_clock_ns, which
 * the agent and the frame reader's deadlines use too), so that deadlines
 * survive changes of the wall clock.
 */
#ifndef MSB_LIB_CLOCK_H
#define MSB_LIB_CLOCK_H

#include <stdint.h>

#include "proto.h"

static inline uint64_t msb_now_ns(void)
{
	return msb_clock_ns(); /* common/proto.c: the agent's clock too */
}

#endif
