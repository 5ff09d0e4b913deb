#!/usr/bin/env bash
# The daemon built with ASan + UBSan ($BUILD/asan/streamgated), two workers,
# plaintext and TLS listeners, under wrk (bench/wrk-signed.lua: signed
# 1.7 KB pushes, a fresh X-Webhook-Id each) from 32 connections at once:
# keep-alive, and Connection: close on every request (a connection is
# answered and closed while its next events are already queued: the case
# that once freed a connection still named later in the same epoll batch).
# Each load: every answer 200, no socket error, one row per 200 (at most one
# in flight per connection when wrk stops), the daemon alive; at the end
# SIGTERM exits 0 and the sanitizers said nothing.  Also: the threads are
# named (sg-worker, sg-writer) and as many workers run as configured.
SUITE_SECONDS=${SUITE_SECONDS:-150}
SGD_ASAN=${BUILD:-build}/asan/streamgated
STREAMGATED=$SGD_ASAN
. "$(dirname "$0")/lib.sh"
need_built "$SGD_ASAN" wrk openssl
# seccomp stays in force (EPERM): ASan's own reporting must not be killed
unset STREAMGATE_SECCOMP_KILL
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86

umask 077
API_KEY=k-stress-41c0
printf 'StressS3cr3t7f2a19doNotLog\n' >"$T/secret"
CONNS=32
DURATION=${STRESS_DURATION:-3s}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=streamgate-stress -days 2 -keyout "$T/key.pem" -out "$T/cert.pem" \
	2>"$T/req.err" || { echo "FAIL: openssl req: $(cat "$T/req.err")"; exit 1; }
mkdir -p "$T/reqs"
python3 bench/make-bodies.py "$T/secret" "$T/reqs" 60000 2 2>/dev/null ||
	{ echo "FAIL: bench/make-bodies.py"; exit 1; }

PORT=$(free_port)
TPORT=$(free_port)
DB=$T/events.db
LOG=$T/stress.err
printf '{"workers": 2}\n' >"$T/conf.json"
# --tls-cert and --tls-key make the --listen before them a TLS listener
if ! start_daemon "$LOG" "$PORT" --listen "127.0.0.1:$TPORT" --tls-cert "$T/cert.pem" \
	--tls-key "$T/key.pem" --config "$T/conf.json" --key "$API_KEY=$T/secret" \
	--store "sqlite:$DB"; then
	fail "startup: the ASan daemon answers /healthz" "$START_ERR"
	exit 1
fi
MAIN=$DPID
pass "startup: the ASan daemon answers /healthz"

# threads NAME: how many of the daemon's threads are named NAME
threads() {
	local f n=0
	for f in /proc/"$MAIN"/task/*/comm; do
		[ "$(cat "$f" 2>/dev/null)" = "$1" ] && n=$((n + 1))
	done
	echo "$n"
}
w=$(threads sg-worker) s=$(threads sg-writer)
if [ "$w" = 2 ] && [ "$s" = 1 ]; then
	pass "threads: \"workers\": 2 runs 2 sg-worker threads and 1 sg-writer"
else
	fail "threads: \"workers\": 2 runs 2 sg-worker threads and 1 sg-writer" "$w workers, $s writers"
fi

rows() {
	python3 -c 'import sqlite3, sys
print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("select count(*) from events").fetchone()[0])' "$DB"
}

# load NAME SCHEME PORT [close]: wrk for DURATION; the checks above
load() {
	local name=$1 scheme=$2 port=$3 mode=${4:-} r0 r1 line kv tag
	local RES_ok=0 RES_non200=-1 RES_err_connect=-1 RES_err_read=-1 RES_err_write=-1 RES_err_timeout=-1
	tag=$(python3 -c 'import secrets; print(secrets.token_hex(4))')
	r0=$(rows)
	timeout 60 wrk -t2 -c"$CONNS" -d"$DURATION" -s bench/wrk-signed.lua \
		"$scheme://127.0.0.1:$port/webhooks/stream/push" -- "$T/reqs" 2 "$API_KEY" "$tag" \
		$mode >"$T/wrk.out" 2>&1
	line=$(grep '^SG_RESULT ' "$T/wrk.out")
	for kv in ${line#SG_RESULT }; do
		printf -v "RES_${kv%%=*}" '%s' "${kv#*=}"
	done
	r1=$(rows)
	echo "# $name: $RES_ok answers of 200, $((r1 - r0)) rows"
	if ! kill -0 "$MAIN" 2>/dev/null; then
		fail "$name: the daemon is alive" "$(grep -v '^{' "$LOG" | grep -m1 -A8 -E 'ERROR|runtime error' | tr '\n' ' ' | head -c 1500)"
		return
	fi
	# Connection: close ends each connection in TIME_WAIT on our side of
	# loopback: wrk counts a reset at its read as an error only when the
	# server failed, so errors must be 0 here too
	if [ "$RES_ok" -gt 100 ] && [ "$RES_non200" = 0 ] && [ "$RES_err_connect" = 0 ] &&
		[ "$RES_err_read" = 0 ] && [ "$RES_err_write" = 0 ] && [ "$RES_err_timeout" = 0 ]; then
		pass "$name: every answer 200, no socket error"
	else
		fail "$name: every answer 200, no socket error" "${line:-no SG_RESULT: $(tail -3 "$T/wrk.out" | tr '\n' ' ')}"
	fi
	if [ $((r1 - r0)) -ge "$RES_ok" ] && [ $((r1 - r0)) -le $((RES_ok + CONNS)) ]; then
		pass "$name: one row per 200"
	else
		fail "$name: one row per 200" "$((r1 - r0)) rows for $RES_ok answers of 200"
	fi
}

load "plaintext keep-alive" http "$PORT"
load "plaintext, Connection: close" http "$PORT" close
load "TLS keep-alive" https "$TPORT"
load "TLS, Connection: close" https "$TPORT" close

kill -TERM "$MAIN"
wait_exit "$MAIN" 20
if [ "$RC" = 0 ]; then
	pass "SIGTERM after the loads: exit 0"
else
	fail "SIGTERM after the loads: exit 0" "exit $RC (86: a sanitizer report)"
fi
if grep -qE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$LOG"; then
	fail "ASan and UBSan found nothing" "$(grep -v '^{' "$LOG" | grep -m1 -A12 -E 'ERROR|runtime error' | tr '\n' ' ' | head -c 1500)"
else
	pass "ASan and UBSan found nothing"
fi

echo "test_stress: $nfail failure(s) in ${SECONDS}s"
[ "$nfail" -eq 0 ]
