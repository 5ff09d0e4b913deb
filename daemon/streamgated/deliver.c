/*
 * deliver.c: push delivery (see deliver.h).
 *
 * The worker holds a window of pending events' metadata (the order
 * structure, below), filled from store_pending in seq order: new events as
 * the store says they committed (store_notify), more as the window drains,
 * and a rescan from the start every RESCAN_MS, which finds what someone
 * else made pending again (`streamgate inbox replay`, Redis re-claims).
 * Each chosen event is fetched whole (with the next ones, in one read:
 * "fetching ahead"), sent with the exact stored body, and its outcome is
 * given back to the store with store_mark, which persists tries and
 * next_at: a restart resumes where this one stopped.
 *
 * A mark is queued to the store's writer, so for a moment after an event
 * finished the store may still list it as pending; a rescan ignores events
 * that finished in the last GUARD_MS (the "recently finished" ring) so it
 * does not send them twice.
 *
 * Nothing here keeps a pointer into a config: the settings are copied in
 * under a lock, at start and on reload.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "clock.h"
#include "deliver.h"
#include "log.h"
#include "metrics.h"
#include "upstream.h"

#define WINDOW		16384	/* events held at once */
#define CHUNK		1024	/* read from the store per call */
#define RESCAN_MS	2000
#define GUARD_MS	2000	/* a mark is committed well within this */
#define GUARD_SLOTS	65536
#define STOP_GRACE_MS	2000	/* for requests in flight at SIGTERM */
#define POLL_MAX_MS	1000
#define FETCH_RETRY_MS	1000	/* the store could not be read */
#define AHEAD		32	/* events fetched in one read */
#define AHEAD_MS	1000	/* one fetched ahead and not sent by then is
				 * read again */

/* ---- backoff ---- */

uint64_t
deliver_backoff(unsigned base_ms, unsigned cap_ms, unsigned tries,
    uint32_t rnd)
{
	uint64_t d = base_ms < cap_ms ? base_ms : cap_ms;
	unsigned i;

	for (i = 1; i < tries && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	return d - d / 2 + rnd % (d / 2 + 1);
}

/* ---- the worker ---- */

/* What the worker needs of the configuration, copied. */
struct settings {
	char			url[CONFIG_PATH_LEN];
	char			ca_file[CONFIG_PATH_LEN];
	char			route[256];
	struct config_delivery	dl;
};

/* One request in flight (or a spare, on the free list). */
struct job {
	CURL			*h;
	struct curl_slist	*hdrs;
	struct order_entry	*e;
	struct store_record	 rec;
	struct job		*prev, *next;	/* in flight, or spares */
};

/*
 * Events fetched ahead: the one about to go, the others chosen with it,
 * and (SQLite) the next ones held, read in one go (store_fetch_many).
 * One busy channel sends one event at a time, so without this every event
 * was a read of its own.  A record is taken once; what is not taken
 * within AHEAD_MS is dropped, so no record older than that goes out.
 */
struct ahead {
	int64_t			 seq[AHEAD];	/* 0: taken, or none */
	int			 rc[AHEAD];
	struct store_record	 rec[AHEAD];
	size_t			 n;
	int64_t			 at;		/* read at (monotonic ms) */
};

struct guard {
	int64_t			 seq[GUARD_SLOTS];
	int64_t			 at[GUARD_SLOTS];
	size_t			 next;
	int64_t			 sorted[GUARD_SLOTS];
	size_t			 nsorted;
};

struct deliver {
	struct store		*store;
	struct order		*order;
	CURLM			*multi;
	pthread_t		 thread;
	int			 started;
	atomic_int		 stopping;
	atomic_int		 notified;

	pthread_mutex_t		 lock;		/* guards next, gen */
	struct settings		 next;
	unsigned		 gen;

	/* the thread's own */
	struct settings		 set;
	unsigned		 set_gen;
	struct job		*spare;
	struct job		*busy;		/* in flight */
	size_t			 inflight;
	int64_t			 hwm;		/* highest seq loaded */
	int			 more;		/* the last load was full */
	int64_t			 rescan_at;
	int			 failing;	/* for the log: state changes */
	struct store_pending	 buf[WINDOW];
	struct order_entry	*ready[CHUNK];
	struct ahead		 ahead;
	struct guard		 guard;
};

static void
settings_copy(struct settings *s, const struct config *cfg)
{
	snprintf(s->url, sizeof(s->url), "%s", config_upstream(cfg, CR_PUSH));
	snprintf(s->ca_file, sizeof(s->ca_file), "%s", cfg->upstream_ca_file);
	snprintf(s->route, sizeof(s->route), "%s", cfg->route_push);
	s->dl = cfg->delivery;
}

static void
settings_refresh(struct deliver *d)
{
	pthread_mutex_lock(&d->lock);
	if (d->gen != d->set_gen) {
		d->set = d->next;
		d->set_gen = d->gen;
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- recently finished ---- */

static void
guard_add(struct guard *g, int64_t seq, int64_t now)
{
	g->seq[g->next] = seq;
	g->at[g->next] = now;
	g->next = (g->next + 1) % GUARD_SLOTS;
}

static int
seq_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Before a rescan: the seqs finished in the last GUARD_MS, sorted. */
static void
guard_prepare(struct guard *g, int64_t now)
{
	size_t i;

	g->nsorted = 0;
	for (i = 0; i < GUARD_SLOTS; i++)
		if (g->at[i] != 0 && now - g->at[i] < GUARD_MS)
			g->sorted[g->nsorted++] = g->seq[i];
	qsort(g->sorted, g->nsorted, sizeof(g->sorted[0]), seq_cmp);
}

static int
guard_has(const struct guard *g, int64_t seq)
{
	return g->nsorted > 0 && bsearch(&seq, g->sorted, g->nsorted,
	    sizeof(g->sorted[0]), seq_cmp) != NULL;
}

/* ---- loading the window ---- */

/*
 * Take a page from the store into the window; the page's size, or -1.
 * hwm only passes events that are held (or just finished): everything
 * pending up to it is in the window, so an event loaded later never
 * overtakes an earlier one of its order key.
 */
static int
load_page(struct deliver *d, int64_t after, size_t max, int guarded)
{
	int n, i;

	if ((n = store_pending(d->store, after, d->buf, max)) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((!guarded || !guard_has(&d->guard, d->buf[i].seq)) &&
		    order_add(d->order, &d->buf[i]) < 0) {
			d->more = 1;	/* full: the rest later */
			break;
		}
		if (d->buf[i].seq > d->hwm)
			d->hwm = d->buf[i].seq;
	}
	return n;
}

static size_t
room(const struct deliver *d)
{
	size_t held = order_held(d->order);

	return held < WINDOW ? WINDOW - held : 0;
}

/* New events: those after the highest seq loaded. */
static void
load_new(struct deliver *d)
{
	size_t max = room(d) < CHUNK ? room(d) : CHUNK;
	int n;

	d->more = max == 0;
	if (max == 0)
		return;
	if ((n = load_page(d, d->hwm, max, 0)) == (int)max)
		d->more = 1;
}

/*
 * From the start, for what became pending again.  One call for a whole
 * window: the events held are the lowest pending ones, so a window's worth
 * covers them and whatever came back.  (Redis reads what this consumer
 * claimed from the start, and only new entries after it: paging with
 * after > 0 would skip claimed ones.)
 */
static void
rescan(struct deliver *d, int64_t now)
{
	if (room(d) == 0)
		return;
	guard_prepare(&d->guard, now);
	(void)load_page(d, 0, WINDOW, 1);
}

static void
loads(struct deliver *d)
{
	int64_t now = clock_unix_ms();

	if (now >= d->rescan_at) {
		rescan(d, now);
		d->rescan_at = now + RESCAN_MS;
	}
	if (atomic_exchange(&d->notified, 0) || d->more)
		load_new(d);
}

/* ---- requests ---- */

/* 1 when s is hex digits, and some: a stored value that is not (another
 * writer's, in a shared Redis) never becomes a header. */
static int
hex_only(const char *s)
{
	return s[0] != '\0' && s[strspn(s, "0123456789abcdefABCDEF")] == '\0';
}

void
deliver_msg(struct upstream_msg *m, const struct store_record *rec,
    int tries, const char *route)
{
	memset(m, 0, sizeof(*m));
	m->target = rec->target[0] != '\0' ? rec->target : route;
	m->webhook_id = rec->webhook_id;
	m->api_key = rec->api_key;
	m->signature = hex_only(rec->signature) ? rec->signature : NULL;
	m->attempt = rec->attempt;
	m->delivery_attempt = tries + 1;
	m->seq = rec->seq;
	m->body = rec->body;
	m->body_len = rec->body_len;
}

static struct job *
job_get(struct deliver *d)
{
	struct job *j = d->spare;

	if (j != NULL) {
		d->spare = j->next;
		curl_easy_reset(j->h);
		return j;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	if ((j->h = curl_easy_init()) == NULL) {
		free(j);
		return NULL;
	}
	return j;
}

static void
busy_add(struct deliver *d, struct job *j)
{
	j->prev = NULL;
	j->next = d->busy;
	if (d->busy != NULL)
		d->busy->prev = j;
	d->busy = j;
	d->inflight++;
}

static void
busy_remove(struct deliver *d, struct job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		d->busy = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	d->inflight--;
}

static void
job_put(struct deliver *d, struct job *j)
{
	curl_slist_free_all(j->hdrs);
	j->hdrs = NULL;
	store_record_free(&j->rec);
	j->e = NULL;
	j->next = d->spare;
	d->spare = j;
}

static void
failing_log(struct deliver *d, const char *reason)
{
	char url[CONFIG_PATH_LEN];

	if ((reason[0] != '\0') == d->failing)
		return;
	d->failing = reason[0] != '\0';
	upstream_redact(d->set.url, url, sizeof(url));
	if (d->failing)
		log_warnx("deliver: %s: %s; retrying with backoff", url,
		    reason);
	else
		log_info("deliver: %s: delivering again", url);
}

/* An attempt is over (reason "": 2xx): mark it, and free the slot. */
static void
job_finish(struct deliver *d, struct job *j, const char *reason)
{
	struct order_entry *e = j->e;
	struct store_mark m;
	int resend = e->p.tries > 0;

	memset(&m, 0, sizeof(m));
	m.seq = e->p.seq;
	m.at = clock_unix_ms();
	m.tries = e->p.tries + 1;
	snprintf(m.error, sizeof(m.error), "%s", reason);
	failing_log(d, reason);
	if (reason[0] == '\0' || (unsigned)m.tries >= d->set.dl.max_attempts) {
		m.state = reason[0] == '\0' ? STORE_DELIVERED : STORE_DEAD;
		metrics_delivery(reason[0] == '\0' ? MD_DELIVERED : MD_DEAD,
		    resend);
		if (m.state == STORE_DEAD)
			log_warnx("deliver: seq %lld dead after %d attempts: "
			    "%s", (long long)m.seq, m.tries, reason);
		guard_add(&d->guard, m.seq, m.at);
		order_done(d->order, e);
	} else {
		m.state = STORE_PENDING;
		m.next_at = m.at + (int64_t)deliver_backoff(
		    d->set.dl.backoff_base_ms, d->set.dl.backoff_cap_ms,
		    (unsigned)m.tries, arc4random());
		metrics_delivery(MD_RETRY, resend);
		order_retry(d->order, e, m.tries, m.next_at);
	}
	store_mark(d->store, &m);
	job_put(d, j);
}

/* ---- fetching ahead ---- */

static void
ahead_drop(struct ahead *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (a->seq[i] != 0)
			store_record_free(&a->rec[i]);
	a->n = 0;
}

/* Read e, the events chosen after it (more[0..nmore-1]) and, from a store
 * that reads them in one go, the next ones the window holds, up to AHEAD
 * in all. */
static void
ahead_fill(struct deliver *d, struct order_entry *e,
    struct order_entry **more, size_t nmore)
{
	struct ahead *a = &d->ahead;
	size_t i;

	ahead_drop(a);
	a->seq[a->n++] = e->p.seq;
	for (i = 0; i < nmore && a->n < AHEAD; i++)
		a->seq[a->n++] = more[i]->p.seq;
	if (a->n < AHEAD && store_fetch_batches(d->store))
		a->n += order_next(d->order, e->p.seq, a->seq + a->n,
		    AHEAD - a->n);
	store_fetch_many(d->store, a->seq, a->n, a->rec, a->rc);
	a->at = clock_mono_ms();
}

/* The record of seq, if read ahead and fresh: store_fetch's result, its
 * record moved to out; -2 when not there. */
static int
ahead_take(struct ahead *a, int64_t seq, struct store_record *out)
{
	size_t i;

	if (a->n > 0 && clock_mono_ms() - a->at >= AHEAD_MS)
		ahead_drop(a);
	for (i = 0; i < a->n; i++)
		if (a->seq[i] == seq) {
			a->seq[i] = 0;
			*out = a->rec[i];
			return a->rc[i];
		}
	return -2;
}

/* Fetch the event (more: the others chosen with it); 0 to send it, -1
 * when it was dealt with here. */
static int
job_fetch(struct deliver *d, struct job *j, struct order_entry **more,
    size_t nmore)
{
	struct order_entry *e = j->e;
	int rc;

	if ((rc = ahead_take(&d->ahead, e->p.seq, &j->rec)) == -2) {
		ahead_fill(d, e, more, nmore);
		rc = ahead_take(&d->ahead, e->p.seq, &j->rec);
	}
	if (rc < 0) {		/* the store's trouble, not the app's */
		order_retry(d->order, e, e->p.tries,
		    clock_unix_ms() + FETCH_RETRY_MS);
		return -1;
	}
	if (rc == 1 || j->rec.state == STORE_DELIVERED ||
	    j->rec.state == STORE_DEAD) {
		order_done(d->order, e);	/* gone or settled elsewhere */
		return -1;
	}
	return 0;
}

static void
job_start(struct deliver *d, struct order_entry *e, struct order_entry **more,
    size_t nmore)
{
	struct upstream_msg m;
	struct job *j;
	char err[128];

	if ((j = job_get(d)) == NULL) {
		order_retry(d->order, e, e->p.tries,
		    clock_unix_ms() + FETCH_RETRY_MS);
		return;
	}
	j->e = e;
	if (job_fetch(d, j, more, nmore) != 0) {
		job_put(d, j);
		return;
	}
	deliver_msg(&m, &j->rec, e->p.tries, d->set.route);
	m.url = d->set.url;
	m.ca_file = d->set.ca_file;
	m.timeout_ms = (long)d->set.dl.timeout_ms;
	if (upstream_start(d->multi, j->h, &m, NULL, &j->hdrs, j, err,
	    sizeof(err)) != 0) {
		job_finish(d, j, err);
		return;
	}
	busy_add(d, j);
}

/* Start what the window allows; the earliest time something waits for. */
static int64_t
start_ready(struct deliver *d)
{
	size_t slots, n, i;
	int64_t next_due;

	slots = d->set.dl.concurrency > d->inflight ?
	    d->set.dl.concurrency - d->inflight : 0;
	if (slots > CHUNK)
		slots = CHUNK;
	if (d->set.url[0] == '\0')
		slots = 0;
	n = order_ready(d->order, clock_unix_ms(), d->ready, slots, &next_due);
	for (i = 0; i < n; i++)
		job_start(d, d->ready[i], d->ready + i + 1, n - i - 1);
	return next_due;
}

static void
collect(struct deliver *d)
{
	char reason[128];
	struct job *j;
	CURLcode rc;
	CURL *h;

	while ((j = upstream_finished(d->multi, MU_PUSH, &h, &rc)) != NULL) {
		upstream_reason(h, rc, NULL, reason, sizeof(reason));
		busy_remove(d, j);
		job_finish(d, j, reason);
	}
}

/* SIGTERM's grace is over: what is still in flight stays pending. */
static void
abandon(struct deliver *d)
{
	struct job *j;
	int n = 0;

	while ((j = d->busy) != NULL) {
		curl_multi_remove_handle(d->multi, j->h);
		busy_remove(d, j);
		job_put(d, j);
		n++;
	}
	if (n > 0)
		log_info("deliver: %d request(s) cut off at stop; their events "
		    "stay pending", n);
}

static int
poll_timeout(const struct deliver *d, int64_t next_due)
{
	int64_t now = clock_unix_ms(), t = POLL_MAX_MS;

	if (d->more && room(d) > 0)
		return 0;
	if (next_due != INT64_MAX && next_due - now < t)
		t = next_due - now;
	if (d->rescan_at - now < t)
		t = d->rescan_at - now;
	return t < 0 ? 0 : (int)t;
}

static void *
deliver_main(void *arg)
{
	struct deliver *d = arg;
	int64_t next_due, stop_at = 0;
	size_t was;
	int running;

	for (;;) {
		settings_refresh(d);
		curl_multi_perform(d->multi, &running);
		collect(d);
		next_due = INT64_MAX;
		if (atomic_load(&d->stopping)) {
			if (stop_at == 0)
				stop_at = clock_mono_ms() + STOP_GRACE_MS;
			if (d->inflight == 0 || clock_mono_ms() >= stop_at)
				break;
		} else {
			loads(d);
			was = d->inflight;
			next_due = start_ready(d);
			/* what was just added goes out now: a poll would
			 * return at once (curl's timeout is 0), for nothing */
			if (d->inflight > was)
				continue;
		}
		curl_multi_poll(d->multi, NULL, 0, stop_at ? 100 :
		    poll_timeout(d, next_due), NULL);
	}
	abandon(d);
	return NULL;
}

/* The store committed new pending events (the writer thread). */
static void
deliver_wake(void *arg)
{
	struct deliver *d = arg;

	atomic_store(&d->notified, 1);
	curl_multi_wakeup(d->multi);
}

struct deliver *
deliver_new(struct store *store, const struct config *cfg, char *err,
    size_t errlen)
{
	struct deliver *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		log_errbuf(err, errlen, "deliver: out of memory");
		return NULL;
	}
	d->store = store;
	pthread_mutex_init(&d->lock, NULL);
	settings_copy(&d->next, cfg);
	d->gen = 1;
	if ((d->order = order_new(WINDOW)) == NULL ||
	    (d->multi = curl_multi_init()) == NULL) {
		log_errbuf(err, errlen, "deliver: out of memory");
		deliver_free(d);
		return NULL;
	}
	return d;
}

int
deliver_start(struct deliver *d)
{
	store_notify(d->store, deliver_wake, d);
	if ((errno = pthread_create(&d->thread, NULL, deliver_main, d)) != 0) {
		log_warn("deliver: thread");
		return -1;
	}
	(void)pthread_setname_np(d->thread, "sg-deliver");	/* top -H */
	d->started = 1;
	return 0;
}

void
deliver_configure(struct deliver *d, const struct config *cfg)
{
	pthread_mutex_lock(&d->lock);
	settings_copy(&d->next, cfg);
	d->gen++;
	pthread_mutex_unlock(&d->lock);
	curl_multi_wakeup(d->multi);
}

void
deliver_stop(struct deliver *d)
{
	if (d == NULL || !d->started)
		return;
	atomic_store(&d->stopping, 1);
	curl_multi_wakeup(d->multi);
	pthread_join(d->thread, NULL);
	d->started = 0;
}

void
deliver_free(struct deliver *d)
{
	struct job *j;

	if (d == NULL)
		return;
	while ((j = d->spare) != NULL) {
		d->spare = j->next;
		curl_easy_cleanup(j->h);
		free(j);
	}
	if (d->multi != NULL)
		curl_multi_cleanup(d->multi);
	ahead_drop(&d->ahead);
	order_free(d->order);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
