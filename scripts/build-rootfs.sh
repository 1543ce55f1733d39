#!/bin/bash
# build-rootfs.sh - build the msb root filesystem image: Debian 12 minbase
# plus python3 and nodejs, as an ext4 image that every microVM shares
# read-only over virtio-blk (and that an os-backend sandbox can use as its
# root).  Cached OUTSIDE the work tree so that a clean clone reuses it.
#
#   scripts/build-rootfs.sh [--link PATH] [--tree]
#
#   --link PATH   also make PATH a symlink to the cached image (with --tree:
#                 to the unpacked tree)
#   --tree        print the tree's path instead of the image's
#
# The cache entry is $MSB_CACHE_DIR (default /var/cache/msb: building needs
# root, and the tree must be readable by the unprivileged uids sandboxes
# run as, which a 0700 home is not)/rootfs-KEY/, KEY a hash of the suite, the package list and this script.
# It holds rootfs.ext4, the same tree unpacked (tree/: the root of an
# os-backend sandbox, `msb run --rootfs .../tree`), packages.txt (what is
# inside, with versions) and build.log.  A second run returns at once; concurrent runs are serialised
# by a lock; an entry appears only by an atomic rename of a complete build.
# Needs root (debootstrap chroots) and the Debian mirror of this machine's
# own apt sources (scripts/debian-mirror.sh).  Progress goes to stderr; the
# path of the image is the only line on stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
self="$here/scripts/build-rootfs.sh"
suite=bookworm
packages=python3,nodejs
link=
want=rootfs.ext4
while [ $# -gt 0 ]; do
	case $1 in
	--link) link=$2; shift 2 ;;
	--tree) want=tree; shift ;;
	-h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-rootfs.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done

say() { echo "[rootfs] $*" >&2; }

key=$( { echo "$suite $packages"; cat "$self"; } | sha256sum | cut -c1-16)
cache=${MSB_CACHE_DIR:-/var/cache/msb}
entry="$cache/rootfs-$key"

finish() {
	if [ -n "$link" ]; then
		mkdir -p "$(dirname "$link")"
		ln -sfn "$entry/$want" "$link"
	fi
	echo "$entry/$want"
	exit 0
}

if [ -f "$entry/rootfs.ext4" ]; then
	say "cached: $entry"
	finish
fi

[ "$(id -u)" = 0 ] || { echo "build-rootfs.sh: building the image needs root (debootstrap); run it once as root" >&2; exit 1; }

# --- tools: install only what is missing ------------------------------------
need=()
dpkg_ok() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
for p in debootstrap e2fsprogs debian-archive-keyring; do
	dpkg_ok "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 ||
		{ apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; }
fi
mirror=$("$here/scripts/debian-mirror.sh")

mkdir -p "$cache"
exec 9>"$cache/rootfs-$key.lock"
if ! flock -n 9; then
	say "another build of rootfs-$key is running; waiting for it"
	flock 9
fi
if [ -f "$entry/rootfs.ext4" ]; then
	say "cached (built by a concurrent run): $entry"
	finish
fi

start=$(date +%s)
work=$(mktemp -d "$cache/.build-rootfs-$key.XXXXXX")
cleanup() {
	# debootstrap may leave /proc or /sys mounted in the target on failure
	for m in proc sys dev/pts dev; do
		mountpoint -q "$work/root/$m" 2>/dev/null && umount -l "$work/root/$m" || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
log="$work/build.log"
root="$work/root"

say "debootstrap --variant=minbase --include=$packages $suite from $mirror (a few minutes, once per machine); log: $log"
set +e
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" 2>&1 |
	tee -a "$log" | awk '
	/^I: Retrieving / { if (++r % 25 == 0) printf "[rootfs]   %d packages retrieved\n", r > "/dev/stderr"; next }
	/^I: (Extracting|Unpacking|Configuring) / { if (++c % 50 == 0) printf "[rootfs]   %d steps of unpacking and configuring\n", c > "/dev/stderr"; next }
	/^I: Base system installed successfully/ { print "[rootfs]   base system installed" > "/dev/stderr" }
	/^E: |^W: / { print > "/dev/stderr" }'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || { tail -n 30 "$log" >&2; echo "build-rootfs.sh: debootstrap failed (exit $rc); log above" >&2; exit 1; }

# What the sandbox needs and nothing it should not carry.
chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' > "$work/packages.txt"
for p in python3 nodejs; do
	grep -q "^$p " "$work/packages.txt" || { echo "build-rootfs.sh: $p is missing from the image" >&2; exit 1; }
done
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
	"$root"/var/log/* "$root"/tmp/* "$root"/root/.cache
: > "$root/etc/machine-id"
printf 'msb\n' > "$root/etc/hostname"
mkdir -p "$root"/{proc,sys,dev,tmp,run,mnt}
chmod 1777 "$root/tmp"

# The image: the tree's size plus a fifth, at least 64 MiB of slack for
# metadata; read-only at run time, so no journal.
kib=$(du -sk --apparent-size "$root" | cut -f1)
size=$(( kib + kib / 5 + 65536 ))
say "making an ext4 image of $(( kib / 1024 )) MiB of files ($(( size / 1024 )) MiB)"
mkfs.ext4 -q -F -O ^has_journal -L msb-rootfs -m 0 -d "$root" "$work/rootfs.ext4" "${size}k" >>"$log" 2>&1 ||
	{ tail -n 20 "$log" >&2; echo "build-rootfs.sh: mkfs.ext4 failed; log above" >&2; exit 1; }
e2fsck -fn "$work/rootfs.ext4" >>"$log" 2>&1 ||
	{ tail -n 20 "$log" >&2; echo "build-rootfs.sh: the new image does not pass e2fsck; log above" >&2; exit 1; }

stage="$work/entry"
mkdir "$stage"
mv "$work/rootfs.ext4" "$work/packages.txt" "$stage/"
mv "$root" "$stage/tree"
printf 'suite: %s\npackages: %s\nmirror: %s\nbuilt: %s\n' "$suite" "$packages" "$mirror" "$(date -u +%FT%TZ)" > "$stage/info"
cp "$log" "$stage/build.log"
mv -T "$stage" "$entry"
say "built in $(( $(date +%s) - start ))s: $entry/rootfs.ext4 ($(du -h "$entry/rootfs.ext4" | cut -f1))"
finish
