/*
 * log.c: one place that writes diagnostics.  log_warn/fatal append
 * strerror(errno); the x variants do not.  Messages go to stderr, which is
 * the journal under systemd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *log_prog = "streamgate";
static int log_verbose;

void
log_init(const char *progname, int verbose)
{
	log_prog = progname;
	log_verbose = verbose;
}

static void
log_vwrite(int with_errno, const char *fmt, va_list ap)
{
	int saved = errno;

	fprintf(stderr, "%s: ", log_prog);
	vfprintf(stderr, fmt, ap);
	if (with_errno)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
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
