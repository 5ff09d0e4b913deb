/*
 * nft_nl.c: the netlink side of the nftables layer.  A batch is a list of
 * messages, each asking for an ack and each remembered with what it
 * creates, so that when the kernel refuses one we can say which object it
 * was; the kernel applies a batch all or nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>

#include "log.h"
#include "nft_nl.h"

/*
 * A batch page holds many messages; the overrun must hold the largest one
 * (nft_apply.c caps element messages well below 64 KiB: a netlink
 * attribute's length is 16 bits).
 */
#define BATCH_PAGE	(128 * 1024)
#define BATCH_OVERRUN	(80 * 1024)
#define RECV_BUF	(128 * 1024)
#define RECV_TIMEOUT	30	/* seconds without an answer: give up */

const char *
nft_nl_strerror(int err)
{
	switch (err) {
	case EPERM:
	case EACCES:
		return "permission denied (needs root: CAP_NET_ADMIN)";
	case EOPNOTSUPP:
	case EPROTONOSUPPORT:
		return "the kernel has no nf_tables";
	default:
		return strerror(err);
	}
}

/* Big enough buffers that one ack per message cannot overflow them. */
static void
sock_buffers(int fd, int size)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
	    sizeof(size)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
		    sizeof(size));
}

int
nft_nl_open(struct nft_nl *nl, const char *cmd)
{
	struct timeval tv = { .tv_sec = RECV_TIMEOUT };
	int one = 1, fd;

	memset(nl, 0, sizeof(*nl));
	if ((nl->sock = mnl_socket_open(NETLINK_NETFILTER)) == NULL) {
		/* no nfnetlink at all: the protocol is unknown */
		log_warnx("%s: %s", cmd, nft_nl_strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) != 0) {
		log_warn("%s: netlink bind", cmd);
		nft_nl_close(nl);
		return -1;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	fd = mnl_socket_get_fd(nl->sock);
	/* extended acks point at the refused attribute (which element);
	 * capped acks do not echo our message back */
	(void)mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one,
	    sizeof(one));
	(void)mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one,
	    sizeof(one));
	sock_buffers(fd, 8 << 20);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

void
nft_nl_close(struct nft_nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

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
	if ((buf = malloc(RECV_BUF)) == NULL) {
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
		    RECV_BUF)) <= 0) {
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

int
nft_nl_query(struct nft_nl *nl, struct nlmsghdr *nlh,
    int (*cb)(const struct nlmsghdr *, void *), void *arg)
{
	char *buf;
	ssize_t n;
	int rc = -1;

	nlh->nlmsg_seq = ++nl->seq;
	if ((buf = malloc(RECV_BUF)) == NULL)
		return -1;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		goto done;
	while ((n = mnl_socket_recvfrom(nl->sock, buf, RECV_BUF)) > 0) {
		rc = mnl_cb_run(buf, (size_t)n, nl->seq, nl->portid, cb, arg);
		if (rc <= MNL_CB_STOP)
			break;
	}
	if (n <= 0)
		rc = -1;
	else if (rc == MNL_CB_STOP)
		rc = 0;
done:
	free(buf);
	return rc < 0 ? -1 : 0;
}

static int
query_ignore(const struct nlmsghdr *nlh, void *arg)
{
	(void)nlh;
	(void)arg;
	return MNL_CB_OK;
}

int
nft_nl_table_exists(struct nft_nl *nl, int family, const char *table)
{
	char buf[512];
	struct nlmsghdr *nlh;
	struct nftnl_table *t;

	if ((t = nftnl_table_alloc()) == NULL)
		return -1;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)family,
	    NLM_F_ACK, 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	if (nft_nl_query(nl, nlh, query_ignore, NULL) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}
