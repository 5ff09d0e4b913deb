/*
 * status.c: streamgate status (its flags: main.c's table).
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
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>		/* before linux/in.h, which netfilter.h pulls */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>

#include <cjson/cJSON.h>
#include <libnftnl/chain.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "filter.h"
#include "log.h"
#include "nft.h"
#include "nft_nl.h"
#include "probe.h"
#include "spec.h"
#include "status.h"

#define HTTP_TIMEOUT_MS	1000

/* What stays the same between refreshes. */
struct sctx {
	const char		*dev;		/* --dev */
	const char		*table;
	int			 json, watch;
	int			 env_ok;	/* root and a bpffs: maps readable */
	struct probe_where	 where;
	struct config		*cfg;		/* NULL: no readable config */
	char			 cfg_err[1024];
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

	if (c->env_ok && filter_pins_present() && filter_maps_open(&m) == 0) {
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
		} else if (filter_pins_present()) {
			cJSON_AddNullToObject(x, "present");
			cJSON_AddStringToObject(x, "error", "pinned maps "
			    "unreadable (see the message above)");
		} else
			cJSON_AddBoolToObject(x, "present", 0);
		cJSON_AddItemToObject(x, "attached", cJSON_CreateArray());
	}
	cJSON_AddStringToObject(x, "pin_dir", SG_PIN_DIR);
	if (c->dev)
		xdp_dev(x, c->dev);
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
counter_json(const struct nftnl_rule *r)
{
	struct nft_rule_counter rc;
	cJSON *o;

	if (!nft_rule_counter(r, &rc))
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "packets", (double)rc.packets);
	cJSON_AddNumberToObject(o, "bytes", (double)rc.bytes);
	cJSON_AddStringToObject(o, "chain", rc.chain);
	cJSON_AddNumberToObject(o, "handle", (double)rc.handle);
	cJSON_AddStringToObject(o, "comment", rc.comment);
	return o;
}

/* The table in the first family that has it: inet, else netdev. */
static void
nft_find(struct nft_nl *nl, const char *table, cJSON *n)
{
	struct nft_ktable k;
	cJSON *chains, *counters, *o;
	size_t j;
	int rc;

	if ((rc = nft_ktable_find(nl, table, &k)) <= 0) {
		if (rc == 0)
			cJSON_AddBoolToObject(n, "present", 0);
		else {
			cJSON_AddNullToObject(n, "present");
			cJSON_AddStringToObject(n, "error",
			    nft_nl_strerror(errno));
		}
		return;
	}
	chains = cJSON_AddArrayToObject(n, "chains");
	for (j = 0; j < k.nchains; j++)
		cJSON_AddItemToArray(chains, chain_json(k.family,
		    k.chains[j]));
	counters = cJSON_AddArrayToObject(n, "counters");
	for (j = 0; j < k.nrules; j++)
		if ((o = counter_json(k.rules[j])) != NULL)
			cJSON_AddItemToArray(counters, o);
	cJSON_AddBoolToObject(n, "present", 1);
	cJSON_AddStringToObject(n, "family", nft_family_name(k.family));
	cJSON_AddNumberToObject(n, "rules", k.nrules);
	nft_ktable_free(&k);
}

static cJSON *
nft_collect(const struct sctx *c)
{
	const char *table = c->table ? c->table : NFT_DEFAULT_TABLE;
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

	probe_target(&cfg->metrics, &to);
	cJSON_AddStringToObject(m, "address", to.text);
	code = probe_get(&to, "/metrics", HTTP_TIMEOUT_MS, &body, err,
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

	probe_target(&cfg->listen[0], &to);
	cJSON_AddStringToObject(h, "address", to.text);
	cJSON_AddStringToObject(h, "path", cfg->route_health);
	t0 = clock_mono_s();
	code = probe_get(&to, cfg->route_health, HTTP_TIMEOUT_MS, NULL,
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
	pid_t pid = probe_pid_read(c->where.pid_file);
	int code = -1;

	cJSON_AddStringToObject(d, "config", c->where.config);
	/* no file: the daemon's own defaults, as a daemon without one runs */
	cJSON_AddBoolToObject(d, "config_present",
	    access(c->where.config, F_OK) == 0);
	cJSON_AddStringToObject(d, "pid_file", c->where.pid_file);
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
	printf("  config    %s%s\n", str(d, "config"), h != NULL &&
	    cJSON_IsFalse(cJSON_GetObjectItem(d, "config_present")) ?
	    " (absent: the daemon's defaults)" : "");
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

/* The config is read once: the daemon reads it at start, too. */
static void
sctx_init(struct sctx *c, const struct cli_args *a)
{
	struct spec sp;

	memset(c, 0, sizeof(*c));
	spec_build(a, SPEC_NFT, &sp);	/* --table, checked */
	spec_free(&sp);
	c->dev = a->v[CF_DEV];
	c->table = a->v[CF_TABLE];
	c->json = cli_has(a, CF_JSON);
	c->watch = cli_has(a, CF_WATCH);
	probe_where(a, &c->where);
	if (probe_config(&c->where, &c->cfg, c->cfg_err,
	    sizeof(c->cfg_err)) != 0)
		c->cfg = NULL;
	/* quietly: status says "unknown" where filter_env_check would warn */
	c->env_ok = geteuid() == 0 && access("/sys/fs/bpf", F_OK) == 0;
}

int
status_run(const struct cli_args *a)
{
	struct sctx c;
	cJSON *prev = NULL, *cur;
	double t, tprev = 0;

	sctx_init(&c, a);
	if (!c.watch) {		/* two samples, a second apart */
		prev = status_collect(&c);
		tprev = clock_mono_s();
		sleep(1);
	}
	for (;;) {
		cur = status_collect(&c);
		t = clock_mono_s();
		if (prev != NULL)
			rates_add(cur, prev, t - tprev);
		status_print(cur, c.json, c.watch);
		cJSON_Delete(prev);
		prev = cur;
		tprev = t;
		if (!c.watch)
			break;
		sleep(1);
	}
	cJSON_Delete(prev);
	probe_config_free(c.cfg);
	return 0;
}
