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
	char			 command[128];
	char			 cid[256];	/* push: the channel; "" none */
	char			*message;	/* BMS/commands: "message" as JSON */
	int			 attempt;
};

/* Decide; the request's body is moved into the job when it is kept. */
void	webhook_decide(const struct config *cfg, struct dedup *dd,
	    struct http_request *req, int64_t now_ms, struct webhook_job *job);
/* The store answered: set status and reply. */
void	webhook_finish(struct webhook_job *job, struct dedup *dd,
	    enum store_result r, int64_t now_ms);
/*
 * A synchronous hook is over.  body (malloc'd, taken) is the app's answer,
 * sent with its status; NULL keeps the "unchanged" answer webhook_finish
 * made.  reason goes to the log, except that a duplicate stays one.
 */
void	webhook_hooked(struct webhook_job *job, int status, char *body,
	    size_t len, const char *reason);
void	webhook_job_free(struct webhook_job *job);

const char *webhook_kind_name(enum webhook_route r);

#endif
