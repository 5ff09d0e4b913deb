#!/usr/bin/env bash
# The files `streamgate up` writes as root (the run directory, the pid
# file, the daemon's log) cannot be pointed elsewhere by anyone else: a
# run directory another user owns or may write, or that is a symlink, is
# refused before any step runs, and a symlinked or hard-linked log or a
# planted temporary pid file never gets a root write.  The victim file
# stays byte for byte, and nothing is attached.  A plain run directory is
# made 0750 and gets a whole pid file.  Everything runs in lib.sh's
# namespaces (up attaches XDP: never in the root namespace).
. "$(dirname "$0")/lib.sh"

CONF=$TMPD/sg.json
SECRET=$TMPD/k.secret
VICTIM=$TMPD/victim		# stands for a root file: /etc/shadow, say
umask 077
printf 'files-test-secret\n' >"$SECRET"
printf 'precious root data\n' >"$VICTIM"
SUM=$(sha256sum "$VICTIM")
# "user": "root": the daemon runs as root here, on purpose
printf '{"listen": ["127.0.0.1:18443"], "keys": [{"api_key": "k", "secret_file": "%s"}],\n "store": "sqlite:%s/store/streamgate.db", "user": "root"}\n' \
	"$SECRET" "$TMPD" >"$CONF"
chmod 755 "$TMPD"	# nobody must reach the directories below

# up_refused NAME RUNDIR PATTERN: up exits 2 naming PATTERN, the victim is
# untouched and e0 runs no XDP program.
up_refused() {
	local rc=0 out
	out=$(on_edge "$SG" up --dev e0 --config "$CONF" --run-dir "$2" 2>&1) || rc=$?
	expect "$1: exit 2 (rc $rc: $out)" test "$rc" -eq 2
	expect "$1: says why ($out)" grep -q -- "$3" <<<"$out"
	expect "$1: the victim is untouched" test "$(sha256sum "$VICTIM")" = "$SUM"
	expect_not "$1: nothing attached" sh -c "nsenter --net=/run/netns/$EDGE ip link show e0 | grep -q xdp"
}

case_foreign_owner() {
	local d=$TMPD/nobody-run
	mkdir -p "$d" && chown 65534:65534 "$d"
	ln -s "$VICTIM" "$d/streamgated.pid.tmp"
	ln -s "$VICTIM" "$d/.streamgated.pid.tmp"
	ln -s "$VICTIM" "$d/streamgated.log"
	up_refused "a run dir owned by nobody" "$d" "owned by uid 65534, not root"
}

case_writable() {
	local d=$TMPD/open-run
	mkdir -p "$d" && chmod 0777 "$d"
	up_refused "a world-writable run dir" "$d" "writable by anyone"
	chmod 0770 "$d"
	up_refused "a group-writable run dir" "$d" "writable by its group"
}

case_symlinked_dir() {
	mkdir -p "$TMPD/real-run" && chmod 0750 "$TMPD/real-run"
	ln -sfn "$TMPD/real-run" "$TMPD/link-run"
	up_refused "a run dir that is a symlink" "$TMPD/link-run" "a symlink"
}

case_symlinked_log() {
	local d=$TMPD/log-run
	mkdir -p "$d" && chmod 0750 "$d"
	ln -s "$VICTIM" "$d/streamgated.log"
	up_refused "a log that is a symlink" "$d" "a symlink"
	rm "$d/streamgated.log"
	ln "$VICTIM" "$d/streamgated.log"	# root may hard-link root's file
	up_refused "a log that is a hard link" "$d" "hard link"
}

case_plain_run_dir() {
	local d=$TMPD/new-run pid mode p
	for p in "${PIDS[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	PIDS=()
	on_edge "$SG" up --dev e0 --config "$CONF" --run-dir "$d" --allow "$ALLOWED/32" >/dev/null 2>&1
	mode=$(stat -c %a "$d")
	expect "a new run dir is made 0750 (got $mode)" test "$mode" = 750
	expect "the pid file is a plain file" test -f "$d/streamgated.pid" -a ! -L "$d/streamgated.pid"
	pid=$(cat "$d/streamgated.pid")
	expect "it names the running daemon ($pid)" grep -qx streamgated "/proc/$pid/comm"
	expect_not "no temporary file is left" test -e "$d/.streamgated.pid.tmp"
	expect "the log is a plain file" test -f "$d/streamgated.log" -a ! -L "$d/streamgated.log"
	on_edge "$SG" down --dev e0 --run-dir "$d" >/dev/null 2>&1
	expect_not "down stops it" test -e "$d/streamgated.pid"
}

run_case "run dir owned by another user: refused, victim untouched" case_foreign_owner
run_case "run dir writable by others: refused" case_writable
run_case "run dir that is a symlink: refused" case_symlinked_dir
run_case "log that is a symlink or a hard link: refused" case_symlinked_log
run_case "a plain run dir: 0750, a whole pid file" case_plain_run_dir
finish
