/*
 * clock.h: the clocks, read one way everywhere.  Wall time (unix ms) is
 * what gets stored and shown (received_at, next_at, the request log);
 * monotonic time is for deadlines and intervals, which a clock step must
 * not stretch or cut short.
 */
#ifndef SG_CLOCK_H
#define SG_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline struct timespec
clock_now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts;
}

static inline int64_t
clock_ms(clockid_t id)
{
	struct timespec ts = clock_now(id);

	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unix time in ms. */
static inline int64_t
clock_unix_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

static inline int64_t
clock_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static inline int64_t
clock_mono_us(void)
{
	struct timespec ts = clock_now(CLOCK_MONOTONIC);

	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A time in us as a timespec: for pthread_cond_timedwait's deadline on a
 * condition made with CLOCK_MONOTONIC, given clock_mono_us() + a wait. */
static inline struct timespec
clock_ts_us(int64_t us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	return ts;
}

/* Monotonic seconds, for rates. */
static inline double
clock_mono_s(void)
{
	struct timespec ts = clock_now(CLOCK_MONOTONIC);

	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
