#!/bin/sh
# tests/nested/named-vm.sh - detached (named) sandboxes of the vm backend,
# end to end, inside the nested harness's L1 (busybox sh), with the root
# filesystem image attached as L1's /dev/vda (tests/nested/run --vm):
#
#   tests/nested/run --tap --vm --timeout 900 -- named-vm.sh   (make test-nested)
#
# Prints TAP; exits non-zero if a check failed.

export MSB_VM_ROOTFS=/dev/vda
n=0 failed=0
check() { # DESCRIPTION CMD...: ok when CMD succeeds
	desc=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; failed=$((failed + 1)); fi
}
vmm_pid() { msb ls --json | busybox tr -d ' \n' | busybox sed -n "s/.*\"name\":\"$1\"[^}]*\"pid\":\([0-9]*\).*/\1/p"; }
gone() { # PID: not running (gone, or a zombie nobody reaped yet)
	st=$(busybox sed 's/.*) //' /proc/$1/stat 2>/dev/null | busybox cut -c1)
	[ -z "$st" ] || [ "$st" = Z ]
}
wait_gone() { i=0; while ! gone "$1" && [ $i -lt 100 ]; do busybox sleep 0.1; i=$((i + 1)); done; gone "$1"; }

check "a non-detached vm sandbox still works" [ "$(msb run --backend vm -- echo plain)" = plain ]
check "msb create --backend vm demo" msb create --backend vm demo
pid=$(vmm_pid demo)
check "msb ls: demo running, backend vm, pid of msb-vmm" \
	sh -c "msb ls | grep -q '^demo  *running  *vm ' && [ \"\$(busybox head -c 7 /proc/$pid/cmdline)\" = msb-vmm ]"
check "the VM outlives its creator (msb-vmm reparented: ppid 1)" \
	[ "$(busybox sed 's/.*) . //' /proc/$pid/stat | busybox cut -d' ' -f1)" = 1 ]
check "msb exec" [ "$(msb exec demo -- sh -c 'echo hi')" = hi ]
msb repl demo --lang python 'x = 41' >/dev/null
check "REPL state persists across processes (42)" [ "$(msb repl demo --lang python 'x + 1')" = 42 ]

# Two clients at once: the first waits for what the second does.
msb exec demo -- sh -c 'i=0; while [ ! -e /tmp/flag ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo A' > /tmp/a.out &
a=$!
busybox sleep 1
check "a second client while the first one runs" msb exec demo -- touch /tmp/flag
wait $a
check "... and the first one finishes because of it" [ "$(cat /tmp/a.out)" = A ]

pids=
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	msb exec demo -- sh -c "sleep 1; echo n$i" > /tmp/e$i.out 2>&1 &
	pids="$pids $!"
done
bad=0
for p in $pids; do wait $p || bad=$((bad + 1)); done
good=0
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do [ "$(cat /tmp/e$i.out)" = "n$i" ] && good=$((good + 1)); done
check "12 clients at once (8 ports; the rest wait): all succeed with their own output" [ $((bad + 12 - good)) = 0 ]

msb exec demo -- sleep 100 &
k=$!
busybox sleep 2
kill -9 $k
wait $k 2>/dev/null
ok10=0
for i in 1 2 3 4 5 6 7 8 9 10; do msb exec demo -- true && ok10=$((ok10 + 1)); done
check "a client killed mid-command: the next 10 clients are served" [ $ok10 = 10 ]

check "msb stop demo" msb stop demo
check "... msb-vmm is gone" wait_gone "$pid"
check "... msb ls: stopped" sh -c "msb ls | grep -q '^demo  *stopped  *vm '"
check "... msb exec: not running" sh -c '! msb exec demo -- true 2>/dev/null'
check "msb rm demo" msb rm demo
check "... its state is gone" [ ! -e /run/msb/demo ]

check "msb create --backend vm k" msb create --backend vm k
kpid=$(vmm_pid k)
check "msb kill k" msb kill k
check "... msb-vmm is gone" wait_gone "$kpid"
check "... msb ls: stopped" sh -c "msb ls | grep -q '^k  *stopped  *vm '"
msb rm k

check "a wall-time limit of 3s (msb create --timeout 3s)" msb create --backend vm --timeout 3s w
wpid=$(vmm_pid w)
busybox sleep 6
check "... the VM ends by itself" wait_gone "$wpid"
check "... msb ls: exited" sh -c "msb ls | grep -q '^w  *exited  *vm '"
msb rm w

echo "1..$n"
[ $failed = 0 ]
