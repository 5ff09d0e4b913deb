/*
 * inbox_nats.c: `streamgate inbox` on a NATS JetStream store (the layout
 * is in store_nats.h), read through the servers while the fleet runs.
 *
 * JetStream keeps no per-message delivery state we could read back, so
 * the state shown is derived: a hook is "kept"; a push event with a copy
 * in STREAM_DEAD is "dead"; at or below the consumer's ack floor it is
 * "delivered"; above it "pending" (an event acknowledged out of order
 * still reads pending until the floor passes it).  Replay publishes the
 * event again, without a Nats-Msg-Id (a replay is not a duplicate), so
 * the shared consumer delivers it as a new event with a new seq; a dead
 * copy replayed leaves STREAM_DEAD.  The stream and subject names, the
 * credentials and the CA are the config's (nats.stream,
 * nats.subject_prefix, nats.creds, nats.ca: main.c's inbox_store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inbox_nats.h"
#include "log.h"
#include "store_nats.h"

#define SEQS_MAX	100000		/* dead copies looked at, at most */

struct nats_admin {
	struct store_nats_conf	 c;
	natsConnection		*nc;
	jsCtx			*js;
	jsOptions		 jo;
	uint64_t		 first, last, floor;
	int64_t			*dead;		/* seqs with a dead copy */
	size_t			 ndead;
};

static int
admin_open(struct nats_admin *a, const char *uri,
    const struct config_nats *nats)
{
	struct store_options opt;
	char err[1024];

	memset(a, 0, sizeof(*a));
	memset(&opt, 0, sizeof(opt));
	opt.nats_stream = nats->stream;
	opt.nats_prefix = nats->subject_prefix;
	opt.nats_creds = nats->creds;
	opt.nats_ca = nats->ca;
	jsOptions_Init(&a->jo);
	a->jo.Wait = 5000;
	if (store_nats_conf(&a->c, uri, &opt, err, sizeof(err)) == -1 ||
	    store_nats_connect(&a->c, "streamgate inbox", NULL, NULL, NULL,
	    &a->jo, &a->nc, &a->js, err, sizeof(err)) == -1) {
		log_warnx("--store: %s", err);
		/* the daemon's may be in a config this call did not read */
		if (nats->creds[0] == '\0' && nats->ca[0] == '\0')
			log_info("note: nats.creds and nats.ca come from the "
			    "daemon's config: --config FILE");
		return -1;
	}
	return 0;
}

static void
admin_close(struct nats_admin *a)
{
	free(a->dead);
	jsCtx_Destroy(a->js);
	natsConnection_Destroy(a->nc);
}

static int
stream_info(struct nats_admin *a, const char *name, jsStreamInfo **si)
{
	natsStatus st;
	char why[256];

	if ((st = js_GetStreamInfo(si, a->js, name, &a->jo, NULL)) !=
	    NATS_OK) {
		log_warnx("--store: stream %s: %s", name,
		    store_nats_why(st, why, sizeof(why)));
		return -1;
	}
	return 0;
}

/* The stream's range, the consumer's ack floor, the dead copies' seqs. */
static int
admin_state(struct nats_admin *a)
{
	jsConsumerInfo *ci = NULL;
	jsStreamInfo *si = NULL;
	natsMsg *m;
	uint64_t q;
	char num[24];

	if (stream_info(a, a->c.stream, &si) == -1)
		return -1;
	a->first = si->State.FirstSeq;
	a->last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	if (js_GetConsumerInfo(&ci, a->js, a->c.stream, STORE_NATS_CONSUMER,
	    &a->jo, NULL) == NATS_OK)
		a->floor = ci->AckFloor.Stream;
	jsConsumerInfo_Destroy(ci);
	if (stream_info(a, a->c.dead, &si) == -1)
		return -1;
	if ((a->dead = calloc(SEQS_MAX, sizeof(*a->dead))) == NULL)
		return -1;
	for (q = si->State.FirstSeq; q > 0 && q <= si->State.LastSeq &&
	    a->ndead < SEQS_MAX; q++) {
		if (js_GetMsg(&m, a->js, a->c.dead, q, &a->jo, NULL) != NATS_OK)
			continue;	/* deleted: replayed */
		store_nats_hdr_get(m, SNH_SEQ, num, sizeof(num));
		a->dead[a->ndead++] = strtoll(num, NULL, 10);
		natsMsg_Destroy(m);
	}
	jsStreamInfo_Destroy(si);
	return 0;
}

static const char *
state_of(const struct nats_admin *a, natsMsg *m, int64_t seq)
{
	char kind[32];
	size_t i;

	store_nats_hdr_get(m, SNH_KIND, kind, sizeof(kind));
	if (strcmp(kind, "push") != 0)
		return "kept";
	for (i = 0; i < a->ndead; i++)
		if (a->dead[i] == seq)
			return "dead";
	return (uint64_t)seq <= a->floor ? "delivered" : "pending";
}

/* Printable only: the values came off the network. */
static void
clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f ||
		    *s == '"' || *s == '\\')
			*s = '?';
}

static void
row(FILE *fp, const struct nats_admin *a, natsMsg *m, int64_t seq,
    int json)
{
	char id[256], type[128], key[128], cid[128], kind[32], at[24];
	const char *state = state_of(a, m, seq);

	store_nats_hdr_get(m, SNH_WEBHOOK_ID, id, sizeof(id));
	store_nats_hdr_get(m, SNH_TYPE, type, sizeof(type));
	store_nats_hdr_get(m, SNH_API_KEY, key, sizeof(key));
	store_nats_hdr_get(m, SNH_CID, cid, sizeof(cid));
	store_nats_hdr_get(m, SNH_KIND, kind, sizeof(kind));
	store_nats_hdr_get(m, SNH_RECEIVED_AT, at, sizeof(at));
	clean(id);
	clean(type);
	clean(key);
	clean(cid);
	clean(kind);
	if (json)
		fprintf(fp, "{\"seq\": %lld, \"received_at\": %lld, "
		    "\"kind\": \"%s\", \"state\": \"%s\", \"type\": \"%s\", "
		    "\"webhook_id\": \"%s\", \"api_key\": \"%s\", "
		    "\"cid\": \"%s\", \"body_bytes\": %d}\n", (long long)seq,
		    strtoll(at, NULL, 10), kind, state, type, id, key, cid,
		    natsMsg_GetDataLength(m));
	else
		fprintf(fp, "%-8lld %-9s %-14s %-22s %s\n", (long long)seq,
		    state, kind, type, id);
}

int
inbox_nats_list(FILE *fp, const char *store, const struct config_nats *nats,
    int64_t since, int state, unsigned limit, int json)
{
	struct nats_admin a;
	natsMsg *m;
	uint64_t q;
	unsigned n = 0;
	int rc = 1;

	if (admin_open(&a, store, nats) == -1 || admin_state(&a) == -1)
		goto cleanup;
	if (!json)
		fprintf(fp, "%-8s %-9s %-14s %-22s %s\n", "SEQ", "STATE",
		    "KIND", "TYPE", "WEBHOOK_ID");
	q = (uint64_t)since + 1 > a.first ? (uint64_t)since + 1 : a.first;
	for (; q > 0 && q <= a.last && n < limit; q++) {
		if (js_GetMsg(&m, a.js, a.c.stream, q, &a.jo, NULL) != NATS_OK)
			continue;
		if (state < 0 || strcmp(state_of(&a, m, (int64_t)q),
		    store_state_name((enum store_state)state)) == 0) {
			row(fp, &a, m, (int64_t)q, json);
			n++;
		}
		natsMsg_Destroy(m);
	}
	rc = fflush(fp) != 0 ? 1 : 0;
cleanup:
	admin_close(&a);
	return rc;
}

int
inbox_nats_show(FILE *fp, const char *store, const struct config_nats *nats,
    int64_t seq, int json)
{
	struct nats_admin a;
	natsMsg *m = NULL;
	char v[2048];
	int i, rc = 1;

	if (admin_open(&a, store, nats) == -1 || admin_state(&a) == -1)
		goto cleanup;
	if (js_GetMsg(&m, a.js, a.c.stream, (uint64_t)seq, &a.jo, NULL) !=
	    NATS_OK) {
		log_warnx("--store: no event %lld in stream %s", (long long)seq,
		    a.c.stream);
		goto cleanup;
	}
	if (json) {
		row(fp, &a, m, seq, 1);
		rc = 0;
		goto cleanup;
	}
	fprintf(fp, "seq: %lld\nstate: %s\n", (long long)seq,
	    state_of(&a, m, seq));
	for (i = 0; i < SNH_ERROR; i++) {
		store_nats_hdr_get(m, (enum store_nats_hdr)i, v, sizeof(v));
		clean(v);
		fprintf(fp, "%s: %s\n", store_nats_hdr_names[i], v);
	}
	fprintf(fp, "body: %d bytes\n\n", natsMsg_GetDataLength(m));
	fwrite(natsMsg_GetData(m), 1, (size_t)natsMsg_GetDataLength(m), fp);
	fputc('\n', fp);
	rc = 0;
cleanup:
	natsMsg_Destroy(m);
	admin_close(&a);
	return rc;
}

int
inbox_nats_stats(FILE *fp, const char *store, const struct config_nats *nats,
    int json)
{
	struct nats_admin a;
	jsConsumerInfo *ci = NULL;
	jsStreamInfo *si = NULL;
	uint64_t pending = 0, acks = 0, redelivered = 0;
	int rc = 1;

	if (admin_open(&a, store, nats) == -1 || admin_state(&a) == -1 ||
	    stream_info(&a, a.c.stream, &si) == -1)
		goto cleanup;
	if (js_GetConsumerInfo(&ci, a.js, a.c.stream, STORE_NATS_CONSUMER,
	    &a.jo, NULL) == NATS_OK) {
		pending = ci->NumPending;
		acks = (uint64_t)ci->NumAckPending;
		redelivered = (uint64_t)ci->NumRedelivered;
	}
	fprintf(fp, json ? "{\"stream\": \"%s\", \"events\": %llu, "
	    "\"bytes\": %llu, \"first_seq\": %llu, \"last_seq\": %llu, "
	    "\"replicas\": %lld, \"leader\": \"%s\", \"undelivered\": %llu, "
	    "\"in_delivery\": %llu, \"redelivered\": %llu, \"dead\": %zu, "
	    "\"ack_floor\": %llu}\n" :
	    "stream: %s\nevents: %llu\nbytes: %llu\nfirst_seq: %llu\n"
	    "last_seq: %llu\nreplicas: %lld\nleader: %s\nundelivered: %llu\n"
	    "in_delivery: %llu\nredelivered: %llu\ndead: %zu\n"
	    "ack_floor: %llu\n", a.c.stream,
	    (unsigned long long)si->State.Msgs,
	    (unsigned long long)si->State.Bytes,
	    (unsigned long long)si->State.FirstSeq,
	    (unsigned long long)si->State.LastSeq,
	    (long long)si->Config->Replicas,
	    si->Cluster != NULL && si->Cluster->Leader != NULL ?
	    si->Cluster->Leader : "", (unsigned long long)pending,
	    (unsigned long long)acks, (unsigned long long)redelivered,
	    a.ndead, (unsigned long long)a.floor);
	rc = fflush(fp) != 0 ? 1 : 0;
cleanup:
	jsConsumerInfo_Destroy(ci);
	jsStreamInfo_Destroy(si);
	admin_close(&a);
	return rc;
}

/* m again, as a new push event: no Nats-Msg-Id, none of the dead copy's
 * own headers. */
static int
republish(struct nats_admin *a, natsMsg *m)
{
	char subj[128], v[4096];
	jsPubAck *pa = NULL;
	natsMsg *r = NULL;
	natsStatus st;
	int i;

	snprintf(subj, sizeof(subj), "%s.event.push", a->c.prefix);
	st = natsMsg_Create(&r, subj, NULL, natsMsg_GetData(m),
	    natsMsg_GetDataLength(m));
	for (i = 0; st == NATS_OK && i < SNH_ERROR; i++) {
		const char *raw = NULL;

		if (natsMsgHeader_Get(m, store_nats_hdr_names[i], &raw) ==
		    NATS_OK && raw != NULL) {
			snprintf(v, sizeof(v), "%s", raw);	/* encoded */
			st = natsMsgHeader_Set(r, store_nats_hdr_names[i], v);
		}
	}
	if (st == NATS_OK)
		st = js_PublishMsg(&pa, a->js, r, NULL, NULL);
	jsPubAck_Destroy(pa);
	natsMsg_Destroy(r);
	if (st != NATS_OK) {
		log_warnx("--store: publish: %s", natsStatus_GetText(st));
		return -1;
	}
	return 0;
}

/* Dead copy at dseq (of seq, or of any when seq is 0) back into delivery. */
static int
replay_dead_one(struct nats_admin *a, uint64_t dseq, int64_t seq)
{
	natsMsg *m;
	char num[24];
	int rc = 0;

	if (js_GetMsg(&m, a->js, a->c.dead, dseq, &a->jo, NULL) != NATS_OK)
		return 0;
	store_nats_hdr_get(m, SNH_SEQ, num, sizeof(num));
	if (seq == 0 || strtoll(num, NULL, 10) == seq) {
		rc = republish(a, m) == 0 && js_DeleteMsg(a->js, a->c.dead, dseq,
		    &a->jo, NULL) == NATS_OK ? 1 : -1;
	}
	natsMsg_Destroy(m);
	return rc;
}

static int
replay(FILE *fp, const char *store, const struct config_nats *nats,
    int64_t seq)
{
	struct nats_admin a;
	jsStreamInfo *si = NULL;
	natsMsg *m = NULL;
	uint64_t q;
	int64_t n = 0;
	int r, rc = 1;

	if (admin_open(&a, store, nats) == -1 ||
	    stream_info(&a, a.c.dead, &si) == -1)
		goto cleanup;
	for (q = si->State.FirstSeq; q > 0 && q <= si->State.LastSeq; q++) {
		if ((r = replay_dead_one(&a, q, seq)) == -1)
			goto cleanup;
		n += r;
	}
	/* not dead: the stored event itself, once more */
	if (seq > 0 && n == 0) {
		char kind[32];

		if (js_GetMsg(&m, a.js, a.c.stream, (uint64_t)seq, &a.jo,
		    NULL) != NATS_OK) {
			log_warnx("--store: no event %lld in stream %s",
			    (long long)seq, a.c.stream);
			goto cleanup;
		}
		store_nats_hdr_get(m, SNH_KIND, kind, sizeof(kind));
		if (strcmp(kind, "push") != 0) {
			log_warnx("event %lld is a synchronous hook: nothing to "
			    "deliver again", (long long)seq);
			goto cleanup;
		}
		if (republish(&a, m) == -1)
			goto cleanup;
		n = 1;
	}
	fprintf(fp, "%lld event%s put back into delivery\n", (long long)n,
	    n == 1 ? "" : "s");
	rc = fflush(fp) != 0 ? 1 : 0;
cleanup:
	natsMsg_Destroy(m);
	jsStreamInfo_Destroy(si);
	admin_close(&a);
	return rc;
}

int
inbox_nats_replay(FILE *fp, const char *store, const struct config_nats *nats,
    int64_t seq)
{
	return replay(fp, store, nats, seq);
}

int
inbox_nats_replay_dead(FILE *fp, const char *store,
    const struct config_nats *nats)
{
	return replay(fp, store, nats, 0);
}
