/*
 * store_sqlite.c: the embedded store (see store.h).  One writer thread owns
 * the connection.  It sleeps until events are queued, then takes the whole
 * queue, inserts it in one transaction and commits with synchronous=FULL:
 * concurrent requests share one fsync.  A webhook id already stored is a
 * duplicate (INSERT OR IGNORE against the UNIQUE column), so two copies of
 * one id, even in the same batch, are stored once and both acknowledged
 * only after that one copy is durable.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_impl.h"

#define STORE_BATCH_MAX	4096	/* events in one transaction, at most */

struct sqlite_store {
	struct store		 base;
	sqlite3			*db;
	sqlite3_stmt		*insert;
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;
	struct store_event	*head, **tail;	/* queue, FIFO */
	int			 stopping;
	struct store_stats	 stats;
};

static const char *schema =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS events ("
	" seq INTEGER PRIMARY KEY,"
	" webhook_id TEXT NOT NULL UNIQUE,"
	" kind TEXT NOT NULL CHECK (kind IN"
	"  ('push', 'before_message_send', 'custom_command')),"
	" event_type TEXT,"
	" api_key TEXT NOT NULL,"
	" attempt INTEGER NOT NULL,"
	" command TEXT,"
	" received_at INTEGER NOT NULL,"
	" body BLOB NOT NULL);"
	"PRAGMA user_version=1;";

static const char *insert_sql =
	"INSERT OR IGNORE INTO events (webhook_id, kind, event_type, api_key,"
	" attempt, command, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

static int
exec(struct sqlite_store *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("store: %s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* One event into the open transaction: stored, duplicate, or -1. */
static int
insert_one(struct sqlite_store *s, struct store_event *ev)
{
	sqlite3_stmt *st = s->insert;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, ev->webhook_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, store_kind_name(ev->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->event_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ev->api_key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, ev->attempt);
	sqlite3_bind_text(st, 6, ev->command, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, ev->received_at);
	sqlite3_bind_blob64(st, 8, ev->body ? (const void *)ev->body : "",
	    ev->body_len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_warnx("store: insert %s: %s", ev->webhook_id,
		    sqlite3_errmsg(s->db));
		return -1;
	}
	if (sqlite3_changes(s->db) == 0)
		return STORE_DUPLICATE;
	ev->seq = sqlite3_last_insert_rowid(s->db);
	return STORE_STORED;
}

/*
 * Commit one batch; report every event.  Results are held back until the
 * COMMIT returned: before that nothing is durable, and a failed commit
 * turns every event of the batch into a failure.
 */
static void
batch_commit(struct sqlite_store *s, struct store_event *batch)
{
	struct store_event *ev, *next;
	enum store_result res[STORE_BATCH_MAX];
	int ok, i, n = 0;

	ok = exec(s, "BEGIN IMMEDIATE") == 0;
	for (ev = batch; ev != NULL; ev = ev->next) {
		int r = ok ? insert_one(s, ev) : -1;

		if (r < 0)
			ok = 0;
		res[n++] = r < 0 ? STORE_FAILED : (enum store_result)r;
	}
	if (ok && exec(s, "COMMIT") != 0)
		ok = 0;
	if (!ok)
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);

	pthread_mutex_lock(&s->lock);
	s->stats.commits += ok;
	for (i = 0; i < n; i++) {
		s->stats.events += ok && res[i] == STORE_STORED;
		s->stats.duplicates += ok && res[i] == STORE_DUPLICATE;
		s->stats.failures += !ok;
	}
	pthread_mutex_unlock(&s->lock);

	for (ev = batch, i = 0; ev != NULL; ev = next, i++) {
		next = ev->next;	/* done() may free ev */
		ev->done(ev, ok ? res[i] : STORE_FAILED, ev->arg);
	}
}

/* Take up to STORE_BATCH_MAX queued events, in order. */
static struct store_event *
queue_take(struct sqlite_store *s)
{
	struct store_event *batch = s->head, *ev = batch;
	int n = 1;

	while (ev->next != NULL && n < STORE_BATCH_MAX) {
		ev = ev->next;
		n++;
	}
	s->head = ev->next;
	if (s->head == NULL)
		s->tail = &s->head;
	ev->next = NULL;
	return batch;
}

static void *
writer(void *arg)
{
	struct sqlite_store *s = arg;
	struct store_event *batch;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->head == NULL && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (s->head == NULL)
			break;		/* stopping, and nothing left */
		batch = queue_take(s);
		pthread_mutex_unlock(&s->lock);
		batch_commit(s, batch);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void
sqlite_submit(struct store *base, struct store_event *ev)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	ev->next = NULL;
	ev->seq = 0;
	pthread_mutex_lock(&s->lock);
	*s->tail = ev;
	s->tail = &ev->next;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

static void
sqlite_stats(struct store *base, struct store_stats *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}

static void
store_free(struct sqlite_store *s)
{
	sqlite3_finalize(s->insert);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}

static struct store *
sqlite_open(const char *uri, const struct store_options *opt, char *err,
    size_t errlen)
{
	struct sqlite_store *s;
	const char *path;

	if (strncmp(uri, "sqlite:", 7) != 0 || uri[7] == '\0') {
		log_errbuf(err, errlen, "store: '%s' is not sqlite:PATH", uri);
		return NULL;
	}
	path = uri + 7;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_errbuf(err, errlen, "store: out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	(void)opt;
	s->base.ops = &store_sqlite_ops;
	s->tail = &s->head;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, insert_sql, -1, &s->insert,
	    NULL) != SQLITE_OK) {
		log_errbuf(err, errlen, "store: %s: %s", path,
		    s->db ? sqlite3_errmsg(s->db) : "cannot open");
		store_free(s);
		return NULL;
	}
	/* only readers share the file (WAL): a long wait means trouble */
	sqlite3_busy_timeout(s->db, 1000);
	if ((errno = pthread_create(&s->thread, NULL, writer, s)) != 0) {
		log_errbuf(err, errlen, "store: writer thread: %s",
		    strerror(errno));
		store_free(s);
		return NULL;
	}
	return &s->base;
}

static void
sqlite_close(struct store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	store_free(s);
}

/* Delivery: filled in by the delivery work (issue 5). */
static int
sqlite_pending(struct store *base, int64_t after, struct store_pending *out,
    size_t max)
{
	(void)base; (void)after; (void)out; (void)max;
	return 0;
}

static int
sqlite_fetch(struct store *base, int64_t seq, struct store_record *out)
{
	(void)base; (void)seq; (void)out;
	return 1;
}

static void
sqlite_mark(struct store *base, const struct store_mark *m)
{
	(void)base; (void)m;
}

static void
sqlite_notify(struct store *base, void (*fn)(void *), void *arg)
{
	(void)base; (void)fn; (void)arg;
}

const struct store_ops store_sqlite_ops = {
	.scheme = "sqlite:",
	.open = sqlite_open,
	.submit = sqlite_submit,
	.stats = sqlite_stats,
	.close = sqlite_close,
	.pending = sqlite_pending,
	.fetch = sqlite_fetch,
	.mark = sqlite_mark,
	.notify = sqlite_notify,
};
