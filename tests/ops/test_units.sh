#!/usr/bin/env bash
# tests/ops/test_units.sh: the systemd units of scripts/systemd/.
#   - `systemd-analyze security --offline=true`: the overall exposure of
#     each service is at most 2.0 (streamgated.service with and without
#     streamgate-regen's IPAddressAllow= drop-in);
#   - `systemd-analyze verify` on every unit, the drop-in included, no
#     warning; the check has teeth (a broken drop-in is reported);
#   - the capability sets are exactly what each unit needs: streamgated
#     CAP_NET_BIND_SERVICE (bounding and ambient) and a User=, the counters
#     helper CAP_NET_ADMIN CAP_BPF, the filter and regen units CAP_NET_ADMIN
#     CAP_BPF CAP_SYS_ADMIN; no unit keeps CAP_DAC_*, CAP_FOWNER, CAP_CHOWN,
#     CAP_SETUID/SETGID;
#   - the units' commands run as systemd would run them, emulated with
#     setpriv and private mounts (there is no systemd here): /proc mounted
#     with subset=pid,hidepid=invisible (ProcSubset=pid,
#     ProtectProc=invisible), /sys read-only but for /sys/fs/bpf
#     (ProtectKernelTunables=), each unit's bounding set, no_new_privs:
#       streamgated's ExecStart as an unprivileged user with ambient
#       CAP_NET_BIND_SERVICE only binds 443, ends with no capability,
#       NoNewPrivs 1 and Seccomp 2, and serves /metrics with the XDP and nft
#       counters read by streamgate-counters@.service's ExecStart behind a
#       socket (systemd-socket-activate --accept stands for
#       streamgate-counters.socket); the same daemon without the capability
#       cannot bind 443; the filter unit's ExecStart and ExecStop bring XDP and
#       the nft table up and down with only their three capabilities.
#
# Safety: its own mount and network namespaces (unshare -m -n): private
# bpffs, /proc and /run/lock, a veth pair that exists only there, loopback
# addresses only.  Needs root.  BUILD (default build) is the build dir.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
MAXEXP=2.0

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: units: needs root (private namespaces, XDP, nft)"
	exit 0
fi
if [ -z "${SG_OPS_NS:-}" ]; then
	export SG_OPS_NS=1
	exec unshare -m -n --propagation private bash "$0" "$@"
fi

T=$(mktemp -d /tmp/sg-units.XXXXXX)
chmod 0755 "$T"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	cd /; rm -rf "$T"
}
trap cleanup EXIT
npass=0 nfail=0
pass() { echo "PASS: $1"; npass=$((npass + 1)); }
fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); }
check() {
	local name=$1; shift
	if "$@" >"$T/out" 2>&1; then pass "$name"
	else fail "$name" "$(tail -5 "$T/out" | tr '\n' ' ')"; fi
}
for b in "$BUILD/streamgated" "$BUILD/streamgate" "$BUILD/streamgate.bpf.o"; do
	[ -e "$b" ] || { echo "FAIL: $b not built (make BUILD=$BUILD all)"; exit 1; }
done
for c in systemd-analyze setpriv systemd-socket-activate; do
	command -v "$c" >/dev/null || { echo "FAIL: $c missing (scripts/install-deps.sh)"; exit 1; }
done

SERVICES="streamgated.service streamgate-filter.service streamgate-regen.service streamgate-counters@.service"
UNITS="$SERVICES streamgate-counters.socket streamgate-regen.timer"

# ---- the units as the tree has them, paths pointing at this checkout ------
# U: one directory with every unit (the counters template also as an
# instance, which verify and security take), streamgated's drop-in as
# streamgate-regen writes it, and a MANPATH with the tree's manual pages
# (verify runs `man` for each man: Documentation).
U=$T/units
mkdir -p "$U" "$T/man/man8" "$T/man/man5"
cp "$BUILD/man/streamgate.8" daemon/streamgated/streamgated.8 "$T/man/man8/"
cp daemon/streamgated/streamgated.json.5 "$T/man/man5/"
export MANPATH=$T/man:
# the daemon the units start runs as an unprivileged user, who may not
# search the checkout's directories (a CI clone under /root or a 0700 temp
# dir): it runs from a copy in $T (0755)
install -d -m 0755 "$T/bin"
install -m 0755 "$BUILD/streamgated" "$T/bin/streamgated"
for u in $UNITS; do
	sed -e "s#/usr/local/sbin/streamgated #$T/bin/streamgated #" \
		-e "s#/usr/local/sbin/streamgate-regen #$ROOT/scripts/streamgate-regen #" \
		-e "s#/usr/local/sbin/streamgate-regen\$#$ROOT/scripts/streamgate-regen#" \
		"scripts/systemd/$u" >"$U/$u"
done
cp "$U/streamgate-counters@.service" "$U/streamgate-counters@0.service"

# exposure UNIT: the overall figure systemd-analyze gives
exposure() {
	(cd "$U" && systemd-analyze security --offline=true "./$1" 2>&1) |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p'
}
case_exposure() {
	local u inst e
	for u in $SERVICES; do
		inst=${u/@./@0.}
		e=$(exposure "$inst")
		if [ -n "$e" ] && awk -v e="$e" -v m="$MAXEXP" 'BEGIN { exit !(e <= m) }'; then
			pass "systemd-analyze security --offline=true $u: exposure $e (at most $MAXEXP)"
		else
			fail "systemd-analyze security $u: exposure '${e:-none}' (at most $MAXEXP)" \
				"$(cd "$U" && systemd-analyze security --offline=true "./$inst" 2>&1 | grep '✗' | head -20 | tr -s ' ' | tr '\n' ';')"
		fi
	done
}

# the drop-in exactly as streamgate-regen writes it (a stand-in streamgate
# and systemctl record what they were asked)
write_regen_env() {
	printf '%s\n' "$@" >"$T/sg.env"
	chmod 600 "$T/sg.env"
}
case_dropin() {
	local out rc want
	mkdir -p "$U/streamgated.service.d"
	printf '#!/bin/sh\necho "$*" >>%s/systemctl.log\n' "$T" >"$T/systemctl"
	chmod 755 "$T/systemctl"
	write_regen_env STREAMGATE_BIN="$ROOT/$BUILD/streamgate" STREAMGATE_REGIONS=ohio,canada \
		'STREAMGATE_ALLOW="198.51.100.7/32 2001:db8:10::/48"' \
		'STREAMGATE_DAEMON_ALLOW="192.0.2.53 198.51.100.7/32 link-local"' \
		STREAMGATE_DROPIN_DIR="$U/streamgated.service.d" STREAMGATE_SYSTEMCTL="$T/systemctl"
	ip link set lo up
	rc=0; out=$(scripts/streamgate-regen --env "$T/sg.env" 2>&1) || rc=$?
	want="localhost link-local 3.14.163.216/32 3.15.245.3/32 3.141.116.179/32 35.183.141.98/32"
	want+=" 52.60.71.231/32 3.97.253.35/32 198.51.100.7/32 2001:db8:10::/48 192.0.2.53/32"
	got=$(sed -n 's/^IPAddressAllow=//p' "$U/streamgated.service.d/ipaddress-allow.conf" 2>/dev/null | tr '\n' ' ')
	check "regen writes streamgated's IPAddressAllow= drop-in: loopback, regions, --allow, daemon peers ($(tr "\n" " " <<<"$out"))" \
		test $rc -eq 0 -a "$got" = "$want "
	check "regen asked systemd to reload once" test "$(cat "$T/systemctl.log" 2>/dev/null)" = "daemon-reload"
	rc=0; out=$(scripts/streamgate-regen --env "$T/sg.env" 2>&1) || rc=$?
	check "regen again: drop-in unchanged, no reload ($(tr "\n" " " <<<"$out"))" \
		test $rc -eq 0 -a "$(wc -l <"$T/systemctl.log")" = 1
	# a bad peer address fails the unit layer, naming it; the file stays
	sed -i 's#192.0.2.53 #192.0.2.530 #' "$T/sg.env"
	rc=0; out=$(scripts/streamgate-regen --env "$T/sg.env" 2>&1) || rc=$?
	check "a bad STREAMGATE_DAEMON_ALLOW entry fails naming it, drop-in kept ($(tr "\n" " " <<<"$out"))" \
		test $rc -ne 0 -a -n "$(grep -F 192.0.2.530 <<<"$out")" -a \
		"$(sed -n 's/^IPAddressAllow=//p' "$U/streamgated.service.d/ipaddress-allow.conf" | tr '\n' ' ')" = "$want "
	sed -i 's#192.0.2.530 #any #' "$T/sg.env"
	rc=0; out=$(scripts/streamgate-regen --env "$T/sg.env" 2>&1) || rc=$?
	check "STREAMGATE_DAEMON_ALLOW=any is refused ($(tr "\n" " " <<<"$out"))" test $rc -ne 0 -a -n "$(grep -F "'any'" <<<"$out")"
	# no drop-in directory: the layers are applied, the unit layer fails
	sed -i "s#^STREAMGATE_DROPIN_DIR=.*#STREAMGATE_DROPIN_DIR=$T/nonesuch#; s#any ##" "$T/sg.env"
	rc=0; out=$(scripts/streamgate-regen --env "$T/sg.env" 2>&1) || rc=$?
	check "no drop-in directory: exit 1 naming it, nft table applied ($(tr "\n" " " <<<"$out"))" \
		test $rc -eq 1 -a -n "$(grep -F "$T/nonesuch" <<<"$out")" -a -n "$(nft list table inet streamgate 2>/dev/null)"
	nft delete table inet streamgate 2>/dev/null
	local e; e=$(exposure streamgated.service)
	check "streamgated.service with the drop-in: exposure $e (at most $MAXEXP)" \
		awk -v e="${e:-99}" -v m="$MAXEXP" 'BEGIN { exit !(e <= m) }'
}

case_verify() {
	local out rc u files=()
	for u in $UNITS; do
		[ "$u" = streamgate-counters@.service ] && u=streamgate-counters@0.service
		files+=("$U/$u")
	done
	out=$(cd "$U" && systemd-analyze verify "${files[@]}" 2>&1); rc=$?
	if [ $rc -eq 0 ] && [ -z "$out" ]; then
		pass "systemd-analyze verify: ${#files[@]} units and the drop-in, no warning"
	else
		fail "systemd-analyze verify (rc $rc)" "$(tr '\n' ' ' <<<"$out")"
	fi
	echo 'IPAddressAllow=300.1.2.3/32' >>"$U/streamgated.service.d/ipaddress-allow.conf"
	out=$(cd "$U" && systemd-analyze verify "$U/streamgated.service" 2>&1)
	check "systemd-analyze verify reports a broken drop-in" grep -q '300.1.2.3' <<<"$out"
	sed -i '$d' "$U/streamgated.service.d/ipaddress-allow.conf"
}

# key UNIT: KEY=value lines of a unit, values only
key() { sed -n "s/^$2=//p" "$U/$1"; }
case_caps() {
	check "streamgated: CapabilityBoundingSet=CAP_NET_BIND_SERVICE" \
		test "$(key streamgated.service CapabilityBoundingSet)" = CAP_NET_BIND_SERVICE
	check "streamgated: AmbientCapabilities=CAP_NET_BIND_SERVICE" \
		test "$(key streamgated.service AmbientCapabilities)" = CAP_NET_BIND_SERVICE
	check "streamgated: User=streamgate, never root" test "$(key streamgated.service User)" = streamgate
	check "counters helper: CapabilityBoundingSet=CAP_NET_ADMIN CAP_BPF" \
		test "$(key streamgate-counters@.service CapabilityBoundingSet)" = "CAP_NET_ADMIN CAP_BPF"
	for u in streamgate-filter.service streamgate-regen.service; do
		check "$u: CapabilityBoundingSet=CAP_NET_ADMIN CAP_BPF CAP_SYS_ADMIN" \
			test "$(key $u CapabilityBoundingSet)" = "CAP_NET_ADMIN CAP_BPF CAP_SYS_ADMIN"
	done
	local bad
	bad=$(grep -lE '^(CapabilityBoundingSet|AmbientCapabilities)=.*CAP_(DAC_|FOWNER|CHOWN|SETUID|SETGID|SETPCAP)' "$U"/*.service)
	check "no unit keeps CAP_DAC_*, FOWNER, CHOWN, SETUID, SETGID, SETPCAP ($bad)" test -z "$bad"
	for u in $SERVICES; do
		for k in ProtectProc=invisible ProcSubset=pid PrivateMounts=yes IPAddressDeny=any NoNewPrivileges=yes; do
			grep -qx "$k" "$U/$u" || bad+=" $u:$k"
		done
	done
	check "every service sets ProtectProc, ProcSubset, PrivateMounts, IPAddressDeny, NoNewPrivileges ($bad)" test -z "$bad"
}

# ---- the commands as systemd runs them ------------------------------------
sandbox_mounts() {
	mount -t bpf bpf /sys/fs/bpf || return 1
	mount -t proc -o subset=pid,hidepid=invisible proc /proc || return 1
	mount -o remount,bind,ro /sys || return 1
	mkdir -p /run/lock && mount -t tmpfs -o mode=0755 sg-test-lock /run/lock
}
# unit_exec UNIT KEY: that line of the unit as a command (our paths)
unit_exec() { key "$1" "$2" | sed "s#/etc/streamgate/streamgate.env#$T/sg.env#; s#/etc/streamgate/streamgated.json#$T/sg.json#"; }
# as_unit BOUNDING [AMBIENT] -- CMD: setpriv as systemd applies the unit
bounding() { printf '%s' "-all"; for c in "$@"; do printf ',+%s' "$(tr 'A-Z' 'a-z' <<<"${c#CAP_}")"; done; }

case_filter_unit() {
	local start stop out rc caps
	# shellcheck disable=SC2046
	caps=$(bounding $(key streamgate-filter.service CapabilityBoundingSet))
	start=$(unit_exec streamgate-filter.service ExecStart)
	stop=$(unit_exec streamgate-filter.service ExecStop)
	write_regen_env STREAMGATE_BIN="$ROOT/$BUILD/streamgate" STREAMGATE_DEV=sg-u0 STREAMGATE_XDP_MODE=generic \
		STREAMGATE_REGIONS=ohio STREAMGATE_DROPIN_DIR="$U/streamgated.service.d" STREAMGATE_SYSTEMCTL=true \
		STREAMGATE_DEV_WAIT=2
	rc=0; out=$(setpriv --bounding-set "$caps" --no-new-privs $start 2>&1) || rc=$?
	check "filter unit ExecStart with $caps, /proc subset=pid, /sys read-only: XDP and nft up (rc $rc)" \
		sh -c "[ $rc -eq 0 ] && '$ROOT/$BUILD/streamgate' filter stats --json | grep -q sg-u0 && nft list table inet streamgate >/dev/null"
	[ $rc -eq 0 ] || echo "    $out"
	rc=0; out=$(setpriv --bounding-set "$caps" --no-new-privs $stop 2>&1) || rc=$?
	check "filter unit ExecStop with the same: both layers down (rc $rc)" \
		sh -c "[ $rc -eq 0 ] && ! nft list table inet streamgate 2>/dev/null && ! '$ROOT/$BUILD/streamgate' filter stats >/dev/null 2>&1"
	# teeth: without CAP_BPF the filter cannot come up
	rc=0; out=$(setpriv --bounding-set -all,+net_admin --no-new-privs $start 2>&1) || rc=$?
	check "filter unit ExecStart without CAP_BPF and CAP_SYS_ADMIN fails" test $rc -ne 0
	setpriv --bounding-set "$caps" $stop >/dev/null 2>&1
}

# streamgated as the unit runs it: its user, its one capability, its
# Environment=, the counters helper behind a socket.
case_daemon_unit() {
	local start env caps hcaps user=nobody group pid out rc st mport=9466
	group=$(id -gn "$user")
	# shellcheck disable=SC2046
	caps=$(bounding $(key streamgated.service CapabilityBoundingSet))
	# shellcheck disable=SC2046
	hcaps=$(bounding $(key streamgate-counters@.service CapabilityBoundingSet))
	start=$(unit_exec streamgated.service ExecStart)
	env=$(key streamgated.service Environment | sed "s#=/run/#=$T/#")
	"$ROOT/$BUILD/streamgate" filter attach sg-u0 --xdp-mode generic --region ohio >/dev/null 2>&1 &&
		"$ROOT/$BUILD/streamgate" nft apply --region ohio >/dev/null ||
		{ fail "daemon unit: setup" "cannot attach the filter"; return; }
	# streamgate-counters.socket: root:streamgate 0660; here the daemon's user
	setpriv --bounding-set "$hcaps" --no-new-privs systemd-socket-activate --accept \
		-l "$T/streamgate-counters.sock" "$ROOT/$BUILD/streamgated" \
		"$(key streamgate-counters@.service ExecStart | cut -d' ' -f2-)" \
		>"$T/counters.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do [ -S "$T/streamgate-counters.sock" ] && break; sleep 0.05; done
	chgrp "$group" "$T/streamgate-counters.sock"; chmod 0660 "$T/streamgate-counters.sock"
	# the layout the package makes: keys/ 0750 root:GROUP, each secret
	# 0600 owned by the user, the config 0640 root:GROUP
	umask 077
	install -d -m 0750 -g "$group" "$T/keys"
	install -d -m 0750 -o "$user" -g "$group" "$T/state"
	printf 'Un1tS3cr3t\n' >"$T/keys/k.secret"
	chown "$user:$group" "$T/keys/k.secret"
	cat >"$T/sg.json" <<-EOF
	{"listen": ["127.0.0.1:443"], "user": "$user",
	 "keys": [{"api_key": "k-unit", "secret_file": "$T/keys/k.secret"}],
	 "store": "sqlite:$T/state/events.db", "metrics": "127.0.0.1:$mport"}
	EOF
	chgrp "$group" "$T/sg.json"; chmod 0640 "$T/sg.json"
	umask 022
	# teeth first: without the ambient capability 443 is refused
	rc=0; out=$(env "$env" STREAMGATE_SECCOMP_KILL=1 setpriv --reuid "$user" --regid "$group" --clear-groups \
		--bounding-set "$caps" --no-new-privs timeout 5 $start 2>&1) || rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'listen 127.0.0.1:443: Permission denied' <<<"$out"; then
		pass "streamgated as $user without CAP_NET_BIND_SERVICE cannot bind 443"
	else
		fail "streamgated as $user without CAP_NET_BIND_SERVICE cannot bind 443 (rc $rc)" "$(tail -2 <<<"$out")"
	fi
	env "$env" STREAMGATE_SECCOMP_KILL=1 setpriv --reuid "$user" --regid "$group" --clear-groups \
		--bounding-set "$caps" --inh-caps "$caps" --ambient-caps "$caps" --no-new-privs \
		$start >"$T/daemon.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	for _ in $(seq 100); do curl -sf -o /dev/null --max-time 1 http://127.0.0.1:443/healthz && break; sleep 0.05; done
	check "streamgated as $user with ambient CAP_NET_BIND_SERVICE only: 443 answers /healthz" \
		curl -sf -o /dev/null --max-time 2 http://127.0.0.1:443/healthz
	st=$(grep -E '^(Uid|CapEff|CapPrm|CapAmb|NoNewPrivs|Seccomp):' "/proc/$pid/status" 2>/dev/null | tr -s '\t ' ' ' | tr '\n' ';')
	check "streamgated then holds no capability, NoNewPrivs 1, Seccomp 2 ($st)" \
		grep -q "CapPrm: 0000000000000000;CapEff: 0000000000000000;.*CapAmb: 0000000000000000;NoNewPrivs: 1;Seccomp: 2;" <<<"$st"
	out=$(curl -sf --max-time 5 "http://127.0.0.1:$mport/metrics")
	st=$(grep -xE 'streamgate_(xdp_attached|nft_table_present|sysstats_up) [01]' <<<"$out" | tr '\n' ' ')
	check "its /metrics: counters from streamgate-counters@.service ($st)" test \
		"$st" = "streamgate_xdp_attached 1 streamgate_nft_table_present 1 streamgate_sysstats_up 1 "
	check "the daemon reached the counters helper through the socket" grep -q 'Spawned' "$T/counters.log"
	kill -TERM "$pid" 2>/dev/null
	"$ROOT/$BUILD/streamgate" filter detach sg-u0 >/dev/null 2>&1
	nft delete table inet streamgate 2>/dev/null
}

case_exposure
case_dropin
case_verify
case_caps
if sandbox_mounts; then
	ip link set lo up
	ip link add sg-u0 type veth peer name sg-u1 && ip link set sg-u0 up && ip link set sg-u1 up
	case_filter_unit
	case_daemon_unit
else
	fail "setup" "cannot make the private mounts (bpffs, proc subset=pid, /sys read-only)"
fi

echo "units: $npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
