/*
 * dedup.h: webhook ids known to be durable, kept in memory for the dedup
 * window, so a retry Stream sends while the first copy is already stored is
 * answered at once without touching the store.  The store is the
 * authority (SQLite: its writer's in-memory id set; Redis: the claim key;
 * NATS: JetStream's Msg-Id window): it also catches ids from before a
 * restart, and copies that arrive together; this cache only saves the
 * round trip.
 *
 * An id is one event per API key: two apps behind one daemon may send the
 * same X-Webhook-Id, and one app's id must not drop the other's event.
 * Beside each id the cache keeps the first bytes of the stored copy's body
 * SHA-256, so a copy with another body is told apart from a retry.
 */
#ifndef SG_DEDUP_H
#define SG_DEDUP_H

#include <stddef.h>
#include <stdint.h>

/* The bytes of a body's SHA-256 kept per id: 16 hex digits' worth. */
#define DEDUP_HASH_LEN	8

struct dedup;

/* window in seconds; at most max ids remembered (oldest forgotten first).
 * A NULL cache (none: the store keeps the whole window) knows no id,
 * records nothing and holds 0. */
struct dedup *dedup_new(unsigned window_s, size_t max);
void	dedup_free(struct dedup *d);
/*
 * 1 when api_key's id was recorded durable within the window before
 * now_ms, with the stored copy's hash in hash (when hash is not NULL) and
 * *known 1, or *known 0 when it was recorded without one; else 0.
 */
int	dedup_seen(struct dedup *d, const char *api_key, const char *id,
	    int64_t now_ms, uint8_t hash[DEDUP_HASH_LEN], int *known);
/* Record api_key's id as durable at now_ms, with the stored copy's hash
 * (NULL: not known). */
void	dedup_add(struct dedup *d, const char *api_key, const char *id,
	    const uint8_t hash[DEDUP_HASH_LEN], int64_t now_ms);
size_t	dedup_size(struct dedup *d);

#endif
