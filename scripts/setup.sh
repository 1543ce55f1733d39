#!/usr/bin/env bash
# Install what msb needs to build, test and benchmark on Debian 12.
# Installs only what is missing, so it is quick (and offline) the second time.
set -euo pipefail

packages=(
	build-essential pkg-config            # the C toolchain
	libseccomp-dev libjansson-dev         # libmsb and msb-agent
	libcurl4-openssl-dev                  # the remote backend (HTTP client)
	perl                                  # prove runs the TAP tests
	clang libclang-rt-14-dev              # make fuzz (libFuzzer), sanitizers
	bubblewrap                            # make bench compares against bwrap
	python3                               # the sandboxes' example code
	passwd                                # useradd, for the unprivileged test run
	util-linux                            # runuser
	cargo rustc bindgen rust-clippy       # bindings/rust (offline, std only)
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done

if ((${#missing[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages: ${missing[*]}" >&2
		echo "setup: run this script as root (sudo $0) to install them" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# --- Go for bindings/go: golang-1.23-go from bookworm-backports -------------
# The mirror is the one this machine's own apt sources use for bookworm.
go_pkg=golang-1.23-go
if ! dpkg-query -W -f='${Status}' "$go_pkg" 2>/dev/null | grep -q "install ok installed"; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing $go_pkg (bookworm-backports); run as root to install it" >&2
		exit 1
	fi
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		mirror=$("$(dirname "$0")/debian-mirror.sh") || {
			echo "setup: cannot find the Debian mirror for bookworm in the apt sources" >&2
			exit 1
		}
		printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
			"$mirror" /usr/share/keyrings/debian-archive-keyring.gpg \
			> /etc/apt/sources.list.d/msb-backports.sources
		echo "setup: added bookworm-backports from $mirror"
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends -t bookworm-backports "$go_pkg"
fi
# --- Node for bindings/node: node, npm and the N-API headers --------------
# Whatever Node the machine has will do (Debian's nodejs 18 or another
# build of 18+); only when something is missing, Debian's packages.
if ! command -v node >/dev/null || ! command -v npm >/dev/null ||
   [ ! -r /usr/include/node/node_api.h ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: node, npm or /usr/include/node is missing; run as root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends nodejs npm libnode-dev
fi

echo "setup: all build and test dependencies are installed"
