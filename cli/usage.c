/*
 * usage.c - msb's help text (`msb --help`, and after every usage error).
 * One text for all the commands, so that it reads as one page.
 */
#include <stdio.h>

#include "output.h"
#include "usage.h"

void usage(FILE *f)
{
	fprintf(f,
"usage: msb run [options] [--] CMD [ARGS...]     a command in a fresh sandbox\n"
"       msb create [options] NAME                 a named sandbox that stays\n"
"       msb exec [-i] [--env K=V] [--workdir DIR] [--timeout T] [--output-cap SIZE]\n"
"                [--json] NAME -- CMD...\n"
"       msb repl [--lang python|node|shell] [--context C] [--timeout T] [--json]\n"
"                NAME [CODE]                      (CODE from stdin if absent)\n"
"       msb cp HOST NAME:PATH | msb cp [--max-size SIZE] NAME:PATH HOST\n"
"       msb shell NAME [-- CMD ARGS...]           an interactive terminal\n"
"       msb ls [--json] | msb ps NAME\n"
"       msb stop [--grace 2s] NAME | msb kill NAME | msb rm [-f] NAME...\n"
"       msb info [--json] | msb version\n"
"\n"
"msb run runs one command in a fresh sandbox and exits with its status.\n"
"  --backend os|vm|auto   isolation backend (default auto)\n"
"  --trust untrusted|trusted  how auto routes: untrusted code needs a microVM\n"
"                         (or fails), trusted code gets os (default: vm when\n"
"                         this host can run one, else os)\n"
"  --allow-fallback       let auto run untrusted code in os without a microVM\n"
"  --memory SIZE          memory limit, e.g. 256M, 1G (default 512M)\n"
"  --cpus N               CPU limit, fractions allowed (default 1)\n"
"  --pids N               process limit (default 512)\n"
"  --disk SIZE            size of the writable area /tmp, /workspace, /root\n"
"                         (default 512M)\n"
"  --timeout DURATION     kill the command after e.g. 10s, 500ms, 2m\n"
"                         (msb create: the sandbox's wall-time limit)\n"
"  --env KEY=VALUE        add to the environment (repeatable)\n"
"  --workdir DIR          working directory inside (default /workspace)\n"
"  --volume HOST:SANDBOX[:ro]  mount a host path (repeatable)\n"
"  --rootfs DIR           use DIR as the root filesystem instead of the\n"
"                         host's system directories\n"
"  --name NAME            sandbox name (default msb-XXXXXXXX)\n"
"  --hostname NAME        hostname inside, e.g. web-1 (default: the name,\n"
"                         cut to 63 characters)\n"
"  --output-cap SIZE      keep at most SIZE of stdout and of stderr (default\n"
"                         16M); what is cut is said on stderr (--json:\n"
"                         stdout_truncated, stderr_truncated)\n"
"  -i, --interactive      pass this process's stdin to the command\n"
"  --json                 print the whole result as JSON\n"
"  --max-size SIZE        msb cp: refuse to copy out a file larger than SIZE\n"
"                         (default: the sandbox's disk size, 512M)\n"
"\n"
"exit status: the command's; 128+N if killed by signal N (timeout: 137);\n"
"125 if the sandbox failed; 126 cannot execute; 127 not found; 2 usage.\n"
"msb repl: 0 ok, 1 the code failed, 124 timed out.\n"
"Named sandboxes live under $MSB_STATE_DIR (default $XDG_RUNTIME_DIR/msb,\n"
"/run/msb for root, else ~/.local/state/msb, else /tmp/msb-UID).\n");
}

int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return EXIT_USAGE;
}
