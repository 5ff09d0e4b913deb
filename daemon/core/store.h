/*
 * store.h: durable events, "read, store, and forget".  Workers submit
 * events; the backend's writer commits whatever is queued in one go (group
 * commit) and only then reports each event done, so an event is
 * acknowledged to Stream only once it is durable, and throughput is not one
 * fsync (or one round trip) per request.
 *
 * Three backends behind one interface (store.c dispatches on the URI):
 *   sqlite:PATH            store_sqlite.c, the embedded default
 *   redis://HOST:PORT[/DB] store_redis.c, shared by a fleet of edge hosts
 *   nats://HOST:PORT[,HOST:PORT...] (or tls://)
 *                          store_nats.c, NATS JetStream: shared, and
 *                          replicated before an event is acknowledged
 *                          (its layout is in store_nats.h)
 * The control tool reads and replays a SQLite store through store_admin.h
 * instead, without the writer.
 *
 * SQLite schema, user_version 4 (apps may read it; see README):
 *   events(seq INTEGER PRIMARY KEY, webhook_id TEXT NOT NULL,
 *          kind TEXT NOT NULL, event_type TEXT, api_key TEXT NOT NULL,
 *          attempt INTEGER NOT NULL, command TEXT, received_at INTEGER NOT NULL,
 *          body BLOB NOT NULL,
 *          -- delivery (version 2)
 *          cid TEXT, state TEXT NOT NULL DEFAULT 'kept',
 *          tries INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,
 *          delivered_at INTEGER, last_error TEXT,
 *          -- forwarding (version 3; NULL in older rows)
 *          signature TEXT, order_key TEXT, target TEXT,
 *          -- version 4: dedup per API key (NULL in older rows)
 *          body_sha256 TEXT, UNIQUE (webhook_id, api_key))
 *   seen(webhook_id TEXT NOT NULL, api_key TEXT NOT NULL,
 *          received_at INTEGER NOT NULL, body_sha256 TEXT,
 *          PRIMARY KEY (webhook_id, api_key))
 *          -- ids of events deleted by retention, kept for the dedup window
 *          -- (api_key '': deleted before version 4, every key)
 * WAL journal, synchronous=FULL.
 *
 * Redis layout (prefix from the config, default "streamgate"):
 *   <prefix>:id:<api key>:<webhook id>
 *                              SET NX PX <dedup window>: the atomic claim,
 *                              "s:<stream id>:<body sha256>" once stored
 *                              (':' and '%' in the API key as %3A, %25)
 *   <prefix>:events            stream: webhook_id kind type api_key attempt
 *                              received_at command cid body order_key
 *                              signature target body_sha256
 *   group "<prefix>" on it     our delivery worker's consumer group
 *   <prefix>:dead              stream: events that ran out of attempts
 *   <prefix>:tries             hash: stream id -> delivery attempts made
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
#define STORE_NKINDS	(STORE_CUSTOM_COMMAND + 1)

/*
 * Delivery state of an event.  KEPT: nobody will deliver it (no upstream
 * when it arrived, or a synchronous hook the app did not answer: Stream
 * got the unchanged message); the app reads the store itself.
 */
enum store_state {
	STORE_KEPT,
	STORE_PENDING,		/* push, waiting for (re)delivery */
	STORE_DELIVERED,	/* the app answered 2xx */
	STORE_DEAD,		/* out of attempts; `inbox replay` revives */
};
#define STORE_NSTATES	(STORE_DEAD + 1)

enum store_result {
	STORE_STORED,		/* committed: acknowledge */
	STORE_DUPLICATE,	/* the API key's id was already stored:
				 * acknowledge */
	STORE_FAILED,		/* not stored: 503, Stream retries */
};

/* A SHA-256 in lower-case hex. */
#define STORE_SHA256_HEX	64

struct store_event {
	enum store_kind	 kind;
	enum store_state state;		/* initial: PENDING or KEPT */
	const char	*webhook_id;	/* with api_key, the dedup key */
	const char	*event_type;	/* push "type"; may be NULL */
	const char	*api_key;
	int		 attempt;
	const char	*command;	/* custom commands; may be NULL */
	const char	*cid;		/* the channel; may be NULL */
	const char	*order_key;	/* delivery order: "cid:<cid>",
					 * "user:<id>"; NULL or "": none */
	const char	*signature;	/* Stream's X-Signature, lower-case
					 * hex (forwarded to the app) */
	const char	*target;	/* the request's path and query, as
					 * received (an upstream without a
					 * path receives it) */
	int64_t		 received_at;	/* unix ms */
	const uint8_t	*body;		/* the exact bytes verified */
	size_t		 body_len;
	const char	*body_sha256;	/* of body, STORE_SHA256_HEX digits;
					 * NULL: not known */

	/* Called on the writer thread once the event's fate is known; the
	 * strings and body must stay valid until then. */
	void		(*done)(struct store_event *, enum store_result, void *);
	void		*arg;
	int64_t		 seq;		/* set when STORE_STORED */
	/* set when STORE_DUPLICATE: the stored copy's body_sha256, so a copy
	 * with another body is told apart; "" when the store has none (an
	 * event stored before it kept them) */
	char		 first_sha256[STORE_SHA256_HEX + 1];
	struct store_event *next;	/* the queue's link */
};

struct store;

/* The ack latency histogram's upper bounds, in microseconds. */
#define STORE_ACK_NBUCKETS	10
#define STORE_ACK_BUCKETS	{ 500, 1000, 2000, 5000, 10000, 25000, \
				  50000, 100000, 500000, 2000000 }

struct store_stats {
	uint64_t	commits;	/* transactions (or pipelines) committed */
	uint64_t	events;		/* events stored */
	uint64_t	duplicates;
	uint64_t	failures;	/* events answered STORE_FAILED */
	uint64_t	errors;		/* backend errors (Redis: replies, I/O) */
	uint64_t	reconnects;	/* Redis: connections re-established */
	uint64_t	retained;	/* events deleted by retention */
	/* gauges, refreshed by the backend about once a second */
	uint64_t	pending;	/* events waiting for delivery */
	uint64_t	dead;
	int64_t		oldest_pending_ms; /* received_at of the oldest; 0 none */
	int		up;		/* the backend answers (Redis); 0 once
					 * broken (store_broken) */
	/* SQLite: the writer's dedup set (store_ids.h), about once a
	 * second */
	uint64_t	ids;		/* ids within the window */
	uint64_t	ids_bytes;	/* the memory they take */
	uint64_t	ids_evicted;	/* ids that left before their window
					 * (dedup_max_ids reached) */
	/* NATS: publish to ack, per event, in STORE_ACK_BUCKETS
	 * (cumulative, Prometheus style); 0 for the others */
	uint64_t	ack_le[STORE_ACK_NBUCKETS];
	uint64_t	ack_count;
	uint64_t	ack_sum_us;
};

/* What the backend needs besides its URI. */
struct store_options {
	uint64_t	dedup_window_ms;	/* Redis claim TTL; `seen` expiry */
	uint64_t	retention_ms;		/* delivered events; 0: keep */
	const char	*redis_prefix;		/* "streamgate" */
	const char	*consumer;		/* Redis consumer name: unique
						 * per daemon, stable across
						 * restarts ("HOST:PORT") */
	int		deliver;		/* a delivery worker will run */
	size_t		dedup_max_ids;		/* SQLite: ids kept in memory,
						 * at most; 0: the default */
	/* NATS (store_nats.h): names, replicas, credentials file and CA
	 * bundle ("" or NULL none); the consumer's MaxDeliver and AckWait */
	const char	*nats_stream;		/* "STREAMGATE" */
	const char	*nats_prefix;		/* "streamgate" */
	const char	*nats_creds;
	const char	*nats_ca;		/* tls://: none, the system's */
	int		nats_replicas;		/* 0: 3 */
	unsigned	max_attempts;		/* 0: 12 */
	unsigned	ack_wait_ms;		/* 0: 30000 */
	unsigned	backoff_base_ms;	/* the retry waits (config.h):
						 * the consumer's BackOff */
	unsigned	backoff_cap_ms;
};

/* dedup_max_ids's default: 160 MiB at 40 bytes an id, a day of 48 events
 * a second (README: the store). */
#define STORE_DEDUP_MAX_IDS	4194304

/* "sqlite:PATH" or "redis://HOST:PORT[/DB]": open (creating the schema),
 * start the writer.  NULL with err naming the store. */
struct store *store_open(const char *uri, const struct store_options *opt,
	    char *err, size_t errlen);
/* Queue an event; its done() runs later on the writer thread. */
void	store_submit(struct store *s, struct store_event *ev);
void	store_stats(struct store *s, struct store_stats *out);
/*
 * 1 once the store cannot take an event until a restart: the SQLite
 * database or its -wal/-shm was deleted or replaced under the daemon, so
 * a commit would go to a file nobody will open again.  Every event then
 * fails (a push 503) and /healthz says 503.  A lock-free read: /healthz
 * asks it.
 */
int	store_broken(struct store *s);
/* Commit what is queued, stop the writer, close. */
void	store_close(struct store *s);

/*
 * ---- the delivery side ----
 * store_pending and store_fetch are called from the delivery thread only;
 * store_mark also from the hook thread (both backends lock inside).
 */

/* An event waiting for delivery: what the scheduler needs to order it. */
struct store_pending {
	int64_t		seq;
	char		order_key[160];	/* "" none: no ordering constraint;
					 * an event stored before keys:
					 * "cid:<cid>" (its channel) */
	int		tries;		/* delivery attempts made so far */
	int64_t		next_at;	/* unix ms; not before */
	int64_t		received_at;
};

/* A whole event, to send it. */
struct store_record {
	int64_t		seq;
	enum store_kind	kind;
	enum store_state state;
	char		webhook_id[256];
	char		api_key[128];
	char		event_type[128];
	char		command[128];
	char		cid[128];
	char		order_key[160];
	char		signature[72];	/* lower-case hex; "" for old events */
	char		target[2048];	/* path and query; "" for old events
					 * (room for the longest request
					 * target streamgated takes, with its
					 * NUL: a cut one is another URL) */
	int		attempt;	/* Stream's X-Webhook-Attempt */
	int		tries;		/* our delivery attempts */
	int64_t		received_at;
	uint8_t		*body;		/* malloc'd */
	size_t		body_len;
};

/* A delivery outcome. */
struct store_mark {
	int64_t		seq;
	enum store_state state;	/* PENDING: retry at next_at; DELIVERED; DEAD;
				 * KEPT (a hook the app did not answer) */
	int		tries;
	int64_t		next_at;
	int64_t		at;		/* unix ms of the outcome */
	char		error[128];	/* why the last attempt failed; "" */
};

/*
 * Pending push events, in seq order: those with seq > after, at most max.
 * Count, or -1 (logged).  Redis: after == 0 first re-reads what this
 * consumer had claimed before a restart, then new entries (XREADGROUP);
 * after > 0 only new entries.
 */
int	store_pending(struct store *s, int64_t after, struct store_pending *out,
	    size_t max);
/* The event seq: 0, 1 when there is none, -1 on error (logged). */
int	store_fetch(struct store *s, int64_t seq, struct store_record *out);
/*
 * The events seqs[0..n-1] into out[], each one's store_fetch result in
 * rc[].  SQLite reads them all in one read transaction, so the pages they
 * share are read once, not once per event (every commit of the writer
 * drops the reader's page cache at its next transaction); the other
 * backends fetch them one by one.
 */
void	store_fetch_many(struct store *s, const int64_t *seqs, size_t n,
	    struct store_record *out, int *rc);
/* 1 when store_fetch_many reads a batch in one go (SQLite), so reading
 * events before they are due costs next to nothing; 0 (one round trip
 * each: Redis, NATS). */
int	store_fetch_batches(struct store *s);
void	store_record_free(struct store_record *r);
/* 1 when the store itself remembers every id for the whole dedup window
 * (SQLite: the writer's id set; Redis: the claims' expiry), so a cache in
 * front of it would only hold the same ids twice; 0 when its own window
 * is shorter (NATS: JetStream's, at most an hour). */
int	store_dedups_window(struct store *s);
/* Record an outcome; no answer.  SQLite: queued to the writer and
 * committed with its next batch.  Redis: written at once on the delivery
 * connection: XACK (delivered), XADD to :dead + XACK (dead), HSET :tries
 * (retry).  A lost mark means the event is delivered again: at least once. */
void	store_mark(struct store *s, const struct store_mark *m);
/* Call fn(arg) (from the writer) after a commit that stored new pending
 * events, so the delivery worker wakes at once. */
void	store_notify(struct store *s, void (*fn)(void *), void *arg);

/* The names, as stored (store_names.c: a program that only names them
 * links no backend). */
const char *store_kind_name(enum store_kind k);
const char *store_state_name(enum store_state st);
/* "custom_command" → STORE_CUSTOM_COMMAND; 0 or -1. */
int	store_kind_parse(const char *name, enum store_kind *k);
/* "pending" → STORE_PENDING; 0 or -1. */
int	store_state_parse(const char *name, enum store_state *st);

#endif
