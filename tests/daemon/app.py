#!/usr/bin/env python3
"""tests/daemon/app.py: a stand-in for the app behind streamgated.

A threaded HTTP/1.1 server (keep-alive, stdlib only) on 127.0.0.1:PORT or
on a unix socket.  Every request but the control one is appended to a
JSON-lines file, one object each:

  {"n": arrival order (per process), "t": unix seconds, "pid": ...,
   "method": ..., "path": "path?query", "headers": {lower-case name: value},
   "len": body bytes, "sha256": hex of the body, "cid": the body's "cid",
   "status": what was answered}

The answer follows the current mode, set by flags at start or at any time
by POST /_control with a JSON object of the same names (merged in):

  status      the answer's status (200)
  sleep_ms    wait this long before answering (0)
  fail_first  answer 500 to the first N requests of each X-Webhook-Id (0)
  fail_every  answer 500 to every Nth request overall (0: never)
  rewrite     BMS/commands: answer {"message": <received, text replaced>}
  reply       answer exactly these bytes (e.g. "not json")

  app.py --port P | --unix PATH  --record FILE [--status N] [--sleep-ms N]
         [--fail-first N] [--fail-every N] [--rewrite TEXT] [--reply TEXT]
"""
import argparse
import ssl
import hashlib
import http.server
import json
import os
import socketserver
import sys
import threading
import time

CONTROL = "/_control"


class State:
    def __init__(self, a):
        self.lock = threading.Lock()
        self.mode = {"status": a.status, "sleep_ms": a.sleep_ms,
                     "fail_first": a.fail_first, "fail_every": a.fail_every,
                     "rewrite": a.rewrite, "reply": a.reply}
        self.seen = {}          # webhook id -> requests so far
        self.n = 0
        self.record = open(a.record, "a", buffering=1)

    def arrive(self, wid):
        """This request's place: (arrival number, copies of its id so far,
        a snapshot of the mode)."""
        with self.lock:
            self.n += 1
            k = self.seen.get(wid, 0) + 1
            self.seen[wid] = k
            return self.n, k, dict(self.mode)

    def write(self, rec):
        with self.lock:
            self.record.write(json.dumps(rec, sort_keys=True) + "\n")


def answer_for(mode, n, k, path, body):
    """(status, body bytes) for a request, by the mode."""
    if mode["fail_first"] and k <= mode["fail_first"]:
        return 500, b'{"error":"failing on purpose"}'
    if mode["fail_every"] and n % mode["fail_every"] == 0:
        return 500, b'{"error":"failing on purpose"}'
    if mode["reply"] is not None:
        return mode["status"], mode["reply"].encode()
    if mode["rewrite"] is not None and "/push" not in path:
        try:
            msg = json.loads(body).get("message") or {}
        except ValueError:
            msg = {}
        msg["text"] = mode["rewrite"]
        return mode["status"], json.dumps({"message": msg}).encode()
    return mode["status"], b'{"ok":true}'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "app.py"

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        st = self.server.state
        body = self._body()
        if self.path == CONTROL:
            with st.lock:
                st.mode.update(json.loads(body or b"{}"))
                out = json.dumps(st.mode).encode()
            self._send(200, out)
            return
        wid = self.headers.get("X-Webhook-Id", "")
        n, k, mode = st.arrive(wid)
        try:
            cid = json.loads(body).get("cid")
        except (ValueError, AttributeError):
            cid = None
        status, out = answer_for(mode, n, k, self.path, body)
        if mode["sleep_ms"]:
            time.sleep(mode["sleep_ms"] / 1000.0)
        st.write({"n": n, "t": time.time(), "pid": os.getpid(),
                  "method": self.command, "path": self.path,
                  "headers": {h.lower(): v for h, v in self.headers.items()},
                  "len": len(body),
                  "sha256": hashlib.sha256(body).hexdigest(),
                  "cid": cid, "status": status})
        try:
            self._send(status, out)
        except OSError:
            pass        # the caller gave up (a timeout): recorded anyway

    def do_GET(self):
        self._send(200, b'{"ok":true}')


class TCPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        sock, _ = super().get_request()
        return sock, ("unix", 0)        # BaseHTTPRequestHandler wants a pair


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int)
    where.add_argument("--unix")
    p.add_argument("--record", required=True)
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--sleep-ms", type=int, default=0)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-every", type=int, default=0)
    p.add_argument("--rewrite")
    p.add_argument("--reply")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    a = p.parse_args()
    if a.unix:
        try:
            os.unlink(a.unix)
        except FileNotFoundError:
            pass
        srv = UnixServer(a.unix, Handler)
    else:
        srv = TCPServer(("127.0.0.1", a.port), Handler)
    if a.tls_cert:      # an https upstream
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.state = State(a)
    print("ready", flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
