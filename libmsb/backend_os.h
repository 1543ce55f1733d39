/*
 * backend_os.h - the os backend (backend_os.c): msb-agent on this host,
 * isolated by namespaces, seccomp and cgroups.
 */
#ifndef MSB_LIB_BACKEND_OS_H
#define MSB_LIB_BACKEND_OS_H

#include "backend.h"

extern const struct msb_backend_ops msb_backend_os;

#endif
