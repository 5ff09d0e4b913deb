/*
 * config.c: streamgated's settings, from a JSON file and then from flags.
 *
 * The file is small and written by hand, so it is checked hard: every
 * refusal names the key path ("keys[2].secret_file: missing"), an unknown
 * or repeated key is an error at every level, and a value of the wrong
 * type is never coerced.  Parsing works on a copy: a refused file leaves
 * the caller's config as it was.
 *
 * Accepted ranges (the defaults are in parentheses):
 *   limits.header_bytes	1024 .. 1 MiB		(16384)
 *   limits.body_bytes		1024 .. 1 GiB		(1048576)
 *   limits.inflated_bytes	body_bytes .. 4 GiB	(4194304)
 *   limits.connections		1 .. 1000000		(4096)
 *   limits.header_timeout_ms	100 .. 600000 (10 min)	(10000)
 *   limits.idle_timeout_ms	100 .. 3600000 (1 h)	(60000)
 *   limits.handshake_timeout_ms 100 .. 600000		(10000)
 *   limits.request_timeout_ms	100 .. 3600000		(30000)
 *   limits.body_min_bytes_per_s 0 .. 1 GiB, 0: none	(1024)
 *   dedup_window_s		1 .. 2592000 (30 days)	(86400)
 *   dedup_max_ids		4096 .. 268435456	(4194304: 160 MiB)
 *   workers			0 .. 256, 0: one per core (0)
 *   hook_deadline_ms		{before_message_send, custom_commands}, or one
 *				number for both; each 1 .. 5000 (1200, 700)
 *   order_by_user		true or false (true)
 *   listen			1 .. CONFIG_MAX_LISTEN distinct ADDR:PORT, or
 *				{"addr", "tls_cert", "tls_key"} (both files
 *				or neither)
 *   user			a user name (letters, digits, . _ -)
 *   keys			0 .. CONFIG_MAX_KEYS; the daemon itself refuses
 *				to start without one
 *   api_key			1 .. 127 printable ASCII, no space
 *   secret_file, store,
 *   upstream			1 .. 1023 bytes, no control characters
 *   redis DB			0 .. 255
 *   nats servers		1 .. 16 HOST:PORT, comma-separated
 *   nats.stream		1 .. 48 letters, digits, _ -	(STREAMGATE)
 *   nats.subject_prefix	1 .. 48 letters, digits, _ -, dot-joined
 *				tokens			(streamgate)
 *   nats.replicas		1 .. 5			(3)
 *   nats.creds			a file, or null		(null)
 *   nats.ca			a file, or null: the system's CAs (null)
 *   routes			1 .. 255 printable ASCII, starting with '/',
 *				no space, '?' or '#' (never part of a path
 *				the server compares), all four different
 * A number is taken by its value: 1024.0 and 1.024e3 are both 1024, while
 * 1.5, -1 and 1e20 are refused.  cJSON keeps no more than the double.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "jsonfile.h"
#include "log.h"

#define CONFIG_FILE_MAX		(1u << 20)	/* far above any real file */
#define CONFIG_KEYPATH_LEN	128		/* "keys[63].secret_file" */
#define CONFIG_WHY_LEN		256
#define CONFIG_ROUTE_LEN	256		/* the route_* arrays */
#define CONFIG_REDIS_DB_MAX	255
#define CONFIG_NATS_SERVERS_MAX	16	/* store_nats.h: STORE_NATS_SERVERS_MAX */

#define KIB			1024ULL
#define MIB			(1024ULL * KIB)
#define GIB			(1024ULL * MIB)
/* 4 GiB where size_t can hold it. */
#define INFLATED_MAX		((uint64_t)SIZE_MAX < 4 * GIB ? \
				    (uint64_t)SIZE_MAX : 4 * GIB)

/* What every error path of config_parse needs. */
struct pctx {
	const char	*text;
	size_t		 len;
	char		*err;
	size_t		 errlen;
	int		 keys_set;	/* the file replaced the key list */
};

/*
 * One key of a JSON object: fn checks the value and stores it at base +
 * off, where base is the struct the object describes (struct config, or
 * struct config_key for an element of "keys").
 */
struct field {
	const char	*name;
	int		(*fn)(const struct pctx *, const cJSON *, const char *,
			    void *, const struct field *);
	size_t		 off;
	size_t		 size;		/* of the member at off */
	uint64_t	 lo, hi;	/* numbers: the accepted range */
};

static int	key_err(const struct pctx *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* "PATH: reason"; always -1, so error paths can return it. */
static int
key_err(const struct pctx *ctx, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ctx->err == NULL || ctx->errlen == 0)
		return -1;
	n = snprintf(ctx->err, ctx->errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= ctx->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* "a.b" from parent "a" and key "b"; just "b" at the top level. */
static const char *
path_join(char dst[CONFIG_KEYPATH_LEN], const char *parent, const char *key)
{
	char q[JSONFILE_QUOTE_LEN];
	int n;

	/* Never truncated: paths are two levels deep, unknown keys quoted. */
	n = snprintf(dst, CONFIG_KEYPATH_LEN, "%s%s%s", parent,
	    parent[0] != '\0' ? "." : "",
	    jsonfile_quote(q, key, strlen(key)));
	return n >= 0 && n < CONFIG_KEYPATH_LEN ? dst : parent;
}

/* "line L: reason" for the few errors that have no key path. */
static int
line_err(const struct pctx *ctx, size_t off, const char *why)
{
	log_errbuf(ctx->err, ctx->errlen, "line %zu: %s",
	    jsonfile_line(ctx->text, off), why);
	return -1;
}

/* Value checks shared by the file and the flags: NULL, or why not. */

/* A path or URL: it goes to open(2), logs and the command line. */
static const char *
text_check(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= CONFIG_PATH_LEN - 1)
			return "longer than 1023 bytes";
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "has a control character";
	}
	return i == 0 ? "is empty" : NULL;
}

static int
graph_only(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s >= 0x7f)
			return 0;
	return 1;
}

static const char *
api_key_check(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= CONFIG_KEY_LEN || !graph_only(s))
		return "must be 1 to 127 printable characters without spaces";
	return NULL;
}

static const char *
route_check(const char *s)
{
	size_t len = strlen(s);

	if (s[0] != '/')
		return "must start with '/'";
	if (len >= CONFIG_ROUTE_LEN)
		return "longer than 255 characters";
	if (!graph_only(s))
		return "must be printable characters without spaces";
	if (strpbrk(s, "?#") != NULL)
		return "must be a path without '?' or '#'";
	return NULL;
}

/* Digits only, 1..5 of them, value lo..hi; -1 otherwise. */
static long
small_number(const char *s, size_t len, long lo, long hi)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= lo && v <= hi ? v : -1;
}

/* A redis host: "[v6]" or a name or address of letters, digits, . - _ */
static int
redis_host_ok(const char *s, size_t len)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	size_t i;

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		if (len - 2 >= sizeof(buf))
			return 0;
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1;
	}
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '-' || s[i] == '_'))
			return 0;
	return len > 0;
}

/* "redis://HOST:PORT[/DB]" */
static int
redis_ok(const char *s)
{
	const char *host = s + strlen("redis://"), *colon, *slash;

	slash = strchr(host, '/');
	if (slash == NULL)
		slash = host + strlen(host);
	else if (small_number(slash + 1, strlen(slash + 1), 0,
	    CONFIG_REDIS_DB_MAX) == -1)
		return 0;
	/* The last colon before the DB: "[::1]:6379" has several. */
	for (colon = slash; colon > host && colon[-1] != ':'; colon--)
		;
	if (colon == host)
		return 0;
	if (small_number(colon, (size_t)(slash - colon), 1, 65535) == -1)
		return 0;
	return redis_host_ok(host, (size_t)(colon - 1 - host));
}

/* "nats://HOST:PORT[,HOST:PORT...]" or "tls://...": the servers of one
 * cluster, at least one, hosts as for Redis */
static int
nats_ok(const char *s)
{
	const char *p = strchr(s, '/') + 2, *end, *colon;
	int n = 0;

	for (;; p = end + 1) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		for (colon = end; colon > p && colon[-1] != ':'; colon--)
			;
		if (colon == p || small_number(colon, (size_t)(end - colon),
		    1, 65535) == -1 ||
		    !redis_host_ok(p, (size_t)(colon - 1 - p)))
			return 0;
		if (++n > CONFIG_NATS_SERVERS_MAX)
			return 0;
		if (*end == '\0')
			return 1;
	}
}

static const char *
store_check(const char *s)
{
	static const char usage[] =
	    "must be sqlite:PATH, redis://HOST:PORT[/DB] or "
	    "nats://HOST:PORT[,HOST:PORT...] (tls:// for TLS, at most 16)";
	const char *why;

	if ((why = text_check(s)) != NULL)
		return why;
	if (strncmp(s, "sqlite:", 7) == 0 && s[7] != '\0')
		return NULL;
	if (strncmp(s, "redis://", 8) == 0 && redis_ok(s))
		return NULL;
	if ((strncmp(s, "nats://", 7) == 0 || strncmp(s, "tls://", 6) == 0) &&
	    nats_ok(s))
		return NULL;
	return usage;
}

/* A JetStream stream name: letters, digits, _ and - */
static const char *
stream_check(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	if (s[0] == '\0' || s[n] != '\0' || n > 48)
		return "must be 1 to 48 letters, digits, _ and - only";
	return NULL;
}

/* Subject tokens: letters, digits, _ and -, joined by single dots */
static const char *
subject_check(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.");

	if (s[0] == '\0' || s[n] != '\0' || n > 48 || s[0] == '.' ||
	    s[n - 1] == '.' || strstr(s, "..") != NULL)
		return "must be 1 to 48 letters, digits, _ and -, in tokens "
		    "joined by single dots";
	return NULL;
}

/* The upstream module parses the rest; here only the scheme and shape. */
static const char *
upstream_check(const char *s)
{
	static const char usage[] =
	    "must be http://, https:// or unix:/path";
	const char *why, *host;

	if ((why = text_check(s)) != NULL)
		return why;
	if (strncmp(s, "unix:/", 6) == 0)
		return s[6] != '\0' ? NULL : usage;
	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return usage;
	if (host[0] == '\0' || host[0] == '/')
		return "must name a host after http:// or https://";
	if (!graph_only(host))
		return "must not contain spaces";
	return NULL;
}

/* A user name as useradd(8) takes it. */
static const char *
user_check(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	if (s[0] == '\0' || s[0] == '-' || s[n] != '\0')
		return "must be a user name (letters, digits, . _ -)";
	return NULL;
}

/* Key names are built from it: printable, no spaces or braces. */
static const char *
prefix_check(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.-");

	if (s[0] == '\0' || s[n] != '\0')
		return "must be letters, digits and : _ . - only";
	return NULL;
}

/*
 * "1.2.3.4:80" or "[::1]:80".  Names are refused, not resolved: the
 * daemon binds before it can trust DNS, and a name that resolves to
 * several addresses would be ambiguous.
 */
static const char *
addr_check(const char *text, struct config_listen *l)
{
	char host[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN];
	struct sockaddr_in6 *s6;
	struct sockaddr_in *s4;
	const char *colon, *h;
	size_t hlen;
	long port;
	int v6;

	if ((colon = strrchr(text, ':')) == NULL)
		return "";
	h = text;
	hlen = (size_t)(colon - text);
	if ((v6 = text[0] == '[')) {
		if (hlen < 2 || text[hlen - 1] != ']')
			return memchr(text, ']', hlen) == NULL ?
			    ": no ']' after the IPv6 address" : "";
		h++;
		hlen -= 2;
	} else if (memchr(text, ':', hlen) != NULL)
		return ": put an IPv6 address in brackets: [ADDR]:PORT";
	if ((port = small_number(colon + 1, strlen(colon + 1), 0, 65535)) ==
	    -1 || port == 0)
		return ": the port must be a number from 1 to 65535";
	if (hlen == 0 || hlen >= sizeof(host))
		return "";
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	memset(l, 0, sizeof(*l));
	if (v6) {
		s6 = (struct sockaddr_in6 *)&l->addr;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return "";
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		l->addrlen = sizeof(*s6);
		inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
		snprintf(l->text, sizeof(l->text), "[%s]:%ld", buf, port);
		return NULL;
	}
	s4 = (struct sockaddr_in *)&l->addr;
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return strpbrk(host, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != NULL ?
		    ": host names are not resolved, give an IP address" : "";
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	l->addrlen = sizeof(*s4);
	inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
	snprintf(l->text, sizeof(l->text), "%s:%ld", buf, port);
	return NULL;
}

/* "'X' is not ADDR:PORT[: detail]" into why; 0 when text is fine. */
static int
addr_parse(const char *text, struct config_listen *l, char *why,
    size_t whylen)
{
	char q[JSONFILE_QUOTE_LEN];
	struct config_listen nl;
	const char *detail;

	if ((detail = addr_check(text, &nl)) == NULL) {
		*l = nl;
		return 0;
	}
	snprintf(why, whylen, "'%s' is not ADDR:PORT%s",
	    jsonfile_quote(q, text, strlen(text)), detail);
	return -1;
}

int
config_parse_addr(const char *text, struct config_listen *l)
{
	char why[CONFIG_WHY_LEN];

	return addr_parse(text, l, why, sizeof(why));
}

/* Setters for the field tables: check v, store it at base + f->off. */

static int
set_number(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	char *p = (char *)base + f->off;
	double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
	uint64_t n;

	/* The range check first: it also refuses NaN and infinities. */
	if (!(d >= (double)f->lo && d <= (double)f->hi) || signbit(d) ||
	    (double)(n = (uint64_t)d) != d)
		return key_err(ctx, path, "must be a whole number from %llu "
		    "to %llu", (unsigned long long)f->lo,
		    (unsigned long long)f->hi);
	if (f->size == sizeof(size_t))
		*(size_t *)(void *)p = (size_t)n;
	else
		*(unsigned *)(void *)p = (unsigned)n;
	return 0;
}

/* A string of at most f->size - 1 bytes checked by check. */
static int
set_string(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f, const char *(*check)(const char *))
{
	const char *why;

	if (!cJSON_IsString(v))
		return key_err(ctx, path, "must be a string");
	if ((why = check(v->valuestring)) != NULL)
		return key_err(ctx, path, "%s", why);
	if (strlen(v->valuestring) >= f->size)	/* checks are stricter */
		return key_err(ctx, path, "too long");
	memcpy((char *)base + f->off, v->valuestring,
	    strlen(v->valuestring) + 1);
	return 0;
}

static int
set_bool(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	if (!cJSON_IsBool(v))
		return key_err(ctx, path, "must be true or false");
	*(int *)(void *)((char *)base + f->off) = cJSON_IsTrue(v);
	return 0;
}

static int
set_route(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_string(ctx, v, path, base, f, route_check);
}

static int
set_api_key(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_string(ctx, v, path, base, f, api_key_check);
}

static int
set_secret_file(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_string(ctx, v, path, base, f, text_check);
}

static int
set_store(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_string(ctx, v, path, base, f, store_check);
}

/* A string checked by check, or null for "none" (""). */
static int
set_optional(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f, const char *(*check)(const char *))
{
	if (cJSON_IsNull(v)) {
		((char *)base + f->off)[0] = '\0';
		return 0;
	}
	if (!cJSON_IsString(v))
		return key_err(ctx, path, "must be a string or null");
	return set_string(ctx, v, path, base, f, check);
}

static int
set_upstream(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_optional(ctx, v, path, base, f, upstream_check);
}

/* A path, or null for the system's CA store. */
static int
set_ca_file(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_optional(ctx, v, path, base, f, text_check);
}

static int
set_prefix(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_string(ctx, v, path, base, f, prefix_check);
}

static int
set_stream(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_string(ctx, v, path, base, f, stream_check);
}

static int
set_subject(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_string(ctx, v, path, base, f, subject_check);
}

static int
set_user(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	return set_string(ctx, v, path, base, f, user_check);
}

static int
set_metrics(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	char why[CONFIG_WHY_LEN];
	struct config *c = base;

	(void)f;
	if (cJSON_IsNull(v)) {
		c->has_metrics = 0;
		memset(&c->metrics, 0, sizeof(c->metrics));
		return 0;
	}
	if (!cJSON_IsString(v))
		return key_err(ctx, path, "must be a string or null");
	if (addr_parse(v->valuestring, &c->metrics, why, sizeof(why)) == -1)
		return key_err(ctx, path, "%s", why);
	c->has_metrics = 1;
	return 0;
}

/*
 * Walk obj's members through the table; an unknown or repeated key is
 * refused.  *seen gets a bit per field found, for required keys.
 */
static int
walk_object(const struct pctx *ctx, const cJSON *obj, const char *path,
    void *base, const struct field *tab, size_t n, uint32_t *seen)
{
	char sub[CONFIG_KEYPATH_LEN];
	const cJSON *kv;
	const char *key;
	size_t i;

	if (!cJSON_IsObject(obj))
		return key_err(ctx, path, "must be an object");
	*seen = 0;
	cJSON_ArrayForEach(kv, obj) {
		key = kv->string != NULL ? kv->string : "";
		path_join(sub, path, key);
		for (i = 0; i < n; i++)
			if (strcmp(key, tab[i].name) == 0)
				break;
		if (i == n)
			return key_err(ctx, sub, "unknown key");
		if (*seen & (1u << i))
			return key_err(ctx, sub, "given twice");
		*seen |= 1u << i;
		if (tab[i].fn(ctx, kv, sub, base, &tab[i]) == -1)
			return -1;
	}
	return 0;
}

#define FIELD_NUM(name, member, lo, hi) { name, set_number,		\
	offsetof(struct config, member),				\
	sizeof(((struct config *)0)->member), lo, hi }
#define FIELD_STR(name, fn, type, member) { name, fn,			\
	offsetof(type, member), sizeof(((type *)0)->member), 0, 0 }

static const struct field limits_fields[] = {
	FIELD_NUM("header_bytes", limits.header_bytes, KIB, MIB),
	FIELD_NUM("body_bytes", limits.body_bytes, KIB, GIB),
	FIELD_NUM("inflated_bytes", limits.inflated_bytes, KIB, INFLATED_MAX),
	FIELD_NUM("connections", limits.connections, 1, 1000000),
	FIELD_NUM("header_timeout_ms", limits.header_timeout_ms, 100, 600000),
	FIELD_NUM("idle_timeout_ms", limits.idle_timeout_ms, 100, 3600000),
	FIELD_NUM("handshake_timeout_ms", limits.handshake_timeout_ms, 100,
	    600000),
	FIELD_NUM("request_timeout_ms", limits.request_timeout_ms, 100,
	    3600000),
	FIELD_NUM("body_min_bytes_per_s", limits.body_min_bytes_per_s, 0, GIB),
};

static const struct field routes_fields[] = {
	FIELD_STR("push", set_route, struct config, route_push),
	FIELD_STR("before_message_send", set_route, struct config, route_bms),
	FIELD_STR("custom_commands", set_route, struct config,
	    route_commands),
	FIELD_STR("health", set_route, struct config, route_health),
};

static const struct field upstreams_fields[] = {
	FIELD_STR("push", set_upstream, struct config, upstream_push),
	FIELD_STR("before_message_send", set_upstream, struct config,
	    upstream_bms),
	FIELD_STR("custom_commands", set_upstream, struct config,
	    upstream_commands),
};

static const struct field delivery_fields[] = {
	FIELD_NUM("backoff_base_ms", delivery.backoff_base_ms, 10, 3600000),
	FIELD_NUM("backoff_cap_ms", delivery.backoff_cap_ms, 10, 86400000),
	FIELD_NUM("max_attempts", delivery.max_attempts, 1, 1000),
	FIELD_NUM("timeout_ms", delivery.timeout_ms, 100, 600000),
	FIELD_NUM("concurrency", delivery.concurrency, 1, 1024),
};

static const struct field nats_fields[] = {
	FIELD_STR("stream", set_stream, struct config, nats.stream),
	FIELD_STR("subject_prefix", set_subject, struct config,
	    nats.subject_prefix),
	FIELD_NUM("replicas", nats.replicas, 1, 5),
	FIELD_STR("creds", set_ca_file, struct config, nats.creds),
	FIELD_STR("ca", set_ca_file, struct config, nats.ca),
};

/* Stream lets an app wait up to 5 s for Before-Message-Send. */
static const struct field hook_deadline_ms_fields[] = {
	FIELD_NUM("before_message_send", hook_deadline_ms.before_message_send,
	    1, 5000),
	FIELD_NUM("custom_commands", hook_deadline_ms.custom_commands, 1,
	    5000),
};

static const struct field key_fields[] = {
	FIELD_STR("api_key", set_api_key, struct config_key, api_key),
	FIELD_STR("secret_file", set_secret_file, struct config_key,
	    secret_file),
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
set_limits(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	char sub[CONFIG_KEYPATH_LEN];
	struct config *c = base;
	uint32_t seen;

	(void)f;
	if (walk_object(ctx, v, path, c, limits_fields, NELEM(limits_fields),
	    &seen) == -1)
		return -1;
	/* Whichever of the two the file set, the pair must make sense. */
	if (c->limits.inflated_bytes < c->limits.body_bytes)
		return key_err(ctx, path_join(sub, path, "inflated_bytes"),
		    "%zu is less than limits.body_bytes (%zu)",
		    c->limits.inflated_bytes, c->limits.body_bytes);
	return 0;
}

static int
set_upstreams(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	uint32_t seen;

	(void)f;
	return walk_object(ctx, v, path, base, upstreams_fields,
	    NELEM(upstreams_fields), &seen);
}

static int
set_delivery(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	char sub[CONFIG_KEYPATH_LEN];
	struct config *c = base;
	uint32_t seen;

	(void)f;
	if (walk_object(ctx, v, path, c, delivery_fields,
	    NELEM(delivery_fields), &seen) == -1)
		return -1;
	if (c->delivery.backoff_cap_ms < c->delivery.backoff_base_ms)
		return key_err(ctx, path_join(sub, path, "backoff_cap_ms"),
		    "%u is less than delivery.backoff_base_ms (%u)",
		    c->delivery.backoff_cap_ms, c->delivery.backoff_base_ms);
	return 0;
}

static int
set_nats(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	uint32_t seen;

	(void)f;
	return walk_object(ctx, v, path, base, nats_fields,
	    NELEM(nats_fields), &seen);
}

/* One deadline per hook, or one number for both (the older form). */
static int
set_hook_deadline(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	uint32_t seen;
	size_t i;

	(void)f;
	if (cJSON_IsObject(v))
		return walk_object(ctx, v, path, base, hook_deadline_ms_fields,
		    NELEM(hook_deadline_ms_fields), &seen);
	if (!cJSON_IsNumber(v))
		return key_err(ctx, path, "must be a number or an object "
		    "{before_message_send, custom_commands}");
	for (i = 0; i < NELEM(hook_deadline_ms_fields); i++)
		if (set_number(ctx, v, path, base,
		    &hook_deadline_ms_fields[i]) == -1)
			return -1;
	return 0;
}

static int
set_routes(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	char sub[CONFIG_KEYPATH_LEN], other[CONFIG_KEYPATH_LEN];
	const char *r[NELEM(routes_fields)];
	struct config *c = base;
	uint32_t seen;
	size_t i, j;

	(void)f;
	if (walk_object(ctx, v, path, c, routes_fields, NELEM(routes_fields),
	    &seen) == -1)
		return -1;
	/* One handler per path: a shared one could never be reached. */
	for (i = 0; i < NELEM(routes_fields); i++) {
		r[i] = (const char *)c + routes_fields[i].off;
		for (j = 0; j < i; j++)
			if (strcmp(r[i], r[j]) == 0)
				return key_err(ctx,
				    path_join(sub, path, routes_fields[i].name),
				    "same path as %s", path_join(other, path,
				    routes_fields[j].name));
	}
	return 0;
}

static int
set_listen_addr(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	char why[CONFIG_WHY_LEN];
	struct config_listen *l = base;

	(void)f;
	if (!cJSON_IsString(v))
		return key_err(ctx, path, "must be a string");
	if (addr_parse(v->valuestring, l, why, sizeof(why)) == -1)
		return key_err(ctx, path, "%s", why);
	return 0;
}

static const struct field listen_fields[] = {
	{ "addr", set_listen_addr, 0, 0, 0, 0 },
	FIELD_STR("tls_cert", set_secret_file, struct config_listen, tls_cert),
	FIELD_STR("tls_key", set_secret_file, struct config_listen, tls_key),
};

/* "ADDR:PORT", or {"addr", "tls_cert", "tls_key"}. */
static int
listen_entry(const struct pctx *ctx, const cJSON *el, const char *path,
    struct config_listen *l)
{
	char sub[CONFIG_KEYPATH_LEN], why[CONFIG_WHY_LEN];
	uint32_t seen;

	memset(l, 0, sizeof(*l));
	if (cJSON_IsString(el)) {
		if (addr_parse(el->valuestring, l, why, sizeof(why)) == -1)
			return key_err(ctx, path, "%s", why);
		return 0;
	}
	if (!cJSON_IsObject(el))
		return key_err(ctx, path, "must be \"ADDR:PORT\" or an object "
		    "with addr, tls_cert, tls_key");
	if (walk_object(ctx, el, path, l, listen_fields, NELEM(listen_fields),
	    &seen) == -1)
		return -1;
	if ((seen & 1) == 0)
		return key_err(ctx, path_join(sub, path, "addr"), "missing");
	if (((seen >> 1) & 1) != ((seen >> 2) & 1))
		return key_err(ctx, path_join(sub, path, (seen & 2) ?
		    "tls_key" : "tls_cert"), "missing: TLS needs both "
		    "tls_cert and tls_key");
	return 0;
}

static int
set_listen(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	char sub[CONFIG_KEYPATH_LEN];
	struct config *c = base;
	const cJSON *el;
	size_t i, n = 0;

	(void)f;
	if (!cJSON_IsArray(v))
		return key_err(ctx, path, "must be an array of ADDR:PORT "
		    "strings or {addr, tls_cert, tls_key} objects");
	cJSON_ArrayForEach(el, v) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, n);
		if (n == CONFIG_MAX_LISTEN)
			return key_err(ctx, path, "more than %d addresses",
			    CONFIG_MAX_LISTEN);
		if (listen_entry(ctx, el, sub, &c->listen[n]) == -1)
			return -1;
		for (i = 0; i < n; i++)
			if (strcmp(c->listen[i].text, c->listen[n].text) == 0)
				return key_err(ctx, sub, "same address as "
				    "%s[%zu]", path, i);
		n++;
	}
	if (n == 0)
		return key_err(ctx, path, "empty: the daemon would listen "
		    "nowhere");
	c->nlisten = n;
	return 0;
}

/* Same API key and file as an earlier entry: index + 1, or 0. */
static size_t
key_dup(const struct config *c, size_t n, const struct config_key *k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(c->keys[i].api_key, k->api_key) == 0 &&
		    strcmp(c->keys[i].secret_file, k->secret_file) == 0)
			return i + 1;
	return 0;
}

static int
key_entry(const struct pctx *ctx, const cJSON *el, const char *path,
    struct config_key *k)
{
	char sub[CONFIG_KEYPATH_LEN];
	uint32_t seen;
	size_t i;

	memset(k, 0, sizeof(*k));
	if (walk_object(ctx, el, path, k, key_fields, NELEM(key_fields),
	    &seen) == -1)
		return -1;
	for (i = 0; i < NELEM(key_fields); i++)
		if ((seen & (1u << i)) == 0)
			return key_err(ctx, path_join(sub, path,
			    key_fields[i].name), "missing");
	return 0;
}

/* The secrets are not loaded here: config_load_secrets does it last. */
static int
set_keys(const struct pctx *ctx, const cJSON *v, const char *path,
    void *base, const struct field *f)
{
	char sub[CONFIG_KEYPATH_LEN];
	struct config *c = base;
	const cJSON *el;
	size_t n = 0, prev;

	(void)f;
	if (!cJSON_IsArray(v))
		return key_err(ctx, path, "must be an array of objects");
	cJSON_ArrayForEach(el, v) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, n);
		if (n == CONFIG_MAX_KEYS)
			return key_err(ctx, path, "more than %d entries",
			    CONFIG_MAX_KEYS);
		if (key_entry(ctx, el, sub, &c->keys[n]) == -1)
			return -1;
		if ((prev = key_dup(c, n, &c->keys[n])) != 0)
			return key_err(ctx, sub, "same api_key and "
			    "secret_file as %s[%zu]", path, prev - 1);
		n++;
	}
	c->nkeys = n;
	((struct pctx *)ctx)->keys_set = 1;
	return 0;
}

static const struct field top_fields[] = {
	{ "listen", set_listen, 0, 0, 0, 0 },
	{ "keys", set_keys, 0, 0, 0, 0 },
	FIELD_STR("store", set_store, struct config, store),
	FIELD_STR("upstream", set_upstream, struct config, upstream),
	{ "metrics", set_metrics, 0, 0, 0, 0 },
	{ "routes", set_routes, 0, 0, 0, 0 },
	{ "limits", set_limits, 0, 0, 0, 0 },
	{ "upstreams", set_upstreams, 0, 0, 0, 0 },
	FIELD_STR("upstream_ca_file", set_ca_file, struct config,
	    upstream_ca_file),
	{ "delivery", set_delivery, 0, 0, 0, 0 },
	{ "hook_deadline_ms", set_hook_deadline, 0, 0, 0, 0 },
	{ "order_by_user", set_bool, offsetof(struct config, order_by_user),
	    sizeof(int), 0, 0 },
	FIELD_NUM("retention_s", retention_s, 0, 3650 * 86400),
	FIELD_STR("redis_prefix", set_prefix, struct config, redis_prefix),
	{ "nats", set_nats, 0, 0, 0, 0 },
	FIELD_STR("user", set_user, struct config, user),
	FIELD_NUM("dedup_window_s", dedup_window_s, 1, 30 * 86400),
	/* the SQLite writer's ids, 40 bytes each (store_ids.h); the least
	 * is its batch (STORE_IDS_MIN) */
	FIELD_NUM("dedup_max_ids", dedup_max_ids, 4096, 1u << 28),
	FIELD_NUM("workers", workers, 0, 256),
};

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	/* Cannot fail: test_config checks the defaults. */
	(void)config_parse_addr("127.0.0.1:8080", &c->listen[0]);
	c->nlisten = 1;
	snprintf(c->store, sizeof(c->store), "sqlite:./var/streamgate.db");
	snprintf(c->route_push, sizeof(c->route_push),
	    "/webhooks/stream/push");
	snprintf(c->route_bms, sizeof(c->route_bms),
	    "/webhooks/stream/before-message-send");
	snprintf(c->route_commands, sizeof(c->route_commands),
	    "/webhooks/stream/custom-commands");
	snprintf(c->route_health, sizeof(c->route_health), "/healthz");
	c->limits.header_bytes = 16384;
	c->limits.body_bytes = 1048576;
	c->limits.inflated_bytes = 4194304;
	c->limits.connections = 4096;
	c->limits.header_timeout_ms = 10000;
	c->limits.idle_timeout_ms = 60000;
	c->limits.handshake_timeout_ms = 10000;
	/*
	 * Stream posts a webhook from its data centre, a few KiB in one or two
	 * segments: 30 s is far beyond any real one (a 1 MiB body at 35 KB/s),
	 * and 1 KiB/s a thousand times below it, while a body trickled to
	 * hold a connection loses it 5 s in, not at the deadline.
	 */
	c->limits.request_timeout_ms = 30000;
	c->limits.body_min_bytes_per_s = 1024;
	c->dedup_window_s = 86400;
	c->dedup_max_ids = 4194304;	/* store.h: STORE_DEDUP_MAX_IDS */
	c->workers = 0;
	c->delivery.backoff_base_ms = 1000;
	c->delivery.backoff_cap_ms = 300000;
	c->delivery.max_attempts = 12;
	c->delivery.timeout_ms = 10000;
	c->delivery.concurrency = 32;
	/* 300 ms under what Stream waits: 1.5 s by default for
	 * Before-Message-Send, about 1 s for Custom Commands */
	c->hook_deadline_ms.before_message_send = 1200;
	c->hook_deadline_ms.custom_commands = 700;
	c->order_by_user = 1;
	c->retention_s = 7 * 86400;
	snprintf(c->redis_prefix, sizeof(c->redis_prefix), "streamgate");
	snprintf(c->nats.stream, sizeof(c->nats.stream), "STREAMGATE");
	snprintf(c->nats.subject_prefix, sizeof(c->nats.subject_prefix),
	    "streamgate");
	c->nats.replicas = 3;
}

const char *
config_upstream(const struct config *c, enum config_route r)
{
	const char *own = r == CR_PUSH ? c->upstream_push :
	    r == CR_BMS ? c->upstream_bms : c->upstream_commands;

	return own[0] != '\0' ? own : c->upstream;
}

/* Wipe the secrets of keys[from..]: the entries are being replaced. */
static void
keys_release(struct config *c, size_t from)
{
	size_t i;

	for (i = from; i < CONFIG_MAX_KEYS; i++)
		secret_free(&c->keys[i].secret);
}

int
config_parse(const char *text, size_t len, struct config *c, char *err,
    size_t errlen)
{
	struct pctx ctx = { text, len, err, errlen, 0 };
	struct config *nc;
	uint32_t seen;
	cJSON *root;
	size_t i;
	int rc = -1;

	if ((root = jsonfile_parse_err(ctx.text, ctx.len, ctx.err,
	    ctx.errlen)) == NULL)
		return -1;
	if (!cJSON_IsObject(root)) {
		line_err(&ctx, jsonfile_skip_ws(text, len, 0),
		    "the top level must be an object");
		goto out;
	}
	/* Work on a copy, so that a refused file changes nothing. */
	if ((nc = malloc(sizeof(*nc))) == NULL) {
		log_errbuf(err, errlen, "out of memory");
		goto out;
	}
	*nc = *c;
	if ((rc = walk_object(&ctx, root, "", nc, top_fields,
	    NELEM(top_fields), &seen)) == 0) {
		if (ctx.keys_set) {
			/* nc's entries are new: none holds a secret. */
			keys_release(c, 0);
			for (i = 0; i < CONFIG_MAX_KEYS; i++)
				memset(&nc->keys[i].secret, 0,
				    sizeof(nc->keys[i].secret));
		}
		*c = *nc;
	}
	explicit_bzero(nc, sizeof(*nc));
	free(nc);
 out:
	cJSON_Delete(root);
	return rc;
}

static int
config_parse_any(const char *text, size_t len, void *c, char *err,
    size_t errlen)
{
	return config_parse(text, len, c, err, errlen);
}

int
config_load_file(const char *path, struct config *c, char *err,
    size_t errlen)
{
	return jsonfile_load(path, CONFIG_FILE_MAX, config_parse_any, c, err,
	    errlen);
}

/* Flags: the same checks, and errors that name the flag. */

int
config_flag_listen(struct config *c, const char *arg, int first, char *err,
    size_t errlen)
{
	char why[CONFIG_WHY_LEN];
	struct config_listen l;
	size_t i, n = first ? 0 : c->nlisten;

	if (addr_parse(arg, &l, why, sizeof(why)) == -1) {
		log_errbuf(err, errlen, "--listen: %s", why);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(c->listen[i].text, l.text) == 0) {
			log_errbuf(err, errlen, "--listen: %s given twice",
			    l.text);
			return -1;
		}
	}
	if (n == CONFIG_MAX_LISTEN) {
		log_errbuf(err, errlen, "--listen: more than %d addresses",
		    CONFIG_MAX_LISTEN);
		return -1;
	}
	c->listen[n] = l;
	c->nlisten = n + 1;
	return 0;
}

int
config_flag_tls(struct config *c, int key, const char *arg, int have_listen,
    char *err, size_t errlen)
{
	const char *flag = key ? "--tls-key" : "--tls-cert", *why;
	struct config_listen *l;
	char *dst;

	if (!have_listen) {
		log_errbuf(err, errlen, "%s: give it after the --listen it "
		    "belongs to", flag);
		return -1;
	}
	if ((why = text_check(arg)) != NULL) {
		log_errbuf(err, errlen, "%s: %s", flag, why);
		return -1;
	}
	l = &c->listen[c->nlisten - 1];
	dst = key ? l->tls_key : l->tls_cert;
	if (dst[0] != '\0') {
		log_errbuf(err, errlen, "%s: given twice for %s", flag, l->text);
		return -1;
	}
	snprintf(dst, CONFIG_PATH_LEN, "%s", arg);
	return 0;
}

int
config_flag_user(struct config *c, const char *arg, char *err, size_t errlen)
{
	const char *why;

	if ((why = user_check(arg)) != NULL) {
		log_errbuf(err, errlen, "--user: %s", why);
		return -1;
	}
	snprintf(c->user, sizeof(c->user), "%s", arg);
	return 0;
}

int
config_check(const struct config *c, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < c->nlisten; i++)
		if ((c->listen[i].tls_cert[0] == '\0') !=
		    (c->listen[i].tls_key[0] == '\0')) {
			log_errbuf(err, errlen, "%s: %s without %s: TLS needs "
			    "both a certificate and a key", c->listen[i].text,
			    c->listen[i].tls_cert[0] ? "--tls-cert" :
			    "--tls-key", c->listen[i].tls_cert[0] ?
			    "--tls-key" : "--tls-cert");
			return -1;
		}
	return 0;
}

/*
 * The two halves of "API_KEY=SECRET_FILE" into k; NULL, or why not with
 * *what the half at fault.
 */
static const char *
key_arg(const char *arg, const char *eq, struct config_key *k,
    const char **what)
{
	size_t klen = (size_t)(eq - arg);
	const char *why;

	memset(k, 0, sizeof(*k));
	*what = "API_KEY ";
	if (klen >= CONFIG_KEY_LEN)
		return "is longer than 127 characters";
	memcpy(k->api_key, arg, klen);
	if ((why = api_key_check(k->api_key)) != NULL)
		return why;
	*what = "SECRET_FILE ";
	if ((why = text_check(eq + 1)) != NULL)
		return why;
	memcpy(k->secret_file, eq + 1, strlen(eq + 1) + 1);
	*what = "";
	return NULL;
}

int
config_flag_key(struct config *c, const char *arg, int first, char *err,
    size_t errlen)
{
	char q[JSONFILE_QUOTE_LEN];
	struct config_key k;
	const char *eq, *why, *what;
	size_t n = first ? 0 : c->nkeys;

	if ((eq = strchr(arg, '=')) == NULL) {
		log_errbuf(err, errlen, "--key: '%s' is not "
		    "API_KEY=SECRET_FILE",
		    jsonfile_quote(q, arg, strlen(arg)));
		return -1;
	}
	if ((why = key_arg(arg, eq, &k, &what)) == NULL) {
		if (key_dup(c, n, &k) != 0)
			why = "given twice";
		else if (n == CONFIG_MAX_KEYS)
			why = "more than 64 keys";
	}
	if (why != NULL) {
		log_errbuf(err, errlen, "--key: '%s': %s%s",
		    jsonfile_quote(q, arg, strlen(arg)), what, why);
		return -1;
	}
	if (first)
		keys_release(c, 0);
	secret_free(&c->keys[n].secret);
	c->keys[n] = k;
	c->nkeys = n + 1;
	return 0;
}

int
config_flag_store(struct config *c, const char *arg, char *err,
    size_t errlen)
{
	const char *why;

	if ((why = store_check(arg)) != NULL) {
		log_errbuf(err, errlen, "--store: %s", why);
		return -1;
	}
	snprintf(c->store, sizeof(c->store), "%s", arg);
	return 0;
}

int
config_flag_upstream(struct config *c, const char *arg, char *err,
    size_t errlen)
{
	const char *why;

	if ((why = upstream_check(arg)) != NULL) {
		log_errbuf(err, errlen, "--upstream: %s", why);
		return -1;
	}
	snprintf(c->upstream, sizeof(c->upstream), "%s", arg);
	return 0;
}

int
config_flag_metrics(struct config *c, const char *arg, char *err,
    size_t errlen)
{
	char why[CONFIG_WHY_LEN];

	if (addr_parse(arg, &c->metrics, why, sizeof(why)) == -1) {
		log_errbuf(err, errlen, "--metrics: %s", why);
		return -1;
	}
	c->has_metrics = 1;
	return 0;
}

/*
 * Last, after the file and the flags: the error names the entry by index
 * and API key (never the secret).  Loading twice reloads.
 */
int
config_load_secrets(struct config *c, char *err, size_t errlen)
{
	char q[JSONFILE_QUOTE_LEN], why[CONFIG_PATH_LEN + 256];
	const char *key;
	size_t i;

	for (i = 0; i < c->nkeys; i++) {
		secret_free(&c->keys[i].secret);
		if (secret_load(c->keys[i].secret_file, &c->keys[i].secret,
		    why, sizeof(why)) == -1) {
			key = c->keys[i].api_key;
			log_errbuf(err, errlen, "keys[%zu] (API key '%s'): %s",
			    i, jsonfile_quote(q, key, strlen(key)), why);
			return -1;
		}
	}
	return 0;
}

/*
 * Every loaded secret of api_key, in file order: during a rotation the
 * caller tries each.  An entry whose secret is not loaded is skipped, so
 * an empty key can never verify anything.
 */
size_t
config_secrets_for(const struct config *c, const char *api_key,
    size_t keylen, struct secret *out, size_t max)
{
	const struct config_key *k;
	size_t i, n = 0;

	for (i = 0; i < c->nkeys && n < max; i++) {
		k = &c->keys[i];
		if (k->secret.bytes == NULL || k->secret.len == 0 ||
		    strlen(k->api_key) != keylen ||
		    memcmp(k->api_key, api_key, keylen) != 0)
			continue;
		out[n++] = k->secret;
	}
	return n;
}

void
config_free(struct config *c)
{
	keys_release(c, 0);
}
