/*
 * store_ids.c: the writer's id set (see store_ids.h).  A ring of entries
 * in insertion order, numbered by a position that only grows (head: the
 * oldest, tail: the next), so expiry and a batch's rollback are pops at
 * either end; and a table of slots, each 0 (empty) or a ring index + 1,
 * found by linear probing from the key's low bits and emptied by moving
 * the rest of its run back (no tombstones: a long-lived table never
 * fills with them).  The table has twice as many slots as the ring has
 * entries, so it is at most half full: a lookup of an id that is not
 * there, the common case, reads 2.5 slots on average.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "store_ids.h"

#define RING_MIN	1024		/* entries at first: 40 KiB */
#define F_KNOWN		0x1		/* hash holds the body's */

struct entry {
	uint64_t	k[2];
	uint8_t		hash[STORE_IDS_HASH_LEN];
	uint32_t	at_s;		/* stored, unix s, rounded up: an id
					 * is kept a little longer, never
					 * shorter */
	uint32_t	flags;
};

struct store_ids {
	struct entry	*ring;
	uint32_t	*slot;
	size_t		 cap;		/* ring entries, a power of two */
	size_t		 smask;		/* slots - 1; 2 cap slots */
	uint64_t	 head, tail;	/* positions: the oldest, the next */
	size_t		 max;
	int64_t		 window_ms;
	uint64_t	 evicted;
	int64_t		 evicted_at;
	EVP_MAC		*mac;
	EVP_MAC_CTX	*ctx;		/* keyed; re-initialised per id */
};

static struct entry *
at_pos(const struct store_ids *ids, uint64_t pos)
{
	return &ids->ring[pos & (ids->cap - 1)];
}

/* 1 with *at the slot holding k, or 0 with *at the empty slot where k
 * would go. */
static int
probe(const struct store_ids *ids, const uint64_t k[2], size_t *at)
{
	const struct entry *e;
	size_t i = k[0] & ids->smask;
	uint32_t s;

	while ((s = ids->slot[i]) != 0) {
		e = &ids->ring[s - 1];
		if (e->k[0] == k[0] && e->k[1] == k[1]) {
			*at = i;
			return 1;
		}
		i = (i + 1) & ids->smask;
	}
	*at = i;
	return 0;
}

/*
 * Empty slot i: each later slot of the run moves into the hole when its
 * home is not between the hole and itself (cyclically), so every key
 * stays reachable from its home without a tombstone.
 */
static void
slot_delete(struct store_ids *ids, size_t i)
{
	size_t j = i, home;
	uint32_t s;

	for (;;) {
		j = (j + 1) & ids->smask;
		if ((s = ids->slot[j]) == 0)
			break;
		home = ids->ring[s - 1].k[0] & ids->smask;
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && home <= i && home > j)) {
			ids->slot[i] = s;
			i = j;
		}
	}
	ids->slot[i] = 0;
}

/* The entry at pos leaves the table (not the ring). */
static void
unlink_pos(struct store_ids *ids, uint64_t pos)
{
	size_t i;

	if (probe(ids, at_pos(ids, pos)->k, &i))
		slot_delete(ids, i);
}

/* Twice the entries, the same positions; the table made anew.  0 or -1. */
static int
grow(struct store_ids *ids)
{
	size_t cap = ids->cap * 2, i;
	struct entry *ring;
	uint32_t *slot;
	uint64_t p;

	/* a slot holds an index + 1 */
	if (cap > (size_t)UINT32_MAX / 2)
		return -1;
	ring = malloc(cap * sizeof(*ring));
	slot = calloc(cap * 2, sizeof(*slot));
	if (ring == NULL || slot == NULL) {
		free(ring);
		free(slot);
		return -1;
	}
	/* tail - head <= cap consecutive positions: distinct indexes */
	for (p = ids->head; p < ids->tail; p++)
		ring[p & (cap - 1)] = *at_pos(ids, p);
	free(ids->ring);
	free(ids->slot);
	ids->ring = ring;
	ids->slot = slot;
	ids->cap = cap;
	ids->smask = cap * 2 - 1;
	for (p = ids->head; p < ids->tail; p++) {
		(void)probe(ids, at_pos(ids, p)->k, &i);
		ids->slot[i] = (uint32_t)(p & (cap - 1)) + 1;
	}
	return 0;
}

struct store_ids *
store_ids_new(uint64_t window_ms, size_t max)
{
	struct store_ids *ids;
	uint8_t key[16];
	size_t outlen = 16;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen),
		OSSL_PARAM_construct_end(),
	};
	int ok;

	if ((ids = calloc(1, sizeof(*ids))) == NULL)
		return NULL;
	ids->cap = RING_MIN;
	ids->smask = 2 * RING_MIN - 1;
	ids->max = max < STORE_IDS_MIN ? STORE_IDS_MIN : max;
	ids->window_ms = window_ms > INT64_MAX / 2 ? INT64_MAX / 2 :
	    (int64_t)window_ms;
	ids->ring = malloc(ids->cap * sizeof(*ids->ring));
	ids->slot = calloc(ids->smask + 1, sizeof(*ids->slot));
	/* the key lives in the context only: SipHash-2-4, 16 bytes out */
	ok = ids->ring != NULL && ids->slot != NULL &&
	    RAND_bytes(key, sizeof(key)) == 1 &&
	    (ids->mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL)) != NULL &&
	    (ids->ctx = EVP_MAC_CTX_new(ids->mac)) != NULL &&
	    EVP_MAC_init(ids->ctx, key, sizeof(key), params) == 1;
	OPENSSL_cleanse(key, sizeof(key));
	if (!ok) {
		store_ids_free(ids);
		return NULL;
	}
	return ids;
}

void
store_ids_free(struct store_ids *ids)
{
	if (ids == NULL)
		return;
	EVP_MAC_CTX_free(ids->ctx);
	EVP_MAC_free(ids->mac);
	free(ids->ring);
	free(ids->slot);
	free(ids);
}

int
store_ids_key(struct store_ids *ids, const char *api_key, const char *id,
    struct store_ids_key *k)
{
	unsigned char out[16];
	size_t len = 0;

	/* NULL key: the same key again (OpenSSL keeps it in the context);
	 * each string with its NUL, so no two pairs make one input */
	if (EVP_MAC_init(ids->ctx, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(ids->ctx, (const unsigned char *)api_key,
	    strlen(api_key) + 1) != 1 ||
	    EVP_MAC_update(ids->ctx, (const unsigned char *)id,
	    strlen(id) + 1) != 1 ||
	    EVP_MAC_final(ids->ctx, out, &len, sizeof(out)) != 1 ||
	    len != sizeof(out))
		return -1;
	memcpy(k->h, out, sizeof(out));
	return 0;
}

int
store_ids_find(struct store_ids *ids, const struct store_ids_key *k,
    uint8_t hash[STORE_IDS_HASH_LEN], int *known)
{
	const struct entry *e;
	size_t i;

	if (!probe(ids, k->h, &i))
		return 0;
	e = &ids->ring[ids->slot[i] - 1];
	memcpy(hash, e->hash, STORE_IDS_HASH_LEN);
	*known = (e->flags & F_KNOWN) != 0;
	return 1;
}

/* The oldest leaves the ring and the table. */
static void
drop_oldest(struct store_ids *ids)
{
	unlink_pos(ids, ids->head);
	ids->head++;
}

int
store_ids_add(struct store_ids *ids, const struct store_ids_key *k,
    const uint8_t hash[STORE_IDS_HASH_LEN], int64_t at_ms)
{
	struct entry *e;
	int64_t s;
	size_t i;

	if (ids->tail - ids->head >= ids->max) {
		/* full: the oldest goes before its time, said in the stats */
		ids->evicted++;
		ids->evicted_at = (int64_t)at_pos(ids, ids->head)->at_s * 1000;
		drop_oldest(ids);
	} else if (ids->tail - ids->head == ids->cap && grow(ids) != 0)
		return -1;
	if (probe(ids, k->h, &i))
		return 0;	/* there already (a rebuild met it twice) */
	e = at_pos(ids, ids->tail);
	e->k[0] = k->h[0];
	e->k[1] = k->h[1];
	e->flags = hash != NULL ? F_KNOWN : 0;
	if (hash != NULL)
		memcpy(e->hash, hash, STORE_IDS_HASH_LEN);
	else
		memset(e->hash, 0, STORE_IDS_HASH_LEN);
	s = at_ms <= 0 ? 0 : (at_ms + 999) / 1000;
	e->at_s = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
	ids->slot[i] = (uint32_t)(ids->tail & (ids->cap - 1)) + 1;
	ids->tail++;
	return 0;
}

uint64_t
store_ids_mark(struct store_ids *ids)
{
	return ids->tail;
}

void
store_ids_rollback(struct store_ids *ids, uint64_t mark)
{
	/* an id the cap evicted meanwhile is not brought back: it was the
	 * oldest, and would have gone with the next batch anyway */
	while (ids->tail > mark && ids->tail > ids->head) {
		ids->tail--;
		unlink_pos(ids, ids->tail);
	}
}

void
store_ids_expire(struct store_ids *ids, int64_t now_ms)
{
	while (ids->head < ids->tail && (int64_t)at_pos(ids, ids->head)->at_s *
	    1000 + ids->window_ms <= now_ms)
		drop_oldest(ids);
}

size_t
store_ids_count(const struct store_ids *ids)
{
	return ids->tail - ids->head;
}

void
store_ids_stats(const struct store_ids *ids, struct store_ids_stats *out)
{
	out->n = ids->tail - ids->head;
	out->bytes = sizeof(*ids) + ids->cap * sizeof(*ids->ring) +
	    (ids->smask + 1) * sizeof(*ids->slot);
	out->evicted = ids->evicted;
	out->evicted_at = ids->evicted_at;
}
