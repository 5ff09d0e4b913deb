/*
 * test_store_queue.c: the writer's queue (store_queue.h): the count of
 * queued events, and group commit's gather: no wait when as many events
 * as the batch before are in, a wait that ends once they are (woken by
 * the submit that completes them), a wait that ends at its deadline and
 * makes the next batch want no more than came, the probe for one more
 * and its backing off, and a stop that ends a wait at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "store_queue.h"

#define LONG_US		5000000		/* a wait a test must not sit out */

static struct store_event evs[64];

static size_t
count(const struct store_event *ev)
{
	size_t n = 0;

	for (; ev != NULL; ev = ev->next)
		n++;
	return n;
}

static void
submit(struct store_queue *q, size_t from, size_t n)
{
	size_t i;

	for (i = from; i < from + n; i++)
		store_queue_submit(q, &evs[i]);
}

/* gather under the lock, as the writer does: the batch's size */
static size_t
gather(struct store_queue *q, int64_t wait_us, int64_t *took_us)
{
	struct store_event *b;
	int64_t t0 = clock_mono_us();

	pthread_mutex_lock(&q->lock);
	b = store_queue_gather(q, 4096, wait_us);
	pthread_mutex_unlock(&q->lock);
	if (took_us != NULL)
		*took_us = clock_mono_us() - t0;
	return count(b);
}

/* A batch of n, so that the next gather wants n. */
static void
prime(struct store_queue *q, size_t n)
{
	submit(q, 0, n);
	assert_int_equal(gather(q, LONG_US, NULL), n);
	assert_int_equal(q->gather_want, n);
}

static void
test_take_counts(void **state)
{
	struct store_queue q;

	(void)state;
	store_queue_init(&q);
	submit(&q, 0, 3);
	assert_int_equal(q.n, 3);
	pthread_mutex_lock(&q.lock);
	assert_int_equal(count(store_queue_take(&q, 2)), 2);
	assert_int_equal(q.n, 1);
	assert_int_equal(count(store_queue_take(&q, 2)), 1);
	assert_int_equal(q.n, 0);
	assert_null(store_queue_take(&q, 2));
	pthread_mutex_unlock(&q.lock);
	store_queue_destroy(&q);
}

static void
test_no_wait_when_enough(void **state)
{
	struct store_queue q;
	int64_t took;

	(void)state;
	store_queue_init(&q);
	prime(&q, 4);
	submit(&q, 4, 6);	/* more than the batch before: all of them */
	assert_int_equal(gather(&q, LONG_US, &took), 6);
	assert_true(took < LONG_US / 2);
	assert_int_equal(q.gather_want, 6);
	store_queue_destroy(&q);
}

struct later {
	struct store_queue	*q;
	size_t			 from, n;
	int			 stop;
};

static void *
later_run(void *arg)
{
	struct later *l = arg;

	usleep(50000);
	if (l->stop) {
		pthread_mutex_lock(&l->q->lock);
		l->q->stopping = 1;
		pthread_cond_signal(&l->q->wake);
		pthread_mutex_unlock(&l->q->lock);
	} else
		submit(l->q, l->from, l->n);
	return NULL;
}

/* gather while another thread does what l says 50 ms into the wait */
static size_t
gather_while(struct later *l, int64_t *took_us)
{
	pthread_t t;
	size_t n;

	assert_int_equal(pthread_create(&t, NULL, later_run, l), 0);
	n = gather(l->q, LONG_US, took_us);
	pthread_join(t, NULL);
	return n;
}

static void
test_waits_for_the_batch_before(void **state)
{
	struct store_queue q;
	struct later l;
	int64_t took;

	(void)state;
	store_queue_init(&q);
	prime(&q, 5);
	submit(&q, 5, 2);
	l = (struct later){ &q, 7, 3, 0 };
	/* the third of the three completes the five and wakes the wait */
	assert_int_equal(gather_while(&l, &took), 5);
	assert_true(took >= 40000);
	assert_true(took < LONG_US / 2);
	assert_int_equal(q.want, 1);	/* submits wake an idle writer again */
	store_queue_destroy(&q);
}

static void
test_deadline_shrinks_the_next(void **state)
{
	struct store_queue q;
	int64_t took;

	(void)state;
	store_queue_init(&q);
	prime(&q, 5);
	submit(&q, 5, 2);
	assert_int_equal(gather(&q, 30000, &took), 2);
	assert_true(took >= 30000);
	assert_int_equal(q.gather_want, 2);
	/* and the next batch of two does not wait */
	submit(&q, 7, 2);
	assert_int_equal(gather(&q, LONG_US, &took), 2);
	assert_true(took < LONG_US / 2);
	store_queue_destroy(&q);
}

static void
test_probe_backs_off(void **state)
{
	struct store_queue q;
	int64_t took;
	unsigned i;

	(void)state;
	store_queue_init(&q);
	prime(&q, 1);
	for (i = 1; i < STORE_GATHER_PROBE - 1; i++) {
		submit(&q, 0, 1);
		assert_int_equal(gather(&q, LONG_US, &took), 1);
		assert_true(took < LONG_US / 2);
	}
	/* the probe: it wants two, one comes, it waits out its deadline */
	submit(&q, 0, 1);
	assert_int_equal(gather(&q, 20000, &took), 1);
	assert_true(took >= 20000);
	assert_int_equal(q.probe_every, 2 * STORE_GATHER_PROBE);
	assert_int_equal(q.gather_want, 1);
	/* in vain again and again: the interval stops at its cap */
	for (i = 0; i < 20; i++) {
		q.gathers = q.probe_every - 1;
		submit(&q, 0, 1);
		assert_int_equal(gather(&q, 1000, NULL), 1);
	}
	assert_int_equal(q.probe_every, STORE_GATHER_PROBE_MAX);
	/* a probe that is answered: the next batch wants two, and probes
	 * come at the first interval again */
	q.gathers = q.probe_every - 1;
	submit(&q, 0, 2);
	assert_int_equal(gather(&q, LONG_US, &took), 2);
	assert_true(took < LONG_US / 2);
	assert_int_equal(q.probe_every, STORE_GATHER_PROBE);
	assert_int_equal(q.gather_want, 2);
	store_queue_destroy(&q);
}

static void
test_stop_ends_the_wait(void **state)
{
	struct store_queue q;
	struct later l;
	int64_t took;

	(void)state;
	store_queue_init(&q);
	prime(&q, 8);
	submit(&q, 8, 1);
	l = (struct later){ &q, 0, 0, 1 };
	assert_int_equal(gather_while(&l, &took), 1);
	assert_true(took < LONG_US / 2);
	store_queue_destroy(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_counts),
		cmocka_unit_test(test_no_wait_when_enough),
		cmocka_unit_test(test_waits_for_the_batch_before),
		cmocka_unit_test(test_deadline_shrinks_the_next),
		cmocka_unit_test(test_probe_backs_off),
		cmocka_unit_test(test_stop_ends_the_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
