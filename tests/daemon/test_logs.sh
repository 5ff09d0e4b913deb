#!/usr/bin/env bash
# streamgated's stderr stays one line per record under load: the request
# log (one JSON line per request, written in batches by the workers) and
# the diagnostics (a SIGHUP reload says a line each time) share it, and a
# log shipper must never read a diagnostic inside a JSON line.  Two
# workers answer /healthz to wrk from 64 connections while SIGHUP arrives
# every 20 ms; then every line of stderr must be a whole JSON object or a
# whole "streamgated: " diagnostic, and there must be many of both.
SUITE_SECONDS=${SUITE_SECONDS:-40}
. "$(dirname "$0")/lib.sh"
need_built "${SGD[0]}" wrk

umask 077
printf 'log-lines-secret-0\n' >"$T/k.secret"
PORT=$(free_port)
LOG=$T/err.log
printf '{"listen": ["127.0.0.1:%s"], "workers": 2, "user": "root",\n "keys": [{"api_key": "k", "secret_file": "%s"}],\n "store": "sqlite:%s/events.db"}\n' \
	"$PORT" "$T/k.secret" "$T" >"$T/sg.json"
if ! start_daemon "$LOG" "$PORT" --config "$T/sg.json"; then
	fail "the daemon starts" "$START_ERR"
	exit 1
fi
D=$DPID

# SIGHUP every 20 ms while wrk runs
(for _ in $(seq 150); do kill -HUP "$D" 2>/dev/null || exit; sleep 0.02; done) &
HUP=$!
PIDS+=("$HUP")
timeout 20 wrk -t2 -c64 -d3s "http://127.0.0.1:$PORT/healthz" >"$T/wrk.out" 2>&1
wait "$HUP" 2>/dev/null
sleep 0.5		# the workers flush their batches once per loop

check "the daemon is still up" kill -0 "$D"
python3 - "$LOG" >"$T/lines" 2>&1 <<'EOF'
import json, sys
json_n = diag_n = reload_n = 0
bad = []
with open(sys.argv[1], "rb") as f:
    data = f.read()
for raw in data.split(b"\n")[:-1]:
    line = raw.decode("utf-8", "replace")
    if line.startswith("{"):
        try:
            json.loads(line)["time"]
            json_n += 1
            continue
        except (ValueError, KeyError):
            pass
    elif line.startswith("streamgated: ") and "{" not in line:
        diag_n += 1
        reload_n += "SIGHUP" in line
        continue
    bad.append(line[:160])
print(json_n, diag_n, reload_n, len(bad))
for b in bad[:3]:
    print("bad line:", b)
EOF
read -r JSON_N DIAG_N RELOAD_N BAD_N <"$T/lines"
check "stderr ends with a newline (no half line)" sh -c "[ \"\$(tail -c1 '$LOG' | od -An -c | tr -d ' ')\" = '\\n' ]"
check "many request lines ($JSON_N)" test "${JSON_N:-0}" -ge 10000
check "many reload lines ($RELOAD_N)" test "${RELOAD_N:-0}" -ge 50
check "every line is whole: a JSON object or a diagnostic ($BAD_N bad; $(sed -n 2p "$T/lines"))" \
	test "${BAD_N:-1}" -eq 0
kill -TERM "$D"
wait_exit "$D" 10
check "SIGTERM exits 0 (rc $RC)" test "$RC" = 0
[ "$nfail" -eq 0 ]
