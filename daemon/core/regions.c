/*
 * regions.c: the region table, built in or read from JSON.
 *
 * Everything here ends up in the allowlist, so input is validated hard and
 * every refusal says where: "line L: entry N: reason".  cJSON does the
 * parsing; a small scanner over the raw text maps an array index back to
 * the line its element starts on, because cJSON keeps no positions.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonfile.h"
#include "log.h"
#include "regions.h"

#define REGIONS_FILE_MAX	(4u << 20)	/* far above any real table */
#define REGIONS_REASON_LEN	1024

/* Stream's published egress addresses, in published order. */
static const struct {
	const char	*region;
	const char	*zone;
	const char	*cidr;
} regions_builtin_tab[] = {
	{ "us-east",	"use1-az2",	"34.225.10.29/32" },
	{ "us-east",	"use1-az4",	"34.198.125.61/32" },
	{ "us-east",	"use1-az3",	"52.22.78.160/32" },
	{ "us-east",	"use1-az6",	"3.215.161.238/32" },
	{ "eu-west",	"euw1-az3",	"52.212.14.212/32" },
	{ "eu-west",	"euw1-az1",	"52.17.43.232/32" },
	{ "eu-west",	"euw1-az2",	"34.241.110.177/32" },
	{ "sydney",	"apse2-az3",	"54.252.193.245/32" },
	{ "sydney",	"apse2-az2",	"13.55.254.141/32" },
	{ "sydney",	"apse2-az1",	"3.24.48.104/32" },
	{ "mumbai",	"aps1-az1",	"65.1.48.87/32" },
	{ "mumbai",	"aps1-az3",	"15.206.221.25/32" },
	{ "mumbai",	"aps1-az2",	"13.233.48.78/32" },
	{ "singapore",	"apse1-az2",	"13.229.11.158/32" },
	{ "singapore",	"apse1-az1",	"52.74.225.150/32" },
	{ "singapore",	"apse1-az3",	"52.76.180.70/32" },
	{ "ohio",	"use2-az1",	"3.14.163.216/32" },
	{ "ohio",	"use2-az2",	"3.15.245.3/32" },
	{ "ohio",	"use2-az3",	"3.141.116.179/32" },
	{ "canada",	"cac1-az1",	"35.183.141.98/32" },
	{ "canada",	"cac1-az2",	"52.60.71.231/32" },
	{ "canada",	"cac1-az4",	"3.97.253.35/32" },
	{ "oregon",	"usw2-az1",	"52.25.165.25/32" },
	{ "oregon",	"usw2-az2",	"44.237.58.11/32" },
	{ "oregon",	"usw2-az3",	"52.10.213.81/32" },
};

/* What every error path of regions_parse needs. */
struct parse_ctx {
	const char	*text;
	size_t		 len;
	char		*err;
	size_t		 errlen;
};

/* Earlier entries by cidr, to refuse duplicates without O(n^2). */
struct dupset {
	size_t		*slot;		/* entry index + 1; 0 is empty */
	size_t		 mask;
};

static int	parse_err(const struct parse_ctx *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	entry_err(const struct parse_ctx *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/*
 * Offset of the idx-th element of the top-level array.  Only strings (for
 * their brackets, commas and escaped quotes) and nesting need tracking:
 * cJSON has already accepted the text.
 */
static size_t
json_elem_offset(const char *s, size_t len, size_t idx)
{
	size_t i, n = 0;
	int depth = 0, instr = 0, esc = 0, expect = 0;

	for (i = 0; i < len; i++) {
		if (instr) {
			if (esc)
				esc = 0;
			else if (s[i] == '\\')
				esc = 1;
			else if (s[i] == '"')
				instr = 0;
			continue;
		}
		if ((unsigned char)s[i] <= ' ')
			continue;
		if (depth == 1 && expect && s[i] != ']') {
			if (n++ == idx)
				return i;
			expect = 0;
		}
		switch (s[i]) {
		case '"':
			instr = 1;
			break;
		case '[':
		case '{':
			if (depth++ == 0)
				expect = 1;
			break;
		case ']':
		case '}':
			depth--;
			break;
		case ',':
			if (depth == 1)
				expect = 1;
			break;
		}
	}
	return len;
}

/* "line L: [entry N: ]reason", L the line of text[off]; entry 0: none. */
static void
err_vat(const struct parse_ctx *ctx, size_t off, size_t entry,
    const char *fmt, va_list ap)
{
	int n;

	if (ctx->err == NULL || ctx->errlen == 0)
		return;
	n = snprintf(ctx->err, ctx->errlen, "line %zu: ",
	    jsonfile_line(ctx->text, off));
	if (n >= 0 && (size_t)n < ctx->errlen && entry > 0)
		n += snprintf(ctx->err + n, ctx->errlen - (size_t)n,
		    "entry %zu: ", entry);
	if (n < 0 || (size_t)n >= ctx->errlen)
		return;
	vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
}

static int
parse_err(const struct parse_ctx *ctx, size_t off, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vat(ctx, off, 0, fmt, ap);
	va_end(ap);
	return -1;
}

/* The same, with L where the idx-th element starts. */
static int
entry_err(const struct parse_ctx *ctx, size_t idx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vat(ctx, json_elem_offset(ctx->text, ctx->len, idx), idx + 1,
	    fmt, ap);
	va_end(ap);
	return -1;
}

/* 1..31 of [a-z0-9-_]: names are map keys and command-line words. */
static int
region_name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= SG_REGION_NAME_LEN - 1)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_'))
			return 0;
	}
	return i > 0;
}

/*
 * NULL if zone is acceptable, else why not.  A zone ends up inside a
 * quoted nft comment ("us-east use1-az2"), where a quote would end the
 * string and a backslash has no escape: both are refused here, once, so
 * that nft print never has to write text nft -f cannot read.
 */
static const char *
zone_check(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= REGION_ZONE_LEN - 1)
			return "zone longer than 31 characters";
		if (s[i] < 0x20 || s[i] >= 0x7f)
			return "zone has a non-printable character";
		if (s[i] == '"' || s[i] == '\\')
			return "zone has a quote or a backslash (it goes into "
			    "an nft comment)";
	}
	return NULL;
}

static size_t
cidr_hash(const struct cidr *c)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	size_t i;

	h = (h ^ (uint8_t)c->family) * 1099511628211ULL;
	h = (h ^ c->prefixlen) * 1099511628211ULL;
	for (i = 0; i < sizeof(c->addr); i++)
		h = (h ^ c->addr[i]) * 1099511628211ULL;
	return (size_t)h;
}

static int
dupset_init(struct dupset *d, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap <<= 1;
	if ((d->slot = calloc(cap, sizeof(*d->slot))) == NULL)
		return -1;
	d->mask = cap - 1;
	return 0;
}

/*
 * Remember v[idx].  Returns 0, or the index + 1 of an earlier entry with
 * the same cidr.  Never full: it has room for twice the entries.
 */
static size_t
dupset_add(struct dupset *d, const struct region_entry *v, size_t idx)
{
	size_t h;

	for (h = cidr_hash(&v[idx].cidr) & d->mask; d->slot[h] != 0;
	    h = (h + 1) & d->mask) {
		if (cidr_equal(&v[d->slot[h] - 1].cidr, &v[idx].cidr))
			return d->slot[h];
	}
	d->slot[h] = idx + 1;
	return 0;
}

/* Which of an entry's three members key names, or NULL. */
static const cJSON **
entry_slot(const char *key, const cJSON *m[3])
{
	static const char *const keys[3] = { "region", "zone", "cidr" };
	size_t i;

	for (i = 0; i < 3; i++)
		if (strcmp(key, keys[i]) == 0)
			return &m[i];
	return NULL;
}

/* Find region, zone and cidr in el; anything else is refused. */
static int
entry_members(const struct parse_ctx *ctx, const cJSON *el, size_t idx,
    const cJSON *m[3])
{
	char q[JSONFILE_QUOTE_LEN];
	const cJSON *kv, **slot;
	const char *key;

	m[0] = m[1] = m[2] = NULL;
	cJSON_ArrayForEach(kv, el) {
		key = kv->string != NULL ? kv->string : "";
		if ((slot = entry_slot(key, m)) == NULL)
			return entry_err(ctx, idx, "unknown key '%s'",
			    jsonfile_quote(q, key, strlen(key)));
		if (*slot != NULL)
			return entry_err(ctx, idx, "duplicate key '%s'", key);
		*slot = kv;
	}
	if (m[0] == NULL)
		return entry_err(ctx, idx, "missing key 'region'");
	if (m[2] == NULL)
		return entry_err(ctx, idx, "missing key 'cidr'");
	if (!cJSON_IsString(m[0]))
		return entry_err(ctx, idx, "key 'region' is not a string");
	if (m[1] != NULL && !cJSON_IsString(m[1]))
		return entry_err(ctx, idx, "key 'zone' is not a string");
	if (!cJSON_IsString(m[2]))
		return entry_err(ctx, idx, "key 'cidr' is not a string");
	return 0;
}

static int
entry_parse(const struct parse_ctx *ctx, const cJSON *el, size_t idx,
    struct region_entry *e)
{
	char q[JSONFILE_QUOTE_LEN], why[128];
	const cJSON *m[3];
	const char *region, *zone, *cidr, *bad;

	if (!cJSON_IsObject(el))
		return entry_err(ctx, idx, "not an object");
	if (entry_members(ctx, el, idx, m) == -1)
		return -1;
	region = m[0]->valuestring;
	zone = m[1] != NULL ? m[1]->valuestring : "";
	cidr = m[2]->valuestring;

	if (!region_name_ok(region))
		return entry_err(ctx, idx, "bad region name '%s': want 1 to "
		    "31 of a-z 0-9 - _",
		    jsonfile_quote(q, region, strlen(region)));
	if ((bad = zone_check(zone)) != NULL)
		return entry_err(ctx, idx, "%s", bad);
	if (cidr_parse(cidr, &e->cidr, why, sizeof(why)) == -1)
		return entry_err(ctx, idx, "bad cidr '%s': %s",
		    jsonfile_quote(q, cidr, strlen(cidr)), why);
	/* Both checked shorter than their arrays above. */
	memcpy(e->region, region, strlen(region) + 1);
	memcpy(e->zone, zone, strlen(zone) + 1);
	return 0;
}

static int
regions_from_json(const struct parse_ctx *ctx, const cJSON *root,
    struct region_table *t)
{
	char buf[CIDR_STRLEN];
	struct dupset d;
	const cJSON *el;
	size_t n, prev;
	int rc = -1;

	if (!cJSON_IsArray(root))
		return parse_err(ctx, jsonfile_skip_ws(ctx->text, ctx->len, 0),
		    "top level is not an array");
	if ((n = (size_t)cJSON_GetArraySize(root)) == 0)
		return 0;
	if ((t->v = calloc(n, sizeof(*t->v))) == NULL ||
	    dupset_init(&d, n) == -1) {
		log_errbuf(ctx->err, ctx->errlen, "out of memory");
		return -1;
	}
	cJSON_ArrayForEach(el, root) {
		if (entry_parse(ctx, el, t->n, &t->v[t->n]) == -1)
			goto out;
		if ((prev = dupset_add(&d, t->v, t->n)) != 0) {
			cidr_format(&t->v[t->n].cidr, buf, sizeof(buf));
			entry_err(ctx, t->n, "duplicate cidr '%s' (first in "
			    "entry %zu)", buf, prev);
			goto out;
		}
		t->n++;
	}
	rc = 0;
 out:
	free(d.slot);
	return rc;
}

int
regions_parse(const char *text, size_t len, struct region_table *t,
    char *err, size_t errlen)
{
	struct parse_ctx ctx = { text, len, err, errlen };
	struct region_table nt = { NULL, 0 };
	cJSON *root;
	int rc;

	t->v = NULL;
	t->n = 0;
	if ((root = jsonfile_parse_err(ctx.text, ctx.len, ctx.err,
	    ctx.errlen)) == NULL)
		return -1;
	rc = regions_from_json(&ctx, root, &nt);
	cJSON_Delete(root);
	if (rc == -1) {
		regions_free(&nt);
		return -1;
	}
	*t = nt;
	return 0;
}

static int
regions_parse_any(const char *text, size_t len, void *t, char *err,
    size_t errlen)
{
	return regions_parse(text, len, t, err, errlen);
}

int
regions_load_file(const char *path, struct region_table *t, char *err,
    size_t errlen)
{
	t->v = NULL;
	t->n = 0;
	return jsonfile_load(path, REGIONS_FILE_MAX, regions_parse_any, t, err,
	    errlen);
}

void
regions_free(struct region_table *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

int
regions_builtin(struct region_table *t)
{
	struct cidr c;
	size_t i;

	t->v = NULL;
	t->n = 0;
	for (i = 0; i < sizeof(regions_builtin_tab) /
	    sizeof(regions_builtin_tab[0]); i++) {
		/* Cannot fail but for ENOMEM: the unit tests parse them all. */
		if (cidr_parse(regions_builtin_tab[i].cidr, &c, NULL, 0) ==
		    -1) {
			errno = EINVAL;
			goto fail;
		}
		if (regions_add(t, regions_builtin_tab[i].region,
		    regions_builtin_tab[i].zone, &c) == -1)
			goto fail;
	}
	return 0;
 fail:
	regions_free(t);
	return -1;
}

/*
 * Refuses, with errno, what regions_parse would refuse: EINVAL for a bad
 * name, zone or family, EEXIST for a cidr already in the table.
 */
int
regions_add(struct region_table *t, const char *region, const char *zone,
    const struct cidr *c)
{
	struct region_entry *nv;
	size_t i;

	if (region == NULL)
		region = REGION_ALLOW;
	if (zone == NULL)
		zone = "";
	if (!region_name_ok(region) || zone_check(zone) != NULL ||
	    (c->family != AF_INET && c->family != AF_INET6) ||
	    c->prefixlen > (c->family == AF_INET ? 32 : 128)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < t->n; i++) {
		if (cidr_equal(&t->v[i].cidr, c)) {
			errno = EEXIST;
			return -1;
		}
	}
	if ((nv = reallocarray(t->v, t->n + 1, sizeof(*nv))) == NULL)
		return -1;
	t->v = nv;
	memset(&nv[t->n], 0, sizeof(nv[t->n]));
	memcpy(nv[t->n].region, region, strlen(region) + 1);
	memcpy(nv[t->n].zone, zone, strlen(zone) + 1);
	nv[t->n].cidr = *c;
	t->n++;
	return 0;
}

static int
table_has_region(const struct region_table *t, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strncmp(t->v[i].region, name, len) == 0 &&
		    t->v[i].region[len] == '\0')
			return 1;
	return 0;
}

/*
 * "unknown region 'x' (known: a, b)".  At most SG_MAX_REGIONS names are
 * listed: a table with more cannot be loaded anyway.
 */
static void
unknown_region_err(const struct region_table *t, const char *name,
    size_t len, char *err, size_t errlen)
{
	const char *seen[SG_MAX_REGIONS];
	char q[JSONFILE_QUOTE_LEN];
	size_t i, k, ns = 0, off;
	int r;

	if (err == NULL || errlen == 0)
		return;
	r = snprintf(err, errlen, "unknown region '%s' (known:",
	    jsonfile_quote(q, name, len));
	for (i = 0; i < t->n && ns < SG_MAX_REGIONS; i++) {
		for (k = 0; k < ns; k++)
			if (strcmp(seen[k], t->v[i].region) == 0)
				break;
		if (k < ns)
			continue;
		seen[ns] = t->v[i].region;
		off = r < 0 ? errlen : (size_t)r;
		if (off >= errlen)
			return;
		r += snprintf(err + off, errlen - off, "%s %s",
		    ns == 0 ? "" : ",", seen[ns]);
		ns++;
	}
	off = r < 0 ? errlen : (size_t)r;
	if (off < errlen)
		snprintf(err + off, errlen - off, "%s)",
		    ns == 0 ? " none" : "");
}

/* Whether name (len bytes) is one of csv's names. */
static int
csv_has(const char *csv, const char *name)
{
	size_t len = strlen(name);
	const char *p, *end;

	for (p = csv;; p = end + 1) {
		end = strchrnul(p, ',');
		if ((size_t)(end - p) == len && memcmp(p, name, len) == 0)
			return 1;
		if (*end == '\0')
			return 0;
	}
}

static int
select_check(const struct region_table *t, const char *name, size_t len,
    const char *csv, char *err, size_t errlen)
{
	char q[JSONFILE_QUOTE_LEN];
	size_t i;

	if (len == 0) {
		log_errbuf(err, errlen, "empty region name in '%s'",
		    jsonfile_quote(q, csv, strlen(csv)));
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (name[i] == ' ' || (name[i] >= '\t' && name[i] <= '\r')) {
			log_errbuf(err, errlen, "whitespace in region name "
			    "'%s'", jsonfile_quote(q, name, len));
			return -1;
		}
	}
	if (!table_has_region(t, name, len)) {
		unknown_region_err(t, name, len, err, errlen);
		return -1;
	}
	return 0;
}

int
regions_select(struct region_table *t, const char *csv, char *err,
    size_t errlen)
{
	const char *p, *end;
	size_t i, j;

	if (csv == NULL || *csv == '\0')
		return 0;
	/* Check every name first: a refusal leaves t as it was. */
	for (p = csv;; p = end + 1) {
		end = strchrnul(p, ',');
		if (select_check(t, p, (size_t)(end - p), csv, err,
		    errlen) == -1)
			return -1;
		if (*end == '\0')
			break;
	}
	for (i = j = 0; i < t->n; i++)
		if (csv_has(csv, t->v[i].region))
			t->v[j++] = t->v[i];
	t->n = j;
	return 0;
}

int
regions_ids(const struct region_table *t, char names[][SG_REGION_NAME_LEN],
    size_t max, char *err, size_t errlen)
{
	size_t i, k, n = 0, lim;

	lim = max < SG_MAX_REGIONS ? max : SG_MAX_REGIONS;
	for (i = 0; i < t->n; i++) {
		for (k = 0; k < n; k++)
			if (strcmp(names[k], t->v[i].region) == 0)
				break;
		if (k < n)
			continue;
		if (n == lim) {
			log_errbuf(err, errlen, "too many regions: more "
			    "than %zu (region '%s' would be number %zu)",
			    lim, t->v[i].region, n + 1);
			return -1;
		}
		/* Same size arrays, and region is always NUL-terminated. */
		memcpy(names[n++], t->v[i].region, SG_REGION_NAME_LEN);
	}
	return (int)n;
}

static int
entry_to_json(cJSON *arr, const struct region_entry *e)
{
	char buf[CIDR_STRLEN];
	cJSON *o;

	if ((o = cJSON_CreateObject()) == NULL)
		return -1;
	if (!cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return -1;
	}
	cidr_format(&e->cidr, buf, sizeof(buf));
	if (cJSON_AddStringToObject(o, "region", e->region) == NULL ||
	    cJSON_AddStringToObject(o, "zone", e->zone) == NULL ||
	    cJSON_AddStringToObject(o, "cidr", buf) == NULL)
		return -1;
	return 0;
}

/* NULL on ENOMEM.  cJSON allocates with malloc: free() the result. */
char *
regions_to_json(const struct region_table *t)
{
	cJSON *arr;
	char *s = NULL;
	size_t i;

	if ((arr = cJSON_CreateArray()) == NULL)
		return NULL;
	for (i = 0; i < t->n; i++)
		if (entry_to_json(arr, &t->v[i]) == -1)
			goto out;
	s = cJSON_Print(arr);
 out:
	cJSON_Delete(arr);
	return s;
}

/* Columns as wide as the widest value, never narrower than the header. */
void
regions_print(FILE *fp, const struct region_table *t)
{
	char buf[CIDR_STRLEN];
	int rw = 10, zw = 10;
	size_t i;

	for (i = 0; i < t->n; i++) {
		if ((int)strlen(t->v[i].region) > rw)
			rw = (int)strlen(t->v[i].region);
		if ((int)strlen(t->v[i].zone) > zw)
			zw = (int)strlen(t->v[i].zone);
	}
	fprintf(fp, "%-*s %-*s %s\n", rw, "REGION", zw, "ZONE", "CIDR");
	for (i = 0; i < t->n; i++) {
		cidr_format(&t->v[i].cidr, buf, sizeof(buf));
		fprintf(fp, "%-*s %-*s %s\n", rw, t->v[i].region, zw,
		    t->v[i].zone[0] != '\0' ? t->v[i].zone : "-", buf);
	}
}
