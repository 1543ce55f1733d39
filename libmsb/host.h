/*
 * host.h - what this host offers (host.c), for routing a sandbox to a
 * backend; msb_host_probe() is its public face.
 */
#ifndef MSB_LIB_HOST_H
#define MSB_LIB_HOST_H

#include <stddef.h>

/* 1 if this host's KVM can boot a standard guest; the reason goes to why
 * either way; *usable (may be NULL): /dev/kvm answers at all. */
int msb_kvm_check(int *usable, char *why, size_t n);
/* 1 if the vm backend can start here (KVM and the files); the reason goes
 * to why either way. Leaves the thread's error as it was. */
int msb_vm_ready(char *why, size_t n);

#endif
