#!/bin/sh
# vm-lifecycle.sh - how a microVM sandbox ends, in the nested harness's L1
# (tests/nested/run --tap --vm -- vm-lifecycle.sh; part of make test-nested).
# TAP.  Every wait is bounded.
#
#  - the command's exit status comes back through `msb run --backend vm`;
#  - the owner's death ends the VM: SIGKILL the process that created the
#    sandbox, and its msb-vmm must be gone soon after (msb-vmm ends the VM
#    when the console's host end closes);
#  - a VM killed from outside (SIGKILL to msb-vmm) is reported as a failed
#    sandbox by the owner, not a hang;
#  - host volumes, which the vm backend cannot mount yet, are refused with
#    a hint, and untrusted code that asks for one fails closed;
#  - no msb-vmm is left behind.
set -u
bb() { busybox "$@"; }
n=0
fails=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi; }
# live msb-vmm processes (not zombies: L1's init reaps orphans late)
vmm_pids() {
	for p in $(bb pidof msb-vmm); do
		[ "$(bb cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" = Z ] || printf '%s ' "$p"
	done
}
# wait_gone PID SECONDS: 0 once /proc/PID is gone
wait_gone() {
	i=0
	while [ -d "/proc/$1" ] && [ "$(bb cat "/proc/$1/stat" 2>/dev/null | bb cut -d' ' -f3)" != Z ]; do
		[ $i -ge $(($2 * 10)) ] && return 1
		bb usleep 100000
		i=$((i + 1))
	done
	return 0
}
# wait_vmm SECONDS: print the pid of a running msb-vmm once there is one
wait_vmm() {
	i=0
	while [ -z "$(vmm_pids | bb tr -d ' ')" ]; do
		[ $i -ge $(($1 * 10)) ] && return 1
		bb usleep 100000
		i=$((i + 1))
	done
	set -- $(vmm_pids)
	echo "$1"
}

echo "1..9"
[ -z "$(vmm_pids | bb tr -d ' ')" ]; ok $? "no msb-vmm runs before the test"

msb run --backend vm -- sh -c 'exit 7' >/dev/null 2>&1
ok $([ $? = 7 ]; echo $?) "msb run --backend vm passes the command's exit status (7)"

# The owner dies: its VM must go.
msb run --backend vm -- sleep 300 >/dev/null 2>&1 &
owner=$!
vmm=$(wait_vmm 120)
ok $([ -n "$vmm" ]; echo $?) "a VM sandbox starts (msb-vmm pid ${vmm:-none})"
bb sleep 8   # let the guest come up and the command start
kill -9 "$owner"
wait "$owner" 2>/dev/null
if [ -n "$vmm" ] && wait_gone "$vmm" 20; then r=0; else r=1; fi
ok $r "SIGKILL of the owner ends its microVM within 20 s"

# The VM is killed under its owner: the owner fails, it does not hang.
msb run --backend vm -- sleep 300 >/tmp/vml.out 2>&1 &
owner=$!
vmm=$(wait_vmm 120)
bb sleep 8
[ -n "$vmm" ] && kill -9 "$vmm"
if wait_gone "$owner" 30; then r=0; else r=1; kill -9 "$owner" 2>/dev/null; fi
ok $r "SIGKILL of msb-vmm ends its owner's command within 30 s"
wait "$owner" 2>/dev/null
st=$?
ok $([ "$st" != 0 ]; echo $?) "... and the owner reports a failure (exit $st: $(bb tr '\n' ' ' </tmp/vml.out | bb cut -c1-160))"

# What the vm backend cannot do yet is refused up front, with a hint.
msb run --backend vm --volume /tmp:/mnt -- true >/tmp/vml.out 2>&1
st=$?
out=$(bb tr '\n' ' ' </tmp/vml.out)
ok $([ "$st" != 0 ] && bb grep -q 'host volumes' /tmp/vml.out && bb grep -q 'msb cp' /tmp/vml.out; echo $?) \
	"msb run --backend vm --volume fails naming host volumes, with a hint (exit $st: $(echo "$out" | bb cut -c1-200))"
msb run --trust untrusted --volume /tmp:/mnt -- true >/tmp/vml.out 2>&1
st=$?
ok $([ "$st" != 0 ] && bb grep -q 'host volumes' /tmp/vml.out; echo $?) \
	"untrusted code with a host volume fails closed (exit $st: $(bb tr '\n' ' ' </tmp/vml.out | bb cut -c1-200))"

bb sleep 1
left=$(vmm_pids | bb tr -d ' ')
ok $([ -z "$left" ]; echo $?) "no msb-vmm is left behind (${left:-none})"
[ "$fails" = 0 ]
