#!/usr/bin/env bash
# Install every Debian 12 package that streamgate's build, tests and benchmarks
# need, then the npm packages of tests/sdk (Stream's official Node SDK and
# Express, pinned below) into a cache directory outside the tree.
# Idempotent: when everything is present it only runs dpkg-query, reads two
# package.json files and exits.
#
#   STREAMGATE_NPM_DIR  where the npm packages go (tests/sdk reads the same):
#                       default /var/cache/streamgate/npm as root, else
#                       ${XDG_CACHE_HOME:-$HOME/.cache}/streamgate/npm
set -euo pipefail

# tests/sdk: Stream's official Node SDK behind streamgated.  Bump both here;
# the test prints the versions it ran with.
NPM_PINS=(stream-chat@9.53.0 express@5.3.0)
if [ -z "${STREAMGATE_NPM_DIR:-}" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		STREAMGATE_NPM_DIR=/var/cache/streamgate/npm
	else
		STREAMGATE_NPM_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/streamgate/npm
	fi
fi

# npm_deps: node (Debian's nodejs and npm when there is no node at all:
# Debian 12's 18.x runs both pins), then the pinned packages, unless each
# is already there at its pinned version.
npm_deps() {
	local pin name ver have todo=()
	for pin in "${NPM_PINS[@]}"; do
		name=${pin%@*} ver=${pin##*@}
		have=$(sed -n 's/^  "version": "\(.*\)",*$/\1/p' \
			"$STREAMGATE_NPM_DIR/node_modules/$name/package.json" 2>/dev/null |
			head -1) || true
		[ "$have" = "$ver" ] || todo+=("$pin")
	done
	[ ${#todo[@]} -eq 0 ] && return 0
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "install-deps: tests/sdk needs node and npm; run as root (or: sudo $0)" >&2
			return 1
		fi
		echo "install-deps: installing Debian's nodejs and npm (tests/sdk)"
		apt_install nodejs npm || return 1
	fi
	echo "install-deps: npm packages ${NPM_PINS[*]} into $STREAMGATE_NPM_DIR"
	mkdir -p "$STREAMGATE_NPM_DIR" || return 1
	# a package.json of its own, so npm never walks up into another project
	printf '{"name": "streamgate-sdk-test", "private": true}\n' \
		>"$STREAMGATE_NPM_DIR/package.json" || return 1
	npm install --prefix "$STREAMGATE_NPM_DIR" --save-exact --no-audit \
		--no-fund --loglevel=error "${NPM_PINS[@]}" >/dev/null
}

# apt_install PKG...: a fresh machine has no package lists yet; refresh at
# most once
apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "$@"
	fi
}

PKGS=(
	# build
	make gcc clang llvm pkg-config libc6-dev linux-libc-dev
	libbpf-dev libcjson-dev libnftnl-dev libmnl-dev libssl-dev zlib1g-dev
	libsqlite3-dev libhiredis-dev libnats-dev libcurl4-openssl-dev libseccomp-dev
	node-llhttp
	# tests (python3-cryptography: tests/daemon/nats_jwt.py's Ed25519)
	libcmocka-dev libclang-rt-14-dev iproute2 nftables bpftool python3 redis-server
	nats-server python3-cryptography
	procps psmisc iputils-ping util-linux openssl gzip systemd curl man-db groff-base
	# tests/ops: promtool (prometheus), the package (dpkg-dev, lintian),
	# the dashboard and rules checks (python3-yaml)
	prometheus lintian dpkg-dev python3-yaml adduser
	# benchmarks: the peers we measure against
	xdp-tools libxdp-dev wrk nginx-light
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	apt_install "${missing[@]}"
	# only promtool is wanted from prometheus: a Prometheus server that its
	# package enabled and started on a systemd host is stopped and disabled
	if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
		systemctl disable --now prometheus.service >/dev/null 2>&1 || true
	fi
fi
# Only one test needs them: the build and `make run` go on without.
npm_deps || echo "install-deps: the npm packages are not installed; tests/sdk fails until they are" >&2
