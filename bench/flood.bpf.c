// SPDX-License-Identifier: GPL-2.0
/*
 * flood.bpf.c: the two XDP programs of `make bench-flood` (bench/flood_gen.c
 * loads both; nothing here is part of streamgate).
 *
 * flood_gen runs under BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES:
 * the kernel hands it one frame of a template after another, and what it
 * redirects is transmitted for real.  Each frame gets a fresh source
 * address inside cfg_src/cfg_mask and, for TCP and UDP, a fresh source
 * port (the IPv4 and the TCP/UDP checksums updated incrementally, RFC
 * 1624), or, for a fragment, a fresh IP id; then it goes out of
 * cfg_ifindex (a veth, whose peer then receives it as an xdp_frame: that
 * peer needs an XDP program or GRO for veth's ndo_xdp_xmit).  Live frames
 * recycle their pages, so a frame may come back with the last run's
 * rewrite in it: an incremental update is right either way.
 *
 * flood_sink sits on the attacker's end of the edge's link and drops what
 * the edge answers to the spoofed sources (SYN-ACKs, ICMP) before it
 * costs the attacker's stack anything: IPv4 to cfg_sink_net/cfg_sink_mask
 * or to cfg_sink_host.  Everything else passes.
 *
 * Addresses are in network byte order.  The counters are per CPU.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define FLOOD_TCP	0
#define FLOOD_UDP	1
#define FLOOD_FRAG	2

volatile const __u32 cfg_src;		/* base source address */
volatile const __u32 cfg_mask;		/* random bits of it (host order) */
volatile const __u32 cfg_ifindex;	/* out of here */
volatile const __u32 cfg_kind;		/* FLOOD_* */
volatile const __u32 cfg_sink_net;	/* flood_sink: drop to this net */
volatile const __u32 cfg_sink_mask;
volatile const __u32 cfg_sink_host;	/* and to this host */

/* 0: frames redirected (flood_gen), 1: malformed template, 2: sunk */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} flood_count SEC(".maps");

static __always_inline void
count(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&flood_count, &k);

	if (v)
		*v += 1;
}

/*
 * RFC 1624: HC' = ~(~HC + ~m + m'), over 16-bit words.  Everything as it
 * lies in the packet (network order, loaded as is): a ones' complement sum
 * does not care about byte order as long as all its words agree.
 */
static __always_inline __u16
csum_replace(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~(from >> 16) + (__u16)~(from & 0xffff);
	sum += (to >> 16) + (to & 0xffff);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int
flood_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 r = bpf_get_prandom_u32(), old, new;
	__u16 *check = 0, *sport = 0, oport, nport;

	if ((void *)(ip + 1) > end || ip->ihl != 5) {
		count(1);
		return XDP_DROP;
	}
	if (cfg_kind == FLOOD_TCP) {
		struct tcphdr *th = (void *)(ip + 1);

		if ((void *)(th + 1) > end) {
			count(1);
			return XDP_DROP;
		}
		check = &th->check;
		sport = &th->source;
	} else if (cfg_kind == FLOOD_UDP) {
		struct udphdr *uh = (void *)(ip + 1);

		if ((void *)(uh + 1) > end) {
			count(1);
			return XDP_DROP;
		}
		check = &uh->check;	/* never 0: the template has one */
		sport = &uh->source;
	}
	old = ip->saddr;
	new = cfg_src | bpf_htonl(r & cfg_mask);
	ip->saddr = new;
	ip->check = csum_replace(ip->check, old, new);
	if (check && sport) {
		oport = *sport;
		nport = bpf_htons(1024 + (r >> 16) % 64000);
		*sport = nport;
		*check = csum_replace(*check, old, new);
		*check = csum_replace(*check, oport, nport);
	} else {
		/* a later fragment: a new datagram id for each */
		oport = ip->id;
		nport = (__u16)(r >> 16);
		ip->id = nport;
		ip->check = csum_replace(ip->check, oport, nport);
	}
	count(0);
	return bpf_redirect(cfg_ifindex, 0);
}

SEC("xdp")
int
flood_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if ((ip->daddr & cfg_sink_mask) == cfg_sink_net ||
	    ip->daddr == cfg_sink_host) {
		count(2);
		return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
