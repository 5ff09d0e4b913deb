/*
 * inbox.c: the events table read back, and push events put back into
 * delivery (see inbox.h).  Strings in the table came off the network
 * (header values, the body's "type"), so they are cleaned before they
 * reach a terminal or a JSON document: control bytes and bytes that are
 * not UTF-8 become '?'.  Only `show` prints the body, and then exactly as
 * stored.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "clock.h"
#include "inbox.h"
#include "log.h"
#include "store.h"

/* Fields of show, in this order; list shows those marked. */
enum { F_SEQ, F_RECEIVED, F_KIND, F_STATE, F_TRIES, F_TYPE, F_ID,
	F_ATTEMPT, F_KEY, F_COMMAND, F_CID, F_NEXT, F_DELIVERED, F_ERROR,
	F_BYTES, NFIELDS };

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
	[F_NEXT] =	{ "next_at",		FT_WHEN,	0 },
	[F_DELIVERED] =	{ "delivered_at",	FT_WHEN,	0 },
	[F_ERROR] =	{ "last_error",		FT_TEXT,	0 },
	[F_BYTES] =	{ "body_bytes",		FT_NUM,		1 },
};

/*
 * The fields as SQL, in enum order, for schema version 2 and for version 1
 * (no delivery columns: every event is kept).  CAST: a body some other
 * writer stored as TEXT still counts bytes.
 */
#define BODY_BYTES	"length(CAST(body AS BLOB))"
static const char *const event_cols[] = {
	"seq, received_at, kind, 'kept', 0, event_type, webhook_id, attempt,"
	" api_key, command, NULL, 0, NULL, NULL, " BODY_BYTES,
	"seq, received_at, kind, state, tries, event_type, webhook_id, attempt,"
	" api_key, command, cid, next_at, delivered_at, last_error, " BODY_BYTES,
};

#define REPLAY_CHUNK	5000	/* rows per transaction: the daemon waits
				 * 1 s at most for its own */

struct event {
	char	*col[NFIELDS];	/* cleaned text; NULL for none */
	int64_t	 num[NFIELDS];	/* FT_NUM fields */
};

/* An open store: the connection and which columns it has. */
struct inbox_db {
	sqlite3		*db;
	const char	*store;
	int		 v2;	/* user_version 2: the delivery columns */
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

/* One row of a statement that selected event_cols first. */
static void
event_read(sqlite3_stmt *st, struct event *e)
{
	char at[64];
	int i;

	for (i = 0; i < NFIELDS; i++) {
		switch (fields[i].type) {
		case FT_NUM:
			e->num[i] = sqlite3_column_int64(st, i);
			e->col[i] = num_dup(e->num[i]);
			break;
		case FT_TEXT:
			e->col[i] = text_clean(sqlite3_column_text(st, i));
			break;
		case FT_WHEN:
			if (sqlite3_column_int64(st, i) == 0) {
				e->col[i] = NULL;
				break;
			}
			/* FALLTHROUGH */
		case FT_TIME:
			iso_ms(sqlite3_column_int64(st, i), at, sizeof(at));
			e->col[i] = text_clean((const unsigned char *)at);
			break;
		}
	}
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

static int
step_error(sqlite3 *db, const char *store)
{
	log_warnx("--store: %s: %s", store, sqlite3_errmsg(db));
	return 1;
}

/* Why the store cannot be used, by SQLite's result code: 1, logged. */
static int
db_error(struct inbox_db *d, int rc)
{
	switch (rc) {
	case SQLITE_ERROR:
	case SQLITE_NOTADB:
		log_warnx("--store: %s: not a streamgate store (%s)", d->store,
		    sqlite3_errmsg(d->db));
		break;
	case SQLITE_READONLY:
		/* WAL with no -shm file yet, which a reader cannot create
		 * without write access to the directory */
		log_warnx("--store: %s: %s: run as the daemon's user, or "
		    "while the daemon runs", d->store, sqlite3_errmsg(d->db));
		break;
	default:
		step_error(d->db, d->store);
		break;
	}
	return 1;
}

static int
prepare(struct inbox_db *d, const char *sql, sqlite3_stmt **st)
{
	int rc;

	if ((rc = sqlite3_prepare_v2(d->db, sql, -1, st, NULL)) == SQLITE_OK)
		return 0;
	db_error(d, rc);
	return -1;
}

/* Run sql (no rows wanted); 0 or an exit status, logged. */
static int
db_exec(struct inbox_db *d, const char *sql)
{
	if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return step_error(d->db, d->store);
	return 0;
}

/* Which schema: user_version 2 has the delivery columns. */
static int
db_version(struct inbox_db *d)
{
	sqlite3_stmt *st;
	int rc;

	if (prepare(d, "PRAGMA user_version", &st) != 0)
		return 1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		d->v2 = sqlite3_column_int(st, 0) >= 2;
	else
		db_error(d, rc);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : 1;
}

/*
 * Open "sqlite:PATH", never creating it: read-only, or read-write for
 * replay.  Returns an exit status; d is ready on 0.
 */
static int
db_open(struct inbox_db *d, const char *store, int rw)
{
	const char *path;
	struct stat sb;

	memset(d, 0, sizeof(*d));
	d->store = store;
	if (strncmp(store, "redis://", 8) == 0) {
		/* the URI is not repeated: it may carry a password */
		log_warnx("--store: a redis:// store cannot be read here (only "
		    "sqlite:PATH): with Redis the events are in the stream "
		    "<prefix>:events (default streamgate:events); read it with "
		    "redis-cli XRANGE, and our consumer group with XPENDING");
		return 2;
	}
	if (strncmp(store, "sqlite:", 7) != 0 || store[7] == '\0') {
		log_warnx("--store: '%s' is not sqlite:PATH (only the SQLite "
		    "store can be read)", store);
		return 2;
	}
	path = store + 7;
	/* stat first: a clearer message than SQLite's "unable to open" */
	if (stat(path, &sb) == -1) {
		log_warnx("--store: %s: %s", store, errno == ENOENT ?
		    "no such file (the daemon's --store sqlite:PATH)" :
		    strerror(errno));
		return 1;
	}
	if (!S_ISREG(sb.st_mode)) {
		log_warnx("--store: %s: not a regular file", store);
		return 1;
	}
	if (sqlite3_open_v2(path, &d->db, rw ? SQLITE_OPEN_READWRITE :
	    SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		log_warnx("--store: %s: %s", store, d->db ?
		    sqlite3_errmsg(d->db) : "out of memory");
		sqlite3_close(d->db);
		d->db = NULL;
		return 1;
	}
	/* a checkpoint, WAL recovery or the daemon's commit may hold a lock
	 * for a moment */
	sqlite3_busy_timeout(d->db, 5000);
	if (db_version(d) != 0) {
		sqlite3_close(d->db);
		d->db = NULL;
		return 1;
	}
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
 * once to print.  Both passes run in one read transaction, a snapshot in
 * WAL mode, so they see the same rows while the daemon keeps writing.
 */
static int
list_table(FILE *fp, struct inbox_db *d, sqlite3_stmt *st)
{
	const char *head[NFIELDS];
	size_t width[NFIELDS], w;
	struct event e = { 0 };
	int i, rc, pass;

	for (i = 0; i < NFIELDS; i++) {
		head[i] = fields[i].name;
		width[i] = strlen(fields[i].name);
	}
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1)
			table_row(fp, head, width);
		sqlite3_reset(st);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			event_read(st, &e);
			for (i = 0; pass == 0 && i < NFIELDS; i++) {
				w = text_width(e.col[i] ? e.col[i] : "-");
				if (w > width[i])
					width[i] = w;
			}
			if (pass == 1)
				table_row(fp, (const char *const *)e.col, width);
			event_free(&e);
		}
		if (rc != SQLITE_DONE)
			return step_error(d->db, d->store);
	}
	return 0;
}

/* One object a line, streamed: no need to hold the whole list. */
static int
list_json(FILE *fp, struct inbox_db *d, sqlite3_stmt *st)
{
	struct event e = { 0 };
	cJSON *o;
	char *text;
	int rc, n = 0;

	fputs("[", fp);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		event_read(st, &e);
		o = event_json(&e, 0);
		if ((text = cJSON_PrintUnformatted(o)) == NULL)
			fatalx("%s: out of memory", __func__);
		fprintf(fp, "%s\n%s", n++ ? "," : "", text);
		free(text);
		cJSON_Delete(o);
		event_free(&e);
	}
	fputs(n ? "\n]\n" : "]\n", fp);
	return rc == SQLITE_DONE ? 0 : step_error(d->db, d->store);
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
inbox_list(FILE *fp, const char *store, int64_t since, int state,
    unsigned limit, int json)
{
	struct inbox_db d;
	sqlite3_stmt *st = NULL;
	char *sql, where[64] = "";
	int rc;

	if ((rc = db_open(&d, store, 0)) != 0)
		return rc;
	/* a literal, not a parameter: the planner then uses the partial
	 * index of that state */
	if (state >= 0 && d.v2)
		snprintf(where, sizeof(where), " AND state = '%s'",
		    store_state_name(state));
	else if (state > STORE_KEPT)
		snprintf(where, sizeof(where), " AND 0");
	if (asprintf(&sql, "SELECT %s FROM events WHERE seq > ?%s"
	    " ORDER BY seq LIMIT ?", event_cols[d.v2], where) == -1)
		fatalx("%s: out of memory", __func__);
	rc = 1;
	if (prepare(&d, sql, &st) != 0)
		goto done;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, limit);
	if (db_exec(&d, "BEGIN") != 0)
		goto done;
	rc = json ? list_json(fp, &d, st) : list_table(fp, &d, st);
	sqlite3_reset(st);
	sqlite3_exec(d.db, "COMMIT", NULL, NULL, NULL);
	if (out_flush(fp) != 0)
		rc = 1;
 done:
	free(sql);
	sqlite3_finalize(st);
	sqlite3_close(d.db);
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
inbox_show(FILE *fp, const char *store, int64_t seq, int json)
{
	struct inbox_db d;
	sqlite3_stmt *st = NULL;
	struct event e = { 0 };
	char *sql;
	int rc;

	if ((rc = db_open(&d, store, 0)) != 0)
		return rc;
	if (asprintf(&sql, "SELECT %s, CAST(body AS BLOB) FROM events"
	    " WHERE seq = ?", event_cols[d.v2]) == -1)
		fatalx("%s: out of memory", __func__);
	rc = 1;
	if (prepare(&d, sql, &st) != 0)
		goto done;
	sqlite3_bind_int64(st, 1, seq);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		break;
	case SQLITE_DONE:
		log_warnx("no event %" PRId64 " in %s", seq, store);
		goto done;
	default:
		step_error(d.db, store);
		goto done;
	}
	event_read(st, &e);
	show_print(fp, &e, sqlite3_column_blob(st, NFIELDS),
	    (size_t)sqlite3_column_bytes(st, NFIELDS), json);
	rc = out_flush(fp);
 done:
	event_free(&e);
	free(sql);
	sqlite3_finalize(st);
	sqlite3_close(d.db);
	return rc;
}

/* ---- replay: put push events back into delivery ---- */

#define REPLAY_SET	"UPDATE events SET state = 'pending', tries = 0," \
	" next_at = 0, last_error = NULL"

/* Replay writes the delivery columns: a version 1 store has none. */
static int
replay_open(struct inbox_db *d, const char *store)
{
	int rc;

	if ((rc = db_open(d, store, 1)) != 0)
		return rc;
	if (!d->v2) {
		log_warnx("--store: %s: schema version 1, from before delivery:"
		    " start streamgated (this version) once to upgrade it",
		    store);
		sqlite3_close(d->db);
		return 1;
	}
	return 0;
}

static void
replay_report(FILE *fp, int64_t n)
{
	fprintf(fp, "%" PRId64 " event%s put back into delivery\n", n,
	    n == 1 ? "" : "s");
}

/* Event seq exists and is a push, checked in the open transaction: 0,
 * or 1 (logged). */
static int
replay_check(struct inbox_db *d, int64_t seq)
{
	sqlite3_stmt *st;
	char *kind = NULL;
	int rc, ret = 1;

	if (prepare(d, "SELECT kind FROM events WHERE seq = ?", &st) != 0)
		return 1;
	sqlite3_bind_int64(st, 1, seq);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		kind = text_clean(sqlite3_column_text(st, 0));
	if (rc == SQLITE_DONE)
		log_warnx("no event %" PRId64 " in %s", seq, d->store);
	else if (rc != SQLITE_ROW)
		step_error(d->db, d->store);
	else if (kind == NULL || strcmp(kind, "push") != 0)
		/* synchronous: Stream had its answer when it arrived */
		log_warnx("event %" PRId64 " is a %s hook, answered when it "
		    "arrived: only push events are delivered again", seq,
		    kind ? kind : "?");
	else
		ret = 0;
	free(kind);
	sqlite3_finalize(st);
	return ret;
}

int
inbox_replay(FILE *fp, const char *store, int64_t seq)
{
	struct inbox_db d;
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = replay_open(&d, store)) != 0)
		return rc;
	rc = 1;
	if (db_exec(&d, "BEGIN IMMEDIATE") != 0 || replay_check(&d, seq) != 0 ||
	    prepare(&d, REPLAY_SET " WHERE seq = ?", &st) != 0)
		goto done;
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) != SQLITE_DONE || db_exec(&d, "COMMIT") != 0) {
		step_error(d.db, store);
		goto done;
	}
	replay_report(fp, 1);
	rc = out_flush(fp);
 done:
	sqlite3_finalize(st);
	sqlite3_close(d.db);	/* rolls back what was not committed */
	return rc;
}

/* In chunks, each its own short transaction: the daemon's writer waits
 * for ours, a second at most. */
int
inbox_replay_dead(FILE *fp, const char *store)
{
	struct inbox_db d;
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int rc, got;

	if ((rc = replay_open(&d, store)) != 0)
		return rc;
	rc = 1;
	if (prepare(&d, REPLAY_SET " WHERE seq IN (SELECT seq FROM events"
	    " WHERE state = 'dead' AND kind = 'push' LIMIT ?)", &st) != 0)
		goto done;
	do {
		sqlite3_bind_int(st, 1, REPLAY_CHUNK);
		if (sqlite3_step(st) != SQLITE_DONE) {
			step_error(d.db, store);
			goto report;
		}
		sqlite3_reset(st);
		n += got = sqlite3_changes(d.db);
	} while (got == REPLAY_CHUNK);
	rc = 0;
 report:
	if (rc == 0 || n > 0)
		replay_report(fp, n);	/* the chunks before are committed */
	if (out_flush(fp) != 0)
		rc = 1;
 done:
	sqlite3_finalize(st);
	sqlite3_close(d.db);
	return rc;
}

/* ---- stats: counts by state and kind, the oldest pending ---- */

#define NSTATES	4
#define NKINDS	3

struct counts {
	int64_t		total;
	int64_t		state[NSTATES];
	int64_t		kind[NKINDS];
	int64_t		oldest_seq;	/* 0: nothing pending */
	int64_t		oldest_s;
};

static int
counts_by(struct inbox_db *d, struct counts *c)
{
	sqlite3_stmt *st;
	enum store_state s;
	const char *kind;
	int64_t n;
	int rc, k;

	if (prepare(d, d->v2 ? "SELECT state, kind, count(*) FROM events"
	    " GROUP BY state, kind" : "SELECT 'kept', kind, count(*)"
	    " FROM events GROUP BY kind", &st) != 0)
		return 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 2);
		c->total += n;
		if (store_state_parse((const char *)sqlite3_column_text(st, 0),
		    &s) == 0)
			c->state[s] += n;
		kind = (const char *)sqlite3_column_text(st, 1);
		for (k = 0; kind != NULL && k < NKINDS; k++)
			if (strcmp(kind, store_kind_name(k)) == 0)
				c->kind[k] += n;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : step_error(d->db, d->store);
}

static int
counts_oldest(struct inbox_db *d, struct counts *c)
{
	sqlite3_stmt *st;
	int64_t now;
	int rc;

	if (!d->v2)
		return 0;
	if (prepare(d, "SELECT seq, received_at FROM events WHERE state ="
	    " 'pending' ORDER BY received_at, seq LIMIT 1", &st) != 0)
		return 1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		now = clock_unix_ms();
		c->oldest_seq = sqlite3_column_int64(st, 0);
		c->oldest_s = (now - sqlite3_column_int64(st, 1)) / 1000;
		if (c->oldest_s < 0)
			c->oldest_s = 0;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 :
	    step_error(d->db, d->store);
}

static void
stats_json(FILE *fp, const struct inbox_db *d, const struct counts *c)
{
	cJSON *o, *st, *kd;
	char *text;
	int i;

	if ((o = cJSON_CreateObject()) == NULL ||
	    (st = cJSON_CreateObject()) == NULL ||
	    (kd = cJSON_CreateObject()) == NULL)
		fatalx("%s: out of memory", __func__);
	json_add(o, "schema", cJSON_CreateNumber(d->v2 ? 2 : 1));
	json_add(o, "total", cJSON_CreateNumber((double)c->total));
	for (i = 0; i < NSTATES; i++)
		json_add(st, store_state_name(i),
		    cJSON_CreateNumber((double)c->state[i]));
	json_add(o, "state", st);
	for (i = 0; i < NKINDS; i++)
		json_add(kd, store_kind_name(i),
		    cJSON_CreateNumber((double)c->kind[i]));
	json_add(o, "kind", kd);
	json_add(o, "oldest_pending_s", c->oldest_seq ?
	    cJSON_CreateNumber((double)c->oldest_s) : cJSON_CreateNull());
	json_add(o, "oldest_pending_seq", c->oldest_seq ?
	    cJSON_CreateNumber((double)c->oldest_seq) : cJSON_CreateNull());
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
stats_text(FILE *fp, const struct inbox_db *d, const struct counts *c)
{
	int i;

	stats_line(fp, "schema", d->v2 ? 2 : 1, 0);
	stats_line(fp, "total", c->total, 0);
	for (i = 0; i < NSTATES; i++)
		stats_line(fp, store_state_name(i), c->state[i], 0);
	for (i = 0; i < NKINDS; i++)
		stats_line(fp, store_kind_name(i), c->kind[i], 0);
	stats_line(fp, "oldest_pending_s", c->oldest_s, c->oldest_seq == 0);
	stats_line(fp, "oldest_pending_seq", c->oldest_seq,
	    c->oldest_seq == 0);
}

int
inbox_stats(FILE *fp, const char *store, int json)
{
	struct inbox_db d;
	struct counts c;
	int rc;

	if ((rc = db_open(&d, store, 0)) != 0)
		return rc;
	memset(&c, 0, sizeof(c));
	/* one snapshot for both queries */
	if ((rc = db_exec(&d, "BEGIN")) == 0 &&
	    (rc = counts_by(&d, &c)) == 0 &&
	    (rc = counts_oldest(&d, &c)) == 0) {
		if (json)
			stats_json(fp, &d, &c);
		else
			stats_text(fp, &d, &c);
		rc = out_flush(fp);
	}
	sqlite3_close(d.db);
	return rc;
}
