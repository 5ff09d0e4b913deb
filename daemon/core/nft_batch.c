/*
 * nft_batch.c: the writing side of the netlink layer.  A batch is a list
 * of messages, each asking for an ack and each remembered with what it
 * creates, so that when the kernel refuses one we can say which object it
 * was; the kernel applies a batch all or nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>

#include "log.h"
#include "nft_nl.h"

/*
 * A batch page holds many messages; the overrun must hold the largest one
 * (nft_apply.c caps element messages well below 64 KiB: a netlink
 * attribute's length is 16 bits).
 */
#define BATCH_PAGE	(128 * 1024)
#define BATCH_OVERRUN	(80 * 1024)
int
nft_batch_init(struct nft_batch *b, struct nft_nl *nl)
{
	memset(b, 0, sizeof(*b));
	if ((b->b = nftnl_batch_alloc(BATCH_PAGE, BATCH_OVERRUN)) == NULL)
		return -1;
	b->begin_seq = nl->seq++;
	nftnl_batch_begin(nftnl_batch_buffer(b->b), b->begin_seq);
	return nftnl_batch_update(b->b);
}

void
nft_batch_free(struct nft_batch *b)
{
	if (b->b)
		nftnl_batch_free(b->b);
	free(b->msgs);
	memset(b, 0, sizeof(*b));
}

struct nlmsghdr *
nft_batch_msg(struct nft_batch *b, struct nft_nl *nl, uint16_t type,
    int family, uint16_t flags, const char *what)
{
	struct nft_msg *m;

	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;

		if ((m = reallocarray(b->msgs, cap, sizeof(*m))) == NULL)
			return NULL;
		b->msgs = m;
		b->cap = cap;
	}
	m = &b->msgs[b->n++];
	memset(m, 0, sizeof(*m));
	m->seq = nl->seq++;
	snprintf(m->what, sizeof(m->what), "%s", what);
	m->nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->b), type,
	    (uint16_t)family, flags | NLM_F_ACK, m->seq);
	return (struct nlmsghdr *)m->nlh;
}

int
nft_batch_next(struct nft_batch *b)
{
	return nftnl_batch_update(b->b);
}

static int
batch_sendmsg(struct nft_batch *b, struct nft_nl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct msghdr mh = { 0 };
	struct iovec *iov;
	int n, size, fd = mnl_socket_get_fd(nl->sock);
	ssize_t len = 0;
	size_t i;

	nftnl_batch_end(nftnl_batch_buffer(b->b), nl->seq++);
	if (nftnl_batch_update(b->b) != 0)
		return -1;
	n = nftnl_batch_iovec_len(b->b);
	if ((iov = calloc((size_t)n, sizeof(*iov))) == NULL)
		return -1;
	nftnl_batch_iovec(b->b, iov, (uint32_t)n);
	for (i = 0; i < (size_t)n; i++)
		len += (ssize_t)iov[i].iov_len;
	/* the kernel takes a batch only whole: one skb, within sndbuf */
	size = (int)len + 4096;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size,
	    sizeof(size)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size,
		    sizeof(size));
	mh.msg_name = &sa;
	mh.msg_namelen = sizeof(sa);
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)n;
	len = sendmsg(fd, &mh, 0);
	free(iov);
	return len < 0 ? -1 : 0;
}

/* Which element of an element message the extended ack's offset is in. */
static void
fail_element(struct nft_fail *f, uint32_t off)
{
	const struct nft_msg *m = f->msg;
	const struct nlattr *a, *e;
	char buf[CIDR_STRLEN];
	size_t i = 0;

	if (m == NULL || m->elems == NULL)
		return;
	mnl_attr_for_each(a, m->nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(e, a) {
			size_t lo = (size_t)((const char *)e -
			    (const char *)m->nlh);

			if (off >= lo && off < lo + e->nla_len &&
			    i < m->nelems && m->elems[i]) {
				cidr_format(&m->elems[i]->cidr, buf,
				    sizeof(buf));
				snprintf(f->elem, sizeof(f->elem), "%s", buf);
				return;
			}
			i++;
		}
	}
}

/* The error's extended ack: the kernel's text, the refused attribute. */
static void
fail_extack(struct nft_fail *f, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	mnl_attr_for_each(a, nlh, off) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_OFFS &&
		    mnl_attr_get_payload_len(a) >= 4)
			fail_element(f, mnl_attr_get_u32(a));
		else if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG)
			snprintf(f->text, sizeof(f->text), "%s",
			    mnl_attr_get_str(a));
	}
}

/*
 * One ack.  Returns 1 when the batch as a whole was refused (nothing more
 * will come), else 0.  The first refused message is the cause; what the
 * kernel refuses after it usually follows from it.
 */
static int
ack_read(struct nft_batch *b, const struct nlmsghdr *nlh, struct nft_fail *f,
    size_t *acked)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t i;

	if (nlh->nlmsg_type != NLMSG_ERROR ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return 0;
	if (nlh->nlmsg_seq == b->begin_seq) {
		/* the batch itself: no permission, no nf_tables, commit */
		f->err = -e->error;
		f->msg = NULL;
		return 1;
	}
	for (i = 0; i < b->n; i++)
		if (b->msgs[i].seq == nlh->nlmsg_seq)
			break;
	if (i == b->n)
		return 0;
	(*acked)++;
	if (e->error != 0 && f->err == 0) {
		f->err = -e->error;
		f->msg = &b->msgs[i];
		fail_extack(f, nlh);
	}
	return 0;
}

int
nft_batch_send(struct nft_batch *b, struct nft_nl *nl, struct nft_fail *f)
{
	char *buf;
	size_t acked = 0;
	int n, done = 0;

	memset(f, 0, sizeof(*f));
	if ((buf = malloc(NFT_NL_RECV_BUF)) == NULL) {
		f->err = ENOMEM;
		return -1;
	}
	if (batch_sendmsg(b, nl) != 0) {
		f->err = errno;
		free(buf);
		return -1;
	}
	while (!done && acked < b->n) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;

		if ((n = (int)mnl_socket_recvfrom(nl->sock, buf,
		    NFT_NL_RECV_BUF)) <= 0) {
			/* a refused batch may stop answering early */
			if (f->err == 0)
				f->err = n < 0 ? errno : EPROTO;
			break;
		}
		for (; mnl_nlmsg_ok(nlh, n) && !done;
		    nlh = mnl_nlmsg_next(nlh, &n))
			done = ack_read(b, nlh, f, &acked);
	}
	free(buf);
	return f->err ? -1 : 0;
}
