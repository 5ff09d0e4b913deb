/*
 * secret.c: API secrets from files.  The file is opened without following
 * a symlink and checked through the opened descriptor, so what is checked
 * is what is read.  The secret is copied into its own page, kept out of
 * core dumps, zero in any child forked later (the sysstats helper), and
 * locked in memory when the limits allow; every buffer that held it is
 * wiped before it is released.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secret.h"

/* Room for the first line plus whitespace around it. */
#define SECRET_READ_MAX	(2 * SECRET_MAX)

static void	(*free_hook)(const uint8_t *, size_t);

void
secret_set_free_hook(void (*hook)(const uint8_t *, size_t))
{
	free_hook = hook;
}

static size_t
secret_maplen(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) / page * page;
}

int
secret_from(const void *bytes, size_t len, struct secret *s)
{
	size_t maplen;
	void *p;

	s->bytes = NULL;
	s->len = 0;
	if (len == 0 || len > SECRET_MAX) {
		errno = EINVAL;
		return -1;
	}
	maplen = secret_maplen(len);
	p = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	(void)madvise(p, maplen, MADV_DONTDUMP);
	/* a forked helper never needs it: it sees zeros */
	(void)madvise(p, maplen, MADV_WIPEONFORK);
	/* EPERM or ENOMEM under RLIMIT_MEMLOCK: the secret may be swapped,
	 * which is no worse than any other process memory. */
	(void)mlock(p, maplen);
	memcpy(p, bytes, len);
	s->bytes = p;
	s->len = len;
	return 0;
}

void
secret_free(struct secret *s)
{
	size_t maplen;

	if (s->bytes == NULL)
		return;
	maplen = secret_maplen(s->len);
	explicit_bzero(s->bytes, s->len);
	if (free_hook != NULL)
		free_hook(s->bytes, maplen);
	(void)munlock(s->bytes, maplen);
	(void)munmap(s->bytes, maplen);
	s->bytes = NULL;
	s->len = 0;
}

static int
secret_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\v' || c == '\f';
}

/* The first line of fd into buf; *eol is 0 when no newline was found in
 * SECRET_READ_MAX bytes and the file goes on. */
static ssize_t
secret_read_line(int fd, char *buf, int *eol)
{
	size_t have = 0;
	ssize_t n;

	*eol = 1;
	while (have < SECRET_READ_MAX) {
		n = read(fd, buf + have, SECRET_READ_MAX - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return have;
		if (memchr(buf + have, '\n', n) != NULL)
			return have + n;
		have += n;
	}
	*eol = 0;
	return have;
}

/* Checks on the opened file: the message names the fix. */
static int
secret_check(const char *path, int fd, char *err, size_t errlen)
{
	struct stat st;
	mode_t m;

	if (fstat(fd, &st) == -1) {
		log_errbuf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_errbuf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	m = st.st_mode & 07777;
	if (m & 077) {
		log_errbuf(err, errlen, "%s: %s by group or others (mode %04o): "
		    "chmod 600 %s", path, (m & 044) ? "readable" :
		    (m & 022) ? "writable" : "executable", (unsigned int)m,
		    path);
		return -1;
	}
	return 0;
}

int
secret_load(const char *path, struct secret *s, char *err, size_t errlen)
{
	char buf[SECRET_READ_MAX];
	char *nl;
	size_t start, end;
	ssize_t n;
	int fd, eol, rc = -1;

	s->bytes = NULL;
	s->len = 0;
	/* O_NONBLOCK: a FIFO must not hang the open; fstat refuses it. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ELOOP)
			log_errbuf(err, errlen, "%s: a symbolic link: name the "
			    "file itself", path);
		else if (errno == EACCES)	/* after the drop, on SIGHUP */
			log_errbuf(err, errlen, "%s: %s (read as uid %u: make "
			    "it that user's, mode 0600)", path, strerror(errno),
			    (unsigned int)geteuid());
		else
			log_errbuf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (secret_check(path, fd, err, errlen) != 0)
		goto done;
	if ((n = secret_read_line(fd, buf, &eol)) == -1) {
		log_errbuf(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	end = n;
	if ((nl = memchr(buf, '\n', end)) != NULL)
		end = nl - buf;
	else if (!eol) {
		log_errbuf(err, errlen, "%s: first line longer than %d bytes",
		    path, SECRET_MAX);
		goto done;
	}
	for (start = 0; start < end && secret_isspace(buf[start]); start++)
		;
	while (end > start && secret_isspace(buf[end - 1]))
		end--;
	if (end == start)
		log_errbuf(err, errlen, "%s: empty secret on the first line", path);
	else if (end - start > SECRET_MAX)
		log_errbuf(err, errlen, "%s: secret longer than %d bytes", path,
		    SECRET_MAX);
	else if (secret_from(buf + start, end - start, s) != 0)
		log_errbuf(err, errlen, "%s: %s", path, strerror(errno));
	else
		rc = 0;
done:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}
