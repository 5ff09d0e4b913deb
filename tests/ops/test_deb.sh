#!/usr/bin/env bash
# tests/ops/test_deb.sh: the Debian package `make deb` builds.
#   - lintian reports no error (warnings are listed, not failed);
#   - dpkg -i into a throwaway root: the files and modes the package lists,
#     the user and group streamgate, /etc/streamgate 0750 root:streamgate
#     with the config 0640 and the env file 0600 copied from the examples,
#     the drop-in directory for streamgated's IPAddressAllow=, the installed
#     tool and daemon answering --version with the Makefile's version, the
#     installed tool finding the installed BPF object, the units passing
#     `systemd-analyze verify` at their installed paths, nothing started and
#     nothing attached (no process, no XDP program, no nft table);
#   - installing again keeps an edited config; dpkg -r keeps /etc and the
#     user; dpkg -P removes what postinst made (and keeps a secret an
#     operator added, with its directory).
#
# The throwaway root: an overlay of / whose upper layer is a tmpfs, in a
# private mount and network namespace (unshare -m -n), entered with chroot.
# dpkg, adduser and the maintainer scripts run there for real; every write
# (the dpkg database, /usr, /etc/passwd) lands in the tmpfs and is gone at
# exit.  Needs no network and no netns of its own beyond that one.  Needs
# root.  BUILD (default build) is the build dir; the package is built from
# it (make deb) unless DEB names one.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
VERSION=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' Makefile)

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: deb: needs root (dpkg in a throwaway root)"
	exit 0
fi
if [ -z "${SG_DEB_NS:-}" ]; then
	export SG_DEB_NS=1
	exec unshare -m -n --propagation private bash "$0" "$@"
fi

T=$(mktemp -d /tmp/sg-deb.XXXXXX)
R=$T/root		# the throwaway root
trap 'cd /; umount -R "$R" 2>/dev/null; umount -R "$T/layers" 2>/dev/null; rm -rf "$T"' EXIT
npass=0 nfail=0
pass() { echo "PASS: $1"; npass=$((npass + 1)); }
fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); }
check() {
	local name=$1; shift
	if "$@" >"$T/out" 2>&1; then pass "$name"
	else fail "$name" "$(tail -5 "$T/out" | tr '\n' ' ')"; fi
}
in_root() { chroot "$R" "$@"; }

# ---- build, lintian
DEB=${DEB:-}
if [ -z "$DEB" ]; then
	out=$(make -s -C "$ROOT" BUILD="$BUILD" deb 2>&1) ||
		{ echo "FAIL: make deb: $(tail -5 <<<"$out" | tr '\n' ' ')"; exit 1; }
	DEB=$(tail -1 <<<"$out")
fi
ARCH=$(dpkg --print-architecture)
check "make deb builds $BUILD/streamgate_${VERSION}_$ARCH.deb" test "$DEB" = "$BUILD/streamgate_${VERSION}_$ARCH.deb" -a -s "$DEB"
check "package fields: streamgate $VERSION $ARCH, Depends on adduser" sh -c \
	"dpkg-deb -f '$DEB' Package Version Architecture | tr '\n' ' ' | grep -qx 'Package: streamgate Version: $VERSION Architecture: $ARCH ' &&
	 dpkg-deb -f '$DEB' Depends | grep -q adduser"
if command -v lintian >/dev/null; then
	out=$(lintian "$DEB" 2>&1 | grep -v 'running with root privileges'); rc=$?
	if ! grep -q '^E:' <<<"$out"; then
		pass "lintian: no error ($(grep -c '^W:' <<<"$out") warnings$(grep '^W:' <<<"$out" | sed 's/^W: streamgate: / /' | tr '\n' ';'))"
	else
		fail "lintian: errors" "$(grep '^E:' <<<"$out" | tr '\n' ' ')"
	fi
else
	fail "lintian" "not installed (scripts/install-deps.sh)"
fi
# what the package must hold
want_files() {
	cat <<-EOF
	755 /usr/sbin/streamgated
	755 /usr/sbin/streamgate
	755 /usr/sbin/streamgate-regen
	644 /usr/lib/streamgate/streamgate.bpf.o
	644 /lib/systemd/system/streamgated.service
	644 /lib/systemd/system/streamgate-filter.service
	644 /lib/systemd/system/streamgate-regen.service
	644 /lib/systemd/system/streamgate-regen.timer
	644 /lib/systemd/system/streamgate-counters.socket
	644 /lib/systemd/system/streamgate-counters@.service
	644 /usr/share/streamgate/streamgated.json.example
	644 /usr/share/streamgate/streamgate.env.example
	644 /usr/share/streamgate/prometheus/streamgate.rules.yml
	644 /usr/share/streamgate/grafana/streamgate.json
	644 /usr/share/man/man8/streamgate.8.gz
	644 /usr/share/man/man8/streamgated.8.gz
	644 /usr/share/man/man5/streamgated.json.5.gz
	644 /usr/share/doc/streamgate/README.md
	644 /usr/share/doc/streamgate/copyright
	644 /usr/share/doc/streamgate/changelog.gz
	644 /usr/share/bash-completion/completions/streamgate
	EOF
}

# ---- the throwaway root
HOST_SUMS=$(md5sum /var/lib/dpkg/status /etc/passwd)
mkdir -p "$T/layers" "$R"
mount -t tmpfs sg-deb "$T/layers" && mkdir "$T/layers/up" "$T/layers/work" &&
	mount -t overlay sg-deb-root -o "lowerdir=/,upperdir=$T/layers/up,workdir=$T/layers/work" "$R" &&
	mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" && mount --rbind /sys "$R/sys" &&
	mount -t tmpfs sg-deb-run "$R/run" && mount -t tmpfs sg-deb-tmp "$R/tmp" ||
	{ echo "FAIL: setup: cannot make the throwaway root (overlay of /)"; exit 1; }
ip link set lo up
# the host may have a streamgate of its own: not in the throwaway root
for p in /etc/streamgate /etc/systemd/system/streamgated.service.d; do rm -rf "${R:?}$p"; done
in_root sh -c 'deluser --system streamgate; delgroup --system streamgate' >/dev/null 2>&1
dpkg --root="$R" -r streamgate >/dev/null 2>&1
cp "$DEB" "$R/tmp/streamgate.deb"

case_install() {
	local out rc got
	rc=0; out=$(in_root dpkg -i /tmp/streamgate.deb 2>&1) || rc=$?
	check "dpkg -i in the throwaway root (rc $rc)" test $rc -eq 0
	[ $rc -eq 0 ] || { echo "    $out" | tail -5; return 1; }
	got=$(want_files | while read -r mode path; do
		[ "$(stat -c %a "$R$path" 2>/dev/null)" = "$mode" ] || printf '%s ' "$path"
	done)
	check "the binaries, BPF object, units, examples, rules, dashboard, man pages in place ($got)" test -z "$got"
	got=$(in_root dpkg -L streamgate | grep -cE '\.(service|socket|timer)$')
	check "dpkg -L lists the 6 units ($got)" test "$got" = 6
	check "user streamgate: a system user without a login shell" sh -c \
		"chroot '$R' getent passwd streamgate | awk -F: '\$3 < 1000 && \$7 ~ /nologin/' | grep -q ."
	check "group streamgate" in_root getent group streamgate
	got=$(in_root stat -c '%a %U:%G %n' /etc/streamgate /etc/streamgate/keys /etc/streamgate/tls \
		/etc/streamgate/streamgated.json /etc/streamgate/streamgate.env | tr '\n' ';')
	check "/etc/streamgate made by postinst ($got)" test "$got" = \
"750 root:streamgate /etc/streamgate;750 root:streamgate /etc/streamgate/keys;750 root:streamgate /etc/streamgate/tls;640 root:streamgate /etc/streamgate/streamgated.json;600 root:root /etc/streamgate/streamgate.env;"
	check "the config is the example" cmp "$R/etc/streamgate/streamgated.json" scripts/streamgated.json.example
	check "the drop-in directory for streamgated's IPAddressAllow=" test -d "$R/etc/systemd/system/streamgated.service.d"
	got=$(in_root /usr/sbin/streamgate --version 2>&1)
	check "installed streamgate --version: $got" grep -q "^streamgate $VERSION" <<<"$got"
	got=$(in_root /usr/sbin/streamgated --version 2>&1)
	check "installed streamgated --version: $got" grep -q "^streamgated $VERSION" <<<"$got"
	check "the units reference the installed binaries" grep -qx \
		'ExecStart=/usr/sbin/streamgated --config /etc/streamgate/streamgated.json' "$R/lib/systemd/system/streamgated.service"
	out=$(in_root systemd-analyze verify /lib/systemd/system/streamgated.service \
		/lib/systemd/system/streamgate-filter.service /lib/systemd/system/streamgate-regen.service \
		/lib/systemd/system/streamgate-regen.timer /lib/systemd/system/streamgate-counters.socket 2>&1)
	check "systemd-analyze verify: the installed units, no warning ($(tr '\n' ' ' <<<"$out"))" test -z "$out"
	# nothing started or attached: no process from the package, no XDP
	# program, no nft table in this (fresh) network namespace
	check "nothing started: no streamgated process from the package" \
		sh -c "! pgrep -f '^/usr/sbin/streamgated' >/dev/null"
	check "nothing attached: no XDP program, no nft table" \
		sh -c "! ip -d link show | grep -q 'prog/xdp' && ! nft list tables 2>/dev/null | grep -q streamgate"
	# the installed tool finds the installed object (a dry look: regions)
	got=$(in_root /usr/sbin/streamgate regions --region ohio | grep -c ohio)
	check "installed streamgate runs (regions: $got ohio lines)" test "$got" -ge 3
}

case_reinstall_keeps_config() {
	local rc=0
	echo '{"edited": true}' >"$R/etc/streamgate/streamgated.json"
	echo 'STREAMGATE_DEV=edited0' >"$R/etc/streamgate/streamgate.env"
	in_root dpkg -i /tmp/streamgate.deb >"$T/out" 2>&1 || rc=$?
	check "dpkg -i again (rc $rc): the edited config and env file kept" \
		sh -c "[ $rc -eq 0 ] && grep -q edited '$R/etc/streamgate/streamgated.json' && grep -q edited0 '$R/etc/streamgate/streamgate.env'"
	check "dpkg -i again: still one user streamgate" test "$(in_root getent passwd streamgate | wc -l)" = 1
}

case_remove_purge() {
	local rc=0 left
	in_root dpkg -r streamgate >"$T/out" 2>&1 || rc=$?
	check "dpkg -r (rc $rc): binaries and units gone" \
		sh -c "[ $rc -eq 0 ] && [ ! -e '$R/usr/sbin/streamgated' ] && [ ! -e '$R/lib/systemd/system/streamgated.service' ]"
	check "dpkg -r: /etc/streamgate and the user kept" \
		sh -c "[ -e '$R/etc/streamgate/streamgated.json' ] && chroot '$R' getent passwd streamgate >/dev/null"
	# an operator's secret stays through a purge, with its directory
	echo s3cr3t >"$R/etc/streamgate/keys/APP.secret"
	rc=0; in_root dpkg -P streamgate >"$T/out" 2>&1 || rc=$?
	left=$(cd "$R/etc" && find streamgate systemd/system/streamgated.service.d 2>/dev/null | sort | tr '\n' ' ')
	check "dpkg -P (rc $rc): postinst's files gone, the operator's secret kept ($left)" \
		test $rc -eq 0 -a "$left" = "streamgate streamgate/keys streamgate/keys/APP.secret "
	check "dpkg -P: user and group streamgate removed" \
		sh -c "! chroot '$R' getent passwd streamgate && ! chroot '$R' getent group streamgate"
	check "dpkg -P: the package is gone from dpkg's database" \
		sh -c "! chroot '$R' dpkg -s streamgate >/dev/null 2>&1"
}

case_install && case_reinstall_keeps_config && case_remove_purge
# the host's own root is untouched (the overlay took every write)
check "the host's dpkg database and /etc/passwd are untouched" \
	test "$(md5sum /var/lib/dpkg/status /etc/passwd)" = "$HOST_SUMS"

echo "deb: $npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
