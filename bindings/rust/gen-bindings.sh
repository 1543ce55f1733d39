#!/bin/sh
# gen-bindings.sh - regenerate msb-sys/src/bindings.rs from include/msb.h.
#
#   bindings/rust/gen-bindings.sh          rewrite the committed file
#   bindings/rust/gen-bindings.sh --check  exit 1 (and show the diff) when the
#                                          committed file is not what the
#                                          header generates now
#
# Needs Debian's `bindgen` (0.60) and libclang (libclang1-14 and
# libclang-common-14-dev, both pulled in by `clang`). The output depends on
# the bindgen version, so the committed file is made with Debian 12's.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
header="$root/include/msb.h"
out="$here/msb-sys/src/bindings.rs"

mode=write
case "${1:-}" in
"") ;;
--check) mode=check ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

if ! command -v bindgen >/dev/null 2>&1; then
	echo "gen-bindings: bindgen not found; install it: apt-get install -y bindgen clang" >&2
	exit 2
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT INT TERM

# Everything public is msb_* / MSB_*: the allowlists keep libc's types out.
# C enums become typed integer constants (never Rust enums: a value C sends
# that the enum does not list would be undefined behaviour).
bindgen "$header" \
	--allowlist-function 'msb_.*' \
	--allowlist-type 'msb_.*' \
	--allowlist-var 'MSB_.*' \
	--no-prepend-enum-name \
	--size_t-is-usize \
	--with-derive-default \
	--rust-target 1.47 \
	-o "$tmp" \
	-- -I"$root/include" >/dev/null

if [ "$mode" = write ]; then
	cp "$tmp" "$out"
	echo "gen-bindings: wrote $out ($(bindgen --version))"
	exit 0
fi

if ! cmp -s "$tmp" "$out"; then
	echo "gen-bindings: $out is out of date with include/msb.h" >&2
	echo "gen-bindings: run bindings/rust/gen-bindings.sh and commit the result" >&2
	diff -u "$out" "$tmp" >&2 || true
	exit 1
fi
echo "gen-bindings: $out is current ($(bindgen --version))"
