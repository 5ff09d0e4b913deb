/*
 * metrics.c: see metrics.h.  Outcomes are the ones an operator acts on:
 * a rise in bad_signature means a secret changed, unknown_key a new app,
 * store_error a disk in trouble.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

enum outcome {
	MO_OK, MO_DUPLICATE, MO_BAD_SIGNATURE, MO_UNKNOWN_KEY, MO_BAD_REQUEST,
	MO_TOO_LARGE, MO_STORE_ERROR, MO_NOT_FOUND, MO_COUNT
};

static const char *outcome_names[MO_COUNT] = {
	"ok", "duplicate", "bad_signature", "unknown_key", "bad_request",
	"too_large", "store_error", "not_found",
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

static enum outcome
outcome_of(int status, const char *reason)
{
	reason = reason ? reason : "";
	if (status == 200)
		return strcmp(reason, "duplicate") == 0 ? MO_DUPLICATE : MO_OK;
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

#define LOAD(x)	((unsigned long long)atomic_load_explicit(&(x), \
		    memory_order_relaxed))

char *
metrics_render(struct store *store, struct dedup *dedup, int nconns,
    size_t *len)
{
	struct store_stats st;
	unsigned long long cum = 0;
	char *buf = NULL;
	size_t size = 0;
	FILE *fp;
	int r, o, b;

	if ((fp = open_memstream(&buf, &size)) == NULL)
		return NULL;
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
	store_stats(store, &st);
	fprintf(fp, "# TYPE streamgate_store_commits_total counter\n"
	    "streamgate_store_commits_total %llu\n"
	    "# TYPE streamgate_store_events_total counter\n"
	    "streamgate_store_events_total %llu\n"
	    "# TYPE streamgate_store_duplicates_total counter\n"
	    "streamgate_store_duplicates_total %llu\n"
	    "# TYPE streamgate_store_failures_total counter\n"
	    "streamgate_store_failures_total %llu\n"
	    "# TYPE streamgate_dedup_ids gauge\nstreamgate_dedup_ids %zu\n"
	    "# TYPE streamgate_connections gauge\nstreamgate_connections %d\n",
	    (unsigned long long)st.commits, (unsigned long long)st.events,
	    (unsigned long long)st.duplicates, (unsigned long long)st.failures,
	    dedup_size(dedup), nconns);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
