/*
 * metrics.c - what the sandbox uses, measured from inside: every process
 * in /proc (the sandbox's own pid namespace), and the writable tmpfs.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/statfs.h>

#include "base.h"
#include "client.h"
#include "metrics.h"
#include "mounts.h"

static uint64_t last_cpu_ns, last_sample_ns, started_ns;

void metrics_start(void)
{
	started_ns = last_sample_ns = agent_now_ns();
}

void op_metrics(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	uint64_t cpu_ticks = 0, rss_pages = 0, now = agent_now_ns(), cpu_ns, disk = 0;
	double pct = 0;
	unsigned pids = 0;
	struct statfs sfs;
	struct dirent *de;
	DIR *d = opendir("/proc");

	while (d && (de = readdir(d))) {
		char path[64], buf[1024], *p;
		unsigned long long ut, stt, cut, cst, rss;
		ssize_t n;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		/* The command name may hold spaces and ')': skip to the last ')'. */
		p = strrchr(buf, ')');
		if (!p)
			continue;
		/* fields from 3 on: state ppid pgrp session tty tpgid flags
		 * minflt cminflt majflt cmajflt utime stime cutime cstime
		 * priority nice threads itrealvalue starttime vsize rss */
		if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			   "%llu %llu %llu %llu %*d %*d %*d %*d %*u %*u %llu",
			   &ut, &stt, &cut, &cst, &rss) != 5)
			continue;
		pids++;
		/* A process's cutime/cstime hold its reaped children, which no
		 * longer appear on their own: nothing is counted twice. */
		cpu_ticks += ut + stt + cut + cst;
		rss_pages += rss;
	}
	if (d)
		closedir(d);
	if (statfs(AGENT_RW_TMP, &sfs) == 0)
		disk = (uint64_t)(sfs.f_blocks - sfs.f_bfree) * (uint64_t)sfs.f_bsize;
	cpu_ns = cpu_ticks * (1000000000ull / (uint64_t)(tick > 0 ? tick : 100));
	if (now > last_sample_ns && cpu_ns >= last_cpu_ns)
		pct = 100.0 * (double)(cpu_ns - last_cpu_ns) / (double)(now - last_sample_ns);
	last_cpu_ns = cpu_ns;
	last_sample_ns = now;
	/* uptime: since the sandbox started serving, whoever asks (a client
	 * of a detached sandbox may have connected much later) */
	client_reply(c, id, json_pack("{s:b,s:f,s:I,s:I,s:i,s:I,s:I}", "ok", 1,
				      "cpu_percent", pct,
				      "memory", (json_int_t)(rss_pages * (uint64_t)page),
				      "disk", (json_int_t)disk, "pids", pids,
				      "cpu_ns", (json_int_t)cpu_ns,
				      "uptime_ms", (json_int_t)((now - started_ns) / 1000000ull)));
}
