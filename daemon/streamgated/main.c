/*
 * streamgated: the verifier daemon.  HTTP in, API key and signature
 * checked, deduplicated, stored durably, answered; see README.md.
 *
 *   streamgated [--config FILE] [--listen ADDR:PORT]... [--key API_KEY=SECRET_FILE]...
 *               [--store sqlite:PATH] [--upstream URL] [--metrics ADDR:PORT]
 *               [--check-config]
 *
 * Setup reads everything it needs (config, secrets, store, sockets) before
 * any worker starts, then the daemon drops to its user with no capability
 * and a seccomp filter (privsep.h); signals are taken by the main thread
 * with sigwait.
 * Besides the workers and the store's writer there are at most two more
 * threads: push delivery (with a push upstream) and the synchronous hooks
 * (with a Before-Message-Send or Custom Commands upstream).
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "dedup.h"
#include "deliver.h"
#include "hook.h"
#include "jsonarena.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "privsep.h"
#include "server.h"
#include "store.h"
#include "sysstats.h"
#include "tls.h"
#include "upstream.h"
#include "version.h"

#define EXIT_USAGE	2
#define DEDUP_MAX	(1u << 20)	/* ids remembered in memory, at most */

enum { OPT_CONFIG = 256, OPT_LISTEN, OPT_KEY, OPT_STORE, OPT_UPSTREAM,
	OPT_METRICS, OPT_CHECK, OPT_TLS_CERT, OPT_TLS_KEY, OPT_USER,
	OPT_VERSION };

static const struct option opts[] = {
	{ "config",		required_argument,	0, OPT_CONFIG },
	{ "listen",		required_argument,	0, OPT_LISTEN },
	{ "key",		required_argument,	0, OPT_KEY },
	{ "store",		required_argument,	0, OPT_STORE },
	{ "upstream",		required_argument,	0, OPT_UPSTREAM },
	{ "metrics",		required_argument,	0, OPT_METRICS },
	{ "check-config",	no_argument,		0, OPT_CHECK },
	{ "tls-cert",		required_argument,	0, OPT_TLS_CERT },
	{ "tls-key",		required_argument,	0, OPT_TLS_KEY },
	{ "user",		required_argument,	0, OPT_USER },
	{ "version",		no_argument,		0, OPT_VERSION },
	{ "help",		no_argument,		0, 'h' },
	{ 0, 0, 0, 0 }
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
"usage: streamgated [--config FILE]\n"
"                   [--listen ADDR:PORT [--tls-cert FILE --tls-key FILE]]...\n"
"                   [--key API_KEY=SECRET_FILE]...\n"
"                   [--store sqlite:PATH | redis://HOST:PORT[/DB] |\n"
"                            nats://HOST:PORT[,HOST:PORT...]]\n"
"                   [--upstream URL] [--metrics ADDR:PORT] [--user NAME]\n"
"                   [--check-config]\n"
"       streamgated --version\n");
	exit(status);
}

static void __attribute__((noreturn))
usage_error(const char *msg)
{
	log_warnx("%s", msg);
	exit(EXIT_USAGE);
}

/*
 * The config file first, then every flag over it, in order, then the
 * secrets.  0, or -1 with err naming the key or flag.  Used at start and on
 * SIGHUP, so it never exits.
 */
static int
config_build(int argc, char **argv, struct config *cfg, int *check,
    char *err, size_t errlen)
{
	int c, nlisten = 0, nkey = 0, rc = 0;

	config_defaults(cfg);
	opterr = 0;
	optind = 0;		/* a full rescan, also on reload */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			usage(0);
		if (c == OPT_VERSION) {
			version_print(stdout, "streamgated");
			exit(0);
		}
		if (c == OPT_CONFIG &&
		    config_load_file(optarg, cfg, err, errlen) != 0)
			return -1;
		if (c == '?') {
			snprintf(err, errlen, "unknown or incomplete flag '%s'",
			    argv[optind - 1]);
			return -1;
		}
	}
	optind = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			rc = config_flag_listen(cfg, optarg, nlisten++ == 0, err,
			    errlen);
			break;
		case OPT_KEY:
			rc = config_flag_key(cfg, optarg, nkey++ == 0, err,
			    errlen);
			break;
		case OPT_STORE:
			rc = config_flag_store(cfg, optarg, err, errlen);
			break;
		case OPT_UPSTREAM:
			rc = config_flag_upstream(cfg, optarg, err, errlen);
			break;
		case OPT_METRICS:
			rc = config_flag_metrics(cfg, optarg, err, errlen);
			break;
		case OPT_TLS_CERT:
		case OPT_TLS_KEY:
			rc = config_flag_tls(cfg, c == OPT_TLS_KEY, optarg,
			    nlisten > 0, err, errlen);
			break;
		case OPT_USER:
			rc = config_flag_user(cfg, optarg, err, errlen);
			break;
		case OPT_CHECK:
			*check = 1;
			break;
		case 'h':
			usage(0);
		}
	}
	if (rc != 0 || config_check(cfg, err, errlen) != 0)
		return -1;
	if (optind != argc) {
		snprintf(err, errlen, "unexpected argument (streamgated takes "
		    "flags only)");
		return -1;
	}
	if (cfg->nkeys == 0) {
		snprintf(err, errlen, "keys: no API key: give --key "
		    "API_KEY=SECRET_FILE or \"keys\" in the config file");
		return -1;
	}
	return config_load_secrets(cfg, err, errlen);
}

/* What the daemon runs, for reload and stop. */
struct daemon {
	struct server	*srv;
	struct pipeline	*pl;
	struct store	*store;
	struct deliver	*dl;		/* NULL: no push upstream at start */
	struct hook	*hook;		/* NULL: no hook upstream yet */
	struct tls_tickets *tickets;	/* kept across reloads */
};

/*
 * The TLS contexts of cfg's listeners, read from their certificate and key
 * files; NULL with err naming the file.  The ticket keys are made once and
 * kept across reloads, so a client resumes across a certificate renewal.
 */
static struct tls_set *
tls_begin(struct daemon *d, const struct config *cfg, char *err,
    size_t errlen)
{
	if (d->tickets == NULL &&
	    (d->tickets = tls_tickets_new(TLS_TICKET_PERIOD_S)) == NULL) {
		snprintf(err, errlen, "tls: cannot make session ticket keys");
		return NULL;
	}
	return tls_set_new(cfg, d->tickets, err, errlen);
}

static int
hooks_wanted(const struct config *cfg)
{
	return config_upstream(cfg, CR_BMS)[0] != '\0' ||
	    config_upstream(cfg, CR_COMMANDS)[0] != '\0';
}

static void
hooks_begin(struct daemon *d, const struct config *cfg)
{
	char err[256];

	if (d->hook != NULL || !hooks_wanted(cfg))
		return;
	if ((d->hook = hook_new(d->store, err, sizeof(err))) == NULL ||
	    hook_start(d->hook) != 0) {
		log_warnx("%s; the synchronous hooks are answered unchanged",
		    d->hook ? "hook: cannot start its thread" : err);
		hook_free(d->hook);
		d->hook = NULL;
		return;
	}
	pipeline_set_hook(d->pl, d->hook);
}

/*
 * Whether push events are delivered is fixed at start: the store was
 * opened for it and the delivery thread started (or not).  So a reload
 * that adds or removes the push upstream keeps the running state, and
 * says so; a changed URL is taken.  To pin the push route alone, each
 * route's upstream is written out and the shared "upstream" cleared.
 */
static void
upstreams_pin(struct config *next, const struct config *cur)
{
	char v[3][CONFIG_PATH_LEN];
	const char *running = config_upstream(cur, CR_PUSH);

	snprintf(v[0], sizeof(v[0]), "%s", config_upstream(next, CR_PUSH));
	snprintf(v[1], sizeof(v[1]), "%s", config_upstream(next, CR_BMS));
	snprintf(v[2], sizeof(v[2]), "%s", config_upstream(next, CR_COMMANDS));
	if ((running[0] == '\0') != (v[0][0] == '\0')) {
		log_warnx("SIGHUP: %s the push upstream takes a restart; "
		    "push events are %s as before", running[0] ? "removing" :
		    "adding", running[0] ? "delivered" : "kept");
		snprintf(v[0], sizeof(v[0]), "%s", running);
	}
	memcpy(next->upstream_push, v[0], sizeof(v[0]));
	memcpy(next->upstream_bms, v[1], sizeof(v[1]));
	memcpy(next->upstream_commands, v[2], sizeof(v[2]));
	next->upstream[0] = '\0';
}

/* Log where each route goes, at start (cur NULL) or when a reload
 * changed it.  Never a password in a URL. */
static void
upstreams_log(const struct config *cfg, const struct config *cur)
{
	static const enum config_route r[] = { CR_PUSH, CR_BMS, CR_COMMANDS };
	static const char *name[] = { "push events", "before-message-send "
	    "hooks", "custom commands" };
	char url[CONFIG_PATH_LEN];
	const char *u;
	size_t i;

	for (i = 0; i < 3; i++) {
		u = config_upstream(cfg, r[i]);
		if (cur != NULL ? strcmp(u, config_upstream(cur, r[i])) == 0 :
		    u[0] == '\0')
			continue;
		upstream_redact(u, url, sizeof(url));
		if (u[0] == '\0')
			log_info("%s: no upstream any more: answered here",
			    name[i]);
		else
			log_info("%s go to %s", name[i], url);
	}
}

/*
 * SIGHUP: read the config file and the secret files again.  A bad new
 * configuration is refused and the old one kept.  Listeners and the store
 * are set up once: a change to them needs a restart, and is reported.
 */
static struct config *
reload(int argc, char **argv, struct daemon *d, struct config *cur)
{
	struct config *next = calloc(1, sizeof(*next));
	const struct config *old;
	struct tls_set *tls;
	char err[1024];
	int check = 0;

	if (next == NULL || config_build(argc, argv, next, &check, err,
	    sizeof(err)) != 0) {
		log_warnx("SIGHUP: %s; keeping the running configuration",
		    next ? err : "out of memory");
		if (next) {
			config_free(next);
			free(next);
		}
		return cur;
	}
	if (strcmp(next->store, cur->store) != 0 ||
	    next->nlisten != cur->nlisten ||
	    memcmp(next->listen, cur->listen, sizeof(next->listen)) != 0 ||
	    next->has_metrics != cur->has_metrics)
		log_warnx("SIGHUP: listen, metrics and store changes take a "
		    "restart; the running ones are kept");
	snprintf(next->store, sizeof(next->store), "%s", cur->store);
	memcpy(next->listen, cur->listen, sizeof(next->listen));
	next->nlisten = cur->nlisten;
	next->metrics = cur->metrics;
	next->has_metrics = cur->has_metrics;
	/* certificates too: one bad file refuses the whole reload */
	if ((tls = tls_begin(d, next, err, sizeof(err))) == NULL) {
		log_warnx("SIGHUP: %s; keeping the running configuration", err);
		config_free(next);
		free(next);
		return cur;
	}
	upstreams_pin(next, cur);
	if (d->dl != NULL)
		deliver_configure(d->dl, next);
	hooks_begin(d, next);		/* before a worker sees the URL */
	upstreams_log(next, cur);
	/* new handshakes only: open connections keep their certificate */
	tls_set_free(server_set_tls(d->srv, tls));
	old = server_set_config(d->srv, next);
	config_free((struct config *)old);	/* wipes the old secrets */
	free((struct config *)old);
	log_info("SIGHUP: configuration reloaded (%zu key(s))", next->nkeys);
	return next;
}

/* Every connection is a descriptor: raise the soft limit to the hard one,
 * and say so when the connection limit still does not fit. */
static void
nofile_raise(const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("setrlimit NOFILE");
	if (rl.rlim_cur < (rlim_t)cfg->limits.connections + 64)
		log_warnx("limits.connections is %u but only %llu file "
		    "descriptors are allowed: connections past that are "
		    "refused", cfg->limits.connections,
		    (unsigned long long)rl.rlim_cur);
}

/* This daemon's name in a shared Redis consumer group: the host and the
 * first listener, so two daemons on one host differ and a restarted one
 * finds the events it had claimed. */
static const char *
consumer_name(const struct config *cfg, char *buf, size_t len)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "streamgated");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, len, "%s/%s", host, cfg->listen[0].text);
	return buf;
}

static void
delivery_begin(struct daemon *d, const struct config *cfg)
{
	char err[256];

	if (config_upstream(cfg, CR_PUSH)[0] == '\0')
		return;
	if ((d->dl = deliver_new(d->store, cfg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (deliver_start(d->dl) != 0)
		fatalx("cannot start the delivery thread");
}

/* sqlite:./var/streamgate.db: make ./var when it is missing. */
static void
store_dir_make(const char *uri)
{
	char path[CONFIG_PATH_LEN];

	if (strncmp(uri, "sqlite:", 7) != 0)
		return;
	snprintf(path, sizeof(path), "%s", uri + 7);
	if (mkdir(dirname(path), 0750) != 0 && errno != EEXIST)
		log_warn("mkdir %s", path);
}

/*
 * Before any thread: fork the helper that reads the XDP and nft counters
 * for /metrics (it keeps CAP_NET_ADMIN, which the daemon gives up), then
 * take the first step of the drop (ps: privsep_plan's), which every later
 * thread inherits.
 */
static struct sysstats *
privs_begin(const struct config *cfg, struct privsep *ps)
{
	const char *sock = getenv("STREAMGATE_COUNTERS_SOCKET");
	struct sysstats *ss = NULL;

	/* a daemon that is not root asks streamgate-counters.socket */
	if (cfg->has_metrics)
		metrics_set_sysstats(ss = sock != NULL && sock[0] != '\0' ?
		    sysstats_connect(sock) : sysstats_start());
	privsep_init(cfg, ps);
	return ss;
}

int
main(int argc, char **argv)
{
	struct config *cfg;
	struct daemon d = { 0 };
	struct store_options sopt;
	char consumer[320];
	struct dedup *dedup = NULL;	/* none: the store keeps the window */
	struct tls_set *tls;
	struct privsep ps;
	struct sysstats *ss;
	char err[1024];
	sigset_t sigs;
	int check = 0, sig;
	size_t i;

	log_init("streamgated", 0);
	/* streamgate-counters@.service: the counters helper on its own */
	if (argc == 2 && strcmp(argv[1], "--counters-helper") == 0)
		return sysstats_serve();
	umask(027);	/* the store holds users' messages */
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		fatal("%s", __func__);
	if (config_build(argc, argv, cfg, &check, err, sizeof(err)) != 0)
		usage_error(err);
	if ((tls = tls_begin(&d, cfg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	/* who to become: refused now, before anything is made or bound,
	 * and by --check-config as by the real start */
	if (privsep_plan(cfg, geteuid() == 0, &ps, err, sizeof(err)) != 0)
		usage_error(err);
	if (check) {
		printf("configuration OK: %zu listener(s), %zu key(s), "
		    "store %s\n", cfg->nlisten, cfg->nkeys, cfg->store);
		tls_set_free(tls);
		tls_tickets_free(d.tickets);
		config_free(cfg);
		free(cfg);
		return 0;
	}

	/* every worker inherits this mask: signals come to sigwait below */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	jsonarena_init();	/* before any worker parses a body */
	/* not thread-safe: before the store's writer or any other thread */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("libcurl: cannot initialise");
	nofile_raise(cfg);
	/* the listeners first: a second daemon on a taken address stops
	 * here, before it makes, opens or upgrades anybody's store */
	if ((d.srv = server_new(cfg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	(void)server_set_tls(d.srv, tls);	/* the server owns it now */
	store_dir_make(cfg->store);
	ss = privs_begin(cfg, &ps);
	sopt.dedup_window_ms = (uint64_t)cfg->dedup_window_s * 1000;
	sopt.dedup_max_ids = cfg->dedup_max_ids;
	sopt.retention_ms = (uint64_t)cfg->retention_s * 1000;
	sopt.redis_prefix = cfg->redis_prefix;
	sopt.consumer = consumer_name(cfg, consumer, sizeof(consumer));
	sopt.deliver = config_upstream(cfg, CR_PUSH)[0] != '\0';
	sopt.nats_stream = cfg->nats.stream;
	sopt.nats_prefix = cfg->nats.subject_prefix;
	sopt.nats_creds = cfg->nats.creds;
	sopt.nats_ca = cfg->nats.ca;
	sopt.nats_replicas = (int)cfg->nats.replicas;
	sopt.max_attempts = cfg->delivery.max_attempts;
	/* a message held this long without word is another host's: three
	 * attempts' worth, so a slow app is not mistaken for a lost host */
	sopt.ack_wait_ms = cfg->delivery.timeout_ms * 3 < 5000 ? 5000 :
	    cfg->delivery.timeout_ms * 3;
	sopt.backoff_base_ms = cfg->delivery.backoff_base_ms;
	sopt.backoff_cap_ms = cfg->delivery.backoff_cap_ms;
	if ((d.store = store_open(cfg->store, &sopt, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	/*
	 * The workers' id cache only where the store forgets ids before the
	 * window ends (NATS).  In front of SQLite or Redis it held the same
	 * ids a second time and cost every webhook about 8% of a worker (its
	 * lookup, its insert under a lock shared by the workers, and the heap
	 * it grows) to answer a rare retry one commit sooner.
	 */
	if (!store_dedups_window(d.store) &&
	    (dedup = dedup_new(cfg->dedup_window_s, DEDUP_MAX)) == NULL)
		fatalx("dedup: out of memory");
	if ((d.pl = pipeline_new(d.store, dedup)) == NULL)
		fatalx("pipeline: out of memory");
	privsep_drop(&ps, cfg->store);	/* only the store's writer runs */
	delivery_begin(&d, cfg);
	hooks_begin(&d, cfg);
	upstreams_log(cfg, NULL);
	if (server_start(d.srv, d.pl) != 0)
		fatalx("cannot start the workers");
	for (i = 0; i < cfg->nlisten; i++)
		log_info("listening on %s", cfg->listen[i].text);
	if (cfg->has_metrics)
		log_info("metrics on http://%s/metrics", cfg->metrics.text);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			cfg = reload(argc, argv, &d, cfg);
			continue;
		}
		break;
	}
	log_info("%s: finishing in-flight requests", strsignal(sig));
	server_stop(d.srv);	/* waits for the hooks its requests wait for */
	metrics_set_sysstats(NULL);
	sysstats_stop(ss);	/* the helper exits on its socket's close */
	hook_stop(d.hook);
	deliver_stop(d.dl);	/* up to 2 s for requests in flight */
	store_close(d.store);	/* commits whatever is queued, marks too */
	deliver_free(d.dl);
	hook_free(d.hook);
	server_free(d.srv);
	pipeline_free(d.pl);
	tls_tickets_free(d.tickets);	/* wiped, after the last context */
	dedup_free(dedup);
	curl_global_cleanup();
	config_free(cfg);
	free(cfg);
	log_info("stopped");
	return 0;
}
