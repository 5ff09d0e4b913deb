#!/usr/bin/env bash
# bench-nft.sh: wall time of installing the streamgate nftables table over
# netlink (`streamgate nft apply`) beside `nft -f` of the same ruleset as
# `streamgate nft print` writes it.  Whole-command time, process start
# included: that is what an operator or a timer sees.
#
# Everything happens in a throwaway network namespace, inside a private mount
# namespace with its own tmpfs on /run (the namespace file vanishes with this
# script, even if it is killed).  The 5000-entry table uses hosts from
# 10.0.0.0/8: they are only loaded into a ruleset, nothing is sent.
#
#   BUILD=build bench/bench-nft.sh     (make bench-nft builds and runs it)
#   env: BENCH_RUNS (default 20), BENCH_BIG (default 5000 entries)
set -euo pipefail

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=${BENCH_RUNS:-20}
BIG=${BENCH_BIG:-5000}

die() { echo "bench-nft: $*" >&2; exit 1; }

if [ -z "${SG_BENCH_PRIVATE:-}" ]; then
	[ "$(id -u)" -eq 0 ] || die "must run as root (netns, nftables)"
	for t in unshare nsenter ip nft python3; do
		command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh)"
	done
	[ -x "$BUILD/streamgate" ] || die "$BUILD/streamgate missing: make"
	exec unshare -m --propagation private \
		env SG_BENCH_PRIVATE=1 BUILD="$BUILD" "$0" "$@"
fi

# ---- from here: private mount namespace ----
mount -t tmpfs -o mode=0755 sg-bench-run /run
NS=sg-bench-nft
SG=$ROOT/$BUILD/streamgate
TMPD=$(mktemp -d)
trap 'ip netns del $NS 2>/dev/null; rm -rf "$TMPD"' EXIT
ip netns add $NS
in_ns() { nsenter --net=/run/netns/$NS "$@"; }

# BIG hosts in 10.0.0.0/8 over 8 regions, like a large allowlist would be.
python3 - "$BIG" >"$TMPD/big.json" <<'PY'
import json, sys
n = int(sys.argv[1])
print(json.dumps([{"region": "bulk%d" % (i % 8), "zone": "",
                   "cidr": "10.%d.%d.%d/32" % ((i + 1) >> 16 & 255, (i + 1) >> 8 & 255, (i + 1) & 255)}
                  for i in range(n)], indent=0))
PY

# now_ns: monotonic enough for a command that runs for milliseconds.
now_ns() { date +%s%N; }

# median FILE: the median of one number per line.
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# bench NAME FLAGS...: RUNS replaces each way, alternating so that both see
# the same machine; each starts from a table already in place (a replace is
# the operation a timer repeats).  `nft print` alone is timed too: it is the
# tool's own share (parse the table, build the plan) with no netlink at all.
# Prints "NAME apply nft-f print apply/nft-f".
bench() {
	local name=$1; shift
	local t0 t1 i
	"$SG" nft print "$@" >"$TMPD/rules.nft"
	in_ns "$SG" nft apply "$@" || die "$name: streamgate nft apply failed"
	in_ns nft -f "$TMPD/rules.nft" || die "$name: nft -f failed"
	: >"$TMPD/apply"; : >"$TMPD/nft"; : >"$TMPD/print"
	for i in $(seq "$RUNS"); do
		t0=$(now_ns); in_ns "$SG" nft apply "$@"; t1=$(now_ns)
		echo $(( (t1 - t0) / 1000 )) >>"$TMPD/apply"
		t0=$(now_ns); in_ns nft -f "$TMPD/rules.nft"; t1=$(now_ns)
		echo $(( (t1 - t0) / 1000 )) >>"$TMPD/nft"
		t0=$(now_ns); "$SG" nft print "$@" >/dev/null; t1=$(now_ns)
		echo $(( (t1 - t0) / 1000 )) >>"$TMPD/print"
	done
	# both ways must install the same ruleset, or the race is unfair
	local a b
	in_ns "$SG" nft apply "$@"; a=$(in_ns nft list ruleset)
	in_ns nft -f "$TMPD/rules.nft"; b=$(in_ns nft list ruleset)
	[ "$a" = "$b" ] || die "$name: apply and nft -f installed different rulesets"
	awk -v n="$name" -v a="$(median "$TMPD/apply")" -v b="$(median "$TMPD/nft")" \
	    -v p="$(median "$TMPD/print")" \
	    'BEGIN { printf "%-24s %8.1f %8.1f %8.1f %10.2f\n", n, a / 1000, b / 1000, p / 1000, a / b }'
	in_ns nft flush ruleset	# our namespace only
}

echo "ms per replace of the streamgate table (strict mode), median of $RUNS, whole command:"
printf '%-24s %8s %8s %8s %10s\n' table "apply" "nft -f" "print" "apply/nft"
bench "built-in, 25 addresses" --mode strict
bench "$BIG hosts, 8 regions" --mode strict --regions-file "$TMPD/big.json"
