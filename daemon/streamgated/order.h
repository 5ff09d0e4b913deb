/*
 * order.h: the delivery worker's ordering window (deliver.h): which of the
 * pending events it holds may be sent now, in order per order key.
 */
#ifndef SG_ORDER_H
#define SG_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * The events the worker holds, by seq.  An event may be sent when it is
 * not in flight, its next_at has come, and it is the lowest-seq event held
 * for its order key while no event of that key is in flight.  Events
 * without a key, and events of other keys, never wait for each other.
 * The events that may be sent now or once their time comes (candidates)
 * are kept apart, so choosing costs what the choice does, not what the
 * window holds: a window full of one channel's events has one candidate.
 */
struct order;

struct order_entry {
	struct store_pending	 p;
	int			 inflight;
	int			 removed;	/* delivered or dead: a hole */
	struct order_key	*kq;		/* NULL: no order key */
	struct order_entry	*knext;		/* same key, higher seq */
	int			 heap;		/* a candidate: which heap */
	size_t			 hidx;		/* and where in it */
};

struct order	*order_new(size_t max);
void		 order_free(struct order *o);
/* 1 added, 0 already held, -1 full or out of memory. */
int		 order_add(struct order *o, const struct store_pending *p);
int		 order_holds(const struct order *o, int64_t seq);
size_t		 order_held(const struct order *o);	/* excluding holes */
/*
 * Up to max entries that may be sent at now, lowest seq first; each is
 * marked in flight.  *next_due: the earliest next_at of an entry that is
 * only waiting for its time (INT64_MAX when none).
 */
size_t		 order_ready(struct order *o, int64_t now,
		    struct order_entry **out, size_t max, int64_t *next_due);
/* The seqs of up to max entries after seq, lowest first, not in flight:
 * what is likely to go out next (deliver.c fetches them ahead). */
size_t		 order_next(const struct order *o, int64_t seq, int64_t *out,
		    size_t max);
/* The attempt failed: wait until next_at (the entry keeps its place). */
void		 order_retry(struct order *o, struct order_entry *e, int tries,
		    int64_t next_at);
/* Delivered or dead: the entry goes, its key's next event may go out.
 * The pointer is not valid after this. */
void		 order_done(struct order *o, struct order_entry *e);

#endif
