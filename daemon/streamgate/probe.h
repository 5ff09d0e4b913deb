/*
 * probe.h: how the tool finds and asks a running streamgated.  Where its
 * config, run directory and pid file are (the defaults follow the daemon:
 * an installed binary reads /etc/streamgate/streamgated.json, a binary in
 * a checkout's build directory reads `make run`'s var/streamgated.json
 * when there is one), whether the pid file names a live daemon, and one
 * HTTP GET (its /healthz, its /metrics) through libcurl.  `status`, `up`,
 * `down` and `inbox` use it; none of them knows another.
 */
#ifndef SG_PROBE_H
#define SG_PROBE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "cli.h"
#include "config.h"

#define PROBE_CONFIG	"/etc/streamgate/streamgated.json"
#define PROBE_RUN_DIR	"/run/streamgate"
/* make run's config and run directory, from a checkout's build/ */
#define PROBE_CHECKOUT_CONFIG	"../var/streamgated.json"
#define PROBE_CHECKOUT_RUN_DIR	"../var/run"

struct probe_where {
	char	config[PATH_MAX];
	int	config_given;		/* --config: must be readable */
	char	run_dir[PATH_MAX];
	char	pid_file[PATH_MAX + 32];
};

/* --config and --run-dir, or their defaults. */
void	probe_where(const struct cli_args *a, struct probe_where *w);
/*
 * The config as the daemon reads it (its defaults, then the file) into
 * a calloc'd *c: 0, or -1 with err ("PATH: why").  A default config that
 * does not exist is not an error: *c holds the daemon's defaults.
 */
int	probe_config(const struct probe_where *w, struct config **c,
	    char *err, size_t errlen);
void	probe_config_free(struct config *c);

/* The daemon a pid file names: its pid while it runs streamgated, 0 when
 * the file is missing, -1 when it names no running streamgated (stale). */
pid_t	probe_pid_read(const char *path);
/* 1 while pid runs streamgated and has not exited (a zombie has). */
int	probe_pid_is_daemon(pid_t pid);

/* Where a client reaches a listener: a wildcard address becomes loopback. */
void	probe_target(const struct config_listen *listen,
	    struct config_listen *to);
/*
 * GET path from to, within timeout_ms: the HTTP status, or -1 (why in
 * err).  With body non-NULL the body is returned, NUL-terminated, to be
 * freed.  TLS when the listener has a certificate: liveness, not
 * identity (our own daemon on a local address), so it is not verified.
 */
int	probe_get(const struct config_listen *to, const char *path,
	    int timeout_ms, char **body, char *err, size_t errlen);

#endif
