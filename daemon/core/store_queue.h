/*
 * store_queue.h: the queue in front of a store backend's writer thread,
 * the part of group commit that does not depend on the backend.  Workers
 * submit events under the lock and wake the writer; the writer takes a
 * batch, stores it its own way (one SQLite transaction, one Redis
 * pipeline), then reports it: the stats are counted, every event's done()
 * runs, and the delivery worker is woken when the batch stored something
 * for it.  Not for users of the store: they include store.h.
 */
#ifndef SG_STORE_QUEUE_H
#define SG_STORE_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_queue {
	/* guards what follows, and whatever else the backend shares
	 * between its writer and other threads */
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;		/* CLOCK_MONOTONIC */
	struct store_event	*head, **tail;	/* FIFO */
	size_t			 n;		/* events queued */
	size_t			 want;		/* a submit wakes the writer at
						 * n >= want (1 unless gathering) */
	size_t			 gather_want;	/* see store_queue_gather */
	unsigned		 gathers;	/* since the last probe */
	unsigned		 probe_every;
	int			 stopping;
	struct store_stats	 stats;
	void			(*notify)(void *);
	void			*notify_arg;
	pthread_t		 thread;	/* the writer */
	atomic_int		 broken;	/* store_broken: set once, by
						 * the writer, read lock-free */
};

void	store_queue_init(struct store_queue *q);
/* After store_queue_stop, or when the writer never started. */
void	store_queue_destroy(struct store_queue *q);
/* Run writer(arg): 0, or -1 with err. */
int	store_queue_start(struct store_queue *q, void *(*writer)(void *),
	    void *arg, char *err, size_t errlen);
/* Set stopping, wake the writer and join it: it stores what is queued
 * first, then returns once head is NULL and stopping is set. */
void	store_queue_stop(struct store_queue *q);

/* store_submit, store_stats, store_notify (store.c). */
void	store_queue_submit(struct store_queue *q, struct store_event *ev);
void	store_queue_stats(struct store_queue *q, struct store_stats *out);
void	store_queue_notify(struct store_queue *q, void (*fn)(void *),
	    void *arg);

/*
 * The writer's, with the lock held: the oldest events, at most max, as a
 * NULL-terminated list (NULL when none is queued); sleep until woken or
 * until at_ms (CLOCK_MONOTONIC).
 */
struct store_event *store_queue_take(struct store_queue *q, size_t max);
void	store_queue_wait(struct store_queue *q, int64_t at_ms);

/*
 * The writer's, with the lock held and an event queued: take a batch as
 * store_queue_take does, after waiting up to wait_us for as many events
 * as the batch before held.  Each commit costs the same whatever it holds
 * (a sync, a few pages, the thread's wakes), so while requests are on
 * their way a bigger batch costs less CPU an event; when they stop coming
 * the wait ends at wait_us, and the next batch waits for no more than
 * came.  Every STORE_GATHER_PROBE batches one waits for one event more, to
 * find out whether more would come; a probe that waited in vain doubles
 * that interval (up to STORE_GATHER_PROBE_MAX: a lone sender waits in
 * one batch of a thousand), one that was answered resets it.
 */
#define STORE_GATHER_PROBE	16
#define STORE_GATHER_PROBE_MAX	1024
struct store_event *store_queue_gather(struct store_queue *q, size_t max,
	    int64_t wait_us);

/*
 * The writer's, without the lock: a batch taken is done.  res[i] is the
 * fate of the batch's i-th event; committed counts one commit; wake calls
 * the notify function (the batch stored events to deliver).
 */
void	store_queue_report(struct store_queue *q, struct store_event *batch,
	    const enum store_result *res, int committed, int wake);
/* The backend cannot store anything until a restart (store_broken):
 * from now on, and said in the stats (up 0). */
void	store_queue_break(struct store_queue *q);
/* Count a backend error. */
void	store_queue_error(struct store_queue *q);
/* Refresh the gauges (the backend reads them about once a second). */
void	store_queue_gauges(struct store_queue *q, uint64_t pending,
	    uint64_t dead, int64_t oldest_pending_ms);

#endif
