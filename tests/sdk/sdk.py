#!/usr/bin/env python3
"""tests/sdk/sdk.py: test_sdk.sh's helpers.  Stream's side (signed
webhooks as Stream sends them, through client.py's library) and the
checks of what tests/sdk/app.js, the app behind streamgated, recorded.

  sdk.py config --readme README.md --out FILE --port P --tls-port P
                --cert F --key F --api-key K --secret-file F --store URI
                --app-port P --bms-deadline-ms N
        the JSON config of README's "Connect Stream" section, with this
        test's addresses, files and deadline in place of the README's
        values: the same keys, nothing added or left out
  sdk.py run --port P --app-port P --record FILE --api-key K
             --secret-file F --ids FILE
        Stream's side of the story and the checks: one "PASS: name" or
        "FAIL: name: why" line each; the push ids sent go to --ids
  sdk.py tls --urls FILE --tls-port P --api-key K --secret-file F
             --record FILE
        a signed push to the webhook_url and a custom command to the
        custom_action_handler_url that `streamgate stream-urls --json`
        printed (FILE), over TLS with the URL's host name
  sdk.py redelivered --record FILE --id ID --timeout S
        the app got push ID a second time (a replay)

Only 127.0.0.1.  Every wait is bounded.
"""
import argparse
import hashlib
import json
import os
import pwd
import re
import socket
import ssl
import sys
import time
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "daemon"))
from client import (build_request, read_secret, records, request,  # noqa: E402
                    sign, signed)

PUSH = "/webhooks/stream/push"
BMS = "/webhooks/stream/before-message-send"
CMD = "/webhooks/stream/custom-commands"


# ---------------------------------------------------------------- config

def readme_config(path):
    """The first ```json block of the section "## Connect Stream"."""
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^## Connect Stream\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        sys.exit("README.md has no section '## Connect Stream'")
    b = re.search(r"^```json\n(.*?)^```", m.group(1), re.S | re.M)
    if not b:
        sys.exit("README's Connect Stream section has no ```json block")
    return json.loads(b.group(1))


def cmd_config(a):
    cfg = readme_config(a.readme)
    want = {"listen", "keys", "store", "upstream", "hook_deadline_ms", "user"}
    if set(cfg) != want:
        sys.exit("README's config has keys %s; this test places %s: "
                 "teach it the new ones" % (sorted(cfg), sorted(want)))
    tls = [x for x in cfg["listen"] if isinstance(x, dict)]
    plain = [x for x in cfg["listen"] if isinstance(x, str)]
    if len(tls) != 1 or len(plain) != 1 or \
            set(tls[0]) != {"addr", "tls_cert", "tls_key"}:
        sys.exit("README's listen: want one TLS listener and one plain one, "
                 "got %r" % cfg["listen"])
    tls[0].update(addr="127.0.0.1:%d" % a.tls_port, tls_cert=a.cert,
                  tls_key=a.key)
    cfg["listen"] = [x if isinstance(x, dict) else "127.0.0.1:%d" % a.port
                     for x in cfg["listen"]]
    if len(cfg["keys"]) != 1 or set(cfg["keys"][0]) != {"api_key",
                                                        "secret_file"}:
        sys.exit("README's keys: want one {api_key, secret_file}")
    cfg["keys"][0].update(api_key=a.api_key, secret_file=a.secret_file)
    if not cfg["store"].startswith("sqlite:"):
        sys.exit("README's store is not sqlite:PATH")
    cfg["store"] = a.store
    if not re.fullmatch(r"http://127\.0\.0\.1:\d+", cfg["upstream"]):
        sys.exit("README's upstream is not http://127.0.0.1:PORT: %r"
                 % cfg["upstream"])
    cfg["upstream"] = "http://127.0.0.1:%d" % a.app_port
    d = cfg["hook_deadline_ms"]
    if not isinstance(d, dict) or set(d) != {"before_message_send",
                                             "custom_commands"}:
        sys.exit("README's hook_deadline_ms: want {before_message_send, "
                 "custom_commands}, got %r" % d)
    d["before_message_send"] = a.bms_deadline_ms
    if cfg["user"] != "streamgate":
        sys.exit("README's user is not streamgate: %r" % cfg["user"])
    # the test runs as root on a host with no streamgate user: streamgated
    # stays root only when told
    cfg["user"] = pwd.getpwuid(os.getuid()).pw_name
    with open(a.out, "w") as f:
        json.dump(cfg, f, indent=2)
    return 0


# ---------------------------------------------------------------- records

def of_id(recs, wid):
    return [r for r in recs if r["headers"].get("x-webhook-id") == wid]


def wait_records(path, pred, timeout):
    """The records once pred(records) is true, or None after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        recs = records(path)
        if pred(recs):
            return recs
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def control(port, obj):
    req = urllib.request.Request(
        "http://127.0.0.1:%d/_control" % port, data=json.dumps(obj).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        r.read()


# ---------------------------------------------------------------- Stream

def body(obj):
    """Stream's JSON: compact, UTF-8 as is."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def user(uid_, name):
    return {"id": uid_, "role": "user", "name": name, "online": True,
            "created_at": "2026-11-01T09:00:00.000000Z",
            "updated_at": "2026-11-01T09:00:00.000000Z"}


def message_new(cid, i, who):
    mid = str(uuid.uuid4())
    return {"type": "message.new", "cid": cid, "channel_id": cid.split(":")[1],
            "channel_type": cid.split(":")[0], "message_id": mid,
            "message": {"id": mid, "text": "héllo %d ✓" % i, "html": "",
                        "type": "regular", "user": who, "attachments": [],
                        "mentioned_users": [], "created_at":
                        "2026-11-01T10:00:0%d.000000Z" % i},
            "user": who, "watcher_count": 1, "i": i,
            "created_at": "2026-11-01T10:00:0%d.000000Z" % i}


def bms_body(who, text):
    cid = "messaging:sdk-general"
    return {"message": {"id": str(uuid.uuid4()), "text": text,
                        "type": "regular", "user": who, "attachments": [],
                        "mentioned_users": [], "silent": False},
            "user": who,
            "channel": {"cid": cid, "id": "sdk-general", "type": "messaging",
                        "member_count": 2},
            "request_info": {"type": "client", "ip": "198.51.100.7",
                             "user_agent": "Mozilla/5.0",
                             "sdk": "stream-chat-js-v9.53.0", "ext": ""}}


def command_body(who, name, args):
    return {"message": {"id": str(uuid.uuid4()),
                        "text": "/%s %s" % (name, args), "command": name,
                        "args": args, "type": "regular", "user": who,
                        "attachments": []},
            "user": who}


class Run:
    def __init__(self, a):
        self.a = a
        self.key = a.api_key
        self.secret = read_secret(a.secret_file)
        self.nfail = 0
        self.sent = {}          # push id -> (plain bytes, signature)

    def ok(self, name):
        print("PASS: %s" % name, flush=True)

    def fail(self, name, why):
        print("FAIL: %s: %s" % (name, why), flush=True)
        self.nfail += 1

    def check(self, name, why):
        """why: None or "" passes; else the failure's reason."""
        if why:
            self.fail(name, why)
        else:
            self.ok(name)

    def send(self, path, obj, wid=None, attempt=1, gz=False, header=True,
             timeout=5.0):
        plain = body(obj)
        wid = wid or str(uuid.uuid4())
        req = signed(self.key, self.secret, plain, path=path, webhook_id=wid,
                     attempt=attempt, gz=gz, ce_header=gz and header)
        t0 = time.monotonic()
        r = request(self.a.port, req, timeout)
        return wid, plain, r, time.monotonic() - t0

    def push(self, obj, **kw):
        wid, plain, r, _ = self.send(PUSH, obj, **kw)
        self.sent[wid] = (plain, sign(self.secret, plain))
        return wid, r


def stored(r):
    j = r.json() if r.status == 200 else None
    return isinstance(j, dict) and j.get("status") == "stored"


def user_order(recs, uids):
    """(why the copies the app accepted did not arrive in the order of
    uids, why one arrived before the one before it was answered); None
    for each that holds.  Every copy counts for the second: no attempt
    at event k+1 before event k was answered 2xx."""
    num = {w: k for k, w in enumerate(uids)}
    mine = [r for r in recs if r.get("route") == "push" and
            r["headers"].get("x-webhook-id") in num]
    good = sorted((r for r in mine if r.get("status") == 200),
                  key=lambda r: r["arrive"])
    order = [num[r["headers"]["x-webhook-id"]] for r in good]
    if len(set(order)) != len(uids):
        why = "%d of %d were accepted by the app" % (len(set(order)),
                                                     len(uids))
        return why, why
    done = {num[r["headers"]["x-webhook-id"]]: r["done"] for r in good}
    early = ["an attempt at %d arrived before %d was answered" % (k, k - 1)
             for r in mine for k in [num[r["headers"]["x-webhook-id"]]]
             if k > 0 and r["arrive"] < done[k - 1]]
    return (None if order == list(range(len(uids))) else
            "arrived as %s" % order), "; ".join(sorted(set(early))) or None


def cmd_run(a):
    t = Run(a)
    alice = user("sdk-alice", "Alice")

    # ---- pushes, as Stream sends them: plain, gzip with its header, and
    # gzip whose header a proxy took off
    bad = []
    plain_ids, gzip_ids = [], []
    for i in range(3):
        wid, r = t.push(message_new("messaging:sdk-%d" % (i % 2), i, alice))
        plain_ids.append(wid)
        if not stored(r):
            bad.append("plain %d: %r" % (i, r))
    for i, header in ((3, True), (4, True), (5, False)):
        wid, r = t.push(message_new("messaging:sdk-gz", i, alice), gz=True,
                        header=header)
        gzip_ids.append(wid)
        if not stored(r):
            bad.append("gzip %d: %r" % (i, r))
    t.check("pushes: 3 plain and 3 gzip (2 with Content-Encoding, 1 "
            "without) answered 200 stored", "; ".join(bad))

    # ---- Stream's retries of one call: attempts 1, 2, 3 of one id
    rid = str(uuid.uuid4())
    ev = message_new("messaging:sdk-retry", 6, alice)
    answers = []
    for attempt in (1, 2, 3):
        _, r = t.push(ev, wid=rid, attempt=attempt)
        answers.append(r.json() if r.status == 200 else r)
    t.check("retries: attempts 1, 2, 3 of one X-Webhook-Id answered 200 "
            "(stored, duplicate, duplicate)",
            None if [x.get("status") if isinstance(x, dict) else x
                     for x in answers] == ["stored", "duplicate", "duplicate"]
            else "answers %r" % answers)

    # ---- five user.updated of one user, no cid; the first one slow at
    # the app, so that any event sent before it was answered shows
    bob = "sdk-bob-%s" % uuid.uuid4().hex[:8]
    uids = [str(uuid.uuid4()) for _ in range(5)]
    control(a.app_port, {"slow": {uids[0]: 400}})
    bad = []
    for i, wid in enumerate(uids):
        ev = {"type": "user.updated", "user": dict(user(bob, "Bob %d" % i),
                                                    updated_at=
                                                    "2026-11-01T11:00:0%d."
                                                    "000000Z" % i),
              "i": i, "created_at": "2026-11-01T11:00:0%d.000000Z" % i}
        _, r = t.push(ev, wid=wid)
        if not stored(r):
            bad.append("user.updated %d: %r" % (i, r))
    t.check("user.updated: five events of one user without a cid answered "
            "200 stored", "; ".join(bad))

    # ---- what the app got
    ids = list(t.sent)
    with open(a.ids, "w") as f:
        f.write("\n".join(ids) + "\n")

    def all_in(recs):
        got = {r["headers"].get("x-webhook-id") for r in recs
               if r.get("route") == "push" and r.get("status") == 200}
        return set(ids) <= got
    recs = wait_records(a.record, all_in, 15)
    if recs is None:
        recs = records(a.record)
        got = {r["headers"].get("x-webhook-id") for r in recs}
        missing = [i for i in ids if i not in got]
        other = sorted({"%s %s -> %s" % (r["method"], r["path"], r["status"])
                        for r in recs if r.get("route") != "push"})
        t.fail("push: every event reached the app within 15 s",
               "%d of %d missing; the app got %d requests%s"
               % (len(missing), len(ids), len(recs),
                  (" elsewhere: " + ", ".join(other[:4])) if other else ""))
    else:
        t.ok("push: every event reached the app within 15 s")
    recs = records(a.record)

    n = {i: len([r for r in of_id(recs, i) if r.get("route") == "push"])
         for i in ids}
    t.check("push: each event reached the app once (the retried id too)",
            ", ".join("%s %d times" % (i, k) for i, k in n.items() if k != 1))
    # the checks of every copy below need every event to have arrived
    never = [i for i in ids if not any(r.get("route") == "push"
                                       for r in of_id(recs, i))]
    never = "%d of %d events never reached the app on %s" % (
        len(never), len(ids), PUSH) if never else None
    wrong = sorted({"%s %s" % (r["method"], r["path"]) for r in recs
                    if r.get("route") is None or
                    (r.get("route") == "push" and r["path"] != PUSH)})
    t.check("push: on its own path %s, and no request on any other path"
            % PUSH, ", ".join(wrong[:5]))
    bad = ["%s: verifyWebhook %s, verifyAndParseWebhook %s (%s)"
           % (r["headers"].get("x-webhook-id"), r["verified"], r["parsed"],
              r["error"]) for r in recs if r.get("route") == "push" and
           r["headers"].get("x-webhook-id") in t.sent and
           not (r["verified"] and r["parsed"])]
    t.check("push: the SDK's verifyWebhook and verifyAndParseWebhook accept "
            "every one", never or "; ".join(bad[:3]))
    bad = []
    for r in recs:
        wid = r["headers"].get("x-webhook-id")
        if r.get("route") != "push" or wid not in t.sent:
            continue
        plain, _ = t.sent[wid]
        if r["sha256"] != hashlib.sha256(plain).hexdigest():
            bad.append("%s: %d bytes, not the %d Stream signed"
                       % (wid, r["len"], len(plain)))
        if "content-encoding" in r["headers"]:
            bad.append("%s: Content-Encoding %s on inflated bytes"
                       % (wid, r["headers"]["content-encoding"]))
    t.check("push: the app got the exact bytes Stream signed (gzip "
            "inflated, no Content-Encoding)", never or "; ".join(bad[:3]))
    bad = []
    for r in recs:
        h = r["headers"]
        wid = h.get("x-webhook-id")
        if r.get("route") != "push" or wid not in t.sent:
            continue
        want = {"x-api-key": a.api_key, "x-signature": t.sent[wid][1],
                "x-webhook-attempt": "1", "x-streamgate-verified": "1",
                "x-streamgate-delivery-attempt": "1"}
        miss = {k: h.get(k) for k, v in want.items() if h.get(k) != v}
        if not re.fullmatch(r"[0-9]+", h.get("x-streamgate-seq", "")):
            miss["x-streamgate-seq"] = h.get("x-streamgate-seq")
        if miss:
            bad.append("%s: %s, want %s" % (wid, miss,
                                            {k: want.get(k, "N")
                                             for k in miss}))
    t.check("push: headers X-Webhook-Id, X-Webhook-Attempt, X-Api-Key, "
            "Stream's X-Signature, X-Streamgate-Verified, -Seq, "
            "-Delivery-Attempt", never or "; ".join(bad[:2]))

    order, early = user_order(recs, uids)
    t.check("user.updated: the user's five events arrived in order 0..4",
            order)
    t.check("user.updated: each only after the one before was answered "
            "(the first took the app 400 ms)", early)

    # ---- Before-Message-Send: the app's rewritten answer back to Stream
    def hook(name, path, obj, route, want_path, timeout=5.0, extra=None):
        wid, plain, r, took = t.send(path, obj, timeout=timeout)
        rs = [x for x in of_id(records(a.record), wid)]
        why = []
        if len(rs) != 1:
            why.append("the app got it %d times" % len(rs))
        else:
            x = rs[0]
            if x.get("route") != route or x["path"] != want_path:
                why.append("the app got %s %s" % (x["method"], x["path"]))
            if not (x.get("verified") and x.get("parsed")):
                why.append("the SDK did not verify it (%s)" % x.get("error"))
            if x["headers"].get("x-signature") != sign(t.secret, plain):
                why.append("X-Signature %r" % x["headers"].get("x-signature"))
            if r.status != 200 or x.get("answer") is None or \
                    r.body != x["answer"].encode():
                why.append("Stream got %r, the app answered %r"
                           % (r, (x.get("answer") or "")[:120]))
            if extra:
                why.extend(extra(x, r, took))
        t.check(name, "; ".join(why))
        return took

    hook("before-message-send: verified by the app on its own path; the "
         "app's rewritten message comes back to Stream byte for byte",
         BMS, bms_body(alice, "héllo, is this OK?"), "before_message_send",
         BMS)

    # ---- Custom Commands, both forms of the URL
    def says(name):
        def f(x, r, took):
            j = r.json() or {}
            m = j.get("message") or {}
            return [] if x.get("command") == name and \
                m.get("text", "").startswith("/%s " % name) else \
                ["the app saw command %r, answered %r" % (x.get("command"),
                                                          m.get("text"))]
        return f
    hook("custom command, URL form %s/{type}: reached the app on "
         "%s/giphy, verified, its answer back to Stream" % (CMD, CMD),
         CMD + "/giphy", command_body(alice, "giphy", "cats"),
         "custom_commands", CMD + "/giphy", extra=says("giphy"))
    hook("custom command, URL form %s?type={type}: reached the app on "
         "%s?type=ban, verified, its answer back to Stream" % (CMD, CMD),
         CMD + "?type=ban", command_body(alice, "ban", "@mallory"),
         "custom_commands", CMD + "?type=ban", extra=says("ban"))

    # ---- a 3 s Before-Message-Send deadline and an app that takes 2.5 s
    control(a.app_port, {"bms_sleep_ms": 2500})

    def slow(x, r, took):
        return [] if 2.4 <= took < 3.0 else ["answered in %.2f s" % took]
    took = hook("before-message-send, deadline 3 s in the config: an app "
                "that takes 2.5 s gets its answer to Stream",
                BMS, bms_body(alice, "slow moderation"),
                "before_message_send", BMS, timeout=6.0, extra=slow)
    print("# the slow Before-Message-Send was answered in %.2f s" % took)
    control(a.app_port, {"bms_sleep_ms": 0})

    # ---- the app's check is real: a wrong signature straight to the app
    plain = body(message_new("messaging:sdk-forged", 7, alice))
    raw = build_request("POST", PUSH, plain, [
        ("X-Webhook-Id", str(uuid.uuid4())), ("X-Api-Key", a.api_key),
        ("X-Signature", sign(b"not-the-secret", plain))])
    r = request(a.app_port, raw)
    t.check("the app's SDK check is real: a wrong X-Signature sent straight "
            "to the app is refused", None if r.status == 401 else repr(r))
    return 1 if t.nfail else 0


# ---------------------------------------------------------------- TLS

def https_post(url, tls_port, data, headers, timeout=5.0):
    """POST to url over TLS at 127.0.0.1:tls_port, with url's host as SNI
    and Host: (status, body)."""
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    target = u.path + ("?" + u.query if u.query else "")
    lines = ["POST %s HTTP/1.1" % target, "Host: %s" % u.netloc,
             "Content-Type: application/json",
             "Content-Length: %d" % len(data), "Connection: close"]
    lines += ["%s: %s" % kv for kv in headers]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
    with socket.create_connection(("127.0.0.1", tls_port), timeout) as s:
        with ctx.wrap_socket(s, server_hostname=u.hostname) as ts:
            ts.sendall(raw)
            got = b""
            while True:
                d = ts.recv(65536)
                if not d:
                    break
                got += d
    head, _, rest = got.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def cmd_tls(a):
    urls = json.load(open(a.urls))
    secret = read_secret(a.secret_file)
    nfail = 0
    for name, url, obj, route in (
            ("webhook_url", urls["webhook_url"],
             message_new("messaging:sdk-tls", 8, user("sdk-tls", "T")),
             "push"),
            ("custom_action_handler_url", urls["custom_action_handler_url"]
             .replace("{type}", "giphy"),
             command_body(user("sdk-tls", "T"), "giphy", "tls"),
             "custom_commands")):
        plain = body(obj)
        wid = str(uuid.uuid4())
        try:
            status, rbody = https_post(url, a.tls_port, plain, [
                ("X-Webhook-Id", wid), ("X-Webhook-Attempt", "1"),
                ("X-Api-Key", a.api_key),
                ("X-Signature", sign(secret, plain))])
        except (OSError, ValueError, IndexError) as e:
            status, rbody = None, repr(e).encode()
        recs = wait_records(a.record, lambda rs: any(
            r.get("route") == route and
            r["headers"].get("x-webhook-id") == wid for r in rs), 10)
        why = []
        if status != 200:
            why.append("%s answered %s %r" % (url, status, rbody[:100]))
        if recs is None:
            why.append("the app never got it")
        name = "stream-urls: %s (%s) takes Stream's signed request over " \
               "TLS and the app gets it" % (name, url)
        print(("FAIL: %s: %s" % (name, "; ".join(why))) if why else
              "PASS: %s" % name)
        nfail += bool(why)
    return 1 if nfail else 0


def cmd_redelivered(a):
    recs = wait_records(a.record, lambda rs: len(
        [r for r in of_id(rs, a.id) if r.get("status") == 200]) >= 2,
        a.timeout)
    if recs is None:
        print("the app got %s %d time(s) in all, want 2"
              % (a.id, len(of_id(records(a.record), a.id))))
        return 1
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("config")
    for f in ("readme", "out", "cert", "key", "api-key", "secret-file",
              "store"):
        c.add_argument("--" + f, required=True)
    for f in ("port", "tls-port", "app-port", "bms-deadline-ms"):
        c.add_argument("--" + f, required=True, type=int)
    r = sub.add_parser("run")
    for f in ("record", "api-key", "secret-file", "ids"):
        r.add_argument("--" + f, required=True)
    for f in ("port", "app-port"):
        r.add_argument("--" + f, required=True, type=int)
    s = sub.add_parser("tls")
    for f in ("urls", "api-key", "secret-file", "record"):
        s.add_argument("--" + f, required=True)
    s.add_argument("--tls-port", required=True, type=int)
    d = sub.add_parser("redelivered")
    d.add_argument("--record", required=True)
    d.add_argument("--id", required=True)
    d.add_argument("--timeout", type=float, default=10)
    a = p.parse_args()
    return {"config": cmd_config, "run": cmd_run, "tls": cmd_tls,
            "redelivered": cmd_redelivered}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
