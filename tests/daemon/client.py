#!/usr/bin/env python3
"""tests/daemon/client.py: signed Stream webhook requests to streamgated,
and what it stored (SQLite, Redis).

A library (Conn, build_request, webhook_headers, sign, Redis) and a command
line:

  client.py waitup  --port P [--timeout S]          until GET /healthz is 200
  client.py send    --port P --api-key K --secret-file F [--path P]
                    [--id ID] [--attempt N] [--gzip] [--body FILE]
                                                    one signed request; prints
                                                    the status and the body
  client.py cases   --port P --db DB --api-key K --secret-file F
                    --rotated-secret-file F2 --other-key K2
                    --other-secret-file F3 [NAME...]
                                                    the request cases; one
                                                    "PASS: name" or "FAIL:
                                                    name: why" line each
  client.py load    --port P --api-key K --secret-file F --count N
                    --acked OUT [--kill-pid PID --kill-after N --signal S]
                                                    distinct webhooks from
                                                    a few threads; the ids
                                                    answered 200 go to OUT
  client.py dbcheck --db DB --acked FILE --name NAME [--port P ...]
                                                    every acked id stored
                                                    exactly once (and, with
                                                    --port, answered as a
                                                    duplicate when resent)
  client.py ping    --redis P [--timeout S]         until Redis answers PING
  client.py burst   --ports P1,P2 --copies N --api-key K
                    --secret-file F --id ID --body FILE
                                                    N copies of one signed
                                                    webhook to each port, all
                                                    at once; prints the
                                                    statuses as JSON
  client.py hooks   --port P --api-key K --secret-file F --record REC
                    --app-port P [--rewrite T] [--bms-ms N] [--cmd-ms N]
                                                    hooks through an
                                                    upstream without a path
                                                    (app.py --rewrite T):
                                                    targets, deadlines
  client.py hookstore --port P --api-key K --secret-file F --record REC
                                                    the store down: hooks
                                                    200 unchanged, push 503
  client.py entries --redis P --id ID [--body FILE] [--prefix streamgate]
                                                    how many stream entries
                                                    hold that webhook id; with
                                                    --body, exit 1 unless
                                                    every one's body is
                                                    exactly FILE's bytes

Only 127.0.0.1.  Every socket has a timeout; every loop is bounded.  Redis
is spoken with a minimal RESP2 client, so no Redis module is needed.
"""
import argparse
import gzip
import hashlib
import hmac
import json
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import uuid

HOST = "127.0.0.1"
PUSH = "/webhooks/stream/push"
BMS = "/webhooks/stream/before-message-send"
CMD = "/webhooks/stream/custom-commands"
MIB = 1024 * 1024


# ---------------------------------------------------------------- requests

def read_secret(path):
    """The first line of a secret file, surrounding whitespace trimmed."""
    with open(path, "rb") as f:
        return f.read().split(b"\n", 1)[0].strip()


def sign(secret, body, upper=False):
    h = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return h.upper() if upper else h


def webhook_headers(api_key, secret, plain, webhook_id=None, attempt=1,
                    signature=None, upper=False):
    """Stream's headers for a body whose uncompressed bytes are `plain`.
    signature: None to compute it, False to leave it out, else verbatim."""
    h = []
    if webhook_id is not None:
        h.append(("X-Webhook-Id", webhook_id))
    if attempt is not None:
        h.append(("X-Webhook-Attempt", str(attempt)))
    if api_key is not None:
        h.append(("X-Api-Key", api_key))
    if signature is None:
        signature = sign(secret, plain, upper)
    if signature is not False:
        h.append(("X-Signature", signature))
    return h


def build_request(method, path, body=b"", headers=(), chunked=False,
                  chunk_size=7, content_length=True):
    """Raw HTTP/1.1 request bytes."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body or method == "POST":
        lines.append("Content-Type: application/json")
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif content_length:
            lines.append("Content-Length: %d" % len(body))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if not chunked:
        return head + body
    out = [head]
    for i in range(0, len(body), chunk_size):
        piece = body[i:i + chunk_size]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def signed(api_key, secret, plain, path=PUSH, webhook_id=None, attempt=1,
           gz=False, ce_header=None, upper=False, signature=None,
           chunked=False, chunk_size=7, extra=()):
    """A signed webhook request; gz sends the body gzip'd (the signature
    still covers `plain`), ce_header adds Content-Encoding: gzip."""
    body = gzip.compress(plain) if gz else plain
    h = webhook_headers(api_key, secret, plain, webhook_id, attempt,
                        signature, upper)
    if ce_header:
        h.append(("Content-Encoding", "gzip"))
    h.extend(extra)
    return build_request("POST", path, body, h, chunked=chunked,
                         chunk_size=chunk_size)


class NoResponse(Exception):
    pass


class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason = status, reason
        self.headers, self.body = headers, body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        b = self.body[:200].decode("utf-8", "replace")
        return "%d %s" % (self.status, b)


class Conn:
    """One client connection with its own receive buffer."""

    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection((HOST, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.reset = False

    def send(self, data):
        self.s.sendall(data)

    def try_send(self, data):
        """Send, tolerating the peer having closed (it may answer early)."""
        try:
            self.s.sendall(data)
            return True
        except OSError:
            return False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.s.settimeout(left)
        try:
            d = self.s.recv(65536)
        except ConnectionResetError:
            self.reset = True
            return False
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def response(self, timeout=5.0):
        """The next response; NoResponse if the peer closed or timed out."""
        deadline = time.monotonic() + timeout
        try:
            while b"\r\n\r\n" not in self.buf:
                if len(self.buf) > 65536 or not self._fill(deadline):
                    raise NoResponse("connection %s before a response%s" % (
                        "reset" if self.reset else "closed",
                        " (partial: %r)" % self.buf[:80] if self.buf else ""))
            head, rest = self.buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
                raise NoResponse("bad status line %r" % lines[0])
            status = int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = []
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                headers.append((k.strip(), v.strip()))
            r = Response(status, reason, headers, b"")
            self.buf = rest
            te = (r.header("Transfer-Encoding") or "").lower()
            cl = r.header("Content-Length")
            if "chunked" in te:
                r.body = self._chunked(deadline)
            elif cl is not None:
                n = int(cl)
                while len(self.buf) < n:
                    if not self._fill(deadline):
                        raise NoResponse("closed in a response body")
                r.body, self.buf = self.buf[:n], self.buf[n:]
            else:
                while self._fill(deadline):
                    pass
                r.body, self.buf = self.buf, b""
            return r
        except socket.timeout:
            raise NoResponse("no response within %.1fs" % timeout)

    def _chunked(self, deadline):
        body = b""
        for _ in range(100000):
            while b"\r\n" not in self.buf:
                if not self._fill(deadline):
                    raise NoResponse("closed in a chunked response")
            line, self.buf = self.buf.split(b"\r\n", 1)
            n = int(line.split(b";")[0], 16)
            while len(self.buf) < n + 2:
                if not self._fill(deadline):
                    raise NoResponse("closed in a chunk")
            if n == 0:
                # trailers: assume none
                self.buf = self.buf[2:]
                return body
            body += self.buf[:n]
            self.buf = self.buf[n + 2:]
        raise NoResponse("too many chunks")

    def closed_by_peer(self, timeout=2.0):
        """True when the peer closes (EOF or reset) within timeout with no
        further bytes; a string describing what happened otherwise."""
        if self.eof or self.reset:
            return True if not self.buf else "extra bytes %r" % self.buf[:80]
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except socket.timeout:
            return "still open %.1fs after the response" % timeout
        if self.buf:
            return "extra bytes before close: %r" % self.buf[:80]
        return True

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def request(port, data, timeout=5.0):
    c = Conn(port, timeout)
    try:
        c.send(data)
        return c.response(timeout)
    finally:
        c.close()


def wait_until(probe, timeout, errors):
    """Call probe() every 50 ms until it returns True, for at most timeout
    seconds; an exception in errors counts as a no.  (True, None), or
    (False, the last no: what probe returned or raised)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            r = probe()
            if r is True:
                return True, None
            last = r
        except errors as e:
            last = e
        time.sleep(0.05)
    return False, last


# ------------------------------------------------------------------ store

def records(path):
    """The JSON lines an app stand-in recorded (app.py, tests/sdk/app.js);
    a line being written, or no file yet, is not there yet."""
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for ln in f:
                try:
                    out.append(json.loads(ln))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


def db_rows(db, webhook_id):
    con = sqlite3.connect(db, timeout=5)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(
            "SELECT * FROM events WHERE webhook_id = ?", (webhook_id,))]
    finally:
        con.close()


def db_counts(db, ids):
    """{webhook_id: number of rows} for every stored id in ids."""
    con = sqlite3.connect(db, timeout=5)
    try:
        out = {}
        for wid, n in con.execute(
                "SELECT webhook_id, count(*) FROM events GROUP BY webhook_id"):
            out[wid] = n
        return {i: out.get(i, 0) for i in ids}
    finally:
        con.close()


class RedisError(Exception):
    pass


class Redis:
    """One RESP2 connection."""

    def __init__(self, port, timeout=2.0):
        self.s = socket.create_connection((HOST, port), timeout=timeout)
        self.f = self.s.makefile("rb")

    def close(self):
        self.f.close()
        self.s.close()

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self._reply()

    def _line(self):
        ln = self.f.readline()
        if not ln.endswith(b"\r\n"):
            raise RedisError("connection closed")
        return ln[:-2]

    def _reply(self):
        ln = self._line()
        t, rest = ln[:1], ln[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError("bad reply %r" % ln[:40])


# ------------------------------------------------------------------ cases

class Fail(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def uid(tag):
    return "%s-%s" % (tag, uuid.uuid4().hex[:12])


def push_body(tag, marker="", etype="message.new"):
    return json.dumps({
        "type": etype, "created_at": "2024-01-01T00:00:00Z",
        "message": {"id": uid("m"), "text": "hello %s%s" % (tag, marker)},
        "user": {"id": "jane"}}, separators=(",", ":")).encode()


def describe(req_desc, want, r):
    return "%s: expected %s, got %r" % (req_desc, want, r)


def expect_error(r, status, what):
    """status, and the body is {"error": "<short reason>"}."""
    expect(r.status == status, describe(what, status, r))
    j = r.json()
    expect(isinstance(j, dict) and list(j) == ["error"] and
           isinstance(j["error"], str) and 0 < len(j["error"]) <= 200,
           '%s: body should be {"error":"<short reason>"}, got %r'
           % (what, r.body[:200]))


def expect_stored(r, what):
    j = r.json()
    expect(r.status == 200 and isinstance(j, dict) and
           j.get("status") == "stored" and isinstance(j.get("seq"), int),
           describe(what, '200 {"status":"stored","seq":N}', r))
    return j["seq"]


def expect_duplicate(r, what):
    expect(r.status == 200 and r.json() == {"status": "duplicate"},
           describe(what, '200 {"status":"duplicate"}', r))


def expect_not_stored(ctx, wid, what):
    rows = db_rows(ctx.db, wid)
    expect(not rows, "%s: stored anyway (%d row(s))" % (what, len(rows)))


def expect_one_row(ctx, wid, what, **want):
    rows = db_rows(ctx.db, wid)
    expect(len(rows) == 1, "%s: %d rows for id %s, want 1"
           % (what, len(rows), wid))
    row = rows[0]
    for k, v in want.items():
        got = row[k]
        if isinstance(got, memoryview):
            got = bytes(got)
        expect(got == v, "%s: stored %s = %r, want %r"
               % (what, k, got if k != "body" else got[:80],
                  v if k != "body" else v[:80]))
    return row


class Ctx:
    def __init__(self, a):
        self.port = a.port
        self.db = a.db
        self.key = a.api_key
        self.secret = read_secret(a.secret_file)
        self.rotated = read_secret(a.rotated_secret_file)
        self.other_key = a.other_key
        self.other_secret = read_secret(a.other_secret_file)
        self.marker = a.marker

    def push(self, plain, wid, **kw):
        kw.setdefault("api_key", self.key)
        kw.setdefault("secret", self.secret)
        api_key, secret = kw.pop("api_key"), kw.pop("secret")
        return signed(api_key, secret, plain, webhook_id=wid, **kw)


CASES = []


def case(name):
    def reg(f):
        CASES.append((name, f))
        return f
    return reg


@case("healthz: GET /healthz is 200 {\"status\":\"ok\"}")
def c_healthz(ctx):
    r = request(ctx.port, build_request("GET", "/healthz"))
    expect(r.status == 200 and r.json() == {"status": "ok"},
           describe("GET /healthz", '200 {"status":"ok"}', r))


@case("push: stored exactly (body bytes, kind, event_type, api_key, "
      "attempt, received_at)")
def c_push(ctx):
    wid = uid("push")
    plain = push_body("push", ctx.marker, "message.updated")
    t0 = int(time.time() * 1000) - 1
    r = request(ctx.port, ctx.push(plain, wid, attempt=1))
    t1 = int(time.time() * 1000) + 1
    seq = expect_stored(r, "POST push (valid)")
    row = expect_one_row(ctx, wid, "push", body=plain, kind="push",
                         event_type="message.updated", api_key=ctx.key,
                         attempt=1, seq=seq, command=None)
    expect(t0 <= row["received_at"] <= t1,
           "received_at %r not within [%d, %d] unix ms"
           % (row["received_at"], t0, t1))


@case("push: bad signature is 401 and nothing stored")
def c_badsig(ctx):
    wid = uid("badsig")
    plain = push_body("badsig")
    r = request(ctx.port, ctx.push(plain, wid, signature=sign(b"wrong", plain)))
    expect_error(r, 401, "POST push, signature by another secret")
    expect_not_stored(ctx, wid, "bad signature")
    # the right signature over other bytes
    wid2 = uid("badsig")
    r = request(ctx.port, ctx.push(plain, wid2,
                                   signature=sign(ctx.secret, plain + b" ")))
    expect_error(r, 401, "POST push, signature over other bytes")
    expect_not_stored(ctx, wid2, "signature over other bytes")
    wid3 = uid("badsig")
    r = request(ctx.port, ctx.push(plain, wid3, signature="zz" * 32))
    expect_error(r, 401, "POST push, signature not hex")
    expect_not_stored(ctx, wid3, "signature not hex")


@case("push: unknown API key is 401")
def c_unknown_key(ctx):
    wid = uid("unk")
    r = request(ctx.port, ctx.push(push_body("unk"), wid,
                                   api_key="no-such-key"))
    expect_error(r, 401, "POST push with X-Api-Key: no-such-key")
    expect_not_stored(ctx, wid, "unknown key")
    wid = uid("nokey")
    r = request(ctx.port, ctx.push(push_body("unk"), wid, api_key=None))
    expect_error(r, 401, "POST push without X-Api-Key")
    expect_not_stored(ctx, wid, "no key")


@case("push: missing signature is 401")
def c_nosig(ctx):
    wid = uid("nosig")
    r = request(ctx.port, ctx.push(push_body("nosig"), wid, signature=False))
    expect_error(r, 401, "POST push without X-Signature")
    expect_not_stored(ctx, wid, "missing signature")
    r = request(ctx.port, ctx.push(push_body("nosig"), wid, signature=""))
    expect_error(r, 401, "POST push with an empty X-Signature")
    expect_not_stored(ctx, wid, "empty signature")


@case("push: upper-case hex signature accepted")
def c_upper(ctx):
    wid = uid("upper")
    plain = push_body("upper")
    expect_stored(request(ctx.port, ctx.push(plain, wid, upper=True)),
                  "POST push, upper-case hex signature")
    expect_one_row(ctx, wid, "upper", body=plain)


@case("push: rotated secret (second --key for the same API key) verifies")
def c_rotated(ctx):
    wid = uid("rot")
    plain = push_body("rot")
    expect_stored(request(ctx.port, ctx.push(plain, wid, secret=ctx.rotated)),
                  "POST push signed with the second secret of the key")
    expect_one_row(ctx, wid, "rotated", body=plain, api_key=ctx.key)


@case("push: a key's secret does not verify for another key")
def c_crosskey(ctx):
    wid = uid("cross")
    r = request(ctx.port, ctx.push(push_body("cross"), wid,
                                   api_key=ctx.other_key, secret=ctx.secret))
    expect_error(r, 401, "POST push, X-Api-Key %s signed with %s's secret"
                 % (ctx.other_key, ctx.key))
    expect_not_stored(ctx, wid, "cross key")
    wid = uid("other")
    plain = push_body("other")
    expect_stored(request(ctx.port, ctx.push(plain, wid, api_key=ctx.other_key,
                                             secret=ctx.other_secret)),
                  "POST push, %s with its own secret" % ctx.other_key)
    expect_one_row(ctx, wid, "other key", api_key=ctx.other_key)


@case("push: gzip body with Content-Encoding: gzip stored inflated")
def c_gzip_hdr(ctx):
    wid = uid("gzh")
    plain = push_body("gzh", ctx.marker)
    expect_stored(request(ctx.port, ctx.push(plain, wid, gz=True,
                                             ce_header=True)),
                  "POST push, gzip body, Content-Encoding: gzip")
    expect_one_row(ctx, wid, "gzip+header", body=plain)


@case("push: gzip body without Content-Encoding stored inflated")
def c_gzip_nohdr(ctx):
    wid = uid("gzn")
    plain = push_body("gzn", ctx.marker)
    expect_stored(request(ctx.port, ctx.push(plain, wid, gz=True)),
                  "POST push, gzip body, no Content-Encoding")
    expect_one_row(ctx, wid, "gzip no header", body=plain)


@case("push: gzip inflating past 4 MiB is 413")
def c_gzip_bomb(ctx):
    wid = uid("bomb")
    pad = b" " * (4 * MIB + 10)
    plain = b'{"type":"message.new","pad":"' + pad + b'"}'
    r = request(ctx.port, ctx.push(plain, wid, gz=True, ce_header=True),
                timeout=10)
    expect_error(r, 413, "POST push, gzip of %d bytes inflated" % len(plain))
    expect_not_stored(ctx, wid, "gzip bomb")


@case("push: body not JSON is 400")
def c_notjson(ctx):
    wid = uid("nj")
    r = request(ctx.port, ctx.push(b"this is not json", wid))
    expect_error(r, 400, "POST push, signed body 'this is not json'")
    expect_not_stored(ctx, wid, "not json")


@case("push: without a string \"type\" is 400")
def c_notype(ctx):
    for plain in (b'{"message":{"text":"x"}}', b'{"type":5}',
                  b'{"type":null}', b'["type"]'):
        wid = uid("nt")
        r = request(ctx.port, ctx.push(plain, wid))
        expect_error(r, 400, "POST push, signed body %s" % plain.decode())
        expect_not_stored(ctx, wid, "no type %s" % plain.decode())


@case("push: retries (attempts 1..3 of one id) all 200, stored once")
def c_retries(ctx):
    wid = uid("retry")
    plain = push_body("retry")
    got = []
    for attempt in (1, 2, 3):
        got.append(request(ctx.port, ctx.push(plain, wid, attempt=attempt)))
    expect_stored(got[0], "attempt 1")
    expect_duplicate(got[1], "attempt 2 of the same id")
    expect_duplicate(got[2], "attempt 3 of the same id")
    expect_one_row(ctx, wid, "retries", attempt=1, body=plain)


@case("push: 20 concurrent copies of one id: all 200, one row")
def c_concurrent(ctx):
    wid = uid("conc")
    plain = push_body("conc")
    data = ctx.push(plain, wid)
    n = 20
    conns = [Conn(ctx.port) for _ in range(n)]
    results = [None] * n
    barrier = threading.Barrier(n, timeout=10)

    def worker(i):
        try:
            barrier.wait()
            conns[i].send(data)
            results[i] = conns[i].response(10)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(15)
    for c in conns:
        c.close()
    bad = [(i, r) for i, r in enumerate(results)
           if not isinstance(r, Response) or r.status != 200]
    expect(not bad, "%d of 20 not 200: %r" % (len(bad), bad[:3]))
    stored = [r for r in results if r.json().get("status") == "stored"]
    dups = [r for r in results if r.json() == {"status": "duplicate"}]
    expect_one_row(ctx, wid, "concurrent", body=plain)
    expect(len(stored) == 1 and len(dups) == 19,
           "answers: %d stored, %d duplicate, want 1 and 19 (%r)"
           % (len(stored), len(dups), results[:3]))


@case("push: chunked body stored exactly")
def c_chunked(ctx):
    wid = uid("chunk")
    plain = push_body("chunk", ctx.marker)
    expect_stored(request(ctx.port, ctx.push(plain, wid, chunked=True)),
                  "POST push, Transfer-Encoding: chunked, 7-byte chunks")
    expect_one_row(ctx, wid, "chunked", body=plain)


def big_push(size):
    head, tail = b'{"type":"message.new","pad":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@case("limits: a body of exactly 1 MiB is accepted")
def c_1mib(ctx):
    wid = uid("mib")
    plain = big_push(MIB)
    expect_stored(request(ctx.port, ctx.push(plain, wid), timeout=10),
                  "POST push, Content-Length: %d" % MIB)
    expect_one_row(ctx, wid, "1 MiB", body=plain)


def expect_413_big(ctx, chunked):
    wid = uid("big")
    plain = big_push(MIB + 1)
    data = ctx.push(plain, wid, chunked=chunked, chunk_size=4096)
    what = "POST push, %s body of %d bytes" % (
        "chunked" if chunked else "Content-Length", MIB + 1)
    c = Conn(ctx.port, 10)
    try:
        head, body = data.split(b"\r\n\r\n", 1)
        c.send(head + b"\r\n\r\n")
        r = None
        if not chunked:
            try:  # an early answer, on the Content-Length alone
                r = c.response(1.0)
            except NoResponse:
                r = None
        if r is None:
            for i in range(0, len(body), 65536):
                if not c.try_send(body[i:i + 65536]):
                    break
            r = c.response(10)
        expect_error(r, 413, what)
        closed = c.closed_by_peer(3)
        expect(closed is True, "%s: after the 413, %s" % (what, closed))
    except NoResponse as e:
        raise Fail("%s: expected 413, got no response (%s)" % (what, e))
    finally:
        c.close()
    expect_not_stored(ctx, wid, "413")


@case("limits: Content-Length body over 1 MiB is 413")
def c_413(ctx):
    expect_413_big(ctx, False)


@case("limits: chunked body over 1 MiB is 413")
def c_413_chunked(ctx):
    expect_413_big(ctx, True)


@case("limits: headers over 16 KiB are 431")
def c_431(ctx):
    wid = uid("431")
    plain = push_body("431")
    data = ctx.push(plain, wid, extra=[("X-Pad", "p" * (17 * 1024))])
    c = Conn(ctx.port)
    try:
        c.try_send(data)
        r = c.response(5)
        expect_error(r, 431, "POST push with a 17 KiB X-Pad header")
    except NoResponse as e:
        raise Fail("17 KiB header: expected 431, got no response (%s)" % e)
    finally:
        c.close()
    expect_not_stored(ctx, wid, "431")
    # and 15 KiB of headers are fine
    wid = uid("15k")
    r = request(ctx.port, ctx.push(plain, wid,
                                   extra=[("X-Pad", "p" * (15 * 1024))]))
    expect_stored(r, "POST push with a 15 KiB X-Pad header")


def framing_case(name, raw):
    @case("framing: %s is 400 and the connection closed" % name)
    def f(ctx):
        c = Conn(ctx.port)
        try:
            c.try_send(raw(ctx))
            try:
                r = c.response(5)
            except NoResponse as e:
                raise Fail("%s: expected 400, got no response (%s)"
                           % (name, e))
            expect_error(r, 400, name)
            closed = c.closed_by_peer(3)
            expect(closed is True, "%s: after the 400, %s" % (name, closed))
        finally:
            c.close()
    return f


def _raw(lines, body=b""):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_PL = "POST /webhooks/stream/push HTTP/1.1"
framing_case("Content-Length with Transfer-Encoding", lambda ctx: _raw(
    [_PL, "Host: x", "Content-Length: 5", "Transfer-Encoding: chunked"],
    b"0\r\n\r\n"))
framing_case("duplicate Content-Length", lambda ctx: _raw(
    [_PL, "Host: x", "Content-Length: 2", "Content-Length: 2"], b"{}"))
framing_case("bad chunk size", lambda ctx: _raw(
    [_PL, "Host: x", "Transfer-Encoding: chunked"], b"zz\r\n{}\r\n0\r\n\r\n"))
framing_case("chunk without its CRLF", lambda ctx: _raw(
    [_PL, "Host: x", "Transfer-Encoding: chunked"], b"2\r\n{}XX0\r\n\r\n"))
framing_case("bare CR in a header", lambda ctx: _raw(
    [_PL, "Host: x", "X-Webhook-Id: a\rb", "Content-Length: 2"], b"{}"))
framing_case("space before the colon", lambda ctx: _raw(
    [_PL, "Host: x", "Content-Length : 2"], b"{}"))
framing_case("obs-fold continuation line", lambda ctx: _raw(
    [_PL, "Host: x", "X-Webhook-Id: a", " b", "Content-Length: 2"], b"{}"))


@case("http: 3 pipelined requests in one send answered in order")
def c_pipeline(ctx):
    wid = uid("pipe")
    data = (ctx.push(push_body("pipe"), wid) +
            build_request("GET", "/no-such-path") +
            build_request("GET", "/healthz"))
    c = Conn(ctx.port)
    try:
        c.send(data)
        got = []
        for i in range(3):
            try:
                got.append(c.response(5))
            except NoResponse as e:
                raise Fail("response %d of 3: %s (got %r)" % (i + 1, e, got))
    finally:
        c.close()
    expect_stored(got[0], "pipelined 1/3 (push)")
    expect_error(got[1], 404, "pipelined 2/3 (GET /no-such-path)")
    expect(got[2].status == 200 and got[2].json() == {"status": "ok"},
           describe("pipelined 3/3 (GET /healthz)", "200 ok", got[2]))


@case("http: keep-alive, 3 sequential requests on one connection")
def c_keepalive(ctx):
    c = Conn(ctx.port)
    try:
        for i in range(3):
            wid = uid("ka")
            c.send(ctx.push(push_body("ka"), wid))
            try:
                expect_stored(c.response(5), "keep-alive request %d" % (i + 1))
            except NoResponse as e:
                raise Fail("keep-alive request %d: %s" % (i + 1, e))
    finally:
        c.close()


@case("http: 500 idle connections, a new request answered within 2 s")
def c_idle(ctx):
    idle = []
    failed = 0
    t_end = time.monotonic() + 15
    try:
        for _ in range(500):
            if time.monotonic() > t_end:
                break
            try:
                idle.append(socket.create_connection((HOST, ctx.port), 2))
            except OSError:
                failed += 1
        time.sleep(0.2)
        wid = uid("idle")
        t0 = time.monotonic()
        try:
            r = request(ctx.port, ctx.push(push_body("idle"), wid), 2.0)
        except (NoResponse, OSError) as e:
            raise Fail("with %d idle connections open (%d failed to "
                       "connect): %s" % (len(idle), failed, e))
        dt = time.monotonic() - t0
        expect_stored(r, "push beside %d idle connections" % len(idle))
        expect(dt < 2.0, "answered in %.2fs" % dt)
        expect(len(idle) == 500, "only %d of 500 idle connections opened "
               "(%d failed)" % (len(idle), failed))
    finally:
        for s in idle:
            s.close()


@case("before-message-send: 200 {\"message\": <same>}, stored "
      "as before_message_send")
def c_bms(ctx):
    wid = uid("bms")
    msg = {"id": uid("m"), "text": "hi there" + ctx.marker,
           "attachments": [], "mentioned_users": [], "custom": {"n": 1.5}}
    plain = json.dumps({"message": msg, "user": {"id": "jane"},
                        "request_info": {"type": "client"}}).encode()
    r = request(ctx.port, ctx.push(plain, wid, path=BMS))
    expect(r.status == 200 and r.json() == {"message": msg},
           describe("POST before-message-send", '200 {"message": <same>}', r))
    expect_one_row(ctx, wid, "before-message-send",
                   kind="before_message_send", body=plain, api_key=ctx.key)
    r = request(ctx.port, ctx.push(b"not json", uid("bms"), path=BMS))
    expect_error(r, 400, "POST before-message-send, body not JSON")
    r = request(ctx.port, ctx.push(plain, uid("bms"), path=BMS,
                                   signature=sign(b"x", plain)))
    expect_error(r, 401, "POST before-message-send, bad signature")


@case("custom-commands: ?type=giphy answered {\"message\"}, stored "
      "with command giphy")
def c_cmd(ctx):
    wid = uid("cmd")
    msg = {"id": uid("m"), "text": "/giphy cat", "command": "giphy",
           "args": "cat"}
    plain = json.dumps({"message": msg, "user": {"id": "jane"},
                        "form_data": {"action": "shuffle"}}).encode()
    r = request(ctx.port, ctx.push(plain, wid, path=CMD + "?type=giphy"))
    expect(r.status == 200 and r.json() == {"message": msg},
           describe("POST custom-commands?type=giphy",
                    '200 {"message": <same>}', r))
    expect_one_row(ctx, wid, "custom-commands", kind="custom_command",
                   command="giphy", body=plain)


@case("routes: unknown path 404, wrong method 405")
def c_routes(ctx):
    r = request(ctx.port, build_request("GET", "/nope"))
    expect_error(r, 404, "GET /nope")
    wid = uid("404")
    r = request(ctx.port, ctx.push(push_body("404"), wid,
                                   path="/webhooks/stream/pushx"))
    expect_error(r, 404, "POST /webhooks/stream/pushx (signed)")
    r = request(ctx.port, build_request("GET", PUSH))
    expect_error(r, 405, "GET " + PUSH)
    r = request(ctx.port, build_request("POST", "/healthz", b"{}"))
    expect_error(r, 405, "POST /healthz")
    r = request(ctx.port, build_request("PUT", BMS, b"{}"))
    expect_error(r, 405, "PUT " + BMS)


@case("custom-commands: by path /custom-commands/NAME stored with command "
      "NAME; a bad name 400")
def c_cmd_path(ctx):
    plain = json.dumps({"message": {"id": uid("m"), "text": "/ticket x"},
                        "user": {"id": "jane"}}).encode()
    for target, name in ((CMD + "/ticket", "ticket"),
                         (CMD + "/ticket?type=ticket", "ticket"),
                         (CMD + "/my_cmd-2?x=1", "my_cmd-2")):
        wid = uid("cmdp")
        r = request(ctx.port, ctx.push(plain, wid, path=target))
        expect(r.status == 200 and r.json() == {"message": json.loads(
            plain)["message"]}, describe("POST " + target,
                                         '200 {"message": <same>}', r))
        expect_one_row(ctx, wid, target, kind="custom_command", command=name,
                       target=target)
    for target in (CMD + "/Ticket", CMD + "/", CMD + "/a/b",
                   CMD + "/" + "y" * 65, CMD + "?type=",
                   CMD + "?type=GIPHY", CMD + "/ticket?type=giphy"):
        wid = uid("cmdbad")
        r = request(ctx.port, ctx.push(plain, wid, path=target))
        expect_error(r, 400, "POST " + target)
        expect_not_stored(ctx, wid, target)
    r = request(ctx.port, ctx.push(plain, uid("cmd404"), path=CMD + "x/y"))
    expect_error(r, 404, "POST %sx/y" % CMD)


@case("store: the order key (cid, else user.id), the signature in lower "
      "case, the target as received")
def c_stored_fields(ctx):
    for body, key in (
            ({"type": "message.new", "cid": "messaging:o1",
              "user": {"id": "jane"}}, "cid:messaging:o1"),
            ({"type": "user.updated", "user": {"id": "jane"}}, "user:jane"),
            ({"type": "app.event"}, None)):
        wid = uid("ord")
        plain = json.dumps(body).encode()
        target = PUSH + "?tag=%41b&x"
        expect_stored(request(ctx.port, ctx.push(plain, wid, path=target,
                                                 upper=True)),
                      "POST %s %s" % (target, body))
        row = expect_one_row(ctx, wid, "stored fields", target=target,
                             signature=sign(ctx.secret, plain))
        expect(row["order_key"] == key or (key is None and
                                           row["order_key"] in ("", None)),
               "%s: order_key %r, want %r" % (body, row["order_key"], key))


def _expect_head(path, key, secret, plain, wid, version="1.1", chunked=False):
    h = ["POST %s HTTP/%s" % (path, version), "Host: 127.0.0.1",
         "X-Webhook-Id: " + wid, "X-Webhook-Attempt: 1",
         "Expect: 100-continue", "Content-Type: application/json"]
    if key is not None:
        h.append("X-Api-Key: " + key)
    if secret is not None:
        h.append("X-Signature: " + sign(secret, plain))
    h.append("Transfer-Encoding: chunked" if chunked else
             "Content-Length: %d" % len(plain))
    return ("\r\n".join(h) + "\r\n\r\n").encode()


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _wait_continue(c, what, within=0.2):
    """The interim 100, and nothing else, within `within` seconds."""
    t0 = time.monotonic()
    deadline = t0 + within
    try:
        while len(c.buf) < len(CONTINUE):
            if not c._fill(deadline):
                raise Fail("%s: closed before 100 Continue" % what)
    except socket.timeout:
        raise Fail("%s: no 100 Continue within %.0f ms (got %r)"
                   % (what, within * 1000, c.buf[:60]))
    expect(c.buf.startswith(CONTINUE), "%s: want %r first, got %r"
           % (what, CONTINUE, c.buf[:60]))
    c.buf = c.buf[len(CONTINUE):]
    return time.monotonic() - t0


@case("expect: 100 Continue within 200 ms of the headers, then the body "
      "is read and answered; keep-alive goes on")
def c_expect_continue(ctx):
    c = Conn(ctx.port)
    try:
        for i, chunked in enumerate((False, True, False)):
            wid = uid("exp")
            plain = push_body("exp%d" % i, ctx.marker)
            what = "POST push with Expect (%s)" % (
                "chunked" if chunked else "Content-Length")
            c.send(_expect_head(PUSH, ctx.key, ctx.secret, plain, wid,
                                chunked=chunked))
            _wait_continue(c, what)
            if chunked:
                c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(plain), plain))
            else:
                c.send(plain)
            expect_stored(c.response(5), what)
            expect_one_row(ctx, wid, what, body=plain)
    finally:
        c.close()


@case("expect: 404, 405, 400, 401 and 413 at once on the headers, no 100, "
      "the connection closed, nothing stored")
def c_expect_refused(ctx):
    plain = push_body("expno")
    big = b"x" * (MIB + 1)
    for path, key, secret, body, status in (
            ("/nowhere", ctx.key, ctx.secret, plain, 404),
            (CMD + "/Bad", ctx.key, ctx.secret, plain, 400),
            (PUSH, "no-such-key", ctx.secret, plain, 401),
            (PUSH, None, ctx.secret, plain, 401),
            (PUSH, ctx.key, None, plain, 401),
            (PUSH, ctx.key, ctx.secret, big, 413)):
        wid = uid("expno")
        what = "POST %s with Expect, key %s, %d bytes" % (path, key,
                                                          len(body))
        c = Conn(ctx.port)
        try:
            t0 = time.monotonic()
            c.send(_expect_head(path, key, secret, body, wid))
            r = c.response(2)
            dt = time.monotonic() - t0
            expect_error(r, status, what)
            expect(dt < 0.5, "%s: answered after %.2f s" % (what, dt))
            expect((r.header("Connection") or "").lower() == "close",
                   "%s: no Connection: close" % what)
            closed = c.closed_by_peer(2)
            expect(closed is True, "%s: after the %d, %s" % (what, status,
                                                            closed))
        finally:
            c.close()
        expect_not_stored(ctx, wid, what)
    c = Conn(ctx.port)
    try:
        c.send(build_request("PUT", PUSH, b"{}", [("Expect", "100-continue")],
                             content_length=True)[:-2])
        expect_error(c.response(2), 405, "PUT push with Expect")
    finally:
        c.close()


@case("expect: an HTTP/1.0 client never gets 100 Continue")
def c_expect_http10(ctx):
    wid = uid("exp10")
    plain = push_body("exp10")
    c = Conn(ctx.port)
    try:
        c.send(_expect_head(PUSH, ctx.key, ctx.secret, plain, wid, "1.0"))
        try:
            c._fill(time.monotonic() + 0.3)
            raise Fail("HTTP/1.0 with Expect: got %r before the body"
                       % c.buf[:60])
        except socket.timeout:
            pass
        c.send(plain)
        r = c.response(5)
        expect_stored(r, "HTTP/1.0 POST push with Expect")
    finally:
        c.close()


@case("expect: curl with Expect: 100-continue is answered at once, not "
      "after its 1 s wait")
def c_expect_curl(ctx):
    import shutil
    import subprocess
    if shutil.which("curl") is None:
        print("SKIP: expect: curl: no curl")
        return
    wid = uid("expc")
    plain = push_body("expc", "p" * 4096)
    t0 = time.monotonic()
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}",
         "-H", "Expect: 100-continue", "-H", "Content-Type: application/json",
         "-H", "X-Api-Key: " + ctx.key, "-H", "X-Webhook-Id: " + wid,
         "-H", "X-Signature: " + sign(ctx.secret, plain),
         "--data-binary", "@-", "http://%s:%d%s" % (HOST, ctx.port, PUSH)],
        input=plain, capture_output=True, timeout=10)
    dt = time.monotonic() - t0
    code = out.stdout.rsplit(b"\n", 1)[-1]
    expect(code == b"200", "curl: %r %r" % (out.stdout[-120:],
                                           out.stderr[-200:]))
    expect(dt < 0.5, "curl took %.2f s (its Expect wait is 1 s)" % dt)
    expect_one_row(ctx, wid, "curl with Expect", body=plain)


def cmd_cases(a):
    ctx = Ctx(a)
    want = set(a.names)
    nfail = 0
    ran = 0
    for name, f in CASES:
        if want and not any(w in name for w in want):
            continue
        ran += 1
        t0 = time.monotonic()
        try:
            f(ctx)
            print("PASS: %s" % name, flush=True)
        except Fail as e:
            nfail += 1
            print("FAIL: %s: %s" % (name, e), flush=True)
        except Exception as e:  # noqa: BLE001 - a harness error is a failure
            nfail += 1
            print("FAIL: %s: %s: %s" % (name, type(e).__name__, e), flush=True)
        dt = time.monotonic() - t0
        if dt > 5:
            print("# %s took %.1fs" % (name, dt), flush=True)
    if ran == 0:
        print("FAIL: cases: no case matches %r" % sorted(want))
        return 1
    return 1 if nfail else 0


# ------------------------------------------------------------ load, check

def cmd_load(a):
    secret = read_secret(a.secret_file)
    lock = threading.Lock()
    nxt = [0]
    acked, errors, others = [], [], {}
    killed = [False]
    deadline = time.monotonic() + a.deadline
    prefix = a.prefix or uid("load")

    def maybe_kill():
        if a.kill_pid and not killed[0] and len(acked) >= a.kill_after:
            killed[0] = True
            os.kill(a.kill_pid, getattr(signal, "SIG" + a.signal))

    def worker():
        c = None
        for _ in range(a.count):
            with lock:
                i = nxt[0]
                if i >= a.count or time.monotonic() > deadline:
                    break
                nxt[0] += 1
            wid = "%s-%04d" % (prefix, i)
            data = signed(a.api_key, secret, push_body(wid), webhook_id=wid)
            try:
                if c is None:
                    c = Conn(a.port, 5)
                c.send(data)
                r = c.response(10)
            except (OSError, NoResponse) as e:
                with lock:
                    errors.append("%s: %s" % (wid, e))
                if c:
                    c.close()
                c = None
                continue
            with lock:
                if r.status == 200:
                    acked.append((wid, (r.json() or {}).get("status")))
                    maybe_kill()
                else:
                    others[r.status] = others.get(r.status, 0) + 1
            if (r.header("Connection") or "").lower() == "close":
                c.close()
                c = None
        if c:
            c.close()

    ts = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(a.deadline + 15)
    with open(a.acked, "w") as f:
        for wid, _ in acked:
            f.write(wid + "\n")
    summary = {"sent": nxt[0], "acked": len(acked),
               "stored": sum(1 for _, s in acked if s == "stored"),
               "duplicate": sum(1 for _, s in acked if s == "duplicate"),
               "errors": len(errors), "other_status": others,
               "killed": killed[0], "first_errors": errors[:2]}
    print(json.dumps(summary))
    return 0


def cmd_dbcheck(a):
    with open(a.acked) as f:
        ids = [ln.strip() for ln in f if ln.strip()]
    name = a.name
    if len(ids) < a.min_acked:
        print("FAIL: %s: only %d webhooks acknowledged, want >= %d"
              % (name, len(ids), a.min_acked))
        return 1
    try:
        counts = db_counts(a.db, ids)
    except sqlite3.Error as e:
        print("FAIL: %s: reading %s: %s" % (name, a.db, e))
        return 1
    missing = [i for i, n in counts.items() if n == 0]
    multi = [i for i, n in counts.items() if n > 1]
    if missing or multi:
        print("FAIL: %s: of %d acknowledged, %d missing from the store (%s), "
              "%d stored more than once (%s)" % (
                  name, len(ids), len(missing), missing[:3], len(multi),
                  multi[:3]))
        return 1
    print("PASS: %s (%d acknowledged, all stored once)" % (name, len(ids)))
    if a.port:
        secret = read_secret(a.secret_file)
        bad = []
        for wid in ids:
            try:
                r = request(a.port, signed(a.api_key, secret, push_body(wid),
                                           webhook_id=wid, attempt=2))
                if r.status != 200 or r.json() != {"status": "duplicate"}:
                    bad.append((wid, r))
            except (OSError, NoResponse) as e:
                bad.append((wid, e))
            if len(bad) > 3:
                break
        dname = name + ": resent ids answered duplicate"
        if bad:
            print("FAIL: %s: %s" % (dname, ", ".join(
                '%s: expected 200 {"status":"duplicate"}, got %r' % b
                for b in bad[:3])))
            return 1
        print("PASS: %s" % dname)
    return 0


# ------------------------------------------------------------------ hooks

def _records(path, wid):
    out = []
    try:
        with open(path) as f:
            for ln in f:
                r = json.loads(ln)
                if r["headers"].get("x-webhook-id") == wid:
                    out.append(r)
    except FileNotFoundError:
        pass
    return out


def _app_mode(port, **mode):
    data = json.dumps(mode).encode()
    r = request(port, build_request("POST", "/_control", data))
    expect(r.status == 200, "app /_control: %r" % r)


def _hook(a, secret, path, text, upper=False):
    """One signed hook request: (its id, message, response, seconds)."""
    wid = uid("hk")
    msg = {"id": uid("m"), "text": text}
    plain = json.dumps({"message": msg, "user": {"id": "jane"}}).encode()
    t0 = time.monotonic()
    r = request(a.port, signed(a.api_key, secret, plain, path=path,
                               webhook_id=wid, upper=upper), timeout=8)
    return wid, msg, r, time.monotonic() - t0


def _run(name, f):
    try:
        f()
        print("PASS: %s" % name, flush=True)
        return 0
    except Fail as e:
        print("FAIL: %s: %s" % (name, e), flush=True)
    except Exception as e:  # noqa: BLE001 - a harness error is a failure
        print("FAIL: %s: %s: %s" % (name, type(e).__name__, e), flush=True)
    return 1


def cmd_hooks(a):
    """Hooks through an upstream without a path (app.py --rewrite): what
    the app is asked, and each hook's own deadline."""
    secret = read_secret(a.secret_file)
    nfail = 0

    def targets():
        for path in (BMS + "?x=1", CMD + "/ticket", CMD + "?type=giphy",
                     CMD + "/ticket?type=ticket&y=2"):
            wid, msg, r, _ = _hook(a, secret, path, "hello", upper=True)
            expect(r.status == 200 and (r.json() or {}).get("message", {})
                   .get("text") == a.rewrite,
                   describe("POST " + path, "the app's rewrite", r))
            recs = _records(a.record, wid)
            expect(len(recs) == 1, "%s: the app saw %d requests"
                   % (path, len(recs)))
            expect(recs[0]["path"] == path, "%s: the app was asked %r"
                   % (path, recs[0]["path"]))
            sig = recs[0]["headers"].get("x-signature", "")
            expect(sig == sig.lower() and len(sig) == 64,
                   "%s: X-Signature %r, want lower-case hex" % (path, sig))

    def deadline(path, ms):
        def f():
            _app_mode(a.app_port, sleep_ms=3000)
            try:
                wid, msg, r, dt = _hook(a, secret, path, "slow")
            finally:
                _app_mode(a.app_port, sleep_ms=0)
            expect(r.status == 200 and r.json() == {"message": msg},
                   describe("POST " + path, '200 {"message": <same>}', r))
            expect(ms / 1000.0 - 0.02 <= dt <= ms / 1000.0 + 0.3,
                   "%s: answered after %.3f s, deadline %d ms"
                   % (path, dt, ms))
        return f

    nfail += _run("hooks: an upstream without a path is asked the request's "
                  "own path and query (commands by path or query, once)",
                  targets)
    nfail += _run("hooks: Before-Message-Send answered unchanged at its own "
                  "deadline (%d ms)" % a.bms_ms, deadline(BMS, a.bms_ms))
    nfail += _run("hooks: Custom Commands answered unchanged at their own "
                  "deadline (%d ms)" % a.cmd_ms,
                  deadline(CMD + "/ticket", a.cmd_ms))
    return 1 if nfail else 0


def cmd_hookstore(a):
    """The store is down: hooks are answered 200 unchanged at once and not
    forwarded; a push gets 503."""
    secret = read_secret(a.secret_file)

    def f():
        for path in (BMS, CMD + "/ticket"):
            wid, msg, r, dt = _hook(a, secret, path, "no store")
            expect(r.status == 200 and r.json() == {"message": msg},
                   describe("POST %s, store down" % path,
                            '200 {"message": <same>}', r))
            expect(dt < 1.0, "%s: answered after %.2f s" % (path, dt))
            expect(not _records(a.record, wid),
                   "%s: forwarded to the app though not stored" % path)
        r = request(a.port, signed(a.api_key, secret, push_body("nostore"),
                                   webhook_id=uid("ps")))
        expect_error(r, 503, "POST push, store down")

    return _run("hooks: store down: Before-Message-Send and Custom Commands "
                "200 unchanged, not forwarded; a push 503", f)


def cmd_waitup(a):
    def healthz():
        r = request(a.port, build_request("GET", "/healthz"), 1.0)
        return r.status == 200 or r

    up, last = wait_until(healthz, a.timeout, (OSError, NoResponse))
    if up:
        return 0
    print("not up within %.1fs: %s" % (a.timeout, last), file=sys.stderr)
    return 1


def cmd_send(a):
    secret = read_secret(a.secret_file)
    if a.body:
        with open(a.body, "rb") as f:
            plain = f.read()
    else:
        plain = push_body("cli")
    r = request(a.port, signed(a.api_key, secret, plain, path=a.path,
                               webhook_id=a.id or uid("cli"),
                               attempt=a.attempt, gz=a.gzip,
                               ce_header=a.gzip))
    print(r.status)
    print(r.body.decode("utf-8", "replace"))
    return 0 if r.status == 200 else 1


# ------------------------------------------------------------------ redis

def cmd_ping(a):
    def ping():
        r = Redis(a.redis, 1.0)
        try:
            return r.command("PING") == "PONG"
        finally:
            r.close()

    up, last = wait_until(ping, a.timeout, (OSError, RedisError))
    if up:
        return 0
    print("redis on %d not up within %.1fs: %s" % (a.redis, a.timeout, last),
          file=sys.stderr)
    return 1


def cmd_burst(a):
    secret = read_secret(a.secret_file)
    with open(a.body, "rb") as f:
        plain = f.read()
    data = signed(a.api_key, secret, plain, webhook_id=a.id)
    ports = [int(p) for p in a.ports.split(",")]
    targets = [p for p in ports for _ in range(a.copies)]
    conns, results = [], [None] * len(targets)
    for p in targets:			# connect first: the sends coincide
        conns.append(Conn(p, 10))
    gate = threading.Barrier(len(targets))

    def one(i):
        try:
            gate.wait(5)
            conns[i].send(data)
            r = conns[i].response(10)
            results[i] = [targets[i], r.status,
                          r.body.decode("utf-8", "replace")[:80]]
        except Exception as e:  # noqa: BLE001 - reported, not raised
            results[i] = [targets[i], 0, "%s: %s" % (type(e).__name__, e)]
        finally:
            conns[i].close()

    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(targets))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    print(json.dumps(results))
    return 0


def cmd_entries(a):
    r = Redis(a.redis)
    try:
        entries = r.command("XRANGE", a.prefix + ":events", "-", "+")
    except RedisError as e:
        if "no such key" in str(e):
            entries = []
        else:
            raise
    finally:
        r.close()
    want = None
    if a.body:
        with open(a.body, "rb") as f:
            want = f.read()
    n, bad = 0, 0
    for _id, kv in entries or []:
        fields = dict(zip(kv[0::2], kv[1::2]))
        if fields.get(b"webhook_id") != a.id.encode():
            continue
        n += 1
        if want is not None and fields.get(b"body") != want:
            bad += 1
    print(n)
    if bad:
        print("%d of %d entries hold other body bytes" % (bad, n),
              file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    w = sub.add_parser("waitup")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--timeout", type=float, default=5)

    s = sub.add_parser("send")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--api-key", required=True)
    s.add_argument("--secret-file", required=True)
    s.add_argument("--path", default=PUSH)
    s.add_argument("--id")
    s.add_argument("--attempt", type=int, default=1)
    s.add_argument("--gzip", action="store_true")
    s.add_argument("--body")

    c = sub.add_parser("cases")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--db", required=True)
    c.add_argument("--api-key", required=True)
    c.add_argument("--secret-file", required=True)
    c.add_argument("--rotated-secret-file", required=True)
    c.add_argument("--other-key", required=True)
    c.add_argument("--other-secret-file", required=True)
    c.add_argument("--marker", default="", help="put in some bodies")
    c.add_argument("--list", action="store_true")
    c.add_argument("names", nargs="*", help="substrings of case names")

    ld = sub.add_parser("load")
    ld.add_argument("--port", type=int, required=True)
    ld.add_argument("--api-key", required=True)
    ld.add_argument("--secret-file", required=True)
    ld.add_argument("--count", type=int, default=200)
    ld.add_argument("--threads", type=int, default=4)
    ld.add_argument("--prefix")
    ld.add_argument("--acked", required=True)
    ld.add_argument("--kill-pid", type=int)
    ld.add_argument("--kill-after", type=int, default=100)
    ld.add_argument("--signal", default="TERM", choices=["TERM", "KILL"])
    ld.add_argument("--deadline", type=float, default=20)

    d = sub.add_parser("dbcheck")
    d.add_argument("--db", required=True)
    d.add_argument("--acked", required=True)
    d.add_argument("--name", required=True)
    d.add_argument("--min-acked", type=int, default=1)
    d.add_argument("--port", type=int)
    d.add_argument("--api-key")
    d.add_argument("--secret-file")

    g = sub.add_parser("ping")
    g.add_argument("--redis", type=int, required=True)
    g.add_argument("--timeout", type=float, default=5)

    b = sub.add_parser("burst")
    b.add_argument("--ports", required=True)
    b.add_argument("--copies", type=int, default=10)
    b.add_argument("--api-key", required=True)
    b.add_argument("--secret-file", required=True)
    b.add_argument("--id", required=True)
    b.add_argument("--body", required=True)

    e = sub.add_parser("entries")
    e.add_argument("--redis", type=int, required=True)
    e.add_argument("--id", required=True)
    e.add_argument("--body")
    e.add_argument("--prefix", default="streamgate")

    for name in ("hooks", "hookstore"):
        h = sub.add_parser(name)
        h.add_argument("--port", type=int, required=True)
        h.add_argument("--api-key", required=True)
        h.add_argument("--secret-file", required=True)
        h.add_argument("--record", required=True)
        h.add_argument("--app-port", type=int)
        h.add_argument("--rewrite", default="rewritten by the app")
        h.add_argument("--bms-ms", type=int, default=1200)
        h.add_argument("--cmd-ms", type=int, default=700)

    a = p.parse_args()
    if a.cmd == "cases" and a.list:
        for name, _ in CASES:
            print(name)
        return 0
    return {"waitup": cmd_waitup, "send": cmd_send, "cases": cmd_cases,
            "load": cmd_load, "dbcheck": cmd_dbcheck, "ping": cmd_ping,
            "burst": cmd_burst, "entries": cmd_entries, "hooks": cmd_hooks,
            "hookstore": cmd_hookstore}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
