#!/usr/bin/env bash
# streamgated on a shared Redis, 127.0.0.1 only: two daemons, one Redis.
# The same webhook sent to both at once is stored once and every copy is
# answered 200 (one stored, the others duplicates: claim and XADD are one
# atomic script, so no copy ever meets an unfinished claim); Redis killed
# means 503 (never an acknowledgement) while the daemons stay up; Redis
# back means 200 again without restarting them.  Each entry keeps Stream's
# signature, the request's target and the order key, and a daemon with an
# upstream delivers from the stream with them.  An id is one event per API
# key fleet-wide, and a copy of one with another body, sent to the other
# daemon, is a duplicate told apart (the claim keeps the body's hash).
# Requests and Redis reads are in client.py; this script owns the
# processes.
SUITE_SECONDS=${SUITE_SECONDS:-55}
. "$(dirname "$0")/lib.sh"
SGD=("$BUILD/streamgated")	# the real one: the stub has no Redis store
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
CLIENT=(timeout 30 python3 tests/daemon/client.py)
RPID=
extra_pids() { echo $RPID; }
need_built "${SGD[0]}"
if [ ! -x "$REDIS_SERVER" ]; then
	echo "SKIP: redis: $REDIS_SERVER missing (apt-get install redis-server)"
	exit 0
fi

# Redis with an fsync'd append-only file, so that what was (or was not)
# stored before a kill -9 can be checked after the restart.
redis_start() {
	"$REDIS_SERVER" --port "$RPORT" --bind 127.0.0.1 --save '' \
		--appendonly yes --appendfsync always --dir "$T/redis" \
		>>"$T/redis.log" 2>&1 &
	RPID=$!
	"${CLIENT[@]}" ping --redis "$RPORT" --timeout 5
}

redis_kill() {
	kill -KILL "$RPID" 2>/dev/null
	wait "$RPID" 2>/dev/null
	RPID=
}

# redis_daemon LOG PORT [ARGS...]: streamgated on the shared Redis, up on
# /healthz.
redis_daemon() {
	start_daemon "$1" "$2" --key "$API_KEY=$T/secret" \
		--key "$KEY_B=$T/secret-b" \
		--store "redis://127.0.0.1:$RPORT" "${@:3}"
}

healthz() {	# healthz PORT: the status, or 000
	python3 -c '
import sys, urllib.request
try:
    print(urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=3).status)
except Exception:
    print("000")' "$1"
}

healthz_both() {	# healthz_both WHEN
	local a b
	a=$(healthz "$P1"); b=$(healthz "$P2")
	if [ "$a" = 200 ] && [ "$b" = 200 ]; then
		pass "healthz: both daemons answer 200 $1"
	else
		fail "healthz: both daemons answer 200 $1" "got $a and $b"
	fi
}

send() {	# send PORT ID: the status
	"${CLIENT[@]}" send --port "$1" --api-key "$API_KEY" \
		--secret-file "$T/secret" --id "$2" --body "$T/body" 2>&1 | head -1
}

entries() {	# entries ID [--body FILE]: stream entries with that id
	"${CLIENT[@]}" entries --redis "$RPORT" --id "$@" 2>"$T/entries.err"
}

umask 077
mkdir -p "$T/redis"
API_KEY=k-redis-5d1e
KEY_B=k-redis-b2e8
printf 'R3d1sS3cr3tK33pOut0fL0gs\n' >"$T/secret"
printf 'R3d1sS3cr3tBBBOut0fL0gs\n' >"$T/secret-b"
chmod 600 "$T/secret" "$T/secret-b"
# the exact bytes signed: UTF-8, an escape, a tab, a long tail
python3 -c 'import json, sys
b = json.dumps({"type": "message.new", "message": {"id": "m-1",
    "text": "caf\u00e9 \u2603 \"q\"\t" + "x" * 3000}}, ensure_ascii=False)
sys.stdout.buffer.write(b.encode())' >"$T/body"

RPORT=$(free_port)
if ! redis_start; then
	fail "setup: redis-server starts" "$(tail -3 "$T/redis.log" | tr '\n' ' ')"
	exit 1
fi

# ---- Redis is checked at startup: a wrong URI is seen at once (--user
# root: past the user check, which comes first)
BADPORT=$(free_port)
rc=0
timeout 10 "${SGD[@]}" --listen "127.0.0.1:$(free_port)" --key "$API_KEY=$T/secret" \
	--user root --store "redis://127.0.0.1:$BADPORT" >/dev/null 2>"$T/bad.err" || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
	grep -q "redis 127.0.0.1:$BADPORT unreachable" "$T/bad.err"; then
	pass "startup: an unreachable Redis is refused, naming it"
else
	fail "startup: an unreachable Redis is refused, naming it" \
		"exit $rc, stderr: $(head -c 300 "$T/bad.err" | tr '\n' ' ')"
fi

P1=$(free_port)
P2=$(free_port)
L1=$T/d1.err
L2=$T/d2.err
if ! redis_daemon "$L1" "$P1" || ! redis_daemon "$L2" "$P2"; then
	fail "startup: two daemons on one Redis" "$START_ERR"
	exit 1
fi
pass "startup: two daemons on one Redis"

# ---- one webhook id, 10 copies to each daemon at the same moment
WID=fleet-$RANDOM$RANDOM
"${CLIENT[@]}" burst --ports "$P1,$P2" --copies 10 --api-key "$API_KEY" \
	--secret-file "$T/secret" --id "$WID" --body "$T/body" >"$T/burst" 2>&1
out=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
st = [s for _, s, _ in r]
other = [x for x in r if x[1] != 200]
print("%d x 200" % st.count(200))
if other or len(r) != 20:
    print("want 20 answers of 200; odd: %s" % other[:3])
    sys.exit(1)' "$T/burst" 2>&1)
if [ $? -eq 0 ]; then
	pass "fleet: 20 concurrent copies all answered 200 ($out)"
else
	fail "fleet: 20 concurrent copies all answered 200" \
		"$(echo "$out" | tr '\n' ' ') $(head -c 300 "$T/burst")"
fi
n=$(entries "$WID" --body "$T/body")
if [ "$n" = 1 ]; then
	pass "fleet: the webhook is in the stream exactly once"
else
	fail "fleet: the webhook is in the stream exactly once" "$n entries"
fi
if [ -s "$T/entries.err" ]; then
	fail "fleet: the stream holds the exact bytes signed" "$(cat "$T/entries.err")"
else
	pass "fleet: the stream holds the exact bytes signed"
fi
# fields: the entry's, by name
cat >"$T/fields.py" <<'EOF'
import json, sys
sys.path.insert(0, "tests/daemon")
from client import Redis
port, wid = int(sys.argv[1]), sys.argv[2].encode()
r = Redis(port)
try:
    entries = r.command("XRANGE", "streamgate:events", "-", "+")
finally:
    r.close()
out = [{k.decode(): v.decode("utf-8", "replace")
        for k, v in zip(kv[0::2], kv[1::2])} for _, kv in entries
       if dict(zip(kv[0::2], kv[1::2])).get(b"webhook_id") == wid]
print(json.dumps(out))
EOF
check "fleet: the entry keeps Stream's signature (the body's HMAC), the target, no order key" \
	python3 -c '
import hashlib, hmac, json, subprocess, sys
e = json.loads(subprocess.check_output(["python3", sys.argv[1], sys.argv[2], sys.argv[3]]))
assert len(e) == 1, e
secret = open(sys.argv[5], "rb").read().split(b"\n")[0]
want = hmac.new(secret, open(sys.argv[4], "rb").read(), hashlib.sha256).hexdigest()
e = e[0]
assert (e.get("signature"), e.get("target"), e.get("order_key")) == \
	(want, "/webhooks/stream/push", ""), {k: e[k] for k in e if k != "body"}' \
	"$T/fields.py" "$RPORT" "$WID" "$T/body" "$T/secret"
healthz_both "while Redis is up"

# ---- one id from two API keys, and a copy with another body
KID=keys-$RANDOM$RANDOM
printf '{"type":"message.new","n":"another body"}' >"$T/body2"
a=$(send "$P1" "$KID")
b=$("${CLIENT[@]}" send --port "$P2" --api-key "$KEY_B" --secret-file \
	"$T/secret-b" --id "$KID" --body "$T/body" 2>&1 | tr '\n' ' ')
check "keys: one id from two API keys, at two daemons: both stored ($a; $b)" \
	test "$a/${b%%,*}/$(entries "$KID")" = '200/200 {"status":"stored"/2'
m=$("${CLIENT[@]}" send --port "$P2" --api-key "$API_KEY" --secret-file \
	"$T/secret" --id "$KID" --body "$T/body2" 2>&1 | tr '\n' ' ')
check "mismatch: $API_KEY's id with another body at the other daemon: 200 duplicate ($m)" \
	test "$m" = '200 {"status":"duplicate"} '
check "mismatch: logged there with both hashes, from the claim" \
	grep -q "$KID of API key $API_KEY with another body: stored sha256 $(sha256sum <"$T/body" | cut -c1-16), this copy $(sha256sum <"$T/body2" | cut -c1-16)" "$L2"
check "mismatch: not stored" test "$(entries "$KID")" = 2

# ---- Redis dies: 503, nothing stored, the daemons stay up and say why
redis_kill
DOWN=down-$RANDOM$RANDOM
s1=$(send "$P1" "$DOWN")
s2=$(send "$P2" "$DOWN")
if [ "$s1" = 503 ] && [ "$s2" = 503 ]; then
	pass "redis down: a new webhook is answered 503 by both"
else
	fail "redis down: a new webhook is answered 503 by both" "got $s1 and $s2"
fi
healthz_both "while Redis is down"
sleep 0.3
if grep -q "store: redis 127.0.0.1:$RPORT unreachable: .*answering 503 until it is back" "$L1" &&
	[ "$(grep -c 'unreachable: ' "$L1")" -eq 1 ]; then
	pass "redis down: one clear log line"
else
	fail "redis down: one clear log line" \
		"$(grep 'store:' "$L1" | head -3 | tr '\n' ' ')"
fi
if grep -q 'R3d1sS3cr3tK33pOut0fL0gs\|x\{100\}' "$L1" "$L2"; then
	fail "logs: no secret and no body" "found in the daemon logs"
else
	pass "logs: no secret and no body"
fi

# ---- Redis is back (same data): accepted again, no daemon restarted
if ! redis_start; then
	fail "redis back: restarts" "$(tail -3 "$T/redis.log" | tr '\n' ' ')"
	exit 1
fi
n=$(entries "$DOWN")
if [ "$n" = 0 ] && [ "$(entries "$WID")" = 1 ]; then
	pass "redis down: nothing was stored for the 503'd webhook"
else
	fail "redis down: nothing was stored for the 503'd webhook" \
		"$n entries for it after the restart"
fi
start=$SECONDS
for ((i = 0; i < 50; i++)); do
	s1=$(send "$P1" "$DOWN")
	[ "$s1" = 200 ] && break
	sleep 0.1
done
s2=$(send "$P2" "$DOWN")
if [ "$s1" = 200 ] && [ "$s2" = 200 ] && [ "$(entries "$DOWN")" = 1 ]; then
	pass "redis back: the same webhook is stored once, 200 from both (after $i retries)"
else
	fail "redis back: the same webhook is stored once, 200 from both" \
		"got $s1 and $s2, $(entries "$DOWN") entries"
fi
if grep -q "store: redis 127.0.0.1:$RPORT is back" "$L1"; then
	pass "redis back: logged"
else
	fail "redis back: logged" "$(grep 'store:' "$L1" | tail -2 | tr '\n' ' ')"
fi
healthz_both "after Redis came back"
alive=0
for p in "${PIDS[@]:1}"; do
	kill -0 "$p" 2>/dev/null && alive=$((alive + 1))
done
if [ "$alive" -eq 2 ]; then
	pass "daemons: both still the processes started"
else
	fail "daemons: both still the processes started" "$alive of 2 alive"
fi

# ---- delivery from the stream: Stream's signature and the order key
# come back out of Redis to the app
APORT=$(free_port)
P3=$(free_port)
python3 tests/daemon/app.py --port "$APORT" --record "$T/app.jsonl" \
	>"$T/app.out" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
	grep -q ready "$T/app.out" 2>/dev/null && break
	sleep 0.05
done
if ! redis_daemon "$T/d3.err" "$P3" --upstream "http://127.0.0.1:$APORT/hook"; then
	fail "delivery: a daemon with an upstream on the shared Redis" "$START_ERR"
else
	printf '{"type":"message.new","cid":"messaging:fleet","n":1}' >"$T/push"
	DWID=deliver-$RANDOM$RANDOM
	"${CLIENT[@]}" send --port "$P3" --api-key "$API_KEY" \
		--secret-file "$T/secret" --id "$DWID" --body "$T/push" >/dev/null 2>&1
	check "delivery: the entry's order key is its channel's" python3 -c '
import json, subprocess, sys
e = json.loads(subprocess.check_output(["python3", sys.argv[1], sys.argv[2], sys.argv[3]]))
assert [x.get("order_key") for x in e] == ["cid:messaging:fleet"], e' \
		"$T/fields.py" "$RPORT" "$DWID"
	check "delivery: the app gets Stream's X-Signature and our attempt 1, and verifies it" \
		python3 - "$T/app.jsonl" "$DWID" "$T/push" "$T/secret" <<'EOF'
import hashlib, hmac, json, sys, time
secret = open(sys.argv[4], "rb").read().split(b"\n")[0]
body = open(sys.argv[3], "rb").read()
want = hmac.new(secret, body, hashlib.sha256).hexdigest()
end = time.monotonic() + 10
while True:
    try:
        recs = [json.loads(l) for l in open(sys.argv[1])]
    except (FileNotFoundError, ValueError):
        recs = []
    r = [x for x in recs if x["headers"].get("x-webhook-id") == sys.argv[2]]
    if r or time.monotonic() > end:
        break
    time.sleep(0.05)
assert len(r) == 1, "%d requests" % len(r)
h = r[0]["headers"]
assert r[0]["sha256"] == hashlib.sha256(body).hexdigest(), r[0]
assert hmac.compare_digest(h.get("x-signature", ""), want), h
assert h.get("x-streamgate-delivery-attempt") == "1" and h.get("x-webhook-attempt") == "1", h
EOF
fi

echo "# ${SECONDS}s"
[ "$nfail" -eq 0 ]
