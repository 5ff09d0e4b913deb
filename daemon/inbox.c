/*
 * inbox.c: reading the events table (see inbox.h).  Strings in the table
 * came off the network (header values, the body's "type"), so they are
 * cleaned before they reach a terminal or a JSON document: control bytes
 * and bytes that are not UTF-8 become '?'.  Only `show` prints the body,
 * and then exactly as stored.
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

#include "inbox.h"
#include "log.h"

#define NCOLS		9

/* Columns of list and show, in this order; body_bytes is length(body). */
static const char *col_name[NCOLS] = { "seq", "received_at", "kind",
	"event_type", "webhook_id", "attempt", "api_key", "command", "body_bytes" };
static const int col_right[NCOLS] = { 1, 0, 0, 0, 0, 1, 0, 0, 1 };

/* CAST: a body some other writer stored as TEXT still counts bytes. */
#define EVENT_COLS	"seq, received_at, kind, event_type, webhook_id," \
	" attempt, api_key, command, length(CAST(body AS BLOB))"

struct event {
	char	*col[NCOLS];	/* cleaned text; NULL for SQL NULL */
	int64_t	 seq;
	int64_t	 attempt;
	int64_t	 body_len;
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

/* One row of a statement that selected EVENT_COLS first. */
static void
event_read(sqlite3_stmt *st, struct event *e)
{
	char at[64];
	int i;

	e->seq = sqlite3_column_int64(st, 0);
	e->attempt = sqlite3_column_int64(st, 5);
	e->body_len = sqlite3_column_int64(st, 8);
	iso_ms(sqlite3_column_int64(st, 1), at, sizeof(at));
	e->col[0] = num_dup(e->seq);
	e->col[1] = text_clean((const unsigned char *)at);
	for (i = 2; i < 8; i++)
		e->col[i] = i == 5 ? num_dup(e->attempt) :
		    text_clean(sqlite3_column_text(st, i));
	e->col[8] = num_dup(e->body_len);
}

static void
event_free(struct event *e)
{
	int i;

	for (i = 0; i < NCOLS; i++)
		free(e->col[i]);
	memset(e, 0, sizeof(*e));
}

/* The event as a JSON object: numbers as numbers, NULL as null. */
static cJSON *
event_json(const struct event *e)
{
	cJSON *o;
	int i;

	if ((o = cJSON_CreateObject()) == NULL)
		fatalx("%s: out of memory", __func__);
	for (i = 0; i < NCOLS; i++) {
		cJSON *v;

		if (i == 0 || i == 5 || i == 8)
			v = cJSON_CreateNumber((double)(i == 0 ? e->seq :
			    i == 5 ? e->attempt : e->body_len));
		else if (e->col[i] == NULL)
			v = cJSON_CreateNull();
		else
			v = cJSON_CreateString(e->col[i]);
		if (v == NULL)
			fatalx("%s: out of memory", __func__);
		cJSON_AddItemToObject(o, col_name[i], v);
	}
	return o;
}

/* Open "sqlite:PATH" read-only, never creating it.  Returns an exit
 * status; *db is set on 0. */
static int
store_open_ro(const char *store, sqlite3 **db)
{
	const char *path;
	struct stat sb;

	*db = NULL;
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
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		log_warnx("--store: %s: %s", store, *db ?
		    sqlite3_errmsg(*db) : "out of memory");
		sqlite3_close(*db);
		*db = NULL;
		return 1;
	}
	/* a checkpoint or WAL recovery may hold a lock for a moment */
	sqlite3_busy_timeout(*db, 5000);
	return 0;
}

static int
prepare(sqlite3 *db, const char *store, const char *sql, sqlite3_stmt **st)
{
	switch (sqlite3_prepare_v2(db, sql, -1, st, NULL)) {
	case SQLITE_OK:
		return 0;
	case SQLITE_ERROR:
	case SQLITE_NOTADB:
		log_warnx("--store: %s: not a streamgate store (%s)", store,
		    sqlite3_errmsg(db));
		break;
	case SQLITE_READONLY:
		/* WAL with no -shm file yet, which a reader cannot create
		 * without write access to the directory */
		log_warnx("--store: %s: %s: run as the daemon's user, or "
		    "while the daemon runs", store, sqlite3_errmsg(db));
		break;
	default:
		log_warnx("--store: %s: %s", store, sqlite3_errmsg(db));
		break;
	}
	return -1;
}

static int
step_error(sqlite3 *db, const char *store)
{
	log_warnx("--store: %s: %s", store, sqlite3_errmsg(db));
	return 1;
}

static void
table_row(FILE *fp, const char *const col[NCOLS], const size_t width[NCOLS])
{
	const char *s;
	size_t pad, w;
	int i;

	for (i = 0; i < NCOLS; i++) {
		s = col[i] ? col[i] : "-";
		w = text_width(s);
		pad = width[i] > w ? width[i] - w : 0;
		if (col_right[i])
			fprintf(fp, "%*s%s", (int)pad, "", s);
		else if (i == NCOLS - 1)
			fputs(s, fp);
		else
			fprintf(fp, "%s%*s", s, (int)pad, "");
		fputs(i == NCOLS - 1 ? "\n" : "  ", fp);
	}
}

/*
 * The table is aligned, so the rows are read twice: once for the widths,
 * once to print.  Both passes run in one read transaction, a snapshot in
 * WAL mode, so they see the same rows while the daemon keeps writing.
 */
static int
list_table(FILE *fp, sqlite3 *db, sqlite3_stmt *st, const char *store)
{
	size_t width[NCOLS], w;
	struct event e = { 0 };
	int i, rc, pass;

	for (i = 0; i < NCOLS; i++)
		width[i] = strlen(col_name[i]);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1)
			table_row(fp, col_name, width);
		sqlite3_reset(st);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			event_read(st, &e);
			for (i = 0; pass == 0 && i < NCOLS; i++) {
				w = text_width(e.col[i] ? e.col[i] : "-");
				if (w > width[i])
					width[i] = w;
			}
			if (pass == 1)
				table_row(fp, (const char *const *)e.col, width);
			event_free(&e);
		}
		if (rc != SQLITE_DONE)
			return step_error(db, store);
	}
	return 0;
}

/* One object a line, streamed: no need to hold the whole list. */
static int
list_json(FILE *fp, sqlite3 *db, sqlite3_stmt *st, const char *store)
{
	struct event e = { 0 };
	cJSON *o;
	char *text;
	int rc, n = 0;

	fputs("[", fp);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		event_read(st, &e);
		o = event_json(&e);
		if ((text = cJSON_PrintUnformatted(o)) == NULL)
			fatalx("%s: out of memory", __func__);
		fprintf(fp, "%s\n%s", n++ ? "," : "", text);
		free(text);
		cJSON_Delete(o);
		event_free(&e);
	}
	fputs(n ? "\n]\n" : "]\n", fp);
	return rc == SQLITE_DONE ? 0 : step_error(db, store);
}

int
inbox_list(FILE *fp, const char *store, int64_t since, unsigned limit,
    int json)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = store_open_ro(store, &db)) != 0)
		return rc;
	rc = 1;
	if (prepare(db, store, "SELECT " EVENT_COLS " FROM events"
	    " WHERE seq > ? ORDER BY seq LIMIT ?", &st) != 0)
		goto done;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, limit);
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		step_error(db, store);
		goto done;
	}
	rc = json ? list_json(fp, db, st, store) :
	    list_table(fp, db, st, store);
	sqlite3_reset(st);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (fflush(fp) != 0) {
		log_warn("stdout");
		rc = 1;
	}
 done:
	sqlite3_finalize(st);
	sqlite3_close(db);
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
		if (v == NULL)
			fatalx("%s: out of memory", __func__);
		cJSON_AddItemToObject(o, "body", v);
		return;
	}
	/* bodies are capped far below this (limits.inflated_bytes) */
	if (len > INT_MAX / 2 || (s = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		fatalx("%s: out of memory", __func__);
	EVP_EncodeBlock((unsigned char *)s, body, (int)len);
	v = cJSON_CreateString(s);
	free(s);
	if (v == NULL)
		fatalx("%s: out of memory", __func__);
	cJSON_AddItemToObject(o, "body_base64", v);
}

int
inbox_show(FILE *fp, const char *store, int64_t seq, int json)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	struct event e = { 0 };
	const uint8_t *body;
	size_t len;
	cJSON *o;
	char *text;
	int rc, i;

	if ((rc = store_open_ro(store, &db)) != 0)
		return rc;
	rc = 1;
	if (prepare(db, store, "SELECT " EVENT_COLS ", CAST(body AS BLOB)"
	    " FROM events WHERE seq = ?", &st) != 0)
		goto done;
	sqlite3_bind_int64(st, 1, seq);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		break;
	case SQLITE_DONE:
		log_warnx("no event %" PRId64 " in %s", seq, store);
		goto done;
	default:
		step_error(db, store);
		goto done;
	}
	event_read(st, &e);
	body = sqlite3_column_blob(st, NCOLS);
	len = (size_t)sqlite3_column_bytes(st, NCOLS);
	if (json) {
		o = event_json(&e);
		body_json(o, body ? body : (const uint8_t *)"", len);
		if ((text = cJSON_Print(o)) == NULL)
			fatalx("%s: out of memory", __func__);
		fprintf(fp, "%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else {
		/* "name: value" lines, a blank line, then the body as is */
		for (i = 0; i < NCOLS; i++)
			fprintf(fp, "%s:%*s%s\n", col_name[i],
			    (int)(13 - strlen(col_name[i])), "",
			    e.col[i] ? e.col[i] : "-");
		fputc('\n', fp);
		if (len > 0)
			fwrite(body, 1, len, fp);
	}
	rc = 0;
	if (fflush(fp) != 0 || ferror(fp)) {
		log_warn("stdout");
		rc = 1;
	}
 done:
	event_free(&e);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}
