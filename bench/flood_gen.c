/*
 * flood_gen.c: the traffic of `make bench-flood` (bench/bench-flood.sh),
 * and the few device knobs it needs.  Run inside the benchmark's network
 * namespaces only; it sends to the device it is given and nowhere else.
 *
 *   flood_gen send --dev W0 --dst-mac MAC --dst IP --kind syn|udp|frag
 *            [--dport P] [--src NET/LEN] --rate PPS --seconds S
 *            [--obj flood.bpf.o] [--af-packet] [--cpu N] [--batch N]
 *            [--burst N] [--park DEV]
 *      A flood at a fixed offered rate (0: as fast as it goes).  Live
 *      frames: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES runs
 *      flood_gen (flood.bpf.c) over one template frame; the program gives
 *      each frame a random source inside NET/LEN (and a random source
 *      port, or IP id for a fragment), fixes the checksums incrementally
 *      and redirects it out of W0.  No skb is built on the sending side.
 *      --park DEV attaches the program to DEV (an idle device) while it
 *      runs, which keeps it in the kernel's XDP dispatcher: otherwise
 *      every call re-patches the dispatcher (see live_run).
 *      --af-packet (or a kernel without live frames) sends the same
 *      frames from user space with sendmmsg(2) on an AF_PACKET socket
 *      (PACKET_QDISC_BYPASS).  One line on stdout:
 *        FLOOD mode=live kind=syn sent=N bad=B seconds=T pps=P user_s=U
 *              sys_s=S cpu_ns_per_pkt=C
 *      sent: frames the program redirected (live) or sendmmsg took.
 *      user_s, sys_s: this process's own CPU (getrusage), so the caller
 *      can tell the generator's cost from the receiver's.
 *   flood_gen conn --src IP --dst IP --dport P --count N --rate CPS
 *            --hold S
 *      A connection flood: N real TCP connections from IP, opened at CPS
 *      a second and then left idle until S seconds have passed.  One line:
 *        CONN tried=N established=E refused=R pending=P closed=C
 *      (closed: established, then closed or reset by the server before
 *      the end.)
 *   flood_gen sink --dev DEV --net NET/LEN --host IP [--obj flood.bpf.o]
 *      Attach flood_sink to DEV (native XDP): IPv4 to NET/LEN or IP is
 *      dropped.  The program stays attached after flood_gen exits.
 *   flood_gen gro --dev DEV on|off
 *      Turn GRO on or off (ETHTOOL_SGRO).  On a veth, GRO gives the device
 *      the NAPI context that ndo_xdp_xmit needs when no XDP program is
 *      attached.
 *   flood_gen stats --dev DEV
 *      The device's ethtool statistics, "name value" a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define FLOOD_TCP	0
#define FLOOD_UDP	1
#define FLOOD_FRAG	2

#define FRAME_LEN	60	/* the Ethernet minimum, without the FCS */
#define FRAG_LEN	128	/* a later fragment: 20 + 94 bytes of data */
#define MMSG_MAX	64

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("flood_gen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int
libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ull),
	    (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

static uint32_t
ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		die("bad IPv4 address '%s'", s);
	return a.s_addr;
}

/* NET/LEN into a base (network order) and the random bits (host order). */
static void
prefix(const char *s, uint32_t *base, uint32_t *mask)
{
	char buf[64], *slash;
	int len = 32;

	snprintf(buf, sizeof(buf), "%s", s);
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash = '\0';
		len = atoi(slash + 1);
		if (len < 8 || len > 32)
			die("prefix length of '%s' out of 8..32", s);
	}
	*mask = len == 32 ? 0 : (uint32_t)((1ull << (32 - len)) - 1);
	*base = ip4(buf) & htonl(~*mask);
}

static void
mac(const char *s, uint8_t m[6])
{
	unsigned int v[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4],
	    &v[5]) != 6)
		die("bad MAC address '%s'", s);
	for (i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
}

static int
ifindex(const char *dev)
{
	int i = (int)if_nametoindex(dev);

	if (i == 0)
		die("%s: no such device", dev);
	return i;
}

static void
dev_mac(const char *dev, uint8_t m[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) != 0)
		die("%s: cannot read its address: %s", dev, strerror(errno));
	memcpy(m, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

/* The ones' complement sum of len bytes, added to sum. */
static uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static uint16_t
csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * The template: Ethernet, IPv4 (no options, DF for TCP and UDP), then a
 * SYN (20-byte header, window 64240), a UDP datagram with 18 bytes of
 * data, or a later fragment (offset 1480, last) of a UDP datagram.
 * Source address and port are placeholders the sender rewrites.
 */
static size_t
frame_build(uint8_t *f, int kind, const uint8_t dmac[6], const uint8_t smac[6],
    uint32_t saddr, uint32_t daddr, uint16_t dport)
{
	size_t len = kind == FLOOD_FRAG ? FRAG_LEN : FRAME_LEN;
	size_t l4 = 14 + 20, iplen = kind == FLOOD_TCP ? 40 :
	    kind == FLOOD_UDP ? 46 : len - 14;
	uint8_t *ip = f + 14, *t = f + l4, ph[12];
	uint32_t sum;

	memset(f, 0, len);
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	put16(f + 12, ETH_P_IP);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)iplen);
	put16(ip + 4, 0x1234);
	put16(ip + 6, kind == FLOOD_FRAG ? 1480 / 8 : 0x4000);
	ip[8] = 64;
	ip[9] = kind == FLOOD_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	memcpy(ip + 12, &saddr, 4);
	memcpy(ip + 16, &daddr, 4);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	if (kind == FLOOD_FRAG) {
		memset(t, 0xa5, len - l4);
		return len;
	}
	put16(t, 40000);
	put16(t + 2, dport);
	if (kind == FLOOD_TCP) {
		t[4] = 0x5e;		/* a sequence number */
		t[12] = 5 << 4;
		t[13] = 0x02;		/* SYN */
		put16(t + 14, 64240);
	} else {
		put16(t + 4, 26);
		memset(t + 8, 'x', 18);
	}
	memcpy(ph, &saddr, 4);
	memcpy(ph + 4, &daddr, 4);
	ph[8] = 0;
	ph[9] = ip[9];
	put16(ph + 10, (uint16_t)(iplen - 20));
	sum = csum_add(csum_add(0, ph, 12), t, iplen - 20);
	put16(t + (kind == FLOOD_TCP ? 16 : 6), csum_fold(sum));
	return len;
}

struct flood {
	int		 kind;
	int		 ifindex;
	uint8_t		 frame[FRAG_LEN];
	size_t		 len;
	uint32_t	 src, mask;	/* source prefix */
	double		 rate;		/* packets a second; 0: all it can */
	double		 seconds;
	unsigned int	 batch;		/* live: frames per flush */
	int		 park;		/* live: ifindex to park the program */
	uint64_t	 burst;		/* frames per call */
	uint64_t	 sent;
	uint64_t	 bad;		/* live: frames without the template */
	const char	*mode;
};

/*
 * The pacing loop of both senders: bursts of `burst` frames, the next one
 * due when the rate says so (a sender that falls behind sends at once, but
 * never more than one burst early).
 * A burst is one BPF_PROG_TEST_RUN (live frames set up a page pool per
 * call: tiny calls cost more than the frames) or one sendmmsg(2); 128
 * frames leave room in the receiving veth's ring of 256 for the receiver
 * to keep up between bursts.  fn sends n frames and returns how many went.
 */
static void
pace(struct flood *fl, uint64_t (*fn)(struct flood *, uint64_t, void *),
    void *arg, uint64_t burst)
{
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(fl->seconds * 1e9);
	uint64_t t, next, gap = 0;

	if (fl->rate > 0)
		gap = (uint64_t)((double)burst * 1e9 / fl->rate);

	while ((t = now_ns()) < end) {
		if (fl->rate > 0) {
			next = t0 + (uint64_t)((double)fl->sent * 1e9 /
			    fl->rate);
			if (next > t) {
				sleep_until(next < end ? next : end);
				continue;
			}
			/* more than a burst behind (this process was kept
			 * off the CPU): let the missed slots go rather than
			 * send them back to back, which no ring would hold */
			if (t - next > gap)
				t0 += t - next - gap;
		}
		fl->sent += fn(fl, burst, arg);
	}
}

struct live {
	int	prog_fd;
};

static uint64_t
live_send(struct flood *fl, uint64_t n, void *arg)
{
	struct live *lv = arg;
	struct xdp_md ctx = { .data_end = (__u32)fl->len };
	LIBBPF_OPTS(bpf_test_run_opts, o,
	    .data_in = fl->frame,
	    .data_size_in = (__u32)fl->len,
	    .ctx_in = &ctx,
	    .ctx_size_in = sizeof(ctx),
	    .repeat = (__u32)n,
	    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
	    .batch_size = fl->batch,
	);

	if (bpf_prog_test_run_opts(lv->prog_fd, &o) != 0)
		die("BPF_PROG_TEST_RUN (live frames): %s", strerror(errno));
	return n;
}

/* Sum a per-CPU counter of flood.bpf.c's flood_count. */
static uint64_t
percpu_sum(int fd, uint32_t key)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	uint64_t *v, s = 0;

	if (ncpu <= 0 || (v = calloc((size_t)ncpu, sizeof(*v))) == NULL)
		die("cannot size the per-CPU counters");
	if (bpf_map_lookup_elem(fd, &key, v) != 0)
		die("cannot read flood_count: %s", strerror(errno));
	for (i = 0; i < ncpu; i++)
		s += v[i];
	free(v);
	return s;
}

static struct bpf_object *
obj_open(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);

	if (obj == NULL)
		die("%s: cannot open: %s", path, strerror(errno));
	return obj;
}

/* Set one `volatile const` of flood.bpf.o before it is loaded. */
static void
rodata_set(struct bpf_object *obj, const char *name, uint32_t v)
{
	struct bpf_map *m;
	const struct btf *btf;
	const struct btf_type *sec;
	const struct btf_var_secinfo *vs;
	const void *cur;
	char *data;
	size_t size;
	int i, id;

	bpf_object__for_each_map(m, obj)
		if (strstr(bpf_map__name(m), ".rodata") != NULL)
			break;
	if (m == NULL || (cur = bpf_map__initial_value(m, &size)) == NULL ||
	    (btf = bpf_object__btf(obj)) == NULL)
		die("flood.bpf.o has no .rodata");
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		die("flood.bpf.o: no .rodata in its BTF");
	sec = btf__type_by_id(btf, (__u32)id);
	vs = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name) != 0)
			continue;
		if (vs->offset + sizeof(v) > size ||
		    (data = malloc(size)) == NULL)
			die("flood.bpf.o: cannot set %s", name);
		memcpy(data, cur, size);
		memcpy(data + vs->offset, &v, sizeof(v));
		if (bpf_map__set_initial_value(m, data, size) != 0)
			die("flood.bpf.o: cannot set %s", name);
		free(data);
		return;
	}
	die("flood.bpf.o: no variable %s", name);
}

/* Live frames; -1 (nothing sent) when this kernel cannot run them. */
static int
live_run(struct flood *fl, const char *objpath)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct live lv;
	struct xdp_md ctx = { .data_end = (__u32)fl->len };
	LIBBPF_OPTS(bpf_test_run_opts, probe,
	    .data_in = fl->frame,
	    .data_size_in = (__u32)fl->len,
	    .ctx_in = &ctx,
	    .ctx_size_in = sizeof(ctx),
	    .repeat = 1,
	    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
	);
	int cfd;

	if (objpath == NULL || access(objpath, R_OK) != 0)
		return -1;
	obj = obj_open(objpath);
	rodata_set(obj, "cfg_src", fl->src);
	rodata_set(obj, "cfg_mask", fl->mask);
	rodata_set(obj, "cfg_ifindex", (uint32_t)fl->ifindex);
	rodata_set(obj, "cfg_kind", (uint32_t)fl->kind);
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, strcmp(bpf_program__name(prog),
		    "flood_gen") == 0);
	if (bpf_object__load(obj) != 0) {
		bpf_object__close(obj);
		return -1;
	}
	prog = bpf_object__find_program_by_name(obj, "flood_gen");
	lv.prog_fd = bpf_program__fd(prog);
	cfd = bpf_map__fd(bpf_object__find_map_by_name(obj, "flood_count"));
	/*
	 * Every BPF_PROG_TEST_RUN of an XDP program puts it into the XDP
	 * dispatcher and takes it out again: two text pokes, about 0.4 ms
	 * of CPU a call on this VM, more than 128 frames cost.  A program
	 * attached to a device stays in the dispatcher, and the test run then
	 * only counts one more user: park it on an idle device meanwhile.
	 */
	if (fl->park > 0 && bpf_xdp_attach(fl->park, lv.prog_fd,
	    XDP_FLAGS_DRV_MODE, NULL) != 0)
		die("cannot park flood_gen on ifindex %d: %s", fl->park,
		    strerror(errno));
	/* one frame first: a kernel without live frames refuses it */
	if (bpf_prog_test_run_opts(lv.prog_fd, &probe) != 0) {
		if (fl->park > 0)
			(void)bpf_xdp_detach(fl->park, XDP_FLAGS_DRV_MODE,
			    NULL);
		bpf_object__close(obj);
		return -1;
	}
	pace(fl, live_send, &lv, fl->burst);
	if (fl->park > 0)
		(void)bpf_xdp_detach(fl->park, XDP_FLAGS_DRV_MODE, NULL);
	/*
	 * What the program redirected, not what we asked for.  Now and then
	 * (a few frames in millions) a recycled page comes back without the
	 * template in it; the program drops those, and they are counted
	 * apart, never as sent.
	 */
	fl->sent = percpu_sum(cfd, 0);
	fl->bad = percpu_sum(cfd, 1);
	bpf_object__close(obj);
	fl->mode = "live";
	return 0;
}

/* AF_PACKET: the same frames, rewritten and summed here. */
struct afp {
	int		 fd;
	uint8_t		 frames[MMSG_MAX][FRAG_LEN];
	struct iovec	 iov[MMSG_MAX];
	struct mmsghdr	 msg[MMSG_MAX];
	uint64_t	 rnd;
};

static uint32_t
rnd32(struct afp *a)
{
	/* xorshift64* */
	a->rnd ^= a->rnd >> 12;
	a->rnd ^= a->rnd << 25;
	a->rnd ^= a->rnd >> 27;
	return (uint32_t)((a->rnd * 2685821657736338717ull) >> 32);
}

static uint16_t
csum_replace16(uint16_t check, uint16_t from, uint16_t to)
{
	uint32_t sum = (uint16_t)~check;

	sum += (uint16_t)~from;
	sum += to;
	return csum_fold(sum);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Each frame: a new source (and port or id), checksums as flood_gen. */
static void
afp_rewrite(struct flood *fl, struct afp *a, uint8_t *f)
{
	uint8_t *ip = f + 14, *t = f + 34;
	uint32_t r = rnd32(a), src = fl->src | htonl(r & fl->mask);
	uint8_t nsrc[4];
	uint16_t ck = get16(ip + 10), tck = 0, v;
	size_t off = fl->kind == FLOOD_TCP ? 16 : 6;
	int i;

	memcpy(nsrc, &src, 4);
	if (fl->kind != FLOOD_FRAG)
		tck = get16(t + off);
	for (i = 0; i < 4; i += 2) {
		v = get16(nsrc + i);
		ck = csum_replace16(ck, get16(ip + 12 + i), v);
		if (fl->kind != FLOOD_FRAG)
			tck = csum_replace16(tck, get16(ip + 12 + i), v);
	}
	memcpy(ip + 12, nsrc, 4);
	v = (uint16_t)(r >> 16);
	if (fl->kind == FLOOD_FRAG) {
		ck = csum_replace16(ck, get16(ip + 4), v);
		put16(ip + 4, v);
	} else {
		v = (uint16_t)(1024 + v % 64000);
		tck = csum_replace16(tck, get16(t), v);
		put16(t, v);
		put16(t + off, tck);
	}
	put16(ip + 10, ck);
}

static uint64_t
afp_send(struct flood *fl, uint64_t n, void *arg)
{
	struct afp *a = arg;
	unsigned int i, k = n > MMSG_MAX ? MMSG_MAX : (unsigned int)n;
	int got;

	for (i = 0; i < k; i++)
		afp_rewrite(fl, a, a->frames[i]);
	got = sendmmsg(a->fd, a->msg, k, 0);
	if (got < 0) {
		if (errno == ENOBUFS || errno == EAGAIN)
			return 0;
		die("sendmmsg: %s", strerror(errno));
	}
	return (uint64_t)got;
}

static int
afp_run(struct flood *fl)
{
	struct afp *a = calloc(1, sizeof(*a));
	struct sockaddr_ll sll;
	int one = 1, i;

	if (a == NULL)
		die("out of memory");
	if ((a->fd = socket(AF_PACKET, SOCK_RAW, 0)) < 0)
		die("AF_PACKET socket: %s", strerror(errno));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = fl->ifindex;
	if (bind(a->fd, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		die("bind AF_PACKET: %s", strerror(errno));
	(void)setsockopt(a->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
	    sizeof(one));
	a->rnd = now_ns() | 1;
	for (i = 0; i < MMSG_MAX; i++) {
		memcpy(a->frames[i], fl->frame, fl->len);
		a->iov[i].iov_base = a->frames[i];
		a->iov[i].iov_len = fl->len;
		a->msg[i].msg_hdr.msg_iov = &a->iov[i];
		a->msg[i].msg_hdr.msg_iovlen = 1;
	}
	pace(fl, afp_send, a, fl->burst < MMSG_MAX ? fl->burst : MMSG_MAX);
	close(a->fd);
	free(a);
	fl->mode = "af_packet";
	return 0;
}

static int
cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "dst-mac", required_argument, NULL, 'm' },
		{ "dst", required_argument, NULL, 'D' },
		{ "dport", required_argument, NULL, 'p' },
		{ "kind", required_argument, NULL, 'k' },
		{ "src", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 't' },
		{ "obj", required_argument, NULL, 'o' },
		{ "af-packet", no_argument, NULL, 'a' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "batch", required_argument, NULL, 'b' },
		{ "burst", required_argument, NULL, 'B' },
		{ "park", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct flood fl;
	struct rusage r0, r1;
	const char *dev = NULL, *dmac = NULL, *dst = NULL, *obj = NULL;
	const char *src = "203.0.113.0/25";
	uint8_t dm[6], sm[6];
	int c, afp = 0, cpu = -1, dport = 443;
	uint64_t t0, t1;
	double us, ss;

	memset(&fl, 0, sizeof(fl));
	fl.kind = -1;
	fl.seconds = 1;
	fl.batch = 64;
	fl.burst = 128;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'm': dmac = optarg; break;
		case 'D': dst = optarg; break;
		case 'p': dport = atoi(optarg); break;
		case 'k':
			fl.kind = strcmp(optarg, "syn") == 0 ? FLOOD_TCP :
			    strcmp(optarg, "udp") == 0 ? FLOOD_UDP :
			    strcmp(optarg, "frag") == 0 ? FLOOD_FRAG : -2;
			break;
		case 's': src = optarg; break;
		case 'r': fl.rate = atof(optarg); break;
		case 't': fl.seconds = atof(optarg); break;
		case 'o': obj = optarg; break;
		case 'a': afp = 1; break;
		case 'c': cpu = atoi(optarg); break;
		case 'b': fl.batch = (unsigned int)atoi(optarg); break;
		case 'B': fl.burst = (uint64_t)atoll(optarg); break;
		case 'P': fl.park = ifindex(optarg); break;
		default: exit(2);
		}
	}
	if (!dev || !dmac || !dst || fl.kind < 0 || dport < 1 ||
	    dport > 65535)
		die("send needs --dev, --dst-mac, --dst and --kind "
		    "syn|udp|frag");
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			die("cpu %d: %s", cpu, strerror(errno));
	}
	fl.ifindex = ifindex(dev);
	mac(dmac, dm);
	dev_mac(dev, sm);
	prefix(src, &fl.src, &fl.mask);
	fl.len = frame_build(fl.frame, fl.kind, dm, sm, fl.src, ip4(dst),
	    (uint16_t)dport);
	libbpf_set_print(libbpf_quiet);
	getrusage(RUSAGE_SELF, &r0);
	t0 = now_ns();
	if (!afp && live_run(&fl, obj) != 0) {
		fprintf(stderr, "flood_gen: live frames unavailable (%s): "
		    "AF_PACKET instead\n", obj ? obj : "no --obj");
		afp = 1;
	}
	if (afp)
		afp_run(&fl);
	t1 = now_ns();
	getrusage(RUSAGE_SELF, &r1);
	us = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
	    (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
	ss = (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
	    (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	printf("FLOOD mode=%s kind=%s sent=%llu bad=%llu seconds=%.3f "
	    "pps=%.0f user_s=%.3f sys_s=%.3f cpu_ns_per_pkt=%.1f\n", fl.mode,
	    fl.kind == FLOOD_TCP ? "syn" : fl.kind == FLOOD_UDP ? "udp" :
	    "frag", (unsigned long long)fl.sent, (unsigned long long)fl.bad,
	    (double)(t1 - t0) / 1e9,
	    (double)fl.sent * 1e9 / (double)(t1 - t0), us, ss,
	    fl.sent ? (us + ss) * 1e9 / (double)fl.sent : 0.0);
	return 0;
}

/* ---- conn: real idle connections ---- */

struct conn {
	int	fd;
	int	state;		/* 0 pending, 1 established, 2 refused,
				   3 closed by the server */
};

static int
cmd_conn(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'D' },
		{ "dport", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "hold", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in sa, da;
	struct epoll_event ev, evs[256];
	struct conn *cs;
	struct rlimit rl;
	const char *src = NULL, *dst = NULL;
	double rate = 1000, hold = 3;
	int c, n = 1000, dport = 443, ep, opened = 0, i, k, one = 1;
	int est = 0, refused = 0, closed = 0, pending;
	uint64_t t0, end, t;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': src = optarg; break;
		case 'D': dst = optarg; break;
		case 'p': dport = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 't': hold = atof(optarg); break;
		default: exit(2);
		}
	}
	if (!src || !dst || n < 1 || rate <= 0)
		die("conn needs --src, --dst, a --count and a --rate");
	rl.rlim_cur = rl.rlim_max = (rlim_t)n + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("RLIMIT_NOFILE %d: %s", n + 64, strerror(errno));
	if ((cs = calloc((size_t)n, sizeof(*cs))) == NULL ||
	    (ep = epoll_create1(0)) < 0)
		die("out of memory");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = ip4(src);
	da = sa;
	da.sin_addr.s_addr = ip4(dst);
	da.sin_port = htons((uint16_t)dport);
	t0 = now_ns();
	end = t0 + (uint64_t)(hold * 1e9);
	while ((t = now_ns()) < end) {
		int due = (int)((double)(t - t0) * rate / 1e9);

		for (; opened < n && opened < due; opened++) {
			struct conn *x = &cs[opened];

			x->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (x->fd < 0)
				die("socket: %s", strerror(errno));
			(void)setsockopt(x->fd, IPPROTO_IP,
			    IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
			if (bind(x->fd, (struct sockaddr *)&sa,
			    sizeof(sa)) != 0)
				die("bind %s: %s", src, strerror(errno));
			if (connect(x->fd, (struct sockaddr *)&da,
			    sizeof(da)) != 0 && errno != EINPROGRESS) {
				x->state = 2;
				continue;
			}
			ev.events = EPOLLOUT | EPOLLRDHUP;
			ev.data.u32 = (uint32_t)opened;
			(void)epoll_ctl(ep, EPOLL_CTL_ADD, x->fd, &ev);
		}
		k = epoll_wait(ep, evs, 256, 5);
		for (i = 0; i < k; i++) {
			struct conn *x = &cs[evs[i].data.u32];
			int err = 0;
			socklen_t el = sizeof(err);

			if (x->state == 0) {
				(void)getsockopt(x->fd, SOL_SOCKET, SO_ERROR,
				    &err, &el);
				if (err != 0) {
					x->state = 2;
					(void)epoll_ctl(ep, EPOLL_CTL_DEL,
					    x->fd, NULL);
					continue;
				}
				x->state = 1;
				ev.events = EPOLLRDHUP;
				ev.data.u32 = evs[i].data.u32;
				(void)epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
			} else if (x->state == 1 &&
			    (evs[i].events & (EPOLLRDHUP | EPOLLHUP |
			    EPOLLERR))) {
				x->state = 3;
				(void)epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
			}
		}
	}
	for (i = 0; i < opened; i++) {
		est += cs[i].state == 1;
		refused += cs[i].state == 2;
		closed += cs[i].state == 3;
	}
	pending = opened - est - refused - closed;
	printf("CONN tried=%d established=%d refused=%d pending=%d "
	    "closed=%d\n", opened, est, refused, pending, closed);
	for (i = 0; i < opened; i++)
		if (cs[i].fd > 0)
			close(cs[i].fd);
	free(cs);
	return 0;
}

/* ---- device knobs ---- */

static int
cmd_sink(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "net", required_argument, NULL, 'n' },
		{ "host", required_argument, NULL, 'h' },
		{ "obj", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct bpf_object *obj;
	struct bpf_program *prog;
	const char *dev = NULL, *net = NULL, *host = NULL, *path = NULL;
	uint32_t base, mask;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'n': net = optarg; break;
		case 'h': host = optarg; break;
		case 'o': path = optarg; break;
		default: exit(2);
		}
	}
	if (!dev || !net || !host || !path)
		die("sink needs --dev, --net, --host and --obj");
	libbpf_set_print(libbpf_quiet);
	prefix(net, &base, &mask);
	obj = obj_open(path);
	rodata_set(obj, "cfg_sink_net", base);
	rodata_set(obj, "cfg_sink_mask", htonl(~mask));
	rodata_set(obj, "cfg_sink_host", ip4(host));
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, strcmp(bpf_program__name(prog),
		    "flood_sink") == 0);
	if (bpf_object__load(obj) != 0)
		die("%s: cannot load: %s", path, strerror(errno));
	prog = bpf_object__find_program_by_name(obj, "flood_sink");
	if (bpf_xdp_attach(ifindex(dev), bpf_program__fd(prog),
	    XDP_FLAGS_DRV_MODE, NULL) != 0)
		die("%s: cannot attach flood_sink: %s", dev, strerror(errno));
	return 0;
}

static int
ethtool(const char *dev, void *cmd)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rc;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = cmd;
	rc = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	return rc;
}

static int
cmd_gro(int argc, char **argv)
{
	struct ethtool_value v = { .cmd = ETHTOOL_SGRO };

	if (argc != 4 || strcmp(argv[1], "--dev") != 0)
		die("usage: flood_gen gro --dev DEV on|off");
	v.data = strcmp(argv[3], "on") == 0;
	if (ethtool(argv[2], &v) != 0)
		die("%s: GRO %s: %s", argv[2], argv[3], strerror(errno));
	return 0;
}

static int
cmd_stats(int argc, char **argv)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ethtool_gstrings *gs;
	struct ethtool_stats *st;
	uint32_t i, n;

	if (argc != 3 || strcmp(argv[1], "--dev") != 0)
		die("usage: flood_gen stats --dev DEV");
	if (ethtool(argv[2], &di) != 0)
		die("%s: %s", argv[2], strerror(errno));
	n = di.n_stats;
	gs = calloc(1, sizeof(*gs) + n * ETH_GSTRING_LEN);
	st = calloc(1, sizeof(*st) + n * sizeof(uint64_t));
	if (gs == NULL || st == NULL)
		die("out of memory");
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_STATS;
	gs->len = n;
	st->cmd = ETHTOOL_GSTATS;
	st->n_stats = n;
	if (ethtool(argv[2], gs) != 0 || ethtool(argv[2], st) != 0)
		die("%s: statistics: %s", argv[2], strerror(errno));
	for (i = 0; i < n; i++)
		printf("%.*s %llu\n", ETH_GSTRING_LEN,
		    (char *)gs->data + i * ETH_GSTRING_LEN,
		    (unsigned long long)st->data[i]);
	free(gs);
	free(st);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: flood_gen send|conn|sink|gro|stats ...");
	if (strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 1, argv + 1);
	if (strcmp(argv[1], "conn") == 0)
		return cmd_conn(argc - 1, argv + 1);
	if (strcmp(argv[1], "sink") == 0)
		return cmd_sink(argc - 1, argv + 1);
	if (strcmp(argv[1], "gro") == 0)
		return cmd_gro(argc - 1, argv + 1);
	if (strcmp(argv[1], "stats") == 0)
		return cmd_stats(argc - 1, argv + 1);
	die("unknown command '%s'", argv[1]);
	return 2;
}
