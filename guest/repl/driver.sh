# msb REPL driver for the shell (run as `bash -c <this>` by msb-agent, or
# `sh -c <this>` where bash is missing; it is written for both).
#
# Requests come on fd 3, responses go to fd 4, both framed as
#   <decimal length> "\n" <payload>
# A request's payload is the code; a response's is one JSON object with
# "status" ("ok", "error" when the code's last command exited non-zero, or
# "timeout") and, for an error, {"type":"ExitStatus","message":"exit status
# N"}; "value" is always empty. The code runs with `eval` in this very
# shell, so the working directory, variables, functions, options and traps
# persist between runs; `exit` (or a failing command under `set -e`) ends
# the shell, and the next run starts a fresh one.
#
# The code runs with fds 3 and 4 closed: the shell keeps its copies of them
# on close-on-exec descriptors meanwhile, so commands never inherit them.
# A timeout sends SIGINT: the running command is interrupted and the trap
# returns from the run (bash and dash alike). A loop inside a function the
# code defined only leaves that function, so the agent may have to kill the
# shell after its grace (the state is then lost).
__msb_run() {
	eval "$1"
}

__msb_int=0
__msb_len=
while :; do
	trap '' INT
	__msb_len=
	if ! IFS= command read -r __msb_len <&3; then
		break
	fi
	case $__msb_len in
	'' | *[!0-9]*) break ;;
	esac
	if [ "$__msb_len" -eq 0 ]; then
		__msb_code=
	elif [ -n "${BASH_VERSION-}" ]; then
		# read -N counts characters: bytes only in the C locale.
		__msb_lc=${LC_ALL-__msb_unset}
		LC_ALL=C
		IFS= command read -r -N "$__msb_len" __msb_code <&3
		if [ "$__msb_lc" = __msb_unset ]; then
			unset LC_ALL
		else
			LC_ALL=$__msb_lc
		fi
	else
		# $(...) drops trailing newlines: keep them behind a dot.
		__msb_code=$(command head -c "$__msb_len" <&3; command printf .)
		__msb_code=${__msb_code%.}
	fi
	__msb_int=0
	trap '__msb_int=1; return 130' INT
	__msb_run "$__msb_code" 3<&- 4<&-
	__msb_st=$?
	trap '' INT
	__msb_code=
	if [ "$__msb_int" = 1 ]; then
		__msb_out='{"status":"timeout","value":"","outputs":[],"error":{"type":"Interrupted","message":"interrupted (SIGINT: the timeout or msb_repl_interrupt)","traceback":""},"exit_code":'$__msb_st'}'
	elif [ "$__msb_st" -eq 0 ]; then
		__msb_out='{"status":"ok","value":"","outputs":[],"error":null,"exit_code":0}'
	else
		__msb_out='{"status":"error","value":"","outputs":[],"error":{"type":"ExitStatus","message":"exit status '$__msb_st'","traceback":""},"exit_code":'$__msb_st'}'
	fi
	command printf '%s\n%s' "${#__msb_out}" "$__msb_out" >&4 || break
done
