/*
 * test_store.c: the SQLite store: group commit, duplicates (also in one
 * batch and from many threads), the exact bytes, failures reported; the
 * delivery side (pending, fetch, marks, notify, gauges), what is kept to
 * forward an event (order key, signature, target), the upgrades from
 * schema versions 1 to 4, and retention with `seen` keeping dedup alive;
 * dedup per API key and the body's hash, told back with a duplicate,
 * within the window and across restarts (the writer's set rebuilt from
 * the rows), and past the window a new event; the set's cap; one daemon
 * per store; a store whose files are deleted or replaced under it
 * acknowledges nothing more; the control tool's side (store_admin.h):
 * list, get, counts and replay, on a store the daemon wrote and on a
 * version 1 store, and its refusals.  (Faults below SQLite:
 * test_store_faults.c; the set itself: test_store_ids.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "store.h"
#include "store_admin.h"

struct waiter {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	int		pending;
	int		stored, duplicate, failed;
	int		notified;
	int		gate_entered, gate_open;	/* done_gated */
	char		first[STORE_SHA256_HEX + 1];	/* the last duplicate's
							 * first_sha256 */
};

static struct waiter W = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
    0, 0, 0, 0, 0, 0, 0, "" };
static char dir[64], uri[160], path[128];
/* when the test began: event() stamps its events so, within the dedup
 * window (a duplicate is one within it) */
static int64_t t0;
static const struct store_options opts = { .dedup_window_ms = 86400000, .retention_ms = 0, .redis_prefix = "streamgate",
	    .consumer = "test", .deliver = 0, .dedup_max_ids = 0 };

static void
done(struct store_event *ev, enum store_result r, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.lock);
	W.stored += r == STORE_STORED;
	W.duplicate += r == STORE_DUPLICATE;
	W.failed += r == STORE_FAILED;
	if (r == STORE_DUPLICATE)
		snprintf(W.first, sizeof(W.first), "%s", ev->first_sha256);
	W.pending--;
	pthread_cond_broadcast(&W.cond);
	pthread_mutex_unlock(&W.lock);
	free((char *)ev->webhook_id);
	free((uint8_t *)ev->body);
	free((char *)ev->body_sha256);
	free(ev);
}

static void
wait_all(void)
{
	pthread_mutex_lock(&W.lock);
	while (W.pending > 0)
		pthread_cond_wait(&W.cond, &W.lock);
	pthread_mutex_unlock(&W.lock);
}

static struct store_event *
event(const char *id, const char *body)
{
	struct store_event *ev = calloc(1, sizeof(*ev));

	ev->kind = STORE_PUSH;
	ev->webhook_id = strdup(id);
	ev->event_type = "message.new";
	ev->api_key = "key1";
	ev->attempt = 1;
	ev->received_at = t0;
	ev->body = (const uint8_t *)strdup(body);
	ev->body_len = strlen(body);
	ev->done = done;
	pthread_mutex_lock(&W.lock);
	W.pending++;
	pthread_mutex_unlock(&W.lock);
	return ev;
}

/* A push waiting for delivery (or kept), received at `at`. */
static struct store_event *
event_in(const char *id, enum store_state st, const char *cid, int64_t at)
{
	struct store_event *ev = event(id, "{\"type\":\"message.new\"}");

	ev->state = st;
	ev->cid = cid;
	ev->received_at = at;
	return ev;
}

/* What the request side keeps to forward an event (literals: they must
 * outlive the event). */
static struct store_event *
forwarded(struct store_event *ev, const char *key, const char *sig,
    const char *target)
{
	ev->order_key = key;
	ev->signature = sig;
	ev->target = target;
	return ev;
}

/* The event as another API key sent it (a literal: it must outlive the
 * event). */
static struct store_event *
keyed(struct store_event *ev, const char *api_key)
{
	ev->api_key = api_key;
	return ev;
}

/* The event with its body's SHA-256 (a stand-in: any 64 hex digits). */
static struct store_event *
hashed(struct store_event *ev, char digit)
{
	char *h = malloc(STORE_SHA256_HEX + 1);

	memset(h, digit, STORE_SHA256_HEX);
	h[STORE_SHA256_HEX] = '\0';
	ev->body_sha256 = h;
	return ev;
}

/* A duplicate's first_sha256, from the writer's memory: the stored
 * hash's first 16 hex digits. */
#define FIRST_A	"aaaaaaaaaaaaaaaa"
#define FIRST_C	"cccccccccccccccc"

#define SIG_A	"0123456789abcdef0123456789abcdef" \
		"0123456789abcdef0123456789abcdef"
#define SIG_B	"fedcba9876543210fedcba9876543210" \
		"fedcba9876543210fedcba9876543210"

/* Holds the writer thread in done() until the test opens the gate. */
static void
done_gated(struct store_event *ev, enum store_result r, void *arg)
{
	pthread_mutex_lock(&W.lock);
	W.gate_entered = 1;
	pthread_cond_broadcast(&W.cond);
	while (!W.gate_open)
		pthread_cond_wait(&W.cond, &W.lock);
	pthread_mutex_unlock(&W.lock);
	done(ev, r, arg);
}

static void
notified(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.lock);
	W.notified++;
	pthread_mutex_unlock(&W.lock);
}

static void
mark(struct store *s, int64_t seq, enum store_state st, int tries,
    int64_t next_at, int64_t at, const char *error)
{
	struct store_mark m;

	memset(&m, 0, sizeof(m));
	m.seq = seq;
	m.state = st;
	m.tries = tries;
	m.next_at = next_at;
	m.at = at;
	snprintf(m.error, sizeof(m.error), "%s", error);
	store_mark(s, &m);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sg-store-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/events.db", dir);
	snprintf(uri, sizeof(uri), "sqlite:%s", path);
	t0 = clock_unix_ms();
	W.stored = W.duplicate = W.failed = W.notified = 0;
	W.gate_entered = W.gate_open = 0;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The first column of the first row of sql, on its own connection; -1
 * when there is no row. */
static int64_t
sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int64_t
count_rows(const char *where)
{
	char sql[1024];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events %s", where);
	return sql_int(sql);
}

static int64_t
seq_of(const char *id)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT seq FROM events WHERE "
	    "webhook_id = '%s'", id);
	return sql_int(sql);
}

static void
sql_exec(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* sqlite3_exec's result, on its own connection. */
static int
sql_try(const char *sql)
{
	sqlite3 *db;
	int rc;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* The pending events, as "seq:order_key ..." in the store's order. */
static const char *
pending_keys(struct store *s)
{
	static char buf[512];
	struct store_pending p[16];
	int i, n = store_pending(s, 0, p, 16);

	assert_true(n >= 0);
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
		    "%s%lld:%s", i ? " " : "", (long long)p[i].seq,
		    p[i].order_key);
	return buf;
}

/* Wait up to 5 s for the store's stats to satisfy ok(). */
static int
stats_wait(struct store *s, struct store_stats *st,
    int (*ok)(const struct store_stats *))
{
	int i;

	for (i = 0; i < 500; i++) {
		store_stats(s, st);
		if (ok(st))
			return 1;
		usleep(10000);
	}
	return 0;
}

static void
test_stored_exactly(void **state)
{
	struct store *s;
	char err[256], where[512];
	const char *body = "{\"type\":\"message.new\",\"x\":\"\\u00e9\"}";

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	/* the writer's id set covers the window: no cache in front */
	assert_int_equal(store_dedups_window(s), 1);
	store_submit(s, event("id-1", body));
	store_submit(s, event("id-2", "{}"));
	wait_all();
	store_close(s);
	assert_int_equal(W.stored, 2);
	snprintf(where, sizeof(where), "WHERE webhook_id = 'id-1' AND "
	    "kind = 'push' AND event_type = 'message.new' AND api_key = 'key1' "
	    "AND attempt = 1 AND received_at = %lld AND body = "
	    "CAST('{\"type\":\"message.new\",\"x\":\"\\u00e9\"}' AS BLOB)",
	    (long long)t0);
	assert_int_equal(count_rows(where), 1);
	/* a new store has 16 KiB pages (a 1.8 KB event fills a 4 KiB one
	 * half) and no index on the id */
	assert_int_equal(sql_int("PRAGMA page_size"), 16384);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_schema WHERE "
	    "type = 'index' AND (sql IS NULL OR sql LIKE '%webhook_id%')"), 0);
	/* reopening keeps what is there and the schema */
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, event("id-1", body));
	wait_all();
	store_close(s);
	assert_int_equal(W.duplicate, 1);
	assert_int_equal(count_rows(""), 2);
}

static void
test_duplicates_in_one_batch(void **state)
{
	struct store *s;
	struct store_stats st;
	char err[256];
	int i;

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	for (i = 0; i < 20; i++)
		store_submit(s, event("same", "{}"));
	wait_all();
	store_stats(s, &st);
	store_close(s);
	assert_int_equal(W.stored, 1);
	assert_int_equal(W.duplicate, 19);
	assert_int_equal(count_rows(""), 1);
	assert_true(st.commits >= 1);
}

struct writer_arg {
	struct store	*s;
	int		 id;
};

static void *
submitter(void *p)
{
	struct writer_arg *a = p;
	char id[32];
	int i;

	for (i = 0; i < 500; i++) {
		snprintf(id, sizeof(id), "t%d-%d", a->id, i);
		store_submit(a->s, event(id, "{\"type\":\"a\"}"));
		if (i % 100 == 0)
			store_submit(a->s, event("shared", "{}"));
	}
	return NULL;
}

/* Many threads: every event reported once, one fsync for many events. */
static void
test_group_commit_from_threads(void **state)
{
	struct writer_arg a[4];
	pthread_t t[4];
	struct store_stats st;
	char err[256];
	int i;

	(void)state;
	assert_non_null(a[0].s = store_open(uri, &opts, err, sizeof(err)));
	for (i = 0; i < 4; i++) {
		a[i].s = a[0].s;
		a[i].id = i;
		pthread_create(&t[i], NULL, submitter, &a[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	wait_all();
	store_stats(a[0].s, &st);
	store_close(a[0].s);
	assert_int_equal(W.stored, 2001);
	assert_int_equal(W.duplicate, 19);
	assert_int_equal(W.failed, 0);
	assert_int_equal(count_rows(""), 2001);
	print_message("2020 events in %llu commits\n",
	    (unsigned long long)st.commits);
	assert_true(st.commits < 2001);
}

/* Another writer holds the database: the batch fails, nothing is acked. */
static void
test_failure_reported(void **state)
{
	struct store *s;
	sqlite3 *db;
	char err[256];
	int i;

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	/* the writer's first chores (gauges, a retention pass) may hold the
	 * lock for a moment just after the open */
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
	    SQLITE_OK);
	store_submit(s, event("blocked", "{}"));
	wait_all();
	assert_int_equal(W.failed, 1);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	/* the store recovers: Stream's retry is stored */
	store_submit(s, event("blocked", "{}"));
	wait_all();
	assert_int_equal(W.stored, 1);

	/* a mark in a failed transaction is tried again a little later */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
	    SQLITE_OK);
	mark(s, seq_of("blocked"), STORE_DELIVERED, 1, 0, 99, "");
	store_submit(s, event("blocked-2", "{}"));
	wait_all();
	assert_int_equal(W.failed, 2);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	for (i = 0; i < 300 && count_rows("WHERE state = 'delivered'") == 0; i++)
		usleep(10000);
	assert_int_equal(count_rows("WHERE webhook_id = 'blocked' AND "
	    "state = 'delivered' AND delivered_at = 99"), 1);
	store_close(s);
}

/* Several at once, one missing among them: each as store_fetch has it. */
static void
fetch_many_check(struct store *s, int64_t p1, int64_t p2)
{
	int64_t seqs[3] = { p2, 999999, p1 };
	struct store_record r[3];
	int rc[3], i;

	store_fetch_many(s, seqs, 3, r, rc);
	assert_int_equal(rc[0], 0);
	assert_int_equal(rc[1], 1);
	assert_int_equal(rc[2], 0);
	assert_int_equal(r[0].seq, p2);
	assert_string_equal(r[0].signature, SIG_B);
	assert_int_equal(r[2].seq, p1);
	assert_string_equal(r[2].webhook_id, "p1");
	assert_int_equal(r[2].state, STORE_PENDING);
	assert_int_equal(r[2].body_len, strlen("{\"type\":\"message.new\"}"));
	assert_memory_equal(r[2].body, "{\"type\":\"message.new\"}",
	    r[2].body_len);
	for (i = 0; i < 3; i++)
		store_record_free(&r[i]);
}

/* Pending push events in seq order, whole records, outcomes recorded. */
static void
test_pending_fetch_mark(void **state)
{
	static char longest[2048];	/* outlives the event */
	struct store *s;
	struct store_pending p[8];
	struct store_record r;
	struct store_event *ev;
	char err[256];
	int64_t p1, p2;

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, forwarded(event_in("p1", STORE_PENDING, "messaging:c1",
	    1000), "cid:messaging:c1", SIG_A, "/webhooks/stream/push"));
	store_submit(s, event_in("k1", STORE_KEPT, NULL, 1001));
	ev = event_in("h1", STORE_PENDING, NULL, 1002);
	ev->kind = STORE_BEFORE_MESSAGE_SEND;	/* pending, but not a push */
	store_submit(s, ev);
	/* the longest target a request may have (2047 bytes) comes back
	 * whole: a cut one would be another URL */
	memset(longest, 'q', sizeof(longest) - 1);
	memcpy(longest, "/webhooks/stream/push?x=", 24);
	store_submit(s, forwarded(event_in("p2", STORE_PENDING, NULL, 1003),
	    "", SIG_B, longest));
	wait_all();
	p1 = seq_of("p1");
	p2 = seq_of("p2");
	assert_int_equal(count_rows("WHERE webhook_id = 'p1' AND state = "
	    "'pending' AND cid = 'messaging:c1' AND tries = 0 AND next_at = 0 "
	    "AND delivered_at IS NULL AND last_error IS NULL"), 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'k1' AND state = "
	    "'kept' AND cid IS NULL"), 1);
	/* the columns as given; no key is '' (NULL: an event from before) */
	assert_int_equal(count_rows("WHERE webhook_id = 'p1' AND order_key = "
	    "'cid:messaging:c1' AND signature = '" SIG_A "' AND target = "
	    "'/webhooks/stream/push'"), 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'p2' AND order_key = "
	    "'' AND length(target) = 2047"), 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'k1' AND order_key = "
	    "'' AND signature IS NULL AND target IS NULL"), 1);

	assert_int_equal(store_pending(s, 0, p, 8), 2);
	assert_int_equal(p[0].seq, p1);
	assert_string_equal(p[0].order_key, "cid:messaging:c1");
	assert_int_equal(p[0].received_at, 1000);
	assert_int_equal(p[1].seq, p2);
	assert_string_equal(p[1].order_key, "");
	assert_int_equal(store_pending(s, p1, p, 8), 1);
	assert_int_equal(p[0].seq, p2);
	assert_int_equal(store_pending(s, 0, p, 1), 1);
	assert_int_equal(p[0].seq, p1);
	assert_int_equal(store_pending(s, p2, p, 8), 0);

	assert_int_equal(store_fetch(s, p1, &r), 0);
	assert_int_equal(r.seq, p1);
	assert_int_equal(r.kind, STORE_PUSH);
	assert_int_equal(r.state, STORE_PENDING);
	assert_string_equal(r.webhook_id, "p1");
	assert_string_equal(r.api_key, "key1");
	assert_string_equal(r.event_type, "message.new");
	assert_string_equal(r.command, "");
	assert_string_equal(r.cid, "messaging:c1");
	assert_string_equal(r.order_key, "cid:messaging:c1");
	assert_string_equal(r.signature, SIG_A);
	assert_string_equal(r.target, "/webhooks/stream/push");
	assert_int_equal(r.attempt, 1);
	assert_int_equal(r.tries, 0);
	assert_int_equal(r.received_at, 1000);
	assert_int_equal(r.body_len, strlen("{\"type\":\"message.new\"}"));
	assert_memory_equal(r.body, "{\"type\":\"message.new\"}", r.body_len);
	store_record_free(&r);
	assert_int_equal(store_fetch(s, p2, &r), 0);
	assert_string_equal(r.order_key, "");
	assert_string_equal(r.signature, SIG_B);
	assert_string_equal(r.target, longest);
	store_record_free(&r);
	assert_int_equal(store_fetch(s, seq_of("h1"), &r), 0);
	assert_int_equal(r.kind, STORE_BEFORE_MESSAGE_SEND);
	assert_string_equal(r.signature, "");	/* none given */
	assert_string_equal(r.target, "");
	store_record_free(&r);
	assert_int_equal(store_fetch(s, 999999, &r), 1);
	fetch_many_check(s, p1, p2);

	/* marks ride with the next transaction: once a later event is
	 * committed, they are too (and the batch's read transaction above
	 * is over: store_pending below sees them) */
	mark(s, p1, STORE_DELIVERED, 1, 0, 4242, "");
	mark(s, p2, STORE_PENDING, 1, 5000, 4243, "HTTP 503");
	store_submit(s, event("after", "{}"));
	wait_all();
	assert_int_equal(count_rows("WHERE seq = " "(SELECT seq FROM events "
	    "WHERE webhook_id = 'p1') AND state = 'delivered' AND tries = 1 "
	    "AND delivered_at = 4242 AND last_error IS NULL"), 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'p2' AND state = "
	    "'pending' AND tries = 1 AND next_at = 5000 AND delivered_at IS "
	    "NULL AND last_error = 'HTTP 503'"), 1);
	assert_int_equal(store_pending(s, 0, p, 8), 1);
	assert_int_equal(p[0].seq, p2);
	assert_int_equal(p[0].tries, 1);
	assert_int_equal(p[0].next_at, 5000);

	/* close commits the marks still queued */
	mark(s, p2, STORE_DEAD, 5, 0, 4244, "HTTP 500 from the app");
	mark(s, seq_of("h1"), STORE_KEPT, 1, 0, 4245, "timeout");
	store_close(s);
	assert_int_equal(count_rows("WHERE webhook_id = 'p2' AND state = "
	    "'dead' AND tries = 5 AND delivered_at IS NULL AND "
	    "last_error = 'HTTP 500 from the app'"), 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'h1' AND state = "
	    "'kept' AND last_error = 'timeout'"), 1);
}

/* Marks queued while the writer is busy go into the same transaction as
 * the events queued with them. */
static void
test_marks_with_events(void **state)
{
	struct store *s;
	struct store_event *ev;
	struct store_stats st;
	char err[256];
	uint64_t commits;
	int64_t p1;

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, event_in("m1", STORE_PENDING, NULL, 1000));
	wait_all();
	p1 = seq_of("m1");
	ev = event("gate", "{}");
	ev->done = done_gated;
	store_submit(s, ev);
	pthread_mutex_lock(&W.lock);
	while (!W.gate_entered)
		pthread_cond_wait(&W.cond, &W.lock);
	pthread_mutex_unlock(&W.lock);
	/* the writer is held in done(): these two queue up together */
	mark(s, p1, STORE_DELIVERED, 1, 0, 7777, "");
	store_submit(s, event("m2", "{}"));
	store_stats(s, &st);
	commits = st.commits;
	pthread_mutex_lock(&W.lock);
	W.gate_open = 1;
	pthread_cond_broadcast(&W.cond);
	pthread_mutex_unlock(&W.lock);
	wait_all();
	store_stats(s, &st);
	assert_int_equal(st.commits, commits + 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'm1' AND "
	    "state = 'delivered' AND delivered_at = 7777"), 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'm2'"), 1);
	store_close(s);
}

/* notify after a commit that stored pending events, and only then. */
static void
test_notify(void **state)
{
	struct store *s;
	char err[256];
	int n;

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_notify(s, notified, NULL);
	store_submit(s, event_in("n1", STORE_KEPT, NULL, 1));
	wait_all();
	store_submit(s, event_in("n2", STORE_PENDING, NULL, 2));
	wait_all();
	store_submit(s, event_in("n2", STORE_PENDING, NULL, 2)); /* dup */
	wait_all();
	store_close(s);	/* joins the writer: every notify has run */
	pthread_mutex_lock(&W.lock);
	n = W.notified;
	pthread_mutex_unlock(&W.lock);
	assert_int_equal(n, 1);
}

static int
gauges_ok(const struct store_stats *st)
{
	return st->pending == 2 && st->dead == 1;
}

static void
test_gauges(void **state)
{
	struct store *s;
	struct store_stats st;
	char err[256];

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_stats(s, &st);
	assert_int_equal(st.up, 1);
	store_submit(s, event_in("g1", STORE_PENDING, NULL, 1000));
	store_submit(s, event_in("g2", STORE_PENDING, NULL, 2000));
	store_submit(s, event_in("g3", STORE_PENDING, NULL, 3000));
	store_submit(s, event_in("g4", STORE_KEPT, NULL, 500));
	wait_all();
	mark(s, seq_of("g1"), STORE_DEAD, 3, 0, 1, "gone");
	/* refreshed within a second or so, idle or not */
	assert_true(stats_wait(s, &st, gauges_ok));
	assert_int_equal(st.oldest_pending_ms, 2000);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.up, 1);
	store_close(s);
}

/* Schema version 1, as streamgated wrote it before delivery existed. */
static const char *v1_schema =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE events (seq INTEGER PRIMARY KEY,"
	" webhook_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL CHECK (kind IN"
	" ('push', 'before_message_send', 'custom_command')), event_type TEXT,"
	" api_key TEXT NOT NULL, attempt INTEGER NOT NULL, command TEXT,"
	" received_at INTEGER NOT NULL, body BLOB NOT NULL);"
	"INSERT INTO events VALUES (1, 'old-1', 'push', 'message.new', 'k', 1,"
	" NULL, 1000, x'7b7d');"
	"INSERT INTO events VALUES (5, 'old-5', 'custom_command', NULL, 'k', 2,"
	" 'giphy', 2000, x'7b7d');"
	"PRAGMA user_version=1;";

static void
test_migrate_v1(void **state)
{
	struct store *s;
	struct store_record r;
	char err[256], sql[128];

	(void)state;
	sql_exec(v1_schema);
	/* old-5 arrived within the dedup window, old-1 long before it (rows
	 * are in arrival order) */
	snprintf(sql, sizeof(sql), "UPDATE events SET received_at = %lld "
	    "WHERE webhook_id = 'old-5';", (long long)t0 - 3600000);
	sql_exec(sql);
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_int_equal(sql_int("PRAGMA user_version"), 5);
	assert_int_equal(count_rows("WHERE state = 'kept' AND tries = 0 AND "
	    "next_at = 0 AND cid IS NULL AND delivered_at IS NULL AND "
	    "last_error IS NULL AND signature IS NULL AND order_key IS NULL "
	    "AND target IS NULL AND body_sha256 IS NULL"), 2);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_schema WHERE "
	    "name IN ('seen', 'events_pending')"), 2);
	assert_int_equal(store_fetch(s, 5, &r), 0);
	assert_int_equal(r.state, STORE_KEPT);
	assert_string_equal(r.command, "giphy");
	store_record_free(&r);
	store_submit(s, forwarded(event_in("new-1", STORE_PENDING, "c:1", 3000),
	    "cid:c:1", SIG_A, "/webhooks/stream/push"));
	store_submit(s, keyed(event("old-5", "{}"), "k"));
	wait_all();
	assert_int_equal(W.stored, 1);
	assert_int_equal(W.duplicate, 1);
	assert_string_equal(W.first, "");	/* an old row: no hash */
	assert_string_equal(pending_keys(s), "6:cid:c:1");
	/* past the window, an id is new again */
	store_submit(s, keyed(event("old-1", "{}"), "k"));
	wait_all();
	assert_int_equal(W.stored, 2);
	store_close(s);
	/* the CHECK came along: no state outside the four */
	assert_int_equal(sql_try("UPDATE events SET state = 'lost'"),
	    SQLITE_CONSTRAINT);
	assert_int_equal(sql_int("SELECT count(*) FROM pragma_table_info("
	    "'events')"), 19);
	/* opening again is a no-op */
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_close(s);
	assert_int_equal(count_rows(""), 4);
}

static struct store_admin *admin_open(enum store_admin_mode);

/* Schema version 2, as streamgated wrote it before it kept what it needs
 * to forward an event. */
static const char *v2_schema =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE events (seq INTEGER PRIMARY KEY,"
	" webhook_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL CHECK (kind ="
	" 'push' OR kind = 'before_message_send' OR kind = 'custom_command'),"
	" event_type TEXT, api_key TEXT NOT NULL, attempt INTEGER NOT NULL,"
	" command TEXT, received_at INTEGER NOT NULL, body BLOB NOT NULL,"
	" cid TEXT, state TEXT NOT NULL DEFAULT 'kept' CHECK (state = 'kept'"
	" OR state = 'pending' OR state = 'delivered' OR state = 'dead'),"
	" tries INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,"
	" delivered_at INTEGER, last_error TEXT);"
	"CREATE TABLE seen (webhook_id TEXT PRIMARY KEY,"
	" received_at INTEGER NOT NULL);"
	"CREATE INDEX seen_received ON seen(received_at);"
	"CREATE INDEX events_pending ON events(seq) WHERE state = 'pending';"
	"CREATE INDEX events_dead ON events(seq) WHERE state = 'dead';"
	"CREATE INDEX events_delivered ON events(received_at)"
	" WHERE state = 'delivered';"
	"INSERT INTO events VALUES (1, 'v2-1', 'push', 'message.new', 'k', 1,"
	" NULL, 1000, x'7b7d', 'messaging:old', 'pending', 2, 0, NULL,"
	" 'status 500');"
	"INSERT INTO events VALUES (2, 'v2-2', 'push', 'user.updated', 'k', 1,"
	" NULL, 1001, x'7b7d', NULL, 'pending', 0, 0, NULL, NULL);"
	"INSERT INTO events VALUES (3, 'v2-3', 'push', 'message.new', 'k', 1,"
	" NULL, 1002, x'7b7d', 'messaging:old', 'delivered', 1, 0, 1500,"
	" NULL);"
	"PRAGMA user_version=2;";

/*
 * Version 2 to 3: the rows stay, the new columns are NULL in them and read
 * as none; an old pending event keeps its channel's order under the key
 * new events of that channel get; new events keep all three.
 */
static void
test_migrate_v2(void **state)
{
	struct store *s;
	struct store_record r;
	struct store_admin *a;
	struct store_admin_event ev;
	char err[512], sql[128];

	(void)state;
	sql_exec(v2_schema);
	/* within the dedup window: the first chores keep it */
	snprintf(sql, sizeof(sql), "INSERT INTO seen VALUES ('v2-gone', %lld);",
	    (long long)clock_unix_ms());
	sql_exec(sql);
	/* the control tool reads a version 2 store as it is */
	a = admin_open(STORE_ADMIN_READ);
	assert_int_equal(store_admin_get(a, 1, &ev, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_string_equal(ev.cid, "messaging:old");
	assert_null(ev.order_key);
	assert_null(ev.signature);
	assert_null(ev.target);
	store_admin_close(a);

	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_int_equal(sql_int("PRAGMA user_version"), 5);
	assert_int_equal(sql_int("SELECT count(*) FROM pragma_table_info("
	    "'events')"), 19);
	assert_int_equal(count_rows("WHERE signature IS NULL AND order_key IS "
	    "NULL AND target IS NULL"), 3);
	assert_int_equal(count_rows("WHERE seq = 1 AND webhook_id = 'v2-1' AND"
	    " cid = 'messaging:old' AND state = 'pending' AND tries = 2 AND "
	    "last_error = 'status 500' AND body = x'7b7d'"), 1);
	assert_int_equal(count_rows("WHERE seq = 3 AND state = 'delivered' AND"
	    " delivered_at = 1500"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM seen"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_schema WHERE "
	    "type = 'index' AND name IN ('seen_received', 'events_pending', "
	    "'events_dead', 'events_delivered')"), 4);
	/* an id retention kept in `seen` is still a duplicate */
	store_submit(s, event("v2-gone", "{}"));
	store_submit(s, forwarded(event_in("v3-1", STORE_PENDING,
	    "messaging:old", 2000), "cid:messaging:old", SIG_A,
	    "/webhooks/stream/push"));
	store_submit(s, forwarded(event_in("v3-2", STORE_PENDING, NULL, 2001),
	    "user:42", SIG_B, "/webhooks/stream/push?tenant=a%20b"));
	wait_all();
	assert_int_equal(W.duplicate, 1);
	assert_int_equal(W.stored, 2);

	/* 2 had no cid: no key */
	assert_string_equal(pending_keys(s), "1:cid:messaging:old 2: "
	    "4:cid:messaging:old 5:user:42");

	/* the old event: NULLs read as none */
	assert_int_equal(store_fetch(s, 1, &r), 0);
	assert_string_equal(r.webhook_id, "v2-1");
	assert_string_equal(r.cid, "messaging:old");
	assert_string_equal(r.order_key, "");
	assert_string_equal(r.signature, "");
	assert_string_equal(r.target, "");
	assert_int_equal(r.tries, 2);
	store_record_free(&r);
	assert_int_equal(store_fetch(s, 5, &r), 0);
	assert_string_equal(r.order_key, "user:42");
	assert_string_equal(r.signature, SIG_B);
	assert_string_equal(r.target, "/webhooks/stream/push?tenant=a%20b");
	store_record_free(&r);
	store_close(s);

	/* the control tool sees them too */
	a = admin_open(STORE_ADMIN_READ);
	assert_int_equal(store_admin_get(a, 5, &ev, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_string_equal(ev.order_key, "user:42");
	assert_string_equal(ev.signature, SIG_B);
	assert_string_equal(ev.target, "/webhooks/stream/push?tenant=a%20b");
	assert_int_equal(store_admin_get(a, 1, &ev, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_null(ev.order_key);
	assert_null(ev.signature);
	store_admin_close(a);
}

/* An upgrade that fails half way leaves version 2 as it was: one
 * transaction.  (A column of that name, added by hand, stops it.) */
static void
test_migrate_v2_atomic(void **state)
{
	struct store *s;
	char err[256];

	(void)state;
	sql_exec(v2_schema);
	sql_exec("ALTER TABLE events ADD COLUMN target BLOB;");
	assert_null(store_open(uri, &opts, err, sizeof(err)));
	assert_non_null(strstr(err, "duplicate column name: target"));
	assert_int_equal(sql_int("PRAGMA user_version"), 2);
	assert_int_equal(sql_int("SELECT count(*) FROM pragma_table_info("
	    "'events') WHERE name IN ('signature', 'order_key')"), 0);
	assert_int_equal(count_rows(""), 3);
	/* without it, the same store upgrades */
	sql_exec("ALTER TABLE events DROP COLUMN target;");
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_close(s);
	assert_int_equal(sql_int("PRAGMA user_version"), 5);
	assert_int_equal(count_rows("WHERE target IS NULL"), 3);
}

static void
test_newer_schema_refused(void **state)
{
	char err[256];

	(void)state;
	sql_exec("PRAGMA user_version=6;");
	assert_null(store_open(uri, &opts, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 6 is newer"));
}

static int
retained_ok(const struct store_stats *st)
{
	return st->retained == 2;
}

/*
 * Retention deletes delivered events only; an id it deleted within the
 * dedup window stays a duplicate, one past the window does not, and
 * `seen` forgets what is past the window.
 */
static void
test_retention_seen(void **state)
{
	const struct store_options ropts = { .dedup_window_ms = 86400000, .retention_ms = 1, .redis_prefix = "streamgate",
	    .consumer = "test", .deliver = 1, .dedup_max_ids = 0 };
	struct store *s;
	struct store_stats st;
	char err[256], sql[256];
	int64_t now = clock_unix_ms(), old = now - 2 * 86400000LL;

	(void)state;
	assert_non_null(s = store_open(uri, &ropts, err, sizeof(err)));
	store_submit(s, event_in("r-old", STORE_PENDING, NULL, old));
	store_submit(s, hashed(event_in("r-new", STORE_PENDING, NULL,
	    now - 10000), 'c'));
	store_submit(s, event_in("r-dead", STORE_PENDING, NULL, now - 10000));
	store_submit(s, event_in("r-wait", STORE_PENDING, NULL, now - 10000));
	store_submit(s, event_in("r-kept", STORE_KEPT, NULL, old));
	wait_all();
	mark(s, seq_of("r-old"), STORE_DELIVERED, 1, 0, now, "");
	mark(s, seq_of("r-new"), STORE_DELIVERED, 1, 0, now, "");
	mark(s, seq_of("r-dead"), STORE_DEAD, 9, 0, now, "no");
	store_close(s);
	snprintf(sql, sizeof(sql), "INSERT INTO seen VALUES ('stale', 'key1', "
	    "%lld, NULL);", (long long)old);
	sql_exec(sql);

	/* retention runs at open */
	assert_non_null(s = store_open(uri, &ropts, err, sizeof(err)));
	assert_true(stats_wait(s, &st, retained_ok));
	/* another key's r-new is its own; this key's is a duplicate that
	 * still knows the deleted copy's hash */
	store_submit(s, keyed(event_in("r-new", STORE_PENDING, NULL, now),
	    "key2"));
	wait_all();
	assert_int_equal(W.stored, 5 + 1);
	store_submit(s, event_in("r-new", STORE_PENDING, NULL, now));
	wait_all();
	assert_int_equal(W.duplicate, 1);
	assert_string_equal(W.first, FIRST_C);
	store_submit(s, event_in("r-old", STORE_PENDING, NULL, now));
	wait_all();
	assert_int_equal(W.stored, 5 + 2);	/* past the window: new */
	store_stats(s, &st);
	store_close(s);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'r-new'"), 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'r-new' AND "
	    "api_key = 'key2'"), 1);
	assert_int_equal(count_rows("WHERE webhook_id IN ('r-dead', 'r-wait', "
	    "'r-kept')"), 3);
	assert_int_equal(sql_int("SELECT count(*) FROM seen WHERE webhook_id ="
	    " 'r-new' AND api_key = 'key1' AND body_sha256 LIKE 'ccc%'"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM seen"), 1);
}

/*
 * An id is one event per API key: the same id from two keys is stored
 * twice, also when both come in one batch; each key's copy of it again
 * is that key's duplicate.
 */
static void
test_dedup_per_api_key(void **state)
{
	struct store *s;
	char err[256];

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, event("shared", "{\"a\":1}"));
	store_submit(s, keyed(event("shared", "{\"a\":2}"), "key2"));
	store_submit(s, event("shared", "{\"a\":1}"));
	store_submit(s, keyed(event("shared", "{\"a\":2}"), "key2"));
	wait_all();
	assert_int_equal(W.stored, 2);
	assert_int_equal(W.duplicate, 2);
	store_close(s);
	/* and after a restart, the store alone decides the same */
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, keyed(event("shared", "{}"), "key2"));
	store_submit(s, keyed(event("shared", "{}"), "key3"));
	wait_all();
	store_close(s);
	assert_int_equal(W.stored, 3);
	assert_int_equal(W.duplicate, 3);
	assert_int_equal(count_rows("WHERE webhook_id = 'shared'"), 3);
	assert_int_equal(count_rows("WHERE webhook_id = 'shared' AND "
	    "api_key = 'key2' AND body = CAST('{\"a\":2}' AS BLOB)"), 1);
}

/*
 * The body's hash is stored with the event, and a duplicate is told the
 * stored copy's: in the same batch, from an earlier one, after a
 * restart; none for an event stored without one.
 */
static void
test_hash_stored(void **state)
{
	struct store *s;
	char err[256];

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, hashed(event("h-1", "{}"), 'a'));
	store_submit(s, hashed(event("h-1", "{\"x\":1}"), 'b'));
	wait_all();
	assert_int_equal(W.stored, 1);
	assert_int_equal(W.duplicate, 1);
	assert_string_equal(W.first, FIRST_A);
	store_submit(s, event("h-2", "{}"));		/* no hash */
	wait_all();
	store_close(s);
	assert_int_equal(count_rows("WHERE webhook_id = 'h-1' AND "
	    "body_sha256 = printf('%.64c', 'a') AND body = x'7b7d'"), 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'h-2' AND "
	    "body_sha256 IS NULL"), 1);

	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, hashed(event("h-1", "{}"), 'c'));
	wait_all();
	assert_string_equal(W.first, FIRST_A);
	store_submit(s, hashed(event("h-2", "{}"), 'c'));
	wait_all();
	assert_string_equal(W.first, "");
	store_close(s);
	assert_int_equal(W.duplicate, 3);
}

/* Version 3, as streamgated wrote it: an id unique across API keys. */
static const char *v3_schema =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE events (seq INTEGER PRIMARY KEY,"
	" webhook_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL CHECK (kind ="
	" 'push' OR kind = 'before_message_send' OR kind = 'custom_command'),"
	" event_type TEXT, api_key TEXT NOT NULL, attempt INTEGER NOT NULL,"
	" command TEXT, received_at INTEGER NOT NULL, body BLOB NOT NULL,"
	" cid TEXT, state TEXT NOT NULL DEFAULT 'kept' CHECK (state = 'kept'"
	" OR state = 'pending' OR state = 'delivered' OR state = 'dead'),"
	" tries INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,"
	" delivered_at INTEGER, last_error TEXT, signature TEXT,"
	" order_key TEXT, target TEXT);"
	"CREATE TABLE seen (webhook_id TEXT PRIMARY KEY,"
	" received_at INTEGER NOT NULL);"
	"CREATE INDEX seen_received ON seen(received_at);"
	"CREATE INDEX events_pending ON events(seq) WHERE state = 'pending';"
	"CREATE INDEX events_dead ON events(seq) WHERE state = 'dead';"
	"CREATE INDEX events_delivered ON events(received_at)"
	" WHERE state = 'delivered';"
	"INSERT INTO events VALUES (3, 'v3-1', 'push', 'message.new', 'k', 2,"
	" NULL, 1000, x'7b7d', 'messaging:a', 'pending', 1, 5000, NULL,"
	" 'status 500', 'ab12', 'cid:messaging:a', '/webhooks/stream/push');"
	"INSERT INTO events VALUES (9, 'v3-2', 'custom_command', NULL, 'k2', 1,"
	" 'giphy', 1001, x'7b7d', NULL, 'delivered', 1, 0, 1500, NULL, 'cd34',"
	" '', '/c?type=giphy');"
	"PRAGMA user_version=3;";

/*
 * Version 3 to 5: both tables made anew in one transaction, every row and
 * column kept (seq too), the indexes back, no UNIQUE left; an id is now
 * one per API key; an id `seen` kept from before is a duplicate for every
 * key.
 */
static void
test_migrate_v3(void **state)
{
	struct store *s;
	struct store_record r;
	char err[256], sql[160], where[512];

	(void)state;
	sql_exec(v3_schema);
	snprintf(sql, sizeof(sql), "INSERT INTO seen VALUES ('v3-gone', %lld);",
	    (long long)clock_unix_ms());
	sql_exec(sql);
	/* both arrived within the dedup window */
	snprintf(sql, sizeof(sql), "UPDATE events SET received_at = %lld "
	    "+ seq;", (long long)t0 - 1000);
	sql_exec(sql);
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_int_equal(sql_int("PRAGMA user_version"), 5);
	assert_int_equal(count_rows(""), 2);
	snprintf(where, sizeof(where), "WHERE seq = 3 AND webhook_id = 'v3-1' "
	    "AND kind = 'push' AND event_type = 'message.new' AND api_key = 'k' "
	    "AND attempt = 2 AND command IS NULL AND received_at = %lld AND "
	    "body = x'7b7d' AND cid = 'messaging:a' AND state = 'pending' AND "
	    "tries = 1 AND next_at = 5000 AND delivered_at IS NULL AND "
	    "last_error = 'status 500' AND signature = 'ab12' AND "
	    "order_key = 'cid:messaging:a' AND target = "
	    "'/webhooks/stream/push' AND body_sha256 IS NULL",
	    (long long)t0 - 1000 + 3);
	assert_int_equal(count_rows(where), 1);
	assert_int_equal(count_rows("WHERE seq = 9 AND webhook_id = 'v3-2' AND"
	    " api_key = 'k2' AND command = 'giphy' AND state = 'delivered' AND"
	    " delivered_at = 1500 AND target = '/c?type=giphy'"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM seen WHERE webhook_id ="
	    " 'v3-gone' AND api_key = ''"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_schema WHERE "
	    "type = 'index' AND name IN ('seen_received', 'events_pending', "
	    "'events_dead', 'events_delivered')"), 4);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_schema WHERE "
	    "name IN ('events_old', 'seen_old')"), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_schema WHERE "
	    "sql LIKE '%UNIQUE%' OR sql LIKE '%PRIMARY KEY (%' OR "
	    "name LIKE 'sqlite_autoindex%'"), 0);
	/* the delivery side reads the old rows as before */
	assert_string_equal(pending_keys(s), "3:cid:messaging:a");
	assert_int_equal(store_fetch(s, 3, &r), 0);
	assert_string_equal(r.signature, "ab12");
	store_record_free(&r);

	store_submit(s, keyed(event("v3-1", "{}"), "k"));	/* its key */
	store_submit(s, keyed(event("v3-1", "{}"), "k2"));	/* another */
	store_submit(s, keyed(event("v3-gone", "{}"), "any"));
	wait_all();
	assert_int_equal(W.stored, 1);
	assert_int_equal(W.duplicate, 2);
	assert_int_equal(count_rows("WHERE webhook_id = 'v3-1' AND "
	    "api_key = 'k2' AND seq = 10"), 1);
	store_close(s);
	/* the CHECKs came along */
	assert_int_equal(sql_try("UPDATE events SET kind = 'other'"),
	    SQLITE_CONSTRAINT);
	assert_int_equal(sql_try("INSERT INTO events (webhook_id, kind, "
	    "api_key, attempt, received_at, body) VALUES ('v3-1', 'nope', "
	    "'k', 1, 1, x'')"), SQLITE_CONSTRAINT);
}

/* Version 4, as streamgated wrote it: the id unique per API key. */
static const char *v4_schema =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE events (seq INTEGER PRIMARY KEY,"
	" webhook_id TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind ="
	" 'push' OR kind = 'before_message_send' OR kind = 'custom_command'),"
	" event_type TEXT, api_key TEXT NOT NULL, attempt INTEGER NOT NULL,"
	" command TEXT, received_at INTEGER NOT NULL, body BLOB NOT NULL,"
	" cid TEXT, state TEXT NOT NULL DEFAULT 'kept' CHECK (state = 'kept'"
	" OR state = 'pending' OR state = 'delivered' OR state = 'dead'),"
	" tries INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,"
	" delivered_at INTEGER, last_error TEXT, signature TEXT,"
	" order_key TEXT, target TEXT, body_sha256 TEXT,"
	" UNIQUE (webhook_id, api_key));"
	"CREATE TABLE seen (webhook_id TEXT NOT NULL, api_key TEXT NOT NULL,"
	" received_at INTEGER NOT NULL, body_sha256 TEXT,"
	" PRIMARY KEY (webhook_id, api_key));"
	"CREATE INDEX seen_received ON seen(received_at);"
	"CREATE INDEX events_pending ON events(seq) WHERE state = 'pending';"
	"CREATE INDEX events_dead ON events(seq) WHERE state = 'dead';"
	"CREATE INDEX events_delivered ON events(received_at)"
	" WHERE state = 'delivered';"
	"INSERT INTO events VALUES (4, 'v4-2', 'push', 'message.new', 'k', 1,"
	" NULL, 1001, x'7b7d', NULL, 'kept', 0, 0, NULL, NULL, 'cd34', '',"
	" '/webhooks/stream/push', NULL);"
	"INSERT INTO events VALUES (7, 'v4-1', 'push', 'message.new', 'k', 1,"
	" NULL, 1000, x'7b7d', 'messaging:a', 'pending', 0, 0, NULL, NULL,"
	" 'ab12', 'cid:messaging:a', '/webhooks/stream/push',"
	" printf('%.64c', 'd'));"
	"PRAGMA user_version=4;";

/*
 * Version 4 to 5: both tables made anew in one transaction without their
 * UNIQUE and PRIMARY KEY, every row and column kept (seq, the hash, the
 * key of a `seen` id); the ids of the window are in memory at once: a
 * copy is a duplicate that knows the stored hash, per API key.
 */
static void
test_migrate_v4(void **state)
{
	struct store *s;
	char err[256], sql[192];

	(void)state;
	sql_exec(v4_schema);
	snprintf(sql, sizeof(sql), "UPDATE events SET received_at = %lld "
	    "WHERE seq = 7; INSERT INTO seen VALUES ('v4-gone', 'k', %lld, "
	    "printf('%%.64c', 'e'));", (long long)t0 - 1000,
	    (long long)t0 - 2000);
	sql_exec(sql);
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_int_equal(sql_int("PRAGMA user_version"), 5);
	assert_int_equal(count_rows("WHERE seq = 7 AND webhook_id = 'v4-1' AND"
	    " state = 'pending' AND signature = 'ab12' AND body_sha256 = "
	    "printf('%.64c', 'd')"), 1);
	assert_int_equal(count_rows("WHERE seq = 4 AND body_sha256 IS NULL"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM seen WHERE webhook_id ="
	    " 'v4-gone' AND api_key = 'k' AND body_sha256 LIKE 'eee%'"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_schema WHERE "
	    "sql LIKE '%UNIQUE%' OR sql LIKE '%PRIMARY KEY (%' OR "
	    "name LIKE 'sqlite_autoindex%'"), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_schema WHERE "
	    "type = 'index' AND name IN ('seen_received', 'events_pending', "
	    "'events_dead', 'events_delivered')"), 4);
	/* a 4 KiB-page store keeps its pages (README: VACUUM) */
	assert_int_equal(sql_int("PRAGMA page_size"), 4096);
	assert_string_equal(pending_keys(s), "7:cid:messaging:a");

	store_submit(s, keyed(event("v4-1", "{}"), "k"));
	wait_all();
	assert_int_equal(W.duplicate, 1);
	assert_string_equal(W.first, "dddddddddddddddd");
	store_submit(s, keyed(event("v4-gone", "{}"), "k"));
	wait_all();
	assert_int_equal(W.duplicate, 2);
	assert_string_equal(W.first, "eeeeeeeeeeeeeeee");
	store_submit(s, keyed(event("v4-1", "{}"), "k2"));	/* another key */
	store_submit(s, keyed(event("v4-gone", "{}"), "k2"));
	store_submit(s, keyed(event("v4-2", "{}"), "k"));	/* past the window */
	wait_all();
	assert_int_equal(W.stored, 3);
	assert_int_equal(W.duplicate, 2);
	store_close(s);
	assert_int_equal(count_rows("WHERE seq = 8 AND webhook_id = 'v4-1' AND "
	    "api_key = 'k2'"), 1);
	assert_int_equal(count_rows(""), 5);
}

static int
broken_ok(const struct store_stats *st)
{
	return st->up == 0;
}

/* Submit one event and wait for its fate: 1 stored, 0 not. */
static int
store_one(struct store *s, const char *id)
{
	int before;

	pthread_mutex_lock(&W.lock);
	before = W.stored;
	pthread_mutex_unlock(&W.lock);
	store_submit(s, event(id, "{}"));
	wait_all();
	return W.stored > before;
}

/* Remove the store's files, as `rm events.db*` would. */
static void
files_remove(const char *which)
{
	char p[192];
	const char *sfx[] = { "", "-wal", "-shm" };
	size_t i;

	for (i = 0; i < 3; i++)
		if (strchr(which, "dws"[i]) != NULL) {
			snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
			assert_int_equal(unlink(p), 0);
		}
}

/*
 * The database, its WAL or -shm deleted, or the database replaced, under
 * the open store: the next commit (or, idle, the next second) breaks it
 * for good: nothing is acknowledged, /healthz's store_broken says so,
 * the stats say up 0.  A new store at the path takes events again.
 */
static void
test_files_gone(void **state)
{
	struct store *s;
	struct store_stats st;
	char err[256], cmd[4 * sizeof(path) + 64];

	(void)state;
	/* everything deleted: the next commit is not acknowledged */
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_true(store_one(s, "before"));
	assert_int_equal(store_broken(s), 0);
	files_remove("dws");
	assert_false(store_one(s, "after-1"));
	assert_int_equal(store_broken(s), 1);
	assert_false(store_one(s, "after-2"));	/* and none after */
	store_stats(s, &st);
	assert_int_equal(st.up, 0);
	assert_int_equal(st.failures, 2);
	/* what is at the path now (a restore, say) is not this store's:
	 * closing leaves it alone */
	snprintf(cmd, sizeof(cmd), "echo restored >%s-wal && echo restored "
	    ">%s-shm", path, path);
	assert_int_equal(system(cmd), 0);
	store_close(s);
	snprintf(cmd, sizeof(cmd), "grep -q restored %s-wal && grep -q "
	    "restored %s-shm && rm %s-wal %s-shm", path, path, path, path);
	assert_int_equal(system(cmd), 0);
	/* a restart opens what is at the path: the events not acknowledged
	 * are taken when Stream sends them again */
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_int_equal(store_broken(s), 0);
	assert_true(store_one(s, "after-1"));
	assert_true(store_one(s, "after-2"));
	store_close(s);
	assert_int_equal(count_rows(""), 2);

	/* the WAL alone */
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	files_remove("w");
	assert_false(store_one(s, "w-1"));
	assert_int_equal(store_broken(s), 1);
	store_close(s);

	/* the database replaced by a copy (a restore): another inode */
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_true(store_one(s, "r-1"));
	snprintf(cmd, sizeof(cmd), "cp %s %s.new && mv %s.new %s", path, path,
	    path, path);
	assert_int_equal(system(cmd), 0);
	assert_false(store_one(s, "r-2"));
	assert_int_equal(store_broken(s), 1);
	store_close(s);

	/* the -shm alone, and no traffic: the chores see it */
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_true(store_one(s, "s-1"));
	files_remove("s");
	assert_true(stats_wait(s, &st, broken_ok));
	assert_int_equal(store_broken(s), 1);
	assert_false(store_one(s, "s-2"));
	store_close(s);
}

/*
 * One daemon per store (its dedup set is the only record of the window's
 * ids): a second open of the same file is refused, naming the file and
 * the process that holds it; once closed, it opens.
 */
static void
test_one_writer(void **state)
{
	struct store *s;
	char err[512], pid[32];

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_null(store_open(uri, &opts, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "in use by another streamgated"));
	snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
	assert_non_null(strstr(err, pid));
	store_close(s);
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_true(store_one(s, "w-1"));
	store_close(s);
}

static int
evicted_ok(const struct store_stats *st)
{
	return st->ids_evicted == 5;
}

/*
 * At dedup_max_ids the oldest id leaves memory before its window: counted
 * (ids_evicted) and no longer a duplicate, while the younger ones are.
 */
static void
test_dedup_cap(void **state)
{
	const struct store_options copts = { .dedup_window_ms = 86400000, .retention_ms = 0, .redis_prefix = "streamgate",
	    .consumer = "test", .deliver = 0, .dedup_max_ids = 4096 };
	struct store *s;
	struct store_stats st;
	char err[256], id[32];
	int i;

	(void)state;
	assert_non_null(s = store_open(uri, &copts, err, sizeof(err)));
	for (i = 0; i < 4101; i++) {
		snprintf(id, sizeof(id), "cap-%d", i);
		store_submit(s, event(id, "{}"));
	}
	wait_all();
	assert_true(stats_wait(s, &st, evicted_ok));
	assert_int_equal(st.ids, 4096);
	assert_true(st.ids_bytes >= 4096 * 40);
	store_submit(s, event("cap-5", "{}"));		/* kept */
	store_submit(s, event("cap-4", "{}"));		/* evicted: new (and
							 * cap-5 goes now) */
	wait_all();
	store_close(s);
	assert_int_equal(W.stored, 4102);
	assert_int_equal(W.duplicate, 1);
	assert_int_equal(count_rows("WHERE webhook_id = 'cap-4'"), 2);
}

static void
test_open_errors(void **state)
{
	char err[256];

	(void)state;
	assert_null(store_open("redis-ish:x", &opts, err, sizeof(err)));
	assert_non_null(strstr(err, "is not sqlite:PATH, redis://"));
	assert_null(store_open("sqlite:/nonexistent-dir/x.db", &opts, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
}

/* ---- the control tool's side: store_admin.h ---- */

static struct store_admin *
admin_open(enum store_admin_mode mode)
{
	struct store_admin *a;
	char err[512];

	if (store_admin_open(&a, uri, mode, err, sizeof(err)) != STORE_ADMIN_OK)
		fail_msg("%s", err);
	return a;
}

/* The seqs a list gives, into seqs[max]: how many. */
static int
admin_seqs(struct store_admin *a, int64_t since, int state, unsigned limit,
    int64_t *seqs, int max)
{
	struct store_admin_event ev;
	char err[512];
	int n = 0, rc;

	assert_int_equal(store_admin_list(a, since, state, limit, err,
	    sizeof(err)), STORE_ADMIN_OK);
	while ((rc = store_admin_next(a, &ev, err, sizeof(err))) == 1) {
		assert_true(n < max);
		seqs[n++] = ev.seq;
	}
	assert_int_equal(rc, 0);
	store_admin_list_end(a);
	return n;
}

/*
 * A store as the daemon leaves it: a-1 delivered, a-2 a custom command
 * with a body that is no text, a-3 dead, a-4 pending, a-5 pending and
 * received before a-4 though stored after it.
 */
static void
admin_fill(void)
{
	static const uint8_t bin[] = { 0xff, 0x00, 'x', '\n' };
	struct store *s;
	struct store_event *ev;
	char err[256];

	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, forwarded(event_in("a-1", STORE_PENDING, "c:1", 1000),
	    "cid:c:1", SIG_A, "/webhooks/stream/push"));
	ev = event_in("a-2", STORE_KEPT, NULL, 2000);
	ev->kind = STORE_CUSTOM_COMMAND;
	ev->event_type = NULL;
	ev->command = "giphy";
	free((uint8_t *)ev->body);
	assert_non_null(ev->body = malloc(sizeof(bin)));
	memcpy((uint8_t *)ev->body, bin, sizeof(bin));
	ev->body_len = sizeof(bin);
	store_submit(s, ev);
	store_submit(s, event_in("a-3", STORE_PENDING, NULL, 3000));
	store_submit(s, event_in("a-4", STORE_PENDING, NULL, 4000));
	store_submit(s, event_in("a-5", STORE_PENDING, NULL, 500));
	wait_all();
	mark(s, 1, STORE_DELIVERED, 1, 0, 5000, "");
	mark(s, 3, STORE_DEAD, 8, 0, 6000, "HTTP 500");
	store_close(s);		/* commits the marks */
	assert_int_equal(seq_of("a-5"), 5);
}

static void
test_admin_list_get(void **state)
{
	struct store_admin *a;
	struct store_admin_event ev;
	int64_t seqs[8];
	char err[512];

	(void)state;
	admin_fill();
	a = admin_open(STORE_ADMIN_READ);
	assert_int_equal(store_admin_list(a, 0, -1, 10, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_int_equal(store_admin_next(a, &ev, err, sizeof(err)), 1);
	assert_int_equal(ev.seq, 1);
	assert_int_equal(ev.received_at, 1000);
	assert_string_equal(ev.kind, "push");
	assert_string_equal(ev.state, "delivered");
	assert_int_equal(ev.tries, 1);
	assert_string_equal(ev.event_type, "message.new");
	assert_string_equal(ev.webhook_id, "a-1");
	assert_int_equal(ev.attempt, 1);
	assert_string_equal(ev.api_key, "key1");
	assert_null(ev.command);
	assert_string_equal(ev.cid, "c:1");
	assert_string_equal(ev.order_key, "cid:c:1");
	assert_string_equal(ev.signature, SIG_A);
	assert_string_equal(ev.target, "/webhooks/stream/push");
	assert_int_equal(ev.delivered_at, 5000);
	assert_null(ev.last_error);
	assert_int_equal(ev.body_bytes, strlen("{\"type\":\"message.new\"}"));
	assert_null(ev.body);		/* a list carries no bodies */
	assert_int_equal(store_admin_next(a, &ev, err, sizeof(err)), 1);
	assert_string_equal(ev.kind, "custom_command");
	assert_string_equal(ev.state, "kept");
	assert_null(ev.event_type);
	assert_string_equal(ev.command, "giphy");
	assert_string_equal(ev.order_key, "");	/* none */
	assert_null(ev.signature);
	assert_null(ev.target);
	assert_int_equal(ev.body_bytes, 4);
	assert_int_equal(store_admin_next(a, &ev, err, sizeof(err)), 1);
	assert_string_equal(ev.state, "dead");
	assert_int_equal(ev.tries, 8);
	assert_string_equal(ev.last_error, "HTTP 500");
	assert_int_equal(ev.delivered_at, 0);
	/* the same rows again, from the start */
	store_admin_rewind(a);
	assert_int_equal(store_admin_next(a, &ev, err, sizeof(err)), 1);
	assert_int_equal(ev.seq, 1);
	store_admin_list_end(a);

	assert_int_equal(admin_seqs(a, 0, -1, 10, seqs, 8), 5);
	assert_int_equal(seqs[4], 5);
	assert_int_equal(admin_seqs(a, 1, -1, 2, seqs, 8), 2);
	assert_int_equal(seqs[0], 2);
	assert_int_equal(seqs[1], 3);
	assert_int_equal(admin_seqs(a, 0, STORE_PENDING, 10, seqs, 8), 2);
	assert_int_equal(seqs[0], 4);
	assert_int_equal(seqs[1], 5);
	assert_int_equal(admin_seqs(a, 3, STORE_DEAD, 10, seqs, 8), 0);

	/* the exact body bytes */
	assert_int_equal(store_admin_get(a, 2, &ev, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_string_equal(ev.webhook_id, "a-2");
	assert_int_equal(ev.body_bytes, 4);
	assert_memory_equal(ev.body, "\xff\0x\n", 4);
	assert_int_equal(store_admin_get(a, 42, &ev, err, sizeof(err)),
	    STORE_ADMIN_NO_EVENT);
	assert_non_null(strstr(err, "no event 42 in sqlite:"));
	store_admin_close(a);
}

static void
test_admin_counts(void **state)
{
	struct store_admin *a;
	struct store_admin_counts c;
	char err[512];

	(void)state;
	admin_fill();
	a = admin_open(STORE_ADMIN_READ);
	assert_int_equal(store_admin_counts(a, &c, err, sizeof(err)),
	    STORE_ADMIN_OK);
	store_admin_close(a);
	assert_int_equal(c.schema, 5);
	assert_int_equal(c.total, 5);
	assert_int_equal(c.state[STORE_KEPT], 1);
	assert_int_equal(c.state[STORE_PENDING], 2);
	assert_int_equal(c.state[STORE_DELIVERED], 1);
	assert_int_equal(c.state[STORE_DEAD], 1);
	assert_int_equal(c.kind[STORE_PUSH], 4);
	assert_int_equal(c.kind[STORE_BEFORE_MESSAGE_SEND], 0);
	assert_int_equal(c.kind[STORE_CUSTOM_COMMAND], 1);
	/* by when it arrived, not by seq */
	assert_int_equal(c.oldest_pending_seq, 5);
	assert_int_equal(c.oldest_pending_at, 500);
}

/* A list is one snapshot: the daemon commits meanwhile, unblocked, and
 * the next list sees it. */
static void
test_admin_snapshot(void **state)
{
	struct store *s;
	struct store_admin *a;
	struct store_admin_event ev;
	int64_t seqs[8];
	char err[512];
	int n = 0;

	(void)state;
	admin_fill();
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	a = admin_open(STORE_ADMIN_READ);
	assert_int_equal(store_admin_list(a, 0, -1, 10, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_int_equal(store_admin_next(a, &ev, err, sizeof(err)), 1);
	store_submit(s, event("a-6", "{}"));
	wait_all();
	assert_int_equal(W.stored, 5 + 1);
	store_admin_rewind(a);
	while (store_admin_next(a, &ev, err, sizeof(err)) == 1)
		n++;
	assert_int_equal(n, 5);
	store_admin_list_end(a);
	assert_int_equal(admin_seqs(a, 0, -1, 10, seqs, 8), 6);
	store_admin_close(a);
	store_close(s);
}

/* Replay while the daemon runs: its delivery side sees the events. */
static void
test_admin_replay(void **state)
{
	struct store *s;
	struct store_admin *a;
	struct store_pending p[8];
	struct store_event *ev;
	char err[512];
	int64_t n;

	(void)state;
	admin_fill();
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	ev = event_in("a-6", STORE_KEPT, NULL, 7000);
	ev->kind = STORE_BEFORE_MESSAGE_SEND;
	store_submit(s, ev);
	store_submit(s, event_in("a-7", STORE_PENDING, NULL, 8000));
	store_submit(s, event_in("a-8", STORE_PENDING, NULL, 9000));
	wait_all();
	mark(s, 7, STORE_DEAD, 8, 0, 9500, "timeout");
	mark(s, 8, STORE_DEAD, 8, 0, 9500, "timeout");
	mark(s, 2, STORE_DEAD, 1, 0, 9500, "odd");	/* a hook, dead */
	store_submit(s, event("a-9", "{}"));	/* the marks ride with it */
	wait_all();
	assert_int_equal(count_rows("WHERE state = 'dead'"), 4);

	a = admin_open(STORE_ADMIN_REPLAY);
	assert_int_equal(store_admin_replay(a, 1, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_int_equal(count_rows("WHERE seq = 1 AND state = 'pending' AND "
	    "tries = 0 AND next_at = 0 AND last_error IS NULL"), 1);
	assert_int_equal(store_admin_replay(a, 6, err, sizeof(err)),
	    STORE_ADMIN_HOOK);
	assert_non_null(strstr(err, "event 6 is a before_message_send hook"));
	assert_int_equal(store_admin_replay(a, 42, err, sizeof(err)),
	    STORE_ADMIN_NO_EVENT);
	assert_non_null(strstr(err, "no event 42 in "));
	/* the dead pushes only */
	assert_int_equal(store_admin_replay_dead(a, &n, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_int_equal(n, 3);
	assert_int_equal(store_admin_replay_dead(a, &n, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_int_equal(n, 0);
	store_admin_close(a);
	assert_int_equal(count_rows("WHERE state = 'dead'"), 1);
	assert_int_equal(count_rows("WHERE seq = 2 AND state = 'dead' AND "
	    "last_error = 'odd'"), 1);
	assert_int_equal(count_rows("WHERE seq = 6 AND state = 'kept'"), 1);

	/* 1, 3, 4, 5, 7, 8: the ones replayed among them at once */
	assert_int_equal(store_pending(s, 0, p, 8), 6);
	assert_int_equal(p[0].seq, 1);
	assert_int_equal(p[0].tries, 0);
	assert_int_equal(p[5].seq, 8);
	store_close(s);
}

static void
test_admin_v1(void **state)
{
	struct store_admin *a;
	struct store_admin_event ev;
	struct store_admin_counts c;
	int64_t seqs[4];
	char err[512];

	(void)state;
	sql_exec(v1_schema);
	a = admin_open(STORE_ADMIN_READ);
	assert_int_equal(store_admin_get(a, 5, &ev, err, sizeof(err)),
	    STORE_ADMIN_OK);
	assert_string_equal(ev.state, "kept");
	assert_int_equal(ev.tries, 0);
	assert_null(ev.cid);
	assert_int_equal(ev.next_at, 0);
	assert_null(ev.last_error);
	assert_null(ev.order_key);
	assert_null(ev.signature);
	assert_null(ev.target);
	assert_string_equal(ev.command, "giphy");
	assert_memory_equal(ev.body, "{}", 2);
	assert_int_equal(admin_seqs(a, 0, STORE_KEPT, 10, seqs, 4), 2);
	assert_int_equal(admin_seqs(a, 0, STORE_PENDING, 10, seqs, 4), 0);
	assert_int_equal(store_admin_counts(a, &c, err, sizeof(err)),
	    STORE_ADMIN_OK);
	store_admin_close(a);
	assert_int_equal(c.schema, 1);
	assert_int_equal(c.total, 2);
	assert_int_equal(c.state[STORE_KEPT], 2);
	assert_int_equal(c.kind[STORE_CUSTOM_COMMAND], 1);
	assert_int_equal(c.oldest_pending_seq, 0);

	assert_int_equal(store_admin_open(&a, uri, STORE_ADMIN_REPLAY, err,
	    sizeof(err)), STORE_ADMIN_OLD);
	assert_null(a);
	assert_non_null(strstr(err, "schema version 1, from before delivery"));
	/* reading upgraded nothing */
	assert_int_equal(sql_int("PRAGMA user_version"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM pragma_table_info("
	    "'events')"), 9);
}

static void
test_admin_open_errors(void **state)
{
	struct store_admin *a;
	char err[512], junk[160];
	FILE *fp;

	(void)state;
	assert_int_equal(store_admin_open(&a, uri, STORE_ADMIN_READ, err,
	    sizeof(err)), STORE_ADMIN_MISSING);
	assert_non_null(strstr(err, "events.db: no such file"));
	assert_int_equal(store_admin_open(&a, uri, STORE_ADMIN_REPLAY, err,
	    sizeof(err)), STORE_ADMIN_MISSING);
	assert_int_equal(access(path, F_OK), -1);	/* never created */

	assert_int_equal(store_admin_open(&a, "redis://:hunter2@h:6379/0",
	    STORE_ADMIN_READ, err, sizeof(err)), STORE_ADMIN_UNSUPPORTED);
	assert_non_null(strstr(err, "<prefix>:events"));
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(store_admin_open(&a, "postgres://x", STORE_ADMIN_READ,
	    err, sizeof(err)), STORE_ADMIN_UNSUPPORTED);
	assert_non_null(strstr(err, "'postgres://x' is not sqlite:PATH"));
	assert_int_equal(store_admin_open(&a, "sqlite:", STORE_ADMIN_READ, err,
	    sizeof(err)), STORE_ADMIN_UNSUPPORTED);

	snprintf(junk, sizeof(junk), "sqlite:%s", dir);
	assert_int_equal(store_admin_open(&a, junk, STORE_ADMIN_READ, err,
	    sizeof(err)), STORE_ADMIN_FAILED);
	assert_non_null(strstr(err, "not a regular file"));
	snprintf(junk, sizeof(junk), "%s/junk.db", dir);
	assert_non_null(fp = fopen(junk, "w"));
	fputs("not a database, not at all, no\n", fp);
	fclose(fp);
	snprintf(junk, sizeof(junk), "sqlite:%s/junk.db", dir);
	assert_int_equal(store_admin_open(&a, junk, STORE_ADMIN_READ, err,
	    sizeof(err)), STORE_ADMIN_FAILED);
	assert_non_null(strstr(err, "not a streamgate store (file is not a "
	    "database)"));

	/* a database, but no events in it: version 0 reads as 1 */
	sql_exec("CREATE TABLE t (a);");
	a = admin_open(STORE_ADMIN_READ);
	assert_int_equal(store_admin_list(a, 0, -1, 10, err, sizeof(err)),
	    STORE_ADMIN_FAILED);
	assert_non_null(strstr(err, "not a streamgate store (no such table: "
	    "events)"));
	store_admin_close(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stored_exactly, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_in_one_batch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_from_threads,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_reported, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_one_writer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dedup_cap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pending_fetch_mark, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_marks_with_events, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gauges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v2, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v2_atomic, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_per_api_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hash_stored, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v4, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v3, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_files_gone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retention_seen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_admin_list_get, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_admin_counts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_admin_snapshot, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_admin_replay, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_admin_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_open_errors, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
