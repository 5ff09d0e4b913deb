/*
 * hook.c: the synchronous hooks (see hook.h).
 *
 * Stream waits a set time for an answer (Before-Message-Send 1.5 s by
 * default, up to 5 s as the app chose; Custom Commands about 1 s), so each
 * call has a deadline counted from the request's first byte
 * (hook_deadline_ms, per hook), and the transfer's timeout is what is
 * left of it.  Anything but a 2xx with a JSON object in time leaves the
 * worker's answer as it is: Stream's own "unchanged" ({"message": <the
 * received message>}).
 * The event is then marked delivered (the app answered) or kept, with why.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "clock.h"
#include "hook.h"
#include "log.h"
#include "metrics.h"
#include "upstream.h"

#define HANDLES_KEPT	64	/* idle easy handles kept for reuse */
#define POLL_MS		1000

/* The transfer of one call. */
struct hook_xfer {
	CURL			*h;
	struct curl_slist	*hdrs;
	struct upstream_reply	 reply;
};

struct hook {
	struct store		*store;
	CURLM			*multi;
	pthread_t		 thread;
	int			 started;
	atomic_int		 stopping;
	pthread_mutex_t		 lock;		/* guards the queue */
	struct hook_call	*head, **tail;
	/* the thread's own */
	int			 inflight;
	CURL			*spare[HANDLES_KEPT];
	int			 nspare;
	int			 failing[2];	/* BMS, commands: for the log */
};

_Static_assert(HO_COUNT == METRICS_HOOK_OUTCOMES,
    "metrics.c labels every hook outcome");

static const char *reasons[HO_COUNT] = {
	"hook answered", "hook timeout", "hook error", "hook status",
	"hook bad body",
};

const char *
hook_reason(enum hook_outcome outcome)
{
	return (unsigned)outcome < HO_COUNT ? reasons[outcome] : "hook error";
}

static CURL *
handle_get(struct hook *hk)
{
	CURL *h;

	if (hk->nspare == 0)
		return curl_easy_init();
	h = hk->spare[--hk->nspare];
	curl_easy_reset(h);
	return h;
}

static void
xfer_free(struct hook *hk, struct hook_xfer *x)
{
	if (x == NULL)
		return;
	if (x->h != NULL && hk->nspare < HANDLES_KEPT)
		hk->spare[hk->nspare++] = x->h;
	else if (x->h != NULL)
		curl_easy_cleanup(x->h);
	curl_slist_free_all(x->hdrs);
	upstream_reply_free(&x->reply);
	free(x);
}

/* Say when a route's app starts or stops answering, not every time. */
static void
failing_log(struct hook *hk, const struct hook_call *c)
{
	int *f = &hk->failing[c->route == WR_COMMAND];
	char url[CONFIG_PATH_LEN];

	if ((c->outcome != HO_ANSWERED) == *f)
		return;
	*f = c->outcome != HO_ANSWERED;
	upstream_redact(c->url, url, sizeof(url));
	if (*f)
		log_warnx("hook: %s %s: %s; Stream gets the message unchanged",
		    webhook_kind_name(c->route), url, c->error);
	else
		log_info("hook: %s %s: answering again",
		    webhook_kind_name(c->route), url);
}

static void
call_mark(struct hook *hk, const struct hook_call *c)
{
	struct store_mark m;

	if (c->seq <= 0)
		return;		/* a duplicate: its first copy was marked */
	memset(&m, 0, sizeof(m));
	m.seq = c->seq;
	m.state = c->outcome == HO_ANSWERED ? STORE_DELIVERED : STORE_KEPT;
	m.tries = 1;
	m.at = clock_unix_ms();
	snprintf(m.error, sizeof(m.error), "%s", c->error);
	store_mark(hk->store, &m);
}

/* The call's fate is known: record it and give it back. */
static void
call_end(struct hook *hk, struct hook_call *c, enum hook_outcome outcome,
    const char *why)
{
	struct hook_xfer *x = c->priv;

	c->outcome = outcome;
	snprintf(c->error, sizeof(c->error), "%s", why);
	if (outcome == HO_ANSWERED) {
		c->reply = x->reply.data;
		c->reply_len = x->reply.len;
		x->reply.data = NULL;
	}
	xfer_free(hk, x);
	c->priv = NULL;
	call_mark(hk, c);
	metrics_hook(c->route, outcome);
	failing_log(hk, c);
	c->done(c, c->arg);
}

static void
call_start(struct hook *hk, struct hook_call *c)
{
	int64_t left_ms = (c->deadline_us - clock_mono_us()) / 1000;
	struct upstream_msg m;
	struct hook_xfer *x;
	char err[128];

	if (left_ms <= 0) {
		call_end(hk, c, HO_TIMEOUT, "deadline passed before sending");
		return;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->h = handle_get(hk)) == NULL) {
		free(x);
		call_end(hk, c, HO_ERROR, "out of memory");
		return;
	}
	c->priv = x;
	memset(&m, 0, sizeof(m));
	m.url = c->url;
	m.ca_file = c->ca_file;
	m.target = c->target;
	m.command = c->route == WR_COMMAND ? c->command : NULL;
	m.webhook_id = c->webhook_id;
	m.api_key = c->api_key;
	m.signature = c->signature;
	m.attempt = c->attempt;
	m.seq = c->seq;
	m.body = c->body;
	m.body_len = c->body_len;
	m.timeout_ms = (long)left_ms;
	x->reply.max = c->reply_max;
	if (upstream_start(hk->multi, x->h, &m, &x->reply, &x->hdrs, c, err,
	    sizeof(err)) != 0) {
		call_end(hk, c, HO_ERROR, err);
		return;
	}
	hk->inflight++;
}

static int
json_object(const char *s, size_t len)
{
	cJSON *root;
	int ok;

	if (s == NULL || len == 0)
		return 0;
	root = cJSON_ParseWithLength(s, len);
	ok = cJSON_IsObject(root);
	cJSON_Delete(root);
	return ok;
}

static enum hook_outcome
classify(struct hook_call *c, CURLcode rc, char *why, size_t len)
{
	struct hook_xfer *x = c->priv;
	long status = 0;

	upstream_reason(x->h, rc, &x->reply, why, len);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return HO_TIMEOUT;
	if (rc == CURLE_WRITE_ERROR && x->reply.over)
		return HO_BAD_BODY;
	if (rc != CURLE_OK)
		return HO_ERROR;
	if (why[0] != '\0')
		return HO_STATUS;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	c->status = (int)status;
	if (!json_object(x->reply.data, x->reply.len)) {
		snprintf(why, len, "reply is not a JSON object");
		return HO_BAD_BODY;
	}
	return HO_ANSWERED;
}

static void
collect(struct hook *hk)
{
	struct hook_call *c;
	enum hook_outcome outcome;
	char why[128];
	CURLcode rc;
	CURL *h;

	while ((c = upstream_finished(hk->multi, MU_HOOK, &h, &rc)) != NULL) {
		outcome = classify(c, rc, why, sizeof(why));
		hk->inflight--;
		call_end(hk, c, outcome, why);
	}
}

/* The queue, taken whole; *idle when the thread may leave. */
static struct hook_call *
queue_take(struct hook *hk, int *idle)
{
	struct hook_call *c;

	pthread_mutex_lock(&hk->lock);
	c = hk->head;
	hk->head = NULL;
	hk->tail = &hk->head;
	*idle = c == NULL && hk->inflight == 0 && atomic_load(&hk->stopping);
	pthread_mutex_unlock(&hk->lock);
	return c;
}

static void *
hook_main(void *arg)
{
	struct hook *hk = arg;
	struct hook_call *c, *next;
	int running, idle;

	for (;;) {
		for (c = queue_take(hk, &idle); c != NULL; c = next) {
			next = c->next;
			call_start(hk, c);
		}
		if (idle)
			break;
		curl_multi_perform(hk->multi, &running);
		collect(hk);
		curl_multi_poll(hk->multi, NULL, 0, POLL_MS, NULL);
	}
	return NULL;
}

struct hook *
hook_new(struct store *store, char *err, size_t errlen)
{
	struct hook *hk = calloc(1, sizeof(*hk));

	if (hk == NULL || (hk->multi = curl_multi_init()) == NULL) {
		free(hk);
		log_errbuf(err, errlen, "hook: out of memory");
		return NULL;
	}
	hk->store = store;
	hk->tail = &hk->head;
	pthread_mutex_init(&hk->lock, NULL);
	return hk;
}

int
hook_start(struct hook *hk)
{
	if ((errno = pthread_create(&hk->thread, NULL, hook_main, hk)) != 0) {
		log_warn("hook: thread");
		return -1;
	}
	(void)pthread_setname_np(hk->thread, "sg-hook");	/* top -H */
	hk->started = 1;
	return 0;
}

void
hook_submit(struct hook *hk, struct hook_call *c)
{
	c->next = NULL;
	pthread_mutex_lock(&hk->lock);
	*hk->tail = c;
	hk->tail = &c->next;
	pthread_mutex_unlock(&hk->lock);
	curl_multi_wakeup(hk->multi);
}

void
hook_stop(struct hook *hk)
{
	if (hk == NULL || !hk->started)
		return;
	atomic_store(&hk->stopping, 1);
	curl_multi_wakeup(hk->multi);
	pthread_join(hk->thread, NULL);
	hk->started = 0;
}

void
hook_free(struct hook *hk)
{
	if (hk == NULL)
		return;
	while (hk->nspare > 0)
		curl_easy_cleanup(hk->spare[--hk->nspare]);
	curl_multi_cleanup(hk->multi);
	pthread_mutex_destroy(&hk->lock);
	free(hk);
}

void
hook_call_free(struct hook_call *c)
{
	if (c == NULL)
		return;
	free(c->reply);
	free(c);
}
