#!/usr/bin/env bash
# The control tool's command line: output shapes, exit codes, and error
# messages that name the flag.  Touches no network and no BPF.
. "$(dirname "$0")/lib.sh"

# expect_err NAME RC PATTERN ARGS...: exits RC, stderr matches PATTERN
expect_err() {
	local name=$1 want=$2 pat=$3 rc=0; shift 3
	"$SG" "$@" >"$T/o" 2>"$T/e" || rc=$?
	check "$name" sh -c "[ $rc -eq $want ] && grep -q -- \"$pat\" '$T/e' || { echo 'rc $rc:'; cat '$T/e'; exit 1; }"
}

check "the suite runs in a network namespace of its own (lib.sh)" sh -c \
	'[ "$(stat -L -c %i /proc/self/ns/net)" != "$(stat -L -c %i /proc/1/ns/net)" ]'
check "regions: 25 rows and a header" sh -c "[ \$($SG regions | wc -l) -eq 26 ]"
check "regions: zone and address split" sh -c "$SG regions | grep -Eq '^us-east +use1-az2 +34.225.10.29/32\$'"
check "regions --json: 25 entries of region, zone, cidr" python3 -c '
import json, subprocess, sys
v = json.loads(subprocess.check_output([sys.argv[1], "regions", "--json"]))
assert len(v) == 25, len(v)
assert all(list(e) == ["region", "zone", "cidr"] for e in v)
assert v[0] == {"region": "us-east", "zone": "use1-az2", "cidr": "34.225.10.29/32"}, v[0]
assert sorted({e["region"] for e in v}) == sorted(["us-east", "eu-west", "sydney", "mumbai", "singapore", "ohio", "canada", "oregon"])' "$SG"
check "regions --region narrows" sh -c "[ \$($SG regions --region ohio,canada | wc -l) -eq 7 ]"
check "regions --allow adds under 'allow'" sh -c "$SG regions --region ohio --allow 198.51.100.0/24 | grep -Eq '^allow +- +198.51.100.0/24\$'"

"$SG" regions --json --region oregon >"$T/mine.json"
check "--regions-file replaces the table" sh -c "[ \$($SG regions --regions-file $T/mine.json | wc -l) -eq 4 ]"
printf '[\n {"region": "a", "cidr": "192.0.2.0/24"},\n {"region": "b", "cidr": "1.2.3.4/33"}\n]\n' >"$T/bad.json"
expect_err "--regions-file: bad entry names file, line and reason" 2 \
	"bad.json: line 3: entry 2: bad cidr" regions --regions-file "$T/bad.json"
printf '[{"region": "a", "cidr": "192.0.2.1"},\n  oops]\n' >"$T/syntax.json"
expect_err "--regions-file: syntax error names the line" 2 "line 2" regions --regions-file "$T/syntax.json"
expect_err "--regions-file: missing file" 2 "No such file" regions --regions-file "$T/none.json"
expect_err "--region: unknown name lists the known ones" 2 "unknown region 'mars' (known: us-east" regions --region mars
expect_err "--allow: host bits set" 2 "host bits set" regions --allow 10.0.0.1/8
expect_err "--allow: duplicate of a table entry" 2 "already in the region table" regions --allow 34.225.10.29
expect_err "--allow: 0.0.0.0/0 needs --allow-any" 2 "lets every address through.*--allow-any" regions --allow 0.0.0.0/0
expect_err "--allow: ::/0 needs --allow-any" 2 "lets every address through" nft print --allow ::/0
check "--allow 0.0.0.0/0 --allow-any: taken, with a warning" sh -c "'$SG' regions --allow 0.0.0.0/0 --allow-any 2>'$T/w' | grep -q '0.0.0.0/0' && grep -q 'every IPv4 address passes' '$T/w'"
expect_err "--allow: an IPv4-mapped address is refused, naming the IPv4 form" 2 \
	"::ffff:1.2.3.4 is an IPv4-mapped IPv6 address.*1.2.3.4/32" regions --allow ::ffff:1.2.3.4
expect_err "--allow: an IPv4-mapped prefix names its IPv4 prefix" 2 "198.51.100.0/24" \
	regions --allow ::ffff:198.51.100.0/120
expect_err "--ports: not a port" 2 "\-\-ports: '70000'" filter sync --ports 443,70000
expect_err "--ports: empty element" 2 "\-\-ports: ''" filter sync --ports 443,
expect_err "--mode: unknown" 2 "\-\-mode: 'loose'" filter sync --mode loose
expect_err "--xdp-mode: unknown" 2 "\-\-xdp-mode" filter attach lo --xdp-mode fast
expect_err "a flag another command takes" 2 "\-\-json does not apply" filter sync --json
expect_err "an unknown flag" 2 "unknown or incomplete flag '--frobnicate'" regions --frobnicate
expect_err "attach without a device" 2 "needs a device" filter attach
expect_err "unknown command" 2 "unknown command" launch
check "nft print: one set per region, a drop rule per family" sh -c "out=\$($SG nft print); [ \$(echo \"\$out\" | grep -c '^	set v4_') -eq 8 ] && echo \"\$out\" | grep -q 'meta nfproto ipv6 tcp dport @protected_ports counter drop'"
expect_err "nft: --hook ingress without --dev" 2 "needs --dev" nft print --hook ingress
expect_err "nft: --dev without --hook ingress" 2 "only goes with --hook ingress" nft print --dev eth0
expect_err "nft: bad --hook" 2 "\-\-hook: 'output'" nft print --hook output
expect_err "nft: bad --table" 2 "\-\-table" nft print --table 'a b'
expect_err "nft: unknown region" 2 "unknown region 'mars'" nft apply --region mars
expect_err "nft delete takes no region" 2 "\-\-region does not apply" nft delete --region ohio
expect_err "nft: unknown command" 2 "nft: unknown command" nft flush
# up, down, status: a usage error exits 2 before any step runs
expect_err "up: --dev is required" 2 "up: \-\-dev DEV is required" up --allow 198.51.100.7/32
expect_err "down: --dev is required" 2 "down: \-\-dev DEV is required" down
expect_err "up: the device is a flag, not an argument" 2 "unexpected argument 'eth0' (the device is \-\-dev DEV)" up eth0
expect_err "up: --dev without a value" 2 "unknown or incomplete flag '\-\-dev'" up --dev
expect_err "up: --dev not a device name" 2 "\-\-dev: 'a/b' is not a device name" up --dev a/b
expect_err "up: --mode unknown" 2 "\-\-mode: 'loose'" up --dev lo --mode loose
expect_err "up: --ports not a port" 2 "\-\-ports: '70000'" up --dev lo --ports 70000
expect_err "up: --region unknown" 2 "\-\-region: unknown region 'mars'" up --dev lo --region mars
expect_err "up: --allow host bits" 2 "\-\-allow: .*host bits set" up --dev lo --allow 10.0.0.1/8
expect_err "up: --hook unknown" 2 "\-\-hook: 'output'" up --dev lo --hook output
expect_err "up: --xdp-mode unknown" 2 "\-\-xdp-mode" up --dev lo --xdp-mode fast
expect_err "up: --config missing" 2 "\-\-config: $T/none.json" up --dev lo --config "$T/none.json"
printf '{"listen": ["127.0.0.1:1"]}\n' >"$T/nokeys.json"
expect_err "up: --config without keys" 2 "\-\-config: .*keys: no API key" up --dev lo --config "$T/nokeys.json"
printf '{"listen": ["127.0.0.1:1"], "keys": [{"api_key": "k", "secret_file": "%s"}]}\n' "$T/nosecret" >"$T/nosecret.json"
expect_err "up: --config with a missing secret file" 2 "\-\-config: .*nosecret" up --dev lo --config "$T/nosecret.json"
expect_err "down: takes no --allow" 2 "\-\-allow does not apply to down" down --dev lo --allow 198.51.100.7/32
expect_err "down: takes no --config" 2 "\-\-config does not apply to down" down --dev lo --config x
expect_err "status: unknown flag" 2 "unknown or incomplete flag '\-\-frobnicate'" status --frobnicate
expect_err "status: an argument" 2 "status: unexpected argument 'now'" status now
expect_err "status: --table not a name" 2 "\-\-table: 'a b'" status --table 'a b'
expect_err "status: --dev not a device name" 2 "\-\-dev: 'a/b'" status --dev a/b
check "up/down/status --help exit 0" sh -c "$SG up --help | grep -q 'usage: streamgate up --dev DEV' && $SG down -h | grep -q 'usage: streamgate down' && $SG status --help | grep -q 'usage: streamgate status'"
check "--help shows up, down and status" sh -c "$SG --help | grep -q 'streamgate up --dev DEV' && $SG --help | grep -q 'streamgate down --dev DEV' && $SG --help | grep -q 'streamgate status'"
check "--help exits 0 and shows every command" sh -c "$SG --help | grep -q 'filter stats' && $SG --help | grep -q 'nft delete'"

finish cli
