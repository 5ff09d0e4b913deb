/*
 * test_store.c: the SQLite store: group commit, duplicates (also in one
 * batch and from many threads), the exact bytes, and failures reported.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

struct waiter {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	int		pending;
	int		stored, duplicate, failed;
};

static struct waiter W = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
    0, 0, 0, 0 };
static char dir[64], uri[160], path[128];
static const struct store_options opts = { 86400000, 0, "streamgate", "test", 0 };

static void
done(struct store_event *ev, enum store_result r, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.lock);
	W.stored += r == STORE_STORED;
	W.duplicate += r == STORE_DUPLICATE;
	W.failed += r == STORE_FAILED;
	W.pending--;
	pthread_cond_broadcast(&W.cond);
	pthread_mutex_unlock(&W.lock);
	free((char *)ev->webhook_id);
	free((uint8_t *)ev->body);
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
	ev->received_at = 1700000000000LL;
	ev->body = (const uint8_t *)strdup(body);
	ev->body_len = strlen(body);
	ev->done = done;
	pthread_mutex_lock(&W.lock);
	W.pending++;
	pthread_mutex_unlock(&W.lock);
	return ev;
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
	memset(&W.stored, 0, 3 * sizeof(int));
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

static int64_t
count_rows(const char *where)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char sql[256];
	int64_t n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events %s", where);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void
test_stored_exactly(void **state)
{
	struct store *s;
	char err[256];
	const char *body = "{\"type\":\"message.new\",\"x\":\"\\u00e9\"}";

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, event("id-1", body));
	store_submit(s, event("id-2", "{}"));
	wait_all();
	store_close(s);
	assert_int_equal(W.stored, 2);
	assert_int_equal(count_rows("WHERE webhook_id = 'id-1' AND kind = 'push' "
	    "AND event_type = 'message.new' AND api_key = 'key1' AND "
	    "attempt = 1 AND received_at = 1700000000000 AND "
	    "body = CAST('{\"type\":\"message.new\",\"x\":\"\\u00e9\"}' AS BLOB)"),
	    1);
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

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
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
	store_close(s);
	assert_int_equal(W.stored, 1);
}

static void
test_open_errors(void **state)
{
	char err[256];

	(void)state;
	assert_null(store_open("redis-ish:x", &opts, err, sizeof(err)));
	assert_non_null(strstr(err, "neither sqlite:PATH nor redis:"));
	assert_null(store_open("sqlite:/nonexistent-dir/x.db", &opts, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
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
		cmocka_unit_test_setup_teardown(test_open_errors, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
