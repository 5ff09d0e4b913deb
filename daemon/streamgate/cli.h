/*
 * cli.h: the streamgate tool's command line, driven by one table.
 *
 * main.c holds the table: each command (and subcommand) names its
 * positional arguments, its flags with a one-line help, and the function
 * that runs it.  From that table alone cli.c parses argv, answers
 * `streamgate [CMD [SUB]] --help`, and cli_doc.c writes the bash
 * completion and the man page's synopsis, so none of them can drift from
 * what the parser accepts.  The flags themselves (name, argument, help,
 * what completes them) are one vocabulary, below, shared by every command.
 *
 * A bad flag or argument is a usage error: one line naming the flag, a
 * hint, exit CLI_EXIT_USAGE.
 */
#ifndef SG_CLI_H
#define SG_CLI_H

#include <stddef.h>
#include <stdio.h>

#define CLI_EXIT_USAGE	2
#define CLI_ALLOW_MAX	256
#define CLI_POS_MAX	2

/* Every flag any command takes. */
enum cli_flag {
	CF_JSON, CF_REGIONS_FILE, CF_REGION, CF_ALLOW, CF_MODE, CF_PORTS,
	CF_XDP_MODE, CF_OBJ, CF_TABLE, CF_HOOK, CF_DEV, CF_SECRET_FILE,
	CF_SIGNATURE, CF_STORE, CF_SINCE, CF_LIMIT, CF_STATE, CF_DEAD,
	CF_CONFIG, CF_RUN_DIR, CF_NO_DAEMON, CF_WATCH, CF_HOST, CF_ALLOW_ANY,
	CF_COUNT
};

/* What completes a flag's argument. */
enum cli_complete { CC_NONE, CC_FILE, CC_DIR, CC_DEV, CC_WORDS };

struct cli_flag_def {
	const char	*name;		/* "regions-file" */
	const char	*arg;		/* "FILE"; NULL: takes none */
	const char	*help;		/* one line, unless a command has its own */
	enum cli_complete complete;
	const char	*words;		/* CC_WORDS: "ports strict" */
	int		 repeat;	/* may be given again (adds) */
};
extern const struct cli_flag_def cli_flags[CF_COUNT];

/* A flag as one command takes it. */
struct cli_use {
	enum cli_flag	 flag;
	int		 required;
	const char	*help;		/* NULL: the flag's own */
};

struct cli_args;

struct cli_cmd {
	const char		*name;		/* "filter" */
	const char		*sub;		/* "attach"; NULL: none */
	const char		*args;		/* "DEV", "SEQ|--dead"; NULL */
	const char		*args_help;	/* "a device name" */
	int			 minpos, maxpos;
	const char		*summary;	/* one line */
	const struct cli_use	*uses;		/* ends with flag CF_COUNT */
	int			(*run)(const struct cli_args *);
};

/* A parsed command line. */
struct cli_args {
	const struct cli_cmd	*cmd;
	const char		*v[CF_COUNT];	/* value, or "" when set
						 * without one; NULL unset */
	const char		*allow[CLI_ALLOW_MAX];
	int			 nallow;
	char			 regions[1024];	/* every --region, joined */
	const char		*pos[CLI_POS_MAX];
	int			 npos;
};

/* argv[1..] against the table (ncmds entries): runs the command, handles
 * --help and --version, and returns the exit status.  Usage errors exit. */
int	cli_main(const struct cli_cmd *cmds, size_t ncmds, int argc,
	    char **argv);

void	cli_usage_error(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* --dev DEV: a usage error unless dev can name a network device. */
void	cli_dev_check(const char *dev);
/* name beside this binary (a relative path is taken from its
 * directory), into buf, when access(amode) allows it: 0, or -1. */
int	cli_exe_sibling(const char *name, int amode, char *buf, size_t len);
/* 1 when the flag was given. */
#define cli_has(a, f)	((a)->v[(f)] != NULL)

/* cli_doc.c: the table as text. */
void	cli_help_all(FILE *fp, const struct cli_cmd *cmds, size_t ncmds);
void	cli_help_cmd(FILE *fp, const struct cli_cmd *cmds, size_t ncmds,
	    const struct cli_cmd *c);
/* A command with subcommands, without one: its subcommands. */
void	cli_help_group(FILE *fp, const struct cli_cmd *cmds, size_t ncmds,
	    const char *name);
void	cli_bash_completion(FILE *fp, const struct cli_cmd *cmds,
	    size_t ncmds);
void	cli_man_synopsis(FILE *fp, const struct cli_cmd *cmds, size_t ncmds);

#endif
