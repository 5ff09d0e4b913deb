/*
 * inbox.h: `streamgate inbox`, the events streamgated stored, shown.  The
 * store reads, counts and replays them (store_admin.h: never creating the
 * database, read-only but for replay, safe while the daemon runs); this
 * is their presentation: tables, JSON, cleaned text, exit statuses.
 */
#ifndef SG_INBOX_H
#define SG_INBOX_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* The daemon's default store (config_defaults). */
#define INBOX_STORE_DEFAULT	"sqlite:./var/streamgate.db"
#define INBOX_LIMIT_DEFAULT	100
#define INBOX_LIMIT_MAX		1000000

/* A sequence number: decimal digits, 0 to INT64_MAX.  0 or -1. */
int	inbox_seq_parse(const char *s, int64_t *seq);
/* A --limit: 1 to INBOX_LIMIT_MAX.  0 or -1. */
int	inbox_limit_parse(const char *s, unsigned *limit);

/*
 * Each call names the store and, for a nats:// or tls:// one, the config's
 * "nats" section (names, creds, ca; zeroed: the defaults); other stores
 * ignore it.
 *
 * The events after since, in seq order, at most limit, only those in
 * state (an enum store_state; -1 any): an aligned table, or a JSON array.
 * Returns an exit status: 0 done, 1 the store could not be read, 2 the
 * store is not sqlite:PATH (Redis: the message says where its events
 * are).  Errors are logged, naming --store.
 */
int	inbox_list(FILE *fp, const char *store, const struct config_nats *nats,
	    int64_t since, int state, unsigned limit, int json);
/*
 * One event: its fields, then the body's exact bytes; or a JSON object
 * with the body as a string (valid UTF-8 without NUL) or as base64.
 * Exit status as above; 1 also when there is no such event.
 */
int	inbox_show(FILE *fp, const char *store, const struct config_nats *nats,
	    int64_t seq, int json);
/*
 * Put push event seq back into delivery: pending, no tries, due now, no
 * last error.  Prints how many.  Exit status as above; 1 also when there
 * is no such event, or it is a synchronous hook (nothing to redeliver).
 */
int	inbox_replay(FILE *fp, const char *store,
	    const struct config_nats *nats, int64_t seq);
/* The same for every dead push event (none is not an error). */
int	inbox_replay_dead(FILE *fp, const char *store,
	    const struct config_nats *nats);
/* Counts by state and kind, the oldest pending: "name: value" lines, or
 * a JSON object.  Exit status as above. */
int	inbox_stats(FILE *fp, const char *store, const struct config_nats *nats,
	    int json);

#endif
