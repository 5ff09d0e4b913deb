#!/usr/bin/env bash
# Stream's official Node SDK behind streamgated.  tests/sdk/app.js is the
# app as Stream's docs write it (Express, one route per hook, every request
# verified with stream-chat's verifyWebhook and verifyAndParseWebhook on the
# raw bytes); streamgated runs from the config of README's "Connect Stream"
# section (its JSON block, with this test's addresses, files and a 3 s
# Before-Message-Send deadline in place of the README's values: the same
# keys), its upstream "http://127.0.0.1:PORT".  Stream's side (sdk.py) sends
# signed pushes (plain, gzip), retries of one id, five user.updated of one
# user, a Before-Message-Send the app rewrites, custom commands in both URL
# forms, and a Before-Message-Send the app takes 2.5 s over; the URLs that
# `streamgate stream-urls` prints are tried over TLS; `inbox replay` is
# refused for a config without an upstream and redelivers with one.
#
# The npm packages come from scripts/install-deps.sh, in a cache directory
# outside the tree (STREAMGATE_NPM_DIR; the same default as that script).
# Without node the suite is skipped (a failure under CI=true).  One
# "PASS: name" or "FAIL: name: why" line per check; every process it starts
# is killed on the way out.
SUITE_SECONDS=${SUITE_SECONDS:-90}
. "$(dirname "$0")/../daemon/lib.sh"
SG=$BUILD/streamgate
need_built "${SGD[0]}" "$SG"

if ! command -v node >/dev/null; then
	echo "SKIP: sdk: node is not installed (scripts/install-deps.sh installs Debian's nodejs and npm)"
	exit 0
fi
if [ -z "${STREAMGATE_NPM_DIR:-}" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		STREAMGATE_NPM_DIR=/var/cache/streamgate/npm
	else
		STREAMGATE_NPM_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/streamgate/npm
	fi
fi
MODS=$STREAMGATE_NPM_DIR/node_modules
# version NAME: the installed package's version, or nothing
version() { sed -n 's/^  "version": "\(.*\)",*$/\1/p' "$MODS/$1/package.json" 2>/dev/null | head -1; }
# the pins: NPM_PINS=(stream-chat@X express@Y) in install-deps.sh
read -r -a PINS <<<"$(sed -n 's/^NPM_PINS=(\(.*\))$/\1/p' scripts/install-deps.sh)"
for pin in "${PINS[@]}"; do
	have=$(version "${pin%@*}")
	if [ "$have" != "${pin##*@}" ]; then
		echo "FAIL: npm: ${pin%@*} ${have:-missing} in $MODS, want ${pin##*@} (run scripts/install-deps.sh)"
		exit 1
	fi
done
echo "# stream-chat $(version stream-chat), express $(version express), node $(node --version), from $MODS"
pass "npm: stream-chat and express at the versions install-deps.sh pins (${PINS[*]})"

umask 077
API_KEY=sdk-$RANDOM$RANDOM
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$T/secret"
PORT=$(free_port)
TLSPORT=$(free_port)
APORT=$(free_port)
REC=$T/app.jsonl
DB=$T/events.db
CFG=$T/streamgated.json
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=stream.test -days 1 -keyout "$T/privkey.pem" \
	-out "$T/fullchain.pem" >/dev/null 2>&1

# ---- the README's config, this test's values in it
if python3 tests/sdk/sdk.py config --readme README.md --out "$CFG" \
	--port "$PORT" --tls-port "$TLSPORT" --cert "$T/fullchain.pem" \
	--key "$T/privkey.pem" --api-key "$API_KEY" --secret-file "$T/secret" \
	--store "sqlite:$DB" --app-port "$APORT" --bms-deadline-ms 3000 \
	>"$T/out" 2>&1; then
	pass "config: README's Connect Stream JSON, the same keys, this test's values"
else
	fail "config: README's Connect Stream JSON, the same keys, this test's values" "$(cat "$T/out")"
	exit 1
fi
check "config: streamgated --check-config takes it" "${SGD[@]}" --config "$CFG" --check-config

# ---- the app, then streamgated exactly as the README runs it
NODE_PATH=$MODS node tests/sdk/app.js --port "$APORT" --record "$REC" \
	--api-key "$API_KEY" --secret-file "$T/secret" 2>"$T/app.err" &
PIDS+=($!)
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$APORT/_up" >/dev/null 2>&1 && break
	sleep 0.1
done
if ! curl -sf "http://127.0.0.1:$APORT/_up" >/dev/null 2>&1; then
	fail "startup: the Express app answers" "$(tail -5 "$T/app.err" | tr '\n' ' ')"
	exit 1
fi
"${SGD[@]}" --config "$CFG" >>"$T/stdout" 2>"$T/daemon.err" &
PIDS+=($!)
if ! "${CLIENT[@]}" waitup --port "$PORT" --timeout 5 2>"$T/waitup"; then
	fail "startup: streamgated --config answers /healthz" \
		"$(cat "$T/waitup"); stderr: $(tail -3 "$T/daemon.err" | tr '\n' ' ')"
	exit 1
fi

# ---- Stream's side and what the app got
python3 tests/sdk/sdk.py run --port "$PORT" --app-port "$APORT" \
	--record "$REC" --api-key "$API_KEY" --secret-file "$T/secret" \
	--ids "$T/ids" >"$T/run" 2>&1
cat "$T/run"
nfail=$((nfail + $(grep -c '^FAIL:' "$T/run")))
if ! grep -qE '^(PASS|FAIL):' "$T/run"; then
	fail "sdk.py run" "$(tail -5 "$T/run" | tr '\n' ' ')"
fi

# ---- stream-urls: the settings for Stream, from the same config
if "$SG" stream-urls --host stream.test --config "$CFG" --json >"$T/urls" 2>"$T/urls.err"; then
	check "stream-urls --json: the three hooks at https://stream.test:$TLSPORT on the README's routes, Stream's timeout 300 ms over the 3 s deadline" \
		python3 -c '
import json, sys
got = json.load(open(sys.argv[1]))
base = "https://stream.test:%s" % sys.argv[2]
want = {"webhook_url": base + "/webhooks/stream/push",
        "before_message_send_hook_url": base + "/webhooks/stream/before-message-send",
        "before_message_send_hook_attempt_timeout_ms": 3300,
        "custom_action_handler_url": base + "/webhooks/stream/custom-commands?type={type}"}
assert got == want, "got %r" % got' "$T/urls" "$TLSPORT"
	python3 tests/sdk/sdk.py tls --urls "$T/urls" --tls-port "$TLSPORT" \
		--api-key "$API_KEY" --secret-file "$T/secret" --record "$REC" >"$T/tls" 2>&1
	cat "$T/tls"
	nfail=$((nfail + $(grep -c '^FAIL:' "$T/tls")))
	grep -qE '^(PASS|FAIL):' "$T/tls" || fail "sdk.py tls" "$(tail -3 "$T/tls" | tr '\n' ' ')"
else
	fail "stream-urls --json" "$(cat "$T/urls.err")"
fi
"$SG" stream-urls --host stream.test --config "$CFG" >"$T/urls.txt" 2>&1
check "stream-urls: names each setting with its URL, and the updateAppSettings JSON" sh -c '
	grep -Eq "^  webhook_url +https://stream.test:$2/webhooks/stream/push\$" "$1" &&
	grep -Eq "^  before_message_send_hook_url +https://stream.test:$2/" "$1" &&
	grep -Eq "^  before_message_send_hook_attempt_timeout_ms +3300\$" "$1" &&
	grep -Eq "^  custom_action_handler_url +https://stream.test:$2/.*\{type\}" "$1" &&
	grep -q "updateAppSettings" "$1" || { cat "$1"; exit 1; }' - "$T/urls.txt" "$TLSPORT"

# ---- inbox replay: refused without a push upstream, redelivers with one
seq=$(python3 -c 'import sqlite3, sys
ids = open(sys.argv[2]).read().split()
print(sqlite3.connect(sys.argv[1]).execute(
    "SELECT seq FROM events WHERE webhook_id = ?", (ids[0],)).fetchone()[0])' "$DB" "$T/ids" 2>/dev/null)
python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); del c["upstream"]
json.dump(c, open(sys.argv[2], "w"))' "$CFG" "$T/noup.json"
rc=0
"$SG" inbox replay "${seq:-1}" --config "$T/noup.json" >"$T/o" 2>"$T/e" || rc=$?
check "inbox replay: a config without a push upstream is refused, exit 1, one line naming it" \
	sh -c '[ "$1" -eq 1 ] && [ "$(wc -l <"$2")" -eq 1 ] &&
		grep -q "no push upstream.*$3.*pending" "$2" || { echo "rc $1:"; cat "$2"; exit 1; }' \
	- "$rc" "$T/e" "$T/noup.json"
if [ -n "$seq" ] && "$SG" inbox replay "$seq" --config "$CFG" >"$T/o" 2>&1; then
	check "inbox replay: with the README's config the app gets the event again (same X-Webhook-Id: dedup on it)" \
		python3 tests/sdk/sdk.py redelivered --record "$REC" --id "$(head -1 "$T/ids")" --timeout 10
else
	fail "inbox replay: with the README's config the app gets the event again (same X-Webhook-Id: dedup on it)" \
		"seq '${seq}': $(cat "$T/o")"
fi

echo "sdk: $nfail failed"
[ "$nfail" -eq 0 ]
