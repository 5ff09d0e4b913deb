#!/usr/bin/env bash
# bench-xdp.sh: ns/packet of the streamgate XDP program against a bare
# `return XDP_DROP` program and xdp-filter (xdp-tools), all by
# BPF_PROG_TEST_RUN: nothing is sent and nothing runs in the root namespace.
#
# xdp-filter has to be attached somewhere for its program to be set up: that
# happens on a veth inside a throwaway network namespace, in a private mount
# namespace (unshare -m --propagation private) with its own bpffs on
# /sys/fs/bpf and its own tmpfs on /run, so the namespace file, xdp-filter's
# lock file and every pin vanish with this script, even if it is killed.
#
#   BUILD=build bench/bench-xdp.sh     (make bench-xdp builds and runs it)
#   env: BENCH_REPEAT (default 1000000), BENCH_ROUNDS (default 5)
set -euo pipefail

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

die() { echo "bench-xdp: $*" >&2; exit 1; }

if [ -z "${SG_BENCH_PRIVATE:-}" ]; then
	[ "$(id -u)" -eq 0 ] || die "must run as root (BPF, netns)"
	for t in clang unshare nsenter ip xdp-filter; do
		command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh)"
	done
	[ -x "$BUILD/bench/bench_xdp" ] || die "$BUILD/bench/bench_xdp missing: make bench-xdp"
	[ -f "$BUILD/streamgate.bpf.o" ] || die "$BUILD/streamgate.bpf.o missing: make"
	mkdir -p "$BUILD/bench"
	multiarch=$(gcc -print-multiarch 2>/dev/null || true)
	clang -O2 -g -target bpf -Wall -Werror -Iinclude \
		${multiarch:+-I/usr/include/$multiarch} \
		-c bench/bare.bpf.c -o "$BUILD/bench/bare.bpf.o"
	exec unshare -m --propagation private \
		env SG_BENCH_PRIVATE=1 BUILD="$BUILD" "$0" "$@"
fi

# ---- from here: private mount namespace ----
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs -o mode=0755 sg-bench-run /run
NS=sg-bench-$$
cleanup() {
	set +e
	ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ip netns add "$NS"
IN=(nsenter --net="/run/netns/$NS")
"${IN[@]}" ip link add sgb0 type veth peer name sgb1
"${IN[@]}" ip link set sgb0 up
"${IN[@]}" ip link set sgb1 up
"${IN[@]}" xdp-filter load -p deny -f ipv4 -m skb sgb0 ||
	die "xdp-filter load failed"
mapfile -t addrs < <("$BUILD/bench/bench_xdp" --list-addrs)
[ "${#addrs[@]}" -eq 25 ] || die "expected 25 addresses, got ${#addrs[@]}"
for a in "${addrs[@]}"; do
	"${IN[@]}" xdp-filter ip "$a" -m src >/dev/null || die "xdp-filter ip $a failed"
done

# The program attached to sgb0: libxdp's dispatcher if it could use one,
# else the filter program itself.  bench_xdp prints which.
link_json=$("${IN[@]}" ip -j link show dev sgb0)
prog_id=$(printf '%s' "$link_json" | grep -o '"prog":{"id":[0-9]*' | head -n1 |
	grep -o '[0-9]*$' || true)
[ -n "$prog_id" ] || die "no XDP program found on sgb0: $link_json"
echo "xdp-filter attached to sgb0 (netns $NS): program id $prog_id; xdp-loader status:"
"${IN[@]}" xdp-loader status sgb0 | sed -n '/^sgb0/,$p' | sed 's/^/  /'

"$BUILD/bench/bench_xdp" --obj "$BUILD/streamgate.bpf.o" \
	--bare "$BUILD/bench/bare.bpf.o" --peer-id "$prog_id" \
	--repeat "${BENCH_REPEAT:-1000000}" --rounds "${BENCH_ROUNDS:-5}"
