#!/usr/bin/env bash
# tests/cli/test_install.sh: `make install` / `make uninstall` into a
# DESTDIR, and what was installed: the file list and modes, the units
# (systemd-analyze verify on the installed files, at their installed paths),
# the installed tool finding the installed BPF object, the filter unit's
# commands (streamgate-regen --up/--down) on a throwaway veth pair.
#
# Safety: the script runs in its own mount and network namespaces (unshare
# -m -n): the installed tree is bind-mounted over /usr/local (and a tmpfs
# over /opt) in the private mount namespace only, bpffs and /run/lock are
# private mounts, and the XDP program and nft table go on a veth pair that
# exists only in the private network namespace.  Nothing is written to the
# host's /usr/local, /opt, /etc, bpffs or network namespace.  Needs root; does
# not need the user "streamgate".  BUILD (default build) is the build dir.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: install: needs root (private mount and network namespaces)"
	exit 0
fi
if [ -z "${SG_INSTALL_NS:-}" ]; then
	export SG_INSTALL_NS=1
	exec unshare -m -n --propagation private bash "$0" "$@"
fi

T=$(mktemp -d /tmp/sg-install.XXXXXX)
D=$T/root		# DESTDIR, PREFIX=/usr/local
D2=$T/optroot		# DESTDIR, PREFIX=/opt/sgtest
trap 'cd /; umount -R /usr/local /opt 2>/dev/null; rm -rf "$T"' EXIT
npass=0 nfail=0 nskip=0

pass() { echo "PASS: $1"; npass=$((npass + 1)); }
fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); }
skip() { echo "SKIP: $1: $2"; nskip=$((nskip + 1)); }
# check NAME CMD...: PASS when CMD succeeds, else FAIL with its last lines
check() {
	local name=$1; shift
	if "$@" >"$T/out" 2>&1; then pass "$name"
	else fail "$name" "$(tail -5 "$T/out" | tr '\n' ' ')"; fi
}

mount -t bpf bpf /sys/fs/bpf || { echo "FAIL: setup: cannot mount bpffs"; exit 1; }
[ -d /run/lock ] && mount -t tmpfs -o mode=0755 sg-test-lock /run/lock
ip link set lo up

UNITS="streamgated.service streamgate-filter.service streamgate-regen.service streamgate-regen.timer
	streamgate-counters.socket streamgate-counters@.service"
# expected: mode and path under PREFIX, sorted by path
expected() {
	local p=$1
	sort -k2 <<EOF
644 $p/lib/streamgate/streamgate.bpf.o
644 $p/lib/systemd/system/streamgate-counters.socket
644 $p/lib/systemd/system/streamgate-counters@.service
644 $p/lib/systemd/system/streamgate-filter.service
644 $p/lib/systemd/system/streamgate-regen.service
644 $p/lib/systemd/system/streamgate-regen.timer
644 $p/lib/systemd/system/streamgated.service
755 $p/sbin/streamgate
755 $p/sbin/streamgate-regen
755 $p/sbin/streamgated
644 $p/share/bash-completion/completions/streamgate
644 $p/share/doc/streamgate/README.md
644 $p/share/man/man5/streamgated.json.5
644 $p/share/man/man8/streamgate.8
644 $p/share/man/man8/streamgated.8
644 $p/share/streamgate/grafana/streamgate.json
644 $p/share/streamgate/prometheus/streamgate.rules.yml
644 $p/share/streamgate/streamgate.env.example
644 $p/share/streamgate/streamgated.json.example
EOF
}
# layout DESTDIR: every non-directory, "mode path", relative to DESTDIR
layout() { (cd "$1" && find . ! -type d -printf '%m %p\n' | sed 's# \./# /#' | sort -k2); }
# inst DESTDIR PREFIX [TARGET]: make install (or TARGET) quietly
inst() { make -s -C "$ROOT" BUILD="$BUILD" DESTDIR="$1" PREFIX="$2" "${3:-install}"; }

# ---- install, layout, idempotence -------------------------------------------
# same_as_sources DESTDIR: with PREFIX=/usr/local every installed file is
# its source byte for byte (the units' default paths are that PREFIX's)
same_as_sources() {
	local p=$1/usr/local f bad=""
	for f in streamgated streamgate; do cmp -s "$BUILD/$f" "$p/sbin/$f" || bad+=" sbin/$f"; done
	cmp -s scripts/streamgate-regen "$p/sbin/streamgate-regen" || bad+=" sbin/streamgate-regen"
	cmp -s "$BUILD/streamgate.bpf.o" "$p/lib/streamgate/streamgate.bpf.o" || bad+=" streamgate.bpf.o"
	for f in streamgated.json.example streamgate.env.example; do
		cmp -s "scripts/$f" "$p/share/streamgate/$f" || bad+=" $f"
	done
	cmp -s README.md "$p/share/doc/streamgate/README.md" || bad+=" README.md"
	cmp -s scripts/prometheus/streamgate.rules.yml "$p/share/streamgate/prometheus/streamgate.rules.yml" ||
		bad+=" streamgate.rules.yml"
	cmp -s scripts/grafana/streamgate.json "$p/share/streamgate/grafana/streamgate.json" ||
		bad+=" streamgate.json"
	cmp -s "$BUILD/man/streamgate.8" "$p/share/man/man8/streamgate.8" || bad+=" streamgate.8"
	for f in streamgated.8 streamgated.json.5; do
		cmp -s "daemon/streamgated/$f" "$p/share/man/man${f##*.}/$f" || bad+=" $f"
	done
	cmp -s "$BUILD/streamgate.bash-completion" \
		"$p/share/bash-completion/completions/streamgate" || bad+=" completion"
	for f in $UNITS; do cmp -s "scripts/systemd/$f" "$p/lib/systemd/system/$f" || bad+=" $f"; done
	[ -z "$bad" ] || { echo "differ from their sources:$bad"; return 1; }
}

case_install() {
	local out
	out=$(inst "$D" /usr/local 2>&1) || { fail "install into DESTDIR" "$(tail -3 <<<"$out")"; return; }
	pass "install into DESTDIR (PREFIX=/usr/local)"
	out=$(diff <(expected /usr/local) <(layout "$D") 2>&1) &&
		pass "installed files and modes are exactly the expected ones" ||
		fail "installed files and modes" "$(tr '\n' ' ' <<<"$out")"
	check "installed files are the build's and the tree's" same_as_sources "$D"
	check "nothing under etc/" test ! -e "$D/etc"

	chmod 600 "$D/usr/local/sbin/streamgated"	# install sets modes again
	out=$(inst "$D" /usr/local 2>&1) || { fail "install twice" "$(tail -3 <<<"$out")"; return; }
	out=$(diff <(expected /usr/local) <(layout "$D") 2>&1) &&
		pass "install twice: the same files and modes" ||
		fail "install twice: files and modes" "$(tr '\n' ' ' <<<"$out")"
	check "install twice: still the build's and the tree's" same_as_sources "$D"
}

# PREFIX substituted into the units, and no stray default path left.
case_prefix() {
	local out u bad=""
	out=$(inst "$D2" /opt/sgtest 2>&1) || { fail "install PREFIX=/opt/sgtest" "$(tail -3 <<<"$out")"; return; }
	out=$(diff <(expected /opt/sgtest) <(layout "$D2") 2>&1) &&
		pass "PREFIX=/opt/sgtest: files and modes" ||
		fail "PREFIX=/opt/sgtest: files and modes" "$(tr '\n' ' ' <<<"$out")"
	for u in $UNITS; do
		grep -v '^#' "$D2/opt/sgtest/lib/systemd/system/$u" | grep -q '/usr/local' && bad+=" $u"
	done
	check "PREFIX=/opt/sgtest: no /usr/local left in the units' settings ($bad)" test -z "$bad"
	check "PREFIX=/opt/sgtest: ExecStart names PREFIX/sbin" grep -qx \
		'ExecStart=/opt/sgtest/sbin/streamgated --config /etc/streamgate/streamgated.json' \
		"$D2/opt/sgtest/lib/systemd/system/streamgated.service"
	check "PREFIX=/opt/sgtest: the counters helper's ExecStart names PREFIX/sbin" grep -qx \
		'ExecStart=/opt/sgtest/sbin/streamgated --counters-helper' \
		"$D2/opt/sgtest/lib/systemd/system/streamgate-counters@.service"
	check "PREFIX=/opt/sgtest: Documentation names PREFIX/share/doc" grep -qx \
		'Documentation=file:/opt/sgtest/share/doc/streamgate/README.md' \
		"$D2/opt/sgtest/lib/systemd/system/streamgate-filter.service"
	check "the tree's units are unchanged (still name /usr/local)" grep -q \
		'^ExecStart=/usr/local/sbin/streamgated ' "$ROOT/scripts/systemd/streamgated.service"
}

# ---- the installed tree at its real paths ----------------------------------
# From here /usr/local is the installed tree (private mount namespace).
mount_trees() {
	mount --bind "$D/usr/local" /usr/local || return 1
	if [ -d /opt ]; then
		mount -t tmpfs sg-test-opt /opt && mkdir /opt/sgtest &&
			mount --bind "$D2/opt/sgtest" /opt/sgtest || return 1
	fi
}

case_verify() {
	local out u f
	for prefix in /usr/local /opt/sgtest; do
		[ -d "$prefix/lib/systemd/system" ] || { skip "verify $prefix" "no $prefix here"; continue; }
		f=()
		for u in $UNITS; do f+=("$prefix/lib/systemd/system/$u"); done
		out=$(systemd-analyze verify "${f[@]}" 2>&1); rc=$?
		if [ $rc -eq 0 ] && [ -z "$out" ]; then
			pass "systemd-analyze verify: the installed units in $prefix, no warning"
		else
			fail "systemd-analyze verify $prefix (rc $rc)" "$(tr '\n' ' ' <<<"$out")"
		fi
	done
	# the check has teeth: a bad value, an unknown syscall and a missing
	# binary are each reported
	sed -e 's/^ProtectSystem=strict/ProtectSystem=bogus/' \
		-e 's/^SystemCallFilter=.*/SystemCallFilter=@system-service nosuchcall/' \
		-e 's#^ExecStart=/usr/local/sbin/streamgated#ExecStart=/usr/local/sbin/nosuchbinary#' \
		/usr/local/lib/systemd/system/streamgated.service >"$T/bad.service"
	out=$(systemd-analyze verify "$T/bad.service" 2>&1)
	if grep -q bogus <<<"$out" && grep -q nosuchcall <<<"$out" && grep -q nosuchbinary <<<"$out"; then
		pass "systemd-analyze verify reports a broken copy"
	else
		fail "systemd-analyze verify reports a broken copy" "$(tr '\n' ' ' <<<"$out")"
	fi
}

# The installed tool, run from its installed path without --obj, loads the
# installed object: a real attach (generic XDP) on the private veth.
case_finds_obj() {
	local out rc=0
	out=$(/usr/local/sbin/streamgate filter attach sg-i0 --xdp-mode generic --region ohio 2>&1) || rc=$?
	if [ $rc -eq 0 ] && /usr/local/sbin/streamgate filter stats --json | grep -q '"sg-i0"'; then
		pass "PREFIX=/usr/local: installed streamgate loads the installed object"
	else
		fail "PREFIX=/usr/local: installed streamgate loads the installed object (rc $rc)" "$out"
	fi
	/usr/local/sbin/streamgate filter detach sg-i0 >/dev/null 2>&1

	# another PREFIX: /usr/local no longer holds an object
	[ -x /opt/sgtest/sbin/streamgate ] || { skip "PREFIX=/opt/sgtest finds its object" "no /opt here"; return; }
	umount /usr/local
	local d hidden=()
	for d in /usr/local/lib/streamgate /usr/lib/streamgate; do
		[ -d "$d" ] && mount -t tmpfs sg-test-hide "$d" && hidden+=("$d")
	done
	rc=0
	out=$(/opt/sgtest/sbin/streamgate filter attach sg-i0 --xdp-mode generic --region ohio 2>&1) || rc=$?
	if [ $rc -eq 0 ]; then
		pass "PREFIX=/opt/sgtest: installed streamgate loads PREFIX/lib/streamgate's object"
		/opt/sgtest/sbin/streamgate filter detach sg-i0 >/dev/null 2>&1
	elif grep -q -- '--obj' <<<"$out"; then
		skip "PREFIX=/opt/sgtest: installed streamgate loads PREFIX/lib/streamgate's object" \
			"the tool searches only beside itself and in /usr/local/lib, /usr/lib (daemon/streamgate/cli.c cli_obj_default)"
	else
		fail "PREFIX=/opt/sgtest: installed streamgate (rc $rc)" "$out"
	fi
	for d in "${hidden[@]}"; do umount "$d"; done
	mount --bind "$D/usr/local" /usr/local
}

# The filter unit's own ExecStart/ExecReload/ExecStop lines, run as written
# in the installed unit (only the env file's path differs).
unit_cmd() {	# unit_cmd KEY: that line of the installed filter unit
	sed -n "s#^$1=##p" /usr/local/lib/systemd/system/streamgate-filter.service |
		sed "s#/etc/streamgate/streamgate.env#$T/sg.env#"
}
write_env() {	# write_env KEY=VALUE...: streamgated's drop-in goes to $T/dropin
	mkdir -p "$T/dropin"
	printf '%s\n' "STREAMGATE_DROPIN_DIR=$T/dropin" STREAMGATE_SYSTEMCTL=true "$@" >"$T/sg.env"
	chmod 600 "$T/sg.env"
}

case_filter_unit() {
	local start reload stop out rc regions
	start=$(unit_cmd ExecStart) reload=$(unit_cmd ExecReload) stop=$(unit_cmd ExecStop)
	write_env STREAMGATE_DEV=sg-i0 STREAMGATE_XDP_MODE=generic STREAMGATE_REGIONS=ohio \
		'STREAMGATE_ALLOW="198.51.100.7/32 2001:db8::/32"' STREAMGATE_PORTS= STREAMGATE_MODE= \
		STREAMGATE_TABLE= STREAMGATE_HOOK= STREAMGATE_OBJ= STREAMGATE_BIN= STREAMGATE_DEV_WAIT=2
	rc=0; out=$($start 2>&1) || rc=$?
	regions=$(/usr/local/sbin/streamgate filter stats --json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(" ".join([a["dev"] for a in s["attached"]] +
               sorted(r["region"] for r in s["regions"] if r["entries"])))' 2>/dev/null)
	if [ $rc -eq 0 ] && [ "$regions" = "sg-i0 allow ohio" ] &&
	   nft list table inet streamgate >/dev/null 2>&1; then
		pass "filter unit ExecStart: XDP on sg-i0 (ohio + allow) and the nft table"
	else
		fail "filter unit ExecStart (rc $rc, filter: $regions)" "$(tr '\n' ' ' <<<"$out")"
	fi

	sed -i 's/^STREAMGATE_REGIONS=ohio/STREAMGATE_REGIONS=canada/' "$T/sg.env"
	rc=0; out=$($reload 2>&1) || rc=$?
	regions=$(/usr/local/sbin/streamgate filter stats --json 2>/dev/null | python3 -c '
import json, sys
print(" ".join(sorted(r["region"] for r in json.load(sys.stdin)["regions"] if r["entries"])))' 2>/dev/null)
	nft list set inet streamgate v4_canada >/dev/null 2>&1 || regions+=" (no nft set v4_canada)"
	check "filter unit ExecReload: regions changed in place ($regions)" \
		test $rc -eq 0 -a "$regions" = "allow canada"
	check "filter unit ExecReload: streamgated's IPAddressAllow= follows (canada, allow)" \
		grep -qx 'IPAddressAllow=35.183.141.98/32' "$T/dropin/ipaddress-allow.conf"

	rc=0; out=$($stop 2>&1) || rc=$?
	if [ $rc -eq 0 ] && ! nft list table inet streamgate >/dev/null 2>&1 &&
	   ! /usr/local/sbin/streamgate filter stats >/dev/null 2>&1 &&
	   [ -z "$(ls /sys/fs/bpf/xdp/globals 2>/dev/null)" ]; then
		pass "filter unit ExecStop: filter detached, pins and table gone"
	else
		fail "filter unit ExecStop (rc $rc)" "$(tr '\n' ' ' <<<"$out")"
	fi
	rc=0; out=$($stop 2>&1) || rc=$?
	check "filter unit ExecStop again: already down, exit 0 ($(tr "\n" " " <<<"$out"))" test $rc -eq 0
}

# Empty variables pass no flag; set ones pass exactly theirs.  A stand-in
# streamgate records its argv.
case_filter_args() {
	local fake=$T/fake-streamgate start out want rc
	printf '#!/bin/sh\nfor a in "$@"; do printf "[%%s]" "$a"; done; echo\n' >"$fake"
	chmod 755 "$fake"
	start=$(unit_cmd ExecStart)
	write_env STREAMGATE_BIN="$fake" STREAMGATE_DEV=lo STREAMGATE_REGIONS= STREAMGATE_PORTS= \
		STREAMGATE_MODE= STREAMGATE_ALLOW= STREAMGATE_REGIONS_FILE= STREAMGATE_TABLE= \
		STREAMGATE_HOOK= STREAMGATE_XDP_MODE= STREAMGATE_OBJ= STREAMGATE_DEV_WAIT=
	out=$($start 2>&1)
	check "empty variables: no empty flag ($out)" test "$out" = "[up][--no-daemon][--dev][lo]"

	write_env STREAMGATE_BIN="$fake" STREAMGATE_DEV=lo STREAMGATE_REGIONS=ohio,canada \
		STREAMGATE_PORTS=443,8443 STREAMGATE_MODE=strict 'STREAMGATE_ALLOW="192.0.2.0/24 2001:db8::1"' \
		STREAMGATE_TABLE=sgt STREAMGATE_HOOK=ingress STREAMGATE_XDP_MODE=generic STREAMGATE_OBJ=/x.o
	out=$($start 2>&1)
	want="[up][--no-daemon][--dev][lo][--table][sgt][--mode][strict][--ports][443,8443]"
	want+="[--region][ohio,canada][--allow][192.0.2.0/24][--allow][2001:db8::1]"
	want+="[--xdp-mode][generic][--obj][/x.o][--hook][ingress]"
	check "every variable: its flag ($out)" test "$out" = "$want"
	local stop; stop=$(unit_cmd ExecStop)
	out=$($stop 2>&1)
	check "ExecStop: down with device and table ($out)" \
		test "$out" = "[down][--no-daemon][--dev][lo][--table][sgt]"

	write_env STREAMGATE_BIN="$fake" STREAMGATE_DEV=
	rc=0; out=$($start 2>&1) || rc=$?
	check "no STREAMGATE_DEV: exit 2 naming it ($out)" \
		test $rc -eq 2 -a -n "$(grep STREAMGATE_DEV <<<"$out")"

	# the device appears while --up waits for it
	write_env STREAMGATE_BIN="$fake" STREAMGATE_DEV=sg-late STREAMGATE_DEV_WAIT=5
	(sleep 0.5; ip link add sg-late type veth peer name sg-late1) &
	rc=0; out=$($start 2>&1) || rc=$?
	wait
	check "--up waits for a device that appears ($out)" test $rc -eq 0 -a "$out" = "[up][--no-daemon][--dev][sg-late]"
	ip link del sg-late 2>/dev/null
	write_env STREAMGATE_BIN="$fake" STREAMGATE_DEV=sg-never STREAMGATE_DEV_WAIT=1
	rc=0; out=$($start 2>&1) || rc=$?
	check "--up: a device that never appears fails naming it ($out)" \
		test $rc -ne 0 -a -n "$(grep sg-never <<<"$out")"
}

# ---- uninstall --------------------------------------------------------------
case_uninstall() {
	local out left
	umount -R /usr/local /opt 2>/dev/null
	# an operator's file beside ours stays
	touch "$D/usr/local/sbin/someone-else" "$D/usr/local/share/doc/streamgate/NOTES"
	out=$(inst "$D" /usr/local uninstall 2>&1) || { fail "uninstall" "$out"; return; }
	left=$(cd "$D" && find . ! -type d | sort | tr '\n' ' ')
	check "uninstall removes exactly what install put there (left: $left)" \
		test "$left" = "./usr/local/sbin/someone-else ./usr/local/share/doc/streamgate/NOTES "
	rm -f "$D/usr/local/sbin/someone-else" "$D/usr/local/share/doc/streamgate/NOTES"
	out=$(inst "$D" /usr/local uninstall 2>&1)
	check "uninstall twice is fine ($out)" test $? -eq 0
	check "our own directories removed once empty" test ! -e "$D/usr/local/lib/streamgate" \
		-a ! -e "$D/usr/local/share/streamgate" -a ! -e "$D/usr/local/share/doc/streamgate"
	out=$(inst "$D2" /opt/sgtest uninstall 2>&1)
	left=$(cd "$D2" && find . ! -type d | tr '\n' ' ')
	check "PREFIX=/opt/sgtest: uninstall leaves no file ($left)" test -z "$left"
}

case_install
case_prefix
if mount_trees; then
	ip link add sg-i0 type veth peer name sg-i1
	case_verify
	case_finds_obj
	case_filter_unit
	case_filter_args
else
	fail "setup" "cannot bind-mount the installed trees"
fi
case_uninstall

echo "install: $npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -eq 0 ]
