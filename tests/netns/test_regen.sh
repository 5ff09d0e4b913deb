#!/usr/bin/env bash
# scripts/streamgate-regen: both layers from one env file, in the edge
# namespace; and its systemd units.  See lib.sh for topology and safety.
. "$(dirname "$0")/lib.sh"

REGEN=$ROOT/scripts/streamgate-regen
# the script's lock file goes to this private mount namespace's /run/lock
mkdir -p /run/lock && mount -t tmpfs -o mode=0755 sg-test-lock /run/lock

# write_env FILE KEY=VALUE...: an env file as an operator would write it;
# streamgated's drop-in goes to $TMPD/dropin, systemctl is not called.
write_env() {
	local f=$1; shift
	mkdir -p "$TMPD/dropin"
	printf 'STREAMGATE_BIN=%s\n' "$SG" >"$f"
	printf '%s\n' "STREAMGATE_DROPIN_DIR=$TMPD/dropin" STREAMGATE_SYSTEMCTL=true "$@" >>"$f"
	chmod 600 "$f"
}

case_applies_nft() {
	write_env "$TMPD/sg.env" STREAMGATE_REGIONS=ohio "STREAMGATE_ALLOW=\"$ALLOWED/32 2001:db8:10::/48\""
	local out
	out=$(on_edge "$REGEN" --env "$TMPD/sg.env" 2>&1) || { echo "regen failed: $out"; return 1; }
	expect "says XDP was not synced ($out)" grep -q "not attached" <<<"$out"
	expect "table has the ohio set" on_edge nft list set inet streamgate v4_ohio >/dev/null
	expect "table has the v6 allow set" on_edge nft list set inet streamgate v6_allow >/dev/null
	expect "allowed source connects" tcp_ok $ALLOWED 443
	expect_not "foreign source dropped" tcp_ok $FOREIGN 443
	# layer 3: streamgated's IPAddressAllow= from the same table
	local allow
	allow=$(sed -n 's/^IPAddressAllow=//p' "$TMPD/dropin/ipaddress-allow.conf" | tr '\n' ' ')
	expect "says streamgated's IPAddressAllow was written ($out)" grep -q "IPAddressAllow written" <<<"$out"
	expect "drop-in: loopback, ohio, the allowed prefixes ($allow)" test "$allow" = \
		"localhost 3.14.163.216/32 3.15.245.3/32 3.141.116.179/32 $ALLOWED/32 2001:db8:10::/48 "
}

case_syncs_xdp_too() {
	on_edge "$SG" filter attach e0 --region canada
	write_env "$TMPD/sg.env" STREAMGATE_REGIONS=ohio STREAMGATE_ALLOW=$ALLOWED/32 \
		STREAMGATE_HOOK=ingress STREAMGATE_DEV=e0 STREAMGATE_PORTS=443,8443
	local out regions
	out=$(on_edge "$REGEN" --env "$TMPD/sg.env" 2>&1) || { echo "regen failed: $out"; return 1; }
	expect "says the maps were synced on e0 ($out)" grep -q "synced (e0)" <<<"$out"
	regions=$(on_edge "$SG" filter stats --json | python3 -c '
import json, sys
print(" ".join(sorted(r["region"] for r in json.load(sys.stdin)["regions"] if r["entries"])))')
	expect "XDP maps hold ohio and allow, not canada ($regions)" test "$regions" = "allow ohio"
	expect "netdev table on e0" on_edge nft list set netdev streamgate v4_ohio >/dev/null
	expect "allowed source connects to 8443" tcp_ok $ALLOWED 8443
	expect_not "foreign source dropped on 8443" tcp_ok $FOREIGN 8443
	on_edge "$SG" filter detach e0
}

case_bad_region_keeps_table() {
	write_env "$TMPD/good.env" STREAMGATE_REGIONS=ohio
	write_env "$TMPD/bad.env" STREAMGATE_REGIONS=ohio,mars
	on_edge "$REGEN" --env "$TMPD/good.env" >/dev/null
	local before after out rc=0
	before=$(nft_json on_edge counters)
	out=$(on_edge "$REGEN" --env "$TMPD/bad.env" 2>&1) || rc=$?
	expect "bad region fails (rc $rc)" test $rc -ne 0
	expect "one line naming the nft layer ($out)" test "$(wc -l <<<"$out")" -eq 1
	expect "message names the nft layer ($out)" grep -q "nft layer" <<<"$out"
	expect "message names the region ($out)" grep -q "mars" <<<"$out"
	after=$(nft_json on_edge counters)
	same_json "previous table intact" "$before" "$after"
}

case_env_file_checks() {
	write_env "$TMPD/open.env" STREAMGATE_REGIONS=ohio
	chmod 666 "$TMPD/open.env"
	local out rc=0
	out=$(on_edge "$REGEN" --env "$TMPD/open.env" 2>&1) || rc=$?
	expect "world-writable env file refused (rc $rc: $out)" test $rc -eq 2
	rc=0; out=$(on_edge "$REGEN" --env "$TMPD/none.env" 2>&1) || rc=$?
	expect "missing env file named (rc $rc: $out)" grep -q "none.env" <<<"$out"
	expect "nothing applied" test -z "$(on_edge nft list ruleset)"
}

# The units as installed name /usr/local/sbin/streamgate-regen, which
# verify wants to exist: check copies pointing at this checkout's script.
case_units_verify() {
	local d=$TMPD/units out
	mkdir -p "$d"
	sed "s#^ExecStart=.*#ExecStart=$REGEN#" "$ROOT/scripts/systemd/streamgate-regen.service" \
		>"$d/streamgate-regen.service"
	cp "$ROOT/scripts/systemd/streamgate-regen.timer" "$d/"
	out=$(systemd-analyze verify "$d/streamgate-regen.service" "$d/streamgate-regen.timer" 2>&1) ||
		{ echo "systemd-analyze verify: $out"; return 1; }
	expect "no warnings ($out)" test -z "$out"
}

run_case "regen: env file applies the nft table and streamgated's IPAddressAllow" case_applies_nft
run_case "regen: XDP attached: maps synced too" case_syncs_xdp_too
run_case "regen: bad region names the nft layer, table kept" case_bad_region_keeps_table
run_case "regen: env file refused when unsafe or missing" case_env_file_checks
run_case "regen: systemd units pass systemd-analyze verify" case_units_verify
finish
