/*
 * cli_doc.c: the command table as text for people and for shells: the
 * usage lines of --help, a command's own help, the bash completion
 * script and the man page's SYNOPSIS (mdoc).  All of it is walked from
 * the table, so none of it can name a flag the parser does not take.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define WIDTH	80

/* One word of a synopsis: "[--allow CIDR]...", "DEV", "--dev DEV". */
static void
use_word(const struct cli_use *u, char *buf, size_t len)
{
	const struct cli_flag_def *f = &cli_flags[u->flag];

	snprintf(buf, len, "%s--%s%s%s%s%s", u->required ? "" : "[", f->name,
	    f->arg ? " " : "", f->arg ? f->arg : "", u->required ? "" : "]",
	    f->repeat ? "..." : "");
}

/* prefix, then the words of c, wrapped under the first word after it. */
static void
synopsis(FILE *fp, const char *prefix, const struct cli_cmd *c)
{
	const struct cli_use *u;
	char word[128];
	int col, indent;

	col = fprintf(fp, "%sstreamgate %s%s%s", prefix, c->name,
	    c->sub ? " " : "", c->sub ? c->sub : "");
	indent = col + 1;
	if (c->args)
		col += fprintf(fp, " %s", c->args);
	for (u = c->uses; u->flag != CF_COUNT; u++) {
		/* "SEQ|--dead" names --dead already */
		snprintf(word, sizeof(word), "--%s", cli_flags[u->flag].name);
		if (c->args && strstr(c->args, word))
			continue;
		use_word(u, word, sizeof(word));
		if (col + 1 + (int)strlen(word) > WIDTH)
			col = fprintf(fp, "\n%*s%s", indent, "", word) - 1;
		else
			col += fprintf(fp, " %s", word);
	}
	fprintf(fp, "\n");
}

/* text from column col on, wrapped at WIDTH under column indent. */
static void
wrap(FILE *fp, const char *text, int col, int indent)
{
	const char *p = text;
	size_t n;

	while (*p) {
		n = strcspn(p, " ");
		if (col > indent && col + 1 + (int)n > WIDTH)
			col = fprintf(fp, "\n%*s", indent, "") - 1;
		else if (p != text)
			col += fprintf(fp, " ");
		col += fprintf(fp, "%.*s", (int)n, p);
		p += n;
		p += strspn(p, " ");
	}
	fprintf(fp, "\n");
}

void
cli_help_all(FILE *fp, const struct cli_cmd *cmds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		synopsis(fp, i ? "       " : "usage: ", &cmds[i]);
	fprintf(fp, "       streamgate --version | --bash-completion | "
	    "--man-synopsis\n\n"
	    "'streamgate COMMAND [SUBCOMMAND] --help' describes a command "
	    "and its flags.\nExit status: 0 done, 1 the operation failed, "
	    "2 bad usage.\n");
}

void
cli_help_group(FILE *fp, const struct cli_cmd *cmds, size_t n,
    const char *name)
{
	size_t i;
	int k = 0;

	for (i = 0; i < n; i++)
		if (strcmp(cmds[i].name, name) == 0)
			synopsis(fp, k++ ? "       " : "usage: ", &cmds[i]);
	fprintf(fp, "\n");
	for (i = 0; i < n; i++)
		if (strcmp(cmds[i].name, name) == 0)
			wrap(fp, cmds[i].summary, fprintf(fp, "  %-10s",
			    cmds[i].sub), 12);
	fprintf(fp, "\n'streamgate %s SUBCOMMAND --help' describes its "
	    "flags.\n", name);
}

void
cli_help_cmd(FILE *fp, const struct cli_cmd *cmds, size_t n,
    const struct cli_cmd *c)
{
	const struct cli_flag_def *f;
	const struct cli_use *u;
	char word[96], help[512];
	int col;

	(void)cmds;
	(void)n;
	synopsis(fp, "usage: ", c);
	fprintf(fp, "\n");
	wrap(fp, c->summary, 0, 0);
	fprintf(fp, "\n");
	if (c->args)
		wrap(fp, c->args_help, fprintf(fp, "  %-24s", c->args), 26);
	for (u = c->uses; u->flag != CF_COUNT; u++) {
		f = &cli_flags[u->flag];
		snprintf(word, sizeof(word), "--%s%s%s", f->name,
		    f->arg ? " " : "", f->arg ? f->arg : "");
		snprintf(help, sizeof(help), "%s%s%s", u->required ?
		    "required: " : "", u->help ? u->help : f->help,
		    f->repeat ? " (repeatable)" : "");
		col = fprintf(fp, "  %-24s", word);
		if (col > 26)
			col = fprintf(fp, "\n%26s", "") - 1;
		wrap(fp, help, col, 26);
	}
	fprintf(fp, "  %-24s%s\n", "-h, --help", "this help");
}

/* ---- bash completion ---- */

/* The words that complete flag f's argument, as a bash expression. */
static const char *
complete_expr(enum cli_flag f, char *buf, size_t len)
{
	switch (cli_flags[f].complete) {
	case CC_FILE:
		return "compgen -f -- \"$cur\"";
	case CC_DIR:
		return "compgen -d -- \"$cur\"";
	case CC_DEV:
		return "compgen -W \"$(ls /sys/class/net 2>/dev/null)\" -- "
		    "\"$cur\"";
	case CC_WORDS:
		snprintf(buf, len, "compgen -W \"%s\" -- \"$cur\"",
		    cli_flags[f].words);
		return buf;
	default:
		return NULL;
	}
}

static void
completion_prev(FILE *fp)
{
	const char *e;
	char buf[160];
	int f;

	fprintf(fp, "\tcase $prev in\n");
	for (f = 0; f < CF_COUNT; f++) {
		if (cli_flags[f].arg == NULL)
			continue;
		e = complete_expr(f, buf, sizeof(buf));
		fprintf(fp, "\t--%s)\n\t\t%s%s%s\n\t\treturn;;\n",
		    cli_flags[f].name, e ? "COMPREPLY=($(" : "COMPREPLY=()",
		    e ? e : "", e ? "))" : "");
	}
	fprintf(fp, "\tesac\n");
}

/* Command names, each once, then the subcommands of each. */
static void
completion_words(FILE *fp, const struct cli_cmd *cmds, size_t n)
{
	size_t i, j;

	fprintf(fp, "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n"
	    "\t\tCOMPREPLY=($(compgen -W \"");
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(cmds[i].name, cmds[i - 1].name))
			fprintf(fp, "%s ", cmds[i].name);
	fprintf(fp, "--help --version\" -- \"$cur\"))\n\t\treturn\n\tfi\n"
	    "\tcase $cmd in\n");
	for (i = 0; i < n; i = j) {
		for (j = i; j < n && strcmp(cmds[j].name, cmds[i].name) == 0;)
			j++;
		if (cmds[i].sub == NULL)
			continue;
		fprintf(fp, "\t%s)\n\t\tif [ \"$COMP_CWORD\" -eq 2 ]; then\n"
		    "\t\t\tCOMPREPLY=($(compgen -W \"", cmds[i].name);
		for (; i < j; i++)
			fprintf(fp, "%s%s", cmds[i].sub, i + 1 < j ? " " : "");
		fprintf(fp, "\" -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n"
		    "\t\tcmd=\"$cmd ${COMP_WORDS[2]}\";;\n");
	}
	fprintf(fp, "\tesac\n");
}

/* Each command's flags; a DEV argument completes devices. */
static void
completion_flags(FILE *fp, const struct cli_cmd *cmds, size_t n)
{
	const struct cli_use *u;
	size_t i;

	fprintf(fp, "\tcase $cmd in\n");
	for (i = 0; i < n; i++) {
		fprintf(fp, "\t\"%s%s%s\")\n\t\tflags=\"", cmds[i].name,
		    cmds[i].sub ? " " : "", cmds[i].sub ? cmds[i].sub : "");
		for (u = cmds[i].uses; u->flag != CF_COUNT; u++)
			fprintf(fp, "--%s ", cli_flags[u->flag].name);
		fprintf(fp, "--help\"%s;;\n", cmds[i].args &&
		    strcmp(cmds[i].args, "DEV") == 0 ? "\n\t\targ=dev" : "");
	}
	fprintf(fp, "\t*)\n\t\treturn;;\n\tesac\n");
}

void
cli_bash_completion(FILE *fp, const struct cli_cmd *cmds, size_t n)
{
	fprintf(fp, "# bash completion for streamgate(8), written by "
	    "`streamgate --bash-completion`\n# from the tool's command "
	    "table: do not edit.\n"
	    "_streamgate()\n{\n"
	    "\tlocal cur=${COMP_WORDS[COMP_CWORD]}\n"
	    "\tlocal prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	    "\tlocal cmd=${COMP_WORDS[1]} flags arg\n\n");
	completion_prev(fp);
	completion_words(fp, cmds, n);
	completion_flags(fp, cmds, n);
	fprintf(fp, "\tif [ \"$arg\" = dev ] && [ \"${cur#-}\" = \"$cur\" ]; "
	    "then\n\t\tCOMPREPLY=($(compgen -W \"$(ls /sys/class/net "
	    "2>/dev/null)\" -- \"$cur\"))\n\t\treturn\n\tfi\n"
	    "\tCOMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n}\n"
	    "complete -F _streamgate streamgate\n");
}

/* ---- the man page's SYNOPSIS, in mdoc ---- */

/* mdoc wants placeholders in lower case: "DEV" is `.Ar dev`. */
static const char *
lower(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i];
	buf[i] = '\0';
	return buf;
}

void
cli_man_synopsis(FILE *fp, const struct cli_cmd *cmds, size_t n)
{
	const struct cli_flag_def *f;
	const struct cli_use *u;
	char arg[64], name[64];
	size_t i;

	for (i = 0; i < n; i++) {
		fprintf(fp, ".Nm streamgate\n.Cm %s%s%s\n", cmds[i].name,
		    cmds[i].sub ? " " : "", cmds[i].sub ? cmds[i].sub : "");
		if (cmds[i].args)
			fprintf(fp, ".Ar %s\n", lower(cmds[i].args, arg,
			    sizeof(arg)));
		for (u = cmds[i].uses; u->flag != CF_COUNT; u++) {
			f = &cli_flags[u->flag];
			snprintf(name, sizeof(name), "--%s", f->name);
			if (cmds[i].args && strstr(cmds[i].args, name))
				continue;	/* "SEQ|--dead" */
			fprintf(fp, ".%sFl -%s%s%s%s\n", u->required ? "" :
			    f->repeat ? "Oo " : "Op ", f->name, f->arg ? " Ar " :
			    "", f->arg ? lower(f->arg, arg, sizeof(arg)) : "",
			    f->repeat ? " Oc Ns ..." : "");
		}
	}
	fprintf(fp, ".Nm streamgate\n.Fl -version | -bash-completion | "
	    "-man-synopsis\n");
}
