/*
 * test_store_redis.c: the Redis store against a real redis-server of its
 * own (127.0.0.1, a free port, no persistence): stored then duplicate, two
 * copies in one batch, two hosts storing one id at once, a claim released
 * when XADD fails, claims there before, the script flushed from Redis's
 * cache, Redis killed and restarted under an open store, the delivery side
 * (consumer group, tries, dead, hooks never returned, autoclaim), what is
 * kept to forward an event (order key, signature, target; an entry from
 * before keys ordered by its channel) and the seq <-> stream id mapping;
 * an id claimed per API key, and the body's hash in the entry and the
 * claim, told back with a duplicate.
 * Without /usr/bin/redis-server every test is skipped (CI counts a skip
 * as a failure).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "store.h"

#define REDIS_SERVER	"/usr/bin/redis-server"

struct tev {
	struct store_event	ev;
	enum store_result	res;
	int			done;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int notified;

static char dir[64], uri[64];
static int port;
static pid_t server = -1;
static redisContext *R;		/* the test's own look into Redis */

static const char bin_body[] = "{\"text\":\"caf\xc3\xa9\"}\0\xff\x01 tail";
#define BIN_LEN	(sizeof(bin_body) - 1)
#define SIG	"0123456789abcdef0123456789abcdef" \
		"0123456789abcdef0123456789abcdef"
#define TARGET	"/webhooks/stream/push?x=1"
#define HASH_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" \
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- server */

static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, p = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		p = ntohs(sa.sin_port);
	close(fd);
	return p;
}

static redisContext *
connect_redis(void)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

	if (c != NULL && c->err) {
		redisFree(c);
		return NULL;
	}
	if (c != NULL)
		redisSetTimeout(c, tv);
	return c;
}

/* Until PING answers (5 s at most): 0, or -1. */
static int
server_wait(void)
{
	int64_t end = clock_mono_ms() + 5000;
	redisReply *r;

	while (clock_mono_ms() < end) {
		if ((R = connect_redis()) != NULL) {
			r = redisCommand(R, "PING");
			if (r != NULL && r->type == REDIS_REPLY_STATUS) {
				freeReplyObject(r);
				return 0;
			}
			freeReplyObject(r);
			redisFree(R);
			R = NULL;
		}
		sleep_ms(20);
	}
	return -1;
}

static int
server_start(void)
{
	char p[16];
	int fd;

	snprintf(p, sizeof(p), "%d", port);
	if ((server = fork()) == -1)
		return -1;
	if (server == 0) {
		/* dies with the test, even when the test crashes */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open("/dev/null", O_WRONLY)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(REDIS_SERVER, "redis-server", "--port", p, "--bind",
		    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
		    dir, (char *)NULL);
		_exit(127);
	}
	return server_wait();
}

static void
server_kill(void)
{
	if (R != NULL)
		redisFree(R);
	R = NULL;
	if (server > 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
	}
	server = -1;
}

static int
group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);	/* as streamgated: EPIPE, not death */
	if (access(REDIS_SERVER, X_OK) != 0)
		return 0;		/* every test skips */
	snprintf(dir, sizeof(dir), "/tmp/sg-redis-XXXXXX");
	if (mkdtemp(dir) == NULL || (port = free_port()) == -1)
		return -1;
	snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d", port);
	if (server_start() == -1) {
		server_kill();
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	server_kill();
	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		return system(cmd) == 0 ? 0 : -1;
	}
	return 0;
}

static redisReply *
rcmd(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(R, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	return r;
}

static long long
rnum(const char *fmt, ...)
{
	redisReply *r;
	long long v;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(R, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

/* Each test starts from an empty Redis. */
static int
setup(void **state)
{
	(void)state;
	if (R == NULL)
		return 0;
	freeReplyObject(redisCommand(R, "FLUSHALL"));
	freeReplyObject(redisCommand(R, "CONFIG RESETSTAT"));
	notified = 0;
	return 0;
}

static void
need_redis(void)
{
	if (R == NULL)
		skip();
}

/* ---------------------------------------------------------------- events */

static void
done(struct store_event *ev, enum store_result r, void *arg)
{
	struct tev *t = arg;

	(void)ev;
	pthread_mutex_lock(&lock);
	t->res = r;
	t->done = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void
tev_init(struct tev *t, const char *id, enum store_kind kind,
    const char *body, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->ev.kind = kind;
	t->ev.state = kind == STORE_PUSH ? STORE_PENDING : STORE_KEPT;
	t->ev.webhook_id = id;
	t->ev.event_type = kind == STORE_PUSH ? "message.new" : NULL;
	t->ev.api_key = "key1";
	t->ev.attempt = 2;
	t->ev.command = kind == STORE_CUSTOM_COMMAND ? "giphy" : NULL;
	t->ev.cid = "messaging:general";
	t->ev.order_key = "cid:messaging:general";
	t->ev.signature = SIG;
	t->ev.target = TARGET;
	t->ev.body_sha256 = HASH_A;
	t->ev.received_at = 1700000000123LL;
	t->ev.body = (const uint8_t *)body;
	t->ev.body_len = len;
	t->ev.done = done;
	t->ev.arg = t;
}

static void
tev_wait(struct tev *t, size_t n)
{
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < n; i++)
		while (!t[i].done)
			pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

/* Submit one event and wait for its fate. */
static enum store_result
put(struct store *s, const char *id, enum store_kind kind, int64_t *seq)
{
	struct tev t;

	tev_init(&t, id, kind, bin_body, BIN_LEN);
	store_submit(s, &t.ev);
	tev_wait(&t, 1);
	if (seq != NULL)
		*seq = t.ev.seq;
	return t.res;
}

/* The same for api_key's id with a body hash; the duplicate's first
 * hash into first. */
static enum store_result
put_as(struct store *s, const char *api_key, const char *id,
    const char *hash, char first[STORE_SHA256_HEX + 1])
{
	struct tev t;

	tev_init(&t, id, STORE_PUSH, bin_body, BIN_LEN);
	t.ev.api_key = api_key;
	t.ev.body_sha256 = hash;
	store_submit(s, &t.ev);
	tev_wait(&t, 1);
	snprintf(first, STORE_SHA256_HEX + 1, "%s", t.ev.first_sha256);
	return t.res;
}

static void
on_notify(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	notified++;
	pthread_mutex_unlock(&lock);
}

/* notify() runs after the done() callbacks: wait for it a little. */
static int
notified_wait(int want)
{
	int64_t end = clock_mono_ms() + 2000;
	int n;

	for (;;) {
		pthread_mutex_lock(&lock);
		n = notified;
		pthread_mutex_unlock(&lock);
		if (n >= want || clock_mono_ms() > end)
			return n;
		sleep_ms(5);
	}
}

static struct store *
open_store(int deliver, const char *consumer)
{
	struct store_options o = { .dedup_window_ms = 86400000, .retention_ms = 0, .redis_prefix = "sg",
	    .consumer = consumer, .deliver = deliver, .dedup_max_ids = 0 };
	struct store *s;
	char err[256];

	s = store_open(uri, &o, err, sizeof(err));
	if (s == NULL)
		fail_msg("store_open: %s", err);
	/* the claims expire with the window: no cache in front */
	assert_int_equal(store_dedups_window(s), 1);
	return s;
}

static int64_t
seq_of(const char *id)
{
	unsigned long long ms, n;

	assert_int_equal(sscanf(id, "%llu-%llu", &ms, &n), 2);
	return (int64_t)(ms << 20 | n);
}

/* Hold every Redis client for ms, and give the writer a batch of one to
 * be stuck in meanwhile: what is submitted next forms one batch. */
static void
writer_hold(struct store *s, struct tev *blocker, const char *id, int ms)
{
	freeReplyObject(rcmd("CLIENT PAUSE %d", ms));
	tev_init(blocker, id, STORE_PUSH, "{}", 2);
	store_submit(s, &blocker->ev);
	sleep_ms(50);
}

/* ---------------------------------------------------------------- tests */

static void
test_stored_then_duplicate(void **state)
{
	struct store_stats st;
	struct store *s;
	redisReply *r, *f;
	int64_t seq;
	char want[160];

	(void)state;
	need_redis();
	s = open_store(0, "c1");
	assert_int_equal(put(s, "id-1", STORE_PUSH, &seq), STORE_STORED);
	r = rcmd("XRANGE sg:events - +");
	assert_int_equal(r->elements, 1);
	assert_int_equal(seq, seq_of(r->element[0]->element[0]->str));
	f = r->element[0]->element[1];
	assert_int_equal(f->elements, 26);
	assert_string_equal(f->element[0]->str, "webhook_id");
	assert_string_equal(f->element[1]->str, "id-1");
	assert_string_equal(f->element[3]->str, "push");
	assert_string_equal(f->element[5]->str, "message.new");
	assert_string_equal(f->element[9]->str, "2");
	assert_string_equal(f->element[11]->str, "1700000000123");
	assert_string_equal(f->element[15]->str, "messaging:general");
	assert_string_equal(f->element[16]->str, "body");
	assert_int_equal(f->element[17]->len, BIN_LEN);
	assert_memory_equal(f->element[17]->str, bin_body, BIN_LEN);
	/* the fields that came later follow the body */
	assert_string_equal(f->element[18]->str, "order_key");
	assert_string_equal(f->element[19]->str, "cid:messaging:general");
	assert_string_equal(f->element[20]->str, "signature");
	assert_string_equal(f->element[21]->str, SIG);
	assert_string_equal(f->element[22]->str, "target");
	assert_string_equal(f->element[23]->str, TARGET);
	assert_string_equal(f->element[24]->str, "body_sha256");
	assert_string_equal(f->element[25]->str, HASH_A);
	snprintf(want, sizeof(want), "s:%s:" HASH_A,
	    r->element[0]->element[0]->str);
	freeReplyObject(r);
	/* the claim is the API key's and the id's, with the body's hash */
	r = rcmd("GET sg:id:key1:id-1");
	assert_string_equal(r->str, want);
	freeReplyObject(r);
	/* the claim lives the dedup window */
	assert_true(rnum("PTTL sg:id:key1:id-1") > 86000000);
	/* one script per event: no command of the writer's outside one */
	r = rcmd("INFO commandstats");
	assert_non_null(strstr(r->str, "cmdstat_evalsha:calls=1,"));
	assert_null(strstr(r->str, "cmdstat_eval:"));
	freeReplyObject(r);

	assert_int_equal(put(s, "id-1", STORE_PUSH, NULL), STORE_DUPLICATE);
	assert_int_equal(rnum("XLEN sg:events"), 1);
	store_stats(s, &st);
	store_close(s);
	assert_int_equal(st.events, 1);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.errors, 0);
	assert_true(st.commits >= 2);
	assert_int_equal(st.up, 1);
}

static void
test_twins_in_one_batch(void **state)
{
	struct tev blocker, t[20];
	struct store *s;
	int i, stored = 0, dup = 0;

	(void)state;
	need_redis();
	s = open_store(0, "c1");
	writer_hold(s, &blocker, "blocker", 300);
	for (i = 0; i < 20; i++) {
		tev_init(&t[i], "same", STORE_PUSH, "{}", 2);
		store_submit(s, &t[i].ev);
	}
	tev_wait(&blocker, 1);
	tev_wait(t, 20);
	store_close(s);
	for (i = 0; i < 20; i++) {
		stored += t[i].res == STORE_STORED;
		dup += t[i].res == STORE_DUPLICATE;
	}
	assert_int_equal(blocker.res, STORE_STORED);
	assert_int_equal(t[0].res, STORE_STORED);
	assert_int_equal(stored, 1);
	assert_int_equal(dup, 19);
	assert_int_equal(rnum("XLEN sg:events"), 2);
}

/* Two hosts get copies of one id at the same moment: one is stored, every
 * other copy is a duplicate, none fails (a script has no half-done state
 * another host could see). */
static void
test_two_hosts_at_once(void **state)
{
	struct tev b[2], t[2][10];
	struct store *s[2];
	int h, i, stored = 0, dup = 0;

	(void)state;
	need_redis();
	s[0] = open_store(0, "c1");
	s[1] = open_store(0, "c2");
	freeReplyObject(rcmd("CLIENT PAUSE 300"));
	for (h = 0; h < 2; h++) {
		tev_init(&b[h], h ? "blocker-2" : "blocker-1", STORE_PUSH,
		    "{}", 2);
		store_submit(s[h], &b[h].ev);
	}
	sleep_ms(50);
	for (i = 0; i < 10; i++)
		for (h = 0; h < 2; h++) {
			tev_init(&t[h][i], "both", STORE_PUSH, "{}", 2);
			store_submit(s[h], &t[h][i].ev);
		}
	tev_wait(b, 2);
	for (h = 0; h < 2; h++) {
		tev_wait(t[h], 10);
		store_close(s[h]);
		for (i = 0; i < 10; i++) {
			stored += t[h][i].res == STORE_STORED;
			dup += t[h][i].res == STORE_DUPLICATE;
		}
	}
	assert_int_equal(stored, 1);
	assert_int_equal(dup, 19);
	assert_int_equal(rnum("XLEN sg:events"), 3);
}

static void
test_claim_released_when_xadd_fails(void **state)
{
	struct tev blocker, t[2];
	struct store_stats st;
	struct store *s;

	(void)state;
	need_redis();
	s = open_store(0, "c1");
	freeReplyObject(rcmd("SET sg:events not-a-stream"));
	assert_int_equal(put(s, "r", STORE_PUSH, NULL), STORE_FAILED);
	assert_int_equal(rnum("EXISTS sg:id:key1:r"), 0);

	/* two copies in one batch: the first failed, so does the second */
	writer_hold(s, &blocker, "blocker", 300);
	tev_init(&t[0], "twin", STORE_PUSH, "{}", 2);
	tev_init(&t[1], "twin", STORE_PUSH, "{}", 2);
	store_submit(s, &t[0].ev);
	store_submit(s, &t[1].ev);
	tev_wait(&blocker, 1);
	tev_wait(t, 2);
	assert_int_equal(t[0].res, STORE_FAILED);
	assert_int_equal(t[1].res, STORE_FAILED);
	assert_int_equal(rnum("EXISTS sg:id:key1:twin"), 0);

	freeReplyObject(rcmd("DEL sg:events"));
	assert_int_equal(put(s, "r", STORE_PUSH, NULL), STORE_STORED);
	assert_int_equal(put(s, "twin", STORE_PUSH, NULL), STORE_STORED);
	store_stats(s, &st);
	store_close(s);
	assert_int_equal(rnum("XLEN sg:events"), 2);
	assert_int_equal(st.failures, 4);
	assert_true(st.errors >= 2);
}

/* A claim there before: stored ("s:") is a duplicate, which learns the
 * stored body's hash when the claim has one; anything else (an older
 * streamgated's unfinished claim) is not known to be stored: 503. */
static void
test_claim_there_before(void **state)
{
	struct store *s;
	redisReply *r;
	char first[STORE_SHA256_HEX + 1];

	(void)state;
	need_redis();
	s = open_store(0, "c1");
	freeReplyObject(rcmd("SET sg:id:key1:q s:1-1 PX 60000"));
	assert_int_equal(put_as(s, "key1", "q", HASH_A, first),
	    STORE_DUPLICATE);
	assert_string_equal(first, "");		/* no hash in that claim */
	r = rcmd("GET sg:id:key1:q");
	assert_string_equal(r->str, "s:1-1");
	freeReplyObject(r);
	assert_true(rnum("PTTL sg:id:key1:q") <= 60000);	/* untouched */
	freeReplyObject(rcmd("SET sg:id:key1:h s:1-2:" HASH_B " PX 60000"));
	assert_int_equal(put_as(s, "key1", "h", HASH_A, first),
	    STORE_DUPLICATE);
	assert_string_equal(first, HASH_B);
	/* the old form of a claim, without the API key, is not this one */
	freeReplyObject(rcmd("SET sg:id:old s:1-3 PX 60000"));
	assert_int_equal(put(s, "old", STORE_PUSH, NULL), STORE_STORED);
	freeReplyObject(rcmd("SET sg:id:key1:p p:otherhost-1 PX 60000"));
	assert_int_equal(put(s, "p", STORE_PUSH, NULL), STORE_FAILED);
	r = rcmd("GET sg:id:key1:p");
	assert_string_equal(r->str, "p:otherhost-1");	/* not ours to drop */
	freeReplyObject(r);
	store_close(s);
	assert_int_equal(rnum("XLEN sg:events"), 1);
}

/*
 * One id from two API keys is two events, each with its own claim; an API
 * key with ':' in it cannot make its claim another pair's ("a:b" + "c" is
 * not "a" + "b:c").  A duplicate learns the stored copy's hash, also a
 * twin in the same batch.
 */
static void
test_claims_per_api_key(void **state)
{
	struct tev blocker, t[4];
	struct store *s;
	char first[STORE_SHA256_HEX + 1];
	static const char *const keys[4] = { "key1", "key2", "key1", "key2" };
	static const char *const hashes[4] = { HASH_A, HASH_B, HASH_B,
	    HASH_A };
	int i;

	(void)state;
	need_redis();
	s = open_store(0, "c1");
	assert_int_equal(put_as(s, "key1", "x", HASH_A, first), STORE_STORED);
	assert_int_equal(put_as(s, "key2", "x", HASH_B, first), STORE_STORED);
	assert_int_equal(put_as(s, "key1", "x", HASH_B, first),
	    STORE_DUPLICATE);
	assert_string_equal(first, HASH_A);
	assert_int_equal(put_as(s, "key2", "x", HASH_B, first),
	    STORE_DUPLICATE);
	assert_string_equal(first, HASH_B);
	assert_int_equal(rnum("EXISTS sg:id:key1:x sg:id:key2:x"), 2);

	assert_int_equal(put_as(s, "a:b", "c", HASH_A, first), STORE_STORED);
	assert_int_equal(put_as(s, "a", "b:c", HASH_A, first), STORE_STORED);
	assert_int_equal(put_as(s, "a%3Ab", "c", HASH_A, first),
	    STORE_STORED);
	assert_int_equal(rnum("EXISTS sg:id:a%%3Ab:c sg:id:a:b:c "
	    "sg:id:a%%253Ab:c"), 3);

	/* one batch: each key's first copy stored, its twin told its hash */
	writer_hold(s, &blocker, "blocker", 300);
	for (i = 0; i < 4; i++) {
		tev_init(&t[i], "batch", STORE_PUSH, "{}", 2);
		t[i].ev.api_key = keys[i];
		t[i].ev.body_sha256 = hashes[i];
		store_submit(s, &t[i].ev);
	}
	tev_wait(&blocker, 1);
	tev_wait(t, 4);
	store_close(s);
	assert_int_equal(t[0].res, STORE_STORED);
	assert_int_equal(t[1].res, STORE_STORED);
	assert_int_equal(t[2].res, STORE_DUPLICATE);
	assert_string_equal(t[2].ev.first_sha256, HASH_A);
	assert_int_equal(t[3].res, STORE_DUPLICATE);
	assert_string_equal(t[3].ev.first_sha256, HASH_B);
	assert_int_equal(rnum("XLEN sg:events"), 2 + 3 + 1 + 2);
}

/* The script gone from Redis's cache (SCRIPT FLUSH, a failover): NOSCRIPT,
 * sent again as EVAL, stored; EVALSHA works again after that. */
static void
test_script_flushed(void **state)
{
	struct store_stats st;
	struct store *s;
	redisReply *r;

	(void)state;
	need_redis();
	s = open_store(0, "c1");
	assert_int_equal(put(s, "f1", STORE_PUSH, NULL), STORE_STORED);
	freeReplyObject(rcmd("SCRIPT FLUSH"));
	freeReplyObject(rcmd("CONFIG RESETSTAT"));
	assert_int_equal(put(s, "f2", STORE_PUSH, NULL), STORE_STORED);
	assert_int_equal(put(s, "f2", STORE_PUSH, NULL), STORE_DUPLICATE);
	assert_int_equal(put(s, "f3", STORE_PUSH, NULL), STORE_STORED);
	r = rcmd("INFO commandstats");
	assert_non_null(strstr(r->str, "cmdstat_eval:calls=1,"));
	assert_non_null(strstr(r->str, "cmdstat_evalsha:calls=3,"));
	freeReplyObject(r);
	store_stats(s, &st);
	store_close(s);
	assert_int_equal(rnum("XLEN sg:events"), 3);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.failures, 0);
}

/* Redis dies and comes back on the same port: failures are quick, and the
 * store recovers without being reopened (delivery's group too). */
static void
test_redis_down_and_back(void **state)
{
	struct store_pending p[4];
	struct store_stats st;
	struct store *s;
	int64_t t0, dt, seq;
	int i;

	(void)state;
	need_redis();
	s = open_store(1, "c1");
	assert_int_equal(put(s, "before", STORE_PUSH, NULL), STORE_STORED);
	server_kill();
	t0 = clock_mono_ms();
	assert_int_equal(put(s, "while-down", STORE_PUSH, NULL), STORE_FAILED);
	dt = clock_mono_ms() - t0;
	print_message("failed %lld ms after Redis died\n", (long long)dt);
	assert_true(dt < 3000);
	for (i = 0; i < 5; i++) {	/* and keeps failing fast */
		t0 = clock_mono_ms();
		assert_int_equal(put(s, "while-down", STORE_PUSH, NULL),
		    STORE_FAILED);
		assert_true(clock_mono_ms() - t0 < 1500);
	}
	assert_int_equal(store_pending(s, 0, p, 4), -1);
	store_stats(s, &st);
	assert_int_equal(st.up, 0);
	assert_true(st.errors >= 1);

	assert_int_equal(server_start(), 0);
	for (t0 = clock_mono_ms(); clock_mono_ms() - t0 < 3000; sleep_ms(20)) {
		store_stats(s, &st);
		if (st.up)
			break;
	}
	print_message("up again %lld ms after Redis answered\n",
	    (long long)(clock_mono_ms() - t0));
	assert_int_equal(st.up, 1);
	assert_true(st.reconnects >= 1);
	assert_int_equal(put(s, "while-down", STORE_PUSH, &seq), STORE_STORED);
	/* Redis lost the group with its data: made again, from the start */
	assert_int_equal(store_pending(s, 0, p, 4), 1);
	assert_int_equal(p[0].seq, seq);
	store_close(s);
}

static void
test_delivery_round_trip(void **state)
{
	struct store_pending p[16];
	struct store_record rec;
	struct store_mark m;
	struct store_stats st;
	struct store *s;
	int64_t seq[4], h1, h2;
	redisReply *r;
	char id[48];
	int i;

	(void)state;
	need_redis();
	s = open_store(1, "c1");
	store_notify(s, on_notify, NULL);
	assert_int_equal(put(s, "e1", STORE_PUSH, &seq[0]), STORE_STORED);
	assert_int_equal(put(s, "bms", STORE_BEFORE_MESSAGE_SEND, &h1),
	    STORE_STORED);
	assert_int_equal(put(s, "e2", STORE_PUSH, &seq[1]), STORE_STORED);
	assert_int_equal(put(s, "cmd", STORE_CUSTOM_COMMAND, &h2),
	    STORE_STORED);
	assert_int_equal(put(s, "e3", STORE_PUSH, &seq[2]), STORE_STORED);
	assert_int_equal(notified_wait(3), 3);	/* push events only */

	/* hooks are acknowledged at once and never returned */
	assert_int_equal(store_pending(s, 0, p, 16), 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(p[i].seq, seq[i]);
		assert_string_equal(p[i].order_key, "cid:messaging:general");
		assert_int_equal(p[i].tries, 0);
		assert_int_equal(p[i].next_at, 0);
		assert_int_equal(p[i].received_at, 1700000000123LL);
	}
	r = rcmd("XPENDING sg:events sg");
	assert_int_equal(r->element[0]->integer, 3);
	freeReplyObject(r);

	assert_int_equal(store_fetch(s, seq[1], &rec), 0);
	assert_int_equal(rec.seq, seq[1]);
	assert_int_equal(rec.kind, STORE_PUSH);
	assert_string_equal(rec.webhook_id, "e2");
	assert_string_equal(rec.api_key, "key1");
	assert_string_equal(rec.event_type, "message.new");
	assert_string_equal(rec.cid, "messaging:general");
	assert_string_equal(rec.order_key, "cid:messaging:general");
	assert_string_equal(rec.signature, SIG);
	assert_string_equal(rec.target, TARGET);
	assert_int_equal(rec.attempt, 2);
	assert_int_equal(rec.body_len, BIN_LEN);
	assert_memory_equal(rec.body, bin_body, BIN_LEN);
	store_record_free(&rec);
	assert_int_equal(store_fetch(s, h2, &rec), 0);
	assert_int_equal(rec.kind, STORE_CUSTOM_COMMAND);
	assert_string_equal(rec.command, "giphy");
	store_record_free(&rec);
	assert_int_equal(store_fetch(s, seq[2] + 1, &rec), 1);

	memset(&m, 0, sizeof(m));
	m.seq = seq[0];
	m.state = STORE_DELIVERED;
	store_mark(s, &m);
	m.seq = seq[1];
	m.state = STORE_DEAD;
	m.tries = 12;
	snprintf(m.error, sizeof(m.error), "HTTP 500");
	store_mark(s, &m);
	m.seq = seq[2];
	m.state = STORE_PENDING;
	m.tries = 3;
	store_mark(s, &m);

	r = rcmd("XPENDING sg:events sg - + 10");
	assert_int_equal(r->elements, 1);
	assert_int_equal(seq_of(r->element[0]->element[0]->str), seq[2]);
	freeReplyObject(r);
	id[0] = '\0';
	r = rcmd("XRANGE sg:dead - +");
	assert_int_equal(r->elements, 1);
	assert_int_equal(r->element[0]->element[1]->elements, 30);
	assert_string_equal(r->element[0]->element[1]->element[1]->str, "e2");
	assert_memory_equal(r->element[0]->element[1]->element[17]->str,
	    bin_body, BIN_LEN);
	assert_string_equal(r->element[0]->element[1]->element[21]->str, SIG);
	assert_string_equal(r->element[0]->element[1]->element[25]->str,
	    HASH_A);
	assert_string_equal(r->element[0]->element[1]->element[26]->str,
	    "error");
	assert_string_equal(r->element[0]->element[1]->element[27]->str,
	    "HTTP 500");
	snprintf(id, sizeof(id), "%s",
	    r->element[0]->element[1]->element[29]->str);
	freeReplyObject(r);
	assert_int_equal(seq_of(id), seq[1]);
	assert_int_equal(rnum("HLEN sg:tries"), 1);

	/* the retry comes back with its tries; new ones after it */
	assert_int_equal(store_pending(s, 0, p, 16), 1);
	assert_int_equal(p[0].seq, seq[2]);
	assert_int_equal(p[0].tries, 3);
	assert_int_equal(store_fetch(s, seq[2], &rec), 0);
	assert_int_equal(rec.tries, 3);
	store_record_free(&rec);
	assert_int_equal(store_pending(s, seq[2], p, 16), 0);
	assert_int_equal(put(s, "e4", STORE_PUSH, &seq[3]), STORE_STORED);
	assert_int_equal(store_pending(s, seq[2], p, 16), 1);
	assert_int_equal(p[0].seq, seq[3]);

	/* the gauges: e3 and e4 pending, e2 dead */
	sleep_ms(1300);
	store_stats(s, &st);
	store_close(s);
	assert_int_equal(st.pending, 2);
	assert_int_equal(st.dead, 1);
	assert_int_equal(st.oldest_pending_ms, seq[2] >> 20);
	(void)h1;
}

/* Another consumer (a host that is gone) left an entry idle: ours now. */
static void
test_autoclaim(void **state)
{
	struct store_pending p[4];
	struct store *s;
	int64_t seq;
	redisReply *r;
	char id[48];

	(void)state;
	need_redis();
	s = open_store(1, "c1");
	assert_int_equal(put(s, "orphan", STORE_PUSH, &seq), STORE_STORED);
	r = rcmd("XREADGROUP GROUP sg c2 COUNT 10 STREAMS sg:events >");
	snprintf(id, sizeof(id), "%s",
	    r->element[0]->element[1]->element[0]->element[0]->str);
	freeReplyObject(r);
	/* c2 has it; c1's new-entry read does not see it */
	assert_int_equal(store_pending(s, seq, p, 4), 0);
	assert_int_equal(store_pending(s, 0, p, 4), 0);	/* not idle yet */
	freeReplyObject(rcmd("XCLAIM sg:events sg c2 0 %s IDLE 400000", id));
	assert_int_equal(store_pending(s, 0, p, 4), 1);
	assert_int_equal(p[0].seq, seq);
	r = rcmd("XPENDING sg:events sg - + 10 c1");
	assert_int_equal(r->elements, 1);
	freeReplyObject(r);
	store_close(s);
}

/* The order key as given, "user:" too; a newer entry's empty key is no
 * key, even with a cid (only an entry without the field falls back). */
static void
test_order_keys(void **state)
{
	struct store_pending p[4];
	struct store_record rec;
	struct tev t[2];
	struct store *s;

	(void)state;
	need_redis();
	s = open_store(1, "c1");
	tev_init(&t[0], "u1", STORE_PUSH, "{}", 2);
	t[0].ev.cid = NULL;
	t[0].ev.order_key = "user:42";
	tev_init(&t[1], "n1", STORE_PUSH, "{}", 2);
	t[1].ev.order_key = "";
	t[1].ev.signature = NULL;
	t[1].ev.target = NULL;
	store_submit(s, &t[0].ev);
	store_submit(s, &t[1].ev);
	tev_wait(t, 2);
	assert_int_equal(t[0].res, STORE_STORED);
	assert_int_equal(t[1].res, STORE_STORED);
	assert_int_equal(store_pending(s, 0, p, 4), 2);
	assert_int_equal(p[0].seq, t[0].ev.seq);
	assert_string_equal(p[0].order_key, "user:42");
	assert_int_equal(p[1].seq, t[1].ev.seq);
	assert_string_equal(p[1].order_key, "");
	assert_int_equal(store_fetch(s, t[0].ev.seq, &rec), 0);
	assert_string_equal(rec.order_key, "user:42");
	assert_string_equal(rec.cid, "");
	assert_string_equal(rec.signature, SIG);
	assert_string_equal(rec.target, TARGET);
	store_record_free(&rec);
	assert_int_equal(store_fetch(s, t[1].ev.seq, &rec), 0);
	assert_string_equal(rec.signature, "");
	assert_string_equal(rec.target, "");
	store_record_free(&rec);
	store_close(s);
}

static void
test_seq_mapping(void **state)
{
	struct store_pending p[4];
	struct store_record rec;
	struct store *s;

	(void)state;
	need_redis();
	s = open_store(1, "c1");
	/* N = 2^20 does not fit in 20 bits: logged, not returned */
	freeReplyObject(rcmd("XADD sg:events 1-1048576 kind push body x"));
	freeReplyObject(rcmd("XADD sg:events 2-5 kind push cid c body y"));
	freeReplyObject(rcmd("XADD sg:events 2-1048575 kind push body z"));
	assert_int_equal(store_pending(s, 0, p, 4), 2);
	assert_int_equal(p[0].seq, (2LL << 20) | 5);
	/* from before order keys: by its channel, as then */
	assert_string_equal(p[0].order_key, "cid:c");
	assert_int_equal(p[1].seq, (2LL << 20) | 1048575);
	assert_string_equal(p[1].order_key, "");
	assert_int_equal(store_fetch(s, (2LL << 20) | 1048575, &rec), 0);
	assert_int_equal(rec.body_len, 1);
	assert_memory_equal(rec.body, "z", 1);
	store_record_free(&rec);
	store_close(s);
}

static void
test_open_errors(void **state)
{
	struct store_options o = { .dedup_window_ms = 1000, .retention_ms = 0, .redis_prefix = "sg",
	    .consumer = "c1", .deliver = 0, .dedup_max_ids = 0 };
	char err[256], bad[64];
	int64_t t0;
	int p;

	(void)state;
	need_redis();
	p = free_port();
	snprintf(bad, sizeof(bad), "redis://127.0.0.1:%d", p);
	t0 = clock_mono_ms();
	assert_null(store_open(bad, &o, err, sizeof(err)));
	assert_true(clock_mono_ms() - t0 < 2000);
	assert_non_null(strstr(err, "unreachable"));
	assert_non_null(strstr(err, bad + 8));
	snprintf(bad, sizeof(bad), "redis://[::1]:%d/2", p);
	assert_null(store_open(bad, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "redis [::1]:"));
	assert_non_null(strstr(err, "unreachable"));
	assert_null(store_open("redis://127.0.0.1", &o, err, sizeof(err)));
	assert_non_null(strstr(err, "redis://HOST:PORT"));
	snprintf(bad, sizeof(bad), "redis://127.0.0.1:%d/300", port);
	assert_null(store_open(bad, &o, err, sizeof(err)));
	/* a DB that exists is selected */
	snprintf(bad, sizeof(bad), "redis://127.0.0.1:%d/3", port);
	{
		struct store *s = store_open(bad, &o, err, sizeof(err));

		assert_non_null(s);
		assert_int_equal(put(s, "in-db-3", STORE_PUSH, NULL),
		    STORE_STORED);
		store_close(s);
	}
	assert_int_equal(rnum("EXISTS sg:events"), 0);
	freeReplyObject(rcmd("SELECT 3"));
	assert_int_equal(rnum("EXISTS sg:events"), 1);
	freeReplyObject(rcmd("SELECT 0"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_stored_then_duplicate, setup),
		cmocka_unit_test_setup(test_twins_in_one_batch, setup),
		cmocka_unit_test_setup(test_two_hosts_at_once, setup),
		cmocka_unit_test_setup(test_claim_released_when_xadd_fails,
		    setup),
		cmocka_unit_test_setup(test_claim_there_before, setup),
		cmocka_unit_test_setup(test_claims_per_api_key, setup),
		cmocka_unit_test_setup(test_script_flushed, setup),
		cmocka_unit_test_setup(test_delivery_round_trip, setup),
		cmocka_unit_test_setup(test_autoclaim, setup),
		cmocka_unit_test_setup(test_order_keys, setup),
		cmocka_unit_test_setup(test_seq_mapping, setup),
		cmocka_unit_test_setup(test_open_errors, setup),
		cmocka_unit_test_setup(test_redis_down_and_back, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
