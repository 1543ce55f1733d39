/*
 * metrics.h - what the sandbox uses, measured from inside (metrics.c).
 */
#ifndef MSB_AGENT_METRICS_H
#define MSB_AGENT_METRICS_H

#include <stdint.h>

#include <jansson.h>

#include "loop.h"

/* Note the time the sandbox started serving (for the first cpu %). */
void metrics_start(void);

void op_metrics(struct agent *a, struct client *c, uint32_t id, const json_t *req);

#endif
