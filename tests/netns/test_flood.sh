#!/usr/bin/env bash
# A short flood through each kernel layer (the long drill is make
# bench-flood): 2 s of SYNs to 443 from random sources in 203.0.113.0/25,
# sent by bench/flood_gen (live XDP frames out of the client's c0, received
# by the edge's e0 as a NIC's driver would hand them over), through the XDP
# filter and through the nft table.  The layer's drop counter plus what the
# edge's device dropped for want of room must be every packet sent; the
# nft table drops them before conntrack (no entry is made for them); a
# signed push from the allowed host still gets 200 while the flood runs.
# See lib.sh for the topology and the safety rules.
. "$(dirname "$0")/lib.sh"

GEN=$ROOT/$BUILD/bench/flood_gen
GOBJ=$ROOT/$BUILD/bench/flood.bpf.o
CONF=$TMPD/sg.json
SECRET=$TMPD/k.secret
RATE=25000
SECONDS_=2

# the generator is a benchmark binary: build it when make test has not
if [ ! -x "$GEN" ] || [ ! -f "$GOBJ" ]; then
	make -s -C "$ROOT" BUILD="$BUILD" "$BUILD/bench/flood_gen" \
		"$BUILD/bench/flood.bpf.o" >/dev/null 2>&1 ||
		{ echo "FAIL: setup: cannot build $BUILD/bench/flood_gen"; exit 1; }
fi

listeners_off() {
	local i
	kill "${PIDS[@]}" 2>/dev/null
	for i in $(seq 50); do
		on_edge ss -ltn "sport = :443" | grep -q LISTEN || return 0
		sleep 0.1
	done
	return 1
}

# daemon_up: streamgated on the edge's 443 (lib.sh's listener gone), with
# e0 able to take frames sent by XDP (GRO gives a veth its NAPI context)
# and an idle veth in the client for the generator to park its program on.
daemon_up() {
	listeners_off || { echo "lib.sh's listener on 443 did not go away"; return 1; }
	umask 077
	printf 'flood-test-secret\n' >"$SECRET"
	cat >"$CONF" <<EOF
{"listen": ["$EDGE_IP:443"], "keys": [{"api_key": "k", "secret_file": "$SECRET"}],
 "store": "sqlite:$TMPD/store/events.db", "user": "root"}
EOF
	mkdir -p "$TMPD/store"
	nsenter --net=/run/netns/$EDGE "$ROOT/$BUILD/streamgated" --config "$CONF" \
		>>"$TMPD/background.log" 2>&1 &
	PIDS+=($!)
	on_edge "$GEN" gro --dev e0 on
	on_client ip link add cp0 type veth peer name cp1
	on_client ip link set cp0 up
	on_client ip link set cp1 up
	wait_listen 443
}

# push: the status of one signed push from the allowed host, new connection.
push() {
	local body='{"type":"message.new"}' sig
	sig=$(printf %s "$body" | "$SG" sign --secret-file "$SECRET")
	on_client curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
		--interface $ALLOWED -H 'X-Api-Key: k' -H "X-Signature: $sig" \
		-H "X-Webhook-Id: flood-$1" -d "$body" \
		"http://$EDGE_IP:443/webhooks/stream/push" || true
}

rx_dropped() {
	on_edge ip -j -s link show e0 | python3 -c '
import json, sys
print(json.load(sys.stdin)[0]["stats64"]["rx"]["dropped"])'
}

xdp_not_allowed() {
	on_edge "$SG" filter stats --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["dropped"]["not_allowed"]["packets"])'
}

# flood: the SYN flood in the background, a push in its middle; sets SENT
# and PUSH.
flood() {
	local mac out
	mac=$(on_edge ip -j link show e0 | python3 -c '
import json, sys
print(json.load(sys.stdin)[0]["address"])')
	on_client "$GEN" send --dev c0 --dst-mac "$mac" --dst $EDGE_IP --kind syn \
		--src 203.0.113.0/25 --rate $RATE --seconds $SECONDS_ \
		--obj "$GOBJ" --park cp0 >"$TMPD/flood.out" 2>"$TMPD/flood.err" &
	local g=$!
	sleep 1
	PUSH=$(push "$1")
	wait $g || { cat "$TMPD/flood.err"; return 1; }
	out=$(cat "$TMPD/flood.out")
	SENT=$(sed -n 's/.* sent=\([0-9]*\) .*/\1/p' <<<"$out")
	expect "the generator ran on live frames ($out)" grep -q 'mode=live' <<<"$out"
	expect "the flood was sent ($out)" test "${SENT:-0}" -ge $((RATE * SECONDS_ * 9 / 10))
	sleep 0.3	# the last frames leave e0's ring
}

case_xdp() {
	daemon_up
	on_edge "$SG" filter attach e0 --allow $ALLOWED/32 >/dev/null
	local d0 r0 d1 r1
	d0=$(xdp_not_allowed) r0=$(rx_dropped)
	flood xdp
	d1=$(xdp_not_allowed) r1=$(rx_dropped)
	expect "a signed push during the flood gets 200 ($PUSH)" test "$PUSH" = 200
	expect "XDP drops + device drops = sent ($((d1 - d0)) + $((r1 - r0)) of $SENT)" \
		test $((d1 - d0 + r1 - r0)) -eq "$SENT"
	expect "XDP dropped the flood ($((d1 - d0)) of $SENT)" test $((d1 - d0)) -ge $((SENT * 9 / 10))
}

case_nft() {
	daemon_up
	on_edge "$SG" nft apply --allow $ALLOWED/32
	local d0 r0 d1 r1 ct
	d0=$(nft_counter on_edge "syn not allowed") r0=$(rx_dropped)
	flood nft
	d1=$(nft_counter on_edge "syn not allowed") r1=$(rx_dropped)
	ct=$(on_edge cat /proc/sys/net/netfilter/nf_conntrack_count)
	expect "a signed push during the flood gets 200 ($PUSH)" test "$PUSH" = 200
	expect "nft drops + device drops = sent ($((d1 - d0)) + $((r1 - r0)) of $SENT)" \
		test $((d1 - d0 + r1 - r0)) -eq "$SENT"
	expect "nft dropped the flood ($((d1 - d0)) of $SENT)" test $((d1 - d0)) -ge $((SENT * 9 / 10))
	expect "dropped before conntrack: $ct entries after $SENT SYNs" test "$ct" -lt 100
	expect "nothing reached the input chain's drop" \
		test "$(nft_counter on_edge "not allowed")" -eq 0
}

run_case "XDP: a 2 s foreign SYN flood, every packet counted, push 200" case_xdp
run_case "nft: a 2 s foreign SYN flood dropped before conntrack, push 200" case_nft
finish
