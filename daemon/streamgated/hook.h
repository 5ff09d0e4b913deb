/*
 * hook.h: the synchronous hooks (Before-Message-Send, Custom Commands)
 * forwarded to the app while Stream waits.  One thread with a libcurl
 * multi handle runs every call; a worker hands a call in once the store
 * made the event durable, keeps its connection waiting, and gets the call
 * back through done() (on the hook thread), as it does from the store.
 *
 * A call holds copies of what it needs (URL, ids, signature), never a
 * pointer into a config, so a reload cannot pull anything from under it;
 * only the body is borrowed from the worker's job, which outlives the call.
 */
#ifndef SG_HOOK_H
#define SG_HOOK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "store.h"
#include "webhook.h"

/* How a call ended; counted in the metrics by this number (see metrics.h). */
enum hook_outcome {
	HO_ANSWERED,		/* 2xx with JSON: the app's answer went out */
	HO_TIMEOUT,		/* past the deadline: unchanged */
	HO_ERROR,		/* connection or transfer error: unchanged */
	HO_STATUS,		/* not 2xx: unchanged */
	HO_BAD_BODY,		/* 2xx, but not a JSON object: unchanged */
	HO_COUNT
};

struct hook_call {
	/* in: set by the worker */
	enum webhook_route	 route;		/* WR_BMS or WR_COMMAND */
	char			 url[CONFIG_PATH_LEN];
	char			 ca_file[CONFIG_PATH_LEN];	/* "": system */
	char			 target[HTTP_TARGET_MAX];	/* path?query,
						 * as Stream sent it */
	char			 command[WEBHOOK_COMMAND_MAX + 1];
	char			 webhook_id[HTTP_HDR_MAX];
	char			 api_key[HTTP_HDR_MAX];
	char			 signature[VERIFY_HEX_LEN + 1];
	int			 attempt;
	int64_t			 seq;		/* 0: a duplicate, not marked */
	const uint8_t		*body;		/* borrowed: verified bytes */
	size_t			 body_len;
	size_t			 reply_max;	/* longest answer taken */
	int64_t			 deadline_us;	/* CLOCK_MONOTONIC */
	void			(*done)(struct hook_call *, void *);
	void			*arg;

	/* out: set before done() */
	enum hook_outcome	 outcome;
	int			 status;	/* answered: the app's 2xx */
	char			*reply;		/* answered: the JSON; owned */
	size_t			 reply_len;
	char			 error[128];	/* otherwise: why, briefly */

	/* the hook thread's */
	void			*priv;
	struct hook_call	*next;
};

struct hook;

struct hook	*hook_new(struct store *store, char *err, size_t errlen);
int		 hook_start(struct hook *h);
/* Queue a call; its done() runs on the hook thread, by its deadline. */
void		 hook_submit(struct hook *h, struct hook_call *c);
/* Finish what is queued or in flight (each is bounded by its deadline),
 * then join.  Call after the workers stopped submitting. */
void		 hook_stop(struct hook *h);
void		 hook_free(struct hook *h);
void		 hook_call_free(struct hook_call *c);
/* The request log's reason for an outcome ("hook timeout"). */
const char	*hook_reason(enum hook_outcome outcome);

#endif
