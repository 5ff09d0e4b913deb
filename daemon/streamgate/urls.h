/*
 * urls.h: `streamgate stream-urls`, what to tell Stream so that it calls
 * this host: the app settings of the three hooks (webhook_url,
 * before_message_send_hook_url with its attempt timeout,
 * custom_action_handler_url), made from the daemon's config (its routes,
 * the port of its first TLS listener, its hook deadlines)
 * and the host name Stream reaches it by.
 */
#ifndef SG_URLS_H
#define SG_URLS_H

#include <stdio.h>

#include "config.h"

/* What Stream waits for a Before-Message-Send at most (its setting's
 * range is 1 to 5000 ms), and the margin we leave it above the daemon's
 * deadline, which counts from the request's first byte and so does not
 * see Stream's connect and TLS handshake. */
#define URLS_BMS_TIMEOUT_MAX	5000
#define URLS_BMS_MARGIN_MS	300
/* What Stream waits for a Custom Command: about 1 s, not configurable. */
#define URLS_COMMANDS_WAIT_MS	1000

/* A --host: a DNS name or IPv4 address (letters, digits, '.', '-'), or
 * an IPv6 address in brackets; no scheme, port or path.  0 or -1. */
int	urls_host_check(const char *host);

/*
 * Print the settings for host: one "name  value" line each and the JSON
 * object for Stream's updateAppSettings, or (json) that object alone on
 * one line.  config names the file c came from for the notes ("" when
 * there was none: the daemon's defaults).  Notes (no TLS listener, a
 * deadline that leaves Stream no margin) go to stderr.  Returns 0.
 */
int	urls_print(FILE *fp, const struct config *c, const char *config,
	    const char *host, int json);

#endif
