/*
 * store_impl.h: what a store backend provides (store.c dispatches).  Not
 * for users of the store: they include store.h.
 *
 * Every backend runs a writer thread behind the same queue (store_queue.h):
 * store.c starts the writer once the backend is open, submits to the
 * queue, reads the stats from it, sets its notify function, and stops the
 * writer before the backend's close.
 */
#ifndef SG_STORE_IMPL_H
#define SG_STORE_IMPL_H

#include "store.h"
#include "store_queue.h"

struct store_ops {
	const char *scheme;		/* "sqlite:", "redis://" */
	/* with base.q initialised (store_queue_init) */
	struct store *(*open)(const char *uri, const struct store_options *,
			    char *err, size_t errlen);
	void	*(*writer)(void *);	/* its argument: the store */
	/* the writer has stopped (or never started): free it all */
	void	(*close)(struct store *);
	int	(*pending)(struct store *, int64_t, struct store_pending *,
		    size_t);
	int	(*fetch)(struct store *, int64_t, struct store_record *);
	/* NULL: store_fetch_many calls fetch for each */
	void	(*fetch_many)(struct store *, const int64_t *, size_t,
		    struct store_record *, int *);
	void	(*mark)(struct store *, const struct store_mark *);
	/* 1: the store itself keeps every id for the whole dedup window
	 * (store_dedups_window) */
	int	dedup_window;
};

/* Every backend's struct starts with this. */
struct store {
	const struct store_ops *ops;
	struct store_queue	q;	/* events for the writer; the stats */
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_redis_ops;
extern const struct store_ops store_nats_ops;
extern const struct store_ops store_nats_tls_ops;

#endif
