/*
 * nft_nl.c: the socket to nf_tables and its queries (dumps, gets): what
 * every reader of the table needs.  The writing side, the batch, is in
 * nft_batch.c, so a program that only reads links no writer.
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
nft_nl_query(struct nft_nl *nl, struct nlmsghdr *nlh,
    int (*cb)(const struct nlmsghdr *, void *), void *arg)
{
	char *buf;
	ssize_t n;
	int rc = -1;

	nlh->nlmsg_seq = ++nl->seq;
	if ((buf = malloc(NFT_NL_RECV_BUF)) == NULL)
		return -1;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		goto done;
	while ((n = mnl_socket_recvfrom(nl->sock, buf, NFT_NL_RECV_BUF)) > 0) {
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
