/*
 * pkt.h: a tiny header-only Ethernet frame builder for the XDP tests and the
 * benchmark.  No kernel or libc network headers: every field is written at
 * its wire offset, big-endian.
 *
 * Two levels:
 *
 *   1. A cursor (struct pkt_buf): pkt_eth(), pkt_ipv4(), pkt_ipv6(),
 *      pkt_ip6_ext(), pkt_tcp(), pkt_udp(), pkt_icmp6(), pkt_arp(),
 *      pkt_payload(), then pkt_finish() which fills the IPv4 total length
 *      and header checksum, the IPv6 payload length and the UDP length.
 *      Each IP or extension header's "next header" byte is filled by the
 *      header written after it, so chains come out consistent.
 *
 *   2. A description (struct pkt_spec) and pkt_build(), which calls the
 *      above in order and returns the frame length (0 if buf is too small).
 *
 * Addresses are given in network byte order (IPv4 as a __u32 read straight
 * from the wire, e.g. from inet_pton), ports and ids in host order.
 */
#ifndef SG_TESTS_PKT_H
#define SG_TESTS_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PKT_ETH_P_IP		0x0800
#define PKT_ETH_P_ARP		0x0806
#define PKT_ETH_P_IPV6		0x86DD
#define PKT_ETH_P_8021Q		0x8100
#define PKT_ETH_P_8021AD	0x88A8

#define PKT_IPPROTO_HOPOPTS	0
#define PKT_IPPROTO_ICMP	1
#define PKT_IPPROTO_TCP		6
#define PKT_IPPROTO_UDP		17
#define PKT_IPPROTO_ROUTING	43
#define PKT_IPPROTO_FRAGMENT	44
#define PKT_IPPROTO_AH		51
#define PKT_IPPROTO_ICMPV6	58
#define PKT_IPPROTO_NONE	59
#define PKT_IPPROTO_DSTOPTS	60

#define PKT_IP_MF		0x2000	/* IPv4 frag_off: more fragments */
#define PKT_TCP_SYN		0x02

#define PKT_ETH_HLEN		14
#define PKT_VLAN_HLEN		4
#define PKT_IPV4_HLEN		20
#define PKT_IPV6_HLEN		40
#define PKT_TCP_HLEN		20
#define PKT_UDP_HLEN		8
#define PKT_MAX_VLAN		2
#define PKT_MAX_EXT		16

struct pkt_buf {
	uint8_t	*p;
	size_t	 cap;
	size_t	 len;
	int	 err;		/* set when a write did not fit */
	long	 next;		/* offset of the pending next-header byte, or -1 */
	long	 l3;		/* offset of the IP header, or -1 */
	int	 ipver;		/* 4, 6 or 0 */
	long	 udp;		/* offset of the UDP header, or -1 */
};

static inline void
pkt_init(struct pkt_buf *b, void *buf, size_t cap)
{
	b->p = buf;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
	b->next = -1;
	b->l3 = -1;
	b->ipver = 0;
	b->udp = -1;
}

/* n zeroed bytes at the end of the frame, or NULL (and b->err) if full. */
static inline uint8_t *
pkt_put(struct pkt_buf *b, size_t n)
{
	uint8_t *q;

	if (b->err || n > b->cap - b->len) {
		b->err = 1;
		return NULL;
	}
	q = b->p + b->len;
	memset(q, 0, n);
	b->len += n;
	return q;
}

static inline void
pkt_w16(uint8_t *q, uint16_t v)
{
	q[0] = (uint8_t)(v >> 8);
	q[1] = (uint8_t)v;
}

static inline void
pkt_w32(uint8_t *q, uint32_t v)
{
	q[0] = (uint8_t)(v >> 24);
	q[1] = (uint8_t)(v >> 16);
	q[2] = (uint8_t)(v >> 8);
	q[3] = (uint8_t)v;
}

/* Write proto into the previous header's next-header byte, if any. */
static inline void
pkt_link(struct pkt_buf *b, uint8_t proto)
{
	if (b->next >= 0)
		b->p[b->next] = proto;
	b->next = -1;
}

/*
 * Ethernet header with nvlan (0..2) tags, outermost first; tpid[i] 0 means
 * 802.1ad for the outer tag of two, 802.1Q otherwise.  VLAN ids 100, 200.
 */
static inline void
pkt_eth(struct pkt_buf *b, int nvlan, const uint16_t *tpid, uint16_t ethertype)
{
	static const uint8_t dst[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
	static const uint8_t src[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
	uint8_t *q;
	int i;

	if (nvlan < 0 || nvlan > PKT_MAX_VLAN) {
		b->err = 1;
		return;
	}
	q = pkt_put(b, 12);
	if (!q)
		return;
	memcpy(q, dst, 6);
	memcpy(q + 6, src, 6);
	for (i = 0; i < nvlan; i++) {
		uint16_t t = tpid ? tpid[i] : 0;

		if (!t)
			t = (nvlan == 2 && i == 0) ? PKT_ETH_P_8021AD :
			    PKT_ETH_P_8021Q;
		q = pkt_put(b, PKT_VLAN_HLEN);
		if (!q)
			return;
		pkt_w16(q, t);
		pkt_w16(q + 2, (uint16_t)(100 * (i + 1)));
	}
	q = pkt_put(b, 2);
	if (q)
		pkt_w16(q, ethertype);
}

/*
 * IPv4 header, ihl 32-bit words (5..15; options are NOPs; a value below 5
 * writes a 20-byte header carrying that ihl), frag_off in host order:
 * offset in 8-byte units | PKT_IP_MF.  The protocol byte is filled by the
 * next header written (or stays 0: pass it in proto to force it).
 */
static inline void
pkt_ipv4(struct pkt_buf *b, uint32_t saddr, uint32_t daddr, int ihl,
    uint16_t frag_off, uint8_t proto)
{
	size_t hlen = (ihl >= 5 && ihl <= 15) ? (size_t)ihl * 4 : PKT_IPV4_HLEN;
	uint8_t *q;

	pkt_link(b, 0);
	q = pkt_put(b, hlen);
	if (!q)
		return;
	b->l3 = q - b->p;
	b->ipver = 4;
	q[0] = (uint8_t)(0x40 | (ihl & 0x0f));
	pkt_w16(q + 4, 0x1234);			/* identification */
	pkt_w16(q + 6, frag_off);
	q[8] = 64;				/* ttl */
	q[9] = proto;
	memcpy(q + 12, &saddr, 4);
	memcpy(q + 16, &daddr, 4);
	if (hlen > PKT_IPV4_HLEN)
		memset(q + PKT_IPV4_HLEN, 1, hlen - PKT_IPV4_HLEN); /* NOP */
	b->next = b->l3 + 9;
}

/* IPv6 header; next header filled by what follows (or proto). */
static inline void
pkt_ipv6(struct pkt_buf *b, const uint8_t saddr[16], const uint8_t daddr[16],
    uint8_t proto)
{
	uint8_t *q;

	pkt_link(b, 0);
	q = pkt_put(b, PKT_IPV6_HLEN);
	if (!q)
		return;
	b->l3 = q - b->p;
	b->ipver = 6;
	q[0] = 0x60;
	q[6] = proto;
	q[7] = 64;				/* hop limit */
	memcpy(q + 8, saddr, 16);
	memcpy(q + 24, daddr, 16);
	b->next = b->l3 + 6;
}

/*
 * One IPv6 extension header of the given type:
 *   hop-by-hop, destination options: 8 * (len8 + 1) bytes of PadN;
 *   routing: type 0, segments left 0, 8 * (len8 + 1) bytes;
 *   fragment: 8 bytes, frag_off in 8-byte units, more = M flag;
 *   AH: 24 bytes (12-byte ICV), payload length 4.
 */
static inline void
pkt_ip6_ext(struct pkt_buf *b, uint8_t type, int len8, uint16_t frag_off,
    int more)
{
	size_t n;
	uint8_t *q;

	if (len8 < 0 || len8 > 255)
		len8 = 0;
	switch (type) {
	case PKT_IPPROTO_FRAGMENT:
		n = 8;
		break;
	case PKT_IPPROTO_AH:
		n = 24;
		break;
	default:
		n = 8 * ((size_t)len8 + 1);
		break;
	}
	pkt_link(b, type);
	q = pkt_put(b, n);
	if (!q)
		return;
	switch (type) {
	case PKT_IPPROTO_FRAGMENT:
		pkt_w16(q + 2, (uint16_t)((frag_off << 3) | (more ? 1 : 0)));
		pkt_w32(q + 4, 0xabcd1234);	/* identification */
		break;
	case PKT_IPPROTO_AH:
		q[1] = 4;			/* 24 / 4 - 2 */
		pkt_w32(q + 4, 0x100);		/* SPI */
		pkt_w32(q + 8, 1);		/* sequence */
		break;
	case PKT_IPPROTO_ROUTING:
		q[1] = (uint8_t)len8;
		break;				/* type 0, segments left 0 */
	default:
		q[1] = (uint8_t)len8;
		q[2] = 1;			/* PadN over the rest */
		q[3] = (uint8_t)(n - 4);
		break;
	}
	b->next = q - b->p;			/* byte 0: next header */
}

/* A 20-byte TCP header (SYN). */
static inline void
pkt_tcp(struct pkt_buf *b, uint16_t sport, uint16_t dport)
{
	uint8_t *q;

	pkt_link(b, PKT_IPPROTO_TCP);
	q = pkt_put(b, PKT_TCP_HLEN);
	if (!q)
		return;
	pkt_w16(q, sport);
	pkt_w16(q + 2, dport);
	pkt_w32(q + 4, 1);			/* seq */
	q[12] = 5 << 4;				/* data offset */
	q[13] = PKT_TCP_SYN;
	pkt_w16(q + 14, 65535);			/* window */
}

static inline void
pkt_udp(struct pkt_buf *b, uint16_t sport, uint16_t dport)
{
	uint8_t *q;

	pkt_link(b, PKT_IPPROTO_UDP);
	q = pkt_put(b, PKT_UDP_HLEN);
	if (!q)
		return;
	b->udp = q - b->p;
	pkt_w16(q, sport);
	pkt_w16(q + 2, dport);
}

/* ICMPv6 type/code and a 4-byte body (plus 16 bytes of target for ND). */
static inline void
pkt_icmp6(struct pkt_buf *b, uint8_t type, uint8_t code)
{
	uint8_t *q;
	size_t n = (type >= 133 && type <= 137) ? 24 : 8;

	pkt_link(b, PKT_IPPROTO_ICMPV6);
	q = pkt_put(b, n);
	if (!q)
		return;
	q[0] = type;
	q[1] = code;
}

/* An ARP request for 192.0.2.1 from 192.0.2.2 (Ethernet/IPv4). */
static inline void
pkt_arp(struct pkt_buf *b)
{
	uint8_t *q = pkt_put(b, 28);

	if (!q)
		return;
	pkt_w16(q, 1);				/* htype Ethernet */
	pkt_w16(q + 2, PKT_ETH_P_IP);
	q[4] = 6;
	q[5] = 4;
	pkt_w16(q + 6, 1);			/* request */
	q[8] = 0x02;
	q[13] = 0x02;				/* sha 02:00:00:00:00:02 */
	pkt_w32(q + 14, 0xc0000202);		/* spa 192.0.2.2 */
	pkt_w32(q + 24, 0xc0000201);		/* tpa 192.0.2.1 */
}

/* n bytes of payload (0xa5). */
static inline void
pkt_payload(struct pkt_buf *b, size_t n)
{
	uint8_t *q = pkt_put(b, n);

	if (q)
		memset(q, 0xa5, n);
}

static inline uint16_t
pkt_csum(const uint8_t *q, size_t n)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(q[i] << 8 | q[i + 1]);
	if (n & 1)
		s += (uint32_t)q[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Fill lengths and the IPv4 header checksum.  Frame length, or 0 on error. */
static inline size_t
pkt_finish(struct pkt_buf *b)
{
	uint8_t *ip;

	if (b->err)
		return 0;
	if (b->udp >= 0)
		pkt_w16(b->p + b->udp + 4, (uint16_t)(b->len - (size_t)b->udp));
	if (b->l3 < 0)
		return b->len;
	ip = b->p + b->l3;
	if (b->ipver == 4) {
		size_t hlen = (size_t)(ip[0] & 0x0f) * 4;

		if (hlen < PKT_IPV4_HLEN)
			hlen = PKT_IPV4_HLEN;
		pkt_w16(ip + 2, (uint16_t)(b->len - (size_t)b->l3));
		pkt_w16(ip + 10, 0);
		pkt_w16(ip + 10, pkt_csum(ip, hlen));
	} else if (b->ipver == 6) {
		pkt_w16(ip + 4, (uint16_t)(b->len - (size_t)b->l3 -
		    PKT_IPV6_HLEN));
	}
	return b->len;
}

/* ---- description level ---- */

enum pkt_l3 {
	PKT_L3_IPV4 = 0,
	PKT_L3_IPV6,
	PKT_L3_ARP,
};

enum pkt_l4 {
	PKT_L4_TCP = 0,
	PKT_L4_UDP,
	PKT_L4_ICMP6,
	PKT_L4_NONE,		/* next header "no next header" (IPv6) / 0 */
};

struct pkt_ext {
	uint8_t		type;		/* PKT_IPPROTO_HOPOPTS, ... */
	uint8_t		len8;		/* options/routing: extra 8-byte units */
	uint16_t	frag_off;	/* fragment: offset in 8-byte units */
	uint8_t		more;		/* fragment: M flag */
};

struct pkt_spec {
	int		nvlan;			/* 0..2 */
	uint16_t	tpid[PKT_MAX_VLAN];	/* 0: default (see pkt_eth) */
	enum pkt_l3	l3;
	uint32_t	saddr4, daddr4;		/* network order */
	uint8_t		saddr6[16], daddr6[16];
	int		ihl;			/* 0 means 5 */
	uint16_t	frag_off4;		/* offset units | PKT_IP_MF */
	int		next;			/* IPv4 protocol byte override, 0: auto */
	int		next6;			/* IPv6 next header override, 0: auto */
	int		n_ext;
	struct pkt_ext	ext[PKT_MAX_EXT];
	enum pkt_l4	l4;
	uint16_t	sport, dport;
	uint8_t		icmp_type;
	size_t		payload;
};

/* Build the frame described by s into buf; its length, or 0 if too small. */
static inline size_t
pkt_build(const struct pkt_spec *s, void *buf, size_t cap)
{
	struct pkt_buf b;
	uint16_t et;
	int i;

	pkt_init(&b, buf, cap);
	et = s->l3 == PKT_L3_IPV4 ? PKT_ETH_P_IP :
	     s->l3 == PKT_L3_IPV6 ? PKT_ETH_P_IPV6 : PKT_ETH_P_ARP;
	pkt_eth(&b, s->nvlan, s->tpid, et);
	if (s->l3 == PKT_L3_ARP) {
		pkt_arp(&b);
		return pkt_finish(&b);
	}
	if (s->l3 == PKT_L3_IPV4) {
		pkt_ipv4(&b, s->saddr4, s->daddr4, s->ihl ? s->ihl : 5,
		    s->frag_off4, 0);
	} else {
		pkt_ipv6(&b, s->saddr6, s->daddr6, 0);
		for (i = 0; i < s->n_ext && i < PKT_MAX_EXT; i++)
			pkt_ip6_ext(&b, s->ext[i].type, s->ext[i].len8,
			    s->ext[i].frag_off, s->ext[i].more);
	}
	switch (s->l4) {
	case PKT_L4_TCP:
		pkt_tcp(&b, s->sport ? s->sport : 40000, s->dport);
		break;
	case PKT_L4_UDP:
		pkt_udp(&b, s->sport ? s->sport : 40000, s->dport);
		break;
	case PKT_L4_ICMP6:
		pkt_icmp6(&b, s->icmp_type, 0);
		break;
	case PKT_L4_NONE:
		pkt_link(&b, s->l3 == PKT_L3_IPV6 ? PKT_IPPROTO_NONE : 0);
		break;
	}
	if (s->l3 == PKT_L3_IPV4 && s->next && b.l3 >= 0 && !b.err)
		b.p[b.l3 + 9] = (uint8_t)s->next;
	if (s->l3 == PKT_L3_IPV6 && s->next6 && b.l3 >= 0 && !b.err)
		b.p[b.l3 + 6] = (uint8_t)s->next6;
	pkt_payload(&b, s->payload);
	return pkt_finish(&b);
}

#endif /* SG_TESTS_PKT_H */
