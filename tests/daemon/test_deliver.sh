#!/usr/bin/env bash
# Push delivery and the synchronous hooks, end to end on 127.0.0.1: the real
# streamgated in front of tests/daemon/app.py (a controllable stand-in for
# the app, which records every request it gets).  Delivered once with the
# exact bytes and headers, Stream's X-Signature among them (the app can
# verify it), our attempt number counting the retries; an app that is
# down, answers 500, or is slow;
# per-channel order through failures; the attempt limit, dead events and
# replay; a unix-socket upstream; Before-Message-Send and Custom Commands
# answered by the app or unchanged in time; SIGHUP to a new URL; SIGTERM
# with requests in flight; kill -9 during deliveries loses nothing.
#
# One "PASS: name" or "FAIL: name: why" line per check; exits non-zero on
# any failure; every process it starts is killed on the way out.
SUITE_SECONDS=${SUITE_SECONDS:-90}
. "$(dirname "$0")/lib.sh"
SG=$BUILD/streamgate
need_built "${SGD[0]}" "$SG"

# ---------------------------------------------------------------- helpers
# dh.py: sending signed webhooks (client.py's library) and checking what
# the app recorded and what the store holds.
cat >"$T/dh.py" <<'EOF'
import argparse, hashlib, json, os, sqlite3, sys, time, urllib.request
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "daemon"))
import hmac
from client import (Conn, NoResponse, read_secret, records, request,  # noqa
                    sign, signed)

PUSH = "/webhooks/stream/push"
BMS = "/webhooks/stream/before-message-send"
CMD = "/webhooks/stream/custom-commands"


def sent(path):
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def ok(r):
    return 200 <= r["status"] <= 299


def by_id(recs):
    out = {}
    for r in recs:
        out.setdefault(r["headers"].get("x-webhook-id"), []).append(r)
    return out


def cmd_send(a):
    secret = read_secret(a.secret)
    cids = a.cids.split(",") if a.cids else [""]
    c = Conn(a.port, 5)
    with open(a.out, "a") as out:
        for i in range(a.count):
            cid = cids[i % len(cids)]
            wid = "%s-%04d" % (a.prefix, i)
            ev = {"type": "message.new", "i": i,
                  "message": {"id": wid, "text": "hello %d" % i}}
            if cid:
                ev["cid"] = cid
            body = json.dumps(ev, separators=(",", ":")).encode()
            c.send(signed(a.key, secret, body, webhook_id=wid,
                          attempt=a.attempt, upper=a.upper))
            r = c.response(10)
            j = r.json() or {}
            if r.status != 200 or j.get("status") != "stored":
                print("%s: answered %r" % (wid, r))
                return 1
            out.write(json.dumps({"id": wid, "seq": j["seq"], "cid": cid,
                                  "sha256": hashlib.sha256(body).hexdigest(),
                                  "sig": sign(secret, body, a.upper),
                                  "body": body.decode()})
                      + "\n")
    c.close()
    return 0


def cmd_wait(a):
    ids = {s["id"] for s in sent(a.sent)}
    deadline = time.monotonic() + a.timeout
    while True:
        got = {i for i, rs in by_id(records(a.record)).items()
               if any(ok(r) for r in rs)}
        missing = ids - got
        if not missing:
            return 0
        if time.monotonic() > deadline:
            print("%d of %d not delivered within %.0fs, e.g. %s"
                  % (len(missing), len(ids), a.timeout, sorted(missing)[:3]))
            return 1
        time.sleep(0.05)


def cmd_exact(a):
    """Each sent event: delivered exactly once (--once) or at least once,
    every copy with the exact bytes and all the headers."""
    recs = by_id(records(a.record))
    for s in sent(a.sent):
        rs = recs.get(s["id"], [])
        good = [r for r in rs if ok(r)]
        if a.once and len(good) != 1:
            print("%s: delivered %d times, want once" % (s["id"], len(good)))
            return 1
        if not good:
            print("%s: not delivered" % s["id"])
            return 1
        if a.tries is not None and len(rs) != a.tries:
            print("%s: %d requests, want %d" % (s["id"], len(rs), a.tries))
            return 1
        for r in rs:
            h = r["headers"]
            want = {"x-webhook-id": s["id"], "x-api-key": a.key,
                    "x-streamgate-verified": "1",
                    "x-streamgate-seq": str(s["seq"]),
                    "x-webhook-attempt": str(a.attempt),
                    "content-type": "application/json"}
            bad = {k: h.get(k) for k, v in want.items() if h.get(k) != v}
            if bad:
                print("%s: headers %s, want %s" % (s["id"], bad,
                      {k: want[k] for k in bad}))
                return 1
            if r["sha256"] != s["sha256"]:
                print("%s: body differs from the bytes sent" % s["id"])
                return 1
            if r["method"] != "POST" or r["path"] != a.path:
                print("%s: %s %s, want POST %s" % (s["id"], r["method"],
                      r["path"], a.path))
                return 1
    return 0


def cmd_signature(a):
    """Every copy of each sent event carries Stream's X-Signature, lower-case
    whatever case Stream used, and the app verifies it over the bytes it
    got as Stream's SDKs do: HMAC-SHA256 with the API secret."""
    secret = read_secret(a.secret)
    recs = by_id(records(a.record))
    for s in sent(a.sent):
        body = s["body"].encode()
        want = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if s["sig"].lower() != want:
            print("%s: the test signed it wrongly" % s["id"])
            return 1
        for r in recs.get(s["id"], []) or [None]:
            if r is None:
                print("%s: not delivered" % s["id"])
                return 1
            got = r["headers"].get("x-signature")
            if got != want or r["sha256"] != hashlib.sha256(body).hexdigest():
                print("%s: X-Signature %r, want %r (Stream sent %r)"
                      % (s["id"], got, want, s["sig"]))
                return 1
            if not hmac.compare_digest(got, hmac.new(
                    secret, body, hashlib.sha256).hexdigest()):
                print("%s: the app cannot verify it" % s["id"])
                return 1
    return 0


def cmd_attempts(a):
    """Each sent event's requests, in arrival order: our attempt number
    1, 2, 3 ... (X-Streamgate-Delivery-Attempt), Stream's X-Webhook-Attempt
    the same on every one."""
    recs = by_id(records(a.record))
    for s in sent(a.sent):
        rs = sorted(recs.get(s["id"], []), key=lambda r: r["n"])
        got = [r["headers"].get("x-streamgate-delivery-attempt") for r in rs]
        want = [str(i) for i in range(1, len(rs) + 1)]
        if not rs or got != want or (a.tries and len(rs) != a.tries):
            print("%s: X-Streamgate-Delivery-Attempt %s, want %s"
                  % (s["id"], got, want[:a.tries] if a.tries else want))
            return 1
        stream = {r["headers"].get("x-webhook-attempt") for r in rs}
        if stream != {str(a.attempt)}:
            print("%s: X-Webhook-Attempt %s, want %d throughout"
                  % (s["id"], sorted(stream), a.attempt))
            return 1
    return 0


def cmd_order(a):
    """Per cid: requests in seq order, and a later event only after the
    earlier one was answered 2xx.  Events without a cid are free."""
    seq = {s["id"]: s["seq"] for s in sent(a.sent)}
    recs = sorted((r for r in records(a.record)[a.skip:]
                   if r["headers"].get("x-webhook-id") in seq and
                   r["cid"] is not None),
                  key=lambda r: r["n"])
    cur, done, fails = {}, {}, 0
    for r in recs:
        cid, s = r["cid"], seq[r["headers"]["x-webhook-id"]]
        fails += not ok(r)
        if cid in cur and s < cur[cid]:
            print("%s: seq %d sent after seq %d" % (cid, s, cur[cid]))
            return 1
        if cid in cur and s > cur[cid] and not done.get(cid):
            print("%s: seq %d sent before seq %d was delivered"
                  % (cid, s, cur[cid]))
            return 1
        if cur.get(cid) != s:
            cur[cid], done[cid] = s, False
        done[cid] = done[cid] or ok(r)
    if a.min_failures and fails < a.min_failures:
        print("only %d failed requests, want >= %d" % (fails, a.min_failures))
        return 1
    return 0


def db_states(db, ids):
    con = sqlite3.connect(db, timeout=5)
    try:
        rows = con.execute("SELECT webhook_id, state, tries, last_error"
                           " FROM events").fetchall()
    finally:
        con.close()
    return {w: (st, t, e) for w, st, t, e in rows if w in ids}


def cmd_state(a):
    """Every sent event reaches a state in the store (within --timeout)."""
    ids = {s["id"] for s in sent(a.sent)}
    deadline = time.monotonic() + a.timeout
    while True:
        st = db_states(a.db, ids)
        bad = {i: v for i, v in st.items() if v[0] != a.state}
        if len(st) == len(ids) and not bad:
            # only a channel's first event was tried: the rest wait
            tried = [v for v in st.values() if v[1] > 0]
            if a.error and (not tried or any(a.error not in (v[2] or "")
                                             for v in tried)):
                print("last_error: %s" % [v[2] for v in tried])
                return 1
            if a.tries is not None and any(v[1] != a.tries
                                           for v in st.values()):
                print("tries: %s" % sorted({v[1] for v in st.values()}))
                return 1
            return 0
        if time.monotonic() > deadline:
            print("%d of %d not %s, e.g. %s" % (len(bad) + len(ids) - len(st),
                  len(ids), a.state, list(bad.items())[:2]))
            return 1
        time.sleep(0.05)


def cmd_hook(a):
    """One synchronous hook; prints {"status", "body", "seconds"}."""
    secret = read_secret(a.secret)
    msg = {"id": a.id, "text": a.text, "user": {"id": "jane"}}
    body = json.dumps({"type": "message.new", "message": msg,
                       "user": {"id": "jane"}}).encode()
    t0 = time.monotonic()
    r = request(a.port, signed(a.key, secret, body, path=a.path,
                               webhook_id=a.id), timeout=5)
    print(json.dumps({"status": r.status, "body": r.json(),
                      "raw": r.body.decode("utf-8", "replace"),
                      "seconds": time.monotonic() - t0, "sent": msg,
                      "sha256": hashlib.sha256(body).hexdigest()}))
    return 0


def cmd_metric(a):
    t = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % a.port,
                               timeout=5).read().decode()
    for ln in t.splitlines():
        if ln.startswith(a.name + " "):
            print(ln.split()[-1])
            return 0
    print("no metric %s" % a.name)
    return 1


def cmd_stored(a):
    """Every push event in the store was answered 2xx by the app."""
    con = sqlite3.connect(a.db, timeout=5)
    ids = {w for (w,) in con.execute(
        "SELECT webhook_id FROM events WHERE kind = 'push'")}
    con.close()
    deadline = time.monotonic() + a.timeout
    while True:
        recs = by_id(records(a.record))
        missing = [i for i in ids if not any(ok(r) for r in recs.get(i, []))]
        if not missing and len(ids) >= a.min:
            dup = sum(1 for i in ids
                      if sum(ok(r) for r in recs.get(i, [])) > 1)
            print("%d stored, all delivered, %d more than once"
                  % (len(ids), dup))
            return 0
        if time.monotonic() > deadline:
            print("%d stored (want >= %d), %d never delivered, e.g. %s"
                  % (len(ids), a.min, len(missing), missing[:3]))
            return 1
        time.sleep(0.1)


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
for name in ("send", "hook"):
    s = sub.add_parser(name)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--secret", required=True)
s = sub.choices["send"]
s.add_argument("--count", type=int, default=1)
s.add_argument("--prefix", required=True)
s.add_argument("--cids", default="")
s.add_argument("--attempt", type=int, default=1)
s.add_argument("--upper", action="store_true", help="sign in upper-case hex")
s.add_argument("--out", required=True)
s = sub.choices["hook"]
s.add_argument("--path", default=BMS)
s.add_argument("--text", default="hello")
s.add_argument("--id", required=True)
# what the app recorded, and what was sent
rs = argparse.ArgumentParser(add_help=False)
rs.add_argument("--record", required=True)
rs.add_argument("--sent", required=True)
s = sub.add_parser("wait", parents=[rs])
s.add_argument("--timeout", type=float, default=10)
s = sub.add_parser("exact", parents=[rs])
s.add_argument("--key", required=True)
s.add_argument("--path", required=True)
s.add_argument("--attempt", type=int, default=1)
s.add_argument("--once", action="store_true")
s.add_argument("--tries", type=int)
s = sub.add_parser("signature", parents=[rs])
s.add_argument("--secret", required=True)
s = sub.add_parser("attempts", parents=[rs])
s.add_argument("--attempt", type=int, default=1)
s.add_argument("--tries", type=int)
s = sub.add_parser("order", parents=[rs])
s.add_argument("--min-failures", type=int, default=0)
s.add_argument("--skip", type=int, default=0,
               help="records before this many are not looked at")
s = sub.add_parser("state")
s.add_argument("--db", required=True)
s.add_argument("--sent", required=True)
s.add_argument("--state", required=True)
s.add_argument("--error")
s.add_argument("--tries", type=int)
s.add_argument("--timeout", type=float, default=10)
s = sub.add_parser("metric")
s.add_argument("--port", type=int, required=True)
s.add_argument("--name", required=True)
s = sub.add_parser("stored")
s.add_argument("--db", required=True)
s.add_argument("--record", required=True)
s.add_argument("--min", type=int, default=1)
s.add_argument("--timeout", type=float, default=20)
a = p.parse_args()
sys.exit(globals()["cmd_" + a.cmd](a))
EOF
DH=(timeout 60 python3 "$T/dh.py")

# start_app VAR ARGS...: app.py in the background, its pid in VAR, once it
# listens.
NAPP=0
start_app() {
	local var=$1 i out=$T/app.$((++NAPP)).out; shift
	python3 tests/daemon/app.py "$@" >"$out" 2>&1 &
	printf -v "$var" '%s' "$!"
	PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		grep -q ready "$out" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "app.py did not start: $(cat "$out")" >&2
	return 1
}

stop() {	# stop PID: SIGKILL and reap
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# delivered NAME REC SENT SECONDS DH-ARGS...: once the app recorded every
# event of SENT answered 2xx (within SECONDS), check NAME with dh.py
# DH-ARGS; else NAME fails.  Status: whether they were delivered.
delivered() {
	local name=$1 rec=$2 sent=$3 secs=$4; shift 4
	if ! "${DH[@]}" wait --record "$rec" --sent "$sent" --timeout "$secs" \
		>"$T/out"; then
		fail "$name" "$(cat "$T/out")"
		return 1
	fi
	check "$name" "${DH[@]}" "$@"
}

# control ADDR JSON: change a running app's mode (ADDR: PORT or a socket)
control() {
	if [ -S "$1" ]; then
		curl -sf --unix-socket "$1" -d "$2" http://app/_control >/dev/null
	else
		curl -sf -d "$2" "http://127.0.0.1:$1/_control" >/dev/null
	fi
}


umask 077
API_KEY=k-deliver-5e1f
SECRET=Dl1v3rS3cr3tNeverLogged77
printf '%s\n' "$SECRET" >"$T/secret"
APORT=$(free_port)
DPORT=$(free_port)
MPORT=$(free_port)
REC=$T/app.jsonl
DB=$T/main.db
LOG=$T/main.err
# timeout_ms is well above what app.py takes even on a loaded machine: a
# timed-out attempt the app did answer is delivered twice (at least once),
# which would spoil the exactly-once and order checks
cat >"$T/main.json" <<EOF
{"delivery": {"backoff_base_ms": 50, "backoff_cap_ms": 400,
              "max_attempts": 50, "timeout_ms": 5000, "concurrency": 8},
 "metrics": "127.0.0.1:$MPORT"}
EOF
KEYARGS=(--key "$API_KEY" --secret "$T/secret")
DKEY=(--key "$API_KEY=$T/secret")	# the daemon's

if ! start_daemon "$LOG" "$DPORT" "${DKEY[@]}" --config "$T/main.json" \
	--store "sqlite:$DB" --upstream "http://127.0.0.1:$APORT/hook"; then
	fail "startup: daemon with an upstream answers /healthz" "$START_ERR"
	exit 1
fi
MAIN=$DPID
start_app APP --port "$APORT" --record "$REC" || exit 1

# ---- one push: delivered once, exact bytes, every header
"${DH[@]}" send --port "$DPORT" "${KEYARGS[@]}" --prefix one --attempt 2 \
	--out "$T/one" >"$T/out" 2>&1 || fail "push: stored" "$(cat "$T/out")"
delivered "push: delivered once with the exact body and all headers" \
	"$REC" "$T/one" 5 exact --record "$REC" --sent "$T/one" \
	--key "$API_KEY" --path /hook --attempt 2 --once &&
	check "push: marked delivered in the store" \
		"${DH[@]}" state --db "$DB" --sent "$T/one" --state delivered \
		--tries 1 --timeout 3
check "push: Stream's X-Signature forwarded; the app verifies it with HMAC-SHA256" \
	"${DH[@]}" signature --record "$REC" --sent "$T/one" --secret "$T/secret"
check "push: X-Streamgate-Delivery-Attempt 1, Stream's X-Webhook-Attempt 2 kept" \
	"${DH[@]}" attempts --record "$REC" --sent "$T/one" --attempt 2 --tries 1
"${DH[@]}" send --port "$DPORT" "${KEYARGS[@]}" --prefix upper --upper \
	--out "$T/upper" >"$T/out" 2>&1 || fail "push: stored" "$(cat "$T/out")"
delivered "push signed in upper-case hex: X-Signature forwarded lower-case, verifiable" \
	"$REC" "$T/upper" 5 signature --record "$REC" --sent "$T/upper" \
	--secret "$T/secret"

# ---- the app is down: pending; back up: each delivered once
stop "$APP"
"${DH[@]}" send --port "$DPORT" "${KEYARGS[@]}" --prefix down --count 20 \
	--cids messaging:d1,messaging:d2,"" --out "$T/down" >"$T/out" 2>&1 ||
	fail "app down: pushes stored" "$(cat "$T/out")"
sleep 0.6
check "app down: events stay pending, last_error says why" \
	"${DH[@]}" state --db "$DB" --sent "$T/down" --state pending \
	--error "connect refused" --timeout 1
sleep 0.8	# the gauges are refreshed once a second
pending=$("${DH[@]}" metric --port "$MPORT" --name streamgate_events_pending)
age=$("${DH[@]}" metric --port "$MPORT" --name streamgate_oldest_pending_age_seconds)
if [ "${pending:-0}" -ge 20 ] 2>/dev/null &&
	awk -v a="$age" 'BEGIN { exit !(a + 0 > 0.5) }'; then
	pass "app down: /metrics shows the pending events and their age"
else
	fail "app down: /metrics shows the pending events and their age" \
		"streamgate_events_pending $pending, oldest age $age"
fi
start_app APP --port "$APORT" --record "$REC" || exit 1
delivered "app back up: every pending event delivered exactly once" \
	"$REC" "$T/down" 10 exact --record "$REC" --sent "$T/down" \
	--key "$API_KEY" --path /hook --once

# ---- 500 twice per event, then 200: delivered on the third try
retry0=$("${DH[@]}" metric --port "$MPORT" --name streamgate_delivery_retries_total)
control "$APORT" '{"fail_first": 2}'
"${DH[@]}" send --port "$DPORT" "${KEYARGS[@]}" --prefix f500 --count 10 \
	--cids messaging:r1,messaging:r2 --out "$T/f500" >/dev/null 2>&1
if delivered "app answers 500, then recovers: delivered once after 3 tries" \
	"$REC" "$T/f500" 10 exact --record "$REC" --sent "$T/f500" \
	--key "$API_KEY" --path /hook --once --tries 3; then
	check "app answers 500: tries and the last error kept in the store" \
		"${DH[@]}" state --db "$DB" --sent "$T/f500" --state delivered \
		--tries 3 --timeout 3
	check "app answers 500: X-Streamgate-Delivery-Attempt 1, 2, 3; X-Webhook-Attempt unchanged" \
		"${DH[@]}" attempts --record "$REC" --sent "$T/f500" --tries 3
	check "app answers 500: every attempt carries Stream's signature" \
		"${DH[@]}" signature --record "$REC" --sent "$T/f500" \
		--secret "$T/secret"
	retry1=$("${DH[@]}" metric --port "$MPORT" --name streamgate_delivery_retries_total)
	r=$("${DH[@]}" metric --port "$MPORT" --name 'streamgate_deliveries_total{outcome="retry"}')
	if [ $((retry1 - retry0)) -eq 20 ] && [ "$r" -ge 20 ]; then
		pass "app answers 500: retries counted in /metrics"
	else
		fail "app answers 500: retries counted in /metrics" \
			"delivery_retries_total +$((retry1 - retry0)) (want 20), deliveries_total{retry} $r"
	fi
fi
control "$APORT" '{"fail_first": 0}'

# ---- three interleaved channels, every 3rd request failing: order kept
control "$APORT" '{"fail_every": 3}'
"${DH[@]}" send --port "$DPORT" "${KEYARGS[@]}" --prefix ord --count 60 \
	--cids messaging:o1,messaging:o2,messaging:o3 --out "$T/ord" >/dev/null 2>&1
if delivered "order: per channel, through failures (3 channels, 60 events)" \
	"$REC" "$T/ord" 15 order --record "$REC" --sent "$T/ord" \
	--min-failures 10; then
	grep -q 'deliver: .*timeout' "$LOG" &&
		echo "# note: an attempt timed out (a loaded machine): $(grep -c 'deliver: .*timeout' "$LOG") line(s)"
	check "order: each event delivered exactly once" \
		"${DH[@]}" exact --record "$REC" --sent "$T/ord" --key "$API_KEY" \
		--path /hook --once
fi
control "$APORT" '{"fail_every": 0}'

# ---- synchronous hooks, to the same app (--upstream covers every route)
hook() {	# hook OUT ID [--path P] [--text T]
	local out=$1 id=$2; shift 2
	"${DH[@]}" hook --port "$DPORT" "${KEYARGS[@]}" --id "$id" "$@" >"$out" 2>&1
}
jq_py() {	# jq_py FILE EXPR: exit status of a Python expression over j
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}
# answered NAME FILE EXPR: PASS when EXPR holds over hook's output (j).
answered() {
	if jq_py "$2" "$3"; then
		pass "$1"
	else
		fail "$1" "$(head -c 300 "$2")"
	fi
}
control "$APORT" '{"rewrite": "REWRITTEN by the app"}'
hook "$T/h1" bms-rewrite --text "original text"
answered "before-message-send: the app's rewrite goes back to Stream" "$T/h1" \
	'j["status"] == 200 and j["body"]["message"]["text"] == "REWRITTEN by the app" and j["body"]["message"]["id"] == "bms-rewrite"'
python3 - "$REC" "$T/h1" "$API_KEY" >"$T/out" 2>&1 <<'EOF'
import hashlib, hmac, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
h1 = json.load(open(sys.argv[2]))
r = [x for x in recs if x["headers"].get("x-webhook-id") == "bms-rewrite"]
if len(r) != 1:
    sys.exit("%d requests for bms-rewrite" % len(r))
r = r[0]
h = r["headers"]
want = {"x-api-key": sys.argv[3], "x-streamgate-verified": "1",
        "content-type": "application/json"}
bad = {k: h.get(k) for k in want if h.get(k) != want[k]}
if bad or len(h.get("x-signature", "")) != 64 or not h.get("x-streamgate-seq"):
    sys.exit("headers: %s" % h)
if r["sha256"] != h1["sha256"] or r["path"] != "/hook":
    sys.exit("body or path differs: %s" % r["path"])
EOF
[ $? -eq 0 ] && pass "before-message-send: the app gets the exact body, X-Signature and the rest" ||
	fail "before-message-send: the app gets the exact body, X-Signature and the rest" "$(cat "$T/out")"
printf '{"id":"bms-rewrite","seq":0,"cid":"","sha256":""}\n' >"$T/h1.sent"
check "before-message-send: answered by the app: marked delivered" \
	"${DH[@]}" state --db "$DB" --sent "$T/h1.sent" --state delivered --timeout 3
hook "$T/h1b" bms-rewrite --text "original text"
n=$(grep -c '"x-webhook-id": "bms-rewrite"' "$REC")
if [ "$n" -eq 2 ] && jq_py "$T/h1b" 'j["body"]["message"]["text"] == "REWRITTEN by the app"'; then
	pass "before-message-send: a duplicate is forwarded too"
else
	fail "before-message-send: a duplicate is forwarded too" "app saw it $n times; $(head -c 200 "$T/h1b")"
fi

control "$APORT" '{"rewrite": null, "sleep_ms": 2500}'
hook "$T/h2" bms-slow --text "slow app"
if jq_py "$T/h2" 'j["status"] == 200 and j["body"] == {"message": j["sent"]} and j["seconds"] < 1.4'; then
	pass "before-message-send: app past the deadline: unchanged in < 1.4 s ($(python3 -c 'import json,sys; print("%.2f s" % json.load(open(sys.argv[1]))["seconds"])' "$T/h2"))"
else
	fail "before-message-send: app past the deadline: unchanged in < 1.4 s" "$(head -c 300 "$T/h2")"
fi
printf '{"id":"bms-slow","seq":0,"cid":"","sha256":""}\n' >"$T/h2.sent"
check "before-message-send: timed out: kept, last_error timeout" \
	"${DH[@]}" state --db "$DB" --sent "$T/h2.sent" --state kept \
	--error timeout --timeout 3
control "$APORT" '{"sleep_ms": 0, "reply": "not json"}'
hook "$T/h3" bms-badbody --text "bad body"
answered "before-message-send: an answer that is not JSON: unchanged" "$T/h3" \
	'j["status"] == 200 and j["body"] == {"message": j["sent"]}'
control "$APORT" '{"reply": null, "rewrite": "/giphy done"}'
hook "$T/h4" cmd-giphy --path "/webhooks/stream/custom-commands?type=giphy" --text "/giphy cat"
if grep '"x-webhook-id": "cmd-giphy"' "$REC" | grep -q '"path": "/hook?type=giphy"' &&
	jq_py "$T/h4" 'j["body"]["message"]["text"] == "/giphy done"'; then
	pass "custom command: forwarded with ?type=giphy, the app's answer returned"
else
	fail "custom command: forwarded with ?type=giphy, the app's answer returned" \
		"$(grep cmd-giphy "$REC" | head -c 300) $(head -c 200 "$T/h4")"
fi
control "$APORT" '{"rewrite": null}'
stop "$APP"
hook "$T/h5" bms-down --text "app down"
answered "before-message-send: app down: unchanged, fast" "$T/h5" \
	'j["status"] == 200 and j["body"] == {"message": j["sent"]} and j["seconds"] < 0.5'
python3 - "$MPORT" >"$T/out" 2>&1 <<'EOF'
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1],
                           timeout=5).read().decode()
want = ['streamgate_hooks_total{route="before_message_send",outcome="answered"} 2',
        'streamgate_hooks_total{route="before_message_send",outcome="timeout"} 1',
        'streamgate_hooks_total{route="before_message_send",outcome="bad_body"} 1',
        'streamgate_hooks_total{route="before_message_send",outcome="error"} 1',
        'streamgate_hooks_total{route="custom_command",outcome="answered"} 1',
        'streamgate_upstream_latency_seconds_bucket{kind="hook",le="+Inf"} 6',
        'streamgate_upstream_latency_seconds_count{kind="push"}',
        'streamgate_deliveries_total{outcome="dead"} 0',
        'streamgate_events_dead 0', 'streamgate_store_up 1',
        'streamgate_store_errors_total', 'streamgate_store_reconnects_total']
miss = [w for w in want if w not in t]
sys.exit("missing: %s" % miss if miss else 0)
EOF
[ $? -eq 0 ] && pass "/metrics: hooks by outcome, upstream latency, delivery and store" ||
	fail "/metrics: hooks by outcome, upstream latency, delivery and store" "$(cat "$T/out")"
start_app APP --port "$APORT" --record "$REC" || exit 1

# ---- SIGHUP: a new push URL is taken without a restart
cat >"$T/main.json" <<EOF
{"delivery": {"backoff_base_ms": 50, "backoff_cap_ms": 400,
              "max_attempts": 50, "timeout_ms": 5000, "concurrency": 8},
 "upstreams": {"push": "http://127.0.0.1:$APORT/hook2"},
 "metrics": "127.0.0.1:$MPORT"}
EOF
kill -HUP "$MAIN"
sleep 0.5
"${DH[@]}" send --port "$DPORT" "${KEYARGS[@]}" --prefix hup --out "$T/hup" >/dev/null 2>&1
delivered "SIGHUP: a new push upstream URL is used" "$REC" "$T/hup" 5 \
	exact --record "$REC" --sent "$T/hup" --key "$API_KEY" --path /hook2 \
	--once

# ---- SIGTERM with a request in flight to a slow app: out in ~2 s, pending
control "$APORT" '{"sleep_ms": 6000}'
"${DH[@]}" send --port "$DPORT" "${KEYARGS[@]}" --prefix term --out "$T/term" >/dev/null 2>&1
sleep 0.3
t0=$SECONDS
kill -TERM "$MAIN"
wait_exit "$MAIN" 5
if [ "$RC" = 0 ] && [ $((SECONDS - t0)) -le 4 ]; then
	pass "SIGTERM with a delivery in flight: exits 0 within the grace"
else
	fail "SIGTERM with a delivery in flight: exits 0 within the grace" "exit $RC after $((SECONDS - t0)) s"
	stop "$MAIN"
fi
check "SIGTERM: the cut-off event stays pending" \
	"${DH[@]}" state --db "$DB" --sent "$T/term" --state pending --timeout 1
stop "$APP"
if grep -qF "$SECRET" "$LOG"; then
	fail "logs: no secret in stderr" "found it"
else
	pass "logs: no secret in stderr"
fi

# ---- attempt limit, dead, replay; over a unix socket
SOCK=$T/app.sock
UREC=$T/unix.jsonl
UPORT=$(free_port)
UDB=$T/unix.db
cat >"$T/unix.json" <<EOF
{"delivery": {"backoff_base_ms": 50, "backoff_cap_ms": 100,
              "max_attempts": 2, "timeout_ms": 1000, "concurrency": 4}}
EOF
start_app UAPP --unix "$SOCK" --record "$UREC" || exit 1
if ! start_daemon "$T/unix.err" "$UPORT" "${DKEY[@]}" \
	--config "$T/unix.json" --store "sqlite:$UDB" --upstream "unix:$SOCK"; then
	fail "unix socket: daemon starts" "$START_ERR"
else
	UNIX=$DPID
	"${DH[@]}" send --port "$UPORT" "${KEYARGS[@]}" --prefix unix \
		--out "$T/unix" >/dev/null 2>&1
	delivered "unix socket upstream: delivered on the route's path, exact bytes" \
		"$UREC" "$T/unix" 5 exact --record "$UREC" --sent "$T/unix" \
		--key "$API_KEY" --path /webhooks/stream/push --once
	control "$SOCK" '{"status": 500}'
	"${DH[@]}" send --port "$UPORT" "${KEYARGS[@]}" --prefix dead --count 3 \
		--cids messaging:x --out "$T/dead" >/dev/null 2>&1
	check "attempt limit: dead after max_attempts (2), last_error status 500" \
		"${DH[@]}" state --db "$UDB" --sent "$T/dead" --state dead \
		--tries 2 --error "status 500" --timeout 5
	if "$SG" inbox list --store "sqlite:$UDB" --state dead >"$T/list" 2>"$T/list.err"; then
		n=$(grep -c 'dead-000' "$T/list")
		[ "$n" -eq 3 ] && pass "attempt limit: inbox list --state dead shows them" ||
			fail "attempt limit: inbox list --state dead shows them" "$n of 3: $(head -5 "$T/list")"
	else
		echo "# note: 'streamgate inbox list --state' not available yet ($(head -1 "$T/list.err")); the store was read with sqlite3 instead"
	fi
	control "$SOCK" '{"status": 200}'
	seq=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["seq"])' "$T/dead")
	head -1 "$T/dead" >"$T/replay"
	if "$SG" inbox replay "$seq" --store "sqlite:$UDB" >"$T/rp" 2>&1; then
		:
	else
		echo "# note: 'streamgate inbox replay' not available yet ($(head -1 "$T/rp")); replayed with sqlite3 instead"
		python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=5)
c.execute("UPDATE events SET state = '"'"'pending'"'"', tries = 0, next_at = 0 WHERE seq = ?", (int(sys.argv[2]),))
c.commit()' "$UDB" "$seq"
	fi
	delivered "replay: a dead event is delivered" "$UREC" "$T/replay" 6 \
		state --db "$UDB" --sent "$T/replay" --state delivered --timeout 3
	n=$(grep -c '"x-webhook-id": "dead-000[12]"' "$UREC")
	[ "$n" -eq 4 ] && pass "dead events are not sent again (2 attempts each)" ||
		fail "dead events are not sent again (2 attempts each)" "$n requests, want 4"
	stop "$UNIX"
fi

# ---- an https upstream, its CA given by upstream_ca_file
HREC=$T/https.jsonl
HPORT=$(free_port) HAPORT=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=app.test -addext subjectAltName=IP:127.0.0.1 -days 1 \
	-keyout "$T/app.key" -out "$T/app.crt" 2>/dev/null
printf '{"upstream_ca_file": "%s"}\n' "$T/app.crt" >"$T/https.json"
start_app HAPP --port "$HAPORT" --record "$HREC" --tls-cert "$T/app.crt" \
	--tls-key "$T/app.key" || exit 1
if ! start_daemon "$T/https.err" "$HPORT" "${DKEY[@]}" --config "$T/https.json" \
	--store "sqlite:$T/https.db" --upstream "https://127.0.0.1:$HAPORT/hook"; then
	fail "https upstream: daemon starts" "$START_ERR"
else
	"${DH[@]}" send --port "$HPORT" "${KEYARGS[@]}" --prefix tls \
		--out "$T/tls" >/dev/null 2>&1
	delivered "https upstream: delivered, certificate checked against upstream_ca_file" \
		"$HREC" "$T/tls" 5 exact --record "$HREC" --sent "$T/tls" \
		--key "$API_KEY" --path /hook --once
	stop "$DPID"
fi
stop "$UAPP"

# ---- kill -9 during deliveries to a slow app: nothing stored is lost
CPORT=$(free_port)
CAPORT=$(free_port)
CDB=$T/crash.db
CREC=$T/crash.jsonl
cat >"$T/crash.json" <<EOF
{"delivery": {"backoff_base_ms": 50, "backoff_cap_ms": 200,
              "max_attempts": 50, "timeout_ms": 3000, "concurrency": 4}}
EOF
start_app CAPP --port "$CAPORT" --record "$CREC" --sleep-ms 150 || exit 1
CRASHARGS=("${DKEY[@]}" --config "$T/crash.json" --store "sqlite:$CDB"
	--upstream "http://127.0.0.1:$CAPORT/")
if ! start_daemon "$T/crash.err" "$CPORT" "${CRASHARGS[@]}"; then
	fail "crash: daemon starts" "$START_ERR"
else
	CRASH=$DPID
	"${DH[@]}" send --port "$CPORT" "${KEYARGS[@]}" --prefix crash --count 60 \
		--cids a,b,c,d,e,f,g,"" --out "$T/crash" >/dev/null 2>&1
	for ((i = 0; i < 100; i++)); do
		[ "$(wc -l <"$CREC" 2>/dev/null || echo 0)" -ge 8 ] && break
		sleep 0.05
	done
	exec 3>&2 2>/dev/null	# not bash's "Killed" line
	kill -KILL "$CRASH"
	wait_exit "$CRASH" 5
	exec 2>&3 3>&-
	sleep 0.3	# answers to the dead daemon are recorded too
	before=$(wc -l <"$CREC")
	control "$CAPORT" '{"sleep_ms": 0}'
	if ! start_daemon "$T/crash.err" "$CPORT" "${CRASHARGS[@]}"; then
		fail "crash: daemon restarts on the same store" "$START_ERR"
	else
		CRASH=$DPID
		check "crash: kill -9 after $before of 60 deliveries: every stored push delivered after restart" \
			"${DH[@]}" stored --db "$CDB" --record "$CREC" --min 60 --timeout 15
		# a crash re-sends what was unmarked (at least once): the
		# order holds within each run
		check "crash: per-channel order kept after the restart" \
			"${DH[@]}" order --record "$CREC" --sent "$T/crash" \
			--skip "$before"
		kill -TERM "$CRASH"
		wait_exit "$CRASH" 5
		[ "$RC" = 0 ] && pass "crash: restarted daemon exits 0 on SIGTERM" ||
			fail "crash: restarted daemon exits 0 on SIGTERM" "exit $RC"
	fi
fi
stop "$CAPP"

echo "# ${SECONDS}s"
[ "$nfail" -eq 0 ]
