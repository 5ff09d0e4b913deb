/*
 * nft.h: the nftables layer.  One plan, built from the region table, is
 * rendered two ways: as `nft -f` text (nft_print.c) and as one netlink batch
 * that replaces our table atomically (nft_apply.c).  Both renderings read
 * the same plan, so what `nft print` shows is what `nft apply` installs.
 *
 * Ruleset shape (family inet, hook input; or netdev, hook ingress):
 *   set v4_<region>, v6_<region>  one element per prefix, commented
 *                                 "<region> <zone>"; an interval set only
 *                                 when it holds a prefix (see nft_plan.c)
 *   set protected_ports           inet_service
 *   chain input|ingress           policy accept; rules, in order:
 *     inet:        iif "lo" accept                        (both modes)
 *                  ct state established,related accept    (both modes)
 *     ports mode:  tcp dport != @protected_ports accept
 *                  ip[6] saddr @set counter accept       (one per set)
 *                  meta nfproto ipv4|ipv6 tcp dport @protected_ports
 *                      counter drop                      (one per family)
 *     strict mode: icmpv6 type 130-137 accept   (MLD, ND)
 *                  icmpv6 type 143 accept       (MLDv2 report)
 *                  ip[6] saddr @set counter accept       (one per set)
 *                  meta nfproto ipv4|ipv6 counter drop   (one per family)
 *   (netdev says meta protocol ip|ip6 where inet says meta nfproto.)
 *   chain prerouting              inet only: hook prerouting, priority raw
 *                                 (-300), before conntrack; policy accept:
 *                  iif "lo" accept
 *                  tcp flags != syn / fin,syn,rst,ack accept
 *     ports mode:  tcp dport != @protected_ports accept
 *                  ip[6] saddr @set accept               (one per set)
 *                  meta nfproto ipv4|ipv6 tcp flags syn / fin,syn,rst,ack
 *                      counter drop                      (one per family)
 *   (strict mode has no port rule there: a SYN to any port is dropped.)
 *   A new connection (a SYN without ACK) from outside the sets can never
 *   belong to a connection that exists: it is dropped there, before
 *   conntrack builds an entry for it (a spoofed SYN flood would otherwise
 *   cost one per packet).  Everything else goes on to conntrack and the
 *   input chain, whose ct state rule keeps strict mode's replies and the
 *   open connections of a region just removed.
 */
#ifndef SG_NFT_H
#define SG_NFT_H

#include <net/if.h>
#include <stdint.h>
#include <stdio.h>

#include "filter.h"

#define NFT_NAME_LEN	64
#define NFT_DEFAULT_TABLE "streamgate"

enum nft_hook { NFT_HOOK_INPUT = 0, NFT_HOOK_INGRESS = 1 };

/* What the operator asked for. */
struct nft_spec {
	struct filter_spec	f;		/* mode, ports, region table */
	char			table[NFT_NAME_LEN];
	int			hook;		/* enum nft_hook */
	char			dev[IF_NAMESIZE]; /* ingress only */
};

/* One interval set of one region and family. */
struct nft_set {
	char	name[NFT_NAME_LEN];	/* v4_us_east */
	char	region[SG_REGION_NAME_LEN];
	int	family;			/* AF_INET or AF_INET6 */
	int	interval;		/* holds a prefix, not only hosts */
	size_t	first, n;		/* its elements: plan->elems[first..+n) */
};

struct nft_elem {
	struct cidr	cidr;
	char		comment[64];	/* "us-east use1-az2" */
};

enum nft_rule_kind {
	NR_UNPROTECTED,		/* tcp dport != @protected_ports accept */
	NR_LOOPBACK,		/* iif "lo" accept */
	NR_ESTABLISHED,		/* ct state established,related accept */
	NR_ND,			/* icmpv6 type 130-137 accept: MLD, ND */
	NR_MLD2,		/* icmpv6 type 143 accept: MLDv2 report */
	NR_ALLOW,		/* ip[6] saddr @set counter accept comment */
	NR_DROP_PORTS,		/* <family> tcp dport @protected_ports counter drop */
	NR_DROP_ALL,		/* <family> counter drop */
	NR_NOT_NEW,		/* tcp flags != syn / fin,syn,rst,ack accept */
	NR_PASS,		/* ip[6] saddr @set accept (no counter) */
	NR_DROP_SYN,		/* <family> tcp flags syn / fin,syn,rst,ack
				   counter drop */
};

struct nft_rule {
	enum nft_rule_kind	kind;
	int			family;	/* AF_INET/AF_INET6 for ALLOW, DROP_* */
	size_t			set;	/* NR_ALLOW, NR_PASS: plan->sets[] */
	int			raw;	/* in the raw chain, not the main */
	char			comment[64];	/* "" for none */
};

struct nft_plan {
	const char	*family;	/* "inet" or "netdev" */
	char		 table[NFT_NAME_LEN];
	const char	*chain;		/* "input" or "ingress" */
	const char	*raw;		/* "prerouting" (inet), or NULL */
	int		 hook;
	char		 dev[IF_NAMESIZE];
	int		 mode;
	struct nft_set	*sets;
	size_t		 nsets;
	struct nft_elem	*elems;
	size_t		 nelems;
	uint16_t	*ports;		/* ascending */
	size_t		 nports;
	struct nft_rule	*rules;
	size_t		 nrules;
};

#define NFT_PORTS_SET	"protected_ports"
#define NFT_RAW_CHAIN	"prerouting"
#define NFT_PRIO_RAW	(-300)		/* NF_IP_PRI_RAW: before conntrack */

/* nft_plan.c */
void	nft_spec_init(struct nft_spec *s);
void	nft_spec_free(struct nft_spec *s);
/* --table, --hook, --dev: 0, or -1 with err naming the flag. */
int	nft_spec_table(struct nft_spec *s, const char *arg, char *err, size_t len);
int	nft_spec_hook(struct nft_spec *s, const char *arg, char *err, size_t len);
int	nft_spec_dev(struct nft_spec *s, const char *arg, char *err, size_t len);
int	nft_plan_build(const struct nft_spec *s, struct nft_plan *p,
	    char *err, size_t errlen);
void	nft_plan_free(struct nft_plan *p);

/* nft_print.c: the ruleset in `nft -f` syntax. */
int	nft_print(FILE *fp, const struct nft_plan *p);

/* nft_apply.c: over netlink (libmnl + libnftnl). */
int	nft_apply(const struct nft_plan *p);	/* one atomic batch */
int	nft_delete(const char *family, const char *table);
/* What apply would change: 0 nothing, 1 changes (printed), -1 error. */
int	nft_diff(FILE *fp, const struct nft_plan *p);

#endif
