#!/usr/bin/env bash
# `make demo` and `make run DEV=…` in throwaway namespaces: the two operator
# entry points that change networking, run for real, never in the root
# namespace.  make run's edge is a veth in a fresh namespace; the tool runs
# there through nsenter, with the private bpffs of lib.sh.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# check NAME GOT WANT [WHY]: one PASS/FAIL line.
check() {
	if [ "$2" = "$3" ]; then
		echo "PASS: $1"; npass=$((npass + 1))
	else
		echo "FAIL: $1: got '$2', want '$3' ${4:-}"; nfail=$((nfail + 1))
	fi
}

# ---- make demo ----
out=$TMPD/demo.out
BUILD=$BUILD timeout 120 bash scripts/demo.sh >"$out" 2>&1
rc=$?
check "demo: exits 0" "$rc" 0 "$(tail -3 "$out")"
grep -q "push m0, attempt 1 .*-> 200 .*stored" "$out"; check "demo: signed push over TLS stored" $? 0
grep -q "retry of m0 (attempt 2) .*-> 200 .*duplicate" "$out"; check "demo: the retry is a duplicate" $? 0
grep -q "forged signature .*-> 401" "$out"; check "demo: a forgery gets 401" $? 0
grep -q "TLS: TLSv1.3" "$out"; check "demo: TLS 1.3" $? 0
grep -q "no answer: the SYNs were dropped by XDP" "$out"; check "demo: elsewhere is dropped" $? 0
grep -qE "^  not_allowed +[1-9]" "$out"; check "demo: XDP counted the drops" $? 0
left=$(ip netns list | grep -c sgdemo)
check "demo: leaves no namespace" "$left" 0

# ---- make run DEV=e0 ----
case_run() {
	ns_up || { check "run DEV: namespaces" 1 0; return; }
	local log=$TMPD/run.out pid i code p
	# lib.sh's placeholder listeners hold 443: the daemon takes it here
	for p in "${PIDS[@]}"; do kill "$p"; wait "$p" 2>/dev/null; done
	PIDS=()
	# make run DEV writes these; a checkout's tool reads them by default
	rm -rf var/run var/streamgated.json
	on_edge make -s run DEV=e0 REGION=us-east ALLOW="$ALLOWED/32" >"$log" 2>&1 &
	pid=$!
	for i in $(seq 100); do
		grep -q "streamgate is up on e0" "$log" && break
		sleep 0.1
	done
	grep -q "streamgate is up on e0" "$log"; check "run DEV: up" $? 0 "$(tail -3 "$log")"
	code=$(on_client python3 -c 'import ssl, urllib.request
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
print(urllib.request.urlopen("https://'$EDGE_IP'/healthz", context=c, timeout=3).status)' 2>&1)
	check "run DEV: /healthz over TLS from the allowed peer" "$code" 200
	on_edge ip link show e0 | grep -q xdp; check "run DEV: XDP attached" $? 0
	# SIGTERM to the script: a background job of a script ignores SIGINT
	# (Ctrl-C in a terminal reaches it; both end in the same trap)
	local dpid
	dpid=$(cat var/run/streamgated.pid 2>/dev/null)
	check "run DEV: daemon pid file" "$([ -n "$dpid" ] && kill -0 "$dpid" && echo ok)" ok
	# beside it, the tool with no flag finds make run's config and pid file
	local st
	st=$(cd / && on_edge "$SG" status --json 2>/dev/null)
	check "run DEV: status without flags: daemon up" \
		"$(json_get daemon up <<<"$st" 2>&1)" True
	check "run DEV: status without flags: its pid file" \
		"$(json_get daemon pid <<<"$st" 2>&1)" "$dpid"
	pkill -TERM -f "bash scripts/run-edge.sh"
	wait "$pid"
	for i in $(seq 150); do	# its trap runs `streamgate down`: let it finish
		pgrep -f "bash scripts/run-edge.sh" >/dev/null || break
		sleep 0.1
	done
	on_edge ip link show e0 | grep -q xdp; check "run DEV: stop detaches" $? 1
	on_edge nft list table inet streamgate >/dev/null 2>&1; check "run DEV: stop deletes the table" $? 1
	# gone, or a zombie its new parent has not reaped yet
	grep -qsE '^State:\s+[^Z]' /proc/"$dpid"/status
	check "run DEV: stop stops the daemon" $? 1
	rm -rf var/run var/streamgated.json
	ns_down
}
case_run
finish
