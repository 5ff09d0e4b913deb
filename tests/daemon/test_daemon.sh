#!/usr/bin/env bash
# streamgated end to end, on 127.0.0.1 only: signatures, keys, gzip, dedup,
# concurrency, HTTP framing and limits, routes, logs, SIGTERM under load and
# kill -9 recovery.  The request cases live in client.py (`client.py cases
# --list` names them); this script owns the daemons' lives.
#
#   STREAMGATED="python3 tests/daemon/stub_streamgated.py" tests/daemon/test_daemon.sh
# runs the suite against a stand-in, to check the harness itself.
SUITE_SECONDS=${SUITE_SECONDS:-85}
. "$(dirname "$0")/lib.sh"
need_built "${SGD[0]}"

umask 077
API_KEY=k-main-7f3a
OTHER_KEY=k-other-91c2
SECRET=Zq8s3cr3tXYZZY4242doNotLog
ROTATED=Rt9n3wS3cr3tQQ5151doNotLog
OTHER=Ot7h3rS3cr3tWW6262doNotLog
MARKER=BODYMARKER-c0ffee-77
printf '%s\n' "$SECRET" >"$T/secret"
printf '%s\n' "$ROTATED" >"$T/rotated"
printf '%s\n' "$OTHER" >"$T/other"
KEYS=(--key "$API_KEY=$T/secret" --key "$API_KEY=$T/rotated"
	--key "$OTHER_KEY=$T/other")

# ---- a secret file readable by others is refused, naming the key
printf 'open-secret\n' >"$T/open"
chmod 0644 "$T/open"
PORT=$(free_port)
rc=0
timeout 5 "${SGD[@]}" --listen "127.0.0.1:$PORT" --key "k-open=$T/open" \
	--store "sqlite:$T/open.db" >/dev/null 2>"$T/open.err" || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q 'k-open' "$T/open.err"; then
	pass "startup: a secret file readable by others is refused, naming the key"
else
	fail "startup: a secret file readable by others is refused, naming the key" \
		"exit $rc (124 = still running after 5s), stderr: $(head -c 300 "$T/open.err" | tr '\n' ' ')"
fi
if grep -q 'open-secret' "$T/open.err"; then
	fail "startup: refusal does not print the secret" "stderr holds it"
else
	pass "startup: refusal does not print the secret"
fi

# ---- the request cases, against one daemon
PORT=$(free_port)
DB=$T/events.db
LOG=$T/main.err
if ! start_daemon "$LOG" "$PORT" "${KEYS[@]}" --store "sqlite:$DB"; then
	fail "startup: daemon answers /healthz" "$START_ERR"
	exit 1
fi
MAIN=$DPID
pass "startup: daemon answers /healthz"
# one worker per core (no "workers" given)
want=$(nproc)
got=$(cat /proc/"$MAIN"/task/*/comm 2>/dev/null | grep -cx sg-worker)
if [ "$got" = "$want" ]; then
	pass "startup: $want sg-worker thread(s) by default on $(nproc) cores"
else
	fail "startup: $want sg-worker thread(s) by default on $(nproc) cores" "$got"
fi

"${CLIENT[@]}" cases --port "$PORT" --db "$DB" --api-key "$API_KEY" \
	--secret-file "$T/secret" --rotated-secret-file "$T/rotated" \
	--other-key "$OTHER_KEY" --other-secret-file "$T/other" \
	--marker "$MARKER" >"$T/cases" 2>&1
crc=$?
cat "$T/cases"
nfail=$((nfail + $(grep -c '^FAIL:' "$T/cases")))
if [ "$crc" -ne 0 ] && ! grep -q '^FAIL:' "$T/cases"; then
	fail "cases" "client.py exited $crc: $(tail -3 "$T/cases" | tr '\n' ' ')"
fi
if ! kill -0 "$MAIN" 2>/dev/null; then
	fail "daemon alive after the request cases" "it exited: $(tail -3 "$LOG" | tr '\n' ' ')"
	exit 1
fi

# metrics_have PORT LINE...: /metrics on PORT holds every LINE (else it
# says which it misses)
metrics_have() {
	python3 -c '
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1],
                           timeout=5).read().decode()
miss = [w for w in sys.argv[2:] if w not in t]
sys.exit("missing: %s" % miss if miss else 0)' "$@"
}

# ---- synchronous hooks through an upstream without a path (the request's
# ---- own target), each hook's deadline, and a store that fails (Redis
# ---- killed): hooks answered 200 unchanged, a push 503
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
RPID=
extra_pids() { echo $RPID; }
hooks_suite() {
	local aport rport hport mport app rec=$T/hooks.rec log=$T/hooks.err
	aport=$(free_port) rport=$(free_port) hport=$(free_port) mport=$(free_port)
	mkdir -p "$T/redis"
	"$REDIS_SERVER" --port "$rport" --bind 127.0.0.1 --save '' \
		--appendonly no --dir "$T/redis" >"$T/redis.log" 2>&1 &
	RPID=$!
	"${CLIENT[@]}" ping --redis "$rport" --timeout 5 ||
		{ fail "hooks: redis-server starts" "$(tail -2 "$T/redis.log")"; return; }
	python3 tests/daemon/app.py --port "$aport" --record "$rec" \
		--rewrite "rewritten by the app" >"$T/app.out" 2>&1 &
	app=$!
	PIDS+=("$app")
	for _ in $(seq 100); do grep -q ready "$T/app.out" && break; sleep 0.05; done
	cat >"$T/hooks.json" <<-EOF
	{"upstreams": {"before_message_send": "http://127.0.0.1:$aport",
	               "custom_commands": "http://127.0.0.1:$aport/"},
	 "hook_deadline_ms": {"before_message_send": 400,
	                      "custom_commands": 250}}
	EOF
	if ! start_daemon "$log" "$hport" --config "$T/hooks.json" \
		--key "$API_KEY=$T/secret" --store "redis://127.0.0.1:$rport" \
		--metrics "127.0.0.1:$mport"; then
		fail "hooks: daemon with hook upstreams starts" "$START_ERR"
		return
	fi
	local hd=$DPID args=(--port "$hport" --api-key "$API_KEY"
		--secret-file "$T/secret" --record "$rec")
	"${CLIENT[@]}" hooks "${args[@]}" --app-port "$aport" \
		--rewrite "rewritten by the app" --bms-ms 400 --cmd-ms 250 \
		>"$T/hooks.out" 2>&1
	cat "$T/hooks.out"
	nfail=$((nfail + $(grep -c '^FAIL:' "$T/hooks.out")))
	kill -KILL "$RPID"; wait "$RPID" 2>/dev/null; RPID=
	"${CLIENT[@]}" hookstore "${args[@]}" >"$T/hookstore.out" 2>&1
	cat "$T/hookstore.out"
	nfail=$((nfail + $(grep -c '^FAIL:' "$T/hookstore.out")))
	sleep 0.3	# the request log is written once per loop
	if [ "$(grep -c 'not stored (store unavailable); Stream gets the message unchanged' "$log")" = 2 ] &&
		grep -q '"kind":"before_message_send","status":200,.*"reason":"store unavailable"' "$log"; then
		pass "hooks: store down: one warning per hook, and its request line (200)"
	else
		fail "hooks: store down: one warning per hook, and its request line (200)" \
			"$(grep -E 'unavailable|unchanged' "$log" | tail -4 | tr '\n' ' ')"
	fi
	check "hooks: /metrics counts a hook the store failed as store_error" \
		metrics_have "$mport" \
		'streamgate_requests_total{route="before_message_send",outcome="store_error"} 1' \
		'streamgate_requests_total{route="custom_command",outcome="store_error"} 1' \
		'streamgate_requests_total{route="push",outcome="store_error"} 1' \
		'streamgate_hooks_total{route="before_message_send",outcome="timeout"} 1' \
		'streamgate_hooks_total{route="custom_command",outcome="timeout"} 1'
	kill -TERM "$hd"
	wait_exit "$hd" 10
	[ "$RC" = 0 ] || fail "hooks: daemon exits 0 on SIGTERM" "exit status $RC"
}
if [ -x "$REDIS_SERVER" ]; then
	hooks_suite
else
	echo "SKIP: hooks: $REDIS_SERVER missing (apt-get install redis-server)"
fi

# ---- SIGHUP: secrets re-read, a bad reload refused, connections kept;
# ---- /metrics on its own listener
HUP_PORT=$(free_port)
MPORT=$(free_port)
HLOG=$T/hup.err
printf 'hup-secret-one\n' >"$T/hup"
printf 'hup-secret-two\n' >"$T/hup2"
hup_send() {	# hup_send SECRETFILE ID: prints the status line
	"${CLIENT[@]}" send --port "$HUP_PORT" --api-key k-hup \
		--secret-file "$1" --id "$2" 2>&1 | head -1
}
# keep-alive GETs on one socket, one per line of stdin ("go"), answers out
keepalive() {
	python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
for line in sys.stdin:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    print(s.recv(4096).split(b"\r\n")[0].decode(), flush=True)' "$HUP_PORT"
}
if start_daemon "$HLOG" "$HUP_PORT" --key "k-hup=$T/hup" \
	--metrics "127.0.0.1:$MPORT" --store "sqlite:$T/hup.db"; then
	HUP=$DPID
	exec 7> >(keepalive >"$T/keepalive")
	echo go >&7
	r1=$(hup_send "$T/hup" hup-1)
	cp "$T/hup2" "$T/hup"
	kill -HUP "$HUP"; sleep 0.5
	echo go >&7
	r2=$(hup_send "$T/hup2" hup-2)
	printf 'hup-secret-one\n' >"$T/hup-one"
	r3=$(hup_send "$T/hup-one" hup-3)
	chmod 0644 "$T/hup"
	kill -HUP "$HUP"; sleep 0.5
	r4=$(hup_send "$T/hup2" hup-4)
	echo go >&7
	exec 7>&-
	sleep 0.3
	if [ "$r1" = 200 ] && [ "$r2" = 200 ] && [ "$r3" = 401 ]; then
		pass "SIGHUP: the new secret verifies, the old one no longer does"
	else
		fail "SIGHUP: the new secret verifies, the old one no longer does" \
			"before $r1, new $r2, old $r3 (want 200 200 401)"
	fi
	if [ "$r4" = 200 ] && grep -q 'keeping the running configuration' "$HLOG"; then
		pass "SIGHUP: a bad new config is refused, the old one kept"
	else
		fail "SIGHUP: a bad new config is refused, the old one kept" \
			"after refusal $r4; log: $(grep SIGHUP "$HLOG" | tail -2 | tr '\n' ' ')"
	fi
	if [ "$(grep -c 'HTTP/1.1 200' "$T/keepalive")" -eq 3 ]; then
		pass "SIGHUP: an open keep-alive connection keeps working"
	else
		fail "SIGHUP: an open keep-alive connection keeps working" \
			"answers on it: $(tr '\n' ' ' <"$T/keepalive")"
	fi
	check "/metrics: requests by route and outcome, histogram, store" \
		metrics_have "$MPORT" \
		'streamgate_requests_total{route="push",outcome="ok"} 3' \
		'streamgate_requests_total{route="push",outcome="bad_signature"} 1' \
		'streamgate_store_events_total 3' \
		'streamgate_request_duration_seconds_bucket{le="+Inf"}'
	kill -TERM "$HUP"
	wait_exit "$HUP" 10
else
	fail "SIGHUP: daemon with --metrics starts" "$START_ERR"
fi

# ---- out of descriptors: connections past the limit are refused, the
# ---- daemon neither spins nor stops answering
FD_PORT=$(free_port)
FDLOG=$T/fd.err
SGD_SAVED=("${SGD[@]}")
SGD=(bash -c 'ulimit -n 64; exec "$0" "$@"' "${SGD[@]}")
if start_daemon "$FDLOG" "$FD_PORT" --key "$API_KEY=$T/secret" \
	--store "sqlite:$T/fd.db"; then
	FDP=$DPID
	out=$(python3 -c '
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
def cpu():
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100.0
held = []
for i in range(120):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        pass
time.sleep(0.3)
c0 = cpu(); time.sleep(1.0); c1 = cpu()
for s in held:
    s.close()
time.sleep(0.3)
print("%.2f" % (c1 - c0))' "$FD_PORT" "$FDP" 2>&1)
	st=$("${CLIENT[@]}" send --port "$FD_PORT" --api-key "$API_KEY" \
		--secret-file "$T/secret" --id fd-after 2>&1 | head -1)
	if grep -q 'file descriptors are allowed' "$FDLOG" &&
		awk -v c="$out" 'BEGIN { exit !(c + 0 < 0.5) }' && [ "$st" = 200 ]; then
		pass "out of descriptors: warned at start, no spinning, answers after"
	else
		fail "out of descriptors: warned at start, no spinning, answers after" \
			"cpu over 1 s with 120 connections: $out s; answer after: $st; log: $(grep -c descriptors "$FDLOG")"
	fi
	kill -TERM "$FDP"
	wait_exit "$FDP" 10
else
	fail "out of descriptors: daemon starts under ulimit -n 64" "$START_ERR"
fi
SGD=("${SGD_SAVED[@]}")

# ---- SIGTERM under load: 200 distinct webhooks, SIGTERM after 100 acks
"${CLIENT[@]}" load --port "$PORT" --api-key "$API_KEY" --secret-file "$T/secret" \
	--count 200 --threads 4 --acked "$T/term.acked" --kill-pid "$MAIN" \
	--kill-after 100 --signal TERM >"$T/term.load" 2>&1
echo "# SIGTERM load: $(cat "$T/term.load")"
wait_exit "$MAIN" 10
if [ "$RC" = 0 ]; then
	pass "SIGTERM under load: daemon exits 0"
else
	fail "SIGTERM under load: daemon exits 0" "exit status $RC; stderr: $(tail -3 "$LOG" | tr '\n' ' ')"
	kill -KILL "$MAIN" 2>/dev/null
fi
grep -q '"killed": true' "$T/term.load" ||
	fail "SIGTERM under load: signal sent mid-way" "$(cat "$T/term.load")"
"${CLIENT[@]}" dbcheck --db "$DB" --acked "$T/term.acked" --min-acked 100 \
	--name "SIGTERM under load: every acknowledged webhook stored once" || nfail=$((nfail + 1))

# ---- logs, across everything the main daemon wrote
check_logs() {	# check_logs LOGFILE LABEL
	local log=$1 what=$2 s
	for s in "$SECRET" "$ROTATED" "$OTHER"; do
		if grep -qF "$s" "$log"; then
			fail "logs ($what): no secret in stderr" "found a secret: $(grep -F "$s" "$log" | head -1 | head -c 200)"
			return
		fi
	done
	pass "logs ($what): no secret in stderr"
	if grep -qF "$MARKER" "$log"; then
		fail "logs ($what): no request body in stderr" "found the body marker: $(grep -F "$MARKER" "$log" | head -1 | head -c 200)"
	else
		pass "logs ($what): no request body in stderr"
	fi
}
check_logs "$LOG" main
if out=$(python3 - "$LOG" <<'EOF'
import json, sys
keys = {"time", "remote", "path", "webhook_id", "attempt", "kind", "status",
        "latency_us", "reason"}
req, bad = 0, []
for ln in open(sys.argv[1], errors="replace"):
    try:
        j = json.loads(ln)
    except ValueError:
        continue
    if not isinstance(j, dict) or "status" not in j:
        continue
    req += 1
    if not keys <= set(j):
        bad.append("missing %s in %s" % (sorted(keys - set(j)), ln.strip()[:200]))
if req < 50:
    print("only %d JSON request lines (with \"status\") in stderr" % req)
    sys.exit(1)
if bad:
    print("%d lines lack keys, e.g. %s" % (len(bad), bad[0]))
    sys.exit(1)
EOF
); then
	pass "logs: one JSON line per request with the 9 keys"
else
	fail "logs: one JSON line per request with the 9 keys" "$out"
fi

# ---- kill -9 under load, restart on the same store
PORT=$(free_port)
CDB=$T/crash.db
CLOG=$T/crash.err
if ! start_daemon "$CLOG" "$PORT" "${KEYS[@]}" --store "sqlite:$CDB"; then
	fail "crash: daemon starts" "$START_ERR"
	exit 1
fi
CRASH=$DPID
"${CLIENT[@]}" load --port "$PORT" --api-key "$API_KEY" --secret-file "$T/secret" \
	--count 400 --threads 8 --acked "$T/crash.acked" --kill-pid "$CRASH" \
	--kill-after 150 --signal KILL --deadline 15 >"$T/crash.load" 2>&1
echo "# kill -9 load: $(cat "$T/crash.load")"
wait_exit "$CRASH" 5
[ "$RC" = 137 ] || fail "crash: kill -9 killed the daemon" "exit status $RC"
if ! start_daemon "$CLOG" "$PORT" "${KEYS[@]}" --store "sqlite:$CDB"; then
	fail "crash: daemon restarts on the same store and port" "$START_ERR"
else
	pass "crash: daemon restarts on the same store and port"
	RESTARTED=$DPID
	"${CLIENT[@]}" dbcheck --db "$CDB" --acked "$T/crash.acked" --min-acked 150 \
		--port "$PORT" --api-key "$API_KEY" --secret-file "$T/secret" \
		--name "crash: every acknowledged webhook stored once after kill -9" ||
		nfail=$((nfail + 1))
	kill -TERM "$RESTARTED"
	wait_exit "$RESTARTED" 10
	if [ "$RC" = 0 ]; then
		pass "SIGTERM when idle: daemon exits 0"
	else
		fail "SIGTERM when idle: daemon exits 0" "exit status $RC"
	fi
fi
check_logs "$CLOG" crash

echo "# ${SECONDS}s"
[ "$nfail" -eq 0 ]
