#!/usr/bin/env python3
"""make-bodies.py SECRET_FILE OUT_DIR COUNT THREADS: signed Stream push bodies
for wrk-signed.lua (bench/bench-daemon.sh, tests/daemon/test_stress.sh).

A message.new push as Stream sends it (~1.7 KB); the message id and the
timestamps vary, each body signed with the secret (first line of
SECRET_FILE).  Writes OUT_DIR/template (the fixed pieces), OUT_DIR/vars.T
(one "signature<TAB>vars..." line per body, split over THREADS files) and
OUT_DIR/probe.json (the first body).
"""
import hashlib, hmac, json, sys, uuid
secret = open(sys.argv[1]).readline().strip().encode()
out, n, nthreads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
MID, TS = "@@MID@@", "@@TS@@"

def user(uid, name, role="user", online=True):
    return {"id": uid, "role": role, "created_at": "2024-03-11T09:12:44.118391Z",
            "updated_at": "2025-01-02T17:40:05.61972Z", "last_active": TS,
            "banned": False, "online": online, "name": name,
            "image": "https://cdn.example.com/avatars/%s.png" % uid}

sender = user("u-7c1f3a", "Mara Lindqvist")
cid = "messaging:support-4412"
body = {
    "type": "message.new", "cid": cid, "channel_id": "support-4412",
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
    hits = [(rest.find(p), p) for p in (MID, TS) if rest.find(p) >= 0]
    if not hits:
        break
    at, p = min(hits)
    pieces.append(rest[:at]); order.append(p); rest = rest[at + len(p):]
pieces.append(rest)
kinds = (MID, TS)
with open(out + "/template", "w") as f:
    f.write(",".join(str(kinds.index(p) + 1) for p in order) + "\n")
    f.write("\n".join(pieces) + "\n")
idx = [kinds.index(p) for p in order]
outs = [open("%s/vars.%d" % (out, t), "w") for t in range(nthreads)]
base = 1741000000000
for i in range(n):
    mid = str(uuid.uuid4())	# Stream's message ids: random, like its webhook ids
    ms = base + i * 7
    ts = "2025-03-03T%02d:%02d:%02d.%03dZ" % ((ms // 3600000) % 24, (ms // 60000) % 60, (ms // 1000) % 60, ms % 1000)
    vals = (mid, ts)
    b = pieces[0] + "".join(vals[k] + pieces[j + 1] for j, k in enumerate(idx))
    if i == 0:
        size = len(b)
        open(out + "/probe.json", "w").write(b)
    sig = hmac.new(secret, b.encode(), hashlib.sha256).hexdigest()
    outs[i % nthreads].write("%s\t%s\t%s\n" % (sig, mid, ts))
for f in outs:
    f.close()
print("bench-daemon: %d signed bodies of %d bytes in %s" % (n, size, out), file=sys.stderr)
