/*
 * bench_xdp.c: ns per packet of the streamgate XDP program, measured with
 * BPF_PROG_TEST_RUN (no interface, nothing sent), beside a bare
 * `return XDP_DROP` program (the cost of the test-run loop itself) and,
 * when given its program id, xdp-filter from xdp-tools.
 *
 *   bench_xdp --obj build/streamgate.bpf.o --bare build/bench/bare.bpf.o
 *             [--peer-id ID] [--repeat N] [--rounds R]
 *   bench_xdp --list-addrs      the 25 Stream addresses, one a line
 *
 * bench/bench-xdp.sh attaches xdp-filter inside a throwaway network
 * namespace and passes the id of the program attached there.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "filter.h"
#include "streamgate.h"
#include "pkt.h"

static const struct {
	const char	*addr;
	__u32		 region;
} stream[] = {
	{ "34.225.10.29", 0 }, { "34.198.125.61", 0 }, { "52.22.78.160", 0 },
	{ "3.215.161.238", 0 },
	{ "52.212.14.212", 1 }, { "52.17.43.232", 1 }, { "34.241.110.177", 1 },
	{ "54.252.193.245", 2 }, { "13.55.254.141", 2 }, { "3.24.48.104", 2 },
	{ "65.1.48.87", 3 }, { "15.206.221.25", 3 }, { "13.233.48.78", 3 },
	{ "13.229.11.158", 4 }, { "52.74.225.150", 4 }, { "52.76.180.70", 4 },
	{ "3.14.163.216", 5 }, { "3.15.245.3", 5 }, { "3.141.116.179", 5 },
	{ "35.183.141.98", 6 }, { "52.60.71.231", 6 }, { "3.97.253.35", 6 },
	{ "52.25.165.25", 7 }, { "44.237.58.11", 7 }, { "52.10.213.81", 7 },
};
#define N_STREAM	(sizeof(stream) / sizeof(stream[0]))

/* The allowed source: the last entry, so a hash hit is not "the first". */
#define ALLOWED4	"52.10.213.81"
#define FOREIGN4	"203.0.113.9"
#define ALLOWED6	"2001:db8:5::1"		/* benchmark-only sg_allow6 entry */

enum { P_OURS, P_PEER, P_BARE, P_MAX };
enum { C_ALLOWED, C_FOREIGN, C_VLAN, C_IPV6, C_MAX };

static const char *const case_names[C_MAX] = {
	"IPv4 TCP/443 allowed", "IPv4 TCP/443 foreign",
	"802.1Q IPv4 allowed", "IPv6 TCP/443 allowed",
};

struct frame {
	__u8	data[256];
	size_t	len;
};

static int
libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench_xdp: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static __u32
ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		die("bad address %s", s);
	return a.s_addr;
}

static void
build_frames(struct frame f[C_MAX])
{
	struct pkt_spec s;
	int c;

	for (c = 0; c < C_MAX; c++) {
		memset(&s, 0, sizeof(s));
		s.l4 = PKT_L4_TCP;
		s.dport = 443;
		s.payload = 6;		/* a 60-byte minimum frame for IPv4 */
		if (c == C_IPV6) {
			s.l3 = PKT_L3_IPV6;
			if (inet_pton(AF_INET6, ALLOWED6, s.saddr6) != 1 ||
			    inet_pton(AF_INET6, "2001:db8::10", s.daddr6) != 1)
				die("bad IPv6 literal");
			s.payload = 0;
		} else {
			s.l3 = PKT_L3_IPV4;
			s.saddr4 = ip4(c == C_FOREIGN ? FOREIGN4 : ALLOWED4);
			s.daddr4 = ip4("192.0.2.10");
			s.nvlan = c == C_VLAN;
		}
		f[c].len = pkt_build(&s, f[c].data, sizeof(f[c].data));
		if (!f[c].len)
			die("cannot build frame %d", c);
	}
}

static int
map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m)
		die("no map %s", name);
	return bpf_map__fd(m);
}

/*
 * Load streamgate unpinned and fill it with the control tool's own sync
 * (daemon/core/filter_sync.c): the 25 built-in addresses, ALLOWED6, port 443.
 */
static int
load_ours(const char *path, struct bpf_object **objp)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *m;
	struct filter_spec spec;
	struct filter_maps fm;
	struct cidr c;
	char err[128];
	int i;

	obj = bpf_object__open_file(path, NULL);
	if (!obj)
		die("open %s: %s", path, strerror(errno));
	bpf_object__for_each_map(m, obj)
		if (bpf_map__set_pin_path(m, NULL))
			die("unpin %s", bpf_map__name(m));
	i = bpf_object__load(obj);
	if (i)
		die("load %s: %s (root needed)", path, strerror(-i));
	filter_spec_init(&spec);
	if (regions_builtin(&spec.table) != 0 ||
	    cidr_parse(ALLOWED6, &c, err, sizeof(err)) != 0 ||
	    regions_add(&spec.table, REGION_ALLOW, "", &c) != 0)
		die("building the region table failed");
	for (i = 0; i < FM_COUNT; i++)
		fm.fd[i] = map_fd(obj, filter_map_name(i));
	if (filter_sync(&fm, &spec) != 0)
		die("filter_sync failed");
	filter_spec_free(&spec);
	prog = bpf_object__find_program_by_name(obj, "streamgate_xdp");
	if (!prog)
		die("%s: no program streamgate_xdp", path);
	*objp = obj;
	return bpf_program__fd(prog);
}

static int
load_bare(const char *path, struct bpf_object **objp)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	int err;

	obj = bpf_object__open_file(path, NULL);
	if (!obj)
		die("open %s: %s", path, strerror(errno));
	err = bpf_object__load(obj);
	if (err)
		die("load %s: %s", path, strerror(-err));
	prog = bpf_object__next_program(obj, NULL);
	if (!prog)
		die("%s: no program", path);
	*objp = obj;
	return bpf_program__fd(prog);
}

/*
 * One BPF_PROG_TEST_RUN: the kernel's ns per repetition (whole ns, rounded
 * down).  Wall-clock time is no use here: with repeat > 1 the kernel adds a
 * program that is not attached anywhere to its XDP dispatcher for the call
 * and removes it after (~20 ms each call here, outside its own timer),
 * which xdp-filter's attached program does not pay.
 */
static int
run(int fd, const struct frame *f, int repeat, __u32 *retval, double *kns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->data,
	    .data_size_in = (__u32)f->len, .repeat = repeat);

	if (bpf_prog_test_run_opts(fd, &o))
		return -errno;
	*retval = o.retval;
	*kns = o.duration;
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *
action_name(__u32 a)
{
	static const char *const n[] = { "ABORTED", "DROP", "PASS", "TX",
	    "REDIRECT" };

	return a < 5 ? n[a] : "?";
}

static void
fmt_ns(char *buf, size_t len, double v)
{
	if (v < 0)
		snprintf(buf, len, "%s", "-");
	else
		snprintf(buf, len, "%.1f", v);
}

static void
fmt_ratio(char *buf, size_t len, double a, double b)
{
	if (a < 0 || b <= 0)
		snprintf(buf, len, "%s", "-");
	else
		snprintf(buf, len, "%.2f", a / b);
}

/* The table of one measure (kernel-reported or wall-clock). */
static void
print_table(const char *title, double med[P_MAX][C_MAX], int have_peer)
{
	char o[16], p[16], b[16], r[16], rn[16];
	int c;

	printf("\n%s\n", title);
	printf("%-22s %9s %11s %8s %14s %18s\n", "case", "ours", "xdp-filter",
	    "bare", "ours/xdp-filt", "(ours-bare)/(xf-bare)");
	for (c = 0; c < C_MAX; c++) {
		double xf = have_peer && c <= C_FOREIGN ? med[P_PEER][c] : -1;

		fmt_ns(o, sizeof(o), med[P_OURS][c]);
		fmt_ns(p, sizeof(p), xf);
		fmt_ns(b, sizeof(b), med[P_BARE][c]);
		fmt_ratio(r, sizeof(r), med[P_OURS][c], xf);
		fmt_ratio(rn, sizeof(rn), med[P_OURS][c] - med[P_BARE][c],
		    xf < 0 ? -1 : xf - med[P_BARE][c]);
		printf("%-22s %9s %11s %8s %14s %18s\n", case_names[c], o, p, b,
		    r, rn);
	}
}

static void
headline(double med[P_MAX][C_MAX])
{
	double ours = med[P_OURS][C_ALLOWED] + med[P_OURS][C_FOREIGN];
	double peer = med[P_PEER][C_ALLOWED] + med[P_PEER][C_FOREIGN];
	double bare = med[P_BARE][C_ALLOWED] + med[P_BARE][C_FOREIGN];

	printf("allowed+foreign IPv4: ours/xdp-filter = %.2f (target <= 0.7)"
	    "   [%.0f/%.0f]\n", peer > 0 ? ours / peer : -1, ours, peer);
	printf("allowed+foreign IPv4, bare test-run loop subtracted: "
	    "ours/xdp-filter = %.2f   [(%.0f-%.0f)/(%.0f-%.0f)]\n",
	    peer - bare > 0 ? (ours - bare) / (peer - bare) : -1, ours, bare,
	    peer, bare);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_xdp --obj STREAMGATE.o --bare BARE.o "
	    "[--peer-id ID] [--repeat N] [--rounds R] | --list-addrs\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "obj", required_argument, NULL, 'o' },
		{ "bare", required_argument, NULL, 'b' },
		{ "peer-id", required_argument, NULL, 'p' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "list-addrs", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	static const __u32 want[P_MAX][C_MAX] = {
		[P_OURS] = { XDP_PASS, XDP_DROP, XDP_PASS, XDP_PASS },
		[P_PEER] = { XDP_PASS, XDP_DROP, 0, 0 },
		[P_BARE] = { XDP_DROP, XDP_DROP, XDP_DROP, XDP_DROP },
	};
	const char *obj_path = NULL, *bare_path = NULL;
	struct bpf_object *ours_obj = NULL, *bare_obj = NULL;
	struct frame f[C_MAX];
	struct bpf_prog_info info;
	__u32 info_len = sizeof(info);
	double (*kv)[P_MAX][C_MAX];
	double kmed[P_MAX][C_MAX], tmp[64];
	long peer_id = -1, repeat = 1000000, rounds = 5;
	int fd[P_MAX], ch, p, c, i, err, bad = 0;
	char peer_name[BPF_OBJ_NAME_LEN + 1] = "";
	cpu_set_t cpus;
	__u32 ret;
	double kns;
	size_t k;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': obj_path = optarg; break;
		case 'b': bare_path = optarg; break;
		case 'p': peer_id = strtol(optarg, NULL, 10); break;
		case 'r': repeat = strtol(optarg, NULL, 10); break;
		case 'n': rounds = strtol(optarg, NULL, 10); break;
		case 'l':
			for (k = 0; k < N_STREAM; k++)
				printf("%s\n", stream[k].addr);
			return 0;
		default: usage();
		}
	}
	if (!obj_path || !bare_path || optind != argc)
		usage();
	if (repeat < 1000000)
		die("--repeat must be at least 1000000");
	if (rounds < 1 || rounds > 64)
		die("--rounds must be 1..64");
	libbpf_set_print(libbpf_quiet);

	/* One CPU for every run: BPF_PROG_TEST_RUN runs where it is called. */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu() > 0 ? sched_getcpu() : 0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);

	build_frames(f);
	fd[P_OURS] = load_ours(obj_path, &ours_obj);
	fd[P_BARE] = load_bare(bare_path, &bare_obj);
	fd[P_PEER] = -1;
	if (peer_id >= 0) {
		fd[P_PEER] = bpf_prog_get_fd_by_id((__u32)peer_id);
		if (fd[P_PEER] < 0)
			die("xdp-filter program id %ld: %s", peer_id,
			    strerror(errno));
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd[P_PEER], &info, &info_len))
			die("prog info %ld: %s", peer_id, strerror(errno));
		snprintf(peer_name, sizeof(peer_name), "%s", info.name);
	}

	/* Same verdicts as the real thing, or the comparison means nothing. */
	for (p = 0; p < P_MAX; p++) {
		if (fd[p] < 0)
			continue;
		for (c = 0; c < C_MAX; c++) {
			if (p == P_PEER && c > C_FOREIGN)
				continue;
			err = run(fd[p], &f[c], 1, &ret, &kns);
			if (err)
				die("test run: %s", strerror(-err));
			if (ret != want[p][c]) {
				fprintf(stderr, "bench_xdp: %s on '%s': XDP_%s, "
				    "expected XDP_%s\n", p == P_OURS ? "ours" :
				    p == P_PEER ? "xdp-filter" : "bare",
				    case_names[c], action_name(ret),
				    action_name(want[p][c]));
				bad = 1;
			}
		}
	}
	if (bad)
		die("verdict mismatch: not benchmarking");

	kv = calloc((size_t)rounds, sizeof(*kv));
	if (!kv)
		die("out of memory");
	/* Interleaved: every program and case once per round. */
	for (i = 0; i < rounds; i++)
		for (c = 0; c < C_MAX; c++)
			for (p = 0; p < P_MAX; p++) {
				kv[i][p][c] = -1;
				if (fd[p] < 0 || (p == P_PEER && c > C_FOREIGN))
					continue;
				err = run(fd[p], &f[c], (int)repeat, &ret,
				    &kv[i][p][c]);
				if (err)
					die("test run: %s", strerror(-err));
			}
	for (p = 0; p < P_MAX; p++)
		for (c = 0; c < C_MAX; c++) {
			for (i = 0; i < rounds; i++)
				tmp[i] = kv[i][p][c];
			kmed[p][c] = median(tmp, (int)rounds);
		}

	printf("streamgate XDP benchmark: BPF_PROG_TEST_RUN, repeat %ld, "
	    "median of %ld rounds, one CPU\n", repeat, rounds);
	printf("ours: %s, 25 Stream addresses synced by filter_sync (sg_exact4; +%s in sg_allow6), "
	    "ports {443}, ports mode\n", obj_path, ALLOWED6);
	printf("bare: %s (return XDP_DROP): the test-run loop's own cost\n",
	    bare_path);
	if (fd[P_PEER] >= 0) {
		int disp = strcmp(peer_name, "xdp_dispatcher") == 0;

		printf("xdp-filter: prog id %ld '%s', policy deny, feature ipv4, "
		    "25 addresses -m src; %s\n", peer_id, peer_name, disp ?
		    "measured THROUGH libxdp's dispatcher (dispatcher + "
		    "freplace call included)" :
		    "measured WITHOUT libxdp's dispatcher (libxdp fell back to "
		    "attaching the filter program alone)");
	} else {
		printf("xdp-filter: not measured (no --peer-id)\n");
	}
	printf("frames: IPv4 %zu bytes, 802.1Q %zu bytes, IPv6 %zu bytes\n",
	    f[C_ALLOWED].len, f[C_VLAN].len, f[C_IPV6].len);

	print_table("ns/packet, kernel-reported duration per repetition "
	    "(whole ns), median:", kmed, fd[P_PEER] >= 0);
	printf("\n");
	if (fd[P_PEER] >= 0)
		headline(kmed);

	free(kv);
	bpf_object__close(ours_obj);
	bpf_object__close(bare_obj);
	return 0;
}
