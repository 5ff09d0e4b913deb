/*
 * cli.c: argv against the command table (see cli.h).
 *
 * getopt_long is given every flag of the vocabulary, not only the
 * command's, so that a flag another command takes is answered "does not
 * apply to CMD" rather than "unknown".  Arguments may come before, after
 * or between flags (getopt permutes them).
 */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "version.h"

void
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "streamgate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nrun 'streamgate --help' for usage\n");
	exit(CLI_EXIT_USAGE);
}

void
cli_dev_check(const char *dev)
{
	if (dev[0] == '\0' || strlen(dev) >= IF_NAMESIZE ||
	    strpbrk(dev, " \t/"))
		cli_usage_error("--dev: '%s' is not a device name", dev);
}

int
cli_exe_sibling(const char *name, int amode, char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return -1;
	exe[n] = '\0';
	snprintf(buf, len, "%s/%s", dirname(exe), name);
	return access(buf, amode) == 0 ? 0 : -1;
}

/* "filter attach", "up": a command's name in messages. */
static const char *
cmd_name(const struct cli_cmd *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->name, c->sub ? " " : "",
	    c->sub ? c->sub : "");
	return buf;
}

static const struct cli_use *
cmd_use(const struct cli_cmd *c, enum cli_flag f)
{
	const struct cli_use *u;

	for (u = c->uses; u->flag != CF_COUNT; u++)
		if (u->flag == f)
			return u;
	return NULL;
}

/* The subcommands of name, comma-separated, into buf. */
static const char *
subs_list(const struct cli_cmd *cmds, size_t n, const char *name, char *buf,
    size_t len)
{
	size_t i, at = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		if (strcmp(cmds[i].name, name) == 0 && cmds[i].sub && at < len)
			at += snprintf(buf + at, len - at, "%s%s",
			    at ? ", " : "", cmds[i].sub);
	return buf;
}

/* The command argv names: name, and sub when name has subcommands. */
static const struct cli_cmd *
cmd_find(const struct cli_cmd *cmds, size_t n, int argc, char **argv,
    int *argi)
{
	const char *name = argv[1], *sub = argc > 2 ? argv[2] : NULL;
	char list[256];
	size_t i;
	int known = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(cmds[i].name, name) != 0)
			continue;
		known = 1;
		if (cmds[i].sub == NULL) {
			*argi = 2;
			return &cmds[i];
		}
		if (sub != NULL && strcmp(cmds[i].sub, sub) == 0) {
			*argi = 3;
			return &cmds[i];
		}
	}
	if (!known) {
		for (i = 0, list[0] = '\0'; i < n; i++)
			if (i == 0 || strcmp(cmds[i].name, cmds[i - 1].name))
				snprintf(list + strlen(list), sizeof(list) -
				    strlen(list), "%s%s", i ? ", " : "",
				    cmds[i].name);
		cli_usage_error("unknown command '%.32s' (%s)", name, list);
	}
	if (sub != NULL && (strcmp(sub, "--help") == 0 ||
	    strcmp(sub, "-h") == 0)) {
		cli_help_group(stdout, cmds, n, name);
		exit(0);
	}
	subs_list(cmds, n, name, list, sizeof(list));
	if (sub == NULL || sub[0] == '-')
		cli_usage_error("%s needs a command: %s", name, list);
	cli_usage_error("%s: unknown command '%.32s' (%s)", name, sub, list);
}

/* --region, repeated: one comma-separated list. */
static void
region_append(struct cli_args *a, const char *arg)
{
	size_t n = strlen(a->regions);
	int w;

	w = snprintf(a->regions + n, sizeof(a->regions) - n, "%s%s",
	    n ? "," : "", arg);
	if (w < 0 || (size_t)w >= sizeof(a->regions) - n)
		cli_usage_error("--region: too many names");
	a->v[CF_REGION] = a->regions;
}

static void
flag_set(struct cli_args *a, enum cli_flag f, const char *arg)
{
	char name[64];

	if (cmd_use(a->cmd, f) == NULL)
		cli_usage_error("--%s does not apply to %s", cli_flags[f].name,
		    cmd_name(a->cmd, name, sizeof(name)));
	if (f == CF_REGION) {
		region_append(a, arg);
		return;
	}
	if (f == CF_ALLOW) {
		if (a->nallow == CLI_ALLOW_MAX)
			cli_usage_error("--allow: too many (256 at most; use "
			    "--regions-file)");
		a->allow[a->nallow++] = arg;
	}
	a->v[f] = arg ? arg : "";
}

static void
flags_parse(struct cli_args *a, const struct cli_cmd *cmds, size_t n,
    int argc, char **argv, int argi)
{
	struct option lo[CF_COUNT + 2];
	char name[64];
	int c, i;

	for (i = 0; i < CF_COUNT; i++)
		lo[i] = (struct option){ cli_flags[i].name, cli_flags[i].arg ?
		    required_argument : no_argument, NULL, 256 + i };
	lo[CF_COUNT] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[CF_COUNT + 1] = (struct option){ 0, 0, 0, 0 };
	/* getopt_long skips argv[0]: hand it the command's words as one */
	argv += argi - 1;
	argc -= argi - 1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			cli_help_cmd(stdout, cmds, n, a->cmd);
			exit(0);
		}
		if (c < 256)
			cli_usage_error("unknown or incomplete flag '%s'",
			    argv[optind - 1]);
		flag_set(a, (enum cli_flag)(c - 256), optarg);
	}
	for (; optind < argc; optind++) {
		if (a->npos == CLI_POS_MAX || a->npos == a->cmd->maxpos)
			break;
		a->pos[a->npos++] = argv[optind];
	}
	if (optind < argc)
		cli_usage_error("%s: unexpected argument '%.64s'%s",
		    cmd_name(a->cmd, name, sizeof(name)), argv[optind],
		    cmd_use(a->cmd, CF_DEV) ? " (the device is --dev DEV)" :
		    "");
}

/* Required flags and arguments, named in the table. */
static void
args_check(const struct cli_args *a)
{
	const struct cli_use *u;
	char name[64];

	cmd_name(a->cmd, name, sizeof(name));
	if (a->npos < a->cmd->minpos)
		cli_usage_error("%s needs %s: streamgate %s %s", name,
		    a->cmd->args_help, name, a->cmd->args);
	for (u = a->cmd->uses; u->flag != CF_COUNT; u++)
		if (u->required && a->v[u->flag] == NULL)
			cli_usage_error("%s: --%s %s is required (%s)", name,
			    cli_flags[u->flag].name, cli_flags[u->flag].arg,
			    u->help ? u->help : cli_flags[u->flag].help);
	if (a->v[CF_DEV] != NULL)
		cli_dev_check(a->v[CF_DEV]);
}

int
cli_main(const struct cli_cmd *cmds, size_t n, int argc, char **argv)
{
	struct cli_args a;
	const char *first = argc > 1 ? argv[1] : NULL;
	int argi;

	if (first == NULL) {
		cli_help_all(stderr, cmds, n);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0 ||
	    strcmp(first, "help") == 0) {
		cli_help_all(stdout, cmds, n);
		return 0;
	}
	if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
		version_print(stdout, "streamgate");
		return 0;
	}
	if (strcmp(first, "--bash-completion") == 0) {
		cli_bash_completion(stdout, cmds, n);
		return 0;
	}
	if (strcmp(first, "--man-synopsis") == 0) {
		cli_man_synopsis(stdout, cmds, n);
		return 0;
	}
	if (first[0] == '-')
		cli_usage_error("unknown or incomplete flag '%s' (flags come "
		    "after the command)", first);
	memset(&a, 0, sizeof(a));
	a.cmd = cmd_find(cmds, n, argc, argv, &argi);
	flags_parse(&a, cmds, n, argc, argv, argi);
	args_check(&a);
	return a.cmd->run(&a);
}
