#!/usr/bin/env python3
"""tests/daemon/tls_client.py: the TLS cases of test_tls.sh that need a
client program rather than openssl s_client.  Built on client.py (the
signed requests, the response reader, the store queries).

  tls_client.py fp --port P | --pem FILE       SHA-256 of the certificate a
                                               new handshake gets (or of a
                                               PEM file), hex
  tls_client.py keepalive --port P --db DB --api-key K --secret-file F
                                               two signed pushes on one TLS
                                               connection: both 200, both
                                               stored
  tls_client.py swap --port P --db DB --api-key K --secret-file F
                     --pid PID --log FILE [--install SRC:DST]...
                                               one request on a TLS
                                               connection, then the files
                                               installed and SIGHUP, then
                                               another request on the same
                                               connection and a new
                                               handshake; prints JSON
  tls_client.py slow --port P --api-key K --secret-file F --db DB
                     --timeout-ms N
                                               a connection that sends
                                               nothing and one that trickles
                                               a ClientHello are closed
                                               after the handshake timeout,
                                               while a TLS request on
                                               another connection is
                                               answered meanwhile

Lines "PASS: name" or "FAIL: name: why"; exit 1 on any failure.  Only
127.0.0.1; every socket has a timeout, every loop is bounded.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client  # noqa: E402

HOST = client.HOST
failed = 0


def result(name, why=None):
    global failed
    if why is None:
        print("PASS: %s" % name)
    else:
        failed += 1
        print("FAIL: %s: %s" % (name, why))
    sys.stdout.flush()


def tls_context():
    # self-signed test certificates: the fingerprint is the check
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class TLSConn(client.Conn):
    """client.Conn over TLS: the same request and response helpers."""

    def __init__(self, port, timeout=5.0):
        raw = socket.create_connection((HOST, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = tls_context().wrap_socket(raw)
        self.buf = b""
        self.eof = False
        self.reset = False

    def fingerprint(self):
        return hashlib.sha256(self.s.getpeercert(binary_form=True)).hexdigest()


def pem_fingerprint(path):
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def push(conn, a, tag):
    """One signed push on conn; (webhook id, response)."""
    secret = client.read_secret(a.secret_file)
    wid = client.uid(tag)
    conn.send(client.signed(a.api_key, secret, client.push_body(tag),
                            webhook_id=wid))
    return wid, conn.response()


def stored(a, wid):
    return len(client.db_rows(a.db, wid)) == 1


def cmd_fp(a):
    if a.pem:
        print(pem_fingerprint(a.pem))
        return 0
    c = TLSConn(a.port)
    print(c.fingerprint())
    c.close()
    return 0


def cmd_keepalive(a):
    name = "keep-alive: two signed webhooks on one TLS connection"
    c = TLSConn(a.port)
    try:
        got = []
        for i in range(2):
            wid, r = push(c, a, "tls-ka%d" % i)
            got.append((r.status, stored(a, wid), r.header("Connection")))
        ok = all(st == 200 and st_ok and conn != "close"
                 for st, st_ok, conn in got)
        ver = c.s.version()
        alpn = c.s.selected_alpn_protocol()
        result(name + " (200, stored)",
               None if ok else "got (status, stored, Connection) %r" % got)
        result("keep-alive: python ssl negotiated %s with ALPN %s" % (ver, alpn),
               None if alpn == "http/1.1" else "ALPN %r" % alpn)
    except (OSError, client.NoResponse) as e:
        result(name, repr(e))
    finally:
        c.close()
    return 1 if failed else 0


def log_count(path, pattern):
    with open(path, errors="replace") as f:
        return len(re.findall(pattern, f.read()))


def hup(a):
    """SIGHUP, then until the log says the reload was taken or refused."""
    took, refused = r"configuration reloaded", r"keeping the running"
    t0, r0 = log_count(a.log, took), log_count(a.log, refused)
    os.kill(a.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if log_count(a.log, took) > t0:
            return "ok"
        if log_count(a.log, refused) > r0:
            return "refused"
        time.sleep(0.05)
    return "no reload logged"


def cmd_swap(a):
    out = {}
    c = TLSConn(a.port)
    try:
        wid, r = push(c, a, "tls-swap1")
        out["r1"], out["r1_stored"] = r.status, stored(a, wid)
        out["old_conn_fp"] = c.fingerprint()
        for pair in a.install:
            src, dst = pair.split(":", 1)
            shutil.copyfile(src, dst + ".new")
            os.replace(dst + ".new", dst)	# as a renewal tool does
        out["reload"] = hup(a)
        wid, r = push(c, a, "tls-swap2")
        out["r2"], out["r2_stored"] = r.status, stored(a, wid)
        out["r2_conn_fp"] = c.fingerprint()
    except (OSError, client.NoResponse) as e:
        out["error"] = repr(e)
    finally:
        c.close()
    try:
        n = TLSConn(a.port)
        out["new_fp"] = n.fingerprint()
        n.close()
    except OSError as e:
        out["new_error"] = repr(e)
    print(json.dumps(out))
    return 0


def closed_after(sock, limit):
    """Seconds until the peer closes sock (EOF or reset), or None."""
    t0 = time.monotonic()
    sock.settimeout(limit)
    try:
        while True:
            if not sock.recv(4096):
                break
    except ConnectionResetError:
        pass
    except socket.timeout:
        return None
    return time.monotonic() - t0


def hello_bytes():
    """The first bytes of a real ClientHello (from a memory BIO)."""
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls_context().wrap_bio(inc, outg)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outg.read()


def cmd_slow(a):
    limit = a.timeout_ms / 1000.0
    silent = socket.create_connection((HOST, a.port), timeout=5)
    trickle = socket.create_connection((HOST, a.port), timeout=5)
    t0 = time.monotonic()
    hello = hello_bytes()
    # a whole request served on another connection while both wait
    try:
        c = TLSConn(a.port)
        wid, r = push(c, a, "tls-slow")
        c.close()
        why = None if r.status == 200 and stored(a, wid) else repr(r)
        result("slow handshake: a TLS request on another connection is "
               "answered meanwhile", why)
    except (OSError, client.NoResponse) as e:
        result("slow handshake: a TLS request on another connection is "
               "answered meanwhile", repr(e))
    # one byte of the ClientHello every 100 ms: progress does not extend it
    sent, closed = 0, False
    while time.monotonic() - t0 < limit + 1.5 and sent < len(hello):
        try:
            trickle.send(hello[sent:sent + 1])
            sent += 1
        except OSError:
            closed = True
            break
        time.sleep(0.1)
    t_trickle = time.monotonic() - t0 if closed else None
    if t_trickle is None:
        rest = closed_after(trickle, 3)
        t_trickle = None if rest is None else time.monotonic() - t0
    t_silent = closed_after(silent, 3)
    t_silent = None if t_silent is None else time.monotonic() - t0
    for name, t in (("sends nothing", t_silent),
                    ("trickles its ClientHello (1 byte/100 ms)", t_trickle)):
        full = "slow handshake: a client that %s is closed after " \
               "handshake_timeout_ms (%d)" % (name, a.timeout_ms)
        if t is None:
            result(full, "still open after %.1fs" % (limit + 3))
        elif t < limit - 0.05 or t > limit + 1.2:
            result(full, "closed after %.2fs" % t)
        else:
            result(full + ": %.2fs" % t)
    silent.close()
    trickle.close()
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fp")
    f.add_argument("--port", type=int)
    f.add_argument("--pem")
    for name in ("keepalive", "swap", "slow"):
        s = sub.add_parser(name)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--db", required=True)
        s.add_argument("--api-key", required=True)
        s.add_argument("--secret-file", required=True)
        if name == "swap":
            s.add_argument("--pid", type=int, required=True)
            s.add_argument("--log", required=True)
            s.add_argument("--install", action="append", default=[])
        if name == "slow":
            s.add_argument("--timeout-ms", type=int, required=True)
    a = p.parse_args()
    return {"fp": cmd_fp, "keepalive": cmd_keepalive, "swap": cmd_swap,
            "slow": cmd_slow}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
