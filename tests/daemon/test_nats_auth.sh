#!/usr/bin/env bash
# streamgated on NATS with TLS and with credentials, 127.0.0.1 only: two
# one-node JetStream servers (file storage under $T), made and removed here.
# TLS: a CA and a certificate for 127.0.0.1 from it, made with openssl (a
# private CA); with nats.ca the daemon stores a signed push over tls://
# (200, and `streamgate inbox` reads it back over TLS with the same
# --config); without nats.ca (the system's CAs), with nats:// against the
# TLS-only server, with a CA file missing or not PEM, it refuses to start
# naming the setting.  Credentials: a server in operator mode, its JWTs and
# the user's creds made by nats_jwt.py (resolver MEMORY); with nats.creds
# the daemon stores a push; without creds, with a user of an account the
# server does not know, with a creds file lacking its seed, missing, or
# readable by others, it refuses to start naming nats.creds; the seed is in
# no log.  Both servers restarted: each daemon reconnects (the creds read
# again, under the seccomp filter) and answers 200 again, unrestarted.
SUITE_SECONDS=${SUITE_SECONDS:-45}
. "$(dirname "$0")/lib.sh"
SGD=("$BUILD/streamgated")	# the real one: the stub has no NATS store
SG="$BUILD/streamgate"
NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}
TPID=0 APID=0
extra_pids() { local p; for p in $TPID $APID; do [ "$p" != 0 ] && echo "$p"; done; }
need_built "${SGD[0]}" "$SG" openssl
if [ ! -x "$NATS_SERVER" ]; then
	echo "SKIP: nats_auth: $NATS_SERVER missing (scripts/install-deps.sh installs nats-server)"
	exit 0
fi
API_KEY=key-nats-auth
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/secret"

# ---- a private CA and a server certificate for 127.0.0.1
ossl() {
	openssl "$@" >/dev/null 2>>"$T/openssl.err" ||
		{ echo "FAIL: openssl $1: $(tail -2 "$T/openssl.err" | tr '\n' ' ')"; exit 1; }
}
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=streamgate-test-nats-ca -keyout "$T/ca.key" -out "$T/ca.pem"
ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=127.0.0.1 -keyout "$T/srv.key" -out "$T/srv.csr"
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$T/srv.ext"
ossl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
	-CAcreateserial -days 2 -extfile "$T/srv.ext" -out "$T/srv.pem"
printf 'not a certificate\n' >"$T/junk.pem"

# ---- an operator, an account with JetStream, users (nsc's work)
mkdir "$T/jwt"
rc=0
python3 tests/daemon/nats_jwt.py "$T/jwt" 2>"$T/jwt.err" || rc=$?
if [ "$rc" = 77 ]; then
	echo "SKIP: nats_auth: $(cat "$T/jwt.err") (scripts/install-deps.sh installs it)"
	exit 0
elif [ "$rc" != 0 ]; then
	echo "FAIL: nats_jwt.py: $(tail -2 "$T/jwt.err" | tr '\n' ' ')"
	exit 1
fi
cp "$T/jwt/user.creds" "$T/shared.creds"
chmod 644 "$T/shared.creds"

# ---- the servers: TLS required on one, JWT users on the other
# NATS with TLS, NATS with users, the two daemons, the refused ones
read -r TP AP PT PA PR <<<"$(free_port 5)"
TLS_URL="tls://127.0.0.1:$TP" AUTH_URL="nats://127.0.0.1:$AP"
cat >"$T/tls.conf" <<EOF
server_name: sg-tls
listen: 127.0.0.1:$TP
jetstream { store_dir: "$T/js-tls" }
tls { cert_file: "$T/srv.pem", key_file: "$T/srv.key" }
EOF
{
	printf 'server_name: sg-auth\nlisten: 127.0.0.1:%s\n' "$AP"
	printf 'jetstream { store_dir: "%s/js-auth" }\n' "$T"
	cat "$T/jwt/server.conf"
} >"$T/auth.conf"

servers_start() {
	"$NATS_SERVER" -c "$T/tls.conf" >>"$T/nats-tls.log" 2>&1 &
	TPID=$!
	"$NATS_SERVER" -c "$T/auth.conf" >>"$T/nats-auth.log" 2>&1 &
	APID=$!
	if ! wait_port "$TP" || ! wait_port "$AP"; then
		echo "FAIL: nats-server did not listen: $(tail -2 "$T/nats-tls.log" "$T/nats-auth.log" | tr '\n' ' ')"
		exit 1
	fi
}

servers_kill() {
	kill -KILL "$TPID" "$APID" 2>/dev/null
	wait "$TPID" "$APID" 2>/dev/null
	TPID=0 APID=0
}

# conf NAME NATS-KEYS: $T/NAME.json, one replica and those "nats" keys
conf() {
	printf '{"nats": {"replicas": 1%s}}\n' "${2:+, $2}" >"$T/$1.json"
}
conf plain ""
conf ca "\"ca\": \"$T/ca.pem\""
conf ca-missing "\"ca\": \"$T/none.pem\""
conf ca-junk "\"ca\": \"$T/junk.pem\""
conf creds "\"creds\": \"$T/jwt/user.creds\""
conf creds-stranger "\"creds\": \"$T/jwt/stranger.creds\""
conf creds-broken "\"creds\": \"$T/jwt/broken.creds\""
conf creds-missing "\"creds\": \"$T/none.creds\""
conf creds-shared "\"creds\": \"$T/shared.creds\""

# refused NAME WANT STORE CONFIG: the daemon exits non-zero at start, its
# stderr saying WANT (printed below the case, as an operator reads it)
refused() {
	local name=$1 want=$2 rc=0 as=()
	[ "$(id -u)" = 0 ] && as=(--user root)
	timeout 10 "${SGD[@]}" --listen "127.0.0.1:$PR" "${as[@]}" \
		--key "$API_KEY=$T/secret" --store "$3" --config "$4" \
		>/dev/null 2>"$T/refused.err" || rc=$?
	cat "$T/refused.err" >>"$T/refused.log"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qF -- "$want" "$T/refused.err"; then
		pass "refused at start: $name"
		grep -F -- "$want" "$T/refused.err" | head -1 | sed 's/^/    /'
	else
		fail "refused at start: $name" \
			"exit $rc (124: still running), want '$want', stderr: $(tail -2 "$T/refused.err" | tr '\n' ' ')"
	fi
}

send() {	# send PORT ID: the status
	"${CLIENT[@]}" send --port "$1" --api-key "$API_KEY" \
		--secret-file "$T/secret" --id "$2" 2>&1 | head -1
}

# stored STORE CONFIG ID: ID is in the stream, read by the control tool
stored() {
	"$SG" inbox list --json --store "$1" --config "$2" 2>"$T/inbox.err" |
		grep -q "\"webhook_id\": \"$3\""
}

# pushed NAME PORT STORE CONFIG ID: a signed push answered 200 and stored
pushed() {
	local st
	st=$(send "$2" "$5")
	if [ "$st" = 200 ] && stored "$3" "$4" "$5"; then
		pass "$1: a signed push answered 200, in the stream (inbox over the same link)"
	else
		fail "$1: a signed push answered 200, in the stream" \
			"status $st; inbox: $(tail -2 "$T/inbox.err" | tr '\n' ' ')"
	fi
}

servers_start

# ---- TLS
refused "tls:// without nats.ca (the system's CAs)" \
	"checked against the system's CAs; name a private CA in nats.ca" \
	"$TLS_URL" "$T/plain.json"
refused "nats:// to a server that requires TLS" \
	"the servers require TLS: give tls://" "nats://127.0.0.1:$TP" "$T/plain.json"
refused "nats.ca missing" "nats.ca: $T/none.pem: No such file or directory" \
	"$TLS_URL" "$T/ca-missing.json"
refused "nats.ca not a certificate" "nats.ca: $T/junk.pem: no CA certificate loaded" \
	"$TLS_URL" "$T/ca-junk.json"
refused "nats.ca with a nats:// store" "nats.ca is set but the store is nats://" \
	"nats://127.0.0.1:$TP" "$T/ca.json"
# up NAME LOG PORT URL CONFIG: a daemon that must start (the suite ends if not)
up() {
	if ! start_daemon "$2" "$3" --key "$API_KEY=$T/secret" --store "$4" \
		--config "$5"; then
		fail "$1: the daemon starts" "$START_ERR"
		exit 1
	fi
}
up "tls:// with nats.ca" "$T/d-tls.log" "$PT" "$TLS_URL" "$T/ca.json"
DT=$DPID
pushed "tls:// with nats.ca" "$PT" "$TLS_URL" "$T/ca.json" tls-1
rc=0
"$SG" inbox stats --store "$TLS_URL" >/dev/null 2>"$T/inbox-noca.err" || rc=$?
if [ "$rc" = 1 ] && grep -q "nats.ca" "$T/inbox-noca.err"; then
	pass "streamgate inbox over tls:// without the config's nats.ca: exit 1, naming nats.ca"
else
	fail "streamgate inbox over tls:// without nats.ca: exit 1, naming nats.ca" \
		"exit $rc: $(head -2 "$T/inbox-noca.err" | tr '\n' ' ')"
fi

# ---- credentials
refused "no nats.creds, the server wants a user" \
	"the servers want credentials: nats.creds" "$AUTH_URL" "$T/plain.json"
refused "nats.creds of an account the server does not know" \
	"the servers refused the user of nats.creds ($T/jwt/stranger.creds)" \
	"$AUTH_URL" "$T/creds-stranger.json"
refused "nats.creds without its seed" \
	"nats.creds: $T/jwt/broken.creds: no user seed" "$AUTH_URL" "$T/creds-broken.json"
refused "nats.creds missing" "nats.creds: $T/none.creds: No such file or directory" \
	"$AUTH_URL" "$T/creds-missing.json"
refused "nats.creds readable by others" \
	"nats.creds: $T/shared.creds: readable by group or others (mode 0644)" \
	"$AUTH_URL" "$T/creds-shared.json"
up "nats.creds" "$T/d-auth.log" "$PA" "$AUTH_URL" "$T/creds.json"
DA=$DPID
pushed "nats.creds (a JWT user)" "$PA" "$AUTH_URL" "$T/creds.json" auth-1

# ---- both servers restarted: the daemons reconnect by themselves
servers_kill
servers_start
t0=$(date +%s%N)
for d in tls auth; do
	if [ $d = tls ]; then port=$PT; else port=$PA; fi
	st=
	for ((i = 0; i < 40; i++)); do
		st=$(send "$port" "back-$d-$i")
		[ "$st" = 200 ] && break
		sleep 0.25
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	if [ "$st" = 200 ]; then
		pass "$d: the server restarted: 200 again ${ms} ms after, the daemon not restarted"
	else
		fail "$d: the server restarted: 200 again" "last status $st after $ms ms"
	fi
done
kill -0 "$DT" 2>/dev/null && kill -0 "$DA" 2>/dev/null ||
	fail "both daemons still up" "one exited (seccomp?): $(tail -2 "$T/d-tls.log" "$T/d-auth.log" | tr '\n' ' ')"

# ---- the seed is a secret: in no log, no error
seed=$(sed -n '/BEGIN USER NKEY SEED/{n;p;}' "$T/jwt/user.creds")
if [ -n "$seed" ] && ! cat "$T"/d-*.log "$T/stdout" "$T/refused.log" "$T"/inbox*.err 2>/dev/null |
    grep -qF "$seed"; then
	pass "the user's seed is in no log"
else
	fail "the user's seed is in no log" "found (or no seed read: '${seed:0:2}...')"
fi
exit $((nfail > 0))
