/*
 * tls.h: TLS for streamgated's listeners (OpenSSL 3).  One SSL_CTX per
 * listener that has tls_cert and tls_key, built from the files at start and
 * again on SIGHUP; TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers, ALPN
 * http/1.1.  Sessions resume with tickets only (no server-side cache),
 * sealed with keys that rotate every period and are shared by every
 * context, so a reload that renews a certificate keeps resumption working.
 *
 * The I/O calls never block: they return bytes, or TLS_WANT_POLLIN /
 * TLS_WANT_POLLOUT for the event the caller must wait for, like libtls.
 */
#ifndef SG_TLS_H
#define SG_TLS_H

#include <sys/types.h>

#include <openssl/ssl.h>

#include "config.h"

#define TLS_WANT_POLLIN		-2
#define TLS_WANT_POLLOUT	-3
#define TLS_TICKET_PERIOD_S	3600	/* a key seals this long */

struct tls_tickets;

/* The contexts of one configuration: ctx[i] for cfg->listen[i], NULL for
 * a plaintext listener. */
struct tls_set {
	SSL_CTX		*ctx[CONFIG_MAX_LISTEN];
	size_t		 n;		/* TLS listeners */
};

/* Ticket keys: the current one seals and opens, the previous one only
 * opens; each rotation wipes the key it drops. */
struct tls_tickets *tls_tickets_new(unsigned period_s);
void	tls_tickets_free(struct tls_tickets *t);

/* A context for every TLS listener of cfg; NULL with err naming the file
 * and why ("tls: /etc/sg/key.pem: does not match ..."). */
struct tls_set *tls_set_new(const struct config *cfg, struct tls_tickets *t,
	    char *err, size_t errlen);
/* Connections keep their context: OpenSSL counts the references. */
void	tls_set_free(struct tls_set *set);

/* A new connection's SSL on the socket fd, as the server's side.  drained
 * is tls_drained's state, kept by the caller for the SSL's lifetime. */
int	tls_attach(SSL *ssl, int fd, int *drained);
/*
 * After a tls_read that returned bytes: 1 when its recv found the socket
 * drained (it came back short) and OpenSSL holds no byte of it, so, as
 * after a short read of plain TCP, the next read may wait for the next
 * edge instead of costing a recv that only says EAGAIN.
 */
int	tls_drained(SSL *ssl);
/* 0 when done, TLS_WANT_*, or -1: the connection is lost. */
int	tls_handshake(SSL *ssl);
/* Bytes moved, 0 at the peer's close (read), TLS_WANT_*, or -1. */
ssize_t	tls_read(SSL *ssl, void *buf, size_t len);
ssize_t	tls_write(SSL *ssl, const void *buf, size_t len);
/* Send close_notify if the session is healthy; never waits for the peer. */
void	tls_close(SSL *ssl);

#endif
