#!/usr/bin/env python3
"""make-bodies.py SECRET_FILE OUT_DIR COUNT THREADS [CHANNELS]: signed Stream
push bodies for wrk-signed.lua (bench/bench-daemon.sh, tests/daemon/test_stress.sh).

A message.new push as Stream sends it (~1.7 KB); the message id, the
timestamps and the channel vary, each body signed with the secret (first
line of SECRET_FILE).  CHANNELS (default 1): how many channels the messages
are in.  One puts every event in "messaging:support-4412", so delivery,
which keeps one channel's order, sends them one at a time.  More are drawn
as an app's traffic spreads: Zipf (channel k of N with odds 1/k, a fixed
seed), so the busiest of 1000 carries 13% of the events and half of them
carry under 5%.  The channel's number is 4 digits: every body has the size
of the one-channel body.  Writes OUT_DIR/template (the fixed pieces), OUT_DIR/vars.T
(one "signature<TAB>vars..." line per body, split over THREADS files) and
OUT_DIR/probe.json (the first body).
"""
import bisect, hashlib, hmac, itertools, json, random, sys, uuid
secret = open(sys.argv[1]).readline().strip().encode()
out, n, nthreads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
nchan = int(sys.argv[5]) if len(sys.argv) > 5 else 1
assert 1 <= nchan <= 9999, "CHANNELS: 1 to 9999"
MID, TS, CH = "@@MID@@", "@@TS@@", "@@CH@@"

def user(uid, name, role="user", online=True):
    return {"id": uid, "role": role, "created_at": "2024-03-11T09:12:44.118391Z",
            "updated_at": "2025-01-02T17:40:05.61972Z", "last_active": TS,
            "banned": False, "online": online, "name": name,
            "image": "https://cdn.example.com/avatars/%s.png" % uid}

sender = user("u-7c1f3a", "Mara Lindqvist")
cid = "messaging:support-" + CH
body = {
    "type": "message.new", "cid": cid, "channel_id": "support-" + CH,
    "channel_type": "messaging", "message_id": MID,
    "message": {
        "id": MID, "text": "Hi! The invoice for March still shows the old plan, can you check it before Friday? I attached the PDF.",
        "type": "regular", "user": sender,
        "attachments": [{"type": "file", "title": "invoice-2025-03.pdf", "mime_type": "application/pdf",
                         "file_size": 48213, "asset_url": "https://cdn.example.com/f/invoice-2025-03.pdf"}],
        "latest_reactions": [], "own_reactions": [], "reaction_counts": {}, "reaction_scores": {},
        "reply_count": 0, "cid": cid, "created_at": TS, "updated_at": TS,
        "shadowed": False, "mentioned_users": [], "silent": False, "pinned": False, "pinned_at": None,
        "pinned_by": None, "pin_expires": None},
    "user": sender,
    "members": [{"user_id": sender["id"],
                 "created_at": "2025-02-20T08:01:12.5Z", "updated_at": "2025-02-20T08:01:12.5Z",
                 "banned": False, "role": "owner"},
                {"user_id": "agent-12",
                 "created_at": "2025-02-20T08:03:40.2Z", "updated_at": "2025-02-20T08:03:40.2Z",
                 "banned": False, "role": "member"}],
    "watcher_count": 2, "channel_last_message_at": TS, "created_at": TS,
}
text = json.dumps(body, separators=(",", ":"))
# split on the placeholders, in the order they occur
pieces, order, rest = [], [], text
while True:
    hits = [(rest.find(p), p) for p in (MID, TS, CH) if rest.find(p) >= 0]
    if not hits:
        break
    at, p = min(hits)
    pieces.append(rest[:at]); order.append(p); rest = rest[at + len(p):]
pieces.append(rest)
kinds = (MID, TS, CH)
with open(out + "/template", "w") as f:
    f.write(",".join(str(kinds.index(p) + 1) for p in order) + "\n")
    f.write("\n".join(pieces) + "\n")
idx = [kinds.index(p) for p in order]
outs = [open("%s/vars.%d" % (out, t), "w") for t in range(nthreads)]
base = 1741000000000
rng = random.Random(4412)
cum = list(itertools.accumulate(1.0 / k for k in range(1, nchan + 1)))
def channel():
    if nchan == 1:
        return "4412"
    return "%04d" % (bisect.bisect_left(cum, rng.random() * cum[-1]) + 1)
for i in range(n):
    mid = str(uuid.uuid4())	# Stream's message ids: random, like its webhook ids
    ms = base + i * 7
    ts = "2025-03-03T%02d:%02d:%02d.%03dZ" % ((ms // 3600000) % 24, (ms // 60000) % 60, (ms // 1000) % 60, ms % 1000)
    vals = (mid, ts, channel())
    b = pieces[0] + "".join(vals[k] + pieces[j + 1] for j, k in enumerate(idx))
    if i == 0:
        size = len(b)
        open(out + "/probe.json", "w").write(b)
    sig = hmac.new(secret, b.encode(), hashlib.sha256).hexdigest()
    outs[i % nthreads].write("%s\t%s\n" % (sig, "\t".join(vals)))
for f in outs:
    f.close()
print("bench-daemon: %d signed bodies of %d bytes in %d channel(s) in %s" % (n, size, nchan, out), file=sys.stderr)
