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

#include <stddef.h>
#include <sys/types.h>

#define UPDOWN_RUN_DIR		"/run/streamgate"
#define UPDOWN_LOG		"/var/log/streamgated.log"
#define UPDOWN_CONFIG		"/etc/streamgate/streamgated.json"
#define UPDOWN_UNIT		"streamgated.service"

/* The commands: 0 done, 1 a step failed, 2 (exit) bad usage. */
int	updown_up(int argc, char **argv, int argi);
int	updown_down(int argc, char **argv, int argi);

/* The pid file of run_dir (NULL: UPDOWN_RUN_DIR) into buf. */
void	updown_pid_path(const char *run_dir, char *buf, size_t len);
/* The daemon a pid file names: its pid while it runs streamgated, 0 when
 * the file is missing, -1 when it names no running streamgated (stale). */
pid_t	updown_pid_read(const char *path);

#endif
