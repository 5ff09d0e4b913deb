/*
 * metrics.h: counters for /metrics (Prometheus text format): requests by
 * route and outcome, a latency histogram, push deliveries and synchronous
 * hooks by outcome, the upstream's latency, and the store's and dedup's
 * gauges.  Recording is a few relaxed atomic adds: no lock on the request
 * path.  The XDP and nft counters come from the sysstats helper, asked
 * with a deadline on each scrape.
 */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "dedup.h"
#include "store.h"
#include "sysstats.h"
#include "webhook.h"

void	metrics_record(enum webhook_route route, int status,
	    const char *reason, int64_t latency_us);

/* One push delivery attempt's outcome (deliver.c). */
enum metrics_delivery { MD_DELIVERED, MD_RETRY, MD_DEAD, MD_COUNT };
void	metrics_delivery(enum metrics_delivery outcome, int resend);

/*
 * One synchronous hook's outcome (hook.c): an enum hook_outcome (hook.h),
 * counted by its number.  hook.c records here, so this file takes nothing
 * from hook.h; hook.c checks that the counts agree, and the labels in
 * metrics.c follow the enum's order.
 */
#define METRICS_HOOK_OUTCOMES	5
void	metrics_hook(enum webhook_route route, unsigned outcome);

/* Time to the upstream's answer, whatever it was. */
enum metrics_upstream { MU_PUSH, MU_HOOK, MU_COUNT };
void	metrics_upstream(enum metrics_upstream kind, int64_t latency_us);
/* The helper that reads the XDP and nft counters (NULL: none, and
 * streamgate_sysstats_up says 0).  Set once, before any worker runs. */
void	metrics_set_sysstats(struct sysstats *ss);
/* The exposition into a malloc'd buffer; NULL when out of memory. */
char	*metrics_render(struct store *store, struct dedup *dedup, int nconns,
	    size_t *len);

#endif
