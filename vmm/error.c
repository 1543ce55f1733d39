/*
 * error.c - msb-vmm's error message (error.h): one thread-local buffer
 * that vmm_fail() fills and vmm_error() reads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static __thread char vmm_errbuf[512];

int vmm_fail(int os_errno, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(vmm_errbuf, sizeof vmm_errbuf, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (os_errno && (size_t)n < sizeof vmm_errbuf)
		snprintf(vmm_errbuf + n, sizeof vmm_errbuf - (size_t)n, ": %s",
			 strerror(os_errno));
	errno = os_errno;
	return -1;
}

const char *vmm_error(void)
{
	return vmm_errbuf[0] ? vmm_errbuf : "unknown error";
}
