#!/usr/bin/env bash
# streamgate up / status / down on a veth, with the daemon running inside
# the edge namespace.  See lib.sh for the topology and the safety rules:
# every command that touches the network runs in our namespaces, and the
# pid file and the log go to a temporary run directory.
. "$(dirname "$0")/lib.sh"

RUN=$TMPD/run
CONF=$TMPD/sg.json
SECRET=$TMPD/k.secret

# daemon_runs PID: PID is a streamgated that has not exited (a zombie
# waiting for its reaper has).
daemon_runs() {
	grep -qx streamgated /proc/$1/comm 2>/dev/null &&
		[ "$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f1)" != Z ]
}

has_table() { on_edge nft list table inet streamgate >/dev/null 2>&1; }

# lib.sh's ns_up leaves listeners on 443, 8443 and 8080: the daemon takes
# 443 here.  They run in the parent shell, so poll until the port is free.
listeners_off() {
	local i
	kill "${PIDS[@]}" 2>/dev/null
	for i in $(seq 50); do
		on_edge ss -ltn "sport = :443" | grep -q LISTEN || return 0
		sleep 0.1
	done
	echo "lib.sh's listener on 443 did not go away"
	return 1
}

# fresh: each case starts with an empty run directory.
fresh() { rm -rf "$RUN" "$TMPD/store"; }

# config LISTEN: a daemon config with one key, its store in $TMPD, metrics
# on the edge's loopback; "user": "root" as the test means it (there is no
# "streamgate" user here, and streamgated will not stay root unasked).
config() {
	umask 077
	printf 'updown-test-secret\n' >"$SECRET"
	cat >"$CONF" <<EOF
{"listen": ["$1"], "keys": [{"api_key": "k", "secret_file": "$SECRET"}],
 "store": "sqlite:$TMPD/store/streamgate.db", "metrics": "127.0.0.1:9100",
 "user": "root"}
EOF
}

sg_up()     { on_edge "$SG" up --dev e0 --config "$CONF" --run-dir "$RUN" "$@"; }
sg_down()   { on_edge "$SG" down --dev e0 --run-dir "$RUN" "$@"; }
sg_status() { on_edge "$SG" status --dev e0 --config "$CONF" --run-dir "$RUN" "$@"; }

# http_from SRC PATH [CURL ARGS]: the HTTP status of a request from the client.
http_from() {
	local src=$1 path=$2; shift 2
	on_client curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
		--interface "$src" "$@" "http://$EDGE_IP:443$path" || true
}

# json_check PYTHON-EXPR: the expression over s (status --json on stdin).
json_check() {
	python3 -c '
import json, sys
s = json.load(sys.stdin)
if not eval(sys.argv[1]):
    print("status --json fails: " + sys.argv[1])
    print(json.dumps(s)[:600])
    sys.exit(1)' "$1"
}

# nothing_left: no program on e0, no table, no pins, no daemon, no pid file.
nothing_left() {
	expect "no xdp on e0" sh -c "! nsenter --net=/run/netns/$EDGE ip link show e0 | grep -q prog/xdp"
	expect_not "no nft table" has_table
	expect "no pins left" sh -c "[ -z \"\$(ls -A /sys/fs/bpf/xdp/globals 2>/dev/null)\" ]"
	expect "no pid file" test ! -e "$RUN/streamgated.pid"
	expect "no streamgated in the namespace" sh -c "! ip netns pids $EDGE | xargs -r -I{} cat /proc/{}/comm | grep -qx streamgated"
}

case_up_status_down() {
	fresh; listeners_off
	config "$EDGE_IP:443"
	local out pid
	out=$(sg_up --allow $ALLOWED/32 2>&1) || { echo "$out"; return 1; }
	expect "up names the three steps ($out)" grep -q "3/3 streamgated started" <<<"$out"
	expect "xdp on e0" sh -c "nsenter --net=/run/netns/$EDGE ip link show e0 | grep -q prog/xdp"
	expect "nft table in the edge namespace" has_table
	pid=$(cat "$RUN/streamgated.pid")
	expect "pid file names a running streamgated ($pid)" daemon_runs "$pid"
	expect "daemon's log in the run directory" test -e "$RUN/streamgated.log"
	# a second up replaces both kernel layers in place, keeps the daemon
	out=$(sg_up --allow $ALLOWED/32 2>&1) || { echo "$out"; return 1; }
	expect "second up keeps the daemon ($out)" grep -q "already running (pid $pid" <<<"$out"
	expect "/healthz answers the allowed peer" test "$(http_from $ALLOWED /healthz)" = 200
	local body='{"type":"message.new"}' sig
	sig=$(printf %s "$body" | "$SG" sign --secret-file "$SECRET")
	expect "a signed push from the allowed peer is stored" test "$(http_from $ALLOWED \
		/webhooks/stream/push -H 'X-Api-Key: k' -H "X-Signature: $sig" \
		-H 'X-Webhook-Id: updown-1' -d "$body")" = 200
	expect_not "the foreign peer is dropped" tcp_ok $FOREIGN 443

	sg_status --json >"$TMPD/st.json"
	json_check '[a["dev"] for a in s["xdp"]["attached"]] == ["e0"] and s["xdp"]["dev"]["attached"]' <"$TMPD/st.json"
	json_check 's["xdp"]["attached"][0]["ifindex"] > 0 and s["xdp"]["mode"] == "ports"' <"$TMPD/st.json"
	json_check '[r["entries"] for r in s["xdp"]["regions"] if r["region"] == "allow"] == [1]' <"$TMPD/st.json"
	json_check 'sum(r["packets"] for r in s["xdp"]["regions"]) > 0 and "pps" in s["xdp"]["regions"][0]' <"$TMPD/st.json"
	json_check 's["xdp"]["dropped"]["not_allowed"]["packets"] > 0' <"$TMPD/st.json"
	json_check 's["nft"]["present"] and s["nft"]["family"] == "inet" and s["nft"]["chains"][0]["hook"] == "input"' <"$TMPD/st.json"
	json_check '[c["packets"] > 0 for c in s["nft"]["counters"] if c["comment"] == "allow"] == [True]' <"$TMPD/st.json"
	json_check 's["daemon"]["up"] and s["daemon"]["pid"] == '"$pid"' and s["daemon"]["health"]["status"] == 200' <"$TMPD/st.json"
	json_check 's["daemon"]["metrics"]["requests"]["ok"]["total"] >= 1' <"$TMPD/st.json"
	out=$(sg_status)
	expect "status text: program on e0 ($out)" grep -q "attached to e0 (ifindex" <<<"$out"
	expect "status text: daemon up" grep -q "^daemon  *up: pid $pid" <<<"$out"

	out=$(sg_down 2>&1) || { echo "$out"; return 1; }
	expect "down says e0 is down ($out)" grep -q "e0 is down" <<<"$out"
	nothing_left
	expect_not "daemon process gone" daemon_runs "$pid"
	sg_status --json >"$TMPD/st.json"
	json_check 's["xdp"]["present"] is False and s["xdp"]["attached"] == [] and not s["xdp"]["dev"]["attached"]' <"$TMPD/st.json"
	json_check 's["nft"]["present"] is False and s["daemon"]["up"] is False' <"$TMPD/st.json"
	out=$(sg_down 2>&1) || { echo "second down failed: $out"; return 1; }
	expect "second down: already down ($out)" grep -q "already down" <<<"$out"
}

# A bad config is refused before anything is touched; a config the daemon
# cannot run with (an address the host does not have) fails step 3, and
# steps 1 and 2 are taken back.
case_up_fails_cleanly() {
	fresh; listeners_off
	local out rc=0
	printf '{"listen": ["%s:443"], "keys": [' $EDGE_IP >"$CONF"
	out=$(sg_up --allow $ALLOWED/32 2>&1) || rc=$?
	expect "malformed config: exit 2 (rc $rc)" test $rc -eq 2
	expect "malformed config names --config ($out)" grep -q -- "--config" <<<"$out"
	nothing_left
	config "203.0.113.50:443"
	rc=0
	out=$(sg_up --allow $ALLOWED/32 2>&1) || rc=$?
	expect "daemon that cannot bind: exit 1 (rc $rc)" test $rc -eq 1
	expect "the failed step is named ($out)" grep -q "step 3/3 failed" <<<"$out"
	expect "the daemon's own reason is shown" grep -q "203.0.113.50" <<<"$out"
	expect "steps 1 and 2 undone" grep -q "undone: XDP filter detached" <<<"$out"
	nothing_left
	rc=0
	out=$(on_edge "$SG" up --dev nosuch0 --no-daemon --run-dir "$RUN" 2>&1) || rc=$?
	expect "missing device: exit 1 (rc $rc, $out)" test $rc -eq 1
	nothing_left
}

# --no-daemon: the two kernel layers only; down then finds no daemon.
case_no_daemon() {
	fresh
	local out
	on_edge "$SG" up --dev e0 --allow $ALLOWED/32 --mode strict --no-daemon 2>&1
	expect "strict: foreign dropped on 8080 too" tcp_ok $ALLOWED 8080
	expect_not "strict: foreign dropped on 8080" tcp_ok $FOREIGN 8080
	expect "strict table applied" sh -c "nsenter --net=/run/netns/$EDGE nft list table inet streamgate | grep -q 'iif \"lo\" accept'"
	out=$(sg_down 2>&1) || { echo "$out"; return 1; }
	expect "down: no daemon to stop ($out)" grep -q "daemon: already down" <<<"$out"
	nothing_left
}

run_case "up, status, down, down again" case_up_status_down
run_case "up fails cleanly: bad config, daemon that cannot start, no device" case_up_fails_cleanly
run_case "up --no-daemon in strict mode, then down" case_no_daemon
finish
