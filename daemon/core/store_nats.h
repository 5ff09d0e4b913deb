/*
 * store_nats.h: what the NATS JetStream store (store_nats.c, the daemon's
 * backend) and its control-tool side (store_nats_admin.c) share: the URI,
 * the connection, the names of the streams and subjects, and the headers
 * an event is stored with (store_nats_conn.c).  Not for users of the
 * store: they include store.h or store_admin.h.
 *
 * Layout (stream and prefix from the config, "STREAMGATE", "streamgate"):
 *   stream STREAM        subjects <prefix>.event.<kind>; file storage,
 *                        the configured replicas, duplicate window =
 *                        dedup_window_s (capped, STORE_NATS_DUP_MAX_S)
 *   stream STREAM_DEAD   subject <prefix>.dead.push: a copy of every dead
 *                        event, with Sg-Error and Sg-Seq (its seq above)
 *   consumer "deliver"   durable pull consumer on STREAM, filtered on
 *                        <prefix>.event.push, shared by every host
 * An event is the message's data (the exact body) and the headers below;
 * Nats-Msg-Id is "<API key, ':' and '%' escaped>:<webhook id>".
 */
#ifndef SG_STORE_NATS_H
#define SG_STORE_NATS_H

#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "store.h"

#define STORE_NATS_DUP_MAX_S	3600	/* the servers hold the window's ids */
#define STORE_NATS_CONSUMER	"deliver"
#define STORE_NATS_SERVERS_MAX	16

enum store_nats_hdr {
	SNH_WEBHOOK_ID, SNH_KIND, SNH_TYPE, SNH_API_KEY, SNH_ATTEMPT,
	SNH_RECEIVED_AT, SNH_COMMAND, SNH_CID, SNH_ORDER_KEY, SNH_SIGNATURE,
	SNH_TARGET, SNH_BODY_SHA256, SNH_ERROR, SNH_SEQ, SNH_N
};

extern const char *const store_nats_hdr_names[SNH_N];

struct store_nats_conf {
	char		 servers[STORE_NATS_SERVERS_MAX][300]; /* nats://H:P */
	int		 nservers;
	int		 tls;
	char		 where[300];	/* the URI as given, for the log */
	char		 stream[64];
	char		 dead[80];	/* STREAM_DEAD */
	char		 prefix[64];
	char		 subj_events[96];	/* <prefix>.event.> */
	char		 subj_dead[96];		/* <prefix>.dead.push */
	char		 creds[1024];	/* "" none */
	char		 ca[1024];	/* "" the system's CAs */
	int		 replicas;
};

/* nats://H:P[,H:P...] or tls://...: 1 when uri is one of ours. */
int	store_nats_uri(const char *uri);
/* The URI and the options into c: 0, or -1 with err, which names the
 * config key (nats.creds, nats.ca) of a file that cannot serve. */
int	store_nats_conf(struct store_nats_conf *c, const char *uri,
	    const struct store_options *opt, char *err, size_t errlen);
/*
 * Connect (name: the client's name, for the servers' monitoring) and
 * make the JetStream context with jo (NULL: the defaults).  The callbacks
 * may be NULL.  0, or -1 with err.
 */
int	store_nats_connect(const struct store_nats_conf *c, const char *name,
		    natsConnectionHandler down, natsConnectionHandler back, void *arg,
	    jsOptions *jo, natsConnection **nc, jsCtx **js, char *err,
	    size_t errlen);
/* Why the last call failed: natsStatus text and the library's detail. */
const char *store_nats_why(natsStatus st, char *buf, size_t len);

/* A header value from the network: '%', controls and DEL as %XX, so no
 * CR or LF ever reaches a header.  0, or -1 when it does not fit. */
int	store_nats_hdr_encode(const char *v, char *out, size_t len);
/* Back again (into out, at most len with the NUL). */
void	store_nats_hdr_decode(const char *v, char *out, size_t len);
/* Header h of msg, decoded into out ("" when it is not there). */
void	store_nats_hdr_get(natsMsg *msg, enum store_nats_hdr h, char *out,
	    size_t len);
/* The dedup id: "<API key escaped>:<webhook id>".  0 or -1. */
int	store_nats_msg_id(const char *api_key, const char *webhook_id,
	    char *out, size_t len);

#endif
