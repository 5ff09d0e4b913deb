#!/usr/bin/env bash
# streamgated against an attacker on the network without credentials
# (issue 13), on 127.0.0.1 only: clients that pipeline and never read
# (the daemon's memory stays bounded, and a reading client still gets
# every answer in order), bodies trickled on every connection slot (408
# by the request deadline, and a real push gets in), a body under the
# minimum rate, clients that half-close (answered, then closed at once),
# a second daemon on the same address (refused, naming it), and the HTTP
# edges: trailers, transfer codings, the version, Host, whitespace.  The
# clients live in hostile.py; this script owns the daemons' lives.
SUITE_SECONDS=${SUITE_SECONDS:-60}
. "$(dirname "$0")/lib.sh"
need_built "${SGD[0]}"
HOSTILE=(timeout 40 python3 tests/daemon/hostile.py)

umask 077
API_KEY=k-hostile-3b9e
printf 'H0st1l3S3cr3tZZ7070doNotLog\n' >"$T/secret"
KEYS=(--key "$API_KEY=$T/secret")
AUTH=(--api-key "$API_KEY" --secret-file "$T/secret")

# run NAME CMD...: its PASS/FAIL lines shown and counted; an exit without
# a FAIL line is one
run() {
	local name=$1 out rc; shift
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	nfail=$((nfail + $(grep -c '^FAIL:' <<<"$out")))
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL:' <<<"$out"; then
		fail "$name" "exited $rc: $(tail -3 <<<"$out" | tr '\n' ' ')"
	fi
}

# ---- one daemon with the default limits
PORT=$(free_port)
DB=$T/main.db
LOG=$T/main.err
if ! start_daemon "$LOG" "$PORT" "${KEYS[@]}" --store "sqlite:$DB"; then
	fail "startup: daemon answers /healthz" "$START_ERR"
	exit 1
fi
MAIN=$DPID

# ---- a second daemon on the same address fails to start, naming it (as
# ---- root told --user root, as start_daemon does, so only the address
# ---- can stop it)
rc=0
as=()
[ "$(id -u)" = 0 ] && [ "${SGD[-1]##*/}" = streamgated ] && as=(--user root)
timeout 5 "${SGD[@]}" --listen "127.0.0.1:$PORT" "${as[@]}" "${KEYS[@]}" \
	--store "sqlite:$T/second.db" >/dev/null 2>"$T/second.err" || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
	grep -q "listen 127.0.0.1:$PORT: address in use" "$T/second.err"; then
	pass "one daemon per address: a second one fails, naming the address"
else
	fail "one daemon per address: a second one fails, naming the address" \
		"exit $rc (124: still running after 5 s), stderr: $(tail -c 300 \
		"$T/second.err" | tr '\n' ' ')"
fi
# it stops before the store: nothing made, opened or upgraded
if [ ! -e "$T/second.db" ] && [ ! -e "$T/second.db-wal" ]; then
	pass "one daemon per address: the second made no store"
else
	fail "one daemon per address: the second made no store" \
		"$(ls "$T" | grep second | tr '\n' ' ')"
fi
check "one daemon per address: the first still answers" \
	"${CLIENT[@]}" waitup --port "$PORT" --timeout 2
run "http" "${HOSTILE[@]}" http --port "$PORT" "${AUTH[@]}" --db "$DB"
run "halfclose" "${HOSTILE[@]}" halfclose --port "$PORT" "${AUTH[@]}" --db "$DB"
run "pipeline" "${HOSTILE[@]}" pipeline --port "$PORT"
run "rss" "${HOSTILE[@]}" rss --port "$PORT" --pid "$MAIN" --clients 20 \
	--seconds 10 --max-mib 64

# ---- bodies trickled on every slot of a daemon with 10 connections and a
# ---- 2 s request deadline; meanwhile one body under the minimum rate on
# ---- the first daemon (30 s deadline)
"${HOSTILE[@]}" slowbody --port "$PORT" "${AUTH[@]}" >"$T/slowbody" 2>&1 &
SLOW=$!
PIDS+=("$SLOW")
TPORT=$(free_port)
cat >"$T/trickle.json" <<EOF
{"limits": {"connections": 10, "request_timeout_ms": 2000}}
EOF
if start_daemon "$T/trickle.err" "$TPORT" --config "$T/trickle.json" \
	"${KEYS[@]}" --store "sqlite:$T/trickle.db"; then
	TRICKLE=$DPID
	run "trickle" "${HOSTILE[@]}" trickle --port "$TPORT" "${AUTH[@]}" \
		--db "$T/trickle.db" --deadline-ms 2000 --clients 10
	sleep 0.3	# the request log is written once per loop
	n=$(grep -c '"status":408,.*"reason":"request timeout"' \
		"$T/trickle.err")
	if [ "$n" -ge 10 ]; then
		pass "slow body: each 408 has its request log line"
	else
		fail "slow body: each 408 has its request log line" "$n lines"
	fi
	kill -TERM "$TRICKLE"
	wait_exit "$TRICKLE" 10
	[ "$RC" = 0 ] ||
		fail "slow body: daemon exits 0 on SIGTERM" "exit status $RC"
else
	fail "slow body: daemon with 10 connections starts" "$START_ERR"
fi
wait "$SLOW"
cat "$T/slowbody"
nfail=$((nfail + $(grep -c '^FAIL:' "$T/slowbody")))
grep -q '^[PF]A[SI][SL]:' "$T/slowbody" ||
	fail "slowbody" "no result: $(tail -3 "$T/slowbody" | tr '\n' ' ')"

if kill -0 "$MAIN" 2>/dev/null; then
	pass "daemon alive after every hostile client"
else
	fail "daemon alive after every hostile client" \
		"it exited: $(tail -3 "$LOG" | tr '\n' ' ')"
fi
if grep -qF "$(cat "$T/secret")" "$LOG" "$T/trickle.err"; then
	fail "logs: no secret in stderr" "found it"
else
	pass "logs: no secret in stderr"
fi
kill -TERM "$MAIN"
wait_exit "$MAIN" 10
[ "$RC" = 0 ] || fail "daemon exits 0 on SIGTERM" "exit status $RC"

echo "# ${SECONDS}s"
[ "$nfail" -eq 0 ]
