/*
 * server.c: workers and connections (see server.h).
 *
 * A connection reads bytes, feeds them to its parser, and hands each whole
 * request to the pipeline (pipeline.h), one at a time: while a request
 * waits (for the store, then maybe for the app), parsing stops, so
 * pipelined requests are answered in the order they came.  The store's
 * writer and the hook thread never touch a connection: the pipeline's
 * wake queues it on its worker and wakes the worker's eventfd, and the
 * worker resumes the pipeline.  A connection whose peer left while its
 * request waited is freed when the request comes back, not before.
 *
 * A connection is registered once, edge-triggered for both directions,
 * as nginx does: no epoll_ctl per request.  An edge that comes while a
 * request waits is remembered (`readable`) and read after the answer; a
 * plaintext read shorter than asked drained the socket, so it is not
 * followed by a read that would only say EAGAIN.
 *
 * "Expect: 100-continue": the parser stops after such a request's
 * headers; the pipeline either answers them (404, 401 ...: then the
 * connection closes, its body unread) or the interim "100 Continue" is
 * queued like any answer and the parser goes on.  Every read is followed
 * by a flush of what is queued, complete request or not, so the 100 goes
 * out in the same turn with no system call of its own; a request without
 * Expect never takes this way.
 *
 * What a connection holds is bounded whatever its client does.  Its
 * input is IN_BUF; answers not yet written are held up to OUT_MAX bytes
 * or OUT_ANSWERS answers, and past that no request is parsed (they wait
 * in `in`, and once it is full the socket is not read, `readable` staying
 * set) until EPOLLOUT finds the client reading and the output drained.  So
 * a client that pipelines and never reads is answered until the kernel's
 * send buffer of its socket is full and OUT_ANSWERS more wait here, then
 * it is read no more and its TCP window closes; a client that reads is
 * flushed every OUT_ANSWERS answers and never waits.  One request's body
 * is held until it is answered (limits.body_bytes).
 *
 * A client that shuts its side (FIN) has what it sent answered and is
 * closed as soon as nothing is left: EPOLLRDHUP says the FIN is in, so
 * the read after data goes on to see the EOF instead of taking a short
 * read for a drained socket.
 *
 * A connection on a TLS listener first runs its handshake on the same
 * loop, a step on each edge (OpenSSL asks for more only after a read or
 * write said EAGAIN, so an edge follows), under the handshake timeout;
 * then it reads and writes through tls_read and tls_write behind the same
 * loops as a plaintext one, whose path is unchanged (a pointer test, no
 * extra system call).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/err.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "pipeline.h"
#include "reqlog.h"
#include "server.h"
#include "tls.h"

#define IN_BUF		16384	/* unparsed bytes held (pipelined requests) */
#define OUT_MAX		65536	/* unsent answer bytes before parsing stops */
#define OUT_ANSWERS	32	/* ... or unsent answers */
#define BODY_GRACE_MS	5000	/* a body's rate is judged after this long */
#define BACKLOG		4096	/* one queue for all workers (somaxconn caps) */
#define TICK_MS		200	/* how often timeouts are checked */
#define TAG_LISTEN	1	/* epoll data: listener i is TAG_LISTEN + i */
#define TAG_METRICS	(TAG_LISTEN + CONFIG_MAX_LISTEN)

struct worker;

struct conn {
	int			 fd;
	SSL			*ssl;		/* NULL: plaintext */
	int			 tls_drained;	/* see tls_drained() */
	int			 handshake;	/* TLS handshake not done */
	int			 readable;	/* no EAGAIN since the last edge */
	int			 rdhup;		/* the peer's FIN is in */
	int			 eof;		/* and read: no more requests */
	struct worker		*w;
	struct conn		*prev, *next;	/* the worker's connections */
	struct conn		*done_next;	/* the worker's completions */
	struct http_parser	 hp;
	char			 in[IN_BUF];
	size_t			 in_len;
	char			*out;
	size_t			 out_len, out_off, out_cap;
	unsigned		 out_answers;	/* in out since it was empty */
	int			 waiting;	/* the pipeline has a request */
	int			 closing;	/* close once out is written */
	int			 gone;		/* peer left while waiting */
	int			 metrics;	/* came in on the metrics listener */
	struct pipeline_req	 req;
	int64_t			 active_ms;	/* last read or write */
	int64_t			 req_ms;	/* first byte of this request;
						   during a handshake, accept */
	int64_t			 body_ms;	/* a tick saw its body begun */
	int64_t			 started_us;	/* of the current request */
	char			 remote[64];
};

struct worker {
	struct server		*srv;
	pthread_t		 thread;
	int			 epfd;
	int			 evfd;
	int			 lfd[CONFIG_MAX_LISTEN];
	size_t			 nlfd;
	struct conn		*conns;
	struct conn		*dead;		/* closed: freed after the batch */
	int			 mfd;		/* metrics listener (worker 0) */
	int			 spare;		/* a reserved fd, for EMFILE */
	int64_t			 paused;	/* listeners off until then (ms) */
	pthread_mutex_t		 lock;
	struct conn		*done;		/* woken by the pipeline */
	atomic_uint_fast64_t	 epoch;		/* loops run: reload grace */
	struct reqlog		 log;		/* written once per loop */
};

struct server {
	_Atomic(const struct config *) cfg;	/* swapped by a reload */
	struct pipeline		*pl;
	struct worker		*w;
	int			 nw;
	atomic_int		 nconns;
	atomic_int		 stopping;
	int			 started;	/* workers running */
	_Atomic(struct tls_set *) tls;		/* NULL: all plaintext */
};

static const struct config *
cfg_now(const struct server *s)
{
	return atomic_load_explicit(&((struct server *)s)->cfg,
	    memory_order_acquire);
}

/* ---- output ---- */

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return status >= 200 && status <= 299 ? "OK" : "Error";
	}
}

static int
out_append(struct conn *c, const char *data, size_t len)
{
	char *nb;
	size_t cap;

	if (c->out_len + len > c->out_cap) {
		cap = c->out_cap ? c->out_cap : 1024;
		while (cap < c->out_len + len)
			cap *= 2;
		if ((nb = realloc(c->out, cap)) == NULL)
			return -1;
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static void
respond(struct conn *c, int status, const char *body, size_t len, int close)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
	    status, status_text(status), len, close ? "Connection: close\r\n" :
	    "");
	if (out_append(c, head, (size_t)n) != 0 ||
	    out_append(c, body, len) != 0)
		c->closing = 1;
	if (close)
		c->closing = 1;
	c->out_answers++;
}

/* A request refused before it was whole: a one-line JSON reason, its log
 * line, and the connection closes after it. */
static void
refuse(struct conn *c, int status, const char *reason)
{
	char body[160];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", reason);

	respond(c, status, body, (size_t)n, 1);
	reqlog_add(&c->w->log, c->remote, c->hp.req.target, NULL, status,
	    reason, c->started_us);
}

/* ---- connections ---- */

/*
 * Off the worker's list; freed once the events of this epoll_wait are
 * handled, since a later one in the same batch may name it (its fd is
 * closed by then, which is how conn_event knows to skip it).
 */
static void
conn_free(struct conn *c)
{
	struct worker *w = c->w;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = w->dead;
	w->dead = c;
}

static void
conn_destroy(struct conn *c)
{
	struct worker *w = c->w;

	SSL_free(c->ssl);
	http_parser_free(&c->hp);
	pipeline_req_free(&c->req);
	free(c->out);
	atomic_fetch_sub(&w->srv->nconns, 1);
	free(c);
}

static void
conns_reap(struct worker *w)
{
	struct conn *c;

	while ((c = w->dead) != NULL) {
		w->dead = c->next;
		conn_destroy(c);
	}
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		if (c->ssl != NULL)
			tls_close(c->ssl);
		close(c->fd);
		c->fd = -1;
	}
	if (c->waiting) {
		c->gone = 1;	/* the pipeline still holds our request */
		return;
	}
	conn_free(c);
}

/*
 * TLS under the contract of recv and send: bytes, 0 at the peer's close,
 * or -1 with errno EAGAIN (either direction: both are registered, and
 * OpenSSL wants one only after its system call said EAGAIN) or
 * ECONNRESET.  So the loops below serve both.
 */
static ssize_t
conn_tls_result(ssize_t r)
{
	if (r >= 0)
		return r;
	errno = r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT ? EAGAIN :
	    ECONNRESET;
	return -1;
}

static ssize_t
conn_recv(struct conn *c, void *buf, size_t len)
{
	if (c->ssl == NULL)
		return recv(c->fd, buf, len, 0);
	return conn_tls_result(tls_read(c->ssl, buf, len));
}

static ssize_t
conn_send(struct conn *c, const void *buf, size_t len)
{
	if (c->ssl == NULL)
		return send(c->fd, buf, len, MSG_NOSIGNAL);
	return conn_tls_result(tls_write(c->ssl, buf, len));
}

/* Write what is pending; 0, or -1 when the connection is gone. */
static int
conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
		c->active_ms = clock_unix_ms();
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		c->out_answers = 0;
		if (c->closing)
			return -1;
	}
	return 0;	/* the rest on the next EPOLLOUT edge */
}

/* Bytes or a request taken in and not yet handled (held back while the
 * output is full, or behind a waiting request). */
static int
conn_has_input(const struct conn *c)
{
	return c->in_len > 0 || c->hp.ready || c->hp.expect;
}

/* The pipeline's wake, from another thread: hand c back to its worker. */
static void
conn_complete(void *arg)
{
	struct conn *c = arg;
	struct worker *w = c->w;
	uint64_t one = 1;
	int wake;

	pthread_mutex_lock(&w->lock);
	wake = w->done == NULL;	/* the worker takes the whole list per wake */
	c->done_next = w->done;
	w->done = c;
	pthread_mutex_unlock(&w->lock);
	if (wake)
		(void)!write(w->evfd, &one, sizeof(one));
}

/*
 * The pipeline's answer: queue it, and the parser goes on.  A stopping
 * server closes after each answer on its webhook listeners (the metrics
 * listener's answers never said so).
 */
static void
conn_answer(struct conn *c)
{
	struct pipeline_answer *a = &c->req.answer;

	respond(c, a->status, a->body, a->len, a->close || (!c->metrics &&
	    atomic_load(&c->w->srv->stopping)));
	free(a->owned);
	a->owned = NULL;
	http_parser_next(&c->hp);
}

/* A whole request: answered now, or once the pipeline wakes us. */
static void
conn_request(struct conn *c)
{
	struct server *s = c->w->srv;

	if (c->metrics)
		pipeline_scrape(&c->req, &c->hp.req, atomic_load(&s->nconns));
	else if (pipeline_begin(&c->req, cfg_now(s), &c->hp.req,
	    c->started_us) == PIPELINE_WAITING) {
		c->waiting = 1;
		return;
	}
	conn_answer(c);
}

/*
 * The headers of a request whose client waits before it sends the body:
 * the final answer now when they decide it, else "100 Continue" and the
 * body is read on.  A client that sent the body anyway (some of it is
 * here) needs no 100.  The interim answer goes out with whatever the
 * caller flushes next, as every answer does.
 */
static void
conn_expect(struct conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (!c->metrics && pipeline_expect(&c->req, cfg_now(c->w->srv),
	    &c->hp.req, c->started_us) == PIPELINE_ANSWERED) {
		conn_answer(c);
		return;
	}
	if (c->in_len == 0 && out_append(c, cont, sizeof(cont) - 1) != 0)
		c->closing = 1;
	http_parser_continue(&c->hp);
}

/*
 * Parse what is buffered, handling requests until one must wait, or until
 * the output is full and the socket takes no more of it (EPOLLOUT goes
 * on).  A peer that has shut its side and has nothing left to be answered
 * is closed once its answers are out.  -1: a write failed.
 */
static int
conn_process(struct conn *c)
{
	ssize_t used;

	while (!c->waiting && !c->closing) {
		if (c->out_len >= OUT_MAX || c->out_answers >= OUT_ANSWERS) {
			if (conn_flush(c) != 0)
				return -1;
			if (c->out_len != 0)
				break;
		}
		if (c->hp.ready) {
			conn_request(c);
			continue;
		}
		if (c->hp.expect) {
			conn_expect(c);
			continue;
		}
		if (c->in_len == 0)
			break;
		if (http_parser_idle(&c->hp)) {
			c->started_us = clock_mono_us();
			c->req_ms = clock_unix_ms();
			c->body_ms = 0;
		}
		used = http_parser_feed(&c->hp, c->in, c->in_len);
		if (used < 0) {
			refuse(c, c->hp.status, c->hp.reason);
			break;
		}
		memmove(c->in, c->in + used, c->in_len - (size_t)used);
		c->in_len -= (size_t)used;
	}
	if (c->eof && !c->waiting && !conn_has_input(c))
		c->closing = 1;
	return 0;
}

/*
 * Read until the socket is drained or the buffer full (then `readable`
 * stays set: the rest is read once requests made room), or to the peer's
 * EOF.
 */
static void
conn_read(struct conn *c)
{
	size_t room;
	ssize_t n;

	for (;;) {
		if (c->in_len == sizeof(c->in)) {
			if (conn_process(c) != 0) {
				conn_close(c);
				return;
			}
			if (c->in_len == sizeof(c->in) || c->waiting ||
			    c->closing)
				break;
		}
		room = sizeof(c->in) - c->in_len;
		n = conn_recv(c, c->in + c->in_len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->readable = 0;
			break;
		}
		if (n < 0) {		/* failed */
			conn_close(c);
			return;
		}
		if (n == 0) {		/* shut: what came is still answered */
			c->eof = 1;
			c->readable = 0;
			break;
		}
		c->in_len += (size_t)n;
		c->active_ms = clock_unix_ms();
		/* TCP hands over all it has: a short read drained it, unless
		 * a FIN is in, whose EOF the next read says.  TLS hands over
		 * a record at a time: it reads on unless its own recv came
		 * back short and nothing is left in OpenSSL's buffer (each
		 * request would cost a recv that says EAGAIN) */
		if ((c->ssl == NULL ? (size_t)n < room : tls_drained(c->ssl)) &&
		    !c->rdhup) {
			c->readable = 0;
			break;
		}
	}
	if (conn_process(c) != 0 || conn_flush(c) != 0)
		conn_close(c);
}

/*
 * Parsing goes on after a wait.  Bytes still in the kernel wake epoll
 * again; bytes TLS has already read from it (a pipelined request in the
 * same record, or read ahead) do not, so they are read here.
 */
static void
conn_resume(struct conn *c)
{
	if (conn_process(c) != 0 || conn_flush(c) != 0)
		conn_close(c);
	else if (!c->waiting && !c->closing && !c->eof && (c->readable ||
	    (c->ssl != NULL && SSL_has_pending(c->ssl))))
		conn_read(c);
}

/* One step of a TLS handshake; once done, the connection is read as any
 * other (the first request may have come with the client's Finished). */
static void
conn_handshake(struct conn *c)
{
	int r;

	if ((r = tls_handshake(c->ssl)) == 0) {
		c->handshake = 0;
		c->active_ms = clock_unix_ms();
		c->readable = 1;
		conn_read(c);
	} else if (r != TLS_WANT_POLLIN && r != TLS_WANT_POLLOUT)
		conn_close(c);
}

/*
 * An edge on a connection.  While a request waits, or once closing, a read
 * edge is only remembered.  Over TLS either edge may be what OpenSSL waits
 * for, so both lead to a read (which also writes).  Requests held back by
 * a full output go on once a write edge has drained it.
 */
static void
conn_event(struct conn *c, uint32_t events)
{
	if (c->fd < 0)
		return;		/* closed earlier in this batch */
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
		conn_close(c);
		return;
	}
	if (events & EPOLLIN)
		c->readable = 1;
	if (events & EPOLLRDHUP)
		c->rdhup = 1;
	if (c->handshake) {
		conn_handshake(c);
		return;
	}
	if (c->out_off < c->out_len && conn_flush(c) != 0) {
		conn_close(c);
		return;
	}
	if (c->waiting || c->closing)
		return;
	if (!c->eof && (c->readable || c->ssl != NULL))
		conn_read(c);
	else if (c->out_len == 0 && conn_has_input(c))
		conn_resume(c);
}

/* The pipeline woke these connections: on with it, or answer and go on
 * parsing. */
static void
completions(struct worker *w)
{
	struct conn *c, *next;
	uint64_t v;

	(void)!read(w->evfd, &v, sizeof(v));
	pthread_mutex_lock(&w->lock);
	c = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->lock);
	for (; c != NULL; c = next) {
		next = c->done_next;
		c->waiting = 0;
		if (c->gone) {
			conn_free(c);
			continue;
		}
		if (pipeline_resume(&c->req, cfg_now(w->srv)) ==
		    PIPELINE_WAITING) {
			c->waiting = 1;
			continue;
		}
		conn_answer(c);
		conn_resume(c);
	}
}

/*
 * Listener epoll registration: off while out of descriptors.  The workers
 * share each listening socket; EPOLLEXCLUSIVE wakes one of those waiting
 * (each has its own descriptor of it), not all.
 */
static void
listeners_set(struct worker *w, int op)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	size_t i;

	for (i = 0; i < w->nlfd; i++) {
		if (w->lfd[i] < 0)
			continue;
		ev.data.ptr = (void *)(uintptr_t)(TAG_LISTEN + i);
		epoll_ctl(w->epfd, op, w->lfd[i], &ev);
	}
}

static void
listeners_pause(struct worker *w)
{
	if (!w->paused)
		listeners_set(w, EPOLL_CTL_DEL);
	w->paused = clock_unix_ms() + TICK_MS;
}

static void
listeners_resume(struct worker *w)
{
	if (!w->paused || clock_unix_ms() < w->paused)
		return;
	if (!atomic_load(&w->srv->stopping))
		listeners_set(w, EPOLL_CTL_ADD);
	w->paused = 0;
}

/* A TLS listener's context now (a reload swaps them), or NULL. */
static SSL_CTX *
listener_tls(struct server *s, size_t i)
{
	struct tls_set *set = atomic_load_explicit(&s->tls,
	    memory_order_acquire);

	return set != NULL ? set->ctx[i] : NULL;
}

/* The SSL holds a reference to ctx: a reload never pulls it away. */
static int
conn_tls_begin(struct conn *c, SSL_CTX *ctx)
{
	if ((c->ssl = SSL_new(ctx)) == NULL ||
	    tls_attach(c->ssl, c->fd, &c->tls_drained) != 0) {
		ERR_clear_error();
		return -1;
	}
	c->handshake = 1;
	c->req_ms = c->active_ms;	/* the handshake timeout starts */
	return 0;
}

static void
accept_all(struct worker *w, int lfd, int metrics, SSL_CTX *ctx)
{
	const struct config *cfg = cfg_now(w->srv);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct epoll_event ev;
	struct conn *c;
	int fd, one = 1;

	for (;;) {
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/*
			 * Out of descriptors: the pending connection keeps the
			 * listener readable, and the loop would spin.  Spend
			 * the reserved descriptor to take it and close it (the
			 * client sees a reset, and Stream retries); when even
			 * that fails, stop listening until the next tick.
			 */
			if (w->spare >= 0) {
				close(w->spare);
				fd = accept(lfd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				w->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
				if (fd >= 0)
					continue;
			}
			listeners_pause(w);
			break;
		}
		if (fd < 0)
			break;
		sl = sizeof(ss);
		if (atomic_fetch_add(&w->srv->nconns, 1) >=
		    (int)cfg->limits.connections ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			atomic_fetch_sub(&w->srv->nconns, 1);
			close(fd);	/* over the limit: Stream retries */
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->w = w;
		c->metrics = metrics;
		c->active_ms = clock_unix_ms();
		http_parser_init(&c->hp, cfg->limits.header_bytes,
		    cfg->limits.body_bytes);
		pipeline_req_init(&c->req, w->srv->pl, &w->log, c->remote,
		    conn_complete, c);
		if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			    c->remote, sizeof(c->remote));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			    c->remote, sizeof(c->remote));
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = c;
		if ((ctx != NULL && conn_tls_begin(c, ctx) != 0) ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
			conn_close(c);
	}
}

/*
 * Why the request being read has run out of time, or NULL.  Its headers
 * must be whole within the header timeout of its first byte, all of it
 * within the request timeout, and a body must average the minimum rate
 * once it has gone on BODY_GRACE_MS (its start is when a tick first saw
 * it, up to a tick late, which only adds to the grace): trickling bytes
 * holds a connection no longer than that.  The rate is not held against a
 * client whose answers wait to be read: then it is we who stop reading.
 */
static const char *
conn_late(struct conn *c, const struct config_limits *l, int64_t now)
{
	int64_t body;

	if (c->hp.in_headers && now - c->req_ms > l->header_timeout_ms)
		return "header timeout";
	if (now - c->req_ms > l->request_timeout_ms)
		return "request timeout";
	if (now - c->active_ms > l->idle_timeout_ms)
		return "request idle";
	if (c->hp.in_headers || c->out_len != 0 || l->body_min_bytes_per_s == 0)
		return NULL;
	if (c->body_ms == 0) {
		c->body_ms = now;
		return NULL;
	}
	body = now - c->body_ms;
	if (body > BODY_GRACE_MS && (uint64_t)c->hp.req.body_len * 1000 <
	    (uint64_t)l->body_min_bytes_per_s * (uint64_t)body)
		return "body too slow";
	return NULL;
}

/*
 * 408 with the reason, and closed now: a client this slow may not read it
 * either.  Bytes left unread would make close() send a reset, which can
 * overtake the answer, so the little there is is read first.
 */
static void
conn_timeout(struct conn *c, const char *why)
{
	int i;

	refuse(c, 408, why);
	(void)conn_flush(c);
	for (i = 0; i < 4 && c->ssl == NULL &&
	    recv(c->fd, c->in, sizeof(c->in), 0) > 0; i++)
		;
	conn_close(c);
}

/*
 * Idle connections are closed after the idle timeout, and so is one whose
 * answers its client has not read for that long.  A request being read
 * that runs out of time (conn_late) is answered 408 and closed.  A TLS
 * handshake not done within the handshake timeout of the accept is closed:
 * a client that sends nothing, or trickles its ClientHello, holds a
 * descriptor no longer than that, and never a worker.
 */
static void
timeouts(struct worker *w)
{
	const struct config_limits *l = &cfg_now(w->srv)->limits;
	int64_t now = clock_unix_ms();
	struct conn *c, *next;
	int stopping = atomic_load(&w->srv->stopping);
	const char *why;

	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (c->waiting || c->fd < 0)
			continue;
		if (c->handshake) {
			if (stopping ||
			    now - c->req_ms > l->handshake_timeout_ms)
				conn_close(c);
		} else if (http_parser_idle(&c->hp) && c->out_len == 0) {
			if (stopping || now - c->active_ms > l->idle_timeout_ms)
				conn_close(c);
		} else if (c->hp.in_message && !c->closing &&
		    (why = conn_late(c, l, now)) != NULL)
			conn_timeout(c, why);
		else if (now - c->active_ms > l->idle_timeout_ms)
			conn_close(c);
	}
}

static void
listeners_close(struct worker *w)
{
	size_t i;

	for (i = 0; i < w->nlfd; i++) {
		if (w->lfd[i] < 0)
			continue;
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->lfd[i], NULL);
		close(w->lfd[i]);
		w->lfd[i] = -1;
	}
	if (w->mfd >= 0) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->mfd, NULL);
		close(w->mfd);
		w->mfd = -1;
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[64];
	int n, i, stopped = 0;

	for (;;) {
		atomic_fetch_add(&w->epoch, 1);	/* no config pointer held */
		if (atomic_load(&w->srv->stopping) && !stopped) {
			listeners_close(w);	/* no new connections */
			stopped = 1;
		}
		if (stopped && w->conns == NULL)
			break;
		n = epoll_wait(w->epfd, evs, 64, TICK_MS);
		for (i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if ((uintptr_t)p >= TAG_LISTEN &&
			    (uintptr_t)p < TAG_LISTEN + CONFIG_MAX_LISTEN) {
				size_t l = (uintptr_t)p - TAG_LISTEN;

				accept_all(w, w->lfd[l], 0,
				    listener_tls(w->srv, l));
			} else if ((uintptr_t)p == TAG_METRICS)
				accept_all(w, w->mfd, 1, NULL);
			else if (p == (void *)&w->evfd)
				completions(w);
			else
				conn_event(p, evs[i].events);
		}
		timeouts(w);
		conns_reap(w);	/* after every event of the batch */
		listeners_resume(w);
		reqlog_flush(&w->log);
	}
	reqlog_flush(&w->log);
	return NULL;
}

/* ---- setup ---- */

/*
 * One listening socket per address, which every worker shares.  Without
 * SO_REUSEPORT, a second streamgated on the same address cannot bind: it
 * would otherwise start without a word and take half the connections
 * into a store of its own.  SO_REUSEADDR only lets a restart bind while
 * the last one's connections are in TIME_WAIT.
 */
static int
listener_open(const struct config_listen *l, char *err, size_t errlen)
{
	int fd, one = 1;

	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0 ||
	    listen(fd, BACKLOG) != 0) {
		log_errbuf(err, errlen, "listen %s: %s", l->text,
		    errno == EADDRINUSE ? "address in use (another "
		    "streamgated, or another server, listens there)" :
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * The first worker opens the listeners; the others take descriptors of
 * the same sockets, so that each closes its own when it stops.
 */
static int
worker_init(struct server *s, struct worker *w, const struct worker *first,
    char *err, size_t errlen)
{
	const struct config *cfg = cfg_now(s);
	struct epoll_event ev;
	size_t i;

	w->srv = s;
	w->mfd = -1;
	w->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pthread_mutex_init(&w->lock, NULL);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->evfd < 0) {
		log_errbuf(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &w->evfd;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev);
	for (i = 0; i < cfg->nlisten; i++) {
		if (first == NULL)
			w->lfd[i] = listener_open(&cfg->listen[i], err, errlen);
		else if ((w->lfd[i] = fcntl(first->lfd[i], F_DUPFD_CLOEXEC,
		    0)) < 0)
			log_errbuf(err, errlen, "listen %s: %s",
			    cfg->listen[i].text, strerror(errno));
		if (w->lfd[i] < 0)
			return -1;
		w->nlfd++;
	}
	listeners_set(w, EPOLL_CTL_ADD);
	/* metrics are light: one worker serves them */
	if (first == NULL && cfg->has_metrics) {
		if ((w->mfd = listener_open(&cfg->metrics, err, errlen)) < 0)
			return -1;
		ev.events = EPOLLIN;
		ev.data.ptr = (void *)(uintptr_t)TAG_METRICS;
		epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->mfd, &ev);
	}
	return 0;
}

/*
 * By default one worker per core we may run on.  On 2 cores one worker
 * (the store's writer keeps the other core busy) answered 8 to 10% more
 * than two in 2026-11, and was 5 to 20% cheaper a request on one machine
 * on 2026-12-06 but no cheaper on the next (three alternating rounds:
 * -10% to +20%, plaintext and TLS), while its tail was longer and the
 * end-to-end row fell behind: a descheduled worker stalls every
 * connection.  The operator may choose ("workers"; see the README).
 */
static int
workers_default(void)
{
	cpu_set_t set;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		cores = CPU_COUNT(&set);
	return cores > 1 ? (int)cores : 1;
}

struct server *
server_new(const struct config *cfg, char *err, size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));
	int i;

	if (s == NULL)
		return NULL;
	atomic_store(&s->cfg, cfg);
	s->nw = cfg->workers ? (int)cfg->workers : workers_default();
	if ((s->w = calloc((size_t)s->nw, sizeof(*s->w))) == NULL) {
		free(s);
		return NULL;
	}
	for (i = 0; i < s->nw; i++) {
		s->w[i].epfd = s->w[i].evfd = s->w[i].mfd = s->w[i].spare = -1;
		if (worker_init(s, &s->w[i], i == 0 ? NULL : &s->w[0], err,
		    errlen) != 0) {
			server_free(s);
			return NULL;
		}
	}
	return s;
}

int
server_start(struct server *s, struct pipeline *pl)
{
	int i;

	s->pl = pl;

	for (i = 0; i < s->nw; i++) {
		if ((errno = pthread_create(&s->w[i].thread, NULL, worker_main,
		    &s->w[i])) != 0) {
			log_warn("%s: worker thread", __func__);
			return -1;
		}
		/* top -H; the tests count them */
		(void)pthread_setname_np(s->w[i].thread, "sg-worker");
	}
	s->started = 1;
	return 0;
}

/*
 * Returns once no worker can still hold a pointer it loaded before this
 * call: each has started a new loop since.  Each is woken through its
 * eventfd (an idle one would otherwise sleep out its TICK_MS, and a
 * SIGHUP waits for two graces: 400 ms, so reloads sent faster merged).
 * Before the workers start there is nobody to wait for.
 */
static void
server_grace(struct server *s)
{
	uint64_t *seen, one = 1;
	int i, waited;

	if (!s->started)
		return;
	if ((seen = calloc((size_t)s->nw, sizeof(*seen))) == NULL) {
		usleep(4 * TICK_MS * 1000);	/* a loop takes a tick */
		return;
	}
	for (i = 0; i < s->nw; i++)
		seen[i] = atomic_load(&s->w[i].epoch);
	for (i = 0; i < s->nw; i++)
		(void)!write(s->w[i].evfd, &one, sizeof(one));
	for (i = 0; i < s->nw; i++)
		for (waited = 0; atomic_load(&s->w[i].epoch) == seen[i] &&
		    waited < 5000; waited++)
			usleep(1000);
	free(seen);
}

/* Swap the configuration; the caller may free the old one. */
const struct config *
server_set_config(struct server *s, const struct config *cfg)
{
	const struct config *old = atomic_exchange(&s->cfg, cfg);

	server_grace(s);
	return old;
}

/* Swap the TLS contexts: new connections get the new ones. */
struct tls_set *
server_set_tls(struct server *s, struct tls_set *set)
{
	struct tls_set *old = atomic_exchange(&s->tls, set);

	server_grace(s);
	return old;
}

void
server_stop(struct server *s)
{
	uint64_t one = 1;
	int i;

	atomic_store(&s->stopping, 1);
	for (i = 0; i < s->nw; i++)
		(void)!write(s->w[i].evfd, &one, sizeof(one));
	for (i = 0; i < s->nw; i++)
		pthread_join(s->w[i].thread, NULL);
}

void
server_free(struct server *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nw; i++) {
		listeners_close(&s->w[i]);
		while (s->w[i].conns)
			conn_free(s->w[i].conns);
		conns_reap(&s->w[i]);
		if (s->w[i].epfd >= 0)
			close(s->w[i].epfd);
		if (s->w[i].evfd >= 0)
			close(s->w[i].evfd);
		if (s->w[i].spare >= 0)
			close(s->w[i].spare);
		pthread_mutex_destroy(&s->w[i].lock);
	}
	tls_set_free(atomic_load(&s->tls));	/* after the last SSL_free */
	free(s->w);
	free(s);
}
