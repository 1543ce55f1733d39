/*
 * backend.c - the list of backends: each one's table of operations, by
 * its msb_backend value (see backend.h for what adding one takes).
 */
#include <stddef.h>

#include "backend.h"
#include "backend_os.h"
#include "backend_vm.h"

static const struct msb_backend_ops *const backends[] = {
	&msb_backend_os,
	&msb_backend_vm,
};

const struct msb_backend_ops *msb_backend_get(msb_backend b)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++)
		if (backends[i]->id == b)
			return backends[i];
	return NULL;
}
