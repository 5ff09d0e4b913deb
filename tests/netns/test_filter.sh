#!/usr/bin/env bash
# The XDP filter on a real veth, with real TCP from another namespace.
# See lib.sh for the topology and the safety rules.
. "$(dirname "$0")/lib.sh"

# The object attached the iproute2 way, maps filled by our tool.
case_iproute2_attach() {
	on_edge ip link set dev e0 xdp obj "$OBJ" sec xdp
	# never synced: port 443 closed to everyone, other ports open
	expect_not "443 closed before the first sync" tcp_ok $ALLOWED 443
	expect "8080 open before the first sync" tcp_ok $FOREIGN 8080
	on_edge "$SG" filter sync --allow $ALLOWED/32
	expect "allowed source connects to 443" tcp_ok $ALLOWED 443
	expect_not "foreign source times out on 443" tcp_ok $FOREIGN 443
	expect "foreign source reaches unprotected 8080" tcp_ok $FOREIGN 8080
	local stats; stats=$(on_edge "$SG" filter stats --json)
	local passed dropped attached
	passed=$(region_packets allow)
	dropped=$(echo "$stats" | json_get dropped not_allowed packets)
	attached=$(echo "$stats" | json_get attached 0 dev)
	expect "allow region counted ($passed)" test "$passed" -gt 0
	expect "not_allowed drops counted ($dropped)" test "$dropped" -gt 0
	expect "stats names e0 ($attached)" test "$attached" = e0
	# ARP still resolves through the filter
	on_client ip neigh flush dev c0
	expect "ping from the allowed source" on_client ping -c1 -W1 -I $ALLOWED $EDGE_IP >/dev/null
	expect "ARP entry for the edge" sh -c "nsenter --net=/run/netns/$CLIENT ip neigh show $EDGE_IP dev c0 | grep -q lladdr"
	on_edge ip link set dev e0 xdp off
}

# The same through our attach, then strict mode.
case_tool_attach_and_strict() {
	# a regions file naming the test host's region, beside the real table
	printf '[{"region": "lab", "zone": "lab-a", "cidr": "%s/32"}]\n' $ALLOWED >"$TMPD/lab.json"
	on_edge "$SG" filter attach e0 --regions-file "$TMPD/lab.json"
	expect "allowed source connects" tcp_ok $ALLOWED 443
	expect_not "foreign source dropped" tcp_ok $FOREIGN 443
	expect "unprotected port open in ports mode" tcp_ok $FOREIGN 8080
	local passed dropped
	passed=$(region_packets lab)
	dropped=$(on_edge "$SG" filter stats --json | json_get dropped not_allowed packets)
	expect "region 'lab' counted ($passed)" test "$passed" -gt 0
	expect "not_allowed drops counted ($dropped)" test "$dropped" -gt 0
	on_edge "$SG" filter stats | grep -Eq '^lab +1 ' || { echo "expected: stats table row for lab with 1 entry"; return 1; }
	on_edge "$SG" filter sync --mode strict --allow $ALLOWED/32
	expect_not "strict: foreign dropped on 8080 too" tcp_ok $FOREIGN 8080
	expect "strict: allowed still connects to 8080" tcp_ok $ALLOWED 8080
	on_client ip neigh flush dev c0
	expect "strict: ARP and ping from the allowed source" on_client ping -c1 -W1 -I $ALLOWED $EDGE_IP >/dev/null
	expect_not "strict: ping from the foreign source dropped" on_client ping -c1 -W1 -I $FOREIGN $EDGE_IP >/dev/null
	on_edge "$SG" filter sync --ports 443,8443 --allow $ALLOWED/32
	expect_not "8443 protected after --ports" tcp_ok $FOREIGN 8443
	expect "8080 open again in ports mode" tcp_ok $FOREIGN 8080
	on_edge "$SG" filter detach e0
	expect "detach removes the pins" test ! -e /sys/fs/bpf/xdp/globals/sg_config
	expect "foreign source connects after detach" tcp_ok $FOREIGN 443
	local prog; prog=$(on_edge ip -j link show e0 | json_get 0 ifname)
	expect "no xdp left on e0" sh -c "! nsenter --net=/run/netns/$EDGE ip link show e0 | grep -q prog/xdp"
}

# The real Stream addresses never leave the namespace: here only --allow
# and region narrowing are exercised on the wire.  Each sync swaps the region
# selection and moves 198.51.100.7 between an exact /32 entry and a /24
# prefix: a sync that removed the old entry before adding the new one would
# leave a gap of a few microseconds.  A TCP connect would ride over such a
# gap (SYN retransmit), so the oracle is a UDP flood from the kept address
# in strict mode: the filter's not_allowed drop counter must stay at zero.
case_sync_without_gap() {
	local common="--mode strict"
	on_edge "$SG" filter attach e0 $common --allow $ALLOWED/32
	local stop=$TMPD/stop result=$TMPD/result flood=$TMPD/flood
	# bounded: both clients stop on the stop file, or after 60 s
	client_connect_loop $ALLOWED 443 "$stop" "$result" 60 &
	local tcp=$!
	client_udp_flood $ALLOWED 9 "$stop" "$flood" 60 1000 &
	local udp=$! i regions=(us-east ohio canada,oregon "" sydney)
	sleep 0.5
	for i in $(seq 60); do
		local r=${regions[i % 5]} allow=198.51.100.0/24
		[ $((i % 2)) -eq 0 ] && allow=$ALLOWED/32
		on_edge "$SG" filter sync $common ${r:+--region $r} --allow $allow
		sleep 0.02
	done
	touch "$stop"; wait $tcp $udp
	local n fails sent dropped
	read -r n fails <"$result"
	read -r sent <"$flood"
	dropped=$(on_edge "$SG" filter stats --json | json_get dropped not_allowed packets)
	expect "connections made during the syncs ($n)" test "$n" -gt 20
	expect "no connection failed during 60 syncs ($fails of $n failed)" test "$fails" -eq 0
	expect "UDP packets sent during the syncs ($sent)" test "$sent" -gt 10000
	expect "no packet from the kept address dropped ($dropped of $sent)" test "$dropped" -eq 0
	expect_not "foreign still dropped" tcp_ok $FOREIGN 443
	on_edge "$SG" filter detach e0
}

# Errors say what is wrong and exit non-zero.
case_errors() {
	local out
	out=$(on_edge "$SG" filter sync --allow $ALLOWED 2>&1) && return 1
	expect "sync without pins explains ($out)" grep -q "not attached" <<<"$out"
	out=$(on_edge "$SG" filter attach nosuchdev 2>&1) && return 1
	expect "missing device named ($out)" grep -q "no network device 'nosuchdev'" <<<"$out"
	out=$(on_edge setpriv --reuid=65534 --regid=65534 --clear-groups "$SG" filter stats 2>&1) && return 1
	expect "not root explained ($out)" grep -q "need root" <<<"$out"
	local rc=0
	out=$(on_edge "$SG" filter attach e0 --region mars 2>&1) || rc=$?
	expect "unknown region is a usage error (rc $rc)" test $rc -eq 2
	expect "unknown region lists names ($out)" grep -q "known: us-east" <<<"$out"
	out=$(on_edge "$SG" filter attach e0 --allow 10.0.0.1/8 2>&1) && return 1
	expect "bad cidr names the flag ($out)" grep -q -- "--allow" <<<"$out"
	# maps pinned by another layout are refused, not misread
	mkdir -p /sys/fs/bpf/tc/globals && ln -sfn /sys/fs/bpf/tc/ /sys/fs/bpf/xdp
	bpftool map create /sys/fs/bpf/xdp/globals/sg_config type array key 4 value 12 entries 1 name sg_config
	out=$(on_edge "$SG" filter attach e0 2>&1) && return 1
	expect "older layout explained ($out)" grep -q "another streamgate layout" <<<"$out"
	out=$(on_edge "$SG" filter stats 2>&1) && return 1
	expect "stats refuses the older layout too" grep -q "another streamgate layout" <<<"$out"
	rm -f /sys/fs/bpf/xdp/globals/sg_config
	# no bpffs
	out=$(unshare -m sh -c "umount /sys/fs/bpf; nsenter --net=/run/netns/$EDGE $SG filter stats" 2>&1) && return 1
	expect "missing bpffs explained ($out)" grep -q "mount -t bpf" <<<"$out"
}

# A foreign XDP program is never detached by us.
case_detach_foreign_program() {
	on_edge "$SG" filter attach e0 --allow $ALLOWED/32
	on_edge ip link add d0 type veth peer name d1
	on_edge ip link set d0 up
	on_edge "$SG" filter attach d0 --allow $ALLOWED/32
	on_edge "$SG" filter detach e0
	expect "pins kept while d0 still runs the filter" test -e /sys/fs/bpf/xdp/globals/sg_config
	expect "d0 still listed" sh -c "nsenter --net=/run/netns/$EDGE $SG filter stats --json | grep -q '\"d0\"'"
	on_edge "$SG" filter detach d0
	expect "pins gone after the last detach" test ! -e /sys/fs/bpf/xdp/globals/sg_config
}

run_case "ip link attach + filter sync: real TCP, ARP, counters" case_iproute2_attach
run_case "filter attach, strict mode, ports, detach" case_tool_attach_and_strict
run_case "sync while connecting: no gap for a kept address" case_sync_without_gap
run_case "error messages" case_errors
run_case "shared maps across two devices" case_detach_foreign_program
finish
