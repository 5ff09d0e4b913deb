/*
 * verify.h: Stream's webhook signature, and the body digest kept with it.
 * X-Signature is the hex (64 chars) HMAC-SHA256 of the raw, uncompressed
 * body, keyed with the API secret's UTF-8 bytes.  We accept either case and
 * compare in constant time (CRYPTO_memcmp); an API key may have several
 * secrets during a rotation.
 */
#ifndef SG_VERIFY_H
#define SG_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "secret.h"

#define VERIFY_MAC_LEN	32
#define VERIFY_HEX_LEN	64

/* Lower-case hex of HMAC-SHA256(secret, body) into hex[65]. */
void	verify_sign(const struct secret *s, const void *body, size_t len,
	    char hex[VERIFY_HEX_LEN + 1]);

/* Lower-case hex of SHA-256(body) into hex[65]; "" only when OpenSSL
 * cannot allocate. */
void	verify_sha256_hex(const void *body, size_t len,
	    char hex[VERIFY_HEX_LEN + 1]);

/* 64 hex digits, either case, into 32 bytes; -1 on wrong length or a
 * non-hex character. */
int	verify_hex_decode(const char *hex, size_t len,
	    uint8_t mac[VERIFY_MAC_LEN]);

/*
 * 0 when sig (as received, length siglen) matches the body under any of
 * the n secrets; -1 otherwise.  Every secret is tried, whatever matches
 * first, so the time taken does not say which one matched.
 */
int	verify_body(const struct secret *secrets, size_t n, const void *body,
	    size_t len, const char *sig, size_t siglen);

#endif
