#!/bin/sh
# run-tests.sh - the Go binding's checks, run against the libmsb of this
# tree (run `make` at the top first). What tests/run-all.sh runs.
#
#   1. gofmt and go vet are clean
#   2. go test -race ./...  (the tests, the runnable quick-start Example)
#   3. as root: the same test binary again as an unprivileged user
#      ($MSB_TEST_USER, default msb-test, if it exists; the C tests'
#      script creates it)
#
# Go comes from Debian's golang-1.23-go (bookworm-backports); GO overrides.
set -eu
cd "$(dirname "$0")"
GO=${GO:-$(command -v go 2>/dev/null || echo /usr/lib/go-1.23/bin/go)}
[ -x "$GO" ] || { echo "run-tests: no Go toolchain (install golang-1.23-go: scripts/setup.sh)" >&2; exit 1; }
export GOFLAGS="${GOFLAGS:-} -mod=mod" GOPROXY=off GOTOOLCHAIN=local
[ -e ../../build/lib/libmsb.so ] || { echo "run-tests: build libmsb first (make)" >&2; exit 1; }

bad=$("$(dirname "$GO")/gofmt" -l .)
[ -z "$bad" ] || { echo "run-tests: gofmt needed: $bad" >&2; exit 1; }
"$GO" vet ./...
"$GO" test -race -count=1 ./...

user=${MSB_TEST_USER:-msb-test}
if [ "$(id -u)" -eq 0 ]; then
	if id -u "$user" >/dev/null 2>&1 &&
	   ! runuser -u "$user" -- test -r ../../build/lib/libmsb.so; then
		echo "run-tests: SKIP the unprivileged run: $user cannot read this checkout's build/lib"
	elif id -u "$user" >/dev/null 2>&1; then
		dir=$(mktemp -d /tmp/msb-go-tests.XXXXXX)
		trap 'rm -rf "$dir"' EXIT INT TERM
		chmod 755 "$dir"
		"$GO" test -race -c -o "$dir/msb.test" .
		echo "=== Go tests, as $user (unprivileged) ==="
		(cd "$dir" && HOME=/nonexistent runuser -u "$user" -- ./msb.test -test.count=1)
	else
		echo "run-tests: SKIP the unprivileged run: no user $user (tests/run-c-tests.sh creates it)"
	fi
fi
