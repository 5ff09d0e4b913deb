/*
 * inbox.c: the events read back, and push events put back into delivery
 * (see inbox.h), as the store hands them over (store_admin.h); this is
 * their presentation.  Strings in the store came off the network (header
 * values, the body's "type"), so they are cleaned before they reach a
 * terminal or a JSON document: control bytes and bytes that are not UTF-8
 * become '?'.  Only `show` prints the body, and then exactly as stored.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "clock.h"
#include "inbox.h"
#include "inbox_nats.h"
#include "store_nats.h"
#include "log.h"
#include "store_admin.h"

/* Fields of show, in this order; list shows those marked. */
enum { F_SEQ, F_RECEIVED, F_KIND, F_STATE, F_TRIES, F_TYPE, F_ID,
	F_ATTEMPT, F_KEY, F_COMMAND, F_CID, F_ORDER_KEY, F_TARGET,
	F_SIGNATURE, F_NEXT, F_DELIVERED, F_ERROR, F_BYTES, F_SHA256, NFIELDS };

enum ftype {
	FT_NUM,		/* an integer: right-aligned, a JSON number */
	FT_TEXT,
	FT_TIME,	/* unix ms as ISO-8601 */
	FT_WHEN,	/* the same, but 0 or NULL is none */
};

static const struct field {
	const char	*name;
	enum ftype	 type;
	int		 list;
} fields[NFIELDS] = {
	[F_SEQ] =	{ "seq",		FT_NUM,		1 },
	[F_RECEIVED] =	{ "received_at",	FT_TIME,	1 },
	[F_KIND] =	{ "kind",		FT_TEXT,	1 },
	[F_STATE] =	{ "state",		FT_TEXT,	1 },
	[F_TRIES] =	{ "tries",		FT_NUM,		1 },
	[F_TYPE] =	{ "event_type",		FT_TEXT,	1 },
	[F_ID] =	{ "webhook_id",		FT_TEXT,	1 },
	[F_ATTEMPT] =	{ "attempt",		FT_NUM,		1 },
	[F_KEY] =	{ "api_key",		FT_TEXT,	1 },
	[F_COMMAND] =	{ "command",		FT_TEXT,	1 },
	[F_CID] =	{ "cid",		FT_TEXT,	0 },
	[F_ORDER_KEY] =	{ "order_key",		FT_TEXT,	0 },
	[F_TARGET] =	{ "target",		FT_TEXT,	0 },
	/* an HMAC of the body, not a secret: the app may check it */
	[F_SIGNATURE] =	{ "signature",		FT_TEXT,	0 },
	[F_NEXT] =	{ "next_at",		FT_WHEN,	0 },
	[F_DELIVERED] =	{ "delivered_at",	FT_WHEN,	0 },
	[F_ERROR] =	{ "last_error",		FT_TEXT,	0 },
	[F_BYTES] =	{ "body_bytes",		FT_NUM,		1 },
	/* what the daemon's log names when a copy came with another body */
	[F_SHA256] =	{ "body_sha256",	FT_TEXT,	0 },
};

/* Room for a message that names the store's path. */
#define ERRLEN		(PATH_MAX + 512)

struct event {
	char	*col[NFIELDS];	/* cleaned text; NULL for none */
	int64_t	 num[NFIELDS];	/* FT_NUM fields */
};

int
inbox_seq_parse(const char *s, int64_t *seq)
{
	char *end;
	long long v;

	/* strtoll would take a sign and leading blanks */
	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
		return -1;
	*seq = v;
	return 0;
}

int
inbox_limit_parse(const char *s, unsigned *limit)
{
	int64_t v;

	if (inbox_seq_parse(s, &v) != 0 || v < 1 || v > INBOX_LIMIT_MAX)
		return -1;
	*limit = (unsigned)v;
	return 0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, at most U+10FFFF), or 0. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	size_t len, i;
	uint8_t lo = 0x80, hi = 0xbf;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* 1 when the bytes are UTF-8 that a C string can carry (no NUL). */
static int
utf8_valid(const uint8_t *p, size_t n)
{
	size_t k;

	while (n > 0) {
		if (p[0] == 0 || (k = utf8_seq(p, n)) == 0)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

/* A malloc'd copy with every byte outside well-formed UTF-8 and every
 * control byte replaced by '?'. */
static char *
text_clean(const unsigned char *s)
{
	size_t n, i, k;
	char *out;

	if (s == NULL)
		return NULL;
	n = strlen((const char *)s);
	if ((out = malloc(n + 1)) == NULL)
		fatalx("%s: out of memory", __func__);
	for (i = 0; i < n; i += k) {
		if ((k = utf8_seq(s + i, n - i)) == 0)
			k = 1;
		if (k == 1 && (s[i] < 0x20 || s[i] >= 0x7f))
			out[i] = '?';
		else
			memcpy(out + i, s + i, k);
	}
	out[n] = '\0';
	return out;
}

/* Characters a terminal shows for a cleaned string: UTF-8 lead bytes. */
static size_t
text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* unix ms as ISO-8601 UTC with milliseconds. */
static void
iso_ms(int64_t ms, char *buf, size_t len)
{
	int64_t frac = ms % 1000;
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char day[32];

	if (frac < 0) {		/* before 1970: floor, not truncate */
		frac += 1000;
		t--;
	}
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "%" PRId64, ms);
		return;
	}
	snprintf(buf, len, "%s.%03dZ", day, (int)frac);
}

static char *
num_dup(int64_t v)
{
	char *s;

	if (asprintf(&s, "%" PRId64, v) == -1)
		fatalx("%s: out of memory", __func__);
	return s;
}

/* Field i as shown, from the store's number v or text t (its type's). */
static void
field_set(struct event *e, int i, int64_t v, const char *t)
{
	char at[64];

	switch (fields[i].type) {
	case FT_NUM:
		e->num[i] = v;
		e->col[i] = num_dup(v);
		break;
	case FT_TEXT:
		e->col[i] = text_clean((const unsigned char *)t);
		break;
	case FT_WHEN:
		if (v == 0) {
			e->col[i] = NULL;
			break;
		}
		/* FALLTHROUGH */
	case FT_TIME:
		iso_ms(v, at, sizeof(at));
		e->col[i] = text_clean((const unsigned char *)at);
		break;
	}
}

static void
event_read(const struct store_admin_event *ev, struct event *e)
{
	field_set(e, F_SEQ, ev->seq, NULL);
	field_set(e, F_RECEIVED, ev->received_at, NULL);
	field_set(e, F_KIND, 0, ev->kind);
	field_set(e, F_STATE, 0, ev->state);
	field_set(e, F_TRIES, ev->tries, NULL);
	field_set(e, F_TYPE, 0, ev->event_type);
	field_set(e, F_ID, 0, ev->webhook_id);
	field_set(e, F_ATTEMPT, ev->attempt, NULL);
	field_set(e, F_KEY, 0, ev->api_key);
	field_set(e, F_COMMAND, 0, ev->command);
	field_set(e, F_CID, 0, ev->cid);
	/* none is "" (NULL: stored before keys); either shows as none */
	field_set(e, F_ORDER_KEY, 0, ev->order_key != NULL &&
	    ev->order_key[0] != '\0' ? ev->order_key : NULL);
	field_set(e, F_TARGET, 0, ev->target);
	field_set(e, F_SIGNATURE, 0, ev->signature);
	field_set(e, F_NEXT, ev->next_at, NULL);
	field_set(e, F_DELIVERED, ev->delivered_at, NULL);
	field_set(e, F_ERROR, 0, ev->last_error);
	field_set(e, F_BYTES, ev->body_bytes, NULL);
	field_set(e, F_SHA256, 0, ev->body_sha256);
}

static void
event_free(struct event *e)
{
	int i;

	for (i = 0; i < NFIELDS; i++)
		free(e->col[i]);
	memset(e, 0, sizeof(*e));
}

static void
json_add(cJSON *o, const char *name, cJSON *v)
{
	if (v == NULL)
		fatalx("%s: out of memory", __func__);
	cJSON_AddItemToObject(o, name, v);
}

/* The event as a JSON object (list's fields, or all): numbers as numbers,
 * none as null. */
static cJSON *
event_json(const struct event *e, int all)
{
	cJSON *o;
	int i;

	if ((o = cJSON_CreateObject()) == NULL)
		fatalx("%s: out of memory", __func__);
	for (i = 0; i < NFIELDS; i++) {
		if (!all && !fields[i].list)
			continue;
		if (fields[i].type == FT_NUM)
			json_add(o, fields[i].name,
			    cJSON_CreateNumber((double)e->num[i]));
		else if (e->col[i] == NULL)
			json_add(o, fields[i].name, cJSON_CreateNull());
		else
			json_add(o, fields[i].name,
			    cJSON_CreateString(e->col[i]));
	}
	return o;
}

/*
 * What the store answered, logged: an exit status, 2 for a store this
 * cannot read (a usage error), else 1.  What is wrong with the store
 * names --store; what is wrong with one event names the event.
 */
static int
store_failed(enum store_admin_status st, const char *err)
{
	switch (st) {
	case STORE_ADMIN_NO_EVENT:
	case STORE_ADMIN_HOOK:
		log_warnx("%s", err);
		break;
	case STORE_ADMIN_MISSING:
		log_warnx("--store: %s (the daemon's --store sqlite:PATH)",
		    err);
		break;
	default:
		log_warnx("--store: %s", err);
		break;
	}
	return st == STORE_ADMIN_UNSUPPORTED ? 2 : 1;
}

/* An exit status; *ap is ready on 0. */
static int
admin_open(struct store_admin **ap, const char *store,
    enum store_admin_mode mode)
{
	enum store_admin_status st;
	char err[ERRLEN];

	if ((st = store_admin_open(ap, store, mode, err,
	    sizeof(err))) != STORE_ADMIN_OK)
		return store_failed(st, err);
	return 0;
}

static void
table_row(FILE *fp, const char *const col[NFIELDS],
    const size_t width[NFIELDS])
{
	const char *s;
	size_t pad, w;
	int i;

	for (i = 0; i < NFIELDS; i++) {
		if (!fields[i].list)
			continue;
		s = col[i] ? col[i] : "-";
		w = text_width(s);
		pad = width[i] > w ? width[i] - w : 0;
		if (fields[i].type == FT_NUM)
			fprintf(fp, "%*s%s", (int)pad, "", s);
		else
			fprintf(fp, "%s%*s", s, (int)pad, "");
		fputs(i == F_BYTES ? "\n" : "  ", fp);	/* the last */
	}
}

/*
 * The table is aligned, so the rows are read twice: once for the widths,
 * once to print.  The store's list is one snapshot, so both passes see
 * the same rows while the daemon keeps writing.
 */
static int
list_table(FILE *fp, struct store_admin *a)
{
	const char *head[NFIELDS];
	size_t width[NFIELDS], w;
	struct store_admin_event ev;
	struct event e = { 0 };
	char err[ERRLEN];
	int i, rc, pass;

	for (i = 0; i < NFIELDS; i++) {
		head[i] = fields[i].name;
		width[i] = strlen(fields[i].name);
	}
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			table_row(fp, head, width);
			store_admin_rewind(a);
		}
		while ((rc = store_admin_next(a, &ev, err, sizeof(err))) == 1) {
			event_read(&ev, &e);
			for (i = 0; pass == 0 && i < NFIELDS; i++) {
				w = text_width(e.col[i] ? e.col[i] : "-");
				if (w > width[i])
					width[i] = w;
			}
			if (pass == 1)
				table_row(fp, (const char *const *)e.col, width);
			event_free(&e);
		}
		if (rc < 0)
			return store_failed(STORE_ADMIN_FAILED, err);
	}
	return 0;
}

/* One object a line, streamed: no need to hold the whole list. */
static int
list_json(FILE *fp, struct store_admin *a)
{
	struct store_admin_event ev;
	struct event e = { 0 };
	cJSON *o;
	char *text, err[ERRLEN];
	int rc, n = 0;

	fputs("[", fp);
	while ((rc = store_admin_next(a, &ev, err, sizeof(err))) == 1) {
		event_read(&ev, &e);
		o = event_json(&e, 0);
		if ((text = cJSON_PrintUnformatted(o)) == NULL)
			fatalx("%s: out of memory", __func__);
		fprintf(fp, "%s\n%s", n++ ? "," : "", text);
		free(text);
		cJSON_Delete(o);
		event_free(&e);
	}
	fputs(n ? "\n]\n" : "]\n", fp);
	return rc == 0 ? 0 : store_failed(STORE_ADMIN_FAILED, err);
}

static int
out_flush(FILE *fp)
{
	if (fflush(fp) != 0 || ferror(fp)) {
		log_warn("stdout");
		return 1;
	}
	return 0;
}

int
inbox_list(FILE *fp, const char *store, const struct config_nats *nats,
    int64_t since, int state, unsigned limit, int json)
{
	struct store_admin *a;
	enum store_admin_status st;
	char err[ERRLEN];
	int rc;

	if (store_nats_uri(store))
		return inbox_nats_list(fp, store, nats, since, state, limit,
		    json);
	if ((rc = admin_open(&a, store, STORE_ADMIN_READ)) != 0)
		return rc;
	if ((st = store_admin_list(a, since, state, limit, err,
	    sizeof(err))) != STORE_ADMIN_OK)
		rc = store_failed(st, err);
	else {
		rc = json ? list_json(fp, a) : list_table(fp, a);
		store_admin_list_end(a);
		if (out_flush(fp) != 0)
			rc = 1;
	}
	store_admin_close(a);
	return rc;
}

/* The body in a JSON object: a string when it is one, else base64. */
static void
body_json(cJSON *o, const uint8_t *body, size_t len)
{
	char *s;
	cJSON *v;

	if (utf8_valid(body, len)) {
		if ((s = strndup((const char *)body, len)) == NULL)
			fatalx("%s: out of memory", __func__);
		v = cJSON_CreateString(s);
		free(s);
		json_add(o, "body", v);
		return;
	}
	/* bodies are capped far below this (limits.inflated_bytes) */
	if (len > INT_MAX / 2 || (s = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		fatalx("%s: out of memory", __func__);
	EVP_EncodeBlock((unsigned char *)s, body, (int)len);
	v = cJSON_CreateString(s);
	free(s);
	json_add(o, "body_base64", v);
}

static void
show_print(FILE *fp, const struct event *e, const uint8_t *body, size_t len,
    int json)
{
	cJSON *o;
	char *text;
	int i;

	if (json) {
		o = event_json(e, 1);
		body_json(o, body ? body : (const uint8_t *)"", len);
		if ((text = cJSON_Print(o)) == NULL)
			fatalx("%s: out of memory", __func__);
		fprintf(fp, "%s\n", text);
		free(text);
		cJSON_Delete(o);
		return;
	}
	/* "name: value" lines, a blank line, then the body as is */
	for (i = 0; i < NFIELDS; i++)
		fprintf(fp, "%s:%*s%s\n", fields[i].name,
		    (int)(13 - strlen(fields[i].name)), "",
		    e->col[i] ? e->col[i] : "-");
	fputc('\n', fp);
	if (len > 0)
		fwrite(body, 1, len, fp);
}

int
inbox_show(FILE *fp, const char *store, const struct config_nats *nats,
    int64_t seq, int json)
{
	struct store_admin *a;
	struct store_admin_event ev;
	struct event e = { 0 };
	enum store_admin_status st;
	char err[ERRLEN];
	int rc;

	if (store_nats_uri(store))
		return inbox_nats_show(fp, store, nats, seq, json);
	if ((rc = admin_open(&a, store, STORE_ADMIN_READ)) != 0)
		return rc;
	if ((st = store_admin_get(a, seq, &ev, err,
	    sizeof(err))) != STORE_ADMIN_OK)
		rc = store_failed(st, err);
	else {
		event_read(&ev, &e);
		show_print(fp, &e, ev.body, (size_t)ev.body_bytes, json);
		rc = out_flush(fp);
		event_free(&e);
	}
	store_admin_close(a);
	return rc;
}

/* ---- replay: put push events back into delivery ---- */

static void
replay_report(FILE *fp, int64_t n)
{
	fprintf(fp, "%" PRId64 " event%s put back into delivery\n", n,
	    n == 1 ? "" : "s");
}

int
inbox_replay(FILE *fp, const char *store, const struct config_nats *nats,
    int64_t seq)
{
	struct store_admin *a;
	enum store_admin_status st;
	char err[ERRLEN];
	int rc;

	if (store_nats_uri(store))
		return inbox_nats_replay(fp, store, nats, seq);
	if ((rc = admin_open(&a, store, STORE_ADMIN_REPLAY)) != 0)
		return rc;
	if ((st = store_admin_replay(a, seq, err,
	    sizeof(err))) != STORE_ADMIN_OK)
		rc = store_failed(st, err);
	else {
		replay_report(fp, 1);
		rc = out_flush(fp);
	}
	store_admin_close(a);
	return rc;
}

int
inbox_replay_dead(FILE *fp, const char *store, const struct config_nats *nats)
{
	struct store_admin *a;
	enum store_admin_status st;
	char err[ERRLEN];
	int64_t n;
	int rc;

	if (store_nats_uri(store))
		return inbox_nats_replay_dead(fp, store, nats);
	if ((rc = admin_open(&a, store, STORE_ADMIN_REPLAY)) != 0)
		return rc;
	st = store_admin_replay_dead(a, &n, err, sizeof(err));
	rc = st == STORE_ADMIN_OK ? 0 : store_failed(st, err);
	if (st == STORE_ADMIN_OK || n > 0)
		replay_report(fp, n);	/* the chunks before are committed */
	if (out_flush(fp) != 0)
		rc = 1;
	store_admin_close(a);
	return rc;
}

/* ---- stats: counts by state and kind, the oldest pending ---- */

/* Seconds since the oldest pending event arrived; -1 none. */
static int64_t
oldest_age(const struct store_admin_counts *c)
{
	int64_t s;

	if (c->oldest_pending_seq == 0)
		return -1;
	s = (clock_unix_ms() - c->oldest_pending_at) / 1000;
	return s < 0 ? 0 : s;
}

static void
stats_json(FILE *fp, const struct store_admin_counts *c)
{
	cJSON *o, *st, *kd;
	int64_t age = oldest_age(c);
	char *text;
	int i;

	if ((o = cJSON_CreateObject()) == NULL ||
	    (st = cJSON_CreateObject()) == NULL ||
	    (kd = cJSON_CreateObject()) == NULL)
		fatalx("%s: out of memory", __func__);
	json_add(o, "schema", cJSON_CreateNumber(c->schema));
	json_add(o, "total", cJSON_CreateNumber((double)c->total));
	for (i = 0; i < STORE_NSTATES; i++)
		json_add(st, store_state_name(i),
		    cJSON_CreateNumber((double)c->state[i]));
	json_add(o, "state", st);
	for (i = 0; i < STORE_NKINDS; i++)
		json_add(kd, store_kind_name(i),
		    cJSON_CreateNumber((double)c->kind[i]));
	json_add(o, "kind", kd);
	json_add(o, "oldest_pending_s", age >= 0 ?
	    cJSON_CreateNumber((double)age) : cJSON_CreateNull());
	json_add(o, "oldest_pending_seq", age >= 0 ?
	    cJSON_CreateNumber((double)c->oldest_pending_seq) :
	    cJSON_CreateNull());
	if ((text = cJSON_Print(o)) == NULL)
		fatalx("%s: out of memory", __func__);
	fprintf(fp, "%s\n", text);
	free(text);
	cJSON_Delete(o);
}

static void
stats_line(FILE *fp, const char *name, int64_t v, int none)
{
	if (none)
		fprintf(fp, "%s:%*s-\n", name, (int)(20 - strlen(name)), "");
	else
		fprintf(fp, "%s:%*s%" PRId64 "\n", name,
		    (int)(20 - strlen(name)), "", v);
}

static void
stats_text(FILE *fp, const struct store_admin_counts *c)
{
	int64_t age = oldest_age(c);
	int i;

	stats_line(fp, "schema", c->schema, 0);
	stats_line(fp, "total", c->total, 0);
	for (i = 0; i < STORE_NSTATES; i++)
		stats_line(fp, store_state_name(i), c->state[i], 0);
	for (i = 0; i < STORE_NKINDS; i++)
		stats_line(fp, store_kind_name(i), c->kind[i], 0);
	stats_line(fp, "oldest_pending_s", age, age < 0);
	stats_line(fp, "oldest_pending_seq", c->oldest_pending_seq, age < 0);
}

int
inbox_stats(FILE *fp, const char *store, const struct config_nats *nats,
    int json)
{
	struct store_admin *a;
	struct store_admin_counts c;
	enum store_admin_status st;
	char err[ERRLEN];
	int rc;

	if (store_nats_uri(store))
		return inbox_nats_stats(fp, store, nats, json);
	if ((rc = admin_open(&a, store, STORE_ADMIN_READ)) != 0)
		return rc;
	if ((st = store_admin_counts(a, &c, err,
	    sizeof(err))) != STORE_ADMIN_OK)
		rc = store_failed(st, err);
	else {
		if (json)
			stats_json(fp, &c);
		else
			stats_text(fp, &c);
		rc = out_flush(fp);
	}
	store_admin_close(a);
	return rc;
}
