#!/usr/bin/env bash
# tests/ops/test_prometheus.sh: the alert rules (scripts/prometheus/
# streamgate.rules.yml) with Debian's promtool:
#   - `promtool check rules`: they load, no lint finding;
#   - every alert has a `for:`, a severity, a summary and a description,
#     and tests/ops/streamgate.rules.test.yml tests it both ways (an
#     evaluation where it fires and one where it must not);
#   - `promtool test rules`: each alert fires on the series that should fire
#     it, only after its `for:`, with its labels and rendered annotations,
#     and not on the look-alikes;
#   - the check has teeth: a rule whose threshold is broken fails the tests.
# No root, no network.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
RULES=scripts/prometheus/streamgate.rules.yml
TESTS=tests/ops/streamgate.rules.test.yml
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
nfail=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); }
command -v promtool >/dev/null || { echo "FAIL: promtool missing (scripts/install-deps.sh: prometheus)"; exit 1; }

out=$(promtool check rules "$RULES" 2>&1)
if grep -q SUCCESS <<<"$out" && ! grep -qi 'warn' <<<"$out"; then
	pass "promtool check rules: $(grep -o '[0-9]* rules found' <<<"$out")"
else
	fail "promtool check rules" "$(tr '\n' ' ' <<<"$out")"
fi

out=$(python3 - "$RULES" "$TESTS" <<'PY'
import sys, yaml
rules = [r for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"]]
tests = yaml.safe_load(open(sys.argv[2]))["tests"]
fires, quiet = set(), set()
for t in tests:
    for a in t.get("alert_rule_test", []):
        (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
bad = []
for r in rules:
    a = r.get("alert")
    if not a:
        continue
    for need, have in (("for", r.get("for")), ("severity", r.get("labels", {}).get("severity")),
                       ("summary", r.get("annotations", {}).get("summary")),
                       ("description", r.get("annotations", {}).get("description"))):
        if not have:
            bad.append("%s: no %s" % (a, need))
    if a not in fires:
        bad.append("%s: no test where it fires" % a)
    if a not in quiet:
        bad.append("%s: no test where it must not fire" % a)
print("%d alerts" % sum(1 for r in rules if r.get("alert")))
sys.exit("; ".join(bad) if bad else 0)
PY
) && pass "every alert: for:, severity, summary, description; tested firing and quiet ($out)" ||
	fail "every alert: for:, severity, summary, description, tested both ways" "$out"

out=$(promtool test rules "$TESTS" 2>&1)
if grep -q SUCCESS <<<"$out" && ! grep -q FAILED <<<"$out"; then
	pass "promtool test rules: every alert fires when it should and only then"
else
	fail "promtool test rules" "$(grep -v Annotations <<<"$out" | head -20 | tr '\n' ' ')"
fi

# teeth: the same tests against rules whose store alert never fires
mkdir -p "$T/scripts/prometheus" "$T/tests/ops"
sed 's/outcome="store_error"}\[5m\])) > 0/outcome="store_error"}[5m])) > 1e9/' "$RULES" \
	>"$T/scripts/prometheus/streamgate.rules.yml"
cp "$TESTS" "$T/tests/ops/"
out=$(promtool test rules "$T/tests/ops/streamgate.rules.test.yml" 2>&1)
if grep -q 'alertname: StreamgateStoreErrors' <<<"$out" && grep -q FAILED <<<"$out"; then
	pass "promtool test rules catches a broken threshold (StreamgateStoreErrors)"
else
	fail "promtool test rules catches a broken threshold" "$(head -5 <<<"$out" | tr '\n' ' ')"
fi

echo "prometheus: $nfail failed"
[ "$nfail" -eq 0 ]
