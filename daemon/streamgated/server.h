/*
 * server.h: the HTTP side of streamgated.  One worker thread per core, each
 * with its own epoll loop, sharing one listening socket per address (each
 * worker its own descriptor of it, registered with EPOLLEXCLUSIVE: one
 * idle worker is woken per connection) and nothing else on the request
 * path.  No SO_REUSEPORT: a second daemon on the same address fails to
 * start, naming it.  Each whole request goes to the pipeline
 * (pipeline.h); one that must wait (for the store's writer, then maybe for
 * the hook thread) comes back through the worker's eventfd, and is
 * answered from there.
 */
#ifndef SG_SERVER_H
#define SG_SERVER_H

#include "config.h"

struct pipeline;
struct server;
struct tls_set;

/* Bind every listener once, first of all (before the store is opened,
 * so a second daemon on a taken address stops before it touches the
 * store, and before privileges are dropped). */
struct server *server_new(const struct config *cfg, char *err,
	    size_t errlen);
/* Start the workers; requests go to pl, which outlives the server. */
int	server_start(struct server *s, struct pipeline *pl);
/* A reloaded configuration (listeners and store stay as they are).
 * Returns the old one once no worker uses it any more. */
const struct config *server_set_config(struct server *s,
	    const struct config *cfg);
/* The TLS contexts of the listeners (see tls.h), at start or on reload.
 * Returns the old set once no worker can take a new connection with it;
 * the caller frees it, and connections keep the context they started
 * with.  The server frees the last set in server_free. */
struct tls_set *server_set_tls(struct server *s, struct tls_set *set);
/* Stop accepting, finish in-flight requests, join the workers. */
void	server_stop(struct server *s);
void	server_free(struct server *s);

#endif
