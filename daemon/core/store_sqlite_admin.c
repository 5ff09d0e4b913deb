/*
 * store_sqlite_admin.c: the control tool's side of the SQLite store
 * (store_admin.h): every statement but the daemon's own (store_sqlite.c:
 * the writer's inserts, marks and retention, the delivery thread's
 * reads); the tables themselves are store_sqlite_schema.c's.  No thread
 * and no queue: the control tool links this and the schema alone.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_admin.h"
#include "store_sqlite_schema.h"

#define REPLAY_CHUNK	5000	/* rows per transaction: the daemon waits
				 * 1 s at most for its own */

/*
 * An event's columns, in the order of struct store_admin_event, by schema
 * version: 1 (no delivery columns: every event is kept), 2 (nothing kept
 * of the request to forward it), 3 (no body hash), 4 and 5 (the same
 * columns; 5 dropped the id's index).  CAST: a body some
 * other writer stored as TEXT still counts bytes.
 */
#define BODY_BYTES	"length(CAST(body AS BLOB))"
#define V2_COLS		"seq, received_at, kind, state, tries, event_type," \
	" webhook_id, attempt, api_key, command, cid, next_at, delivered_at," \
	" last_error"
#define V3_COLS		V2_COLS ", order_key, signature, target, " BODY_BYTES
_Static_assert(STORE_SQLITE_SCHEMA == 5, "event_cols: a line per version");
static const char *const event_cols[STORE_SQLITE_SCHEMA + 1] = {
	[1] = "seq, received_at, kind, 'kept', 0, event_type, webhook_id,"
	    " attempt, api_key, command, NULL, 0, NULL, NULL, NULL, NULL,"
	    " NULL, " BODY_BYTES ", NULL",
	[2] = V2_COLS ", NULL, NULL, NULL, " BODY_BYTES ", NULL",
	[3] = V3_COLS ", NULL",
	[4] = V3_COLS ", body_sha256",
	[5] = V3_COLS ", body_sha256",
};
#define EVENT_BODY	19	/* store_admin_get's body: after event_cols */

#define REPLAY_SET	"UPDATE events SET state = 'pending', tries = 0," \
	" next_at = 0, last_error = NULL"

/* ---- the control tool's side ---- */

struct store_admin {
	sqlite3		*db;
	int		 schema;	/* user_version, 1 to the newest
					 * (0, or a newer one: the nearest) */
	sqlite3_stmt	*cur;		/* the list, or the event got */
	int		 snapshot;	/* a read transaction is open */
	char		 uri[];		/* to name the store */
};

/* A statement failed: SQLite says why. */
static enum store_admin_status
failed(struct store_admin *a, char *err, size_t errlen)
{
	log_errbuf(err, errlen, "%s: %s", a->uri, sqlite3_errmsg(a->db));
	return STORE_ADMIN_FAILED;
}

/* Why the file cannot be used, by SQLite's result code. */
static enum store_admin_status
unusable(struct store_admin *a, int rc, char *err, size_t errlen)
{
	switch (rc) {
	case SQLITE_ERROR:
	case SQLITE_NOTADB:
		log_errbuf(err, errlen, "%s: not a streamgate store (%s)",
		    a->uri, sqlite3_errmsg(a->db));
		return STORE_ADMIN_FAILED;
	case SQLITE_READONLY:
		/* WAL with no -shm file yet, which a reader cannot create
		 * without write access to the directory */
		log_errbuf(err, errlen, "%s: %s: run as the daemon's user, or "
		    "while the daemon runs", a->uri, sqlite3_errmsg(a->db));
		return STORE_ADMIN_FAILED;
	}
	return failed(a, err, errlen);
}

static enum store_admin_status
no_event(struct store_admin *a, int64_t seq, char *err, size_t errlen)
{
	log_errbuf(err, errlen, "no event %" PRId64 " in %s", seq, a->uri);
	return STORE_ADMIN_NO_EVENT;
}

static enum store_admin_status
prepare(struct store_admin *a, const char *sql, sqlite3_stmt **st,
    char *err, size_t errlen)
{
	int rc;

	if ((rc = sqlite3_prepare_v2(a->db, sql, -1, st, NULL)) == SQLITE_OK)
		return STORE_ADMIN_OK;
	return unusable(a, rc, err, errlen);
}

/*
 * A read transaction: in WAL mode a snapshot, so the statements in it see
 * the same rows while the daemon keeps writing.  read_end ends it.
 */
static enum store_admin_status
read_begin(struct store_admin *a, char *err, size_t errlen)
{
	if (sqlite3_exec(a->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return failed(a, err, errlen);
	a->snapshot = 1;
	return STORE_ADMIN_OK;
}

/* Drop the list or the event got, and end the read transaction. */
static void
read_end(struct store_admin *a)
{
	sqlite3_finalize(a->cur);
	a->cur = NULL;
	if (a->snapshot)
		/* it only read: nothing is lost if this fails */
		(void)sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL);
	a->snapshot = 0;
}

/* "SELECT <event_cols><rest>" as the current statement. */
static enum store_admin_status
event_select(struct store_admin *a, const char *rest, char *err,
    size_t errlen)
{
	enum store_admin_status rc;
	char *sql;

	read_end(a);
	if (asprintf(&sql, "SELECT %s%s", event_cols[a->schema], rest) == -1) {
		log_errbuf(err, errlen, "%s: out of memory", a->uri);
		return STORE_ADMIN_FAILED;
	}
	rc = prepare(a, sql, &a->cur, err, errlen);
	free(sql);
	return rc;
}

enum store_admin_status
store_sqlite_admin_open(struct store_admin **ap, const char *uri,
    enum store_admin_mode mode, char *err, size_t errlen)
{
	const char *path = uri + 7;
	struct store_admin *a;
	struct stat sb;
	size_t len = strlen(uri);
	enum store_admin_status rc;
	int v = 0, sqlrc;

	/* stat first: a clearer message than SQLite's "unable to open" */
	if (stat(path, &sb) == -1) {
		if (errno == ENOENT) {
			log_errbuf(err, errlen, "%s: no such file", uri);
			return STORE_ADMIN_MISSING;
		}
		log_errbuf(err, errlen, "%s: %s", uri, strerror(errno));
		return STORE_ADMIN_FAILED;
	}
	if (!S_ISREG(sb.st_mode)) {
		log_errbuf(err, errlen, "%s: not a regular file", uri);
		return STORE_ADMIN_FAILED;
	}
	if ((a = calloc(1, sizeof(*a) + len + 1)) == NULL) {
		log_errbuf(err, errlen, "%s: out of memory", uri);
		return STORE_ADMIN_FAILED;
	}
	memcpy(a->uri, uri, len + 1);
	/* never SQLITE_OPEN_CREATE: a missing store stays missing */
	if (sqlite3_open_v2(path, &a->db, mode == STORE_ADMIN_REPLAY ?
	    SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		log_errbuf(err, errlen, "%s: %s", uri, a->db ?
		    sqlite3_errmsg(a->db) : "out of memory");
		rc = STORE_ADMIN_FAILED;
		goto fail;
	}
	/* a checkpoint, WAL recovery or the daemon's commit may hold a lock
	 * for a moment */
	sqlite3_busy_timeout(a->db, 5000);
	if ((sqlrc = store_sqlite_user_version(a->db, &v)) != SQLITE_OK) {
		rc = unusable(a, sqlrc, err, errlen);
		goto fail;
	}
	a->schema = v < 1 ? 1 : v > STORE_SQLITE_SCHEMA ?
	    STORE_SQLITE_SCHEMA : v;
	/* replay writes the delivery columns: a version 1 store has none */
	if (mode == STORE_ADMIN_REPLAY && a->schema < 2) {
		log_errbuf(err, errlen, "%s: schema version 1, from before "
		    "delivery: start streamgated (this version) once to "
		    "upgrade it", uri);
		rc = STORE_ADMIN_OLD;
		goto fail;
	}
	*ap = a;
	return STORE_ADMIN_OK;
 fail:
	store_admin_close(a);
	return rc;
}

void
store_admin_close(struct store_admin *a)
{
	if (a == NULL)
		return;
	read_end(a);
	/* a replay not committed is rolled back */
	sqlite3_close(a->db);
	free(a);
}

/* The current row, selected with event_cols first. */
static void
event_read(sqlite3_stmt *st, struct store_admin_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = sqlite3_column_int64(st, 0);
	ev->received_at = sqlite3_column_int64(st, 1);
	ev->kind = (const char *)sqlite3_column_text(st, 2);
	ev->state = (const char *)sqlite3_column_text(st, 3);
	ev->tries = sqlite3_column_int64(st, 4);
	ev->event_type = (const char *)sqlite3_column_text(st, 5);
	ev->webhook_id = (const char *)sqlite3_column_text(st, 6);
	ev->attempt = sqlite3_column_int64(st, 7);
	ev->api_key = (const char *)sqlite3_column_text(st, 8);
	ev->command = (const char *)sqlite3_column_text(st, 9);
	ev->cid = (const char *)sqlite3_column_text(st, 10);
	ev->next_at = sqlite3_column_int64(st, 11);
	ev->delivered_at = sqlite3_column_int64(st, 12);
	ev->last_error = (const char *)sqlite3_column_text(st, 13);
	ev->order_key = (const char *)sqlite3_column_text(st, 14);
	ev->signature = (const char *)sqlite3_column_text(st, 15);
	ev->target = (const char *)sqlite3_column_text(st, 16);
	ev->body_bytes = sqlite3_column_int64(st, 17);
	ev->body_sha256 = (const char *)sqlite3_column_text(st, 18);
}

enum store_admin_status
store_admin_list(struct store_admin *a, int64_t since, int state,
    unsigned limit, char *err, size_t errlen)
{
	enum store_admin_status rc;
	char rest[128], where[64] = "";

	/* a literal, not a parameter: the planner then uses the partial
	 * index of that state.  Version 1 keeps every event. */
	if (state >= 0 && a->schema >= 2)
		snprintf(where, sizeof(where), " AND state = '%s'",
		    store_state_name(state));
	else if (state > STORE_KEPT)
		snprintf(where, sizeof(where), " AND 0");
	snprintf(rest, sizeof(rest), " FROM events WHERE seq > ?%s"
	    " ORDER BY seq LIMIT ?", where);
	if ((rc = event_select(a, rest, err, errlen)) != STORE_ADMIN_OK)
		return rc;
	sqlite3_bind_int64(a->cur, 1, since);
	sqlite3_bind_int64(a->cur, 2, limit);
	return read_begin(a, err, errlen);
}

int
store_admin_next(struct store_admin *a, struct store_admin_event *ev,
    char *err, size_t errlen)
{
	int rc;

	if ((rc = sqlite3_step(a->cur)) == SQLITE_ROW) {
		event_read(a->cur, ev);
		return 1;
	}
	if (rc == SQLITE_DONE)
		return 0;
	failed(a, err, errlen);
	return -1;
}

/* Within the read transaction: the same rows again. */
void
store_admin_rewind(struct store_admin *a)
{
	sqlite3_reset(a->cur);
}

void
store_admin_list_end(struct store_admin *a)
{
	read_end(a);
}

enum store_admin_status
store_admin_get(struct store_admin *a, int64_t seq,
    struct store_admin_event *ev, char *err, size_t errlen)
{
	enum store_admin_status rc;
	int step;

	if ((rc = event_select(a, ", CAST(body AS BLOB) FROM events"
	    " WHERE seq = ?", err, errlen)) != STORE_ADMIN_OK)
		return rc;
	sqlite3_bind_int64(a->cur, 1, seq);
	if ((step = sqlite3_step(a->cur)) == SQLITE_DONE)
		return no_event(a, seq, err, errlen);
	if (step != SQLITE_ROW)
		return failed(a, err, errlen);
	event_read(a->cur, ev);
	ev->body = sqlite3_column_blob(a->cur, EVENT_BODY);
	ev->body_bytes = sqlite3_column_bytes(a->cur, EVENT_BODY);
	return STORE_ADMIN_OK;
}

/* Event seq exists and is a push, checked in the open transaction. */
static enum store_admin_status
replay_check(struct store_admin *a, int64_t seq, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	enum store_admin_status rc;
	enum store_kind k;
	int step, known;

	if ((rc = prepare(a, "SELECT kind FROM events WHERE seq = ?", &st,
	    err, errlen)) != STORE_ADMIN_OK)
		return rc;
	sqlite3_bind_int64(st, 1, seq);
	if ((step = sqlite3_step(st)) == SQLITE_DONE)
		rc = no_event(a, seq, err, errlen);
	else if (step != SQLITE_ROW)
		rc = failed(a, err, errlen);
	else if (!(known = store_kind_parse((const char *)
	    sqlite3_column_text(st, 0), &k) == 0) || k != STORE_PUSH) {
		/* synchronous: Stream had its answer when it arrived.  A
		 * kind none of ours (another writer's) is not repeated: it
		 * is not clean text. */
		log_errbuf(err, errlen, "event %" PRId64 " is a %s hook, "
		    "answered when it arrived: only push events are delivered "
		    "again", seq, known ? store_kind_name(k) : "?");
		rc = STORE_ADMIN_HOOK;
	}
	sqlite3_finalize(st);
	return rc;
}

enum store_admin_status
store_admin_replay(struct store_admin *a, int64_t seq, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	enum store_admin_status rc;

	read_end(a);
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL) != SQLITE_OK)
		return failed(a, err, errlen);
	if ((rc = replay_check(a, seq, err, errlen)) != STORE_ADMIN_OK ||
	    (rc = prepare(a, REPLAY_SET " WHERE seq = ?", &st, err,
	    errlen)) != STORE_ADMIN_OK)
		goto done;
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) != SQLITE_DONE ||
	    sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = failed(a, err, errlen);
 done:
	sqlite3_finalize(st);
	if (rc != STORE_ADMIN_OK)
		(void)sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* In chunks, each its own transaction (autocommit): the daemon's writer
 * waits for ours, a second at most. */
enum store_admin_status
store_admin_replay_dead(struct store_admin *a, int64_t *n, char *err,
    size_t errlen)
{
	sqlite3_stmt *st;
	enum store_admin_status rc;
	int got;

	*n = 0;
	read_end(a);
	if ((rc = prepare(a, REPLAY_SET " WHERE seq IN (SELECT seq FROM events"
	    " WHERE state = 'dead' AND kind = 'push' LIMIT ?)", &st, err,
	    errlen)) != STORE_ADMIN_OK)
		return rc;
	sqlite3_bind_int(st, 1, REPLAY_CHUNK);
	do {
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = failed(a, err, errlen);
			break;
		}
		sqlite3_reset(st);
		*n += got = sqlite3_changes(a->db);
	} while (got == REPLAY_CHUNK);
	sqlite3_finalize(st);
	return rc;
}

static enum store_admin_status
counts_by(struct store_admin *a, struct store_admin_counts *c, char *err,
    size_t errlen)
{
	sqlite3_stmt *st;
	enum store_admin_status rc;
	enum store_state s;
	enum store_kind k;
	int64_t n;
	int step;

	if ((rc = prepare(a, a->schema >= 2 ? "SELECT state, kind, count(*)"
	    " FROM events GROUP BY state, kind" : "SELECT 'kept', kind,"
	    " count(*) FROM events GROUP BY kind", &st, err,
	    errlen)) != STORE_ADMIN_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 2);
		c->total += n;
		if (store_state_parse((const char *)sqlite3_column_text(st, 0),
		    &s) == 0)
			c->state[s] += n;
		if (store_kind_parse((const char *)sqlite3_column_text(st, 1),
		    &k) == 0)
			c->kind[k] += n;
	}
	if (step != SQLITE_DONE)
		rc = failed(a, err, errlen);
	sqlite3_finalize(st);
	return rc;
}

/* The oldest pending by when it arrived (version 2 on). */
static enum store_admin_status
counts_oldest(struct store_admin *a, struct store_admin_counts *c,
    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	enum store_admin_status rc;
	int step;

	if ((rc = prepare(a, "SELECT seq, received_at FROM events WHERE state ="
	    " 'pending' ORDER BY received_at, seq LIMIT 1", &st, err,
	    errlen)) != STORE_ADMIN_OK)
		return rc;
	if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		c->oldest_pending_seq = sqlite3_column_int64(st, 0);
		c->oldest_pending_at = sqlite3_column_int64(st, 1);
	} else if (step != SQLITE_DONE)
		rc = failed(a, err, errlen);
	sqlite3_finalize(st);
	return rc;
}

enum store_admin_status
store_admin_counts(struct store_admin *a, struct store_admin_counts *c,
    char *err, size_t errlen)
{
	enum store_admin_status rc;

	read_end(a);
	memset(c, 0, sizeof(*c));
	c->schema = a->schema;
	if ((rc = read_begin(a, err, errlen)) == STORE_ADMIN_OK &&
	    (rc = counts_by(a, c, err, errlen)) == STORE_ADMIN_OK &&
	    a->schema >= 2)
		rc = counts_oldest(a, c, err, errlen);
	read_end(a);
	return rc;
}
