/*
 * test_xdp.c: the XDP program (build/streamgate.bpf.o) run packet by packet
 * through BPF_PROG_TEST_RUN.  Nothing is attached to any interface and
 * nothing is pinned: every test loads a fresh copy of the object with its
 * maps unpinned, fills the maps the way the control tool would, and checks
 * the verdict of each packet and, after each packet, every counter of
 * sg_pass, sg_drop and sg_skip against a shadow kept here.
 *
 * Needs root (or CAP_BPF + CAP_NET_ADMIN); without it the group setup fails.
 * The object path: $STREAMGATE_BPF_OBJ, default build/streamgate.bpf.o.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "filter.h"
#include "streamgate.h"
#include "pkt.h"

#define FRAME_MAX	1600

/* ---- the published Stream addresses ---- */

enum {
	R_US_EAST = 0, R_EU_WEST, R_SYDNEY, R_MUMBAI, R_SINGAPORE, R_OHIO,
	R_CANADA, R_OREGON, R_NREGIONS
};

static const char *const region_names[R_NREGIONS] = {
	"us-east", "eu-west", "sydney", "mumbai", "singapore", "ohio",
	"canada", "oregon",
};

static const struct {
	const char	*addr;
	__u32		 region;
} stream[] = {
	{ "34.225.10.29",	R_US_EAST },
	{ "34.198.125.61",	R_US_EAST },
	{ "52.22.78.160",	R_US_EAST },
	{ "3.215.161.238",	R_US_EAST },
	{ "52.212.14.212",	R_EU_WEST },
	{ "52.17.43.232",	R_EU_WEST },
	{ "34.241.110.177",	R_EU_WEST },
	{ "54.252.193.245",	R_SYDNEY },
	{ "13.55.254.141",	R_SYDNEY },
	{ "3.24.48.104",	R_SYDNEY },
	{ "65.1.48.87",		R_MUMBAI },
	{ "15.206.221.25",	R_MUMBAI },
	{ "13.233.48.78",	R_MUMBAI },
	{ "13.229.11.158",	R_SINGAPORE },
	{ "52.74.225.150",	R_SINGAPORE },
	{ "52.76.180.70",	R_SINGAPORE },
	{ "3.14.163.216",	R_OHIO },
	{ "3.15.245.3",		R_OHIO },
	{ "3.141.116.179",	R_OHIO },
	{ "35.183.141.98",	R_CANADA },
	{ "52.60.71.231",	R_CANADA },
	{ "3.97.253.35",	R_CANADA },
	{ "52.25.165.25",	R_OREGON },
	{ "44.237.58.11",	R_OREGON },
	{ "52.10.213.81",	R_OREGON },
};
#define N_STREAM	(sizeof(stream) / sizeof(stream[0]))

#define FOREIGN_A	"203.0.113.9"
#define FOREIGN_B	"198.51.100.7"
#define ALLOWED4	"34.225.10.29"		/* us-east */
#define ALLOWED6	"2001:db8:5::1"		/* put in sg_allow6 by tests */
#define FOREIGN6	"2001:db8:bad::9"
#define R_ALLOW		8			/* region id of --allow entries */
#define R_V6		3			/* region id used for ALLOWED6 */

/* ---- loaded object and shadow counters ---- */

enum kind { K_PASS = 0, K_DROP, K_SKIP, K_MAX };
static const char *const kind_names[K_MAX] = { "sg_pass", "sg_drop", "sg_skip" };
static const __u32 kind_len[K_MAX] = { SG_MAX_REGIONS, SG_DROP_MAX, SG_SKIP_MAX };

static struct {
	struct bpf_object	*obj;
	int			 prog;
	int			 config, ports, allow4, allow6, lpm4, lpm6, exact4;
	int			 regions;
	int			 ctr[K_MAX];
	int			 ncpus;
	struct sg_counter	 shadow[K_MAX][SG_MAX_REGIONS];
	unsigned long		 runs;
} T;

static char libbpf_log[1 << 16];
static size_t libbpf_log_len;

static int
libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int n;

	if (level == LIBBPF_DEBUG || libbpf_log_len >= sizeof(libbpf_log) - 1)
		return 0;
	n = vsnprintf(libbpf_log + libbpf_log_len,
	    sizeof(libbpf_log) - libbpf_log_len, fmt, ap);
	if (n > 0)
		libbpf_log_len += (size_t)n;
	if (libbpf_log_len > sizeof(libbpf_log) - 1)
		libbpf_log_len = sizeof(libbpf_log) - 1;
	return 0;
}

static const char *
obj_path(void)
{
	const char *p = getenv("STREAMGATE_BPF_OBJ");

	return p && *p ? p : "build/streamgate.bpf.o";
}

static int
map_fd(const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(T.obj, name);

	return m ? bpf_map__fd(m) : -1;
}

/* Open and load a fresh object; 0 or -1 with the reason on stderr. */
static int
load_object(void)
{
	struct bpf_program *prog;
	struct bpf_map *m;
	int err, i;

	libbpf_log_len = 0;
	libbpf_log[0] = '\0';
	T.obj = bpf_object__open_file(obj_path(), NULL);
	if (!T.obj) {
		fprintf(stderr, "test_xdp: cannot open %s: %s\n%s", obj_path(),
		    strerror(errno), libbpf_log);
		return -1;
	}
	bpf_object__for_each_map(m, T.obj) {
		if (bpf_map__set_pin_path(m, NULL)) {
			fprintf(stderr, "test_xdp: cannot unpin %s\n",
			    bpf_map__name(m));
			goto fail;
		}
	}
	err = bpf_object__load(T.obj);
	if (err) {
		fprintf(stderr, "test_xdp: loading %s failed: %s (root and a "
		    "BPF-capable kernel are required)\n%s", obj_path(),
		    strerror(-err), libbpf_log);
		goto fail;
	}
	prog = bpf_object__find_program_by_name(T.obj, "streamgate_xdp");
	T.prog = prog ? bpf_program__fd(prog) : -1;
	T.config = map_fd(SG_MAP_CONFIG);
	T.ports = map_fd(SG_MAP_PORTS);
	T.allow4 = map_fd(SG_MAP_ALLOW4);
	T.exact4 = map_fd(SG_MAP_EXACT4);
	T.allow6 = map_fd(SG_MAP_ALLOW6);
	T.lpm4 = map_fd(SG_MAP_LPM4);
	T.lpm6 = map_fd(SG_MAP_LPM6);
	T.regions = map_fd(SG_MAP_REGIONS);
	T.ctr[K_PASS] = map_fd(SG_MAP_PASS);
	T.ctr[K_DROP] = map_fd(SG_MAP_DROP);
	T.ctr[K_SKIP] = map_fd(SG_MAP_SKIP);
	if (T.prog < 0 || T.config < 0 || T.ports < 0 || T.allow4 < 0 ||
	    T.exact4 < 0 ||
	    T.allow6 < 0 || T.lpm4 < 0 || T.lpm6 < 0 || T.regions < 0) {
		fprintf(stderr, "test_xdp: %s lacks the program or a map of "
		    "include/streamgate.h\n", obj_path());
		goto fail;
	}
	for (i = 0; i < K_MAX; i++)
		if (T.ctr[i] < 0) {
			fprintf(stderr, "test_xdp: %s lacks %s\n", obj_path(),
			    kind_names[i]);
			goto fail;
		}
	memset(T.shadow, 0, sizeof(T.shadow));
	T.runs = 0;
	return 0;
fail:
	bpf_object__close(T.obj);
	T.obj = NULL;
	return -1;
}

static int
group_setup(void **state)
{
	(void)state;
	libbpf_set_print(libbpf_quiet);
	if (geteuid() != 0) {
		fprintf(stderr, "test_xdp: must run as root (BPF_PROG_LOAD and "
		    "BPF_PROG_TEST_RUN); refusing to skip\n");
		return -1;
	}
	T.ncpus = libbpf_num_possible_cpus();
	if (T.ncpus <= 0) {
		fprintf(stderr, "test_xdp: libbpf_num_possible_cpus: %d\n",
		    T.ncpus);
		return -1;
	}
	/* Prove once that the object loads, so a broken build fails here. */
	if (load_object())
		return -1;
	bpf_object__close(T.obj);
	T.obj = NULL;
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	return load_object();
}

static int
teardown(void **state)
{
	(void)state;
	bpf_object__close(T.obj);
	T.obj = NULL;
	return 0;
}

/* ---- map filling, as the control tool does ---- */

static __u32
ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		print_error("bad IPv4 literal %s\n", s);
		fail();
	}
	return a.s_addr;
}

static void
ip6(const char *s, __u8 out[16])
{
	if (inet_pton(AF_INET6, s, out) != 1) {
		print_error("bad IPv6 literal %s\n", s);
		fail();
	}
}

static void
set_config(__u32 version, __u32 mode, __u32 flags)
{
	struct sg_config c = {
		.version = version, .mode = mode, .flags = flags,
		.generation = 1,
	};
	__u32 k = 0;

	assert_int_equal(bpf_map_update_elem(T.config, &k, &c, BPF_ANY), 0);
}

static void
set_ports(const __u16 *ports, size_t n)
{
	__u64 words[SG_PORT_WORDS];
	__u32 k;
	size_t i;

	memset(words, 0, sizeof(words));
	for (i = 0; i < n; i++)
		words[ports[i] >> 6] |= 1ULL << (ports[i] & 63);
	for (k = 0; k < SG_PORT_WORDS; k++)
		assert_int_equal(bpf_map_update_elem(T.ports, &k, &words[k],
		    BPF_ANY), 0);
}

/* An IPv4 host into half 0 of sg_exact4 (the half set_config leaves live). */
static void
allow4(const char *addr, __u32 region)
{
	__u32 a = ip4(addr), k = sg_x4_bucket(a);
	struct sg_x4_bucket b;
	int s;

	assert_int_equal(bpf_map_lookup_elem(T.exact4, &k, &b), 0);
	for (s = 0; s < SG_X4_SLOTS && b.tag[s] && b.addr[s] != a; s++)
		;
	assert_true(s < SG_X4_SLOTS);
	b.addr[s] = a;
	b.tag[s] = (__u8)(region + 1);
	assert_int_equal(bpf_map_update_elem(T.exact4, &k, &b, BPF_ANY), 0);
}

static void
allow6(const char *addr, __u32 region)
{
	struct sg_in6 k;

	ip6(addr, k.addr);
	assert_int_equal(bpf_map_update_elem(T.allow6, &k, &region, BPF_ANY), 0);
}

static void
lpm4(const char *addr, __u32 plen, __u32 region)
{
	struct sg_lpm4_key k = { .prefixlen = plen };
	__u32 a = ip4(addr);

	memcpy(k.addr, &a, 4);
	assert_int_equal(bpf_map_update_elem(T.lpm4, &k, &region, BPF_ANY), 0);
}

static void
lpm6(const char *addr, __u32 plen, __u32 region)
{
	struct sg_lpm6_key k = { .prefixlen = plen };

	ip6(addr, k.addr);
	assert_int_equal(bpf_map_update_elem(T.lpm6, &k, &region, BPF_ANY), 0);
}

static void
set_region_names(void)
{
	struct sg_region_name n;
	__u32 i;

	for (i = 0; i < R_NREGIONS; i++) {
		memset(&n, 0, sizeof(n));
		snprintf(n.name, sizeof(n.name), "%s", region_names[i]);
		assert_int_equal(bpf_map_update_elem(T.regions, &i, &n,
		    BPF_ANY), 0);
	}
	memset(&n, 0, sizeof(n));
	snprintf(n.name, sizeof(n.name), "allow");
	i = R_ALLOW;
	assert_int_equal(bpf_map_update_elem(T.regions, &i, &n, BPF_ANY), 0);
}

/*
 * A sync: the Stream addresses of the regions in mask, ports (default
 * {443}), the given mode and LPM flags, version SG_LAYOUT_VERSION.
 */
static void
sync_maps(unsigned mask, __u32 mode, __u32 flags, const __u16 *ports,
    size_t nports)
{
	static const __u16 def_port[] = { 443 };
	size_t i;

	for (i = 0; i < N_STREAM; i++)
		if (mask & (1u << stream[i].region))
			allow4(stream[i].addr, stream[i].region);
	set_region_names();
	if (!ports) {
		ports = def_port;
		nports = 1;
	}
	set_ports(ports, nports);
	set_config(SG_LAYOUT_VERSION, mode, flags);
}

#define ALL_REGIONS	((1u << R_NREGIONS) - 1)

/* ---- running packets ---- */

static void
check_counters(const char *what, const char *file, int line)
{
	struct sg_counter v[T.ncpus];
	int k, c, bad = 0;
	__u32 i;

	for (k = 0; k < K_MAX; k++) {
		for (i = 0; i < kind_len[k]; i++) {
			__u64 p = 0, b = 0;

			memset(v, 0, sizeof(v));
			if (bpf_map_lookup_elem(T.ctr[k], &i, v)) {
				print_error("%s: lookup %s[%u]: %s\n", what,
				    kind_names[k], i, strerror(errno));
				_fail(file, line);
			}
			for (c = 0; c < T.ncpus; c++) {
				p += v[c].packets;
				b += v[c].bytes;
			}
			if (p != T.shadow[k][i].packets ||
			    b != T.shadow[k][i].bytes) {
				print_error("%s: %s[%u] = %llu packets %llu bytes, "
				    "expected %llu packets %llu bytes\n", what,
				    kind_names[k], i, (unsigned long long)p,
				    (unsigned long long)b,
				    (unsigned long long)T.shadow[k][i].packets,
				    (unsigned long long)T.shadow[k][i].bytes);
				bad = 1;
			}
		}
	}
	if (bad)
		_fail(file, line);
}

/*
 * Run one frame; returns the XDP action, or -errno if the kernel refused.
 * BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header (EINVAL,
 * also when they sit behind XDP metadata), as bpf_xdp_adjust_head/tail refuse
 * to make one: the program's checks for those lengths cannot be run here.
 */
static int
run_frame(const void *frame, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .repeat = 1);
	int err;

	if (len > FRAME_MAX)
		return -EMSGSIZE;
	o.data_in = frame;
	o.data_size_in = (__u32)len;
	err = bpf_prog_test_run_opts(T.prog, &o);
	if (err)
		return err < 0 ? err : -EINVAL;
	T.runs++;
	return (int)o.retval;
}

/* A frame shorter than 14 bytes: refused by the kernel, nothing counted. */
static void
expect_refused(const char *what, const void *frame, size_t len,
    const char *file, int line)
{
	int got = run_frame(frame, len);

	if (got != -EINVAL) {
		print_error("%s (len %zu): expected EINVAL from "
		    "BPF_PROG_TEST_RUN, got %d\n", what, len, got);
		_fail(file, line);
	}
	check_counters(what, file, line);
}

static const char *
action_name(int a)
{
	switch (a) {
	case XDP_ABORTED:	return "XDP_ABORTED";
	case XDP_DROP:		return "XDP_DROP";
	case XDP_PASS:		return "XDP_PASS";
	case XDP_TX:		return "XDP_TX";
	case XDP_REDIRECT:	return "XDP_REDIRECT";
	default:		return "?";
	}
}

static void
expect_run(const char *what, const void *frame, size_t len, int action,
    enum kind kind, __u32 idx, const char *file, int line)
{
	int got = run_frame(frame, len);

	if (got < 0) {
		print_error("%s (len %zu): BPF_PROG_TEST_RUN failed: %s\n",
		    what, len, strerror(-got));
		_fail(file, line);
	}
	if (got == XDP_ABORTED || got != action) {
		print_error("%s (len %zu): got %s, expected %s\n", what, len,
		    action_name(got), action_name(action));
		_fail(file, line);
	}
	if (idx >= kind_len[kind]) {
		print_error("%s: bad expected index %u\n", what, idx);
		_fail(file, line);
	}
	T.shadow[kind][idx].packets++;
	T.shadow[kind][idx].bytes += len;
	check_counters(what, file, line);
}

#define EXPECT(what, f, len, action, kind, idx) \
	expect_run(what, f, len, action, kind, idx, __FILE__, __LINE__)
#define EXPECT_PASS(what, f, len, region) \
	EXPECT(what, f, len, XDP_PASS, K_PASS, region)
#define EXPECT_DROP(what, f, len, reason) \
	EXPECT(what, f, len, XDP_DROP, K_DROP, reason)
#define EXPECT_SKIP(what, f, len, reason) \
	EXPECT(what, f, len, XDP_PASS, K_SKIP, reason)

/* ---- packet descriptions ---- */

static void
spec4(struct pkt_spec *s, const char *src, __u16 dport)
{
	memset(s, 0, sizeof(*s));
	s->l3 = PKT_L3_IPV4;
	s->saddr4 = ip4(src);
	s->daddr4 = ip4("192.0.2.10");
	s->l4 = PKT_L4_TCP;
	s->dport = dport;
}

static void
spec6(struct pkt_spec *s, const char *src, __u16 dport)
{
	memset(s, 0, sizeof(*s));
	s->l3 = PKT_L3_IPV6;
	ip6(src, s->saddr6);
	ip6("2001:db8::10", s->daddr6);
	s->l4 = PKT_L4_TCP;
	s->dport = dport;
}

static size_t
build(const struct pkt_spec *s, __u8 *f)
{
	size_t n = pkt_build(s, f, FRAME_MAX);

	assert_true(n > 0);
	return n;
}

static void
add_ext(struct pkt_spec *s, __u8 type, __u8 len8, __u16 off, __u8 more)
{
	assert_true(s->n_ext < PKT_MAX_EXT);
	s->ext[s->n_ext].type = type;
	s->ext[s->n_ext].len8 = len8;
	s->ext[s->n_ext].frag_off = off;
	s->ext[s->n_ext].more = more;
	s->n_ext++;
}

/* ---- tests: the allowlist ---- */

static void
test_every_stream_address_passes_443_counted_in_its_region(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[96];
	size_t i, n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	for (i = 0; i < N_STREAM; i++) {
		spec4(&s, stream[i].addr, 443);
		s.payload = i;		/* distinct lengths: bytes are exact */
		n = build(&s, f);
		snprintf(what, sizeof(what), "%s (%s) TCP/443", stream[i].addr,
		    region_names[stream[i].region]);
		EXPECT_PASS(what, f, n, stream[i].region);
	}
	/* And in strict mode, to any port. */
	set_config(SG_LAYOUT_VERSION, SG_MODE_STRICT, 0);
	for (i = 0; i < N_STREAM; i++) {
		spec4(&s, stream[i].addr, 22);
		n = build(&s, f);
		snprintf(what, sizeof(what), "strict %s TCP/22", stream[i].addr);
		EXPECT_PASS(what, f, n, stream[i].region);
	}
}

static void
test_foreign_ipv4_to_443_dropped_not_allowed(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	spec4(&s, FOREIGN_A, 443);
	n = build(&s, f);
	EXPECT_DROP(FOREIGN_A " TCP/443", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, FOREIGN_B, 443);
	s.payload = 100;
	n = build(&s, f);
	EXPECT_DROP(FOREIGN_B " TCP/443", f, n, SG_DROP_NOT_ALLOWED);
	/* A neighbour of a Stream address is not Stream. */
	spec4(&s, "34.225.10.30", 443);
	n = build(&s, f);
	EXPECT_DROP("34.225.10.30 TCP/443", f, n, SG_DROP_NOT_ALLOWED);
	/* The destination does not matter: a Stream address as destination. */
	spec4(&s, FOREIGN_A, 443);
	s.daddr4 = ip4(ALLOWED4);
	n = build(&s, f);
	EXPECT_DROP("foreign to a Stream daddr", f, n, SG_DROP_NOT_ALLOWED);
}

static void
test_region_narrowing_only_ohio_loaded(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[96];
	size_t i, n;

	(void)state;
	sync_maps(1u << R_OHIO, SG_MODE_PORTS, 0, NULL, 0);
	for (i = 0; i < N_STREAM; i++) {
		spec4(&s, stream[i].addr, 443);
		n = build(&s, f);
		snprintf(what, sizeof(what), "ohio-only: %s (%s)",
		    stream[i].addr, region_names[stream[i].region]);
		if (stream[i].region == R_OHIO)
			EXPECT_PASS(what, f, n, R_OHIO);
		else
			EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED);
	}
}

static void
test_region_id_out_of_range_is_not_allowed(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(0, SG_MODE_PORTS, 0, NULL, 0);
	allow4(FOREIGN_A, SG_MAX_REGIONS);
	allow4(FOREIGN_B, SG_MAX_REGIONS - 1);
	spec4(&s, FOREIGN_A, 443);
	n = build(&s, f);
	EXPECT_DROP("region id SG_MAX_REGIONS", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, FOREIGN_B, 443);
	n = build(&s, f);
	EXPECT_PASS("region id SG_MAX_REGIONS-1", f, n, SG_MAX_REGIONS - 1);
}

static void
test_lpm4_prefix_used_when_flag_set(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, SG_CF_LPM4, NULL, 0);
	lpm4("198.51.100.0", 24, R_ALLOW);
	lpm4("10.0.0.0", 8, R_CANADA);
	lpm4("10.1.0.0", 16, R_OREGON);
	spec4(&s, "198.51.100.7", 443);
	n = build(&s, f);
	EXPECT_PASS("198.51.100.7 in 198.51.100.0/24", f, n, R_ALLOW);
	spec4(&s, "198.51.100.255", 443);
	n = build(&s, f);
	EXPECT_PASS("198.51.100.255 in /24", f, n, R_ALLOW);
	spec4(&s, "198.51.101.1", 443);
	n = build(&s, f);
	EXPECT_DROP("198.51.101.1 outside /24", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, "198.51.99.255", 443);
	n = build(&s, f);
	EXPECT_DROP("198.51.99.255 outside /24", f, n, SG_DROP_NOT_ALLOWED);
	/* Longest prefix wins. */
	spec4(&s, "10.1.2.3", 443);
	n = build(&s, f);
	EXPECT_PASS("10.1.2.3: /16 over /8", f, n, R_OREGON);
	spec4(&s, "10.2.2.3", 443);
	n = build(&s, f);
	EXPECT_PASS("10.2.2.3: /8", f, n, R_CANADA);
	/* A host entry beats a covering prefix. */
	allow4("10.1.2.4", R_MUMBAI);
	spec4(&s, "10.1.2.4", 443);
	n = build(&s, f);
	EXPECT_PASS("10.1.2.4: host over /16", f, n, R_MUMBAI);
	/* The Stream hosts still pass alongside the trie. */
	spec4(&s, ALLOWED4, 443);
	n = build(&s, f);
	EXPECT_PASS(ALLOWED4 " with LPM on", f, n, R_US_EAST);
}

static void
test_lpm4_trie_skipped_when_flag_clear(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	/* Contract: the trie is only walked when SG_CF_LPM4 says it holds entries. */
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	lpm4("198.51.100.0", 24, R_ALLOW);
	spec4(&s, "198.51.100.7", 443);
	n = build(&s, f);
	EXPECT_DROP("LPM4 entry, flag clear", f, n, SG_DROP_NOT_ALLOWED);
	set_config(SG_LAYOUT_VERSION, SG_MODE_PORTS, SG_CF_LPM4);
	EXPECT_PASS("LPM4 entry, flag set", f, n, R_ALLOW);
	/* The IPv6 flag does not enable the IPv4 trie. */
	set_config(SG_LAYOUT_VERSION, SG_MODE_PORTS, SG_CF_LPM6);
	EXPECT_DROP("LPM4 entry, only LPM6 flag", f, n, SG_DROP_NOT_ALLOWED);
}

static void
test_lpm6_prefix_used_when_flag_set(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, SG_CF_LPM6, NULL, 0);
	lpm6("2001:db8:100::", 48, R_ALLOW);
	spec6(&s, "2001:db8:100::7", 443);
	n = build(&s, f);
	EXPECT_PASS("2001:db8:100::7 in /48", f, n, R_ALLOW);
	spec6(&s, "2001:db8:100:ffff::1", 443);
	n = build(&s, f);
	EXPECT_PASS("2001:db8:100:ffff::1 in /48", f, n, R_ALLOW);
	spec6(&s, "2001:db8:101::1", 443);
	n = build(&s, f);
	EXPECT_DROP("2001:db8:101::1 outside /48", f, n, SG_DROP_NOT_ALLOWED6);
	set_config(SG_LAYOUT_VERSION, SG_MODE_PORTS, SG_CF_LPM4);
	spec6(&s, "2001:db8:100::7", 443);
	n = build(&s, f);
	EXPECT_DROP("LPM6 entry, flag clear", f, n, SG_DROP_NOT_ALLOWED6);
}

static void
test_unconfigured_maps_protect_443_only(void **state)
{
	static const __u16 p8443[] = { 8443 };
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	/* Nothing written at all: config version 0, every map empty. */
	spec4(&s, FOREIGN_A, 443);
	n = build(&s, f);
	EXPECT_DROP("unconfigured: foreign TCP/443", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, ALLOWED4, 443);
	n = build(&s, f);
	EXPECT_DROP("unconfigured: empty allowlist", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, FOREIGN_A, 80);
	n = build(&s, f);
	EXPECT_SKIP("unconfigured: TCP/80", f, n, SG_SKIP_PORT);
	spec6(&s, FOREIGN6, 443);
	n = build(&s, f);
	EXPECT_DROP("unconfigured: IPv6 TCP/443", f, n, SG_DROP_NOT_ALLOWED6);
	spec6(&s, FOREIGN6, 80);
	n = build(&s, f);
	EXPECT_SKIP("unconfigured: IPv6 TCP/80", f, n, SG_SKIP_PORT);
	/* A stale port bitmap is ignored while version is 0. */
	set_ports(p8443, 1);
	set_config(0, SG_MODE_PORTS, 0);
	spec4(&s, FOREIGN_A, 8443);
	n = build(&s, f);
	EXPECT_SKIP("version 0: 8443 not protected", f, n, SG_SKIP_PORT);
	spec4(&s, FOREIGN_A, 443);
	n = build(&s, f);
	EXPECT_DROP("version 0: 443 protected", f, n, SG_DROP_NOT_ALLOWED);
}

/*
 * include/streamgate.h: "version == 0 means the maps were never filled: the
 * program then protects SG_DEFAULT_PORT in ports mode".  So a mode (or
 * flags) left in a version-0 config must not apply.
 */
static void
test_version0_config_is_ports_mode_whatever_its_mode(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	set_config(0, SG_MODE_STRICT, 0);
	spec4(&s, FOREIGN_A, 443);
	n = build(&s, f);
	EXPECT_DROP("version 0, mode strict: 443", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, FOREIGN_A, 80);
	n = build(&s, f);
	EXPECT_SKIP("version 0, mode strict: 80 in ports mode", f, n,
	    SG_SKIP_PORT);
}

static void
test_ports_bitmap_443_and_8443(void **state)
{
	static const __u16 ports[] = { 443, 8443 };
	static const struct { __u16 port; int prot; } c[] = {
		{ 443, 1 }, { 8443, 1 }, { 80, 0 }, { 442, 0 }, { 444, 0 },
		{ 8442, 0 }, { 8444, 0 }, { 0, 0 }, { 65535, 0 }, { 22, 0 },
	};
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[64];
	size_t i, n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, ports, 2);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		spec4(&s, FOREIGN_A, c[i].port);
		n = build(&s, f);
		snprintf(what, sizeof(what), "foreign TCP/%u", c[i].port);
		if (c[i].prot)
			EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED);
		else
			EXPECT_SKIP(what, f, n, SG_SKIP_PORT);
		spec6(&s, FOREIGN6, c[i].port);
		n = build(&s, f);
		snprintf(what, sizeof(what), "foreign6 TCP/%u", c[i].port);
		if (c[i].prot)
			EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED6);
		else
			EXPECT_SKIP(what, f, n, SG_SKIP_PORT);
		spec4(&s, "52.10.213.81", c[i].port);
		n = build(&s, f);
		snprintf(what, sizeof(what), "oregon TCP/%u", c[i].port);
		if (c[i].prot)
			EXPECT_PASS(what, f, n, R_OREGON);
		else
			EXPECT_SKIP(what, f, n, SG_SKIP_PORT);
	}
}

static void
test_ports_bitmap_word_edges(void **state)
{
	static const __u16 ports[] = { 0, 63, 64, 65535 };
	static const __u16 probe[] = { 0, 63, 64, 65535, 1, 62, 65, 65534 };
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[64];
	size_t i, n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, ports, 4);
	for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		spec4(&s, FOREIGN_A, probe[i]);
		n = build(&s, f);
		snprintf(what, sizeof(what), "foreign TCP/%u", probe[i]);
		if (i < 4)
			EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED);
		else
			EXPECT_SKIP(what, f, n, SG_SKIP_PORT);
	}
}

/* ---- tests: L2 ---- */

static void
test_vlan_and_qinq_allowed_pass_foreign_dropped(void **state)
{
	static const struct { int n; __u16 tpid[2]; const char *name; } v[] = {
		{ 1, { PKT_ETH_P_8021Q, 0 }, "802.1Q" },
		{ 1, { PKT_ETH_P_8021AD, 0 }, "802.1ad" },
		{ 2, { PKT_ETH_P_8021AD, PKT_ETH_P_8021Q }, "QinQ 88a8/8100" },
		{ 2, { PKT_ETH_P_8021Q, PKT_ETH_P_8021Q }, "QinQ 8100/8100" },
	};
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[96];
	size_t i, n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		spec4(&s, "3.97.253.35", 443);
		s.nvlan = v[i].n;
		memcpy(s.tpid, v[i].tpid, sizeof(s.tpid));
		n = build(&s, f);
		snprintf(what, sizeof(what), "%s allowed", v[i].name);
		EXPECT_PASS(what, f, n, R_CANADA);
		spec4(&s, FOREIGN_B, 443);
		s.nvlan = v[i].n;
		memcpy(s.tpid, v[i].tpid, sizeof(s.tpid));
		n = build(&s, f);
		snprintf(what, sizeof(what), "%s foreign", v[i].name);
		EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED);
		spec4(&s, FOREIGN_B, 80);
		s.nvlan = v[i].n;
		memcpy(s.tpid, v[i].tpid, sizeof(s.tpid));
		n = build(&s, f);
		snprintf(what, sizeof(what), "%s foreign TCP/80", v[i].name);
		EXPECT_SKIP(what, f, n, SG_SKIP_PORT);
		spec6(&s, ALLOWED6, 443);
		s.nvlan = v[i].n;
		memcpy(s.tpid, v[i].tpid, sizeof(s.tpid));
		n = build(&s, f);
		snprintf(what, sizeof(what), "%s allowed6", v[i].name);
		EXPECT_PASS(what, f, n, R_V6);
		spec6(&s, FOREIGN6, 443);
		s.nvlan = v[i].n;
		memcpy(s.tpid, v[i].tpid, sizeof(s.tpid));
		n = build(&s, f);
		snprintf(what, sizeof(what), "%s foreign6", v[i].name);
		EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED6);
	}
}

static void
test_vlan_frame_cut_inside_tag_is_malformed(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[96];
	size_t n, len;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	/* One tag: the tag (TCI + inner type) spans bytes 14..17. */
	spec4(&s, ALLOWED4, 443);
	s.nvlan = 1;
	n = build(&s, f);
	for (len = 14; len < 18; len++) {
		snprintf(what, sizeof(what), "802.1Q cut at %zu", len);
		EXPECT_DROP(what, f, len, SG_DROP_MALFORMED);
	}
	/* Two tags: the inner one spans 18..21. */
	s.nvlan = 2;
	n = build(&s, f);
	for (len = 14; len < 22; len++) {
		snprintf(what, sizeof(what), "QinQ cut at %zu", len);
		EXPECT_DROP(what, f, len, SG_DROP_MALFORMED);
	}
	/* Tags complete, IP header missing: the source is unknown. */
	snprintf(what, sizeof(what), "QinQ, no IP header");
	EXPECT_DROP(what, f, 22, SG_DROP_MALFORMED);
	EXPECT_PASS("QinQ full, allowed", f, n, R_US_EAST);
}

/* A third tag hides what is inside: it proves nothing, so it is dropped,
 * in ports mode too, even from an address that would be allowed. */
static void
test_three_vlan_tags_are_malformed(void **state)
{
	__u8 f[FRAME_MAX], g[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	spec4(&s, ALLOWED4, 443);
	s.nvlan = 2;
	n = build(&s, f);
	/* splice an extra 802.1Q tag (VLAN 300) after the MAC addresses */
	memcpy(g, f, 12);
	g[12] = 0x81; g[13] = 0x00; g[14] = 0x01; g[15] = 0x2c;
	memcpy(g + 16, f + 12, n - 12);
	EXPECT_DROP("three tags, allowed source", g, n + 4, SG_DROP_MALFORMED);
	spec4(&s, FOREIGN_A, 80);
	s.nvlan = 2;
	n = build(&s, f);
	memcpy(g, f, 12);
	g[12] = 0x81; g[13] = 0x00; g[14] = 0x01; g[15] = 0x2c;
	memcpy(g + 16, f + 12, n - 12);
	EXPECT_DROP("three tags, foreign to port 80", g, n + 4, SG_DROP_MALFORMED);
}

/* ---- the control tool's own sync (daemon/core/filter_sync.c) on these maps ---- */

static void
sync_spec(struct filter_spec *spec)
{
	struct filter_maps fm;
	int i;

	for (i = 0; i < FM_COUNT; i++) {
		fm.fd[i] = map_fd(filter_map_name(i));
		assert_true(fm.fd[i] >= 0);
	}
	assert_int_equal(filter_sync(&fm, spec), 0);
}

static struct sg_config
config_now(void)
{
	struct sg_config c;
	__u32 k = 0;

	assert_int_equal(bpf_map_lookup_elem(T.config, &k, &c), 0);
	return c;
}

/* What `streamgate filter sync` writes: every Stream address passes in its
 * region, foreign ones are dropped, and a second sync flips the host table. */
static void
test_sync_builtin_table(void **state)
{
	struct filter_spec spec;
	struct pkt_spec s;
	__u8 f[FRAME_MAX];
	char what[96];
	size_t i, n;

	(void)state;
	filter_spec_init(&spec);
	assert_int_equal(regions_builtin(&spec.table), 0);
	sync_spec(&spec);
	assert_int_equal(config_now().x4_half, 1);
	assert_int_equal(config_now().flags, 0);
	for (i = 0; i < N_STREAM; i++) {
		spec4(&s, stream[i].addr, 443);
		n = build(&s, f);
		snprintf(what, sizeof(what), "synced %s", stream[i].addr);
		EXPECT_PASS(what, f, n, stream[i].region);
	}
	spec4(&s, FOREIGN_A, 443);
	n = build(&s, f);
	EXPECT_DROP("synced, foreign", f, n, SG_DROP_NOT_ALLOWED);

	/* narrow to ohio: the other regions' hosts are gone after the flip */
	assert_int_equal(regions_select(&spec.table, "ohio", NULL, 0), 0);
	sync_spec(&spec);
	assert_int_equal(config_now().x4_half, 0);
	for (i = 0; i < N_STREAM; i++) {
		spec4(&s, stream[i].addr, 443);
		n = build(&s, f);
		snprintf(what, sizeof(what), "ohio only, %s", stream[i].addr);
		if (stream[i].region == R_OHIO)
			EXPECT_PASS(what, f, n, R_OHIO);
		else
			EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED);
	}
	filter_spec_free(&spec);
}

/* More hosts than a bucket holds: the rest spill to sg_allow4 and still
 * pass; when they leave, the spill map empties and its flag clears. */
static void
test_sync_full_bucket_spills(void **state)
{
	enum { NHOST = SG_X4_SLOTS + 4 };
	struct filter_spec spec;
	struct pkt_spec s;
	struct cidr c;
	__u32 host[NHOST + 1], a, bucket = 0, key, next;
	__u8 f[FRAME_MAX];
	char txt[INET_ADDRSTRLEN], what[96];
	int found = 0, i, spilled = 0;
	size_t n;

	(void)state;
	/* hosts of 10.0.0.0/8 that share one bucket */
	for (a = 0x0a000001; found < NHOST + 1 && a < 0x0b000000; a++) {
		__u32 net = htonl(a);

		if (found == 0)
			bucket = sg_x4_bucket(net);
		if (sg_x4_bucket(net) == bucket)
			host[found++] = net;
	}
	assert_int_equal(found, NHOST + 1);

	filter_spec_init(&spec);
	for (i = 0; i < NHOST; i++) {
		memset(&c, 0, sizeof(c));
		c.family = AF_INET;
		c.prefixlen = 32;
		memcpy(c.addr, &host[i], 4);
		assert_int_equal(regions_add(&spec.table, REGION_ALLOW, "", &c), 0);
	}
	sync_spec(&spec);
	assert_true(config_now().flags & SG_CF_SPILL4);
	for (key = 0; bpf_map_get_next_key(T.allow4, spilled ? &key : NULL,
	    &next) == 0; key = next)
		spilled++;
	assert_int_equal(spilled, NHOST - SG_X4_SLOTS);
	for (i = 0; i <= NHOST; i++) {
		spec4(&s, inet_ntop(AF_INET, &host[i], txt, sizeof(txt)), 443);
		n = build(&s, f);
		snprintf(what, sizeof(what), "bucket %u host %d (%s)", bucket, i, txt);
		if (i < NHOST)
			EXPECT_PASS(what, f, n, 0);	/* "allow" took id 0 */
		else
			EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED);
	}

	/* keep the first three: no spill left, flag cleared */
	spec.table.n = 3;
	sync_spec(&spec);
	assert_false(config_now().flags & SG_CF_SPILL4);
	assert_int_not_equal(bpf_map_get_next_key(T.allow4, NULL, &next), 0);
	for (i = 0; i < NHOST; i++) {
		spec4(&s, inet_ntop(AF_INET, &host[i], txt, sizeof(txt)), 443);
		n = build(&s, f);
		snprintf(what, sizeof(what), "after narrowing, host %d", i);
		if (i < 3)
			EXPECT_PASS(what, f, n, 0);
		else
			EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED);
	}
	filter_spec_free(&spec);
}

static void
test_arp_passes_in_both_modes(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.l3 = PKT_L3_ARP;
	n = build(&s, f);
	EXPECT_SKIP("ARP, unconfigured", f, n, SG_SKIP_ARP_ND);
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	EXPECT_SKIP("ARP, ports mode", f, n, SG_SKIP_ARP_ND);
	set_config(SG_LAYOUT_VERSION, SG_MODE_STRICT, 0);
	EXPECT_SKIP("ARP, strict mode", f, n, SG_SKIP_ARP_ND);
	s.nvlan = 2;
	n = build(&s, f);
	EXPECT_SKIP("ARP in QinQ, strict mode", f, n, SG_SKIP_ARP_ND);
	/* A truncated ARP body still passes: ARP is never inspected. */
	EXPECT_SKIP("ARP, bare header", f, 22, SG_SKIP_ARP_ND);
}

static void
test_non_ip_ethertype_passes_in_strict_mode(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_buf b;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_STRICT, 0, NULL, 0);
	pkt_init(&b, f, sizeof(f));
	pkt_eth(&b, 0, NULL, 0x88cc);		/* LLDP */
	pkt_payload(&b, 40);
	n = pkt_finish(&b);
	assert_true(n > 0);
	EXPECT_SKIP("LLDP, strict", f, n, SG_SKIP_NON_IP);
	EXPECT_SKIP("LLDP, header only", f, 14, SG_SKIP_NON_IP);
}

/* ---- tests: IPv4 header ---- */

static void
test_ipv4_options_ihl_6_to_15_still_find_port(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[64];
	size_t n;
	int ihl;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	for (ihl = 6; ihl <= 15; ihl++) {
		spec4(&s, FOREIGN_A, 443);
		s.ihl = ihl;
		n = build(&s, f);
		assert_int_equal(n, 14 + ihl * 4 + 20);
		snprintf(what, sizeof(what), "IHL %d foreign TCP/443", ihl);
		EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED);
		spec4(&s, FOREIGN_A, 80);
		s.ihl = ihl;
		n = build(&s, f);
		snprintf(what, sizeof(what), "IHL %d foreign TCP/80", ihl);
		EXPECT_SKIP(what, f, n, SG_SKIP_PORT);
		spec4(&s, "13.229.11.158", 443);
		s.ihl = ihl;
		n = build(&s, f);
		snprintf(what, sizeof(what), "IHL %d singapore TCP/443", ihl);
		EXPECT_PASS(what, f, n, R_SINGAPORE);
	}
}

static void
test_ipv4_ihl_below_5_is_malformed(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[64];
	size_t n;
	int ihl;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	/* 20-byte header and TCP after it, but the IHL field says < 5. */
	for (ihl = 0; ihl < 5; ihl++) {
		spec4(&s, FOREIGN_A, 80);
		n = build(&s, f);
		f[14] = (__u8)(0x40 | ihl);
		snprintf(what, sizeof(what), "IHL %d foreign TCP/80", ihl);
		EXPECT_DROP(what, f, n, SG_DROP_MALFORMED);
		spec4(&s, FOREIGN_A, 443);
		n = build(&s, f);
		f[14] = (__u8)(0x40 | ihl);
		snprintf(what, sizeof(what), "IHL %d foreign TCP/443", ihl);
		EXPECT_DROP(what, f, n, SG_DROP_MALFORMED);
		/* The source was read: an allowed one is let through. */
		spec4(&s, ALLOWED4, 443);
		n = build(&s, f);
		f[14] = (__u8)(0x40 | ihl);
		snprintf(what, sizeof(what), "IHL %d allowed", ihl);
		EXPECT_PASS(what, f, n, R_US_EAST);
	}
}

static void
test_ipv4_bad_version_or_ihl_beyond_frame_is_malformed(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	spec4(&s, FOREIGN_A, 80);
	n = build(&s, f);
	f[14] = (__u8)(0x60 | (f[14] & 0x0f));		/* version 6 */
	EXPECT_DROP("IPv4 ethertype, version 6", f, n, SG_DROP_MALFORMED);
	spec4(&s, FOREIGN_A, 80);
	n = build(&s, f);
	f[14] = 0x4f;					/* IHL 15: 60 bytes */
	EXPECT_DROP("IHL 15 in a 40-byte IP packet", f, n, SG_DROP_MALFORMED);
	/* No L4 protocol other than TCP is parsed in ports mode. */
	spec4(&s, FOREIGN_A, 443);
	s.l4 = PKT_L4_NONE;
	s.next = PKT_IPPROTO_ICMP;
	s.payload = 20;
	n = build(&s, f);
	EXPECT_SKIP("ICMP, ports mode", f, n, SG_SKIP_PORT);
}

/* ---- tests: IPv4 fragments ---- */

static void
test_ipv4_first_fragment_checked_like_any_packet(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	spec4(&s, FOREIGN_A, 443);
	s.frag_off4 = PKT_IP_MF;
	s.payload = 60;
	n = build(&s, f);
	EXPECT_DROP("first fragment foreign 443", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, FOREIGN_A, 80);
	s.frag_off4 = PKT_IP_MF;
	n = build(&s, f);
	EXPECT_SKIP("first fragment foreign 80", f, n, SG_SKIP_PORT);
	spec4(&s, "52.74.225.150", 443);
	s.frag_off4 = PKT_IP_MF;
	n = build(&s, f);
	EXPECT_PASS("first fragment allowed 443", f, n, R_SINGAPORE);
	/* DF is not a fragment. */
	spec4(&s, FOREIGN_A, 443);
	s.frag_off4 = 0x4000;
	n = build(&s, f);
	EXPECT_DROP("DF foreign 443", f, n, SG_DROP_NOT_ALLOWED);
}

static void
test_ipv4_first_fragment_too_short_for_ports_is_malformed(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[64];
	size_t n, cut;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	spec4(&s, FOREIGN_A, 443);
	s.frag_off4 = PKT_IP_MF;
	n = build(&s, f);
	/* 0..3 bytes of TCP: the destination port (bytes 2..3) is not there. */
	for (cut = 0; cut < 4; cut++) {
		snprintf(what, sizeof(what), "first fragment, %zu TCP bytes", cut);
		EXPECT_DROP(what, f, 34 + cut, SG_DROP_MALFORMED);
	}
	EXPECT_DROP("first fragment, 4 TCP bytes", f, 38, SG_DROP_NOT_ALLOWED);
	EXPECT_DROP("first fragment, whole", f, n, SG_DROP_NOT_ALLOWED);
	/* Even aimed at an unprotected port: the port cannot be proven. */
	spec4(&s, FOREIGN_A, 80);
	s.frag_off4 = PKT_IP_MF;
	n = build(&s, f);
	EXPECT_DROP("first fragment to 80, 3 TCP bytes", f, 37,
	    SG_DROP_MALFORMED);
	EXPECT_SKIP("first fragment to 80, 4 TCP bytes", f, 38, SG_SKIP_PORT);
}

static void
test_ipv4_later_fragment_ports_mode_skipped(void **state)
{
	static const __u16 offs[] = { 1, 2, 185, 0x1fff };
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[64];
	size_t i, n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		/* Payload that looks like TCP to 443: still not a header. */
		spec4(&s, FOREIGN_A, 443);
		s.frag_off4 = offs[i] | (i & 1 ? PKT_IP_MF : 0);
		n = build(&s, f);
		snprintf(what, sizeof(what), "later fragment off %u", offs[i]);
		EXPECT_SKIP(what, f, n, SG_SKIP_FRAGMENT);
		spec4(&s, ALLOWED4, 443);
		s.frag_off4 = offs[i];
		n = build(&s, f);
		snprintf(what, sizeof(what), "allowed later fragment off %u",
		    offs[i]);
		EXPECT_SKIP(what, f, n, SG_SKIP_FRAGMENT);
	}
	/* A later fragment with no payload byte at all. */
	spec4(&s, FOREIGN_A, 443);
	s.frag_off4 = 8;
	s.l4 = PKT_L4_NONE;
	n = build(&s, f);
	EXPECT_SKIP("later fragment, empty", f, n, SG_SKIP_FRAGMENT);
}

static void
test_ipv4_later_fragment_strict_mode_needs_allowed_source(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_STRICT, 0, NULL, 0);
	spec4(&s, FOREIGN_A, 443);
	s.frag_off4 = 3 | PKT_IP_MF;
	n = build(&s, f);
	EXPECT_DROP("strict later fragment foreign", f, n, SG_DROP_FRAGMENT);
	spec4(&s, FOREIGN_B, 80);
	s.frag_off4 = 100;
	n = build(&s, f);
	EXPECT_DROP("strict last fragment foreign", f, n, SG_DROP_FRAGMENT);
	spec4(&s, "65.1.48.87", 443);
	s.frag_off4 = 3 | PKT_IP_MF;
	n = build(&s, f);
	EXPECT_PASS("strict later fragment allowed", f, n, R_MUMBAI);
}

/* ---- tests: IPv6 ---- */

static const struct { __u8 type; const char *name; } ext_types[] = {
	{ PKT_IPPROTO_HOPOPTS, "hop-by-hop" },
	{ PKT_IPPROTO_ROUTING, "routing" },
	{ PKT_IPPROTO_DSTOPTS, "dstopts" },
	{ PKT_IPPROTO_FRAGMENT, "fragment(first)" },
	{ PKT_IPPROTO_AH, "AH" },
};
#define N_EXT_TYPES	(sizeof(ext_types) / sizeof(ext_types[0]))

/* Allowed passes, foreign 443 dropped, foreign 80 skipped, with exts. */
static void
check_ipv6_chain(const struct pkt_ext *ext, int n_ext, const char *name)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[160];
	size_t n;

	spec6(&s, ALLOWED6, 443);
	if (n_ext)
		memcpy(s.ext, ext, sizeof(*ext) * (size_t)n_ext);
	s.n_ext = n_ext;
	n = build(&s, f);
	snprintf(what, sizeof(what), "IPv6 [%s] allowed 443", name);
	EXPECT_PASS(what, f, n, R_V6);

	spec6(&s, FOREIGN6, 443);
	if (n_ext)
		memcpy(s.ext, ext, sizeof(*ext) * (size_t)n_ext);
	s.n_ext = n_ext;
	n = build(&s, f);
	snprintf(what, sizeof(what), "IPv6 [%s] foreign 443", name);
	EXPECT_DROP(what, f, n, SG_DROP_NOT_ALLOWED6);

	spec6(&s, FOREIGN6, 80);
	if (n_ext)
		memcpy(s.ext, ext, sizeof(*ext) * (size_t)n_ext);
	s.n_ext = n_ext;
	s.payload = 33;
	n = build(&s, f);
	snprintf(what, sizeof(what), "IPv6 [%s] foreign 80", name);
	EXPECT_SKIP(what, f, n, SG_SKIP_PORT);
}

static void
test_ipv6_each_extension_header_type(void **state)
{
	struct pkt_ext e;
	char name[48];
	size_t i;
	__u8 len8;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	check_ipv6_chain(NULL, 0, "none");
	for (i = 0; i < N_EXT_TYPES; i++) {
		for (len8 = 0; len8 < 3; len8++) {
			memset(&e, 0, sizeof(e));
			e.type = ext_types[i].type;
			e.len8 = len8;
			e.more = e.type == PKT_IPPROTO_FRAGMENT;
			snprintf(name, sizeof(name), "%s len8 %u",
			    ext_types[i].name, len8);
			check_ipv6_chain(&e, 1, name);
		}
	}
}

static void
test_ipv6_extension_header_chains(void **state)
{
	static const struct pkt_ext typical[] = {
		{ PKT_IPPROTO_HOPOPTS, 0, 0, 0 },
		{ PKT_IPPROTO_DSTOPTS, 1, 0, 0 },
		{ PKT_IPPROTO_ROUTING, 2, 0, 0 },
		{ PKT_IPPROTO_FRAGMENT, 0, 0, 1 },
		{ PKT_IPPROTO_AH, 0, 0, 0 },
		{ PKT_IPPROTO_DSTOPTS, 0, 0, 0 },
	};
	struct pkt_ext chain[SG_MAX_EXTHDR];
	char name[64];
	size_t i, j, k;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	check_ipv6_chain(typical, 6, "HBH,DST,RT,FRAG,AH,DST");
	/* Every ordered pair of types. */
	for (i = 0; i < N_EXT_TYPES; i++)
		for (j = 0; j < N_EXT_TYPES; j++) {
			memset(chain, 0, sizeof(chain));
			chain[0].type = ext_types[i].type;
			chain[1].type = ext_types[j].type;
			chain[0].more = chain[1].more = 1;
			chain[1].len8 = 1;
			snprintf(name, sizeof(name), "%s,%s", ext_types[i].name,
			    ext_types[j].name);
			check_ipv6_chain(chain, 2, name);
		}
	/* Chains of SG_MAX_EXTHDR - 1 headers of each type, and mixed. */
	for (i = 0; i < N_EXT_TYPES; i++) {
		memset(chain, 0, sizeof(chain));
		for (k = 0; k < SG_MAX_EXTHDR - 1; k++) {
			chain[k].type = ext_types[(i + k) % N_EXT_TYPES].type;
			chain[k].len8 = (__u8)(k % 3);
			chain[k].more = 1;
		}
		snprintf(name, sizeof(name), "%d headers from %s",
		    SG_MAX_EXTHDR - 1, ext_types[i].name);
		check_ipv6_chain(chain, SG_MAX_EXTHDR - 1, name);
	}
}

/*
 * SG_MAX_EXTHDR is the number of extension headers walked: a chain of
 * exactly that many, followed by TCP, is parsed normally.
 */
static void
test_ipv6_exactly_max_exthdr_is_parsed(void **state)
{
	struct pkt_ext chain[SG_MAX_EXTHDR];
	int k;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	memset(chain, 0, sizeof(chain));
	for (k = 0; k < SG_MAX_EXTHDR; k++)
		chain[k].type = PKT_IPPROTO_DSTOPTS;
	check_ipv6_chain(chain, SG_MAX_EXTHDR, "SG_MAX_EXTHDR dstopts");
}

static void
test_ipv6_more_than_max_exthdr_is_malformed(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[64];
	size_t n;
	int k, total;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	for (total = SG_MAX_EXTHDR + 1; total <= SG_MAX_EXTHDR + 4; total++) {
		spec6(&s, FOREIGN6, 80);
		for (k = 0; k < total; k++)
			add_ext(&s, k & 1 ? PKT_IPPROTO_HOPOPTS :
			    PKT_IPPROTO_DSTOPTS, 0, 0, 0);
		n = build(&s, f);
		snprintf(what, sizeof(what), "%d ext headers foreign 80", total);
		EXPECT_DROP(what, f, n, SG_DROP_MALFORMED);
		spec6(&s, FOREIGN6, 443);
		for (k = 0; k < total; k++)
			add_ext(&s, PKT_IPPROTO_FRAGMENT, 0, 0, 1);
		n = build(&s, f);
		snprintf(what, sizeof(what), "%d frag headers foreign 443", total);
		EXPECT_DROP(what, f, n, SG_DROP_MALFORMED);
		/* The source is known: an allowed one still passes. */
		spec6(&s, ALLOWED6, 443);
		for (k = 0; k < total; k++)
			add_ext(&s, PKT_IPPROTO_ROUTING, 0, 0, 0);
		n = build(&s, f);
		snprintf(what, sizeof(what), "%d ext headers allowed", total);
		EXPECT_PASS(what, f, n, R_V6);
	}
}

static void
test_ipv6_non_tcp_upper_layers(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	spec6(&s, FOREIGN6, 443);
	s.l4 = PKT_L4_NONE;			/* no next header */
	add_ext(&s, PKT_IPPROTO_DSTOPTS, 0, 0, 0);
	n = build(&s, f);
	EXPECT_SKIP("IPv6 no-next-header, ports", f, n, SG_SKIP_PORT);
	spec6(&s, FOREIGN6, 443);
	s.l4 = PKT_L4_UDP;
	n = build(&s, f);
	EXPECT_SKIP("IPv6 UDP/443, ports", f, n, SG_SKIP_PORT);
	set_config(SG_LAYOUT_VERSION, SG_MODE_STRICT, 0);
	EXPECT_DROP("IPv6 UDP/443, strict", f, n, SG_DROP_NOT_ALLOWED6);
	spec6(&s, ALLOWED6, 443);
	s.l4 = PKT_L4_UDP;
	n = build(&s, f);
	EXPECT_PASS("IPv6 UDP/443 allowed, strict", f, n, R_V6);
}

static void
test_ipv6_later_fragment_ports_and_strict(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	spec6(&s, FOREIGN6, 443);
	add_ext(&s, PKT_IPPROTO_HOPOPTS, 0, 0, 0);
	add_ext(&s, PKT_IPPROTO_FRAGMENT, 0, 1, 1);	/* offset 8 bytes */
	n = build(&s, f);
	EXPECT_SKIP("IPv6 later fragment, ports", f, n, SG_SKIP_FRAGMENT);
	set_config(SG_LAYOUT_VERSION, SG_MODE_STRICT, 0);
	EXPECT_DROP("IPv6 later fragment foreign, strict", f, n,
	    SG_DROP_FRAGMENT);
	spec6(&s, ALLOWED6, 443);
	add_ext(&s, PKT_IPPROTO_FRAGMENT, 0, 0x1fff, 0);
	n = build(&s, f);
	EXPECT_PASS("IPv6 last fragment allowed, strict", f, n, R_V6);
	/* The first fragment (offset 0, M) is checked in strict mode too. */
	spec6(&s, FOREIGN6, 80);
	add_ext(&s, PKT_IPPROTO_FRAGMENT, 0, 0, 1);
	n = build(&s, f);
	EXPECT_DROP("IPv6 first fragment foreign, strict", f, n,
	    SG_DROP_NOT_ALLOWED6);
}

static void
test_icmpv6_nd_passes_strict_echo_dropped(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	char what[64];
	size_t n;
	int t;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_STRICT, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	for (t = 133; t <= 137; t++) {
		spec6(&s, FOREIGN6, 0);
		s.l4 = PKT_L4_ICMP6;
		s.icmp_type = (__u8)t;
		n = build(&s, f);
		snprintf(what, sizeof(what), "ICMPv6 %d foreign, strict", t);
		EXPECT_SKIP(what, f, n, SG_SKIP_ARP_ND);
	}
	/* ND behind a hop-by-hop header (as MLD is sent) too. */
	spec6(&s, "fe80::1", 0);
	s.l4 = PKT_L4_ICMP6;
	s.icmp_type = 135;
	add_ext(&s, PKT_IPPROTO_HOPOPTS, 0, 0, 0);
	n = build(&s, f);
	EXPECT_SKIP("NS behind HBH, strict", f, n, SG_SKIP_ARP_ND);
	spec6(&s, FOREIGN6, 0);
	s.l4 = PKT_L4_ICMP6;
	s.icmp_type = 128;
	n = build(&s, f);
	EXPECT_DROP("ICMPv6 echo request foreign, strict", f, n,
	    SG_DROP_NOT_ALLOWED6);
	s.icmp_type = 129;
	n = build(&s, f);
	EXPECT_DROP("ICMPv6 echo reply foreign, strict", f, n,
	    SG_DROP_NOT_ALLOWED6);
	spec6(&s, ALLOWED6, 0);
	s.l4 = PKT_L4_ICMP6;
	s.icmp_type = 128;
	n = build(&s, f);
	EXPECT_PASS("ICMPv6 echo allowed, strict", f, n, R_V6);
	/* ICMPv6 cut before its type byte: malformed. */
	spec6(&s, FOREIGN6, 0);
	s.l4 = PKT_L4_ICMP6;
	s.icmp_type = 135;
	n = build(&s, f);
	EXPECT_DROP("ICMPv6 without type byte, strict", f, 54,
	    SG_DROP_MALFORMED);
	EXPECT_SKIP("NS with only its type byte", f, 55, SG_SKIP_ARP_ND);
	/* Ports mode: echo is not TCP, so it passes unchecked. */
	set_config(SG_LAYOUT_VERSION, SG_MODE_PORTS, 0);
	spec6(&s, FOREIGN6, 0);
	s.l4 = PKT_L4_ICMP6;
	s.icmp_type = 128;
	n = build(&s, f);
	EXPECT_SKIP("ICMPv6 echo foreign, ports", f, n, SG_SKIP_PORT);
}

/* ---- tests: strict mode, UDP ---- */

static void
test_udp_to_443_ports_mode_passes_strict_drops(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	spec4(&s, FOREIGN_A, 443);
	s.l4 = PKT_L4_UDP;
	s.payload = 100;
	n = build(&s, f);
	EXPECT_SKIP("UDP/443 foreign, ports", f, n, SG_SKIP_PORT);
	set_config(SG_LAYOUT_VERSION, SG_MODE_STRICT, 0);
	EXPECT_DROP("UDP/443 foreign, strict", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, "3.14.163.216", 443);
	s.l4 = PKT_L4_UDP;
	n = build(&s, f);
	EXPECT_PASS("UDP/443 ohio, strict", f, n, R_OHIO);
}

static void
test_strict_mode_checks_every_ip_packet(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_STRICT, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	spec4(&s, FOREIGN_A, 80);
	n = build(&s, f);
	EXPECT_DROP("strict TCP/80 foreign", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, FOREIGN_A, 0);
	s.l4 = PKT_L4_NONE;
	s.next = PKT_IPPROTO_ICMP;
	s.payload = 8;
	n = build(&s, f);
	EXPECT_DROP("strict ICMP foreign", f, n, SG_DROP_NOT_ALLOWED);
	spec4(&s, "44.237.58.11", 80);
	n = build(&s, f);
	EXPECT_PASS("strict TCP/80 oregon", f, n, R_OREGON);
	spec6(&s, FOREIGN6, 80);
	n = build(&s, f);
	EXPECT_DROP("strict IPv6 TCP/80 foreign", f, n, SG_DROP_NOT_ALLOWED6);
	spec6(&s, ALLOWED6, 80);
	n = build(&s, f);
	EXPECT_PASS("strict IPv6 TCP/80 allowed", f, n, R_V6);
	/* Truncated TCP from a foreign source: malformed, not not-allowed. */
	spec4(&s, FOREIGN_A, 80);
	n = build(&s, f);
	EXPECT_DROP("strict TCP cut before dport", f, 36, SG_DROP_MALFORMED);
}

/* ---- tests: truncation at every length ---- */

/*
 * Cut frame f (full length n) at every length 0..n and check the verdict.
 * Below 14 bytes the kernel refuses the run (see run_frame).
 * src_end: the frame length from which the source address is known (the
 * whole fixed IP header is there), dport_end: from which the TCP
 * destination port is there.  Before src_end: malformed drop.  Between:
 * an allowed source passes, a foreign one is dropped as malformed.  From
 * dport_end: an allowed source passes, a foreign one is not allowed.
 */
static void
truncate_everywhere(const char *name, const __u8 *f, size_t n, size_t src_end,
    size_t dport_end, int allowed, __u32 region, __u32 not_allowed)
{
	char what[128];
	size_t len;

	for (len = 0; len <= n; len++) {
		snprintf(what, sizeof(what), "%s cut at %zu of %zu", name, len, n);
		if (len < PKT_ETH_HLEN)
			expect_refused(what, f, len, __FILE__, __LINE__);
		else if (len < src_end)
			EXPECT_DROP(what, f, len, SG_DROP_MALFORMED);
		else if (allowed)
			EXPECT_PASS(what, f, len, region);
		else if (len < dport_end)
			EXPECT_DROP(what, f, len, SG_DROP_MALFORMED);
		else
			EXPECT_DROP(what, f, len, not_allowed);
	}
}

static void
test_ipv4_truncated_at_every_length(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	spec4(&s, FOREIGN_A, 443);
	s.payload = 6;
	n = build(&s, f);
	assert_int_equal(n, 14 + 20 + 20 + 6);
	truncate_everywhere("IPv4 foreign", f, n, 34, 38, 0, 0,
	    SG_DROP_NOT_ALLOWED);
	spec4(&s, "52.60.71.231", 443);
	n = build(&s, f);
	truncate_everywhere("IPv4 canada", f, n, 34, 38, 1, R_CANADA, 0);
	/* QinQ and IHL 7: every offset moves. */
	spec4(&s, FOREIGN_B, 443);
	s.nvlan = 2;
	s.ihl = 7;
	n = build(&s, f);
	truncate_everywhere("QinQ IHL 7 foreign", f, n, 22 + 20, 22 + 28 + 4,
	    0, 0, SG_DROP_NOT_ALLOWED);
	spec4(&s, "13.55.254.141", 443);
	s.nvlan = 2;
	s.ihl = 7;
	n = build(&s, f);
	/* Source read at 42, but the header (28) is only whole at 50. */
	truncate_everywhere("QinQ IHL 7 sydney", f, n, 22 + 20, 0, 1,
	    R_SYDNEY, 0);
	/* The same in strict mode. */
	set_config(SG_LAYOUT_VERSION, SG_MODE_STRICT, 0);
	spec4(&s, FOREIGN_A, 443);
	s.nvlan = 1;
	n = build(&s, f);
	truncate_everywhere("strict 802.1Q foreign", f, n, 18 + 20, 18 + 24,
	    0, 0, SG_DROP_NOT_ALLOWED);
}

static void
test_ipv6_truncated_at_every_length(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	size_t n;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	allow6(ALLOWED6, R_V6);
	spec6(&s, FOREIGN6, 443);
	s.payload = 3;
	n = build(&s, f);
	truncate_everywhere("IPv6 foreign", f, n, 54, 58, 0, 0,
	    SG_DROP_NOT_ALLOWED6);
	spec6(&s, ALLOWED6, 443);
	n = build(&s, f);
	truncate_everywhere("IPv6 allowed", f, n, 54, 58, 1, R_V6, 0);
	/* HBH(16) + FRAG(8) + DST(8) before TCP, behind one VLAN tag. */
	spec6(&s, FOREIGN6, 443);
	s.nvlan = 1;
	add_ext(&s, PKT_IPPROTO_HOPOPTS, 1, 0, 0);
	add_ext(&s, PKT_IPPROTO_FRAGMENT, 0, 0, 1);
	add_ext(&s, PKT_IPPROTO_DSTOPTS, 0, 0, 0);
	n = build(&s, f);
	truncate_everywhere("IPv6 exthdrs foreign", f, n, 58, 58 + 32 + 4, 0,
	    0, SG_DROP_NOT_ALLOWED6);
	spec6(&s, ALLOWED6, 443);
	s.nvlan = 1;
	add_ext(&s, PKT_IPPROTO_HOPOPTS, 1, 0, 0);
	add_ext(&s, PKT_IPPROTO_FRAGMENT, 0, 0, 1);
	add_ext(&s, PKT_IPPROTO_DSTOPTS, 0, 0, 0);
	n = build(&s, f);
	truncate_everywhere("IPv6 exthdrs allowed", f, n, 58, 0, 1, R_V6, 0);
}

/* ---- tests: counters ---- */

static void
test_counters_exact_per_region_and_reason(void **state)
{
	static const struct {
		const char *src; __u16 port; size_t pay; int act; enum kind k;
		__u32 idx;
	} p[] = {
		{ "34.225.10.29", 443, 0, XDP_PASS, K_PASS, R_US_EAST },	/* 54 */
		{ "52.22.78.160", 443, 100, XDP_PASS, K_PASS, R_US_EAST },	/* 154 */
		{ "52.25.165.25", 443, 946, XDP_PASS, K_PASS, R_OREGON },	/* 1000 */
		{ "203.0.113.9", 443, 0, XDP_DROP, K_DROP, SG_DROP_NOT_ALLOWED },	/* 54 */
		{ "198.51.100.7", 443, 10, XDP_DROP, K_DROP, SG_DROP_NOT_ALLOWED },	/* 64 */
		{ "203.0.113.9", 80, 1, XDP_PASS, K_SKIP, SG_SKIP_PORT },	/* 55 */
	};
	struct sg_counter v[T.ncpus];
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	__u64 pk, by;
	size_t i, n;
	__u32 k;
	int c;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, 0, NULL, 0);
	for (i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		spec4(&s, p[i].src, p[i].port);
		s.payload = p[i].pay;
		n = build(&s, f);
		assert_int_equal(n, 54 + p[i].pay);
		EXPECT(p[i].src, f, n, p[i].act, p[i].k, p[i].idx);
	}
	/* Independent of the shadow: the totals written out by hand. */
#define SUM(fd, key) do {						\
	k = (key);							\
	assert_int_equal(bpf_map_lookup_elem((fd), &k, v), 0);		\
	for (pk = by = 0, c = 0; c < T.ncpus; c++) {			\
		pk += v[c].packets;					\
		by += v[c].bytes;					\
	}								\
} while (0)
	SUM(T.ctr[K_PASS], R_US_EAST);
	assert_int_equal(pk, 2);
	assert_int_equal(by, 54 + 154);
	SUM(T.ctr[K_PASS], R_OREGON);
	assert_int_equal(pk, 1);
	assert_int_equal(by, 1000);
	SUM(T.ctr[K_PASS], R_EU_WEST);
	assert_int_equal(pk, 0);
	assert_int_equal(by, 0);
	SUM(T.ctr[K_DROP], SG_DROP_NOT_ALLOWED);
	assert_int_equal(pk, 2);
	assert_int_equal(by, 54 + 64);
	SUM(T.ctr[K_DROP], SG_DROP_MALFORMED);
	assert_int_equal(pk, 0);
	SUM(T.ctr[K_SKIP], SG_SKIP_PORT);
	assert_int_equal(pk, 1);
	assert_int_equal(by, 55);
#undef SUM
}

/*
 * Random frames (mutations of valid ones, and random bytes) in both modes:
 * never XDP_ABORTED nor anything but PASS/DROP, and exactly one counter
 * moves by one packet and the frame's length each time.
 */
static void
test_random_frames_never_abort_and_count_once(void **state)
{
	__u8 f[FRAME_MAX];
	struct pkt_spec s;
	struct sg_counter v[T.ncpus];
	__u64 want_p = 0, want_b = 0, got_p, got_b;
	unsigned seed = 12345;
	size_t n, len, j;
	__u32 i;
	int r, k, c, iter;

	(void)state;
	sync_maps(ALL_REGIONS, SG_MODE_PORTS, SG_CF_LPM4 | SG_CF_LPM6, NULL, 0);
	allow6(ALLOWED6, R_V6);
	lpm4("198.51.100.0", 24, R_ALLOW);
	lpm6("2001:db8:100::", 48, R_ALLOW);
	for (iter = 0; iter < 4000; iter++) {
		if (iter == 2000)
			set_config(SG_LAYOUT_VERSION, SG_MODE_STRICT,
			    SG_CF_LPM4 | SG_CF_LPM6);
		seed = seed * 1103515245u + 12345u;
		if (iter & 1) {
			spec4(&s, seed & 0x100 ? ALLOWED4 : FOREIGN_A, 443);
			s.ihl = (int)((seed >> 12) % 16);
			s.frag_off4 = (__u16)(seed >> 3) & 0x3;
		} else {
			spec6(&s, seed & 0x100 ? ALLOWED6 : FOREIGN6, 443);
			for (j = 0; j < (seed >> 9) % 11; j++)
				add_ext(&s, ext_types[(seed >> (j + 3)) %
				    N_EXT_TYPES].type, (__u8)(j & 1), 0, 0);
		}
		s.nvlan = (int)((seed >> 20) % 3);
		s.payload = (seed >> 4) % 40;
		n = pkt_build(&s, f, sizeof(f));
		assert_true(n > 0);
		/* Flip a few bytes anywhere (ethertypes, lengths, types). */
		for (j = 0; j < (seed >> 24) % 5; j++) {
			seed = seed * 1103515245u + 12345u;
			f[(seed >> 8) % n] = (__u8)(seed >> 16);
		}
		if ((seed >> 28) == 0)		/* some pure noise */
			for (j = 0; j < n; j++) {
				seed = seed * 1103515245u + 12345u;
				f[j] = (__u8)(seed >> 16);
			}
		len = (seed >> 5) % (n + 1);
		if ((seed >> 3) & 1)
			len = n;
		r = run_frame(f, len);
		if (len < PKT_ETH_HLEN && r == -EINVAL)
			continue;
		if (r != XDP_PASS && r != XDP_DROP) {
			print_error("random frame %d len %zu: %s (%d)\n", iter,
			    len, action_name(r), r);
			fail();
		}
		want_p++;
		want_b += len;
	}
	got_p = got_b = 0;
	for (k = 0; k < K_MAX; k++)
		for (i = 0; i < kind_len[k]; i++) {
			assert_int_equal(bpf_map_lookup_elem(T.ctr[k], &i, v), 0);
			for (c = 0; c < T.ncpus; c++) {
				got_p += v[c].packets;
				got_b += v[c].bytes;
			}
		}
	assert_int_equal(got_p, want_p);
	assert_int_equal(got_b, want_b);
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T_(test_every_stream_address_passes_443_counted_in_its_region),
		T_(test_foreign_ipv4_to_443_dropped_not_allowed),
		T_(test_region_narrowing_only_ohio_loaded),
		T_(test_region_id_out_of_range_is_not_allowed),
		T_(test_lpm4_prefix_used_when_flag_set),
		T_(test_lpm4_trie_skipped_when_flag_clear),
		T_(test_lpm6_prefix_used_when_flag_set),
		T_(test_unconfigured_maps_protect_443_only),
		T_(test_version0_config_is_ports_mode_whatever_its_mode),
		T_(test_ports_bitmap_443_and_8443),
		T_(test_ports_bitmap_word_edges),
		T_(test_vlan_and_qinq_allowed_pass_foreign_dropped),
		T_(test_vlan_frame_cut_inside_tag_is_malformed),
	T_(test_three_vlan_tags_are_malformed),
	T_(test_sync_builtin_table),
	T_(test_sync_full_bucket_spills),
		T_(test_arp_passes_in_both_modes),
		T_(test_non_ip_ethertype_passes_in_strict_mode),
		T_(test_ipv4_options_ihl_6_to_15_still_find_port),
		T_(test_ipv4_ihl_below_5_is_malformed),
		T_(test_ipv4_bad_version_or_ihl_beyond_frame_is_malformed),
		T_(test_ipv4_first_fragment_checked_like_any_packet),
		T_(test_ipv4_first_fragment_too_short_for_ports_is_malformed),
		T_(test_ipv4_later_fragment_ports_mode_skipped),
		T_(test_ipv4_later_fragment_strict_mode_needs_allowed_source),
		T_(test_ipv6_each_extension_header_type),
		T_(test_ipv6_extension_header_chains),
		T_(test_ipv6_exactly_max_exthdr_is_parsed),
		T_(test_ipv6_more_than_max_exthdr_is_malformed),
		T_(test_ipv6_non_tcp_upper_layers),
		T_(test_ipv6_later_fragment_ports_and_strict),
		T_(test_icmpv6_nd_passes_strict_echo_dropped),
		T_(test_udp_to_443_ports_mode_passes_strict_drops),
		T_(test_strict_mode_checks_every_ip_packet),
		T_(test_ipv4_truncated_at_every_length),
		T_(test_ipv6_truncated_at_every_length),
		T_(test_counters_exact_per_region_and_reason),
		T_(test_random_frames_never_abort_and_count_once),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
