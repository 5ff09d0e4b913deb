/*
 * store_impl.h: what a store backend provides (store.c dispatches).  Not
 * for users of the store: they include store.h.
 */
#ifndef SG_STORE_IMPL_H
#define SG_STORE_IMPL_H

#include "store.h"

struct store_ops {
	const char *scheme;		/* "sqlite:", "redis://" */
	struct store *(*open)(const char *uri, const struct store_options *,
			    char *err, size_t errlen);
	void	(*submit)(struct store *, struct store_event *);
	void	(*stats)(struct store *, struct store_stats *);
	void	(*close)(struct store *);
	int	(*pending)(struct store *, int64_t, struct store_pending *,
		    size_t);
	int	(*fetch)(struct store *, int64_t, struct store_record *);
	void	(*mark)(struct store *, const struct store_mark *);
	void	(*notify)(struct store *, void (*)(void *), void *);
};

/* Every backend's struct starts with this. */
struct store {
	const struct store_ops *ops;
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_redis_ops;

#endif
