/*
 * info.c - msb info: what this host offers (user namespaces, cgroups,
 * seccomp, KVM) and which backend auto would pick, as text or JSON.
 */
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "info.h"
#include "output.h"
#include "usage.h"

int cmd_info(int argc, char **argv)
{
	msb_host_info hi = { .version = MSB_HOST_INFO_VERSION };
	int json = argc > 1 && !strcmp(argv[1], "--json");

	if (argc > 2 || (argc == 2 && !json))
		return bad_usage("%s", "info takes only --json");
	if (msb_host_probe(&hi)) {
		print_error("cannot probe this host");
		return EXIT_SANDBOX;
	}
	if (json) {
		json_t *o = json_pack(
			"{s:s,s:b,s:{s:i,s:b,s:b},s:b,s:{s:b,s:b,s:s},s:s,s:s}",
			"version", msb_version(),
			"user_namespaces", hi.user_namespaces,
			"cgroup", "version", hi.cgroup_version,
			"hybrid", hi.cgroup_hybrid,
			"writable", hi.cgroup_writable,
			"seccomp", hi.seccomp,
			"kvm", "present", hi.kvm,
			"standard_guest", hi.kvm_standard_guest,
			"detail", hi.kvm_detail,
			"auto_backend", msb_backend_name(hi.auto_backend),
			"vm_backend", hi.vm_ready ? "ready" : "not available");
		json_object_set_new(o, "vm_detail", json_string(hi.vm_detail));
		print_json(o);
		return 0;
	}
	printf("msb %s\n", msb_version());
	printf("user namespaces:  %s\n", hi.user_namespaces ? "yes" : "no");
	if (hi.cgroup_version == 0)
		printf("cgroups:          none found\n");
	else
		printf("cgroups:          v%d%s, %s\n", hi.cgroup_version,
		       hi.cgroup_hybrid ? " (hybrid: v1 controllers + v2 tree)" : "",
		       hi.cgroup_writable ? "usable for limits" :
		       "not writable here (limits fall back to rlimits)");
	printf("seccomp:          %s\n", hi.seccomp ? "yes" : "no");
	printf("kvm:              %s\n", hi.kvm ? "yes" : "no");
	printf("standard guest:   %s (%s)\n", hi.kvm_standard_guest ? "yes" : "no",
	       hi.kvm_detail);
	printf("vm backend:       %s (%s)\n", hi.vm_ready ? "ready" : "not available",
	       hi.vm_detail);
	printf("auto picks:       %s\n", msb_backend_name(hi.auto_backend));
	return 0;
}
