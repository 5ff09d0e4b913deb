/*
 * inbox_nats.h: `streamgate inbox` on a nats:// (or tls://) store
 * (inbox_nats.c); the same arguments and exit statuses as inbox.h's.
 */
#ifndef SG_INBOX_NATS_H
#define SG_INBOX_NATS_H

#include <stdint.h>
#include <stdio.h>

int	inbox_nats_list(FILE *fp, const char *store, int64_t since, int state,
	    unsigned limit, int json);
int	inbox_nats_show(FILE *fp, const char *store, int64_t seq, int json);
int	inbox_nats_stats(FILE *fp, const char *store, int json);
int	inbox_nats_replay(FILE *fp, const char *store, int64_t seq);
int	inbox_nats_replay_dead(FILE *fp, const char *store);

#endif
