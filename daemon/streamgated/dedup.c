/*
 * dedup.c: the in-memory id cache (see dedup.h).  A chained hash table for
 * lookups and a FIFO of insertions for expiry: ids are added in time order,
 * so the oldest is always at the head.  One mutex: every operation is a
 * few hundred nanoseconds, far below a request's cost.  An entry's key is
 * the API key and the id, each with its NUL (neither holds one), so no two
 * pairs make one key.
 */
#include <sys/mman.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"

/* An API key and an id (HTTP_HDR_MAX each, as http.c keeps them) fit. */
#define KEY_MAX		1024

struct entry {
	struct entry	*chain;		/* next in the bucket */
	struct entry	*fifo;		/* next younger */
	int64_t		 at;		/* ms, when recorded */
	uint8_t		 hash[DEDUP_HASH_LEN];	/* the stored body's */
	uint16_t	 klen;		/* of key, both NULs (< KEY_MAX) */
	uint8_t		 known;		/* hash is set */
	char		 key[];		/* api key NUL id NUL */
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
hash(const char *k, size_t len)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
	return h;
}

/* "api_key\0id\0" into buf: its length, or 0 when it does not fit. */
static size_t
key_make(char *buf, size_t len, const char *api_key, const char *id)
{
	size_t a = strlen(api_key) + 1, i = strlen(id) + 1;

	if (a + i > len)
		return 0;
	memcpy(buf, api_key, a);
	memcpy(buf + a, id, i);
	return a + i;
}

/*
 * The bucket array, untouched until used (an idle daemon does not pay its 8
 * MiB).  Asked for in huge pages: ids land in random buckets, so in 4 KiB
 * pages the first ~15,000 webhooks each faulted one in twice (a read maps
 * the zero page, the write copies it, flushing the TLB of every core that
 * runs a worker); that was 6.8% of the workers' CPU in a 10 s benchmark.
 * In 2 MiB pages it is 4 faults.  Where THP is off this is the old
 * behaviour.
 */
static struct entry **
buckets_new(size_t n)
{
	void *p = mmap(NULL, n * sizeof(struct entry *), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, n * sizeof(struct entry *), MADV_HUGEPAGE);
	return p;
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
	if ((d->bucket = buckets_new(d->nbucket)) == NULL) {
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

	pp = &d->bucket[hash(e->key, e->klen) & (d->nbucket - 1)];
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
find(struct dedup *d, const char *key, size_t klen)
{
	struct entry *e = d->bucket[hash(key, klen) & (d->nbucket - 1)];

	while (e && (e->klen != klen || memcmp(e->key, key, klen) != 0))
		e = e->chain;
	return e;
}


int
dedup_seen(struct dedup *d, const char *api_key, const char *id,
    int64_t now, uint8_t hash_out[DEDUP_HASH_LEN], int *known)
{
	char key[KEY_MAX];
	size_t klen;
	struct entry *e;
	int seen;

	if (d == NULL ||
	    (klen = key_make(key, sizeof(key), api_key, id)) == 0)
		return 0;	/* never recorded either: the store decides */
	pthread_mutex_lock(&d->lock);
	expire(d, now);
	e = find(d, key, klen);
	seen = e != NULL && now - e->at < d->window_ms;
	if (seen && hash_out != NULL)
		memcpy(hash_out, e->hash, DEDUP_HASH_LEN);
	if (known != NULL)
		*known = seen && e->known;
	pthread_mutex_unlock(&d->lock);
	return seen;
}

void
dedup_add(struct dedup *d, const char *api_key, const char *id,
    const uint8_t hash_in[DEDUP_HASH_LEN], int64_t now)
{
	char key[KEY_MAX];
	size_t klen, b;
	struct entry *e;

	if (d == NULL ||
	    (klen = key_make(key, sizeof(key), api_key, id)) == 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (find(d, key, klen) != NULL ||
	    (e = malloc(sizeof(*e) + klen)) == NULL) {
		pthread_mutex_unlock(&d->lock);
		return;		/* known already, or no memory: the store decides */
	}
	memcpy(e->key, key, klen);
	e->klen = (uint16_t)klen;
	e->known = hash_in != NULL;
	if (hash_in != NULL)
		memcpy(e->hash, hash_in, DEDUP_HASH_LEN);
	else
		memset(e->hash, 0, DEDUP_HASH_LEN);
	e->at = now;
	e->fifo = NULL;
	b = hash(key, klen) & (d->nbucket - 1);
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

	if (d == NULL)
		return 0;
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
	munmap(d->bucket, d->nbucket * sizeof(*d->bucket));
	pthread_mutex_destroy(&d->lock);
	free(d);
}
