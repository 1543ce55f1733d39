#!/bin/sh
# bench.sh - the microVM benchmarks that need a KVM which boots Linux, run
# inside the nested harness's L1 by `make bench` (tests/nested/run --vm
# --with-qemu -- bench.sh).  Side by side in one run, on the same L1:
#
#  (n1) msb-vmm against QEMU's microvm machine, both booting the guest
#       kernel (/usr/share/msb/vmlinux) and the same initramfs
#       (tests/nested/l2init.c) to its marker line MSB-L2-INIT-OK: the time
#       from the start of the process to the marker on its console;
#  (n2) the same, each until the process has ended (the guest resets);
#  (n3) a microVM sandbox's create -> agent ready (msb-bench's v1) against
#       (n1)'s QEMU;
#  and msb-bench --vm: a microVM sandbox against an os sandbox in L1
#  (create -> agent ready, command and REPL round trips, 64 MiB in and out
#  against cat through pipes, 10 concurrent microVMs).
#
# Under software emulation (L0 runs L1 in QEMU's TCG) absolute times mean
# little: read the ratios.  Times are taken from /proc/uptime (10 ms steps).
# N (default 5) runs each, interleaved; medians.
set -u
N=${N:-5}
K=/usr/share/msb/vmlinux
I=/usr/share/msb/nested/l2-initrd.gz
# reboot=t: the guest ends with a triple fault, which ends both (QEMU's
# microvm has no i8042, so reboot=k would leave it spinning after the
# marker); msb-vmm's status is then 80, which boot_once does not read.
APPEND="console=ttyS0 reboot=t panic=-1 quiet"
# Every boot is bounded (seconds); one that overruns counts as failed.
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
bb() { busybox "$@"; }
now() { bb cut -d' ' -f1 /proc/uptime | bb tr -d .; }   # centiseconds

msb_vmm() {
	bb timeout "$BOOT_TIMEOUT" msb-vmm --kernel "$K" --initrd "$I" --memory 256M --cpus 1 --cmdline "$APPEND"
}
qemu_microvm() {
	bb timeout "$BOOT_TIMEOUT" qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off -accel kvm -cpu host \
		-m 256M -smp 1 -nodefaults -no-user-config -nographic -no-reboot \
		-serial stdio -monitor none -kernel "$K" -initrd "$I" -append "$APPEND"
}

# "MARKER_MS END_MS" for one boot of $1, or "fail".
boot_once() {
	start=$(now)
	out=$("$1" 2>&1 </dev/null | while IFS= read -r line; do
		case $line in *MSB-L2-INIT-OK*) echo "$(now)" ;; esac
	done)
	end=$(now)
	# no marker, or the VM did not end before the timeout
	[ -n "$out" ] && [ $(( (end - start) / 100 )) -lt "$BOOT_TIMEOUT" ] || { echo fail; return; }
	echo "$(( (out - start) * 10 )) $(( (end - start) * 10 ))"
}

median() { printf '%s\n' "$@" | bb sort -n | bb sed -n "$(( ($# + 1) / 2 ))p"; }

command -v qemu-system-x86_64 >/dev/null || { echo "bench.sh: no QEMU in L1 (run with --with-qemu)"; exit 2; }
[ -c /dev/kvm ] || { echo "bench.sh: no /dev/kvm in L1"; exit 2; }

echo "nested benchmarks (L1 under QEMU TCG with emulated AMD-V), $N runs each, medians"
boot_once msb_vmm >/dev/null; boot_once qemu_microvm >/dev/null    # warm the page cache
vm_m=; vm_e=; q_m=; q_e=; fails=0
for i in $(bb seq 1 "$N"); do
	r=$(boot_once msb_vmm); [ "$r" = fail ] && fails=$((fails + 1)) || { vm_m="$vm_m ${r% *}"; vm_e="$vm_e ${r#* }"; }
	r=$(boot_once qemu_microvm); [ "$r" = fail ] && fails=$((fails + 1)) || { q_m="$q_m ${r% *}"; q_e="$q_e ${r#* }"; }
done
[ -n "$vm_m" ] && [ -n "$q_m" ] || { echo "bench.sh: the boots failed"; exit 1; }
# shellcheck disable=SC2086
a=$(median $vm_m); b=$(median $q_m); c=$(median $vm_e); d=$(median $q_e)
printf '%-36s msb-vmm %6d ms | qemu microvm %6d ms | ratio %s\n' \
	"(n1) start -> init's marker" "$a" "$b" "$(bb awk "BEGIN { printf \"%.2fx\", $a / $b }")"
printf '%-36s msb-vmm %6d ms | qemu microvm %6d ms | ratio %s\n' \
	"(n2) start -> the VM has ended" "$c" "$d" "$(bb awk "BEGIN { printf \"%.2fx\", $c / $d }")"
[ "$fails" = 0 ] || echo "($fails boots failed and were left out)"

# The os sandboxes get the microVMs' image as their root (L1 has only
# busybox): the same python3 and the same /bin/true on both sides.
bb mkdir -p /mnt/image
bb mount -o ro /dev/vda /mnt/image || { echo "bench.sh: cannot mount the root image (/dev/vda; run with --vm)"; exit 2; }
MSB_BENCH_OS_ROOTFS=/mnt/image msb-bench --vm -n "$N" >/tmp/msb-bench.out
rc=$?
bb cat /tmp/msb-bench.out
# (n3) the whole of a microVM sandbox's start (msb_sandbox_create: msb-vmm,
# the kernel, msb-agent as /init mounting the root image, "ready" on the
# host) against QEMU's microvm only booting the same kernel to (n1)'s init.
v1=$(bb awk '/^\(v1\)/ { for (i = 1; i < NF; i++) if ($i == "vm") { print $(i + 1); exit } }' /tmp/msb-bench.out)
[ -n "$v1" ] && printf '%-36s msb     %6d ms | qemu microvm %6d ms | ratio %s\n' \
	"(n3) create -> agent ready" "${v1%.*}" "$b" "$(bb awk "BEGIN { printf \"%.2fx\", $v1 / $b }")"
exit $rc
