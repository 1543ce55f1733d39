/* l2init.c - the smallest L2 init for the nested harness: proves that the
 * guest kernel booted by msb-vmm inside L1 reaches userspace.  It prints a
 * marker and the kernel release on the serial console, then resets the VM
 * (the guest command line carries reboot=k: the i8042 reset ends msb-vmm
 * with status 0).  Static; packed as /init of a gzip initramfs. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void)
{
	struct utsname u;
	char buf[512];
	mkdir("/dev", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	int fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY);
	if (fd < 0)
		fd = open("/dev/console", O_WRONLY | O_NOCTTY);
	uname(&u);
	int n = snprintf(buf, sizeof buf, "MSB-L2-INIT-OK %s %s %ld cpus\n",
			 u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN));
	if (fd >= 0 && n > 0)
		(void)!write(fd, buf, (size_t)n);
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}
