#!/usr/bin/env bash
# The nftables layer: `streamgate nft print|apply|diff|delete` in fresh
# namespaces, checked against nft(8) itself and with real TCP and UDP.
# See lib.sh for the topology and the safety rules; every ruleset here lives
# in a namespace this script created.
. "$(dirname "$0")/lib.sh"

V6=2001:db8:10::/48	# an IPv6 --allow, so the v6 sets and rules exist too

# hook_flags input|ingress: the flags that select the hook.
hook_flags() { [ "$1" = ingress ] && echo "--hook ingress --dev e0"; true; }

# What `nft print` writes must load: nft -c sends the batch to the kernel
# and aborts it, so this also checks that the kernel takes every expression.
case_print_loads() {
	printf '[]\n' >"$TMPD/empty.json"
	local mode hook flags out
	for mode in ports strict; do
		for hook in input ingress; do
			for flags in "--region ohio --allow $ALLOWED/32 --allow $V6" \
			    "" "--regions-file $TMPD/empty.json" \
			    "--ports 443,8443 --allow $ALLOWED/32"; do
				flags="--mode $mode $(hook_flags $hook) $flags"
				"$SG" nft print $flags >"$TMPD/rules.nft" ||
					{ echo "expected: nft print $flags to succeed"; return 1; }
				out=$(on_edge nft -c -f "$TMPD/rules.nft" 2>&1) ||
					{ echo "expected: nft -c to take print $flags: $out"; return 1; }
			done
		done
	done
	expect "nft -c changed nothing" test -z "$(on_edge nft list ruleset)"
}

# Zones are free text that ends up in quoted nft comments: every character
# a region file may carry there still loads, and a quote (which would end
# the comment: `"a "; drop"`) or a backslash is refused when the file is
# read, before anything is printed.
case_print_escapes() {
	local zone out rc=0
	zone=$'a\';{}#@$ |&<>()*?[]%~`=+,.!:'	# 28 of the 31 a zone may have
	python3 -c 'import json, sys
print(json.dumps([{"region": "odd", "zone": sys.argv[1], "cidr": "198.51.100.7/32"}]))' \
		"$zone" >"$TMPD/odd.json"
	"$SG" nft print --regions-file "$TMPD/odd.json" >"$TMPD/odd.nft"
	expect "the comment carries the zone as written" \
		grep -qF "comment \"odd $zone\"" "$TMPD/odd.nft"
	out=$(on_edge nft -c -f "$TMPD/odd.nft" 2>&1) ||
		{ echo "expected: nft -c to take the odd zone: $out"; return 1; }
	printf '[{"region": "q", "zone": "a \\"; drop", "cidr": "198.51.100.7/32"}]\n' \
		>"$TMPD/quote.json"
	out=$("$SG" nft print --regions-file "$TMPD/quote.json" 2>&1) || rc=$?
	expect "a quote in a zone is a usage error (rc $rc)" test "$rc" -eq 2
	expect "naming the quote ($out)" grep -q "quote or a backslash" <<<"$out"
}

# apply over netlink == nft -f of print, as the kernel lists them back.
case_apply_matches_print() {
	scratch_up
	local mode hook flags a b
	for mode in ports strict; do
		for hook in input ingress; do
			flags="--mode $mode $(hook_flags $hook) --region ohio,canada --allow $ALLOWED/32 --allow $V6 --ports 443,8443"
			on_edge "$SG" nft apply $flags
			"$SG" nft print $flags | on_scratch nft -f -
			a=$(nft_json on_edge) b=$(nft_json on_scratch)
			same_json "apply == nft -f print ($mode $hook)" "$a" "$b"
			# our namespaces only: start the next pair from nothing
			on_edge nft flush ruleset
			on_scratch nft flush ruleset
		done
	done
}

# bare_ack SRC PORT: one TCP ACK from SRC to the edge that belongs to no
# connection (a raw socket; the kernel adds the IP header).
bare_ack() {
	on_client python3 -c '
import socket, struct, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
hdr = struct.pack("!HHIIBBHHH", 40000, port, 1, 1, 5 << 4, 0x10, 512, 0, 0)
ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
hdr = hdr[:16] + struct.pack("!H", csum(ph + hdr)) + hdr[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.bind((src, 0))
s.sendto(hdr, (dst, 0))' "$1" $EDGE_IP "$2"
}

# Real TCP through the rules; HOOK is input or ingress.
real_tcp() {
	local hook=$1 flags; flags="$(hook_flags $1) --region ohio --allow $ALLOWED/32"
	on_edge "$SG" nft apply $flags
	expect "allowed source connects to 443" tcp_ok $ALLOWED 443
	expect_not "foreign source times out on 443" tcp_ok $FOREIGN 443
	expect "foreign source reaches unprotected 8080" tcp_ok $FOREIGN 8080
	local dropped allowed syn=""
	# inet: a SYN from outside the sets is dropped in the raw prerouting
	# chain, before conntrack makes an entry for it; other segments still
	# meet the input chain's drop after conntrack (a stray ACK here)
	[ "$hook" = input ] && syn="syn "
	dropped=$(nft_counter on_edge "${syn}not allowed")
	allowed=$(nft_counter on_edge allow)
	expect "drop rule counted ($dropped)" test "$dropped" -gt 0
	expect "allow rule counted ($allowed)" test "$allowed" -gt 0
	if [ "$hook" = input ]; then
		expect_not "no conntrack entry for the dropped SYNs" \
			grep -q "src=$FOREIGN dst=$EDGE_IP sport=[0-9]* dport=443 " \
			<(on_edge cat /proc/net/nf_conntrack)
		local before
		before=$(nft_counter on_edge "not allowed")
		bare_ack $FOREIGN 443
		sleep 0.2
		expect "a stray ACK meets the input chain's drop" \
			test "$(nft_counter on_edge "not allowed")" -gt "$before"
	fi

	# An idle connection from a foreign source (an operator's SSH, say)
	# opened before strict mode, used after it.
	echo_listener on_edge 0.0.0.0 2222
	held_open $FOREIGN 2222 held
	echo_listener on_client $FOREIGN 9000	# for the edge's own outbound
	on_edge "$SG" nft apply --mode strict $flags
	expect_not "strict: foreign dropped on 8080 too" tcp_ok $FOREIGN 8080
	expect "strict: allowed still connects to 8080" tcp_ok $ALLOWED 8080
	expect_not "strict: new foreign connection to 2222 fails" tcp_ok $FOREIGN 2222
	if [ "$hook" = input ]; then
		expect "strict: the edge's own connection out gets its replies" edge_tcp_ok $FOREIGN 9000
		expect "strict: connection opened before strict still echoes" held_echo held
	else
		# netdev ingress runs before conntrack: strict there, like XDP,
		# drops replies from foreign peers (nft.h: ct state is inet only).
		expect_not "strict ingress: held foreign connection is cut" held_echo held
		expect_not "strict ingress: replies from a foreign peer dropped" edge_tcp_ok $FOREIGN 9000
		echo_listener on_client $ALLOWED 9001
		expect "strict ingress: replies from an allowed peer pass" edge_tcp_ok $ALLOWED 9001
	fi
	dropped=$(nft_counter on_edge "${syn}not allowed")
	expect "strict drop rule counted ($dropped)" test "$dropped" -gt 0
}
case_real_tcp_input()   { real_tcp input; }
case_real_tcp_ingress() { real_tcp ingress; }

# ~40 replaces with changing regions, 198.51.100.7 always allowed, while it
# keeps connecting and floods UDP in strict mode.  The streamgate table's own
# counters restart with every replace, so the oracle is a test table of our
# own: one chain before streamgate's (priority -10) and one after (+10) count
# the flood; whatever the first saw and the second did not was dropped in
# between.  A foreign flood must never get past either (a gap with no table
# would let it through).
case_atomic_replace() {
	local common="--mode strict --allow $ALLOWED/32"
	on_edge "$SG" nft apply $common
	on_edge nft -f - <<-EOF2
	table ip sgtest {
		chain before {
			type filter hook input priority -10; policy accept;
			ip saddr $ALLOWED udp dport 9 counter comment "kept before"
		}
		chain after {
			type filter hook input priority 10; policy accept;
			ip saddr $ALLOWED udp dport 9 counter comment "kept after"
			ip saddr $FOREIGN udp dport 9 counter comment "foreign after"
		}
	}
	EOF2
	local stop=$TMPD/stop result=$TMPD/result flood=$TMPD/flood
	# bounded: both clients stop on the stop file, or after 40 s
	client_connect_loop $ALLOWED 443 "$stop" "$result" 40 &
	local tcp=$!
	client_udp_flood $ALLOWED,$FOREIGN 9 "$stop" "$flood" 40 500 &
	local udp=$! i regions=(us-east ohio canada,oregon "" sydney,mumbai,singapore) n_apply=0
	sleep 0.3
	for i in $(seq 40); do
		local r=${regions[i % 5]}
		on_edge "$SG" nft apply $common ${r:+--region $r} && n_apply=$((n_apply + 1))
	done
	touch "$stop"; wait $tcp $udp
	sleep 0.2	# let the last datagrams through the stack
	local n fails sent before after foreign
	read -r n fails <"$result"
	read -r sent <"$flood"
	before=$(nft_counter on_edge "kept before")
	after=$(nft_counter on_edge "kept after")
	foreign=$(nft_counter on_edge "foreign after")
	expect "all 40 applies succeeded ($n_apply)" test "$n_apply" -eq 40
	expect "connections made during the applies ($n)" test "$n" -gt 20
	expect "no connection failed during 40 applies ($fails of $n failed)" test "$fails" -eq 0
	expect "UDP sent during the applies ($sent)" test "$sent" -gt 5000
	expect "UDP seen before streamgate's chain ($before)" test "$before" -gt 0
	expect "no packet from the kept address dropped ($before seen, $after passed)" test "$before" -eq "$after"
	expect "no foreign packet passed during the applies ($foreign)" test "$foreign" -eq 0
	expect_not "foreign still dropped" tcp_ok $FOREIGN 443
}

# Same flags twice: the same ruleset; diff says so, and names a change.
case_idempotent_and_diff() {
	local flags="--region ohio --allow $ALLOWED/32" a b rc out
	on_edge "$SG" nft apply $flags
	a=$(nft_json on_edge)
	on_edge "$SG" nft apply $flags
	b=$(nft_json on_edge)
	same_json "a second apply changes nothing" "$a" "$b"
	rc=0; out=$(on_edge "$SG" nft diff $flags 2>&1) || rc=$?
	expect "diff with the same flags exits 0 (rc $rc: $out)" test $rc -eq 0
	rc=0; out=$(on_edge "$SG" nft diff --region canada --allow $ALLOWED/32 2>&1) || rc=$?
	expect "diff with another region exits 1 (rc $rc)" test $rc -eq 1
	expect "diff names the changed set ($out)" grep -Eq 'v4_(ohio|canada)' <<<"$out"
	b=$(nft_json on_edge)
	same_json "diff changes nothing" "$a" "$b"
}

# A batch the kernel refuses leaves the previous table as it was.
case_failed_batch_keeps_table() {
	local before after out rc=0 hook
	for hook in input ingress; do
		local dev=""
		[ $hook = ingress ] && dev="--dev e0"
		on_edge "$SG" nft apply --hook $hook $dev --region ohio --allow $ALLOWED/32
		before=$(nft_json on_edge counters)
		# the kernel accepts every message but the last: all or nothing
		rc=0; out=$(STREAMGATE_TEST_NFT_FAULT=1 on_edge "$SG" nft apply \
			--hook $hook $dev --region canada,oregon --mode strict 2>&1) || rc=$?
		expect "$hook: batch failing at its last message exits 1 (rc $rc)" test $rc -eq 1
		expect "$hook: one line naming the refusal ($out)" test "$(wc -l <<<"$out")" -eq 1
		expect "$hook: says the previous table stays ($out)" grep -q "previous table is still in force" <<<"$out"
		after=$(nft_json on_edge counters)
		same_json "$hook: table kept after a failed batch" "$before" "$after"
	done
	# a device that is not there: refused before anything is sent
	rc=0; out=$(on_edge "$SG" nft apply --hook ingress --dev nosuchdev 2>&1) || rc=$?
	expect "missing device refused (rc $rc)" test $rc -eq 1
	expect "missing device named ($out)" grep -q "nosuchdev: no such device" <<<"$out"
	after=$(nft_json on_edge counters)
	same_json "table kept after a refused device" "$before" "$after"
}

# Applies refused before any netlink message change nothing either.
case_refused_apply_changes_nothing() {
	local before after out rc
	on_edge "$SG" nft apply --hook ingress --dev e0 --region ohio --allow $ALLOWED/32
	before=$(nft_json on_edge counters)
	rc=0; out=$(on_edge "$SG" nft apply --hook ingress --dev e0 --region mars 2>&1) || rc=$?
	expect "unknown region is a usage error (rc $rc)" test $rc -eq 2
	expect "unknown region named ($out)" grep -q "mars" <<<"$out"
	rc=0; out=$(on_edge "$SG" nft apply --hook ingress --dev e0 --allow 10.0.0.1/8 2>&1) || rc=$?
	expect "bad cidr is a usage error (rc $rc)" test $rc -eq 2
	expect "bad cidr names the flag ($out)" grep -q -- "--allow" <<<"$out"
	rc=0; out=$(on_edge setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$SG" nft apply --hook ingress --dev e0 2>&1) || rc=$?
	expect "not root fails with 1 (rc $rc)" test $rc -eq 1
	expect "not root explained ($out)" grep -q "root" <<<"$out"
	after=$(nft_json on_edge counters)
	same_json "table kept after the refused applies" "$before" "$after"
}

case_delete() {
	on_edge "$SG" nft apply --allow $ALLOWED/32
	on_edge "$SG" nft apply --hook ingress --dev e0 --allow $ALLOWED/32
	on_edge "$SG" nft delete
	expect_not "inet table gone" on_edge nft list table inet streamgate
	expect "netdev table kept" on_edge nft list table netdev streamgate >/dev/null
	expect "second delete still exits 0" on_edge "$SG" nft delete
	on_edge "$SG" nft delete --hook ingress
	expect_not "netdev table gone" on_edge nft list table netdev streamgate
	expect "foreign connects once the table is gone" tcp_ok $FOREIGN 443
}

run_case "nft print loads with nft -c (modes, hooks, tables, ports)" case_print_loads
run_case "nft print: free-text zones load; a quote is refused" case_print_escapes
run_case "nft apply == nft -f of nft print" case_apply_matches_print
run_case "inet input: real TCP, counters, strict, established" case_real_tcp_input
run_case "netdev ingress: real TCP, counters, strict" case_real_tcp_ingress
run_case "40 applies while connecting: atomic, no gap" case_atomic_replace
run_case "apply twice is idempotent; nft diff" case_idempotent_and_diff
run_case "a batch refused at its last message keeps the previous table" case_failed_batch_keeps_table
run_case "refused apply (usage, not root) changes nothing" case_refused_apply_changes_nothing
run_case "nft delete" case_delete
finish
