/*
 * inbox_nats.h: `streamgate inbox` on a nats:// (or tls://) store
 * (inbox_nats.c); the same arguments and exit statuses as inbox.h's,
 * nats the config's "nats" section.
 */
#ifndef SG_INBOX_NATS_H
#define SG_INBOX_NATS_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

int	inbox_nats_list(FILE *fp, const char *store,
	    const struct config_nats *nats, int64_t since, int state,
	    unsigned limit, int json);
int	inbox_nats_show(FILE *fp, const char *store,
	    const struct config_nats *nats, int64_t seq, int json);
int	inbox_nats_stats(FILE *fp, const char *store,
	    const struct config_nats *nats, int json);
int	inbox_nats_replay(FILE *fp, const char *store,
	    const struct config_nats *nats, int64_t seq);
int	inbox_nats_replay_dead(FILE *fp, const char *store,
	    const struct config_nats *nats);

#endif
