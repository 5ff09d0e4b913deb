/*
 * sysstats.h: the XDP filter's and the nft table's counters for /metrics,
 * read by a small helper process that keeps the one privilege the daemon
 * gives up (see sysstats.c).
 *
 * The daemon writes one byte, a sequence number; the helper answers
 * struct sysstats_hdr and len bytes of Prometheus text:
 *   streamgate_xdp_attached, streamgate_xdp_packets_total and
 *   streamgate_xdp_bytes_total {region,verdict="pass"},
 *   {reason,verdict="drop"|"unchecked"}; streamgate_nft_table_present,
 *   streamgate_nft_packets_total and streamgate_nft_bytes_total {rule}.
 */
#ifndef SG_SYSSTATS_H
#define SG_SYSSTATS_H

#include <stdint.h>
#include <stdio.h>

#define SYSSTATS_MAX		(1024 * 1024)	/* bytes of one answer */
#define SYSSTATS_TIMEOUT_MS	200

struct sysstats_hdr {
	uint32_t	seq;		/* the request's byte */
	uint32_t	len;
};

struct sysstats;

/* Fork the helper (before any thread and before the drop).  NULL when
 * it cannot start: /metrics then says streamgate_sysstats_up 0. */
struct sysstats *sysstats_start(void);
/* The helper as its own unit instead: connect to its socket
 * (STREAMGATE_COUNTERS_SOCKET, streamgate-counters.socket), again at a
 * scrape after it went away.  NULL only when out of memory. */
struct sysstats *sysstats_connect(const char *path);
/* streamgated --counters-helper: serve the connection systemd passed as
 * fd 3 (socket activation, Accept=yes) until it closes.  Returns only
 * when there is none (exit status 2). */
int	sysstats_serve(void);
/* Ask, wait up to timeout_ms, append the answer to out: 0, or -1 (late,
 * or the helper is gone; nothing was written to out). */
int	sysstats_query(struct sysstats *ss, int timeout_ms, FILE *out);
/* Close the socket (the helper exits) and free. */
void	sysstats_stop(struct sysstats *ss);

/* The helper's own seccomp filter, on the caller.  0 or -1. */
int	sysstats_seccomp(int kill);
/* The counters as Prometheus text (what the helper answers). */
void	sysstats_render(FILE *out);

#endif
