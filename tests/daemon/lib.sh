# tests/daemon/lib.sh: sourced by the daemon tests (tests/daemon/test_*.sh;
# tests/run.sh runs only those, never this file), after they set
# SUITE_SECONDS.  Runs from the top of the tree with a scratch directory $T;
# every process a test starts goes into PIDS and is killed and reaped on
# the way out (with those extra_pids names), pass or fail.  A watchdog
# ends the whole suite after SUITE_SECONDS, so a hang is a failure.
#
# SGD is the daemon to run: $STREAMGATED (words: "python3 stub.py" runs a
# stand-in) or $BUILD/streamgated; CLIENT runs client.py.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build}
read -r -a SGD <<<"${STREAMGATED:-$BUILD/streamgated}"
CLIENT=(timeout 60 python3 tests/daemon/client.py)
export STREAMGATE_SECCOMP_KILL=1	# a call outside the daemon's seccomp filter kills it
T=$(mktemp -d)
PIDS=()
nfail=0

extra_pids() { :; }	# a test's processes kept out of PIDS

cleanup() {
	local p
	for p in "${PIDS[@]}" $(extra_pids); do
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}" $(extra_pids); do
		wait "$p" 2>/dev/null
	done
	[ -n "${SG_KEEP_T:-}" ] && cp -a "$T" "$SG_KEEP_T" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "FAIL: suite: interrupted after ${SECONDS}s (time box ${SUITE_SECONDS}s)"; exit 1' TERM INT

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); }
# check NAME CMD...: PASS when CMD exits 0, else FAIL with its output.
check() {
	local name=$1 out; shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s' "$out" | tail -3 | tr '\n' ' ')"
	fi
}

# need_built PROGRAM...: each one is there (a path, or a command), else
# the suite fails at once.
need_built() {
	local b
	for b; do
		if [ ! -x "$b" ] && ! command -v "$b" >/dev/null; then
			echo "FAIL: $b not built (make BUILD=$BUILD all)"
			exit 1
		fi
	done
}

# The whole suite is bounded: a watchdog (one process, killed at the end).
python3 -c 'import os, signal, sys, time
time.sleep(float(sys.argv[2])); os.kill(int(sys.argv[1]), signal.SIGTERM)' \
	$$ "$SUITE_SECONDS" &
PIDS+=($!)

# free_port [N]: N (1) distinct free TCP ports on 127.0.0.1, one line
free_port() {
	python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "${1:-1}"
}

# wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT (a
# server just started in the background); 1 when nothing did in time.
wait_port() {
	local i
	for ((i = 0; i < ${2:-5} * 20; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# start_daemon ERRLOG PORT ARGS...: start $SGD on 127.0.0.1:PORT in the
# background, set DPID, wait until /healthz answers.  Fails (returns 1)
# with why in START_ERR.  As root, the real daemon is told --user root:
# these tests mean to run it as root (a test host has no "streamgate"
# user, and streamgated refuses to stay root unasked); a --user in ARGS
# comes later and wins.
start_daemon() {
	local log=$1 port=$2 as=(); shift 2
	[ "$(id -u)" = 0 ] && [ "${SGD[-1]##*/}" = streamgated ] && as=(--user root)
	"${SGD[@]}" --listen "127.0.0.1:$port" "${as[@]}" "$@" >>"$T/stdout" 2>>"$log" &
	DPID=$!
	PIDS+=("$DPID")
	if ! "${CLIENT[@]}" waitup --port "$port" --timeout 5 2>"$T/waitup"; then
		START_ERR="$(cat "$T/waitup"); stderr: $(tail -3 "$log" | tr '\n' ' ')"
		return 1
	fi
}

# wait_exit PID SECONDS: sets RC to the exit status, or "timeout".
wait_exit() {
	local pid=$1 i
	RC=timeout
	for ((i = 0; i < $2 * 20; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null
			RC=$?
			return
		fi
		sleep 0.05
	done
}
