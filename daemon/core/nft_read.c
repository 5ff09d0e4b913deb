/*
 * nft_read.c: one table as the kernel has it, read by netlink dumps into
 * libnftnl objects: its chains and rules and, when asked, its sets with
 * their elements.  nft_diff.c compares them with the plan; `streamgate
 * status` shows the chains, and it and the daemon's counters helper read
 * the rules' counters through nft_rule_counter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include "nft_nl.h"

int
nft_ptr_push(void ***v, size_t *n, void *p)
{
	void **nv;

	if ((nv = reallocarray(*v, *n + 1, sizeof(*nv))) == NULL)
		return -1;
	nv[(*n)++] = p;
	*v = nv;
	return 0;
}

const char *
nft_hook_name(int family, uint32_t hook)
{
	static const char *inet[] = { "prerouting", "input", "forward",
	    "output", "postrouting" };

	if (family == NFPROTO_NETDEV)
		return hook == NF_NETDEV_INGRESS ? "ingress" : "egress";
	return hook < 5 ? inet[hook] : "?";
}

static int
udata_comment_cb(const struct nftnl_udata *a, void *arg)
{
	const char *s = nftnl_udata_get(a);
	uint8_t len = nftnl_udata_len(a);

	/* element and rule comments are both type 0, NUL-terminated */
	if (nftnl_udata_type(a) == 0 && len > 0 && s[len - 1] == '\0')
		*(const char **)arg = s;
	return 0;
}

const char *
nft_udata_comment(const void *data, uint32_t len)
{
	const char *c = NULL;

	if (data && len)
		(void)nftnl_udata_parse(data, len, udata_comment_cb, &c);
	return c;
}

/* The dumps list every table of the family (or every set's elements):
 * each callback keeps what is ours. */

static int
set_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct nft_ktable *k = arg;
	struct nftnl_set *s;

	if ((s = nftnl_set_alloc()) == NULL)
		return MNL_CB_ERROR;
	if (nftnl_set_nlmsg_parse(nlh, s) < 0 || strcmp(k->table,
	    nftnl_set_get_str(s, NFTNL_SET_TABLE)) != 0) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	if (nft_ptr_push((void ***)&k->sets, &k->nsets, s) != 0) {
		nftnl_set_free(s);
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int
elem_cb(const struct nlmsghdr *nlh, void *arg)
{
	return nftnl_set_elems_nlmsg_parse(nlh, arg) < 0 ? MNL_CB_ERROR :
	    MNL_CB_OK;
}

static int
chain_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct nft_ktable *k = arg;
	struct nftnl_chain *c;

	if ((c = nftnl_chain_alloc()) == NULL)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0 || strcmp(k->table,
	    nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE)) != 0) {
		nftnl_chain_free(c);
		return MNL_CB_OK;
	}
	if (nft_ptr_push((void ***)&k->chains, &k->nchains, c) != 0) {
		nftnl_chain_free(c);
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int
rule_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct nft_ktable *k = arg;
	struct nftnl_rule *r;

	if ((r = nftnl_rule_alloc()) == NULL)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 || strcmp(k->table,
	    nftnl_rule_get_str(r, NFTNL_RULE_TABLE)) != 0) {
		nftnl_rule_free(r);
		return MNL_CB_OK;
	}
	if (nft_ptr_push((void ***)&k->rules, &k->nrules, r) != 0) {
		nftnl_rule_free(r);
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int
sets_read(struct nft_nl *nl, struct nft_ktable *k)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	size_t i;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, (uint16_t)k->family,
	    NLM_F_DUMP, 0);
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, k->table);
	if (nft_nl_query(nl, nlh, set_cb, k) != 0)
		return -1;
	for (i = 0; i < k->nsets; i++) {
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM,
		    (uint16_t)k->family, NLM_F_DUMP, 0);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, k->table);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET,
		    nftnl_set_get_str(k->sets[i], NFTNL_SET_NAME));
		if (nft_nl_query(nl, nlh, elem_cb, k->sets[i]) != 0)
			return -1;
	}
	return 0;
}

int
nft_ktable_read(struct nft_nl *nl, int family, const char *table, int what,
    struct nft_ktable *k)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int saved;

	memset(k, 0, sizeof(*k));
	k->table = table;
	k->family = family;
	if ((what & NFT_READ_SETS) && sets_read(nl, k) != 0)
		goto fail;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, (uint16_t)family,
	    NLM_F_DUMP, 0);
	if (nft_nl_query(nl, nlh, chain_cb, k) != 0)
		goto fail;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)family,
	    NLM_F_DUMP, 0);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table);
	if (nft_nl_query(nl, nlh, rule_cb, k) != 0)
		goto fail;
	return 0;
fail:
	saved = errno;		/* the caller says why */
	nft_ktable_free(k);
	errno = saved;
	return -1;
}

void
nft_ktable_free(struct nft_ktable *k)
{
	size_t i;

	for (i = 0; i < k->nsets; i++)
		nftnl_set_free(k->sets[i]);
	for (i = 0; i < k->nchains; i++)
		nftnl_chain_free(k->chains[i]);
	for (i = 0; i < k->nrules; i++)
		nftnl_rule_free(k->rules[i]);
	free(k->sets);
	free(k->chains);
	free(k->rules);
	memset(k, 0, sizeof(*k));
}

const char *
nft_family_name(int family)
{
	return family == NFPROTO_NETDEV ? "netdev" : "inet";
}

/*
 * Our table lives in inet (the input hook) or netdev (the ingress hook),
 * never both under one name that we made: the first that has it.
 */
int
nft_ktable_find(struct nft_nl *nl, const char *table, struct nft_ktable *k)
{
	static const int families[] = { NFPROTO_INET, NFPROTO_NETDEV };
	size_t i;
	int rc;

	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		if ((rc = nft_nl_table_exists(nl, families[i], table)) == 0)
			continue;
		if (rc < 0 || nft_ktable_read(nl, families[i], table, 0,
		    k) != 0)
			return -1;
		return 1;
	}
	return 0;
}

int
nft_rule_counter(const struct nftnl_rule *r, struct nft_rule_counter *c)
{
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	const char *comment = NULL;
	const void *ud;
	uint32_t len;
	int found = 0;

	if ((it = nftnl_expr_iter_create(r)) == NULL)
		return 0;
	while (!found && (e = nftnl_expr_iter_next(it)) != NULL) {
		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME),
		    "counter") != 0)
			continue;
		c->packets = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
		c->bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
		found = 1;
	}
	nftnl_expr_iter_destroy(it);
	if (!found)
		return 0;
	if (nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) {
		ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
		comment = nft_udata_comment(ud, len);
	}
	c->chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
	c->handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	c->comment = comment ? comment : "";
	return 1;
}
