/*
 * pipeline.c: decide → store → hook → answer (see pipeline.h).
 *
 * webhook_decide answers at once (errors, health, a duplicate known from
 * memory) or makes an event, which goes to the store; the store's writer
 * hands the request back with the result, and webhook_finish makes the
 * answer.  A synchronous hook with an upstream then goes on to the hook
 * thread, which hands it back the same way; only then is it answered.
 * The writer and the hook thread touch nothing but the request's result
 * and call wake(): all the rest runs on the request's worker.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hook.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"

struct pipeline {
	struct store		*store;
	struct dedup		*dedup;
	_Atomic(struct hook *)	 hook;		/* NULL: no forwarding */
};

struct pipeline *
pipeline_new(struct store *store, struct dedup *dedup)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));

	if (pl == NULL)
		return NULL;
	pl->store = store;
	pl->dedup = dedup;
	return pl;
}

void
pipeline_set_hook(struct pipeline *pl, struct hook *h)
{
	atomic_store(&pl->hook, h);
}

void
pipeline_free(struct pipeline *pl)
{
	free(pl);
}

void
pipeline_req_init(struct pipeline_req *r, struct pipeline *pl,
    struct reqlog *log, const char *remote, void (*wake)(void *), void *arg)
{
	r->pl = pl;
	r->log = log;
	r->remote = remote;
	r->wake = wake;
	r->arg = arg;
}

void
pipeline_req_free(struct pipeline_req *r)
{
	webhook_job_free(&r->job);
	hook_call_free(r->hook);
	r->hook = NULL;
}

/* On the store's writer. */
static void
back_from_store(struct store_event *ev, enum store_result res, void *arg)
{
	struct pipeline_req *r = arg;

	(void)ev;
	r->result = res;
	r->wake(r->arg);
}

/* On the hook thread. */
static void
back_from_hook(struct hook_call *h, void *arg)
{
	struct pipeline_req *r = arg;

	(void)h;
	r->wake(r->arg);
}

/* What a hook call must carry: copies, never a pointer into cfg. */
static struct hook_call *
call_make(struct pipeline_req *r, const struct config *cfg, const char *url,
    int64_t seq)
{
	struct webhook_job *j = &r->job;
	struct hook_call *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->route = j->route;
	snprintf(h->url, sizeof(h->url), "%s", url);
	snprintf(h->ca_file, sizeof(h->ca_file), "%s", cfg->upstream_ca_file);
	snprintf(h->target, sizeof(h->target), "%s", r->http->target);
	snprintf(h->command, sizeof(h->command), "%s", j->command);
	snprintf(h->webhook_id, sizeof(h->webhook_id), "%s", j->webhook_id);
	snprintf(h->api_key, sizeof(h->api_key), "%s", j->api_key);
	snprintf(h->signature, sizeof(h->signature), "%s", j->signature);
	h->attempt = j->attempt > 0 ? j->attempt : 1;
	h->seq = seq;
	h->body = j->body;
	h->body_len = j->body_len;
	h->reply_max = cfg->limits.body_bytes;
	/* Stream's clock starts at its first byte, not at our answer */
	h->deadline_us = r->started_us + 1000 * (int64_t)(j->route == WR_BMS ?
	    cfg->hook_deadline_ms.before_message_send :
	    cfg->hook_deadline_ms.custom_commands);
	h->done = back_from_hook;
	h->arg = r;
	return h;
}

/*
 * A synchronous hook the store made durable (or knew already): when its
 * route has an upstream, send it there and wait.  0 when it went, -1 to
 * answer now (no upstream, or no memory: the "unchanged" answer
 * webhook_finish made).
 */
static int
forward_begin(struct pipeline_req *r, const struct config *cfg, int64_t seq)
{
	struct hook *hk = atomic_load(&r->pl->hook);
	struct webhook_job *j = &r->job;
	const char *url;

	if (hk == NULL || j->status != 200 ||
	    (j->route != WR_BMS && j->route != WR_COMMAND))
		return -1;
	url = config_upstream(cfg, j->route == WR_BMS ? CR_BMS : CR_COMMANDS);
	if (url[0] == '\0' || (r->hook = call_make(r, cfg, url, seq)) == NULL)
		return -1;
	hook_submit(hk, r->hook);
	return 0;
}

/* The hook thread is done: the app's answer, or the unchanged one. */
static void
forward_end(struct pipeline_req *r)
{
	struct hook_call *h = r->hook;

	webhook_hooked(&r->job, h->status, h->outcome == HO_ANSWERED ?
	    h->reply : NULL, h->reply_len, hook_reason(h->outcome));
	if (h->outcome == HO_ANSWERED)
		h->reply = NULL;
	hook_call_free(h);
	r->hook = NULL;
}

/* The answer is known: log it, and hand it over with its memory. */
static enum pipeline_step
answer(struct pipeline_req *r)
{
	struct webhook_job *j = &r->job;
	struct pipeline_answer *a = &r->answer;

	a->status = j->status;
	a->body = j->reply ? j->reply : "";
	a->len = j->reply_len;
	a->close = j->close || !r->http->keep_alive;
	a->owned = j->reply;
	j->reply = NULL;
	reqlog_add(r->log, r->remote, r->http->target, j, j->status,
	    j->reason, r->started_us);
	webhook_job_free(j);
	memset(j, 0, sizeof(*j));
	return PIPELINE_ANSWERED;
}

enum pipeline_step
pipeline_begin(struct pipeline_req *r, const struct config *cfg,
    struct http_request *req, int64_t started_us)
{
	r->http = req;
	r->started_us = started_us;
	webhook_decide(cfg, r->pl->dedup, req, clock_unix_ms(), &r->job);
	/* webhook.c answers /healthz without the store: a store broken until
	 * a restart (its files deleted) makes it 503 here */
	if (r->job.route == WR_HEALTH && r->job.status == 200 &&
	    store_broken(r->pl->store))
		webhook_unhealthy(&r->job);
	if (r->job.status != 0) {
		/* a duplicate known from memory is forwarded too */
		if (forward_begin(r, cfg, 0) == 0)
			return PIPELINE_WAITING;
		return answer(r);
	}
	r->job.ev.done = back_from_store;
	r->job.ev.arg = r;
	store_submit(r->pl->store, &r->job.ev);
	return PIPELINE_WAITING;
}

enum pipeline_step
pipeline_expect(struct pipeline_req *r, const struct config *cfg,
    struct http_request *req, int64_t started_us)
{
	if (!webhook_headers(cfg, req, &r->job))
		return PIPELINE_CONTINUE;
	r->http = req;
	r->started_us = started_us;
	r->job.close = 1;	/* the body, if it comes, is not read */
	return answer(r);
}

/*
 * A synchronous hook the store could not take is answered unchanged (see
 * webhook_finish) and not forwarded: the app hears of stored events
 * only.  Said once per event, as Stream will not send it again.
 */
static void
hook_unstored(const struct webhook_job *j)
{
	log_warnx("%s: %s %s: not stored (store unavailable); Stream gets "
	    "the message unchanged", __func__, webhook_kind_name(j->route),
	    j->webhook_id);
}

enum pipeline_step
pipeline_resume(struct pipeline_req *r, const struct config *cfg)
{
	if (r->hook != NULL)
		forward_end(r);
	else {
		webhook_finish(&r->job, r->pl->dedup, r->result,
		    clock_unix_ms());
		if (r->result == STORE_FAILED && r->job.route != WR_PUSH)
			hook_unstored(&r->job);
		else if (forward_begin(r, cfg, r->result == STORE_STORED ?
		    r->job.ev.seq : 0) == 0)
			return PIPELINE_WAITING;
	}
	return answer(r);
}

/* An answer of the scrape that is no exposition: a constant. */
static void
scrape_refuse(struct pipeline_answer *a, int status, const char *body)
{
	a->status = status;
	a->body = body;
	a->len = strlen(body);
}

void
pipeline_scrape(struct pipeline_req *r, const struct http_request *req,
    int nconns)
{
	struct pipeline_answer *a = &r->answer;

	memset(a, 0, sizeof(*a));
	if (strcmp(req->target, "/metrics") != 0)
		scrape_refuse(a, 404, "{\"error\":\"no such route\"}");
	else if (req->method != HTTP_GET)
		scrape_refuse(a, 405, "{\"error\":\"method not allowed\"}");
	else if ((a->owned = metrics_render(r->pl->store, r->pl->dedup,
	    nconns, &a->len)) == NULL)
		scrape_refuse(a, 503, "{\"error\":\"out of memory\"}");
	else {
		a->status = 200;
		a->body = a->owned;
		a->close = !req->keep_alive;
	}
}
