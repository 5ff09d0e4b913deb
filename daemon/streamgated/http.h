/*
 * http.h: HTTP/1.1 requests off a connection's byte stream, with llhttp in
 * strict mode (no lenient flags) and the refusals llhttp 8.1 does not make
 * itself: obs-fold header continuations and whitespace before the colon
 * (400), a version other than HTTP/1.0 or 1.1 (505), an HTTP/1.1 request
 * without Host or with two (400), a transfer coding other than chunked
 * (501), Transfer-Encoding on HTTP/1.0 (400).  Header values have their
 * optional whitespace cut on both sides; trailers after a chunked body are
 * read and counted toward the header limit, and otherwise ignored.
 * Limits on header bytes (431) and body bytes (413).  One request at a
 * time: the parser pauses after each, so pipelined requests are answered in
 * order.  It also pauses after the headers of an HTTP/1.1 request that
 * says "Expect: 100-continue" and has a body to come: the client waits
 * for an interim "100 Continue", or a final answer, before it sends it.
 */
#ifndef SG_HTTP_H
#define SG_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "llhttp.h"

/* The headers streamgated reads; every other header is skipped. */
enum http_hdr {
	HH_WEBHOOK_ID,		/* X-Webhook-Id */
	HH_ATTEMPT,		/* X-Webhook-Attempt */
	HH_API_KEY,		/* X-Api-Key */
	HH_SIGNATURE,		/* X-Signature */
	HH_CONTENT_ENCODING,	/* Content-Encoding */
	HH_EXPECT,		/* Expect */
	HH_COUNT
};

#define HTTP_HDR_MAX	256	/* longest value kept of one of ours */
#define HTTP_TARGET_MAX	2048	/* request target, with its NUL (414) */

struct http_request {
	int		method;			/* llhttp_method_t */
	char		target[HTTP_TARGET_MAX];	/* path?query, with NUL */
	size_t		target_len;
	char		hdr[HH_COUNT][HTTP_HDR_MAX];
	size_t		hdr_len[HH_COUNT];
	int		hdr_seen[HH_COUNT];
	uint8_t		*body;			/* malloc'd; NULL when empty */
	size_t		body_len;
	int		keep_alive;
};

struct http_parser {
	llhttp_t		ll;
	llhttp_settings_t	cb;
	size_t			max_header;
	size_t			max_body;
	size_t			header_bytes;	/* of the request being read */
	int			in_headers;
	int			in_message;
	int			after_value;	/* a value just completed */
	const char		*chunk;		/* what feed() is parsing now */
	char			last_byte;	/* the byte before chunk */
	int			val_open;	/* a value span was seen */
	char			field[32];	/* current header name, if short */
	size_t			field_len;
	int			field_long;
	int			cur;		/* enum http_hdr being read, or -1 */
	int			cur_te;		/* reading Transfer-Encoding */
	int			host_seen;
	char			te[32];		/* Transfer-Encoding value */
	size_t			te_len;
	size_t			body_cap;
	struct http_request	req;
	int			ready;		/* req holds a whole request */
	int			expect;		/* req: the headers of one that
						 * waits for 100 Continue */
	int			status;		/* error: 400, 413, 431, 501,
						 * 505 */
	const char		*reason;	/* error: one short phrase */
};

void	http_parser_init(struct http_parser *hp, size_t max_header,
	    size_t max_body);
void	http_parser_free(struct http_parser *hp);

/*
 * Feed bytes.  Returns how many were consumed (the rest belong to the next
 * request), or -1 on a protocol error (hp->status and hp->reason say which;
 * the connection must be answered and closed).  When hp->ready is set,
 * hp->req is a whole request; call http_parser_next() when done with it.
 * When hp->expect is set, see http_parser_continue().
 */
ssize_t	http_parser_feed(struct http_parser *hp, const char *data, size_t len);
void	http_parser_next(struct http_parser *hp);
/*
 * When hp->expect is set, hp->req holds the headers (method, target, ours)
 * of a request whose body the client holds back until it hears "100
 * Continue" or a final answer.  Call this to read the body on (after the
 * 100, or without it when the body came anyway).
 */
void	http_parser_continue(struct http_parser *hp);

/* 1 between requests (nothing read of the next one): the idle timeout
 * applies; otherwise the header timeout does. */
int	http_parser_idle(const struct http_parser *hp);

#endif
