#!/bin/sh
# run-all.sh - the whole test suite; what `make test` runs.
#
#   1. the public header compiles alone as C99 and as C++  (make check-header),
#      and the rooms stay apart                             (make check-layout)
#   2. the C tests, as root and unprivileged                (make test-c)
#   3. the same C tests under ASan + UBSan in build-asan    (make test-asan),
#      and the soak's short form                            (make soak-short)
#   4. the fuzzers (frame decoder, virtqueue, virtio-console),
#      each for a short while                               (make fuzz)
#   5. in an emulated L1 with KVM: msb-vmm boots the guest  (make test-nested)
#      kernel and talks to its init over virtio (QEMU bounded by
#      MSB_NESTED_TIMEOUT seconds, default 300), then the conformance
#      test and the vm backend's own tests, and the hostile guest
#      (SKIP without QEMU)
#   6. the bindings' tests                                  (see below)
#
# Every step runs even when an earlier one failed; the summary at the end
# lists the failures and the exit status is non-zero if there was any.
set -u

cd "$(dirname "$0")/.." || exit 2
MAKE=${MAKE:-make}
failed=""
npass=0
nfail=0

step() { # name command...
	name=$1
	shift
	echo
	echo "##### $name"
	if "$@"; then
		echo "##### $name: ok"
		npass=$((npass + 1))
	else
		echo "##### $name: FAILED"
		nfail=$((nfail + 1))
		failed="$failed
  - $name"
	fi
}

step "header compiles as C99 and C++" $MAKE check-header
step "layout: no calls in a loop, no overlong files, no msb.h in the agent" $MAKE check-layout
step "C tests" $MAKE test-c
step "C tests under ASan+UBSan" $MAKE test-asan
step "soak, short form: 300 sandboxes (300 from 8 threads, 30 msb runs, 30 killed owners) leave nothing behind" \
	$MAKE soak-short
step "fuzzing (${FUZZ_SECONDS:=20} s each)" $MAKE fuzz FUZZ_SECONDS=$FUZZ_SECONDS
# A few minutes of QEMU once the kernels and the root image are cached; each
# L1 run is bounded (l1check's by MSB_NESTED_TIMEOUT, which leaves room for
# one hung step inside L1, 60 s each, to be reported by l1check itself).
step "nested: msb-vmm and the vm backend in an emulated L1 (QEMU runs bounded)" \
	env MSB_NESTED_TIMEOUT="${MSB_NESTED_TIMEOUT:-300}" $MAKE test-nested

# ---------------------------------------------------------------------------
# The bindings, each run against the library built above.
# ---------------------------------------------------------------------------
step "Go bindings" bindings/go/run-tests.sh
step "Node bindings" sh -c 'cd bindings/node && npm test'
step "Rust FFI matches include/msb.h" $MAKE check-bindings
step "Rust bindings" sh -c 'cd bindings/rust && cargo test --offline'
step "Rust bindings: clippy" sh -c 'cd bindings/rust && if cargo clippy --version >/dev/null 2>&1; then cargo clippy --offline --all-targets -- -D warnings; else echo "skipped: cargo clippy is not installed"; fi'


echo
if [ -n "$failed" ]; then
	echo "run-all: these steps FAILED:$failed"
fi
# The closing line counts the steps (each a whole test run of its own).
echo "steps: $npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
