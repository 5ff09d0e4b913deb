/*
 * webhook.c: one request, top to bottom: route → API key → inflate →
 * signature → JSON → dedup → store (see webhook.h).  Every refusal is an
 * HTTP status with a one-line JSON reason; nothing refused is stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "inflate.h"
#include "jsonarena.h"
#include "log.h"
#include "webhook.h"

#define MAX_SECRETS	8	/* secrets of one API key during a rotation */

const char *
webhook_kind_name(enum webhook_route r)
{
	switch (r) {
	case WR_PUSH:		return "push";
	case WR_BMS:		return "before_message_send";
	case WR_COMMAND:	return "custom_command";
	case WR_HEALTH:		return "health";
	default:		return "none";
	}
}

static void
answer(struct webhook_job *job, int status, const char *reason)
{
	char buf[160];
	int n;

	job->status = status;
	job->reason = reason;
	n = snprintf(buf, sizeof(buf), "{\"error\":\"%s\"}", reason);
	free(job->reply);
	job->reply = strndup(buf, (size_t)n);
	job->reply_len = job->reply ? (size_t)n : 0;
}

static void
answer_json(struct webhook_job *job, int status, const char *reason,
    char *body)
{
	job->status = status;
	job->reason = reason;
	free(job->reply);
	job->reply = body;
	job->reply_len = body ? strlen(body) : 0;
}

/*
 * The route of "path?query", or WR_NONE; *query points after '?'.  A
 * custom command may also name itself in the path, Stream's URL form
 * https://host/path/{type}: "<custom_commands route>/NAME" sets *name and
 * *namelen (else *name is NULL).  NAME is checked later: a bad one is a
 * 400, not a 404.
 */
static enum webhook_route
route_of(const struct config *cfg, const char *target, const char **query,
    const char **name, size_t *namelen)
{
	const char *cmd = cfg->route_commands;
	size_t n = strcspn(target, "?"), rl = strlen(cmd);

	*query = target[n] == '?' ? target + n + 1 : "";
	*name = NULL;
	*namelen = 0;
	if (strlen(cfg->route_push) == n && !strncmp(target, cfg->route_push, n))
		return WR_PUSH;
	if (strlen(cfg->route_bms) == n && !strncmp(target, cfg->route_bms, n))
		return WR_BMS;
	if (strlen(cfg->route_health) == n &&
	    !strncmp(target, cfg->route_health, n))
		return WR_HEALTH;
	if (rl == n && !strncmp(target, cmd, n))
		return WR_COMMAND;
	/* "/cmd" and "/cmd/" both take "/cmd/NAME" */
	rl -= rl > 0 && cmd[rl - 1] == '/';
	if (n > rl && !strncmp(target, cmd, rl) && target[rl] == '/') {
		*name = target + rl + 1;
		*namelen = n - rl - 1;
		return WR_COMMAND;
	}
	return WR_NONE;
}

/* Stream's command names: [a-z0-9_-], 1 to WEBHOOK_COMMAND_MAX of them. */
static int
command_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > WEBHOOK_COMMAND_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * A custom command's name, from the path (name, NULL when the path had
 * none) or from the first type=NAME of the query; when both carry one
 * they must agree.  None at all is no command.  0, or an answer was set.
 */
static int
command_of(struct webhook_job *job, const char *query, const char *name,
    size_t namelen)
{
	const char *p = query, *q = NULL;
	size_t qlen = 0;

	while (*p) {
		if (strncmp(p, "type=", 5) == 0) {
			q = p + 5;
			qlen = strcspn(q, "&");
			break;
		}
		p += strcspn(p, "&");
		p += *p == '&';
	}
	if ((name != NULL && !command_ok(name, namelen)) ||
	    (q != NULL && !command_ok(q, qlen))) {
		answer(job, 400, "bad command name");
		return -1;
	}
	if (name != NULL && q != NULL &&
	    (namelen != qlen || memcmp(name, q, qlen) != 0)) {
		answer(job, 400, "command names in path and query differ");
		return -1;
	}
	if (name == NULL) {
		name = q;
		namelen = qlen;
	}
	if (name != NULL) {
		memcpy(job->command, name, namelen);
		job->command[namelen] = '\0';
	}
	return 0;
}

/* Inflate in place when the body is gzip (the bytes decide, not the
 * header).  0, or an answer was set. */
static int
body_inflate(const struct config *cfg, struct http_request *req,
    struct webhook_job *job)
{
	uint8_t *out;
	size_t outlen;

	if (!inflate_is_gzip(req->body, req->body_len))
		return 0;
	switch (inflate_gzip(req->body, req->body_len,
	    cfg->limits.inflated_bytes, &out, &outlen)) {
	case INFLATE_OK:
		free(req->body);
		req->body = out;
		req->body_len = outlen;
		return 0;
	case INFLATE_TOO_LARGE:
		answer(job, 413, "inflated body too large");
		return -1;
	case INFLATE_NOMEM:
		answer(job, 503, "out of memory");
		return -1;
	default:
		answer(job, 400, "bad gzip body");
		return -1;
	}
}

/* The body verifies under one of the n secrets.  0, or an answer was
 * set. */
static int
signature_check(const struct config *cfg, struct http_request *req,
    const struct secret *secrets, size_t n, struct webhook_job *job)
{
	if (body_inflate(cfg, req, job) != 0)
		return -1;
	if (verify_body(secrets, n, req->body, req->body_len,
	    req->hdr[HH_SIGNATURE], req->hdr_len[HH_SIGNATURE]) != 0) {
		answer(job, 401, "bad signature");
		return -1;
	}
	return 0;
}

/*
 * Route, method, command name, API key, a signature at all: what the
 * headers decide, in that order.  0 with the key's secrets in secrets
 * (*n of them, at most max), or an answer was set.
 */
static int
headers_check(const struct config *cfg, const struct http_request *req,
    struct webhook_job *job, struct secret *secrets, size_t max, size_t *n)
{
	const char *query, *name;
	size_t namelen;

	job->route = route_of(cfg, req->target, &query, &name, &namelen);
	if (job->route == WR_NONE) {
		answer(job, 404, "no such route");
		return -1;
	}
	if (job->route == WR_HEALTH) {
		if (req->method != HTTP_GET)
			answer(job, 405, "method not allowed");
		else
			answer_json(job, 200, "ok",
			    strdup("{\"status\":\"ok\"}"));
		return -1;
	}
	if (req->method != HTTP_POST) {
		answer(job, 405, "method not allowed");
		return -1;
	}
	if (job->route == WR_COMMAND &&
	    command_of(job, query, name, namelen) != 0)
		return -1;
	*n = config_secrets_for(cfg, req->hdr[HH_API_KEY],
	    req->hdr_len[HH_API_KEY], secrets, max);
	if (!req->hdr_seen[HH_API_KEY] || *n == 0) {
		answer(job, 401, "unknown api key");
		return -1;
	}
	if (!req->hdr_seen[HH_SIGNATURE]) {
		answer(job, 401, "missing signature");
		return -1;
	}
	return 0;
}

/* kind and v as the order key; none when too long to keep (no ordering)
 * rather than cut: a cut one could name another channel or user. */
static void
order_key(struct webhook_job *job, const char *kind, const char *v)
{
	size_t k = strlen(kind), n = strlen(v);

	if (k + n >= sizeof(job->order_key))
		return;
	memcpy(job->order_key, kind, k);
	memcpy(job->order_key + k, v, n + 1);
}

/*
 * The event's channel, the top-level string "cid" (one too long to keep
 * is left out), and its delivery order: "cid:<cid>", else (order_by_user)
 * "user:<id>" of a top-level "user" object, else none.  Delivery keeps
 * the order of one key's events.
 */
static void
order_of(const struct config *cfg, const cJSON *root, struct webhook_job *job)
{
	const cJSON *cid = cJSON_GetObjectItemCaseSensitive(root, "cid");
	const cJSON *user, *id;

	if (cJSON_IsString(cid) && strlen(cid->valuestring) < sizeof(job->cid))
		strcpy(job->cid, cid->valuestring);
	if (job->cid[0] != '\0')
		order_key(job, "cid:", job->cid);
	else if (cfg->order_by_user &&
	    cJSON_IsObject(user = cJSON_GetObjectItemCaseSensitive(root,
	    "user")) &&
	    cJSON_IsString(id = cJSON_GetObjectItemCaseSensitive(user, "id")) &&
	    id->valuestring[0] != '\0')
		order_key(job, "user:", id->valuestring);
}

/* JSON checks; for BMS/commands keep "message" for the answer.  The tree
 * lives in this thread's arena; the printed message is copied out of it. */
static int
json_check(const struct config *cfg, struct http_request *req,
    struct webhook_job *job)
{
	cJSON *root, *type, *msg;
	char *printed;
	int rc = -1;

	jsonarena_begin();
	root = cJSON_ParseWithLength((const char *)req->body, req->body_len);
	if (root == NULL || !cJSON_IsObject(root)) {
		answer(job, 400, "body is not a JSON object");
		goto done;
	}
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (cJSON_IsString(type) && strlen(type->valuestring) <
	    sizeof(job->event_type))
		strcpy(job->event_type, type->valuestring);
	if (job->route == WR_PUSH && !cJSON_IsString(type)) {
		answer(job, 400, "push event has no string type");
		goto done;
	}
	order_of(cfg, root, job);
	if (job->route != WR_PUSH) {
		msg = cJSON_GetObjectItemCaseSensitive(root, "message");
		printed = msg ? cJSON_PrintUnformatted(msg) : NULL;
		job->message = strdup(printed ? printed : "null");
		cJSON_free(printed);	/* arena or heap: the hook knows */
		if (job->message == NULL) {
			answer(job, 503, "out of memory");
			goto done;
		}
	}
	rc = 0;
done:
	if (jsonarena_must_free())
		cJSON_Delete(root);
	jsonarena_end();
	return rc;
}

/* Push waits for delivery when there is an upstream to deliver to; the
 * synchronous hooks are answered at once, so they start as kept. */
static enum store_state
state_of(const struct config *cfg, enum webhook_route route)
{
	if (route == WR_PUSH && config_upstream(cfg, CR_PUSH)[0] != '\0')
		return STORE_PENDING;
	return STORE_KEPT;
}

/* The first DEDUP_HASH_LEN bytes of a hex SHA-256; -1 unless it is 64 hex
 * digits (none, or a store's odd value). */
static int
hash_short(const char *hex, uint8_t out[DEDUP_HASH_LEN])
{
	uint8_t mac[VERIFY_MAC_LEN];

	if (verify_hex_decode(hex, strlen(hex), mac) != 0)
		return -1;
	memcpy(out, mac, DEDUP_HASH_LEN);
	return 0;
}

static void
event_fill(const struct config *cfg, struct http_request *req,
    int64_t now_ms, struct webhook_job *job)
{
	struct store_event *ev = &job->ev;
	size_t i;

	/* verified, so 64 hex digits: kept, and forwarded, lower-case (bit
	 * 5 makes A-F a-f and is set in every digit already) */
	for (i = 0; i < VERIFY_HEX_LEN; i++)
		job->signature[i] = (char)(req->hdr[HH_SIGNATURE][i] | 0x20);
	/* no id: the signature identifies (the same body in either hex case
	 * is one) */
	snprintf(job->webhook_id, sizeof(job->webhook_id), "%s",
	    req->hdr_seen[HH_WEBHOOK_ID] && req->hdr_len[HH_WEBHOOK_ID] ?
	    req->hdr[HH_WEBHOOK_ID] : job->signature);
	snprintf(job->api_key, sizeof(job->api_key), "%s", req->hdr[HH_API_KEY]);
	job->attempt = atoi(req->hdr[HH_ATTEMPT]);
	job->body = req->body;		/* moved: the job owns it now */
	job->body_len = req->body_len;
	req->body = NULL;
	req->body_len = 0;
	_Static_assert(STORE_SHA256_HEX == VERIFY_HEX_LEN, "a SHA-256 in hex");
	/* stored with the event, and kept short in the dedup cache, so a copy
	 * of an id with another body is told apart ("" compares with nothing) */
	verify_sha256_hex(job->body, job->body_len, job->body_sha256);

	ev->kind = job->route == WR_PUSH ? STORE_PUSH : job->route == WR_BMS ?
	    STORE_BEFORE_MESSAGE_SEND : STORE_CUSTOM_COMMAND;
	ev->webhook_id = job->webhook_id;
	ev->event_type = job->event_type[0] ? job->event_type : NULL;
	ev->api_key = job->api_key;
	ev->attempt = job->attempt > 0 ? job->attempt : 1;
	ev->command = job->command[0] ? job->command : NULL;
	ev->cid = job->cid[0] ? job->cid : NULL;
	ev->order_key = job->order_key[0] ? job->order_key : NULL;
	ev->signature = job->signature;
	ev->target = req->target;
	ev->state = state_of(cfg, job->route);
	ev->received_at = now_ms;
	ev->body = job->body;
	ev->body_len = job->body_len;
	ev->body_sha256 = job->body_sha256[0] ? job->body_sha256 : NULL;
}

int
webhook_headers(const struct config *cfg, const struct http_request *req,
    struct webhook_job *job)
{
	struct secret secrets[MAX_SECRETS];
	size_t n;

	memset(job, 0, sizeof(*job));
	return headers_check(cfg, req, job, secrets, MAX_SECRETS, &n) != 0;
}

void
webhook_decide(const struct config *cfg, struct dedup *dd,
    struct http_request *req, int64_t now_ms, struct webhook_job *job)
{
	struct secret secrets[MAX_SECRETS];
	uint8_t h[DEDUP_HASH_LEN];
	size_t n, i;
	int known;

	memset(job, 0, sizeof(*job));
	if (headers_check(cfg, req, job, secrets, MAX_SECRETS, &n) != 0 ||
	    signature_check(cfg, req, secrets, n, job) != 0 ||
	    json_check(cfg, req, job) != 0)
		return;

	event_fill(cfg, req, now_ms, job);
	if (!dedup_seen(dd, job->api_key, job->webhook_id, now_ms, h, &known))
		return;
	/* what the cache knows of the stored body, for webhook_finish */
	for (i = 0; known && i < DEDUP_HASH_LEN; i++)
		snprintf(job->ev.first_sha256 + 2 * i, 3, "%02x", h[i]);
	webhook_finish(job, NULL, STORE_DUPLICATE, now_ms);
}

/* A client's string for a log line: printable ASCII, the rest '?'. */
static void
log_clean(char *dst, size_t len, const char *s)
{
	size_t o;

	for (o = 0; o + 1 < len && *s; s++)
		dst[o++] = *s >= 0x20 && *s < 0x7f ? *s : '?';
	dst[o] = '\0';
}

/*
 * A duplicate: whether its body is the stored copy's, as far as known
 * (first: the stored hash, all of it from the store, its first 16 digits
 * from the cache; "" unknown).  A different one is said once, here: both
 * hashes, never a body.
 */
static int
duplicate_mismatch(const struct webhook_job *job, const char *first)
{
	char id[HTTP_HDR_MAX], key[HTTP_HDR_MAX];

	if (first[0] == '\0' || job->body_sha256[0] == '\0' ||
	    strncmp(first, job->body_sha256, strlen(first)) == 0)
		return 0;
	log_clean(id, sizeof(id), job->webhook_id);
	log_clean(key, sizeof(key), job->api_key);
	log_warnx("duplicate %s %s of API key %s with another body: stored "
	    "sha256 %.16s, this copy %.16s; answered duplicate, not stored",
	    webhook_kind_name(job->route), id, key, first, job->body_sha256);
	return 1;
}

void
webhook_finish(struct webhook_job *job, struct dedup *dd,
    enum store_result r, int64_t now_ms)
{
	const char *dup = WEBHOOK_DUPLICATE, *first = job->ev.first_sha256;
	uint8_t h[DEDUP_HASH_LEN];
	char *body;
	size_t len;

	if (r == STORE_FAILED && job->route == WR_PUSH) {
		answer(job, 503, WEBHOOK_STORE_FAILED);	/* Stream retries */
		return;
	}
	if (r == STORE_DUPLICATE && duplicate_mismatch(job, first))
		dup = WEBHOOK_MISMATCH;
	/* the cache keeps the stored copy's hash: this body's when it was
	 * stored now, else the one the store had (none when unknown) */
	if (dd != NULL && r != STORE_FAILED)
		dedup_add(dd, job->api_key, job->webhook_id,
		    hash_short(r == STORE_STORED ? job->body_sha256 : first,
		    h) == 0 ? h : NULL, now_ms);
	if (job->route != WR_PUSH) {
		/*
		 * Stream's own "unchanged": the message as received.  Also
		 * when the store failed: Stream does not retry a hook, and
		 * pauses one that answers errors.
		 */
		len = strlen(job->message) + 16;
		if ((body = malloc(len)) != NULL)
			snprintf(body, len, "{\"message\":%s}", job->message);
		answer_json(job, 200, r == STORE_DUPLICATE ? dup :
		    r == STORE_FAILED ? WEBHOOK_STORE_FAILED : "stored", body);
		return;
	}
	if (r == STORE_DUPLICATE) {
		answer_json(job, 200, dup,
		    strdup("{\"status\":\"duplicate\"}"));
		return;
	}
	len = 48;
	if ((body = malloc(len)) != NULL)
		snprintf(body, len, "{\"status\":\"stored\",\"seq\":%lld}",
		    (long long)job->ev.seq);
	answer_json(job, 200, "stored", body);
}

void
webhook_hooked(struct webhook_job *job, int status, char *body, size_t len,
    const char *reason)
{
	if (body != NULL) {
		free(job->reply);
		job->reply = body;
		job->reply_len = len;
		job->status = status;
	}
	if (job->reason == NULL ||
	    (strcmp(job->reason, WEBHOOK_DUPLICATE) != 0 &&
	    strcmp(job->reason, WEBHOOK_MISMATCH) != 0))
		job->reason = reason;
}

void
webhook_unhealthy(struct webhook_job *job)
{
	answer(job, 503, WEBHOOK_STORE_FAILED);
}

void
webhook_job_free(struct webhook_job *job)
{
	free(job->reply);
	free(job->body);
	free(job->message);
	job->reply = NULL;
	job->body = NULL;
	job->message = NULL;
}
