#!/usr/bin/env python3
"""tests/daemon/stub_streamgated.py: a slow stand-in for build/streamgated,
only to check the test harness itself:

  STREAMGATED="python3 tests/daemon/stub_streamgated.py" \
      bash tests/daemon/test_daemon.sh

Same command line and answers as the daemon's interface (README), one
thread per connection, 127.0.0.1 only.  Not a reference implementation.
"""
import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import sqlite3
import stat
import sys
import threading
import time
import zlib

MAX_HEADER = 16 * 1024
MAX_BODY = 1024 * 1024
MAX_INFLATED = 4 * 1024 * 1024
ROUTES = {"/webhooks/stream/push": "push",
          "/webhooks/stream/before-message-send": "before_message_send",
          "/webhooks/stream/custom-commands": "custom_command"}
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized",
           404: "Not Found", 405: "Method Not Allowed",
           413: "Content Too Large", 431: "Request Header Fields Too Large",
           503: "Service Unavailable"}

stopping = threading.Event()
inflight = [0]
inflight_lock = threading.Lock()
log_lock = threading.Lock()


class HTTPError(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status, self.reason = status, reason


def log(**kw):
    with log_lock:
        sys.stderr.write(json.dumps(kw) + "\n")
        sys.stderr.flush()


class Store:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY,"
            " webhook_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,"
            " event_type TEXT, api_key TEXT NOT NULL, attempt INTEGER NOT"
            " NULL, command TEXT, received_at INTEGER NOT NULL,"
            " body BLOB NOT NULL)")

    def put(self, wid, kind, etype, key, attempt, command, body):
        with self.lock:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO events (webhook_id, kind, event_type,"
                " api_key, attempt, command, received_at, body) VALUES"
                " (?,?,?,?,?,?,?,?)", (wid, kind, etype, key, attempt,
                                       command, int(time.time() * 1000),
                                       body))
            return cur.lastrowid if cur.rowcount == 1 else None


def read_request(sock, buf):
    """(method, target, headers, body, rest) or None at a clean EOF."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEADER:
            raise HTTPError(431, "request header too large")
        try:
            d = sock.recv(65536)
        except socket.timeout:
            if stopping.is_set() and not buf:
                return None
            continue
        if not d:
            if buf:
                raise HTTPError(400, "truncated request")
            return None
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    if len(head) > MAX_HEADER:
        raise HTTPError(431, "request header too large")
    if b"\r" in head.replace(b"\r\n", b""):
        raise HTTPError(400, "bare CR")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "HTTP/1.1":
        raise HTTPError(400, "bad request line")
    headers = {}
    cls = []
    for ln in lines[1:]:
        if ln[:1] in (" ", "\t"):
            raise HTTPError(400, "obs-fold")
        k, sep, v = ln.partition(":")
        if not sep or not k or k != k.strip():
            raise HTTPError(400, "bad header")
        k = k.lower()
        if k == "content-length":
            cls.append(v.strip())
        headers[k] = v.strip()
    if len(cls) > 1:
        raise HTTPError(400, "duplicate Content-Length")
    te = headers.get("transfer-encoding")
    if te is not None and cls:
        raise HTTPError(400, "Content-Length and Transfer-Encoding")

    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = sock.recv(65536)
            if not d:
                raise HTTPError(400, "truncated body")
            buf += d

    if te is not None:
        if te.lower() != "chunked":
            raise HTTPError(400, "bad Transfer-Encoding")
        body = b""
        for _ in range(10 ** 6):
            while b"\r\n" not in buf:
                need(len(buf) + 1)
                if len(buf) > 64:
                    raise HTTPError(400, "bad chunk")
            line, buf = buf.split(b"\r\n", 1)
            try:
                n = int(line, 16)
            except ValueError:
                raise HTTPError(400, "bad chunk")
            if len(body) + n > MAX_BODY:
                raise HTTPError(413, "body too large")
            need(n + 2)
            if buf[n:n + 2] != b"\r\n":
                raise HTTPError(400, "bad chunk")
            body += buf[:n]
            buf = buf[n + 2:]
            if n == 0:
                break
    else:
        n = int(cls[0]) if cls else 0
        if n > MAX_BODY:
            raise HTTPError(413, "body too large")
        need(n)
        body, buf = buf[:n], buf[n:]
    return parts[0], parts[1], headers, body, buf


def handle(cfg, method, target, headers, body):
    """(status, answer dict, log fields)."""
    path, _, query = target.partition("?")
    if path == "/healthz":
        if method != "GET":
            raise HTTPError(405, "method not allowed")
        return 200, {"status": "ok"}, {}
    kind = ROUTES.get(path)
    if kind is None:
        raise HTTPError(404, "not found")
    if method != "POST":
        raise HTTPError(405, "method not allowed")
    if body[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(body, MAX_INFLATED + 1)
        except zlib.error:
            raise HTTPError(400, "bad gzip")
        if len(out) > MAX_INFLATED:
            raise HTTPError(413, "inflated body too large")
        body = out
    key = headers.get("x-api-key")
    secrets = cfg.keys.get(key)
    if not secrets:
        raise HTTPError(401, "unknown api key")
    sig = headers.get("x-signature", "").lower()
    if not any(hmac.compare_digest(
            hmac.new(s, body, hashlib.sha256).hexdigest(), sig)
            for s in secrets):
        raise HTTPError(401, "bad signature")
    try:
        j = json.loads(body)
    except ValueError:
        raise HTTPError(400, "body is not JSON")
    if not isinstance(j, dict):
        raise HTTPError(400, "body is not a JSON object")
    etype = j.get("type")
    if kind == "push" and not isinstance(etype, str):
        raise HTTPError(400, "no type")
    command = None
    if kind == "custom_command":
        for kv in query.split("&"):
            if kv.startswith("type="):
                command = kv[5:]
    wid = headers.get("x-webhook-id", "")
    attempt = int(headers.get("x-webhook-attempt", "1") or 1)
    seq = cfg.store.put(wid, kind, etype if isinstance(etype, str) else None,
                        key, attempt, command, body)
    info = {"webhook_id": wid, "attempt": attempt, "kind": kind}
    if kind != "push":
        return 200, {"message": j.get("message")}, info
    if seq is None:
        return 200, {"status": "duplicate"}, info
    return 200, {"status": "stored", "seq": seq}, info


def respond(sock, status, obj, close):
    body = json.dumps(obj, separators=(",", ":")).encode()
    head = ("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (
                status, REASONS.get(status, "X"), len(body),
                "Connection: close\r\n" if close else ""))
    sock.sendall(head.encode() + body)


def conn_thread(cfg, sock, remote):
    sock.settimeout(0.5)
    buf = b""
    try:
        for _ in range(100000):
            t0 = time.monotonic()
            try:
                got = read_request(sock, buf)
            except HTTPError as e:
                respond(sock, e.status, {"error": e.reason}, True)
                log(time=time.time(), remote=remote, path=None,
                    webhook_id=None, attempt=None, kind=None,
                    status=e.status, latency_us=0, reason=e.reason)
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(1)
                for _ in range(64):
                    if not sock.recv(65536):
                        break
                return
            if got is None:
                return
            with inflight_lock:
                inflight[0] += 1
            try:
                method, target, headers, body, buf = got
                info = {}
                try:
                    status, obj, info = handle(cfg, method, target, headers,
                                               body)
                    reason = None
                except HTTPError as e:
                    status, obj, reason = e.status, {"error": e.reason}, \
                        e.reason
                respond(sock, status, obj, stopping.is_set())
                log(time=time.time(), remote=remote, path=target,
                    webhook_id=info.get("webhook_id"),
                    attempt=info.get("attempt"), kind=info.get("kind"),
                    status=status,
                    latency_us=int((time.monotonic() - t0) * 1e6),
                    reason=reason)
            finally:
                with inflight_lock:
                    inflight[0] -= 1
            if stopping.is_set():
                return
    except OSError:
        pass
    finally:
        sock.close()


class Cfg:
    pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--key", action="append", default=[])
    p.add_argument("--store", required=True)
    p.add_argument("--metrics")
    p.add_argument("--config")
    p.add_argument("--check-config", action="store_true")
    a = p.parse_args()
    cfg = Cfg()
    cfg.keys = {}
    for kv in a.key:
        name, _, path = kv.partition("=")
        st = os.stat(path)
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            print("streamgated: key %s: %s is readable by group or others"
                  % (name, path), file=sys.stderr)
            return 2
        with open(path, "rb") as f:
            cfg.keys.setdefault(name, []).append(
                f.read().split(b"\n", 1)[0].strip())
    cfg.store = Store(a.store[len("sqlite:"):])
    host, _, port = a.listen.rpartition(":")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(1024)
    ls.settimeout(0.2)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    while not stopping.is_set():
        try:
            c, addr = ls.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        threading.Thread(target=conn_thread, args=(cfg, c, addr[0]),
                         daemon=True).start()
    ls.close()
    for _ in range(100):
        with inflight_lock:
            if inflight[0] == 0:
                break
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
