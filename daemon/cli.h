/*
 * cli.h: what the commands of the streamgate tool share on their command
 * line (streamgate.c, updown.c, status.c): the usage error, which flags a
 * command takes, the region table that TABLE OPTIONS describe, --xdp-mode,
 * and where the BPF object is when --obj is not given.  A bad flag is a
 * usage error: one line naming the flag, a hint, exit CLI_EXIT_USAGE.
 */
#ifndef SG_CLI_H
#define SG_CLI_H

#include <stddef.h>

#define CLI_EXIT_USAGE	2
#define CLI_ALLOW_MAX	256

struct region_table;

/* TABLE OPTIONS: --regions-file FILE --region R,... --allow CIDR... */
struct cli_table {
	const char	*regions_file;
	const char	*regions;	/* names, comma-separated; NULL: all */
	const char	*allow[CLI_ALLOW_MAX];
	int		 nallow;
};

/* The flags of the filter and nft commands that up takes too. */
struct cli_flags {
	struct cli_table rt;		/* but --region: the command's own */
	const char	*mode;
	const char	*ports;
	const char	*xdp_mode;
	const char	*obj;
	const char	*table;
	const char	*hook;
	const char	*dev;
};

void	cli_usage_error(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* --name must be one of allowed's words (" mode ports "): else a usage
 * error saying it does not apply to cmd (NULL: "this command"). */
void	cli_flag_check(const char *allowed, const char *name, const char *cmd);
/* --dev DEV: a usage error unless dev can name a network device. */
void	cli_dev_check(const char *dev);
/* --name arg into f when f has it: 1, else 0.  --allow CIDR is checked
 * later, by cli_table_build. */
int	cli_flags_set(struct cli_flags *f, const char *name, const char *arg);
/* The region table f describes: the file or the built-in one, narrowed to
 * the regions, plus the --allow prefixes.  0, or -1 with err naming the
 * flag; out of memory is fatal. */
int	cli_table_build(const struct cli_table *f, struct region_table *t,
	    char *err, size_t errlen);
/* --xdp-mode native|generic (NULL: native): 1 for generic. */
int	cli_xdp_generic(const char *mode);
/* name beside this binary, into buf, when access(amode) allows it: 0, or
 * -1 when it is not there. */
int	cli_exe_sibling(const char *name, int amode, char *buf, size_t len);
/* The BPF object: beside this binary, else installed; else a usage error
 * asking for --obj. */
const char *cli_obj_default(char *buf, size_t len);

#endif
