/*
 * upstream.c: see upstream.h.  The request is built here, and started on
 * and collected from the caller's multi handle; running that (deadlines,
 * outcomes) is the caller's: deliver.c for push, hook.c for the
 * synchronous hooks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"

static const char command_chars[] = "abcdefghijklmnopqrstuvwxyz"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

/*
 * See upstream.h.  The target already names a custom command, by path or
 * by query, so only a URL with its own path gets ?type=NAME (&type=NAME
 * after a query).  A fragment is never sent: it is dropped before the
 * query is extended.
 */
int
upstream_url(const struct upstream_msg *m, char *out, size_t len,
    const char **sock, char *err, size_t errlen)
{
	const char *cmd = m->command != NULL ? m->command : "";
	const char *target = m->target != NULL && m->target[0] != '\0' ?
	    m->target : "/";
	const char *auth;
	size_t host, path, n;
	int w, proxy = 1;

	*sock = NULL;
	if (strncmp(m->url, "unix:", 5) == 0) {
		*sock = m->url + 5;
		w = snprintf(out, len, "http://localhost%s", target);
	} else {
		/* the host ends where the path, query or fragment begins */
		auth = strstr(m->url, "://");
		auth = auth != NULL ? auth + 3 : m->url;
		host = (size_t)(auth - m->url) + strcspn(auth, "/?#");
		path = strcspn(m->url + host, "#");
		if (path == 0 || (path == 1 && m->url[host] == '/'))
			w = snprintf(out, len, "%.*s%s", (int)host, m->url,
			    target);
		else {
			w = snprintf(out, len, "%.*s", (int)(host + path),
			    m->url);
			proxy = 0;
		}
	}
	if (w < 0 || (size_t)w >= len) {
		snprintf(err, errlen, "upstream URL too long");
		return -1;
	}
	out[strcspn(out, "#")] = '\0';
	if (proxy || cmd[0] == '\0')
		return 0;
	if (strspn(cmd, command_chars) != strlen(cmd)) {
		snprintf(err, errlen, "bad command name");
		return -1;
	}
	n = strlen(out);
	w = snprintf(out + n, len - n, "%ctype=%s",
	    strchr(out, '?') != NULL ? '&' : '?', cmd);
	if (w < 0 || (size_t)w >= len - n) {
		snprintf(err, errlen, "upstream URL too long");
		return -1;
	}
	return 0;
}

static int
header_add(struct curl_slist **l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
header_add(struct curl_slist **l, const char *fmt, ...)
{
	struct curl_slist *n;
	char line[512];
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= sizeof(line))
		return -1;
	if ((n = curl_slist_append(*l, line)) == NULL)
		return -1;
	*l = n;
	return 0;
}

static struct curl_slist *
headers_build(const struct upstream_msg *m)
{
	struct curl_slist *l = NULL;
	int bad = 0;

	bad |= header_add(&l, "Content-Type: application/json");
	/* no 100-continue round trip: a hook cannot afford the wait */
	bad |= header_add(&l, "Expect:");
	bad |= header_add(&l, "X-Webhook-Id: %s", m->webhook_id);
	bad |= header_add(&l, "X-Webhook-Attempt: %d", m->attempt);
	bad |= header_add(&l, "X-Api-Key: %s", m->api_key);
	bad |= header_add(&l, "X-Streamgate-Verified: 1");
	if (m->seq > 0)
		bad |= header_add(&l, "X-Streamgate-Seq: %lld",
		    (long long)m->seq);
	if (m->signature != NULL)
		bad |= header_add(&l, "X-Signature: %s", m->signature);
	if (m->delivery_attempt > 0)
		bad |= header_add(&l, "X-Streamgate-Delivery-Attempt: %d",
		    m->delivery_attempt);
	if (bad) {
		curl_slist_free_all(l);
		return NULL;
	}
	return l;
}

/* Keep the answer up to r->max; past it the transfer is aborted. */
static size_t
reply_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct upstream_reply *r = arg;
	size_t n = size * nmemb, cap;
	char *nb;

	if (r == NULL || r->max == 0)
		return n;
	if (n > r->max - r->len) {
		r->over = 1;
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		cap = r->cap ? r->cap : 1024;
		while (cap < r->len + n + 1)
			cap *= 2;
		if ((nb = realloc(r->data, cap)) == NULL)
			return 0;
		r->data = nb;
		r->cap = cap;
	}
	memcpy(r->data + r->len, p, n);
	r->len += n;
	r->data[r->len] = '\0';
	return n;
}

int
upstream_prepare(CURL *h, const struct upstream_msg *m,
    struct upstream_reply *reply, struct curl_slist **hdrs, char *err,
    size_t errlen)
{
	char url[UPSTREAM_URL_MAX];
	const char *sock;
	CURLcode rc = CURLE_OK;

	*hdrs = NULL;
	if (upstream_url(m, url, sizeof(url), &sock, err, errlen) != 0)
		return -1;
	if ((*hdrs = headers_build(m)) == NULL) {
		snprintf(err, errlen, "header too long or out of memory");
		return -1;
	}
	rc |= curl_easy_setopt(h, CURLOPT_URL, url);
	if (sock != NULL)
		rc |= curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (m->ca_file != NULL && m->ca_file[0] != '\0')
		rc |= curl_easy_setopt(h, CURLOPT_CAINFO, m->ca_file);
	rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, m->timeout_ms);
	rc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, m->timeout_ms);
	rc |= curl_easy_setopt(h, CURLOPT_USERAGENT, "streamgated");
	rc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	rc |= curl_easy_setopt(h, CURLOPT_POST, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)m->body_len);
	rc |= curl_easy_setopt(h, CURLOPT_POSTFIELDS,
	    m->body != NULL ? (const char *)m->body : "");
	rc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, reply_write);
	rc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl refused an option");
		curl_slist_free_all(*hdrs);
		*hdrs = NULL;
		return -1;
	}
	return 0;
}

int
upstream_start(CURLM *multi, CURL *h, const struct upstream_msg *m,
    struct upstream_reply *reply, struct curl_slist **hdrs, void *priv,
    char *err, size_t errlen)
{
	err[0] = '\0';
	if (upstream_prepare(h, m, reply, hdrs, err, errlen) != 0 ||
	    curl_easy_setopt(h, CURLOPT_PRIVATE, priv) != CURLE_OK ||
	    curl_multi_add_handle(multi, h) != CURLM_OK) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot start a request");
		return -1;
	}
	return 0;
}

void *
upstream_finished(CURLM *multi, enum metrics_upstream kind, CURL **h,
    CURLcode *rc)
{
	CURLMsg *msg;
	curl_off_t us;
	void *priv;
	int left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		*h = msg->easy_handle;
		*rc = msg->data.result;
		curl_easy_getinfo(*h, CURLINFO_PRIVATE, (char **)&priv);
		if (curl_easy_getinfo(*h, CURLINFO_TOTAL_TIME_T,
		    &us) == CURLE_OK)
			metrics_upstream(kind, (int64_t)us);
		/* what the caller asks of h next (the status, the OS
		 * error) stays with it until it is reset */
		curl_multi_remove_handle(multi, *h);
		return priv;
	}
	return NULL;
}

static const char *
connect_reason(CURL *h)
{
	long oserr = 0;

	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
	if (oserr == ECONNREFUSED)
		return "connect refused";
	if (oserr == ENOENT)
		return "no such socket";
	return "connect failed";
}

void
upstream_reason(CURL *h, CURLcode rc, const struct upstream_reply *r,
    char *buf, size_t len)
{
	long status = 0;

	buf[0] = '\0';
	switch (rc) {
	case CURLE_OK:
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200 || status > 299)
			snprintf(buf, len, "status %ld", status);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(buf, len, "timeout");
		return;
	case CURLE_COULDNT_CONNECT:
		snprintf(buf, len, "%s", connect_reason(h));
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(buf, len, "cannot resolve host");
		return;
	case CURLE_GOT_NOTHING:
		snprintf(buf, len, "empty reply");
		return;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		snprintf(buf, len, "connection reset");
		return;
	case CURLE_WRITE_ERROR:
		snprintf(buf, len, r != NULL && r->over ? "reply too large" :
		    "out of memory");
		return;
	default:
		snprintf(buf, len, "%s", curl_easy_strerror(rc));
	}
}

void
upstream_redact(const char *url, char *buf, size_t len)
{
	const char *auth = strstr(url, "://"), *at;
	size_t end;

	if (auth == NULL) {
		snprintf(buf, len, "%s", url);
		return;
	}
	auth += 3;
	end = strcspn(auth, "/?#");
	at = memchr(auth, '@', end);
	if (at == NULL)
		snprintf(buf, len, "%s", url);
	else
		snprintf(buf, len, "%.*s***%s", (int)(auth - url), url, at);
}

void
upstream_reply_free(struct upstream_reply *r)
{
	free(r->data);
	r->data = NULL;
	r->len = r->cap = 0;
	r->over = 0;
}
