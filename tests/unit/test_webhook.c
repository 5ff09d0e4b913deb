/*
 * test_webhook.c: one request's fate: route, method, API key, signature
 * (gzip, rotation, case), JSON, dedup (per API key; a copy with another
 * body told apart, from memory and from the store), and the answers for
 * each webhook type.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <zlib.h>

#include <openssl/evp.h>

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
	cfg.nkeys = 3;
	strcpy(cfg.keys[0].api_key, "key1");
	strcpy(cfg.keys[1].api_key, "key1");	/* rotation: two secrets */
	strcpy(cfg.keys[2].api_key, "app-2");	/* another app */
	if (secret_from("old-secret", 10, &cfg.keys[0].secret) != 0 ||
	    secret_from("new-secret", 10, &cfg.keys[1].secret) != 0 ||
	    secret_from("app2-secret", 11, &cfg.keys[2].secret) != 0)
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

/*
 * A tree too big for the worker's JSON arena spills to malloc: it is
 * still read, and what spilled is freed (its nodes hang off the arena,
 * which stays allocated, so a leak check would call them reachable: the
 * heap's own count tells, where it is glibc's).
 */
static void
test_big_tree_spills_from_the_arena(void **state)
{
	struct http_request r;
	struct webhook_job j;
	size_t i, o, k, before = 0;
	char *body = malloc(128 + 6000 * 8);

	(void)state;
	assert_non_null(body);
	/* a Stream-sized body stays in the arena: nothing to walk */
	request(&r, HTTP_POST, PUSH, "id-small", "key1", "new-secret", EVENT);
	assert_int_equal(decide(&r, &j), 0);
	assert_false(jsonarena_must_free());
	webhook_job_free(&j);
	o = (size_t)sprintf(body, "{\"type\":\"message.new\",\"cid\":"
	    "\"messaging:a\",\"members\":[");
	for (i = 0; i < 6000; i++)	/* ~860 KB of nodes */
		o += (size_t)sprintf(body + o, "%s{\"a\":1}", i ? "," : "");
	strcpy(body + o, "]}");
	for (k = 0; k < 4; k++) {
		request(&r, HTTP_POST, PUSH, "id-big", "key1", "new-secret",
		    body);
		assert_int_equal(decide(&r, &j), 0);
		assert_true(jsonarena_must_free());
		assert_string_equal(j.ev.event_type, "message.new");
		assert_string_equal(j.cid, "messaging:a");
		webhook_job_free(&j);
#ifndef __SANITIZE_ADDRESS__
		if (k == 0)
			before = mallinfo2().uordblks;
		else
			assert_true(mallinfo2().uordblks < before + 65536);
#endif
	}
	(void)before;
	free(body);
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

#define CMD	"/webhooks/stream/custom-commands"

/* A signed request through decide, to the store, and back with res. */
static void
finished(const char *target, const char *id, const char *body,
    enum store_result res, struct webhook_job *j)
{
	struct http_request r;

	request(&r, HTTP_POST, target, id, "key1", "new-secret", body);
	assert_int_equal(decide(&r, j), 0);
	webhook_finish(j, dd, res, 1000);
}

static void
test_synchronous_hooks_answer_the_message(void **state)
{
	struct http_request r;
	struct webhook_job j;
	const char *bms = "{\"message\":{\"text\":\"hi\",\"id\":\"m1\"},"
	    "\"user\":{\"id\":\"u\"}}";

	(void)state;
	finished("/webhooks/stream/before-message-send", "b-1", bms,
	    STORE_STORED, &j);
	assert_int_equal(j.ev.kind, STORE_BEFORE_MESSAGE_SEND);
	assert_string_equal(j.reply,
	    "{\"message\":{\"text\":\"hi\",\"id\":\"m1\"}}");
	webhook_job_free(&j);

	/* a store failure: unchanged all the same, never an error that
	 * could make Stream pause the hook */
	finished(CMD "?type=giphy&x=1", "c-1", bms, STORE_FAILED, &j);
	assert_int_equal(j.ev.kind, STORE_CUSTOM_COMMAND);
	assert_string_equal(j.ev.command, "giphy");
	assert_int_equal(j.status, 200);
	assert_string_equal(j.reason, WEBHOOK_STORE_FAILED);
	assert_string_equal(j.reply,
	    "{\"message\":{\"text\":\"hi\",\"id\":\"m1\"}}");
	webhook_job_free(&j);

	/* a push that failed is 503, and not remembered: Stream retries */
	finished(PUSH, "p-503", EVENT, STORE_FAILED, &j);
	assert_int_equal(j.status, 503);
	assert_string_equal(j.reply, "{\"error\":\"store unavailable\"}");
	webhook_job_free(&j);
	request(&r, HTTP_POST, PUSH, "p-503", "key1", "new-secret", EVENT);
	assert_int_equal(decide(&r, &j), 0);
	webhook_job_free(&j);
}

#define CMDBODY	"{\"message\":{\"text\":\"/ticket a\"}}"

/* The command's name, by path (Stream's https://host/path/{type}) or by
 * query (?type={type}); a bad one is 400, never stored. */
static void
test_command_by_path_or_query(void **state)
{
	static const struct {
		const char	*target;
		int		 status;
		const char	*command;	/* status 0; NULL: none */
	} cases[] = {
		{ CMD "/ticket", 0, "ticket" },
		{ CMD "/ticket?x=1", 0, "ticket" },
		{ CMD "/ticket?type=ticket", 0, "ticket" },
		{ CMD "?type=giphy", 0, "giphy" },
		{ CMD "?a=b&type=my_cmd-2&type=other", 0, "my_cmd-2" },
		{ CMD, 0, NULL },
		{ CMD "?typo=x", 0, NULL },
		{ CMD "/0123456789012345678901234567890123456789"
		    "012345678901234567890123", 0,
		    "0123456789012345678901234567890123456789"
		    "012345678901234567890123" },	/* 64: the bound */
		{ CMD "/0123456789012345678901234567890123456789"
		    "0123456789012345678901234", 400, NULL },	/* 65 */
		{ CMD "/Ticket", 400, NULL },
		{ CMD "/tick%65t", 400, NULL },
		{ CMD "/", 400, NULL },
		{ CMD "/a/b", 400, NULL },
		{ CMD "?type=", 400, NULL },
		{ CMD "?type=GIPHY", 400, NULL },
		{ CMD "?type=gi.phy", 400, NULL },
		{ CMD "/ticket?type=giphy", 400, NULL },
		{ CMD "x/ticket", 404, NULL },
		{ CMD "x", 404, NULL },
	};
	struct http_request r;
	struct webhook_job j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].target);
		request(&r, HTTP_POST, cases[i].target, "c-2", "key1",
		    "new-secret", CMDBODY);
		assert_int_equal(decide(&r, &j), cases[i].status);
		if (cases[i].status == 0) {
			assert_int_equal(j.ev.kind, STORE_CUSTOM_COMMAND);
			if (cases[i].command == NULL)
				assert_null(j.ev.command);
			else
				assert_string_equal(j.ev.command,
				    cases[i].command);
			assert_string_equal(j.ev.target, cases[i].target);
		} else
			assert_non_null(strstr(j.reply, "\"error\""));
		webhook_job_free(&j);
	}

	/* a route given with a trailing '/' takes names after it */
	strcpy(cfg.route_commands, "/cmd/");
	request(&r, HTTP_POST, "/cmd/ticket", "c-3", "key1", "new-secret",
	    CMDBODY);
	assert_int_equal(decide(&r, &j), 0);
	assert_string_equal(j.ev.command, "ticket");
	webhook_job_free(&j);
	request(&r, HTTP_POST, "/cmd/", "c-4", "key1", "new-secret", CMDBODY);
	assert_int_equal(decide(&r, &j), 0);
	assert_null(j.ev.command);
	webhook_job_free(&j);
	strcpy(cfg.route_commands, CMD);
}

/* What the store gets besides the body: the order key, the signature in
 * lower case, the target as received. */
static void
test_event_order_key_signature_target(void **state)
{
	static const struct {
		const char	*body;
		const char	*key;		/* NULL: none */
	} cases[] = {
		{ "{\"type\":\"a\",\"cid\":\"messaging:x\","
		    "\"user\":{\"id\":\"jane\"}}", "cid:messaging:x" },
		{ "{\"type\":\"a\",\"user\":{\"id\":\"jane\"}}",
		    "user:jane" },
		{ "{\"type\":\"a\",\"cid\":7,\"user\":{\"id\":\"jane\"}}",
		    "user:jane" },
		{ "{\"type\":\"a\",\"user\":{\"id\":7}}", NULL },
		{ "{\"type\":\"a\",\"user\":{\"id\":\"\"}}", NULL },
		{ "{\"type\":\"a\",\"user\":\"jane\"}", NULL },
		{ "{\"type\":\"a\",\"member\":{\"user\":{\"id\":\"j\"}}}",
		    NULL },
		{ "{\"type\":\"a\"}", NULL },
	};
	char body[512], lower[VERIFY_HEX_LEN + 1], *p;
	struct http_request r;
	struct webhook_job j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].body);
		request(&r, HTTP_POST, PUSH "?a=%41&b", "o-1", "key1",
		    "new-secret", cases[i].body);
		assert_int_equal(decide(&r, &j), 0);
		if (cases[i].key == NULL)
			assert_null(j.ev.order_key);
		else
			assert_string_equal(j.ev.order_key, cases[i].key);
		assert_string_equal(j.ev.target, PUSH "?a=%41&b");
		webhook_job_free(&j);
	}

	/* ordering by user may be turned off; a cid still orders */
	cfg.order_by_user = 0;
	request(&r, HTTP_POST, PUSH, "o-2", "key1", "new-secret",
	    cases[1].body);
	assert_int_equal(decide(&r, &j), 0);
	assert_null(j.ev.order_key);
	webhook_job_free(&j);
	request(&r, HTTP_POST, PUSH, "o-3", "key1", "new-secret",
	    cases[0].body);
	assert_int_equal(decide(&r, &j), 0);
	assert_string_equal(j.ev.order_key, "cid:messaging:x");
	webhook_job_free(&j);
	cfg.order_by_user = 1;

	/* a key too long to keep is left out, never cut */
	snprintf(body, sizeof(body), "{\"type\":\"a\",\"user\":{\"id\":"
	    "\"%0*d\"}}", (int)sizeof(j.order_key) - 5, 0);
	request(&r, HTTP_POST, PUSH, "o-4", "key1", "new-secret", body);
	assert_int_equal(decide(&r, &j), 0);
	assert_null(j.ev.order_key);
	webhook_job_free(&j);
	snprintf(body, sizeof(body), "{\"type\":\"a\",\"user\":{\"id\":"
	    "\"%0*d\"}}", (int)sizeof(j.order_key) - 6, 0);
	request(&r, HTTP_POST, PUSH, "o-5", "key1", "new-secret", body);
	assert_int_equal(decide(&r, &j), 0);
	assert_int_equal(strlen(j.ev.order_key), sizeof(j.order_key) - 1);
	webhook_job_free(&j);

	/* the signature as Stream sent it, in lower case */
	request(&r, HTTP_POST, PUSH, "o-6", "key1", "new-secret", EVENT);
	strcpy(lower, r.hdr[HH_SIGNATURE]);
	for (p = r.hdr[HH_SIGNATURE]; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	assert_int_equal(decide(&r, &j), 0);
	assert_string_equal(j.ev.signature, lower);
	assert_string_equal(j.ev.webhook_id, "o-6");
	webhook_job_free(&j);
}

/* A client that waits for "100 Continue" hears at once what the headers
 * decide, the same answer the whole request would get. */
static void
test_headers_decide_early(void **state)
{
	static const struct {
		int		 method;
		const char	*target;
		const char	*key;
		const char	*secret;
		int		 status;	/* 0: the body decides */
	} cases[] = {
		{ HTTP_POST, "/elsewhere", "key1", "new-secret", 404 },
		{ HTTP_GET, PUSH, "key1", "new-secret", 405 },
		{ HTTP_POST, PUSH, "nokey", "new-secret", 401 },
		{ HTTP_POST, PUSH, "", "new-secret", 401 },
		{ HTTP_POST, PUSH, "key1", NULL, 401 },
		{ HTTP_POST, CMD "/Bad", "key1", "new-secret", 400 },
		{ HTTP_POST, PUSH, "key1", "new-secret", 0 },
		{ HTTP_POST, PUSH, "key1", "wrong", 0 },	/* body: 401 */
		{ HTTP_POST, CMD "/ticket", "key1", "new-secret", 0 },
	};
	struct http_request r;
	struct webhook_job j, full;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		request(&r, cases[i].method, cases[i].target, "e-1",
		    cases[i].key, cases[i].secret, CMDBODY);
		if (cases[i].key[0] == '\0')
			r.hdr_seen[HH_API_KEY] = 0;
		assert_int_equal(webhook_headers(&cfg, &r, &j),
		    cases[i].status != 0);
		if (cases[i].status == 0) {
			assert_int_equal(j.status, 0);
			assert_null(j.reply);
		} else {
			assert_int_equal(j.status, cases[i].status);
			webhook_decide(&cfg, dd, &r, 1000, &full);
			assert_int_equal(full.status, j.status);
			assert_string_equal(full.reply, j.reply);
			webhook_job_free(&full);
		}
		webhook_job_free(&j);
		free(r.body);
	}
}

/* SHA-256 of s in hex, as OpenSSL says. */
static const char *
sha256_hex(const char *s)
{
	static char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL),
	    1);
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

/* A push of key with secret through decide; stored when the store is
 * asked.  The status decide gave. */
static int
push_as(const char *key, const char *secret, const char *id,
    const char *body, struct webhook_job *j)
{
	struct http_request r;
	int status;

	request(&r, HTTP_POST, PUSH, id, key, secret, body);
	if ((status = decide(&r, j)) == 0)
		webhook_finish(j, dd, STORE_STORED, 1000);
	return status;
}

/* The event carries its body's SHA-256, for the store. */
static void
test_body_hash(void **state)
{
	struct http_request r;
	struct webhook_job j;

	(void)state;
	request(&r, HTTP_POST, PUSH, "h-1", "key1", "new-secret", EVENT);
	assert_int_equal(decide(&r, &j), 0);
	assert_string_equal(j.body_sha256, sha256_hex(EVENT));
	assert_string_equal(j.ev.body_sha256, sha256_hex(EVENT));
	webhook_job_free(&j);
}

/* One id from two apps is two events: the second is not answered from
 * the first's memory. */
static void
test_dedup_per_api_key(void **state)
{
	struct webhook_job j;

	(void)state;
	assert_int_equal(push_as("key1", "new-secret", "shared-1", EVENT, &j),
	    0);
	webhook_job_free(&j);
	assert_int_equal(push_as("app-2", "app2-secret", "shared-1", EVENT,
	    &j), 0);			/* to the store, not a duplicate */
	assert_string_equal(j.ev.api_key, "app-2");
	webhook_job_free(&j);
	/* each app's retry is its own duplicate */
	assert_int_equal(push_as("app-2", "app2-secret", "shared-1", EVENT,
	    &j), 200);
	assert_string_equal(j.reason, WEBHOOK_DUPLICATE);
	webhook_job_free(&j);
	assert_int_equal(push_as("key1", "old-secret", "shared-1", EVENT, &j),
	    200);
	assert_string_equal(j.reason, WEBHOOK_DUPLICATE);
	webhook_job_free(&j);
}

#define OTHER	"{\"type\":\"message.new\",\"cid\":\"messaging:b\"}"

/* The reason key1's push of id with body got (a constant: it outlives the
 * job); a duplicate must have been answered as one. */
static const char *
reason_of(const char *id, const char *body)
{
	struct webhook_job j;
	const char *reason;

	push_as("key1", "new-secret", id, body, &j);
	if (j.status == 200 && strcmp(j.reason, "stored") != 0)
		assert_string_equal(j.reply, "{\"status\":\"duplicate\"}");
	reason = j.reason;
	webhook_job_free(&j);
	return reason;
}

/* The same, answered by the store as a duplicate of a copy whose hash is
 * first (NULL: the store kept none). */
static const char *
store_duplicate(const char *id, const char *body, const char *first)
{
	struct http_request r;
	struct webhook_job j;
	const char *reason;

	request(&r, HTTP_POST, PUSH, id, "key1", "new-secret", body);
	assert_int_equal(decide(&r, &j), 0);
	if (first != NULL)
		snprintf(j.ev.first_sha256, sizeof(j.ev.first_sha256), "%s",
		    first);
	webhook_finish(&j, dd, STORE_DUPLICATE, 1000);
	assert_int_equal(j.status, 200);
	assert_string_equal(j.reply, "{\"status\":\"duplicate\"}");
	reason = j.reason;
	webhook_job_free(&j);
	return reason;
}

/*
 * The same key's id with another body, validly signed: answered as a
 * duplicate (Stream stops), with its own reason (counted apart), from
 * memory; the same body again is a plain retry.
 */
static void
test_mismatch_from_memory(void **state)
{
	(void)state;
	assert_string_equal(reason_of("mm-1", EVENT), "stored");
	assert_string_equal(reason_of("mm-1", OTHER), WEBHOOK_MISMATCH);
	assert_string_equal(reason_of("mm-1", EVENT), WEBHOOK_DUPLICATE);
}

/*
 * The store answers the duplicate (after a restart: nothing in memory)
 * with the stored copy's hash; a copy of another body is told apart, and
 * the cache learns the stored hash, not this copy's.  The same body, or a
 * store that kept no hash, make plain duplicates.
 */
static void
test_mismatch_from_store(void **state)
{
	(void)state;
	assert_string_equal(store_duplicate("ms-1", OTHER, sha256_hex(EVENT)),
	    WEBHOOK_MISMATCH);
	assert_string_equal(reason_of("ms-1", EVENT), WEBHOOK_DUPLICATE);
	assert_string_equal(reason_of("ms-1", OTHER), WEBHOOK_MISMATCH);
	assert_string_equal(store_duplicate("ms-2", EVENT, sha256_hex(EVENT)),
	    WEBHOOK_DUPLICATE);
	assert_string_equal(store_duplicate("ms-3", OTHER, NULL),
	    WEBHOOK_DUPLICATE);
	/* the cache knows no hash for it either */
	assert_string_equal(reason_of("ms-3", EVENT), WEBHOOK_DUPLICATE);
}

/* A store broken until a restart: /healthz 503. */
static void
test_unhealthy(void **state)
{
	struct http_request r;
	struct webhook_job j;

	(void)state;
	request(&r, HTTP_GET, "/healthz", NULL, "", NULL, "");
	assert_int_equal(decide(&r, &j), 200);
	assert_int_equal(j.route, WR_HEALTH);
	webhook_unhealthy(&j);
	assert_int_equal(j.status, 503);
	assert_string_equal(j.reply, "{\"error\":\"store unavailable\"}");
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
		cmocka_unit_test(test_big_tree_spills_from_the_arena),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_gzip_body_verified_inflated),
		cmocka_unit_test(test_synchronous_hooks_answer_the_message),
		cmocka_unit_test(test_signature_key_is_case_folded),
		cmocka_unit_test(test_command_by_path_or_query),
		cmocka_unit_test(test_event_order_key_signature_target),
		cmocka_unit_test(test_headers_decide_early),
		cmocka_unit_test(test_body_hash),
		cmocka_unit_test(test_dedup_per_api_key),
		cmocka_unit_test(test_mismatch_from_memory),
		cmocka_unit_test(test_mismatch_from_store),
		cmocka_unit_test(test_unhealthy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
