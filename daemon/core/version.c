/*
 * version.c: the version strings (see version.h).  sg_build_version.h,
 * in the build directory, is written by the Makefile and rewritten only
 * when it changes, so a new commit rebuilds this file alone.
 */
#include <stdio.h>

#include "version.h"
#include "sg_build_version.h"

const char *
version_number(void)
{
	return SG_VERSION;
}

const char *
version_git(void)
{
	return SG_GIT;
}

void
version_print(FILE *fp, const char *prog)
{
	if (SG_GIT[0] != '\0')
		fprintf(fp, "%s %s (git %s)\n", prog, SG_VERSION, SG_GIT);
	else
		fprintf(fp, "%s %s\n", prog, SG_VERSION);
}
