/*
 * version.h: which streamgate this is.  The number is set in one place,
 * the Makefile's VERSION; a build from a git checkout adds its
 * `git describe`, so a binary says which commit it came from.
 */
#ifndef SG_VERSION_H
#define SG_VERSION_H

#include <stdio.h>

/* "0.10.0" */
const char	*version_number(void);
/* "v0.10.0-3-gabc1234-dirty", or "" when not built from a checkout. */
const char	*version_git(void);
/* "PROG VERSION (git DESCRIBE)\n" on fp: the --version answer. */
void		 version_print(FILE *fp, const char *prog);

#endif
