#!/bin/bash
# build-kernel.sh - build the msb guest kernel (vmlinux) from Debian's
# linux-source-6.1 and a committed config fragment, cached OUTSIDE the work
# tree so that a clean clone reuses it.
#
#   scripts/build-kernel.sh [--fragment FILE]... [--name NAME] [--link PATH]
#
#   --fragment FILE  config fragment(s) merged onto `make allnoconfig`, in
#                    order (default: vmm/kernel/msb.config)
#   --name NAME      cache entry prefix (default: kernel)
#   --link PATH      also make PATH a symlink to the cached vmlinux
#
# The cache entry is $MSB_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/msb)
# /NAME-KEY/, KEY a hash of the linux-source package version, the compiler,
# the fragments and this script.  It holds vmlinux, config and build.log.
# A second run with the same inputs returns at once.  Concurrent runs are
# serialised by a lock, and an entry only appears by an atomic rename of a
# complete build, so a killed build never leaves a half entry.
# Progress goes to stderr; the path of vmlinux is the only line on stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
self="$here/scripts/build-kernel.sh"
fragments=()
name=kernel
link=
jobs=${MSB_KERNEL_JOBS:-$(nproc)}
while [ $# -gt 0 ]; do
	case $1 in
	--fragment) fragments+=("$(realpath "$2")"); shift 2 ;;
	--name) name=$2; shift 2 ;;
	--link) link=$2; shift 2 ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-kernel.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done
[ ${#fragments[@]} -gt 0 ] || fragments=("$here/vmm/kernel/msb.config")
for f in "${fragments[@]}"; do
	[ -r "$f" ] || { echo "build-kernel.sh: cannot read fragment $f" >&2; exit 1; }
done

say() { echo "[kernel] $*" >&2; }

# --- tools: install only what is missing ------------------------------------
# make/gcc (build-essential), bc, flex, bison, libelf-dev (objtool, needed by
# the x86-64 ORC unwinder), xz-utils (the source tarball).  No libssl-dev (no
# module signing or trusted keys), no cpio (no in-kernel headers archive).
need=()
dpkg_ok() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
for p in linux-source-6.1 build-essential bc flex bison libelf-dev xz-utils; do
	dpkg_ok "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	[ "$(id -u)" = 0 ] || { echo "build-kernel.sh: need root to apt-get install ${need[*]}" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${need[@]}" >&2 ||
		{ apt-get update -qq >&2 && apt-get install -y -qq "${need[@]}" >&2; }
fi
tarball=/usr/src/linux-source-6.1.tar.xz
[ -r "$tarball" ] || { echo "build-kernel.sh: $tarball missing after installing linux-source-6.1" >&2; exit 1; }

# --- cache key -----------------------------------------------------------------
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( {
	echo "linux-source-6.1 $srcver"
	gcc --version | head -n1
	for f in "${fragments[@]}"; do echo "--- fragment"; cat "$f"; done
	echo "--- recipe"; cat "$self"
} | sha256sum | cut -c1-16)
cache=${MSB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/msb}
entry="$cache/$name-$key"

finish() {
	if [ -n "$link" ]; then
		mkdir -p "$(dirname "$link")"
		ln -sfn "$entry/vmlinux" "$link"
	fi
	echo "$entry/vmlinux"
	exit 0
}

if [ -f "$entry/vmlinux" ]; then
	say "cached: $entry (linux-source $srcver)"
	finish
fi

mkdir -p "$cache"
exec 9>"$cache/$name-$key.lock"
if ! flock -n 9; then
	say "another build of $name-$key is running; waiting for it"
	flock 9
fi
if [ -f "$entry/vmlinux" ]; then
	say "cached (built by a concurrent run): $entry"
	finish
fi

start=$(date +%s)
work=$(mktemp -d "$cache/.build-$name-$key.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/build.log"

say "building $name-$key from linux-source $srcver (-j$jobs); log: $log"
say "unpacking $tarball"
mkdir "$work/src"
tar -xJf "$tarball" -C "$work/src" --strip-components=1

k() { make -C "$work/src" ARCH=x86_64 -j"$jobs" "$@" >>"$log" 2>&1 ||
	{ tail -n 40 "$log" >&2; echo "build-kernel.sh: make $* failed (log above)" >&2; exit 1; }; }

say "configuring: allnoconfig + ${fragments[*]#$here/}"
k allnoconfig
(cd "$work/src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m .config "${fragments[@]}") >>"$log" 2>&1 ||
	{ tail -n 40 "$log" >&2; echo "build-kernel.sh: merge_config failed" >&2; exit 1; }
k olddefconfig

# Every option a fragment sets must be set the same way in the final .config.
bad=0
for f in "${fragments[@]}"; do
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			opt=${line%%=*}
			got=$(grep -E "^$opt=|^# $opt is not set" "$work/src/.config" || true)
			[ "$got" = "$line" ] || { say "MISMATCH: fragment wants '$line', .config has '${got:-nothing}'"; bad=1; } ;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }; opt=${opt%% *}
			if grep -q "^$opt=" "$work/src/.config"; then
				say "MISMATCH: fragment wants '$line', .config has '$(grep "^$opt=" "$work/src/.config")'"; bad=1
			fi ;;
		esac
	done < "$f"
done
[ $bad = 0 ] || { echo "build-kernel.sh: the final .config does not honour the fragment (above); fix the fragment" >&2; exit 1; }
say "config checked: $(grep -c '=y$' "$work/src/.config") options =y"

# Compile, showing the kernel's short output thinned to a line every 100
# objects and the final link steps (the whole output is in the log).
say "compiling vmlinux"
set +e
make -C "$work/src" ARCH=x86_64 -j"$jobs" vmlinux 2>&1 | tee -a "$log" | awk '
	/^  (CC|AS) / { if (++n % 100 == 0) printf "[kernel]   %5d objects compiled (%s)\n", n, $2 > "/dev/stderr"; next }
	/^  (LD|KSYMS|SORTTAB|SYSMAP|OBJTOOL) +(\.tmp_)?vmlinux/ { print "[kernel]  " $0 > "/dev/stderr" }
	/ error: |Error [0-9]/ { print > "/dev/stderr" }
	END { printf "[kernel]   %5d objects compiled\n", n > "/dev/stderr" }'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || { tail -n 40 "$log" >&2; echo "build-kernel.sh: kernel build failed (exit $rc); log above" >&2; exit 1; }

stage="$work/entry"
mkdir "$stage"
cp "$work/src/vmlinux" "$stage/vmlinux"
cp "$work/src/.config" "$stage/config"
cp "$work/src/System.map" "$stage/System.map"
printf 'linux-source-6.1 %s\nfragments: %s\nbuilt: %s\n' "$srcver" "${fragments[*]#$here/}" "$(date -u +%FT%TZ)" > "$stage/info"
cp "$log" "$stage/build.log"
mv -T "$stage" "$entry"   # atomic; we hold the lock, so nobody else renames here
say "built in $(( $(date +%s) - start ))s: $entry/vmlinux ($(du -h "$entry/vmlinux" | cut -f1))"
finish
