/*
 * streamgate: the control tool.  Its commands, their arguments and flags
 * are the table at the bottom of this file; cli.c parses argv against
 * it and answers --help, cli_doc.c turns it into the bash completion and
 * the man page's synopsis.
 *
 * Exit status: 0 done, 1 the operation failed, 2 bad usage (the message
 * names the flag).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"
#include "filter.h"
#include "inbox.h"
#include "inflate.h"
#include "log.h"
#include "nft.h"
#include "probe.h"
#include "regions.h"
#include "secret.h"
#include "spec.h"
#include "status.h"
#include "store.h"
#include "updown.h"
#include "urls.h"
#include "verify.h"

static int
cmd_regions(const struct cli_args *a)
{
	struct region_table t = { 0 };
	char *json;

	spec_table(a, &t);
	if (cli_has(a, CF_JSON)) {
		if ((json = regions_to_json(&t)) == NULL)
			fatalx("%s: out of memory", __func__);
		printf("%s\n", json);
		free(json);
	} else
		regions_print(stdout, &t);
	regions_free(&t);
	return 0;
}

static int
cmd_filter_attach(const struct cli_args *a)
{
	struct spec sp;
	char objbuf[PATH_MAX];
	int rc;

	spec_build(a, SPEC_FILTER, &sp);  /* usage errors before any change */
	if (filter_env_check() != 0) {
		spec_free(&sp);
		return 1;
	}
	rc = filter_attach(a->pos[0], spec_obj(a, objbuf, sizeof(objbuf)),
	    spec_xdp_generic(a), &sp.nft.f);
	spec_free(&sp);
	return rc == 0 ? 0 : 1;
}

static int
cmd_filter_detach(const struct cli_args *a)
{
	if (filter_env_check() != 0)
		return 1;
	return filter_detach(a->pos[0]) == 0 ? 0 : 1;
}

/* sync and stats: on the pinned maps. */
static int
cmd_filter_maps(const struct cli_args *a)
{
	int sync = strcmp(a->cmd->sub, "sync") == 0, rc;
	struct filter_maps m;
	struct spec sp;

	if (sync)
		spec_build(a, SPEC_FILTER, &sp);
	if (filter_env_check() != 0 || filter_maps_open(&m) != 0)
		rc = -1;
	else {
		rc = sync ? filter_sync(&m, &sp.nft.f) :
		    filter_stats_print(&m, cli_has(a, CF_JSON));
		filter_maps_close(&m);
	}
	if (sync)
		spec_free(&sp);
	return rc == 0 ? 0 : 1;
}

static int
cmd_nft_delete(const struct cli_args *a)
{
	struct spec sp;
	int rc;

	spec_build(a, SPEC_NFT, &sp);
	rc = nft_delete(sp.nft.hook == NFT_HOOK_INGRESS ? "netdev" : "inet",
	    sp.nft.table);
	spec_free(&sp);
	return rc == 0 ? 0 : 1;
}

/* print, apply, diff: the plan the flags describe. */
static int
cmd_nft_plan(const struct cli_args *a)
{
	const char *sub = a->cmd->sub;
	struct spec sp;
	int rc;

	spec_build(a, SPEC_FILTER | SPEC_NFT | SPEC_PLAN, &sp);
	if (strcmp(sub, "print") == 0)
		rc = nft_print(stdout, &sp.plan) == 0 ? 0 : 1;
	else if (strcmp(sub, "apply") == 0)
		rc = nft_apply(&sp.plan) == 0 ? 0 : 1;
	else	/* like diff(1): 0 the same, 1 different, 2 trouble */
		rc = (rc = nft_diff(stdout, &sp.plan)) < 0 ? 2 : rc;
	spec_free(&sp);
	return rc;
}

#define SIGN_BODY_MAX	(64 * 1024 * 1024)	/* stdin, and inflated */

/* All of stdin, at most SIGN_BODY_MAX bytes; failures exit 1. */
static void
sign_read_stdin(uint8_t **body, size_t *len)
{
	size_t have = 0, room = 0;
	uint8_t *p = NULL, *q;
	ssize_t n;

	for (;;) {
		if (have == room) {
			room = room ? room * 2 : 65536;
			if (room > SIGN_BODY_MAX + 1)
				room = SIGN_BODY_MAX + 1;
			if (have == room)
				fatalx("stdin: body larger than 64 MiB");
			if ((q = realloc(p, room)) == NULL)
				fatalx("stdin: out of memory");
			p = q;
		}
		if ((n = read(STDIN_FILENO, p + have, room - have)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("stdin");
		}
		if (n == 0)
			break;
		have += n;
	}
	*body = p;
	*len = have;
}

/* sign, verify: the --secret-file secret and stdin's body, inflated when
 * it starts like gzip, as the signature covers the inflated bytes. */
static void
sign_input(const struct cli_args *a, struct secret *s, uint8_t **body,
    size_t *len, int *inflated)
{
	char err[512];
	uint8_t *raw, *out;
	size_t rawlen;

	if (secret_load(a->v[CF_SECRET_FILE], s, err, sizeof(err)) != 0) {
		log_warnx("--secret-file: %s", err);
		exit(CLI_EXIT_USAGE);
	}
	sign_read_stdin(&raw, &rawlen);
	*inflated = inflate_is_gzip(raw, rawlen);
	if (!*inflated) {
		*body = raw;
		*len = rawlen;
		return;
	}
	switch (inflate_gzip(raw, rawlen, SIGN_BODY_MAX, &out, len)) {
	case INFLATE_OK:
		break;
	case INFLATE_TOO_LARGE:
		fatalx("stdin: gzip body inflates past 64 MiB");
	case INFLATE_NOMEM:
		fatalx("stdin: out of memory inflating the gzip body");
	default:
		fatalx("stdin: starts with gzip's 1f 8b but is not one valid "
		    "gzip member (truncated, corrupt, or trailing bytes)");
	}
	free(raw);
	*body = out;
}

static int
cmd_sign(const struct cli_args *a)
{
	struct secret s;
	char hex[VERIFY_HEX_LEN + 1];
	uint8_t *body;
	size_t len;
	int inflated;

	sign_input(a, &s, &body, &len, &inflated);
	if (inflated)
		log_info("note: stdin is gzip: signed its %zu inflated bytes",
		    len);
	verify_sign(&s, body, len, hex);
	printf("%s\n", hex);
	secret_free(&s);
	free(body);
	return 0;
}

static int
cmd_verify(const struct cli_args *a)
{
	const char *sig = a->v[CF_SIGNATURE];
	struct secret s;
	uint8_t *body, mac[VERIFY_MAC_LEN];
	size_t len, siglen = strlen(sig);
	int inflated, rc;

	sign_input(a, &s, &body, &len, &inflated);
	rc = verify_body(&s, 1, body, len, sig, siglen);
	printf("signature %s\n", rc == 0 ? "matches" : "does not match");
	if (siglen != VERIFY_HEX_LEN)
		log_info("hint: --signature has %zu characters; X-Signature "
		    "is %d hex digits", siglen, VERIFY_HEX_LEN);
	else if (verify_hex_decode(sig, siglen, mac) != 0)
		log_info("hint: --signature has a non-hex character at "
		    "position %zu", strspn(sig, "0123456789abcdefABCDEF") + 1);
	if (inflated)
		log_info("note: the body is gzip: checked over its %zu "
		    "inflated bytes", len);
	secret_free(&s);
	free(body);
	return rc == 0 ? 0 : 1;
}

/* Two store URIs name one store: the same text, or sqlite: paths that
 * resolve to the same file. */
static int
store_same(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (strcmp(a, b) == 0)
		return 1;
	return strncmp(a, "sqlite:", 7) == 0 && strncmp(b, "sqlite:", 7) == 0 &&
	    realpath(a + 7, ra) != NULL && realpath(b + 7, rb) != NULL &&
	    strcmp(ra, rb) == 0;
}

/*
 * inbox: --store, else the daemon's, from its config; and the settings of
 * the store from that config (a NATS store's "nats" section: names,
 * creds, ca): --config's, else the default config's.  With --store alone
 * the default config serves only when it names that store (another
 * cluster's credentials are not for this one) and loads; otherwise nats
 * is zeroed: the defaults.
 */
static const char *
inbox_store(const struct cli_args *a, char *buf, size_t len,
    struct config_nats *nats)
{
	struct probe_where w;
	struct config *c;
	char err[1024];
	int given = cli_has(a, CF_STORE);

	memset(nats, 0, sizeof(*nats));
	snprintf(buf, len, "%s", given ? a->v[CF_STORE] : "");
	probe_where(a, &w);
	if (probe_config(&w, &c, err, sizeof(err)) != 0) {
		if (given && !w.config_given)
			return buf;
		cli_usage_error("--config: %s%s", err, given ? "" :
		    " (or name the store: --store URI)");
	}
	if (!given)
		snprintf(buf, len, "%s", c->store);
	if (w.config_given || store_same(c->store, buf))
		*nats = c->nats;
	probe_config_free(c);
	return buf;
}

static int64_t
inbox_seq(const char *arg, const char *what)
{
	int64_t seq;

	if (inbox_seq_parse(arg, &seq) != 0)
		cli_usage_error("%s: '%.64s' is not a sequence number", what,
		    arg);
	return seq;
}

static int
cmd_inbox_list(const struct cli_args *a)
{
	struct config_nats nats;
	char store[CONFIG_PATH_LEN];
	const char *since = a->v[CF_SINCE], *limit = a->v[CF_LIMIT];
	const char *state = a->v[CF_STATE];
	unsigned n = INBOX_LIMIT_DEFAULT;
	enum store_state st;

	if (limit && inbox_limit_parse(limit, &n) != 0)
		cli_usage_error("--limit: '%.64s' is not a number from 1 to %d",
		    limit, INBOX_LIMIT_MAX);
	if (state && store_state_parse(state, &st) != 0)
		cli_usage_error("--state: '%.64s' is not kept, pending, "
		    "delivered or dead", state);
	return inbox_list(stdout, inbox_store(a, store, sizeof(store), &nats),
	    &nats, since ? inbox_seq(since, "--since") : 0,
	    state ? (int)st : -1, n, cli_has(a, CF_JSON));
}

static int
cmd_inbox_show(const struct cli_args *a)
{
	struct config_nats nats;
	char store[CONFIG_PATH_LEN];
	int64_t seq = inbox_seq(a->pos[0], "inbox show");

	return inbox_show(stdout, inbox_store(a, store, sizeof(store), &nats),
	    &nats, seq, cli_has(a, CF_JSON));
}

/*
 * Replay needs a daemon that delivers: without a push upstream, replayed
 * events would sit in pending.  The config that tells is --config, else
 * the default one (or the daemon's defaults when there is none), which
 * also names the store.  With --store alone, the default config tells
 * only when it names that store; otherwise no config is known to serve
 * it (a daemon run with --store and --upstream flags, a copied store),
 * and the replay goes ahead with a note.  Refusal exits 1.
 */
static void
replay_upstream_check(const struct cli_args *a, const char *store)
{
	struct probe_where w;
	struct config *c;
	char err[1024], what[PATH_MAX + 64];
	int exists;

	if (strncmp(store, "redis://", 8) == 0)
		return;		/* refused anyway, saying where they are */
	probe_where(a, &w);
	exists = w.config_given || access(w.config, F_OK) == 0;
	if (cli_has(a, CF_STORE) && !w.config_given && !exists) {
		log_info("note: no config names %s (%s does not exist): give "
		    "the daemon's --config to check that it has a push "
		    "upstream", store, w.config);
		return;
	}
	if (probe_config(&w, &c, err, sizeof(err)) != 0) {
		if (w.config_given)
			cli_usage_error("--config: %s", err);
		log_info("note: %s: cannot tell whether the daemon has a push "
		    "upstream", err);	/* --store: it needs no config */
		return;
	}
	if (cli_has(a, CF_STORE) && !w.config_given &&
	    !store_same(c->store, store)) {
		log_info("note: %s names another store (%s): give the daemon's "
		    "--config to check that it has a push upstream", w.config,
		    c->store);
		probe_config_free(c);
		return;
	}
	if (config_upstream(c, CR_PUSH)[0] == '\0') {
		snprintf(what, sizeof(what), exists ? "%s" : "%s (no such "
		    "file: the daemon's defaults)", w.config);
		log_warnx("inbox replay: refused: the daemon has no push "
		    "upstream (\"upstream\" or \"upstreams.push\" in %s), so "
		    "replayed events would sit in pending; set one and "
		    "restart streamgated first", what);
		probe_config_free(c);
		exit(1);
	}
	probe_config_free(c);
}

static int
cmd_inbox_replay(const struct cli_args *a)
{
	struct config_nats nats;
	char buf[CONFIG_PATH_LEN];
	const char *store;
	int64_t seq = 0;

	if ((a->npos == 1) == cli_has(a, CF_DEAD))
		cli_usage_error("inbox replay takes a sequence number or "
		    "--dead: inbox replay SEQ|--dead [--store URI]");
	if (!cli_has(a, CF_DEAD))
		seq = inbox_seq(a->pos[0], "inbox replay");
	store = inbox_store(a, buf, sizeof(buf), &nats);
	replay_upstream_check(a, store);
	if (cli_has(a, CF_DEAD))
		return inbox_replay_dead(stdout, store, &nats);
	return inbox_replay(stdout, store, &nats, seq);
}

static int
cmd_inbox_stats(const struct cli_args *a)
{
	struct config_nats nats;
	char store[CONFIG_PATH_LEN];

	return inbox_stats(stdout, inbox_store(a, store, sizeof(store), &nats),
	    &nats, cli_has(a, CF_JSON));
}

static int
cmd_stream_urls(const struct cli_args *a)
{
	const char *host = a->v[CF_HOST];
	struct probe_where w;
	struct config *c;
	char err[1024];
	int rc;

	if (urls_host_check(host) != 0)
		cli_usage_error("--host: '%.64s' is not a host name (a DNS "
		    "name or address, no scheme, port or path: --host "
		    "chat.example.com)", host);
	probe_where(a, &w);
	if (probe_config(&w, &c, err, sizeof(err)) != 0)
		cli_usage_error("--config: %s", err);
	rc = urls_print(stdout, c, w.config_given ||
	    access(w.config, F_OK) == 0 ? w.config : "", host,
	    cli_has(a, CF_JSON));
	probe_config_free(c);
	return rc;
}

/* ---- the command table ---- */

#define END		{ CF_COUNT, 0, NULL }
#define TABLE_FLAGS	{ CF_REGION, 0, NULL }, { CF_ALLOW, 0, NULL }, \
			{ CF_ALLOW_ANY, 0, NULL }, { CF_REGIONS_FILE, 0, NULL }
#define FILTER_FLAGS	{ CF_MODE, 0, NULL }, { CF_PORTS, 0, NULL }, TABLE_FLAGS

static const struct cli_use u_regions[] = {
	{ CF_JSON, 0, NULL }, TABLE_FLAGS, END };
static const struct cli_use u_attach[] = {
	FILTER_FLAGS, { CF_XDP_MODE, 0, NULL }, { CF_OBJ, 0, NULL }, END };
static const struct cli_use u_sync[] = { FILTER_FLAGS, END };
static const struct cli_use u_none[] = { END };
static const struct cli_use u_json[] = { { CF_JSON, 0, NULL }, END };
static const struct cli_use u_nft[] = {
	FILTER_FLAGS, { CF_TABLE, 0, NULL }, { CF_HOOK, 0, NULL },
	{ CF_DEV, 0, "the device the ingress hook filters (with --hook "
	    "ingress)" }, END };
static const struct cli_use u_nft_delete[] = {
	{ CF_TABLE, 0, NULL }, { CF_HOOK, 0, "which family's table: inet "
	    "(input, default) or netdev (ingress)" }, END };
static const struct cli_use u_sign[] = {
	{ CF_SECRET_FILE, 1, NULL }, END };
static const struct cli_use u_verify[] = {
	{ CF_SECRET_FILE, 1, NULL }, { CF_SIGNATURE, 1, NULL }, END };
static const struct cli_use u_inbox_list[] = {
	{ CF_STORE, 0, NULL }, { CF_CONFIG, 0, NULL }, { CF_SINCE, 0, NULL },
	{ CF_LIMIT, 0, NULL }, { CF_STATE, 0, NULL }, { CF_JSON, 0, NULL },
	END };
static const struct cli_use u_inbox_show[] = {
	{ CF_STORE, 0, NULL }, { CF_CONFIG, 0, NULL }, { CF_JSON, 0, NULL },
	END };
static const struct cli_use u_inbox_replay[] = {
	{ CF_STORE, 0, NULL }, { CF_CONFIG, 0, NULL },
	{ CF_DEAD, 0, "every dead push event, instead of SEQ" }, END };
static const struct cli_use u_stream_urls[] = {
	{ CF_HOST, 1, NULL }, { CF_CONFIG, 0, NULL },
	{ CF_JSON, 0, "only the JSON for Stream's updateAppSettings, on one "
	    "line" }, END };
static const struct cli_use u_up[] = {
	{ CF_DEV, 1, "the device the XDP filter goes on" }, FILTER_FLAGS,
	{ CF_XDP_MODE, 0, NULL }, { CF_OBJ, 0, NULL }, { CF_TABLE, 0, NULL },
	{ CF_HOOK, 0, "the nft table in the inet input hook (default) or in "
	    "the netdev ingress hook of --dev" },
	{ CF_CONFIG, 0, NULL }, { CF_RUN_DIR, 0, NULL },
	{ CF_NO_DAEMON, 0, NULL }, END };
static const struct cli_use u_down[] = {
	{ CF_DEV, 1, "the device the XDP filter runs on" },
	{ CF_TABLE, 0, NULL }, { CF_RUN_DIR, 0, NULL },
	{ CF_NO_DAEMON, 0, NULL }, END };
static const struct cli_use u_status[] = {
	{ CF_DEV, 0, "also say whether DEV runs the filter" },
	{ CF_CONFIG, 0, NULL }, { CF_TABLE, 0, NULL }, { CF_RUN_DIR, 0, NULL },
	{ CF_JSON, 0, NULL }, { CF_WATCH, 0, NULL }, END };

static const struct cli_cmd commands[] = {
	{ .name = "regions", .uses = u_regions, .run = cmd_regions,
	  .summary = "Print the region table: Stream's egress addresses by "
	  "region, narrowed and extended by the flags." },
	{ .name = "filter", .sub = "attach", .uses = u_attach,
	  .run = cmd_filter_attach, .args = "DEV", .args_help = "a device "
	  "name", .minpos = 1, .maxpos = 1,
	  .summary = "Load the XDP filter, fill its pinned maps from the "
	  "region table, and attach it to DEV." },
	{ .name = "filter", .sub = "sync", .uses = u_sync,
	  .run = cmd_filter_maps,
	  .summary = "Make the pinned maps say what the flags say, without a "
	  "moment in which they say less." },
	{ .name = "filter", .sub = "detach", .uses = u_none,
	  .run = cmd_filter_detach, .args = "DEV", .args_help = "a device "
	  "name", .minpos = 1, .maxpos = 1,
	  .summary = "Take the XDP filter off DEV; unpin the maps when no "
	  "other device uses them." },
	{ .name = "filter", .sub = "stats", .uses = u_json,
	  .run = cmd_filter_maps,
	  .summary = "The filter's counters, summed over CPUs: passed by "
	  "region, dropped by reason." },
	{ .name = "nft", .sub = "print", .uses = u_nft, .run = cmd_nft_plan,
	  .summary = "Print the nftables table that the region table makes, "
	  "in `nft -f` syntax." },
	{ .name = "nft", .sub = "apply", .uses = u_nft, .run = cmd_nft_plan,
	  .summary = "Install that table in one atomic netlink batch, "
	  "replacing an older one." },
	{ .name = "nft", .sub = "diff", .uses = u_nft, .run = cmd_nft_plan,
	  .summary = "What apply would change (exit 0: nothing, 1: "
	  "something)." },
	{ .name = "nft", .sub = "delete", .uses = u_nft_delete,
	  .run = cmd_nft_delete, .summary = "Delete our table." },
	{ .name = "sign", .uses = u_sign, .run = cmd_sign,
	  .summary = "Print the X-Signature of the body on stdin (gzip is "
	  "inflated first, as Stream signs the inflated bytes)." },
	{ .name = "verify", .uses = u_verify, .run = cmd_verify,
	  .summary = "Check an X-Signature against the body on stdin (exit "
	  "0: it matches, 1: it does not)." },
	{ .name = "inbox", .sub = "list", .uses = u_inbox_list,
	  .run = cmd_inbox_list,
	  .summary = "The daemon's stored events, oldest first." },
	{ .name = "inbox", .sub = "show", .uses = u_inbox_show,
	  .run = cmd_inbox_show, .args = "SEQ", .args_help = "a sequence "
	  "number", .minpos = 1, .maxpos = 1,
	  .summary = "One stored event: its fields, then its body exactly as "
	  "stored." },
	{ .name = "inbox", .sub = "replay", .uses = u_inbox_replay,
	  .run = cmd_inbox_replay, .args = "SEQ|--dead", .args_help = "a "
	  "sequence number, or --dead for every dead event", .maxpos = 1,
	  .summary = "Put push events back into delivery: pending, no tries, "
	  "due now." },
	{ .name = "inbox", .sub = "stats", .uses = u_inbox_show,
	  .run = cmd_inbox_stats,
	  .summary = "Stored events by state and kind, and the oldest "
	  "pending." },
	{ .name = "stream-urls", .uses = u_stream_urls,
	  .run = cmd_stream_urls,
	  .summary = "The Stream app settings that point the three hooks at "
	  "this host: each setting's https URL (routes and TLS port from the "
	  "daemon's config) and the JSON for updateAppSettings." },
	{ .name = "up", .uses = u_up, .run = updown_up,
	  .summary = "Put the three layers in place on DEV: the XDP filter, "
	  "the nft table, streamgated; what fails is undone." },
	{ .name = "down", .uses = u_down, .run = updown_down,
	  .summary = "Take the three layers away again; a missing one is "
	  "already down." },
	{ .name = "status", .uses = u_status, .run = status_run,
	  .summary = "One screen of the three layers, with rates." },
};

int
main(int argc, char **argv)
{
	int rc;

	log_init("streamgate", 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cli_main(commands, sizeof(commands) / sizeof(commands[0]), argc,
	    argv);
	curl_global_cleanup();
	return rc;
}
