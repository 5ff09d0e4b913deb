# tests/cli/lib.sh: sourced by the command-line tests (tests/cli/test_*.sh;
# tests/run.sh runs only those, never this file).  Runs from the top of the
# tree with streamgate as $SG and a scratch directory $T, removed on exit.
set -u
# The command-line tests run in the root namespace's shell but act on none
# of it: each suite re-runs itself in a network and mount namespace of its
# own, with a private bpffs, so a refusal that regressed into an action
# (`filter attach lo`, `nft apply`, `up --dev lo`) would change only that.
if [ -z "${SG_CLI_ISOLATED:-}" ]; then
	SG_CLI_ISOLATED=1 exec unshare --net --mount --propagation private -- \
		bash -c 'ip link set lo up && mount -t bpf bpf /sys/fs/bpf &&
		    exec bash "$@"' bash "$0" "$@"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SG=${BUILD:-build}/streamgate
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
npass=0 nfail=0

check() {	# check NAME CMD...: PASS when CMD succeeds
	local name=$1; shift
	if "$@" >"$T/out" 2>&1; then
		echo "PASS: $name"; npass=$((npass + 1))
	else
		echo "FAIL: $name: $(tail -3 "$T/out" | tr '\n' ' ')"; nfail=$((nfail + 1))
	fi
}

# finish SUITE: the counts; the script's status is whether all passed.
finish() {
	echo "$1: $npass passed, $nfail failed"
	[ "$nfail" -eq 0 ]
}
