/*
 * store_ids.h: the SQLite writer's dedup authority (store_ids.c): every
 * (API key, webhook id) pair it stored within the dedup window, in memory.
 * The writer thread owns it alone, so it takes no lock; the writer is also
 * the only place an event is stored, so a pair is decided there once, even
 * when two copies arrive together on two connections.  The database keeps
 * no index on the id: a random one would cost a B-tree leaf rewritten per
 * insert; the set is rebuilt from the store's last window of rows when the
 * store is opened.
 *
 * A pair is kept as a 128-bit SipHash-2-4 (OpenSSL) of "api_key NUL id
 * NUL" under a key drawn when the set is made: no one who sends ids can
 * aim them at one bucket, and two pairs meet by chance with odds of n^2 /
 * 2^129 (1e-27 for a million ids).  Beside it: the first 8 bytes of the
 * stored body's SHA-256 (a copy with another body is told apart) and when
 * it was stored.  32 bytes in a ring in insertion order (the oldest leaves
 * first), plus two 4-byte slots of an open-addressing table (linear
 * probing, at most half full): 40 bytes an id when the ring is full.  The
 * ring doubles when full and the ids move over a few with each add, so for
 * the next half-ring of adds both are held: up to 120 bytes an id just
 * after a doubling, 80 once the old one is freed.
 *
 * At most max ids: past that the oldest leaves before its window is over
 * (counted in evicted; the effective window is then shorter).
 */
#ifndef SG_STORE_IDS_H
#define SG_STORE_IDS_H

#include <stddef.h>
#include <stdint.h>

#define STORE_IDS_HASH_LEN	8	/* bytes of the body's SHA-256 kept */
#define STORE_IDS_MIN		4096	/* a batch's ids always fit */

struct store_ids_key {
	uint64_t	h[2];
};

struct store_ids_stats {
	size_t		n;		/* ids in the set */
	size_t		bytes;		/* memory the set holds */
	uint64_t	evicted;	/* ids that left before their window */
	int64_t		evicted_at;	/* when the last of them was stored,
					 * unix ms; 0 none */
};

struct store_ids;

/* window_ms: how long an id is kept; max ids at most (>= STORE_IDS_MIN).
 * NULL when out of memory or OpenSSL has no SipHash. */
struct store_ids *store_ids_new(uint64_t window_ms, size_t max);
void	store_ids_free(struct store_ids *ids);

/* The set's key of api_key's id: 0, or -1 (OpenSSL failed). */
int	store_ids_key(struct store_ids *ids, const char *api_key,
	    const char *id, struct store_ids_key *k);
/*
 * 1 when k is in the set, with the stored body's hash in hash and *known
 * 1, or *known 0 when it was stored without one; 0 when not.
 */
int	store_ids_find(struct store_ids *ids, const struct store_ids_key *k,
	    uint8_t hash[STORE_IDS_HASH_LEN], int *known);
/*
 * Add k (not in the set) as stored at at_ms, with the body's hash (NULL:
 * not known).  The oldest id leaves first when the set is full.  0, or
 * -1 out of memory (nothing added).
 */
int	store_ids_add(struct store_ids *ids, const struct store_ids_key *k,
	    const uint8_t hash[STORE_IDS_HASH_LEN], int64_t at_ms);
/*
 * A batch: the ids added after store_ids_mark are taken back by
 * store_ids_rollback (its transaction did not commit).
 */
uint64_t store_ids_mark(struct store_ids *ids);
void	store_ids_rollback(struct store_ids *ids, uint64_t mark);
size_t	store_ids_count(const struct store_ids *ids);
/* The ids stored a window or more before now_ms leave. */
void	store_ids_expire(struct store_ids *ids, int64_t now_ms);
void	store_ids_stats(const struct store_ids *ids,
	    struct store_ids_stats *out);

#endif
