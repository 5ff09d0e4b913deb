/*
 * store_sqlite.c: the embedded store (see store.h).  One writer thread owns
 * the read-write connection.  It sleeps until events or delivery outcomes
 * (marks) are queued, then takes the whole queue, applies it in one
 * transaction and commits with synchronous=FULL: concurrent requests share
 * one fsync.
 *
 * Dedup is decided here, against the ids stored within the window, which
 * the writer keeps in memory (store_ids.c): the writer is the one thread
 * that stores, so a webhook id already stored for the same API key is a
 * duplicate however its copies arrived, even two in one batch, and both
 * are acknowledged only after the one copy is durable; the duplicate
 * learns the stored copy's body hash (its first 16 hex digits).  The
 * tables keep no index on the id: Stream's ids are random UUIDs, and a
 * random key in a B-tree rewrites a leaf page per insert, with a cost that
 * grows with the store; without one, an insert appends at the end of the
 * seq order and costs the same whatever the id and however many rows
 * there are.  When the store is opened, the set is rebuilt from the rows
 * of the last window (events in seq order, which is arrival order, so the
 * window's first row is found by a binary search on seq) and from `seen`,
 * which keeps the ids of events retention deleted within the window.  A
 * batch that does not commit takes its ids back out of the set.
 *
 * The set is this process's alone, so only one daemon may write a store:
 * the open takes an exclusive flock(2) on the database file and refuses a
 * store another process holds, naming its pid.  (flock, not fcntl: SQLite's
 * own locks are fcntl ones, which the two kinds never meet on Linux.)
 *
 * A commit is acknowledged only if the database and its WAL are still the
 * files the store opened, at the path it opened: deleted or replaced under
 * the daemon (rm, a restore), SQLite would go on writing to unlinked
 * inodes that no restart finds.  After COMMIT the writer stats both paths
 * (two stat calls per transaction, not per event: about 5 us against a
 * commit's 1.8 ms fsync here) against the device and inode it saw at
 * open.  That covers an fstat's st_nlink too: an unlinked file is at no
 * path, and its inode number cannot come back at the path while SQLite
 * holds it open.  The -shm is checked with the chores, once a second.  A
 * mismatch breaks the store for good (store_broken): nothing more is
 * acknowledged until a restart opens the files that are there.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "log.h"
#include "store_ids.h"
#include "store_impl.h"
#include "store_queue.h"
#include "store_sqlite_schema.h"

#define STORE_BATCH_MAX	4096	/* events (and marks) in one transaction */
/*
 * How long a commit may wait for the events on their way
 * (store_queue_gather).  A commit cost the writer about 75 us whatever it
 * held, and each event about 12 more (2026-12-06: 1.7 events a commit
 * took 95 us, 27 took 400); under 32 connections batches grew from 10 to
 * 21-27 with this wait and the daemon's CPU a request fell 10-22%
 * plaintext and -9% to +4% TLS (three alternating rounds, two workers),
 * for 1 to 2 ms more at p99.  Half a millisecond is nothing to Stream,
 * which waits seconds for an answer.
 */
#define GATHER_US	500
#define GAUGES_MS	1000	/* gauges refreshed this often */
#define RETAIN_MS	60000	/* a retention pass this often */
#define RETAIN_CHUNK	5000	/* rows deleted in one transaction */
#define MARKS_RETRY_MS	1000	/* marks of a failed commit wait this long */
#define EVICT_LOG_MS	3600000	/* the cap's evictions said at most hourly */
/*
 * The rebuild starts at the first row received this long before the
 * window: rows are in arrival order, but two workers stamp received_at a
 * few ms apart, so seq order and time order differ by that much.
 */
#define REBUILD_SLACK_MS 60000
/* A new store's page: a 1.8 KB event is one row of a 4 KiB page, half of
 * it empty; 16 KiB pages hold 7 and halve the writer's CPU per event
 * (an older store keeps its own until a VACUUM; README). */
#define PAGE_SIZE	16384
#define SG_STR_(x)	#x
#define SG_STR(x)	SG_STR_(x)

struct mark_node {
	struct store_mark	 m;
	struct mark_node	*next;
};

/* The writer's statements. */
enum { W_BEGIN, W_COMMIT, W_INSERT, W_MARK, W_RETIRE, W_REMEMBER,
	W_FORGET, W_SEEN_ANY, W_GAUGES, W_MAX };
/* The delivery thread's. */
enum { R_PENDING, R_FETCH, R_BEGIN, R_COMMIT, R_MAX };

/* The files a commit must still be: the database, its WAL, the index. */
enum { F_DB, F_WAL, F_SHM, F_MAX };
static const char *const file_sfx[F_MAX] = { "", "-wal", "-shm" };

struct file_id {
	dev_t	dev;
	ino_t	ino;
};

struct sqlite_store {
	struct store		 base;
	sqlite3			*db;		/* the writer's */
	sqlite3			*rdb;		/* the delivery thread's */
	sqlite3_stmt		*w[W_MAX];
	sqlite3_stmt		*r[R_MAX];
	uint64_t		 retention_ms;
	uint64_t		 dedup_ms;
	int			 lockfd;	/* flock'd: this daemon's store */
	/* the writer's (and the open's, before the writer starts) */
	struct store_ids	*ids;		/* the window's ids */
	struct store_ids	*ids_any;	/* ids for every API key (`seen`
						 * rows from before version 4);
						 * NULL none */
	uint64_t		 evicted_said;	/* ids.evicted when last logged */
	int64_t			 evicted_log_at;
	char			*path[F_MAX];	/* the files, as opened */
	struct file_id		 id[F_MAX];
	/* delivery outcomes for the writer, under base.q's lock */
	struct mark_node	*marks, **marks_tail;
	int64_t			 marks_at;	/* not before (monotonic ms) */
	/* the writer's own */
	int			 seen_any;	/* `seen` has rows: look there */
	int			 gone;		/* a file deleted or replaced */
	int			 retain_more;	/* the last chunk was full */
	int64_t			 gauges_at, retain_at, chores_at;
};

static const char *const writer_sql[W_MAX] = {
	/* prepared once: sqlite3_exec would compile them at every commit */
	[W_BEGIN] = "BEGIN IMMEDIATE",
	[W_COMMIT] = "COMMIT",
	/* dedup was decided before (store_ids) */
	[W_INSERT] = "INSERT INTO events (webhook_id, kind,"
	    " event_type, api_key, attempt, command, received_at, body, cid,"
	    " state, signature, order_key, target, body_sha256)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[W_MARK] = "UPDATE events SET state = ?1, tries = ?2, next_at = ?3,"
	    " last_error = ?4, delivered_at = coalesce(?5, delivered_at)"
	    " WHERE seq = ?6",
	/* RETURNING: the ids still within the dedup window go to `seen` */
	[W_RETIRE] = "DELETE FROM events WHERE seq IN (SELECT seq FROM events"
	    " WHERE state = 'delivered' AND received_at < ?1 LIMIT ?2)"
	    " RETURNING webhook_id, api_key, received_at, body_sha256",
	[W_REMEMBER] = "INSERT INTO seen (webhook_id, api_key,"
	    " received_at, body_sha256) VALUES (?, ?, ?, ?)",
	[W_FORGET] = "DELETE FROM seen WHERE rowid IN (SELECT rowid"
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
	/* one snapshot for a batch of fetches (sqlite_fetch_many) */
	[R_BEGIN] = "BEGIN",
	[R_COMMIT] = "COMMIT",
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

/* The first STORE_IDS_HASH_LEN bytes of a hex SHA-256: 0, or -1 when
 * hex is not one (none, or another writer's odd value). */
static int
hash_prefix(const char *hex, uint8_t out[STORE_IDS_HASH_LEN])
{
	static const char digits[] = "0123456789abcdef";
	const char *hi, *lo;
	size_t i;

	if (hex == NULL || strlen(hex) != STORE_SHA256_HEX)
		return -1;
	for (i = 0; i < STORE_IDS_HASH_LEN; i++) {
		/* lower-case, as webhook.c writes it and the store keeps it */
		if (hex[2 * i] == '\0' || hex[2 * i + 1] == '\0' ||
		    (hi = strchr(digits, hex[2 * i])) == NULL ||
		    (lo = strchr(digits, hex[2 * i + 1])) == NULL)
			return -1;
		out[i] = (uint8_t)((hi - digits) << 4 | (lo - digits));
	}
	return 0;
}

/*
 * Whether the event's id is one the set holds (for its API key, or one
 * of `seen`'s for every key): 1 with the stored copy's hash in
 * ev->first_sha256 (16 hex digits; "" when it was stored without one),
 * 0 not, -1 error.  k is the key of the event's own pair.
 */
static int
known_id(struct sqlite_store *s, struct store_event *ev,
    const struct store_ids_key *k)
{
	struct store_ids_key any;
	uint8_t h[STORE_IDS_HASH_LEN];
	size_t i;
	int known, found;

	found = store_ids_find(s->ids, k, h, &known);
	if (!found && s->ids_any != NULL && store_ids_count(s->ids_any) > 0) {
		if (store_ids_key(s->ids_any, "", ev->webhook_id, &any) != 0)
			return -1;
		found = store_ids_find(s->ids_any, &any, h, &known);
	}
	if (!found)
		return 0;
	ev->first_sha256[0] = '\0';
	for (i = 0; known && i < STORE_IDS_HASH_LEN; i++)
		snprintf(ev->first_sha256 + 2 * i, 3, "%02x", h[i]);
	return 1;
}

/* One event into the open transaction, received at (not before) at:
 * stored, duplicate, or -1. */
static int
insert_one(struct sqlite_store *s, struct store_event *ev, int64_t at)
{
	sqlite3_stmt *st = s->w[W_INSERT];
	struct store_ids_key k;
	uint8_t h[STORE_IDS_HASH_LEN];
	int rc;

	if (store_ids_key(s->ids, ev->api_key, ev->webhook_id, &k) != 0) {
		log_warnx("store: dedup: cannot hash an id (OpenSSL)");
		store_queue_error(&s->base.q);
		return -1;
	}
	if ((rc = known_id(s, ev, &k)) != 0)
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
	sqlite3_bind_text(st, 14, ev->body_sha256, -1, SQLITE_STATIC);
	if (step_done(s, st, "insert") != 0)
		return -1;
	/* kept from now on for the window (taken back if the batch does not
	 * commit); out of memory, the event fails: Stream sends it again */
	if (store_ids_add(s->ids, &k, hash_prefix(ev->body_sha256, h) == 0 ?
	    h : NULL, at) != 0) {
		log_warnx("store: dedup: out of memory");
		store_queue_error(&s->base.q);
		return -1;
	}
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
 * path's device and inode: 0, or -1 with errno.  statx asking for the
 * inode only, not stat: since Linux 6.13 a query of a file's times makes
 * its next write stamp a fine-grained time, so a stat of the log after each
 * commit dirtied its inode at every commit, and fdatasync wrote the inode
 * too: a second synchronous I/O per commit (+27 µs CPU, +55 µs wall a
 * commit on ext4, README: Benchmarks).  The device is filled in always.
 */
static int
file_id_of(const char *path, struct file_id *id)
{
	struct statx sx;

	if (statx(AT_FDCWD, path, AT_NO_AUTOMOUNT, STATX_INO, &sx) == -1)
		return -1;
	id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	id->ino = sx.stx_ino;
	return 0;
}

/*
 * Files from..last (F_*) are still at their paths, the inodes opened: 0.
 * A file gone (or another there) breaks the store, said once: 1.  A stat
 * that fails otherwise (it should not) fails this commit only: -1.
 */
static int
files_check(struct sqlite_store *s, int from, int last)
{
	struct file_id id;
	const char *why;
	int f;

	for (f = from; f <= last; f++) {
		if (file_id_of(s->path[f], &id) == -1) {
			if (errno != ENOENT && errno != ENOTDIR) {
				log_warn("store: stat %s", s->path[f]);
				store_queue_error(&s->base.q);
				return -1;
			}
			why = "deleted";
		} else if (id.dev != s->id[f].dev || id.ino != s->id[f].ino)
			why = "replaced by another file";
		else
			continue;
		s->gone = 1;
		store_queue_break(&s->base.q);
		log_warnx("store: %s was %s under the running daemon: nothing "
		    "is acknowledged any more (webhooks 503, /healthz 503) "
		    "until streamgated is restarted", s->path[f], why);
		return 1;
	}
	return 0;
}

/* The ids stored a window ago leave the set (and `seen`'s, which once
 * none is left is freed: a store upgraded from version 3 has them for
 * one window). */
static void
ids_expire(struct sqlite_store *s, int64_t now)
{
	store_ids_expire(s->ids, now);
	if (s->ids_any != NULL) {
		store_ids_expire(s->ids_any, now);
		if (store_ids_count(s->ids_any) == 0) {
			store_ids_free(s->ids_any);
			s->ids_any = NULL;
		}
	}
}

/*
 * Commit one batch of events and marks; report every event.  Results are
 * held back until the COMMIT returned and the files are still the store's:
 * before that nothing is durable, and a failed commit turns every event of
 * the batch into a failure.  A broken store tries nothing: its marks are
 * dropped (they could only go to the lost files; delivery is at least
 * once).
 */
static void
batch_commit(struct sqlite_store *s, struct store_event *batch,
    struct mark_node *marks)
{
	struct store_event *ev;
	struct mark_node *m;
	enum store_result res[STORE_BATCH_MAX];
	int64_t now = clock_unix_ms();
	uint64_t mark;
	int ok, i, n = 0, pending = 0, committed = 0;

	ids_expire(s, now);
	mark = store_ids_mark(s->ids);
	ok = !s->gone && step_done(s, s->w[W_BEGIN], "begin") == 0;
	for (ev = batch; ev != NULL; ev = ev->next) {
		int r = ok ? insert_one(s, ev, now) : -1;

		if (r < 0)
			ok = 0;
		res[n++] = r < 0 ? STORE_FAILED : (enum store_result)r;
		pending += r == STORE_STORED && ev->state == STORE_PENDING;
	}
	for (m = marks; ok && m != NULL; m = m->next)
		ok = mark_apply(s, &m->m) == 0;
	if (ok && step_done(s, s->w[W_COMMIT], "commit") != 0)
		ok = 0;
	else if (ok) {
		/* the commit went to the files now at the path, or to none */
		committed = 1;
		ok = files_check(s, F_DB, F_WAL) == 0;
	}
	if (!ok) {
		if (!committed && !s->gone)
			(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL,
			    NULL);
		/* not stored: Stream's retry of any of them is new */
		store_ids_rollback(s->ids, mark);
		for (i = 0; i < n; i++)
			res[i] = STORE_FAILED;
	}
	store_queue_report(&s->base.q, batch, res, ok, ok && pending > 0);
	if (ok || s->gone)
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

/*
 * The dedup set's figures for the stats; ids the cap pushed out before
 * their window are said at most once an hour, with the window they
 * actually had.
 */
static void
ids_refresh(struct sqlite_store *s)
{
	struct store_ids_stats is;
	int64_t now = clock_unix_ms(), mono = clock_mono_ms();

	ids_expire(s, now);
	store_ids_stats(s->ids, &is);
	pthread_mutex_lock(&s->base.q.lock);
	s->base.q.stats.ids = is.n;
	s->base.q.stats.ids_bytes = is.bytes;
	s->base.q.stats.ids_evicted = is.evicted;
	pthread_mutex_unlock(&s->base.q.lock);
	if (is.evicted == s->evicted_said || mono < s->evicted_log_at)
		return;
	log_warnx("store: dedup: %llu ids left memory before the end of "
	    "their %llu s window (dedup_max_ids %zu reached): ids are now "
	    "kept about %lld s; raise dedup_max_ids",
	    (unsigned long long)(is.evicted - s->evicted_said),
	    (unsigned long long)(s->dedup_ms / 1000), is.n,
	    (long long)(now - is.evicted_at) / 1000);
	s->evicted_said = is.evicted;
	s->evicted_log_at = mono + EVICT_LOG_MS;
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
		if ((at = sqlite3_column_int64(st, 2)) < window)
			continue;
		sqlite3_bind_value(rem, 1, sqlite3_column_value(st, 0));
		sqlite3_bind_value(rem, 2, sqlite3_column_value(st, 1));
		sqlite3_bind_int64(rem, 3, at);
		sqlite3_bind_value(rem, 4, sqlite3_column_value(st, 3));
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

	if (step_done(s, s->w[W_BEGIN], "begin") != 0)
		return 0;
	if (s->retention_ms > 0 && (n = retain_events(s, now)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, now - (int64_t)s->dedup_ms);
	sqlite3_bind_int(st, 2, RETAIN_CHUNK);
	if (step_done(s, st, "seen expiry") != 0)
		goto fail;
	forgot = sqlite3_changes(s->db);
	if (step_done(s, s->w[W_COMMIT], "commit") != 0)
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

/*
 * Gauges, the store's files and retention, each when due; sets when the
 * next is due.  The files are checked here too, so an idle store whose
 * files were deleted says so (/healthz) within a second, and the -shm,
 * which no commit checks: another process that opens the store would
 * make a new one and not see this writer's locks.
 */
static void
chores(struct sqlite_store *s)
{
	int64_t now = clock_mono_ms();
	int retain = (s->retention_ms > 0 || s->seen_any) && !s->gone;

	if (now >= s->gauges_at) {
		gauges_refresh(s);
		ids_refresh(s);
		if (!s->gone)
			(void)files_check(s, F_DB, F_SHM);
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
		batch = s->base.q.head == NULL ? NULL :
		    store_queue_gather(&s->base.q, STORE_BATCH_MAX, GATHER_US);
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
	/* only now: closing any descriptor of the file drops SQLite's fcntl
	 * locks on it, so ours outlives its connections */
	if (s->lockfd != -1)
		close(s->lockfd);
	for (i = 0; i < F_MAX; i++)
		free(s->path[i]);
	marks_free(s->marks);
	store_ids_free(s->ids);
	store_ids_free(s->ids_any);
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

/* The files as SQLite opened them, for files_check: WAL mode made the
 * -wal and -shm with the first transaction.  0, or -1 with err. */
static int
files_note(struct sqlite_store *s, const char *path, char *err,
    size_t errlen)
{
	int f;

	for (f = 0; f < F_MAX; f++) {
		if (asprintf(&s->path[f], "%s%s", path, file_sfx[f]) == -1) {
			s->path[f] = NULL;
			log_errbuf(err, errlen, "store: out of memory");
			return -1;
		}
		if (file_id_of(s->path[f], &s->id[f]) == -1) {
			log_errbuf(err, errlen, "store: %s: %s", s->path[f],
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The pid holding a flock on fd's file, from /proc/locks; 0 unknown. */
static long
lock_holder(int fd)
{
	struct stat sb;
	unsigned long long ino;
	unsigned int maj, min;
	char line[256];
	long pid = 0, p;
	FILE *fp;

	if (fstat(fd, &sb) == -1 || (fp = fopen("/proc/locks", "re")) == NULL)
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:131 0 EOF" (a waiter's
	 * line has "->" before FLOCK: not matched) */
	while (pid == 0 && fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "%*d: FLOCK %*s %*s %ld %x:%x:%llu", &p, &maj,
		    &min, &ino) == 4 && maj == major(sb.st_dev) &&
		    min == minor(sb.st_dev) && ino == (unsigned long long)sb.st_ino)
			pid = p;
	fclose(fp);
	return pid;
}

/*
 * This daemon's store alone: the writer's dedup set is the only record of
 * which ids are stored, so a second daemon writing the same file would
 * store every id once more.  0, or -1 with err.
 */
static int
store_lock(struct sqlite_store *s, const char *path, char *err,
    size_t errlen)
{
	long pid;

	/*
	 * SQLite opened (or made) the file already.  Closing any descriptor
	 * of a file drops the process's fcntl locks on it, SQLite's too, so
	 * this one stays open until the store's connections are closed; a
	 * refused open closes it at once, in a process (another daemon)
	 * that has no other connection to the file.
	 */
	if ((s->lockfd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_errbuf(err, errlen, "store: %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK) {
		log_errbuf(err, errlen, "store: %s: lock: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((pid = lock_holder(s->lockfd)) > 0)
		log_errbuf(err, errlen, "store: %s is in use by another "
		    "streamgated (pid %ld): only one daemon may write a store",
		    path, pid);
	else
		log_errbuf(err, errlen, "store: %s is in use by another "
		    "streamgated: only one daemon may write a store", path);
	return -1;
}

/* Both connections, the schema, the statements. */
static int
db_open(struct sqlite_store *s, const char *path, char *err, size_t errlen)
{
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	if (store_lock(s, path, err, errlen) != 0)
		return -1;
	/* only readers share the file (WAL), and `inbox replay` for a
	 * moment: a long wait means trouble */
	sqlite3_busy_timeout(s->db, 1000);
	/* WAL: readers (the delivery thread, `streamgate inbox`) never
	 * block the writer; FULL: a commit is on disk when it returns.
	 * The page size counts only for a store not made yet. */
	if (sqlite3_exec(s->db, "PRAGMA page_size=" SG_STR(PAGE_SIZE) ";"
	    " PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL,
	    NULL) != SQLITE_OK)
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
	return files_note(s, path, err, errlen);
 fail:
	log_errbuf(err, errlen, "store: %s: %s", path,
	    s->db ? sqlite3_errmsg(s->db) : "cannot open");
	return -1;
}

/* One stored id into the set (api_key '': `seen`'s, for every key). */
static int
ids_load_one(struct sqlite_store *s, sqlite3_stmt *st, int64_t from)
{
	const char *id = (const char *)sqlite3_column_text(st, 0);
	const char *key = (const char *)sqlite3_column_text(st, 1);
	int64_t at = sqlite3_column_int64(st, 2);
	struct store_ids **set = &s->ids;
	struct store_ids_key k;
	uint8_t h[STORE_IDS_HASH_LEN];
	int known;

	if (at < from || id == NULL || key == NULL)
		return 0;
	if (key[0] == '\0') {
		set = &s->ids_any;
		if (*set == NULL && (*set = store_ids_new(s->dedup_ms,
		    STORE_IDS_MIN)) == NULL)
			return -1;
	}
	if (store_ids_key(*set, key, id, &k) != 0)
		return -1;
	/* the same pair twice: a copy stored again after its window, or
	 * an id both in `seen` and still in events */
	if (store_ids_find(*set, &k, h, &known))
		return 0;
	return store_ids_add(*set, &k, hash_prefix((const char *)
	    sqlite3_column_text(st, 3), h) == 0 ? h : NULL, at);
}

/*
 * The first seq to read from for the rows received at from or later.
 * Rows are in arrival order, so a binary search on seq finds it; each
 * step reads the first row at or after the middle, so deleted rows (gaps
 * in seq) cost nothing.  -1 on error.
 */
static int64_t
window_start(struct sqlite_store *s, int64_t from)
{
	sqlite3_stmt *st = NULL;
	int64_t lo = 0, hi = 0, mid, seq = -1;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT coalesce(min(seq), 0),"
	    " coalesce(max(seq), 0) FROM events", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto done;
	lo = sqlite3_column_int64(st, 0);
	hi = sqlite3_column_int64(st, 1) + 1;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(s->db, "SELECT seq, received_at FROM events"
	    " WHERE seq >= ? ORDER BY seq LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		goto done;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		sqlite3_bind_int64(st, 1, mid);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
		    sqlite3_column_int64(st, 1) < from)
			lo = sqlite3_column_int64(st, 0) + 1;
		else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
			hi = mid;
		else
			goto done;
		sqlite3_reset(st);
	}
	seq = lo;
 done:
	sqlite3_finalize(st);
	return seq;
}

/* Step st over its rows into the set: 0, or -1. */
static int
ids_load_rows(struct sqlite_store *s, sqlite3_stmt *st, int64_t from)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (ids_load_one(s, st, from) != 0)
			return -1;
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * The set as the store has it: the ids of `seen` (events retention
 * deleted) and of the events received within the window, read in one
 * snapshot.  0, or -1 with err.
 */
static int
ids_load(struct sqlite_store *s, const char *path, char *err, size_t errlen)
{
	struct store_ids_stats is;
	sqlite3_stmt *st = NULL;
	int64_t t0 = clock_mono_ms(), from = clock_unix_ms() -
	    (int64_t)s->dedup_ms, start;
	int ok;

	if (exec(s, "BEGIN") != 0)
		goto fail;
	ok = sqlite3_prepare_v2(s->db, "SELECT webhook_id, api_key,"
	    " received_at, body_sha256 FROM seen WHERE received_at >= ?"
	    " ORDER BY received_at", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(st, 1, from);
		ok = ids_load_rows(s, st, from) == 0;
	}
	sqlite3_finalize(st);
	st = NULL;
	ok = ok && (start = window_start(s, from - REBUILD_SLACK_MS)) >= 0 &&
	    sqlite3_prepare_v2(s->db, "SELECT webhook_id, api_key,"
	    " received_at, body_sha256 FROM events WHERE seq >= ?"
	    " ORDER BY seq", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(st, 1, start);
		ok = ids_load_rows(s, st, from) == 0;
	}
	sqlite3_finalize(st);
	(void)sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (!ok)
		goto fail;
	store_ids_stats(s->ids, &is);
	log_info("store: %s: %zu ids of the last %llu s in memory (%.1f MiB), "
	    "read in %lld ms", path, is.n + (s->ids_any != NULL ?
	    store_ids_count(s->ids_any) : 0),
	    (unsigned long long)(s->dedup_ms / 1000), is.bytes / 1048576.0,
	    (long long)(clock_mono_ms() - t0));
	return 0;
 fail:
	log_errbuf(err, errlen, "store: %s: reading the ids of the dedup "
	    "window: %s", path, sqlite3_errmsg(s->db));
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
	s->lockfd = -1;
	if ((s->ids = store_ids_new(s->dedup_ms, opt->dedup_max_ids > 0 ?
	    opt->dedup_max_ids : STORE_DEDUP_MAX_IDS)) == NULL) {
		log_errbuf(err, errlen, "store: dedup: out of memory, or no "
		    "SipHash in OpenSSL");
		sqlite_close(&s->base);
		return NULL;
	}
	if (db_open(s, uri + 7, err, errlen) != 0 ||
	    ids_load(s, uri + 7, err, errlen) != 0) {
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

/*
 * Each fetch on its own is a read transaction of its own, and the writer
 * commits between them, so each one starts with an empty page cache and
 * reads the table's pages again (two 16 KiB preads per event); in one
 * transaction the events of a batch, mostly neighbours, share them.
 */
static void
sqlite_fetch_many(struct store *base, const int64_t *seqs, size_t n,
    struct store_record *out, int *rc)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int begun;
	size_t i;

	begun = sqlite3_step(s->r[R_BEGIN]) == SQLITE_DONE;
	sqlite3_reset(s->r[R_BEGIN]);
	for (i = 0; i < n; i++)
		rc[i] = sqlite_fetch(base, seqs[i], &out[i]);
	if (begun) {
		if (sqlite3_step(s->r[R_COMMIT]) != SQLITE_DONE)
			sql_error(s, s->rdb, "fetch: commit");
		sqlite3_reset(s->r[R_COMMIT]);
	}
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
	.fetch_many = sqlite_fetch_many,
	.dedup_window = 1,	/* the writer's id set (store_ids) */
	.mark = sqlite_mark,
};
