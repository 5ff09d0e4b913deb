/*
 * test_store_ids.c: the SQLite writer's dedup set (store_ids.h): the key
 * (SipHash-128 of the API key and the id, each with its NUL), lookups
 * with the body hash kept, expiry by time, a batch taken back, the cap
 * (the oldest leaves first, counted), growth (the ids move a few per
 * add, and every one stays found meanwhile), and a long random run
 * against a plain reference so that every deletion from the open-
 * addressing table keeps every other key reachable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_ids.h"

#define DAY_MS	86400000LL
#define T0	1780000000000LL		/* unix ms */

static struct store_ids_key
key_of(struct store_ids *ids, const char *api_key, const char *id)
{
	struct store_ids_key k;

	assert_int_equal(store_ids_key(ids, api_key, id, &k), 0);
	return k;
}

static int
has(struct store_ids *ids, const char *api_key, const char *id)
{
	struct store_ids_key k = key_of(ids, api_key, id);
	uint8_t h[STORE_IDS_HASH_LEN];
	int known;

	return store_ids_find(ids, &k, h, &known);
}

static void
add(struct store_ids *ids, const char *api_key, const char *id, int64_t at)
{
	struct store_ids_key k = key_of(ids, api_key, id);

	assert_int_equal(store_ids_add(ids, &k, NULL, at), 0);
}

/* The key: the same pair the same, any other pair another; the API key
 * and the id cannot trade bytes (each ends with its NUL). */
static void
test_key(void **state)
{
	struct store_ids *ids = store_ids_new(DAY_MS, 0);
	struct store_ids_key a, b;

	(void)state;
	assert_non_null(ids);
	a = key_of(ids, "k1", "id-1");
	b = key_of(ids, "k1", "id-1");
	assert_memory_equal(&a, &b, sizeof(a));
	b = key_of(ids, "k1", "id-2");
	assert_memory_not_equal(&a, &b, sizeof(a));
	b = key_of(ids, "k2", "id-1");
	assert_memory_not_equal(&a, &b, sizeof(a));
	a = key_of(ids, "ab", "c");
	b = key_of(ids, "a", "bc");
	assert_memory_not_equal(&a, &b, sizeof(a));
	store_ids_free(ids);
}

/* Found with its hash (or without one), per key; gone a window later. */
static void
test_find_expire(void **state)
{
	static const uint8_t h[STORE_IDS_HASH_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct store_ids *ids = store_ids_new(DAY_MS, 0);
	struct store_ids_key k = key_of(ids, "k1", "id-1");
	uint8_t got[STORE_IDS_HASH_LEN];
	int known = -1;

	(void)state;
	assert_int_equal(store_ids_find(ids, &k, got, &known), 0);
	assert_int_equal(store_ids_add(ids, &k, h, T0), 0);
	add(ids, "k1", "id-2", T0 + 1000);
	assert_int_equal(store_ids_find(ids, &k, got, &known), 1);
	assert_int_equal(known, 1);
	assert_memory_equal(got, h, sizeof(h));
	k = key_of(ids, "k1", "id-2");
	assert_int_equal(store_ids_find(ids, &k, got, &known), 1);
	assert_int_equal(known, 0);
	assert_false(has(ids, "k2", "id-1"));
	assert_int_equal(store_ids_count(ids), 2);

	/* a window later (to the second, rounded up) */
	store_ids_expire(ids, T0 + DAY_MS - 1);
	assert_true(has(ids, "k1", "id-1"));
	store_ids_expire(ids, T0 + DAY_MS);
	assert_false(has(ids, "k1", "id-1"));
	assert_true(has(ids, "k1", "id-2"));
	store_ids_expire(ids, T0 + 1000 + DAY_MS);
	assert_false(has(ids, "k1", "id-2"));
	assert_int_equal(store_ids_count(ids), 0);
	store_ids_free(ids);
}

/* A batch that did not commit leaves nothing, also past a growth. */
static void
test_rollback(void **state)
{
	struct store_ids *ids = store_ids_new(DAY_MS, 0);
	char id[32];
	uint64_t mark;
	int i;

	(void)state;
	add(ids, "k", "kept", T0);
	mark = store_ids_mark(ids);
	for (i = 0; i < 3000; i++) {	/* the ring doubles on the way */
		snprintf(id, sizeof(id), "b-%d", i);
		add(ids, "k", id, T0 + 1);
	}
	assert_int_equal(store_ids_count(ids), 3001);
	store_ids_rollback(ids, mark);
	assert_int_equal(store_ids_count(ids), 1);
	assert_true(has(ids, "k", "kept"));
	for (i = 0; i < 3000; i++) {
		snprintf(id, sizeof(id), "b-%d", i);
		assert_false(has(ids, "k", id));
	}
	/* and the same ids go in again */
	add(ids, "k", "b-7", T0 + 2);
	assert_true(has(ids, "k", "b-7"));
	store_ids_free(ids);
}

static size_t
bytes_of(struct store_ids *ids)
{
	struct store_ids_stats st;

	store_ids_stats(ids, &st);
	return st.bytes;
}

static int
has_range(struct store_ids *ids, const char *pfx, int from, int to)
{
	char id[32];
	int i;

	for (i = from; i < to; i++) {
		snprintf(id, sizeof(id), "%s-%d", pfx, i);
		if (!has(ids, "k", id))
			return 0;
	}
	return 1;
}

/*
 * The ring doubles at 1024 ids: both generations are held while the old
 * ids move (a few with each add, so no add pays for them all), every id
 * is found all along, expiry and a rollback that reaches back over the
 * doubling work meanwhile, and the old generation is freed once empty.
 */
static void
test_grow_moves_gradually(void **state)
{
	struct store_ids *ids = store_ids_new(DAY_MS, 0);
	size_t one, both;
	uint64_t mark;
	char id[32];
	int i;

	(void)state;
	for (i = 0; i < 1024; i++) {
		snprintf(id, sizeof(id), "g-%d", i);
		add(ids, "k", id, T0 + (i < 100 ? 0 : 5000));
	}
	one = bytes_of(ids);
	mark = store_ids_mark(ids);
	for (i = 1024; i < 1034; i++) {	/* the doubling, mid-batch */
		snprintf(id, sizeof(id), "g-%d", i);
		add(ids, "k", id, T0 + 6000);
	}
	both = bytes_of(ids);
	assert_true(both > 2 * one);	/* old (1x) + new (2x) */
	assert_true(has_range(ids, "g", 0, 1034));
	/* the first 100 expire while most of them have not moved */
	store_ids_expire(ids, T0 + DAY_MS);
	assert_int_equal(store_ids_count(ids), 934);
	assert_false(has(ids, "k", "g-0"));
	assert_false(has(ids, "k", "g-99"));
	assert_true(has_range(ids, "g", 100, 1034));
	/* a batch that did not commit, reaching back before the doubling */
	store_ids_rollback(ids, mark - 24);
	assert_int_equal(store_ids_count(ids), 900);
	assert_true(has_range(ids, "g", 100, 1000));
	for (i = 1000; i < 1034; i++) {
		snprintf(id, sizeof(id), "g-%d", i);
		assert_false(has(ids, "k", id));
	}
	/* the same ids come back, and the rest moves over with the adds */
	for (i = 1000; i < 1600; i++) {
		snprintf(id, sizeof(id), "g-%d", i);
		add(ids, "k", id, T0 + 7000);
		assert_true(has(ids, "k", id));
	}
	assert_true(has_range(ids, "g", 100, 1600));
	assert_int_equal(store_ids_count(ids), 1500);
	/* only the new generation is left: twice the first one's arrays
	 * (both = one + 2 arrays, final = struct + 2 arrays) */
	assert_int_equal(both, 2 * bytes_of(ids) - one);
	store_ids_free(ids);
}

/* At the cap the oldest leaves first, counted, with when it came. */
static void
test_cap(void **state)
{
	struct store_ids *ids = store_ids_new(DAY_MS, STORE_IDS_MIN);
	struct store_ids_stats st;
	char id[32];
	int i;

	(void)state;
	for (i = 0; i < STORE_IDS_MIN + 10; i++) {
		snprintf(id, sizeof(id), "c-%d", i);
		add(ids, "k", id, T0 + 1000 * (int64_t)i);
	}
	store_ids_stats(ids, &st);
	assert_int_equal(st.n, STORE_IDS_MIN);
	assert_int_equal(st.evicted, 10);
	assert_int_equal(st.evicted_at, T0 + 9000);
	/* 40 bytes an id when the ring is full (32 + two 4-byte slots) */
	assert_true(st.bytes >= (size_t)STORE_IDS_MIN * 40);
	assert_true(st.bytes < (size_t)STORE_IDS_MIN * 40 + 4096);
	assert_false(has(ids, "k", "c-9"));
	assert_true(has(ids, "k", "c-10"));
	snprintf(id, sizeof(id), "c-%d", STORE_IDS_MIN + 9);
	assert_true(has(ids, "k", id));
	store_ids_free(ids);
}

/*
 * Many random adds, expiries and rollbacks, the table growing from its
 * first 1024 entries, against a plain array: whatever the deletions moved, every id the reference
 * holds is found and no other.
 */
static void
test_random_against_reference(void **state)
{
	enum { N = 6000 };
	struct store_ids *ids = store_ids_new(100000, 0);
	static int64_t at[N];		/* 0: not in the reference */
	int64_t now = T0;
	uint64_t mark;
	unsigned seed = 12345;
	char id[32];
	int i, round, n, j;

	(void)state;
	for (round = 0; round < 200; round++) {
		now += 1000 + rand_r(&seed) % 5000;
		store_ids_expire(ids, now);
		for (i = 0; i < N; i++)
			if (at[i] != 0 && (at[i] + 999) / 1000 * 1000 +
			    100000 <= now)
				at[i] = 0;
		mark = store_ids_mark(ids);
		n = 1 + rand_r(&seed) % 300;
		for (j = 0; j < n; j++) {
			i = rand_r(&seed) % N;
			snprintf(id, sizeof(id), "r-%d", i);
			if (has(ids, "k", id))
				continue;
			add(ids, "k", id, now);
			at[i] = now;
		}
		if (rand_r(&seed) % 4 == 0) {
			/* not committed: back to the mark */
			store_ids_rollback(ids, mark);
			for (i = 0; i < N; i++)
				if (at[i] == now)
					at[i] = 0;
		}
		for (i = 0; i < N; i++) {
			snprintf(id, sizeof(id), "r-%d", i);
			if (has(ids, "k", id) != (at[i] != 0))
				fail_msg("round %d: r-%d %s", round, i,
				    at[i] ? "lost" : "found but not stored");
		}
	}
	store_ids_free(ids);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_find_expire),
		cmocka_unit_test(test_rollback),
		cmocka_unit_test(test_grow_moves_gradually),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_random_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
