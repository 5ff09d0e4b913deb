/*
 * store_nats.c: the NATS JetStream store, shared by a fleet of edge hosts
 * and replicated before an event is acknowledged (layout: store_nats.h).
 *
 * Open: connect, then create or check both streams (file storage, the
 * replicas asked for, the duplicate window) and, with delivery, the
 * durable pull consumer; anything the servers refuse stops the start.
 *
 * Writer: one thread takes whatever is queued (group commit, as the other
 * backends) and publishes the whole batch asynchronously, each event with
 * Nats-Msg-Id set, then waits for every ack (at most PUB_WAIT_MS; the
 * library times out an ack it never gets).  An ack means the stream's
 * leader stored the event on a quorum of its replicas: only then is the
 * event STORE_STORED; Duplicate in the ack is STORE_DUPLICATE (the servers
 * keep the ids for the duplicate window, fleet-wide).  The ack handler
 * runs on the library's thread and finds its slot by the message pointer:
 * a message lives until its handler destroys it (the library always calls
 * the handler: an ack, an error, or MaxWait's timeout), so no two messages
 * in flight share one.  A late ack of a batch that timed out
 * finds no slot and is dropped: that event may be stored though we
 * answered 503, and Stream's retry is then a duplicate (200).
 *
 * Outages: while the connection is not up (the library reconnects by
 * itself, forever) a batch fails at once; one line is logged when the
 * link goes and one when it is back.  A lost node that led the stream
 * costs an election (seconds: nats-server's Raft waits out its election
 * timeout first); the connection stays up meanwhile, and an event whose
 * publish gets no ack is carried into the writer's next round and
 * published again, with the same Nats-Msg-Id, until HOLD_MS after it was
 * received; only then is it answered 503.  So the new leader's first ack
 * answers what arrived during most of the election, and Stream sees a
 * slower 200 instead of a 503 and a retry.  (A publish that timed out may
 * still have been stored: its second publish is then a Duplicate, which
 * is a 200 as well, and the stream holds it once.)
 *
 * Delivery: the delivery thread (and the hook thread's marks) share the
 * pull subscription under dlock.  Messages fetched are held until marked,
 * kept ours with "in progress" while they wait (a retry's backoff, or the
 * order of their channel), so the consumer's AckWait only runs out when
 * this host is gone: the others get them then.  Retries are scheduled by
 * the delivery worker with our backoff while the message stays held, which
 * keeps a channel's order on this host; the consumer's MaxDeliver bounds
 * the hosts a poisonous event can take down.  Dead: a copy with the reason
 * to STREAM_DEAD, then AckTerm.  The seq is the stream sequence.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "store_impl.h"
#include "store_nats.h"
#include "store_queue.h"

#define BATCH_MAX	1024		/* events in flight per round */
#define PUB_WAIT_MS	1000		/* an ack, at most: well above the
					 * milliseconds one takes */
#define HOLD_MS		4000		/* an event unacked for want of a
					 * leader is published again until
					 * this long after it was received */
#define RETRY_WAIT_MS	500		/* an ack, at most, in such a round:
					 * answered by ~4.7 s at the latest,
					 * inside Stream's 6 s per attempt */
#define RETRY_MS	100		/* between two such rounds */
#define API_WAIT_MS	5000		/* stream and consumer requests */
#define IDLE_MS		1000		/* gauges */
#define FETCH_MS	50		/* a pull that finds nothing */
#define HELD_MAX	65536
#define BACKOFF_MAX	16		/* the consumer's BackOff, at most */
#define ID_MAX		1024

static const uint64_t ack_bounds[STORE_ACK_NBUCKETS] = STORE_ACK_BUCKETS;

struct slot {
	struct store_event *ev;
	natsMsg		*msg;		/* in flight; NULL once answered */
	enum store_result res;
	int		 final;		/* no message made: no retry */
	int		 sent;		/* published, this round or one
					 * before */
	int64_t		 t0_us;
};

/* A message this host fetched and has not settled yet. */
struct held {
	int64_t		 seq;
	natsMsg		*msg;
	int		 tries;
	int64_t		 progress_at;	/* mono ms: "in progress" again */
};

struct nats_store {
	struct store		 base;
	struct store_nats_conf	 c;
	natsConnection		*nc;
	jsCtx			*js;
	jsOptions		 jo;
	int			 deliver;
	int64_t			 window_ns;
	unsigned		 max_attempts, ack_wait_ms;
	unsigned		 backoff_base_ms, backoff_cap_ms;

	/* the batch in flight: the ack handler's too */
	pthread_mutex_t		 alock;
	pthread_cond_t		 acked;
	struct slot		*slots;
	size_t			 nslots, waiting;
	char			 ack_err[128];	/* the batch's first error */
	struct store_event	*carry;		/* held for the next round */
	size_t			 ncarry, ncarried; /* at the batch's head */
	int64_t			 retry_at;	/* mono ms: that round */
	int			 stopping;	/* the writer's copy */
	int			 failing;	/* for the log: state changes */
	int64_t			 gauges_at;

	/* the delivery side */
	pthread_mutex_t		 dlock;
	natsSubscription	*sub;
	struct held		*held;
	size_t			 nheld;
};

/* ---------------------------------------------------------------- link */

static void
link_state(struct nats_store *s, int up)
{
	pthread_mutex_lock(&s->base.q.lock);
	s->base.q.stats.up = up;
	s->base.q.stats.reconnects += up;
	pthread_mutex_unlock(&s->base.q.lock);
}

static void
link_down(natsConnection *nc, void *arg)
{
	struct nats_store *s = arg;

	(void)nc;
	/* a close at exit is not an outage */
	if (natsConnection_Status(nc) == NATS_CONN_STATUS_CLOSED)
		return;
	log_warnx("store: nats: connection lost; answering 503 until it is "
	    "back");
	link_state(s, 0);
}

static void
link_back(natsConnection *nc, void *arg)
{
	struct nats_store *s = arg;
	char url[256] = "";

	(void)natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	log_warnx("store: nats: connected again, to %s", url);
	link_state(s, 1);
}

static int
link_up(struct nats_store *s)
{
	return natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* ---------------------------------------------------------------- writer */

static void
ack_observe(struct nats_store *s, int64_t us)
{
	struct store_stats *st = &s->base.q.stats;
	int i;

	pthread_mutex_lock(&s->base.q.lock);
	for (i = 0; i < STORE_ACK_NBUCKETS; i++)
		if ((uint64_t)us <= ack_bounds[i])
			st->ack_le[i]++;
	st->ack_count++;
	st->ack_sum_us += (uint64_t)us;
	pthread_mutex_unlock(&s->base.q.lock);
}

/* The library's thread: an ack (pa) or why none (pae). */
static void
ack_handler(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
    void *arg)
{
	struct nats_store *s = arg;
	struct slot *sl = NULL;
	size_t i;

	(void)js;
	pthread_mutex_lock(&s->alock);
	for (i = 0; i < s->nslots; i++)
		if (s->slots[i].msg == msg) {
			sl = &s->slots[i];
			break;
		}
	if (sl == NULL) {		/* a batch given up on */
		pthread_mutex_unlock(&s->alock);
		natsMsg_Destroy(msg);
		return;
	}
	sl->msg = NULL;
	if (pa != NULL && pae == NULL) {
		sl->res = pa->Duplicate ? STORE_DUPLICATE : STORE_STORED;
		sl->ev->seq = (int64_t)pa->Sequence;
		ack_observe(s, clock_mono_us() - sl->t0_us);
	} else if (s->ack_err[0] == '\0')
		snprintf(s->ack_err, sizeof(s->ack_err), "%s",
		    pae != NULL && pae->ErrText != NULL ? pae->ErrText :
		    natsStatus_GetText(pae != NULL ? pae->Err : NATS_ERR));
	if (--s->waiting == 0)
		pthread_cond_signal(&s->acked);
	pthread_mutex_unlock(&s->alock);
	natsMsg_Destroy(msg);	/* ours again, now (nats.h) */
}

static int
hdr_set(natsMsg *m, enum store_nats_hdr h, const char *v)
{
	char enc[4096];

	if (v == NULL || *v == '\0')
		return 0;
	if (store_nats_hdr_encode(v, enc, sizeof(enc)) == -1)
		return -1;
	return natsMsgHeader_Set(m, store_nats_hdr_names[h], enc) == NATS_OK ?
	    0 : -1;
}

/* The event as a message: its body, our fields as headers. */
static natsMsg *
msg_of_event(struct nats_store *s, const struct store_event *ev)
{
	char subj[128], id[ID_MAX], num[2][24];
	natsMsg *m = NULL;
	int rc = 0;

	snprintf(subj, sizeof(subj), "%s.event.%s", s->c.prefix,
	    store_kind_name(ev->kind));
	snprintf(num[0], sizeof(num[0]), "%d", ev->attempt);
	snprintf(num[1], sizeof(num[1]), "%lld", (long long)ev->received_at);
	if (store_nats_msg_id(ev->api_key, ev->webhook_id, id,
	    sizeof(id)) == -1 || natsMsg_Create(&m, subj, NULL,
	    (const char *)ev->body, (int)ev->body_len) != NATS_OK)
		return NULL;
	rc |= natsMsgHeader_Set(m, "Nats-Msg-Id", id) != NATS_OK;
	rc |= hdr_set(m, SNH_WEBHOOK_ID, ev->webhook_id);
	rc |= hdr_set(m, SNH_KIND, store_kind_name(ev->kind));
	rc |= hdr_set(m, SNH_TYPE, ev->event_type);
	rc |= hdr_set(m, SNH_API_KEY, ev->api_key);
	rc |= hdr_set(m, SNH_ATTEMPT, num[0]);
	rc |= hdr_set(m, SNH_RECEIVED_AT, num[1]);
	rc |= hdr_set(m, SNH_COMMAND, ev->command);
	rc |= hdr_set(m, SNH_CID, ev->cid);
	rc |= hdr_set(m, SNH_ORDER_KEY, ev->order_key);
	rc |= hdr_set(m, SNH_SIGNATURE, ev->signature);
	rc |= hdr_set(m, SNH_TARGET, ev->target);
	rc |= hdr_set(m, SNH_BODY_SHA256, ev->body_sha256);
	if (rc != 0) {
		natsMsg_Destroy(m);
		return NULL;
	}
	return m;
}

/* Publish slot i; on failure the slot stays STORE_FAILED. */
static void
publish_one(struct nats_store *s, size_t i, jsPubOptions *po)
{
	struct slot *sl = &s->slots[i];
	natsMsg *m;
	natsStatus st;

	if ((m = msg_of_event(s, sl->ev)) == NULL) {
		sl->final = 1;
		return;
	}
	sl->sent = 1;
	pthread_mutex_lock(&s->alock);
	sl->msg = m;		/* before: the ack may come at once */
	sl->t0_us = clock_mono_us();
	s->waiting++;
	pthread_mutex_unlock(&s->alock);
	if ((st = js_PublishMsgAsync(s->js, &m, po)) == NATS_OK)
		return;
	pthread_mutex_lock(&s->alock);
	if (sl->msg != NULL) {
		sl->msg = NULL;
		s->waiting--;
	}
	if (s->ack_err[0] == '\0')
		snprintf(s->ack_err, sizeof(s->ack_err), "publish: %s",
		    natsStatus_GetText(st));
	pthread_mutex_unlock(&s->alock);
	natsMsg_Destroy(m);
}

/* Wait for every ack; what never came is given up on (STORE_FAILED). */
static void
acks_wait(struct nats_store *s, int64_t wait_ms)
{
	int64_t until = clock_mono_ms() + wait_ms + 200;
	struct timespec ts;
	size_t i;

	pthread_mutex_lock(&s->alock);
	while (s->waiting > 0 && clock_mono_ms() < until) {
		ts = clock_ts_us(clock_mono_us() + 100000);
		pthread_cond_timedwait(&s->acked, &s->alock, &ts);
	}
	for (i = 0; i < s->nslots; i++)
		s->slots[i].msg = NULL;
	s->waiting = 0;
	s->nslots = 0;
	pthread_mutex_unlock(&s->alock);
}

/* Failing publishes are logged when they start and when they stop, not
 * per batch: an election fails every batch for seconds. */
static void
batch_log(struct nats_store *s, size_t n)
{
	if (s->ack_err[0] != '\0' && !s->failing) {
		s->failing = 1;
		log_warnx("store: nats: stream %s: %s; publishing again for "
		    "up to %d s, then 503, until an event is acknowledged",
		    s->c.stream, s->ack_err, HOLD_MS / 1000);
	} else if (s->failing && s->ack_err[0] == '\0' && n > 0) {
		s->failing = 0;
		log_warnx("store: nats: stream %s acknowledges events again",
		    s->c.stream);
	}
}

/* An event that failed for want of an ack, young enough: published again
 * next round rather than answered 503.  On a lost link only what was
 * published before it went (a node gone: the library is reconnecting to
 * another); what arrives while it is down is answered 503 at once. */
static int
batch_carries(struct nats_store *s, const struct slot *sl, int64_t now_ms)
{
	return sl->res == STORE_FAILED && !sl->final && !s->stopping &&
	    (sl->sent || link_up(s)) && now_ms - sl->ev->received_at < HOLD_MS;
}

/* Split the batch: what is settled is reported, the rest carried. */
static void
batch_settle(struct nats_store *s, size_t n)
{
	enum store_result res[BATCH_MAX];
	struct store_event *done = NULL, **dt = &done, **ct = &s->carry;
	struct slot *sl;
	int64_t now = clock_unix_ms();
	size_t i, nd = 0;
	int pushes = 0, stored = 0;

	s->carry = NULL;
	s->ncarry = 0;
	for (i = 0; i < n; i++) {
		sl = &s->slots[i];
		sl->ev->next = NULL;
		if (batch_carries(s, sl, now)) {
			*ct = sl->ev;
			ct = &sl->ev->next;
			s->ncarry++;
			continue;
		}
		*dt = sl->ev;
		dt = &sl->ev->next;
		res[nd++] = sl->res;
		stored += sl->res == STORE_STORED;
		pushes += sl->res == STORE_STORED && sl->ev->kind == STORE_PUSH;
		/* the servers kept no body hash of the first copy */
		sl->ev->first_sha256[0] = '\0';
		if (sl->res == STORE_FAILED)
			store_queue_error(&s->base.q);
	}
	batch_log(s, n);
	s->retry_at = clock_mono_ms() + RETRY_MS;
	if (done != NULL)
		store_queue_report(&s->base.q, done, res, stored > 0,
		    pushes > 0);
}

static void
batch_run(struct nats_store *s, struct store_event *batch)
{
	struct store_event *ev;
	jsPubOptions po;
	size_t i, n = 0;

	jsPubOptions_Init(&po);
	po.MaxWait = s->ncarried > 0 ? RETRY_WAIT_MS : PUB_WAIT_MS;
	pthread_mutex_lock(&s->alock);
	for (ev = batch; ev != NULL; ev = ev->next) {
		s->slots[n].ev = ev;
		s->slots[n].msg = NULL;
		s->slots[n].final = 0;
		s->slots[n].sent = n < s->ncarried;
		s->slots[n++].res = STORE_FAILED;
	}
	s->nslots = n;
	s->waiting = 0;
	s->ack_err[0] = '\0';
	pthread_mutex_unlock(&s->alock);
	/* down: 503 at once, never queued in the library meanwhile */
	if (link_up(s)) {
		for (i = 0; i < n; i++)
			publish_one(s, i, &po);
		acks_wait(s, po.MaxWait);
	}
	batch_settle(s, n);
}

/* The next round: what was carried, then what is queued (lock held). */
static struct store_event *
batch_next(struct nats_store *s)
{
	struct store_event *batch = s->carry, **t = &batch;

	while (*t != NULL)
		t = &(*t)->next;
	if (s->ncarry < BATCH_MAX)
		*t = store_queue_take(&s->base.q, BATCH_MAX - s->ncarry);
	s->ncarried = s->ncarry;
	s->carry = NULL;
	s->ncarry = 0;
	return batch;
}

/* ---------------------------------------------------------------- gauges */

static void
gauges_refresh(struct nats_store *s)
{
	jsConsumerInfo *ci = NULL;
	jsStreamInfo *si = NULL;
	uint64_t pending = 0, dead = 0;

	if (!link_up(s))
		return;
	if (js_GetConsumerInfo(&ci, s->js, s->c.stream, STORE_NATS_CONSUMER,
	    &s->jo, NULL) == NATS_OK)
		pending = ci->NumPending + (uint64_t)ci->NumAckPending;
	if (js_GetStreamInfo(&si, s->js, s->c.dead, &s->jo, NULL) == NATS_OK)
		dead = si->State.Msgs;
	jsConsumerInfo_Destroy(ci);
	jsStreamInfo_Destroy(si);
	store_queue_gauges(&s->base.q, pending, dead, 0);
}

static void *
writer(void *arg)
{
	struct nats_store *s = arg;
	struct store_event *batch;
	int64_t now;

	pthread_mutex_lock(&s->base.q.lock);
	for (;;) {
		/* a carried round waits RETRY_MS whatever arrives: an
		 * election's failures may be instant ("no responders") */
		while (s->carry != NULL && !s->base.q.stopping &&
		    clock_mono_ms() < s->retry_at)
			store_queue_wait(&s->base.q, s->retry_at);
		if (s->carry == NULL && s->base.q.head == NULL &&
		    !s->base.q.stopping)
			store_queue_wait(&s->base.q, clock_mono_ms() +
			    IDLE_MS);
		if (s->base.q.head == NULL && s->carry == NULL &&
		    s->base.q.stopping)
			break;
		s->stopping = s->base.q.stopping;
		batch = batch_next(s);
		pthread_mutex_unlock(&s->base.q.lock);
		if (batch != NULL)
			batch_run(s, batch);
		if (s->deliver && (now = clock_mono_ms()) >= s->gauges_at) {
			s->gauges_at = now + IDLE_MS;
			gauges_refresh(s);
		}
		pthread_mutex_lock(&s->base.q.lock);
	}
	pthread_mutex_unlock(&s->base.q.lock);
	return NULL;
}

/* ---------------------------------------------------------------- delivery */

static struct held *
held_find(struct nats_store *s, int64_t seq)
{
	size_t lo = 0, hi = s->nheld, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (s->held[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nheld && s->held[lo].seq == seq ? &s->held[lo] : NULL;
}

static void
held_remove(struct nats_store *s, struct held *h)
{
	size_t i = (size_t)(h - s->held);

	natsMsg_Destroy(h->msg);
	memmove(h, h + 1, (s->nheld - i - 1) * sizeof(*h));
	s->nheld--;
}

/* A message fetched: held in seq order (a redelivery replaces its old
 * copy, whose ack token is stale). */
static void
held_add(struct nats_store *s, natsMsg *m)
{
	jsMsgMetaData *meta = NULL;
	struct held *h;
	size_t i;
	int64_t seq;
	int tries;

	if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
		natsMsg_Destroy(m);
		return;
	}
	seq = (int64_t)meta->Sequence.Stream;
	/* each delivery by the servers was one attempt at least */
	tries = meta->NumDelivered > 0 ? (int)meta->NumDelivered - 1 : 0;
	jsMsgMetaData_Destroy(meta);
	if ((h = held_find(s, seq)) != NULL) {
		natsMsg_Destroy(h->msg);
		h->msg = m;
		h->tries = tries > h->tries ? tries : h->tries;
		return;
	}
	for (i = s->nheld; i > 0 && s->held[i - 1].seq > seq; i--)
		;
	memmove(&s->held[i + 1], &s->held[i], (s->nheld - i) *
	    sizeof(*s->held));
	s->nheld++;
	s->held[i].seq = seq;
	s->held[i].msg = m;
	s->held[i].tries = tries;
	s->held[i].progress_at = clock_mono_ms() + s->ack_wait_ms / 3;
}

static int
fetch_new(struct nats_store *s, size_t max)
{
	natsMsgList list = { 0 };
	natsStatus st;
	char why[256];
	int i;

	if (max > HELD_MAX - s->nheld)
		max = HELD_MAX - s->nheld;
	if (max == 0 || !link_up(s))
		return 0;
	st = natsSubscription_Fetch(&list, s->sub, (int)max, FETCH_MS, NULL);
	if (st == NATS_TIMEOUT || st == NATS_NOT_FOUND)
		return 0;
	if (st != NATS_OK) {
		log_warnx("%s: nats: %s", __func__,
		    store_nats_why(st, why, sizeof(why)));
		store_queue_error(&s->base.q);
		return -1;
	}
	for (i = 0; i < list.Count; i++) {
		held_add(s, list.Msgs[i]);
		list.Msgs[i] = NULL;	/* held now */
	}
	natsMsgList_Destroy(&list);
	return 0;
}

/* What waits here stays ours: the AckWait starts again. */
static void
held_keep(struct nats_store *s)
{
	int64_t now = clock_mono_ms();
	size_t i;

	for (i = 0; i < s->nheld; i++)
		if (now >= s->held[i].progress_at) {
			(void)natsMsg_InProgress(s->held[i].msg, &s->jo);
			s->held[i].progress_at = now + s->ack_wait_ms / 3;
		}
}

static void
pending_fill(struct store_pending *p, const struct held *h)
{
	char num[24];

	memset(p, 0, sizeof(*p));
	p->seq = h->seq;
	p->tries = h->tries;
	store_nats_hdr_get(h->msg, SNH_ORDER_KEY, p->order_key,
	    sizeof(p->order_key));
	store_nats_hdr_get(h->msg, SNH_RECEIVED_AT, num, sizeof(num));
	p->received_at = strtoll(num, NULL, 10);
}

static int
nats_pending(struct store *base, int64_t after, struct store_pending *out,
    size_t max)
{
	struct nats_store *s = (struct nats_store *)base;
	size_t i, n = 0;
	int rc;

	if (max == 0 || s->sub == NULL)
		return 0;
	pthread_mutex_lock(&s->dlock);
	rc = fetch_new(s, max);
	held_keep(s);
	for (i = 0; rc == 0 && i < s->nheld && n < max; i++)
		if (s->held[i].seq > after)
			pending_fill(&out[n++], &s->held[i]);
	pthread_mutex_unlock(&s->dlock);
	return rc == -1 ? -1 : (int)n;
}

static int
record_fill(struct store_record *out, const struct held *h)
{
	const char *data = natsMsg_GetData(h->msg);
	int len = natsMsg_GetDataLength(h->msg);
	char num[24];

	out->seq = h->seq;
	out->kind = STORE_PUSH;
	out->state = STORE_PENDING;
	out->tries = h->tries;
	store_nats_hdr_get(h->msg, SNH_WEBHOOK_ID, out->webhook_id,
	    sizeof(out->webhook_id));
	store_nats_hdr_get(h->msg, SNH_API_KEY, out->api_key,
	    sizeof(out->api_key));
	store_nats_hdr_get(h->msg, SNH_TYPE, out->event_type,
	    sizeof(out->event_type));
	store_nats_hdr_get(h->msg, SNH_CID, out->cid, sizeof(out->cid));
	store_nats_hdr_get(h->msg, SNH_ORDER_KEY, out->order_key,
	    sizeof(out->order_key));
	store_nats_hdr_get(h->msg, SNH_SIGNATURE, out->signature,
	    sizeof(out->signature));
	store_nats_hdr_get(h->msg, SNH_TARGET, out->target,
	    sizeof(out->target));
	store_nats_hdr_get(h->msg, SNH_ATTEMPT, num, sizeof(num));
	out->attempt = atoi(num);
	store_nats_hdr_get(h->msg, SNH_RECEIVED_AT, num, sizeof(num));
	out->received_at = strtoll(num, NULL, 10);
	if ((out->body = malloc((size_t)len + 1)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return -1;
	}
	if (len > 0)
		memcpy(out->body, data, (size_t)len);
	out->body_len = (size_t)len;
	return 0;
}

static int
nats_fetch(struct store *base, int64_t seq, struct store_record *out)
{
	struct nats_store *s = (struct nats_store *)base;
	struct held *h;
	int rc = 1;		/* not ours (any more): settled elsewhere */

	pthread_mutex_lock(&s->dlock);
	if ((h = held_find(s, seq)) != NULL)
		rc = record_fill(out, h);
	pthread_mutex_unlock(&s->dlock);
	if (rc != 0)
		store_record_free(out);
	return rc;
}

/* A copy of a dead event, with why, to STREAM_DEAD: 0 once stored. */
static int
dead_copy(struct nats_store *s, const struct held *h, const char *error)
{
	const char *data = natsMsg_GetData(h->msg);
	char hv[4096], num[24];
	jsPubAck *pa = NULL;
	natsMsg *m = NULL;
	natsStatus st;
	char why[256];
	int i;

	st = natsMsg_Create(&m, s->c.subj_dead, NULL, data,
	    natsMsg_GetDataLength(h->msg));
	for (i = 0; st == NATS_OK && i < SNH_ERROR; i++) {
		store_nats_hdr_get(h->msg, (enum store_nats_hdr)i, hv,
		    sizeof(hv));
		if (hdr_set(m, (enum store_nats_hdr)i, hv) == -1)
			st = NATS_ERR;
	}
	snprintf(num, sizeof(num), "%lld", (long long)h->seq);
	if (st == NATS_OK && (hdr_set(m, SNH_ERROR, error[0] ? error :
	    "out of attempts") == -1 || hdr_set(m, SNH_SEQ, num) == -1))
		st = NATS_ERR;
	if (st == NATS_OK)
		st = js_PublishMsg(&pa, s->js, m, NULL, NULL);
	jsPubAck_Destroy(pa);
	natsMsg_Destroy(m);
	if (st != NATS_OK) {
		log_warnx("%s: nats: seq %lld to %s: %s", __func__,
		    (long long)h->seq, s->c.dead,
		    store_nats_why(st, why, sizeof(why)));
		store_queue_error(&s->base.q);
		return -1;
	}
	return 0;
}

static void
mark_locked(struct nats_store *s, const struct store_mark *m)
{
	struct held *h;

	if ((h = held_find(s, m->seq)) == NULL)
		return;		/* redelivered elsewhere meanwhile */
	switch (m->state) {
	case STORE_DELIVERED:
		/* a lost ack: delivered again after AckWait, at least once */
		(void)natsMsg_Ack(h->msg, &s->jo);
		held_remove(s, h);
		break;
	case STORE_DEAD:
		/* not copied: not settled either; the AckWait brings it
		 * back, and the next host tries the copy again */
		if (dead_copy(s, h, m->error) == 0)
			(void)natsMsg_Term(h->msg, &s->jo);
		held_remove(s, h);
		break;
	case STORE_PENDING:
		h->tries = m->tries;
		(void)natsMsg_InProgress(h->msg, &s->jo);
		h->progress_at = clock_mono_ms() + s->ack_wait_ms / 3;
		break;
	case STORE_KEPT:
		break;
	}
}

static void
nats_mark(struct store *base, const struct store_mark *m)
{
	struct nats_store *s = (struct nats_store *)base;

	if (m->state == STORE_KEPT || s->sub == NULL)
		return;
	pthread_mutex_lock(&s->dlock);
	mark_locked(s, m);
	pthread_mutex_unlock(&s->dlock);
}

/* ---------------------------------------------------------------- setup */

/* Create the stream, or check the one there and bring its duplicate
 * window in line.  0, or -1 with err. */
static int
stream_ensure(struct nats_store *s, const char *name, const char *subject,
    int64_t dup_ns, char *err, size_t errlen)
{
	const char *subjects[] = { subject };
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus st;
	char why[256];
	int rc = -1;

	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = s->c.replicas;
	cfg.Duplicates = dup_ns;
	st = js_GetStreamInfo(&si, s->js, name, &s->jo, &jerr);
	if (st != NATS_OK && jerr == JSStreamNotFoundErr) {
		jerr = 0;
		st = js_AddStream(NULL, s->js, &cfg, &s->jo, &jerr);
		if (st == NATS_OK)
			log_info("store: nats: stream %s created (%d replicas)",
			    name, s->c.replicas);
		goto done;
	}
	if (st != NATS_OK)
		goto done;
	if (si->Config->Storage != js_FileStorage ||
	    si->Config->Replicas != s->c.replicas) {
		log_errbuf(err, errlen, "store: nats: stream %s has %s storage "
		    "and %lld replicas, not file and %d (nats.replicas): "
		    "change it or name another (nats.stream)", name,
		    si->Config->Storage == js_FileStorage ? "file" : "memory",
		    (long long)si->Config->Replicas, s->c.replicas);
		goto out;
	}
	if (si->Config->Duplicates != dup_ns) {
		st = js_UpdateStream(NULL, s->js, &cfg, &s->jo, &jerr);
		if (st == NATS_OK)
			log_info("store: nats: stream %s: duplicate window set "
			    "to %llds", name, (long long)(dup_ns / 1000000000));
	}
done:
	if (st != NATS_OK)
		log_errbuf(err, errlen, "store: nats: stream %s: %s (JetStream "
		    "error %d)", name, store_nats_why(st, why, sizeof(why)),
		    (int)jerr);
	else
		rc = 0;
out:
	jsStreamInfo_Destroy(si);
	return rc;
}

/*
 * The consumer's BackOff: the servers redeliver a message only when the
 * host that held it went silent (a live host keeps what it holds with
 * "in progress" and retries it itself, in its channel's order), and then
 * after our backoff for the attempts made so far, never sooner than the
 * AckWait, which "in progress" is sent well within.  At most BACKOFF_MAX
 * waits, and fewer than MaxDeliver (nats-server requires it); the last
 * one repeats.
 */
static int
consumer_backoff(const struct nats_store *s, int64_t *ns, int max)
{
	uint64_t d = s->backoff_base_ms;
	int i, n = (int)s->max_attempts - 1 < max ?
	    (int)s->max_attempts - 1 : max;

	for (i = 0; i < n; i++) {
		ns[i] = (int64_t)(d > s->ack_wait_ms ? d : s->ack_wait_ms) *
		    1000000;
		d = d * 2 < s->backoff_cap_ms ? d * 2 : s->backoff_cap_ms;
	}
	return n;
}

/* The shared durable pull consumer, and our subscription bound to it. */
static int
consumer_ensure(struct nats_store *s, char *err, size_t errlen)
{
	int64_t backoff[BACKOFF_MAX];
	jsConsumerInfo *ci = NULL;
	char filter[96];
	jsConsumerConfig cc;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus st;
	char why[256];

	snprintf(filter, sizeof(filter), "%s.event.push", s->c.prefix);
	jsConsumerConfig_Init(&cc);
	cc.Durable = STORE_NATS_CONSUMER;
	cc.AckPolicy = js_AckExplicit;
	cc.AckWait = (int64_t)s->ack_wait_ms * 1000000;
	cc.MaxDeliver = s->max_attempts;
	cc.BackOffLen = consumer_backoff(s, backoff, BACKOFF_MAX);
	cc.BackOff = cc.BackOffLen > 0 ? backoff : NULL;
	cc.FilterSubject = filter;
	/* as Redis's group at "$": what comes from now on */
	cc.DeliverPolicy = js_DeliverNew;
	cc.MaxAckPending = HELD_MAX;
	st = js_AddConsumer(NULL, s->js, s->c.stream, &cc, &s->jo, &jerr);
	if (st != NATS_OK && js_GetConsumerInfo(&ci, s->js, s->c.stream,
	    STORE_NATS_CONSUMER, &s->jo, NULL) == NATS_OK) {
		/* there already, with other settings (another host's
		 * max_attempts): ours now; where it starts cannot change */
		cc.DeliverPolicy = ci->Config->DeliverPolicy;
		jerr = 0;
		st = js_UpdateConsumer(NULL, s->js, s->c.stream, &cc, &s->jo,
		    &jerr);
		jsConsumerInfo_Destroy(ci);
	}
	if (st == NATS_OK) {
		jsSubOptions_Init(&so);
		so.Stream = s->c.stream;
		so.Consumer = STORE_NATS_CONSUMER;
		st = js_PullSubscribe(&s->sub, s->js, filter,
		    STORE_NATS_CONSUMER, &s->jo, &so, &jerr);
	}
	if (st != NATS_OK) {
		log_errbuf(err, errlen, "store: nats: consumer %s on %s: %s "
		    "(JetStream error %d)", STORE_NATS_CONSUMER, s->c.stream,
		    store_nats_why(st, why, sizeof(why)), (int)jerr);
		return -1;
	}
	return 0;
}

static int64_t
window_ns(const struct store_options *opt, const char *stream)
{
	uint64_t s = opt->dedup_window_ms > 0 ? opt->dedup_window_ms / 1000 :
	    86400;

	if (s > STORE_NATS_DUP_MAX_S) {
		log_info("store: nats: stream %s: dedup_window_s %llu capped to "
		    "%d (the servers hold every id of the window in memory)",
		    stream, (unsigned long long)s, STORE_NATS_DUP_MAX_S);
		s = STORE_NATS_DUP_MAX_S;
	}
	if (s < 1)
		s = 1;
	return (int64_t)s * 1000000000;
}

static void
nats_close(struct store *base)
{
	struct nats_store *s = (struct nats_store *)base;
	size_t i;

	for (i = 0; i < s->nheld; i++)
		natsMsg_Destroy(s->held[i].msg);
	/* Destroy only: the durable consumer stays for the fleet */
	natsSubscription_Destroy(s->sub);
	if (s->nc != NULL)
		natsConnection_Close(s->nc);
	jsCtx_Destroy(s->js);
	natsConnection_Destroy(s->nc);
	store_queue_destroy(&s->base.q);
	pthread_mutex_destroy(&s->dlock);
	pthread_mutex_destroy(&s->alock);
	pthread_cond_destroy(&s->acked);
	free(s->slots);
	free(s->held);
	free(s);
}

static int
setup(struct nats_store *s, const char *uri, const struct store_options *opt,
    char *err, size_t errlen)
{
	jsOptions pub;

	if (store_nats_conf(&s->c, uri, opt, err, errlen) == -1)
		return -1;
	s->deliver = opt->deliver;
	s->max_attempts = opt->max_attempts > 0 ? opt->max_attempts : 12;
	s->ack_wait_ms = opt->ack_wait_ms > 0 ? opt->ack_wait_ms : 30000;
	s->backoff_base_ms = opt->backoff_base_ms > 0 ?
	    opt->backoff_base_ms : 1000;
	s->backoff_cap_ms = opt->backoff_cap_ms > 0 ?
	    opt->backoff_cap_ms : 300000;
	s->window_ns = window_ns(opt, s->c.stream);
	jsOptions_Init(&s->jo);
	s->jo.Wait = API_WAIT_MS;
	jsOptions_Init(&pub);
	pub.Wait = API_WAIT_MS;
	pub.PublishAsync.AckHandler = ack_handler;
	pub.PublishAsync.AckHandlerClosure = s;
	pub.PublishAsync.MaxPending = 4 * BATCH_MAX;
	if (store_nats_connect(&s->c, opt->consumer ? opt->consumer :
	    "streamgated", link_down, link_back, s, &pub, &s->nc, &s->js, err,
	    errlen) == -1)
		return -1;
	s->base.q.stats.up = 1;
	if (stream_ensure(s, s->c.stream, s->c.subj_events, s->window_ns, err,
	    errlen) == -1 || stream_ensure(s, s->c.dead, s->c.subj_dead,
	    (int64_t)120 * 1000000000, err, errlen) == -1)
		return -1;
	if (s->deliver && consumer_ensure(s, err, errlen) == -1)
		return -1;
	return 0;
}

static struct store *
nats_open(const char *uri, const struct store_options *opt, char *err,
    size_t errlen)
{
	pthread_condattr_t ca;
	struct nats_store *s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->slots = calloc(BATCH_MAX, sizeof(*s->slots))) == NULL ||
	    (s->held = calloc(HELD_MAX, sizeof(*s->held))) == NULL) {
		if (s != NULL)
			free(s->slots);
		free(s);
		log_errbuf(err, errlen, "store: out of memory");
		return NULL;
	}
	store_queue_init(&s->base.q);
	pthread_mutex_init(&s->dlock, NULL);
	pthread_mutex_init(&s->alock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->acked, &ca);
	pthread_condattr_destroy(&ca);
	s->base.ops = &store_nats_ops;
	if (setup(s, uri, opt, err, errlen) == -1) {
		nats_close(&s->base);
		return NULL;
	}
	return &s->base;
}

const struct store_ops store_nats_ops = {
	.scheme = "nats://",
	.open = nats_open,
	.writer = writer,
	.close = nats_close,
	.pending = nats_pending,
	.fetch = nats_fetch,
	.mark = nats_mark,
};

const struct store_ops store_nats_tls_ops = {
	.scheme = "tls://",
	.open = nats_open,
	.writer = writer,
	.close = nats_close,
	.pending = nats_pending,
	.fetch = nats_fetch,
	.mark = nats_mark,
};
