# tests/netns/lib.sh: sourced by the network tests.
#
# Safety: nothing here touches the root network namespace.  Each test case
# gets fresh namespaces (an "edge" host and a "client" host joined by a veth
# pair) and removes them when it ends, pass or fail.  The whole script runs
# in a private mount namespace with its own bpffs at /sys/fs/bpf, so pins
# never leak into the host's.  Commands enter the network namespaces with
# nsenter --net (not `ip netns exec`, which remounts /sys and would hide our
# private bpffs).
#
# Addresses are RFC 5737 documentation ranges:
#   edge    192.0.2.1/24 on e0
#   client  198.51.100.7 (allowed in the tests) and 203.0.113.9 (foreign)

if [ -z "${SG_PRIVATE_MNT:-}" ]; then
	export SG_PRIVATE_MNT=1
	exec unshare -m --propagation private bash "$0" "$@"
fi
mount -t bpf bpf /sys/fs/bpf || { echo "FAIL: setup: cannot mount bpffs"; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
SG=$ROOT/$BUILD/streamgate
OBJ=$ROOT/$BUILD/streamgate.bpf.o
EDGE=sg-edge-$$
CLIENT=sg-client-$$
SCRATCH=sg-scratch-$$	# a third, unconnected host: only nft tests make it
ALLOWED=198.51.100.7
FOREIGN=203.0.113.9
EDGE_IP=192.0.2.1
PIDS=()
TMPD=$(mktemp -d)
npass=0 nfail=0

on_edge()   { nsenter --net=/run/netns/$EDGE "$@"; }
on_client() { nsenter --net=/run/netns/$CLIENT "$@"; }

ns_up() {
	ip netns add "$EDGE" && ip netns add "$CLIENT" || return 1
	ip link add e0 netns "$EDGE" type veth peer name c0 netns "$CLIENT" || return 1
	on_edge ip link set lo up
	on_edge ip link set e0 up
	on_edge ip addr add $EDGE_IP/24 dev e0
	on_edge ip route add $ALLOWED/32 dev e0
	on_edge ip route add $FOREIGN/32 dev e0
	on_client ip link set lo up
	on_client ip link set c0 up
	on_client ip addr add $ALLOWED/32 dev c0
	on_client ip addr add $FOREIGN/32 dev c0
	on_client ip route add 192.0.2.0/24 dev c0 src $ALLOWED
	# listeners: 443 (protected) and 8080 (not), accepting forever
	for port in 443 8443 8080; do
		nsenter --net=/run/netns/$EDGE python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(128)
while True:
    c, _ = s.accept(); c.close()' $port &
		PIDS+=($!)
	done
	wait_listen 443 && wait_listen 8443 && wait_listen 8080
}

wait_listen() {
	local i
	for i in $(seq 50); do
		on_edge ss -ltn "sport = :$1" | grep -q LISTEN && return 0
		sleep 0.1
	done
	return 1
}

ns_down() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	PIDS=()
	# helpers started inside a case (in its subshell) leave no PIDS entry:
	# end whatever still runs in our namespaces, by pid
	for p in $(ip netns pids "$EDGE" 2>/dev/null; ip netns pids "$CLIENT" 2>/dev/null;
	    ip netns pids "$SCRATCH" 2>/dev/null); do
		kill "$p" 2>/dev/null
	done
	ip netns del "$EDGE" 2>/dev/null
	ip netns del "$CLIENT" 2>/dev/null
	ip netns del "$SCRATCH" 2>/dev/null
	rm -rf /sys/fs/bpf/tc /sys/fs/bpf/xdp /sys/fs/bpf/ip 2>/dev/null
	true
}
trap 'ns_down; rm -rf "$TMPD"' EXIT

# tcp_ok SRC PORT: 0 when a TCP connection from SRC to the edge completes.
tcp_ok() {
	on_client python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[3])), timeout=float(sys.argv[4]),
                             source_address=(sys.argv[2], 0)).close()
except OSError:
    sys.exit(1)' $EDGE_IP "$1" "$2" "${3:-1}"
}

# json_get PATH...: read streamgate's JSON on stdin, print one value.
json_get() {
	python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"
}

# region_packets NAME: packets passed for a region, from filter stats --json.
region_packets() {
	on_edge "$SG" filter stats --json | python3 -c '
import json, sys
print(sum(r["packets"] for r in json.load(sys.stdin)["regions"] if r["region"] == sys.argv[1]))' "$1"
}

# run_case NAME FUNC: one test case in fresh namespaces.
run_case() {
	local name=$1 fn=$2 why
	if ! ns_up; then
		echo "FAIL: $name: namespace setup failed"
		nfail=$((nfail + 1)); ns_down; return
	fi
	why=$(set -e; $fn 2>&1)
	if [ $? -eq 0 ]; then
		echo "PASS: $name"
		npass=$((npass + 1))
	else
		echo "FAIL: $name: $(echo "$why" | tail -5 | tr '\n' ' ')"
		nfail=$((nfail + 1))
	fi
	ns_down
}

# expect DESCRIPTION CMD...: fail the case (return 1) unless CMD succeeds.
expect() {
	local what=$1; shift
	"$@" || { echo "expected: $what"; return 1; }
}
expect_not() {
	local what=$1; shift
	! "$@" || { echo "expected: $what"; return 1; }
}

finish() {
	echo "netns: $npass passed, $nfail failed"
	[ "$nfail" -eq 0 ]
}

# ---- nftables helpers (test_nft.sh, test_regen.sh) ----

on_scratch() { nsenter --net=/run/netns/$SCRATCH "$@"; }

# scratch_up: a throwaway namespace with an e0 (a veth: this kernel has no
# dummy driver), so a ruleset hooked on e0 loads there too; ns_down removes it.
scratch_up() {
	ip netns add "$SCRATCH" || return 1
	on_scratch ip link add e0 type veth peer name e1 && on_scratch ip link set e0 up
}

# nft_json RUNNER [counters]: the namespace's ruleset as canonical JSON:
# handles and the metainfo header dropped (they differ between two equal
# rulesets), counters zeroed unless "counters" is given.
nft_json() {
	"$1" nft -j list ruleset | python3 -c '
import json, sys
keep = len(sys.argv) > 1
def clean(v):
    if isinstance(v, dict):
        if not keep and isinstance(v.get("counter"), dict) and len(v) == 1:
            return {"counter": {"packets": 0, "bytes": 0}}
        # hash sets list their elements in hash order: compare as sets
        return {k: sorted((clean(x) for x in x_), key=json.dumps)
                if k == "elem" and isinstance(x_, list) else clean(x_)
                for k, x_ in v.items() if k != "handle"}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v
d = [clean(o) for o in json.load(sys.stdin)["nftables"] if "metainfo" not in o]
print(json.dumps(d, sort_keys=True, indent=1))' ${2:+keep}
}

# same_json WHAT A B: fail with the first lines of the difference.
same_json() {
	[ "$2" = "$3" ] && return 0
	echo "expected: $1 (first differences:)"
	diff <(echo "$2") <(echo "$3") | head -12
	return 1
}

# nft_counter RUNNER COMMENT: packets counted by the rule carrying
# COMMENT (sum over tables, if several carry it).
nft_counter() {
	"$1" nft -j list ruleset | python3 -c '
import json, sys
n = 0
for o in json.load(sys.stdin)["nftables"]:
    r = o.get("rule")
    if r and r.get("comment") == sys.argv[1]:
        n += sum(e["counter"]["packets"] for e in r["expr"]
                 if isinstance(e.get("counter"), dict))
print(n)' "$2"
}

# Helpers that leave a process running write nothing to stdout: a case runs
# in $(...), which would wait for them.  ns_down ends them.

# echo_listener RUNNER ADDR PORT: a TCP echo server, one thread per
# connection.
echo_listener() {
	"$1" python3 -c '
import socket, sys, threading
def serve(c):
    with c:
        while True:
            d = c.recv(4096)
            if not d:
                return
            c.sendall(d)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()' "$2" "$3" \
		>>"$TMPD/background.log" 2>&1 &
	local i
	for i in $(seq 50); do
		"$1" ss -ltn "sport = :$3" | grep -q LISTEN && return 0
		sleep 0.1
	done
	return 1
}

# held_open SRC PORT TAG: from the client, open a TCP connection to the edge
# and keep it idle until held_echo TAG; "up" in $TMPD/TAG.up once connected.
held_open() {
	rm -f "$TMPD/$3".*
	on_client python3 -c '
import os, socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[3])), timeout=2,
                             source_address=(sys.argv[2], 0))
open(sys.argv[4] + ".up", "w").write("up\n")
end = time.time() + 30
while not os.path.exists(sys.argv[4] + ".go") and time.time() < end:
    time.sleep(0.02)
res = "fail"
try:
    c.settimeout(4)     # TCP retransmits within this if a segment is lost
    c.sendall(b"ping\n")
    if c.recv(16) == b"ping\n":
        res = "echo"
except OSError as e:
    res = "fail " + str(e)
open(sys.argv[4] + ".result", "w").write(res + "\n")' $EDGE_IP "$1" "$2" "$TMPD/$3" \
		>>"$TMPD/background.log" 2>&1 &
	local i
	for i in $(seq 30); do
		[ -e "$TMPD/$3.up" ] && return 0
		sleep 0.1
	done
	echo "held connection $1 -> $2 never came up"
	return 1
}

# held_echo TAG: send on the held connection; 0 when the echo came back.
held_echo() {
	local i
	touch "$TMPD/$1.go"
	for i in $(seq 60); do
		[ -e "$TMPD/$1.result" ] && break
		sleep 0.1
	done
	grep -qx echo "$TMPD/$1.result" 2>/dev/null
}

# Load while the edge changes: run these in the background, touch STOPFILE,
# then wait for them.  Bounded: each also stops after SECONDS.

# client_connect_loop SRC PORT STOPFILE RESULTFILE SECONDS: TCP connections
# from SRC to the edge, one after another; "TRIED FAILED" in RESULTFILE.
client_connect_loop() {
	on_client python3 -c '
import os, socket, sys, time
n = fails = 0
end = time.time() + float(sys.argv[6])
while not os.path.exists(sys.argv[4]) and time.time() < end:
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[3])), timeout=2,
                                 source_address=(sys.argv[2], 0)).close()
    except OSError:
        fails += 1
    n += 1
open(sys.argv[5], "w").write("%d %d\n" % (n, fails))' $EDGE_IP "$1" "$2" "$3" "$4" "$5"
}

# client_udp_flood SRC[,SRC...] PORT STOPFILE COUNTFILE SECONDS BATCH: UDP
# datagrams to the edge, BATCH from each SRC in turn per round; the count
# sent from each SRC in COUNTFILE.
client_udp_flood() {
	on_client python3 -c '
import os, socket, sys, time
socks = []
for src in sys.argv[2].split(","):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((src, 0))
    socks.append(s)
dst, batch = (sys.argv[1], int(sys.argv[3])), int(sys.argv[7])
n = 0
end = time.time() + float(sys.argv[6])
while not os.path.exists(sys.argv[4]) and time.time() < end:
    for _ in range(batch):
        for s in socks:
            s.sendto(b"x", dst)
    n += batch
open(sys.argv[5], "w").write("%d\n" % n)' $EDGE_IP "$1" "$2" "$3" "$4" "$5" "$6"
}

# edge_tcp_ok DST PORT: 0 when the edge itself connects out to DST:PORT.
edge_tcp_ok() {
	on_edge python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)' "$1" "$2"
}
