#!/usr/bin/env python3
"""tests/daemon/hostile.py: clients that do what an attacker on the network
would, against a running streamgated; tests/daemon/test_hostile.sh runs
them.  Each command prints one "PASS: name" or "FAIL: name: why" line per
check (and "# ..." lines that only inform).

  hostile.py rss       --port P --pid PID [--clients 20] [--seconds 10]
                       [--max-mib 64]     clients that pipeline GET /healthz
                                          with a 4 KiB receive buffer and
                                          never read; the daemon's VmRSS
  hostile.py pipeline  --port P [--count 100000]
                                          that many pipelined requests,
                                          read from a second later: every
                                          answer, in order
  hostile.py trickle   --port P --api-key K --secret-file F --db DB
                       --deadline-ms N [--clients 10]
                                          bodies trickled a byte at a time
                                          on every connection slot; each
                                          gets 408 by the deadline, and a
                                          signed push gets in meanwhile
  hostile.py slowbody  --port P --api-key K --secret-file F
                                          one body at 4 bytes/s under the
                                          default 30 s deadline: 408 for
                                          its rate, after the 5 s grace
  hostile.py halfclose --port P --api-key K --secret-file F --db DB
                       [--count 50]       requests followed by the client's
                                          FIN: answered, then closed at once
                                          (nothing left in CLOSE-WAIT)
  hostile.py http      --port P --api-key K --secret-file F --db DB
                                          trailers, transfer codings, the
                                          version, Host, whitespace

Only 127.0.0.1; every socket has a timeout, every loop is bounded.
"""
import argparse
import os
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import (HOST, PUSH, Conn, NoResponse, build_request,  # noqa: E402
                    db_rows, push_body, read_secret, request, sign, signed,
                    uid)

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def result(name, ok, why=""):
    print("PASS: %s" % name if ok else "FAIL: %s: %s" % (name, why),
          flush=True)
    return ok


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def small_socket(port, rcvbuf=4096, timeout=5.0):
    """A connection whose receive buffer (so its TCP window) is small."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((HOST, port))
    return s


def wrap(s):
    """client.Conn over a socket made here."""
    c = Conn.__new__(Conn)
    c.s, c.buf, c.eof, c.reset = s, b"", False, False
    return c


def healthy(port):
    try:
        r = request(port, build_request("GET", "/healthz"), 3)
        return r.status == 200, r
    except (NoResponse, OSError) as e:
        return False, e


def parts(raw):
    """A request's head and body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", body


# ------------------------------------------------------------------- rss

def cmd_rss(a):
    """Clients that send pipelined requests as fast as the daemon takes
    them and never read an answer: before issue 13 every answer piled up
    in the daemon (234 MB from one client); now each connection holds a
    bounded output and its client's window closes."""
    chunk = HEALTHZ * 512
    socks, sent, gone = [], 0, 0
    for _ in range(a.clients):
        s = small_socket(a.port)
        s.setblocking(False)
        socks.append(s)
    base = vmrss_kib(a.pid)
    peak = base
    t0 = time.monotonic()
    next_sample = t0
    while time.monotonic() - t0 < a.seconds and socks:
        _, w, _ = select.select([], socks, [], 0.05)
        for s in w:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                pass
            except OSError:
                socks.remove(s)
                s.close()
                gone += 1
        if time.monotonic() >= next_sample:
            peak = max(peak, vmrss_kib(a.pid))
            next_sample += 0.2
    peak = max(peak, vmrss_kib(a.pid))
    for s in socks:
        s.close()
    print("# rss: %d clients for %.0f s sent %.1f MB; daemon VmRSS %.1f MiB "
          "before, %.1f MiB at most" % (a.clients, a.seconds, sent / 1e6,
                                        base / 1024, peak / 1024), flush=True)
    ok = result("memory: %d clients pipelining and never reading for %.0f s: "
                "VmRSS stays under %d MiB" % (a.clients, a.seconds, a.max_mib),
                peak < a.max_mib * 1024 and gone == 0,
                "VmRSS reached %.1f MiB (%.1f MB sent, %d connections "
                "dropped)" % (peak / 1024, sent / 1e6, gone))
    up, r = healthy(a.port)
    ok &= result("memory: the daemon answers /healthz after them", up, r)
    return 0 if ok else 1


# -------------------------------------------------------------- pipeline

def cmd_pipeline(a):
    """Far more pipelined requests than the output bound, from a client
    with a small window that starts reading only after a second, once the
    daemon has had to stop (its output full, its socket's buffer too):
    every one is answered, in order, so holding the output back never
    loses or stalls a request."""
    reqs = [HEALTHZ if i % 10 else build_request("GET", "/no-such-path")
            for i in range(a.count)]
    s = small_socket(a.port, timeout=30)
    c = wrap(s)
    err = []

    def send():
        try:
            s.sendall(b"".join(reqs))
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send)
    t.start()
    time.sleep(1.0)
    got, why = 0, ""
    t0 = time.monotonic()
    try:
        for i in range(a.count):
            r = c.response(20)
            want = 200 if i % 10 else 404
            if r.status != want:
                why = "answer %d: %r, want %d" % (i, r, want)
                break
            got += 1
    except NoResponse as e:
        why = "after %d answers: %s" % (got, e)
    dt = time.monotonic() - t0
    t.join(25)
    c.close()
    ok = result("backpressure: %d pipelined requests, read from a second "
                "later: every one answered in order" % a.count,
                got == a.count and not err, why or err)
    print("# pipeline: %d answers in %.2f s" % (got, dt), flush=True)
    up, r = healthy(a.port)
    ok &= result("backpressure: the daemon answers /healthz after it", up, r)
    return 0 if ok else 1


# --------------------------------------------------------------- trickle

def trickle_clients(port, head, body, n, step, seconds):
    """n connections that send head, then body a byte each `step` seconds,
    for at most `seconds`.  For each, when it was closed (seconds from its
    connect, None if never) and what the daemon sent."""
    conns = []
    for _ in range(n):
        s = socket.create_connection((HOST, port), 2)
        s.sendall(head + body[:1])
        s.setblocking(False)
        conns.append({"s": s, "t0": time.monotonic(), "off": 1,
                      "got": b"", "closed": None})
    end = time.monotonic() + seconds
    next_byte = time.monotonic() + step
    while time.monotonic() < end:
        live = [c["s"] for c in conns if c["closed"] is None]
        if not live:
            break
        r, _, _ = select.select(live, [], [], 0.02)
        for c in conns:
            if c["s"] not in r:
                continue
            try:
                d = c["s"].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d:
                c["got"] += d
            else:
                c["closed"] = time.monotonic() - c["t0"]
        if time.monotonic() >= next_byte:
            next_byte += step
            for c in conns:
                if c["closed"] is not None or c["off"] >= len(body):
                    continue
                try:
                    c["s"].send(body[c["off"]:c["off"] + 1])
                    c["off"] += 1
                except OSError:
                    pass
    for c in conns:
        c["s"].close()
    return conns


def timed_out(c, reason=None):
    """The daemon answered 408 {"error": ...} (with that reason) and
    closed."""
    head, _, body = c["got"].partition(b"\r\n\r\n")
    ok = head.startswith(b"HTTP/1.1 408 ") and body.startswith(b'{"error":"')
    return ok and (reason is None or reason.encode() in body)


def cmd_trickle(a):
    """Every connection slot held by a body trickled a byte every 0.25 s
    (before issue 13 a body needed only a byte per idle timeout, so they
    held them for good): each is answered 408 and closed by the request
    deadline, and a signed push, refused while they hold every slot, gets
    in once they are gone."""
    secret = read_secret(a.secret_file)
    plain = push_body("trickle")
    head, body = parts(signed(a.api_key, secret, plain,
                              webhook_id=uid("trickle")))
    wid = uid("starved")
    push = signed(a.api_key, secret, push_body("starved"), webhook_id=wid)
    res = {"first": None, "status": None, "at": None}
    deadline = a.deadline_ms / 1000.0

    def pusher():
        time.sleep(0.4)		# every slot taken by then
        t0 = time.monotonic()
        while time.monotonic() - t0 < deadline + 1.5:
            try:
                r = request(a.port, push, 2)
                res["status"], res["at"] = r.status, time.monotonic() - t0
                if res["first"] is None:
                    res["first"] = r.status
                if r.status == 200:
                    return
            except (NoResponse, OSError):
                if res["first"] is None:
                    res["first"] = "refused"
            time.sleep(0.1)
    t = threading.Thread(target=pusher)
    t.start()
    conns = trickle_clients(a.port, head, body, a.clients, 0.25,
                            deadline + 4)
    t.join(deadline + 8)
    closed = [c["closed"] for c in conns if c["closed"] is not None]
    late = [x for x in closed if x > deadline + 1.0]
    print("# trickle: closed after %s s; push first %s, then %s at %s s"
          % (sorted(round(x, 2) for x in closed), res["first"],
             res["status"], res["at"] and round(res["at"], 2)), flush=True)
    ok = result("slow body: %d trickled bodies closed within the %d ms "
                "request deadline" % (a.clients, a.deadline_ms),
                len(closed) == a.clients and not late,
                "%d of %d closed, %d late: %s" % (len(closed), a.clients,
                                                  len(late), closed))
    n408 = sum(timed_out(c, "request timeout") for c in conns)
    ok &= result("slow body: each gets 408 {\"error\":\"request timeout\"}",
                 n408 == a.clients, "%d of %d; e.g. %r" % (
                     n408, a.clients, conns[0]["got"][:120]))
    ok &= result("slow body: a signed push is refused while trickled "
                 "bodies hold every slot", res["first"] == "refused",
                 "first attempt: %s (the tricklers did not hold every "
                 "slot: the test proves nothing)" % res["first"])
    ok &= result("slow body: the push gets 200 and is stored once they "
                 "are closed (by the deadline + 1.5 s)",
                 res["status"] == 200 and
                 len(db_rows(a.db, wid)) == 1,
                 "last attempt %s; rows %d" % (res["status"],
                                               len(db_rows(a.db, wid))))
    return 0 if ok else 1


def cmd_slowbody(a):
    """A body far below the minimum rate, under a deadline far away: it is
    closed for its rate once the grace is over, not at the deadline."""
    secret = read_secret(a.secret_file)
    head, body = parts(signed(a.api_key, secret, push_body("slow"),
                              webhook_id=uid("slow")))
    c = trickle_clients(a.port, head, body, 1, 0.25, 9)[0]
    ok = result("slow body: 4 bytes/s is answered 408 \"body too slow\" "
                "after the 5 s grace, long before the 30 s deadline",
                c["closed"] is not None and 5.0 <= c["closed"] <= 7.0 and
                timed_out(c, "body too slow"),
                "closed after %s s, got %r" % (c["closed"], c["got"][:120]))
    return 0 if ok else 1


# ------------------------------------------------------------- halfclose

def close_wait(port):
    """The sockets on local port `port` in CLOSE-WAIT (state 08)."""
    n = 0
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            w = ln.split()
            if int(w[1].rsplit(":", 1)[1], 16) == port and w[3] == "08":
                n += 1
    return n


def read_to_eof(socks, timeout):
    """All each peer sends until it closes, for at most timeout in all:
    [(bytes, closed in time)] in the order of socks."""
    got = {s: b"" for s in socks}
    live = list(socks)
    closed = set()
    end = time.monotonic() + timeout
    while live and time.monotonic() < end:
        r, _, _ = select.select(live, [], [], end - time.monotonic())
        for s in r:
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if d:
                got[s] += d
            else:
                closed.add(s)
                live.remove(s)
    return [(got[s], s in closed) for s in socks]


def cmd_halfclose(a):
    """The client shuts its side right after its request (the FIN often
    comes with the data): before issue 13 a short read was taken for a
    drained socket and the FIN went unread, so the socket sat in
    CLOSE-WAIT until the idle timeout."""
    socks = []
    for _ in range(a.count):
        s = socket.create_connection((HOST, a.port), 2)
        s.sendall(HEALTHZ)
        s.shutdown(socket.SHUT_WR)
        socks.append(s)
    done, answered = 0, 0
    for got, closed in read_to_eof(socks, 1.0):
        answered += got.startswith(b"HTTP/1.1 200 ")
        done += closed
    time.sleep(0.2)
    cw = close_wait(a.port)
    for s in socks:
        s.close()
    ok = result("half-close: %d requests each followed by the client's FIN "
                "are answered, then closed at once" % a.count,
                answered == a.count and done == a.count,
                "%d answered, %d closed within 1 s" % (answered, done))
    ok &= result("half-close: no socket left in CLOSE-WAIT", cw == 0,
                 "%d in CLOSE-WAIT on port %d" % (cw, a.port))

    # an idle connection's FIN
    s = socket.create_connection((HOST, a.port), 2)
    time.sleep(0.2)
    s.shutdown(socket.SHUT_WR)
    got, closed = read_to_eof([s], 0.5)[0]
    s.close()
    ok &= result("half-close: an idle connection's FIN closes it at once",
                 closed and not got, "closed %s, got %r" % (closed, got[:80]))

    # a push that waits for the store is still answered after the FIN
    secret = read_secret(a.secret_file)
    wid = uid("halfclose")
    s = socket.create_connection((HOST, a.port), 2)
    s.sendall(signed(a.api_key, secret, push_body("half"), webhook_id=wid))
    s.shutdown(socket.SHUT_WR)
    got, closed = read_to_eof([s], 3.0)[0]
    s.close()
    ok &= result("half-close: a push sent with the FIN is stored, answered "
                 "200, then closed", got.startswith(b"HTTP/1.1 200 ") and
                 b'"stored"' in got and closed and
                 len(db_rows(a.db, wid)) == 1,
                 "got %r, closed %s, rows %d" % (got[:100], closed,
                                                 len(db_rows(a.db, wid))))
    return 0 if ok else 1


# ------------------------------------------------------------------ http

def exchange(port, raw, timeout=3.0):
    """Send raw bytes; the answer and whether the daemon closed after it."""
    c = Conn(port)
    try:
        c.try_send(raw)
        r = c.response(timeout)
        closed = c.closed_by_peer(1.0) is True if r.header(
            "Connection") == "close" else None
        return r, closed
    finally:
        c.close()


def chunked(body, size=64):
    out = b""
    for i in range(0, len(body), size):
        out += b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
    return out


def is_error(r, status):
    j = r.json()
    return (r.status == status and isinstance(j, dict) and list(j) == ["error"]
            and isinstance(j["error"], str))


def cmd_http(a):
    secret = read_secret(a.secret_file)
    ok = True

    def check(name, f):
        nonlocal ok
        try:
            good, why = f()
        except (NoResponse, OSError) as e:
            good, why = False, "no answer: %s" % e
        ok &= result("http: " + name, good, why)

    def trailer_only():
        plain, wid = push_body("trailer"), uid("trailer")
        head = ("POST %s HTTP/1.1\r\nHost: x\r\nX-Api-Key: %s\r\n"
                "X-Webhook-Attempt: 1\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n" % (PUSH, a.api_key))
        raw = (head.encode() + chunked(plain) + b"0\r\nX-Signature: %s\r\n"
               b"X-Webhook-Id: %s\r\n\r\n" % (sign(secret, plain).encode(),
                                              wid.encode()))
        r, _ = exchange(a.port, raw)
        rows = db_rows(a.db, wid)
        return (is_error(r, 401) and not rows,
                "got %r, %d row(s) for the trailer's id" % (r, len(rows)))
    check("X-Signature and X-Webhook-Id only in a trailer are not used "
          "(401, not stored)", trailer_only)

    def trailer_other():
        plain, wid, other = push_body("trailer2"), uid("head"), uid("trail")
        head, _ = parts(signed(a.api_key, secret, plain, webhook_id=wid,
                               chunked=True))
        raw = (head + chunked(plain) + b"0\r\nX-Webhook-Id: %s\r\n"
               b"X-Signature: %s\r\n\r\n" % (other.encode(), b"00" * 32))
        r, _ = exchange(a.port, raw)
        return (r.status == 200 and len(db_rows(a.db, wid)) == 1 and
                not db_rows(a.db, other),
                "got %r; rows: head's id %d, trailer's id %d" % (
                    r, len(db_rows(a.db, wid)), len(db_rows(a.db, other))))
    check("a trailer never overrides the head's id or signature",
          trailer_other)

    def gzip_chunked():
        plain = push_body("te")
        head, _ = parts(signed(a.api_key, secret, plain, webhook_id=uid("te"),
                               chunked=True))
        head = head.replace(b"Transfer-Encoding: chunked",
                            b"Transfer-Encoding: gzip, chunked")
        r, closed = exchange(a.port, head + chunked(plain) + b"0\r\n\r\n")
        return is_error(r, 501) and closed, "got %r, closed %s" % (r, closed)
    check("Transfer-Encoding: gzip, chunked is 501 and the connection "
          "closed", gzip_chunked)

    def http2():
        r, closed = exchange(a.port,
                             b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")
        return is_error(r, 505) and closed, "got %r, closed %s" % (r, closed)
    check("an HTTP/2.0 request line is 505", http2)

    def no_host():
        wid = uid("nohost")
        raw = signed(a.api_key, secret, push_body("nohost"), webhook_id=wid)
        raw = raw.replace(b"Host: 127.0.0.1\r\n", b"")
        r, closed = exchange(a.port, raw)
        r2, _ = exchange(a.port, b"GET /healthz HTTP/1.1\r\n\r\n")
        return (is_error(r, 400) and closed and is_error(r2, 400) and
                not db_rows(a.db, wid),
                "push %r (closed %s), GET %r" % (r, closed, r2))
    check("HTTP/1.1 without Host is 400, not stored", no_host)

    def http10():
        r, _ = exchange(a.port, b"GET /healthz HTTP/1.0\r\n\r\n")
        return r.status == 200, "got %r" % r
    check("HTTP/1.0 without Host is still served", http10)

    def ows():
        plain, wid = push_body("ows"), uid("ows")
        raw = signed(a.api_key, secret, plain, webhook_id=wid)
        raw = raw.replace(("X-Api-Key: %s\r\n" % a.api_key).encode(),
                          ("X-Api-Key: %s \t\r\n" % a.api_key).encode())
        raw = raw.replace(("X-Webhook-Id: %s\r\n" % wid).encode(),
                          ("X-Webhook-Id:\t%s  \r\n" % wid).encode())
        r, _ = exchange(a.port, raw)
        return (r.status == 200 and len(db_rows(a.db, wid)) == 1,
                "got %r, rows %d" % (r, len(db_rows(a.db, wid))))
    check("whitespace around X-Api-Key and X-Webhook-Id is cut "
          "(\"X-Api-Key: k1 \" is k1)", ows)
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)

    def cmd(name, *extra):
        s = sub.add_parser(name)
        s.add_argument("--port", type=int, required=True)
        for e in extra:
            s.add_argument(e, required=True)
        return s
    s = cmd("rss")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--clients", type=int, default=20)
    s.add_argument("--seconds", type=float, default=10)
    s.add_argument("--max-mib", type=int, default=64)
    s = cmd("pipeline")
    s.add_argument("--count", type=int, default=100000)
    s = cmd("trickle", "--api-key", "--secret-file", "--db")
    s.add_argument("--deadline-ms", type=int, required=True)
    s.add_argument("--clients", type=int, default=10)
    cmd("slowbody", "--api-key", "--secret-file")
    s = cmd("halfclose", "--api-key", "--secret-file", "--db")
    s.add_argument("--count", type=int, default=50)
    cmd("http", "--api-key", "--secret-file", "--db")
    a = p.parse_args()
    return {"rss": cmd_rss, "pipeline": cmd_pipeline, "trickle": cmd_trickle,
            "slowbody": cmd_slowbody, "halfclose": cmd_halfclose,
            "http": cmd_http}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
