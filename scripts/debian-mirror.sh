#!/bin/bash
# debian-mirror.sh - print the Debian mirror URI this machine's own apt
# sources use for bookworm (deb822 /etc/apt/sources.list.d/*.sources first,
# then one-line /etc/apt/sources.list).  The project never names a mirror
# itself.  Exit 1 with a message when none is found.
set -euo pipefail
mirror=
for f in /etc/apt/sources.list.d/*.sources; do
	[ -r "$f" ] || continue
	# deb822: the URIs line of a stanza whose Suites include "bookworm"
	mirror=$(awk '
		/^[[:space:]]*$/ { if (suite && uri) { print uri; exit } suite = 0; uri = ""; next }
		/^URIs:/   { uri = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
		END        { if (suite && uri) print uri }
	' "$f" | head -n1)
	[ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
	mirror=$(awk '$1 == "deb" && $0 ~ /[[:space:]]bookworm[[:space:]]/ {
		for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
		/etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "debian-mirror.sh: no Debian mirror for bookworm in the apt sources" >&2; exit 1; }
echo "$mirror"
