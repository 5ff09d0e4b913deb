/*
 * metrics.c: see metrics.h.  Outcomes are the ones an operator acts on:
 * a rise in bad_signature means a secret changed, unknown_key a new app,
 * store_error a disk in trouble (a push answered 503, a hook 200 with the
 * message unchanged), duplicate_mismatch a sender reusing an id for
 * another body (answered as a duplicate: that body is not stored).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "metrics.h"
#include "version.h"

enum outcome {
	MO_OK, MO_DUPLICATE, MO_BAD_SIGNATURE, MO_UNKNOWN_KEY, MO_BAD_REQUEST,
	MO_TOO_LARGE, MO_STORE_ERROR, MO_NOT_FOUND, MO_DUPLICATE_MISMATCH,
	MO_COUNT
};

static const char *outcome_names[MO_COUNT] = {
	"ok", "duplicate", "bad_signature", "unknown_key", "bad_request",
	"too_large", "store_error", "not_found", "duplicate_mismatch",
};

#define NROUTES		(WR_HEALTH + 1)
#define NBUCKETS	14

/* upper bounds in µs; the last bucket is +Inf */
static const int64_t bounds_us[NBUCKETS - 1] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000,
};

static atomic_uint_fast64_t requests[NROUTES][MO_COUNT];
static atomic_uint_fast64_t buckets[NBUCKETS];
static atomic_uint_fast64_t latency_sum_us, latency_count;

static const char *delivery_names[MD_COUNT] = {
	"delivered", "retry", "dead",
};
/* in the order of enum hook_outcome (hook.h) */
static const char *hook_names[METRICS_HOOK_OUTCOMES] = {
	"answered", "timeout", "error", "status", "bad_body",
};
static const char *upstream_names[MU_COUNT] = { "push", "hook" };

/* An upstream answers in ms to s; a push attempt may take its whole
 * timeout (10 s by default). */
#define UBUCKETS	14
static const int64_t ubounds_us[UBUCKETS - 1] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

static atomic_uint_fast64_t deliveries[MD_COUNT], resends;
static atomic_uint_fast64_t hooks[NROUTES][METRICS_HOOK_OUTCOMES];
static atomic_uint_fast64_t ubuckets[MU_COUNT][UBUCKETS];
static atomic_uint_fast64_t usum_us[MU_COUNT], ucount[MU_COUNT];

/* One scrape at a time talks to the helper (metrics are on worker 0,
 * the lock only makes that no assumption). */
static struct sysstats *sysstats;
static pthread_mutex_t sysstats_lock = PTHREAD_MUTEX_INITIALIZER;

static enum outcome
outcome_of(int status, const char *reason)
{
	reason = reason ? reason : "";
	if (status >= 200 && status <= 299) {	/* a hook passes the app's */
		if (strcmp(reason, WEBHOOK_DUPLICATE) == 0)
			return MO_DUPLICATE;
		if (strcmp(reason, WEBHOOK_MISMATCH) == 0)
			return MO_DUPLICATE_MISMATCH;
		/* a hook the store failed is answered 200, unchanged */
		return strcmp(reason, WEBHOOK_STORE_FAILED) == 0 ?
		    MO_STORE_ERROR : MO_OK;
	}
	if (status == 401)
		return strcmp(reason, "unknown api key") == 0 ?
		    MO_UNKNOWN_KEY : MO_BAD_SIGNATURE;
	if (status == 413 || status == 414 || status == 431)
		return MO_TOO_LARGE;
	if (status == 503)
		return MO_STORE_ERROR;
	if (status == 404 || status == 405)
		return MO_NOT_FOUND;
	return MO_BAD_REQUEST;
}

void
metrics_record(enum webhook_route route, int status, const char *reason,
    int64_t latency_us)
{
	int b = 0;

	if ((int)route < 0 || route >= NROUTES)
		route = WR_NONE;
	atomic_fetch_add_explicit(&requests[route][outcome_of(status, reason)],
	    1, memory_order_relaxed);
	while (b < NBUCKETS - 1 && latency_us > bounds_us[b])
		b++;
	atomic_fetch_add_explicit(&buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&latency_sum_us, (uint64_t)latency_us,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&latency_count, 1, memory_order_relaxed);
}

void
metrics_delivery(enum metrics_delivery outcome, int resend)
{
	if ((int)outcome < 0 || outcome >= MD_COUNT)
		return;
	atomic_fetch_add_explicit(&deliveries[outcome], 1,
	    memory_order_relaxed);
	if (resend)
		atomic_fetch_add_explicit(&resends, 1, memory_order_relaxed);
}

void
metrics_hook(enum webhook_route route, unsigned outcome)
{
	if ((int)route < 0 || route >= NROUTES)
		route = WR_NONE;
	if (outcome >= METRICS_HOOK_OUTCOMES)
		return;
	atomic_fetch_add_explicit(&hooks[route][outcome], 1,
	    memory_order_relaxed);
}

void
metrics_upstream(enum metrics_upstream kind, int64_t latency_us)
{
	int b = 0;

	if ((int)kind < 0 || kind >= MU_COUNT)
		return;
	if (latency_us < 0)
		latency_us = 0;
	while (b < UBUCKETS - 1 && latency_us > ubounds_us[b])
		b++;
	atomic_fetch_add_explicit(&ubuckets[kind][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&usum_us[kind], (uint64_t)latency_us,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&ucount[kind], 1, memory_order_relaxed);
}

#define LOAD(x)	((unsigned long long)atomic_load_explicit(&(x), \
		    memory_order_relaxed))

static void
render_requests(FILE *fp)
{
	unsigned long long cum = 0;
	int r, o, b;

	fprintf(fp, "# HELP streamgate_requests_total Requests by route and "
	    "outcome.\n# TYPE streamgate_requests_total counter\n");
	for (r = 0; r < NROUTES; r++)
		for (o = 0; o < MO_COUNT; o++)
			fprintf(fp, "streamgate_requests_total{route=\"%s\","
			    "outcome=\"%s\"} %llu\n", webhook_kind_name(r),
			    outcome_names[o], LOAD(requests[r][o]));
	fprintf(fp, "# HELP streamgate_request_duration_seconds From the "
	    "request's first byte to its answer.\n"
	    "# TYPE streamgate_request_duration_seconds histogram\n");
	for (b = 0; b < NBUCKETS; b++) {
		cum += LOAD(buckets[b]);
		if (b < NBUCKETS - 1)
			fprintf(fp, "streamgate_request_duration_seconds_bucket"
			    "{le=\"%g\"} %llu\n", bounds_us[b] / 1e6, cum);
		else
			fprintf(fp, "streamgate_request_duration_seconds_bucket"
			    "{le=\"+Inf\"} %llu\n", cum);
	}
	fprintf(fp, "streamgate_request_duration_seconds_sum %.6f\n"
	    "streamgate_request_duration_seconds_count %llu\n",
	    LOAD(latency_sum_us) / 1e6, LOAD(latency_count));
}

/* NATS: publish to ack (a quorum of replicas stored it), per event; an
 * empty histogram for the other stores. */
static void
render_store_ack(FILE *fp, const struct store_stats *st)
{
	static const uint64_t le[STORE_ACK_NBUCKETS] = STORE_ACK_BUCKETS;
	int i;

	fprintf(fp, "# HELP streamgate_store_ack_seconds Time from publish "
	    "to the store's ack, per event (NATS: stored on a quorum of "
	    "replicas).\n"
	    "# TYPE streamgate_store_ack_seconds histogram\n");
	for (i = 0; i < STORE_ACK_NBUCKETS; i++)
		fprintf(fp, "streamgate_store_ack_seconds_bucket{le=\"%g\"} "
		    "%llu\n", le[i] / 1e6, (unsigned long long)st->ack_le[i]);
	fprintf(fp, "streamgate_store_ack_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "streamgate_store_ack_seconds_sum %.6f\n"
	    "streamgate_store_ack_seconds_count %llu\n",
	    (unsigned long long)st->ack_count, st->ack_sum_us / 1e6,
	    (unsigned long long)st->ack_count);
}

static void
render_store(FILE *fp, const struct store_stats *st)
{
	int64_t now = clock_unix_ms(), age = 0;

	if (st->oldest_pending_ms > 0 && now > st->oldest_pending_ms)
		age = now - st->oldest_pending_ms;
	fprintf(fp, "# HELP streamgate_store_commits_total Transactions the "
	    "store committed (each holds one or more events).\n"
	    "# TYPE streamgate_store_commits_total counter\n"
	    "streamgate_store_commits_total %llu\n"
	    "# HELP streamgate_store_events_total Events the store committed.\n"
	    "# TYPE streamgate_store_events_total counter\n"
	    "streamgate_store_events_total %llu\n"
	    "# HELP streamgate_store_duplicates_total Events the store already "
	    "held (a webhook id seen before), not stored again.\n"
	    "# TYPE streamgate_store_duplicates_total counter\n"
	    "streamgate_store_duplicates_total %llu\n"
	    "# HELP streamgate_store_failures_total Events the store could "
	    "not commit (a push answered 503, a hook its message "
	    "unchanged).\n"
	    "# TYPE streamgate_store_failures_total counter\n"
	    "streamgate_store_failures_total %llu\n"
	    "# HELP streamgate_store_errors_total Errors the store's "
	    "backend reported (SQLite statements, Redis replies and I/O).\n"
	    "# TYPE streamgate_store_errors_total counter\n"
	    "streamgate_store_errors_total %llu\n"
	    "# HELP streamgate_store_reconnects_total Reconnections to the "
	    "store (Redis, NATS) after it went away.\n"
	    "# TYPE streamgate_store_reconnects_total counter\n"
	    "streamgate_store_reconnects_total %llu\n"
	    "# HELP streamgate_store_up Whether the store answers.\n"
	    "# TYPE streamgate_store_up gauge\nstreamgate_store_up %d\n"
	    "# HELP streamgate_events_pending Push events waiting for "
	    "delivery to the app.\n"
	    "# TYPE streamgate_events_pending gauge\n"
	    "streamgate_events_pending %llu\n"
	    "# HELP streamgate_events_dead Push events that ran out of "
	    "delivery attempts (streamgate inbox replay --dead).\n"
	    "# TYPE streamgate_events_dead gauge\n"
	    "streamgate_events_dead %llu\n"
	    "# HELP streamgate_oldest_pending_age_seconds Age of the oldest "
	    "event waiting for delivery; 0 when none.\n"
	    "# TYPE streamgate_oldest_pending_age_seconds gauge\n"
	    "streamgate_oldest_pending_age_seconds %.3f\n",
	    (unsigned long long)st->commits, (unsigned long long)st->events,
	    (unsigned long long)st->duplicates,
	    (unsigned long long)st->failures, (unsigned long long)st->errors,
	    (unsigned long long)st->reconnects, st->up ? 1 : 0,
	    (unsigned long long)st->pending, (unsigned long long)st->dead,
	    age / 1e3);
	/* SQLite: the writer's set of ids, the dedup authority (store_ids.h) */
	fprintf(fp, "# HELP streamgate_store_dedup_ids Webhook ids the "
	    "store's writer holds for dedup (SQLite; 0 for Redis).\n"
	    "# TYPE streamgate_store_dedup_ids gauge\n"
	    "streamgate_store_dedup_ids %llu\n"
	    "# HELP streamgate_store_dedup_bytes Memory those ids take.\n"
	    "# TYPE streamgate_store_dedup_bytes gauge\n"
	    "streamgate_store_dedup_bytes %llu\n"
	    "# HELP streamgate_store_dedup_evicted_total Ids that left "
	    "before their dedup window was over (dedup_max_ids reached).\n"
	    "# TYPE streamgate_store_dedup_evicted_total counter\n"
	    "streamgate_store_dedup_evicted_total %llu\n",
	    (unsigned long long)st->ids, (unsigned long long)st->ids_bytes,
	    (unsigned long long)st->ids_evicted);
	render_store_ack(fp, st);
}

static void
render_delivery(FILE *fp)
{
	int o;

	fprintf(fp, "# HELP streamgate_deliveries_total Push delivery "
	    "attempts by outcome.\n"
	    "# TYPE streamgate_deliveries_total counter\n");
	for (o = 0; o < MD_COUNT; o++)
		fprintf(fp, "streamgate_deliveries_total{outcome=\"%s\"} "
		    "%llu\n", delivery_names[o], LOAD(deliveries[o]));
	fprintf(fp, "# HELP streamgate_delivery_retries_total Push attempts "
	    "that re-sent an event after a failure.\n"
	    "# TYPE streamgate_delivery_retries_total counter\n"
	    "streamgate_delivery_retries_total %llu\n", LOAD(resends));
}

static void
render_hooks(FILE *fp)
{
	static const enum webhook_route routes[] = { WR_BMS, WR_COMMAND };
	size_t r;
	int o;

	fprintf(fp, "# HELP streamgate_hooks_total Synchronous hooks "
	    "forwarded, by route and outcome.\n"
	    "# TYPE streamgate_hooks_total counter\n");
	for (r = 0; r < sizeof(routes) / sizeof(routes[0]); r++)
		for (o = 0; o < METRICS_HOOK_OUTCOMES; o++)
			fprintf(fp, "streamgate_hooks_total{route=\"%s\","
			    "outcome=\"%s\"} %llu\n",
			    webhook_kind_name(routes[r]), hook_names[o],
			    LOAD(hooks[routes[r]][o]));
}

static void
render_upstream(FILE *fp)
{
	unsigned long long cum;
	const char *k;
	int i, b;

	fprintf(fp, "# HELP streamgate_upstream_latency_seconds From a "
	    "request to the app until its answer (or failure).\n"
	    "# TYPE streamgate_upstream_latency_seconds histogram\n");
	for (i = 0; i < MU_COUNT; i++) {
		k = upstream_names[i];
		cum = 0;
		for (b = 0; b < UBUCKETS; b++) {
			cum += LOAD(ubuckets[i][b]);
			fprintf(fp, "streamgate_upstream_latency_seconds_bucket"
			    "{kind=\"%s\",le=\"", k);
			if (b < UBUCKETS - 1)
				fprintf(fp, "%g\"} %llu\n", ubounds_us[b] / 1e6,
				    cum);
			else
				fprintf(fp, "+Inf\"} %llu\n", cum);
		}
		fprintf(fp, "streamgate_upstream_latency_seconds_sum"
		    "{kind=\"%s\"} %.6f\n"
		    "streamgate_upstream_latency_seconds_count{kind=\"%s\"} "
		    "%llu\n", k, LOAD(usum_us[i]) / 1e6, k, LOAD(ucount[i]));
	}
}

void
metrics_set_sysstats(struct sysstats *ss)
{
	pthread_mutex_lock(&sysstats_lock);
	sysstats = ss;
	pthread_mutex_unlock(&sysstats_lock);
}

/* The helper's lines, or only up 0 when it is gone or late: a scrape
 * waits SYSSTATS_TIMEOUT_MS for it at most. */
static void
render_sysstats(FILE *fp)
{
	int up;

	pthread_mutex_lock(&sysstats_lock);
	up = sysstats_query(sysstats, SYSSTATS_TIMEOUT_MS, fp) == 0;
	pthread_mutex_unlock(&sysstats_lock);
	fprintf(fp, "# HELP streamgate_sysstats_up Whether the privileged "
	    "helper answered with the XDP and nft counters.\n"
	    "# TYPE streamgate_sysstats_up gauge\n"
	    "streamgate_sysstats_up %d\n", up);
}

/* The _info convention: constant 1, the build in its labels. */
static void
render_build_info(FILE *fp)
{
	fprintf(fp, "# HELP streamgate_build_info The streamgated build: "
	    "version (the Makefile's) and commit (git describe); always 1.\n"
	    "# TYPE streamgate_build_info gauge\n"
	    "streamgate_build_info{version=\"%s\",commit=\"%s\"} 1\n",
	    version_number(), version_git()[0] ? version_git() : "unknown");
}

char *
metrics_render(struct store *store, struct dedup *dedup, int nconns,
    size_t *len)
{
	struct store_stats st;
	char *buf = NULL;
	size_t size = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &size)) == NULL)
		return NULL;
	render_requests(fp);
	store_stats(store, &st);
	render_store(fp, &st);
	render_delivery(fp);
	render_hooks(fp);
	render_upstream(fp);
	fprintf(fp, "# HELP streamgate_dedup_ids Webhook ids in the workers' "
	    "dedup cache (NATS only; 0 when the store keeps the whole "
	    "window).\n# TYPE streamgate_dedup_ids gauge\n"
	    "streamgate_dedup_ids %zu\n"
	    "# HELP streamgate_connections Open client connections.\n"
	    "# TYPE streamgate_connections gauge\n"
	    "streamgate_connections %d\n", dedup_size(dedup), nconns);
	render_build_info(fp);
	render_sysstats(fp);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
