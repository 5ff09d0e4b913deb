/*
 * inflate.h: gzip bodies.  Stream compresses when the app enables it, and
 * proxies strip Content-Encoding, so the body's first bytes decide (1f 8b),
 * not the header.  The HMAC is over the inflated bytes.  Output is capped:
 * a small body that inflates past the cap (a gzip bomb) is refused early.
 */
#ifndef SG_INFLATE_H
#define SG_INFLATE_H

#include <stddef.h>
#include <stdint.h>

enum inflate_result {
	INFLATE_OK = 0,
	INFLATE_TOO_LARGE = -1,		/* inflated size above the cap: 413 */
	INFLATE_BAD = -2,		/* not valid gzip (truncated, corrupt): 400 */
	INFLATE_NOMEM = -3,
};

/* 1 when the body starts with the gzip magic bytes 1f 8b. */
int	inflate_is_gzip(const void *body, size_t len);

/* Inflate a whole gzip member (trailing garbage refused) into a malloc'd
 * buffer of at most cap bytes. */
enum inflate_result inflate_gzip(const void *in, size_t inlen, size_t cap,
	    uint8_t **out, size_t *outlen);

#endif
