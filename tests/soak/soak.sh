#!/usr/bin/env bash
# make soak (not in make test): streamgated for SOAK_S seconds (600) under
# legit signed traffic at a fixed rate, as Stream sends it, while at random
# the attacks of issue 13 run (pipelining that never reads, trickled
# bodies, half-closed and idle connections, trailers, forgeries, oversized
# bodies), and SIGHUP, kill -9 + restart and a full disk happen.  At the
# end every webhook id answered 200 must be stored exactly once.  One line:
#   soak: N acked, N stored, 0 lost, 0 duplicated, max RSS X MiB, p99 Y ms
# The store lives on a small tmpfs of its own (the disk can be filled
# without touching the host's), in a private mount namespace; traffic
# stays on loopback.
set -u
if [ -z "${SG_SOAK_MNT:-}" ]; then
	export SG_SOAK_MNT=1
	exec unshare -m --propagation private bash "$0" "$@"
fi
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SOAK_S=${SOAK_S:-600}
T=$(mktemp -d)
trap 'umount "$T/disk" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/disk"
# room for SOAK_S seconds of events at the rate, and little more: a full
# disk is one filler file away
mount -t tmpfs -o size=$((64 + SOAK_S / 4))m tmpfs "$T/disk" || {
	echo "soak: cannot mount a tmpfs (needs root)"; exit 1; }
exec python3 tests/soak/soak.py --daemon "$BUILD/streamgated" --dir "$T" \
	--disk "$T/disk" --seconds "$SOAK_S" ${SOAK_RATE:+--rate "$SOAK_RATE"}
