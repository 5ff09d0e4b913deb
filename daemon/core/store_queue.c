/*
 * store_queue.c: the writer's queue shared by the store backends (see
 * store_queue.h).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "store_queue.h"

void
store_queue_init(struct store_queue *q)
{
	pthread_condattr_t ca;

	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	/* deadlines must not move with the wall clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->wake, &ca);
	pthread_condattr_destroy(&ca);
	q->tail = &q->head;
	q->want = 1;
	q->gather_want = 1;
	q->probe_every = STORE_GATHER_PROBE;
}

void
store_queue_destroy(struct store_queue *q)
{
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->wake);
}

int
store_queue_start(struct store_queue *q, void *(*writer)(void *), void *arg,
    char *err, size_t errlen)
{
	if ((errno = pthread_create(&q->thread, NULL, writer, arg)) != 0) {
		log_errbuf(err, errlen, "store: writer thread: %s",
		    strerror(errno));
		return -1;
	}
	(void)pthread_setname_np(q->thread, "sg-writer");	/* top -H */
	return 0;
}

void
store_queue_stop(struct store_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
}

void
store_queue_submit(struct store_queue *q, struct store_event *ev)
{
	ev->next = NULL;
	ev->seq = 0;
	ev->first_sha256[0] = '\0';
	pthread_mutex_lock(&q->lock);
	*q->tail = ev;
	q->tail = &ev->next;
	if (++q->n >= q->want)
		pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
}

void
store_queue_stats(struct store_queue *q, struct store_stats *out)
{
	pthread_mutex_lock(&q->lock);
	*out = q->stats;
	pthread_mutex_unlock(&q->lock);
}

void
store_queue_notify(struct store_queue *q, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&q->lock);
	q->notify = fn;
	q->notify_arg = arg;
	pthread_mutex_unlock(&q->lock);
}

struct store_event *
store_queue_take(struct store_queue *q, size_t max)
{
	struct store_event *batch = q->head, *ev = batch;
	size_t n = 1;

	if (batch == NULL)
		return NULL;
	while (ev->next != NULL && n < max) {
		ev = ev->next;
		n++;
	}
	q->head = ev->next;
	if (q->head == NULL)
		q->tail = &q->head;
	ev->next = NULL;
	q->n -= n;
	return batch;
}

struct store_event *
store_queue_gather(struct store_queue *q, size_t max, int64_t wait_us)
{
	struct timespec ts;
	size_t want = q->gather_want;
	int probe = ++q->gathers >= q->probe_every;

	if (probe) {
		want++;
		q->gathers = 0;
	}
	if (want > max)
		want = max;
	if (q->n < want && wait_us > 0) {
		ts = clock_ts_us(clock_mono_us() + wait_us);
		q->want = want;	/* one wake when they are in, not one each */
		while (q->n < want && !q->stopping &&
		    pthread_cond_timedwait(&q->wake, &q->lock, &ts) != ETIMEDOUT)
			;
		q->want = 1;
	}
	if (probe && q->n < want && q->probe_every < STORE_GATHER_PROBE_MAX)
		q->probe_every *= 2;
	else if (probe && q->n >= want)
		q->probe_every = STORE_GATHER_PROBE;
	q->gather_want = q->n < max ? (q->n > 0 ? q->n : 1) : max;
	return store_queue_take(q, max);
}

void
store_queue_wait(struct store_queue *q, int64_t at_ms)
{
	struct timespec ts = clock_ts_us(at_ms * 1000);

	(void)pthread_cond_timedwait(&q->wake, &q->lock, &ts);
}

void
store_queue_report(struct store_queue *q, struct store_event *batch,
    const enum store_result *res, int committed, int wake)
{
	struct store_event *ev, *next;
	void (*fn)(void *);
	void *arg;
	size_t i;

	pthread_mutex_lock(&q->lock);
	q->stats.commits += committed;
	for (ev = batch, i = 0; ev != NULL; ev = ev->next, i++) {
		q->stats.events += res[i] == STORE_STORED;
		q->stats.duplicates += res[i] == STORE_DUPLICATE;
		q->stats.failures += res[i] == STORE_FAILED;
	}
	fn = q->notify;
	arg = q->notify_arg;
	pthread_mutex_unlock(&q->lock);

	for (ev = batch, i = 0; ev != NULL; ev = next, i++) {
		next = ev->next;	/* done() may free ev */
		ev->done(ev, res[i], ev->arg);
	}
	if (wake && fn != NULL)
		fn(arg);
}

void
store_queue_break(struct store_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stats.up = 0;
	pthread_mutex_unlock(&q->lock);
	atomic_store(&q->broken, 1);
}

void
store_queue_error(struct store_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stats.errors++;
	pthread_mutex_unlock(&q->lock);
}

void
store_queue_gauges(struct store_queue *q, uint64_t pending, uint64_t dead,
    int64_t oldest_pending_ms)
{
	pthread_mutex_lock(&q->lock);
	q->stats.pending = pending;
	q->stats.dead = dead;
	q->stats.oldest_pending_ms = oldest_pending_ms;
	pthread_mutex_unlock(&q->lock);
}
