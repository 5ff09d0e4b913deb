/*
 * store_sqlite_schema.c: the SQLite store's tables, in one place: the
 * schema, its upgrades from versions 1 to 4, and the version probe.  The
 * daemon has it made or upgraded when it opens the store (store_sqlite.c);
 * the control tool reads the version before it trusts a column
 * (store_sqlite_admin.c).
 */
#include <stddef.h>
#include <stdio.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_schema.h"

/*
 * The CHECKs compare with OR, not IN (...): SQLite builds an IN list's
 * lookup table on every INSERT, which costs a sixth of the insert rate.
 *
 * Version 4 made an id unique per API key, not across keys (two apps on
 * one daemon may send the same X-Webhook-Id), and kept the body's SHA-256
 * so that a later copy with another body is told apart.
 *
 * Version 5: no index on the id at all.  Stream's ids are random UUIDs: in
 * a B-tree each insert rewrote a random leaf page (12 KB written per 1.8
 * KB row, against 4.5 KB with no such index, and a cost that grew with the
 * store).  The daemon's writer decides dedup against the window's ids in
 * memory instead (store_sqlite.c), rebuilt from the rows at start: events
 * in seq order, `seen` in full.  So `seen` needs no key either, only the
 * time its rows expire by.  A lookup by id scans the table: look up by seq.
 */
static const char *const schema_v5 =
	"CREATE TABLE events ("
	" seq INTEGER PRIMARY KEY,"
	" webhook_id TEXT NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind = 'push' OR"
	"  kind = 'before_message_send' OR kind = 'custom_command'),"
	" event_type TEXT,"
	" api_key TEXT NOT NULL,"
	" attempt INTEGER NOT NULL,"
	" command TEXT,"
	" received_at INTEGER NOT NULL,"
	" body BLOB NOT NULL,"
	" cid TEXT,"
	" state TEXT NOT NULL DEFAULT 'kept' CHECK (state = 'kept' OR"
	"  state = 'pending' OR state = 'delivered' OR state = 'dead'),"
	" tries INTEGER NOT NULL DEFAULT 0,"
	" next_at INTEGER NOT NULL DEFAULT 0,"
	" delivered_at INTEGER,"
	" last_error TEXT,"
	" signature TEXT,"
	" order_key TEXT,"
	" target TEXT,"
	" body_sha256 TEXT);"
	/* api_key '': an id deleted by retention before version 4, whose
	 * key nobody kept: it stands for every key */
	"CREATE TABLE seen ("
	" webhook_id TEXT NOT NULL,"
	" api_key TEXT NOT NULL,"
	" received_at INTEGER NOT NULL,"
	" body_sha256 TEXT);"
	/*
	 * Partial indexes: an insert that is not pending touches none of
	 * them, and the pending, dead and retention queries read only the
	 * rows they want.
	 */
	"CREATE INDEX seen_received ON seen(received_at);"
	"CREATE INDEX events_pending ON events(seq) WHERE state = 'pending';"
	"CREATE INDEX events_dead ON events(seq) WHERE state = 'dead';"
	"CREATE INDEX events_delivered ON events(received_at)"
	" WHERE state = 'delivered';";

/*
 * Versions 1 to 3 added columns at the end, so an upgraded table had the
 * columns of a new one in the same order; old rows read the defaults
 * (NULL for version 3's: nobody kept Stream's signature or the request's
 * target then).  From version 1 (its `seen` as version 2 made it; the
 * copy below makes it anew):
 */
static const char *const migrate_v1 =
	"ALTER TABLE events ADD COLUMN cid TEXT;"
	"ALTER TABLE events ADD COLUMN state TEXT NOT NULL DEFAULT 'kept'"
	" CHECK (state = 'kept' OR state = 'pending' OR state = 'delivered' OR"
	" state = 'dead');"
	"ALTER TABLE events ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE events ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE events ADD COLUMN delivered_at INTEGER;"
	"ALTER TABLE events ADD COLUMN last_error TEXT;"
	"CREATE TABLE seen (webhook_id TEXT PRIMARY KEY,"
	" received_at INTEGER NOT NULL);";

/* From version 2. */
static const char *const migrate_v2 =
	"ALTER TABLE events ADD COLUMN signature TEXT;"
	"ALTER TABLE events ADD COLUMN order_key TEXT;"
	"ALTER TABLE events ADD COLUMN target TEXT;";

/*
 * From versions 3 and 4: a UNIQUE constraint (version 3's on the id,
 * version 4's on the id and key) cannot be dropped in place, so both
 * tables are made anew and the rows copied, seq and all (SQLite's own
 * recipe for such changes; the whole store is written once more).  The
 * old indexes go first: the new ones have their names.  Version 3's rows
 * have no body_sha256 (a copy of one is a plain duplicate), and its `seen`
 * ids no API key ('': every key).
 */
static const char *const migrate_before =
	"DROP INDEX IF EXISTS events_pending;"
	"DROP INDEX IF EXISTS events_dead;"
	"DROP INDEX IF EXISTS events_delivered;"
	"DROP INDEX IF EXISTS seen_received;"
	"ALTER TABLE events RENAME TO events_old;"
	"ALTER TABLE seen RENAME TO seen_old;";

#define V3_COLS	"seq, webhook_id, kind, event_type, api_key, attempt," \
	" command, received_at, body, cid, state, tries, next_at," \
	" delivered_at, last_error, signature, order_key, target"
static const char *const migrate_v3_after =
	"INSERT INTO events (" V3_COLS ") SELECT " V3_COLS " FROM events_old;"
	"INSERT INTO seen (webhook_id, api_key, received_at)"
	" SELECT webhook_id, '', received_at FROM seen_old;"
	"DROP TABLE events_old;"
	"DROP TABLE seen_old;";

#define V4_COLS	V3_COLS ", body_sha256"
static const char *const migrate_v4_after =
	"INSERT INTO events (" V4_COLS ") SELECT " V4_COLS " FROM events_old;"
	"INSERT INTO seen (webhook_id, api_key, received_at, body_sha256)"
	" SELECT webhook_id, api_key, received_at, body_sha256 FROM seen_old;"
	"DROP TABLE events_old;"
	"DROP TABLE seen_old;";

int
store_sqlite_user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st,
	    NULL)) != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*v = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* 1 when the events table exists, 0 not, -1 error. */
static int
events_exists(sqlite3 *db)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE"
	    " type = 'table' AND name = 'events'", -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The tables made (has: 0), or brought from version v up to the newest,
 * in the open transaction: SQLITE_OK, or SQLite's error. */
static int
schema_exec(sqlite3 *db, int v, int has)
{
	const char *steps[8];
	char version[64];
	size_t i, n = 0;
	int rc;

	if (!has)
		steps[n++] = schema_v5;
	else {
		if (v < 2)
			steps[n++] = migrate_v1;
		if (v < 3)
			steps[n++] = migrate_v2;
		steps[n++] = migrate_before;
		steps[n++] = schema_v5;
		steps[n++] = v < 4 ? migrate_v3_after : migrate_v4_after;
	}
	snprintf(version, sizeof(version), "PRAGMA user_version = %d",
	    STORE_SQLITE_SCHEMA);
	steps[n++] = version;
	for (i = 0; i < n; i++)
		if ((rc = sqlite3_exec(db, steps[i], NULL, NULL,
		    NULL)) != SQLITE_OK)
			return rc;
	return SQLITE_OK;
}

/*
 * Create the schema, or bring a version 1 to 4 database (or one from
 * before user_version was set) up to version 5: in one transaction, so a
 * crash leaves either version, never half of one.
 */
int
store_sqlite_schema_init(sqlite3 *db, const char *path, char *err,
    size_t errlen)
{
	int v, has;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (store_sqlite_user_version(db, &v) != SQLITE_OK ||
	    (has = events_exists(db)) < 0)
		goto fail;
	if (v > STORE_SQLITE_SCHEMA) {
		log_errbuf(err, errlen, "store: %s: schema version %d is newer "
		    "than this streamgated's (%d)", path, v,
		    STORE_SQLITE_SCHEMA);
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (v < STORE_SQLITE_SCHEMA) {
		if (has)
			log_info("store: %s: upgrading schema version %d to %d",
			    path, v, STORE_SQLITE_SCHEMA);
		if (schema_exec(db, v, has) != SQLITE_OK)
			goto fail;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
 fail:
	log_errbuf(err, errlen, "store: %s: %s", path, sqlite3_errmsg(db));
	(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
