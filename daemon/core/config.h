/*
 * config.h: streamgated's configuration.  A JSON file (cJSON) holds every
 * setting; command-line flags override it.  An unknown key or a bad value
 * is refused with an error naming the key ("limits.body_bytes: must be a
 * whole number from 1024 to 1073741824").  Secrets are never in the file or
 * on the command line: only the paths of files that hold them.
 *
 * {
 *   "listen":   ["127.0.0.1:8080",
 *                {"addr": "0.0.0.0:443", "tls_cert": "/etc/streamgate/cert.pem",
 *                 "tls_key": "/etc/streamgate/key.pem"}],
 *   "user":     "streamgate",                    drop to it after setup
 *   "keys":     [{"api_key": "k1", "secret_file": "/etc/streamgate/k1.secret"}],
 *   "store":    "sqlite:./var/streamgate.db",    or "redis://HOST:PORT[/DB]"
 *               or "nats://HOST:PORT[,HOST:PORT...]" (tls:// for TLS)
 *   "upstream": null,                            or "http://...", "unix:/path"
 *   "upstreams": {"push": null, "before_message_send": null,
 *                 "custom_commands": null},      per route; null: "upstream"
 *   "upstream_ca_file": null,                    https upstreams: CA bundle
 *   "delivery": {"backoff_base_ms": 1000, "backoff_cap_ms": 300000,
 *                "max_attempts": 12, "timeout_ms": 10000, "concurrency": 32},
 *   "hook_deadline_ms": {"before_message_send": 1200,
 *                        "custom_commands": 700}, sync hooks, each 300 ms
 *                                                under Stream's wait (or one
 *                                                number for both)
 *   "order_by_user": true,                       no cid: order by user.id
 *   "retention_s": 604800,                       delivered events; 0: keep
 *   "redis_prefix": "streamgate",
 *   "nats": {"stream": "STREAMGATE", "subject_prefix": "streamgate",
 *            "replicas": 3, "creds": null,
 *            "ca": null},                        tls://: the servers' CA
 *   "metrics":  null,                            or "127.0.0.1:9100"
 *   "routes":   {"push": "/webhooks/stream/push",
 *                "before_message_send": "/webhooks/stream/before-message-send",
 *                "custom_commands": "/webhooks/stream/custom-commands",
 *                "health": "/healthz"},
 *   "limits":   {"header_bytes": 16384, "body_bytes": 1048576,
 *                "inflated_bytes": 4194304, "connections": 4096,
 *                "header_timeout_ms": 10000, "idle_timeout_ms": 60000,
 *                "handshake_timeout_ms": 10000,
 *                "request_timeout_ms": 30000,   first byte to last body byte
 *                "body_min_bytes_per_s": 1024}, after 5 s of body; 0: off
 *   "dedup_window_s": 86400,
 *   "dedup_max_ids": 4194304,                    SQLite: ids kept in memory
 *   "workers":  0                                 (0: one per core)
 * }
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "secret.h"

#define CONFIG_MAX_LISTEN	16
#define CONFIG_MAX_KEYS		64	/* (api key, secret file) pairs */
#define CONFIG_PATH_LEN		1024
#define CONFIG_KEY_LEN		128

struct config_listen {
	struct sockaddr_storage	addr;
	socklen_t		addrlen;
	char			text[64];	/* "127.0.0.1:8080", "[::1]:8080" */
	char			tls_cert[CONFIG_PATH_LEN];	/* "": plaintext */
	char			tls_key[CONFIG_PATH_LEN];
};

struct config_key {
	char		api_key[CONFIG_KEY_LEN];
	char		secret_file[CONFIG_PATH_LEN];
	struct secret	secret;			/* loaded by config_load_secrets */
};

struct config_limits {
	size_t		header_bytes;
	size_t		body_bytes;
	size_t		inflated_bytes;
	unsigned	connections;
	unsigned	header_timeout_ms;
	unsigned	idle_timeout_ms;
	unsigned	handshake_timeout_ms;		/* TLS */
	unsigned	request_timeout_ms;	/* first byte to last of body */
	unsigned	body_min_bytes_per_s;	/* 0: no minimum */
};

/*
 * How long a synchronous hook may take, in ms from the request's first
 * byte, before Stream is answered with its message unchanged.
 */
struct config_hook_deadline {
	unsigned	before_message_send;
	unsigned	custom_commands;
};

/* Push delivery: exponential backoff from base, capped, with equal jitter
 * (a wait between half and all of min(cap, base * 2^(tries - 1))). */
struct config_delivery {
	unsigned	backoff_base_ms;
	unsigned	backoff_cap_ms;
	unsigned	max_attempts;		/* then dead */
	unsigned	timeout_ms;		/* one attempt */
	unsigned	concurrency;		/* requests in flight */
};

/* The NATS JetStream store (store_nats.h). */
struct config_nats {
	char		stream[64];		/* "STREAMGATE" */
	char		subject_prefix[64];	/* "streamgate" */
	unsigned	replicas;		/* 1 .. 5 (3) */
	char		creds[CONFIG_PATH_LEN];	/* "": none */
	char		ca[CONFIG_PATH_LEN];	/* tls://; "": the system's */
};

struct config {
	struct config_listen	listen[CONFIG_MAX_LISTEN];
	size_t			nlisten;
	struct config_key	keys[CONFIG_MAX_KEYS];
	size_t			nkeys;
	char			store[CONFIG_PATH_LEN];
	char			upstream[CONFIG_PATH_LEN];	/* "" none */
	char			upstream_push[CONFIG_PATH_LEN];	/* "" upstream */
	char			upstream_bms[CONFIG_PATH_LEN];
	char			upstream_commands[CONFIG_PATH_LEN];
	char			upstream_ca_file[CONFIG_PATH_LEN]; /* "": system */
	struct config_delivery	delivery;
	struct config_hook_deadline hook_deadline_ms;
	int			order_by_user;	/* no cid: "user:<user.id>" */
	unsigned		retention_s;			/* 0: keep */
	char			redis_prefix[64];
	struct config_nats	nats;
	struct config_listen	metrics;
	int			has_metrics;
	char			route_push[256];
	char			route_bms[256];
	char			route_commands[256];
	char			route_health[256];
	struct config_limits	limits;
	unsigned		dedup_window_s;
	unsigned		dedup_max_ids;	/* SQLite: the writer's ids */
	unsigned		workers;			/* 0: one per core */
	char			user[64];	/* "": "streamgate" if it exists */
};

/* Defaults: listen 127.0.0.1:8080, store sqlite:./var/streamgate.db, ... */
void	config_defaults(struct config *c);

/* Read a JSON file over the defaults.  0, or -1 with err naming the key
 * ("PATH: limits.body_bytes: ..."). */
int	config_load_file(const char *path, struct config *c, char *err,
	    size_t errlen);
/* The same from a buffer (tests, fuzzing). */
int	config_parse(const char *text, size_t len, struct config *c, char *err,
	    size_t errlen);

/*
 * Flags, applied after the file: each replaces the file's value, except that
 * the first --listen (or --key) replaces the whole list and the next ones
 * append.  arg is the flag's argument; err names the flag.
 */
int	config_flag_listen(struct config *c, const char *arg, int first,
	    char *err, size_t errlen);
/* --tls-cert FILE / --tls-key FILE: for the --listen given just before
 * (have_listen: one was given on the command line). */
int	config_flag_tls(struct config *c, int key, const char *arg,
	    int have_listen, char *err, size_t errlen);
int	config_flag_user(struct config *c, const char *arg, char *err,
	    size_t errlen);
/* After the flags: every TLS listener has both a certificate and a key. */
int	config_check(const struct config *c, char *err, size_t errlen);
int	config_flag_key(struct config *c, const char *arg, int first,
	    char *err, size_t errlen);	/* API_KEY=SECRET_FILE */
int	config_flag_store(struct config *c, const char *arg, char *err,
	    size_t errlen);
int	config_flag_upstream(struct config *c, const char *arg, char *err,
	    size_t errlen);
int	config_flag_metrics(struct config *c, const char *arg, char *err,
	    size_t errlen);

/* The upstream of a route (0 push, 1 before-message-send, 2 custom
 * commands): its own, else "upstream"; "" when there is none. */
enum config_route { CR_PUSH, CR_BMS, CR_COMMANDS };
const char *config_upstream(const struct config *c, enum config_route r);

/* Load every secret file (permissions checked); 0 or -1 with err. */
int	config_load_secrets(struct config *c, char *err, size_t errlen);
/* Secrets of one API key (rotation: several); returns how many, 0 unknown. */
size_t	config_secrets_for(const struct config *c, const char *api_key,
	    size_t keylen, struct secret *out, size_t max);
/* Wipe and free the secrets. */
void	config_free(struct config *c);

/* "ADDR:PORT" / "[ADDR6]:PORT" into an address; -1 when malformed. */
int	config_parse_addr(const char *text, struct config_listen *l);

#endif
