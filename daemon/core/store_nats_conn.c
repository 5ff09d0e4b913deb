/*
 * store_nats_conn.c: the NATS store's URI, connection and headers, shared
 * by the daemon's backend and the control tool (store_nats.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store_nats.h"

const char *const store_nats_hdr_names[SNH_N] = {
	"Sg-Webhook-Id", "Sg-Kind", "Sg-Type", "Sg-Api-Key", "Sg-Attempt",
	"Sg-Received-At", "Sg-Command", "Sg-Cid", "Sg-Order-Key",
	"Sg-Signature", "Sg-Target", "Sg-Body-Sha256", "Sg-Error", "Sg-Seq",
};

#define CONNECT_MS	2000
#define RECONNECT_MS	250	/* between rounds of the server list */
#define PING_MS		2000	/* a silent server is found dead in ~4 s */
#define CREDS_MAX	65536	/* a user JWT and a seed: a few KiB */
#define CREDS_JWT	"-----BEGIN NATS USER JWT-----"
#define CREDS_SEED	"-----BEGIN USER NKEY SEED-----"

int
store_nats_uri(const char *uri)
{
	return strncmp(uri, "nats://", 7) == 0 || strncmp(uri, "tls://", 6) == 0;
}

/* "H:P" with a port: the check is config.c's; here the shape only. */
static int
server_add(struct store_nats_conf *c, const char *scheme, const char *p,
    size_t n)
{
	const char *colon = memrchr(p, ':', n);
	char *end;
	long port;

	if (n == 0 || colon == NULL || colon == p ||
	    c->nservers == STORE_NATS_SERVERS_MAX)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (end != p + n || port < 1 || port > 65535)
		return -1;
	if ((size_t)snprintf(c->servers[c->nservers],
	    sizeof(c->servers[0]), "%s%.*s", scheme, (int)n, p) >=
	    sizeof(c->servers[0]))
		return -1;
	c->nservers++;
	return 0;
}

static int
uri_parse(struct store_nats_conf *c, const char *uri)
{
	const char *scheme, *p, *comma;

	c->tls = strncmp(uri, "tls://", 6) == 0;
	scheme = c->tls ? "tls://" : "nats://";
	p = uri + strlen(scheme);
	for (;;) {
		comma = strchr(p, ',');
		if (server_add(c, scheme, p, comma != NULL ?
		    (size_t)(comma - p) : strlen(p)) == -1)
			return -1;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

/*
 * The files of nats.ca and nats.creds are checked here, so that a wrong
 * one stops the start naming its key; libnats reads them itself (the
 * CA bundle once, the creds at every connect, reconnects too).
 */
static int
file_open(const char *key, const char *path, struct stat *st, char *err,
    size_t errlen)
{
	int fd;

	/* O_NONBLOCK: a FIFO must not hang the open; fstat refuses it */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		log_errbuf(err, errlen, "store: %s: %s: %s", key, path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		log_errbuf(err, errlen, "store: %s: %s: not a regular file",
		    key, path);
		close(fd);
		return -1;
	}
	return fd;
}

/* The creds hold the user's seed: a secret, kept as a key's secret_file
 * is (mode 0600), and with both parts, so that a truncated copy is told
 * apart from a refused user.  What was read is wiped, never logged. */
static int
creds_check(const char *path, char *err, size_t errlen)
{
	struct stat st;
	const char *why = NULL;
	char *buf;
	mode_t m;
	ssize_t n;
	int fd;

	if ((fd = file_open("nats.creds", path, &st, err, errlen)) == -1)
		return -1;
	if (((m = st.st_mode & 07777) & 077) != 0) {
		log_errbuf(err, errlen, "store: nats.creds: %s: %s by group or "
		    "others (mode %04o): chmod 600 %s", path, (m & 044) ?
		    "readable" : (m & 022) ? "writable" : "executable",
		    (unsigned int)m, path);
		close(fd);
		return -1;
	}
	if ((buf = malloc(CREDS_MAX)) == NULL)
		fatal("%s", __func__);
	n = read(fd, buf, CREDS_MAX);
	close(fd);
	if (n == -1)
		why = strerror(errno);
	else if (memmem(buf, (size_t)n, CREDS_JWT, strlen(CREDS_JWT)) == NULL)
		why = "no user JWT (a " CREDS_JWT " block)";
	else if (memmem(buf, (size_t)n, CREDS_SEED,
	    strlen(CREDS_SEED)) == NULL)
		why = "no user seed (a " CREDS_SEED " block)";
	explicit_bzero(buf, CREDS_MAX);
	free(buf);
	if (why != NULL) {
		log_errbuf(err, errlen, "store: nats.creds: %s: %s", path, why);
		return -1;
	}
	return 0;
}

static int
files_check(const struct store_nats_conf *c, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (c->ca[0] != '\0') {
		if ((fd = file_open("nats.ca", c->ca, &st, err, errlen)) == -1)
			return -1;
		close(fd);
	}
	if (c->creds[0] != '\0' && creds_check(c->creds, err, errlen) == -1)
		return -1;
	return 0;
}

int
store_nats_conf(struct store_nats_conf *c, const char *uri,
    const struct store_options *opt, char *err, size_t errlen)
{
	const char *stream = opt->nats_stream && *opt->nats_stream ?
	    opt->nats_stream : "STREAMGATE";
	const char *prefix = opt->nats_prefix && *opt->nats_prefix ?
	    opt->nats_prefix : "streamgate";

	memset(c, 0, sizeof(*c));
	snprintf(c->where, sizeof(c->where), "%s", uri);
	if (!store_nats_uri(uri) || uri_parse(c, uri) == -1) {
		log_errbuf(err, errlen, "store: '%s' is not "
		    "nats://HOST:PORT[,HOST:PORT...] (or tls://)", uri);
		return -1;
	}
	snprintf(c->stream, sizeof(c->stream), "%s", stream);
	snprintf(c->dead, sizeof(c->dead), "%s_DEAD", stream);
	snprintf(c->prefix, sizeof(c->prefix), "%s", prefix);
	snprintf(c->subj_events, sizeof(c->subj_events), "%s.event.>",
	    prefix);
	snprintf(c->subj_dead, sizeof(c->subj_dead), "%s.dead.push", prefix);
	snprintf(c->creds, sizeof(c->creds), "%s",
	    opt->nats_creds ? opt->nats_creds : "");
	snprintf(c->ca, sizeof(c->ca), "%s", opt->nats_ca ? opt->nats_ca : "");
	c->replicas = opt->nats_replicas > 0 ? opt->nats_replicas : 3;
	/* a CA for a link without TLS would be a silent no-op */
	if (c->ca[0] != '\0' && !c->tls) {
		log_errbuf(err, errlen, "store: nats.ca is set but the store "
		    "is nats://: TLS to NATS is tls://");
		return -1;
	}
	return files_check(c, err, errlen);
}

const char *
store_nats_why(natsStatus st, char *buf, size_t len)
{
	natsStatus last;
	const char *detail = nats_GetLastError(&last);

	if (detail != NULL && *detail != '\0' &&
	    strcmp(detail, natsStatus_GetText(st)) != 0)
		snprintf(buf, len, "%s (%s)", natsStatus_GetText(st), detail);
	else
		snprintf(buf, len, "%s", natsStatus_GetText(st));
	return buf;
}

/* 0, or -1 with err: a CA bundle that does not load names nats.ca. */
static int
options_make(const struct store_nats_conf *c, const char *name,
    natsConnectionHandler down, natsConnectionHandler back, void *arg,
    natsOptions **o, char *err, size_t errlen)
{
	const char *srv[STORE_NATS_SERVERS_MAX];
	natsStatus st;
	char why[256];
	int i;

	for (i = 0; i < c->nservers; i++)
		srv[i] = c->servers[i];
	st = natsOptions_Create(o);
	if (st == NATS_OK)
		st = natsOptions_SetServers(*o, srv, c->nservers);
	if (st == NATS_OK)
		st = natsOptions_SetName(*o, name);
	if (st == NATS_OK)
		st = natsOptions_SetTimeout(*o, CONNECT_MS);
	/* reconnect forever, quickly: the writer answers 503 meanwhile
	 * (it never waits on a reconnecting link) */
	if (st == NATS_OK)
		st = natsOptions_SetMaxReconnect(*o, -1);
	if (st == NATS_OK)
		st = natsOptions_SetReconnectWait(*o, RECONNECT_MS);
	if (st == NATS_OK)
		st = natsOptions_SetPingInterval(*o, PING_MS);
	if (st == NATS_OK)
		st = natsOptions_SetMaxPingsOut(*o, 2);
	if (st == NATS_OK && c->tls)
		st = natsOptions_SetSecure(*o, true);
	/* loaded now, beside the system's CAs: a bad bundle is told here */
	if (st == NATS_OK && c->ca[0] != '\0' &&
	    (st = natsOptions_LoadCATrustedCertificates(*o, c->ca)) !=
	    NATS_OK) {
		log_errbuf(err, errlen, "store: nats.ca: %s: no CA "
		    "certificate loaded: %s", c->ca,
		    store_nats_why(st, why, sizeof(why)));
		return -1;
	}
	if (st == NATS_OK && c->creds[0] != '\0')
		st = natsOptions_SetUserCredentialsFromFiles(*o, c->creds,
		    NULL);
	if (st == NATS_OK && down != NULL)
		st = natsOptions_SetDisconnectedCB(*o, down, arg);
	if (st == NATS_OK && back != NULL)
		st = natsOptions_SetReconnectedCB(*o, back, arg);
	if (st != NATS_OK) {
		log_errbuf(err, errlen, "store: nats: options: %s",
		    store_nats_why(st, why, sizeof(why)));
		return -1;
	}
	return 0;
}

/* The setting a refused connect points at, if any: TLS, credentials. */
static const char *
connect_hint(const struct store_nats_conf *c, natsStatus st, char *buf,
    size_t len)
{
	int auth = st == NATS_CONNECTION_AUTH_FAILED ||
	    st == NATS_NOT_PERMITTED;

	buf[0] = '\0';
	if (st == NATS_SSL_ERROR && !c->tls)
		/* libnats turns to TLS by itself when a server demands it */
		snprintf(buf, len, ": the servers require TLS: give "
		    "tls://HOST:PORT (and nats.ca for a private CA)");
	else if (st == NATS_SSL_ERROR && c->ca[0] == '\0')
		snprintf(buf, len, ": checked against the system's CAs; name "
		    "a private CA in nats.ca");
	else if (st == NATS_SSL_ERROR)
		snprintf(buf, len, ": checked against nats.ca (%s) and the "
		    "system's CAs", c->ca);
	else if (auth && c->creds[0] == '\0')
		snprintf(buf, len, ": the servers want credentials: "
		    "nats.creds");
	else if (auth)
		snprintf(buf, len, ": the servers refused the user of "
		    "nats.creds (%s)", c->creds);
	return buf;
}

int
store_nats_connect(const struct store_nats_conf *c, const char *name,
    natsConnectionHandler down, natsConnectionHandler back, void *arg,
    jsOptions *jo, natsConnection **nc, jsCtx **js, char *err, size_t errlen)
{
	natsOptions *o = NULL;
	natsStatus st;
	char why[256], hint[1200];

	*nc = NULL;
	*js = NULL;
	if (options_make(c, name, down, back, arg, &o, err, errlen) == -1) {
		natsOptions_Destroy(o);
		return -1;
	}
	st = natsConnection_Connect(nc, o);
	natsOptions_Destroy(o);
	if (st == NATS_OK)
		st = natsConnection_JetStream(js, *nc, jo);
	if (st != NATS_OK) {
		/* the URI is not repeated: a user may put a token in it */
		log_errbuf(err, errlen, "store: nats: cannot connect (%d "
		    "server%s): %s%s", c->nservers, c->nservers > 1 ? "s" : "",
		    store_nats_why(st, why, sizeof(why)),
		    connect_hint(c, st, hint, sizeof(hint)));
		natsConnection_Destroy(*nc);
		*nc = NULL;
		return -1;
	}
	return 0;
}

int
store_nats_hdr_encode(const char *v, char *out, size_t len)
{
	const unsigned char *p;
	size_t o = 0;

	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (o + 4 > len)
			return -1;
		if (*p == '%' || *p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "%%%02X", *p);
		else
			out[o++] = (char)*p;
	}
	if (o >= len)
		return -1;
	out[o] = '\0';
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void
store_nats_hdr_decode(const char *v, char *out, size_t len)
{
	size_t o = 0;
	int hi, lo;

	if (len == 0)
		return;
	for (; *v != '\0' && o + 1 < len; v++) {
		if (v[0] == '%' && (hi = hexval(v[1])) >= 0 &&
		    (lo = hexval(v[2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			v += 2;
		} else
			out[o++] = *v;
	}
	out[o] = '\0';
}

void
store_nats_hdr_get(natsMsg *msg, enum store_nats_hdr h, char *out,
    size_t len)
{
	const char *v = NULL;

	if (len == 0)
		return;
	out[0] = '\0';
	if (natsMsgHeader_Get(msg, store_nats_hdr_names[h], &v) == NATS_OK &&
	    v != NULL)
		store_nats_hdr_decode(v, out, len);
}

int
store_nats_msg_id(const char *api_key, const char *webhook_id, char *out,
    size_t len)
{
	size_t o = 0;
	int n;

	for (; *api_key != '\0'; api_key++) {
		if (o + 4 > len)
			return -1;
		if (*api_key == ':' || *api_key == '%')
			o += (size_t)snprintf(out + o, len - o, "%%%02X",
			    (unsigned char)*api_key);
		else
			out[o++] = *api_key;
	}
	n = snprintf(out + o, len - o, ":%s", webhook_id);
	return n < 0 || (size_t)n >= len - o ? -1 : 0;
}
