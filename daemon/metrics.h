/*
 * metrics.h: counters for /metrics (Prometheus text format): requests by
 * route and outcome, a latency histogram, and the store's and dedup's
 * gauges.  Recording is a few relaxed atomic adds: no lock on the request
 * path.
 */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "dedup.h"
#include "store.h"
#include "webhook.h"

void	metrics_record(enum webhook_route route, int status,
	    const char *reason, int64_t latency_us);
/* The exposition into a malloc'd buffer; NULL when out of memory. */
char	*metrics_render(struct store *store, struct dedup *dedup, int nconns,
	    size_t *len);

#endif
