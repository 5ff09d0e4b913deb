/*
 * nft_obj.c: the plan as libnftnl objects.  Every attribute, expression and
 * userdata field below is what nft 1.0.6 sends for nft_print()'s text (read
 * off `nft --debug=netlink,mnl -f`), so `nft apply` and `nft -f` leave the
 * same objects in the kernel and `nft list` shows them the same way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "log.h"
#include "nft_nl.h"

/* nft's datatype ids (src/datatype.h) and byteorder (BYTEORDER_BIG_ENDIAN) */
#define DT_IPADDR	7
#define DT_IP6ADDR	8
#define DT_INET_SERVICE	13
#define NFT_BIG_ENDIAN	2
#define UDATA_MAX	256

int
nft_family(const char *name)
{
	if (strcmp(name, "inet") == 0)
		return NFPROTO_INET;
	if (strcmp(name, "netdev") == 0)
		return NFPROTO_NETDEV;
	return -1;
}

/* Expressions.  nft 1.0.6 loads everything into the 128-bit NFT_REG_1. */

static int
expr_add(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (e == NULL)
		return -1;
	nftnl_rule_add_expr(r, e);
	return 0;
}

static int
e_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
	return expr_add(r, e);
}

static int
e_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	return expr_add(r, e);
}

static int
e_cmp8(struct nftnl_rule *r, uint32_t op, uint8_t v)
{
	return e_cmp(r, op, &v, sizeof(v));
}

static int
e_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	}
	return expr_add(r, e);
}

/* nft sends the flags attribute only when the lookup is inverted. */
static int
e_lookup(struct nftnl_rule *r, const struct nft_oset *s, int inverted)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET,
		    nftnl_set_get_str(s->set, NFTNL_SET_NAME));
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, s->id);
		if (inverted)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS,
			    NFT_LOOKUP_F_INV);
	}
	return expr_add(r, e);
}

static int
e_counter(struct nftnl_rule *r)
{
	return expr_add(r, nftnl_expr_alloc("counter"));
}

static int
e_verdict(struct nftnl_rule *r, uint32_t verdict)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, verdict);
	}
	return expr_add(r, e);
}

/* ct state established,related: ct state & 0x6 != 0 (host byte order) */
static int
e_ct_established(struct nftnl_rule *r)
{
	struct nftnl_expr *ct = nftnl_expr_alloc("ct");
	struct nftnl_expr *bw = nftnl_expr_alloc("bitwise");
	uint32_t mask = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
	    NF_CT_STATE_BIT(IP_CT_RELATED), zero = 0;

	if (ct == NULL || bw == NULL) {
		if (ct)
			nftnl_expr_free(ct);
		if (bw)
			nftnl_expr_free(bw);
		return -1;
	}
	nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, ct);
	nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_LEN, sizeof(mask));
	nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	nftnl_rule_add_expr(r, bw);
	return e_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

/*
 * The network-protocol dependency nft adds before ip/ip6 payload: meta
 * nfproto (1 byte) in inet, meta protocol (the ethertype, 2 bytes, network
 * order) in netdev.
 */
static int
e_family(struct nftnl_rule *r, int nfproto, int family)
{
	uint16_t eth;

	if (nfproto == NFPROTO_INET)
		return e_meta(r, NFT_META_NFPROTO) == 0 &&
		    e_cmp8(r, NFT_CMP_EQ, family == AF_INET ? NFPROTO_IPV4 :
		    NFPROTO_IPV6) == 0 ? 0 : -1;
	eth = htons(family == AF_INET ? ETH_P_IP : ETH_P_IPV6);
	return e_meta(r, NFT_META_PROTOCOL) == 0 &&
	    e_cmp(r, NFT_CMP_EQ, &eth, sizeof(eth)) == 0 ? 0 : -1;
}

/* tcp dport: meta l4proto tcp, then 2 bytes at transport header + 2 */
static int
e_tcp_dport(struct nftnl_rule *r)
{
	return e_meta(r, NFT_META_L4PROTO) == 0 &&
	    e_cmp8(r, NFT_CMP_EQ, IPPROTO_TCP) == 0 &&
	    e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2) == 0 ? 0 : -1;
}

/*
 * tcp flags syn / fin,syn,rst,ack (or !=): meta l4proto tcp, the flags
 * byte at transport header + 13 masked with 0x17, compared with syn.
 */
static int
e_tcp_syn_only(struct nftnl_rule *r, uint32_t op)
{
	struct nftnl_expr *bw;
	uint8_t mask = 0x17, zero = 0;	/* fin 0x01 syn 0x02 rst 0x04 ack 0x10 */

	if (e_meta(r, NFT_META_L4PROTO) != 0 ||
	    e_cmp8(r, NFT_CMP_EQ, IPPROTO_TCP) != 0 ||
	    e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1) != 0 ||
	    (bw = nftnl_expr_alloc("bitwise")) == NULL)
		return -1;
	nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_LEN, sizeof(mask));
	nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	nftnl_rule_add_expr(r, bw);
	return e_cmp8(r, op, 0x02);
}

/* icmpv6 type: the ipv6 dependency, l4proto 58, 1 byte at transport + 0 */
static int
e_icmpv6_type(struct nftnl_rule *r, int nfproto)
{
	return e_family(r, nfproto, AF_INET6) == 0 &&
	    e_meta(r, NFT_META_L4PROTO) == 0 &&
	    e_cmp8(r, NFT_CMP_EQ, IPPROTO_ICMPV6) == 0 &&
	    e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1) == 0 ? 0 : -1;
}

static int
e_saddr(struct nftnl_rule *r, int nfproto, int family)
{
	if (e_family(r, nfproto, family) != 0)
		return -1;
	if (family == AF_INET)
		return e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 12, 4);
	return e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 8, 16);
}

static const struct nft_oset *
oset_find(const struct nft_objs *o, const char *name)
{
	size_t k;

	for (k = 0; k < o->nsets; k++)
		if (strcmp(nftnl_set_get_str(o->sets[k].set, NFTNL_SET_NAME),
		    name) == 0)
			return &o->sets[k];
	return NULL;
}

/* The expressions of one rule, as nft_print() spells it. */
static int
rule_exprs(struct nftnl_rule *r, const struct nft_objs *o,
    const struct nft_rule *pr)
{
	const struct nft_oset *ports = oset_find(o, NFT_PORTS_SET);
	int nf = o->family;
	uint32_t lo;

	switch (pr->kind) {
	case NR_UNPROTECTED:
		return ports && e_tcp_dport(r) == 0 &&
		    e_lookup(r, ports, 1) == 0 &&
		    e_verdict(r, NF_ACCEPT) == 0 ? 0 : -1;
	case NR_LOOPBACK:
		/* nft resolves "lo" to its index when it parses the rule */
		if ((lo = if_nametoindex("lo")) == 0)
			return -1;
		return e_meta(r, NFT_META_IIF) == 0 &&
		    e_cmp(r, NFT_CMP_EQ, &lo, sizeof(lo)) == 0 &&
		    e_verdict(r, NF_ACCEPT) == 0 ? 0 : -1;
	case NR_ESTABLISHED:
		return e_ct_established(r) == 0 &&
		    e_verdict(r, NF_ACCEPT) == 0 ? 0 : -1;
	case NR_ND:
		/* a range on one byte: nft emits two compares */
		return e_icmpv6_type(r, nf) == 0 &&
		    e_cmp8(r, NFT_CMP_GTE, 130) == 0 &&
		    e_cmp8(r, NFT_CMP_LTE, 137) == 0 &&
		    e_verdict(r, NF_ACCEPT) == 0 ? 0 : -1;
	case NR_MLD2:
		return e_icmpv6_type(r, nf) == 0 &&
		    e_cmp8(r, NFT_CMP_EQ, 143) == 0 &&
		    e_verdict(r, NF_ACCEPT) == 0 ? 0 : -1;
	case NR_ALLOW:
	case NR_PASS:
		return e_saddr(r, nf, pr->family) == 0 &&
		    e_lookup(r, &o->sets[pr->set], 0) == 0 &&
		    (pr->kind == NR_PASS || e_counter(r) == 0) &&
		    e_verdict(r, NF_ACCEPT) == 0 ? 0 : -1;
	case NR_DROP_PORTS:
		return ports && e_family(r, nf, pr->family) == 0 &&
		    e_tcp_dport(r) == 0 && e_lookup(r, ports, 0) == 0 &&
		    e_counter(r) == 0 && e_verdict(r, NF_DROP) == 0 ? 0 : -1;
	case NR_DROP_ALL:
		return e_family(r, nf, pr->family) == 0 &&
		    e_counter(r) == 0 && e_verdict(r, NF_DROP) == 0 ? 0 : -1;
	case NR_NOT_NEW:
		return e_tcp_syn_only(r, NFT_CMP_NEQ) == 0 &&
		    e_verdict(r, NF_ACCEPT) == 0 ? 0 : -1;
	case NR_DROP_SYN:
		return e_family(r, nf, pr->family) == 0 &&
		    e_tcp_syn_only(r, NFT_CMP_EQ) == 0 &&
		    e_counter(r) == 0 && e_verdict(r, NF_DROP) == 0 ? 0 : -1;
	}
	return -1;
}

/* What an error names: the rule's position and, in short, its text. */
static void
rule_what(char *buf, size_t len, size_t i, const struct nft_plan *p,
    const struct nft_rule *pr)
{
	const char *fam = pr->family == AF_INET ? "ipv4" : "ipv6";
	int n = snprintf(buf, len, "chain %s: rule %zu (", pr->raw ? p->raw :
	    p->chain, i + 1);

	if (n < 0 || (size_t)n >= len)
		return;
	buf += n;
	len -= (size_t)n;
	switch (pr->kind) {
	case NR_UNPROTECTED:
		snprintf(buf, len, "tcp dport != @%s accept)", NFT_PORTS_SET);
		break;
	case NR_LOOPBACK:
		snprintf(buf, len, "iif \"lo\" accept)");
		break;
	case NR_ESTABLISHED:
		snprintf(buf, len, "ct state established,related accept)");
		break;
	case NR_ND:
		snprintf(buf, len, "icmpv6 type 130-137 accept)");
		break;
	case NR_MLD2:
		snprintf(buf, len, "icmpv6 type 143 accept)");
		break;
	case NR_ALLOW:
	case NR_PASS:
		snprintf(buf, len, "%s saddr @%s%s accept)",
		    pr->family == AF_INET ? "ip" : "ip6",
		    p->sets[pr->set].name,
		    pr->kind == NR_ALLOW ? " counter" : "");
		break;
	case NR_DROP_PORTS:
		snprintf(buf, len, "%s tcp dport @%s counter drop)", fam,
		    NFT_PORTS_SET);
		break;
	case NR_DROP_ALL:
		snprintf(buf, len, "%s counter drop)", fam);
		break;
	case NR_NOT_NEW:
		snprintf(buf, len, "tcp flags != syn / fin,syn,rst,ack "
		    "accept)");
		break;
	case NR_DROP_SYN:
		snprintf(buf, len, "%s tcp flags syn / fin,syn,rst,ack counter "
		    "drop)", fam);
		break;
	}
}

static struct nftnl_rule *
rule_build(const struct nft_objs *o, const struct nft_plan *p,
    const struct nft_rule *pr)
{
	struct nftnl_rule *r;
	struct nftnl_udata_buf *ud = NULL;

	if ((r = nftnl_rule_alloc()) == NULL)
		return NULL;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, o->family);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, p->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, pr->raw ? p->raw : p->chain);
	if (rule_exprs(r, o, pr) != 0)
		goto fail;
	if (pr->comment[0]) {
		if ((ud = nftnl_udata_buf_alloc(UDATA_MAX)) == NULL ||
		    !nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT,
		    pr->comment))
			goto fail;
		nftnl_rule_set_data(r, NFTNL_RULE_USERDATA,
		    nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	return r;
fail:
	if (ud)
		nftnl_udata_buf_free(ud);
	nftnl_rule_free(r);
	return NULL;
}

/* The main chain (input or ingress, priority filter), or the raw one. */
static struct nftnl_chain *
chain_build(const struct nft_objs *o, const struct nft_plan *p, int raw)
{
	struct nftnl_chain *c;

	if ((c = nftnl_chain_alloc()) == NULL)
		return NULL;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, o->family);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, p->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, raw ? p->raw : p->chain);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, raw ? NF_INET_PRE_ROUTING :
	    p->hook == NFT_HOOK_INGRESS ? NF_NETDEV_INGRESS : NF_INET_LOCAL_IN);
	/* priority raw, or filter */
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, raw ? NFT_PRIO_RAW : 0);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	if (p->hook == NFT_HOOK_INGRESS)
		nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, p->dev);
	return c;
}

/* Element keys.  The end of an interval is the first address after it. */

static int
elem_cmp(const void *a, const void *b)
{
	const struct nft_elem *x = *(const struct nft_elem * const *)a;
	const struct nft_elem *y = *(const struct nft_elem * const *)b;

	return memcmp(x->cidr.addr, y->cidr.addr, sizeof(x->cidr.addr));
}

/* end = start + 2^(bits - prefixlen): 1, or 0 if that wraps (the top) */
int
nft_prefix_end(const struct cidr *c, uint8_t *end, size_t len)
{
	int bit = (int)c->prefixlen - 1, i;

	memcpy(end, c->addr, len);
	if (bit < 0)
		return 0;
	for (i = bit / 8; i >= 0; i--) {
		unsigned int add = i == bit / 8 ? 0x80u >> (bit % 8) : 1;
		unsigned int v = end[i] + add;

		end[i] = v & 0xff;
		if (v <= 0xff)
			return 1;
	}
	return 0;
}

static struct nftnl_set_elem *
elem_new(const void *key, size_t len, int end, const char *comment, int open)
{
	struct nftnl_set_elem *e;
	struct nftnl_udata_buf *ud;

	if ((e = nftnl_set_elem_alloc()) == NULL)
		return NULL;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
	if (end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS,
		    NFT_SET_ELEM_INTERVAL_END);
	if (comment == NULL)
		return e;
	if ((ud = nftnl_udata_buf_alloc(UDATA_MAX)) == NULL ||
	    !nftnl_udata_put_strz(ud, NFTNL_UDATA_SET_ELEM_COMMENT, comment) ||
	    (open && !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS,
	    NFTNL_SET_ELEM_F_INTERVAL_OPEN))) {
		if (ud)
			nftnl_udata_buf_free(ud);
		nftnl_set_elem_free(e);
		return NULL;
	}
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA,
	    nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	return e;
}

static int
oset_push(struct nft_oset *s, struct nftnl_set_elem *e,
    const struct nft_elem *src)
{
	if (e == NULL)
		return -1;
	s->elems[s->nelems] = e;
	s->src[s->nelems++] = src;
	return 0;
}

/*
 * As nft sends an interval set: sorted, an interval end at 0 unless the
 * first range starts there, each start with its comment, each end flagged
 * and one past the range; a range reaching the top has no end, only the
 * "open" flag in its userdata.
 */
static int
elems_interval(struct nft_oset *s, const struct nft_plan *p,
    const struct nft_set *ps)
{
	static const uint8_t zero[16];
	size_t len = ps->family == AF_INET ? 4 : 16, i;
	const struct nft_elem **v;
	uint8_t end[16];
	int rc = -1, has_end;

	if ((v = calloc(ps->n + 1, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < ps->n; i++)
		v[i] = &p->elems[ps->first + i];
	qsort(v, ps->n, sizeof(*v), elem_cmp);
	if (ps->n > 0 && memcmp(v[0]->cidr.addr, zero, len) != 0 &&
	    oset_push(s, elem_new(zero, len, 1, NULL, 0), NULL) != 0)
		goto done;
	for (i = 0; i < ps->n; i++) {
		has_end = nft_prefix_end(&v[i]->cidr, end, len);
		if (oset_push(s, elem_new(v[i]->cidr.addr, len, 0,
		    v[i]->comment, !has_end), v[i]) != 0 ||
		    (has_end && oset_push(s, elem_new(end, len, 1, NULL, 0),
		    v[i]) != 0))
			goto done;
	}
	rc = 0;
done:
	free(v);
	return rc;
}

/* A set of hosts only: one element per host, with its comment. */
static int
elems_hosts(struct nft_oset *s, const struct nft_plan *p,
    const struct nft_set *ps)
{
	size_t len = ps->family == AF_INET ? 4 : 16, i;

	for (i = 0; i < ps->n; i++) {
		const struct nft_elem *e = &p->elems[ps->first + i];

		if (oset_push(s, elem_new(e->cidr.addr, len, 0, e->comment, 0),
		    e) != 0)
			return -1;
	}
	return 0;
}

static int
elems_ports(struct nft_oset *s, const struct nft_plan *p)
{
	size_t i;
	uint16_t port;

	for (i = 0; i < p->nports; i++) {
		port = htons(p->ports[i]);
		if (oset_push(s, elem_new(&port, sizeof(port), 0, NULL, 0),
		    NULL) != 0)
			return -1;
	}
	return 0;
}

static struct nftnl_set *
set_new(const struct nft_objs *o, const struct nft_plan *p, const char *name,
    uint32_t type, uint32_t len, uint32_t flags, uint32_t id)
{
	struct nftnl_set *s;
	struct nftnl_udata_buf *ud;

	if ((s = nftnl_set_alloc()) == NULL)
		return NULL;
	if ((ud = nftnl_udata_buf_alloc(UDATA_MAX)) == NULL ||
	    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
	    NFT_BIG_ENDIAN)) {
		if (ud)
			nftnl_udata_buf_free(ud);
		nftnl_set_free(s);
		return NULL;
	}
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, o->family);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, p->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, len);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
	    nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	return s;
}

static int
sets_build(struct nft_objs *o, const struct nft_plan *p)
{
	struct nft_oset *s;
	size_t k, max;

	for (k = 0; k <= p->nsets; k++) {
		const struct nft_set *ps = k < p->nsets ? &p->sets[k] : NULL;

		if (ps == NULL && p->nports == 0)
			break;
		s = &o->sets[o->nsets];
		s->id = (uint32_t)o->nsets + 1;
		/* an interval set may need one end per element plus a 0 */
		max = ps ? 2 * ps->n + 1 : p->nports;
		s->elems = calloc(max + 1, sizeof(*s->elems));
		s->src = calloc(max + 1, sizeof(*s->src));
		if (s->elems == NULL || s->src == NULL)
			goto fail;
		o->nsets++;
		if (ps)
			s->set = set_new(o, p, ps->name, ps->family == AF_INET ?
			    DT_IPADDR : DT_IP6ADDR, ps->family == AF_INET ?
			    4 : 16, ps->interval ? NFT_SET_INTERVAL : 0, s->id);
		else
			s->set = set_new(o, p, NFT_PORTS_SET, DT_INET_SERVICE,
			    2, 0, s->id);
		if (s->set == NULL)
			goto fail;
		if ((ps == NULL ? elems_ports(s, p) : ps->interval ?
		    elems_interval(s, p, ps) : elems_hosts(s, p, ps)) != 0)
			goto fail;
	}
	return 0;
fail:
	return -1;
}

int
nft_objs_build(const struct nft_plan *p, struct nft_objs *o)
{
	size_t i, j, n;

	memset(o, 0, sizeof(*o));
	o->family = nft_family(p->family);
	o->sets = calloc(p->nsets + 1, sizeof(*o->sets));
	o->rules = calloc(p->nrules + 1, sizeof(*o->rules));
	o->rule_what = calloc(p->nrules + 1, sizeof(*o->rule_what));
	if (o->family < 0 || !o->sets || !o->rules || !o->rule_what ||
	    (o->table = nftnl_table_alloc()) == NULL)
		goto fail;
	nftnl_table_set_u32(o->table, NFTNL_TABLE_FAMILY, o->family);
	nftnl_table_set_str(o->table, NFTNL_TABLE_NAME, p->table);
	nftnl_table_set_u32(o->table, NFTNL_TABLE_FLAGS, 0);
	if (sets_build(o, p) != 0 ||
	    (o->chains[0] = chain_build(o, p, 0)) == NULL)
		goto fail;
	o->nchains = 1;
	if (p->raw != NULL) {
		if ((o->chains[1] = chain_build(o, p, 1)) == NULL)
			goto fail;
		o->nchains = 2;
	}
	for (i = 0; i < p->nrules; i++) {
		/* rules are numbered within their chain */
		for (j = n = 0; j < i; j++)
			n += p->rules[j].raw == p->rules[i].raw;
		rule_what(o->rule_what[i], sizeof(o->rule_what[i]), n, p,
		    &p->rules[i]);
		if ((o->rules[i] = rule_build(o, p, &p->rules[i])) == NULL)
			goto fail;
		o->nrules++;
	}
	return 0;
fail:
	log_warnx("nft: cannot build the ruleset: %s", errno == ENODEV ?
	    "no loopback device" : "out of memory");
	nft_objs_free(o);
	return -1;
}

void
nft_objs_free(struct nft_objs *o)
{
	size_t k, i;

	for (k = 0; k < o->nsets; k++) {
		for (i = 0; i < o->sets[k].nelems; i++)
			nftnl_set_elem_free(o->sets[k].elems[i]);
		if (o->sets[k].set)
			nftnl_set_free(o->sets[k].set);
		free(o->sets[k].elems);
		free(o->sets[k].src);
	}
	for (i = 0; i < o->nrules; i++)
		nftnl_rule_free(o->rules[i]);
	for (i = 0; i < 2; i++)
		if (o->chains[i])
			nftnl_chain_free(o->chains[i]);
	if (o->table)
		nftnl_table_free(o->table);
	free(o->sets);
	free(o->rules);
	free(o->rule_what);
	memset(o, 0, sizeof(*o));
}
