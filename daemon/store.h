/*
 * store.h: durable events, "read, store, and forget".  Workers submit
 * events; one writer thread commits whatever is queued in one transaction
 * (group commit) and only then reports each event done, so an event is
 * acknowledged to Stream only once it is on disk, and throughput is not one
 * fsync per request.
 *
 * SQLite schema (apps may read it; see README):
 *   events(seq INTEGER PRIMARY KEY, webhook_id TEXT NOT NULL UNIQUE,
 *          kind TEXT NOT NULL, event_type TEXT, api_key TEXT NOT NULL,
 *          attempt INTEGER NOT NULL, command TEXT, received_at INTEGER NOT NULL,
 *          body BLOB NOT NULL)
 * WAL journal, synchronous=FULL.
 */
#ifndef SG_STORE_H
#define SG_STORE_H

#include <stddef.h>
#include <stdint.h>

enum store_kind {
	STORE_PUSH,
	STORE_BEFORE_MESSAGE_SEND,
	STORE_CUSTOM_COMMAND,
};

enum store_result {
	STORE_STORED,		/* committed: acknowledge */
	STORE_DUPLICATE,	/* the id was already stored: acknowledge */
	STORE_FAILED,		/* not stored: 503, Stream retries */
};

struct store_event {
	enum store_kind	 kind;
	const char	*webhook_id;	/* dedup key, NUL-terminated */
	const char	*event_type;	/* push "type"; may be NULL */
	const char	*api_key;
	int		 attempt;
	const char	*command;	/* custom commands; may be NULL */
	int64_t		 received_at;	/* unix ms */
	const uint8_t	*body;		/* the exact bytes verified */
	size_t		 body_len;

	/* Called on the writer thread once the event's fate is known; the
	 * strings and body must stay valid until then. */
	void		(*done)(struct store_event *, enum store_result, void *);
	void		*arg;
	int64_t		 seq;		/* set when STORE_STORED */
	struct store_event *next;	/* the queue's link */
};

struct store;

struct store_stats {
	uint64_t	commits;	/* transactions committed */
	uint64_t	events;		/* events stored */
	uint64_t	duplicates;
	uint64_t	failures;
};

/* "sqlite:PATH": open (creating the schema), start the writer thread. */
struct store *store_open(const char *uri, char *err, size_t errlen);
/* Queue an event; its done() runs later on the writer thread. */
void	store_submit(struct store *s, struct store_event *ev);
void	store_stats(struct store *s, struct store_stats *out);
/* Commit what is queued, stop the writer, close. */
void	store_close(struct store *s);

const char *store_kind_name(enum store_kind k);

#endif
