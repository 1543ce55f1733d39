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
echo "setup: all build and test dependencies are installed"
