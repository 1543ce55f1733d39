/*
 * vm.h - msb-agent as /init of a microVM (vm.c): what only the vm backend
 * needs, from the first mounts to powering the VM off.
 */
#ifndef MSB_AGENT_VM_H
#define MSB_AGENT_VM_H

#include "base.h"
#include "config.h"

/* Are we /init of a microVM (PID 1 without a --fd)? */
int vm_detect(void);

/* Mount /dev, /proc, /sys and cgroup2, open the protocol channel as
 * *channel: the console /dev/hvc0, or for a detached VM (a MULTIPORT
 * console: *multiport set) port 1 once the host connected to it. */
int vm_early(int *channel, int *multiport, struct msb_wire_error *err);

/* The channel is raw now: tell the host it may send its HELLO. 0 or -1. */
int vm_greet(int channel);

/* Check and complete the configuration from the HELLO for a VM: no host
 * volumes, ports exactly when detached, the port helper's socketpair.
 * Returns 0 or -1 with *err. */
int vm_configure(struct agent_config *cfg, int multiport, struct msb_wire_error *err);

/* After the HELLO, make the root filesystem image (/dev/vda) the root. */
int vm_root(struct msb_wire_error *err);

/* End the VM (PID 1 must never exit); in the sandbox's own pid namespace
 * just _exit(status). */
void vm_power_off(int status) __attribute__((noreturn));

/* Stage 0 of a detached VM: open ports 1..nports on stage 1's requests
 * over `fd` until stage 1 hangs up. */
void vm_serve_ports(int fd, unsigned nports);

/* Stage 1: ask stage 0 over `helper` for port `port`, opened afresh
 * (O_RDWR | O_NONBLOCK | O_CLOEXEC): the fd, or -errno. */
int vm_port_request(int helper, unsigned port);

#endif
