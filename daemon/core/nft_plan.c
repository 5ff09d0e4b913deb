/*
 * nft_plan.c: from the operator's options and the region table to the plan
 * that nft_print.c and nft_apply.c both render (see nft.h for its shape).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "nft.h"

void
nft_spec_init(struct nft_spec *s)
{
	memset(s, 0, sizeof(*s));
	filter_spec_init(&s->f);
	strcpy(s->table, NFT_DEFAULT_TABLE);
}

void
nft_spec_free(struct nft_spec *s)
{
	filter_spec_free(&s->f);
}

/* nft identifiers: a letter, then letters, digits, _ (we allow - too). */
static int
name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= NFT_NAME_LEN ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-", s[i]))
			return 0;
	return 1;
}

int
nft_spec_table(struct nft_spec *s, const char *arg, char *err, size_t len)
{
	if (!name_ok(arg)) {
		log_errbuf(err, len, "--table: '%s' is not a table name "
		    "(a letter, then letters, digits, - or _)", arg);
		return -1;
	}
	snprintf(s->table, sizeof(s->table), "%s", arg);
	return 0;
}

int
nft_spec_hook(struct nft_spec *s, const char *arg, char *err, size_t len)
{
	if (strcmp(arg, "input") == 0)
		s->hook = NFT_HOOK_INPUT;
	else if (strcmp(arg, "ingress") == 0)
		s->hook = NFT_HOOK_INGRESS;
	else {
		log_errbuf(err, len, "--hook: '%s' is not a hook (input or "
		    "ingress)", arg);
		return -1;
	}
	return 0;
}

int
nft_spec_dev(struct nft_spec *s, const char *arg, char *err, size_t len)
{
	if (arg[0] == '\0' || strlen(arg) >= sizeof(s->dev) ||
	    strpbrk(arg, " \t\"/")) {
		log_errbuf(err, len, "--dev: '%s' is not a device name", arg);
		return -1;
	}
	snprintf(s->dev, sizeof(s->dev), "%s", arg);
	return 0;
}

void
nft_plan_free(struct nft_plan *p)
{
	free(p->sets);
	free(p->elems);
	free(p->ports);
	free(p->rules);
	memset(p, 0, sizeof(*p));
}

static struct nft_rule *
rule_add(struct nft_plan *p, enum nft_rule_kind kind, int family,
    const char *comment)
{
	struct nft_rule *r = &p->rules[p->nrules++];

	r->kind = kind;
	r->family = family;
	snprintf(r->comment, sizeof(r->comment), "%s", comment);
	return r;
}

/* v4_us_east: the set of one region and family. */
static int
set_name(char *buf, size_t len, int family, const char *region)
{
	size_t i;

	snprintf(buf, len, "v%d_%s", family == AF_INET ? 4 : 6, region);
	for (i = 0; buf[i]; i++)
		if (buf[i] == '-')
			buf[i] = '_';
	return 0;
}

/* 1 if prefix a contains prefix b (same family, a no longer than b). */
static int
cidr_covers(const struct cidr *a, const struct cidr *b)
{
	int bits = a->prefixlen, i;

	if (a->family != b->family || a->prefixlen > b->prefixlen)
		return 0;
	for (i = 0; i < bits / 8; i++)
		if (a->addr[i] != b->addr[i])
			return 0;
	return bits % 8 == 0 ||
	    ((a->addr[i] ^ b->addr[i]) & (0xff << (8 - bits % 8))) == 0;
}

/*
 * A prefix inside another of the same region adds nothing, and the kernel
 * refuses overlapping intervals in one set: leave it out of the set.  Hosts
 * cannot cover each other (duplicates are refused), so a region of hosts
 * only, like every region Stream publishes, needs no search.
 */
static int
covered_in_region(const struct region_table *t, size_t j, int has_prefix)
{
	size_t k;

	if (!has_prefix)
		return 0;
	for (k = 0; k < t->n; k++)
		if (k != j && strcmp(t->v[k].region, t->v[j].region) == 0 &&
		    cidr_covers(&t->v[k].cidr, &t->v[j].cidr) &&
		    !cidr_equal(&t->v[k].cidr, &t->v[j].cidr))
			return 1;
	return 0;
}

/* Group the table's prefixes into one set per region and family. */
static int
sets_build(const struct region_table *t, struct nft_plan *p, char *err,
    size_t errlen)
{
	static const int families[2] = { AF_INET, AF_INET6 };
	char name[NFT_NAME_LEN];
	size_t e, k, f;

	for (e = 0; e < t->n; e++) {
		for (k = 0; k < p->nsets; k++)
			if (strcmp(p->sets[k].region, t->v[e].region) == 0)
				break;
		if (k < p->nsets)
			continue;
		/* a new region: its v4 and v6 sets, in table order */
		int has_prefix = 0;

		for (k = e; k < t->n; k++)
			if (strcmp(t->v[k].region, t->v[e].region) == 0 &&
			    !cidr_is_host(&t->v[k].cidr))
				has_prefix = 1;
		for (f = 0; f < 2; f++) {
			struct nft_set *s = &p->sets[p->nsets];
			size_t j;

			s->first = p->nelems;
			for (j = e; j < t->n; j++) {
				const struct region_entry *re = &t->v[j];
				struct nft_elem *el;

				if (strcmp(re->region, t->v[e].region) != 0 ||
				    re->cidr.family != families[f] ||
				    covered_in_region(t, j, has_prefix))
					continue;
				s->interval |= !cidr_is_host(&re->cidr);
				el = &p->elems[p->nelems++];
				el->cidr = re->cidr;
				snprintf(el->comment, sizeof(el->comment),
				    "%s%s%s", re->region, re->zone[0] ? " " : "",
				    re->zone);
			}
			s->n = p->nelems - s->first;
			if (s->n == 0)
				continue;
			set_name(name, sizeof(name), families[f],
			    t->v[e].region);
			for (j = 0; j < p->nsets; j++)
				if (strcmp(p->sets[j].name, name) == 0) {
					log_errbuf(err, errlen, "regions '%s' "
					    "and '%s' would share the nft set "
					    "%s: rename one", p->sets[j].region,
					    t->v[e].region, name);
					return -1;
				}
			snprintf(s->name, sizeof(s->name), "%s", name);
			snprintf(s->region, sizeof(s->region), "%s",
			    t->v[e].region);
			s->family = families[f];
			p->nsets++;
		}
	}
	return 0;
}

static void
ports_build(const struct filter_spec *f, struct nft_plan *p)
{
	int port;

	for (port = 1; port < 65536; port++)
		if (f->ports[port >> 6] & (1ULL << (port & 63)))
			p->ports[p->nports++] = (uint16_t)port;
}

/*
 * At the input hook, connections that exist pass in both modes: the host's
 * own (DNS, apt replies) in strict mode, and an operator's SSH session or
 * Stream's keep-alive connection across a region change.  In ports mode
 * the rule also makes conntrack follow every connection from the first
 * apply, so a later switch to strict knows the sessions that are open.
 * A new connection from outside the sets is never let in by it.
 */
static void
rules_build(struct nft_plan *p)
{
	size_t k;

	/* the host's own connections (a local health check, a proxy) come
	 * in on lo from no allowed address: in either mode they are not
	 * the traffic this table is for */
	if (p->hook == NFT_HOOK_INPUT) {
		rule_add(p, NR_LOOPBACK, 0, "");
		rule_add(p, NR_ESTABLISHED, 0, "");
	}
	if (p->mode == SG_MODE_PORTS)
		rule_add(p, NR_UNPROTECTED, 0, "");
	else {
		rule_add(p, NR_ND, AF_INET6, "");
		rule_add(p, NR_MLD2, AF_INET6, "");
	}
	for (k = 0; k < p->nsets; k++)
		rule_add(p, NR_ALLOW, p->sets[k].family,
		    p->sets[k].region)->set = k;
	if (p->mode == SG_MODE_PORTS) {
		rule_add(p, NR_DROP_PORTS, AF_INET, "not allowed");
		rule_add(p, NR_DROP_PORTS, AF_INET6, "ipv6 not allowed");
	} else {
		rule_add(p, NR_DROP_ALL, AF_INET, "not allowed");
		rule_add(p, NR_DROP_ALL, AF_INET6, "ipv6 not allowed");
	}
}

/*
 * The raw chain (inet only): conntrack builds an entry for every packet
 * it has not seen, before the input chain can drop it, so a flood of
 * spoofed SYNs cost more with the table than without it.  A SYN without
 * ACK from outside the sets opens nothing that exists: it is dropped here,
 * at priority raw, before conntrack.  Every other packet goes on to
 * conntrack and the input chain unchanged.  The pass rules carry no
 * counter: the input chain counts what passes, per region.
 */
static void
raw_rules_build(struct nft_plan *p)
{
	size_t k;

	rule_add(p, NR_LOOPBACK, 0, "")->raw = 1;
	rule_add(p, NR_NOT_NEW, 0, "")->raw = 1;
	if (p->mode == SG_MODE_PORTS)
		rule_add(p, NR_UNPROTECTED, 0, "")->raw = 1;
	for (k = 0; k < p->nsets; k++) {
		struct nft_rule *r = rule_add(p, NR_PASS, p->sets[k].family,
		    "");

		r->set = k;
		r->raw = 1;
	}
	rule_add(p, NR_DROP_SYN, AF_INET, "syn not allowed")->raw = 1;
	rule_add(p, NR_DROP_SYN, AF_INET6, "ipv6 syn not allowed")->raw = 1;
}

int
nft_plan_build(const struct nft_spec *s, struct nft_plan *p, char *err,
    size_t errlen)
{
	const struct region_table *t = &s->f.table;

	memset(p, 0, sizeof(*p));
	if (s->hook == NFT_HOOK_INGRESS && s->dev[0] == '\0') {
		log_errbuf(err, errlen, "--hook ingress needs --dev DEV");
		return -1;
	}
	if (s->hook == NFT_HOOK_INPUT && s->dev[0] != '\0') {
		log_errbuf(err, errlen, "--dev only goes with --hook ingress");
		return -1;
	}
	p->hook = s->hook;
	p->family = s->hook == NFT_HOOK_INGRESS ? "netdev" : "inet";
	p->chain = s->hook == NFT_HOOK_INGRESS ? "ingress" : "input";
	p->raw = s->hook == NFT_HOOK_INGRESS ? NULL : NFT_RAW_CHAIN;
	p->mode = s->f.mode;
	snprintf(p->table, sizeof(p->table), "%s", s->table);
	snprintf(p->dev, sizeof(p->dev), "%s", s->dev);

	/* at most two sets per entry; per chain, one rule per set plus a
	 * fixed few */
	p->sets = calloc(2 * t->n + 1, sizeof(*p->sets));
	p->elems = calloc(t->n + 1, sizeof(*p->elems));
	p->ports = calloc(65536, sizeof(*p->ports));
	p->rules = calloc(4 * t->n + 16, sizeof(*p->rules));
	if (!p->sets || !p->elems || !p->ports || !p->rules) {
		nft_plan_free(p);
		log_errbuf(err, errlen, "out of memory");
		return -1;
	}
	if (sets_build(t, p, err, errlen) != 0) {
		nft_plan_free(p);
		return -1;
	}
	if (p->mode == SG_MODE_PORTS)
		ports_build(&s->f, p);
	rules_build(p);
	if (p->raw != NULL)
		raw_rules_build(p);
	return 0;
}
