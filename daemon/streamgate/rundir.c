/*
 * rundir.c: safe files for a root tool (see rundir.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rundir.h"

/* Whose, and who else may write: the checks on an open directory. */
static int
dir_check(int fd, const char *path, int group_ok, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		log_errbuf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_errbuf(err, errlen, "%s: owned by uid %u, not root: "
		    "refusing to write there as root", path,
		    (unsigned)st.st_uid);
		return -1;
	}
	if ((st.st_mode & S_IWOTH) || (!group_ok && (st.st_mode & S_IWGRP))) {
		log_errbuf(err, errlen, "%s: writable by %s (mode %04o): "
		    "refusing to write there as root", path,
		    (st.st_mode & S_IWOTH) ? "anyone" : "its group",
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int
rundir_open(const char *path, int create, int group_ok, char *err,
    size_t errlen)
{
	int fd, made = 0;

	if (create && !(made = mkdir(path, RUNDIR_MODE) == 0) &&
	    errno != EEXIST) {
		log_errbuf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		log_errbuf(err, errlen, "%s: %s", path, errno == ELOOP ||
		    errno == ENOTDIR ? "not a directory (a symlink?): "
		    "refusing to write there as root" : strerror(errno));
		return -1;
	}
	/* ours, just made: its mode, whatever the caller's umask took away */
	if (made && fchmod(fd, RUNDIR_MODE) != 0) {
		log_errbuf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (dir_check(fd, path, group_ok, err, errlen) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
rundir_write_pid(int dir, const char *name, pid_t pid, char *err,
    size_t errlen)
{
	char tmp[256], line[32];
	int fd, n, ok;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	/* a leftover of a crash: ours to replace (the directory is ours) */
	if (unlinkat(dir, tmp, 0) != 0 && errno != ENOENT)
		goto fail;
	fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd == -1)
		goto fail;
	n = snprintf(line, sizeof(line), "%d\n", (int)pid);
	ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
	if (close(fd) != 0 || !ok || renameat(dir, tmp, dir, name) != 0) {
		unlinkat(dir, tmp, 0);
		goto fail;
	}
	return 0;
fail:
	log_errbuf(err, errlen, "pid file %s: %s", name, strerror(errno));
	return -1;
}

int
rundir_open_log(int dir, const char *name, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	/* read too: a failed start quotes the log's last line */
	fd = openat(dir, name, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_NOCTTY | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_errbuf(err, errlen, "log %s: %s", name, errno == ELOOP ?
		    "a symlink: refusing to write there as root" :
		    strerror(errno));
		return -1;
	}
	/* a hard link to another file would have more than one name */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		log_errbuf(err, errlen, "log %s: not a plain file of its own "
		    "(a hard link?): refusing to write there as root", name);
		close(fd);
		return -1;
	}
	return fd;
}
