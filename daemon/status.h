/*
 * status.h: `streamgate status`, one screen of the three layers: where the
 * XDP program runs and what it passed and dropped, the nftables table and
 * its counters, the daemon's health, requests and store depth.  Counters
 * come with rates (two samples a second apart, or since the last refresh
 * under --watch).  A missing piece is reported as absent, not as an error.
 */
#ifndef SG_STATUS_H
#define SG_STATUS_H

#include <stddef.h>

#include "config.h"

/* The command: 0, or 2 (exit) on bad flags. */
int	status_main(int argc, char **argv, int argi);

/* Where a client reaches a listener: a wildcard address becomes loopback. */
void	status_target(const struct config_listen *listen,
	    struct config_listen *to);

/*
 * GET path from to, within timeout_ms: the HTTP status, or -1 (why in err).
 * With body non-NULL the body is returned, NUL-terminated, to be freed.
 */
int	status_http_get(const struct config_listen *to, const char *path,
	    int timeout_ms, char **body, char *err, size_t errlen);

#endif
