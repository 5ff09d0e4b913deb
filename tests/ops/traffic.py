#!/usr/bin/env python3
"""tests/ops/traffic.py: requests of every outcome to a running streamgated,
for tests/ops/test_metrics.sh (which then checks /metrics).

  traffic.py --port P --api-key K --secret-file F --app-port A
             --redis-pid PID --metrics-port M

The daemon is expected to run with the config test_metrics.sh writes: a
Redis store, pushes delivered to tests/daemon/app.py on A (max_attempts 2,
backoff 10 ms), Before-Message-Send to that app (deadline 300 ms), custom
commands to a closed port, limits.body_bytes 1024.  In order:

  requests   ok, duplicate, duplicate_mismatch, bad_signature, unknown_key,
             bad_request, too_large, not_found (and health)
  hooks      answered, timeout, status, bad_body (before_message_send),
             error (custom_command: connection refused)
  delivery   delivered, retry (the app fails an id once), dead (the app
             fails every attempt)
  store      store_error: Redis is stopped (SIGSTOP would hang, so the
             test kills it) and a push is answered 503

One "PASS: name" or "FAIL: name: why" line per step.  Only 127.0.0.1.
"""
import argparse
import json
import os
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "daemon"))
import client as C  # noqa: E402

nfail = 0


def ok(name, cond, why=""):
    global nfail
    if cond:
        print("PASS: %s" % name)
    else:
        nfail += 1
        print("FAIL: %s: %s" % (name, why))
    sys.stdout.flush()


def metrics(port):
    return urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                  timeout=5).read().decode()


def value(text, prefix):
    """Sum of the samples whose line starts with prefix."""
    total = 0.0
    for ln in text.splitlines():
        if ln.startswith(prefix):
            total += float(ln.rsplit(" ", 1)[1])
    return total


def app_mode(port, **mode):
    r = C.request(port, C.build_request("POST", "/_control",
                                        json.dumps(mode).encode()))
    if r.status != 200:
        raise SystemExit("app /_control: %r" % r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--app-port", type=int, required=True)
    ap.add_argument("--redis-pid", type=int, required=True)
    ap.add_argument("--metrics-port", type=int, required=True)
    a = ap.parse_args()
    key, secret, port = a.api_key, C.read_secret(a.secret_file), a.port

    def push(plain, wid, path=C.PUSH, **kw):
        return C.request(port, C.signed(key, secret, plain, path=path,
                                        webhook_id=wid, **kw))

    # ---- requests
    wid = C.uid("ok")
    body = C.push_body("ok")
    r = push(body, wid)
    ok("request ok: a signed push is stored (200)", r.status == 200, repr(r))
    r = push(body, wid)
    ok("request duplicate: the same push again (200 duplicate)",
       r.status == 200 and (r.json() or {}).get("status") == "duplicate",
       repr(r))
    r = push(C.push_body("other body"), wid)
    ok("request duplicate_mismatch: the same id, another body (200)",
       r.status == 200, repr(r))
    r = push(C.push_body("forged"), C.uid("bad"), signature="0" * 64)
    ok("request bad_signature: 401", r.status == 401, repr(r))
    r = C.request(port, C.signed("no-such-key", secret, C.push_body("x"),
                                 webhook_id=C.uid("uk")))
    ok("request unknown_key: 401", r.status == 401, repr(r))
    r = push(b"this is not json", C.uid("nj"))
    ok("request bad_request: a body that is not JSON (400)",
       r.status == 400, repr(r))
    big = json.dumps({"type": "message.new", "pad": "x" * 2048}).encode()
    r = push(big, C.uid("big"))
    ok("request too_large: 2 KiB over a 1 KiB limit (413)",
       r.status == 413, repr(r))
    r = C.request(port, C.build_request("GET", "/no/such/route"))
    ok("request not_found: 404", r.status == 404, repr(r))
    r = C.request(port, C.build_request("GET", "/healthz"))
    ok("request health: 200", r.status == 200, repr(r))

    # ---- hooks: before_message_send to the app, custom commands nowhere
    bms = json.dumps({"message": {"id": C.uid("m"), "text": "hi"}}).encode()
    for mode, outcome in (({}, "answered"),
                          ({"sleep_ms": 800}, "timeout"),
                          ({"status": 500}, "status"),
                          ({"reply": "not json"}, "bad_body")):
        base = {"status": 200, "sleep_ms": 0, "reply": None, "fail_first": 0}
        base.update(mode)
        app_mode(a.app_port, **base)
        r = push(bms, C.uid("bms-" + outcome), path=C.BMS)
        ok("hook %s: Before-Message-Send answered 200" % outcome,
           r.status == 200, repr(r))
    app_mode(a.app_port, status=200, sleep_ms=0, reply=None, fail_first=0)
    r = push(bms, C.uid("cmd"), path=C.CMD + "?type=ticket")
    ok("hook error: custom command to a closed port answered 200",
       r.status == 200, repr(r))

    # ---- delivery: retried once then delivered; then dead
    app_mode(a.app_port, fail_first=1)
    r = push(C.push_body("retry"), C.uid("retry"))
    ok("delivery: a push the app fails once is stored", r.status == 200,
       repr(r))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        t = metrics(a.metrics_port)
        if value(t, 'streamgate_deliveries_total{outcome="delivered"}') >= 2:
            break
        time.sleep(0.1)
    ok("delivery: retried, then delivered",
       value(t, 'streamgate_deliveries_total{outcome="retry"}') >= 1 and
       value(t, 'streamgate_deliveries_total{outcome="delivered"}') >= 2,
       [ln for ln in t.splitlines() if "deliveries_total{" in ln])
    app_mode(a.app_port, fail_first=0, status=500)
    r = push(C.push_body("dead"), C.uid("dead"))
    ok("delivery: a push the app always fails is stored", r.status == 200,
       repr(r))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        t = metrics(a.metrics_port)
        if value(t, 'streamgate_deliveries_total{outcome="dead"}') >= 1:
            break
        time.sleep(0.1)
    ok("delivery: dead after max_attempts",
       value(t, 'streamgate_deliveries_total{outcome="dead"}') >= 1,
       [ln for ln in t.splitlines() if "deliveries_total{" in ln])
    app_mode(a.app_port, status=200)

    # ---- store_error: the store goes away
    os.kill(a.redis_pid, signal.SIGKILL)
    time.sleep(0.2)
    r = push(C.push_body("nostore"), C.uid("nostore"))
    ok("request store_error: the store gone, a push answered 503",
       r.status == 503, repr(r))
    print("traffic: %d failed" % nfail)
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
