/*
 * dedup.h: webhook ids known to be durable, kept in memory for the dedup
 * window, so a retry Stream sends while the first copy is already stored is
 * answered at once without touching the store.  The store's UNIQUE
 * webhook_id is the authority (it also catches ids from before a restart,
 * and copies that arrive together); this cache only saves the round trip.
 */
#ifndef SG_DEDUP_H
#define SG_DEDUP_H

#include <stddef.h>
#include <stdint.h>

struct dedup;

/* window in seconds; at most max ids remembered (oldest forgotten first) */
struct dedup *dedup_new(unsigned window_s, size_t max);
void	dedup_free(struct dedup *d);
/* 1 when id was recorded durable within the window before now_ms */
int	dedup_seen(struct dedup *d, const char *id, int64_t now_ms);
/* record id as durable at now_ms */
void	dedup_add(struct dedup *d, const char *id, int64_t now_ms);
size_t	dedup_size(struct dedup *d);

#endif
