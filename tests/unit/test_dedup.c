/* test_dedup.c: the in-memory id cache: window, expiry order, bound. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "dedup.h"

static void
test_window(void **state)
{
	struct dedup *d = dedup_new(10, 100);	/* 10 s */

	(void)state;
	assert_false(dedup_seen(d, "a", 1000));
	dedup_add(d, "a", 1000);
	assert_true(dedup_seen(d, "a", 1000));
	assert_true(dedup_seen(d, "a", 10999));
	assert_false(dedup_seen(d, "a", 11000));	/* window over */
	assert_int_equal(dedup_size(d), 0);		/* and forgotten */
	dedup_add(d, "a", 20000);
	dedup_add(d, "a", 25000);			/* already known */
	assert_int_equal(dedup_size(d), 1);
	assert_false(dedup_seen(d, "a", 30000));	/* first time counts */
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
		dedup_add(d, id, 1000 + i);
	}
	assert_int_equal(dedup_size(d), 1000);
	assert_false(dedup_seen(d, "id-0", 3000));
	assert_false(dedup_seen(d, "id-499", 3000));
	assert_true(dedup_seen(d, "id-500", 3000));
	assert_true(dedup_seen(d, "id-1499", 3000));
	dedup_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_bound_forgets_oldest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
