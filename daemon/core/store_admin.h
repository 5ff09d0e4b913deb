/*
 * store_admin.h: the store as the control tool sees it (`streamgate
 * inbox`): the events read back and counted, push events put back into
 * delivery, all without the daemon's writer.  Only the SQLite store has
 * this side (store_sqlite_admin.c, which owns the schema); opening a Redis
 * store says where its events are instead.
 *
 * The database is never created.  STORE_ADMIN_READ opens it read-only: in
 * WAL mode a reader never blocks the daemon's writer, so this is safe
 * while the daemon runs.  STORE_ADMIN_REPLAY opens it read-write for a few
 * short transactions; the daemon's delivery worker picks the replayed
 * events up when it next looks for pending ones.
 *
 * A store of schema version 1 (never opened by a streamgated with
 * delivery) reads as before, every event 'kept'; replay refuses it until
 * the daemon upgraded it.  Versions 1 and 2 kept no order key, signature
 * or target, and versions 1 to 3 no body hash: those read as none.
 *
 * Every call answers a status; all but STORE_ADMIN_OK come with err saying
 * why, naming the store's URI or the event.
 */
#ifndef SG_STORE_ADMIN_H
#define SG_STORE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum store_admin_mode {
	STORE_ADMIN_READ,
	STORE_ADMIN_REPLAY,
};

enum store_admin_status {
	STORE_ADMIN_OK,
	STORE_ADMIN_UNSUPPORTED, /* not a store this reads (Redis: err says
				  * where its events are) */
	STORE_ADMIN_MISSING,	/* no database at that path */
	STORE_ADMIN_FAILED,	/* it could not be read or written */
	STORE_ADMIN_OLD,	/* replay: schema version 1 */
	STORE_ADMIN_NO_EVENT,
	STORE_ADMIN_HOOK,	/* replay: a synchronous hook, answered when it
				 * arrived: nothing to deliver again */
};

/*
 * An event as stored.  The strings are the columns as they are: they came
 * off the network (or from another writer), so the caller cleans them
 * before showing them; NULL is none.  Valid until the next call on the
 * store.
 */
struct store_admin_event {
	int64_t		 seq;
	int64_t		 received_at;	/* unix ms */
	const char	*kind;
	const char	*state;
	int64_t		 tries;
	const char	*event_type;
	const char	*webhook_id;
	int64_t		 attempt;
	const char	*api_key;
	const char	*command;
	const char	*cid;
	int64_t		 next_at;	/* unix ms; 0 none */
	int64_t		 delivered_at;	/* unix ms; 0 none */
	const char	*last_error;
	const char	*order_key;	/* "" none; NULL: stored before keys */
	const char	*signature;	/* Stream's X-Signature (not a secret:
					 * an HMAC of the body) */
	const char	*target;	/* the request's path and query */
	int64_t		 body_bytes;
	const char	*body_sha256;	/* hex; NULL: stored before version 4 */
	const uint8_t	*body;		/* store_admin_get only: the exact
					 * bytes, body_bytes of them */
};

struct store_admin_counts {
	int		schema;		/* 1 to 5 */
	int64_t		total;
	int64_t		state[STORE_NSTATES];
	int64_t		kind[STORE_NKINDS];
	int64_t		oldest_pending_seq;	/* by received_at; 0 none */
	int64_t		oldest_pending_at;	/* its received_at, unix ms */
};

struct store_admin;

/* "sqlite:PATH": *ap is ready on STORE_ADMIN_OK. */
enum store_admin_status store_admin_open(struct store_admin **ap,
	    const char *uri, enum store_admin_mode mode, char *err,
	    size_t errlen);
void	store_admin_close(struct store_admin *a);

/*
 * The events after since, in seq order, at most limit, only those in
 * state (an enum store_state; -1 any): store_admin_next gives them one by
 * one, 1 for an event, 0 at the end, -1 on error (err).  The whole list,
 * rewound any number of times, reads one snapshot while the daemon keeps
 * writing, until store_admin_list_end.  One list at a time.
 */
enum store_admin_status store_admin_list(struct store_admin *a,
	    int64_t since, int state, unsigned limit, char *err,
	    size_t errlen);
int	store_admin_next(struct store_admin *a, struct store_admin_event *ev,
	    char *err, size_t errlen);
void	store_admin_rewind(struct store_admin *a);
void	store_admin_list_end(struct store_admin *a);

/* Event seq with its body: OK, NO_EVENT or FAILED. */
enum store_admin_status store_admin_get(struct store_admin *a, int64_t seq,
	    struct store_admin_event *ev, char *err, size_t errlen);

/*
 * STORE_ADMIN_REPLAY only.  Put push event seq back into delivery:
 * pending, no tries, due now, no last error.  OK, NO_EVENT, HOOK or
 * FAILED.
 */
enum store_admin_status store_admin_replay(struct store_admin *a,
	    int64_t seq, char *err, size_t errlen);
/* The same for every dead push event, in short transactions; *n counts
 * those put back, also on FAILED (the transactions before committed). */
enum store_admin_status store_admin_replay_dead(struct store_admin *a,
	    int64_t *n, char *err, size_t errlen);

/* Counts by state and kind, the oldest pending, from one snapshot. */
enum store_admin_status store_admin_counts(struct store_admin *a,
	    struct store_admin_counts *c, char *err, size_t errlen);

#endif
