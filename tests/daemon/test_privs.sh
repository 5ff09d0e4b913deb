#!/usr/bin/env bash
# streamgated's privilege drop (README: Privileges), as root:
#   1. on 127.0.0.1, as a throwaway system user: uid/gid, no capability
#      in any thread, no_new_privs, seccomp; a push stored; a reload with
#      a secret file the user owns, and one it cannot read (refused, the
#      old secret kept); SIGTERM exits 0 with the store intact; the
#      sysstats helper (uid 0, CAP_NET_ADMIN only, seccomp) and
#      streamgate_sysstats_up 1; the filters' own checks (test_privsep).
#      The user: one that does not exist is refused (by --check-config
#      too), none at all is refused as root, --user root runs on purpose.
#   2. in fresh network namespaces (veth, RFC 5737 addresses) with the XDP
#      filter attached and the nft table applied there, the daemon on
#      192.0.2.1:443: /metrics shows the XDP and nft counters moving.
# The whole suite runs in a private mount namespace with its own bpffs;
# the user and the namespaces are removed on every way out.
if [ -z "${SG_PRIVS_MNT:-}" ] && [ "$(id -u)" = 0 ]; then
	export SG_PRIVS_MNT=1
	exec unshare -m --propagation private bash "$0" "$@"
fi
SUITE_SECONDS=${SUITE_SECONDS:-55}
. "$(dirname "$0")/lib.sh"
need_built "$BUILD/streamgated" "$BUILD/streamgate"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: privileges: the drop is tested as root (useradd, setuid)"
	exit 0
fi
mount -t bpf bpf /sys/fs/bpf || { echo "FAIL: setup: cannot mount a bpffs"; exit 1; }
# Start it with supplementary groups (adm, sudo), as a root shell often
# has: "no groups" after the drop then proves that setgroups ran.
SGD=(setpriv --groups 4,27 -- "${SGD[@]}")

U=sgtest-$$
EDGE=sgp-edge-$$
CLI=sgp-client-$$
privs_cleanup() {
	local p i
	# what still runs in our namespaces (started by this suite), by pid
	for p in $(ip netns pids "$EDGE" 2>/dev/null; ip netns pids "$CLI" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null
	done
	cleanup		# lib.sh: our processes, then $T
	ip netns del "$EDGE" 2>/dev/null
	ip netns del "$CLI" 2>/dev/null
	for i in 1 2 3 4 5; do	# a process of the user may take a moment
		id "$U" >/dev/null 2>&1 || break
		userdel "$U" 2>/dev/null || sleep 0.2
	done
}
trap privs_cleanup EXIT

useradd --system --no-create-home --shell /usr/sbin/nologin "$U" ||
	{ echo "FAIL: setup: useradd $U"; exit 1; }
UID_U=$(id -u "$U")
GID_U=$(id -g "$U")
umask 077
chmod 0711 "$T"			# the user walks through, lists nothing
mkdir "$T/keys" "$T/store" "$T/store2"
chown "$U:" "$T/keys"
# secret_file NAME TEXT [OWNER]: a 0600 secret file in $T/keys
secret_file() {
	printf '%s\n' "$2" >"$T/keys/$1.tmp"
	chown "${3:-$U}:" "$T/keys/$1.tmp"
	mv "$T/keys/$1.tmp" "$T/keys/$1"
}
secret_file a.secret priv-secret-one
printf 'priv-secret-one\n' >"$T/one"
printf 'priv-secret-two\n' >"$T/two"
printf 'priv-secret-three\n' >"$T/three"

# status_ok FILE UID GID: the drop as /proc shows it for one thread
status_ok() {
	python3 - "$@" <<'EOF'
import sys
f, uid, gid = sys.argv[1:]
st = dict(l.split(":", 1) for l in open(f).read().splitlines() if ":" in l)
want = {"Uid": " ".join([uid] * 4), "Gid": " ".join([gid] * 4),
        "CapInh": "0" * 16, "CapPrm": "0" * 16, "CapEff": "0" * 16,
        "CapBnd": "0" * 16, "CapAmb": "0" * 16, "NoNewPrivs": "1",
        "Seccomp": "2", "Groups": ""}
bad = ["%s=%r" % (k, " ".join(st.get(k, "?").split()))
       for k, v in want.items() if " ".join(st.get(k, "?").split()) != v]
sys.exit("%s: %s" % (f, ", ".join(bad)) if bad else 0)
EOF
}

# threads_ok PID: every thread of PID dropped
threads_ok() {
	local t n=0
	for t in /proc/"$1"/task/*; do
		status_ok "$t/status" "$UID_U" "$GID_U" || return 1
		n=$((n + 1))
	done
	echo "$n threads"
	[ "$n" -ge 3 ]
}

# helper_of PID: the sysstats helper's pid
helper_of() {
	local s
	for s in /proc/[0-9]*/status; do
		grep -q "^PPid:[[:space:]]*$1\$" "$s" 2>/dev/null &&
			grep -q '^Name:[[:space:]]*sg-sysstats' "$s" &&
			basename "$(dirname "$s")"
	done
}

helper_ok() {
	python3 - "/proc/$1/status" <<'EOF'
import sys
st = dict(l.split(":", 1) for l in open(sys.argv[1]).read().splitlines() if ":" in l)
want = {"Uid": "0 0 0 0", "CapEff": "0000008000001000",
        "CapPrm": "0000008000001000", "CapBnd": "0000008000001000",
        "CapInh": "0" * 16, "CapAmb": "0" * 16, "NoNewPrivs": "1",
        "Seccomp": "2"}
bad = ["%s=%r" % (k, " ".join(st.get(k, "?").split()))
       for k, v in want.items() if " ".join(st.get(k, "?").split()) != v]
sys.exit(", ".join(bad) if bad else 0)
EOF
}

send() {	# send SECRETFILE ID: the status line
	"${CLIENT[@]}" send --port "$PORT" --api-key k-priv --secret-file "$1" \
		--id "$2" 2>&1 | head -1
}

# wait_log FILE PATTERN: up to 3 s for a line
wait_log() {
	local i
	for i in $(seq 60); do
		grep -q "$2" "$1" && return 0
		sleep 0.05
	done
	return 1
}

metric() {	# metric PORT NAME{LABELS}: its value, or "absent"
	python3 - "$@" <<'EOF'
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
for l in t.splitlines():
    if l.rsplit(" ", 1)[0] == sys.argv[2]:
        print(l.rsplit(" ", 1)[1]); break
else:
    print("absent")
EOF
}

# ---- 1. on loopback, as the throwaway user
PORT=$(free_port)
MPORT=$(free_port)
LOG=$T/privs.err
DB=$T/store/events.db
if ! start_daemon "$LOG" "$PORT" --user "$U" --key "k-priv=$T/keys/a.secret" \
	--store "sqlite:$DB" --metrics "127.0.0.1:$MPORT"; then
	fail "drop: daemon starts as root with --user $U" "$START_ERR"
	exit 1
fi
D=$DPID
pass "drop: daemon starts as root with --user $U and answers /healthz"
check "drop: the daemon was started with groups 4 and 27 (so the next check can fail)" \
	sh -c "setpriv --groups 4,27 -- grep -q '^Groups:[[:space:]]*4 27' /proc/self/status"
check "drop: main thread: Uid/Gid $U (all four), no groups, no capability, NoNewPrivs 1, Seccomp 2" \
	status_ok "/proc/$D/status" "$UID_U" "$GID_U"
check "drop: every thread the same (/proc/PID/task/*/status)" threads_ok "$D"
r=$(send "$T/one" priv-1)
if [ "$r" = 200 ] && [ "$(sqlite3 "$DB" "select count(*) from events where webhook_id = 'priv-1'")" = 1 ]; then
	pass "drop: a signed push is answered 200 and stored"
else
	fail "drop: a signed push is answered 200 and stored" "status $r; log: $(tail -2 "$LOG" | tr '\n' ' ')"
fi
check "drop: the store and its directory belong to $U" \
	test "$(stat -c %U "$DB" "$DB-wal" "$T/store" | sort -u)" = "$U"

H=$(helper_of "$D")
if [ -n "$H" ] && out=$(helper_ok "$H" 2>&1); then
	pass "sysstats: helper $H is uid 0 with CAP_NET_ADMIN and CAP_BPF alone, no_new_privs, Seccomp 2"
else
	fail "sysstats: helper is uid 0 with CAP_NET_ADMIN and CAP_BPF alone, no_new_privs, Seccomp 2" "pid '${H}': ${out:-no helper}"
fi
check "sysstats: /metrics says streamgate_sysstats_up 1" \
	test "$(metric "$MPORT" streamgate_sysstats_up)" = 1
check "sysstats: no filter here: streamgate_xdp_attached 0" \
	test "$(metric "$MPORT" streamgate_xdp_attached)" = 0

# a new secret file the user owns: read after the drop
secret_file a.secret priv-secret-two
kill -HUP "$D"
wait_log "$LOG" 'SIGHUP: configuration reloaded'
r2=$(send "$T/two" priv-2)
r1=$(send "$T/one" priv-1b)
if [ "$r2" = 200 ] && [ "$r1" = 401 ]; then
	pass "reload: a secret file owned by $U (0600) is read after the drop"
else
	fail "reload: a secret file owned by $U (0600) is read after the drop" \
		"new $r2, old $r1 (want 200 401); log: $(grep SIGHUP "$LOG" | tail -1)"
fi
# root's 0600 file: unreadable now; refused, the running secret kept
secret_file a.secret priv-secret-three root
kill -HUP "$D"
if wait_log "$LOG" 'a.secret: Permission denied.*keeping the running configuration'; then
	pass "reload: a root-owned 0600 secret file is refused with a log line"
else
	fail "reload: a root-owned 0600 secret file is refused with a log line" \
		"$(grep SIGHUP "$LOG" | tail -1)"
fi
r2=$(send "$T/two" priv-3)
r3=$(send "$T/three" priv-3b)
if [ "$r2" = 200 ] && [ "$r3" = 401 ] && kill -0 "$D" 2>/dev/null; then
	pass "reload: after the refusal the old secret still verifies"
else
	fail "reload: after the refusal the old secret still verifies" "kept $r2, refused $r3 (want 200 401)"
fi

kill -TERM "$D"
wait_exit "$D" 10
if [ "$RC" = 0 ] && [ "$(sqlite3 "$DB" 'pragma integrity_check')" = ok ] &&
	[ "$(sqlite3 "$DB" 'select count(*) from events')" = 3 ]; then
	pass "SIGTERM: exit 0, the store intact with its 3 events"
else
	fail "SIGTERM: exit 0, the store intact with its 3 events" "exit $RC; $(sqlite3 "$DB" 'select count(*) from events' 2>&1)"
fi
# gone, or a zombie nobody reaps (its parent is gone)
helper_gone() {
	local i
	for i in $(seq 20); do
		[ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] &&
			return 0
		sleep 0.05
	done
	return 1
}
check "sysstats: the helper ends with the daemon" helper_gone "$H"
check "logs: no secret in stderr" sh -c "! grep -q 'priv-secret' '$LOG'"

# the filters themselves: what they allow, refuse, and kill for
if [ -x "$BUILD/tests/test_privsep" ]; then
	if out=$(CMOCKA_MESSAGE_OUTPUT=stdout "$BUILD/tests/test_privsep" 2>&1); then
		pass "seccomp: the daemon's and the helper's filters refuse execve, ptrace, fork, bpf loads, exec memory (EPERM) and kill in kill mode ($(grep -c '^\[       OK' <<<"$out") checks)"
	else
		fail "seccomp: filters refuse and kill" "$(grep -E 'FAILED|ERROR|LINE' <<<"$out" | head -3 | tr '\n' ' ')"
	fi
else
	fail "seccomp: filters refuse and kill" "$BUILD/tests/test_privsep not built (make BUILD=$BUILD unit)"
fi

# ---- the user: checked before anything is made, by --check-config too
# refused NAME WANT ARGS...: the daemon exits 2 within 5 s, stderr has WANT,
# and nothing was made (the store's directory) or bound
refused() {
	local name=$1 want=$2 rc=0 port; shift 2
	port=$(free_port)
	timeout 5 "${SGD[@]}" --listen "127.0.0.1:$port" --key "k-priv=$T/one" \
		--store "sqlite:$T/refused/events.db" "$@" >/dev/null 2>"$T/refused.err" || rc=$?
	if [ "$rc" = 2 ] && grep -qF -- "$want" "$T/refused.err" && [ ! -e "$T/refused" ]; then
		pass "$name"
	else
		fail "$name" "exit $rc (want 2), made $T/refused: $([ -e "$T/refused" ] && echo yes || echo no), stderr: $(head -c 300 "$T/refused.err" | tr '\n' ' ')"
	fi
}
chmod 600 "$T/one"
refused "user: --check-config refuses a user that does not exist, naming the key" \
	"user: no user 'sg-nosuch-$$'" --user "sg-nosuch-$$" --check-config
printf '{"user": "sg-nosuch-%s"}\n' $$ >"$T/nosuch.json"
refused "user: --check-config refuses \"user\" in the file the same way" \
	"user: no user 'sg-nosuch-$$'" --config "$T/nosuch.json" --check-config
refused "user: the real start refuses it too, before making anything" \
	"user: no user 'sg-nosuch-$$'" --user "sg-nosuch-$$"
check "user: --check-config passes an existing user" \
	"${SGD[@]}" --key "k-priv=$T/one" --user "$U" --check-config
if id streamgate >/dev/null 2>&1; then
	echo "SKIP: user: no default user to refuse (this host has 'streamgate')"
else
	refused "user: as root with no 'streamgate' user and no \"user\", the start is refused" \
		"useradd --system --no-create-home --shell /usr/sbin/nologin streamgate"
	refused "user: the refusal says how to run as root on purpose" \
		'"user": "root" (--user root)'
	refused "user: --check-config refuses that as well" "user: no user 'streamgate'" \
		--check-config
fi
# --user root, said: runs, as uid 0 without any capability
RPORT=$(free_port)
mkdir "$T/rootstore"
"${SGD[@]}" --listen "127.0.0.1:$RPORT" --key "k-priv=$T/one" --user root \
	--store "sqlite:$T/rootstore/events.db" >>"$T/stdout" 2>"$T/root.err" &
RD=$!
PIDS+=("$RD")
if "${CLIENT[@]}" waitup --port "$RPORT" --timeout 5 >/dev/null 2>&1; then
	pass "user: --user root starts, and answers /healthz"
	root_ok() {
		python3 - "/proc/$RD/status" <<'EOF'
import sys
st = dict(l.split(":", 1) for l in open(sys.argv[1]).read().splitlines() if ":" in l)
want = {"Uid": "0 0 0 0", "CapEff": "0" * 16, "CapPrm": "0" * 16,
        "CapBnd": "0" * 16, "NoNewPrivs": "1", "Seccomp": "2"}
bad = ["%s=%r" % (k, " ".join(st.get(k, "?").split()))
       for k, v in want.items() if " ".join(st.get(k, "?").split()) != v]
sys.exit(", ".join(bad) if bad else 0)
EOF
	}
	check "user: --user root runs as uid 0 with no capability, NoNewPrivs 1, Seccomp 2" root_ok
	r=$(PORT=$RPORT send "$T/one" root-1)
	check "user: --user root stores a push ($r)" test "$r" = 200
	kill -TERM "$RD"
	wait_exit "$RD" 10
	check "user: --user root exits 0 on SIGTERM" test "$RC" = 0
else
	fail "user: --user root starts, and answers /healthz" "$(tail -3 "$T/root.err" | tr '\n' ' ')"
fi

# ---- 2. in a network namespace with the XDP filter and the nft table
on_edge() { nsenter --net=/run/netns/"$EDGE" "$@"; }
on_cli() { nsenter --net=/run/netns/"$CLI" "$@"; }
ns_up() {
	ip netns add "$EDGE" && ip netns add "$CLI" &&
	ip link add e0 netns "$EDGE" type veth peer name c0 netns "$CLI" &&
	on_edge ip link set lo up && on_edge ip link set e0 up &&
	on_edge ip addr add 192.0.2.1/24 dev e0 &&
	on_edge ip route add 198.51.100.7/32 dev e0 &&
	on_edge ip route add 203.0.113.9/32 dev e0 &&
	on_cli ip link set lo up && on_cli ip link set c0 up &&
	on_cli ip addr add 198.51.100.7/32 dev c0 &&
	on_cli ip addr add 203.0.113.9/32 dev c0 &&
	on_cli ip route add 192.0.2.0/24 dev c0 src 198.51.100.7
}
# push_from SRC ID SECRETFILE: a signed push to 192.0.2.1:443; the status
push_from() {
	on_cli python3 - "$@" <<'EOF' 2>&1 | tail -1
import hashlib, hmac, http.client, sys
src, wid, sf = sys.argv[1:]
secret = open(sf, "rb").read().split(b"\n")[0].strip()
body = b'{"type":"message.new","cid":"messaging:privs"}'
try:
    c = http.client.HTTPConnection("192.0.2.1", 443, timeout=1, source_address=(src, 0))
    c.request("POST", "/webhooks/stream/push", body, {"X-Api-Key": "k-priv",
              "X-Webhook-Id": wid, "Content-Type": "application/json",
              "X-Signature": hmac.new(secret, body, hashlib.sha256).hexdigest()})
    print(c.getresponse().status)
except OSError as e:
    print("no answer: %s" % e)
EOF
}
NMPORT=19100
if ! ns_up; then
	fail "netns: namespaces, veth and addresses" "setup failed"
	exit 1
fi
out=$(on_edge "$BUILD/streamgate" filter attach e0 --allow 198.51.100.7/32 2>&1 &&
	on_edge "$BUILD/streamgate" nft apply --allow 198.51.100.7/32 2>&1)
check "netns: XDP filter attached to e0 and the nft table applied" test $? = 0
secret_file b.secret priv-secret-two
NLOG=$T/netns.err
nsenter --net=/run/netns/"$EDGE" "$BUILD/streamgated" --user "$U" --listen 192.0.2.1:443 \
	--key "k-priv=$T/keys/b.secret" --store "sqlite:$T/store2/events.db" \
	--metrics "127.0.0.1:$NMPORT" >>"$T/stdout" 2>>"$NLOG" &
N=$!
PIDS+=("$N")
if on_edge "${CLIENT[@]}" waitup --port "$NMPORT" --timeout 5 >/dev/null 2>&1 ||
	on_edge python3 -c 'import urllib.request, sys
urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5)' "$NMPORT"; then
	pass "netns: daemon up on 192.0.2.1:443 as $U"
else
	fail "netns: daemon up on 192.0.2.1:443 as $U" "$(tail -3 "$NLOG" | tr '\n' ' ')"
	exit 1
fi
check "netns: dropped there too (every thread)" threads_ok "$N"
r=$(push_from 198.51.100.7 netns-1 "$T/two")
check "netns: a push from an allowed address through XDP and nft: 200 ($r)" test "$r" = 200
r=$(push_from 203.0.113.9 netns-2 "$T/two")
check "netns: a push from a foreign address is dropped by XDP ($r)" \
	test "${r#no answer}" != "$r"
nmetric() { on_edge python3 - "$NMPORT" "$1" <<'EOF'
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
for l in t.splitlines():
    if l.rsplit(" ", 1)[0] == sys.argv[2]:
        print(l.rsplit(" ", 1)[1]); break
else:
    print("absent")
EOF
}
nonzero() {	# nonzero NAME{LABELS}
	local v; v=$(nmetric "$1")
	[ "$v" != absent ] && [ "$v" -gt 0 ] 2>/dev/null || { echo "$1 = $v"; return 1; }
}
check "metrics: streamgate_sysstats_up 1, streamgate_xdp_attached 1, streamgate_nft_table_present 1" \
	test "$(nmetric streamgate_sysstats_up)$(nmetric streamgate_xdp_attached)$(nmetric streamgate_nft_table_present)" = 111
for m in 'streamgate_xdp_packets_total{region="allow",verdict="pass"}' \
	'streamgate_xdp_bytes_total{region="allow",verdict="pass"}' \
	'streamgate_xdp_packets_total{reason="not_allowed",verdict="drop"}' \
	'streamgate_nft_packets_total{rule="allow"}' \
	'streamgate_nft_bytes_total{rule="allow"}'; do
	check "metrics: $m > 0" nonzero "$m"
done
check "metrics: every nft counted rule is exported ('not allowed' too)" \
	test "$(nmetric 'streamgate_nft_packets_total{rule="not allowed"}')" != absent
kill -TERM "$N"
wait_exit "$N" 10
check "netns: SIGTERM exits 0" test "$RC" = 0

echo "privs: $nfail failed"
[ "$nfail" -eq 0 ]
