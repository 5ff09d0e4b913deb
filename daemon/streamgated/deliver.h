/*
 * deliver.h: push delivery.  One thread with a libcurl multi handle sends
 * the store's pending push events to the push upstream, at least once, in
 * order per order key (the channel, "cid:<cid>", or the user, "user:<id>"),
 * up to delivery.concurrency at a time, retrying with exponential backoff
 * until delivery.max_attempts, then dead.
 *
 * The pure parts are exposed for the unit tests: the backoff, the per-key
 * ordering window (order.h), and the request made of an event.
 */
#ifndef SG_DELIVER_H
#define SG_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "order.h"
#include "store.h"
#include "upstream.h"

/* ---- backoff ---- */

/*
 * The wait before the next attempt after `tries` failed ones (>= 1):
 * d = min(cap, base * 2^(tries - 1)), then equal jitter: d/2 + rnd mod
 * (d/2 + 1).  Never less than half the exponential step, so a failing app
 * is not hammered, and spread so a fleet of retries does not arrive at
 * once.  Milliseconds.
 */
uint64_t deliver_backoff(unsigned base_ms, unsigned cap_ms, unsigned tries,
	    uint32_t rnd);

/* ---- the request ---- */

/*
 * The attempt at rec that follows `tries` failed ones, into m: the exact
 * stored body to the request's own target (route for an event stored
 * before targets were kept), with Stream's identity and X-Signature, so
 * an app that verifies it keeps working, and our attempt number.  The
 * upstream, its CA and the timeout are the caller's.  m points into rec.
 */
void		 deliver_msg(struct upstream_msg *m,
		    const struct store_record *rec, int tries,
		    const char *route);

/* ---- the worker ---- */

struct deliver;

/* cfg is read now and not kept. */
struct deliver	*deliver_new(struct store *store, const struct config *cfg,
		    char *err, size_t errlen);
int		 deliver_start(struct deliver *d);
/* A reload: copies the push upstream, its route and the delivery
 * settings; requests in flight finish with the old ones. */
void		 deliver_configure(struct deliver *d, const struct config *cfg);
/* Stop starting requests, give those in flight up to 2 s, join.  Events
 * not answered stay pending (at least once). */
void		 deliver_stop(struct deliver *d);
/* After store_close: the store may call the wake-up until then. */
void		 deliver_free(struct deliver *d);

#endif
