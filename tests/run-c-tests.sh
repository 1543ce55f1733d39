#!/bin/sh
# run-c-tests.sh - run the C tests (build/tests/*) under prove.
#
# As root: first as root, then as an unprivileged user (msb-test, created
# if missing) from a copy of the build outputs in a fresh world-readable
# directory, so the run does not depend on the checkout's permissions
# (it may live under /root). Not root: one run as the current user.
#
#   B=build            the build directory (make test-c passes it)
#   MSB_TEST_USER      the unprivileged user (default msb-test)
#   PROVE_ARGS         extra arguments for prove (default: none)
#
# Exits non-zero if any run fails. Build first: `make test-c` does both.
set -u

B=${B:-build}
USER_NAME=${MSB_TEST_USER:-msb-test}
PROVE_ARGS=${PROVE_ARGS:-}

die() { echo "run-c-tests: $*" >&2; exit 2; }

command -v prove >/dev/null 2>&1 || die "prove not found (apt-get install perl)"
[ -d "$B/tests" ] || die "$B/tests does not exist: run 'make test-c' (or build the tests) first"
[ -x "$B/tests/probe" ] || die "$B/tests/probe is missing: run 'make $B/tests/probe'"

# The test programs: executables in $B/tests, without the probe helper.
list_tests() {
	for t in "$1"/tests/*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		case "${t##*/}" in
		probe | *.o | *.d | *.sh) continue ;;
		esac
		printf '%s\n' "$t"
	done
}

run_prove() { # label dir
	tests=$(list_tests "$2")
	[ -n "$tests" ] || die "no test programs in $2/tests"
	echo "=== C tests, $1 ==="
	# shellcheck disable=SC2086
	prove $PROVE_ARGS $tests
}

if [ "$(id -u)" -ne 0 ]; then
	echo "run-c-tests: not root: running the C tests once, as $(id -un) only"
	run_prove "as $(id -un) (unprivileged)" "$B"
	exit $?
fi

status=0
run_prove "as root" "$B" || status=1

# --- the same tests as an unprivileged user -------------------------------
if ! id -u "$USER_NAME" >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$USER_NAME" ||
		die "cannot create the user $USER_NAME"
fi

copy=$(mktemp -d /tmp/msb-tests.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$copy"' EXIT INT TERM
chmod 755 "$copy"
# The layout stays the same: tests find ../lib by rpath, the library finds
# ../libexec/msb/msb-agent next to itself.
for d in lib libexec tests bin share; do
	[ -d "$B/$d" ] && cp -a "$B/$d" "$copy/$d"
done
chmod -R a+rX "$copy"

(
	cd "$copy" || exit 1
	# The copy holds its own agent; a path into the checkout may be
	# unreadable for the user.
	unset MSB_AGENT_PATH
	HOME=/nonexistent
	export HOME
	# runuser keeps the environment (PATH, ASAN_OPTIONS ...)
	runuser -u "$USER_NAME" -- sh -c '
		tests=$1; shift
		echo "=== C tests, as $(id -un) (unprivileged, uid $(id -u)) ==="
		exec prove "$@" $tests' sh "$(list_tests "$copy" | tr '\n' ' ')" $PROVE_ARGS
) || status=1

if [ $status -ne 0 ]; then
	echo "run-c-tests: FAILED (see above)" >&2
else
	echo "run-c-tests: all C tests passed, as root and unprivileged"
fi
exit $status
