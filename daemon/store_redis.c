/*
 * store_redis.c: the Redis backend (see store.h).  Being written.
 */
#include "log.h"
#include "store_impl.h"

static struct store *
redis_open(const char *uri, const struct store_options *opt, char *err,
    size_t errlen)
{
	(void)opt;
	log_errbuf(err, errlen, "store: %s: the Redis store is not built yet",
	    uri);
	return NULL;
}

const struct store_ops store_redis_ops = {
	.scheme = "redis://",
	.open = redis_open,
};
