/*
 * status.h: `streamgate status`, one screen of the three layers: where the
 * XDP program runs and what it passed and dropped, the nftables table and
 * its counters, the daemon's health, requests and store depth.  Counters
 * come with rates (two samples a second apart, or since the last refresh
 * under --watch).  A missing piece is reported as absent, not as an error.
 */
#ifndef SG_STATUS_H
#define SG_STATUS_H

#include "cli.h"

/* The command: 0; usage errors exit 2. */
int	status_run(const struct cli_args *a);

#endif
