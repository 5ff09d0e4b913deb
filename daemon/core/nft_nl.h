/*
 * nft_nl.h: what nft_apply.c, nft_diff.c and status.c share.  nft_obj.c
 * turns a plan into libnftnl objects (the exact messages `nft -f` sends for
 * nft_print()'s text); nft_nl.c owns the netlink socket and its queries,
 * nft_batch.c the batch and its acks; nft_read.c reads a table back from
 * the kernel.
 */
#ifndef SG_NFT_NL_H
#define SG_NFT_NL_H

#include <stddef.h>
#include <stdint.h>

#include "nft.h"

struct mnl_socket;
struct nlmsghdr;
struct nftnl_batch;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;
struct nftnl_set_elem;
struct nftnl_table;

/* One set as libnftnl objects; elements kept apart so batches can chunk. */
struct nft_oset {
	struct nftnl_set	 *set;
	struct nftnl_set_elem	**elems;	/* in the order nft sends them */
	const struct nft_elem	**src;		/* the plan element of each */
	size_t			  nelems;
	uint32_t		  id;		/* NFTA_SET_ID in this batch */
};

struct nft_objs {
	int			  family;	/* NFPROTO_INET, _NETDEV */
	struct nftnl_table	 *table;
	struct nft_oset		 *sets;
	size_t			  nsets;
	struct nftnl_chain	 *chains[2];	/* main; raw (inet) or NULL */
	size_t			  nchains;
	struct nftnl_rule	**rules;
	char			(*rule_what)[96]; /* "rule 3 (ip saddr ...)" */
	size_t			  nrules;
};

/* nft_obj.c */
int	nft_family(const char *name);	/* NFPROTO_*, or -1 */
int	nft_objs_build(const struct nft_plan *p, struct nft_objs *o);
void	nft_objs_free(struct nft_objs *o);
/* The first address after prefix c (len bytes): 1, or 0 past the top. */
int	nft_prefix_end(const struct cidr *c, uint8_t *end, size_t len);

/* nft_nl.c: one socket to nf_tables. */
#define NFT_NL_RECV_BUF	(128 * 1024)	/* one read of answers */
struct nft_nl {
	struct mnl_socket	*sock;
	uint32_t		 portid;
	uint32_t		 seq;
};

/* A batch and, for each message, what to name when the kernel refuses it. */
struct nft_msg {
	uint32_t		 seq;
	char			 what[128];
	const struct nlmsghdr	*nlh;
	const struct nft_elem	**elems; /* element messages: elems[i] is */
	size_t			 nelems;  /* the i-th element attr (or NULL) */
};

struct nft_batch {
	struct nftnl_batch	*b;
	struct nft_msg		*msgs;
	size_t			 n, cap;
	uint32_t		 begin_seq;
};

/* Why a batch failed: the message and the kernel's reason. */
struct nft_fail {
	int			 err;		/* errno */
	const struct nft_msg	*msg;		/* NULL: the batch as a whole */
	char			 elem[CIDR_STRLEN]; /* the refused element */
	char			 text[128];	/* the kernel's own words */
};

/* 0, or -1 with a one-line reason already logged ("cmd: ..."). */
int	nft_nl_open(struct nft_nl *nl, const char *cmd);
void	nft_nl_close(struct nft_nl *nl);
/* The errno's sentence for nf_tables: root, no nf_tables, else strerror. */
const char *nft_nl_strerror(int err);

/* nft_batch.c: the writing side. */
int	nft_batch_init(struct nft_batch *b, struct nft_nl *nl);
void	nft_batch_free(struct nft_batch *b);
/* A message header; the caller adds the payload, then nft_batch_next(). */
struct nlmsghdr *nft_batch_msg(struct nft_batch *b, struct nft_nl *nl,
	    uint16_t type, int family, uint16_t flags, const char *what);
int	nft_batch_next(struct nft_batch *b);
/* Send, read every ack: 0, or -1 with *f saying which message and why. */
int	nft_batch_send(struct nft_batch *b, struct nft_nl *nl,
	    struct nft_fail *f);

/* A dump (or a get): each reply message to cb.  0, or -1 with errno. */
int	nft_nl_query(struct nft_nl *nl, struct nlmsghdr *nlh,
	    int (*cb)(const struct nlmsghdr *, void *), void *arg);
/* 1 if the table exists, 0 if not, -1 (errno) on error. */
int	nft_nl_table_exists(struct nft_nl *nl, int family, const char *table);

/* nft_read.c: one table as the kernel has it. */
struct nft_ktable {
	const char		 *table;
	int			  family;
	struct nftnl_set	**sets;		/* with their elements */
	size_t			  nsets;
	struct nftnl_chain	**chains;
	size_t			  nchains;
	struct nftnl_rule	**rules;
	size_t			  nrules;
};

#define NFT_READ_SETS	0x1	/* the sets too, not only chains and rules */

/* table's chains and rules (and sets, by what) into k: 0, or -1 with
 * errno (k freed). */
int	nft_ktable_read(struct nft_nl *nl, int family, const char *table,
	    int what, struct nft_ktable *k);
void	nft_ktable_free(struct nft_ktable *k);
/* A base chain's hook, by name ("input", "ingress"). */
const char *nft_hook_name(int family, uint32_t hook);
/* The comment in a rule's or an element's userdata, or NULL. */
const char *nft_udata_comment(const void *data, uint32_t len);
/* "inet" or "netdev" (the families our tables use). */
const char *nft_family_name(int family);
/* table, in the first family that has it (inet, then netdev), into k: 1,
 * 0 when neither has it, -1 with errno. */
int	nft_ktable_find(struct nft_nl *nl, const char *table,
	    struct nft_ktable *k);

/* A rule's counter: the one reader of nft counters. */
struct nft_rule_counter {
	const char	*chain;		/* borrowed from the rule */
	uint64_t	 handle;
	const char	*comment;	/* "" when none; borrowed */
	uint64_t	 packets, bytes;
};
/* 1 with c filled when r has a counter, else 0. */
int	nft_rule_counter(const struct nftnl_rule *r,
	    struct nft_rule_counter *c);
/* Append p to the array *v of *n: 0, or -1 out of memory. */
int	nft_ptr_push(void ***v, size_t *n, void *p);

#endif
