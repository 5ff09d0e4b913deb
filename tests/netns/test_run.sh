#!/usr/bin/env bash
# `make run` (no DEV) as a new user meets it: scripts/run-local.sh starts
# streamgated on its safe defaults, and the tool, run from another
# directory with no flag, finds that daemon through make run's own config
# (a binary in a checkout's build/ reads the checkout's
# var/streamgated.json).  The checkout is a copy in a scratch directory,
# so the real var/ is never touched, and it all runs in the edge
# namespace: 127.0.0.1:8080 there is nobody else's.
source "$(dirname "$0")/lib.sh"

case_run_local() {
	local co=$TMPD/co log=$TMPD/run.out pid i out b id sig p
	# lib.sh's placeholder listeners hold 8080: the daemon takes it here
	for p in "${PIDS[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	PIDS=()
	mkdir -p "$co/build" "$co/scripts"
	cp "$ROOT/$BUILD/streamgate" "$ROOT/$BUILD/streamgated" "$co/build/"
	cp "$ROOT/scripts/run-local.sh" "$co/scripts/"
	# BUILD is relative to the checkout, as make passes it
	on_edge env BUILD=build bash "$co/scripts/run-local.sh" >"$log" 2>&1 &
	pid=$!
	for i in $(seq 100); do
		on_edge curl -s -o /dev/null http://127.0.0.1:8080/healthz && break
		sleep 0.1
	done
	expect "the daemon answers /healthz ($(tail -3 "$log"))" \
		on_edge curl -sf -o /dev/null http://127.0.0.1:8080/healthz
	expect_not "the first screen has no error ($(head -40 "$log" | grep -iE 'error|fail' | head -2))" \
		grep -qiE 'error|fail|cannot' "$log"
	expect "the first screen says the filter is not attached" \
		grep -q "not attached" "$log"
	expect "config written with absolute paths" \
		grep -q "\"store\": \"sqlite:$co/var/streamgate.db\"" "$co/var/streamgated.json"
	# status, from /, no flags: the daemon is up, through its config
	out=$(cd / && on_edge "$co/build/streamgate" status --json)
	expect "status from / finds make run's config" \
		test "$(json_get daemon config <<<"$out")" = "$co/var/streamgated.json"
	expect "status from / reports the daemon up" \
		test "$(json_get daemon up <<<"$out")" = True
	expect "status from / reads its /healthz" \
		test "$(json_get daemon health status <<<"$out")" = 200
	expect "status from / reads its /metrics" \
		test -n "$(json_get daemon metrics requests <<<"$out")"
	# one signed push, as Stream sends it, then inbox from / finds it
	b='{"type":"message.new","cid":"messaging:run","message":{"text":"hi"}}'
	id=$(cat /proc/sys/kernel/random/uuid)
	sig=$(printf %s "$b" | "$co/build/streamgate" sign --secret-file "$co/var/dev.secret")
	expect "a signed push is stored" test "$(on_edge curl -s -o /dev/null -w '%{http_code}' \
		-H 'X-Api-Key: dev' -H "X-Webhook-Id: $id" -H "X-Signature: $sig" \
		-d "$b" http://127.0.0.1:8080/webhooks/stream/push)" = 200
	out=$(cd / && "$co/build/streamgate" inbox list --json)
	expect "inbox list from / finds the event in make run's store" \
		test "$(json_get 0 webhook_id <<<"$out")" = "$id"
	expect "inbox stats from / agrees" sh -c \
		"cd / && '$co/build/streamgate' inbox stats | grep -qE '^total: *1$'"
	# an explicit --config wins over the checkout's
	printf '{"store": "sqlite:%s/none.db"}\n' "$TMPD" >"$TMPD/other.json"
	expect_not "--config wins: that store does not exist" \
		"$co/build/streamgate" inbox list --config "$TMPD/other.json"
	kill "$pid" 2>/dev/null
	for p in $(ip netns pids "$EDGE"); do kill "$p" 2>/dev/null; done
	wait "$pid" 2>/dev/null || true
	true
}
run_case "make run: status and inbox from anywhere find its daemon" case_run_local
finish
