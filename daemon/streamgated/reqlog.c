/*
 * reqlog.c: the request log (see reqlog.h).  The webhook id and the path
 * come from the client: they are escaped, and cut short rather than let
 * a line grow past its buffer.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "reqlog.h"

static void
json_str(char *dst, size_t len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(dst + o, "\\u00", 4);
			dst[o + 4] = hex[c >> 4];
			dst[o + 5] = hex[c & 0xf];
			o += 6;
		} else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

/* The line's time, formatted once a second (gmtime and strftime were a
 * fifth of a line's cost). */
static const char *
stamp(struct reqlog *log)
{
	time_t t = time(NULL);
	struct tm tm;

	if (t != log->ts_sec || log->ts[0] == '\0') {
		gmtime_r(&t, &tm);
		strftime(log->ts, sizeof(log->ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		log->ts_sec = t;
	}
	return log->ts;
}

/* One write per loop, not per request: lines are whole, order is kept,
 * and log_write keeps a diagnostic from landing inside the batch. */
void
reqlog_flush(struct reqlog *log)
{
	if (log->len > 0)
		log_write(log->buf, log->len);
	log->len = 0;
}

void
reqlog_add(struct reqlog *log, const char *remote, const char *path,
    const struct webhook_job *job, int status, const char *reason,
    int64_t started_us)
{
	enum webhook_route route = job ? job->route : WR_NONE;
	char line[1024], p[300], id[300], r[160];
	int n;

	metrics_record(route, status, reason, clock_mono_us() - started_us);
	json_str(p, sizeof(p), path);
	json_str(id, sizeof(id), job ? job->webhook_id : "");
	json_str(r, sizeof(r), reason ? reason : "");
	n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"remote\":\"%s\","
	    "\"path\":\"%s\",\"webhook_id\":\"%s\",\"attempt\":%d,"
	    "\"kind\":\"%s\",\"status\":%d,\"latency_us\":%lld,"
	    "\"reason\":\"%s\"}\n", stamp(log), remote, p, id,
	    job ? job->attempt : 0, webhook_kind_name(route), status,
	    (long long)(clock_mono_us() - started_us), r);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (log->len + (size_t)n > sizeof(log->buf))
		reqlog_flush(log);
	memcpy(log->buf + log->len, line, (size_t)n);
	log->len += (size_t)n;
}
