#!/usr/bin/env bash
# `streamgate inbox list|show`: the daemon's events table read back.  Most
# cases use a store made here with python3's sqlite3 from the documented
# schema (independent of the daemon); one case stores a webhook through
# the real streamgated on 127.0.0.1 and reads it back.
. "$(dirname "$0")/lib.sh"
SGABS=$PWD/$SG
SGD=$PWD/${BUILD:-build}/streamgated

# run ARGS...: streamgate; sets rc, and $T/o, $T/e
run() {
	rc=0
	"$SG" "$@" >"$T/o" 2>"$T/e" || rc=$?
}

# expect_err NAME RC PATTERN ARGS...: exits RC, stderr matches PATTERN
expect_err() {
	local name=$1 want=$2 pat=$3; shift 3
	run "$@"
	check "$name" sh -c '[ "$1" -eq "$2" ] && grep -q -- "$3" "$4" ||
		{ echo "rc $1:"; cat "$4"; exit 1; }' - "$rc" "$want" "$pat" "$T/e"
}

# ---- a store with the documented schema, bodies chosen to be awkward
DB=$T/events.db
python3 - "$DB" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("""
PRAGMA journal_mode=WAL;
CREATE TABLE events (seq INTEGER PRIMARY KEY, webhook_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL, event_type TEXT, api_key TEXT NOT NULL,
  attempt INTEGER NOT NULL, command TEXT, received_at INTEGER NOT NULL,
  body BLOB NOT NULL);
PRAGMA user_version=1;
""")
rows = [
  (1, "wh-1", "push", "message.new", "k-main", 1, None, 1764151200123,
   b'{"type":"message.new","message":{"text":"h\xc3\xa9llo"}}'),
  (2, "wh-2", "custom_command", None, "k-main", 3, "giphy", 1764151201000,
   b'{"x":"\xff\x00\n"}\n\n'),		# not UTF-8, a NUL, trailing newlines
  (7, "wh-7", "before_message_send", "", "k-other", 1, None, 0, b""),
]
db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)
db.commit()
EOF

run inbox list --store "sqlite:$DB"
check "list: a header and one line per event, in seq order" sh -c \
	'[ "$(wc -l <"$1")" -eq 4 ] && awk "NR > 1 { print \$1 }" "$1" | tr "\n" " " | grep -qx "1 2 7 "' - "$T/o"
check "list: received_at as ISO-8601 UTC with ms, every field" grep -Eq \
	'^ *1  2025-11-26T10:00:00\.123Z  push +message\.new +wh-1 +1  k-main +- +50$' "$T/o"
check "list: epoch 0, command, body length in bytes" grep -Eq \
	'^ *2  2025-11-26T10:00:01\.000Z  custom_command +- +wh-2 +3  k-main +giphy +13$' "$T/o"
check "list: columns aligned" sh -c '[ "$(awk "{ print index(\$0, \"wh-\") }" "$1" | sed 1d | sort -u | wc -l)" -eq 1 ]' - "$T/o"
run inbox list --store "sqlite:$DB" --since 1
check "list --since 1: only later events" sh -c '[ "$(sed 1d "$1" | awk "{ print \$1 }" | tr "\n" " ")" = "2 7 " ]' - "$T/o"
run inbox list --store "sqlite:$DB" --since 2 --limit 1
check "list --since 2 --limit 1: seq 7 alone" sh -c '[ "$(sed 1d "$1" | awk "{ print \$1 }")" = 7 ]' - "$T/o"
run inbox list --store "sqlite:$DB" --limit 2
check "list --limit 2: the first two" sh -c '[ "$(sed 1d "$1" | wc -l)" -eq 2 ]' - "$T/o"
run inbox list --store "sqlite:$DB" --since 7
check "list past the end: the header only, exit 0" sh -c '[ "$1" -eq 0 ] && [ "$(wc -l <"$2")" -eq 1 ]' - "$rc" "$T/o"

run inbox list --store "sqlite:$DB" --json
check "list --json: an array of objects with every field" python3 - "$T/o" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
assert [e["seq"] for e in v] == [1, 2, 7], v
assert v[0] == {"seq": 1, "received_at": "2025-11-26T10:00:00.123Z",
	"kind": "push", "event_type": "message.new", "webhook_id": "wh-1",
	"attempt": 1, "api_key": "k-main", "command": None, "body_bytes": 50}, v[0]
assert v[1]["command"] == "giphy" and v[1]["event_type"] is None, v[1]
assert v[2]["received_at"] == "1970-01-01T00:00:00.000Z" and v[2]["body_bytes"] == 0, v[2]
EOF
run inbox list --store "sqlite:$DB" --json --since 1 --limit 1
check "list --json --since --limit" python3 -c '
import json, sys
assert [e["seq"] for e in json.load(open(sys.argv[1]))] == [2]' "$T/o"
run inbox list --store "sqlite:$DB" --json --since 9
check "list --json past the end: []" python3 -c '
import json, sys
assert json.load(open(sys.argv[1])) == []' "$T/o"

# show: the fields, a blank line, then the body exactly as stored
for seq in 1 2 7; do
	run inbox show "$seq" --store "sqlite:$DB"
	check "show $seq: fields, then the exact body bytes" python3 - "$DB" "$seq" "$T/o" "$rc" <<'EOF'
import sqlite3, sys
db, seq, out, rc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
assert rc == 0, rc
body = sqlite3.connect(db).execute("SELECT body FROM events WHERE seq=?", (seq,)).fetchone()[0]
head, sep, got = open(out, "rb").read().partition(b"\n\n")
assert sep and got == body, (got, body)
fields = dict(l.split(b":", 1) for l in head.split(b"\n"))
assert int(fields[b"seq"]) == seq and int(fields[b"body_bytes"]) == len(body), fields
assert set(fields) == {b"seq", b"received_at", b"kind", b"event_type", b"webhook_id",
	b"attempt", b"api_key", b"command", b"body_bytes"}, fields
EOF
done
run inbox show 1 --store "sqlite:$DB" --json
check "show --json: a UTF-8 body as a string" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["body"] == "{\"type\":\"message.new\",\"message\":{\"text\":\"h\u00e9llo\"}}", v
assert v["seq"] == 1 and v["kind"] == "push" and "body_base64" not in v, v' "$T/o"
run inbox show 2 --store "sqlite:$DB" --json
check "show --json: other bytes as base64, exact" python3 -c '
import base64, json, sys
v = json.load(open(sys.argv[1]))
assert base64.b64decode(v["body_base64"]) == b"{\"x\":\"\xff\x00\n\"}\n\n" and "body" not in v, v' "$T/o"

expect_err "show: unknown seq exits 1" 1 "no event 5\b" inbox show 5 --store "sqlite:$DB"
expect_err "a missing store exits 1 naming --store" 1 "\-\-store: sqlite:$T/none.db: no such file" \
	inbox list --store "sqlite:$T/none.db"
check "a missing store is not created" test ! -e "$T/none.db"
mkdir "$T/empty"
rc=0; (cd "$T/empty" && "$SGABS" inbox list) >"$T/o" 2>"$T/e" || rc=$?
check "default store sqlite:./var/streamgate.db, never created" sh -c '[ "$1" -eq 1 ] &&
	grep -q -- "--store: sqlite:./var/streamgate.db: no such file" "$2" && [ ! -e "$3/var" ]' - "$rc" "$T/e" "$T/empty"
printf 'not a database, not at all, no\n' >"$T/junk.db"
expect_err "a file that is not a database" 1 "\-\-store: .*not a streamgate store" \
	inbox list --store "sqlite:$T/junk.db"
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("CREATE TABLE t (a)")' "$T/other.db"
expect_err "a database without the events table" 1 "not a streamgate store (no such table: events)" \
	inbox show 1 --store "sqlite:$T/other.db"

expect_err "--since: not a number" 2 "\-\-since: 'x' is not a sequence number" inbox list --since x
expect_err "--since: negative" 2 "\-\-since: '-1' is not a sequence number" inbox list --since -1
expect_err "--since: trailing junk" 2 "\-\-since: '3k'" inbox list --since 3k
expect_err "--limit: zero" 2 "\-\-limit: '0' is not a number from 1" inbox list --limit 0
expect_err "--limit: not a number" 2 "\-\-limit: 'all'" inbox list --limit all
expect_err "--store: not sqlite:PATH" 2 "\-\-store: 'redis://127.0.0.1:6379' is not sqlite:PATH" \
	inbox list --store redis://127.0.0.1:6379
expect_err "show: SEQ not a number" 2 "'abc' is not a sequence number" inbox show abc
expect_err "show: SEQ missing" 2 "needs a sequence number" inbox show --store "sqlite:$DB"
expect_err "show takes no --since" 2 "\-\-since does not apply" inbox show 1 --since 2
expect_err "list takes no SEQ" 2 "unexpected argument" inbox list 3
expect_err "--store only for inbox" 2 "\-\-store does not apply" regions --store "sqlite:$DB"
expect_err "inbox: unknown command" 2 "inbox: unknown command" inbox tail
expect_err "inbox: no command" 2 "inbox needs a command" inbox
check "--help shows inbox list and show" sh -c "$SG --help | grep -q 'inbox list' && $SG --help | grep -q 'inbox show SEQ'"

# ---- a writer in the middle of a transaction does not block a reader
python3 - "$DB" "$T/locked" <<'EOF' &
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO events VALUES (8,'wh-8','push','x','k',1,NULL,0,x'7b7d')")
open(sys.argv[2], "w").close()
time.sleep(3)
db.execute("ROLLBACK")
EOF
WPID=$!
for _ in $(seq 100); do [ -e "$T/locked" ] && break; sleep 0.05; done
start=$(date +%s%N)
run inbox list --store "sqlite:$DB"
ms=$((($(date +%s%N) - start) / 1000000))
check "list while a writer holds its transaction: at once, committed rows only" sh -c \
	'[ "$1" -eq 0 ] && [ "$2" -lt 1500 ] && [ "$(wc -l <"$3")" -eq 4 ] || { echo "rc $1, ${2}ms"; cat "$3"; exit 1; }' - "$rc" "$ms" "$T/o"
wait "$WPID"

# ---- end to end: a webhook through the real daemon, then read back
if [ ! -x "$SGD" ]; then
	echo "FAIL: daemon: $SGD not built"
	nfail=$((nfail + 1))
	finish inbox
	exit
fi
umask 077
printf 'Zq8s3cr3tInb0x4242\n' >"$T/secret"
PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$SGD" --listen "127.0.0.1:$PORT" --key "k-inbox=$T/secret" \
	--store "sqlite:$T/daemon.db" >/dev/null 2>"$T/daemon.err" &
DPID=$!
trap 'kill -KILL $DPID 2>/dev/null; wait $DPID 2>/dev/null; rm -rf "$T"' EXIT
printf '{"type":"message.new","message":{"text":"inbox e2e"},"n":42}' >"$T/body.json"
if timeout 10 python3 tests/daemon/client.py waitup --port "$PORT" --timeout 5 2>"$T/waitup" &&
    timeout 10 python3 tests/daemon/client.py send --port "$PORT" --api-key k-inbox \
	--secret-file "$T/secret" --id wh-e2e-1 --attempt 2 --body "$T/body.json" >"$T/sent" 2>&1; then
	run inbox list --store "sqlite:$T/daemon.db" --json
	check "daemon: the stored push is listed while the daemon runs" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert len(v) == 1, v
e = v[0]
assert (e["kind"], e["event_type"], e["webhook_id"], e["attempt"], e["api_key"], e["body_bytes"]) == \
	("push", "message.new", "wh-e2e-1", 2, "k-inbox", 60), e' "$T/o"
	seq=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["seq"])' "$T/o" 2>/dev/null)
	run inbox show "${seq:-1}" --store "sqlite:$T/daemon.db"
	check "daemon: show gives back the signed body byte for byte" python3 -c '
import sys
got = open(sys.argv[1], "rb").read().partition(b"\n\n")[2]
assert got == open(sys.argv[2], "rb").read(), got' "$T/o" "$T/body.json"
else
	echo "FAIL: daemon: store a push: $(cat "$T/waitup" "$T/sent" | tail -3 | tr '\n' ' ') $(tail -2 "$T/daemon.err" | tr '\n' ' ')"
	nfail=$((nfail + 1))
fi
kill -TERM "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
run inbox list --store "sqlite:$T/daemon.db"
check "daemon stopped: the store still reads (no -wal left behind)" sh -c \
	'[ "$1" -eq 0 ] && [ "$(wc -l <"$2")" -eq 2 ]' - "$rc" "$T/o"

finish inbox
