#!/usr/bin/env python3
"""soak.py: the soak run behind `make soak` (see soak.sh).

Threads:
  legit    signed pushes at --rate per second, random v4 UUID ids, some
           gzip'd, each retried with the same id (attempt + 1) until a 200,
           as Stream retries; what got a 200 is "acked", with its latency
  attacks  at random, one of the attacks below at a time, each a few
           seconds: none needs a credential
  chaos    every 15 to 40 s: SIGHUP, or kill -9 and a restart, or a full
           disk for a few seconds (a filler file on the store's tmpfs)
  rss      the daemon's VmRSS every 0.5 s
At the end the store is read: every acked id must be there exactly once.
"""
import argparse
import gzip
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "daemon"))
from client import build_request, sign, signed  # noqa: E402

API_KEY = "soak"
SECRET = b"soak-secret-never-logged-4a7d1c"
PUSH = "/webhooks/stream/push"


class Daemon:
    """streamgated on 127.0.0.1:port, restartable; its pid for RSS."""

    def __init__(self, binary, d, disk):
        self.binary, self.dir = binary, d
        self.port = free_port()
        self.cfg = os.path.join(d, "sg.json")
        self.db = os.path.join(disk, "events.db")
        sec = os.path.join(d, "soak.secret")
        with open(os.open(sec, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(SECRET + b"\n")
        with open(self.cfg, "w") as f:
            json.dump({"listen": ["127.0.0.1:%d" % self.port],
                       "workers": 2, "user": "root",
                       "keys": [{"api_key": API_KEY, "secret_file": sec}],
                       "store": "sqlite:" + self.db,
                       "limits": {"connections": 512}}, f)
        self.log = open(os.path.join(d, "daemon.log"), "ab")
        self.proc = None
        self.lock = threading.Lock()

    def start(self):
        self.proc = subprocess.Popen([self.binary, "--config", self.cfg],
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit("soak: streamgated exited %d at start (log: %s)" %
                         (self.proc.returncode, self.log.name))
            try:
                s = socket.create_connection(("127.0.0.1", self.port), 0.2)
                s.close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("soak: streamgated did not listen within 10 s")

    def kill9_restart(self):
        with self.lock:
            self.proc.kill()
            self.proc.wait()
            self.start()

    def hup(self):
        with self.lock:
            self.proc.send_signal(signal.SIGHUP)

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for ln in f:
                    if ln.startswith("VmRSS:"):
                        return int(ln.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def stop(self):
        with self.lock:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return -9


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def status_of(sock):
    """The status of one answer on a keep-alive connection (its body read
    by Content-Length), or None when the connection failed."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    n = 0
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return status


class Legit:
    """Pushes as Stream sends them, retried until a 200."""

    def __init__(self, daemon, rate, stop):
        self.d, self.rate, self.stop = daemon, rate, stop
        self.acked = set()
        self.lat_ms = []
        self.sent = 0
        self.lock = threading.Lock()

    def one(self, conn, wid, plain, gz, attempt):
        req = signed(API_KEY, SECRET, plain, PUSH, wid, attempt, gz=gz,
                     ce_header=gz)
        t0 = time.monotonic()
        if conn[0] is None:
            conn[0] = socket.create_connection(("127.0.0.1", self.d.port), 5)
            conn[0].settimeout(10)
        conn[0].sendall(req)
        st = status_of(conn[0])
        if st is None:
            raise OSError("closed")
        return st, (time.monotonic() - t0) * 1000

    def run(self, k, n):
        """Thread k of n: every n-th slot of the rate."""
        conn = [None]
        period = n / self.rate
        next_t = time.monotonic() + k * period / n
        while not self.stop.is_set():
            next_t += period
            wid = str(uuid.uuid4())
            plain = json.dumps({
                "type": "message.new", "cid": "messaging:c%d" %
                random.randrange(50), "message": {"id": wid, "text":
                "x" * random.randrange(200, 1800)}, "user": {"id": "u%d" %
                random.randrange(1000)}}, separators=(",", ":")).encode()
            gz = random.random() < 0.1
            attempt, deadline = 1, time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    st, ms = self.one(conn, wid, plain, gz, attempt)
                except OSError:
                    st, ms = None, 0
                    if conn[0] is not None:
                        conn[0].close()
                    conn[0] = None
                if st == 200:
                    with self.lock:
                        self.acked.add(wid)
                        self.lat_ms.append(ms)
                    break
                attempt += 1
                time.sleep(0.5)		# Stream waits between attempts
            with self.lock:
                self.sent += 1
            wait = next_t - time.monotonic()
            if wait > 0:
                self.stop.wait(wait)
            else:
                next_t = time.monotonic()


def connect(port, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def attack_pipeline(port, until):
    """Pipelined requests, never reading the answers (memory)."""
    socks = []
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 64
    for _ in range(10):
        try:
            s = connect(port, 4096)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    while time.monotonic() < until:
        for s in socks:
            try:
                s.send(req)
            except (BlockingIOError, OSError):
                pass
        time.sleep(0.01)
    for s in socks:
        s.close()


def attack_trickle(port, until):
    """Bodies of a byte a second: slots held as long as allowed."""
    socks = []
    for _ in range(20):
        try:
            s = connect(port)
            s.sendall(b"POST " + PUSH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                      b"X-Api-Key: soak\r\nX-Signature: " + b"0" * 64 +
                      b"\r\nContent-Length: 100000\r\n\r\n")
            socks.append(s)
        except OSError:
            pass
    while time.monotonic() < until:
        for s in list(socks):
            try:
                s.send(b"x")
            except OSError:
                socks.remove(s)
        time.sleep(1)
    for s in socks:
        s.close()


def attack_idle(port, until):
    """Connections that say nothing, and half-closed ones."""
    socks = []
    for i in range(100):
        try:
            s = connect(port)
            if i % 2:
                s.send(b"GET /healthz HTTP/1.1\r\n")
                s.shutdown(socket.SHUT_WR)
            socks.append(s)
        except OSError:
            pass
    while time.monotonic() < until:
        time.sleep(0.2)
    for s in socks:
        s.close()


def attack_forged(port, until, accepted):
    """Forgeries, trailers carrying the signature, oversized bodies: none
    may be answered 200."""
    plain = b'{"type":"message.new","message":{"text":"forged"}}'
    reqs = [
        signed(API_KEY, b"wrong-secret", plain, PUSH, str(uuid.uuid4())),
        signed("nokey", SECRET, plain, PUSH, str(uuid.uuid4())),
        build_request("POST", PUSH, b"{}" + b" " * (4 << 20),
                      [("X-Api-Key", API_KEY), ("X-Signature", "0" * 64),
                       ("X-Webhook-Id", str(uuid.uuid4()))]),
    ]
    # the signature and id only in a trailer
    body = plain
    chunked = (b"POST " + PUSH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
               b"X-Api-Key: soak\r\nTransfer-Encoding: chunked\r\n\r\n" +
               b"%x\r\n" % len(body) + body + b"\r\n0\r\nX-Signature: " +
               sign(SECRET, body).encode() + b"\r\nX-Webhook-Id: " +
               str(uuid.uuid4()).encode() + b"\r\n\r\n")
    reqs.append(chunked)
    while time.monotonic() < until:
        for r in reqs:
            try:
                s = connect(port)
                s.sendall(r)
                st = status_of(s)
                s.close()
                if st == 200:
                    accepted.append(reqs.index(r))
            except OSError:
                pass
        time.sleep(0.05)


def fill_disk(disk, seconds, stop):
    """A filler file until the tmpfs is full, held, then removed."""
    path = os.path.join(disk, "filler")
    try:
        with open(path, "wb") as f:
            block = b"\0" * (1 << 20)
            while True:
                f.write(block)
                f.flush()
    except OSError:
        pass
    stop.wait(seconds)
    os.unlink(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--disk", required=True)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--rate", type=float, default=100)
    a = ap.parse_args()
    random.seed()
    d = Daemon(a.daemon, a.dir, a.disk)
    d.start()
    stop = threading.Event()
    legit = Legit(d, a.rate, stop)
    nlegit = 8
    threads = [threading.Thread(target=legit.run, args=(k, nlegit))
               for k in range(nlegit)]
    accepted, events, max_rss = [], [], [0]

    def rss():
        while not stop.is_set():
            max_rss[0] = max(max_rss[0], d.rss_kib())
            stop.wait(0.5)

    def attacks():
        kinds = [lambda u: attack_pipeline(d.port, u),
                 lambda u: attack_trickle(d.port, u),
                 lambda u: attack_idle(d.port, u),
                 lambda u: attack_forged(d.port, u, accepted)]
        while not stop.is_set():
            random.choice(kinds)(time.monotonic() + random.uniform(3, 12))
            stop.wait(random.uniform(0, 3))

    def chaos():
        while not stop.wait(random.uniform(15, 40)):
            what = random.choice(["hup", "kill", "disk"])
            events.append(what)
            if what == "hup":
                d.hup()
            elif what == "kill":
                d.kill9_restart()
            else:
                fill_disk(a.disk, random.uniform(2, 6), stop)

    threads += [threading.Thread(target=f) for f in (rss, attacks, chaos)]
    for t in threads:
        t.daemon = True
        t.start()
    stop.wait(a.seconds)
    stop.set()
    for t in threads:
        t.join(90)
    rc = d.stop()
    db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
    rows = dict(db.execute("SELECT webhook_id, count(*) FROM events "
                           "GROUP BY webhook_id").fetchall())
    stored = sum(1 for w in legit.acked if w in rows)
    lost = len(legit.acked) - stored
    dup = sum(1 for w in legit.acked if rows.get(w, 0) > 1)
    lat = sorted(legit.lat_ms)
    p99 = lat[int(len(lat) * 0.99)] if lat else 0
    print("soak: events %s; SIGTERM exit %s; forged answered 200: %d%s" %
          (",".join(events) or "none", rc, len(accepted),
           " (kinds %s: wrong secret, unknown key, oversized, trailer)" %
           sorted(set(accepted)) if accepted else ""))
    print("soak: %d acked, %d stored, %d lost, %d duplicated, max RSS %.1f "
          "MiB, p99 %.1f ms" % (len(legit.acked), stored, lost, dup,
                                max_rss[0] / 1024, p99))
    return 1 if lost or dup or accepted or not legit.acked else 0


if __name__ == "__main__":
    sys.exit(main())
