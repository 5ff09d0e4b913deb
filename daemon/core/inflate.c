/*
 * inflate.c: one gzip member into memory, never more than the cap.  The
 * output buffer grows by doubling up to cap + 1 bytes: reaching that last
 * byte proves the body too large, so a bomb costs at most cap + 1 bytes of
 * inflating, never its full size.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST	/* next_in is const: no cast away from our input */
#include <zlib.h>

#include "inflate.h"

#define INFLATE_GZIP_ONLY	(15 + 16)	/* gzip wrapper, no zlib/raw */
#define INFLATE_FIRST	16384			/* first output buffer */

struct inflate_buf {
	uint8_t	*p;
	size_t	 size;		/* allocated */
	size_t	 limit;		/* cap + 1: the size that proves too large */
};

int
inflate_is_gzip(const void *body, size_t len)
{
	const uint8_t *b = body;

	return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

static size_t
inflate_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Double the buffer toward the limit; -1 when out of memory. */
static int
inflate_grow(struct inflate_buf *b)
{
	size_t want;
	uint8_t *p;

	if (b->size == 0)
		want = inflate_min(b->limit, INFLATE_FIRST);
	else
		want = b->size > b->limit / 2 ? b->limit : b->size * 2;
	if ((p = realloc(b->p, want)) == NULL)
		return -1;
	b->p = p;
	b->size = want;
	return 0;
}

/* Hand zlib the next stretch of input and output (both are uInt). */
static void
inflate_feed(z_stream *zs, const uint8_t *in, size_t inlen, size_t *used,
    struct inflate_buf *b)
{
	size_t n;

	if (zs->avail_in == 0 && *used < inlen) {
		n = inflate_min(inlen - *used, UINT_MAX);
		zs->next_in = in + *used;
		zs->avail_in = (uInt)n;
		*used += n;
	}
	if (zs->avail_out == 0) {
		zs->next_out = b->p + zs->total_out;
		zs->avail_out = (uInt)inflate_min(b->size - zs->total_out,
		    UINT_MAX);
	}
}

static enum inflate_result
inflate_run(z_stream *zs, const uint8_t *in, size_t inlen,
    struct inflate_buf *b)
{
	size_t used = 0;
	int zr;

	for (;;) {
		if (zs->avail_out == 0 && zs->total_out == b->size) {
			if (b->size == b->limit)
				return INFLATE_TOO_LARGE;
			if (inflate_grow(b) != 0)
				return INFLATE_NOMEM;
		}
		inflate_feed(zs, in, inlen, &used, b);
		zr = inflate(zs, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_MEM_ERROR)
			return INFLATE_NOMEM;
		/* Output always has room on the call, so
		 * Z_BUF_ERROR means the input ran out: a truncated member.
		 * Z_DATA_ERROR is corruption, a bad CRC or length included. */
		if (zr != Z_OK)
			return INFLATE_BAD;
	}
	if (zs->total_out > b->limit - 1)
		return INFLATE_TOO_LARGE;
	/* One member only: a second member or garbage after the trailer is
	 * not what Stream sends, and its bytes would not be signed. */
	if (zs->avail_in != 0 || used != inlen)
		return INFLATE_BAD;
	return INFLATE_OK;
}

enum inflate_result
inflate_gzip(const void *in, size_t inlen, size_t cap, uint8_t **out,
    size_t *outlen)
{
	struct inflate_buf b = { NULL, 0, cap < SIZE_MAX ? cap + 1 : SIZE_MAX };
	enum inflate_result r;
	z_stream zs;

	*out = NULL;
	*outlen = 0;
	if (!inflate_is_gzip(in, inlen))
		return INFLATE_BAD;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, INFLATE_GZIP_ONLY) != Z_OK)
		return INFLATE_NOMEM;
	r = inflate_run(&zs, in, inlen, &b);
	if (r == INFLATE_OK) {
		*out = b.p;
		*outlen = zs.total_out;
	} else
		free(b.p);
	inflateEnd(&zs);
	return r;
}
