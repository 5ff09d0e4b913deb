#!/usr/bin/env python3
"""fill-store.py DB N: grow a streamgated SQLite store to N events, as if
Stream had sent them over the last day.

The store must exist and hold at least one event (the daemon made it and
stored a signed probe): every new row is a copy of the newest one with a
fresh random version 4 UUID as its webhook id (the form Stream sends) and a
received_at spread evenly over the 23 hours before now, so every id is
still within a 24 h dedup window and the daemon's id set must hold them
all when it opens the store.  The copies keep the probe's state, body and
signature; only the id and the time differ, which is all the store's cost
depends on.

Run with the daemon stopped.  One transaction, synchronous=OFF: this is
setup, not the thing measured; but the file is fsync'd at the end, so the
daemon meets a store at rest (without it the daemon's first checkpoint
flushes the fill's 2 GB of dirty pages: a 1.4 s stall that no store
written over a day by the daemon itself would have).  Prints the rows it
added and the seconds.
"""
import os
import sqlite3
import sys
import time

HOURS = 23


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: fill-store.py DB N")
    path, n = sys.argv[1], int(sys.argv[2])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    have = db.execute("SELECT count(*) FROM events").fetchone()[0]
    if have == 0:
        sys.exit("fill-store: %s has no event to copy" % path)
    add = n - have
    if add <= 0:
        print(0, 0.0)
        return
    now = int(time.time() * 1000)
    span = HOURS * 3600 * 1000
    t0 = time.time()
    db.execute("BEGIN")
    # a random v4 UUID: 8-4-4-4-12 lower-case hex, version nibble 4,
    # variant 8..b; oldest first, so seq order stays arrival order
    db.execute(
        """
        WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?1),
        src AS (SELECT * FROM events ORDER BY seq DESC LIMIT 1)
        INSERT INTO events (webhook_id, kind, event_type, api_key, attempt,
            command, received_at, body, cid, state, signature, order_key,
            target, body_sha256)
        SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2)))
               || '-4' || substr(lower(hex(randomblob(2))), 2) || '-'
               || substr('89ab', 1 + (abs(random()) % 4), 1)
               || substr(lower(hex(randomblob(2))), 2) || '-'
               || lower(hex(randomblob(6))),
               kind, event_type, api_key, attempt, command,
               ?2 - ?3 + (i * ?3) / ?1, body, cid, state, signature,
               order_key, target, body_sha256
        FROM c, src
        """, (add, now, span))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    print(add, "%.1f" % (time.time() - t0))


if __name__ == "__main__":
    main()
