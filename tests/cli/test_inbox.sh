#!/usr/bin/env bash
# `streamgate inbox list|show|replay|stats`: the daemon's events table read
# back, and push events put back into delivery.  Most cases use stores
# made here with python3's sqlite3 from the documented schemas, version 1
# (from before delivery), 2 and 3 (with what is kept to forward an event),
# independent of the daemon; the last ones let the real streamgated on
# 127.0.0.1 upgrade a version 1 store, store a webhook in it, and read it
# back and replay it while the daemon runs.
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

# store_make PATH VERSION: a store of schema VERSION (1: from before
# delivery; 2: with delivery states; 3: with the order key, signature and
# target) made from the documented schema, not by the daemon, holding the
# rows the Python on stdin lists in `rows` (`now` is the time in unix ms).
cat >"$T/store_make.py" <<'EOF'
import sqlite3, sys, time
path, version = sys.argv[1], int(sys.argv[2])
delivery = """, cid TEXT, state TEXT NOT NULL DEFAULT 'kept',
  tries INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,
  delivered_at INTEGER, last_error TEXT"""
forwarding = ", signature TEXT, order_key TEXT, target TEXT"
seen = """CREATE TABLE seen (webhook_id TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL);"""
db = sqlite3.connect(path)
db.executescript("""
PRAGMA journal_mode=WAL;
CREATE TABLE events (seq INTEGER PRIMARY KEY, webhook_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL, event_type TEXT, api_key TEXT NOT NULL,
  attempt INTEGER NOT NULL, command TEXT, received_at INTEGER NOT NULL,
  body BLOB NOT NULL%s);
%s
PRAGMA user_version=%d;
""" % ((delivery if version >= 2 else "") + (forwarding if version >= 3 else ""),
       seen if version >= 2 else "", version))
scope = {"now": int(time.time() * 1000)}
exec(sys.stdin.read(), scope)
rows = scope["rows"]
db.executemany("INSERT INTO events VALUES (%s)"
               % ",".join("?" * len(rows[0])), rows)
db.commit()
EOF
store_make() { python3 "$T/store_make.py" "$1" "$2"; }

# ---- a version 1 store (read as before: every event kept), bodies chosen
# to be awkward
DB=$T/events.db
store_make "$DB" 1 <<'EOF'
rows = [
  (1, "wh-1", "push", "message.new", "k-main", 1, None, 1764151200123,
   b'{"type":"message.new","message":{"text":"h\xc3\xa9llo"}}'),
  (2, "wh-2", "custom_command", None, "k-main", 3, "giphy", 1764151201000,
   b'{"x":"\xff\x00\n"}\n\n'),		# not UTF-8, a NUL, trailing newlines
  (7, "wh-7", "before_message_send", "", "k-other", 1, None, 0, b""),
]
EOF

run inbox list --store "sqlite:$DB"
check "list: a header and one line per event, in seq order" sh -c \
	'[ "$(wc -l <"$1")" -eq 4 ] && awk "NR > 1 { print \$1 }" "$1" | tr "\n" " " | grep -qx "1 2 7 "' - "$T/o"
check "list: received_at as ISO-8601 UTC with ms, every field" grep -Eq \
	'^ *1  2025-11-26T10:00:00\.123Z  push +kept +0  message\.new +wh-1 +1  k-main +- +50$' "$T/o"
check "list: epoch 0, command, body length in bytes" grep -Eq \
	'^ *2  2025-11-26T10:00:01\.000Z  custom_command +kept +0  - +wh-2 +3  k-main +giphy +13$' "$T/o"
check "list: the header names state and tries" grep -Eq \
	'^seq  received_at +kind +state +tries  event_type +webhook_id +attempt  api_key +command +body_bytes$' "$T/o"
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
	"kind": "push", "state": "kept", "tries": 0, "event_type": "message.new",
	"webhook_id": "wh-1", "attempt": 1, "api_key": "k-main", "command": None,
	"body_bytes": 50}, v[0]
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
	b"attempt", b"api_key", b"command", b"body_bytes", b"cid", b"state", b"tries",
	b"next_at", b"delivered_at", b"last_error", b"order_key", b"target",
	b"signature", b"body_sha256"}, fields
# version 1: kept, never tried, nothing kept to forward it, no hash
assert [fields[k].strip() for k in (b"state", b"tries", b"cid", b"next_at",
	b"delivered_at", b"last_error", b"order_key", b"target", b"signature",
	b"body_sha256")] == \
	[b"kept", b"0", b"-", b"-", b"-", b"-", b"-", b"-", b"-", b"-"], fields
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
expect_err "--store: not sqlite:PATH" 2 "\-\-store: 'postgres://x' is not sqlite:PATH" \
	inbox list --store postgres://x
for cmd in "list" "show 1" "replay 1" "replay --dead" "stats"; do
	# shellcheck disable=SC2086
	expect_err "$cmd --store redis://: refused, naming the stream" 2 \
		"\-\-store: a redis:// store .*<prefix>:events.*XRANGE" \
		inbox $cmd --store redis://:hunter2@127.0.0.1:6379/0
	check "$cmd --store redis://: the URI (a password) is not echoed" \
		sh -c '! grep -q hunter2 "$1"' - "$T/e"
done
expect_err "show: SEQ not a number" 2 "'abc' is not a sequence number" inbox show abc
expect_err "show: SEQ missing" 2 "needs a sequence number" inbox show --store "sqlite:$DB"
expect_err "show takes no --since" 2 "\-\-since does not apply" inbox show 1 --since 2
expect_err "list takes no SEQ" 2 "unexpected argument" inbox list 3
expect_err "--store only for inbox" 2 "\-\-store does not apply" regions --store "sqlite:$DB"
expect_err "inbox: unknown command" 2 "inbox: unknown command" inbox tail
expect_err "inbox: no command" 2 "inbox needs a command" inbox
check "--help shows inbox list, show, replay and stats" sh -c "$SG --help | grep -q 'inbox list' &&
	$SG --help | grep -q 'inbox show SEQ' && $SG --help | grep -q 'inbox replay SEQ|--dead' &&
	$SG --help | grep -q 'inbox stats' && $SG --help | grep -q -- '--state kept|pending|delivered|dead'"


# ---- version 1: read as before; replay refused until the daemon upgrades
run inbox list --store "sqlite:$DB" --state kept
check "v1 list --state kept: every event" sh -c '[ "$(sed 1d "$1" | wc -l)" -eq 3 ]' - "$T/o"
run inbox list --store "sqlite:$DB" --state pending
check "v1 list --state pending: none" sh -c '[ "$1" -eq 0 ] && [ "$(wc -l <"$2")" -eq 1 ]' - "$rc" "$T/o"
expect_err "v1 replay: refused, start streamgated once to upgrade" 1 \
	"schema version 1.*start streamgated.*once to upgrade it" inbox replay 1 --store "sqlite:$DB"
run inbox stats --store "sqlite:$DB" --json
check "v1 stats: all kept, nothing pending" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["schema"] == 1 and v["total"] == 3 and v["state"]["kept"] == 3, v
assert v["oldest_pending_s"] is None and v["kind"]["custom_command"] == 1, v' "$T/o"
check "v1: reading changed nothing in the file" python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
assert db.execute("PRAGMA user_version").fetchone()[0] == 1
assert len(db.execute("SELECT * FROM events").fetchone()) == 9' "$DB"

# ---- version 2: delivery states
D2=$T/v2.db
store_make "$D2" 2 <<'EOF'
rows = [
  (1, "d-1", "push", "message.new", "k", 1, None, 1764151200123, b"{}",
   "messaging:general", "delivered", 1, 0, 1764151200456, None),
  (2, "d-2", "push", "message.new", "k", 2, None, now - 7200000, b"{}",
   "messaging:general", "pending", 3, 1764151260000, None, "HTTP 503 from the app"),
  (3, "d-3", "push", "reaction.new", "k", 1, None, now - 60000, b"{}",
   None, "dead", 8, 0, None, "connect: refused\x1b[31m"),
  (4, "d-4", "custom_command", None, "k", 1, "giphy", now, b"{}",
   "messaging:general", "kept", 1, 0, None, "timeout"),
  (5, "d-5", "before_message_send", None, "k", 1, None, now, b"{}",
   None, "kept", 0, 0, None, None),
  (6, "d-6", "push", "message.new", "k", 1, None, now - 30000, b"{}",
   None, "dead", 8, 0, None, "HTTP 500"),
]
EOF
run inbox list --store "sqlite:$D2"
check "v2 list: state and tries of each" sh -c '[ "$(sed 1d "$1" | awk "{ print \$1 \":\" \$4 \":\" \$5 }" | tr "\n" " ")" = \
	"1:delivered:1 2:pending:3 3:dead:8 4:kept:1 5:kept:0 6:dead:8 " ]' - "$T/o"
for st in pending delivered dead kept; do
	run inbox list --store "sqlite:$D2" --state "$st" --json
	check "v2 list --state $st --json: only $st" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
want = {"pending": [2], "delivered": [1], "dead": [3, 6], "kept": [4, 5]}[sys.argv[2]]
assert [e["seq"] for e in v] == want and all(e["state"] == sys.argv[2] for e in v), v
assert "tries" in v[0] and "cid" not in v[0], v[0]' "$T/o" "$st"
done
run inbox list --store "sqlite:$D2" --state dead --since 3 --limit 5
check "v2 list --state with --since and --limit" sh -c '[ "$(sed 1d "$1" | awk "{ print \$1 }")" = 6 ]' - "$T/o"
expect_err "--state: not a state" 2 "\-\-state: 'sent' is not kept, pending, delivered or dead" \
	inbox list --store "sqlite:$D2" --state sent
expect_err "show takes no --state" 2 "\-\-state does not apply" inbox show 1 --state dead

run inbox show 2 --store "sqlite:$D2"
check "v2 show: cid, state, tries, next_at, delivered_at, last_error" python3 -c '
import sys
head = open(sys.argv[1], "rb").read().partition(b"\n\n")[0].decode()
f = {k: v.strip() for k, v in (l.split(":", 1) for l in head.split("\n"))}
assert (f["cid"], f["state"], f["tries"], f["next_at"], f["delivered_at"], f["last_error"]) == \
	("messaging:general", "pending", "3", "2025-11-26T10:01:00.000Z", "-", "HTTP 503 from the app"), f
assert (f["order_key"], f["target"], f["signature"]) == ("-", "-", "-"), f' "$T/o"
run inbox show 1 --store "sqlite:$D2" --json
check "v2 show --json: delivered_at a time, next_at 0 is null" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert (v["state"], v["tries"], v["delivered_at"], v["next_at"], v["last_error"], v["cid"]) == \
	("delivered", 1, "2025-11-26T10:00:00.456Z", None, None, "messaging:general"), v
assert (v["order_key"], v["target"], v["signature"]) == (None, None, None), v' "$T/o"
run inbox show 3 --store "sqlite:$D2"
check "v2 show: control bytes in last_error cleaned" grep -q '^last_error:   connect: refused?\[31m$' "$T/o"

run inbox stats --store "sqlite:$D2"
check "stats: one 'name: value' line per count" python3 -c '
import sys
assert sys.argv[2] == "0"
f = {k: v.strip() for k, v in (l.split(":", 1) for l in open(sys.argv[1]).read().splitlines())}
assert {k: f[k] for k in ("schema", "total", "kept", "pending", "delivered", "dead", "push",
	"before_message_send", "custom_command", "oldest_pending_seq")} == {"schema": "2",
	"total": "6", "kept": "2", "pending": "1", "delivered": "1", "dead": "2", "push": "4",
	"before_message_send": "1", "custom_command": "1", "oldest_pending_seq": "2"}, f
assert 7195 <= int(f["oldest_pending_s"]) <= 7300, f' "$T/o" "$rc"
run inbox stats --store "sqlite:$D2" --json
check "stats --json" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["total"] == 6 and v["state"] == {"kept": 2, "pending": 1, "delivered": 1, "dead": 2}, v
assert v["kind"] == {"push": 4, "before_message_send": 1, "custom_command": 1}, v
assert v["oldest_pending_seq"] == 2 and 7195 <= v["oldest_pending_s"] <= 7300, v' "$T/o"

# replay: push events only, back to pending, due now, no error
run inbox replay 3 --store "sqlite:$D2"
check "replay SEQ: a dead push, and says so" sh -c '[ "$1" -eq 0 ] && grep -qx "1 event put back into delivery" "$2"' - "$rc" "$T/o"
check "replay SEQ: pending, tries 0, next_at 0, last_error NULL" python3 -c '
import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("SELECT state, tries, next_at, last_error FROM events WHERE seq = 3").fetchone()
assert r == ("pending", 0, 0, None), r' "$D2"
run inbox replay 1 --store "sqlite:$D2"
check "replay SEQ: a delivered push is delivered again" python3 -c '
import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("SELECT state FROM events WHERE seq = 1").fetchone()
assert r == ("pending",), r' "$D2"
expect_err "replay: a custom command is refused" 1 "event 4 is a custom_command hook.*only push events" \
	inbox replay 4 --store "sqlite:$D2"
expect_err "replay: a before_message_send is refused" 1 "event 5 is a before_message_send hook" \
	inbox replay 5 --store "sqlite:$D2"
expect_err "replay: a missing seq is refused" 1 "no event 42 in sqlite:" inbox replay 42 --store "sqlite:$D2"
check "replay refusals changed nothing" python3 -c '
import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("SELECT state, tries, last_error FROM events WHERE seq IN (4, 5) ORDER BY seq").fetchall()
assert r == [("kept", 1, "timeout"), ("kept", 0, None)], r' "$D2"
run inbox replay --dead --store "sqlite:$D2"
check "replay --dead: the remaining dead push" sh -c '[ "$1" -eq 0 ] && grep -qx "1 event put back into delivery" "$2"' - "$rc" "$T/o"
run inbox replay --dead --store "sqlite:$D2"
check "replay --dead with none dead: 0, exit 0" sh -c '[ "$1" -eq 0 ] && grep -qx "0 events put back into delivery" "$2"' - "$rc" "$T/o"
python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executemany("INSERT INTO events (seq, webhook_id, kind, api_key, attempt, received_at, body,"
	" state, tries, last_error) VALUES (?, ?, ?, ?, 1, 0, ?, ?, 8, ?)",
	[(10 + i, "many-%d" % i, "push", "k", b"{}", "dead", "x") for i in range(7000)])
db.commit()' "$D2"
run inbox replay --dead --store "sqlite:$D2"
check "replay --dead: more than one chunk" sh -c '[ "$1" -eq 0 ] && grep -qx "7000 events put back into delivery" "$2"' - "$rc" "$T/o"
run inbox stats --store "sqlite:$D2" --json
check "stats after the replays: nothing dead" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["state"]["dead"] == 0 and v["state"]["pending"] == 7004, v' "$T/o"
expect_err "replay: SEQ and --dead together" 2 "SEQ|--dead" inbox replay 3 --dead
expect_err "replay: neither SEQ nor --dead" 2 "takes a sequence number or --dead" inbox replay --store "sqlite:$D2"
expect_err "replay: SEQ not a number" 2 "inbox replay: 'x1' is not a sequence number" inbox replay x1
expect_err "replay takes no --json" 2 "\-\-json does not apply" inbox replay 1 --json
expect_err "stats takes no --since" 2 "\-\-since does not apply" inbox stats --since 1
expect_err "stats takes no argument" 2 "unexpected argument" inbox stats 3
expect_err "replay: a missing store exits 1" 1 "no such file" inbox replay 1 --store "sqlite:$T/none2.db"
check "replay: a missing store is not created" test ! -e "$T/none2.db"

# ---- version 3: what is kept to forward an event; list is as before
D3=$T/v3.db
store_make "$D3" 3 <<'EOF'
sig = "0123456789abcdef" * 4
rows = [
  (1, "f-1", "push", "message.new", "k", 1, None, 1764151200123, b"{}",
   "messaging:general", "pending", 0, 0, None, None,
   sig, "cid:messaging:general", "/webhooks/stream/push"),
  (2, "f-2", "push", "user.updated", "k", 1, None, 1764151200200, b"{}",
   None, "delivered", 1, 0, 1764151200300, None,
   sig[::-1], "user:jane", "/webhooks/stream/push?tenant=a%20b"),
  (3, "f-3", "custom_command", None, "k", 1, "giphy", 1764151200400, b"{}",
   None, "kept", 0, 0, None, None,
   sig.upper(), "", "/webhooks/stream/custom-commands?type=giphy\x1b[2J"),
]
EOF
run inbox show 1 --store "sqlite:$D3"
check "v3 show: order_key, target and signature lines, after cid" python3 - "$T/o" "$rc" <<'EOF'
import sys
assert sys.argv[2] == "0", sys.argv[2]
head = open(sys.argv[1], "rb").read().partition(b"\n\n")[0].decode().split("\n")
names = [l.split(":", 1)[0] for l in head]
i = names.index("cid")
assert names[i:i + 5] == ["cid", "order_key", "target", "signature", "next_at"], names
assert head[i + 1] == "order_key:    cid:messaging:general", head
assert head[i + 2] == "target:       /webhooks/stream/push", head
assert head[i + 3] == "signature:    " + "0123456789abcdef" * 4, head
EOF
run inbox show 2 --store "sqlite:$D3" --json
check "v3 show --json: order_key, target (query kept), signature" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert (v["order_key"], v["target"], v["signature"]) == ("user:jane",
	"/webhooks/stream/push?tenant=a%20b", ("0123456789abcdef" * 4)[::-1]), v' "$T/o"
run inbox show 3 --store "sqlite:$D3"
check "v3 show: no key is -, control bytes in target cleaned" python3 -c '
import sys
head = open(sys.argv[1], "rb").read().partition(b"\n\n")[0].decode()
f = {k: v.strip() for k, v in (l.split(":", 1) for l in head.split("\n"))}
assert (f["order_key"], f["target"]) == ("-", "/webhooks/stream/custom-commands?type=giphy?[2J"), f' "$T/o"
run inbox list --store "sqlite:$D3"
check "v3 list: the same columns as before" sh -c '[ "$1" -eq 0 ] &&
	head -1 "$2" | grep -Eq "^seq  received_at +kind +state +tries  event_type +webhook_id +attempt  api_key +command +body_bytes$" &&
	[ "$(sed 1d "$2" | wc -l)" -eq 3 ] && ! grep -q "jane\|stream/push" "$2"' - "$rc" "$T/o"
run inbox list --store "sqlite:$D3" --json
check "v3 list --json: the same fields as before" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert [sorted(e) for e in v] == [sorted(["seq", "received_at", "kind", "state", "tries",
	"event_type", "webhook_id", "attempt", "api_key", "command", "body_bytes"])] * 3, v' "$T/o"
run inbox stats --store "sqlite:$D3" --json
check "v3 stats: schema 3" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["schema"] == 3 and v["total"] == 3 and v["state"]["pending"] == 1, v' "$T/o"

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
# the daemon upgrades a copy of the version 1 store, keeping its events
# (--user root: as whoever runs the test; as root streamgated would refuse
# to stay root unasked, and a test host has no "streamgate" user)
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' "$DB" "$T/daemon.db"
"$SGD" --listen "127.0.0.1:$PORT" --key "k-inbox=$T/secret" --user root \
	--store "sqlite:$T/daemon.db" >/dev/null 2>"$T/daemon.err" &
DPID=$!
trap 'kill -KILL $DPID 2>/dev/null; wait $DPID 2>/dev/null; rm -rf "$T"' EXIT
printf '{"type":"message.new","cid":"messaging:inbox","message":{"text":"inbox e2e"},"n":42}' >"$T/body.json"
if timeout 10 python3 tests/daemon/client.py waitup --port "$PORT" --timeout 5 2>"$T/waitup" &&
    timeout 10 python3 tests/daemon/client.py send --port "$PORT" --api-key k-inbox \
	--secret-file "$T/secret" --id wh-e2e-1 --attempt 2 --body "$T/body.json" >"$T/sent" 2>&1; then
	run inbox list --store "sqlite:$T/daemon.db" --json
	check "daemon: the stored push is listed while the daemon runs, after the old ones" python3 -c '
import json, os, sys
v = json.load(open(sys.argv[1]))
assert [e["seq"] for e in v[:3]] == [1, 2, 7] and len(v) == 4, v
assert all(e["state"] == "kept" for e in v[:3]), v
e = v[3]
assert (e["kind"], e["event_type"], e["webhook_id"], e["attempt"], e["api_key"], e["body_bytes"], e["state"]) == \
	("push", "message.new", "wh-e2e-1", 2, "k-inbox", os.path.getsize(sys.argv[2]), "kept"), e' "$T/o" "$T/body.json"
	check "daemon: upgraded the version 1 store to 5 in place" python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
assert db.execute("PRAGMA user_version").fetchone()[0] == 5
assert db.execute("SELECT count(*) FROM events WHERE state = ? AND tries = 0", ("kept",)).fetchone()[0] == 4' "$T/daemon.db"
	seq=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[3]["seq"])' "$T/o" 2>/dev/null)
	run inbox show "${seq:-1}" --store "sqlite:$T/daemon.db"
	check "daemon: show gives back the signed body byte for byte" python3 -c '
import sys
got = open(sys.argv[1], "rb").read().partition(b"\n\n")[2]
assert got == open(sys.argv[2], "rb").read(), got' "$T/o" "$T/body.json"
	run inbox show "${seq:-1}" --store "sqlite:$T/daemon.db" --json
	check "daemon: show --json: Stream's signature (the body's HMAC), the target, the order key" python3 -c '
import hashlib, hmac, json, sys
v = json.load(open(sys.argv[1]))
secret = open(sys.argv[3], "rb").read().split(b"\n")[0]
want = hmac.new(secret, open(sys.argv[2], "rb").read(), hashlib.sha256).hexdigest()
assert (v["signature"], v["target"], v["order_key"], v["cid"]) == \
	(want, "/webhooks/stream/push", "cid:messaging:inbox", "messaging:inbox"), v
assert v["body_sha256"] == hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest(), v' "$T/o" "$T/body.json" "$T/secret"
	run inbox replay "${seq:-1}" --store "sqlite:$T/daemon.db"
	check "daemon: replay while it runs" sh -c '[ "$1" -eq 0 ] && grep -qx "1 event put back into delivery" "$2" ||
		{ echo "rc $1"; cat "$3"; exit 1; }' - "$rc" "$T/o" "$T/e"
	run inbox stats --store "sqlite:$T/daemon.db" --json
	check "daemon: stats while it runs" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["schema"] == 5 and v["total"] == 4 and v["state"]["pending"] == 1, v' "$T/o"
else
	echo "FAIL: daemon: store a push: $(cat "$T/waitup" "$T/sent" | tail -3 | tr '\n' ' ') $(tail -2 "$T/daemon.err" | tr '\n' ' ')"
	nfail=$((nfail + 1))
fi
kill -TERM "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
run inbox list --store "sqlite:$T/daemon.db"
check "daemon stopped: the store still reads (no -wal left behind)" sh -c \
	'[ "$1" -eq 0 ] && [ "$(wc -l <"$2")" -eq 5 ]' - "$rc" "$T/o"

finish inbox
