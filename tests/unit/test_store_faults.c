/*
 * test_store_faults.c: the SQLite store's durability, seen from below it.
 * A VFS of the test's own wraps SQLite's default one and is made the
 * default, so the store's connections go through it: it counts every
 * write and every sync of the write-ahead log, and fails the next one
 * when told to.
 *
 *   - No event is acknowledged while a byte written to the log is not
 *     yet synced, and every acknowledged batch had a sync of its own
 *     (synchronous=OFF or NORMAL, or an acknowledgement sent before the
 *     COMMIT returned, fail here).
 *   - A log write that fails (SQLITE_IOERR_WRITE, SQLITE_FULL) or a log
 *     sync that fails (SQLITE_IOERR_FSYNC, SQLITE_FULL) fails the whole
 *     batch: nothing of it acknowledged, nothing of it stored; Stream's
 *     retry of the same ids is stored, once, and a copy after that is a
 *     duplicate, also after a restart (a COMMIT whose failure were taken
 *     for success, or ids not taken back out of the dedup set, fail
 *     here).
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

#include <sqlite3.h>

#include "clock.h"
#include "store.h"

/* ---- the VFS ---- */

struct ffile {
	sqlite3_file	 base;		/* first: SQLite sees this */
	sqlite3_file	*real;		/* the default VFS's, right after */
	int		 wal;		/* the write-ahead log */
};

static struct {
	pthread_mutex_t	lock;
	uint64_t	writes;		/* log writes that succeeded */
	uint64_t	synced;		/* writes at the last log sync */
	uint64_t	syncs;
	int		fail_write;	/* the next log write returns this */
	int		fail_sync;	/* the next log sync returns this */
	int		failed;		/* faults that fired */
} V = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0 };

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;

#define REAL(f)	(((struct ffile *)(f))->real)

static int
f_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int
f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int
f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	struct ffile *ff = (struct ffile *)f;
	int rc, fail = 0;

	if (ff->wal) {
		pthread_mutex_lock(&V.lock);
		if ((fail = V.fail_write) != 0) {
			V.fail_write = 0;
			V.failed++;
		}
		pthread_mutex_unlock(&V.lock);
		if (fail != 0)
			return fail;
	}
	rc = REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
	if (ff->wal && rc == SQLITE_OK) {
		pthread_mutex_lock(&V.lock);
		V.writes++;
		pthread_mutex_unlock(&V.lock);
	}
	return rc;
}

static int
f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
f_sync(sqlite3_file *f, int flags)
{
	struct ffile *ff = (struct ffile *)f;
	uint64_t writes = 0;
	int rc, fail = 0;

	if (ff->wal) {
		pthread_mutex_lock(&V.lock);
		if ((fail = V.fail_sync) != 0) {
			V.fail_sync = 0;
			V.failed++;
		}
		writes = V.writes;	/* what this sync covers */
		pthread_mutex_unlock(&V.lock);
		if (fail != 0)
			return fail;
	}
	rc = REAL(f)->pMethods->xSync(REAL(f), flags);
	if (ff->wal && rc == SQLITE_OK) {
		pthread_mutex_lock(&V.lock);
		V.syncs++;
		if (writes > V.synced)
			V.synced = writes;
		pthread_mutex_unlock(&V.lock);
	}
	return rc;
}

static int
f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
f_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int
f_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int
f_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
f_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
f_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
f_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void
f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
f_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int
f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods f_methods = {
	3, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock,
	f_unlock, f_reserved, f_control, f_sector, f_device, f_shm_map,
	f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch,
};

static int
f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
    int *out)
{
	struct ffile *ff = (struct ffile *)f;
	int rc;

	(void)vfs;
	ff->real = (sqlite3_file *)(ff + 1);
	ff->wal = (flags & SQLITE_OPEN_WAL) != 0;
	rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
	f->pMethods = NULL;
	if (ff->real->pMethods == NULL)
		return rc;
	/* ours forward all of version 3's, which the unix VFS has */
	if (ff->real->pMethods->iVersion < 3) {
		ff->real->pMethods->xClose(ff->real);
		return SQLITE_CANTOPEN;
	}
	f->pMethods = &f_methods;
	return rc;
}

static void
vfs_install(void)
{
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
	assert_non_null(real_vfs = sqlite3_vfs_find(NULL));
	fault_vfs = *real_vfs;
	fault_vfs.zName = "sg-faults";
	fault_vfs.szOsFile = (int)sizeof(struct ffile) + real_vfs->szOsFile;
	fault_vfs.xOpen = f_open;
	fault_vfs.pNext = NULL;
	assert_int_equal(sqlite3_vfs_register(&fault_vfs, 1), SQLITE_OK);
}

static void
vfs_reset(void)
{
	pthread_mutex_lock(&V.lock);
	V.writes = V.synced = V.syncs = 0;
	V.fail_write = V.fail_sync = V.failed = 0;
	pthread_mutex_unlock(&V.lock);
}

/* ---- events, and what the store told about them ---- */

#define ACKS_MAX	4096

static struct {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	int		pending;
	int		stored, duplicate, failed;
	int		gated, gate_open;
	/* per STORED, at its acknowledgement: the log's writes, syncs
	 * and the writes the last sync covered */
	int		nacks;
	uint64_t	ack_writes[ACKS_MAX], ack_syncs[ACKS_MAX];
	uint64_t	ack_synced[ACKS_MAX];
} W = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0,
    0, 0, { 0 }, { 0 }, { 0 } };

static char dir[64], uri[160], path[128];
static const struct store_options opts = { .dedup_window_ms = 86400000, .retention_ms = 0, .redis_prefix = "streamgate",
	    .consumer = "test", .deliver = 0, .dedup_max_ids = 0 };

static void
done(struct store_event *ev, enum store_result r, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.lock);
	if (ev->kind == STORE_CUSTOM_COMMAND) {	/* the gate */
		W.gated = 1;
		pthread_cond_broadcast(&W.cond);
		while (!W.gate_open)
			pthread_cond_wait(&W.cond, &W.lock);
	}
	if (r == STORE_STORED && W.nacks < ACKS_MAX) {
		pthread_mutex_lock(&V.lock);
		W.ack_writes[W.nacks] = V.writes;
		W.ack_syncs[W.nacks] = V.syncs;
		W.ack_synced[W.nacks] = V.synced;
		pthread_mutex_unlock(&V.lock);
		W.nacks++;
	}
	W.stored += r == STORE_STORED;
	W.duplicate += r == STORE_DUPLICATE;
	W.failed += r == STORE_FAILED;
	W.pending--;
	pthread_cond_broadcast(&W.cond);
	pthread_mutex_unlock(&W.lock);
	free((char *)ev->webhook_id);
	free(ev);
}

static const char body[] = "{\"type\":\"message.new\",\"text\":\"hello\"}";

static struct store_event *
event(const char *id)
{
	struct store_event *ev = calloc(1, sizeof(*ev));

	ev->kind = STORE_PUSH;
	ev->webhook_id = strdup(id);
	ev->event_type = "message.new";
	ev->api_key = "key1";
	ev->attempt = 1;
	ev->received_at = clock_unix_ms();
	ev->body = (const uint8_t *)body;
	ev->body_len = sizeof(body) - 1;
	ev->done = done;
	pthread_mutex_lock(&W.lock);
	W.pending++;
	pthread_mutex_unlock(&W.lock);
	return ev;
}

static void
wait_all(void)
{
	pthread_mutex_lock(&W.lock);
	while (W.pending > 0)
		pthread_cond_wait(&W.cond, &W.lock);
	pthread_mutex_unlock(&W.lock);
}

/* Rows with that id, on a connection of the test's own. */
static int64_t
rows_of(const char *id)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM events "
	    "WHERE webhook_id = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sg-faults-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/events.db", dir);
	snprintf(uri, sizeof(uri), "sqlite:%s", path);
	pthread_mutex_lock(&W.lock);
	W.stored = W.duplicate = W.failed = W.nacks = 0;
	W.gated = W.gate_open = 0;
	pthread_mutex_unlock(&W.lock);
	vfs_reset();
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

/*
 * Hold the writer in the report of a batch of its own (a custom command
 * is the gate), so that what is submitted meanwhile is taken as one
 * batch once the gate opens.
 */
static void
gate_close(struct store *s)
{
	struct store_event *g = event("gate");

	g->kind = STORE_CUSTOM_COMMAND;
	store_submit(s, g);
	pthread_mutex_lock(&W.lock);
	while (!W.gated)
		pthread_cond_wait(&W.cond, &W.lock);
	pthread_mutex_unlock(&W.lock);
}

static void
gate_open(void)
{
	pthread_mutex_lock(&W.lock);
	W.gate_open = 1;
	pthread_cond_broadcast(&W.cond);
	pthread_mutex_unlock(&W.lock);
	wait_all();
	pthread_mutex_lock(&W.lock);
	W.gated = W.gate_open = 0;
	pthread_mutex_unlock(&W.lock);
}

/*
 * Every acknowledgement came after the sync that covers the log's
 * writes so far (none of them waits for a later one), and each batch of
 * acknowledgements (those that saw the same writes) had a sync of its
 * own.  Batches of many events: group commit is exercised too.
 */
static void
test_acked_after_sync(void **state)
{
	struct store *s;
	struct store_stats st;
	char err[256], id[32];
	int i, round, batches = 0;

	(void)state;
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	for (round = 0; round < 40; round++) {
		if (round % 2 == 0)
			gate_close(s);
		for (i = 0; i < 1 + round % 7; i++) {
			snprintf(id, sizeof(id), "ack-%d-%d", round, i);
			store_submit(s, event(id));
		}
		if (round % 2 == 0)
			gate_open();
		wait_all();
	}
	store_stats(s, &st);
	store_close(s);
	assert_true(W.nacks > 100);
	for (i = 0; i < W.nacks; i++) {
		if (W.ack_synced[i] != W.ack_writes[i])
			fail_msg("acknowledgement %d: %llu writes to the log, "
			    "only %llu of them synced", i,
			    (unsigned long long)W.ack_writes[i],
			    (unsigned long long)W.ack_synced[i]);
		if (i > 0 && W.ack_writes[i] != W.ack_writes[i - 1]) {
			batches++;
			if (W.ack_syncs[i] <= W.ack_syncs[i - 1])
				fail_msg("acknowledgement %d: a new batch "
				    "without a sync of its own", i);
		}
	}
	print_message("%d events acknowledged in %d batches, %llu commits, "
	    "%llu log syncs\n", W.nacks, batches + 1,
	    (unsigned long long)st.commits, (unsigned long long)V.syncs);
	assert_true(batches >= 20);
	assert_true(V.syncs >= (uint64_t)batches + 1);
}

/*
 * One fault in the log under a batch of three: none of them
 * acknowledged, none stored; the retries stored once each, then
 * duplicates, also after a restart.
 */
static void
fault_case(int on_sync, int code)
{
	static const char *const ids[] = { "f-1", "f-2", "f-3" };
	struct store *s;
	char err[256];
	size_t i;

	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	store_submit(s, event("before"));
	wait_all();
	assert_int_equal(W.stored, 1);

	gate_close(s);
	for (i = 0; i < 3; i++)
		store_submit(s, event(ids[i]));
	pthread_mutex_lock(&V.lock);
	if (on_sync)
		V.fail_sync = code;
	else
		V.fail_write = code;
	pthread_mutex_unlock(&V.lock);
	gate_open();
	assert_int_equal(V.failed, 1);
	assert_int_equal(W.failed, 3);
	assert_int_equal(W.stored, 2);	/* "before" and the gate */
	for (i = 0; i < 3; i++)
		assert_int_equal(rows_of(ids[i]), 0);

	/* Stream sends them again: stored, once */
	for (i = 0; i < 3; i++)
		store_submit(s, event(ids[i]));
	wait_all();
	assert_int_equal(W.stored, 5);
	assert_int_equal(W.duplicate, 0);
	for (i = 0; i < 3; i++)
		store_submit(s, event(ids[i]));
	wait_all();
	assert_int_equal(W.duplicate, 3);
	store_close(s);
	for (i = 0; i < 3; i++)
		assert_int_equal(rows_of(ids[i]), 1);

	/* the set rebuilt from the store knows them */
	assert_non_null(s = store_open(uri, &opts, err, sizeof(err)));
	for (i = 0; i < 3; i++)
		store_submit(s, event(ids[i]));
	store_submit(s, event("before"));
	wait_all();
	store_close(s);
	assert_int_equal(W.duplicate, 7);
	assert_int_equal(W.stored, 5);
	assert_int_equal(rows_of("before"), 1);
}

static void
test_write_ioerr(void **state)
{
	(void)state;
	fault_case(0, SQLITE_IOERR_WRITE);
}

static void
test_write_full(void **state)
{
	(void)state;
	fault_case(0, SQLITE_FULL);
}

static void
test_sync_ioerr(void **state)
{
	(void)state;
	fault_case(1, SQLITE_IOERR_FSYNC);
}

static void
test_sync_full(void **state)
{
	(void)state;
	fault_case(1, SQLITE_FULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_acked_after_sync, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_ioerr, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_full, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sync_ioerr, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sync_full, setup,
		    teardown),
	};

	vfs_install();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
