/*
 * nft_diff.c: what `nft apply` would change.  Both sides, the kernel's
 * table and the objects apply would send, become the same canonical lines:
 * the table; each set (type, flags) and its elements (as prefixes, with
 * their comments); each chain (hook, priority, policy, device); each rule
 * (libnftnl's text of its expressions, counters and handles left out, and
 * its comment).  Lines only in the kernel print "- ", only in the plan "+ ".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "log.h"
#include "nft_nl.h"

#define LCS_MAX		(16u << 20)	/* cells; beyond it, compare in place */

/* A line and the key that orders it and pairs it with the other side's. */
struct line {
	char	*key;
	char	*text;
};

struct lines {
	struct line	*v;
	size_t		 n, cap;
};

/* Both sides: objects (keyed, unordered) and rules (ordered). */
struct side {
	struct lines	obj;
	struct lines	rule;
};

static int __attribute__((format(printf, 3, 4)))
line_add(struct lines *L, const char *key, const char *fmt, ...)
{
	struct line *nv;
	va_list ap;
	char *text;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	if (L->n == L->cap) {
		size_t cap = L->cap ? 2 * L->cap : 64;

		if ((nv = reallocarray(L->v, cap, sizeof(*nv))) == NULL) {
			free(text);
			return -1;
		}
		L->v = nv;
		L->cap = cap;
	}
	L->v[L->n].text = text;
	if ((L->v[L->n].key = strdup(key ? key : "")) == NULL) {
		free(text);
		return -1;
	}
	L->n++;
	return 0;
}

static void
lines_free(struct lines *L)
{
	size_t i;

	for (i = 0; i < L->n; i++) {
		free(L->v[i].key);
		free(L->v[i].text);
	}
	free(L->v);
	memset(L, 0, sizeof(*L));
}

/* Elements: one line per start, its range as a prefix where it is one. */

struct kelem {
	const uint8_t	*key;
	uint32_t	 len;
	int		 end;		/* NFT_SET_ELEM_INTERVAL_END */
	const char	*comment;
};

static int
kelem_cmp(const void *a, const void *b)
{
	const struct kelem *x = a, *y = b;
	int c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if ((c = memcmp(x->key, y->key, x->len)) != 0)
		return c;
	return y->end - x->end;	/* an end sorts before a start at one key */
}

static void
hex(char *buf, size_t size, const uint8_t *p, uint32_t len)
{
	uint32_t i;

	buf[0] = '\0';
	for (i = 0; i < len && 2 * i + 2 < size; i++)
		snprintf(buf + 2 * i, 3, "%02x", p[i]);
}

/* Address text: "3.14.163.216/32", or "a-b" when the range is no prefix. */
static void
range_text(char *buf, size_t size, const uint8_t *start, const uint8_t *end,
    uint32_t len)
{
	struct cidr c = { .family = len == 4 ? AF_INET : AF_INET6 };
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	uint8_t e[16], last[16];
	int p, has_end, i;

	memcpy(c.addr, start, len);
	for (p = (int)len * 8; p >= 0; p--) {
		if (p < (int)len * 8 && (start[p / 8] & (0x80 >> (p % 8))))
			break;	/* a host bit set: no shorter prefix fits */
		c.prefixlen = (uint8_t)p;
		has_end = nft_prefix_end(&c, e, len);
		if (end ? has_end && memcmp(e, end, len) == 0 : !has_end) {
			cidr_format(&c, buf, size);
			return;
		}
	}
	if (end) {
		memcpy(last, end, len);
		for (i = (int)len - 1; i >= 0 && last[i]-- == 0; i--)
			;
	} else
		memset(last, 0xff, len);
	inet_ntop(c.family, start, a, sizeof(a));
	inet_ntop(c.family, last, b, sizeof(b));
	snprintf(buf, size, "%s-%s", a, b);
}

static int
elem_line(struct lines *L, const char *set, const struct kelem *s,
    const struct kelem *e, int interval)
{
	char key[256], text[96], hx[40];

	hex(hx, sizeof(hx), s->key, s->len);
	snprintf(key, sizeof(key), "1 %s 1 %s", set, hx);
	if (interval && (s->len == 4 || s->len == 16))
		range_text(text, sizeof(text), s->key, e ? e->key : NULL,
		    s->len);
	else if (s->len == 2)
		snprintf(text, sizeof(text), "%u",
		    (unsigned)(s->key[0] << 8 | s->key[1]));
	else
		snprintf(text, sizeof(text), "0x%s", hx);
	if (s->comment)
		return line_add(L, key, "set %s: element %s comment \"%s\"",
		    set, text, s->comment);
	return line_add(L, key, "set %s: element %s", set, text);
}

/* Pair each interval start with the end after it; a lone 0 end is not one. */
static int
elems_lines(struct lines *L, const char *set, struct kelem *v, size_t n,
    int interval)
{
	const struct kelem *open = NULL;
	size_t i;

	qsort(v, n, sizeof(*v), kelem_cmp);
	for (i = 0; i < n; i++) {
		if (!interval) {
			if (elem_line(L, set, &v[i], NULL, 0) != 0)
				return -1;
		} else if (v[i].end) {
			if (open && elem_line(L, set, open, &v[i], 1) != 0)
				return -1;
			open = NULL;
		} else {
			if (open && elem_line(L, set, open, NULL, 1) != 0)
				return -1;
			open = &v[i];
		}
	}
	return open ? elem_line(L, set, open, NULL, 1) : 0;
}

static const char *
type_name(uint32_t type)
{
	switch (type) {
	case 7:
		return "ipv4_addr";
	case 8:
		return "ipv6_addr";
	case 13:
		return "inet_service";
	default:
		return NULL;
	}
}

static int
set_lines(struct lines *L, const struct nftnl_set *s,
    struct nftnl_set_elem **elems, size_t n)
{
	const char *name = nftnl_set_get_str(s, NFTNL_SET_NAME);
	uint32_t type = nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE);
	uint32_t flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
	char key[128], tbuf[32];
	struct kelem *v;
	size_t i;
	uint32_t len;
	const void *ud;
	int rc;

	snprintf(key, sizeof(key), "1 %s 0", name);
	if (type_name(type) == NULL)
		snprintf(tbuf, sizeof(tbuf), "%u/%u", type,
		    nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN));
	if (line_add(L, key, "set %s: type %s%s%s", name, type_name(type) ?
	    type_name(type) : tbuf, flags & NFT_SET_INTERVAL ?
	    ", flags interval" : "", (flags & ~NFT_SET_INTERVAL) ?
	    ", other flags" : "") != 0)
		return -1;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		v[i].key = nftnl_set_elem_get(elems[i], NFTNL_SET_ELEM_KEY,
		    &v[i].len);
		v[i].end = nftnl_set_elem_is_set(elems[i],
		    NFTNL_SET_ELEM_FLAGS) && (nftnl_set_elem_get_u32(elems[i],
		    NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END);
		ud = nftnl_set_elem_get(elems[i], NFTNL_SET_ELEM_USERDATA,
		    &len);
		v[i].comment = nftnl_set_elem_is_set(elems[i],
		    NFTNL_SET_ELEM_USERDATA) ? nft_udata_comment(ud, len) :
		    NULL;
		if (v[i].key == NULL)
			v[i].len = 0;
	}
	rc = elems_lines(L, name, v, n, (flags & NFT_SET_INTERVAL) != 0);
	free(v);
	return rc;
}

static int
chain_line(struct lines *L, int family, const struct nftnl_chain *c)
{
	const char *name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
	const char *const *devs;
	char key[128], dev[256] = "";
	size_t i, off = 0;

	snprintf(key, sizeof(key), "2 %s", name);
	if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM))
		return line_add(L, key, "chain %s: no hook", name);
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEV))
		snprintf(dev, sizeof(dev), " device %s",
		    nftnl_chain_get_str(c, NFTNL_CHAIN_DEV));
	else if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEVICES) &&
	    (devs = nftnl_chain_get_array(c, NFTNL_CHAIN_DEVICES)) != NULL)
		for (i = 0; devs[i] && off < sizeof(dev); i++)
			off += (size_t)snprintf(dev + off, sizeof(dev) - off,
			    "%s%s", i ? "," : " device ", devs[i]);
	return line_add(L, key, "chain %s: type %s hook %s priority %d "
	    "policy %s%s", name, nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE),
	    nft_hook_name(family, nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM)),
	    nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO),
	    nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY) &&
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) == NF_DROP ?
	    "drop" : "accept", dev);
}

/*
 * libnftnl's text of a rule, less what differs between the objects we
 * build and the ones the kernel dumps without changing what the rule does:
 * the header line (handle, position), counter values, the userdata (the
 * comment is printed apart), and a lookup's flags when they are 0 (the
 * kernel always reports them; nft, like us, sends them only when set).
 */
static int
rule_line(struct lines *L, const struct nftnl_rule *r)
{
	char buf[8192], out[8192], *ln, *save = NULL, *body;
	const char *comment = NULL, *ud;
	uint32_t len;
	size_t off = 0;
	int n;

	n = nftnl_rule_snprintf(buf, sizeof(buf), r, NFTNL_OUTPUT_DEFAULT, 0);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	out[0] = '\0';
	body = strchr(buf, '\n');
	for (ln = strtok_r(body ? body : buf, "\n", &save); ln;
	    ln = strtok_r(NULL, "\n", &save)) {
		char *p;

		ln += strspn(ln, " \t");
		if (ln[0] != '[')
			continue;	/* the userdata line */
		if (strncmp(ln, "[ counter ", 10) == 0)
			ln = "[ counter ]";
		else if (strncmp(ln, "[ lookup ", 9) == 0 &&
		    (p = strstr(ln, " 0x0 ]")) != NULL)
			memmove(p, p + 4, strlen(p + 4) + 1);
		off += (size_t)snprintf(out + off, sizeof(out) - off, "%s%s",
		    off ? " " : "", ln);
		if (off >= sizeof(out))
			return -1;
	}
	if (nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) {
		ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
		comment = nft_udata_comment(ud, len);
	}
	if (comment)
		return line_add(L, NULL, "rule %s: %s comment \"%s\"",
		    nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), out, comment);
	return line_add(L, NULL, "rule %s: %s",
	    nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), out);
}

/* The plan's side, from the very objects apply would send. */
static int
want_lines(struct side *S, const struct nft_plan *p, const struct nft_objs *o)
{
	size_t k;

	if (line_add(&S->obj, "0", "table %s %s", p->family, p->table) != 0)
		return -1;
	for (k = 0; k < o->nsets; k++)
		if (set_lines(&S->obj, o->sets[k].set, o->sets[k].elems,
		    o->sets[k].nelems) != 0)
			return -1;
	for (k = 0; k < o->nchains; k++)
		if (chain_line(&S->obj, o->family, o->chains[k]) != 0)
			return -1;
	for (k = 0; k < o->nrules; k++)
		if (rule_line(&S->rule, o->rules[k]) != 0)
			return -1;
	return 0;
}

/* The kernel's side. */

static int
have_set_lines(struct lines *L, struct nftnl_set *s)
{
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e, **v = NULL;
	size_t n = 0;
	int rc = -1;

	if ((it = nftnl_set_elems_iter_create(s)) == NULL)
		return -1;
	/* _next() returns the current element, then moves on */
	while ((e = nftnl_set_elems_iter_next(it)) != NULL)
		if (nft_ptr_push((void ***)&v, &n, e) != 0)
			goto done;
	rc = set_lines(L, s, v, n);
done:
	nftnl_set_elems_iter_destroy(it);
	free(v);
	return rc;
}

static int
have_lines(struct side *S, const struct nft_plan *p,
    const struct nft_ktable *k)
{
	size_t i;

	if (line_add(&S->obj, "0", "table %s %s", p->family, p->table) != 0)
		return -1;
	for (i = 0; i < k->nsets; i++)
		if (have_set_lines(&S->obj, k->sets[i]) != 0)
			return -1;
	for (i = 0; i < k->nchains; i++)
		if (chain_line(&S->obj, k->family, k->chains[i]) != 0)
			return -1;
	for (i = 0; i < k->nrules; i++)
		if (rule_line(&S->rule, k->rules[i]) != 0)
			return -1;
	return 0;
}

/* Diffs. */

static int
line_keycmp(const void *a, const void *b)
{
	const struct line *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* Objects: sorted by key on both sides, then merged. */
static int
diff_objs(FILE *fp, struct lines *a, struct lines *b)
{
	size_t i = 0, j = 0;
	int c, changed = 0;

	if (a->n)
		qsort(a->v, a->n, sizeof(*a->v), line_keycmp);
	if (b->n)
		qsort(b->v, b->n, sizeof(*b->v), line_keycmp);
	while (i < a->n || j < b->n) {
		c = i == a->n ? 1 : j == b->n ? -1 :
		    strcmp(a->v[i].key, b->v[j].key);
		if (c == 0 && strcmp(a->v[i].text, b->v[j].text) == 0) {
			i++;
			j++;
			continue;
		}
		changed = 1;
		if (c <= 0)
			fprintf(fp, "- %s\n", a->v[i++].text);
		if (c >= 0)
			fprintf(fp, "+ %s\n", b->v[j++].text);
	}
	return changed;
}

/* Rules: in order, by longest common subsequence. */
static int
diff_rules(FILE *fp, const struct lines *a, const struct lines *b)
{
	size_t n = a->n, m = b->n, i, j;
	uint32_t *t;
	int changed = 0;

	if ((n + 1) * (m + 1) > LCS_MAX ||
	    (t = calloc((n + 1) * (m + 1), sizeof(*t))) == NULL)
		return -1;
#define T(x, y)	t[(x) * (m + 1) + (y)]
	for (i = n; i-- > 0;)
		for (j = m; j-- > 0;)
			T(i, j) = strcmp(a->v[i].text, b->v[j].text) == 0 ?
			    T(i + 1, j + 1) + 1 : T(i + 1, j) > T(i, j + 1) ?
			    T(i + 1, j) : T(i, j + 1);
	for (i = 0, j = 0; i < n || j < m;) {
		if (i < n && j < m && strcmp(a->v[i].text, b->v[j].text) == 0) {
			i++;
			j++;
		} else if (j == m || (i < n && T(i + 1, j) >= T(i, j + 1))) {
			fprintf(fp, "- %s\n", a->v[i++].text);
			changed = 1;
		} else {
			fprintf(fp, "+ %s\n", b->v[j++].text);
			changed = 1;
		}
	}
#undef T
	free(t);
	return changed;
}

int
nft_diff(FILE *fp, const struct nft_plan *p)
{
	struct side have = { 0 }, want = { 0 };
	struct nft_ktable k = { 0 };
	struct nft_objs o;
	struct nft_nl nl;
	int rc = -1, exists, ro, rr;

	if (nft_objs_build(p, &o) != 0)
		return -1;
	if (nft_nl_open(&nl, "nft diff") != 0) {
		nft_objs_free(&o);
		return -1;
	}
	if ((exists = nft_nl_table_exists(&nl, o.family, p->table)) < 0 ||
	    (exists && nft_ktable_read(&nl, o.family, p->table, NFT_READ_SETS,
	    &k) != 0)) {
		if (errno == EPERM || errno == EACCES)
			log_warnx("nft diff needs root (CAP_NET_ADMIN)");
		else if (errno == EINVAL || errno == EOPNOTSUPP)
			/* what nfnetlink says of an unknown subsystem */
			log_warnx("nft diff: the kernel has no nf_tables");
		else
			log_warn("nft diff: reading table %s %s", p->family,
			    p->table);
		goto done;
	}
	if ((exists && have_lines(&have, p, &k) != 0) ||
	    want_lines(&want, p, &o) != 0) {
		log_warnx("nft diff: out of memory");
		goto done;
	}
	ro = diff_objs(fp, &have.obj, &want.obj);
	if ((rr = diff_rules(fp, &have.rule, &want.rule)) < 0) {
		log_warnx("nft diff: out of memory");
		goto done;
	}
	rc = ro || rr;
done:
	lines_free(&have.obj);
	lines_free(&have.rule);
	lines_free(&want.obj);
	lines_free(&want.rule);
	nft_ktable_free(&k);
	nft_nl_close(&nl);
	nft_objs_free(&o);
	return rc;
}
