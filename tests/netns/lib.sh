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
	ip netns del "$EDGE" 2>/dev/null
	ip netns del "$CLIENT" 2>/dev/null
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
