/*
 * upstream.h: one POST to the app behind streamgated, as a libcurl easy
 * handle that the caller runs on its own multi handle (connections are
 * reused across requests).  An upstream is one of
 *   http://HOST[:PORT] or .../		as a reverse proxy (nginx's
 *					proxy_pass without a URI): the
 *					request's own path and query (its
 *					target) on that host
 *   http://HOST[:PORT]/PATH[?QUERY]	exactly that URL (a custom command
 *					adds type=NAME to its query)
 *   https://...			the same over TLS (peer verified)
 *   unix:/path/to.sock			HTTP over that socket, to target
 * Every request carries the event's identity (X-Webhook-Id, Stream's
 * X-Webhook-Attempt, X-Api-Key), X-Streamgate-Verified: 1 and, once the
 * store numbered it, X-Streamgate-Seq.
 *
 * Both callers (deliver.c for push, hook.c for the synchronous hooks)
 * start transfers with upstream_start and collect them with
 * upstream_finished; what an outcome means is theirs.
 */
#ifndef SG_UPSTREAM_H
#define SG_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "metrics.h"

/* What one request sends. */
struct upstream_msg {
	const char	*url;		/* the configured upstream */
	const char	*ca_file;	/* https: CA bundle; NULL, "": system */
	const char	*target;	/* the request's path and query, as
					 * Stream sent it; NULL, "": "/" */
	const char	*command;	/* custom commands: ?type=; NULL, "" */
	const char	*webhook_id;
	const char	*api_key;
	const char	*signature;	/* Stream's X-Signature; NULL: none */
	int		 attempt;	/* Stream's X-Webhook-Attempt */
	int		 delivery_attempt; /* push: ours, from 1; 0: none */
	int64_t		 seq;		/* 0: not stored (a duplicate) */
	const uint8_t	*body;		/* must outlive the transfer */
	size_t		 body_len;
	long		 timeout_ms;	/* the whole attempt */
};

#define UPSTREAM_URL_MAX	4096

/*
 * The URL to ask for m (see above) into out; *sock is the unix socket's
 * path, or NULL.  0, or -1 with err ("upstream URL too long").
 */
int	upstream_url(const struct upstream_msg *m, char *out, size_t len,
	    const char **sock, char *err, size_t errlen);

/* The answer's body, kept up to max bytes (max 0: discarded). */
struct upstream_reply {
	char		*data;		/* malloc'd, NUL-terminated, or NULL */
	size_t		 len;
	size_t		 cap;
	size_t		 max;
	int		 over;		/* longer than max: cut off */
};

/*
 * Set h (fresh or reset) up for m.  *hdrs receives the header list, which
 * the caller frees with curl_slist_free_all once the transfer is over;
 * reply may be NULL.  0, or -1 with a short reason in err.
 */
int	upstream_prepare(CURL *h, const struct upstream_msg *m,
	    struct upstream_reply *reply, struct curl_slist **hdrs, char *err,
	    size_t errlen);
/*
 * upstream_prepare, then h carries priv (CURLOPT_PRIVATE) and runs on
 * multi.  0, or -1 with err ("cannot start a request" when libcurl said no
 * more); *hdrs may be set even then.
 */
int	upstream_start(CURLM *multi, CURL *h, const struct upstream_msg *m,
	    struct upstream_reply *reply, struct curl_slist **hdrs, void *priv,
	    char *err, size_t errlen);
/*
 * The next transfer of multi that is over: taken off multi, its time
 * counted in the metrics as kind.  Its priv, with its handle and result,
 * or NULL when no other is over.
 */
void	*upstream_finished(CURLM *multi, enum metrics_upstream kind, CURL **h,
	    CURLcode *rc);
/* Why a finished transfer did not give a 2xx, in a few words: "status
 * 500", "timeout", "connect refused", "reply too large"; "" for a 2xx. */
void	upstream_reason(CURL *h, CURLcode rc, const struct upstream_reply *r,
	    char *buf, size_t len);
/* The URL without user:password@, for logs. */
void	upstream_redact(const char *url, char *buf, size_t len);
void	upstream_reply_free(struct upstream_reply *r);

#endif
