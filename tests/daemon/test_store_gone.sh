#!/usr/bin/env bash
# streamgated on 127.0.0.1, the store pulled from under it and one id sent
# twice (README: The verifier daemon):
#   1. events.db, -wal and -shm deleted while the daemon runs: the next
#      pushes are answered 503 (never 200 into an unlinked file), /healthz
#      503, one log line names the file; restarted, the daemon takes those
#      pushes again when they are resent, and every push answered 200 since
#      the deletion is in the store.  The same for a store replaced by a
#      copy (a restore), and for an idle daemon (/healthz within seconds).
#   2. dedup per API key: one X-Webhook-Id from two API keys is stored
#      twice; the same key's id with another, validly signed body is
#      answered 200 duplicate, not stored, counted as
#      outcome="duplicate_mismatch" and logged once with both bodies'
#      hashes (never a body); after a restart the store still tells it.
SUITE_SECONDS=${SUITE_SECONDS:-90}
. "$(dirname "$0")/lib.sh"
SGD=("$BUILD/streamgated")	# the real one: the stub has no such store
need_built "${SGD[0]}" sqlite3

umask 077
KEY_A=k-gone-a1
KEY_B=k-gone-b2
printf 'G0neS3cretAAA4242doNotLog\n' >"$T/a.secret"
printf 'G0neS3cretBBB4242doNotLog\n' >"$T/b.secret"
KEYS=(--key "$KEY_A=$T/a.secret" --key "$KEY_B=$T/b.secret")
mkdir "$T/store"
DB=$T/store/events.db
PORT=$(free_port)
MPORT=$(free_port)
LOG=$T/daemon.err

up() {		# up WHAT: start the daemon on $DB, or stop the suite
	if ! start_daemon "$LOG" "$PORT" "${KEYS[@]}" --store "sqlite:$DB" \
		--metrics "127.0.0.1:$MPORT"; then
		fail "$1: the daemon starts" "$START_ERR"
		exit 1
	fi
}

down() {	# down: SIGTERM, exit 0
	kill -TERM "$DPID"
	wait_exit "$DPID" 10
	[ "$RC" = 0 ] || fail "the daemon stops on SIGTERM" "exit $RC"
}

# send KEY ID BODY: "STATUS BODY" of one signed push
send() {
	local secret=$T/a.secret
	[ "$1" = "$KEY_B" ] && secret=$T/b.secret
	printf '%s' "$3" >"$T/body"
	"${CLIENT[@]}" send --port "$PORT" --api-key "$1" --secret-file "$secret" \
		--id "$2" --body "$T/body" 2>&1 | tr '\n' ' ' | sed 's/ $//'
}

healthz() {	# the status of GET /healthz, or 000
	python3 -c '
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")' "$PORT"
}

metric() {	# metric NAME{LABELS}: its value, or "absent"
	python3 - "$MPORT" "$1" <<'EOF'
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
for l in t.splitlines():
    if l.rsplit(" ", 1)[0] == sys.argv[2]:
        print(l.rsplit(" ", 1)[1]); break
else:
    print("absent")
EOF
}

rows() {	# rows WHERE: events matching, by sqlite3
	sqlite3 "$DB" "select count(*) from events where $1"
}

# wait_for SECONDS CMD...: until CMD succeeds
wait_for() {
	local i n=$(($1 * 20)); shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

body() { printf '{"type":"message.new","cid":"messaging:gone","n":"%s"}' "$1"; }
# the push route's duplicates, and its duplicates with another body
dups() { metric 'streamgate_requests_total{route="push",outcome="duplicate"}'; }
mism() { metric 'streamgate_requests_total{route="push",outcome="duplicate_mismatch"}'; }
sha() { printf '%s' "$1" | sha256sum | cut -c1-"$2"; }
STORED='200 {"status":"stored"'
DUP='200 {"status":"duplicate"}'

# ---- 1. the store deleted under the running daemon
up "gone"
r=$(send "$KEY_A" before-1 "$(body before-1)")
check "gone: a push before is stored ($r)" test "${r%% *}" = 200
rm -f "$DB" "$DB-wal" "$DB-shm"
acked=()	# ids answered 200 from the deletion on
for id in after-1 after-2 after-3; do
	r=$(send "$KEY_A" "$id" "$(body "$id")")
	[ "${r%% *}" = 200 ] && acked+=("$id")
	check "gone: push $id after the deletion: 503 ($r)" \
		test "$r" = '503 {"error":"store unavailable"}'
done
check "gone: /healthz says 503" test "$(healthz)" = 503
check "gone: streamgate_store_up 0" test "$(metric streamgate_store_up)" = 0
check "gone: one log line names the deleted file" \
	test "$(grep -c "store: $DB was deleted under the running daemon" "$LOG")" = 1
check "gone: no second line for the later pushes" \
	test "$(grep -c 'under the running daemon' "$LOG")" = 1
down
# Stream resends what got 503; a restart opens what is at the path (a new,
# empty store: before-1 went with the files the operator deleted)
up "restart"
for id in after-1 after-2 after-3; do
	r=$(send "$KEY_A" "$id" "$(body "$id")")
	[ "${r%% *}" = 200 ] && acked+=("$id")
	check "restart: the resent $id is stored ($r)" test "${r%%,*}" = "$STORED"
done
check "restart: /healthz 200 again" test "$(healthz)" = 200
down
missing=
for id in "${acked[@]}"; do
	[ "$(rows "webhook_id = '$id'")" = 1 ] || missing="$missing $id"
done
check "restart: every push answered 200 since the deletion is in the store (${#acked[@]} of them)${missing:+; missing:$missing}" \
	test -z "$missing" -a "${#acked[@]}" = 3

# a restore: the database replaced by a copy of itself
: >"$LOG.2"; LOG0=$LOG; LOG=$LOG.2
up "replaced"
cp "$DB" "$DB.new" && mv "$DB.new" "$DB"
r=$(send "$KEY_A" restore-1 "$(body restore-1)")
check "replaced: the next push is 503 ($r)" test "${r%% *}" = 503
check "replaced: the log says the file was replaced" \
	grep -q "store: $DB was replaced by another file" "$LOG"
check "replaced: /healthz 503" test "$(healthz)" = 503
down

# idle: no push needed for /healthz to tell
up "idle"
check "idle: /healthz 200" test "$(healthz)" = 200
rm -f "$DB" "$DB-wal" "$DB-shm"
healthz_503() { [ "$(healthz)" = 503 ]; }
check "idle: /healthz 503 within 3 s of the deletion, without traffic" \
	wait_for 3 healthz_503
down
rm -f "$DB" "$DB-wal" "$DB-shm"
LOG=$LOG0

# ---- 2. dedup per API key, and a copy with another body
: >"$T/dedup.err"; LOG=$T/dedup.err
up "dedup"
A=$(body same-a-MARKER-ONE)
B=$(body same-b)
C=$(body same-c-MARKER-TWO)
r=$(send "$KEY_A" same-1 "$A")
check "keys: $KEY_A's same-1 is stored ($r)" test "${r%%,*}" = "$STORED"
r=$(send "$KEY_B" same-1 "$B")
check "keys: $KEY_B's same-1 is stored too, not a duplicate ($r)" \
	test "${r%%,*}" = "$STORED"
check "keys: two rows for same-1, one per key" \
	test "$(rows "webhook_id = 'same-1'")/$(rows "webhook_id = 'same-1' and api_key = '$KEY_B'")" = 2/1
r=$(send "$KEY_A" same-1 "$C")
check "mismatch: $KEY_A's same-1 with another body: 200 duplicate ($r)" \
	test "$r" = "$DUP"
check "mismatch: counted as outcome=duplicate_mismatch" \
	test "$(mism)" = 1
check "mismatch: not as a plain duplicate" \
	test "$(dups)" = 0
check "mismatch: one log line with both bodies' hashes" \
	test "$(grep -c "same-1 of API key $KEY_A with another body: stored sha256 $(sha "$A" 16), this copy $(sha "$C" 16)" "$LOG")" = 1
check "mismatch: the stored body is the first one's, and its hash" \
	test "$(rows "webhook_id = 'same-1' and api_key = '$KEY_A' and body = cast('$A' as blob) and body_sha256 = '$(sha "$A" 64)'")" = 1
r=$(send "$KEY_A" same-1 "$A")
check "mismatch: the same body again is a plain duplicate ($r)" \
	test "$(dups)/$(mism)" = 1/1
down
# after a restart the store answers the duplicate, and knows the hash
up "dedup restart"
r=$(send "$KEY_A" same-1 "$C")
check "mismatch after a restart: 200 duplicate ($r)" test "$r" = "$DUP"
check "mismatch after a restart: counted from the store's hash" \
	test "$(mism)" = 1
check "mismatch after a restart: logged again with both hashes" \
	test "$(grep -c "stored sha256 $(sha "$A" 16), this copy $(sha "$C" 16)" "$LOG")" = 2
r=$(send "$KEY_B" same-1 "$B")
check "keys after a restart: $KEY_B's copy is its own duplicate ($r)" \
	test "$(dups)" = 1
down
check "logs: no body and no secret in the daemon's stderr" \
	sh -c "! cat '$T'/*.err* | grep -qE 'MARKER-ONE|MARKER-TWO|doNotLog'"
check "store: same-1 is there twice, nothing else stored for it" \
	test "$(rows "webhook_id = 'same-1'")" = 2

echo "store_gone: $nfail failed"
[ "$nfail" -eq 0 ]
