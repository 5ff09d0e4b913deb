/*
 * store.c: the store interface (store.h), dispatched to a backend by the
 * URI's scheme.  The names are in store_names.c.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_impl.h"

static const struct store_ops *const backends[] = {
	&store_sqlite_ops,
	&store_redis_ops,
	&store_nats_ops,
	&store_nats_tls_ops,
};

struct store *
store_open(const char *uri, const struct store_options *opt, char *err,
    size_t errlen)
{
	const struct store_ops *ops;
	struct store *s;
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		ops = backends[i];
		if (strncmp(uri, ops->scheme, strlen(ops->scheme)) != 0)
			continue;
		if ((s = ops->open(uri, opt, err, errlen)) == NULL)
			return NULL;
		if (store_queue_start(&s->q, ops->writer, s, err,
		    errlen) != 0) {
			ops->close(s);
			return NULL;
		}
		return s;
	}
	log_errbuf(err, errlen, "store: '%s' is not sqlite:PATH, "
	    "redis://HOST:PORT[/DB] or nats://HOST:PORT[,HOST:PORT...]", uri);
	return NULL;
}

void
store_submit(struct store *s, struct store_event *ev)
{
	store_queue_submit(&s->q, ev);
}

void
store_stats(struct store *s, struct store_stats *out)
{
	store_queue_stats(&s->q, out);
}

int
store_broken(struct store *s)
{
	return atomic_load_explicit(&s->q.broken, memory_order_relaxed);
}

/* What is queued is stored (or failed) before the writer returns. */
void
store_close(struct store *s)
{
	store_queue_stop(&s->q);
	s->ops->close(s);
}

int
store_pending(struct store *s, int64_t after, struct store_pending *out,
    size_t max)
{
	return s->ops->pending(s, after, out, max);
}

int
store_fetch(struct store *s, int64_t seq, struct store_record *out)
{
	memset(out, 0, sizeof(*out));
	return s->ops->fetch(s, seq, out);
}

void
store_fetch_many(struct store *s, const int64_t *seqs, size_t n,
    struct store_record *out, int *rc)
{
	size_t i;

	memset(out, 0, n * sizeof(*out));
	if (s->ops->fetch_many != NULL) {
		s->ops->fetch_many(s, seqs, n, out, rc);
		return;
	}
	for (i = 0; i < n; i++)
		rc[i] = s->ops->fetch(s, seqs[i], &out[i]);
}

int
store_fetch_batches(struct store *s)
{
	return s->ops->fetch_many != NULL;
}

int
store_dedups_window(struct store *s)
{
	return s->ops->dedup_window;
}

void
store_record_free(struct store_record *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

void
store_mark(struct store *s, const struct store_mark *m)
{
	s->ops->mark(s, m);
}

void
store_notify(struct store *s, void (*fn)(void *), void *arg)
{
	store_queue_notify(&s->q, fn, arg);
}
