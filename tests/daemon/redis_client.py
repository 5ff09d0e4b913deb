#!/usr/bin/env python3
"""tests/daemon/redis_client.py: what test_redis.sh needs besides client.py.

  redis_client.py ping    --redis P [--timeout S]     until Redis answers PING
  redis_client.py burst   --ports P1,P2 --copies N --api-key K
                          --secret-file F --id ID --body FILE
                                 N copies of one signed webhook to each port,
                                 all at once; prints the statuses as JSON
  redis_client.py entries --redis P --id ID [--body FILE] [--prefix streamgate]
                                 how many stream entries hold that webhook
                                 id; with --body, exit 1 unless every one's
                                 body is exactly FILE's bytes

A minimal RESP2 client, so no Redis module is needed.  Only 127.0.0.1;
every socket has a timeout.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client  # noqa: E402  (client.py beside this file)

HOST = "127.0.0.1"


class RedisError(Exception):
    pass


class Redis:
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


def cmd_ping(a):
    deadline = time.monotonic() + a.timeout
    last = None
    while time.monotonic() < deadline:
        try:
            r = Redis(a.redis, 1.0)
            try:
                if r.command("PING") == "PONG":
                    return 0
            finally:
                r.close()
        except (OSError, RedisError) as e:
            last = e
        time.sleep(0.05)
    print("redis on %d not up within %.1fs: %s" % (a.redis, a.timeout, last),
          file=sys.stderr)
    return 1


def cmd_burst(a):
    secret = client.read_secret(a.secret_file)
    with open(a.body, "rb") as f:
        plain = f.read()
    data = client.signed(a.api_key, secret, plain, webhook_id=a.id)
    ports = [int(p) for p in a.ports.split(",")]
    targets = [p for p in ports for _ in range(a.copies)]
    conns, results = [], [None] * len(targets)
    for p in targets:			# connect first: the sends coincide
        conns.append(client.Conn(p, 10))
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

    a = p.parse_args()
    return {"ping": cmd_ping, "burst": cmd_burst,
            "entries": cmd_entries}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
