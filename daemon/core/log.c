/*
 * log.c: one place that writes diagnostics.  log_warn/fatal append
 * strerror(errno); the x variants do not.  Messages go to stderr, which is
 * the journal under systemd.
 *
 * Every line reaches stderr whole: it is formatted first, then written by
 * log_write, which holds one lock for the whole write, so a diagnostic
 * never lands inside a worker's batch of request lines (which go through
 * log_write too) and a log shipper always reads one JSON line per request.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LINE_MAX_LEN	4096	/* longer lines end in "..." */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *log_prog = "streamgate";
static int log_verbose;

void
log_init(const char *progname, int verbose)
{
	log_prog = progname;
	log_verbose = verbose;
}

void
log_write(const char *buf, size_t len)
{
	ssize_t n;

	pthread_mutex_lock(&log_lock);
	while (len > 0) {
		if ((n = write(STDERR_FILENO, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			break;		/* nowhere left to say so */
		}
		buf += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&log_lock);
}

static void
log_vwrite(int with_errno, const char *fmt, va_list ap)
{
	char line[LINE_MAX_LEN];
	int saved = errno, n;
	size_t len;

	n = snprintf(line, sizeof(line), "%s: ", log_prog);
	len = n > 0 ? (size_t)n : 0;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	len += n > 0 ? (size_t)n : 0;
	if (with_errno && len < sizeof(line)) {
		n = snprintf(line + len, sizeof(line) - len, ": %s",
		    strerror(saved));
		len += n > 0 ? (size_t)n : 0;
	}
	if (len >= sizeof(line) - 1) {	/* cut: say so, keep the newline */
		len = sizeof(line) - 1;
		memcpy(line + len - 4, "...", 3);
		len--;
	}
	line[len++] = '\n';
	log_write(line, len);
	errno = saved;
}

#define LOG_BODY(with_errno)			\
	do {					\
		va_list ap;			\
		va_start(ap, fmt);		\
		log_vwrite(with_errno, fmt, ap);\
		va_end(ap);			\
	} while (0)

void log_warn(const char *fmt, ...)  { LOG_BODY(1); }
void log_warnx(const char *fmt, ...) { LOG_BODY(0); }
void log_info(const char *fmt, ...)  { LOG_BODY(0); }

void
log_debug(const char *fmt, ...)
{
	if (log_verbose)
		LOG_BODY(0);
}

void
log_errbuf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(1);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(0);
	exit(1);
}
