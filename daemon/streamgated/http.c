/*
 * http.c: requests off the byte stream (see http.h).  llhttp does the
 * framing; the callbacks here keep the few headers we need, enforce the
 * limits, and refuse what llhttp 8.1 lets through.
 *
 * What a request means is decided by its head alone.  A chunked body may
 * end with trailers, which llhttp hands over as more header lines: they
 * are counted toward the header limit and checked for framing, but never
 * kept, so an X-Signature or X-Webhook-Id sent only after the body (where
 * a proxy in front of us would not look) is not one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

struct hdr_name {
	const char	*name;
	size_t		 len;
};

#define NAME(s)	{ s, sizeof(s) - 1 }

static const struct hdr_name hdr_names[HH_COUNT] = {
	[HH_WEBHOOK_ID]		= NAME("x-webhook-id"),
	[HH_ATTEMPT]		= NAME("x-webhook-attempt"),
	[HH_API_KEY]		= NAME("x-api-key"),
	[HH_SIGNATURE]		= NAME("x-signature"),
	[HH_CONTENT_ENCODING]	= NAME("content-encoding"),
	[HH_EXPECT]		= NAME("expect"),
};
/* read, not kept: Host must be there once, Transfer-Encoding is checked */
static const struct hdr_name hdr_host = NAME("host");
static const struct hdr_name hdr_te = NAME("transfer-encoding");

#define HP(ll)	((struct http_parser *)(ll)->data)

/* Record the first error; the callback's -1 makes llhttp stop. */
static int
fail(struct http_parser *hp, int status, const char *reason)
{
	if (hp->status == 0) {
		hp->status = status;
		hp->reason = reason;
	}
	return -1;
}

/* llhttp sets F_TRAILING once the last chunk is read: fields from then on
 * are trailers. */
static int
in_trailers(const struct http_parser *hp)
{
	return (hp->ll.flags & F_TRAILING) != 0;
}

static int
field_is(const struct http_parser *hp, const struct hdr_name *h)
{
	return hp->field_len == h->len &&
	    strncasecmp(hp->field, h->name, h->len) == 0;
}

static int
is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * Append a span of a header value to buf (cap bytes with its NUL), its
 * leading whitespace skipped (llhttp skips it too; a value may come in
 * several spans).  Whitespace past the room is dropped, since value_end
 * would cut it anyway; anything else there makes the value too long: -1.
 */
static int
value_add(char *buf, size_t *len, size_t cap, const char *at, size_t n)
{
	size_t room = cap - 1 - *len, i;

	if (*len == 0)
		for (; n > 0 && is_ows(*at); at++, n--)
			;
	if (n > room) {
		for (i = room; i < n; i++)
			if (!is_ows(at[i]))
				return -1;
		n = room;
	}
	memcpy(buf + *len, at, n);
	*len += n;
	buf[*len] = '\0';
	return 0;
}

/* The value is whole: its trailing whitespace goes ("X-Api-Key: k1 "). */
static void
value_end(char *buf, size_t *len)
{
	while (*len > 0 && is_ows(buf[*len - 1]))
		(*len)--;
	buf[*len] = '\0';
}

/*
 * Transfer-Encoding: chunked is the only coding we undo.  Another one
 * ("gzip, chunked") would leave its bytes in the body, so it is refused
 * with 501 as RFC 9112 says; llhttp has already refused chunked twice or
 * not last.  Empty list elements are allowed.
 */
static int
te_check(struct http_parser *hp)
{
	const char *p = hp->te, *end;
	size_t n;

	while (*p != '\0') {
		end = p + strcspn(p, ",");
		n = (size_t)(end - p);
		while (n > 0 && is_ows(*p))
			p++, n--;
		while (n > 0 && is_ows(p[n - 1]))
			n--;
		if (n > 0 && (n != 7 || strncasecmp(p, "chunked", 7) != 0))
			return fail(hp, 501, "transfer coding not supported");
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* Separators (": ", CRLF) are not in the spans: count a few per line. */
static int
header_account(struct http_parser *hp, size_t n)
{
	hp->header_bytes += n;
	if (hp->header_bytes > hp->max_header)
		return fail(hp, 431, "request header too large");
	return 0;
}

static void
req_clear(struct http_request *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static int
on_message_begin(llhttp_t *ll)
{
	struct http_parser *hp = HP(ll);

	req_clear(&hp->req);
	hp->body_cap = 0;
	hp->header_bytes = 0;
	hp->in_headers = 1;
	hp->in_message = 1;
	hp->after_value = 0;
	hp->field_len = 0;
	hp->field_long = 0;
	hp->cur = -1;
	hp->cur_te = 0;
	hp->host_seen = 0;
	hp->te_len = 0;
	hp->te[0] = '\0';
	return 0;
}

/* HTTP/1.0 and 1.1 only: an "HTTP/2.0" line is not h2, and 0.9 has no
 * headers to verify. */
static int
on_version_complete(llhttp_t *ll)
{
	if (ll->http_major != 1 || ll->http_minor > 1)
		return fail(HP(ll), 505, "HTTP version not supported");
	return 0;
}

static int
on_url(llhttp_t *ll, const char *at, size_t n)
{
	struct http_parser *hp = HP(ll);
	struct http_request *r = &hp->req;

	if (header_account(hp, n) != 0)
		return -1;
	if (r->target_len + n >= sizeof(r->target))
		return fail(hp, 414, "request target too long");
	memcpy(r->target + r->target_len, at, n);
	r->target_len += n;
	r->target[r->target_len] = '\0';
	return 0;
}

static int
on_header_field(llhttp_t *ll, const char *at, size_t n)
{
	struct http_parser *hp = HP(ll);

	hp->val_open = 0;
	if (hp->after_value) {		/* a new header line */
		hp->after_value = 0;
		hp->field_len = 0;
		hp->field_long = 0;
	}
	/* llhttp 8.1 keeps "Name :" as the name "Name " */
	if (memchr(at, ' ', n) || memchr(at, '\t', n))
		return fail(hp, 400, "whitespace before colon");
	if (header_account(hp, n) != 0)
		return -1;
	if (hp->field_len + n >= sizeof(hp->field))
		hp->field_long = 1;
	else {
		memcpy(hp->field + hp->field_len, at, n);
		hp->field_len += n;
	}
	return 0;
}

static int
on_header_field_complete(llhttp_t *ll)
{
	struct http_parser *hp = HP(ll);
	int i;

	hp->cur = -1;
	hp->cur_te = 0;
	if (header_account(hp, 4) != 0)
		return -1;
	if (hp->field_long || in_trailers(hp))
		return 0;	/* not ours, or a trailer: skipped */
	for (i = 0; i < HH_COUNT; i++) {
		if (!field_is(hp, &hdr_names[i]))
			continue;
		/* two X-Signature (or X-Webhook-Id ...) lines: which one? */
		if (hp->req.hdr_seen[i])
			return fail(hp, 400, "duplicate header");
		hp->req.hdr_seen[i] = 1;
		hp->cur = i;
		return 0;
	}
	if (field_is(hp, &hdr_host)) {
		if (hp->host_seen)	/* RFC 9112, 3.2 */
			return fail(hp, 400, "duplicate Host");
		hp->host_seen = 1;
	} else if (field_is(hp, &hdr_te))
		hp->cur_te = 1;		/* several lines make one list */
	return 0;
}

static int
on_header_value(llhttp_t *ll, const char *at, size_t n)
{
	struct http_parser *hp = HP(ll);
	struct http_request *r = &hp->req;
	char before;

	/*
	 * obs-fold: llhttp 8.1 reports a continuation line as more value,
	 * starting at its leading whitespace, right after the line break.  A
	 * value merely split across feed() calls continues after a value byte.
	 */
	before = at > hp->chunk ? at[-1] : hp->last_byte;
	if (hp->after_value ||
	    (hp->val_open && (before == '\n' || before == '\r')))
		return fail(hp, 400, "obsolete header line folding");
	hp->val_open = 1;
	if (header_account(hp, n) != 0)
		return -1;
	if (hp->cur_te && value_add(hp->te, &hp->te_len, sizeof(hp->te),
	    at, n) != 0)	/* longer than any list of chunked */
		return fail(hp, 501, "transfer coding not supported");
	if (hp->cur < 0)
		return 0;
	if (value_add(r->hdr[hp->cur], &r->hdr_len[hp->cur], HTTP_HDR_MAX,
	    at, n) != 0)
		return fail(hp, 431, "header value too long");
	return 0;
}

static int
on_header_value_complete(llhttp_t *ll)
{
	struct http_parser *hp = HP(ll);
	struct http_request *r = &hp->req;

	if (hp->cur >= 0)
		value_end(r->hdr[hp->cur], &r->hdr_len[hp->cur]);
	if (hp->cur_te) {
		hp->cur_te = 0;
		value_end(hp->te, &hp->te_len);
		if (te_check(hp) != 0)
			return -1;
		hp->te_len = 0;		/* the next line is checked alone */
	}
	hp->after_value = 1;
	hp->val_open = 0;
	hp->cur = -1;
	return 0;
}

/*
 * "Expect: 100-continue" (the one expectation there is; the token is
 * case-insensitive) on an HTTP/1.1 request with a body to come.  An
 * HTTP/1.0 client never gets a 100 (RFC 9110, 10.1.1), and without a
 * body there is nothing to wait for.
 */
static int
expects_continue(const struct http_parser *hp)
{
	const llhttp_t *ll = &hp->ll;
	const char *v = hp->req.hdr[HH_EXPECT];

	if (!hp->req.hdr_seen[HH_EXPECT] || ll->http_major != 1 ||
	    ll->http_minor < 1)
		return 0;
	if (!(ll->flags & F_CHUNKED) && !((ll->flags & F_CONTENT_LENGTH) &&
	    ll->content_length > 0))
		return 0;
	return strncasecmp(v, "100-continue", 12) == 0 &&
	    v[12 + strspn(v + 12, " \t")] == '\0';
}

static int
on_headers_complete(llhttp_t *ll)
{
	struct http_parser *hp = HP(ll);

	hp->in_headers = 0;
	hp->req.method = llhttp_get_method(ll);
	/* a bare "GET /" (HTTP/0.9) has no version line to call back on */
	if (ll->http_major != 1)
		return fail(hp, 505, "HTTP version not supported");
	if (ll->http_minor == 1 && !hp->host_seen)	/* RFC 9112, 3.2 */
		return fail(hp, 400, "missing Host header");
	/* RFC 9112, 6.1: its framing is faulty */
	if (ll->http_minor == 0 && (ll->flags & F_TRANSFER_ENCODING))
		return fail(hp, 400, "Transfer-Encoding in HTTP/1.0");
	/* refuse a declared body over the limit before reading it */
	if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > hp->max_body)
		return fail(hp, 413, "body too large");
	if (expects_continue(hp)) {
		hp->expect = 1;
		return HPE_PAUSED;	/* the server answers the headers */
	}
	return 0;
}

static int
on_body(llhttp_t *ll, const char *at, size_t n)
{
	struct http_parser *hp = HP(ll);
	struct http_request *r = &hp->req;
	size_t cap;
	uint8_t *nb;

	if (r->body_len + n > hp->max_body)
		return fail(hp, 413, "body too large");
	if (r->body_len + n > hp->body_cap) {
		cap = hp->body_cap ? hp->body_cap : 4096;
		while (cap < r->body_len + n)
			cap *= 2;
		if (cap > hp->max_body)
			cap = hp->max_body;
		if ((nb = realloc(r->body, cap)) == NULL)
			return fail(hp, 503, "out of memory");
		r->body = nb;
		hp->body_cap = cap;
	}
	memcpy(r->body + r->body_len, at, n);
	r->body_len += n;
	return 0;
}

static int
on_message_complete(llhttp_t *ll)
{
	struct http_parser *hp = HP(ll);

	hp->req.keep_alive = llhttp_should_keep_alive(ll);
	hp->ready = 1;
	hp->in_message = 0;
	return HPE_PAUSED;	/* one request at a time: pipelining in order */
}

void
http_parser_init(struct http_parser *hp, size_t max_header, size_t max_body)
{
	memset(hp, 0, sizeof(*hp));
	llhttp_settings_init(&hp->cb);
	hp->cb.on_message_begin = on_message_begin;
	hp->cb.on_version_complete = on_version_complete;
	hp->cb.on_url = on_url;
	hp->cb.on_header_field = on_header_field;
	hp->cb.on_header_field_complete = on_header_field_complete;
	hp->cb.on_header_value = on_header_value;
	hp->cb.on_header_value_complete = on_header_value_complete;
	hp->cb.on_headers_complete = on_headers_complete;
	hp->cb.on_body = on_body;
	hp->cb.on_message_complete = on_message_complete;
	llhttp_init(&hp->ll, HTTP_REQUEST, &hp->cb);
	hp->ll.data = hp;
	hp->max_header = max_header;
	hp->max_body = max_body;
	hp->cur = -1;
}

void
http_parser_free(struct http_parser *hp)
{
	req_clear(&hp->req);
}

/* A short reason for llhttp's own refusals. */
static const char *
ll_reason(llhttp_errno_t e)
{
	switch (e) {
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		return "conflicting Content-Length or Transfer-Encoding";
	case HPE_INVALID_CONTENT_LENGTH:
		return "bad Content-Length";
	case HPE_INVALID_TRANSFER_ENCODING:
		return "bad Transfer-Encoding";
	case HPE_INVALID_CHUNK_SIZE:
	case HPE_STRICT:
		return "bad chunk";
	case HPE_LF_EXPECTED:
	case HPE_CR_EXPECTED:
		return "bare CR or LF";
	case HPE_INVALID_HEADER_TOKEN:
		return "bad header";
	case HPE_INVALID_METHOD:
		return "bad method";
	case HPE_INVALID_VERSION:	/* "HTTP/1.2", "HTTP/3.0" */
		return "HTTP version not supported";
	case HPE_PAUSED_UPGRADE:
		return "upgrade not supported";
	default:
		return "malformed request";
	}
}

ssize_t
http_parser_feed(struct http_parser *hp, const char *data, size_t len)
{
	llhttp_errno_t e;
	ssize_t used;

	if (hp->ready || hp->expect || hp->status)
		return hp->status ? -1 : 0;
	hp->chunk = data;
	e = llhttp_execute(&hp->ll, data, len);
	if (e == HPE_OK) {
		hp->last_byte = len ? data[len - 1] : hp->last_byte;
		return (ssize_t)len;
	}
	if (e == HPE_PAUSED) {
		used = llhttp_get_error_pos(&hp->ll) - data;
		hp->last_byte = used ? data[used - 1] : hp->last_byte;
		return used;
	}
	fail(hp, e == HPE_INVALID_VERSION ? 505 : 400, ll_reason(e));
	return -1;
}

void
http_parser_next(struct http_parser *hp)
{
	req_clear(&hp->req);
	hp->body_cap = 0;
	hp->ready = 0;
	hp->expect = 0;
	llhttp_resume(&hp->ll);
}

void
http_parser_continue(struct http_parser *hp)
{
	hp->expect = 0;
	llhttp_resume(&hp->ll);
}

int
http_parser_idle(const struct http_parser *hp)
{
	return !hp->in_message && !hp->ready;
}
