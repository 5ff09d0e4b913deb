#!/usr/bin/env bash
# tests/ops/test_metrics.sh: what Prometheus and Grafana read from a live
# streamgated.  The daemon runs on loopback with a Redis store, an app
# (tests/daemon/app.py) for pushes and hooks, and the XDP filter and nft
# table in place; tests/ops/traffic.py sends requests of every outcome
# (ok ... store_error), hooks of every outcome and deliveries that are
# delivered, retried and dead.  Then, on one scrape of /metrics:
#   - `promtool check metrics` (Debian's prometheus package) exits 0 with
#     no warning: HELP on every family, counters named _total, base units;
#   - every family has HELP and TYPE; streamgate_build_info{version,commit}
#     is 1 and names the Makefile's version;
#   - every outcome the daemon exports (requests, hooks, deliveries) was
#     counted at least once, and the XDP and nft families are there;
#   - the Grafana dashboard (scripts/grafana/streamgate.json) and the alert
#     rules (scripts/prometheus/streamgate.rules.yml) name only metrics this
#     scrape holds, the dashboard shows every family, and each dashboard
#     expression parses as PromQL (promtool check rules).
#
# Safety: its own mount and network namespaces (unshare -m -n): a private
# bpffs, a veth pair that exists only there, loopback addresses only.
# Needs root.  BUILD (default build) is the build directory.
SUITE_SECONDS=${SUITE_SECONDS:-120}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: metrics: needs root (private network namespace, XDP, nft)"
	exit 0
fi
if [ -z "${SG_OPS_NS:-}" ]; then
	export SG_OPS_NS=1
	exec unshare -m -n --propagation private bash "$0" "$@"
fi
. tests/daemon/lib.sh
need_built "$BUILD/streamgated" "$BUILD/streamgate" promtool redis-server
REDIS_PID=
extra_pids() { echo $REDIS_PID; }

mount -t bpf bpf /sys/fs/bpf || { echo "FAIL: setup: cannot mount bpffs"; exit 1; }
ip link set lo up
ip link add sg-m0 type veth peer name sg-m1 && ip link set sg-m0 up && ip link set sg-m1 up
out=$("$BUILD/streamgate" filter attach sg-m0 --xdp-mode generic --region ohio \
	--allow 198.51.100.7/32 2>&1) || { echo "FAIL: setup: filter attach: $out"; exit 1; }
out=$("$BUILD/streamgate" nft apply --region ohio --allow 198.51.100.7/32 2>&1) ||
	{ echo "FAIL: setup: nft apply: $out"; exit 1; }

# ---- the daemon, its store and its app
umask 077
API_KEY=k-ops-5e1d
printf 'Op5s3cr3tN0tL0gg3d\n' >"$T/secret"
RPORT=$(free_port) APORT=$(free_port) PORT=$(free_port) MPORT=$(free_port) CLOSED=$(free_port)
mkdir -p "$T/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$T/redis" >"$T/redis.log" 2>&1 &
REDIS_PID=$!
"${CLIENT[@]}" ping --redis "$RPORT" --timeout 5 ||
	{ echo "FAIL: setup: redis-server: $(tail -2 "$T/redis.log")"; exit 1; }
python3 tests/daemon/app.py --port "$APORT" --record "$T/app.rec" >"$T/app.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$T/app.out" && break; sleep 0.05; done
cat >"$T/sg.json" <<EOF
{"user": "root",
 "keys": [{"api_key": "$API_KEY", "secret_file": "$T/secret"}],
 "store": "redis://127.0.0.1:$RPORT",
 "upstreams": {"push": "http://127.0.0.1:$APORT",
               "before_message_send": "http://127.0.0.1:$APORT",
               "custom_commands": "http://127.0.0.1:$CLOSED/"},
 "hook_deadline_ms": {"before_message_send": 300, "custom_commands": 300},
 "delivery": {"backoff_base_ms": 10, "backoff_cap_ms": 20, "max_attempts": 2,
              "timeout_ms": 2000},
 "limits": {"body_bytes": 1024, "inflated_bytes": 1024},
 "metrics": "127.0.0.1:$MPORT"}
EOF
if ! start_daemon "$T/daemon.err" "$PORT" --config "$T/sg.json"; then
	echo "FAIL: setup: streamgated starts: $START_ERR"
	exit 1
fi

python3 tests/ops/traffic.py --port "$PORT" --api-key "$API_KEY" --secret-file "$T/secret" \
	--app-port "$APORT" --redis-pid "$REDIS_PID" --metrics-port "$MPORT" >"$T/traffic" 2>&1
cat "$T/traffic"
nfail=$((nfail + $(grep -c '^FAIL:' "$T/traffic")))
grep -q '^traffic: ' "$T/traffic" || fail "traffic" "traffic.py did not finish: $(tail -3 "$T/traffic" | tr '\n' ' ')"
kill -KILL "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=

curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics" >"$T/metrics" ||
	{ echo "FAIL: GET /metrics"; exit 1; }

# ---- promtool
out=$(promtool check metrics <"$T/metrics" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
	pass "promtool check metrics: no error, no warning ($(grep -c '^# TYPE' "$T/metrics") families)"
else
	fail "promtool check metrics (exit $rc)" "$(tr '\n' ' ' <<<"$out")"
fi
# the check has teeth: a family without HELP is reported
out=$(sed '/^# HELP streamgate_connections /d' "$T/metrics" | promtool check metrics 2>&1)
check "promtool check metrics reports a family without HELP" grep -q 'streamgate_connections no help text' <<<"$out"

# ---- every family: HELP, TYPE; build_info
fams_help() {
	python3 - "$T/metrics" <<'EOF'
import re, sys
help_, type_, seen = set(), set(), set()
for ln in open(sys.argv[1]):
    m = re.match(r"# (HELP|TYPE) (\S+)", ln)
    if m:
        (help_ if m.group(1) == "HELP" else type_).add(m.group(2))
    elif ln.strip():
        seen.add(re.match(r"[^{ ]+", ln).group(0))
fam = lambda s: re.sub(r"_(bucket|sum|count)$", "", s) if s not in type_ else s
bad = sorted({fam(s) for s in seen} - (help_ & type_))
sys.exit("without HELP or TYPE: %s" % bad if bad else 0)
EOF
}
check "every sample's family has HELP and TYPE" fams_help
VERSION=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' Makefile)
GITD=$(sed -n 's/^#define SG_GIT "\(.*\)"$/\1/p' "$BUILD/sg_build_version.h")
bi=$(grep '^streamgate_build_info{' "$T/metrics")
check "streamgate_build_info{version=\"$VERSION\",commit=\"${GITD:-unknown}\"} 1 ($bi)" \
	test "$bi" = "streamgate_build_info{version=\"$VERSION\",commit=\"${GITD:-unknown}\"} 1"
check "streamgate_build_info is a gauge with HELP" grep -q '^# TYPE streamgate_build_info gauge' "$T/metrics"
check "streamgated --version names the same version" grep -q " $VERSION" <<<"$("$BUILD/streamgated" --version)"

# ---- every outcome counted
outcomes() {
	python3 - "$T/metrics" <<'EOF'
import re, sys
sums = {}
for ln in open(sys.argv[1]):
    m = re.match(r'(streamgate_(?:requests|hooks|deliveries)_total)\{.*outcome="([^"]+)".*\} (\S+)', ln)
    if m:
        k = (m.group(1), m.group(2))
        sums[k] = sums.get(k, 0) + float(m.group(3))
zero = sorted("%s{outcome=%s}" % k for k, v in sums.items() if v == 0)
fams = {k[0] for k in sums}
if len(fams) != 3:
    sys.exit("families with outcomes: %s" % sorted(fams))
print("%d outcomes" % len(sums))
sys.exit("never counted: %s" % zero if zero else 0)
EOF
}
check "every outcome of requests, hooks and deliveries was counted" outcomes
for line in 'streamgate_xdp_attached 1' 'streamgate_nft_table_present 1' 'streamgate_sysstats_up 1' \
	'streamgate_xdp_packets_total{region="ohio",verdict="pass"}' \
	'streamgate_xdp_packets_total{reason="not_allowed",verdict="drop"}' \
	'streamgate_nft_packets_total{rule="ohio"}' 'streamgate_store_up 0'; do
	check "/metrics holds $line" grep -qF "$line" "$T/metrics"
done

# ---- dashboard and rules against this scrape
python3 tests/ops/promql_check.py "$T/metrics" scripts/grafana/streamgate.json \
	scripts/prometheus/streamgate.rules.yml "$T/dash.rules.yml" >"$T/promql" 2>&1
cat "$T/promql"
nfail=$((nfail + $(grep -c '^FAIL:' "$T/promql")))
grep -q '^PASS: rules: every alert' "$T/promql" || fail "promql_check.py" "$(tail -3 "$T/promql" | tr '\n' ' ')"
out=$(promtool check rules "$T/dash.rules.yml" 2>&1)
check "every dashboard expression parses as PromQL (promtool check rules)" grep -q SUCCESS <<<"$out"

[ "$nfail" -eq 0 ] && echo "metrics: all passed" || echo "metrics: $nfail failed"
[ "$nfail" -eq 0 ]
