/*
 * test_http.c: the request parser: framing, limits, our own refusals
 * (trailers, transfer codings, versions, Host, whitespace), and pipelining,
 * fed whole and one byte at a time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAX_HDR		1024
#define MAX_BODY	64

/* Requests that stopped after their headers for "100 Continue", in the
 * last feed(). */
static int expects;

/* Feed all of text (in pieces of `step` bytes, 0: whole); return the number
 * of complete requests seen, or -status on an error.  A request that waits
 * for "100 Continue" is counted in expects and read on. */
static int
feed(struct http_parser *hp, const char *text, size_t step,
    struct http_request *last)
{
	size_t off = 0, len = strlen(text), piece;
	int n = 0;

	expects = 0;
	while (off < len) {
		piece = step ? (len - off < step ? len - off : step) : len - off;
		ssize_t used = http_parser_feed(hp, text + off, piece);

		if (used < 0)
			return -hp->status;
		off += (size_t)used;
		if (hp->expect) {
			expects++;
			http_parser_continue(hp);
		}
		if (hp->ready) {
			n++;
			if (last) {
				free(last->body);
				*last = hp->req;
				hp->req.body = NULL;	/* moved to *last */
			}
			http_parser_next(hp);
		}
	}
	return n;
}

static int
parse(const char *text, size_t step, struct http_request *last)
{
	struct http_parser hp;
	int n;

	http_parser_init(&hp, MAX_HDR, MAX_BODY);
	n = feed(&hp, text, step, last);
	http_parser_free(&hp);
	return n;
}

#define SIGNED \
	"POST /webhooks/stream/push?x=1 HTTP/1.1\r\nHost: edge\r\n" \
	"X-Webhook-Id: 123e4567\r\nX-Webhook-Attempt: 2\r\n" \
	"X-Api-Key: key1\r\nx-signature: ABCDEF\r\n"

static void
test_content_length_request(void **state)
{
	struct http_request r = { 0 };
	size_t step;

	(void)state;
	for (step = 0; step <= 7; step++) {
		assert_int_equal(parse(SIGNED "X-Spaces: a b  c\r\n"
		    "Content-Length: 13\r\n\r\n"
		    "{\"type\":\"a\"}\n", step, &r), 1);
		assert_int_equal(r.method, HTTP_POST);
		assert_string_equal(r.target, "/webhooks/stream/push?x=1");
		assert_string_equal(r.hdr[HH_WEBHOOK_ID], "123e4567");
		assert_string_equal(r.hdr[HH_ATTEMPT], "2");
		assert_string_equal(r.hdr[HH_API_KEY], "key1");
		assert_string_equal(r.hdr[HH_SIGNATURE], "ABCDEF");
		assert_false(r.hdr_seen[HH_CONTENT_ENCODING]);
		assert_int_equal(r.body_len, 13);
		assert_memory_equal(r.body, "{\"type\":\"a\"}\n", 13);
		assert_true(r.keep_alive);
	}
	free(r.body);
}

static void
test_chunked_and_pipelined(void **state)
{
	struct http_request r = { 0 };
	const char *three =
	    SIGNED "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	    "GET /healthz HTTP/1.1\r\nHost: e\r\n\r\n"
	    "POST /b HTTP/1.1\r\nHost: e\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok";

	(void)state;
	assert_int_equal(parse(three, 0, &r), 3);
	assert_string_equal(r.target, "/b");
	assert_int_equal(r.body_len, 2);
	assert_false(r.keep_alive);
	assert_int_equal(parse(three, 1, NULL), 3);
	free(r.body);
	r.body = NULL;
	assert_int_equal(parse(SIGNED "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n0\r\n\r\n", 3, &r), 1);
	assert_memory_equal(r.body, "hello", 5);
	free(r.body);
}

static void
test_framing_errors_are_400(void **state)
{
	static const char *bad[] = {
		SIGNED "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		SIGNED "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		SIGNED "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
		/* chunk data not followed by CRLF: smuggling, unless strict */
		SIGNED "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
		SIGNED "X-Other: a\rb\r\nContent-Length: 0\r\n\r\n",
		SIGNED "X-Other : a\r\nContent-Length: 0\r\n\r\n",
		SIGNED "X-Other: one\r\n two\r\nContent-Length: 0\r\n\r\n",
		SIGNED "X-Signature: again\r\nContent-Length: 0\r\n\r\n",
		"POST / HTTP/1.1\nHost: a\nContent-Length: 0\n\n",
		"BREW / HTTP/1.1\r\n\r\n",
	};
	size_t i, step;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (step = 0; step <= 9; step++) {
			print_message("case %zu step %zu\n", i, step);
			assert_int_equal(parse(bad[i], step, NULL), -400);
		}
}

static void
test_limits(void **state)
{
	char big[2 * MAX_HDR];
	char body[256];

	(void)state;
	/* header bytes: 431, even spread over many small headers */
	memset(big, 0, sizeof(big));
	strcpy(big, "POST / HTTP/1.1\r\n");
	while (strlen(big) < MAX_HDR + 16)
		strcat(big, "a: b\r\n");
	strcat(big, "\r\n");
	assert_int_equal(parse(big, 0, NULL), -431);
	/* a declared body over the limit: 413 before any of it is read */
	assert_int_equal(parse(SIGNED "Content-Length: 65\r\n\r\n", 0, NULL),
	    -413);
	/* a chunked body over the limit */
	snprintf(body, sizeof(body), SIGNED "Transfer-Encoding: chunked\r\n\r\n"
	    "41\r\n%065d\r\n0\r\n\r\n", 0);
	assert_int_equal(parse(body, 0, NULL), -413);
	/* exactly at the limit passes */
	snprintf(body, sizeof(body), SIGNED "Content-Length: 64\r\n\r\n%064d", 0);
	assert_int_equal(parse(body, 5, NULL), 1);
}

static void
test_http10_closes(void **state)
{
	struct http_request r = { 0 };

	(void)state;
	assert_int_equal(parse("GET /healthz HTTP/1.0\r\n\r\n", 0, &r), 1);
	assert_false(r.keep_alive);
	assert_int_equal(r.method, HTTP_GET);
	free(r.body);
}

static void
test_idle_between_requests(void **state)
{
	struct http_parser hp;
	const char *req = "GET /healthz HTTP/1.1\r\nHost: e\r\n\r\n";

	(void)state;
	http_parser_init(&hp, MAX_HDR, MAX_BODY);
	assert_true(http_parser_idle(&hp));
	assert_int_equal(http_parser_feed(&hp, req, 5), 5);
	assert_false(http_parser_idle(&hp));
	assert_int_equal(http_parser_feed(&hp, req + 5, strlen(req) - 5),
	    (ssize_t)(strlen(req) - 5));
	assert_true(hp.ready);
	http_parser_next(&hp);
	assert_true(http_parser_idle(&hp));
	http_parser_free(&hp);
}

#define EXPECT_HEAD \
	"POST /webhooks/stream/push HTTP/1.1\r\nHost: edge\r\n" \
	"X-Api-Key: key1\r\nExpect: 100-continue\r\n"

/* The parser stops after the headers of a request that waits for "100
 * Continue", with the headers the server needs to answer them. */
static void
test_expect_stops_after_headers(void **state)
{
	const char *head = EXPECT_HEAD "Content-Length: 2\r\n\r\n";
	struct http_parser hp;
	size_t step, off;
	ssize_t used;

	(void)state;
	for (step = 1; step <= strlen(head); step++) {
		http_parser_init(&hp, MAX_HDR, MAX_BODY);
		for (off = 0; off < strlen(head) && !hp.expect; off += used) {
			used = http_parser_feed(&hp, head + off,
			    strlen(head) - off < step ? strlen(head) - off :
			    step);
			assert_true(used >= 0);
		}
		assert_int_equal(off, strlen(head));	/* all of them taken */
		assert_true(hp.expect);
		assert_false(hp.ready);
		assert_false(http_parser_idle(&hp));
		assert_int_equal(hp.req.method, HTTP_POST);
		assert_string_equal(hp.req.target, "/webhooks/stream/push");
		assert_string_equal(hp.req.hdr[HH_API_KEY], "key1");
		/* nothing more is read until the server says so */
		assert_int_equal(http_parser_feed(&hp, "{}", 2), 0);
		http_parser_continue(&hp);
		assert_false(hp.expect);
		assert_int_equal(http_parser_feed(&hp, "{}", 2), 2);
		assert_true(hp.ready);
		assert_int_equal(hp.req.body_len, 2);
		http_parser_next(&hp);
		assert_true(http_parser_idle(&hp));
		http_parser_free(&hp);
	}
}

static void
test_expect_when(void **state)
{
	struct http_request r = { 0 };
	size_t step;

	(void)state;
	for (step = 0; step <= 5; step++) {
		/* with the body in the same bytes, and chunked; any case */
		assert_int_equal(parse(EXPECT_HEAD "Content-Length: 2\r\n\r\n"
		    "{}", step, &r), 1);
		assert_int_equal(expects, 1);
		assert_memory_equal(r.body, "{}", 2);
		assert_int_equal(parse("POST / HTTP/1.1\r\nHost: e\r\n"
		    "expect: 100-Continue\r\nTransfer-Encoding: chunked\r\n"
		    "\r\n2\r\n{}\r\n0\r\n\r\n", step, &r), 1);
		assert_int_equal(expects, 1);
		/* no body to wait for */
		assert_int_equal(parse(EXPECT_HEAD "Content-Length: 0\r\n\r\n",
		    step, &r), 1);
		assert_int_equal(expects, 0);
		assert_int_equal(parse("GET /healthz HTTP/1.1\r\nHost: e\r\n"
		    "Expect: 100-continue\r\n\r\n", step, &r), 1);
		assert_int_equal(expects, 0);
		/* an HTTP/1.0 client never gets a 100 */
		assert_int_equal(parse("POST / HTTP/1.0\r\nExpect: 100-continue"
		    "\r\nContent-Length: 2\r\n\r\n{}", step, &r), 1);
		assert_int_equal(expects, 0);
		/* another expectation is not ours */
		assert_int_equal(parse("POST / HTTP/1.1\r\nHost: e\r\n"
		    "Expect: 100-continued\r\nContent-Length: 2\r\n\r\n{}",
		    step, &r), 1);
		assert_int_equal(expects, 0);
		/* a declared body over the limit: 413 at once, no 100 */
		assert_int_equal(parse(EXPECT_HEAD "Content-Length: 65\r\n\r\n",
		    step, &r), -413);
		assert_int_equal(expects, 0);
		/* two requests in a row, each waiting */
		assert_int_equal(parse(EXPECT_HEAD "Content-Length: 1\r\n\r\na"
		    EXPECT_HEAD "Content-Length: 1\r\n\r\nb", step, &r), 2);
		assert_int_equal(expects, 2);
		assert_memory_equal(r.body, "b", 1);
	}
	/* twice is refused, as any header of ours given twice */
	assert_int_equal(parse(EXPECT_HEAD "Expect: 100-continue\r\n"
	    "Content-Length: 1\r\n\r\na", 0, NULL), -400);
	free(r.body);
}

#define CHUNKED_HEAD \
	"POST /webhooks/stream/push HTTP/1.1\r\nHost: edge\r\n" \
	"X-Api-Key: key1\r\nTransfer-Encoding: chunked\r\n\r\n"

/* Trailers are counted toward the header limit and otherwise ignored: a
 * signature or id sent only after the body is none. */
static void
test_trailers_ignored(void **state)
{
	struct http_request r = { 0 };
	char big[2 * MAX_HDR];
	size_t step;

	(void)state;
	for (step = 0; step <= 7; step++) {
		assert_int_equal(parse(CHUNKED_HEAD "2\r\n{}\r\n0\r\n"
		    "X-Signature: abcdef\r\nX-Webhook-Id: t1\r\n"
		    "Host: again\r\n\r\n", step, &r), 1);
		assert_false(r.hdr_seen[HH_SIGNATURE]);
		assert_false(r.hdr_seen[HH_WEBHOOK_ID]);
		assert_int_equal(r.hdr_len[HH_SIGNATURE], 0);
		assert_string_equal(r.hdr[HH_API_KEY], "key1");
		assert_memory_equal(r.body, "{}", 2);
		/* one in the head and one in a trailer: the head's, no 400 */
		assert_int_equal(parse(SIGNED "Transfer-Encoding: chunked\r\n"
		    "\r\n2\r\n{}\r\n0\r\nX-Signature: 0000\r\n"
		    "X-Api-Key: key2\r\n\r\n", step, &r), 1);
		assert_string_equal(r.hdr[HH_SIGNATURE], "ABCDEF");
		assert_string_equal(r.hdr[HH_API_KEY], "key1");
	}
	/* and they count toward the header limit */
	snprintf(big, sizeof(big), CHUNKED_HEAD "0\r\nX-Pad: %0*d\r\n\r\n",
	    MAX_HDR, 0);
	assert_int_equal(parse(big, 0, NULL), -431);
	free(r.body);
}

/* Only chunked is undone; any other coding is 501, not a body with the
 * coding's bytes in it. */
static void
test_transfer_codings(void **state)
{
	static const struct {
		const char	*te;
		int		 want;
	} cases[] = {
		{ "chunked", 1 },
		{ "Chunked", 1 },
		{ "  chunked  ", 1 },
		{ ", chunked", 1 },
		{ "gzip, chunked", -501 },
		{ "gzip,chunked", -501 },
		{ "GZIP , chunked", -501 },
		{ "identity", -501 },
		{ "x-this-coding-name-is-far-too-long, chunked", -501 },
		{ "chunked, chunked", -400 },
		{ "chunked, gzip", -400 },
	};
	char req[512];
	size_t i, step;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (step = 0; step <= 5; step++) {
			snprintf(req, sizeof(req), "POST / HTTP/1.1\r\n"
			    "Host: e\r\nTransfer-Encoding: %s\r\n\r\n"
			    "2\r\n{}\r\n0\r\n\r\n", cases[i].te);
			print_message("%s step %zu\n", cases[i].te, step);
			assert_int_equal(parse(req, step, NULL),
			    cases[i].want);
		}
	/* two lines make one list */
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: e\r\n"
	    "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2\r\n{}\r\n0\r\n\r\n", 0, NULL), -501);
	/* before Content-Length says otherwise */
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: e\r\n"
	    "Transfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}", 0,
	    NULL), -501);
	/* HTTP/1.0 has no chunked: its framing is faulty */
	assert_int_equal(parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 0, NULL), -400);
}

static void
test_versions(void **state)
{
	static const struct {
		const char	*req;
		int		 want;
	} cases[] = {
		{ "GET /healthz HTTP/1.1\r\nHost: e\r\n\r\n", 1 },
		{ "GET /healthz HTTP/1.0\r\n\r\n", 1 },
		{ "GET /healthz HTTP/2.0\r\nHost: e\r\n\r\n", -505 },
		{ "GET /healthz HTTP/0.9\r\nHost: e\r\n\r\n", -505 },
		{ "GET /healthz HTTP/1.2\r\nHost: e\r\n\r\n", -505 },
		{ "GET /healthz HTTP/3.0\r\nHost: e\r\n\r\n", -505 },
		{ "GET /healthz\r\n\r\n", -505 },
	};
	size_t i, step;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (step = 0; step <= 5; step++) {
			print_message("case %zu step %zu\n", i, step);
			assert_int_equal(parse(cases[i].req, step, NULL),
			    cases[i].want);
		}
}

/* Host: once on HTTP/1.1, at most once on 1.0 (RFC 9112, 3.2). */
static void
test_host(void **state)
{
	size_t step;

	(void)state;
	for (step = 0; step <= 5; step++) {
		assert_int_equal(parse("GET /healthz HTTP/1.1\r\n\r\n", step,
		    NULL), -400);
		assert_int_equal(parse("POST / HTTP/1.1\r\nX-Api-Key: k\r\n"
		    "Content-Length: 2\r\n\r\n{}", step, NULL), -400);
		assert_int_equal(parse("GET / HTTP/1.1\r\nHOST: a\r\n\r\n",
		    step, NULL), 1);
		assert_int_equal(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n",
		    step, NULL), 1);
		assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n"
		    "host: b\r\n\r\n", step, NULL), -400);
		assert_int_equal(parse("GET / HTTP/1.0\r\nHost: a\r\n"
		    "Host: b\r\n\r\n", step, NULL), -400);
	}
}

/* Optional whitespace is cut from both ends of a value, in any pieces;
 * whitespace past the longest value kept does not make it too long. */
static void
test_value_whitespace(void **state)
{
	struct http_request r = { 0 };
	char req[1024];
	size_t step;

	(void)state;
	for (step = 0; step <= 9; step++) {
		assert_int_equal(parse("GET / HTTP/1.1\r\nHost: e\r\n"
		    "X-Api-Key: \t k1 \t \r\nX-Webhook-Id:\tan id \r\n"
		    "X-Signature: ab  \r\n\r\n", step, &r), 1);
		assert_string_equal(r.hdr[HH_API_KEY], "k1");
		assert_int_equal(r.hdr_len[HH_API_KEY], 2);
		assert_string_equal(r.hdr[HH_WEBHOOK_ID], "an id");
		assert_int_equal(r.hdr_len[HH_WEBHOOK_ID], 5);
		assert_string_equal(r.hdr[HH_SIGNATURE], "ab");
		/* the longest value kept, then more whitespace than room */
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: e\r\n"
		    "X-Signature: %0*d%300s\r\n\r\n", HTTP_HDR_MAX - 1, 0, "");
		assert_int_equal(parse(req, step, &r), 1);
		assert_int_equal(r.hdr_len[HH_SIGNATURE], HTTP_HDR_MAX - 1);
		/* one byte longer, or something after the whitespace */
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: e\r\n"
		    "X-Signature: %0*d\r\n\r\n", HTTP_HDR_MAX, 0);
		assert_int_equal(parse(req, step, NULL), -431);
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: e\r\n"
		    "X-Signature: %0*d%20sx\r\n\r\n", HTTP_HDR_MAX - 10, 0, "");
		assert_int_equal(parse(req, step, NULL), -431);
	}
	free(r.body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length_request),
		cmocka_unit_test(test_chunked_and_pipelined),
		cmocka_unit_test(test_framing_errors_are_400),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_http10_closes),
		cmocka_unit_test(test_idle_between_requests),
		cmocka_unit_test(test_expect_stops_after_headers),
		cmocka_unit_test(test_expect_when),
		cmocka_unit_test(test_trailers_ignored),
		cmocka_unit_test(test_transfer_codings),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_value_whitespace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
