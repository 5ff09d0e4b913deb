/*
 * dedup.c: the in-memory id cache (see dedup.h).  A chained hash table for
 * lookups and a FIFO of insertions for expiry: ids are added in time order,
 * so the oldest is always at the head.  One mutex: every operation is a
 * few hundred nanoseconds, far below a request's cost.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"

struct entry {
	struct entry	*chain;		/* next in the bucket */
	struct entry	*fifo;		/* next younger */
	int64_t		 at;		/* ms, when recorded */
	char		 id[];
};

struct dedup {
	pthread_mutex_t	  lock;
	struct entry	**bucket;
	size_t		  nbucket;	/* a power of two */
	struct entry	 *oldest, *youngest;
	size_t		  n, max;
	int64_t		  window_ms;
};

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

struct dedup *
dedup_new(unsigned window_s, size_t max)
{
	struct dedup *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->nbucket = 1024;
	while (d->nbucket < max && d->nbucket < (1u << 22))
		d->nbucket <<= 1;
	if ((d->bucket = calloc(d->nbucket, sizeof(*d->bucket))) == NULL) {
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->max = max;
	d->window_ms = (int64_t)window_s * 1000;
	return d;
}

/* Drop the oldest entry from the FIFO and its bucket. */
static void
evict_oldest(struct dedup *d)
{
	struct entry *e = d->oldest, **pp;

	pp = &d->bucket[hash(e->id) & (d->nbucket - 1)];
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	d->oldest = e->fifo;
	if (d->oldest == NULL)
		d->youngest = NULL;
	d->n--;
	free(e);
}

static void
expire(struct dedup *d, int64_t now)
{
	while (d->oldest && (now - d->oldest->at >= d->window_ms ||
	    d->n > d->max))
		evict_oldest(d);
}

static struct entry *
find(struct dedup *d, const char *id)
{
	struct entry *e = d->bucket[hash(id) & (d->nbucket - 1)];

	while (e && strcmp(e->id, id) != 0)
		e = e->chain;
	return e;
}

int
dedup_seen(struct dedup *d, const char *id, int64_t now)
{
	struct entry *e;
	int seen;

	pthread_mutex_lock(&d->lock);
	expire(d, now);
	e = find(d, id);
	seen = e != NULL && now - e->at < d->window_ms;
	pthread_mutex_unlock(&d->lock);
	return seen;
}

void
dedup_add(struct dedup *d, const char *id, int64_t now)
{
	size_t len = strlen(id), b;
	struct entry *e;

	pthread_mutex_lock(&d->lock);
	if (find(d, id) != NULL || (e = malloc(sizeof(*e) + len + 1)) == NULL) {
		pthread_mutex_unlock(&d->lock);
		return;		/* known already, or no memory: the store decides */
	}
	memcpy(e->id, id, len + 1);
	e->at = now;
	e->fifo = NULL;
	b = hash(id) & (d->nbucket - 1);
	e->chain = d->bucket[b];
	d->bucket[b] = e;
	if (d->youngest)
		d->youngest->fifo = e;
	else
		d->oldest = e;
	d->youngest = e;
	d->n++;
	expire(d, now);
	pthread_mutex_unlock(&d->lock);
}

size_t
dedup_size(struct dedup *d)
{
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = d->n;
	pthread_mutex_unlock(&d->lock);
	return n;
}

void
dedup_free(struct dedup *d)
{
	if (d == NULL)
		return;
	while (d->oldest)
		evict_oldest(d);
	free(d->bucket);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
