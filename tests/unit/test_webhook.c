/*
 * test_webhook.c: one request's fate: route, method, API key, signature
 * (gzip, rotation, case), JSON, dedup, and the answers for each webhook type.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "jsonarena.h"
#include "verify.h"
#include "webhook.h"

static struct config cfg;
static struct dedup *dd;

static int
setup(void **state)
{
	(void)state;
	jsonarena_init();	/* as streamgated runs it */
	config_defaults(&cfg);
	cfg.nkeys = 2;
	strcpy(cfg.keys[0].api_key, "key1");
	strcpy(cfg.keys[1].api_key, "key1");	/* rotation: two secrets */
	if (secret_from("old-secret", 10, &cfg.keys[0].secret) != 0 ||
	    secret_from("new-secret", 10, &cfg.keys[1].secret) != 0)
		return -1;
	dd = dedup_new(86400, 1000);
	return dd ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	config_free(&cfg);
	dedup_free(dd);
	return 0;
}

/* A request as the parser would hand it over. */
static void
request(struct http_request *r, int method, const char *target,
    const char *id, const char *key, const char *secret, const char *body)
{
	struct secret s;
	char hex[VERIFY_HEX_LEN + 1];

	memset(r, 0, sizeof(*r));
	r->method = method;
	snprintf(r->target, sizeof(r->target), "%s", target);
	r->body_len = strlen(body);
	r->body = (uint8_t *)strdup(body);
	if (id) {
		r->hdr_seen[HH_WEBHOOK_ID] = 1;
		r->hdr_len[HH_WEBHOOK_ID] = strlen(id);
		strcpy(r->hdr[HH_WEBHOOK_ID], id);
	}
	strcpy(r->hdr[HH_ATTEMPT], "1");
	r->hdr_seen[HH_API_KEY] = 1;
	r->hdr_len[HH_API_KEY] = strlen(key);
	strcpy(r->hdr[HH_API_KEY], key);
	if (secret) {
		assert_int_equal(secret_from(secret, strlen(secret), &s), 0);
		verify_sign(&s, body, strlen(body), hex);
		secret_free(&s);
		r->hdr_seen[HH_SIGNATURE] = 1;
		r->hdr_len[HH_SIGNATURE] = VERIFY_HEX_LEN;
		strcpy(r->hdr[HH_SIGNATURE], hex);
	}
}

static int
decide(struct http_request *r, struct webhook_job *j)
{
	webhook_decide(&cfg, dd, r, 1000, j);
	free(r->body);
	r->body = NULL;
	return j->status;
}

#define PUSH	"/webhooks/stream/push"
#define EVENT	"{\"type\":\"message.new\",\"cid\":\"messaging:a\"}"

static void
test_push_goes_to_the_store(void **state)
{
	struct http_request r;
	struct webhook_job j;

	(void)state;
	request(&r, HTTP_POST, PUSH, "id-1", "key1", "new-secret", EVENT);
	assert_int_equal(decide(&r, &j), 0);		/* 0: ask the store */
	assert_int_equal(j.ev.kind, STORE_PUSH);
	assert_string_equal(j.ev.webhook_id, "id-1");
	assert_string_equal(j.ev.event_type, "message.new");
	assert_int_equal(j.ev.body_len, strlen(EVENT));
	assert_memory_equal(j.ev.body, EVENT, strlen(EVENT));
	j.ev.seq = 7;
	webhook_finish(&j, dd, STORE_STORED, 1000);
	assert_int_equal(j.status, 200);
	assert_string_equal(j.reply, "{\"status\":\"stored\",\"seq\":7}");
	webhook_job_free(&j);

	/* the retry is answered from memory */
	request(&r, HTTP_POST, PUSH, "id-1", "key1", "old-secret", EVENT);
	assert_int_equal(decide(&r, &j), 200);
	assert_string_equal(j.reply, "{\"status\":\"duplicate\"}");
	webhook_job_free(&j);
}

static void
test_refusals(void **state)
{
	struct http_request r;
	struct webhook_job j;

	(void)state;
	request(&r, HTTP_POST, PUSH, "x", "key2", "new-secret", EVENT);
	assert_int_equal(decide(&r, &j), 401);
	assert_string_equal(j.reply, "{\"error\":\"unknown api key\"}");
	webhook_job_free(&j);
	request(&r, HTTP_POST, PUSH, "x", "key1", NULL, EVENT);
	assert_int_equal(decide(&r, &j), 401);
	assert_string_equal(j.reason, "missing signature");
	webhook_job_free(&j);
	request(&r, HTTP_POST, PUSH, "x", "key1", "wrong", EVENT);
	assert_int_equal(decide(&r, &j), 401);
	assert_string_equal(j.reason, "bad signature");
	webhook_job_free(&j);
	request(&r, HTTP_POST, PUSH, "x", "key1", "new-secret", "[1]");
	assert_int_equal(decide(&r, &j), 400);
	webhook_job_free(&j);
	request(&r, HTTP_POST, PUSH, "x", "key1", "new-secret", "{\"type\":1}");
	assert_int_equal(decide(&r, &j), 400);
	assert_string_equal(j.reason, "push event has no string type");
	webhook_job_free(&j);
	request(&r, HTTP_GET, PUSH, "x", "key1", "new-secret", EVENT);
	assert_int_equal(decide(&r, &j), 405);
	webhook_job_free(&j);
	request(&r, HTTP_POST, "/elsewhere", "x", "key1", "new-secret", EVENT);
	assert_int_equal(decide(&r, &j), 404);
	webhook_job_free(&j);
	request(&r, HTTP_GET, "/healthz", NULL, "", NULL, "");
	assert_int_equal(decide(&r, &j), 200);
	assert_string_equal(j.reply, "{\"status\":\"ok\"}");
	webhook_job_free(&j);
}

static void
test_gzip_body_verified_inflated(void **state)
{
	struct http_request r;
	struct webhook_job j;
	uint8_t gz[512];
	z_stream z;

	(void)state;
	request(&r, HTTP_POST, PUSH, "gz-1", "key1", "new-secret", EVENT);
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = r.body;
	z.avail_in = (uInt)r.body_len;
	z.next_out = gz;
	z.avail_out = sizeof(gz);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	free(r.body);
	r.body_len = z.total_out;
	r.body = malloc(r.body_len);
	memcpy(r.body, gz, r.body_len);
	deflateEnd(&z);
	assert_int_equal(decide(&r, &j), 0);
	assert_memory_equal(j.ev.body, EVENT, strlen(EVENT));	/* inflated */
	webhook_job_free(&j);
}

static void
test_synchronous_hooks_answer_the_message(void **state)
{
	struct http_request r;
	struct webhook_job j;
	const char *bms = "{\"message\":{\"text\":\"hi\",\"id\":\"m1\"},"
	    "\"user\":{\"id\":\"u\"}}";

	(void)state;
	request(&r, HTTP_POST, "/webhooks/stream/before-message-send", "b-1",
	    "key1", "new-secret", bms);
	assert_int_equal(decide(&r, &j), 0);
	assert_int_equal(j.ev.kind, STORE_BEFORE_MESSAGE_SEND);
	webhook_finish(&j, dd, STORE_STORED, 1000);
	assert_string_equal(j.reply,
	    "{\"message\":{\"text\":\"hi\",\"id\":\"m1\"}}");
	webhook_job_free(&j);

	request(&r, HTTP_POST, "/webhooks/stream/custom-commands?type=giphy&x=1",
	    "c-1", "key1", "new-secret", bms);
	assert_int_equal(decide(&r, &j), 0);
	assert_int_equal(j.ev.kind, STORE_CUSTOM_COMMAND);
	assert_string_equal(j.ev.command, "giphy");
	webhook_finish(&j, dd, STORE_FAILED, 1000);
	assert_int_equal(j.status, 503);		/* nothing acked */
	webhook_job_free(&j);
}

/* No X-Webhook-Id: the signature is the key, in one case whatever came. */
static void
test_signature_key_is_case_folded(void **state)
{
	struct http_request r;
	struct webhook_job j;
	char *p, lower[VERIFY_HEX_LEN + 1];

	(void)state;
	request(&r, HTTP_POST, PUSH, NULL, "key1", "new-secret", EVENT);
	strcpy(lower, r.hdr[HH_SIGNATURE]);
	for (p = r.hdr[HH_SIGNATURE]; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(decide(&r, &j), 0);
	assert_string_equal(j.ev.webhook_id, lower);
	webhook_job_free(&j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_goes_to_the_store),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_gzip_body_verified_inflated),
		cmocka_unit_test(test_synchronous_hooks_answer_the_message),
		cmocka_unit_test(test_signature_key_is_case_folded),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
