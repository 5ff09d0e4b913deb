/*
 * test_reqlog.c: the request log (reqlog.h).  The id and the path come
 * from the client: every line must stay one JSON object whatever they
 * hold (quotes, backslashes, control bytes, bytes past ASCII), read back
 * to the same text, and carry the time of its second.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "reqlog.h"

/* The held lines, parsed one by one: the n-th line's object. */
static cJSON *
line_at(const struct reqlog *log, int n)
{
	const char *p = log->buf, *end = log->buf + log->len, *nl;

	for (; n > 0; n--) {
		nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		p = nl + 1;
	}
	nl = memchr(p, '\n', (size_t)(end - p));
	assert_non_null(nl);
	return cJSON_ParseWithLength(p, (size_t)(nl - p));
}

static const char *
str_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

/* Hostile text goes in escaped and comes out as it was. */
static void
test_escapes(void **state)
{
	static struct reqlog log;
	struct webhook_job job;
	const char *id = "a\"b\\c\x01" "d\te\x7f" "f";
	const char *path = "/webhooks/\"x\"\\y\n\x1f";
	cJSON *o;

	(void)state;
	memset(&job, 0, sizeof(job));
	job.route = WR_PUSH;
	job.attempt = 3;
	strcpy(job.webhook_id, id);
	reqlog_add(&log, "192.0.2.7", path, &job, 200, "stored", 0);
	/* one line: the newline in the path escaped */
	assert_int_equal((const char *)memchr(log.buf, '\n', log.len) -
	    log.buf + 1, (long)log.len);
	assert_non_null(o = line_at(&log, 0));
	assert_string_equal(str_of(o, "webhook_id"), id);
	assert_string_equal(str_of(o, "path"), path);
	assert_string_equal(str_of(o, "remote"), "192.0.2.7");
	assert_string_equal(str_of(o, "reason"), "stored");
	assert_int_equal(cJSON_GetObjectItem(o, "attempt")->valueint, 3);
	assert_int_equal(cJSON_GetObjectItem(o, "status")->valueint, 200);
	cJSON_Delete(o);
	/* a byte past ASCII is written as \u00XX, never raw */
	memset(&log, 0, sizeof(log));
	reqlog_add(&log, "192.0.2.7", "/\xc3\xa9", NULL, 404, "no route", 0);
	assert_non_null(strstr(log.buf, "\"path\":\"/\\u00c3\\u00a9\""));
	assert_non_null(o = line_at(&log, 0));
	cJSON_Delete(o);
}

/* Each line carries the UTC second it was written in, also when many
 * lines share one formatted stamp. */
static void
test_time(void **state)
{
	static struct reqlog log;
	char want0[32], want1[32];
	time_t t0, t1;
	struct tm tm;
	cJSON *o;
	int i;

	(void)state;
	t0 = time(NULL);
	for (i = 0; i < 50; i++)
		reqlog_add(&log, "192.0.2.7", "/x", NULL, 404, "no route", 0);
	t1 = time(NULL);
	gmtime_r(&t0, &tm);
	strftime(want0, sizeof(want0), "%Y-%m-%dT%H:%M:%SZ", &tm);
	gmtime_r(&t1, &tm);
	strftime(want1, sizeof(want1), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (i = 0; i < 50; i += 49) {
		assert_non_null(o = line_at(&log, i));
		if (strcmp(str_of(o, "time"), want0) != 0)
			assert_string_equal(str_of(o, "time"), want1);
		cJSON_Delete(o);
	}
	/* a stamp from another second is not reused */
	log.ts_sec -= 5;
	strcpy(log.ts, "1999-01-01T00:00:00Z");
	log.len = 0;
	reqlog_add(&log, "192.0.2.7", "/x", NULL, 404, "no route", 0);
	assert_null(strstr(log.buf, "1999-01-01"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
