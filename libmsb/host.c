/*
 * host.c - what this host offers: user namespaces, cgroups, seccomp, KVM.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "backend_vm.h"
#include "error.h"
#include "host.h"

#define KVM_GET_API_VERSION_NR 0xAE00 /* _IO(KVMIO, 0x00) */

static long read_long(const char *path, long dflt)
{
	FILE *f = fopen(path, "re");
	long v = dflt;

	if (!f)
		return dflt;
	if (fscanf(f, "%ld", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

static int exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

static int cpu_has_flag(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[8192];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p, *save;

		if (strncmp(line, "flags", 5))
			continue;
		/* strtok_r: sandboxes are created from many threads at once
		 * (strtok's shared state made some see no "svm") */
		for (p = strtok_r(strchr(line, ':') ? strchr(line, ':') + 1 : line,
				  " \t\n", &save);
		     p; p = strtok_r(NULL, " \t\n", &save))
			if (!strcmp(p, flag))
				found = 1;
		break;
	}
	fclose(f);
	return found;
}

/* v2 delegation: our own cgroup directory is writable and offers memory
 * and pids controllers. */
static int v2_delegated(void)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096], path[4200];
	int ok = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s", line + 3);
		ok = access(path, W_OK) == 0;
		break;
	}
	fclose(f);
	return ok;
}

/*
 * Can this host's KVM boot a standard (unmodified Linux) guest?  Returns 1
 * if so; writes the reason either way to why.  *usable (if not NULL) says
 * whether /dev/kvm answers at all.  PVM (kvm_pvm) answers but runs only
 * paravirtualized guests, so it does not count.
 */
int msb_kvm_check(int *usable, char *why, size_t n)
{
	int fd, kvm = 0, ok = 0;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		kvm = ioctl(fd, KVM_GET_API_VERSION_NR, 0) == 12;
		close(fd);
	}
	if (!kvm) {
		snprintf(why, n, "/dev/kvm is missing or not usable by this "
			 "user");
	} else if (exists("/sys/module/kvm_pvm")) {
		snprintf(why, n, "KVM is the PVM hypervisor (kvm_pvm): it "
			 "cannot boot an unmodified Linux guest");
	} else if ((cpu_has_flag("vmx") && exists("/sys/module/kvm_intel")) ||
		   (cpu_has_flag("svm") && exists("/sys/module/kvm_amd"))) {
		ok = 1;
		snprintf(why, n, "hardware virtualization (%s) is available",
			 cpu_has_flag("vmx") ? "VT-x" : "AMD-V");
	} else {
		snprintf(why, n, "no hardware virtualization (vmx/svm) in "
			 "this CPU, or its KVM module is not loaded");
	}
	if (usable)
		*usable = kvm;
	return ok;
}

int msb_vm_ready(char *why, size_t n)
{
	struct msb_saved_error saved;
	char detail[128];
	int ok;

	if (!msb_kvm_check(NULL, detail, sizeof(detail))) {
		snprintf(why, n, "%s", detail);
		return 0;
	}
	msb_error_save(&saved);
	ok = msb_vm_find(NULL) == 0;
	if (!ok)
		snprintf(why, n, "%s (%s)", msb_error_last()->message,
			 msb_error_last()->hint);
	else
		snprintf(why, n, "%s", detail);
	msb_error_restore(&saved);
	return ok;
}

int msb_host_probe(msb_host_info *out)
{
	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass an msb_host_info with "
				"version set", "out is NULL");
	if (out->version == 0 || out->version > MSB_HOST_INFO_VERSION)
		return msb_fail(MSB_EVERSION, 0, "set version to "
				"MSB_HOST_INFO_VERSION",
				"unknown msb_host_info version %u", out->version);
	size_t size = out->version >= 2 ? sizeof(*out)
					: offsetof(msb_host_info, vm_ready);
	char vm_detail[sizeof(out->vm_detail)];
	int vm_ready;

	memset((char *)out + sizeof(out->version), 0,
	       size - sizeof(out->version));

	out->user_namespaces =
		read_long("/proc/sys/user/max_user_namespaces", 1) > 0 &&
		(geteuid() == 0 ||
		 read_long("/proc/sys/kernel/unprivileged_userns_clone", 1) != 0);

	if (exists("/sys/fs/cgroup/cgroup.controllers")) {
		out->cgroup_version = 2;
		out->cgroup_writable = geteuid() == 0 ?
			access("/sys/fs/cgroup", W_OK) == 0 : v2_delegated();
	} else if (exists("/sys/fs/cgroup/memory") ||
		   exists("/sys/fs/cgroup/pids")) {
		out->cgroup_version = 1;
		out->cgroup_hybrid = exists("/sys/fs/cgroup/unified");
		out->cgroup_writable = access("/sys/fs/cgroup/pids", W_OK) == 0 ||
				       access("/sys/fs/cgroup/memory", W_OK) == 0;
	}
	out->seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 &&
		       exists("/proc/sys/kernel/seccomp/actions_avail");

	out->kvm_standard_guest = msb_kvm_check(&out->kvm, out->kvm_detail,
					      sizeof(out->kvm_detail));
	vm_ready = msb_vm_ready(vm_detail, sizeof(vm_detail));
	out->auto_backend = vm_ready ? MSB_BACKEND_VM : MSB_BACKEND_OS;
	if (out->version >= 2) {
		out->vm_ready = vm_ready;
		memcpy(out->vm_detail, vm_detail, sizeof(vm_detail));
	}
	return msb_ok();
}
