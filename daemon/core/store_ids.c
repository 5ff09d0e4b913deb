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
 *
 * The ring and table double when the ring is full, but the ids move over
 * a few at a time (MOVE_PER_ADD with each add), not all at once: a
 * one-step rehash of 1,048,576 ids held the writer, and every webhook's
 * answer, for 302 ms (149 ms at 524,288; README: Dedup).  While they
 * move, the old generation is read-only: the ids at positions [mig,
 * split) are still only there; below mig and from split on, in the new.
 * An old slot whose position falls outside that range is a stale copy
 * and is ignored, so nothing is ever deleted from the old table.
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
#define MOVE_PER_ADD	2		/* old ids moved with each add: the
					 * move ends after half the adds
					 * that would fill the new ring */
#define F_KNOWN		0x1		/* hash holds the body's */

struct entry {
	uint64_t	k[2];
	uint8_t		hash[STORE_IDS_HASH_LEN];
	uint32_t	at_s;		/* stored, unix s, rounded up: an id
					 * is kept a little longer, never
					 * shorter */
	uint32_t	flags;
};

/* A ring and its table. */
struct gen {
	struct entry	*ring;
	uint32_t	*slot;
	size_t		 cap;		/* ring entries, a power of two */
	size_t		 smask;		/* slots - 1; 2 cap slots */
};

struct store_ids {
	struct gen	 cur;
	struct gen	 old;		/* ring NULL: not moving */
	uint64_t	 mig, split;	/* old holds [mig, split) */
	uint64_t	 head, tail;	/* positions: the oldest, the next */
	size_t		 max;
	int64_t		 window_ms;
	uint64_t	 evicted;
	int64_t		 evicted_at;
	EVP_MAC		*mac;
	EVP_MAC_CTX	*ctx;		/* keyed; re-initialised per id */
};

static int
gen_alloc(struct gen *g, size_t cap)
{
	g->ring = malloc(cap * sizeof(*g->ring));
	g->slot = calloc(cap * 2, sizeof(*g->slot));
	if (g->ring == NULL || g->slot == NULL) {
		free(g->ring);
		free(g->slot);
		g->ring = NULL;
		g->slot = NULL;
		return -1;
	}
	g->cap = cap;
	g->smask = cap * 2 - 1;
	return 0;
}

static void
gen_free(struct gen *g)
{
	free(g->ring);
	free(g->slot);
	memset(g, 0, sizeof(*g));
}

/* Whether pos is still only in the old generation. */
static int
in_old(const struct store_ids *ids, uint64_t pos)
{
	return ids->old.ring != NULL && pos >= ids->mig && pos < ids->split;
}

static struct entry *
at_pos(const struct store_ids *ids, uint64_t pos)
{
	const struct gen *g = in_old(ids, pos) ? &ids->old : &ids->cur;

	return &g->ring[pos & (g->cap - 1)];
}

/* 1 with *at the slot of g holding k, or 0 with *at the empty slot where
 * k would go. */
static int
probe(const struct gen *g, const uint64_t k[2], size_t *at)
{
	const struct entry *e;
	size_t i = k[0] & g->smask;
	uint32_t s;

	while ((s = g->slot[i]) != 0) {
		e = &g->ring[s - 1];
		if (e->k[0] == k[0] && e->k[1] == k[1]) {
			*at = i;
			return 1;
		}
		i = (i + 1) & g->smask;
	}
	*at = i;
	return 0;
}

/* The live entry holding k, in either generation, or NULL. */
static const struct entry *
lookup(const struct store_ids *ids, const uint64_t k[2])
{
	const struct gen *o = &ids->old;
	uint64_t pos;
	size_t i, idx;

	if (probe(&ids->cur, k, &i))
		return &ids->cur.ring[ids->cur.slot[i] - 1];
	if (o->ring == NULL || !probe(o, k, &i))
		return NULL;
	/* the one position of [mig, mig + cap) at this index: live only
	 * when it has not moved, expired or been rolled back */
	idx = o->slot[i] - 1;
	pos = ids->mig + ((idx - ids->mig) & (o->cap - 1));
	return pos < ids->split ? &o->ring[idx] : NULL;
}

/*
 * Empty slot i of the current table: each later slot of the run moves
 * into the hole when its home is not between the hole and itself
 * (cyclically), so every key stays reachable from its home without a
 * tombstone.
 */
static void
slot_delete(struct store_ids *ids, size_t i)
{
	struct gen *g = &ids->cur;
	size_t j = i, home;
	uint32_t s;

	for (;;) {
		j = (j + 1) & g->smask;
		if ((s = g->slot[j]) == 0)
			break;
		home = g->ring[s - 1].k[0] & g->smask;
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && home <= i && home > j)) {
			g->slot[i] = s;
			i = j;
		}
	}
	g->slot[i] = 0;
}

/* The entry at pos leaves the table (not the ring); one still only in the
 * old generation leaves it when the range [mig, split) drops it. */
static void
unlink_pos(struct store_ids *ids, uint64_t pos)
{
	size_t i;

	if (!in_old(ids, pos) && probe(&ids->cur, at_pos(ids, pos)->k, &i))
		slot_delete(ids, i);
}

/* Up to n ids of the old generation into the current one; the old one
 * is freed when none is left. */
static void
move_some(struct store_ids *ids, size_t n)
{
	struct gen *c = &ids->cur, *o = &ids->old;
	struct entry *e;
	size_t i;

	if (o->ring == NULL)
		return;
	if (ids->mig < ids->head)
		ids->mig = ids->head;	/* expired meanwhile */
	for (; n > 0 && ids->mig < ids->split; n--, ids->mig++) {
		e = &c->ring[ids->mig & (c->cap - 1)];
		*e = o->ring[ids->mig & (o->cap - 1)];
		/* a live id is in one generation only: never found here */
		(void)probe(c, e->k, &i);
		c->slot[i] = (uint32_t)(ids->mig & (c->cap - 1)) + 1;
	}
	if (ids->mig >= ids->split)
		gen_free(o);
}

/* Twice the entries, the same positions; the ids move over later
 * (move_some).  0 or -1. */
static int
grow(struct store_ids *ids)
{
	struct gen g;

	/* a slot holds an index + 1 */
	if (ids->cur.cap * 2 > (size_t)UINT32_MAX / 2)
		return -1;
	move_some(ids, SIZE_MAX);	/* the last move is over (it is,
					 * long before the ring fills) */
	if (gen_alloc(&g, ids->cur.cap * 2) != 0)
		return -1;
	ids->old = ids->cur;
	ids->cur = g;
	ids->mig = ids->head;
	ids->split = ids->tail;
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
	ids->max = max < STORE_IDS_MIN ? STORE_IDS_MIN : max;
	ids->window_ms = window_ms > INT64_MAX / 2 ? INT64_MAX / 2 :
	    (int64_t)window_ms;
	/* the key lives in the context only: SipHash-2-4, 16 bytes out */
	ok = gen_alloc(&ids->cur, RING_MIN) == 0 &&
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
	gen_free(&ids->cur);
	gen_free(&ids->old);
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

	if ((e = lookup(ids, k->h)) == NULL)
		return 0;
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
	move_some(ids, 0);	/* mig follows head; freed when all gone */
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
	} else if (ids->tail - ids->head == ids->cur.cap && grow(ids) != 0)
		return -1;
	if (lookup(ids, k->h) != NULL)
		return 0;	/* there already (a rebuild met it twice) */
	(void)probe(&ids->cur, k->h, &i);
	e = &ids->cur.ring[ids->tail & (ids->cur.cap - 1)];
	e->k[0] = k->h[0];
	e->k[1] = k->h[1];
	e->flags = hash != NULL ? F_KNOWN : 0;
	if (hash != NULL)
		memcpy(e->hash, hash, STORE_IDS_HASH_LEN);
	else
		memset(e->hash, 0, STORE_IDS_HASH_LEN);
	s = at_ms <= 0 ? 0 : (at_ms + 999) / 1000;
	e->at_s = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
	ids->cur.slot[i] = (uint32_t)(ids->tail & (ids->cur.cap - 1)) + 1;
	ids->tail++;
	move_some(ids, MOVE_PER_ADD);
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
	if (ids->split > ids->tail)
		ids->split = ids->tail;	/* the old ones taken back too */
	move_some(ids, 0);
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
	out->bytes = sizeof(*ids) + ids->cur.cap * sizeof(*ids->cur.ring) +
	    (ids->cur.smask + 1) * sizeof(*ids->cur.slot);
	if (ids->old.ring != NULL)
		out->bytes += ids->old.cap * sizeof(*ids->old.ring) +
		    (ids->old.smask + 1) * sizeof(*ids->old.slot);
	out->evicted = ids->evicted;
	out->evicted_at = ids->evicted_at;
}
