/*
 * fuzz_request.c: the request path, bytes to answer: http_parser (small
 * limits) → webhook_decide → when the job asks the store, webhook_finish
 * with a result the input picks.  Invariants, for every request:
 *   - every reply is one valid JSON document, and the status is one the
 *     path can give;
 *   - a 200 on a webhook route means the signature verifies: checked here
 *     again with verify_body against the known secrets of the API key;
 *   - a job for the store holds the verified bytes and a NUL-terminated id;
 *   - a request that waits for "100 Continue" and is answered on its
 *     headers alone (webhook_headers) gets that same answer whole.
 * Random bytes rarely carry a valid HMAC, so when the first byte is even a
 * second request is built around the input: the rest of the input as the
 * body, correctly signed (over the inflated bytes when it is gzip), with a
 * route, key and headers the first byte picks.  Such a request must get
 * past the signature check.  ASan/UBSan and LeakSanitizer do the rest.
 * cJSON's allocation hooks stay libc's (no jsonarena_init): webhook.c must
 * free its trees without the workers' arena too (test_webhook runs with it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "dedup.h"
#include "http.h"
#include "inflate.h"
#include "verify.h"
#include "webhook.h"

#define MAX_HEADER	2048
#define MAX_BODY	8192
#define MAX_INFLATED	16384

/* Two API keys: k1 with two secrets (a rotation), k2 with one. */
static const struct {
	const char	*api_key;
	const char	*secret;
} keys[] = {
	{ "k1", "s3cr3t-one" },
	{ "k1", "s3cr3t-one-rotated" },
	{ "k2", "an0ther-s3cr3t" },
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

static struct config	cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void
setup(void)
{
	static int done;
	size_t i;

	if (done)
		return;
	done = 1;
	config_defaults(&cfg);	/* default routes */
	cfg.limits.header_bytes = MAX_HEADER;
	cfg.limits.body_bytes = MAX_BODY;
	cfg.limits.inflated_bytes = MAX_INFLATED;
	for (i = 0; i < NKEYS; i++) {
		snprintf(cfg.keys[i].api_key, sizeof(cfg.keys[i].api_key), "%s",
		    keys[i].api_key);
		if (secret_from(keys[i].secret, strlen(keys[i].secret),
		    &cfg.keys[i].secret) != 0)
			abort();
	}
	cfg.nkeys = NKEYS;
}

/* Our own check of the signature: the secrets of the request's key, as
 * this file knows them, not as config_secrets_for finds them. */
static int
signature_ok(const struct http_request *req, const uint8_t *body,
    size_t body_len)
{
	struct secret s[NKEYS];
	size_t i, n = 0;

	if (!req->hdr_seen[HH_API_KEY] || !req->hdr_seen[HH_SIGNATURE])
		return 0;
	for (i = 0; i < NKEYS; i++)
		if (req->hdr_len[HH_API_KEY] == strlen(keys[i].api_key) &&
		    memcmp(req->hdr[HH_API_KEY], keys[i].api_key,
		    req->hdr_len[HH_API_KEY]) == 0)
			s[n++] = cfg.keys[i].secret;
	return n > 0 && verify_body(s, n, body, body_len,
	    req->hdr[HH_SIGNATURE], req->hdr_len[HH_SIGNATURE]) == 0;
}

static void
reply_check(const struct webhook_job *job)
{
	cJSON *root;

	if (job->reply == NULL || job->reply_len != strlen(job->reply))
		abort();
	if ((root = cJSON_ParseWithLength(job->reply, job->reply_len)) == NULL)
		abort();
	cJSON_Delete(root);
	switch (job->status) {
	case 200: case 400: case 401: case 404: case 405: case 413: case 503:
		break;
	default:
		abort();
	}
}

/* One whole request through decide (and finish); pick chooses the
 * store's answer.  Returns the status. */
static int
request_run(struct dedup *dd, struct http_request *req, int64_t now,
    uint8_t pick, int64_t seq)
{
	struct webhook_job job;
	enum store_result r;
	int status;

	webhook_decide(&cfg, dd, req, now, &job);
	if (job.status == 0) {
		if (job.route != WR_PUSH && job.route != WR_BMS &&
		    job.route != WR_COMMAND)
			abort();
		if (job.ev.body != job.body || job.ev.body_len != job.body_len ||
		    memchr(job.webhook_id, '\0', sizeof(job.webhook_id)) == NULL)
			abort();
		if (!signature_ok(req, job.body, job.body_len))
			abort();	/* about to be stored unverified */
		if (job.reply != NULL)
			abort();
		r = pick % 3 == 0 ? STORE_STORED : pick % 3 == 1 ?
		    STORE_DUPLICATE : STORE_FAILED;
		job.ev.seq = seq;
		webhook_finish(&job, dd, r, now);
		/* a hook is answered unchanged whatever the store did */
		if (job.status != (r == STORE_FAILED && job.route == WR_PUSH ?
		    503 : 200))
			abort();
	}
	reply_check(&job);
	if (job.status == 200 && job.route != WR_HEALTH &&
	    (job.body == NULL || !signature_ok(req, job.body, job.body_len)))
		abort();	/* a 200 without a verified body */
	status = job.status;
	webhook_job_free(&job);
	return status;
}

/* The headers of a request that waits for "100 Continue": the status
 * they decide, or 0. */
static int
headers_run(const struct http_request *req)
{
	struct webhook_job job;
	int status = 0;

	if (webhook_headers(&cfg, req, &job)) {
		reply_check(&job);
		if (job.status == 200 && job.route != WR_HEALTH)
			abort();	/* a 200 before the body is verified */
		status = job.status;
	} else if (job.status != 0 || job.reply != NULL)
		abort();
	webhook_job_free(&job);
	return status;
}

/* Every request in the stream; returns the status of the first. */
static int
stream_run(struct dedup *dd, const uint8_t *data, size_t len, uint8_t pick,
    int64_t *now)
{
	struct http_parser hp;
	size_t off = 0;
	ssize_t used;
	int first = -1, status, early = 0, n = 0;

	http_parser_init(&hp, MAX_HEADER, MAX_BODY);
	while (off < len) {
		used = http_parser_feed(&hp, (const char *)data + off, len - off);
		if (used < 0)
			break;
		off += (size_t)used;
		if (hp.expect) {
			early = headers_run(&hp.req);
			http_parser_continue(&hp);
			continue;	/* the body, as if we had sent 100 */
		}
		if (!hp.ready)
			break;		/* wants more bytes */
		status = request_run(dd, &hp.req, (*now)++, pick + n, n + 1);
		if (early != 0 && status != early)
			abort();	/* the early answer was another */
		early = 0;
		if (first < 0)
			first = status;
		n++;
		http_parser_next(&hp);
	}
	http_parser_free(&hp);
	return first;
}

/* A request carrying body, signed with key k's secret over the bytes the
 * daemon will verify (inflated when body is gzip).  malloc'd. */
static char *
signed_request(const uint8_t *body, size_t blen, uint8_t sel, size_t *outlen)
{
	static const char *paths[] = { "/webhooks/stream/push",
	    "/webhooks/stream/before-message-send",
	    "/webhooks/stream/custom-commands?type=giphy",
	    "/webhooks/stream/custom-commands/giphy" };
	char sig[VERIFY_HEX_LEN + 1], head[512], *out;
	const uint8_t *signee = body;
	size_t slen = blen, k = (sel >> 1) % NKEYS;
	uint8_t *inflated = NULL;
	int hlen;

	if (inflate_is_gzip(body, blen) && inflate_gzip(body, blen,
	    MAX_INFLATED, &inflated, &slen) == INFLATE_OK)
		signee = inflated;
	else
		slen = blen;
	verify_sign(&cfg.keys[k].secret, signee, slen, sig);
	if (sel & 0x40)		/* either case is accepted */
		for (char *p = sig; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p -= 'a' - 'A';
	hlen = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\n"
	    "Host: x\r\nX-Api-Key: %s\r\n%sX-Webhook-Attempt: %u\r\n"
	    "X-Signature: %s\r\n%sContent-Length: %zu\r\n\r\n",
	    paths[(sel >> 3) % 4], keys[k].api_key,
	    sel & 0x80 ? "X-Webhook-Id: wh-fixed\r\n" : "", sel % 5, sig,
	    sel & 0x20 ? "Expect: 100-continue\r\n" : "", blen);
	free(inflated);
	if (hlen < 0 || (size_t)hlen >= sizeof(head) ||
	    (out = malloc((size_t)hlen + blen)) == NULL)
		abort();
	memcpy(out, head, (size_t)hlen);
	memcpy(out + hlen, body, blen);
	*outlen = (size_t)hlen + blen;
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct dedup *dd;
	int64_t now = 1700000000000;
	size_t rlen;
	char *req;
	int status;

	if (len < 1)
		return 0;
	setup();
	if ((dd = dedup_new(60, 16)) == NULL)
		abort();
	stream_run(dd, data + 1, len - 1, data[0], &now);
	if ((data[0] & 1) == 0 && len - 1 <= MAX_BODY) {
		req = signed_request(data + 1, len - 1, data[0], &rlen);
		status = stream_run(dd, (const uint8_t *)req, rlen, data[0],
		    &now);
		free(req);
		/* parsed, and the signature held: anything but a 401 */
		if (status < 0 || status == 401)
			abort();
	}
	dedup_free(dd);
	return 0;
}
