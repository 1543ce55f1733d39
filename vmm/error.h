/*
 * error.h - msb-vmm's error message: the VMM never exits or prints from
 * library code; a failing function returns -1 (or NULL) and leaves a
 * message here, and its caller adds context or reports it (main.c).
 *
 * Its own module so that the device unit tests and fuzzers, which link a
 * few of the VMM's files without kvm.c, link the real one too.
 */
#ifndef MSB_VMM_ERROR_H
#define MSB_VMM_ERROR_H

/* Set the thread-local message from fmt (with ": strerror(os_errno)"
 * appended when os_errno is not 0), set errno to os_errno; returns -1. */
int vmm_fail(int os_errno, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling thread's last message ("unknown error" if none was set). */
const char *vmm_error(void);

#endif
