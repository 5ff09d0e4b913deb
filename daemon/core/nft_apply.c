/*
 * nft_apply.c: install the plan as one netlink batch, or delete our table.
 * The batch is what `nft -f` sends for nft_print()'s text: declare the
 * table, delete it, define it again with its sets, elements, chains and
 * rules.  The kernel commits a batch all or nothing, so a refused batch
 * leaves the previous table in force, and a table that did not exist is
 * not an error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <net/if.h>
#include <string.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "log.h"
#include "nft_nl.h"

/* Element messages stop growing here: an attribute's length is 16 bits. */
#define ELEM_MSG_MAX	(32 * 1024)

static int
msg_table(struct nft_batch *b, struct nft_nl *nl, const struct nft_objs *o,
    const struct nft_plan *p, uint16_t type)
{
	char what[128];
	struct nlmsghdr *nlh;

	snprintf(what, sizeof(what), "table %s %s%s", p->family, p->table,
	    type == NFT_MSG_DELTABLE ? " (delete)" : "");
	if ((nlh = nft_batch_msg(b, nl, type, o->family,
	    type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, what)) == NULL)
		return -1;
	if (type == NFT_MSG_NEWTABLE)
		nftnl_table_nlmsg_build_payload(nlh, o->table);
	else
		mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, p->table);
	return nft_batch_next(b);
}

/* Elements from i on, as many as fit one message; returns the next i. */
static int
msg_elems(struct nft_batch *b, struct nft_nl *nl, const struct nft_objs *o,
    const struct nft_oset *s, size_t *i)
{
	const char *name = nftnl_set_get_str(s->set, NFTNL_SET_NAME);
	struct nlmsghdr *nlh;
	struct nft_msg *m;
	struct nlattr *nest;
	char what[128];
	size_t first = *i;

	snprintf(what, sizeof(what), "set %s", name);
	if ((nlh = nft_batch_msg(b, nl, NFT_MSG_NEWSETELEM, o->family,
	    NLM_F_CREATE, what)) == NULL)
		return -1;
	/* the attributes in libnftnl's order, as nft sends them */
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE,
	    nftnl_set_get_str(s->set, NFTNL_SET_TABLE));
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
	mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(s->id));
	nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	while (*i < s->nelems && nlh->nlmsg_len < ELEM_MSG_MAX) {
		nftnl_set_elem_nlmsg_build(nlh, s->elems[*i],
		    (int)(*i - first + 1));
		(*i)++;
	}
	mnl_attr_nest_end(nlh, nest);
	/* an error names the element: remember whose each attribute is */
	m = &b->msgs[b->n - 1];
	m->elems = &s->src[first];
	m->nelems = *i - first;
	return nft_batch_next(b);
}

static int
msg_set(struct nft_batch *b, struct nft_nl *nl, const struct nft_objs *o,
    const struct nft_oset *s)
{
	struct nlmsghdr *nlh;
	char what[128];
	size_t i = 0;

	snprintf(what, sizeof(what), "set %s",
	    nftnl_set_get_str(s->set, NFTNL_SET_NAME));
	if ((nlh = nft_batch_msg(b, nl, NFT_MSG_NEWSET, o->family,
	    NLM_F_CREATE, what)) == NULL)
		return -1;
	nftnl_set_nlmsg_build_payload(nlh, s->set);
	if (nft_batch_next(b) != 0)
		return -1;
	while (i < s->nelems)
		if (msg_elems(b, nl, o, s, &i) != 0)
			return -1;
	return 0;
}

static int
msg_chain(struct nft_batch *b, struct nft_nl *nl, const struct nft_objs *o,
    const struct nft_plan *p, size_t i)
{
	struct nlmsghdr *nlh;
	char what[128];

	if (i > 0)
		snprintf(what, sizeof(what), "chain %s", p->raw);
	else if (p->hook == NFT_HOOK_INGRESS)
		snprintf(what, sizeof(what), "chain %s on device %s",
		    p->chain, p->dev);
	else
		snprintf(what, sizeof(what), "chain %s", p->chain);
	if ((nlh = nft_batch_msg(b, nl, NFT_MSG_NEWCHAIN, o->family,
	    NLM_F_CREATE, what)) == NULL)
		return -1;
	nftnl_chain_nlmsg_build_payload(nlh, o->chains[i]);
	return nft_batch_next(b);
}

static int
batch_build(struct nft_batch *b, struct nft_nl *nl, const struct nft_objs *o,
    const struct nft_plan *p)
{
	struct nlmsghdr *nlh;
	size_t k;

	/* declare, delete, define: a replace whether or not it existed */
	if (msg_table(b, nl, o, p, NFT_MSG_NEWTABLE) != 0 ||
	    msg_table(b, nl, o, p, NFT_MSG_DELTABLE) != 0 ||
	    msg_table(b, nl, o, p, NFT_MSG_NEWTABLE) != 0)
		return -1;
	for (k = 0; k < o->nsets; k++)
		if (msg_set(b, nl, o, &o->sets[k]) != 0)
			return -1;
	for (k = 0; k < o->nchains; k++)
		if (msg_chain(b, nl, o, p, k) != 0)
			return -1;
	for (k = 0; k < o->nrules; k++) {
		if ((nlh = nft_batch_msg(b, nl, NFT_MSG_NEWRULE, o->family,
		    NLM_F_APPEND | NLM_F_CREATE, o->rule_what[k])) == NULL)
			return -1;
		nftnl_rule_nlmsg_build_payload(nlh, o->rules[k]);
		if (nft_batch_next(b) != 0)
			return -1;
	}
	/*
	 * Test hook: end the batch with a message the kernel refuses (a rule
	 * in a chain that does not exist), so the tests can show that a batch
	 * failing after everything else was accepted changes nothing.
	 */
	if (getenv("STREAMGATE_TEST_NFT_FAULT") != NULL) {
		if ((nlh = nft_batch_msg(b, nl, NFT_MSG_NEWRULE, o->family,
		    NLM_F_APPEND | NLM_F_CREATE, "injected fault")) == NULL)
			return -1;
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, p->table);
		mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, "no_such_chain");
		if (nft_batch_next(b) != 0)
			return -1;
	}
	return 0;
}

/* After a refused batch: is there a previous table still in force? */
static const char *
fail_state(const char *family, const char *table)
{
	struct nft_nl nl;
	int rc;

	if (nft_nl_open(&nl, "nft apply") != 0)
		return "the kernel kept its previous state";
	rc = nft_nl_table_exists(&nl, nft_family(family), table);
	nft_nl_close(&nl);
	if (rc == 1)
		return "the previous table is still in force";
	if (rc == 0)
		return "nothing was installed";
	return "the kernel kept its previous state";
}

/*
 * One line: which object the kernel refused, why, and what is in force.
 * Only the batch as a whole is refused for want of CAP_NET_ADMIN; EPERM on
 * one message is another thing (a table another process owns).
 */
static void
fail_log(const char *cmd, const struct nft_fail *f, const char *family,
    const char *table)
{
	const char *why = strerror(f->err);

	if (f->msg == NULL && (f->err == EPERM || f->err == EACCES))
		log_warnx("%s needs root (CAP_NET_ADMIN)", cmd);
	else if (f->msg == NULL && f->err == EOPNOTSUPP)
		log_warnx("%s: %s", cmd, nft_nl_strerror(f->err));
	else if (f->msg == NULL)
		log_warnx("%s: the kernel refused the batch: %s; %s", cmd, why,
		    fail_state(family, table));
	else if (f->elem[0])
		log_warnx("%s: %s: element %s refused: %s; %s", cmd,
		    f->msg->what, f->elem, why, fail_state(family, table));
	else
		log_warnx("%s: %s refused: %s%s%s%s; %s", cmd, f->msg->what,
		    why, f->text[0] ? " (" : "", f->text,
		    f->text[0] ? ")" : "", fail_state(family, table));
}

int
nft_apply(const struct nft_plan *p)
{
	struct nft_objs o;
	struct nft_nl nl;
	struct nft_batch b;
	struct nft_fail f;
	int rc = -1;

	/* the kernel takes an ingress chain for a device that is not there
	 * (it waits for one): refuse it here, or eth0 would go unfiltered */
	if (p->hook == NFT_HOOK_INGRESS && if_nametoindex(p->dev) == 0) {
		log_warnx("nft apply: --dev %s: no such device here (see "
		    "'ip link')", p->dev);
		return -1;
	}
	if (nft_objs_build(p, &o) != 0)
		return -1;
	if (nft_nl_open(&nl, "nft apply") != 0) {
		nft_objs_free(&o);
		return -1;
	}
	if (nft_batch_init(&b, &nl) != 0 || batch_build(&b, &nl, &o, p) != 0) {
		log_warnx("nft apply: out of memory");
		goto done;
	}
	if (nft_batch_send(&b, &nl, &f) != 0) {
		fail_log("nft apply", &f, p->family, p->table);
		goto done;
	}
	rc = 0;
done:
	nft_batch_free(&b);
	nft_nl_close(&nl);
	nft_objs_free(&o);
	return rc;
}

int
nft_delete(const char *family, const char *table)
{
	struct nft_nl nl;
	struct nft_batch b;
	struct nft_fail f;
	struct nlmsghdr *nlh;
	char what[128];
	int rc = -1;

	if (nft_nl_open(&nl, "nft delete") != 0)
		return -1;
	snprintf(what, sizeof(what), "table %s %s", family, table);
	if (nft_batch_init(&b, &nl) != 0 ||
	    (nlh = nft_batch_msg(&b, &nl, NFT_MSG_DELTABLE,
	    nft_family(family), 0, what)) == NULL) {
		log_warnx("nft delete: out of memory");
		goto done;
	}
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
	if (nft_batch_next(&b) != 0) {
		log_warnx("nft delete: out of memory");
		goto done;
	}
	if (nft_batch_send(&b, &nl, &f) == 0)
		rc = 0;
	else if (f.msg && f.err == ENOENT) {
		/* already gone: what the caller wanted, so not an error */
		log_info("nft delete: no table %s %s, nothing to delete",
		    family, table);
		rc = 0;
	} else if (f.msg == NULL)
		fail_log("nft delete", &f, family, table);
	else
		log_warnx("nft delete: %s refused: %s", what, strerror(f.err));
done:
	nft_batch_free(&b);
	nft_nl_close(&nl);
	return rc;
}
