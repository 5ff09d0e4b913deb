/*
 * test_dedup.c: the in-memory id cache: window, expiry order, bound; an
 * id is one event per API key, and the stored body's short hash is kept
 * beside it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dedup.h"

static const uint8_t HA[DEDUP_HASH_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t HB[DEDUP_HASH_LEN] = { 8, 7, 6, 5, 4, 3, 2, 1 };

static int
seen(struct dedup *d, const char *key, const char *id, int64_t now)
{
	return dedup_seen(d, key, id, now, NULL, NULL);
}

/* No cache (the store keeps the whole window): knows nothing, keeps
 * nothing, and the store decides every copy. */
static void
test_none(void **state)
{
	int known = 1;

	(void)state;
	dedup_add(NULL, "k", "a", HA, 1000);
	assert_false(dedup_seen(NULL, "k", "a", 1000, NULL, &known));
	assert_int_equal(dedup_size(NULL), 0);
	dedup_free(NULL);
}

static void
test_window(void **state)
{
	struct dedup *d = dedup_new(10, 100);	/* 10 s */

	(void)state;
	assert_false(seen(d, "k", "a", 1000));
	dedup_add(d, "k", "a", HA, 1000);
	assert_true(seen(d, "k", "a", 1000));
	assert_true(seen(d, "k", "a", 10999));
	assert_false(seen(d, "k", "a", 11000));	/* window over */
	assert_int_equal(dedup_size(d), 0);		/* and forgotten */
	dedup_add(d, "k", "a", HA, 20000);
	dedup_add(d, "k", "a", HA, 25000);		/* already known */
	assert_int_equal(dedup_size(d), 1);
	assert_false(seen(d, "k", "a", 30000));	/* first time counts */
	dedup_free(d);
}

static void
test_bound_forgets_oldest(void **state)
{
	struct dedup *d = dedup_new(3600, 1000);
	char id[32];
	int i;

	(void)state;
	for (i = 0; i < 1500; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		dedup_add(d, "k", id, NULL, 1000 + i);
	}
	assert_int_equal(dedup_size(d), 1000);
	assert_false(seen(d, "k", "id-0", 3000));
	assert_false(seen(d, "k", "id-499", 3000));
	assert_true(seen(d, "k", "id-500", 3000));
	assert_true(seen(d, "k", "id-1499", 3000));
	dedup_free(d);
}

/*
 * One id under two API keys is two events: the second key's copy is not
 * a duplicate of the first's.  The pair is the key, not the two strings
 * run together: "ab"+"c" is not "a"+"bc".
 */
static void
test_scoped_by_api_key(void **state)
{
	struct dedup *d = dedup_new(3600, 100);

	(void)state;
	dedup_add(d, "app-1", "same-id", HA, 1000);
	assert_true(seen(d, "app-1", "same-id", 2000));
	assert_false(seen(d, "app-2", "same-id", 2000));
	dedup_add(d, "app-2", "same-id", HB, 2000);
	assert_true(seen(d, "app-2", "same-id", 2000));
	assert_int_equal(dedup_size(d), 2);

	dedup_add(d, "ab", "c", HA, 3000);
	assert_false(seen(d, "a", "bc", 3000));
	assert_false(seen(d, "abc", "", 3000));
	assert_true(seen(d, "ab", "c", 3000));
	dedup_free(d);
}

/* The hash recorded with an id comes back with it; one recorded without
 * says so. */
static void
test_hash_kept(void **state)
{
	struct dedup *d = dedup_new(3600, 100);
	uint8_t h[DEDUP_HASH_LEN];
	int known = -1;

	(void)state;
	dedup_add(d, "app-1", "x", HA, 1000);
	dedup_add(d, "app-2", "x", HB, 1000);
	dedup_add(d, "app-1", "y", NULL, 1000);
	assert_true(dedup_seen(d, "app-1", "x", 1000, h, &known));
	assert_int_equal(known, 1);
	assert_memory_equal(h, HA, DEDUP_HASH_LEN);
	assert_true(dedup_seen(d, "app-2", "x", 1000, h, &known));
	assert_int_equal(known, 1);
	assert_memory_equal(h, HB, DEDUP_HASH_LEN);
	assert_true(dedup_seen(d, "app-1", "y", 1000, h, &known));
	assert_int_equal(known, 0);
	assert_false(dedup_seen(d, "app-1", "z", 1000, h, &known));
	assert_int_equal(known, 0);
	/* the first recorded stays: a later add does not change it */
	dedup_add(d, "app-1", "x", HB, 1500);
	assert_true(dedup_seen(d, "app-1", "x", 1500, h, &known));
	assert_memory_equal(h, HA, DEDUP_HASH_LEN);
	dedup_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_bound_forgets_oldest),
		cmocka_unit_test(test_scoped_by_api_key),
		cmocka_unit_test(test_hash_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
