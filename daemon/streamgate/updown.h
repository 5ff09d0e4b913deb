/*
 * updown.h: `streamgate up` and `streamgate down`, the one-command path of
 * an edge host.  up puts the three layers in place in order (XDP filter on
 * a device, the nftables table, streamgated) and takes back the ones it
 * added when a later one fails; down takes them all away, each attempted,
 * and calls a missing piece "already down", not an error.
 *
 * Without systemd (or without streamgated.service, or when run in another
 * network namespace than systemd's) up spawns streamgated itself, detached,
 * with a pid file in the run directory and stderr in a log file.
 */
#ifndef SG_UPDOWN_H
#define SG_UPDOWN_H

#include "cli.h"

#define UPDOWN_LOG		"/var/log/streamgated.log"
#define UPDOWN_UNIT		"streamgated.service"

/* The commands: 0 done, 1 a step failed; usage errors exit 2. */
int	updown_up(const struct cli_args *a);
int	updown_down(const struct cli_args *a);

#endif
