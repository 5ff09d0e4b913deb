/*
 * sysstats.c: the one process that keeps a privilege after the drop.
 *
 * /metrics shows the XDP filter's and the nft table's counters.  The
 * pinned maps are root's 0600 files in the bpffs (on this kernel
 * BPF_OBJ_GET and map lookups need no capability, only the file's
 * owner), and nf_tables answers a dump to CAP_NET_ADMIN alone.  Rather
 * than keep either in the daemon, a child forked before the drop keeps
 * just that: uid 0 and CAP_NET_ADMIN (bounding set included), nothing
 * inheritable, no_new_privs, not dumpable, and a seccomp filter without
 * open(2): it can make netlink sockets, get a pinned map, read its info
 * and elements, and answer on its socket, nothing else.  It never sees a secret (their pages are
 * MADV_WIPEONFORK) nor a client.
 *
 * Whether our XDP program is the one attached would take
 * BPF_PROG_GET_FD_BY_ID, i.e. CAP_SYS_ADMIN: streamgate_xdp_attached is 1
 * when the maps are pinned and an interface of the namespace runs an XDP
 * program.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/netlink.h>

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "filter.h"
#include "log.h"
#include "nft.h"
#include "nft_nl.h"
#include "privsep.h"
#include "sysstats.h"

struct sysstats {
	int		 fd;
	pid_t		 pid;		/* the forked helper; -1 over a socket */
	char		 path[108];	/* the counters socket, or "" */
	int64_t		 retry_ms;	/* no reconnect before then */
	uint8_t		 seq;
	char		*buf;		/* what came in, not yet answers */
	size_t		 have;
};

/* ---- the helper: XDP counters ---- */

/* nf_tables dumps need CAP_NET_ADMIN; the pins need their owner, uid 0,
 * and, before Linux 6.5 with unprivileged BPF disabled (Debian's default),
 * CAP_BPF for any bpf(2) call at all */
#define HELPER_CAPS	((1ULL << CAP_NET_ADMIN) | (1ULL << CAP_BPF))

/* 1 with x filled when the maps are pinned and readable. */
static int
xdp_read(struct filter_counters *x)
{
	struct filter_maps m;
	int fd, rc;

	memset(x, 0, sizeof(*x));
	/* not pinned (or not ours to read): quietly nothing */
	if ((fd = bpf_obj_get(SG_PIN_DIR "/" SG_MAP_CONFIG)) < 0)
		return 0;
	close(fd);
	if (filter_maps_open(&m) != 0)
		return 0;
	rc = filter_counters_read(&m, x) == 0;
	if (!rc)
		log_warn("sysstats: %s", SG_PIN_DIR);
	filter_maps_close(&m);
	return rc;
}

static int
xdp_attached(void)
{
	struct if_nameindex *ifs, *i;
	int on = 0;

	if ((ifs = if_nameindex()) == NULL)
		return 0;
	for (i = ifs; i->if_index != 0 && !on; i++) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		on = bpf_xdp_query((int)i->if_index, 0, &q) == 0 &&
		    q.prog_id != 0;
	}
	if_freenameindex(ifs);
	return on;
}

/* A label value, escaped as the text format wants. */
static void
label_put(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', out);
		if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

/* One family (packets or bytes) of every XDP counter. */
static void
xdp_family(FILE *out, const struct filter_counters *x, int bytes)
{
	const char *unit = bytes ? "bytes" : "packets";
	int k;

	fprintf(out, "# HELP streamgate_xdp_%s_total The XDP filter's %s: "
	    "passed per region, dropped or passed unchecked per reason.\n"
	    "# TYPE streamgate_xdp_%s_total counter\n", unit, unit, unit);
	for (k = 0; k < SG_MAX_REGIONS; k++) {
		if (x->name[k].name[0] == '\0')
			continue;
		fprintf(out, "streamgate_xdp_%s_total{region=\"", unit);
		label_put(out, x->name[k].name);
		fprintf(out, "\",verdict=\"pass\"} %llu\n", (unsigned long long)
		    (bytes ? x->pass[k].bytes : x->pass[k].packets));
	}
	for (k = 0; k < SG_DROP_MAX; k++)
		fprintf(out, "streamgate_xdp_%s_total{reason=\"%s\","
		    "verdict=\"drop\"} %llu\n", unit, filter_drop_names[k],
		    (unsigned long long)(bytes ? x->drop[k].bytes :
		    x->drop[k].packets));
	for (k = 0; k < SG_SKIP_MAX; k++)
		fprintf(out, "streamgate_xdp_%s_total{reason=\"%s\","
		    "verdict=\"unchecked\"} %llu\n", unit, filter_skip_names[k],
		    (unsigned long long)(bytes ? x->skip[k].bytes :
		    x->skip[k].packets));
}

static void
xdp_render(FILE *out)
{
	struct filter_counters x;
	int have = xdp_read(&x);

	fprintf(out, "# HELP streamgate_xdp_attached Whether the XDP "
	    "filter's maps are pinned and an interface runs an XDP program.\n"
	    "# TYPE streamgate_xdp_attached gauge\n"
	    "streamgate_xdp_attached %d\n", have && xdp_attached());
	if (have) {
		xdp_family(out, &x, 0);
		xdp_family(out, &x, 1);
	}
}

/* ---- the helper: nft rule counters ---- */

/* Counted rules summed by comment: v4 and v6 of a region share one. */
struct nft_count {
	char		rule[NFT_NAME_LEN];
	uint64_t	packets, bytes;
};

struct nft_counts {
	struct nft_count	*c;
	size_t			 n;
	int			 present;
};

static struct nft_count *
nft_slot(struct nft_counts *nc, const char *rule)
{
	struct nft_count *c;
	size_t i;

	for (i = 0; i < nc->n; i++)
		if (strcmp(nc->c[i].rule, rule) == 0)
			return &nc->c[i];
	if ((c = reallocarray(nc->c, nc->n + 1, sizeof(*c))) == NULL)
		return NULL;
	nc->c = c;
	c = &nc->c[nc->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->rule, sizeof(c->rule), "%s", rule);
	return c;
}

/* A counted rule, summed under its comment (or its handle). */
static void
nft_rule_count(struct nft_counts *nc, const struct nftnl_rule *r)
{
	struct nft_rule_counter rc;
	struct nft_count *c;
	char rule[NFT_NAME_LEN];

	if (!nft_rule_counter(r, &rc))
		return;
	if (rc.comment[0] != '\0')
		snprintf(rule, sizeof(rule), "%s", rc.comment);
	else
		snprintf(rule, sizeof(rule), "handle %llu",
		    (unsigned long long)rc.handle);
	if ((c = nft_slot(nc, rule)) == NULL)
		return;
	c->packets += rc.packets;
	c->bytes += rc.bytes;
}

/* Our table, found as `streamgate status` finds it. */
static void
nft_read(struct nft_counts *nc)
{
	struct nft_ktable k;
	struct nft_nl nl;
	size_t j;

	memset(nc, 0, sizeof(*nc));
	if (nft_nl_open(&nl, "sysstats") != 0)
		return;
	if (nft_ktable_find(&nl, NFT_DEFAULT_TABLE, &k) == 1) {
		nc->present = 1;
		for (j = 0; j < k.nrules; j++)
			nft_rule_count(nc, k.rules[j]);
		nft_ktable_free(&k);
	}
	nft_nl_close(&nl);
}

static void
nft_render(FILE *out)
{
	struct nft_counts nc;
	size_t i;
	int b;

	nft_read(&nc);
	fprintf(out, "# HELP streamgate_nft_table_present Whether the nft "
	    "table " NFT_DEFAULT_TABLE " is loaded (inet or netdev).\n"
	    "# TYPE streamgate_nft_table_present gauge\n"
	    "streamgate_nft_table_present %d\n", nc.present);
	for (b = 0; b < 2 && nc.n > 0; b++) {
		fprintf(out, "# HELP streamgate_nft_%s_total The nft table's "
		    "counted rules, by rule comment.\n"
		    "# TYPE streamgate_nft_%s_total counter\n",
		    b ? "bytes" : "packets", b ? "bytes" : "packets");
		for (i = 0; i < nc.n; i++) {
			fprintf(out, "streamgate_nft_%s_total{rule=\"",
			    b ? "bytes" : "packets");
			label_put(out, nc.c[i].rule);
			fprintf(out, "\"} %llu\n", (unsigned long long)
			    (b ? nc.c[i].bytes : nc.c[i].packets));
		}
	}
	free(nc.c);
}

void
sysstats_render(FILE *out)
{
	xdp_render(out);
	nft_render(out);
}

/* ---- the helper: its life ---- */

static const int helper_calls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close), SCMP_SYS(brk),
	SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(futex), SCMP_SYS(fcntl), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(getpid), SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(exit), SCMP_SYS(exit_group),
	/* netlink: nf_tables and rtnetlink (interfaces, their XDP) */
	SCMP_SYS(bind), SCMP_SYS(getsockname), SCMP_SYS(setsockopt),
	SCMP_SYS(getsockopt), SCMP_SYS(sendto), SCMP_SYS(sendmsg),
	SCMP_SYS(recvfrom), SCMP_SYS(recvmsg),
};

static int
helper_calls_args(scmp_filter_ctx ctx)
{
	static const int bpf_cmds[] = { BPF_OBJ_GET, BPF_OBJ_GET_INFO_BY_FD,
	    BPF_MAP_LOOKUP_ELEM };
	static const int protos[] = { NETLINK_ROUTE, NETLINK_NETFILTER };
	struct scmp_arg_cmp a[2];
	size_t i;
	int rc = 0;

	a[0] = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	rc |= seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, a);
	rc |= seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect),
	    1, a);
	for (i = 0; i < sizeof(bpf_cmds) / sizeof(bpf_cmds[0]); i++) {
		a[0] = SCMP_A0(SCMP_CMP_EQ, bpf_cmds[i]);
		rc |= seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW,
		    SCMP_SYS(bpf), 1, a);
	}
	a[0] = SCMP_A0(SCMP_CMP_EQ, AF_NETLINK);
	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		a[1] = SCMP_A2(SCMP_CMP_EQ, protos[i]);
		rc |= seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW,
		    SCMP_SYS(socket), 2, a);
	}
	return rc != 0 ? -1 : 0;
}

int
sysstats_seccomp(int kill)
{
	/* one thread: no tsync */
	return privsep_filter_load(kill, 0, helper_calls,
	    sizeof(helper_calls) / sizeof(helper_calls[0]), helper_calls_args);
}

static int
libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/* Keep uid 0 and CAP_NET_ADMIN, nothing else, then the filter. */
static void
helper_confine(pid_t parent, int fd)
{
	sigset_t none;

	/* parent 0: started by systemd on an accepted connection
	 * (--counters-helper), which ends with that connection */
	if (parent != 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent))
		_exit(1);		/* the daemon is already gone */
	(void)prctl(PR_SET_NAME, "sg-sysstats", 0, 0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* only the socket and stderr stay open */
	if (dup2(fd, 3) == -1 || close_range(4, ~0U, 0) == -1)
		_exit(1);
	libbpf_set_print(libbpf_quiet);
	/* reads /sys once and caches it: before the filter forbids open */
	(void)libbpf_num_possible_cpus();
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		_exit(1);
	/* not root (tests): there is nothing to keep, and the bounding
	 * set cannot be touched */
	if (privsep_caps_limit(HELPER_CAPS, HELPER_CAPS) == -1 &&
	    geteuid() == 0) {
		log_warnx("sysstats: cannot limit its capabilities");
		_exit(1);
	}
	if (sysstats_seccomp(privsep_seccomp_kill()) == -1) {
		log_warnx("sysstats: cannot load its seccomp filter");
		_exit(1);
	}
}

static int
write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, c, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
helper_answer(int fd, uint8_t seq)
{
	struct sysstats_hdr h = { seq, 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int rc;

	if ((out = open_memstream(&text, &len)) == NULL)
		return -1;
	sysstats_render(out);
	if (fclose(out) != 0)
		return -1;
	if (len > SYSSTATS_MAX)
		len = 0;	/* cannot be: 64 regions and a few rules */
	h.len = (uint32_t)len;
	rc = write_all(fd, &h, sizeof(h)) == 0 && write_all(fd, text,
	    len) == 0 ? 0 : -1;
	free(text);
	return rc;
}

static void __attribute__((noreturn))
helper_main(pid_t parent, int fd)
{
	uint8_t seq;
	ssize_t n;

	helper_confine(parent, fd);
	for (;;) {
		if ((n = read(3, &seq, 1)) == -1 && errno == EINTR)
			continue;
		if (n != 1 || helper_answer(3, seq) != 0)
			_exit(0);	/* the daemon closed its end */
	}
}

/*
 * streamgated --counters-helper: the helper as its own unit
 * (streamgate-counters.socket, Accept=yes), for a daemon that never was
 * root.  systemd hands it the accepted connection as fd 3.
 */
int
sysstats_serve(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int type = 0;
	socklen_t len = sizeof(type);

	if (pid == NULL || n == NULL || strtol(pid, NULL, 10) != getpid() ||
	    strcmp(n, "1") != 0 || getsockopt(3, SOL_SOCKET, SO_TYPE, &type,
	    &len) == -1 || type != SOCK_STREAM) {
		log_warnx("--counters-helper: no connection on fd 3 (run by "
		    "streamgate-counters.socket with Accept=yes)");
		return 2;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	helper_main(0, 3);
}

/* ---- the daemon's side ---- */

/* Connect to the counters socket: 0, or -1 (ss->fd stays -1). */
static int
sysstats_dial(struct sysstats *ss)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, ss->path, strlen(ss->path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
		close(fd);
		return -1;
	}
	ss->fd = fd;
	ss->have = 0;
	return 0;
}

struct sysstats *
sysstats_connect(const char *path)
{
	struct sysstats *ss;

	if (strlen(path) >= sizeof(ss->path)) {
		log_warnx("sysstats: %s: path too long", path);
		return NULL;
	}
	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return NULL;
	ss->fd = -1;
	ss->pid = -1;
	snprintf(ss->path, sizeof(ss->path), "%s", path);
	if (sysstats_dial(ss) == -1)
		log_warn("sysstats: %s (streamgate-counters.socket): will "
		    "retry at each scrape", path);
	return ss;
}

struct sysstats *
sysstats_start(void)
{
	struct sysstats *ss;
	pid_t parent = getpid();
	int sv[2];

	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", __func__);
		free(ss);
		return NULL;
	}
	fflush(stderr);
	if ((ss->pid = fork()) == -1) {
		log_warn("%s: fork", __func__);
		close(sv[0]);
		close(sv[1]);
		free(ss);
		return NULL;
	}
	if (ss->pid == 0) {
		close(sv[0]);
		helper_main(parent, sv[1]);
	}
	close(sv[1]);
	ss->fd = sv[0];
	if (fcntl(ss->fd, F_SETFL, O_NONBLOCK) == -1)
		log_warn("%s: fcntl", __func__);
	return ss;
}

static void
sysstats_gone(struct sysstats *ss)
{
	if (ss->path[0] != '\0')
		log_warnx("sysstats: the counters helper on %s is gone: "
		    "reconnecting at the next scrape", ss->path);
	else
		log_warnx("sysstats: the helper is gone: /metrics says "
		    "streamgate_sysstats_up 0 from now on");
	close(ss->fd);
	ss->fd = -1;
	ss->have = 0;
	ss->retry_ms = clock_mono_ms() + 1000;
	if (ss->pid > 0)
		(void)waitpid(ss->pid, NULL, WNOHANG);
}

/* Whole answers in the buffer: 1 when ours was written to out, 0 when
 * more must come, -1 when the stream makes no sense. */
static int
answers_take(struct sysstats *ss, uint8_t seq, FILE *out)
{
	struct sysstats_hdr h;
	size_t whole;

	while (ss->have >= sizeof(h)) {
		memcpy(&h, ss->buf, sizeof(h));
		if (h.len > SYSSTATS_MAX)
			return -1;
		whole = sizeof(h) + h.len;
		if (ss->have < whole)
			return 0;
		if (h.seq == seq)
			fwrite(ss->buf + sizeof(h), 1, h.len, out);
		/* an answer to a query that timed out is dropped */
		memmove(ss->buf, ss->buf + whole, ss->have - whole);
		ss->have -= whole;
		if (h.seq == seq)
			return 1;
	}
	return 0;
}

/* Read what is there; -1 when the helper is gone. */
static int
answers_read(struct sysstats *ss)
{
	size_t cap = sizeof(struct sysstats_hdr) + SYSSTATS_MAX;
	ssize_t n;

	if (ss->buf == NULL && (ss->buf = malloc(cap)) == NULL)
		return -1;
	n = read(ss->fd, ss->buf + ss->have, cap - ss->have);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	ss->have += (size_t)n;
	return 0;
}

int
sysstats_query(struct sysstats *ss, int timeout_ms, FILE *out)
{
	int64_t deadline = clock_mono_ms() + timeout_ms, left;
	struct pollfd pfd;
	uint8_t seq;
	int rc;

	if (ss == NULL)
		return -1;
	if (ss->fd == -1) {
		/* over a socket: at most one reconnect a second */
		if (ss->path[0] == '\0' || clock_mono_ms() < ss->retry_ms)
			return -1;
		if (sysstats_dial(ss) == -1) {
			ss->retry_ms = clock_mono_ms() + 1000;
			return -1;
		}
	}
	seq = ++ss->seq;
	if (write(ss->fd, &seq, 1) != 1) {
		if (errno != EAGAIN)
			sysstats_gone(ss);
		return -1;
	}
	for (;;) {
		if ((rc = answers_take(ss, seq, out)) != 0)
			break;
		if ((left = deadline - clock_mono_ms()) <= 0)
			return -1;
		pfd.fd = ss->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) == 1 && answers_read(ss) == -1) {
			rc = -1;
			break;
		}
	}
	if (rc == -1)
		sysstats_gone(ss);
	return rc == 1 ? 0 : -1;
}

void
sysstats_stop(struct sysstats *ss)
{
	if (ss == NULL)
		return;
	if (ss->fd != -1)
		close(ss->fd);
	free(ss->buf);
	free(ss);
}
