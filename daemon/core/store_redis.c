/*
 * store_redis.c: the Redis store, shared by a fleet of edge hosts (the
 * layout is in store.h).
 *
 * Writer: one thread owns one connection.  It takes whatever is queued
 * (group commit, as store_sqlite.c) and stores the batch in ONE pipelined
 * round trip: an EVALSHA of store_lua per event.  With appendfsync always,
 * Redis fsyncs its AOF once per event-loop iteration, so write round trips
 * per batch are fsyncs per batch.  Each script runs atomically (no other
 * host's command comes in between) and does:
 *   SET <claim> p: NX PX <dedup window>   the claim; if the id is claimed
 *       already, answer the claim: "s:<stream id>[:<body sha256>]" is a
 *       duplicate (the hash tells a copy with another body apart)
 *   XADD <prefix>:events * <fields>      an error: DEL the claim (Stream's
 *       retry is taken) and answer the error: STORE_FAILED
 *   SET <claim> s:<stream id>:<body sha256> XX KEEPTTL
 *                                        stored: answer the id
 * The claim is <prefix>:id:<API key>:<webhook id>: an id is one event per
 * API key (two apps may send the same id); ':' and '%' in the API key are
 * written %3A and %25, so the key ends at the first ':' and no two pairs
 * share a claim.  A claim of the older <prefix>:id:<webhook id> form is not
 * looked at: during a rolling upgrade a copy may be stored once by each
 * version.
 * So no host ever sees a claim whose event is not in the stream yet, and
 * an event is either stored and claimed or neither, whoever dies when.  A
 * claim that is not "s:" (only a streamgated from before this scheme, which
 * claimed and stored in separate round trips, writes one) is answered
 * STORE_FAILED: only Stream's retry can tell whether that copy gets stored.
 * Every done() runs after the replies.  Every key a script touches is in
 * KEYS[] (names made here from the prefix).  The script is loaded at every
 * connect (SCRIPT LOAD); a NOSCRIPT (SCRIPT FLUSH, a failover) sends those
 * events again with EVAL, which loads it: a second round trip, that once.
 *
 * Redis down: a batch fails at once (503), the link is retried before a
 * batch at most every RETRY_MS, and an idle writer pings or refreshes the
 * gauges every second, so an outage and the recovery are noticed (and
 * logged, once each) without traffic.
 *
 * Delivery: the delivery worker and hook threads share a second connection
 * under its own lock; the writer's is never theirs.  A mark is written at
 * once on it, not queued to the writer; one that fails (logged) leaves the
 * entry pending, to be read again: at least once.  A stream id "MS-N" is
 * the seq (MS << 20) | N, see seq_of_id.
 */
#include <sys/time.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "log.h"
#include "store_impl.h"
#include "store_queue.h"

#define BATCH_MAX	1024		/* events in one pipeline, at most */
#define TWIN_SLOTS	(2 * BATCH_MAX)	/* the batch's id table, a power of 2 */
#define CONNECT_MS	1000
#define COMMAND_MS	2000
#define RETRY_MS	250		/* between connects while down */
#define IDLE_MS		1000		/* an idle writer checks the link */
#define AUTOCLAIM_IDLE_MS 300000	/* another consumer's entry this idle:
					 * its host is gone, take it over */
#define AUTOCLAIM_ROUNDS 8
#define SEQ_N_BITS	20
#define SEQ_MS_MAX	(1ULL << 43)	/* ms since 1970: past the year 2200 */
#define KEY_MAX		1024		/* a claim: prefix, API key, id */
#define ID_MAX		48		/* "MS-N" */

/* The fields after body came later: added at the end, an app that reads
 * entries by position still finds the others where they were. */
enum field {
	F_WEBHOOK_ID, F_KIND, F_TYPE, F_API_KEY, F_ATTEMPT, F_RECEIVED_AT,
	F_COMMAND, F_CID, F_BODY, F_ORDER_KEY, F_SIGNATURE, F_TARGET,
	F_BODY_SHA256, NFIELDS
};

static const char *const field_names[NFIELDS] = {
	"webhook_id", "kind", "type", "api_key", "attempt", "received_at",
	"command", "cid", "body", "order_key", "signature", "target",
	"body_sha256",
};

/* An entry's fields, pointing into an event or a reply; "" for none. */
struct fields {
	const char	*v[NFIELDS];
	size_t		 len[NFIELDS];
	unsigned	 has;		/* a reply's: 1 << field, those in it */
};

/* How an event's script goes out next: not (done, or a twin), by its
 * SHA1, or as text (Redis answered NOSCRIPT). */
enum step { STEP_NONE, STEP_EVALSHA, STEP_EVAL };

struct slot {
	struct store_event *ev;
	int		 twin;		/* index of the first copy, or -1 */
	enum step	 step;
	enum store_result res;
	char		 id[ID_MAX];	/* the stream id, when STORED */
};

/* One connection, and what the log last said about it. */
struct link {
	redisContext	*c;
	int		 up;
	int64_t		 retry_at;	/* monotonic ms: no connect before */
	const char	*role;		/* for the log: "" or " for delivery" */
	const char	*meanwhile;	/* what happens while it is down */
};

struct redis_store {
	struct store		 base;
	char			 host[256];
	int			 port;
	int			 db;
	char			 where[300];	/* "HOST:PORT", for the log */
	char			 group[64];
	char			 consumer[320];
	char			 k_events[96], k_dead[96], k_tries[96];
	char			 window[24];	/* the dedup window, ms */
	int			 deliver;
	char			 sha[48];	/* SCRIPT LOAD's: store_lua */

	/* the writer's */
	struct link		 w;
	struct slot		*slots;
	int			*twins;
	int			 batch_errors;
	int64_t			 gauges_at, idle_at;

	/* the delivery side's */
	pthread_mutex_t		 dlock;
	struct link		 d;
};

/*
 * One event, atomically.  KEYS[1] the claim <prefix>:id:<API key>:<webhook
 * id>, KEYS[2] the stream <prefix>:events; ARGV[1] the dedup window in ms,
 * ARGV[2] the body's SHA-256 (hex), ARGV[3..] the entry's field names and
 * values.  Answers {1, stream id} (stored), {0, the claim's value}
 * (claimed before), or XADD's error (the claim deleted again).  The "p:"
 * placeholder is never seen outside.
 */
static const char store_lua[] =
	"if not redis.call('set', KEYS[1], 'p:', 'nx', 'px', ARGV[1]) then\n"
	"  return {0, redis.call('get', KEYS[1])}\n"
	"end\n"
	"local id = redis.pcall('xadd', KEYS[2], '*', unpack(ARGV, 3))\n"
	"if type(id) == 'table' then\n"
	"  redis.call('del', KEYS[1])\n"
	"  return id\n"
	"end\n"
	"redis.call('set', KEYS[1], 's:' .. id .. ':' .. ARGV[2], 'xx',"
	" 'keepttl')\n"
	"return {1, id}\n";

/*
 * A stream id "MS-N" as a seq: (MS << 20) | N.  Ids and seqs order alike.
 * An id with N >= 2^20 (a million entries in one millisecond) or MS past
 * 2^43 does not fit: refused.
 */
static int
seq_of_id(const char *id, int64_t *seq)
{
	unsigned long long ms, n;
	char *end;

	if (*id < '0' || *id > '9')
		return -1;
	errno = 0;
	ms = strtoull(id, &end, 10);
	if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
		return -1;
	n = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || ms >= SEQ_MS_MAX ||
	    n >= 1ULL << SEQ_N_BITS)
		return -1;
	*seq = (int64_t)(ms << SEQ_N_BITS | n);
	return 0;
}

static void
id_of_seq(int64_t seq, char *buf, size_t len)
{
	unsigned long long u = (unsigned long long)seq;

	snprintf(buf, len, "%llu-%llu", u >> SEQ_N_BITS,
	    u & ((1ULL << SEQ_N_BITS) - 1));
}

/* ---------------------------------------------------------------- links */

static int
reply_is(const redisReply *r, int type)
{
	return r != NULL && r->type == type;
}

static int
reply_error_is(const redisReply *r, const char *code)
{
	return reply_is(r, REDIS_REPLY_ERROR) &&
	    strncmp(r->str, code, strlen(code)) == 0;
}

static void
link_state(struct redis_store *s, struct link *l, int up)
{
	if (l != &s->w)
		return;
	pthread_mutex_lock(&s->base.q.lock);
	s->base.q.stats.up = up;
	s->base.q.stats.reconnects += up;
	pthread_mutex_unlock(&s->base.q.lock);
}

/* The writer's link: the store script into Redis's cache, its SHA1 into
 * s->sha.  0, or -1 with why. */
static int
script_load(struct redis_store *s, redisContext *c, char *why, size_t len)
{
	const char *argv[] = { "SCRIPT", "LOAD", store_lua };
	redisReply *r;
	int rc = 0;

	if ((r = redisCommandArgv(c, 3, argv, NULL)) == NULL) {
		snprintf(why, len, "%s", c->errstr);
		return -1;
	}
	if (reply_is(r, REDIS_REPLY_STRING) && r->len < sizeof(s->sha))
		memcpy(s->sha, r->str, r->len + 1);
	else {
		snprintf(why, len, "SCRIPT LOAD: %s",
		    reply_is(r, REDIS_REPLY_ERROR) ? r->str : "odd reply");
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

/* Connect, set the timeouts, SELECT the DB (and load the script for the
 * writer): 0, or -1 with why. */
static int
link_connect(struct redis_store *s, struct link *l, char *why, size_t len)
{
	struct timeval ct = { CONNECT_MS / 1000, CONNECT_MS % 1000 * 1000 };
	struct timeval ot = { COMMAND_MS / 1000, COMMAND_MS % 1000 * 1000 };
	const char *argv[2];
	redisContext *c;
	redisReply *r;
	char db[16];

	if ((c = redisConnectWithTimeout(s->host, s->port, ct)) == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	if (c->err != 0 || redisSetTimeout(c, ot) != REDIS_OK) {
		/* without the timeout a hung Redis would hang the writer */
		snprintf(why, len, "%s", c->err ? c->errstr :
		    "cannot set a timeout");
		redisFree(c);
		return -1;
	}
	snprintf(db, sizeof(db), "%d", s->db);
	argv[0] = "SELECT";
	argv[1] = db;
	if ((r = redisCommandArgv(c, 2, argv, NULL)) == NULL ||
	    r->type == REDIS_REPLY_ERROR) {
		if (r != NULL)
			snprintf(why, len, "SELECT %d: %s", s->db, r->str);
		else
			snprintf(why, len, "%s", c->errstr);
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		return -1;
	}
	freeReplyObject(r);
	if (l == &s->w && script_load(s, c, why, len) == -1) {
		redisFree(c);
		return -1;
	}
	l->c = c;
	return 0;
}

static void
link_down(struct redis_store *s, struct link *l, const char *why)
{
	if (!l->up)
		return;
	l->up = 0;
	log_warnx("store: redis %s unreachable%s: %s; %s", s->where, l->role,
	    why, l->meanwhile);
	link_state(s, l, 0);
}

/* The link is broken (an I/O error): close it; the next use reconnects. */
static void
link_drop(struct redis_store *s, struct link *l)
{
	char why[128];

	snprintf(why, sizeof(why), "%s", l->c && l->c->err ? l->c->errstr :
	    "connection lost");
	redisFree(l->c);
	l->c = NULL;
	l->retry_at = 0;
	store_queue_error(&s->base.q);
	link_down(s, l, why);
}

/* Connected: 0.  Down, and not yet time to try again, or the try failed:
 * -1 at once, so queued events fail fast instead of waiting. */
static int
link_ensure(struct redis_store *s, struct link *l)
{
	char why[256];

	if (l->c != NULL)
		return 0;
	if (clock_mono_ms() < l->retry_at)
		return -1;
	if (link_connect(s, l, why, sizeof(why)) == -1) {
		l->retry_at = clock_mono_ms() + RETRY_MS;
		link_down(s, l, why);
		return -1;
	}
	if (!l->up)
		log_warnx("store: redis %s is back%s", s->where, l->role);
	l->up = 1;
	link_state(s, l, 1);
	return 0;
}

/* The next reply of a pipeline; -1 after an I/O error (link dropped). */
static int
reply_read(struct redis_store *s, struct link *l, redisReply **r)
{
	void *p = NULL;

	if (redisGetReply(l->c, &p) != REDIS_OK || p == NULL) {
		link_drop(s, l);
		return -1;
	}
	*r = p;
	return 0;
}

static int
append(struct redis_store *s, struct link *l, int argc, const char **argv,
    const size_t *len)
{
	if (redisAppendCommandArgv(l->c, argc, argv, len) != REDIS_OK) {
		link_drop(s, l);	/* a half-built pipeline: start over */
		return -1;
	}
	return 0;
}

/* One command on the link; NULL after an I/O error (link dropped). */
static redisReply *
command(struct redis_store *s, struct link *l, int argc, const char **argv,
    const size_t *len)
{
	redisReply *r;

	if (append(s, l, argc, argv, len) == -1 || reply_read(s, l, &r) == -1)
		return NULL;
	return r;
}

/* ---------------------------------------------------------------- fields */

static void
field_set(struct fields *f, enum field i, const char *v)
{
	f->v[i] = v != NULL ? v : "";
	f->len[i] = strlen(f->v[i]);
}

/* num: room for two numbers, the attempt and received_at. */
static void
fields_of_event(const struct store_event *ev, struct fields *f,
    char num[2][24])
{
	snprintf(num[0], sizeof(num[0]), "%d", ev->attempt);
	snprintf(num[1], sizeof(num[1]), "%lld", (long long)ev->received_at);
	field_set(f, F_WEBHOOK_ID, ev->webhook_id);
	field_set(f, F_KIND, store_kind_name(ev->kind));
	field_set(f, F_TYPE, ev->event_type);
	field_set(f, F_API_KEY, ev->api_key);
	field_set(f, F_ATTEMPT, num[0]);
	field_set(f, F_RECEIVED_AT, num[1]);
	field_set(f, F_COMMAND, ev->command);
	field_set(f, F_CID, ev->cid);
	f->v[F_BODY] = ev->body != NULL ? (const char *)ev->body : "";
	f->len[F_BODY] = ev->body_len;
	field_set(f, F_ORDER_KEY, ev->order_key);
	field_set(f, F_SIGNATURE, ev->signature);
	field_set(f, F_TARGET, ev->target);
	field_set(f, F_BODY_SHA256, ev->body_sha256);
}

/* An entry's field list; -1 when it has none (deleted, still pending). */
static int
fields_of_reply(const redisReply *kv, struct fields *f)
{
	size_t i;
	int j;

	for (j = 0; j < NFIELDS; j++)
		field_set(f, (enum field)j, NULL);
	f->has = 0;
	if (!reply_is(kv, REDIS_REPLY_ARRAY))
		return -1;
	for (i = 0; i + 1 < kv->elements; i += 2) {
		const redisReply *k = kv->element[i], *v = kv->element[i + 1];

		if (!reply_is(k, REDIS_REPLY_STRING) ||
		    !reply_is(v, REDIS_REPLY_STRING))
			continue;
		for (j = 0; j < NFIELDS; j++)
			if (strcmp(k->str, field_names[j]) == 0) {
				f->v[j] = v->str;
				f->len[j] = v->len;
				f->has |= 1u << j;
			}
	}
	return 0;
}

static void
copy_field(char *dst, size_t len, const struct fields *f, enum field i)
{
	snprintf(dst, len, "%.*s", (int)f->len[i], f->v[i]);
}

static int
field_is(const struct fields *f, enum field i, const char *v)
{
	return f->len[i] == strlen(v) && memcmp(f->v[i], v, f->len[i]) == 0;
}

/* Queue XADD key * <fields> [error E id ID]. */
static int
xadd_append(struct redis_store *s, struct link *l, const char *key,
    const struct fields *f, const char *error, const char *id)
{
	const char *argv[3 + 2 * NFIELDS + 4];
	size_t len[3 + 2 * NFIELDS + 4];
	int i, n = 0;

	argv[n++] = "XADD";
	argv[n++] = key;
	argv[n++] = "*";
	for (i = 0; i < NFIELDS; i++) {
		argv[n++] = field_names[i];
		argv[n++] = f->v[i];
	}
	if (error != NULL) {
		argv[n++] = "error";
		argv[n++] = error;
		argv[n++] = "id";
		argv[n++] = id;
	}
	for (i = 0; i < n; i++)
		len[i] = strlen(argv[i]);
	for (i = 0; i < NFIELDS; i++)
		len[4 + 2 * i] = f->len[i];
	return append(s, l, n, argv, len);
}

/* ---------------------------------------------------------------- writer */

/* The claim of an event: <prefix>:id:<API key, ':' and '%' escaped>:<id>.
 * 0, or -1 when it does not fit. */
static int
key_of_id(struct redis_store *s, const struct store_event *ev, char *key,
    size_t len)
{
	const char *k;
	size_t o;
	int n;

	if ((n = snprintf(key, len, "%s:id:", s->group)) < 0 ||
	    (size_t)n >= len)
		return -1;
	o = (size_t)n;
	for (k = ev->api_key; *k != '\0' && o + 4 < len; k++) {
		if (*k == ':' || *k == '%')
			o += snprintf(key + o, len - o, "%%%02X",
			    (unsigned char)*k);
		else
			key[o++] = *k;
	}
	if (*k != '\0')
		return -1;
	n = snprintf(key + o, len - o, ":%s", ev->webhook_id);
	return n < 0 || (size_t)n >= len - o ? -1 : 0;
}

/* An error in a batch: counted each, logged once per batch. */
static void
batch_error(struct redis_store *s, const char *what, const char *why)
{
	store_queue_error(&s->base.q);
	if (s->batch_errors++ == 0)
		log_warnx("store: redis %s: %s", what, why);
}

/* Two copies of one API key's id in a batch: the later ones follow the
 * first. */
static void
batch_twins(struct redis_store *s, size_t n)
{
	unsigned h, mask = TWIN_SLOTS - 1;
	const unsigned char *p;
	size_t i;
	int *t = s->twins;

	memset(t, 0xff, TWIN_SLOTS * sizeof(*t));	/* all -1 */
	for (i = 0; i < n; i++) {
		const struct store_event *ev = s->slots[i].ev, *o;

		h = 2166136261u;
		for (p = (const unsigned char *)ev->webhook_id; *p; p++)
			h = (h ^ *p) * 16777619u;
		for (p = (const unsigned char *)ev->api_key; *p; p++)
			h = (h ^ *p) * 16777619u;
		for (h &= mask; t[h] != -1; h = (h + 1) & mask) {
			o = s->slots[t[h]].ev;
			if (strcmp(o->webhook_id, ev->webhook_id) == 0 &&
			    strcmp(o->api_key, ev->api_key) == 0)
				break;
		}
		s->slots[i].twin = t[h];
		if (t[h] == -1)
			t[h] = (int)i;
	}
}

/* Queue the store script for one event: EVALSHA, or EVAL with the text.
 * 1 when it cannot be sent (the slot stays STORE_FAILED), -1 after an I/O
 * error. */
static int
script_append(struct redis_store *s, const struct store_event *ev,
    enum step how)
{
	/* the entry's fields start here, each a name and its value */
	enum { FIRST_FIELD = 7 };
	const char *argv[FIRST_FIELD + 2 * NFIELDS];
	size_t len[FIRST_FIELD + 2 * NFIELDS];
	char key[KEY_MAX], num[2][24];
	struct fields f;
	int i, n = 0;

	if (key_of_id(s, ev, key, sizeof(key)) == -1) {
		log_warnx("store: API key and webhook id too long for a key");
		return 1;
	}
	fields_of_event(ev, &f, num);
	argv[n++] = how == STEP_EVAL ? "EVAL" : "EVALSHA";
	argv[n++] = how == STEP_EVAL ? store_lua : s->sha;
	argv[n++] = "2";
	argv[n++] = key;
	argv[n++] = s->k_events;
	argv[n++] = s->window;
	argv[n++] = f.v[F_BODY_SHA256];
	for (i = 0; i < NFIELDS; i++) {
		argv[n++] = field_names[i];
		argv[n++] = f.v[i];
	}
	for (i = 0; i < n; i++)
		len[i] = strlen(argv[i]);
	for (i = 0; i < NFIELDS; i++)
		len[FIRST_FIELD + 1 + 2 * i] = f.len[i];
	return append(s, &s->w, n, argv, len) == -1 ? -1 : 0;
}

/*
 * The script's answer: {1, stream id}, {0, the claim there before}, or an
 * error (XADD's, the claim deleted again; or the script's own).  A claim
 * "s:<stream id>:<sha256>" gives the duplicate the stored copy's hash;
 * one without (written before hashes were kept) gives none.
 */
static void
script_result(struct redis_store *s, struct slot *sl, const redisReply *r)
{
	const redisReply *v;
	const char *h;

	sl->res = STORE_FAILED;
	if (reply_is(r, REDIS_REPLY_ERROR)) {
		batch_error(s, "store script", r->str);
		return;
	}
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 2 ||
	    !reply_is(r->element[0], REDIS_REPLY_INTEGER) ||
	    !reply_is(r->element[1], REDIS_REPLY_STRING)) {
		batch_error(s, "store script", "unexpected reply");
		return;
	}
	v = r->element[1];
	if (r->element[0]->integer == 1 && v->len < sizeof(sl->id)) {
		memcpy(sl->id, v->str, v->len + 1);
		sl->res = STORE_STORED;	/* in the stream: durable */
	} else if (r->element[0]->integer == 0 &&
	    strncmp(v->str, "s:", 2) == 0) {
		sl->res = STORE_DUPLICATE;
		if ((h = strchr(v->str + 2, ':')) != NULL)
			snprintf(sl->ev->first_sha256,
			    sizeof(sl->ev->first_sha256), "%s", h + 1);
	}
	/* else a claim written by an older streamgated, its event maybe not
	 * stored yet: only Stream's retry can tell.  STORE_FAILED. */
}

/*
 * One pipelined round trip: the script for every slot whose step is how.
 * *again counts the slots Redis answered NOSCRIPT (now STEP_EVAL).  -1
 * after an I/O error.
 */
static int
round_script(struct redis_store *s, size_t n, enum step how, size_t *again)
{
	redisReply *r;
	size_t i;
	int rc;

	*again = 0;
	for (i = 0; i < n; i++) {
		struct slot *sl = &s->slots[i];

		if (sl->step != how)
			continue;
		if ((rc = script_append(s, sl->ev, how)) == -1)
			return -1;
		if (rc == 1)
			sl->step = STEP_NONE;
	}
	for (i = 0; i < n; i++) {
		struct slot *sl = &s->slots[i];

		if (sl->step != how)
			continue;
		if (reply_read(s, &s->w, &r) == -1)
			return -1;
		sl->step = STEP_NONE;
		if (how == STEP_EVALSHA && reply_error_is(r, "NOSCRIPT")) {
			sl->step = STEP_EVAL;	/* the script did not run */
			(*again)++;
		} else
			script_result(s, sl, r);
		freeReplyObject(r);
	}
	return 0;
}

/* Report every event of the batch, then wake the delivery worker. */
static void
batch_finish(struct redis_store *s, struct store_event *batch, size_t n,
    int committed)
{
	enum store_result res[BATCH_MAX];
	size_t i;
	int pushes = 0;

	for (i = 0; i < n; i++) {
		struct slot *sl = &s->slots[i];

		if (sl->twin != -1) {
			const struct slot *first = &s->slots[sl->twin];

			sl->res = first->res == STORE_FAILED ? STORE_FAILED :
			    STORE_DUPLICATE;
			/* the copy stored is the first's, or the one it met */
			snprintf(sl->ev->first_sha256,
			    sizeof(sl->ev->first_sha256), "%s",
			    first->res == STORE_STORED ?
			    (first->ev->body_sha256 ? first->ev->body_sha256 :
			    "") : first->ev->first_sha256);
		}
		if (sl->res == STORE_STORED) {
			if (seq_of_id(sl->id, &sl->ev->seq) == -1)
				sl->ev->seq = 0;
			pushes += sl->ev->kind == STORE_PUSH;
		}
		res[i] = sl->res;
	}
	store_queue_report(&s->base.q, batch, res, committed, pushes > 0);
}

/* The batch into the slots.  The first copy of each id goes out by
 * EVALSHA; the twins wait for it. */
static void
batch_run(struct redis_store *s, struct store_event *batch)
{
	struct store_event *ev;
	size_t i, n = 0, again = 0;
	int ok;

	for (ev = batch; ev != NULL; ev = ev->next)
		s->slots[n++].ev = ev;
	batch_twins(s, n);
	for (i = 0; i < n; i++) {
		s->slots[i].step = s->slots[i].twin == -1 ? STEP_EVALSHA :
		    STEP_NONE;
		s->slots[i].res = STORE_FAILED;
		s->slots[i].id[0] = '\0';
	}
	s->batch_errors = 0;
	ok = link_ensure(s, &s->w) == 0 &&
	    round_script(s, n, STEP_EVALSHA, &again) == 0;
	if (ok && again > 0) {
		log_warnx("store: redis %s: the store script was not in its "
		    "cache (NOSCRIPT): sent again with EVAL", s->where);
		ok = round_script(s, n, STEP_EVAL, &again) == 0;
	}
	if (s->batch_errors > 1)
		log_warnx("store: redis: %d more errors in that batch",
		    s->batch_errors - 1);
	s->idle_at = clock_mono_ms() + IDLE_MS;
	batch_finish(s, batch, n, ok);
}

/* ---------------------------------------------------------------- gauges */

/* Field name of a flat RESP2 map (XINFO): the value, or NULL. */
static const redisReply *
map_get(const redisReply *m, const char *name)
{
	size_t i;

	if (!reply_is(m, REDIS_REPLY_ARRAY))
		return NULL;
	for (i = 0; i + 1 < m->elements; i += 2)
		if (reply_is(m->element[i], REDIS_REPLY_STRING) &&
		    strcmp(m->element[i]->str, name) == 0)
			return m->element[i + 1];
	return NULL;
}

static const redisReply *
group_info(const redisReply *groups, const char *name)
{
	const redisReply *v;
	size_t i;

	if (!reply_is(groups, REDIS_REPLY_ARRAY))
		return NULL;
	for (i = 0; i < groups->elements; i++)
		if ((v = map_get(groups->element[i], "name")) != NULL &&
		    reply_is(v, REDIS_REPLY_STRING) &&
		    strcmp(v->str, name) == 0)
			return groups->element[i];
	return NULL;
}

static int64_t
ms_of_id(const char *id)
{
	int64_t seq;

	return seq_of_id(id, &seq) == 0 ? seq >> SEQ_N_BITS : 0;
}

/* The first entry after the group's last delivered one: never read yet. */
static int64_t
oldest_unread(struct redis_store *s, const char *last)
{
	char from[ID_MAX + 1];
	const char *argv[] = { "XRANGE", s->k_events, from, "+", "COUNT",
	    "1" };
	redisReply *r;
	int64_t ms = 0;

	snprintf(from, sizeof(from), "(%s", last);
	if ((r = command(s, &s->w, 6, argv, NULL)) == NULL)
		return 0;
	if (reply_is(r, REDIS_REPLY_ARRAY) && r->elements > 0 &&
	    reply_is(r->element[0], REDIS_REPLY_ARRAY) &&
	    r->element[0]->elements > 0 &&
	    reply_is(r->element[0]->element[0], REDIS_REPLY_STRING))
		ms = ms_of_id(r->element[0]->element[0]->str);
	freeReplyObject(r);
	return ms;
}

/*
 * pending: read but not acknowledged (XPENDING) plus not read yet (the
 * group's lag, Redis 7); dead: XLEN; oldest: the smallest pending id's ms.
 * Best effort: an error reply (no stream yet) reads as 0.
 */
static void
gauges_refresh(struct redis_store *s)
{
	const char *xp[] = { "XPENDING", s->k_events, s->group };
	const char *xi[] = { "XINFO", "GROUPS", s->k_events };
	const char *xl[] = { "XLEN", s->k_dead };
	const redisReply *g, *v;
	redisReply *r[3] = { NULL, NULL, NULL };
	uint64_t pending = 0, dead = 0;
	int64_t oldest = 0;
	int i;

	if (append(s, &s->w, 3, xp, NULL) == -1 ||
	    append(s, &s->w, 3, xi, NULL) == -1 ||
	    append(s, &s->w, 2, xl, NULL) == -1)
		return;
	for (i = 0; i < 3; i++)
		if (reply_read(s, &s->w, &r[i]) == -1)
			goto out;
	if (reply_is(r[0], REDIS_REPLY_ARRAY) && r[0]->elements >= 2 &&
	    reply_is(r[0]->element[0], REDIS_REPLY_INTEGER)) {
		pending = (uint64_t)r[0]->element[0]->integer;
		if (reply_is(r[0]->element[1], REDIS_REPLY_STRING))
			oldest = ms_of_id(r[0]->element[1]->str);
	}
	if ((g = group_info(r[1], s->group)) != NULL &&
	    (v = map_get(g, "lag")) != NULL &&
	    reply_is(v, REDIS_REPLY_INTEGER) && v->integer > 0) {
		pending += (uint64_t)v->integer;
		v = map_get(g, "last-delivered-id");
		if (oldest == 0 && reply_is(v, REDIS_REPLY_STRING))
			oldest = oldest_unread(s, v->str);
	}
	if (reply_is(r[2], REDIS_REPLY_INTEGER))
		dead = (uint64_t)r[2]->integer;
	store_queue_gauges(&s->base.q, pending, dead, oldest);
out:
	for (i = 0; i < 3; i++)
		freeReplyObject(r[i]);
}

/* An idle link is checked, so an outage and the recovery are seen (and
 * logged) before the next webhook needs it. */
static void
housekeep(struct redis_store *s)
{
	const char *ping[] = { "PING" };
	int64_t now = clock_mono_ms();
	redisReply *r;

	if (s->w.c == NULL) {
		if (now >= s->w.retry_at)
			(void)link_ensure(s, &s->w);
		return;
	}
	if (s->deliver && now >= s->gauges_at) {
		s->gauges_at = now + IDLE_MS;
		s->idle_at = now + IDLE_MS;
		gauges_refresh(s);
	} else if (now >= s->idle_at) {
		s->idle_at = now + IDLE_MS;
		if ((r = command(s, &s->w, 1, ping, NULL)) != NULL)
			freeReplyObject(r);
	}
}

static void *
writer(void *arg)
{
	struct redis_store *s = arg;
	struct store_event *batch;

	pthread_mutex_lock(&s->base.q.lock);
	for (;;) {
		if (s->base.q.head == NULL && !s->base.q.stopping)
			store_queue_wait(&s->base.q, clock_mono_ms() +
			    (s->w.c != NULL ? IDLE_MS : RETRY_MS));
		if (s->base.q.head == NULL && s->base.q.stopping)
			break;
		batch = store_queue_take(&s->base.q, BATCH_MAX);
		pthread_mutex_unlock(&s->base.q.lock);
		if (batch != NULL)
			batch_run(s, batch);
		housekeep(s);
		pthread_mutex_lock(&s->base.q.lock);
	}
	pthread_mutex_unlock(&s->base.q.lock);
	return NULL;
}

/* ---------------------------------------------------------------- delivery */

/* A delivery command's error reply: logged, counted; -1. */
static int
delivery_error(struct redis_store *s, const char *what, const redisReply *r)
{
	log_warnx("store: redis %s: %s", what, r->str);
	store_queue_error(&s->base.q);
	return -1;
}

/* XGROUP CREATE from start ("$" at open: what comes from now on; "0"
 * when the group vanished with Redis's data: all that is there is new). */
static int
group_create(struct redis_store *s, const char *start, char *err,
    size_t errlen)
{
	const char *argv[] = { "XGROUP", "CREATE", s->k_events, s->group,
	    start, "MKSTREAM" };
	redisReply *r;
	int rc = 0;

	if ((r = command(s, &s->d, 6, argv, NULL)) == NULL) {
		log_errbuf(err, errlen, "store: redis %s: XGROUP CREATE: "
		    "connection lost", s->where);
		return -1;
	}
	if (reply_is(r, REDIS_REPLY_ERROR) && !reply_error_is(r, "BUSYGROUP")) {
		log_errbuf(err, errlen, "store: redis %s: XGROUP CREATE %s %s: "
		    "%s", s->where, s->k_events, s->group, r->str);
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

/* Read the replies of n queued commands (acknowledgements, marks); an
 * error reply is logged.  -1 after an I/O error only. */
static int
drain(struct redis_store *s, int n, const char *what)
{
	redisReply *r;

	while (n-- > 0) {
		if (reply_read(s, &s->d, &r) == -1)
			return -1;
		if (reply_is(r, REDIS_REPLY_ERROR))
			(void)delivery_error(s, what, r);
		freeReplyObject(r);
	}
	return 0;
}

static int
ack_append(struct redis_store *s, const char *id)
{
	const char *argv[] = { "XACK", s->k_events, s->group, id };

	return append(s, &s->d, 4, argv, NULL);
}

static int
pending_has(const struct store_pending *out, size_t n, int64_t seq)
{
	while (n-- > 0)
		if (out[n].seq == seq)
			return 1;
	return 0;
}

static void
pending_fill(struct store_pending *p, int64_t seq, const struct fields *f)
{
	char num[24];

	memset(p, 0, sizeof(*p));
	p->seq = seq;
	/* an entry from before order keys goes by its channel, as then */
	if (f->has & 1u << F_ORDER_KEY)
		copy_field(p->order_key, sizeof(p->order_key), f, F_ORDER_KEY);
	else if (f->len[F_CID] > 0)
		snprintf(p->order_key, sizeof(p->order_key), "cid:%.*s",
		    (int)f->len[F_CID], f->v[F_CID]);
	snprintf(num, sizeof(num), "%.*s", (int)f->len[F_RECEIVED_AT],
	    f->v[F_RECEIVED_AT]);
	p->received_at = strtoll(num, NULL, 10);
}

/*
 * Entries read for delivery: push events go to out; the others are
 * acknowledged at once (a synchronous hook is never redelivered, a deleted
 * entry has nothing to deliver).  -1 after an I/O error.
 */
static int
entries_take(struct redis_store *s, const redisReply *list,
    struct store_pending *out, size_t *n, size_t max)
{
	struct fields f;
	const redisReply *e;
	int64_t seq;
	size_t i;
	int acks = 0;

	for (i = 0; reply_is(list, REDIS_REPLY_ARRAY) && i < list->elements;
	    i++) {
		e = list->element[i];
		if (!reply_is(e, REDIS_REPLY_ARRAY) || e->elements < 2 ||
		    !reply_is(e->element[0], REDIS_REPLY_STRING))
			continue;
		if (seq_of_id(e->element[0]->str, &seq) == -1) {
			log_warnx("store: redis: stream id %s does not fit a "
			    "seq; not delivered", e->element[0]->str);
			continue;
		}
		if (fields_of_reply(e->element[1], &f) == -1 ||
		    !field_is(&f, F_KIND, "push")) {
			if (ack_append(s, e->element[0]->str) == -1)
				return -1;
			acks++;
		} else if (*n < max && !pending_has(out, *n, seq))
			pending_fill(&out[(*n)++], seq, &f);
	}
	return drain(s, acks, "XACK");
}

/* XREADGROUP from id ("0": our own pending entries; ">": new ones). */
static int
read_group(struct redis_store *s, const char *id, struct store_pending *out,
    size_t *n, size_t max)
{
	char count[24];
	const char *argv[] = { "XREADGROUP", "GROUP", s->group, s->consumer,
	    "COUNT", count, "STREAMS", s->k_events, id };
	redisReply *r;
	int rc, again = 1;

	snprintf(count, sizeof(count), "%zu", max - *n);
retry:
	if ((r = command(s, &s->d, 9, argv, NULL)) == NULL)
		return -1;
	if (reply_error_is(r, "NOGROUP") && again) {
		freeReplyObject(r);
		again = 0;
		log_warnx("store: redis %s: consumer group %s is gone (Redis "
		    "lost its data?): created again", s->where, s->group);
		if (group_create(s, "0", NULL, 0) == -1)
			return -1;
		goto retry;
	}
	if (reply_is(r, REDIS_REPLY_ERROR))
		rc = delivery_error(s, "XREADGROUP", r);
	else if (reply_is(r, REDIS_REPLY_ARRAY) && r->elements > 0 &&
	    reply_is(r->element[0], REDIS_REPLY_ARRAY) &&
	    r->element[0]->elements >= 2)
		rc = entries_take(s, r->element[0]->element[1], out, n, max);
	else
		rc = 0;		/* nil: nothing */
	freeReplyObject(r);
	return rc;
}

/* Entries another consumer read and left idle too long: its host is gone.
 * They become ours. */
static int
autoclaim(struct redis_store *s, struct store_pending *out, size_t *n,
    size_t max)
{
	char count[24], idle[24], cursor[ID_MAX] = "0-0";
	const char *argv[] = { "XAUTOCLAIM", s->k_events, s->group,
	    s->consumer, idle, cursor, "COUNT", count };
	redisReply *r;
	int i, rc = 0;

	snprintf(idle, sizeof(idle), "%d", AUTOCLAIM_IDLE_MS);
	for (i = 0; i < AUTOCLAIM_ROUNDS && *n < max && rc == 0; i++) {
		snprintf(count, sizeof(count), "%zu", max - *n);
		if ((r = command(s, &s->d, 8, argv, NULL)) == NULL)
			return -1;
		if (reply_is(r, REDIS_REPLY_ERROR))
			rc = delivery_error(s, "XAUTOCLAIM", r);
		else if (reply_is(r, REDIS_REPLY_ARRAY) && r->elements >= 2 &&
		    reply_is(r->element[0], REDIS_REPLY_STRING)) {
			snprintf(cursor, sizeof(cursor), "%s",
			    r->element[0]->str);
			rc = entries_take(s, r->element[1], out, n, max);
		}
		freeReplyObject(r);
		if (strcmp(cursor, "0-0") == 0)
			break;
	}
	return rc;
}

/* The delivery attempts made so far: HMGET <prefix>:tries id... */
static int
tries_fill(struct redis_store *s, struct store_pending *out, size_t n)
{
	const char **argv;
	char (*ids)[ID_MAX];
	redisReply *r = NULL;
	size_t i;
	int rc = -1;

	argv = calloc(n + 2, sizeof(*argv));
	ids = calloc(n, sizeof(*ids));
	if (argv == NULL || ids == NULL) {
		log_warnx("store: redis: out of memory");
		goto out;
	}
	argv[0] = "HMGET";
	argv[1] = s->k_tries;
	for (i = 0; i < n; i++) {
		id_of_seq(out[i].seq, ids[i], sizeof(ids[i]));
		argv[i + 2] = ids[i];
	}
	if ((r = command(s, &s->d, (int)n + 2, argv, NULL)) == NULL)
		goto out;
	if (reply_is(r, REDIS_REPLY_ERROR)) {
		rc = delivery_error(s, "HMGET", r);
		goto out;
	}
	for (i = 0; reply_is(r, REDIS_REPLY_ARRAY) && i < n &&
	    i < r->elements; i++)
		if (reply_is(r->element[i], REDIS_REPLY_STRING))
			out[i].tries = atoi(r->element[i]->str);
	rc = 0;
out:
	freeReplyObject(r);
	free(ids);
	free(argv);
	return rc;
}

static int
pending_cmp(const void *a, const void *b)
{
	const struct store_pending *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
redis_pending(struct store *base, int64_t after, struct store_pending *out,
    size_t max)
{
	struct redis_store *s = (struct redis_store *)base;
	size_t n = 0;
	int rc;

	if (max == 0)
		return 0;
	pthread_mutex_lock(&s->dlock);
	rc = link_ensure(s, &s->d);
	if (rc == 0 && after == 0) {
		rc = read_group(s, "0", out, &n, max);
		if (rc == 0)
			rc = autoclaim(s, out, &n, max);
	}
	if (rc == 0 && n < max)
		rc = read_group(s, ">", out, &n, max);
	if (rc == 0 && n > 0)
		rc = tries_fill(s, out, n);
	pthread_mutex_unlock(&s->dlock);
	if (rc == -1)
		return -1;
	qsort(out, n, sizeof(*out), pending_cmp);
	return (int)n;
}

static int
record_fill(struct store_record *out, int64_t seq, const redisReply *kv)
{
	struct fields f;
	char num[24];
	int k;

	(void)fields_of_reply(kv, &f);
	out->seq = seq;
	out->kind = STORE_PUSH;
	for (k = STORE_PUSH; k <= STORE_CUSTOM_COMMAND; k++)
		if (field_is(&f, F_KIND, store_kind_name((enum store_kind)k)))
			out->kind = (enum store_kind)k;
	out->state = out->kind == STORE_PUSH ? STORE_PENDING : STORE_KEPT;
	copy_field(out->webhook_id, sizeof(out->webhook_id), &f, F_WEBHOOK_ID);
	copy_field(out->api_key, sizeof(out->api_key), &f, F_API_KEY);
	copy_field(out->event_type, sizeof(out->event_type), &f, F_TYPE);
	copy_field(out->command, sizeof(out->command), &f, F_COMMAND);
	copy_field(out->cid, sizeof(out->cid), &f, F_CID);
	copy_field(out->order_key, sizeof(out->order_key), &f, F_ORDER_KEY);
	copy_field(out->signature, sizeof(out->signature), &f, F_SIGNATURE);
	copy_field(out->target, sizeof(out->target), &f, F_TARGET);
	copy_field(num, sizeof(num), &f, F_ATTEMPT);
	out->attempt = atoi(num);
	copy_field(num, sizeof(num), &f, F_RECEIVED_AT);
	out->received_at = strtoll(num, NULL, 10);
	if ((out->body = malloc(f.len[F_BODY] + 1)) == NULL) {
		log_warnx("store: redis: out of memory");
		return -1;
	}
	memcpy(out->body, f.v[F_BODY], f.len[F_BODY]);
	out->body_len = f.len[F_BODY];
	return 0;
}

/* XRANGE key id id: the entry (*entry), none (NULL, 0), or -1. */
static int
entry_get(struct redis_store *s, const char *id, redisReply **r,
    const redisReply **entry)
{
	const char *argv[] = { "XRANGE", s->k_events, id, id };

	*entry = NULL;
	if ((*r = command(s, &s->d, 4, argv, NULL)) == NULL)
		return -1;
	if (reply_is(*r, REDIS_REPLY_ERROR))
		return delivery_error(s, "XRANGE", *r);
	if (reply_is(*r, REDIS_REPLY_ARRAY) && (*r)->elements > 0 &&
	    reply_is((*r)->element[0], REDIS_REPLY_ARRAY) &&
	    (*r)->element[0]->elements >= 2)
		*entry = (*r)->element[0];
	return 0;
}

static int
fetch_locked(struct redis_store *s, int64_t seq, struct store_record *out)
{
	char id[ID_MAX];
	const char *argv[] = { "HGET", s->k_tries, id };
	const redisReply *e;
	redisReply *r, *t;
	int rc;

	id_of_seq(seq, id, sizeof(id));
	if (link_ensure(s, &s->d) == -1)
		return -1;
	if ((rc = entry_get(s, id, &r, &e)) == 0 && e == NULL)
		rc = 1;
	if (rc == 0)
		rc = record_fill(out, seq, e->element[1]);
	freeReplyObject(r);
	if (rc != 0)
		return rc;
	if ((t = command(s, &s->d, 3, argv, NULL)) == NULL)
		return -1;
	if (reply_is(t, REDIS_REPLY_STRING))
		out->tries = atoi(t->str);
	freeReplyObject(t);
	return 0;
}

static int
redis_fetch(struct store *base, int64_t seq, struct store_record *out)
{
	struct redis_store *s = (struct redis_store *)base;
	int rc;

	pthread_mutex_lock(&s->dlock);
	rc = fetch_locked(s, seq, out);
	pthread_mutex_unlock(&s->dlock);
	if (rc != 0)
		store_record_free(out);
	return rc;
}

/* Acknowledged, and its attempt count forgotten: 2 commands queued. */
static int
done_append(struct redis_store *s, const char *id)
{
	const char *argv[] = { "HDEL", s->k_tries, id };

	if (ack_append(s, id) == -1)
		return -1;
	return append(s, &s->d, 3, argv, NULL);
}

/* Out of attempts: a copy with the error to :dead, and only once that is
 * written, acknowledged (else it stays pending: never lost). */
static void
mark_dead(struct redis_store *s, const char *id, const char *error)
{
	const redisReply *e;
	redisReply *r, *a = NULL;
	struct fields f;
	int ok = 1;

	if (entry_get(s, id, &r, &e) == -1) {
		freeReplyObject(r);
		return;
	}
	if (e == NULL)
		log_warnx("store: redis: dead entry %s is gone from %s", id,
		    s->k_events);
	else {
		(void)fields_of_reply(e->element[1], &f);
		ok = xadd_append(s, &s->d, s->k_dead, &f, error, id) == 0 &&
		    reply_read(s, &s->d, &a) == 0;
		if (ok && reply_is(a, REDIS_REPLY_ERROR))
			ok = delivery_error(s, "XADD dead", a) == 0;
	}
	freeReplyObject(a);
	freeReplyObject(r);
	if (ok && done_append(s, id) == 0)
		(void)drain(s, 2, "dead");
}

static void
mark_locked(struct redis_store *s, const struct store_mark *m)
{
	char id[ID_MAX], tries[24];
	const char *argv[] = { "HSET", s->k_tries, id, tries };

	id_of_seq(m->seq, id, sizeof(id));
	snprintf(tries, sizeof(tries), "%d", m->tries);
	/* Redis down: the link logged it, and the entry stays pending */
	if (link_ensure(s, &s->d) == -1)
		return;
	switch (m->state) {
	case STORE_DELIVERED:
		if (done_append(s, id) == 0)
			(void)drain(s, 2, "delivered");
		break;
	case STORE_DEAD:
		mark_dead(s, id, m->error);
		break;
	case STORE_PENDING:
		if (append(s, &s->d, 4, argv, NULL) == 0)
			(void)drain(s, 1, "HSET tries");
		break;
	case STORE_KEPT:
		break;
	}
}

static void
redis_mark(struct store *base, const struct store_mark *m)
{
	struct redis_store *s = (struct redis_store *)base;

	/* KEPT: a hook, acknowledged when it was read.  Without delivery on
	 * this host nothing reads the group here: nothing to record. */
	if (m->state == STORE_KEPT || !s->deliver)
		return;
	pthread_mutex_lock(&s->dlock);
	mark_locked(s, m);
	pthread_mutex_unlock(&s->dlock);
}

/* ---------------------------------------------------------------- life */

/* redis://HOST:PORT[/DB], HOST maybe "[v6]": 0, or -1. */
static int
uri_parse(struct redis_store *s, const char *uri)
{
	const char *h = uri + strlen("redis://"), *slash, *colon;
	char *end;
	long v;

	if (strncmp(uri, "redis://", 8) != 0)
		return -1;
	if ((slash = strchr(h, '/')) == NULL)
		slash = h + strlen(h);
	for (colon = slash; colon > h && colon[-1] != ':'; colon--)
		;
	if (colon <= h + 1 || (size_t)(slash - h) >= sizeof(s->where))
		return -1;
	snprintf(s->where, sizeof(s->where), "%.*s", (int)(slash - h), h);
	if (h[0] == '[' && colon[-2] == ']')
		snprintf(s->host, sizeof(s->host), "%.*s",
		    (int)(colon - h - 3), h + 1);
	else
		snprintf(s->host, sizeof(s->host), "%.*s",
		    (int)(colon - h - 1), h);
	v = strtol(colon, &end, 10);
	if (end != slash || v < 1 || v > 65535 || s->host[0] == '\0')
		return -1;
	s->port = (int)v;
	if (*slash == '\0')
		return 0;
	v = strtol(slash + 1, &end, 10);
	if (slash[1] == '\0' || *end != '\0' || v < 0 || v > 255)
		return -1;
	s->db = (int)v;
	return 0;
}

static void
redis_close(struct store *base)
{
	struct redis_store *s = (struct redis_store *)base;

	if (s->w.c != NULL)
		redisFree(s->w.c);
	if (s->d.c != NULL)
		redisFree(s->d.c);
	store_queue_destroy(&s->base.q);
	pthread_mutex_destroy(&s->dlock);
	free(s->slots);
	free(s->twins);
	free(s);
}

static void
options_apply(struct redis_store *s, const struct store_options *opt)
{
	const char *p = opt->redis_prefix && *opt->redis_prefix ?
	    opt->redis_prefix : "streamgate";

	snprintf(s->group, sizeof(s->group), "%s", p);
	snprintf(s->k_events, sizeof(s->k_events), "%s:events", p);
	snprintf(s->k_dead, sizeof(s->k_dead), "%s:dead", p);
	snprintf(s->k_tries, sizeof(s->k_tries), "%s:tries", p);
	snprintf(s->consumer, sizeof(s->consumer), "%s",
	    opt->consumer && *opt->consumer ? opt->consumer : "streamgated");
	snprintf(s->window, sizeof(s->window), "%llu", (unsigned long long)
	    (opt->dedup_window_ms > 0 ? opt->dedup_window_ms : 86400000));
	s->deliver = opt->deliver;
	s->w.role = "";
	s->w.meanwhile = "answering 503 until it is back";
	s->d.role = " for delivery";
	s->d.up = 1;		/* connected at first use: not "back" */
	s->d.meanwhile = "delivery waits until it is back";
}

/* Both links at open: a wrong URI or a Redis that is not there is seen at
 * once, not at the first webhook.  Later outages are survived. */
static int
links_open(struct redis_store *s, char *err, size_t errlen)
{
	char why[256];

	if (link_connect(s, &s->w, why, sizeof(why)) == -1) {
		log_errbuf(err, errlen, "store: redis %s unreachable: %s",
		    s->where, why);
		return -1;
	}
	s->w.up = s->base.q.stats.up = 1;
	if (!s->deliver)
		return 0;
	if (link_connect(s, &s->d, why, sizeof(why)) == -1) {
		log_errbuf(err, errlen, "store: redis %s unreachable: %s",
		    s->where, why);
		return -1;
	}
	s->d.up = 1;
	return group_create(s, "$", err, errlen);
}

static struct store *
redis_open(const char *uri, const struct store_options *opt, char *err,
    size_t errlen)
{
	struct redis_store *s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->slots = calloc(BATCH_MAX, sizeof(*s->slots))) == NULL ||
	    (s->twins = calloc(TWIN_SLOTS, sizeof(*s->twins))) == NULL) {
		if (s != NULL)
			free(s->slots);
		free(s);
		log_errbuf(err, errlen, "store: out of memory");
		return NULL;
	}
	store_queue_init(&s->base.q);
	pthread_mutex_init(&s->dlock, NULL);
	s->base.ops = &store_redis_ops;
	options_apply(s, opt);
	if (uri_parse(s, uri) == -1) {
		log_errbuf(err, errlen, "store: '%s' is not "
		    "redis://HOST:PORT[/DB]", uri);
		redis_close(&s->base);
		return NULL;
	}
	if (links_open(s, err, errlen) == -1) {
		redis_close(&s->base);
		return NULL;
	}
	return &s->base;
}

const struct store_ops store_redis_ops = {
	.scheme = "redis://",
	.open = redis_open,
	.writer = writer,
	.close = redis_close,
	.pending = redis_pending,
	.fetch = redis_fetch,
	.mark = redis_mark,
	.dedup_window = 1,	/* claims expire with the window (PX) */
};
