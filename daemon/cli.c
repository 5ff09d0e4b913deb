/*
 * cli.c: the command-line pieces the streamgate tool's commands share
 * (see cli.h).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cidr.h"
#include "cli.h"
#include "log.h"
#include "regions.h"

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
cli_flag_check(const char *allowed, const char *name, const char *cmd)
{
	char word[32];

	/* whole words only: "mode" must not admit "xdp-mode" */
	snprintf(word, sizeof(word), " %s ", name);
	if (strstr(allowed, word) == NULL)
		cli_usage_error("--%s does not apply to %s", name,
		    cmd ? cmd : "this command");
}

void
cli_dev_check(const char *dev)
{
	if (dev[0] == '\0' || strlen(dev) >= IF_NAMESIZE ||
	    strpbrk(dev, " \t/"))
		cli_usage_error("--dev: '%s' is not a device name", dev);
}

int
cli_flags_set(struct cli_flags *f, const char *name, const char *arg)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} flags[] = {
		{ "regions-file", offsetof(struct cli_flags, rt.regions_file) },
		{ "mode",	offsetof(struct cli_flags, mode) },
		{ "ports",	offsetof(struct cli_flags, ports) },
		{ "xdp-mode",	offsetof(struct cli_flags, xdp_mode) },
		{ "obj",	offsetof(struct cli_flags, obj) },
		{ "table",	offsetof(struct cli_flags, table) },
		{ "hook",	offsetof(struct cli_flags, hook) },
		{ "dev",	offsetof(struct cli_flags, dev) },
	};
	size_t i;

	if (strcmp(name, "allow") == 0) {
		if (f->rt.nallow == CLI_ALLOW_MAX)
			cli_usage_error("--allow: too many (256 at most; use "
			    "--regions-file)");
		f->rt.allow[f->rt.nallow++] = arg;
		return 1;
	}
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strcmp(name, flags[i].name) == 0) {
			*(const char **)((char *)f + flags[i].off) = arg;
			return 1;
		}
	return 0;
}

int
cli_table_build(const struct cli_table *f, struct region_table *t,
    char *err, size_t errlen)
{
	char why[512];
	struct cidr c;
	int i;

	if (f->regions_file) {
		if (regions_load_file(f->regions_file, t, why,
		    sizeof(why)) != 0) {
			log_errbuf(err, errlen, "--regions-file: %s", why);
			return -1;
		}
	} else if (regions_builtin(t) != 0)
		fatal("%s", __func__);
	if (regions_select(t, f->regions, why, sizeof(why)) != 0) {
		log_errbuf(err, errlen, "--region: %s", why);
		return -1;
	}
	for (i = 0; i < f->nallow; i++) {
		if (cidr_parse(f->allow[i], &c, why, sizeof(why)) != 0) {
			log_errbuf(err, errlen, "--allow: %s", why);
			return -1;
		}
		if (regions_add(t, REGION_ALLOW, "", &c) != 0) {
			if (errno != EEXIST)
				fatal("%s", __func__);
			log_errbuf(err, errlen, "--allow: %s is already in the "
			    "region table", f->allow[i]);
			return -1;
		}
	}
	return 0;
}

int
cli_xdp_generic(const char *mode)
{
	if (mode == NULL || strcmp(mode, "native") == 0)
		return 0;
	if (strcmp(mode, "generic") != 0)
		cli_usage_error("--xdp-mode: must be native or generic");
	return 1;
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

const char *
cli_obj_default(char *buf, size_t len)
{
	static const char *installed[] = {
		"/usr/local/lib/streamgate/streamgate.bpf.o",
		"/usr/lib/streamgate/streamgate.bpf.o",
	};
	size_t i;

	if (cli_exe_sibling("streamgate.bpf.o", R_OK, buf, len) == 0)
		return buf;
	/* installed: PREFIX/sbin/streamgate finds PREFIX/lib/streamgate */
	if (cli_exe_sibling("../lib/streamgate/streamgate.bpf.o", R_OK, buf,
	    len) == 0)
		return buf;
	for (i = 0; i < sizeof(installed) / sizeof(installed[0]); i++)
		if (access(installed[i], R_OK) == 0)
			return installed[i];
	cli_usage_error("--obj: no streamgate.bpf.o beside this binary, in "
	    "../lib/streamgate from it, or in /usr/local/lib/streamgate: "
	    "pass --obj PATH");
}
