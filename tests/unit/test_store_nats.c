/*
 * test_store_nats.c: the NATS JetStream store.  The headers' encoding (no
 * CR or LF from the network ever reaches a header) and the dedup id; the
 * URI; the files of nats.ca and nats.creds checked before any connect;
 * then against a real nats-server of its own (JetStream, 127.0.0.1,
 * a free port, a temp dir): 3 replicas refused by a single node, stored
 * then duplicate, one id per API key, and the delivery side (pending,
 * fetch with every field, delivered, a retry kept, dead copied).
 * Without /usr/sbin/nats-server those tests are skipped (CI counts a skip
 * as a failure).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "store.h"
#include "store_nats.h"

#define NATS_SERVER	"/usr/sbin/nats-server"

static pid_t server_pid;
static char uri[64], dir[64];

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
server_stop(void)
{
	char cmd[128];

	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
}

static int
server_start(void)
{
	char port[16];
	int i;

	if (access(NATS_SERVER, X_OK) != 0)
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/sg-nats-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(port, sizeof(port), "%d", free_port());
	snprintf(uri, sizeof(uri), "nats://127.0.0.1:%s", port);
	if ((server_pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* never outlives us */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		execl(NATS_SERVER, "nats-server", "-a", "127.0.0.1", "-p", port,
		    "-js", "-sd", dir, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons((uint16_t)atoi(port));
		ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			return 0;
		usleep(50000);
	}
	return -1;
}

static int
setup(void **state)
{
	(void)state;
	if (server_start() == -1)
		server_pid = 0;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	server_stop();
	return 0;
}

#define NEED_SERVER() do {						\
	if (server_pid == 0)						\
		skip();							\
} while (0)

/* ---- the pure parts ---- */

static void
test_hdr_codec(void **state)
{
	char enc[64], dec[64];

	(void)state;
	assert_int_equal(store_nats_hdr_encode("a\r\nb%c\x7f", enc,
	    sizeof(enc)), 0);
	assert_string_equal(enc, "a%0D%0Ab%25c%7F");
	store_nats_hdr_decode(enc, dec, sizeof(dec));
	assert_string_equal(dec, "a\r\nb%c\x7f");
	assert_int_equal(store_nats_hdr_encode("\n\n\n", enc, 8), -1);
	store_nats_hdr_decode("50%", dec, sizeof(dec));	/* cut: as is */
	assert_string_equal(dec, "50%");
}

static void
test_msg_id(void **state)
{
	char id[32];

	(void)state;
	assert_int_equal(store_nats_msg_id("k:1%", "w", id, sizeof(id)), 0);
	assert_string_equal(id, "k%3A1%25:w");
	/* "k:1" + "x" and "k" + "1:x" are two ids */
	assert_int_equal(store_nats_msg_id("k", "1:x", id, sizeof(id)), 0);
	assert_string_equal(id, "k:1:x");
	assert_int_equal(store_nats_msg_id("key", "0123456789012345678901234567",
	    id, sizeof(id)), -1);
}

static void
test_conf(void **state)
{
	struct store_options opt = { 0 };
	struct store_nats_conf c;
	char err[256];

	(void)state;
	assert_int_equal(store_nats_conf(&c, "nats://a:1,b:2,[::1]:3", &opt,
	    err, sizeof(err)), 0);
	assert_int_equal(c.nservers, 3);
	assert_string_equal(c.servers[2], "nats://[::1]:3");
	assert_string_equal(c.stream, "STREAMGATE");
	assert_string_equal(c.dead, "STREAMGATE_DEAD");
	assert_string_equal(c.subj_events, "streamgate.event.>");
	assert_int_equal(c.replicas, 3);
	assert_int_equal(store_nats_conf(&c, "tls://a:4222", &opt, err,
	    sizeof(err)), 0);
	assert_true(c.tls);
	assert_string_equal(c.servers[0], "tls://a:4222");
	assert_int_equal(store_nats_conf(&c, "nats://a:1,", &opt, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "nats://HOST:PORT"));
	assert_int_equal(store_nats_conf(&c, "nats://a", &opt, err,
	    sizeof(err)), -1);
	assert_int_equal(store_nats_conf(&c, "nats://a:0", &opt, err,
	    sizeof(err)), -1);
}

/* write_file PATH MODE TEXT */
static void
write_file(const char *path, mode_t mode, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* conf_err URI CREDS CA WANT: store_nats_conf refuses, err has WANT */
static void
conf_err(const char *u, const char *creds, const char *ca, const char *want)
{
	struct store_options opt = { .nats_creds = creds, .nats_ca = ca };
	struct store_nats_conf c;
	char err[512];

	assert_int_equal(store_nats_conf(&c, u, &opt, err, sizeof(err)), -1);
	if (strstr(err, want) == NULL)
		fail_msg("want '%s' in '%s'", want, err);
}

/* Missing, unreadable, malformed: refused naming the key, no connect. */
static void
test_conf_files(void **state)
{
	static const char jwt[] = "-----BEGIN NATS USER JWT-----\nx.y.z\n"
	    "------END NATS USER JWT------\n";
	static const char seed[] = "-----BEGIN USER NKEY SEED-----\nSUA\n"
	    "------END USER NKEY SEED------\n";
	struct store_options opt = { 0 };
	struct store_nats_conf c;
	char tmp[] = "/tmp/test_store_nats.XXXXXX", creds[64], ca[64];
	char both[256], err[512], none[64];

	(void)state;
	assert_non_null(mkdtemp(tmp));
	snprintf(creds, sizeof(creds), "%s/u.creds", tmp);
	snprintf(ca, sizeof(ca), "%s/ca.pem", tmp);
	snprintf(none, sizeof(none), "%s/none", tmp);
	snprintf(both, sizeof(both), "%s%s", jwt, seed);
	write_file(creds, 0600, both);
	write_file(ca, 0644, "a CA bundle: libnats reads it\n");
	opt.nats_creds = creds;
	opt.nats_ca = ca;
	assert_int_equal(store_nats_conf(&c, "tls://a:1", &opt, err,
	    sizeof(err)), 0);
	assert_string_equal(c.creds, creds);
	assert_string_equal(c.ca, ca);
	conf_err("nats://a:1", NULL, ca, "nats.ca is set but the store is "
	    "nats://");
	conf_err("tls://a:1", NULL, none, "nats.ca: ");
	conf_err("tls://a:1", NULL, tmp, "not a regular file");
	conf_err("nats://a:1", none, NULL, "nats.creds: ");
	write_file(creds, 0600, jwt);
	conf_err("nats://a:1", creds, NULL, "no user seed");
	write_file(creds, 0600, seed);
	conf_err("nats://a:1", creds, NULL, "no user JWT");
	write_file(creds, 0640, both);
	conf_err("nats://a:1", creds, NULL, "readable by group or others "
	    "(mode 0640)");
	assert_int_equal(unlink(creds), 0);
	assert_int_equal(unlink(ca), 0);
	assert_int_equal(rmdir(tmp), 0);
}

/* ---- against nats-server ---- */

struct waiter {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 done;
	enum store_result res;
};

static void
done_cb(struct store_event *ev, enum store_result res, void *arg)
{
	struct waiter *w = arg;

	(void)ev;
	pthread_mutex_lock(&w->lock);
	w->res = res;
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static enum store_result
put(struct store *s, const char *key, const char *id, int64_t *seq)
{
	static const char body[] = "{\"type\":\"message.new\"}";
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER,
	    PTHREAD_COND_INITIALIZER, 0, STORE_FAILED };
	struct store_event ev = {
		.kind = STORE_PUSH, .state = STORE_PENDING, .webhook_id = id,
		.event_type = "message.new", .api_key = key, .attempt = 2,
		.cid = "messaging:a\r\nb", .order_key = "cid:messaging:a",
		.signature = "abcd", .target = "/hook?x=1",
		.received_at = 1700000000123, .body = (const uint8_t *)body,
		.body_len = sizeof(body) - 1, .done = done_cb, .arg = &w,
	};

	store_submit(s, &ev);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	if (seq != NULL)
		*seq = ev.seq;
	return w.res;
}

static struct store *
open_store(int replicas, int deliver, const char *stream, char *err,
    size_t errlen)
{
	struct store_options opt = {
		.dedup_window_ms = 60000, .nats_stream = stream,
		.nats_prefix = stream, .nats_replicas = replicas,
		.deliver = deliver, .max_attempts = 3, .ack_wait_ms = 5000,
		.consumer = "test",
	};
	struct store *s = store_open(uri, &opt, err, errlen);

	/* JetStream's window is an hour at most: the workers' cache stays */
	if (s != NULL)
		assert_int_equal(store_dedups_window(s), 0);
	return s;
}

static void
test_replicas_refused(void **state)
{
	char err[512];

	(void)state;
	NEED_SERVER();
	assert_null(open_store(3, 0, "R3", err, sizeof(err)));
	assert_non_null(strstr(err, "stream R3"));
}

static void
test_store_dup(void **state)
{
	struct store *s;
	struct store_stats st;
	char err[512];
	int64_t seq = 0, seq2 = 0;

	(void)state;
	NEED_SERVER();
	assert_non_null(s = open_store(1, 0, "DUP", err, sizeof(err)));
	assert_int_equal(put(s, "k1", "w1", &seq), STORE_STORED);
	assert_int_equal(seq, 1);
	assert_int_equal(put(s, "k1", "w1", &seq2), STORE_DUPLICATE);
	assert_int_equal(seq2, 1);		/* the first copy's */
	assert_int_equal(put(s, "k2", "w1", &seq2), STORE_STORED);
	assert_int_equal(seq2, 2);
	store_stats(s, &st);
	assert_int_equal(st.events, 2);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.ack_count, 3);
	assert_int_equal(st.up, 1);
	store_close(s);
}

static void
test_delivery(void **state)
{
	struct store_pending p[8];
	struct store_record r;
	struct store_mark m = { 0 };
	struct store *s;
	char err[512];
	int n, i;

	(void)state;
	NEED_SERVER();
	assert_non_null(s = open_store(1, 1, "DLV", err, sizeof(err)));
	assert_int_equal(put(s, "k", "a", NULL), STORE_STORED);
	assert_int_equal(put(s, "k", "b", NULL), STORE_STORED);
	for (i = 0, n = 0; i < 20 && n < 2; i++)
		n = store_pending(s, 0, p, 8);
	assert_int_equal(n, 2);
	assert_int_equal(p[0].seq, 1);
	assert_string_equal(p[0].order_key, "cid:messaging:a");
	assert_int_equal(p[0].received_at, 1700000000123);
	assert_int_equal(store_fetch(s, 1, &r), 0);
	assert_string_equal(r.webhook_id, "a");
	assert_string_equal(r.cid, "messaging:a\r\nb");	/* as received */
	assert_string_equal(r.target, "/hook?x=1");
	assert_string_equal(r.signature, "abcd");
	assert_int_equal(r.attempt, 2);
	assert_int_equal(r.body_len, strlen("{\"type\":\"message.new\"}"));
	store_record_free(&r);
	m.seq = 1;
	m.state = STORE_DELIVERED;
	store_mark(s, &m);
	assert_int_equal(store_fetch(s, 1, &r), 1);	/* settled */
	m.seq = 2;
	m.state = STORE_PENDING;
	m.tries = 1;
	store_mark(s, &m);
	assert_int_equal(store_pending(s, 0, p, 8), 1);
	assert_int_equal(p[0].tries, 1);		/* still ours */
	m.state = STORE_DEAD;
	m.tries = 3;
	snprintf(m.error, sizeof(m.error), "status 500");
	store_mark(s, &m);
	assert_int_equal(store_pending(s, 0, p, 8), 0);
	store_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_codec),
		cmocka_unit_test(test_msg_id),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_conf_files),
		cmocka_unit_test(test_replicas_refused),
		cmocka_unit_test(test_store_dup),
		cmocka_unit_test(test_delivery),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
