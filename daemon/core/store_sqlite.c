/*
 * store_sqlite.c: the embedded store (see store.h).  One writer thread owns
 * the read-write connection.  It sleeps until events or delivery outcomes
 * (marks) are queued, then takes the whole queue, applies it in one
 * transaction and commits with synchronous=FULL: concurrent requests share
 * one fsync.  A webhook id already stored is a duplicate (INSERT OR IGNORE
 * against the UNIQUE column), so two copies of one id, even in the same
 * batch, are stored once and both acknowledged only after that one copy is
 * durable.  Once retention deleted an event, its id stays in `seen` for the
 * rest of the dedup window.
 *
 * The writer also wakes once a second for its chores: the gauges, and
 * every minute retention, a chunk per transaction so that event commits
 * wait for one chunk at most.  The delivery thread reads through a second,
 * read-only connection: in WAL mode it never blocks the writer.
 *
 * The schema is store_sqlite_schema.c's (the writer has it created or
 * upgraded at open); the control tool's reads and replays are in
 * store_sqlite_admin.c.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "clock.h"
#include "log.h"
#include "store_impl.h"
#include "store_queue.h"
#include "store_sqlite_schema.h"

#define STORE_BATCH_MAX	4096	/* events (and marks) in one transaction */
#define GAUGES_MS	1000	/* gauges refreshed this often */
#define RETAIN_MS	60000	/* a retention pass this often */
#define RETAIN_CHUNK	5000	/* rows deleted in one transaction */
#define MARKS_RETRY_MS	1000	/* marks of a failed commit wait this long */

struct mark_node {
	struct store_mark	 m;
	struct mark_node	*next;
};

/* The writer's statements. */
enum { W_INSERT, W_SEEN, W_MARK, W_RETIRE, W_REMEMBER, W_FORGET, W_SEEN_ANY,
	W_GAUGES, W_MAX };
/* The delivery thread's. */
enum { R_PENDING, R_FETCH, R_MAX };

struct sqlite_store {
	struct store		 base;
	sqlite3			*db;		/* the writer's */
	sqlite3			*rdb;		/* the delivery thread's */
	sqlite3_stmt		*w[W_MAX];
	sqlite3_stmt		*r[R_MAX];
	uint64_t		 retention_ms;
	uint64_t		 dedup_ms;
	/* delivery outcomes for the writer, under base.q's lock */
	struct mark_node	*marks, **marks_tail;
	int64_t			 marks_at;	/* not before (monotonic ms) */
	/* the writer's own */
	int			 seen_any;	/* `seen` has rows: look there */
	int			 retain_more;	/* the last chunk was full */
	int64_t			 gauges_at, retain_at, chores_at;
};

static const char *const writer_sql[W_MAX] = {
	[W_INSERT] = "INSERT OR IGNORE INTO events (webhook_id, kind,"
	    " event_type, api_key, attempt, command, received_at, body, cid,"
	    " state, signature, order_key, target)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[W_SEEN] = "SELECT 1 FROM seen WHERE webhook_id = ?",
	[W_MARK] = "UPDATE events SET state = ?1, tries = ?2, next_at = ?3,"
	    " last_error = ?4, delivered_at = coalesce(?5, delivered_at)"
	    " WHERE seq = ?6",
	/* RETURNING: the ids still within the dedup window go to `seen` */
	[W_RETIRE] = "DELETE FROM events WHERE seq IN (SELECT seq FROM events"
	    " WHERE state = 'delivered' AND received_at < ?1 LIMIT ?2)"
	    " RETURNING webhook_id, received_at",
	[W_REMEMBER] = "INSERT OR IGNORE INTO seen (webhook_id, received_at)"
	    " VALUES (?, ?)",
	[W_FORGET] = "DELETE FROM seen WHERE webhook_id IN (SELECT webhook_id"
	    " FROM seen WHERE received_at < ?1 LIMIT ?2)",
	[W_SEEN_ANY] = "SELECT EXISTS (SELECT 1 FROM seen)",
	/* the oldest pending by seq: arrival order, one index step */
	[W_GAUGES] = "SELECT (SELECT count(*) FROM events WHERE state ="
	    " 'pending'), (SELECT count(*) FROM events WHERE state = 'dead'),"
	    " (SELECT received_at FROM events WHERE state = 'pending'"
	    " ORDER BY seq LIMIT 1)",
};

/*
 * A push stored before version 3 has a NULL order_key (a newer one has
 * '' for none): it is ordered by its channel, as it was then, under the
 * key a new event of that channel gets, so an upgrade while events wait
 * does not reorder a channel.
 */
static const char *const reader_sql[R_MAX] = {
	[R_PENDING] = "SELECT seq, coalesce(order_key, 'cid:' || cid), tries,"
	    " next_at, received_at FROM events"
	    " WHERE state = 'pending' AND kind = 'push' AND seq > ?"
	    " ORDER BY seq LIMIT ?",
	[R_FETCH] = "SELECT seq, kind, state, webhook_id, api_key, event_type,"
	    " command, cid, attempt, tries, received_at, CAST(body AS BLOB),"
	    " order_key, signature, target FROM events WHERE seq = ?",
};

/* Log an SQLite error on db and count it. */
static void
sql_error(struct sqlite_store *s, sqlite3 *db, const char *what)
{
	log_warnx("store: %s: %s", what, sqlite3_errmsg(db));
	store_queue_error(&s->base.q);
}

static int
exec(struct sqlite_store *s, const char *sql)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sql_error(s, s->db, sql);
		return -1;
	}
	return 0;
}

/* Step a statement that returns no row, then reset it. */
static int
step_done(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		sql_error(s, s->db, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 when the id is in `seen`, 0 not, -1 error. */
static int
seen_has(struct sqlite_store *s, const char *id)
{
	sqlite3_stmt *st = s->w[W_SEEN];
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW && rc != SQLITE_DONE)
		sql_error(s, s->db, "seen");
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	return rc == SQLITE_ROW;
}

/* One event into the open transaction: stored, duplicate, or -1. */
static int
insert_one(struct sqlite_store *s, struct store_event *ev)
{
	sqlite3_stmt *st = s->w[W_INSERT];
	int rc;

	/* deleted by retention but still within the dedup window */
	if (s->seen_any && (rc = seen_has(s, ev->webhook_id)) != 0)
		return rc < 0 ? -1 : STORE_DUPLICATE;
	sqlite3_bind_text(st, 1, ev->webhook_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, store_kind_name(ev->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->event_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ev->api_key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, ev->attempt);
	sqlite3_bind_text(st, 6, ev->command, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, ev->received_at);
	sqlite3_bind_blob64(st, 8, ev->body ? (const void *)ev->body : "",
	    ev->body_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, ev->cid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, store_state_name(ev->state), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 11, ev->signature, -1, SQLITE_STATIC);
	/* no key is '', never NULL: NULL is an event from before keys */
	sqlite3_bind_text(st, 12, ev->order_key ? ev->order_key : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 13, ev->target, -1, SQLITE_STATIC);
	if (step_done(s, st, "insert") != 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return STORE_DUPLICATE;
	ev->seq = sqlite3_last_insert_rowid(s->db);
	return STORE_STORED;
}

static int
mark_apply(struct sqlite_store *s, const struct store_mark *m)
{
	sqlite3_stmt *st = s->w[W_MARK];
	size_t elen = strnlen(m->error, sizeof(m->error));

	sqlite3_bind_text(st, 1, store_state_name(m->state), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, m->tries);
	sqlite3_bind_int64(st, 3, m->next_at);
	if (elen > 0)
		sqlite3_bind_text(st, 4, m->error, (int)elen, SQLITE_STATIC);
	if (m->state == STORE_DELIVERED)
		sqlite3_bind_int64(st, 5, m->at);
	sqlite3_bind_int64(st, 6, m->seq);
	return step_done(s, st, "mark");
}

static void
marks_free(struct mark_node *m)
{
	struct mark_node *next;

	for (; m != NULL; m = next) {
		next = m->next;
		free(m);
	}
}

/*
 * The marks of a failed transaction go back in front of the queue, to be
 * tried again a little later (not at once: the disk may be full).  When
 * stopping there is no later.
 */
static void
marks_requeue(struct sqlite_store *s, struct mark_node *marks)
{
	struct mark_node *last;
	size_t n = 1;

	if (marks == NULL)
		return;
	for (last = marks; last->next != NULL; last = last->next)
		n++;
	pthread_mutex_lock(&s->base.q.lock);
	if (s->base.q.stopping) {
		pthread_mutex_unlock(&s->base.q.lock);
		log_warnx("store: %zu delivery outcomes not recorded", n);
		marks_free(marks);
		return;
	}
	last->next = s->marks;
	if (s->marks == NULL)
		s->marks_tail = &last->next;
	s->marks = marks;
	s->marks_at = clock_mono_ms() + MARKS_RETRY_MS;
	pthread_mutex_unlock(&s->base.q.lock);
}

/*
 * Commit one batch of events and marks; report every event.  Results are
 * held back until the COMMIT returned: before that nothing is durable, and
 * a failed commit turns every event of the batch into a failure.
 */
static void
batch_commit(struct sqlite_store *s, struct store_event *batch,
    struct mark_node *marks)
{
	struct store_event *ev;
	struct mark_node *m;
	enum store_result res[STORE_BATCH_MAX];
	int ok, i, n = 0, pending = 0;

	ok = exec(s, "BEGIN IMMEDIATE") == 0;
	for (ev = batch; ev != NULL; ev = ev->next) {
		int r = ok ? insert_one(s, ev) : -1;

		if (r < 0)
			ok = 0;
		res[n++] = r < 0 ? STORE_FAILED : (enum store_result)r;
		pending += r == STORE_STORED && ev->state == STORE_PENDING;
	}
	for (m = marks; ok && m != NULL; m = m->next)
		ok = mark_apply(s, &m->m) == 0;
	if (ok && exec(s, "COMMIT") != 0)
		ok = 0;
	if (!ok) {
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		for (i = 0; i < n; i++)
			res[i] = STORE_FAILED;
	}
	store_queue_report(&s->base.q, batch, res, ok, ok && pending > 0);
	if (ok)
		marks_free(marks);
	else
		marks_requeue(s, marks);
}

static struct mark_node *
marks_take(struct sqlite_store *s)
{
	struct mark_node *marks = s->marks, *m = marks;
	int n = 1;

	while (m->next != NULL && n < STORE_BATCH_MAX) {
		m = m->next;
		n++;
	}
	s->marks = m->next;
	if (s->marks == NULL)
		s->marks_tail = &s->marks;
	m->next = NULL;
	return marks;
}

static void
gauges_refresh(struct sqlite_store *s)
{
	sqlite3_stmt *st = s->w[W_GAUGES];

	if (sqlite3_step(st) != SQLITE_ROW) {
		sql_error(s, s->db, "gauges");
		sqlite3_reset(st);
		return;
	}
	store_queue_gauges(&s->base.q, (uint64_t)sqlite3_column_int64(st, 0),
	    (uint64_t)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
	sqlite3_reset(st);
}

/* Delete up to RETAIN_CHUNK delivered events past retention, keeping the
 * ids still within the dedup window in `seen`.  Count, or -1. */
static int
retain_events(struct sqlite_store *s, int64_t now)
{
	sqlite3_stmt *st = s->w[W_RETIRE], *rem = s->w[W_REMEMBER];
	int64_t window = now - (int64_t)s->dedup_ms, at;
	int rc, n = 0;

	sqlite3_bind_int64(st, 1, now - (int64_t)s->retention_ms);
	sqlite3_bind_int(st, 2, RETAIN_CHUNK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if ((at = sqlite3_column_int64(st, 1)) < window)
			continue;
		sqlite3_bind_value(rem, 1, sqlite3_column_value(st, 0));
		sqlite3_bind_int64(rem, 2, at);
		if (step_done(s, rem, "seen") != 0)
			break;
		s->seen_any = 1;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		sql_error(s, s->db, "retention");
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? n : -1;
}

/* One retention transaction; 1 when there is more to delete. */
static int
retain_chunk(struct sqlite_store *s)
{
	sqlite3_stmt *st = s->w[W_FORGET];
	int64_t now = clock_unix_ms();
	int n = 0, forgot = 0;

	if (exec(s, "BEGIN IMMEDIATE") != 0)
		return 0;
	if (s->retention_ms > 0 && (n = retain_events(s, now)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, now - (int64_t)s->dedup_ms);
	sqlite3_bind_int(st, 2, RETAIN_CHUNK);
	if (step_done(s, st, "seen expiry") != 0)
		goto fail;
	forgot = sqlite3_changes(s->db);
	if (exec(s, "COMMIT") != 0)
		goto fail;
	pthread_mutex_lock(&s->base.q.lock);
	s->base.q.stats.retained += n;
	pthread_mutex_unlock(&s->base.q.lock);
	st = s->w[W_SEEN_ANY];
	if (sqlite3_step(st) == SQLITE_ROW)
		s->seen_any = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return n == RETAIN_CHUNK || forgot == RETAIN_CHUNK;
 fail:
	(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return 0;
}

/* Gauges and retention, each when due; sets when the next is due. */
static void
chores(struct sqlite_store *s)
{
	int64_t now = clock_mono_ms();
	int retain = s->retention_ms > 0 || s->seen_any;

	if (now >= s->gauges_at) {
		gauges_refresh(s);
		s->gauges_at = now + GAUGES_MS;
	}
	if (retain && (s->retain_more || now >= s->retain_at)) {
		s->retain_more = retain_chunk(s);
		if (!s->retain_more)
			s->retain_at = now + RETAIN_MS;
	}
	s->chores_at = s->gauges_at;
	if (s->retain_more)
		s->chores_at = now;
	else if (retain && s->retain_at < s->chores_at)
		s->chores_at = s->retain_at;
}

static void *
writer(void *arg)
{
	struct sqlite_store *s = arg;
	struct store_event *batch;
	struct mark_node *marks;
	int64_t now, at;
	int marks_due, stopping;

	pthread_mutex_lock(&s->base.q.lock);
	for (;;) {
		now = clock_mono_ms();
		marks_due = s->marks != NULL &&
		    (now >= s->marks_at || s->base.q.stopping);
		if (s->base.q.head == NULL && !marks_due) {
			if (s->base.q.stopping)
				break;	/* nothing left */
			if (now < s->chores_at) {
				at = s->chores_at;
				if (s->marks != NULL && s->marks_at < at)
					at = s->marks_at;
				store_queue_wait(&s->base.q, at);
				continue;
			}
		}
		batch = store_queue_take(&s->base.q, STORE_BATCH_MAX);
		marks = marks_due ? marks_take(s) : NULL;
		stopping = s->base.q.stopping;
		pthread_mutex_unlock(&s->base.q.lock);
		if (batch != NULL || marks != NULL)
			batch_commit(s, batch, marks);
		if (!stopping)
			chores(s);
		pthread_mutex_lock(&s->base.q.lock);
	}
	pthread_mutex_unlock(&s->base.q.lock);
	return NULL;
}

static void
sqlite_close(struct store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int i;

	for (i = 0; i < W_MAX; i++)
		sqlite3_finalize(s->w[i]);
	for (i = 0; i < R_MAX; i++)
		sqlite3_finalize(s->r[i]);
	sqlite3_close(s->db);
	sqlite3_close(s->rdb);
	marks_free(s->marks);
	store_queue_destroy(&s->base.q);
	free(s);
}

static int
prepare_all(sqlite3 *db, const char *const *sql, sqlite3_stmt **st, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &st[i], NULL) != SQLITE_OK)
			return -1;
	return 0;
}

/* Both connections, the schema, the statements. */
static int
db_open(struct sqlite_store *s, const char *path, char *err, size_t errlen)
{
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	/* only readers share the file (WAL), and `inbox replay` for a
	 * moment: a long wait means trouble */
	sqlite3_busy_timeout(s->db, 1000);
	/* WAL: readers (the delivery thread, `streamgate inbox`) never
	 * block the writer; FULL: a commit is on disk when it returns */
	if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL;"
	    " PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (store_sqlite_schema_init(s->db, path, err, errlen) != 0)
		return -1;
	if (prepare_all(s->db, writer_sql, s->w, W_MAX) != 0)
		goto fail;
	if (sqlite3_open_v2(path, &s->rdb, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    prepare_all(s->rdb, reader_sql, s->r, R_MAX) != 0) {
		log_errbuf(err, errlen, "store: %s: reader: %s", path,
		    s->rdb ? sqlite3_errmsg(s->rdb) : "cannot open");
		return -1;
	}
	sqlite3_busy_timeout(s->rdb, 1000);
	return 0;
 fail:
	log_errbuf(err, errlen, "store: %s: %s", path,
	    s->db ? sqlite3_errmsg(s->db) : "cannot open");
	return -1;
}

static struct store *
sqlite_open(const char *uri, const struct store_options *opt, char *err,
    size_t errlen)
{
	struct sqlite_store *s;

	if (strncmp(uri, "sqlite:", 7) != 0 || uri[7] == '\0') {
		log_errbuf(err, errlen, "store: '%s' is not sqlite:PATH", uri);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_errbuf(err, errlen, "store: out of memory");
		return NULL;
	}
	store_queue_init(&s->base.q);
	s->base.ops = &store_sqlite_ops;
	s->marks_tail = &s->marks;
	s->retention_ms = opt->retention_ms;
	s->dedup_ms = opt->dedup_window_ms;
	s->base.q.stats.up = 1;
	s->seen_any = 1;	/* until the first retention pass looked */
	if (db_open(s, uri + 7, err, errlen) != 0) {
		sqlite_close(&s->base);
		return NULL;
	}
	return &s->base;
}

/* Copy a text column into a fixed buffer ("" for NULL). */
static void
column_copy(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

static int
sqlite_pending(struct store *base, int64_t after, struct store_pending *out,
    size_t max)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st = s->r[R_PENDING];
	struct store_pending *p;
	int rc, n = 0;

	if (max > INT_MAX)
		max = INT_MAX;	/* the count is an int */
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		p = &out[n++];
		p->seq = sqlite3_column_int64(st, 0);
		column_copy(st, 1, p->order_key, sizeof(p->order_key));
		p->tries = sqlite3_column_int(st, 2);
		p->next_at = sqlite3_column_int64(st, 3);
		p->received_at = sqlite3_column_int64(st, 4);
	}
	/* reset ends the read transaction: the WAL can be checkpointed */
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sql_error(s, s->rdb, "pending");
		return -1;
	}
	return n;
}

/* The current row of R_FETCH into out; -1 out of memory. */
static int
record_read(sqlite3_stmt *st, struct store_record *out)
{
	const void *body;
	size_t len;

	out->seq = sqlite3_column_int64(st, 0);
	/* the CHECK allows no other kind; were there one, it is no push */
	if (store_kind_parse((const char *)sqlite3_column_text(st, 1),
	    &out->kind) != 0)
		out->kind = STORE_CUSTOM_COMMAND;
	if (store_state_parse((const char *)sqlite3_column_text(st, 2),
	    &out->state) != 0)
		out->state = STORE_KEPT;
	column_copy(st, 3, out->webhook_id, sizeof(out->webhook_id));
	column_copy(st, 4, out->api_key, sizeof(out->api_key));
	column_copy(st, 5, out->event_type, sizeof(out->event_type));
	column_copy(st, 6, out->command, sizeof(out->command));
	column_copy(st, 7, out->cid, sizeof(out->cid));
	out->attempt = sqlite3_column_int(st, 8);
	out->tries = sqlite3_column_int(st, 9);
	out->received_at = sqlite3_column_int64(st, 10);
	column_copy(st, 12, out->order_key, sizeof(out->order_key));
	column_copy(st, 13, out->signature, sizeof(out->signature));
	column_copy(st, 14, out->target, sizeof(out->target));
	body = sqlite3_column_blob(st, 11);
	len = (size_t)sqlite3_column_bytes(st, 11);
	if ((out->body = malloc(len ? len : 1)) == NULL)
		return -1;
	if (len > 0)
		memcpy(out->body, body, len);
	out->body_len = len;
	return 0;
}

static int
sqlite_fetch(struct store *base, int64_t seq, struct store_record *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st = s->r[R_FETCH];
	int rc, ret;

	sqlite3_bind_int64(st, 1, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if ((ret = record_read(st, out)) != 0)
			log_warnx("store: fetch %lld: out of memory",
			    (long long)seq);
	} else if (rc == SQLITE_DONE)
		ret = 1;
	else {
		sql_error(s, s->rdb, "fetch");
		ret = -1;
	}
	sqlite3_reset(st);
	return ret;
}

static void
sqlite_mark(struct store *base, const struct store_mark *m)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct mark_node *n;

	if ((n = malloc(sizeof(*n))) == NULL) {
		/* the event stays as it was: delivered again later */
		log_warnx("store: mark %lld: out of memory", (long long)m->seq);
		return;
	}
	n->m = *m;
	n->next = NULL;
	pthread_mutex_lock(&s->base.q.lock);
	*s->marks_tail = n;
	s->marks_tail = &n->next;
	pthread_cond_signal(&s->base.q.wake);
	pthread_mutex_unlock(&s->base.q.lock);
}

const struct store_ops store_sqlite_ops = {
	.scheme = "sqlite:",
	.open = sqlite_open,
	.writer = writer,
	.close = sqlite_close,
	.pending = sqlite_pending,
	.fetch = sqlite_fetch,
	.mark = sqlite_mark,
};
