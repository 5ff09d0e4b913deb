/*
 * status.c: streamgate status [--dev DEV] [--config FILE] [--table NAME]
 *                             [--run-dir DIR] [--json] [--watch]
 *
 * Each refresh builds one JSON object (the --json output); the text screen
 * is drawn from that object, so both always say the same.  Rates compare
 * two such objects: the counters of the same region, reason, rule or
 * outcome, over the seconds between them.
 *
 *   xdp     filter_stats_print()'s JSON, plus where the program runs
 *   nft     our table (inet or netdev): chains, and every rule that counts
 *   daemon  pid file, GET /healthz on the first listener, GET /metrics
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "filter.h"
#include "log.h"
#include "nft.h"
#include "nft_nl.h"
#include "status.h"
#include "updown.h"

#define HTTP_TIMEOUT_MS	1000
#define HTTP_MAX	(4u << 20)	/* a /metrics page is a few KiB */

struct sopts {
	const char	*dev;
	const char	*config;
	const char	*table;
	const char	*run_dir;
	int		 json;
	int		 watch;
};

/* What stays the same between refreshes. */
struct sctx {
	struct sopts	 o;
	int		 env_ok;	/* root and a bpffs: maps readable */
	struct config	*cfg;		/* NULL: no readable config */
	char		 cfg_err[1024];
	char		 pid_file[PATH_MAX];
};

enum { SO_DEV = 256, SO_CONFIG, SO_TABLE, SO_RUN_DIR, SO_JSON, SO_WATCH };

static const struct option long_opts[] = {
	{ "dev",	required_argument,	0, SO_DEV },
	{ "config",	required_argument,	0, SO_CONFIG },
	{ "table",	required_argument,	0, SO_TABLE },
	{ "run-dir",	required_argument,	0, SO_RUN_DIR },
	{ "json",	no_argument,		0, SO_JSON },
	{ "watch",	no_argument,		0, SO_WATCH },
	{ "help",	no_argument,		0, 'h' },
	{ 0, 0, 0, 0 }
};

static double
num(const cJSON *o, const char *key, double dflt)
{
	const cJSON *n = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(n) ? n->valuedouble : dflt;
}

static const char *
str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s ? s : "?";
}

/* HTTP: one GET, Connection: close, bounded by a deadline. */

void
status_target(const struct config_listen *l, struct config_listen *to)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&to->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&to->addr;

	*to = *l;
	if (to->addr.ss_family == AF_INET &&
	    a4->sin_addr.s_addr == htonl(INADDR_ANY)) {
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		snprintf(to->text, sizeof(to->text), "127.0.0.1:%u",
		    ntohs(a4->sin_port));
	} else if (to->addr.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr)) {
		a6->sin6_addr = in6addr_loopback;
		snprintf(to->text, sizeof(to->text), "[::1]:%u",
		    ntohs(a6->sin6_port));
	}
}

static int
ms_left(double deadline)
{
	double left = (deadline - clock_mono_s()) * 1000;

	return left > 0 ? (int)left + 1 : 0;
}

static int
http_connect(const struct config_listen *to, double deadline)
{
	struct pollfd pfd;
	socklen_t sl = sizeof(int);
	int fd, soerr = 0;

	fd = socket(to->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)&to->addr, to->addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, ms_left(deadline)) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
		errno = soerr ? soerr : errno;
		goto fail;
	}
	return fd;
fail:
	soerr = errno;
	close(fd);
	errno = soerr;
	return -1;
}

/*
 * One probe connection: plaintext, or TLS when the listener has a
 * certificate.  The TLS side checks liveness, not identity: it talks to
 * our own daemon on a local address, so the certificate is not verified.
 */
struct probe {
	int	 fd;
	SSL_CTX	*ctx;
	SSL	*ssl;
};

static void
probe_close(struct probe *p)
{
	if (p->ssl != NULL)
		SSL_free(p->ssl);
	if (p->ctx != NULL)
		SSL_CTX_free(p->ctx);
	close(p->fd);
}

/* Wait for what the last SSL call wants; -1 with errno on failure. */
static int
probe_wait(struct probe *p, int rc, double deadline)
{
	struct pollfd pfd = { .fd = p->fd };

	switch (SSL_get_error(p->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		pfd.events = POLLIN;
		break;
	case SSL_ERROR_WANT_WRITE:
		pfd.events = POLLOUT;
		break;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
	if (poll(&pfd, 1, ms_left(deadline)) != 1) {
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

static int
probe_tls(struct probe *p, double deadline)
{
	int rc;

	if ((p->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (p->ssl = SSL_new(p->ctx)) == NULL ||
	    SSL_set_fd(p->ssl, p->fd) != 1) {
		errno = ENOMEM;
		return -1;
	}
	SSL_CTX_set_min_proto_version(p->ctx, TLS1_2_VERSION);
	while ((rc = SSL_connect(p->ssl)) != 1)
		if (probe_wait(p, rc, deadline) != 0)
			return -1;
	return 0;
}

static ssize_t
probe_recv(struct probe *p, char *buf, size_t len, double deadline)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	int n;

	if (p->ssl == NULL) {
		if (poll(&pfd, 1, ms_left(deadline)) != 1) {
			errno = ETIMEDOUT;
			return -1;
		}
		return recv(p->fd, buf, len, 0);
	}
	while ((n = SSL_read(p->ssl, buf, (int)len)) <= 0) {
		if (SSL_get_error(p->ssl, n) == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (probe_wait(p, n, deadline) != 0)
			return errno == EPROTO ? 0 : -1;  /* no close_notify */
	}
	return n;
}

static int
probe_send(struct probe *p, const char *buf, size_t len, double deadline)
{
	int n;

	/* a few hundred bytes into an empty socket buffer: one send */
	if (p->ssl == NULL)
		return send(p->fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ?
		    0 : -1;
	while ((n = SSL_write(p->ssl, buf, (int)len)) <= 0)
		if (probe_wait(p, n, deadline) != 0)
			return -1;
	return 0;
}

/* Done when the peer closed, or the Content-Length is all there. */
static int
http_complete(const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4), *cl;

	if (end == NULL)
		return 0;
	cl = strcasestr(buf, "\r\ncontent-length:");
	if (cl == NULL || cl > end)
		return 0;
	return len >= (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
}

/* The whole answer into *out (NUL-terminated); 0, or -1 with errno. */
static int
http_read(struct probe *p, double deadline, char **out, size_t *outlen)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *nb;
	ssize_t n;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 16384;
			nb = cap > HTTP_MAX ? NULL : realloc(buf, cap);
			if (nb == NULL) {
				errno = EMSGSIZE;
				break;
			}
			buf = nb;
		}
		if ((n = probe_recv(p, buf + len, cap - len - 1,
		    deadline)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (n == 0 || http_complete(buf, len)) {
			*out = buf;
			*outlen = len;
			return 0;
		}
	}
	free(buf);
	return -1;
}

int
status_http_get(const struct config_listen *to, const char *path,
    int timeout_ms, char **body, char *err, size_t errlen)
{
	double deadline = clock_mono_s() + timeout_ms / 1000.0;
	struct probe p = { .fd = -1 };
	char req[512], *resp = NULL, *b;
	size_t len;
	int n, code = -1;

	if (body)
		*body = NULL;
	if ((p.fd = http_connect(to, deadline)) == -1) {
		log_errbuf(err, errlen, "connect %s: %s", to->text,
		    strerror(errno));
		return -1;
	}
	if (to->tls_cert[0] != '\0' && probe_tls(&p, deadline) != 0) {
		log_errbuf(err, errlen, "TLS handshake with %s: %s", to->text,
		    strerror(errno));
		probe_close(&p);
		return -1;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: streamgate-status\r\nConnection: close\r\n\r\n",
	    path, to->text);
	if (probe_send(&p, req, (size_t)n, deadline) != 0 ||
	    http_read(&p, deadline, &resp, &len) != 0) {
		log_errbuf(err, errlen, "GET %s from %s: %s", path, to->text,
		    strerror(errno));
		probe_close(&p);
		return -1;
	}
	probe_close(&p);
	if (sscanf(resp, "HTTP/1.%*[01] %d", &code) != 1 || code < 100) {
		log_errbuf(err, errlen, "GET %s from %s: not an HTTP answer",
		    path, to->text);
		code = -1;
	} else if (body && (b = strstr(resp, "\r\n\r\n")) != NULL)
		*body = strdup(b + 4);
	free(resp);
	return code;
}

/* XDP: what `filter stats --json` says, and where the program runs. */

/* filter_stats.c renders what it reads only as text or JSON on stdout:
 * catching its JSON in a memfd keeps one reader of the maps. */
static cJSON *
xdp_stats(const struct filter_maps *m)
{
	cJSON *j = NULL;
	char *buf = NULL;
	off_t len;
	int mfd, saved, rc;

	fflush(stdout);
	if ((mfd = memfd_create("streamgate-status", MFD_CLOEXEC)) == -1)
		return NULL;
	if ((saved = dup(STDOUT_FILENO)) == -1 ||
	    dup2(mfd, STDOUT_FILENO) == -1) {
		if (saved != -1)
			close(saved);
		close(mfd);
		return NULL;
	}
	rc = filter_stats_print(m, 1);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	len = lseek(mfd, 0, SEEK_END);
	if (rc == 0 && len > 0 && (buf = malloc((size_t)len + 1)) != NULL &&
	    pread(mfd, buf, (size_t)len, 0) == len) {
		buf[len] = '\0';
		j = cJSON_Parse(buf);
	}
	free(buf);
	close(mfd);
	return j;
}

static int
pins_present(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", SG_PIN_DIR,
	    filter_map_name(FM_CONFIG));
	return access(path, F_OK) == 0;
}

/* --dev: does it exist, and does it run our program. */
static void
xdp_dev(cJSON *x, const char *dev)
{
	cJSON *d = cJSON_AddObjectToObject(x, "dev"), *u;
	unsigned int ifindex = if_nametoindex(dev);
	int on = 0;

	cJSON_AddStringToObject(d, "name", dev);
	if (ifindex)
		cJSON_AddNumberToObject(d, "ifindex", ifindex);
	else
		cJSON_AddNullToObject(d, "ifindex");
	cJSON_ArrayForEach(u, cJSON_GetObjectItem(x, "attached"))
		on |= strcmp(str(u, "dev"), dev) == 0;
	cJSON_AddBoolToObject(d, "attached", on);
}

static cJSON *
xdp_collect(const struct sctx *c)
{
	struct filter_maps m;
	cJSON *x = NULL, *u;

	if (c->env_ok && pins_present() && filter_maps_open(&m) == 0) {
		x = xdp_stats(&m);
		filter_maps_close(&m);
	}
	if (x != NULL) {
		cJSON_AddBoolToObject(x, "present", 1);
		cJSON_ArrayForEach(u, cJSON_GetObjectItem(x, "attached"))
			cJSON_AddNumberToObject(u, "ifindex",
			    if_nametoindex(str(u, "dev")));
	} else {
		x = cJSON_CreateObject();
		if (!c->env_ok) {
			cJSON_AddNullToObject(x, "present");
			cJSON_AddStringToObject(x, "error", "cannot read the "
			    "maps: needs root and a bpffs at /sys/fs/bpf");
		} else if (pins_present()) {
			cJSON_AddNullToObject(x, "present");
			cJSON_AddStringToObject(x, "error", "pinned maps "
			    "unreadable (see the message above)");
		} else
			cJSON_AddBoolToObject(x, "present", 0);
		cJSON_AddItemToObject(x, "attached", cJSON_CreateArray());
	}
	cJSON_AddStringToObject(x, "pin_dir", SG_PIN_DIR);
	if (c->o.dev)
		xdp_dev(x, c->o.dev);
	return x;
}

/* nftables: our table's chains, and each rule that carries a counter. */

static cJSON *
chain_json(int family, const struct nftnl_chain *c)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", nftnl_chain_get_str(c,
	    NFTNL_CHAIN_NAME));
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) {
		cJSON_AddStringToObject(o, "type", nftnl_chain_get_str(c,
		    NFTNL_CHAIN_TYPE));
		cJSON_AddStringToObject(o, "hook", nft_hook_name(family,
		    nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM)));
		cJSON_AddNumberToObject(o, "priority", nftnl_chain_get_s32(c,
		    NFTNL_CHAIN_PRIO));
		cJSON_AddStringToObject(o, "policy", nftnl_chain_get_u32(c,
		    NFTNL_CHAIN_POLICY) == NF_DROP ? "drop" : "accept");
	}
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEV))
		cJSON_AddStringToObject(o, "device", nftnl_chain_get_str(c,
		    NFTNL_CHAIN_DEV));
	return o;
}

/* A rule's counter as {chain, handle, comment, packets, bytes}. */
static cJSON *
rule_counter(const struct nftnl_rule *r)
{
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	const char *comment = NULL;
	const void *ud;
	uint32_t len;
	cJSON *o = NULL;

	if ((it = nftnl_expr_iter_create(r)) == NULL)
		return NULL;
	while (o == NULL && (e = nftnl_expr_iter_next(it)) != NULL) {
		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME),
		    "counter") != 0)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "packets", (double)
		    nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS));
		cJSON_AddNumberToObject(o, "bytes", (double)
		    nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES));
	}
	nftnl_expr_iter_destroy(it);
	if (o == NULL)
		return NULL;
	if (nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) {
		ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
		comment = nft_udata_comment(ud, len);
	}
	cJSON_AddStringToObject(o, "chain", nftnl_rule_get_str(r,
	    NFTNL_RULE_CHAIN));
	cJSON_AddNumberToObject(o, "handle", (double)nftnl_rule_get_u64(r,
	    NFTNL_RULE_HANDLE));
	cJSON_AddStringToObject(o, "comment", comment ? comment : "");
	return o;
}

/* The table in the first family that has it: inet, else netdev. */
static void
nft_find(struct nft_nl *nl, const char *table, cJSON *n)
{
	static const char *families[] = { "inet", "netdev" };
	struct nft_ktable k;
	cJSON *chains, *counters, *o;
	size_t j;
	int i, rc;

	for (i = 0; i < 2; i++) {
		if ((rc = nft_nl_table_exists(nl, nft_family(families[i]),
		    table)) == 0)
			continue;
		if (rc < 0 || nft_ktable_read(nl, nft_family(families[i]),
		    table, 0, &k) != 0)
			break;
		chains = cJSON_AddArrayToObject(n, "chains");
		for (j = 0; j < k.nchains; j++)
			cJSON_AddItemToArray(chains, chain_json(k.family,
			    k.chains[j]));
		counters = cJSON_AddArrayToObject(n, "counters");
		for (j = 0; j < k.nrules; j++)
			if ((o = rule_counter(k.rules[j])) != NULL)
				cJSON_AddItemToArray(counters, o);
		cJSON_AddBoolToObject(n, "present", 1);
		cJSON_AddStringToObject(n, "family", families[i]);
		cJSON_AddNumberToObject(n, "rules", k.nrules);
		nft_ktable_free(&k);
		return;
	}
	if (i == 2) {
		cJSON_AddBoolToObject(n, "present", 0);
		return;
	}
	cJSON_AddNullToObject(n, "present");
	cJSON_AddStringToObject(n, "error", nft_nl_strerror(errno));
}

static cJSON *
nft_collect(const struct sctx *c)
{
	const char *table = c->o.table ? c->o.table : NFT_DEFAULT_TABLE;
	cJSON *n = cJSON_CreateObject();
	struct nft_nl nl;

	cJSON_AddStringToObject(n, "table", table);
	if (geteuid() != 0) {	/* nf_tables lists rulesets to root only */
		cJSON_AddNullToObject(n, "present");
		cJSON_AddStringToObject(n, "error", nft_nl_strerror(EPERM));
		return n;
	}
	if (nft_nl_open(&nl, "status: nft") != 0) {
		cJSON_AddNullToObject(n, "present");
		cJSON_AddStringToObject(n, "error", "no nf_tables socket");
		return n;
	}
	nft_find(&nl, table, n);
	nft_nl_close(&nl);
	return n;
}

/* The daemon: pid file, /healthz, /metrics. */

/* "outcome" of a sample's labels: {route="push",outcome="ok"}. */
static int
label_value(const char *labels, const char *name, char *buf, size_t len)
{
	char key[64];
	const char *p, *q;

	snprintf(key, sizeof(key), "%s=\"", name);
	for (p = labels; (p = strstr(p, key)) != NULL; p++)
		if (p[-1] == '{' || p[-1] == ',')
			break;
	if (p == NULL || (q = strchr(p += strlen(key), '"')) == NULL ||
	    (size_t)(q - p) >= len)
		return -1;
	memcpy(buf, p, (size_t)(q - p));
	buf[q - p] = '\0';
	return 0;
}

static void
number_add(cJSON *o, const char *key, double v)
{
	cJSON *n = cJSON_GetObjectItem(o, key);

	if (n == NULL)
		cJSON_AddNumberToObject(o, key, v);
	else
		cJSON_SetNumberValue(n, n->valuedouble + v);
}

/*
 * Prometheus text, read generically (the names still change):
 * streamgate_requests_total summed by outcome over routes, every
 * unlabelled streamgate_events_* gauge, and streamgate_store_events_total.
 */
static void
metrics_parse(char *text, cJSON *m)
{
	cJSON *req = cJSON_AddObjectToObject(m, "requests"), *r;
	cJSON *store = cJSON_AddObjectToObject(m, "store");
	char *line, *save = NULL, *sp, outcome[64];
	size_t nlen;
	double v;

	for (line = strtok_r(text, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || (sp = strrchr(line, ' ')) == NULL)
			continue;
		v = strtod(sp + 1, NULL);
		nlen = strcspn(line, "{ ");
		if (nlen == 25 && strncmp(line, "streamgate_requests_total",
		    nlen) == 0 && line[nlen] == '{' &&
		    label_value(line + nlen, "outcome", outcome,
		    sizeof(outcome)) == 0) {
			if ((r = cJSON_GetObjectItem(req, outcome)) == NULL)
				r = cJSON_AddObjectToObject(req, outcome);
			number_add(r, "total", v);
		} else if (line[nlen] == ' ' &&
		    strncmp(line, "streamgate_events_", 18) == 0) {
			line[nlen] = '\0';
			cJSON_AddNumberToObject(store, line + 11, v);
		} else if (line[nlen] == ' ' && strncmp(line,
		    "streamgate_store_events_total ", nlen + 1) == 0) {
			r = cJSON_AddObjectToObject(store, "stored");
			cJSON_AddNumberToObject(r, "total", v);
		}
	}
}

static void
daemon_metrics(const struct config *cfg, cJSON *d)
{
	struct config_listen to;
	cJSON *m = cJSON_AddObjectToObject(d, "metrics");
	char err[256], *body;
	int code;

	status_target(&cfg->metrics, &to);
	cJSON_AddStringToObject(m, "address", to.text);
	code = status_http_get(&to, "/metrics", HTTP_TIMEOUT_MS, &body, err,
	    sizeof(err));
	if (code == 200 && body != NULL)
		metrics_parse(body, m);
	else if (code > 0)
		cJSON_AddNumberToObject(m, "status", code);
	else
		cJSON_AddStringToObject(m, "error", err);
	free(body);
}

static int
daemon_health(const struct config *cfg, cJSON *d)
{
	struct config_listen to;
	cJSON *h = cJSON_AddObjectToObject(d, "health");
	char err[256];
	double t0;
	int code;

	status_target(&cfg->listen[0], &to);
	cJSON_AddStringToObject(h, "address", to.text);
	cJSON_AddStringToObject(h, "path", cfg->route_health);
	t0 = clock_mono_s();
	code = status_http_get(&to, cfg->route_health, HTTP_TIMEOUT_MS, NULL,
	    err, sizeof(err));
	if (code > 0) {
		cJSON_AddNumberToObject(h, "status", code);
		cJSON_AddNumberToObject(h, "ms",
		    (double)(long)((clock_mono_s() - t0) * 1e4) / 10);
	} else {
		cJSON_AddNullToObject(h, "status");
		cJSON_AddStringToObject(h, "error", err);
	}
	return code;
}

static cJSON *
daemon_collect(const struct sctx *c)
{
	cJSON *d = cJSON_CreateObject();
	pid_t pid = updown_pid_read(c->pid_file);
	int code = -1;

	cJSON_AddStringToObject(d, "pid_file", c->pid_file);
	cJSON_AddStringToObject(d, "pid_state", pid > 0 ? "running" :
	    pid == 0 ? "absent" : "stale");
	if (pid > 0)
		cJSON_AddNumberToObject(d, "pid", pid);
	else
		cJSON_AddNullToObject(d, "pid");
	if (c->cfg == NULL)
		cJSON_AddStringToObject(d, "config_error", c->cfg_err);
	else {
		code = daemon_health(c->cfg, d);
		if (c->cfg->has_metrics)
			daemon_metrics(c->cfg, d);
	}
	/* either proof will do: systemd keeps no pid file of ours */
	cJSON_AddBoolToObject(d, "up", code == 200 || pid > 0);
	return d;
}

static cJSON *
status_collect(const struct sctx *c)
{
	cJSON *s = cJSON_CreateObject();

	cJSON_AddNumberToObject(s, "time", (double)time(NULL));
	cJSON_AddItemToObject(s, "xdp", xdp_collect(c));
	cJSON_AddItemToObject(s, "nft", nft_collect(c));
	cJSON_AddItemToObject(s, "daemon", daemon_collect(c));
	return s;
}

/* Rates: the same counter in two samples, dt seconds apart. */

static void
rate_set(cJSON *cur, const cJSON *prev, const char *key, const char *name,
    double dt)
{
	double a = num(prev, key, -1), b = num(cur, key, -1);

	/* a counter that went back was reset (a re-attach, a new table) */
	if (prev != NULL && a >= 0 && b >= a)
		cJSON_AddNumberToObject(cur, name, (double)(long)((b - a) / dt *
		    10) / 10);
}

/* The element of arr whose key equals that of like. */
static const cJSON *
match(const cJSON *arr, const cJSON *like, const char *key)
{
	const cJSON *e, *k = cJSON_GetObjectItem(like, key), *ek;

	cJSON_ArrayForEach(e, arr) {
		ek = cJSON_GetObjectItem(e, key);
		if (cJSON_IsString(k) && cJSON_IsString(ek) &&
		    strcmp(k->valuestring, ek->valuestring) == 0)
			return e;
		if (cJSON_IsNumber(k) && cJSON_IsNumber(ek) &&
		    k->valuedouble == ek->valuedouble)
			return e;
	}
	return NULL;
}

static void
rates_array(cJSON *cur, const cJSON *prev, const char *key, const char *field,
    const char *name, double dt)
{
	cJSON *e;

	cJSON_ArrayForEach(e, cur)
		rate_set(e, match(prev, e, key), field, name, dt);
}

static void
rates_object(cJSON *cur, const cJSON *prev, const char *field,
    const char *name, double dt)
{
	cJSON *e;

	cJSON_ArrayForEach(e, cur)
		rate_set(e, cJSON_GetObjectItem(prev, e->string), field, name,
		    dt);
}

#define PATH2(o, a, b)	cJSON_GetObjectItem(cJSON_GetObjectItem(o, a), b)
#define PATH3(o, a, b, c) cJSON_GetObjectItem(PATH2(o, a, b), c)

static void
rates_add(cJSON *cur, const cJSON *prev, double dt)
{
	cJSON_AddNumberToObject(cur, "rate_interval_s",
	    (double)(long)(dt * 1000) / 1000);
	rates_array(PATH2(cur, "xdp", "regions"), PATH2(prev, "xdp", "regions"),
	    "region", "packets", "pps", dt);
	rates_object(PATH2(cur, "xdp", "dropped"), PATH2(prev, "xdp",
	    "dropped"), "packets", "pps", dt);
	rates_array(PATH2(cur, "nft", "counters"), PATH2(prev, "nft",
	    "counters"), "handle", "packets", "pps", dt);
	rates_object(PATH3(cur, "daemon", "metrics", "requests"),
	    PATH3(prev, "daemon", "metrics", "requests"), "total", "per_s", dt);
	rate_set(cJSON_GetObjectItem(PATH3(cur, "daemon", "metrics", "store"),
	    "stored"), cJSON_GetObjectItem(PATH3(prev, "daemon", "metrics",
	    "store"), "stored"), "total", "per_s", dt);
}

/* Text: drawn from the JSON object alone. */

static void
rate_print(const cJSON *o, const char *name)
{
	const cJSON *r = cJSON_GetObjectItem(o, name);

	if (cJSON_IsNumber(r))
		printf(" %9.1f", r->valuedouble);
	else
		printf(" %9s", "-");
}

static void
text_xdp(const cJSON *x)
{
	const cJSON *e, *p = cJSON_GetObjectItem(x, "present");
	const cJSON *att = cJSON_GetObjectItem(x, "attached");
	const cJSON *dev = cJSON_GetObjectItem(x, "dev");
	int k = 0;

	printf("XDP filter  ");
	if (!cJSON_IsTrue(p))
		printf("%s (%s)\n", cJSON_IsNull(p) ? "unknown" : "absent",
		    cJSON_IsNull(p) ? str(x, "error") : "no maps pinned in "
		    SG_PIN_DIR);
	else {
		printf("attached to ");
		cJSON_ArrayForEach(e, att)
			printf("%s%s (ifindex %.0f, %s, prog %.0f)",
			    k++ ? ", " : "", str(e, "dev"),
			    num(e, "ifindex", 0), str(e, "xdp_mode"),
			    num(e, "prog_id", 0));
		printf("%s\n            mode %s%s, ports ", k ? "" :
		    "no device (maps pinned)", str(x, "mode"),
		    cJSON_IsTrue(cJSON_GetObjectItem(x, "synced")) ? "" :
		    " (never synced)");
		k = 0;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(x, "ports"))
			printf("%s%.0f", k++ ? "," : "", e->valuedouble);
		printf("%s, generation %.0f\n", strcmp(str(x, "mode"),
		    "strict") ? "" : " (strict: all)", num(x, "generation", 0));
	}
	if (dev != NULL && !cJSON_IsTrue(cJSON_GetObjectItem(dev, "attached")))
		printf("            %s: %s\n", str(dev, "name"),
		    cJSON_IsNull(cJSON_GetObjectItem(dev, "ifindex")) ?
		    "no such device" : "does not run the filter");
	if (!cJSON_IsTrue(p))
		return;
	printf("  %-22s %8s %14s %9s %16s\n", "passed (region)", "entries",
	    "packets", "pkt/s", "bytes");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(x, "regions")) {
		printf("  %-22s %8.0f %14.0f", str(e, "region"),
		    num(e, "entries", 0), num(e, "packets", 0));
		rate_print(e, "pps");
		printf(" %16.0f\n", num(e, "bytes", 0));
	}
	printf("  %-22s %8s %14s %9s %16s\n", "dropped (reason)", "",
	    "packets", "pkt/s", "bytes");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(x, "dropped")) {
		printf("  %-22s %8s %14.0f", e->string, "",
		    num(e, "packets", 0));
		rate_print(e, "pps");
		printf(" %16.0f\n", num(e, "bytes", 0));
	}
}

static void
text_nft(const cJSON *n)
{
	const cJSON *e, *p = cJSON_GetObjectItem(n, "present");

	printf("nftables    ");
	if (!cJSON_IsTrue(p)) {
		if (cJSON_IsNull(p))
			printf("unknown (%s)\n", str(n, "error"));
		else
			printf("absent (no table %s in inet or netdev)\n",
			    str(n, "table"));
		return;
	}
	printf("table %s %s, %.0f rules\n", str(n, "family"), str(n, "table"),
	    num(n, "rules", 0));
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(n, "chains")) {
		printf("  chain %s", str(e, "name"));
		if (cJSON_GetObjectItem(e, "hook"))
			printf(": %s hook %s priority %.0f policy %s", str(e,
			    "type"), str(e, "hook"), num(e, "priority", 0),
			    str(e, "policy"));
		if (cJSON_GetObjectItem(e, "device"))
			printf(" device %s", str(e, "device"));
		printf("\n");
	}
	printf("  %-31s %14s %9s %16s\n", "counted (rule comment)", "packets",
	    "pkt/s", "bytes");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(n, "counters")) {
		printf("  %-31s %14.0f", str(e, "comment")[0] ? str(e,
		    "comment") : "(no comment)", num(e, "packets", 0));
		rate_print(e, "pps");
		printf(" %16.0f\n", num(e, "bytes", 0));
	}
}

static void
text_metrics(const cJSON *m)
{
	const cJSON *e, *s = cJSON_GetObjectItem(m, "store");
	int k = 0;

	if (cJSON_GetObjectItem(m, "requests") == NULL) {
		printf("  metrics   %s: %s\n", str(m, "address"),
		    cJSON_GetObjectItem(m, "error") ? str(m, "error") :
		    "no answer");
		return;
	}
	printf("  requests ");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(m, "requests")) {
		printf("%s %s %.0f", k++ ? "," : "", e->string,
		    num(e, "total", 0));
		if (cJSON_GetObjectItem(e, "per_s"))
			printf(" (%.1f/s)", num(e, "per_s", 0));
	}
	printf("%s\n  store    ", k ? "" : " none yet");
	k = 0;
	cJSON_ArrayForEach(e, s) {
		if (cJSON_IsNumber(e))
			printf("%s %s %.0f", k++ ? "," : "", e->string,
			    e->valuedouble);
		else {
			printf("%s %s %.0f", k++ ? "," : "", e->string,
			    num(e, "total", 0));
			if (cJSON_GetObjectItem(e, "per_s"))
				printf(" (%.1f/s)", num(e, "per_s", 0));
		}
	}
	printf("%s\n", k ? "" : " no store metrics");
}

static void
text_daemon(const cJSON *d)
{
	const cJSON *h = cJSON_GetObjectItem(d, "health");
	const cJSON *m = cJSON_GetObjectItem(d, "metrics");

	printf("daemon      %s: ", cJSON_IsTrue(cJSON_GetObjectItem(d, "up")) ?
	    "up" : "down");
	if (cJSON_IsNumber(cJSON_GetObjectItem(d, "pid")))
		printf("pid %.0f (%s)", num(d, "pid", 0), str(d, "pid_file"));
	else
		printf("%s pid file %s", strcmp(str(d, "pid_state"), "stale") ?
		    "no" : "stale", str(d, "pid_file"));
	if (h == NULL)
		printf("; no config (%s)\n", str(d, "config_error"));
	else if (cJSON_IsNumber(cJSON_GetObjectItem(h, "status")))
		printf("; GET %s on %s: %.0f in %.1f ms\n", str(h, "path"),
		    str(h, "address"), num(h, "status", 0), num(h, "ms", 0));
	else
		printf("; GET %s: %s\n", str(h, "path"), str(h, "error"));
	if (m != NULL)
		text_metrics(m);
	else if (h != NULL)
		printf("  metrics   not configured (\"metrics\" in the "
		    "config)\n");
}

static void
status_print(const cJSON *s, int json, int watch)
{
	char *text, when[32];
	time_t t = (time_t)num(s, "time", 0);

	if (json) {
		text = watch ? cJSON_PrintUnformatted(s) : cJSON_Print(s);
		if (text == NULL)
			fatalx("status: out of memory");
		printf("%s\n", text);
		free(text);
		fflush(stdout);
		return;
	}
	if (watch && isatty(STDOUT_FILENO))
		printf("\033[H\033[2J");
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
	printf("streamgate status  %s  ", when);
	if (cJSON_GetObjectItem(s, "rate_interval_s"))
		printf("(rates over %.1f s)\n\n", num(s, "rate_interval_s", 0));
	else
		printf("(rates from the next refresh)\n\n");
	text_xdp(cJSON_GetObjectItem(s, "xdp"));
	text_nft(cJSON_GetObjectItem(s, "nft"));
	text_daemon(cJSON_GetObjectItem(s, "daemon"));
	fflush(stdout);
}

static void
sopts_parse(int argc, char **argv, int argi, struct sopts *o)
{
	struct nft_spec ns;
	char err[256];
	int c;

	memset(o, 0, sizeof(*o));
	optind = argi;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", long_opts, NULL)) != -1) {
		switch (c) {
		case SO_DEV:		o->dev = optarg; break;
		case SO_CONFIG:		o->config = optarg; break;
		case SO_TABLE:		o->table = optarg; break;
		case SO_RUN_DIR:	o->run_dir = optarg; break;
		case SO_JSON:		o->json = 1; break;
		case SO_WATCH:		o->watch = 1; break;
		case 'h':
			printf("usage: streamgate status [--dev DEV] "
			    "[--config FILE] [--table NAME] [--run-dir DIR]\n"
			    "                         [--json] [--watch]\n");
			exit(0);
		default:
			cli_usage_error("unknown or incomplete flag '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		cli_usage_error("status: unexpected argument '%s'",
		    argv[optind]);
	if (o->dev)
		cli_dev_check(o->dev);
	nft_spec_init(&ns);
	if (o->table && nft_spec_table(&ns, o->table, err, sizeof(err)) != 0)
		cli_usage_error("%s", err);
	nft_spec_free(&ns);
}

/* The config is read once: the daemon reads it at start, too. */
static void
sctx_init(struct sctx *c, int argc, char **argv, int argi)
{
	const char *path;

	memset(c, 0, sizeof(*c));
	sopts_parse(argc, argv, argi, &c->o);
	path = c->o.config ? c->o.config : UPDOWN_CONFIG;
	updown_pid_path(c->o.run_dir, c->pid_file, sizeof(c->pid_file));
	if ((c->cfg = calloc(1, sizeof(*c->cfg))) == NULL)
		fatal("%s", __func__);
	config_defaults(c->cfg);
	if (config_load_file(path, c->cfg, c->cfg_err,
	    sizeof(c->cfg_err)) != 0) {
		free(c->cfg);
		c->cfg = NULL;
	}
	/* quietly: status says "unknown" where filter_env_check would warn */
	c->env_ok = geteuid() == 0 && access("/sys/fs/bpf", F_OK) == 0;
}

int
status_main(int argc, char **argv, int argi)
{
	struct sctx c;
	cJSON *prev = NULL, *cur;
	double t, tprev = 0;

	sctx_init(&c, argc, argv, argi);
	if (!c.o.watch) {	/* two samples, a second apart */
		prev = status_collect(&c);
		tprev = clock_mono_s();
		sleep(1);
	}
	for (;;) {
		cur = status_collect(&c);
		t = clock_mono_s();
		if (prev != NULL)
			rates_add(cur, prev, t - tprev);
		status_print(cur, c.o.json, c.o.watch);
		cJSON_Delete(prev);
		prev = cur;
		tprev = t;
		if (!c.o.watch)
			break;
		sleep(1);
	}
	cJSON_Delete(prev);
	if (c.cfg)
		config_free(c.cfg);
	free(c.cfg);
	return 0;
}
