/*
 * store_sqlite_schema.c: the SQLite store's tables, in one place: the
 * schema, its upgrades from versions 1 and 2, and the version probe.  The
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
 */
static const char *const schema_v3 =
	"CREATE TABLE events ("
	" seq INTEGER PRIMARY KEY,"
	" webhook_id TEXT NOT NULL UNIQUE,"
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
	" target TEXT);";

/*
 * The upgrades add columns at the end, so an upgraded table has the
 * columns of a new one in the same order; old rows read the defaults
 * (NULL for version 3's: nobody kept Stream's signature or the request's
 * target then), so no row is rewritten.  From version 1:
 */
static const char *const migrate_v1 =
	"ALTER TABLE events ADD COLUMN cid TEXT;"
	"ALTER TABLE events ADD COLUMN state TEXT NOT NULL DEFAULT 'kept'"
	" CHECK (state = 'kept' OR state = 'pending' OR state = 'delivered' OR"
	" state = 'dead');"
	"ALTER TABLE events ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE events ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE events ADD COLUMN delivered_at INTEGER;"
	"ALTER TABLE events ADD COLUMN last_error TEXT;";

/* From version 2.  The indexes stay: delivery still scans pending rows by
 * seq, and orders them by order_key in memory. */
static const char *const migrate_v2 =
	"ALTER TABLE events ADD COLUMN signature TEXT;"
	"ALTER TABLE events ADD COLUMN order_key TEXT;"
	"ALTER TABLE events ADD COLUMN target TEXT;";

/*
 * A new store, and one upgraded from version 1, end with these (version 2
 * has them).  Partial indexes: an insert that is not pending touches none
 * of them, and the pending, dead and retention queries read only the rows
 * they want.
 */
static const char *const schema_common =
	"CREATE TABLE seen ("
	" webhook_id TEXT PRIMARY KEY,"
	" received_at INTEGER NOT NULL);"
	"CREATE INDEX seen_received ON seen(received_at);"
	"CREATE INDEX events_pending ON events(seq) WHERE state = 'pending';"
	"CREATE INDEX events_dead ON events(seq) WHERE state = 'dead';"
	"CREATE INDEX events_delivered ON events(received_at)"
	" WHERE state = 'delivered';";

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
	const char *steps[4];
	char version[64];
	size_t i, n = 0;
	int rc;

	if (!has) {
		steps[n++] = schema_v3;
		steps[n++] = schema_common;
	} else {
		if (v < 2) {
			steps[n++] = migrate_v1;
			steps[n++] = schema_common;
		}
		steps[n++] = migrate_v2;
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
 * Create the schema, or bring a version 1 or 2 database (or one from
 * before user_version was set) up to version 3: in one transaction, so a
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
