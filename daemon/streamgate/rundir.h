/*
 * rundir.h: the files the tool writes as root, written so that nobody
 * else can point them elsewhere.  A directory we write in is opened once
 * (O_NOFOLLOW, O_DIRECTORY) and checked through that descriptor: it must
 * belong to root (or to us) and be writable by nobody else.  Every file
 * is then opened relative to it (openat, O_NOFOLLOW): a symlink or a
 * swapped path cannot send a root write to a file of someone's choice.
 * A whole file (the pid file) is written to a temporary name and renamed
 * over the old one in that directory, so a reader sees it all or not.
 */
#ifndef SG_RUNDIR_H
#define SG_RUNDIR_H

#include <stddef.h>
#include <sys/types.h>

#define RUNDIR_MODE	0750

/*
 * The directory at path: created (RUNDIR_MODE) when create is set and it
 * is missing, then opened and checked.  Group write is tolerated only
 * with group_ok (a shared log directory such as a distribution's
 * /var/log); other write never.  A descriptor, or -1 with why in err.
 */
int	rundir_open(const char *path, int create, int group_ok, char *err,
	    size_t errlen);
/* name in dir holds pid, whole: 0, or -1 with why in err. */
int	rundir_write_pid(int dir, const char *name, pid_t pid, char *err,
	    size_t errlen);
/* name in dir, opened to append and read (created 0640): a descriptor
 * of a regular file, or -1 with why in err. */
int	rundir_open_log(int dir, const char *name, char *err, size_t errlen);

#endif
