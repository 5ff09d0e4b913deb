/*
 * reqlog.h: the request log, one JSON line on standard error for each
 * answered request (time, remote, path, webhook id, attempt, kind, status,
 * latency, reason), never a secret or a body.  Each line is also counted
 * in the metrics.  A worker gathers its lines in its own buffer and writes
 * them once per loop: no lock, lines whole and in order.
 */
#ifndef SG_REQLOG_H
#define SG_REQLOG_H

#include <stddef.h>
#include <time.h>
#include <stdint.h>

#include "webhook.h"

#define REQLOG_BUF	65536	/* lines held before a write */

struct reqlog {
	char	buf[REQLOG_BUF];
	size_t	len;
	time_t	ts_sec;		/* the second ts was formatted for */
	char	ts[24];		/* "2026-12-05T23:41:19Z" */
};

/*
 * One request's line.  job NULL: refused before it was read whole (no
 * route, id or attempt); started_us is its first byte (CLOCK_MONOTONIC).
 */
void	reqlog_add(struct reqlog *log, const char *remote, const char *path,
	    const struct webhook_job *job, int status, const char *reason,
	    int64_t started_us);
/* Write what is held (once per loop, and before the worker leaves). */
void	reqlog_flush(struct reqlog *log);

#endif
