/*
 * test_deliver.c: the pure parts of push delivery: the backoff (bounds,
 * growth, cap, equal jitter), the ordering window (order per order key,
 * channels and users alike, no head-of-line blocking across keys, a dead
 * event unblocking its key, replays, limits) and the request made of a
 * stored event (Stream's signature, our attempt number, the target); the
 * webhook side (cid, initial state); and URL redaction for the logs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "jsonarena.h"
#include "upstream.h"
#include "verify.h"
#include "webhook.h"

/* ---- backoff ---- */

static void
test_backoff_bounds_and_growth(void **state)
{
	uint64_t step = 1000;
	unsigned tries;

	(void)state;
	for (tries = 1; tries <= 8; tries++, step *= 2) {
		/* equal jitter: [step/2, step] */
		assert_int_equal(deliver_backoff(1000, 300000, tries, 0),
		    step - step / 2);
		assert_int_equal(deliver_backoff(1000, 300000, tries,
		    (uint32_t)(step / 2)), step);
		for (uint32_t r = 1; r < 100000; r += 7919) {
			uint64_t d = deliver_backoff(1000, 300000, tries, r);

			assert_true(d >= step / 2 && d <= step);
		}
	}
}

static void
test_backoff_cap(void **state)
{
	unsigned tries;
	uint64_t d;

	(void)state;
	for (tries = 9; tries < 2000; tries += 13) {
		d = deliver_backoff(1000, 300000, tries,
		    (uint32_t)tries * 2654435761u);
		assert_true(d >= 150000 && d <= 300000);
	}
	/* no overflow, even with the largest values */
	d = deliver_backoff(UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX);
	assert_true(d <= UINT32_MAX && d >= UINT32_MAX / 2);
	/* a base above the cap is the cap */
	assert_true(deliver_backoff(5000, 2000, 1, 12345) <= 2000);
	assert_true(deliver_backoff(5000, 2000, 1, 12345) >= 1000);
	/* the spread covers the range, not a few points */
	{
		uint64_t lo = UINT64_MAX, hi = 0;
		uint32_t r;

		for (r = 0; r < 5000; r++) {
			d = deliver_backoff(100, 1000, 3, r * 2654435761u);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		assert_true(lo <= 210 && hi >= 390);
	}
}

/* ---- the ordering window ---- */

static struct store_pending
ev(int64_t seq, const char *key)
{
	struct store_pending p;

	memset(&p, 0, sizeof(p));
	p.seq = seq;
	snprintf(p.order_key, sizeof(p.order_key), "%s", key);
	return p;
}

static void
add(struct order *o, int64_t seq, const char *key)
{
	struct store_pending p = ev(seq, key);

	assert_int_equal(order_add(o, &p), 1);
}

/* The seqs ready now, as a string "1 3 4". */
static const char *
ready(struct order *o, int64_t now, size_t max, struct order_entry **out,
    size_t *n, int64_t *due)
{
	static char buf[512];
	int64_t d;
	size_t i, k;

	k = order_ready(o, now, out, max, due ? due : &d);
	buf[0] = '\0';
	for (i = 0; i < k; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%lld",
		    i ? " " : "", (long long)out[i]->p.seq);
	if (n)
		*n = k;
	return buf;
}

/* Only over entries not done yet: a done one may be freed. */
static struct order_entry *
find(struct order_entry **v, size_t n, int64_t seq)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i]->p.seq == seq)
			return v[i];
	fail_msg("seq %lld not among the entries", (long long)seq);
	return NULL;
}

/* Keys a and b, each with its events in seq order, one in flight at a
 * time; events without a key alongside. */
static void
order_per_key(const char *a, const char *b)
{
	struct order *o = order_new(100);
	struct order_entry *v[16], *w[16], *e1, *e3, *e4, *e5;
	size_t n, m;

	add(o, 1, a);
	add(o, 2, a);
	add(o, 3, b);
	add(o, 4, "");
	add(o, 5, "");
	add(o, 6, a);
	add(o, 7, b);
	assert_int_equal(order_held(o), 7);
	/* the head of each key, and every event without one */
	assert_string_equal(ready(o, 0, 16, v, &n, NULL), "1 3 4 5");
	e1 = find(v, n, 1);
	e3 = find(v, n, 3);
	e4 = find(v, n, 4);
	e5 = find(v, n, 5);
	/* while they are in flight, nothing else of a and b */
	assert_string_equal(ready(o, 0, 16, w, &m, NULL), "");
	order_done(o, e3);
	assert_string_equal(ready(o, 0, 16, w, &m, NULL), "7");
	order_done(o, e1);
	order_done(o, e4);
	order_done(o, e5);
	order_done(o, w[0]);
	assert_string_equal(ready(o, 0, 16, v, &n, NULL), "2");
	order_done(o, v[0]);
	assert_string_equal(ready(o, 0, 16, v, &n, NULL), "6");
	order_done(o, v[0]);
	assert_int_equal(order_held(o), 0);
	assert_string_equal(ready(o, 0, 16, v, &n, NULL), "");
	order_free(o);
}

/*
 * Channels, and users (events without a channel: user.updated, ...)
 * alike; a user and a channel of the same name are two keys.
 */
static void
test_order_per_key(void **state)
{
	(void)state;
	order_per_key("cid:messaging:a", "cid:messaging:b");
	order_per_key("user:a", "user:b");
	order_per_key("user:a", "cid:a");
}

static void
test_order_no_head_of_line_blocking(void **state)
{
	struct order *o = order_new(100);
	struct order_entry *v[16];
	int64_t due;
	size_t n;

	(void)state;
	add(o, 10, "cid:slow");
	add(o, 11, "cid:slow");
	add(o, 12, "user:fast");
	add(o, 13, "");
	add(o, 14, "user:fast");
	assert_string_equal(ready(o, 1000, 16, v, &n, NULL), "10 12 13");
	/* 10 failed: back off until 5000; the others go on */
	order_retry(o, v[0], 1, 5000);
	order_done(o, v[1]);
	order_done(o, v[2]);
	assert_string_equal(ready(o, 1000, 16, v, &n, &due), "14");
	assert_int_equal(due, 5000);
	order_done(o, v[0]);
	/* 11 still waits behind 10, until 10's time comes */
	assert_string_equal(ready(o, 4999, 16, v, &n, &due), "");
	assert_int_equal(due, 5000);
	assert_string_equal(ready(o, 5000, 16, v, &n, &due), "10");
	assert_int_equal(v[0]->p.tries, 1);
	order_done(o, v[0]);
	assert_string_equal(ready(o, 5000, 16, v, &n, &due), "11");
	assert_int_equal(due, INT64_MAX);
	order_done(o, v[0]);
	order_free(o);
}

static void
test_order_dead_unblocks(void **state)
{
	struct order *o = order_new(100);
	struct order_entry *v[16];
	size_t n;

	(void)state;
	add(o, 1, "c:x");
	add(o, 2, "c:x");
	assert_string_equal(ready(o, 0, 16, v, &n, NULL), "1");
	order_retry(o, v[0], 1, 100);
	assert_string_equal(ready(o, 50, 16, v, &n, NULL), "");
	assert_string_equal(ready(o, 100, 16, v, &n, NULL), "1");
	/* out of attempts: dead, and no longer blocks its channel */
	order_done(o, v[0]);
	assert_string_equal(ready(o, 100, 16, v, &n, NULL), "2");
	order_done(o, v[0]);
	order_free(o);
}

static void
test_order_replay_and_limits(void **state)
{
	struct order *o = order_new(3);
	struct store_pending p = ev(20, "c:r");
	struct order_entry *v[16], *e20;
	size_t n;

	(void)state;
	assert_int_equal(order_add(o, &p), 1);
	assert_int_equal(order_add(o, &p), 0);		/* held: deduped */
	assert_true(order_holds(o, 20));
	assert_false(order_holds(o, 10));
	assert_string_equal(ready(o, 0, 16, v, &n, NULL), "20");
	e20 = v[0];
	/* an older event of the channel made pending again (a replay)
	 * while 20 is in flight: it waits for 20 */
	add(o, 10, "c:r");
	assert_string_equal(ready(o, 0, 16, v, &n, NULL), "");
	add(o, 30, "");
	p = ev(40, "");
	assert_int_equal(order_add(o, &p), -1);		/* full */
	assert_string_equal(ready(o, 0, 16, v, &n, NULL), "30");
	order_done(o, v[0]);
	assert_int_equal(order_add(o, &p), 1);		/* room again */
	assert_string_equal(ready(o, 0, 1, v, &n, NULL), "40");
	order_done(o, v[0]);
	/* 20 ends: 10, now the channel's head, may go */
	order_done(o, e20);
	assert_false(order_holds(o, 20));
	assert_string_equal(ready(o, 0, 16, v, &n, NULL), "10");
	order_free(o);

	/* concurrency: at most max per call, lowest seq first */
	o = order_new(100);
	for (int64_t s = 1; s <= 10; s++)
		add(o, s, "");
	assert_string_equal(ready(o, 0, 3, v, &n, NULL), "1 2 3");
	assert_string_equal(ready(o, 0, 2, v, &n, NULL), "4 5");
	order_free(o);
}

static void
test_order_done_then_readd(void **state)
{
	struct order *o = order_new(10);
	struct order_entry *v[4];
	size_t n;

	(void)state;
	add(o, 5, "c:a");
	assert_string_equal(ready(o, 0, 4, v, &n, NULL), "5");
	order_done(o, v[0]);
	assert_false(order_holds(o, 5));
	add(o, 5, "c:a");			/* made pending again */
	add(o, 6, "c:a");
	assert_string_equal(ready(o, 0, 4, v, &n, NULL), "5");
	order_free(o);				/* frees what it holds */
}

static void
test_order_many_channels(void **state)
{
	struct order *o = order_new(20000);
	struct order_entry **v = calloc(20000, sizeof(*v));
	char key[32];
	size_t n, i;
	int64_t s;

	(void)state;
	assert_non_null(v);
	for (s = 1; s <= 20000; s++) {
		snprintf(key, sizeof(key), "%s:%lld", s % 2 ? "cid" : "user",
		    (long long)(s % 1000));
		add(o, s, key);
	}
	n = order_ready(o, 0, v, 20000, &s);
	assert_int_equal(n, 1000);		/* one per key */
	for (i = 0; i < n; i++)
		assert_int_equal(v[i]->p.seq, (int64_t)i + 1);
	for (i = 0; i < n; i++)
		order_done(o, v[i]);
	n = order_ready(o, 0, v, 20000, &s);
	assert_int_equal(n, 1000);
	assert_int_equal(v[0]->p.seq, 1001);
	free(v);
	order_free(o);
}

/*
 * The window against a model that scans everything, as the window did
 * before it kept its candidates apart: random adds (older events made
 * pending again among them), turns, retries and ends, the same choices
 * and the same next time at every turn.
 */
struct model_ev {
	int64_t	seq, next_at;
	int	key;			/* 0: none */
	int	held, inflight;
	struct order_entry *e;		/* while in flight */
};

#define MODEL_SEQS	64

static int
model_eligible(const struct model_ev *m, int i)
{
	int j;

	if (!m[i].held || m[i].inflight)
		return 0;
	if (m[i].key == 0)
		return 1;
	for (j = 0; j < MODEL_SEQS; j++)
		if (m[j].held && m[j].key == m[i].key &&
		    (m[j].inflight || j < i))
			return 0;
	return 1;
}

static void
test_order_matches_scan(void **state)
{
	struct model_ev m[MODEL_SEQS];
	struct order_entry *out[8];
	struct store_pending p;
	struct order *o = order_new(40);
	int64_t now = 0, due, mdue;
	size_t n, k, live = 0, max;
	unsigned seed = 14;
	int i, step, r;

	(void)state;
	memset(m, 0, sizeof(m));
	for (i = 0; i < MODEL_SEQS; i++)
		m[i].seq = i + 1;
	for (step = 0; step < 200000; step++) {
		r = rand_r(&seed) % 10;
		i = rand_r(&seed) % MODEL_SEQS;
		if (r < 4) {			/* add */
			if (!m[i].held)
				m[i].key = rand_r(&seed) % 4;
			p = ev(m[i].seq, m[i].key ? (char[]){ 'k',
			    (char)('0' + m[i].key), '\0' } : "");
			p.next_at = m[i].held ? m[i].next_at : now +
			    rand_r(&seed) % 3;
			r = order_add(o, &p);
			if (m[i].held)
				assert_int_equal(r, 0);
			else if (live == 40)
				assert_int_equal(r, -1);
			else {
				assert_int_equal(r, 1);
				m[i].held = 1;
				m[i].next_at = p.next_at;
				live++;
			}
		} else if (r < 7) {		/* a turn */
			now += rand_r(&seed) % 3;
			max = rand_r(&seed) % 4;
			n = order_ready(o, now, out, max, &due);
			mdue = INT64_MAX;
			for (k = 0, i = 0; i < MODEL_SEQS; i++) {
				if (!model_eligible(m, i))
					continue;
				if (m[i].next_at > now) {
					if (m[i].next_at < mdue)
						mdue = m[i].next_at;
					continue;
				}
				if (k == max)
					continue;
				assert_true(k < n);
				assert_int_equal(out[k]->p.seq, m[i].seq);
				m[i].inflight = 1;
				m[i].e = out[k++];
			}
			assert_int_equal(k, n);
			assert_int_equal(due, mdue);
		} else if (m[i].inflight) {	/* an answer */
			m[i].inflight = 0;
			if (r < 9) {
				m[i].next_at = now + 1 + rand_r(&seed) % 5;
				order_retry(o, m[i].e, 1, m[i].next_at);
			} else {
				order_done(o, m[i].e);
				m[i].held = 0;
				live--;
			}
		}
		assert_int_equal(order_held(o), live);
	}
	order_free(o);
}

/* ---- the webhook side ---- */

static void
signed_request(struct http_request *r, const char *target, const char *body)
{
	struct secret s;
	char hex[VERIFY_HEX_LEN + 1];

	memset(r, 0, sizeof(*r));
	r->method = HTTP_POST;
	snprintf(r->target, sizeof(r->target), "%s", target);
	r->body = (uint8_t *)strdup(body);
	r->body_len = strlen(body);
	r->hdr_seen[HH_WEBHOOK_ID] = 1;
	r->hdr_len[HH_WEBHOOK_ID] = 4;
	strcpy(r->hdr[HH_WEBHOOK_ID], "id-x");
	r->hdr_seen[HH_API_KEY] = 1;
	r->hdr_len[HH_API_KEY] = 2;
	strcpy(r->hdr[HH_API_KEY], "k1");
	assert_int_equal(secret_from("sec", 3, &s), 0);
	verify_sign(&s, body, strlen(body), hex);
	secret_free(&s);
	r->hdr_seen[HH_SIGNATURE] = 1;
	r->hdr_len[HH_SIGNATURE] = VERIFY_HEX_LEN;
	strcpy(r->hdr[HH_SIGNATURE], hex);
}

static void
decide(struct config *cfg, const char *target, const char *body,
    struct webhook_job *j)
{
	struct dedup *dd = dedup_new(60, 100);
	struct http_request r;

	assert_non_null(dd);
	signed_request(&r, target, body);
	webhook_decide(cfg, dd, &r, 1000, j);
	free(r.body);
	dedup_free(dd);
	assert_int_equal(j->status, 0);
}

static void
test_webhook_cid_and_state(void **state)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct webhook_job j;

	(void)state;
	assert_non_null(cfg);
	jsonarena_init();
	config_defaults(cfg);
	cfg->nkeys = 1;
	strcpy(cfg->keys[0].api_key, "k1");
	assert_int_equal(secret_from("sec", 3, &cfg->keys[0].secret), 0);

	decide(cfg, "/webhooks/stream/push",
	    "{\"type\":\"message.new\",\"cid\":\"messaging:x\"}", &j);
	assert_string_equal(j.ev.cid, "messaging:x");
	assert_int_equal(j.ev.state, STORE_KEPT);	/* no upstream */
	webhook_job_free(&j);

	strcpy(cfg->upstream, "http://127.0.0.1:1/");
	decide(cfg, "/webhooks/stream/push",
	    "{\"type\":\"user.updated\",\"user\":{\"cid\":\"no\"}}", &j);
	assert_null(j.ev.cid);				/* top level only */
	assert_int_equal(j.ev.state, STORE_PENDING);
	webhook_job_free(&j);

	decide(cfg, "/webhooks/stream/push",
	    "{\"type\":\"message.new\",\"cid\":7}", &j);
	assert_null(j.ev.cid);				/* not a string */
	webhook_job_free(&j);

	decide(cfg, "/webhooks/stream/before-message-send",
	    "{\"message\":{\"text\":\"hi\"},\"cid\":\"messaging:x\"}", &j);
	assert_int_equal(j.ev.state, STORE_KEPT);	/* answered at once */
	webhook_job_free(&j);

	/* a hook's answer replaces the unchanged one; a failure keeps it */
	decide(cfg, "/webhooks/stream/before-message-send",
	    "{\"message\":{\"text\":\"hi\"}}", &j);
	webhook_finish(&j, NULL, STORE_STORED, 1000);
	assert_string_equal(j.reply, "{\"message\":{\"text\":\"hi\"}}");
	webhook_hooked(&j, 200, NULL, 0, "hook timeout");
	assert_string_equal(j.reply, "{\"message\":{\"text\":\"hi\"}}");
	assert_string_equal(j.reason, "hook timeout");
	webhook_hooked(&j, 201, strdup("{\"message\":{\"text\":\"HI\"}}"),
	    strlen("{\"message\":{\"text\":\"HI\"}}"), "hook answered");
	assert_int_equal(j.status, 201);
	assert_string_equal(j.reply, "{\"message\":{\"text\":\"HI\"}}");
	webhook_job_free(&j);

	config_free(cfg);
	free(cfg);
}

/* ---- the request ---- */

#define SIG	"0123456789abcdef0123456789abcdef" \
		"0123456789abcdef0123456789abcdef"

/* 1 when the header list has exactly this line. */
static int
has_header(const struct curl_slist *l, const char *line)
{
	for (; l != NULL; l = l->next)
		if (strcmp(l->data, line) == 0)
			return 1;
	return 0;
}

/* The header lines upstream.c sends for deliver_msg's request, built the
 * way the worker builds it; h is freed by the caller. */
static struct curl_slist *
msg_headers(CURL *c, const struct store_record *rec, int tries,
    struct upstream_msg *m)
{
	struct curl_slist *h = NULL;
	char err[128];

	deliver_msg(m, rec, tries, "/webhooks/stream/push");
	m->url = "http://127.0.0.1:9/";
	m->timeout_ms = 1000;
	curl_easy_reset(c);
	if (upstream_prepare(c, m, NULL, &h, err, sizeof(err)) != 0)
		fail_msg("upstream_prepare: %s", err);
	return h;
}

static void
test_msg_headers(void **state)
{
	static const char body[] = "{\"type\":\"user.updated\"}";
	struct store_record rec;
	struct upstream_msg m;
	struct curl_slist *h;
	CURL *c = curl_easy_init();

	(void)state;
	assert_non_null(c);
	memset(&rec, 0, sizeof(rec));
	rec.seq = 77;
	snprintf(rec.webhook_id, sizeof(rec.webhook_id), "wh-1");
	snprintf(rec.api_key, sizeof(rec.api_key), "k1");
	snprintf(rec.signature, sizeof(rec.signature), "%s", SIG);
	snprintf(rec.target, sizeof(rec.target), "/webhooks/stream/push?a=1");
	rec.attempt = 2;
	rec.body = (uint8_t *)body;
	rec.body_len = sizeof(body) - 1;

	/* the first attempt: Stream's signature and attempt, ours is 1 */
	h = msg_headers(c, &rec, 0, &m);
	assert_true(has_header(h, "X-Signature: " SIG));
	assert_true(has_header(h, "X-Streamgate-Delivery-Attempt: 1"));
	assert_true(has_header(h, "X-Webhook-Attempt: 2"));
	assert_true(has_header(h, "X-Webhook-Id: wh-1"));
	assert_true(has_header(h, "X-Api-Key: k1"));
	assert_true(has_header(h, "X-Streamgate-Seq: 77"));
	assert_true(has_header(h, "X-Streamgate-Verified: 1"));
	curl_slist_free_all(h);
	/* the request's own target, and the exact stored bytes */
	assert_string_equal(m.target, "/webhooks/stream/push?a=1");
	assert_ptr_equal(m.body, rec.body);
	assert_int_equal(m.body_len, sizeof(body) - 1);

	/* after two failed attempts: the third, Stream's attempt unchanged */
	h = msg_headers(c, &rec, 2, &m);
	assert_true(has_header(h, "X-Streamgate-Delivery-Attempt: 3"));
	assert_false(has_header(h, "X-Streamgate-Delivery-Attempt: 1"));
	assert_true(has_header(h, "X-Webhook-Attempt: 2"));
	assert_true(has_header(h, "X-Signature: " SIG));
	curl_slist_free_all(h);

	/* an event stored before signatures and targets were kept: no
	 * X-Signature at all, the configured route */
	rec.signature[0] = '\0';
	rec.target[0] = '\0';
	h = msg_headers(c, &rec, 0, &m);
	for (struct curl_slist *l = h; l != NULL; l = l->next)
		assert_null(strstr(l->data, "X-Signature"));
	assert_true(has_header(h, "X-Streamgate-Delivery-Attempt: 1"));
	assert_string_equal(m.target, "/webhooks/stream/push");
	curl_slist_free_all(h);

	/* a stored value that is not hex (another writer's, in a shared
	 * Redis) is not made a header: no injected line */
	snprintf(rec.signature, sizeof(rec.signature), "ab\r\nX-Evil: 1");
	h = msg_headers(c, &rec, 0, &m);
	assert_null(m.signature);
	for (struct curl_slist *l = h; l != NULL; l = l->next)
		assert_null(strstr(l->data, "X-Evil"));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void
test_upstream_redact(void **state)
{
	char b[256];

	(void)state;
	upstream_redact("https://u:pw@app.example/hook?x=1", b, sizeof(b));
	assert_string_equal(b, "https://***@app.example/hook?x=1");
	upstream_redact("http://app.example/a@b", b, sizeof(b));
	assert_string_equal(b, "http://app.example/a@b");
	upstream_redact("unix:/run/app.sock", b, sizeof(b));
	assert_string_equal(b, "unix:/run/app.sock");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_bounds_and_growth),
		cmocka_unit_test(test_backoff_cap),
		cmocka_unit_test(test_order_per_key),
		cmocka_unit_test(test_order_no_head_of_line_blocking),
		cmocka_unit_test(test_order_dead_unblocks),
		cmocka_unit_test(test_order_replay_and_limits),
		cmocka_unit_test(test_order_done_then_readd),
		cmocka_unit_test(test_order_many_channels),
		cmocka_unit_test(test_order_matches_scan),
		cmocka_unit_test(test_webhook_cid_and_state),
		cmocka_unit_test(test_msg_headers),
		cmocka_unit_test(test_upstream_redact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
