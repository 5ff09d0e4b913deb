#!/usr/bin/env bash
# Run one libFuzzer target for a bounded time on a scratch copy of its seed
# corpus; report PASS or FAIL (a crash, leak or sanitizer finding).
set -u
bin=$1 secs=${2:-30}
name=$(basename "$bin")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seeds=tests/fuzz/corpus/$name
[ -d "$seeds" ] && cp -r "$seeds/." "$work/"
if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$work/" -print_final_stats=1 "$work" >"$work/out" 2>&1; then
	echo "PASS: $name ran ${secs}s: $(grep -E '^stat::number_of_executed_units' "$work/out" | awk '{print $2}') inputs"
else
	tail -30 "$work/out"
	mkdir -p build/fuzz-crashes && cp "$work"/crash-* "$work"/leak-* build/fuzz-crashes/ 2>/dev/null
	echo "FAIL: $name found a problem (inputs kept in build/fuzz-crashes)"
fi
