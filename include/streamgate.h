/*
 * streamgate.h: the only contract between bpf/ (the XDP program) and daemon/
 * (the control tool and, later, the daemon).  Map names, key and value
 * layouts, indices and limits live here and nowhere else.
 *
 * Every map is pinned by name (LIBBPF_PIN_BY_NAME) under SG_PIN_DIR, where
 * iproute2 pins too when the object is attached with
 * `ip link set dev DEV xdp obj build/streamgate.bpf.o sec xdp`.
 *
 * Bump SG_LAYOUT_VERSION whenever a map's type, key, value or size changes:
 * the control tool refuses pinned maps written by another layout.
 */
#ifndef STREAMGATE_H
#define STREAMGATE_H

#include <linux/types.h>

#define SG_LAYOUT_VERSION	1
#define SG_PIN_DIR		"/sys/fs/bpf/xdp/globals"

/* Map names (all start with sg_, at most 15 characters: BPF_OBJ_NAME_LEN). */
#define SG_MAP_CONFIG		"sg_config"	/* array[1] of struct sg_config */
#define SG_MAP_PORTS		"sg_ports"	/* array[SG_PORT_WORDS] of __u64 bitmap */
#define SG_MAP_EXACT4		"sg_exact4"	/* array[2 * SG_X4_BUCKETS] of sg_x4_bucket */
#define SG_MAP_ALLOW4		"sg_allow4"	/* hash: __u32 addr (net order) -> region */
#define SG_MAP_ALLOW6		"sg_allow6"	/* hash: struct sg_in6 -> region */
#define SG_MAP_LPM4		"sg_lpm4"	/* lpm trie: struct sg_lpm4_key -> region */
#define SG_MAP_LPM6		"sg_lpm6"	/* lpm trie: struct sg_lpm6_key -> region */
#define SG_MAP_PASS		"sg_pass"	/* percpu array[SG_MAX_REGIONS] of sg_counter */
#define SG_MAP_DROP		"sg_drop"	/* percpu array[SG_DROP_MAX] of sg_counter */
#define SG_MAP_SKIP		"sg_skip"	/* percpu array[SG_SKIP_MAX] of sg_counter */
#define SG_MAP_REGIONS		"sg_regions"	/* array[SG_MAX_REGIONS] of sg_region_name */

#define SG_MAX_REGIONS		64	/* region ids are 0 .. SG_MAX_REGIONS-1 */
#define SG_REGION_NAME_LEN	32
#define SG_MAX_EXACT		16384	/* /128 entries; /32 that spill (sg_allow4) */
#define SG_MAX_PREFIX		16384	/* shorter prefixes, per family */
#define SG_PORT_WORDS		1024	/* 65536 ports / 64 bits */
#define SG_DEFAULT_PORT		443	/* protected until the first sync */
#define SG_MAX_EXTHDR		8	/* IPv6 extension headers walked */

enum sg_mode {
	SG_MODE_PORTS	= 0,	/* only TCP to a protected port is checked */
	SG_MODE_STRICT	= 1,	/* every IPv4/IPv6 packet is checked */
};

/* sg_config.flags: which optional lookups hold entries (skipped when empty) */
#define SG_CF_LPM4	(1u << 0)
#define SG_CF_LPM6	(1u << 1)
#define SG_CF_SPILL4	(1u << 2)	/* sg_allow4 holds hosts sg_exact4 could not */

/*
 * IPv4 hosts (/32) live in sg_exact4: an array of buckets, each a cache line
 * of SG_X4_SLOTS addresses.  An array lookup is inlined by the verifier,
 * where a hash map lookup is a kernel function call: on the hot path that
 * call costs more than everything else the program does.  The bucket of an
 * address is a multiplicative hash of it; a host that finds its bucket full
 * goes to the sg_allow4 hash map instead (SG_CF_SPILL4).
 *
 * The array holds two halves of SG_X4_BUCKETS; sg_config.x4_half says which
 * one the program reads.  The control tool writes the other half whole,
 * then flips x4_half: a sync replaces the host table in one step.
 */
#define SG_X4_BITS	12
#define SG_X4_BUCKETS	(1u << SG_X4_BITS)
#define SG_X4_SLOTS	8

struct sg_x4_bucket {
	__u32 addr[SG_X4_SLOTS];	/* network byte order */
	__u8  tag[SG_X4_SLOTS];		/* region id + 1; 0: empty slot */
	__u8  pad[24];			/* one 64-byte cache line */
};

/* Bucket index (within a half) of an IPv4 address in network byte order. */
static inline __u32
sg_x4_bucket(__u32 addr)
{
	return (addr * 0x9E3779B1u) >> (32 - SG_X4_BITS);
}

/*
 * version == 0 means the maps were never filled: the program then protects
 * SG_DEFAULT_PORT in ports mode with an empty allowlist (fail-closed).
 */
struct sg_config {
	__u32 version;		/* SG_LAYOUT_VERSION once synced */
	__u32 mode;		/* enum sg_mode */
	__u32 flags;		/* SG_CF_* */
	__u32 generation;	/* bumped by every sync, for operators */
	__u32 x4_half;		/* 0 or 1: the live half of sg_exact4 */
	__u32 pad;
};

struct sg_in6 {
	__u8 addr[16];
};

struct sg_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct sg_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct sg_counter {
	__u64 packets;
	__u64 bytes;
};

struct sg_region_name {
	char name[SG_REGION_NAME_LEN];	/* NUL-terminated; "" for unused ids */
};

/* sg_drop indices: why a packet was dropped. */
enum sg_drop_reason {
	SG_DROP_NOT_ALLOWED	= 0,	/* IPv4 source in no enabled region */
	SG_DROP_NOT_ALLOWED6	= 1,	/* IPv6 source in no enabled region */
	SG_DROP_FRAGMENT	= 2,	/* strict: non-first fragment from outside */
	SG_DROP_MALFORMED	= 3,	/* too short/invalid to prove it harmless */
	SG_DROP_MAX
};

/* sg_skip indices: why a packet passed without an allowlist lookup. */
enum sg_skip_reason {
	SG_SKIP_PORT		= 0,	/* ports mode: not TCP to a protected port */
	SG_SKIP_NON_IP		= 1,	/* neither IPv4 nor IPv6 (nor ARP) */
	SG_SKIP_ARP_ND		= 2,	/* ARP, IPv6 neighbour discovery / MLD */
	SG_SKIP_FRAGMENT	= 3,	/* ports mode: non-first fragment */
	SG_SKIP_MAX
};

#endif /* STREAMGATE_H */
