/*
 * pipeline.h: one request's way through streamgated, from a whole HTTP
 * request to its answer: decide (webhook.h) → store → hook → answer.
 *
 * The server hands in a request and hears that its answer is ready, or
 * that it waits: for the store's writer to make its event durable, then,
 * for a synchronous hook with an upstream, for the hook thread to bring
 * the app's answer.  Those threads only leave their result and call the
 * request's wake(); the server then calls pipeline_resume on the worker,
 * which goes on to the next step or answers.  Every answer is logged
 * (reqlog.h) as it is handed over.  The metrics listener's scrape is
 * answered here too, and not logged.
 */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dedup.h"
#include "http.h"
#include "reqlog.h"
#include "store.h"
#include "webhook.h"

struct hook;
struct hook_call;

/*
 * What the server sends, once a call said PIPELINE_ANSWERED.  owned, when
 * not NULL, is the memory body points into: the server's to free once it
 * has copied the answer.
 */
struct pipeline_answer {
	int			 status;
	const char		*body;		/* never NULL */
	size_t			 len;
	int			 close;		/* close after it */
	char			*owned;
};

/* A connection's request, embedded in it: one at a time. */
struct pipeline_req {
	/* the connection's, from pipeline_req_init */
	struct pipeline		*pl;
	struct reqlog		*log;		/* its worker's */
	const char		*remote;	/* the peer's address */
	void			(*wake)(void *);	/* another thread */
	void			*arg;

	/* the request under way */
	struct http_request	*http;
	int64_t			 started_us;	/* its first byte (mono) */
	enum store_result	 result;
	struct webhook_job	 job;
	struct hook_call	*hook;		/* at the app, or back */
	struct pipeline_answer	 answer;
};

enum pipeline_step {
	PIPELINE_ANSWERED,	/* r->answer is ready */
	PIPELINE_WAITING,	/* wake(arg) comes, then pipeline_resume */
	PIPELINE_CONTINUE	/* pipeline_expect: the body may come */
};

struct pipeline *pipeline_new(struct store *store, struct dedup *dedup);
/* Forward the synchronous hooks through h (NULL: answer them alone). */
void	pipeline_set_hook(struct pipeline *pl, struct hook *h);
void	pipeline_free(struct pipeline *pl);

/* wake(arg) runs on the store's writer or the hook thread. */
void	pipeline_req_init(struct pipeline_req *r, struct pipeline *pl,
	    struct reqlog *log, const char *remote, void (*wake)(void *),
	    void *arg);
/* Frees what a request holds, also one still waiting once it woke. */
void	pipeline_req_free(struct pipeline_req *r);

/*
 * A whole request, whose first byte came at started_us (CLOCK_MONOTONIC).
 * req (its body is taken when kept) must stay as it is until answered.
 */
enum pipeline_step pipeline_begin(struct pipeline_req *r,
	    const struct config *cfg, struct http_request *req,
	    int64_t started_us);
/*
 * The headers of a request whose client waits for "100 Continue" before
 * it sends the body (started_us: its first byte): PIPELINE_CONTINUE, or
 * PIPELINE_ANSWERED with the final answer the headers decide (see
 * webhook_headers), logged, which closes the connection: the body the
 * client may still send is not read.
 */
enum pipeline_step pipeline_expect(struct pipeline_req *r,
	    const struct config *cfg, struct http_request *req,
	    int64_t started_us);
/* After wake(): the next step, or the answer. */
enum pipeline_step pipeline_resume(struct pipeline_req *r,
	    const struct config *cfg);
/* The metrics listener: GET /metrics and nothing else, answered now. */
void	pipeline_scrape(struct pipeline_req *r, const struct http_request *req,
	    int nconns);

#endif
