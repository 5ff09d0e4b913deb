#!/usr/bin/env bash
# streamgated on NATS JetStream, 127.0.0.1 only: a 3-node nats-server
# cluster (JetStream, file storage under $T), started and removed here.
# Shown: the stream is made with 3 replicas; the same webhook sent to two
# daemons at once is stored once and every copy answered 200; a daemon
# killed -9 while it holds events leaves them to another host, which
# delivers them once the consumer's AckWait ran out; kill -9 of the
# stream's leader node under steady load costs an election (nats-server's
# Raft waits 4-9 s before it campaigns): the daemon publishes what gets no
# ack again for up to 4 s, so most of it is a slower 200 (never slower
# than Stream's 6 s), what is left is a short run of 503s (<= 5 s), the
# time with no 200 at all is printed and bounded (<= 12 s), every id
# answered 200 is in the stream exactly once, and intake goes on without
# a restart; all of NATS down is 503 at once,
# and 200 again once it is back, the daemons untouched.
SUITE_SECONDS=${SUITE_SECONDS:-150}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nats_cluster.sh"
SGD=("$BUILD/streamgated")
SG="$BUILD/streamgate"
NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}
extra_pids() { local p; for p in "${NPIDS[@]}"; do [ "$p" != 0 ] && echo "$p"; done; }
need_built "${SGD[0]}" "$SG"
if [ ! -x "$NATS_SERVER" ]; then
	echo "SKIP: nats: $NATS_SERVER missing (scripts/install-deps.sh installs nats-server)"
	exit 0
fi
API_KEY=key-nats

# start D ERRLOG PORT ARGS...: a daemon on the cluster; the first start
# may meet a cluster still electing its JetStream leader: tried again
nats_daemon() {
	local log=$1 port=$2 i; shift 2
	for i in 1 2 3 4 5; do
		start_daemon "$log" "$port" --key "$API_KEY=$T/secret" \
			--store "$URL" --config "$T/sg.json" "$@" && return 0
		sleep 1
	done
	return 1
}

send() {	# send PORT ID: the status
	"${CLIENT[@]}" send --port "$1" --api-key "$API_KEY" \
		--secret-file "$T/secret" --id "$2" 2>&1 | head -1
}

# count ID: events in the stream with that webhook id
count() {
	"$SG" inbox list --json --limit 1000000 --store "$URL" 2>"$T/inbox.err" |
		grep -c "\"webhook_id\": \"$1\""
}

umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/secret"
read -r -a NP <<<"$(free_port) $(free_port) $(free_port)"
read -r -a RP <<<"$(free_port) $(free_port) $(free_port)"
NATS_DIR=$T
nats_cluster_start
URL=$NATS_URL
# an app that fails (D1's), one that answers (D3's)
APP_A=$(free_port) APP_B=$(free_port)
python3 tests/daemon/app.py --port "$APP_A" --record "$T/app-a.rec" --status 500 \
	>>"$T/app.log" 2>&1 &
PIDS+=($!)
python3 tests/daemon/app.py --port "$APP_B" --record "$T/app-b.rec" >>"$T/app.log" 2>&1 &
PIDS+=($!)
cat >"$T/sg.json" <<EOF
{"delivery": {"backoff_base_ms": 500, "backoff_cap_ms": 20000,
  "max_attempts": 100, "timeout_ms": 1000}}
EOF

P1=$(free_port) P2=$(free_port) P3=$(free_port)
if ! nats_daemon "$T/d1.log" "$P1" --upstream "http://127.0.0.1:$APP_A"; then
	echo "FAIL: nats: daemon 1 did not start: $START_ERR"
	exit 1
fi
D1=$DPID
if ! nats_daemon "$T/d2.log" "$P2"; then
	echo "FAIL: nats: daemon 2 did not start: $START_ERR"
	exit 1
fi
D2=$DPID
check "stream STREAMGATE made with 3 replicas" \
	grep -q "stream STREAMGATE created (3 replicas)" "$T/d1.log"
# the consumer as the servers hold it: MaxDeliver = max_attempts, AckWait =
# 3 x timeout_ms (>= 5 s), BackOff = our backoff (500 ms doubling, capped
# at 20 s), none shorter than the AckWait, at most 16 (the last repeats)
cons=$(python3 tests/daemon/nats_api.py "${NP[0]}" '$JS.API.CONSUMER.INFO.STREAMGATE.deliver' 2>&1 |
	python3 -c 'import json, sys; c = json.load(sys.stdin)["config"]
b = [x // 1000000 for x in c.get("backoff", [])]
print(c["max_deliver"], c["ack_wait"] // 1000000, len(b), b[:8])' 2>&1)
if [ "$cons" = "100 5000 16 [5000, 5000, 5000, 5000, 8000, 16000, 20000, 20000]" ]; then
	pass "consumer: MaxDeliver 100, AckWait 5 s, BackOff our backoff floored at the AckWait"
else
	fail "consumer: MaxDeliver, AckWait and BackOff as configured" "$cons"
fi

# ---- the same id at two daemons at once: stored once, all 200
python3 -c 'import json; print(json.dumps({"type": "message.new", "cid": "messaging:x", "message": {"id": "b1"}}))' >"$T/body"
out=$("${CLIENT[@]}" burst --ports "$P1,$P2" --copies 5 --api-key "$API_KEY" \
	--secret-file "$T/secret" --id burst-1 --body "$T/body" 2>&1)
n=$(count burst-1)
ok=$(python3 -c 'import json, sys; print(sum(1 for r in json.load(sys.stdin) if r[1] == 200))' <<<"$out" 2>/dev/null)
if [ "$ok" = 10 ] && [ "$n" = 1 ]; then
	pass "dedup: 5 copies to each of two daemons: all 200, stored once"
else
	fail "dedup: 5 copies to each of two daemons: all 200, stored once" \
		"statuses $out; $n in the stream"
fi

# ---- a host killed while it holds events: another delivers them
for i in $(seq 1 10); do send "$P2" "held-$i" >/dev/null; done
sleep 2		# D1 fetched them, and fails them against app A
kill -KILL "$D1"
wait "$D1" 2>/dev/null
if ! nats_daemon "$T/d3.log" "$P3" --upstream "http://127.0.0.1:$APP_B"; then
	fail "daemon 3 starts" "$START_ERR"
fi
D3=$DPID
got=0
for ((i = 0; i < 60; i++)); do
	got=$(grep -o '"x-webhook-id": "held-[0-9]*"' "$T/app-b.rec" 2>/dev/null | sort -u | wc -l)
	[ "$got" = 10 ] && break
	sleep 0.25
done
if [ "$got" = 10 ] && grep -q '"x-webhook-id": "held-' "$T/app-a.rec"; then
	pass "kill -9 of a delivering host: another delivers its 10 held events"
else
	fail "kill -9 of a delivering host: another delivers its 10 held events" \
		"app B got $got of 10"
fi

# ---- kill -9 of the stream's leader under steady load
leader=$("$SG" inbox stats --store "$URL" 2>/dev/null | sed -n 's/^leader: n//p')
if [ -z "$leader" ]; then
	fail "the stream has a leader" "$("$SG" inbox stats --store "$URL" 2>&1 | tail -2)"
	leader=0
fi
python3 - "$P2" "$API_KEY" "$T/secret" "$T/acked" "$T/load.json" <<'EOF' &
import json, sys, threading, time
sys.path.insert(0, "tests/daemon")
from client import Conn, signed, push_body, read_secret
port, key, secret = int(sys.argv[1]), sys.argv[2], read_secret(sys.argv[3])
events, lock, nxt = [], threading.Lock(), [0]
end = time.monotonic() + 14
def worker():
    c = None
    while time.monotonic() < end:
        with lock:
            i = nxt[0]; nxt[0] += 1
        wid = "lead-%06d" % i
        t0 = time.monotonic()
        try:
            c = c or Conn(port, 5)
            c.send(signed(key, secret, push_body(wid), webhook_id=wid))
            st = c.response(10).status
        except Exception:
            st, c = 0, None
        with lock:
            events.append((time.monotonic(), wid, st, time.monotonic() - t0))
        if st != 200:
            time.sleep(0.05)
ts = [threading.Thread(target=worker) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
events.sort()
run, start, longest = 0, None, 0.0
for t, _, st, _ in events:
    if st != 200:
        start = t if start is None else start
        longest = max(longest, t - start)
    else:
        start = None
ok = [w for _, w, st, _ in events if st == 200]
# the clients' view of the outage: the longest time no request got a 200
done200 = [t for t, _, st, _ in events if st == 200]
gap = max([b - a for a, b in zip(done200, done200[1:])] or [0])
slowest = max([d for _, _, st, d in events if st == 200] or [0])
open(sys.argv[4], "w").write("\n".join(ok) + "\n")
tail = [st for _, _, st, _ in events[-50:]]
json.dump({"sent": len(events), "acked": len(ok),
           "not_200": len(events) - len(ok), "longest_503_s": round(longest, 2),
           "slowest_200_s": round(slowest, 2), "longest_gap_s": round(gap, 2),
           "not_200_statuses": sorted(set(st for _, _, st, _ in events if st != 200)),
           "tail_ok": all(s == 200 for s in tail)}, open(sys.argv[5], "w"))
EOF
LOADPID=$!
PIDS+=("$LOADPID")
sleep 3
node_kill "$leader"
wait "$LOADPID"
echo "nats: leader n$leader killed under load: $(cat "$T/load.json" 2>/dev/null)"
# the load's figures, or 99 (and not True) when it left none
read -r longest tail_ok slowest gap < <(python3 -c 'import json, sys
try:
    r = json.load(open(sys.argv[1]))
    print(r["longest_503_s"], r["tail_ok"], r["slowest_200_s"], r["longest_gap_s"])
except (OSError, ValueError, KeyError):
    print(99, "None", 99, 99)' "$T/load.json")
if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 5 else 1)' "$longest" &&
    [ "$tail_ok" = True ]; then
	pass "leader killed: the longest run of 503s ${longest}s (<= 5 s), then 200 again"
else
	fail "leader killed: 503s end within 5 s, intake goes on" "longest run ${longest}s, last 50 all 200: $tail_ok"
fi
# an event held through the election is answered within Stream's 6 s
if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 6 else 1)' "$slowest"; then
	pass "leader killed: the slowest 200 took ${slowest}s (< Stream's 6 s per attempt)"
else
	fail "leader killed: every 200 within Stream's 6 s" "the slowest took ${slowest}s"
fi
if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 12 else 1)' "$gap"; then
	pass "leader killed: no 200 for ${gap}s at most (the election; <= 12 s)"
else
	fail "leader killed: intake back within 12 s" "no 200 for ${gap}s"
fi
"$SG" inbox list --json --limit 1000000 --store "$URL" 2>"$T/inbox.err" |
	grep -o '"webhook_id": "lead-[0-9]*"' | sed 's/.*: "//; s/"//' | sort >"$T/stored"
dups=$(uniq -d "$T/stored" | wc -l)
missing=$(sort "$T/acked" | grep . | comm -23 - <(sort -u "$T/stored") | wc -l)
if [ "$dups" = 0 ] && [ "$missing" = 0 ] && [ -s "$T/acked" ]; then
	pass "leader killed: each of $(grep -c . "$T/acked") ids answered 200 is in the stream exactly once"
else
	fail "leader killed: every id answered 200 in the stream exactly once" \
		"$missing missing, $dups twice ($(head -2 "$T/inbox.err"))"
fi

# ---- all of NATS down: 503 at once; back: 200, nothing restarted
for i in 0 1 2; do [ "${NPIDS[$i]}" != 0 ] && node_kill "$i"; done
sleep 0.5
st=$(send "$P2" down-1)
# the daemon's own time for it (the client's includes starting Python)
us=$(grep -o '"webhook_id":"down-1".*"latency_us":[0-9]*' "$T/d2.log" | sed 's/.*://')
ms=$(( ${us:-99000000} / 1000 ))
if [ "$st" = 503 ] && [ "$ms" -lt 1000 ]; then
	pass "all of NATS down: 503 at once (${ms} ms)"
else
	fail "all of NATS down: 503 at once" "status $st after $ms ms"
fi
for i in 0 1 2; do node_start "$i"; done
st=
for ((i = 0; i < 60; i++)); do
	st=$(send "$P2" "back-$i")
	[ "$st" = 200 ] && break
	sleep 0.5
done
if [ "$st" = 200 ] && kill -0 "$D2" 2>/dev/null; then
	pass "NATS back: 200 again after $((i / 2)) s, the daemon not restarted"
else
	fail "NATS back: 200 again" "last status $st"
fi
lost=$(grep -c "connection lost" "$T/d2.log")
back=$(grep -c "connected again" "$T/d2.log")
if [ "$lost" -ge 1 ] && [ "$lost" -le 3 ] && [ "$back" -ge 1 ] && [ "$back" -le 3 ]; then
	pass "the outage logged once each way per loss ($lost down, $back back)"
else
	fail "the outage logged once each way" "$lost 'connection lost', $back 'connected again'"
fi
kill -0 "$D3" 2>/dev/null || fail "daemon 3 still up" "it exited"
exit $((nfail > 0))
