#!/usr/bin/env bash
# streamgated over TLS, on 127.0.0.1 only: protocol versions and ALPN with
# openssl s_client, a refused TLS 1.1 and h2-only client, signed webhooks
# with keep-alive (tls_client.py, Python's ssl), session resumption for
# TLS 1.2 and 1.3 (also across a certificate renewal), a certificate swap
# by SIGHUP under an open connection, a bad key refused on SIGHUP, bad
# files refused at start naming the file, the handshake timeout, and a
# plaintext listener beside the TLS one.  Certificates are made here, in
# the scratch directory, and live two days.
SUITE_SECONDS=${SUITE_SECONDS:-55}
. "$(dirname "$0")/lib.sh"
need_built "${SGD[0]}" openssl
TLSC=(timeout 30 python3 tests/daemon/tls_client.py)

umask 077
API_KEY=k-tls-5d1e
printf 'TlsS3cr3tVV8080doNotLog\n' >"$T/secret"
KEYS=(--key "$API_KEY=$T/secret")
HS_MS=500

# mkcert NAME: $T/NAME.crt and $T/NAME.key, self-signed, P-256
mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=streamgate-test-$1" -days 2 \
		-keyout "$T/$1.key" -out "$T/$1.crt" 2>"$T/mkcert.err" ||
		{ echo "FAIL: openssl req: $(cat "$T/mkcert.err")"; exit 1; }
}
mkcert a
mkcert b
mkcert c
cp "$T/a.crt" "$T/live.crt"
cp "$T/a.key" "$T/live.key"
FP_A=$("${TLSC[@]}" fp --pem "$T/a.crt")
FP_B=$("${TLSC[@]}" fp --pem "$T/b.crt")

# s_client VERSION-FLAG [ARGS...]: one handshake, everything it printed.
# The input stays open a moment so a TLS 1.3 ticket is read too.
s_client() {
	local v=$1; shift
	{ sleep 0.3; printf 'GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'; sleep 0.2; } |
		timeout 5 openssl s_client -connect "127.0.0.1:$TPORT" "$v" "$@" 2>&1
}

# ---- start: a bad certificate or key is fatal and names the file
# start_err NAME WANT ARGS...: the daemon exits non-zero, stderr has WANT
start_err() {
	local name=$1 want=$2 rc=0 port
	shift 2
	port=$(free_port)
	timeout 5 "${SGD[@]}" --listen "127.0.0.1:$port" "$@" "${KEYS[@]}" \
		--store "sqlite:$T/start.db" >/dev/null 2>"$T/start.err" || rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qF -- "$want" "$T/start.err"; then
		pass "start: $name is fatal, naming the file"
	else
		fail "start: $name is fatal, naming the file" \
			"exit $rc (124: still running), stderr: $(head -c 300 "$T/start.err" | tr '\n' ' ')"
	fi
}
start_err "a missing key" "$T/none.key: No such file or directory" \
	--tls-cert "$T/a.crt" --tls-key "$T/none.key"
start_err "a key that does not match the certificate" \
	"$T/c.key: does not match the certificate $T/a.crt" \
	--tls-cert "$T/a.crt" --tls-key "$T/c.key"
printf 'not a certificate\n' >"$T/junk.crt"
start_err "a file that is no certificate" "$T/junk.crt: no PEM certificate" \
	--tls-cert "$T/junk.crt" --tls-key "$T/a.key"

# ---- one daemon: plaintext on PORT, TLS on TPORT, one worker (a slow
# ---- handshake must not hold it), a short handshake timeout
PORT=$(free_port)
TPORT=$(free_port)
DB=$T/events.db
LOG=$T/tls.err
printf '{"workers": 1, "limits": {"handshake_timeout_ms": %d}}\n' "$HS_MS" >"$T/conf.json"
if ! start_daemon "$LOG" "$PORT" --config "$T/conf.json" \
	--listen "127.0.0.1:$TPORT" --tls-cert "$T/live.crt" --tls-key "$T/live.key" \
	"${KEYS[@]}" --store "sqlite:$DB"; then
	fail "startup: daemon with a TLS listener answers /healthz" "$START_ERR"
	exit 1
fi
MAIN=$DPID
pass "startup: daemon with a TLS listener answers /healthz (plaintext listener)"

# ---- versions and ALPN
for v in 1_2 1_3; do
	out=$(s_client "-tls$v" -alpn http/1.1)
	proto=TLSv${v/_/.}
	if grep -q "^New, $proto, Cipher is" <<<"$out" &&
		grep -q '^ALPN protocol: http/1.1' <<<"$out" &&
		grep -q '^HTTP/1.1 200' <<<"$out"; then
		pass "s_client -tls$v: $proto, ALPN http/1.1, GET /healthz 200 ($(grep -o 'Cipher is .*' <<<"$out" | head -1))"
	else
		fail "s_client -tls$v: $proto with ALPN http/1.1" "$(grep -E '^(New|ALPN|HTTP)|error' <<<"$out" | head -4 | tr '\n' ' ')"
	fi
done
# Debian's client refuses 1.1 itself at its default security level: at
# level 0 it sends a TLS 1.1 ClientHello, and the refusal is the server's
# protocol_version alert (70)
out=$(s_client -tls1_1 -cipher 'DEFAULT@SECLEVEL=0')
if grep -q 'alert protocol version' <<<"$out" && ! grep -q '^New, TLSv1.1' <<<"$out"; then
	pass "s_client -tls1_1: refused by the server (alert protocol version)"
else
	fail "s_client -tls1_1: refused by the server" "$(grep -E '^New|alert|error' <<<"$out" | head -3 | tr '\n' ' ')"
fi
out=$(s_client -tls1_2 -cipher 'AES128-SHA256')
if grep -q 'alert handshake failure' <<<"$out" && ! grep -q '^New, TLSv1.2, Cipher is AES' <<<"$out"; then
	pass "s_client -tls1_2 with a non-ECDHE cipher only: refused (handshake failure)"
else
	fail "s_client -tls1_2 with a non-ECDHE cipher only: refused" "$(grep -E '^New|alert|error' <<<"$out" | head -3 | tr '\n' ' ')"
fi
out=$(s_client -tls1_3 -alpn h2)
if grep -q 'alert no application protocol' <<<"$out"; then
	pass "ALPN h2 only: refused (no_application_protocol)"
else
	fail "ALPN h2 only: refused" "$(grep -E '^New|ALPN|alert' <<<"$out" | head -3 | tr '\n' ' ')"
fi
out=$(s_client -tls1_3)
if grep -q '^HTTP/1.1 200' <<<"$out" && grep -q '^No ALPN negotiated' <<<"$out"; then
	pass "no ALPN offered: served HTTP/1.1"
else
	fail "no ALPN offered: served HTTP/1.1" "$(grep -E '^New|ALPN|HTTP|alert' <<<"$out" | head -3 | tr '\n' ' ')"
fi

# ---- signed webhooks over TLS with keep-alive; the plaintext listener
"${TLSC[@]}" keepalive --port "$TPORT" --db "$DB" --api-key "$API_KEY" \
	--secret-file "$T/secret" >"$T/ka" 2>&1
cat "$T/ka"
nfail=$((nfail + $(grep -c '^FAIL:' "$T/ka")))
grep -q '^PASS:' "$T/ka" || fail "keep-alive over TLS" "$(tail -3 "$T/ka" | tr '\n' ' ')"
st=$("${CLIENT[@]}" send --port "$PORT" --api-key "$API_KEY" --secret-file "$T/secret" 2>&1 | head -1)
if [ "$st" = 200 ]; then
	pass "plaintext listener beside the TLS one: signed push 200"
else
	fail "plaintext listener beside the TLS one: signed push 200" "got $st"
fi

# ---- Expect: 100-continue over TLS: the interim answer goes out through
# ---- TLS before the body comes, then the body is read; a 401 at once
python3 - "$TPORT" "$API_KEY" "$T/secret" >"$T/expect" 2>&1 <<'EOF'
import socket, ssl, sys, time
sys.path.insert(0, "tests/daemon")
import client
port, key, secret = int(sys.argv[1]), sys.argv[2], client.read_secret(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE

def head(k, body, wid):
    return ("POST %s HTTP/1.1\r\nHost: t\r\nX-Webhook-Id: %s\r\n"
            "X-Api-Key: %s\r\nX-Signature: %s\r\nExpect: 100-continue\r\n"
            "Content-Length: %d\r\n\r\n" % (client.PUSH, wid, k,
            client.sign(secret, body), len(body))).encode()

def recv_until(s, end, limit):
    buf, deadline = b"", time.monotonic() + limit
    while end not in buf:
        s.settimeout(max(deadline - time.monotonic(), 0.001))
        d = s.recv(4096)
        if not d:
            break
        buf += d
    return buf

body = client.push_body("tls-expect")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5))
for i in range(2):
    s.sendall(head(key, body, client.uid("tlsexp")))
    try:
        got = recv_until(s, b"\r\n\r\n", 0.2)
    except socket.timeout:
        sys.exit("no 100 Continue within 200 ms over TLS")
    if got != client.CONTINUE:
        sys.exit("want 100 Continue first, got %r" % got[:80])
    s.sendall(body)
    got = recv_until(s, b"}", 5)
    if not got.startswith(b"HTTP/1.1 200") or b'"stored"' not in got:
        sys.exit("after the body: %r" % got[:120])
s.close()
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5))
s.sendall(head("no-such-key", body, client.uid("tlsexp")))
got = recv_until(s, b"}", 2)
if not got.startswith(b"HTTP/1.1 401") or b"Connection: close" not in got:
    sys.exit("unknown key with Expect: %r" % got[:120])
EOF
if [ $? -eq 0 ]; then
	pass "Expect: 100-continue over TLS: 100 within 200 ms, then the body (twice on one connection); a 401 at once"
else
	fail "Expect: 100-continue over TLS" "$(tail -3 "$T/expect" | tr '\n' ' ')"
fi

# ---- session resumption with tickets, TLS 1.2 and 1.3
for v in 1_2 1_3; do
	s_client "-tls$v" -sess_out "$T/sess$v" >"$T/sess$v.first"
	out=$(s_client "-tls$v" -sess_in "$T/sess$v")
	if grep -q "^Reused, TLSv${v/_/.}" <<<"$out"; then
		pass "resumption TLS ${v/_/.}: -sess_out then -sess_in: Reused"
	else
		fail "resumption TLS ${v/_/.}: -sess_out then -sess_in: Reused" \
			"first: $(grep -E '^(New|Reused)' "$T/sess$v.first" | head -1); then: $(grep -E '^(New|Reused)|error' <<<"$out" | head -2 | tr '\n' ' ')"
	fi
done
# a TLS 1.3 client uses a ticket once: a resumed connection must bring the
# next one, or a client that reconnects resumes only every other time
s_client -tls1_3 -sess_in "$T/sess1_3" -sess_out "$T/sess1_3b" >/dev/null
out=$(s_client -tls1_3 -sess_in "$T/sess1_3b")
if grep -q '^Reused, TLSv1.3' <<<"$out"; then
	pass "resumption TLS 1.3: a resumed connection brings a new ticket, resumed in turn"
else
	fail "resumption TLS 1.3: a resumed connection brings a new ticket" "$(grep -E '^(New|Reused)|error' <<<"$out" | head -2 | tr '\n' ' ')"
fi

# ---- certificate renewal by SIGHUP while a TLS connection stays open
"${TLSC[@]}" swap --port "$TPORT" --db "$DB" --api-key "$API_KEY" \
	--secret-file "$T/secret" --pid "$MAIN" --log "$LOG" \
	--install "$T/b.crt:$T/live.crt" --install "$T/b.key:$T/live.key" >"$T/swap" 2>&1
swap=$(tail -1 "$T/swap")
jget() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$swap" "$1" 2>/dev/null; }
if [ "$(jget reload)" = ok ] && [ "$(jget r1)" = 200 ] && [ "$(jget old_conn_fp)" = "$FP_A" ]; then
	pass "swap: SIGHUP with a new certificate is taken (connection opened on the old one)"
else
	fail "swap: SIGHUP with a new certificate is taken" "$swap $(tail -3 "$LOG" | tr '\n' ' ')"
fi
if [ "$(jget r2)" = 200 ] && [ "$(jget r2_stored)" = True ] && [ "$(jget r2_conn_fp)" = "$FP_A" ]; then
	pass "swap: the connection opened before the reload answers another request 200 (old certificate)"
else
	fail "swap: the open connection keeps working" "$swap"
fi
if [ "$(jget new_fp)" = "$FP_B" ]; then
	pass "swap: a new handshake gets the new certificate (fingerprint)"
else
	fail "swap: a new handshake gets the new certificate" "want $FP_B: $swap"
fi
for v in 1_2 1_3; do
	out=$(s_client "-tls$v" -sess_in "$T/sess$v")
	if grep -q "^Reused, TLSv${v/_/.}" <<<"$out"; then
		pass "resumption TLS ${v/_/.} still works after the certificate renewal"
	else
		fail "resumption TLS ${v/_/.} after the certificate renewal" "$(grep -E '^(New|Reused)|error' <<<"$out" | head -2 | tr '\n' ' ')"
	fi
done

# ---- a bad key on SIGHUP: refused, saying why; the old certificate stays
# hup_bad NAME WANT: the live files are set up by the caller
hup_bad() {
	local name=$1 want=$2 fp
	"${TLSC[@]}" swap --port "$TPORT" --db "$DB" --api-key "$API_KEY" \
		--secret-file "$T/secret" --pid "$MAIN" --log "$LOG" >"$T/swapbad" 2>&1
	swap=$(tail -1 "$T/swapbad")
	fp=$(jget new_fp)
	if [ "$(jget reload)" = refused ] && grep -qF -- "$want" "$LOG" &&
		[ "$fp" = "$FP_B" ] && [ "$(jget r2)" = 200 ]; then
		pass "SIGHUP with $name: refused, the log says why; new handshakes keep the running certificate"
	else
		fail "SIGHUP with $name: refused" "$swap; log: $(grep -F 'SIGHUP' "$LOG" | tail -2 | tr '\n' ' ')"
	fi
}
cp "$T/c.key" "$T/live.key"
hup_bad "a key that does not match the certificate" \
	"SIGHUP: tls: $T/live.key: does not match the certificate $T/live.crt; keeping the running configuration"
rm -f "$T/live.key"
hup_bad "a missing key" "SIGHUP: tls: $T/live.key: No such file or directory"
cp "$T/b.key" "$T/live.key"
chmod 0644 "$T/live.key"
hup_bad "a key readable by others" "live.key: private key readable or writable by others"
chmod 0600 "$T/live.key"

# ---- the handshake timeout, with one worker
"${TLSC[@]}" slow --port "$TPORT" --db "$DB" --api-key "$API_KEY" \
	--secret-file "$T/secret" --timeout-ms "$HS_MS" >"$T/slow" 2>&1
cat "$T/slow"
nfail=$((nfail + $(grep -c '^FAIL:' "$T/slow")))
grep -q '^PASS:' "$T/slow" || fail "slow handshake" "$(tail -3 "$T/slow" | tr '\n' ' ')"

# ---- the log: never key material
if grep -qF "$(sed -n 2p "$T/b.key")" "$LOG" || grep -q 'PRIVATE KEY' "$LOG"; then
	fail "log holds no private key material" "it does"
else
	pass "log holds no private key material"
fi

# ---- SIGTERM with a TLS connection open: exit 0
exec 9<>/dev/tcp/127.0.0.1/"$TPORT"
kill -TERM "$MAIN"
wait_exit "$MAIN" 10
exec 9>&-
if [ "$RC" = 0 ]; then
	pass "SIGTERM with a connection in its TLS handshake: exit 0"
else
	fail "SIGTERM with a connection in its TLS handshake: exit 0" "exit $RC: $(tail -3 "$LOG" | tr '\n' ' ')"
fi

echo "test_tls: $nfail failure(s) in ${SECONDS}s"
[ "$nfail" -eq 0 ]
