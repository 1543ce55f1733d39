/*
 * seccomp_filter.h - the sandbox's seccomp filter (seccomp_filter.c).
 */
#ifndef MSB_AGENT_SECCOMP_FILTER_H
#define MSB_AGENT_SECCOMP_FILTER_H

#include "base.h"

/* Build the sandbox's seccomp filter with libseccomp and write it to fd as
 * a BPF program (stage 0); read such a program from fd and install it
 * (stage 1, no_new_privs set). Both return 0 or -1 with *err. */
int seccomp_export(int fd, struct msb_wire_error *err);
int seccomp_load_fd(int fd, struct msb_wire_error *err);

#endif
