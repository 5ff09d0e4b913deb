#!/usr/bin/env bash
# bench-flood.sh (make bench-flood): what each layer buys an edge host under
# a flood.  Everything runs in network namespaces made here, in a private
# mount namespace with its own bpffs and /run, and is removed on exit,
# interrupted or not.  RFC 5737 addresses only; nothing leaves the machine.
#
# Topology (one link into the edge, as on a real host with one NIC):
#
#   stream ns  fs0 198.51.100.7 --- fws 198.51.100.1 \
#                                                      attacker ns (routes)
#   edge ns    fe0 192.0.2.1 ------- fw0 192.0.2.254 / 203.0.113.200 on lo
#
# The attacker's namespace holds the far end of the edge's link and routes
# the Stream host's traffic to it, like the upstream router of an edge host
# whose one link carries both.  The flood generator (flood_gen, live XDP
# frames) runs there, pinned to CPU 1, and redirects its frames out of fw0:
# the edge's fe0 receives them as xdp_frames, as a NIC's driver would hand
# them over.  fe0 has GRO on (veth's NAPI without an XDP program) and a
# threaded NAPI pinned to CPU 0, so all the edge's receive work runs in one
# kthread apart from the generator.  fw0 runs flood_sink (flood.bpf.c):
# the edge's answers to spoofed sources (SYN-ACKs, ICMP) die there, in
# fw0's own NAPI thread, whose CPU is measured and kept out of the edge's.
#
# Configurations, alternated (each measurement step runs every
# configuration before the next step), each with a fresh store:
#   none         nothing (the daemon's listening socket, SYN cookies)
#   nft-input    streamgate nft apply (inet: raw prerouting + input), ports
#   nft-strict   the same, --mode strict
#   nft-ingress  streamgate nft apply --hook ingress --dev fe0
#   bare         bench/bare.bpf.o (return XDP_DROP): the transport's floor
#   xdp          streamgate filter attach fe0 (ports)
#   xdp-strict   streamgate filter attach fe0 --mode strict
#   up           streamgate up --dev fe0 (XDP + nft inet + the daemon)
# The daemon (streamgated, SQLite store on disk, plain HTTP on
# 192.0.2.1:443) runs in every configuration: started by `up` in the last,
# directly in the others.  Allowed: Stream's built-in table, 198.51.100.7
# (the Stream host) and 198.51.100.8 (allowed, nowhere: the address the
# allowed-spoof flood uses).
#
# Steps:
#   1. idle: the machine's system+irq+softirq per second without traffic
#   2. the ladder: a SYN flood to 443 from random sources in 203.0.113.0/25
#      at FLOOD_LADDER_PPS (200000) for FLOOD_LADDER_S (3) s, nothing else
#   3. other floods at FLOOD_KIND_PPS (200000) for FLOOD_KIND_S (0.7) s:
#      UDP to 443 and to 9, SYN from 198.51.100.8 (allowed), later IPv4
#      fragments; then a connection flood: FLOOD_CONNS (5000) real TCP
#      connections from 203.0.113.200 to 443 at 4000/s, left idle for 2 s,
#      and one new signed push from the Stream host meanwhile
#   4. legit: wrk sends signed pushes at FLOOD_LEGIT_RPS (2000) for
#      FLOOD_LEGIT_S (2, whole seconds) s, without a flood and under a SYN
#      flood at each of FLOOD_RATES (200000 400000)
# The edge's CPU per packet, where every packet went, and the tables:
# bench/flood-report.py (its header says exactly how the CPU is counted).
#
#   BUILD=build bench/bench-flood.sh   (make bench-flood builds and runs it)
#   env: FLOOD_CONFIGS (all above), FLOOD_RATES, FLOOD_LEGIT_RPS,
#        FLOOD_LADDER_PPS, FLOOD_LADDER_S,
#        FLOOD_KIND_PPS, FLOOD_KIND_S, FLOOD_LEGIT_S, FLOOD_CONNS,
#        FLOOD_AF_PACKET=1 (the AF_PACKET generator instead of live frames)
set -euo pipefail

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

die() { echo "bench-flood: $*" >&2; exit 1; }

if [ -z "${SG_FLOOD_PRIVATE:-}" ]; then
	[ "$(id -u)" -eq 0 ] || die "must run as root (XDP, nftables, netns)"
	for t in unshare nsenter ip nft wrk python3 curl taskset chrt; do
		command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh)"
	done
	for f in streamgate streamgated streamgate.bpf.o bench/flood_gen \
	    bench/flood.bpf.o bench/bare.bpf.o; do
		[ -e "$BUILD/$f" ] || die "$BUILD/$f missing: make bench-flood"
	done
	[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (the generator on one, the edge's NAPI on the other)"
	exec unshare -m --propagation private \
		env SG_FLOOD_PRIVATE=1 BUILD="$BUILD" "$0" "$@"
fi

# ---- from here: private mount namespace ----
# the system's python: a version manager's shim can take a second to start
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs -o mode=0755 sg-flood-run /run
CONFIGS=${FLOOD_CONFIGS:-none nft-input nft-strict nft-ingress bare xdp xdp-strict up}
RATES=${FLOOD_RATES:-200000 400000}
LEGIT_RPS=${FLOOD_LEGIT_RPS:-2000}
LADDER_PPS=${FLOOD_LADDER_PPS:-200000}
LADDER_S=${FLOOD_LADDER_S:-3}
KIND_PPS=${FLOOD_KIND_PPS:-200000}
KIND_S=${FLOOD_KIND_S:-0.7}
LEGIT_S=${FLOOD_LEGIT_S:-2}
CONNS=${FLOOD_CONNS:-5000}
GEN_FLAGS=
[ -n "${FLOOD_AF_PACKET:-}" ] && GEN_FLAGS=--af-packet

E=sgf-edge-$$ N=sgf-net-$$ S=sgf-stream-$$
SG=$BUILD/streamgate
GEN=$BUILD/bench/flood_gen
OBJ=$BUILD/bench/flood.bpf.o
DIR=$BUILD/bench/flood
RES=$DIR/results.jsonl
EDGE_IP=192.0.2.1 STREAM_IP=198.51.100.7 SPOOF_OK=198.51.100.8
CONN_SRC=203.0.113.200 FOREIGN=203.0.113.0/25
ALLOWS="--allow $STREAM_IP/32 --allow $SPOOF_OK/32"
API_KEY=benchkey
SGD_PID=

on_e() { nsenter --net=/run/netns/$E "$@"; }
on_n() { nsenter --net=/run/netns/$N "$@"; }
on_s() { nsenter --net=/run/netns/$S "$@"; }

cleanup() {
	set +e
	local p
	for p in $(ip netns pids "$E" 2>/dev/null) $(ip netns pids "$N" 2>/dev/null) \
	    $(ip netns pids "$S" 2>/dev/null); do
		kill "$p" 2>/dev/null
	done
	sleep 0.2
	for p in $(ip netns pids "$E" 2>/dev/null) $(ip netns pids "$N" 2>/dev/null) \
	    $(ip netns pids "$S" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null
	done
	ip netns del "$E" 2>/dev/null
	ip netns del "$N" 2>/dev/null
	ip netns del "$S" 2>/dev/null
	rm -f "$DIR"/reqs/vars.*
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

T0=$(date +%s)
rm -rf "$DIR"
mkdir -p "$DIR/reqs" "$DIR/run"
: >"$RES"

# ---- topology ----
ip netns add "$E"; ip netns add "$N"; ip netns add "$S"
ip link add fe0 netns "$E" type veth peer name fw0 netns "$N"
ip link add fs0 netns "$S" type veth peer name fws netns "$N"
# an idle pair: flood_gen parks its program there (flood_gen.c, live_run)
on_n ip link add fp0 type veth peer name fp1
for d in fw0 fws fp0 fp1; do on_n ip link set "$d" up; done
on_e ip link set lo up; on_n ip link set lo up; on_s ip link set lo up
on_e ip link set fe0 up; on_s ip link set fs0 up
on_e ip addr add $EDGE_IP/24 dev fe0
on_e ip route add default via 192.0.2.254
on_n ip addr add 192.0.2.254/24 dev fw0
on_n ip addr add 198.51.100.1/24 dev fws
on_n ip addr add $CONN_SRC/32 dev lo
on_n sysctl -qw net.ipv4.ip_forward=1
on_s ip addr add $STREAM_IP/24 dev fs0
on_s ip route add default via 198.51.100.1
on_e "$GEN" gro --dev fe0 on
on_n "$GEN" sink --dev fw0 --net "$FOREIGN" --host $SPOOF_OK --obj "$OBJ"
ip netns exec "$E" sh -c 'echo 1 >/sys/class/net/fe0/threaded'
ip netns exec "$N" sh -c 'echo 1 >/sys/class/net/fw0/threaded'
EDGE_MAC=$(on_e cat /sys/class/net/fe0/address 2>/dev/null ||
	on_e ip -j link show fe0 | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[0]["address"])')
on_s ping -c1 -W2 $EDGE_IP >/dev/null || die "the Stream host cannot reach the edge"

# napi_pid DEV: the NAPI kthread of DEV (comm "napi/DEV-ID"), pinned to
# CPU. XDP attach and detach re-create it.
napi_pid() {
	local f c
	for f in /proc/[0-9]*/comm; do
		{ read -r c <"$f"; } 2>/dev/null || continue
		case $c in "napi/$1-"*) f=${f#/proc/}; echo "${f%/comm}"; return 0 ;; esac
	done
	return 1
}
# A NAPI thread at SCHED_FIFO, as softirq would be: it is not made to wait
# behind the daemon or the load generator for its turn on the CPU.
pin_napi() {
	local p
	p=$(napi_pid "$1") || die "no NAPI thread for $1"
	taskset -pc "$2" "$p" >/dev/null
	chrt -f -p 50 "$p"
	echo "$p"
}

# ---- the daemon's config and the signed bodies ----
"$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$DIR/secret"
chmod 0600 "$DIR/secret"
"$PY" bench/make-bodies.py "$DIR/secret" "$DIR/reqs" 20000 2 2>/dev/null
NSTORE=0
config_new() {	# a config with a fresh store
	NSTORE=$((NSTORE + 1))
	mkdir -p "$DIR/store-$NSTORE"
	CONF=$DIR/store-$NSTORE/streamgated.json
	cat >"$CONF" <<EOF
{"listen": ["$EDGE_IP:443"], "keys": [{"api_key": "$API_KEY", "secret_file": "$DIR/secret"}],
 "store": "sqlite:$DIR/store-$NSTORE/events.db", "user": "root"}
EOF
}

# push_status: one signed push from the Stream host on a new connection.
push_status() {
	local body=$DIR/reqs/probe.json sig
	sig=$("$PY" -c 'import hashlib, hmac, sys
print(hmac.new(open(sys.argv[1]).readline().strip().encode(), open(sys.argv[2], "rb").read(), hashlib.sha256).hexdigest())' "$DIR/secret" "$body")
	on_s curl -s -o /dev/null -w '%{http_code}' --max-time "${1:-2}" \
		-H "X-Api-Key: $API_KEY" -H "X-Signature: $sig" \
		-H "X-Webhook-Id: probe-$RANDOM-$RANDOM" -H 'Content-Type: application/json' \
		--data-binary @"$body" "http://$EDGE_IP:443/webhooks/stream/push" || true
}

healthy() {
	local k
	for k in $(seq 50); do
		[ "$(on_s curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
			"http://$EDGE_IP:443/healthz" || true)" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

layer_up() {	# layer_up CONFIG: the layer, the daemon, the NAPI pinning
	config_new
	case $1 in
	none) ;;
	nft-input) on_e "$SG" nft apply $ALLOWS ;;
	nft-strict) on_e "$SG" nft apply --mode strict $ALLOWS ;;
	nft-ingress) on_e "$SG" nft apply --hook ingress --dev fe0 $ALLOWS ;;
	bare) on_e ip link set dev fe0 xdp obj "$BUILD/bench/bare.bpf.o" sec xdp ;;
	xdp) on_e "$SG" filter attach fe0 $ALLOWS >/dev/null ;;
	xdp-strict) on_e "$SG" filter attach fe0 --mode strict $ALLOWS >/dev/null ;;
	up) on_e "$SG" up --dev fe0 --config "$CONF" --run-dir "$DIR/run" \
		$ALLOWS >"$DIR/up.log" 2>&1 || { cat "$DIR/up.log" >&2; die "streamgate up failed"; } ;;
	*) die "unknown configuration $1" ;;
	esac
	if [ "$1" != up ]; then
		# nsenter execs the daemon: $! is the daemon itself
		nsenter --net=/run/netns/$E "$BUILD/streamgated" --config "$CONF" \
			2>>"$DIR/streamgated.log" &
		SGD_PID=$!
		DAEMON=$SGD_PID
	else
		DAEMON=$(cat "$DIR/run/streamgated.pid")
	fi
	# bare drops everything, the daemon's answers too: no health check
	if [ "$1" != bare ]; then
		healthy || die "$1: the daemon does not answer /healthz"
	else
		sleep 0.3
	fi
	NAPI_E=$(pin_napi fe0 0)
	NAPI_N=$(pin_napi fw0 1)
}

layer_down() {
	case $1 in
	nft-input|nft-strict) on_e "$SG" nft delete ;;
	nft-ingress) on_e "$SG" nft delete --hook ingress ;;
	bare) on_e ip link set dev fe0 xdp off ;;
	xdp|xdp-strict) on_e "$SG" filter detach fe0 >/dev/null ;;
	up) on_e "$SG" down --dev fe0 --run-dir "$DIR/run" >/dev/null 2>&1 ||
		die "streamgate down failed" ;;
	esac
	if [ -n "$SGD_PID" ]; then
		kill -TERM "$SGD_PID" 2>/dev/null || true
		wait "$SGD_PID" 2>/dev/null || true
		SGD_PID=
	fi
	rm -rf "$DIR/store-$NSTORE/events.db"*
}

snap() {
	"$PY" bench/flood-report.py snap "$DIR/$1.json" "$E" fe0 "$SG" "$GEN" \
		"$NAPI_E=napi" "$NAPI_N=sink" "$DAEMON=daemon"
}

# gen KIND RATE SECONDS [SRC] [DPORT]: the flood; its FLOOD line on stdout
gen() {
	on_n "$GEN" send $GEN_FLAGS --dev fw0 --dst-mac "$EDGE_MAC" --dst $EDGE_IP \
		--kind "$1" --rate "$2" --seconds "$3" --src "${4:-$FOREIGN}" \
		--dport "${5:-443}" --obj "$OBJ" --cpu 1 --park fp0
}

# flood_run CONFIG NAME KIND RATE SECONDS [SRC] [DPORT]
flood_run() {
	local cfg=$1 name=$2 line
	snap before
	line=$(gen "$3" "$4" "$5" "${6:-}" "${7:-}") || die "$cfg: flood_gen failed"
	sleep 0.3	# the ring drains, late answers are counted
	snap after
	"$PY" bench/flood-report.py run "$RES" "$cfg" "$name" "$DIR/before.json" \
		"$DIR/after.json" "$line" "$DIR/idle.json" "$5"
}

# legit_run CONFIG RATE: wrk at LEGIT_RPS, under a SYN flood at RATE (0: none)
legit_run() {
	local cfg=$1 rate=$2 gpid= fline= out=$DIR/wrk.out tag
	tag=$("$PY" -c 'import secrets; print(secrets.token_hex(4))')
	if [ "$rate" != 0 ]; then
		gen syn "$rate" "$("$PY" -c "print($LEGIT_S + 1.0)")" >"$DIR/gen.out" &
		gpid=$!
		sleep 0.5
	fi
	on_s wrk -t2 -c16 -d"${LEGIT_S}s" --latency -s bench/wrk-paced.lua \
		"http://$EDGE_IP:443/webhooks/stream/push" -- "$DIR/reqs" 2 "$API_KEY" \
		"$tag" keep "$LEGIT_RPS" >"$out" 2>&1 || { cat "$out" >&2; die "$cfg: wrk failed"; }
	if [ -n "$gpid" ]; then
		wait "$gpid" || die "$cfg: flood_gen failed"
		fline=$(cat "$DIR/gen.out")
	fi
	"$PY" bench/flood-report.py legit "$RES" "$cfg" "$rate" \
		"$(grep '^SG_RESULT ' "$out")" "$fline"
}

conn_run() {
	local cfg=$1 line st
	snap before
	on_n "$GEN" conn --src $CONN_SRC --dst $EDGE_IP --dport 443 --count "$CONNS" \
		--rate 4000 --hold 2 >"$DIR/conn.out" &
	local cpid=$!
	sleep 1.5
	st=$(push_status 1)
	wait "$cpid" || die "$cfg: flood_gen conn failed"
	snap after
	"$PY" bench/flood-report.py conn "$RES" "$cfg" "$(cat "$DIR/conn.out")" \
		"${st:-000}" "$DIR/before.json" "$DIR/after.json"
}

echo "bench-flood: $(nproc) CPUs, kernel $(uname -r); edge NAPI on CPU 0, generator on CPU 1"
echo "configurations: $CONFIGS"

# ---- 1. idle ----
layer_up none
snap before; sleep 3; snap after
"$PY" bench/flood-report.py base "$DIR/idle.json" "$DIR/before.json" "$DIR/after.json" 3
layer_down none
echo "idle: $("$PY" -c 'import json, sys; print("%.1f" % json.load(open(sys.argv[1]))["ticks_per_s"])' "$DIR/idle.json") ticks/s of system+irq+softirq"

# ---- 2. the ladder ----
echo "SYN flood at $LADDER_PPS pps for $LADDER_S s:"
for c in $CONFIGS; do
	layer_up "$c"
	flood_run "$c" syn syn "$LADDER_PPS" "$LADDER_S"
	layer_down "$c"
done

# ---- 3. other floods ----
echo "other floods at $KIND_PPS pps for $KIND_S s, then a connection flood:"
for c in $CONFIGS; do
	layer_up "$c"
	flood_run "$c" udp443 udp "$KIND_PPS" "$KIND_S"
	flood_run "$c" udp9 udp "$KIND_PPS" "$KIND_S" "" 9
	flood_run "$c" syn-allowed syn "$KIND_PPS" "$KIND_S" $SPOOF_OK/32
	flood_run "$c" frag frag "$KIND_PPS" "$KIND_S"
	[ "$c" = bare ] || conn_run "$c"
	layer_down "$c"
done

# ---- 4. legit traffic, alone and under SYN floods ----
echo "legit: signed pushes offered at $LEGIT_RPS req/s for $LEGIT_S s:"
for rate in 0 $RATES; do
	for c in $CONFIGS; do
		[ "$c" = bare ] && continue	# it drops the legit traffic too
		layer_up "$c"
		legit_run "$c" "$rate"
		layer_down "$c"
	done
done

"$PY" bench/flood-report.py report "$RES" "$LEGIT_RPS"
echo "(bench wall time $(( $(date +%s) - T0 )) s; results in $RES)"
