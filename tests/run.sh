#!/usr/bin/env bash
# tests/run.sh: run every test suite and count.  Each suite reports its
# cases either as TAP (cmocka: "ok N - name" / "not ok N - name") or as
# lines "PASS: name" / "FAIL: name: why" / "SKIP: name: why".  A suite that
# exits non-zero without reporting a failure counts as one failure, so a
# crash is never a silent pass.  Under CI=true a skip is a failure: CI has
# everything every test needs.
#
#   tests/run.sh            everything
#   tests/run.sh unit       unit tests only (plain and ASan/UBSan)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"

total_pass=0 total_fail=0 total_skip=0

# run_suite NAME CMD...: run, count, print one line (and failures).
run_suite() {
	local name=$1; shift
	local log=$LOGDIR/${name//\//_}.log rc p f s
	local start=$SECONDS
	CMOCKA_MESSAGE_OUTPUT=TAP "$@" >"$log" 2>&1
	rc=$?
	p=$(grep -E '^(ok [0-9]+|PASS:)' "$log" | grep -vc '# SKIP')
	f=$(grep -cE '^(not ok [0-9]+|FAIL:)' "$log")
	s=$(grep -cE '^(SKIP:|ok [0-9]+.*# SKIP)' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL: $name exited $rc without reporting a failing case" >>"$log"
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
		echo "FAIL: $name reported no test case" >>"$log"
		f=1
	fi
	if [ "${CI:-}" = true ] && [ "$s" -gt 0 ]; then
		f=$((f + s)); s=0
	fi
	printf '%-34s %4d passed %4d failed %4d skipped %5ds\n' \
		"$name" "$p" "$f" "$s" $((SECONDS - start))
	if [ "$f" -gt 0 ] || [ "$s" -gt 0 ]; then
		grep -E '^(not ok|FAIL:|SKIP:)|ERROR|error|Assert|Sanitizer' "$log" \
			| head -20 | sed 's/^/    /'
		echo "    (full log: $log)"
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
}

what=${1:-all}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] && run_suite "unit/${t##*/}" "$t"
done
for t in "$BUILD"/asan/tests/test_*; do
	[ -x "$t" ] && run_suite "unit-asan/${t##*/}" "$t"
done

if [ "$what" = all ]; then
	for t in tests/cli/test_*.sh; do
		[ -f "$t" ] && run_suite "cli/$(basename "$t" .sh)" bash "$t"
	done
	for t in "$BUILD"/tests/bpf_test_*; do
		[ -x "$t" ] && run_suite "bpf/${t##*/}" "$t"
	done
	for t in tests/netns/test_*.sh; do
		[ -f "$t" ] && run_suite "netns/$(basename "$t" .sh)" bash "$t"
	done
	for t in tests/daemon/test_*.sh; do
		[ -f "$t" ] && run_suite "daemon/$(basename "$t" .sh)" bash "$t"
	done
	for t in tests/sdk/test_*.sh; do
		[ -f "$t" ] && run_suite "sdk/$(basename "$t" .sh)" bash "$t"
	done
	for t in tests/ops/test_*.sh; do
		[ -f "$t" ] && run_suite "ops/$(basename "$t" .sh)" bash "$t"
	done
	for t in "$BUILD"/fuzz/fuzz_*; do
		[ -x "$t" ] || continue
		run_suite "fuzz/${t##*/}" tests/fuzz/run-fuzz.sh "$t" "$FUZZ_SECONDS"
	done
fi

[ "$total_skip" -gt 0 ] && echo "$total_skip skipped"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
