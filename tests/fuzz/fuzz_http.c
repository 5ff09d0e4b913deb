/*
 * fuzz_http.c: the request parser on arbitrary bytes, fed whole and in the
 * pieces the first byte chooses; both ways must agree on how many requests
 * were complete, how many stopped for "100 Continue" after their headers,
 * and whether the stream was refused.  A request handed over is HTTP/1.0
 * or 1.1, its headers of ours have no whitespace at either end, and a
 * refusal has one of the statuses the server knows.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static void
check_request(const struct http_parser *hp)
{
	const struct http_request *r = &hp->req;
	size_t len;
	int i;

	if (hp->ll.http_major != 1 || hp->ll.http_minor > 1)
		abort();
	for (i = 0; i < HH_COUNT; i++) {
		len = r->hdr_len[i];
		if (len >= HTTP_HDR_MAX || strlen(r->hdr[i]) != len ||
		    (len > 0 && (!r->hdr_seen[i] || is_ows(r->hdr[i][0]) ||
		    is_ows(r->hdr[i][len - 1]))))
			abort();
	}
}

static void
check_status(int status)
{
	switch (status) {
	case 400: case 413: case 414: case 431: case 501: case 503: case 505:
		return;
	default:
		abort();
	}
}

static int
run(const uint8_t *data, size_t len, size_t step, int *status, int *expects)
{
	struct http_parser hp;
	size_t off = 0;
	int n = 0;

	http_parser_init(&hp, 4096, 8192);
	*status = 0;
	*expects = 0;
	while (off < len) {
		size_t piece = step && len - off > step ? step : len - off;
		ssize_t used = http_parser_feed(&hp, (const char *)data + off,
		    piece);

		if (used < 0) {
			*status = hp.status;
			check_status(hp.status);
			break;
		}
		if ((size_t)used > piece)
			abort();
		off += (size_t)used;
		if (hp.expect) {
			if (hp.ready || hp.req.body_len != 0)
				abort();	/* headers only, so far */
			check_request(&hp);
			(*expects)++;
			http_parser_continue(&hp);
		} else if (hp.ready) {
			if (hp.req.body_len > 8192)
				abort();
			check_request(&hp);
			n++;
			http_parser_next(&hp);
		} else if ((size_t)used < piece)
			abort();	/* stopped without a request or an error */
	}
	http_parser_free(&hp);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	int s1, s2, n1, n2, e1, e2;

	if (len < 1)
		return 0;
	n1 = run(data + 1, len - 1, 0, &s1, &e1);
	n2 = run(data + 1, len - 1, 1 + data[0] % 16, &s2, &e2);
	if (n1 != n2 || e1 != e2 || (s1 != 0) != (s2 != 0))
		abort();
	return 0;
}
