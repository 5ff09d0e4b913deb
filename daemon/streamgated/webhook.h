/*
 * webhook.h: what to do with one request.  Route, API key, gzip, signature,
 * JSON, dedup: either an answer now (errors, health, a known duplicate), or
 * an event for the store, answered when the store reports it durable.
 */
#ifndef SG_WEBHOOK_H
#define SG_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dedup.h"
#include "http.h"
#include "store.h"
#include "verify.h"

/* A custom command's name: Stream's are lower-case letters, digits, '_'
 * and '-'; 64 is our bound. */
#define WEBHOOK_COMMAND_MAX	64
/* The reason of a store failure: 503 for a push, 200 for a hook. */
#define WEBHOOK_STORE_FAILED	"store unavailable"
/* The reasons of a duplicate: a retry, and a copy whose body is not the
 * stored one's (answered the same, so Stream stops; counted and logged). */
#define WEBHOOK_DUPLICATE	"duplicate"
#define WEBHOOK_MISMATCH	"duplicate mismatch"

enum webhook_route { WR_NONE, WR_PUSH, WR_BMS, WR_COMMAND, WR_HEALTH };

struct webhook_job {
	enum webhook_route	route;
	int			status;		/* the answer; 0: ask the store */
	const char		*reason;	/* short, for the log and errors */
	char			*reply;		/* response body (malloc'd) */
	size_t			 reply_len;
	int			 close;		/* close after answering */

	/* the event (status 0) */
	struct store_event	 ev;
	uint8_t			*body;		/* verified bytes (owned) */
	size_t			 body_len;
	char			 webhook_id[HTTP_HDR_MAX];
	char			 api_key[HTTP_HDR_MAX];
	char			 event_type[128];
	char			 command[WEBHOOK_COMMAND_MAX + 1];
	char			 cid[256];	/* the channel; "" none */
	char			 order_key[sizeof(((struct store_pending *)0)->
				    order_key)];	/* "" none */
	char			 signature[VERIFY_HEX_LEN + 1];	/* lower */
	char			 body_sha256[STORE_SHA256_HEX + 1];
	char			*message;	/* BMS/commands: "message" as JSON */
	int			 attempt;
};

/*
 * What the headers alone decide, for a client that waits for "100
 * Continue" before it sends the body: 1 with job's answer set (no such
 * route 404, wrong method 405, a bad command name 400, the API key or the
 * signature missing or unknown 401, and /healthz), or 0 when the body
 * decides (and job holds nothing to free).
 */
int	webhook_headers(const struct config *cfg,
	    const struct http_request *req, struct webhook_job *job);
/*
 * Decide; the request's body is moved into the job when it is kept, and
 * its SHA-256 taken (one pass over bytes in memory).  Dedup is per API
 * key.  The event's target points into req (a copy would double what the
 * job clears per request): req must stay until the store is done with it.
 */
void	webhook_decide(const struct config *cfg, struct dedup *dd,
	    struct http_request *req, int64_t now_ms, struct webhook_job *job);
/*
 * The store answered: set status and reply.  A synchronous hook is
 * answered Stream's "unchanged" even when the store failed (reason
 * "store unavailable"): an error would make Stream pause the hook.  A
 * duplicate whose stored copy had another body (job->ev.first_sha256) is
 * answered as any duplicate, with reason "duplicate mismatch" and one log
 * line with the first 16 hex digits of both bodies' SHA-256.
 */
void	webhook_finish(struct webhook_job *job, struct dedup *dd,
	    enum store_result r, int64_t now_ms);
/*
 * A synchronous hook is over.  body (malloc'd, taken) is the app's answer,
 * sent with its status; NULL keeps the "unchanged" answer webhook_finish
 * made.  reason goes to the log, except that a duplicate stays one.
 */
void	webhook_hooked(struct webhook_job *job, int status, char *body,
	    size_t len, const char *reason);
/* /healthz, when the store cannot take events until a restart: 503
 * "store unavailable" instead of 200. */
void	webhook_unhealthy(struct webhook_job *job);
void	webhook_job_free(struct webhook_job *job);

const char *webhook_kind_name(enum webhook_route r);

#endif
