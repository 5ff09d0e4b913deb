/*
 * cli_flags.c: the tool's flags, one vocabulary for every command (see
 * cli.h): each flag's name, its argument, a one-line help, and what
 * completes it.  A command picks the flags it takes in main.c's table;
 * cli.c parses them, cli_doc.c describes them.
 */
#include <stddef.h>

#include "cli.h"

#define ENUM_WORDS(w)	CC_WORDS, w

const struct cli_flag_def cli_flags[CF_COUNT] = {
	[CF_JSON] = { "json", NULL, "print JSON instead of text", 0, 0, 0 },
	[CF_REGIONS_FILE] = { "regions-file", "FILE", "read the region "
	    "table from FILE (JSON, as `regions --json` prints it) instead "
	    "of the built-in one", CC_FILE, NULL, 0 },
	[CF_REGION] = { "region", "R,...", "only these regions of the "
	    "table (default: all)", CC_NONE, NULL, 1 },
	[CF_ALLOW] = { "allow", "CIDR", "also allow this address or prefix "
	    "(region 'allow')", CC_NONE, NULL, 1 },
	[CF_MODE] = { "mode", "ports|strict", "ports: guard only the "
	    "protected ports (default); strict: drop every packet not from "
	    "an allowed address", ENUM_WORDS("ports strict"), 0 },
	[CF_PORTS] = { "ports", "P,...", "the protected TCP ports "
	    "(default 443)", CC_NONE, NULL, 0 },
	[CF_XDP_MODE] = { "xdp-mode", "native|generic", "attach in the "
	    "driver (default) or in the generic SKB path",
	    ENUM_WORDS("native generic"), 0 },
	[CF_OBJ] = { "obj", "PATH", "the BPF object (default: beside this "
	    "binary, else installed)", CC_FILE, NULL, 0 },
	[CF_TABLE] = { "table", "NAME", "the nft table's name (default "
	    "streamgate)", CC_NONE, NULL, 0 },
	[CF_HOOK] = { "hook", "input|ingress", "filter in the inet input "
	    "hook (default) or in the netdev ingress hook of --dev",
	    ENUM_WORDS("input ingress"), 0 },
	[CF_DEV] = { "dev", "DEV", "the network device", CC_DEV, NULL, 0 },
	[CF_SECRET_FILE] = { "secret-file", "FILE", "the API secret, in a "
	    "file", CC_FILE, NULL, 0 },
	[CF_SIGNATURE] = { "signature", "HEX", "the X-Signature header's "
	    "value", CC_NONE, NULL, 0 },
	[CF_STORE] = { "store", "URI", "the store, sqlite:PATH or "
	    "redis://HOST:PORT[/DB] (default: the daemon's, from its "
	    "config)", CC_NONE, NULL, 0 },
	[CF_SINCE] = { "since", "SEQ", "only events after this sequence "
	    "number", CC_NONE, NULL, 0 },
	[CF_LIMIT] = { "limit", "N", "at most N events (default 100)",
	    CC_NONE, NULL, 0 },
	[CF_STATE] = { "state", "kept|pending|delivered|dead", "only "
	    "events in this delivery state",
	    ENUM_WORDS("kept pending delivered dead"), 0 },
	[CF_DEAD] = { "dead", NULL, "every dead event", 0, 0, 0 },
	[CF_CONFIG] = { "config", "FILE", "the daemon's config (default "
	    "/etc/streamgate/streamgated.json, or make run's in a checkout)",
	    CC_FILE, NULL, 0 },
	[CF_RUN_DIR] = { "run-dir", "DIR", "where the pid file and the "
	    "log of a daemon we start live (default /run/streamgate)",
	    CC_DIR, NULL, 0 },
	[CF_NO_DAEMON] = { "no-daemon", NULL, "leave streamgated alone",
	    0, 0, 0 },
	[CF_ALLOW_ANY] = { "allow-any", NULL, "let --allow take a /0: every "
	    "address of that family passes (no filter)", 0, 0, 0 },
	[CF_WATCH] = { "watch", NULL, "refresh every second until "
	    "interrupted", 0, 0, 0 },
	[CF_HOST] = { "host", "NAME", "the name Stream reaches this host "
	    "by (chat.example.com: no scheme, port or path)", CC_NONE,
	    NULL, 0 },
};
