#!/usr/bin/env bash
# Install every Debian 12 package that streamgate's build, tests and benchmarks
# need.  Idempotent: when everything is present it only runs dpkg-query and exits.
set -euo pipefail

PKGS=(
	# build
	make gcc clang llvm pkg-config libc6-dev linux-libc-dev
	libbpf-dev libcjson-dev libnftnl-dev libmnl-dev libssl-dev zlib1g-dev
	libsqlite3-dev libhiredis-dev libcurl4-openssl-dev libseccomp-dev node-llhttp
	# tests
	libcmocka-dev libclang-rt-14-dev iproute2 nftables bpftool python3 redis-server
	procps psmisc iputils-ping util-linux openssl gzip systemd curl man-db groff-base
	# benchmarks: the peers we measure against
	xdp-tools libxdp-dev wrk nginx-light
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# a fresh machine has no package lists yet; refresh at most once
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
