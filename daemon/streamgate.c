/*
 * streamgate: the control tool.
 *
 *   streamgate regions [--json] [TABLE OPTIONS]
 *   streamgate filter attach DEV [FILTER OPTIONS] [--xdp-mode native|generic]
 *                                [--obj PATH]
 *   streamgate filter sync [FILTER OPTIONS]
 *   streamgate filter detach DEV
 *   streamgate filter stats [--json]
 *   streamgate nft print|apply|diff [FILTER OPTIONS] [--table NAME]
 *                                   [--hook input|ingress --dev DEV]
 *   streamgate nft delete [--table NAME] [--hook input|ingress]
 *   streamgate sign --secret-file FILE < BODY
 *   streamgate verify --secret-file FILE --signature HEX < BODY
 *   streamgate inbox list [--store sqlite:PATH] [--since SEQ] [--limit N]
 *                         [--state kept|pending|delivered|dead] [--json]
 *   streamgate inbox show SEQ [--store sqlite:PATH] [--json]
 *   streamgate inbox replay SEQ|--dead [--store sqlite:PATH]
 *   streamgate inbox stats [--store sqlite:PATH] [--json]
 *   streamgate up --dev DEV [FILTER OPTIONS] [--xdp-mode M] [--obj PATH]
 *                 [--table NAME] [--hook input|ingress] [--config FILE]
 *                 [--run-dir DIR] [--no-daemon]            (updown.c)
 *   streamgate down --dev DEV [--table NAME] [--run-dir DIR] [--no-daemon]
 *   streamgate status [--dev DEV] [--config FILE] [--table NAME]
 *                     [--run-dir DIR] [--json] [--watch]   (status.c)
 *
 * TABLE OPTIONS:  --regions-file FILE  --region R,...  --allow CIDR (repeatable)
 * FILTER OPTIONS: TABLE OPTIONS  --mode ports|strict  --ports P,...
 *
 * Exit status: 0 done, 1 the operation failed, 2 bad usage (the message
 * names the flag).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "filter.h"
#include "inbox.h"
#include "inflate.h"
#include "log.h"
#include "nft.h"
#include "regions.h"
#include "secret.h"
#include "status.h"
#include "store.h"
#include "updown.h"
#include "verify.h"

struct options {
	struct cli_flags f;		/* FILTER OPTIONS, nft's, --dev */
	const char	*secret_file;
	const char	*signature;
	const char	*store;
	const char	*since;
	const char	*limit;
	const char	*state;
	int		 dead;
	int		 json;
};

enum { OPT_JSON = 256, OPT_REGIONS_FILE, OPT_REGION, OPT_ALLOW, OPT_MODE,
	OPT_PORTS, OPT_XDP_MODE, OPT_OBJ, OPT_TABLE, OPT_HOOK, OPT_DEV,
	OPT_SECRET_FILE, OPT_SIGNATURE, OPT_STORE, OPT_SINCE, OPT_LIMIT,
	OPT_STATE, OPT_DEAD };

static const struct option long_opts[] = {
	{ "json",		no_argument,		0, OPT_JSON },
	{ "regions-file",	required_argument,	0, OPT_REGIONS_FILE },
	{ "region",		required_argument,	0, OPT_REGION },
	{ "allow",		required_argument,	0, OPT_ALLOW },
	{ "mode",		required_argument,	0, OPT_MODE },
	{ "ports",		required_argument,	0, OPT_PORTS },
	{ "xdp-mode",		required_argument,	0, OPT_XDP_MODE },
	{ "obj",		required_argument,	0, OPT_OBJ },
	{ "table",		required_argument,	0, OPT_TABLE },
	{ "hook",		required_argument,	0, OPT_HOOK },
	{ "dev",		required_argument,	0, OPT_DEV },
	{ "secret-file",	required_argument,	0, OPT_SECRET_FILE },
	{ "signature",		required_argument,	0, OPT_SIGNATURE },
	{ "store",		required_argument,	0, OPT_STORE },
	{ "since",		required_argument,	0, OPT_SINCE },
	{ "limit",		required_argument,	0, OPT_LIMIT },
	{ "state",		required_argument,	0, OPT_STATE },
	{ "dead",		no_argument,		0, OPT_DEAD },
	{ "help",		no_argument,		0, 'h' },
	{ 0, 0, 0, 0 }
};

static void __attribute__((noreturn))
usage(int status)
{
	FILE *fp = status ? stderr : stdout;

	fprintf(fp,
"usage: streamgate regions [--json] [--regions-file FILE] [--region R,...]\n"
"                          [--allow CIDR]...\n"
"       streamgate filter attach DEV [--mode ports|strict] [--ports P,...]\n"
"                          [--region R,...] [--allow CIDR]... [--regions-file FILE]\n"
"                          [--xdp-mode native|generic] [--obj PATH]\n"
"       streamgate filter sync [--mode ports|strict] [--ports P,...]\n"
"                          [--region R,...] [--allow CIDR]... [--regions-file FILE]\n"
"       streamgate filter detach DEV\n"
"       streamgate filter stats [--json]\n"
"       streamgate nft print|apply|diff [--mode ports|strict] [--ports P,...]\n"
"                          [--region R,...] [--allow CIDR]... [--regions-file FILE]\n"
"                          [--table NAME] [--hook input|ingress --dev DEV]\n"
"       streamgate nft delete [--table NAME] [--hook input|ingress]\n"
"       streamgate sign --secret-file FILE < BODY\n"
"       streamgate verify --secret-file FILE --signature HEX < BODY\n"
"       streamgate inbox list [--store sqlite:PATH] [--since SEQ] [--limit N]\n"
"                          [--state kept|pending|delivered|dead] [--json]\n"
"       streamgate inbox show SEQ [--store sqlite:PATH] [--json]\n"
"       streamgate inbox replay SEQ|--dead [--store sqlite:PATH]\n"
"       streamgate inbox stats [--store sqlite:PATH] [--json]\n"
"       streamgate up --dev DEV [--region R]... [--allow CIDR]...\n"
"                          [--mode ports|strict] [--ports P,...] [--regions-file FILE]\n"
"                          [--xdp-mode native|generic] [--obj PATH] [--table NAME]\n"
"                          [--hook input|ingress] [--config FILE] [--run-dir DIR]\n"
"                          [--no-daemon]\n"
"       streamgate down --dev DEV [--table NAME] [--run-dir DIR] [--no-daemon]\n"
"       streamgate status [--dev DEV] [--config FILE] [--table NAME]\n"
"                          [--run-dir DIR] [--json] [--watch]\n");
	exit(status);
}

static void __attribute__((noreturn))
usage_error(const char *msg)
{
	cli_usage_error("%s", msg);
}

/* Which flags each command takes; anything else is a usage error. */
static void
options_parse(int argc, char **argv, const char *allowed, struct options *o,
    int *argi)
{
	char msg[128];
	int c, idx;

	memset(o, 0, sizeof(*o));
	optind = *argi;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", long_opts, &idx)) != -1) {
		if (c == 'h')
			usage(0);
		if (c == '?' || c == ':') {
			snprintf(msg, sizeof(msg), "unknown or incomplete flag "
			    "'%s'", argv[optind - 1]);
			usage_error(msg);
		}
		cli_flag_check(allowed, long_opts[idx].name, NULL);
		if (cli_flags_set(&o->f, long_opts[idx].name, optarg))
			continue;
		switch (c) {
		case OPT_JSON:		o->json = 1; break;
		case OPT_REGION:	o->f.rt.regions = optarg; break;
		case OPT_SECRET_FILE:	o->secret_file = optarg; break;
		case OPT_SIGNATURE:	o->signature = optarg; break;
		case OPT_STORE:		o->store = optarg; break;
		case OPT_SINCE:		o->since = optarg; break;
		case OPT_LIMIT:		o->limit = optarg; break;
		case OPT_STATE:		o->state = optarg; break;
		case OPT_DEAD:		o->dead = 1; break;
		}
	}
	*argi = optind;
}

/* The region table the options describe; errors name the flag and exit. */
static void
table_build(const struct options *o, struct region_table *t)
{
	char err[640];

	if (cli_table_build(&o->f.rt, t, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		exit(CLI_EXIT_USAGE);
	}
}

static void
spec_build(const struct options *o, struct filter_spec *s)
{
	char err[512];

	filter_spec_init(s);
	if ((o->f.mode && filter_spec_mode(s, o->f.mode, err,
	    sizeof(err)) != 0) ||
	    (o->f.ports && filter_spec_ports(s, o->f.ports, err,
	    sizeof(err)) != 0))
		usage_error(err);
	table_build(o, &s->table);
}

static int
cmd_regions(int argc, char **argv, int argi)
{
	struct options o;
	struct region_table t = { 0 };
	char *json;

	options_parse(argc, argv, " json regions-file region allow ", &o, &argi);
	if (argi != argc)
		usage_error("regions takes no arguments besides flags");
	table_build(&o, &t);
	if (o.json) {
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
cmd_filter(int argc, char **argv, int argi)
{
	struct options o;
	struct filter_spec s;
	struct filter_maps m;
	const char *cmd, *dev = NULL;
	char objbuf[PATH_MAX];
	int rc, generic;

	if (argi >= argc)
		usage_error("filter needs a command: attach, sync, detach, stats");
	cmd = argv[argi++];
	if (strcmp(cmd, "attach") == 0 || strcmp(cmd, "detach") == 0) {
		if (argi >= argc || argv[argi][0] == '-')
			usage_error("filter attach/detach needs a device name");
		dev = argv[argi++];
	}
	if (strcmp(cmd, "attach") == 0)
		options_parse(argc, argv, " mode ports region allow regions-file "
		    "xdp-mode obj ", &o, &argi);
	else if (strcmp(cmd, "sync") == 0)
		options_parse(argc, argv, " mode ports region allow regions-file ",
		    &o, &argi);
	else if (strcmp(cmd, "detach") == 0)
		options_parse(argc, argv, "", &o, &argi);
	else if (strcmp(cmd, "stats") == 0)
		options_parse(argc, argv, " json ", &o, &argi);
	else
		usage_error("filter: unknown command (attach, sync, detach, "
		    "stats)");
	if (argi != argc)
		usage_error("filter: unexpected argument");
	generic = cli_xdp_generic(o.f.xdp_mode);

	if (strcmp(cmd, "attach") == 0 || strcmp(cmd, "sync") == 0)
		spec_build(&o, &s);	/* usage errors before touching anything */
	if (filter_env_check() != 0)
		return 1;

	if (strcmp(cmd, "attach") == 0) {
		rc = filter_attach(dev, o.f.obj ? o.f.obj :
		    cli_obj_default(objbuf, sizeof(objbuf)), generic, &s);
		filter_spec_free(&s);
	} else if (strcmp(cmd, "detach") == 0)
		rc = filter_detach(dev);
	else {
		if (filter_maps_open(&m) != 0)
			return 1;
		if (strcmp(cmd, "sync") == 0) {
			rc = filter_sync(&m, &s);
			filter_spec_free(&s);
		} else
			rc = filter_stats_print(&m, o.json);
		filter_maps_close(&m);
	}
	return rc == 0 ? 0 : 1;
}

static void
nft_spec_build(const struct options *o, struct nft_spec *s, int with_table)
{
	char err[512];

	nft_spec_init(s);
	if ((o->f.table && nft_spec_table(s, o->f.table, err,
	    sizeof(err)) != 0) ||
	    (o->f.hook && nft_spec_hook(s, o->f.hook, err, sizeof(err)) != 0) ||
	    (o->f.dev && nft_spec_dev(s, o->f.dev, err, sizeof(err)) != 0) ||
	    (o->f.mode && filter_spec_mode(&s->f, o->f.mode, err,
	    sizeof(err)) != 0) ||
	    (o->f.ports && filter_spec_ports(&s->f, o->f.ports, err,
	    sizeof(err)) != 0))
		usage_error(err);
	if (with_table)
		table_build(o, &s->f.table);
}

static int
cmd_nft(int argc, char **argv, int argi)
{
	struct options o;
	struct nft_spec s;
	struct nft_plan p;
	const char *cmd;
	char err[512];
	int rc;

	if (argi >= argc)
		usage_error("nft needs a command: print, apply, diff, delete");
	cmd = argv[argi++];
	if (strcmp(cmd, "delete") == 0) {
		options_parse(argc, argv, " table hook ", &o, &argi);
		if (argi != argc)
			usage_error("nft delete: unexpected argument");
		nft_spec_build(&o, &s, 0);
		rc = nft_delete(s.hook == NFT_HOOK_INGRESS ? "netdev" : "inet",
		    s.table);
		nft_spec_free(&s);
		return rc == 0 ? 0 : 1;
	}
	if (strcmp(cmd, "print") != 0 && strcmp(cmd, "apply") != 0 &&
	    strcmp(cmd, "diff") != 0)
		usage_error("nft: unknown command (print, apply, diff, delete)");
	options_parse(argc, argv, " mode ports region allow regions-file "
	    "table hook dev ", &o, &argi);
	if (argi != argc)
		usage_error("nft: unexpected argument");
	nft_spec_build(&o, &s, 1);
	if (nft_plan_build(&s, &p, err, sizeof(err)) != 0)
		usage_error(err);
	if (strcmp(cmd, "print") == 0)
		rc = nft_print(stdout, &p);
	else if (strcmp(cmd, "apply") == 0)
		rc = nft_apply(&p);
	else {
		rc = nft_diff(stdout, &p);
		nft_plan_free(&p);
		nft_spec_free(&s);
		return rc < 0 ? 2 : rc;	/* like diff(1): 0 same, 1 differs */
	}
	nft_plan_free(&p);
	nft_spec_free(&s);
	return rc == 0 ? 0 : 1;
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
sign_input(const struct options *o, struct secret *s, uint8_t **body,
    size_t *len, int *inflated)
{
	char err[512];
	uint8_t *raw, *out;
	size_t rawlen;

	if (o->secret_file == NULL)
		usage_error("--secret-file FILE is required");
	if (secret_load(o->secret_file, s, err, sizeof(err)) != 0) {
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
cmd_sign(int argc, char **argv, int argi)
{
	struct options o;
	struct secret s;
	char hex[VERIFY_HEX_LEN + 1];
	uint8_t *body;
	size_t len;
	int inflated;

	options_parse(argc, argv, " secret-file ", &o, &argi);
	if (argi != argc)
		usage_error("sign: unexpected argument (the body is stdin)");
	sign_input(&o, &s, &body, &len, &inflated);
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
cmd_verify(int argc, char **argv, int argi)
{
	struct options o;
	struct secret s;
	uint8_t *body, mac[VERIFY_MAC_LEN];
	size_t len, siglen;
	int inflated, rc;

	options_parse(argc, argv, " secret-file signature ", &o, &argi);
	if (argi != argc)
		usage_error("verify: unexpected argument (the body is stdin)");
	if (o.signature == NULL)
		usage_error("--signature HEX is required");
	sign_input(&o, &s, &body, &len, &inflated);
	siglen = strlen(o.signature);
	rc = verify_body(&s, 1, body, len, o.signature, siglen);
	printf("signature %s\n", rc == 0 ? "matches" : "does not match");
	if (siglen != VERIFY_HEX_LEN)
		log_info("hint: --signature has %zu characters; X-Signature "
		    "is %d hex digits", siglen, VERIFY_HEX_LEN);
	else if (verify_hex_decode(o.signature, siglen, mac) != 0)
		log_info("hint: --signature has a non-hex character at "
		    "position %zu", strspn(o.signature,
		    "0123456789abcdefABCDEF") + 1);
	if (inflated)
		log_info("note: the body is gzip: checked over its %zu "
		    "inflated bytes", len);
	secret_free(&s);
	free(body);
	return rc == 0 ? 0 : 1;
}

/* inbox show|replay SEQ: the sequence number, before the flags. */
static const char *
inbox_seq_arg(int argc, char **argv, int *argi, const char *cmd)
{
	char msg[160];

	if (*argi >= argc || argv[*argi][0] == '-') {
		snprintf(msg, sizeof(msg), "inbox %s needs a sequence number "
		    "first: inbox %s SEQ [flags]", cmd, cmd);
		usage_error(msg);
	}
	return argv[(*argi)++];
}

static int64_t
inbox_seq(const char *arg, const char *cmd)
{
	char msg[160];
	int64_t seq;

	if (inbox_seq_parse(arg, &seq) != 0) {
		snprintf(msg, sizeof(msg), "inbox %s: '%.64s' is not a "
		    "sequence number", cmd, arg);
		usage_error(msg);
	}
	return seq;
}

/* --since, --limit, --state of inbox list. */
static void
inbox_list_flags(const struct options *o, int64_t *since, unsigned *limit,
    int *state)
{
	enum store_state st;
	char msg[160];

	if (o->since && inbox_seq_parse(o->since, since) != 0) {
		snprintf(msg, sizeof(msg), "--since: '%.64s' is not a sequence "
		    "number", o->since);
		usage_error(msg);
	}
	if (o->limit && inbox_limit_parse(o->limit, limit) != 0) {
		snprintf(msg, sizeof(msg), "--limit: '%.64s' is not a number "
		    "from 1 to %d", o->limit, INBOX_LIMIT_MAX);
		usage_error(msg);
	}
	if (o->state && store_state_parse(o->state, &st) != 0) {
		snprintf(msg, sizeof(msg), "--state: '%.64s' is not kept, "
		    "pending, delivered or dead", o->state);
		usage_error(msg);
	}
	*state = o->state ? (int)st : -1;
}

/* inbox list|show|replay|stats: the daemon's stored events (inbox.c). */
static int
cmd_inbox(int argc, char **argv, int argi)
{
	struct options o;
	const char *cmd, *seqarg = NULL;
	int64_t since = 0;
	unsigned limit = INBOX_LIMIT_DEFAULT;
	int state;

	if (argi >= argc)
		usage_error("inbox needs a command: list, show, replay, stats");
	cmd = argv[argi++];
	if (strcmp(cmd, "list") == 0)
		options_parse(argc, argv, " store since limit state json ", &o,
		    &argi);
	else if (strcmp(cmd, "show") == 0) {
		seqarg = inbox_seq_arg(argc, argv, &argi, cmd);
		options_parse(argc, argv, " store json ", &o, &argi);
	} else if (strcmp(cmd, "replay") == 0) {
		if (argi < argc && argv[argi][0] != '-')
			seqarg = argv[argi++];
		options_parse(argc, argv, " store dead ", &o, &argi);
		if ((seqarg != NULL) == o.dead)
			usage_error("inbox replay takes a sequence number or "
			    "--dead: inbox replay SEQ|--dead [--store URI]");
	} else if (strcmp(cmd, "stats") == 0)
		options_parse(argc, argv, " store json ", &o, &argi);
	else
		usage_error("inbox: unknown command (list, show, replay, "
		    "stats)");
	if (argi != argc)
		usage_error("inbox: unexpected argument");
	if (o.store == NULL)
		o.store = INBOX_STORE_DEFAULT;
	if (strcmp(cmd, "list") == 0) {
		inbox_list_flags(&o, &since, &limit, &state);
		return inbox_list(stdout, o.store, since, state, limit, o.json);
	}
	if (strcmp(cmd, "show") == 0)
		return inbox_show(stdout, o.store, inbox_seq(seqarg, cmd),
		    o.json);
	if (strcmp(cmd, "stats") == 0)
		return inbox_stats(stdout, o.store, o.json);
	if (o.dead)
		return inbox_replay_dead(stdout, o.store);
	return inbox_replay(stdout, o.store, inbox_seq(seqarg, cmd));
}

int
main(int argc, char **argv)
{
	log_init("streamgate", 0);
	if (argc < 2)
		usage(CLI_EXIT_USAGE);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0)
		usage(0);
	if (strcmp(argv[1], "regions") == 0)
		return cmd_regions(argc, argv, 2);
	if (strcmp(argv[1], "filter") == 0)
		return cmd_filter(argc, argv, 2);
	if (strcmp(argv[1], "nft") == 0)
		return cmd_nft(argc, argv, 2);
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc, argv, 2);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc, argv, 2);
	if (strcmp(argv[1], "inbox") == 0)
		return cmd_inbox(argc, argv, 2);
	if (strcmp(argv[1], "up") == 0)
		return updown_up(argc, argv, 2);
	if (strcmp(argv[1], "down") == 0)
		return updown_down(argc, argv, 2);
	if (strcmp(argv[1], "status") == 0)
		return status_main(argc, argv, 2);
	usage_error("unknown command (regions, filter, nft, sign, verify, "
	    "inbox, up, down, status)");
}
