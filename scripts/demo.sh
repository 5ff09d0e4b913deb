#!/usr/bin/env bash
# scripts/demo.sh (make demo): streamgate end to end in throwaway network
# namespaces, then everything is removed.
#
#   edge       the protected host: XDP program on both its links, the nft
#              table, streamgated with TLS on 443 (self-signed certificate
#              made here), started by `streamgate up`
#   stream     198.51.100.7: stands in for Stream's egress (allowed with
#              --allow): sends signed webhooks over TLS, a retry, a forgery
#   elsewhere  203.0.113.9: any other host on the Internet: its connections
#              are dropped by XDP before the kernel's stack sees them
#
# Safety: nothing touches the root network namespace.  The script re-runs
# itself in a private mount namespace with its own bpffs, so the pins it
# makes are gone when it ends; the namespaces are deleted on every exit.
# Addresses are RFC 5737 documentation ranges.
set -u
if [ -z "${SG_DEMO_MNT:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (namespaces, XDP)" >&2; exit 1; }
	export SG_DEMO_MNT=1
	exec unshare -m --propagation private bash "$0" "$@"
fi
mount -t bpf bpf /sys/fs/bpf || { echo "demo: cannot mount a private bpffs" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SG=$BUILD/streamgate
EDGE=sgdemo-edge-$$ STREAM=sgdemo-stream-$$ ELSE=sgdemo-else-$$
STREAM_IP=198.51.100.7 ELSE_IP=203.0.113.9
T=$(mktemp -d /tmp/sg-demo.XXXXXX)
chmod 755 "$T"

on() { local ns=$1; shift; nsenter --net=/run/netns/"$ns" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
	set +e
	on "$EDGE" "$SG" down --dev s0 --run-dir "$T/run" >/dev/null 2>&1
	on "$EDGE" "$SG" filter detach x0 >/dev/null 2>&1
	for ns in "$EDGE" "$STREAM" "$ELSE"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p"; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$T"
	echo
	echo "demo: namespaces $EDGE $STREAM $ELSE removed, $T removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for f in "$SG" "$BUILD/streamgated" "$BUILD/streamgate.bpf.o"; do
	[ -e "$f" ] || { echo "demo: $f missing: make all" >&2; exit 1; }
done

# ---- the three hosts: edge has one link to each of the others ----
ip netns add "$EDGE" && ip netns add "$STREAM" && ip netns add "$ELSE" || exit 1
ip link add s0 netns "$EDGE" type veth peer name s1 netns "$STREAM"
ip link add x0 netns "$EDGE" type veth peer name x1 netns "$ELSE"
on "$EDGE" ip link set lo up
on "$EDGE" ip link set s0 up
on "$EDGE" ip link set x0 up
on "$EDGE" ip addr add 198.51.100.1/24 dev s0
on "$EDGE" ip addr add 203.0.113.1/24 dev x0
on "$STREAM" ip link set lo up
on "$STREAM" ip link set s1 up
on "$STREAM" ip addr add $STREAM_IP/24 dev s1
on "$ELSE" ip link set lo up
on "$ELSE" ip link set x1 up
on "$ELSE" ip addr add $ELSE_IP/24 dev x1

# ---- the daemon's files: a secret, a certificate, a config ----
mkdir -p "$T/run" "$T/store"
(umask 077; openssl rand -hex 32 >"$T/demo.secret")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=edge.example -addext subjectAltName=IP:198.51.100.1,IP:203.0.113.1 \
	-days 1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || exit 1
chmod 600 "$T/key.pem"
# "user": "root": the demo's daemon stays root (without capabilities) on
# purpose: it makes no user on this host.  A real install has "streamgate".
cat >"$T/streamgated.json" <<EOF
{
  "listen": [{"addr": "0.0.0.0:443", "tls_cert": "$T/cert.pem", "tls_key": "$T/key.pem"}],
  "user": "root",
  "keys": [{"api_key": "demo", "secret_file": "$T/demo.secret"}],
  "store": "sqlite:$T/store/events.db",
  "metrics": "127.0.0.1:9100"
}
EOF

say "edge: streamgate up (XDP on s0, nft table, streamgated with TLS on :443)"
on "$EDGE" "$SG" up --dev s0 --allow $STREAM_IP/32 --config "$T/streamgated.json" \
	--run-dir "$T/run" || { tail -5 "$T/run/"*.log 2>/dev/null; exit 1; }
# the second link gets the same program and shares its maps
on "$EDGE" "$SG" filter attach x0 --allow $STREAM_IP/32 >/dev/null || exit 1
echo "XDP on s0 and x0, allowlist: Stream's 25 addresses + $STREAM_IP"

# ---- stream: signed webhooks over TLS ----
say "stream ($STREAM_IP): signed webhooks over TLS"
on "$STREAM" python3 - "$T/demo.secret" "$T/cert.pem" <<'PY'
import hashlib, hmac, http.client, json, ssl, sys, time
secret = open(sys.argv[1]).readline().strip().encode()
ctx = ssl.create_default_context(cafile=sys.argv[2])
conn = http.client.HTTPSConnection("198.51.100.1", 443, context=ctx, timeout=5)

def send(wid, attempt, body, sig=None):
    sig = sig or hmac.new(secret, body, hashlib.sha256).hexdigest()
    conn.request("POST", "/webhooks/stream/push", body, {
        "Content-Type": "application/json", "X-Api-Key": "demo",
        "X-Webhook-Id": wid, "X-Webhook-Attempt": str(attempt), "X-Signature": sig})
    r = conn.getresponse()
    return r.status, r.read().decode()

for i in range(3):
    body = json.dumps({"type": "message.new", "cid": "messaging:demo",
                       "message": {"id": "m%d" % i, "text": "hello %d" % i}}).encode()
    print("push m%d, attempt 1          -> %s %s" % ((i,) + send("demo-%d" % i, 1, body)))
print("retry of m0 (attempt 2)      -> %s %s" % send("demo-0", 2, json.dumps(
    {"type": "message.new", "cid": "messaging:demo", "message": {"id": "m0", "text": "hello 0"}}).encode()))
print("forged signature             -> %s %s" % send("demo-x", 1, b'{"type":"message.new"}', "00" * 32))
print("TLS: %s, %s, kept alive over %d requests" % (conn.sock.version(), conn.sock.cipher()[0], 5))
PY

# ---- elsewhere: dropped ----
say "elsewhere ($ELSE_IP): connect to 203.0.113.1:443"
if on "$ELSE" timeout 3 python3 -c 'import socket; socket.create_connection(("203.0.113.1", 443), timeout=2)' 2>/dev/null; then
	echo "connected (NOT expected)"
else
	echo "no answer: the SYNs were dropped by XDP on x0 (they never reached TCP)"
fi

# ---- what each layer saw ----
say "what each layer saw: streamgate status"
on "$EDGE" "$SG" status --config "$T/streamgated.json" --run-dir "$T/run"
say "the store: streamgate inbox list"
"$SG" inbox list --store "sqlite:$T/store/events.db"
say "streamgated's /metrics (requests)"
on "$EDGE" python3 -c 'import urllib.request
for l in urllib.request.urlopen("http://127.0.0.1:9100/metrics", timeout=2).read().decode().splitlines():
    if l.startswith("streamgate_requests_total") and not l.endswith(" 0"): print(l)'

say "edge: streamgate down"
on "$EDGE" "$SG" filter detach x0
on "$EDGE" "$SG" down --dev s0 --run-dir "$T/run"
