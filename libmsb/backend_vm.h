/*
 * backend_vm.h - the vm backend (backend_vm.c): msb-agent as PID 1 of a
 * microVM that msb-vmm boots.
 */
#ifndef MSB_LIB_BACKEND_VM_H
#define MSB_LIB_BACKEND_VM_H

#include <limits.h>

#include "backend.h"

extern const struct msb_backend_ops msb_backend_vm;

/* What a microVM needs on this host. */
struct vm_files {
	char vmm[PATH_MAX], agent[PATH_MAX], kernel[PATH_MAX], rootfs[PATH_MAX];
};

/* Find msb-vmm, the agent, the guest kernel and the root image (f may be
 * NULL: just check); 0 or an MSB_E* code with the error set. */
int msb_vm_find(struct vm_files *f);

#endif
