// SPDX-License-Identifier: GPL-2.0
/*
 * streamgate.bpf.c: the XDP allowlist.  Drops packets whose source is not one
 * of Stream's egress addresses (or an operator's --allow prefix) before the
 * kernel allocates anything for them.
 *
 *   ports mode (default): only TCP to a protected port is checked.
 *   strict mode:          every IPv4/IPv6 packet is checked.
 *   both:                 ARP and IPv6 neighbour discovery always pass.
 *
 * The maps are the contract in include/streamgate.h; the control tool fills
 * them.  Until the first fill (config version 0) port 443 is protected and
 * the allowlist is empty: a freshly attached program fails closed.
 *
 * Attach: ip link set dev DEV xdp obj build/streamgate.bpf.o sec xdp
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "streamgate.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD	0x88A8
#endif
#define IP_MF		0x2000
#define IP_OFFSET	0x1FFF
#define IP6_OFFSET	0xFFF8

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_ports SEC(".maps");

/*
 * IPv4 hosts sit in sg_exact4 (see include/streamgate.h: an inlined array
 * lookup), the few that do not fit there and IPv6 hosts in hash maps, and
 * shorter prefixes in LPM tries.  The spill map and the tries are only
 * consulted when they hold entries (SG_CF_*).  A host entry is the longest
 * possible prefix, so checking hosts first keeps longest-prefix-match
 * semantics.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SG_X4_BUCKETS);
	__type(key, __u32);
	__type(value, struct sg_x4_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_exact4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_MAX_EXACT);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_allow4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_MAX_EXACT);
	__type(key, struct sg_in6);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_allow6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SG_MAX_PREFIX);
	__type(key, struct sg_lpm4_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_lpm4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SG_MAX_PREFIX);
	__type(key, struct sg_lpm6_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_lpm6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SG_MAX_REGIONS);
	__type(key, __u32);
	__type(value, struct sg_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_pass SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SG_DROP_MAX);
	__type(key, __u32);
	__type(value, struct sg_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_drop SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SG_SKIP_MAX);
	__type(key, __u32);
	__type(value, struct sg_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_skip SEC(".maps");

/* Written and read by the control tool only: region id -> name. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_MAX_REGIONS);
	__type(key, __u32);
	__type(value, struct sg_region_name);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sg_regions SEC(".maps");

/* What the parser learned about a packet. */
struct pkt {
	void		*data_end;
	__u64		 len;
	int		 l3;		/* ETH_P_IP, ETH_P_IPV6, or 0 */
	int		 malformed;	/* could not be parsed far enough */
	int		 later_frag;	/* non-first fragment: no L4 header */
	int		 tcp_port;	/* TCP destination port, or -1 */
	int		 nd;		/* ICMPv6 ND or MLD */
	int		 src_known;	/* saddr4/saddr6 were read */
	__u32		 saddr4;
	struct sg_in6	 saddr6;
};

static __always_inline int
count(void *map, __u32 idx, __u64 bytes)
{
	struct sg_counter *c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
	return 0;
}

static __always_inline int
verdict_pass(void *map, __u32 idx, struct pkt *p)
{
	count(map, idx, p->len);
	return XDP_PASS;
}

static __always_inline int
verdict_drop(__u32 reason, struct pkt *p)
{
	count(&sg_drop, reason, p->len);
	return XDP_DROP;
}

/* TCP destination port at l4, or mark the packet malformed. */
static __always_inline void
parse_tcp(struct pkt *p, void *l4)
{
	struct tcphdr *th = l4;

	/* The ports are all we need; a header cut before them is malformed. */
	if ((void *)&th->dest + sizeof(th->dest) > p->data_end) {
		p->malformed = 1;
		return;
	}
	p->tcp_port = bpf_ntohs(th->dest);
}

static __always_inline void
parse_ipv4(struct pkt *p, void *l3)
{
	struct iphdr *ip = l3;
	__u32 hlen;

	if ((void *)(ip + 1) > p->data_end) {
		p->malformed = 1;	/* source unknown: never allowed */
		return;
	}
	p->saddr4 = ip->saddr;
	p->src_known = 1;
	hlen = ip->ihl * 4;
	if (ip->version != 4 || hlen < sizeof(*ip) || l3 + hlen > p->data_end) {
		p->malformed = 1;
		return;
	}
	if (ip->frag_off & bpf_htons(IP_OFFSET)) {
		p->later_frag = 1;
		return;
	}
	if (ip->protocol == IPPROTO_TCP)
		parse_tcp(p, l3 + hlen);
}

/* Walk the IPv6 extension headers to the upper-layer header. */
static __always_inline void
parse_ipv6(struct pkt *p, void *l3)
{
	struct ipv6hdr *ip6 = l3;
	void *cur = ip6 + 1;
	__u8 nexthdr;
	int i;

	if (cur > p->data_end) {
		p->malformed = 1;
		return;
	}
	__builtin_memcpy(&p->saddr6, &ip6->saddr, sizeof(p->saddr6));
	p->src_known = 1;
	nexthdr = ip6->nexthdr;

	/* SG_MAX_EXTHDR extension headers, then the upper-layer header */
#pragma unroll
	for (i = 0; i <= SG_MAX_EXTHDR; i++) {
		__u8 *h = cur;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(h + 2) > p->data_end)
				goto bad;
			nexthdr = h[0];
			cur = h + (h[1] + 1) * 8;
			continue;
		case IPPROTO_AH:
			if ((void *)(h + 2) > p->data_end)
				goto bad;
			nexthdr = h[0];
			cur = h + (h[1] + 2) * 4;
			continue;
		case IPPROTO_FRAGMENT: {
			__u16 *off = (__u16 *)(h + 2);

			if ((void *)(h + 8) > p->data_end)
				goto bad;
			if (*off & bpf_htons(IP6_OFFSET)) {
				p->later_frag = 1;
				return;
			}
			nexthdr = h[0];
			cur = h + 8;
			continue;
		}
		case IPPROTO_TCP:
			parse_tcp(p, cur);
			return;
		case IPPROTO_ICMPV6:
			if ((void *)(h + 1) > p->data_end)
				goto bad;
			/* 130-132, 143: MLD; 133-137: router/neighbour discovery */
			p->nd = (h[0] >= 130 && h[0] <= 137) || h[0] == 143;
			return;
		default:
			return;		/* UDP, ESP, no-next-header, ...: not TCP */
		}
	}
	/* Still inside the extension headers: cannot prove it is not TCP. */
bad:
	p->malformed = 1;
}

/* Up to two VLAN tags (802.1Q, 802.1ad), then the L3 protocol. */
static __always_inline void *
parse_eth(struct pkt *p, void *data)
{
	struct ethhdr *eth = data;
	void *cur = eth + 1;
	__u16 proto;
	int i;

	if (cur > p->data_end) {
		p->malformed = 1;
		return 0;
	}
	proto = eth->h_proto;
#pragma unroll
	for (i = 0; i < 2; i++) {
		__u16 *vlan = cur;	/* TCI, then the encapsulated type */

		if (proto != bpf_htons(ETH_P_8021Q) &&
		    proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vlan + 2) > p->data_end) {
			p->malformed = 1;
			return 0;
		}
		proto = vlan[1];
		cur = vlan + 2;
	}
	/* A third tag: we cannot see what is inside, so it proves nothing. */
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		p->malformed = 1;
		return 0;
	}
	p->l3 = bpf_ntohs(proto);
	return cur;
}

static __always_inline int
port_protected(const struct sg_config *cfg, int port)
{
	__u32 word = (__u32)port >> 6;
	__u64 *bits;

	if (port < 0)
		return 0;
	if (cfg->version == 0)
		return port == SG_DEFAULT_PORT;
	bits = bpf_map_lookup_elem(&sg_ports, &word);
	return bits && (*bits & (1ULL << (port & 63)));
}

/* Region id + 1 of an IPv4 host in the live half of sg_exact4, or 0. */
static __always_inline __u32
exact4(const struct sg_config *cfg, __u32 saddr)
{
	__u32 idx = sg_x4_bucket(saddr) + (cfg->x4_half ? SG_X4_BUCKETS : 0);
	struct sg_x4_bucket *b = bpf_map_lookup_elem(&sg_exact4, &idx);
	int i;

	if (!b)
		return 0;
#pragma unroll
	for (i = 0; i < SG_X4_SLOTS; i++)
		if (b->addr[i] == saddr && b->tag[i])
			return b->tag[i];
	return 0;
}

static __always_inline int
region4(const struct sg_config *cfg, __u32 saddr)
{
	__u32 tag = exact4(cfg, saddr), *r = 0;

	if (tag)
		return tag - 1;
	if (cfg->flags & SG_CF_SPILL4)
		r = bpf_map_lookup_elem(&sg_allow4, &saddr);
	if (!r && (cfg->flags & SG_CF_LPM4)) {
		struct sg_lpm4_key k = { .prefixlen = 32 };

		__builtin_memcpy(k.addr, &saddr, 4);
		r = bpf_map_lookup_elem(&sg_lpm4, &k);
	}
	return r ? (int)*r : -1;
}

static __always_inline int
region6(const struct sg_config *cfg, const struct sg_in6 *saddr)
{
	__u32 *r = bpf_map_lookup_elem(&sg_allow6, saddr);

	if (!r && (cfg->flags & SG_CF_LPM6)) {
		struct sg_lpm6_key k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, saddr, 16);
		r = bpf_map_lookup_elem(&sg_lpm6, &k);
	}
	return r ? (int)*r : -1;
}

/* Region id of the source, or -1. */
static __always_inline int
source_region(const struct sg_config *cfg, struct pkt *p)
{
	if (!p->src_known)
		return -1;
	if (p->l3 == ETH_P_IP)
		return region4(cfg, p->saddr4);
	return region6(cfg, &p->saddr6);
}

SEC("xdp")
int
streamgate_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct pkt p = {
		.data_end = (void *)(long)ctx->data_end,
		.tcp_port = -1,
	};
	struct sg_config none = {}, *cfg;
	__u32 key = 0;
	void *l3;
	int region;

	p.len = p.data_end - data;
	cfg = bpf_map_lookup_elem(&sg_config, &key);
	if (!cfg || cfg->version == 0)
		cfg = &none;	/* never synced: ports mode, 443, nothing allowed */

	l3 = parse_eth(&p, data);
	if (!l3)
		return verdict_drop(SG_DROP_MALFORMED, &p);
	if (p.l3 == ETH_P_ARP)
		return verdict_pass(&sg_skip, SG_SKIP_ARP_ND, &p);
	if (p.l3 == ETH_P_IP)
		parse_ipv4(&p, l3);
	else if (p.l3 == ETH_P_IPV6)
		parse_ipv6(&p, l3);
	else
		return verdict_pass(&sg_skip, SG_SKIP_NON_IP, &p);

	if (p.nd)
		return verdict_pass(&sg_skip, SG_SKIP_ARP_ND, &p);
	if (cfg->mode != SG_MODE_STRICT && !p.malformed) {
		if (p.later_frag)
			return verdict_pass(&sg_skip, SG_SKIP_FRAGMENT, &p);
		if (!port_protected(cfg, p.tcp_port))
			return verdict_pass(&sg_skip, SG_SKIP_PORT, &p);
	}

	region = source_region(cfg, &p);
	if (region >= 0 && region < SG_MAX_REGIONS)
		return verdict_pass(&sg_pass, region, &p);
	if (p.malformed)
		return verdict_drop(SG_DROP_MALFORMED, &p);
	if (p.later_frag)
		return verdict_drop(SG_DROP_FRAGMENT, &p);
	return verdict_drop(p.l3 == ETH_P_IP ? SG_DROP_NOT_ALLOWED :
	    SG_DROP_NOT_ALLOWED6, &p);
}

char LICENSE[] SEC("license") = "GPL";
