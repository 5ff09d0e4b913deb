/*
 * test_tls.c: daemon/streamgated/tls.c without sockets.  Certificates are made here
 * into a temporary directory; handshakes run between two SSL objects over
 * a BIO pair.  Covers the refusals (naming the file), versions and ALPN,
 * resumption by ticket, ticket key rotation (a 1 s period), tickets kept
 * across a new set of contexts (a reload) and not taken by another
 * listener, and the non-blocking I/O calls.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "tls.h"

struct fix {
	char			 dir[64];
	struct config		 cfg;
	struct tls_tickets	*tickets;
	struct tls_set		*set;
};

static void
path(const struct fix *f, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", f->dir, name);
}

/* NAME.crt and NAME.key: a self-signed P-256 pair, the key mode 0600. */
static void
pair_make(const struct fix *f, const char *name)
{
	char crt[128], key[128];
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	FILE *fp;
	int fd;

	assert_non_null(pk);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)name, -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	snprintf(crt, sizeof(crt), "%s/%s.crt", f->dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", f->dir, name);
	assert_non_null(fp = fopen(crt, "w"));
	assert_int_equal(PEM_write_X509(fp, x), 1);
	fclose(fp);
	assert_true((fd = open(key, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	assert_int_equal(PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL,
	    NULL), 1);
	fclose(fp);
	X509_free(x);
	EVP_PKEY_free(pk);
}

/* listen[i] on addr with NAME's pair */
static void
listen_set(struct fix *f, size_t i, const char *addr, const char *crt,
    const char *key)
{
	struct config_listen *l = &f->cfg.listen[i];
	char c[128], k[128];

	assert_int_equal(config_parse_addr(addr, l), 0);
	path(f, c, sizeof(c), crt);
	path(f, k, sizeof(k), key);
	memcpy(l->tls_cert, c, sizeof(c));
	memcpy(l->tls_key, k, sizeof(k));
	if (f->cfg.nlisten <= i)
		f->cfg.nlisten = i + 1;
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tls.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	pair_make(f, "a");
	pair_make(f, "b");
	config_defaults(&f->cfg);
	f->cfg.nlisten = 0;
	listen_set(f, 0, "127.0.0.1:8443", "a.crt", "a.key");
	listen_set(f, 1, "127.0.0.1:8444", "a.crt", "a.key");
	if ((f->tickets = tls_tickets_new(1)) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	tls_set_free(f->set);
	tls_tickets_free(f->tickets);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct tls_set *
set_ok(struct fix *f)
{
	char err[1024] = "";
	struct tls_set *set = tls_set_new(&f->cfg, f->tickets, err,
	    sizeof(err));

	if (set == NULL)
		fail_msg("tls_set_new: %s", err);
	return set;
}

static void
set_bad(struct fix *f, const char *want1, const char *want2)
{
	char err[1024] = "";

	assert_null(tls_set_new(&f->cfg, f->tickets, err, sizeof(err)));
	if (strstr(err, want1) == NULL || strstr(err, want2) == NULL)
		fail_msg("'%s' does not say '%s' and '%s'", err, want1, want2);
	assert_null(strstr(err, "PRIVATE KEY"));
	assert_int_equal(ERR_peek_error(), 0);	/* the queue left empty */
}

static void
test_refusals(void **state)
{
	struct fix *f = *state;
	char key[128], junk[128];
	FILE *fp;

	path(f, key, sizeof(key), "none.key");
	listen_set(f, 0, "127.0.0.1:8443", "a.crt", "none.key");
	set_bad(f, key, "No such file or directory");

	path(f, key, sizeof(key), "b.key");
	listen_set(f, 0, "127.0.0.1:8443", "a.crt", "b.key");
	set_bad(f, key, "does not match the certificate");

	path(f, junk, sizeof(junk), "junk.crt");
	assert_non_null(fp = fopen(junk, "w"));
	fputs("not a certificate\n", fp);
	fclose(fp);
	listen_set(f, 0, "127.0.0.1:8443", "junk.crt", "a.key");
	set_bad(f, junk, "no PEM certificate");

	path(f, junk, sizeof(junk), "junk.key");
	assert_non_null(fp = fopen(junk, "w"));
	fputs("not a key\n", fp);
	fclose(fp);
	assert_int_equal(chmod(junk, 0600), 0);
	listen_set(f, 0, "127.0.0.1:8443", "a.crt", "junk.key");
	set_bad(f, junk, "no PEM private key");

	path(f, key, sizeof(key), "a.key");
	assert_int_equal(chmod(key, 0644), 0);
	listen_set(f, 0, "127.0.0.1:8443", "a.crt", "a.key");
	set_bad(f, key, "readable or writable by others");
	assert_int_equal(chmod(key, 0640), 0);	/* group: allowed */
	tls_set_free(set_ok(f));

	/* the first bad listener fails the whole set */
	listen_set(f, 1, "127.0.0.1:8444", "a.crt", "b.key");
	set_bad(f, "b.key", "does not match");
}

static void
test_plaintext(void **state)
{
	struct fix *f = *state;
	struct tls_set *set;

	f->cfg.listen[0].tls_cert[0] = f->cfg.listen[0].tls_key[0] = '\0';
	f->cfg.nlisten = 1;
	set = set_ok(f);
	assert_int_equal(set->n, 0);
	assert_null(set->ctx[0]);
	tls_set_free(set);
}

/* ---- handshakes in memory ---- */

static SSL_CTX *
client_ctx(int version, const char *alpn)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	if (alpn != NULL)
		assert_int_equal(SSL_CTX_set_alpn_protos(ctx,
		    (const unsigned char *)alpn, strlen(alpn)), 0);
	return ctx;
}

struct result {
	int		 ok;
	int		 reused;
	int		 version;
	char		 alpn[16];
	SSL_SESSION	*session;	/* the client's, with its ticket */
};

/* One connection: handshake, then a byte each way (a TLS 1.3 ticket
 * arrives after the handshake, ahead of the server's first byte). */
static struct result
connect_mem(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *offer)
{
	struct result r = { 0 };
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	const unsigned char *p;
	unsigned int plen;
	BIO *bc, *bs;
	int i, cdone = 0, sdone = 0, hs;
	char b;

	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	if (offer != NULL)
		SSL_set_session(c, offer);
	for (i = 0; i < 20 && !(cdone && sdone); i++) {
		if (!cdone && SSL_do_handshake(c) == 1)
			cdone = 1;
		if (!sdone) {
			hs = tls_handshake(s);
			if (hs == -1)
				break;
			sdone = hs == 0;
		}
	}
	ERR_clear_error();
	if (cdone && sdone) {
		assert_int_equal(tls_read(s, &b, 1), TLS_WANT_POLLIN);
		assert_int_equal(tls_write(s, "x", 1), 1);
		assert_int_equal(SSL_read(c, &b, 1), 1);
		assert_int_equal(SSL_write(c, "y", 1), 1);
		assert_int_equal(tls_read(s, &b, 1), 1);
		assert_int_equal(b, 'y');
		r.ok = 1;
		r.reused = SSL_session_reused(c);
		r.version = SSL_version(c);
		SSL_get0_alpn_selected(c, &p, &plen);
		if (plen > 0 && plen < sizeof(r.alpn))
			memcpy(r.alpn, p, plen);
		r.session = SSL_get1_session(c);
		tls_close(s);
		assert_int_equal(SSL_read(c, &b, 1), 0);	/* notify */
		assert_int_equal(SSL_get_error(c, 0), SSL_ERROR_ZERO_RETURN);
		/* a client that leaves without its own close_notify has
		 * its session marked not resumable by SSL_free */
		assert_int_equal(SSL_shutdown(c), 1);
	}
	SSL_free(c);
	SSL_free(s);
	return r;
}

static void
test_versions_alpn(void **state)
{
	struct fix *f = *state;
	SSL_CTX *c;
	struct result r;

	f->set = set_ok(f);
	assert_int_equal(f->set->n, 2);
	c = client_ctx(TLS1_2_VERSION, "\x02h2\x08http/1.1");
	r = connect_mem(c, f->set->ctx[0], NULL);
	assert_true(r.ok);
	assert_int_equal(r.version, TLS1_2_VERSION);
	assert_string_equal(r.alpn, "http/1.1");
	SSL_SESSION_free(r.session);
	SSL_CTX_free(c);

	c = client_ctx(TLS1_3_VERSION, NULL);	/* no ALPN: served */
	r = connect_mem(c, f->set->ctx[0], NULL);
	assert_true(r.ok);
	assert_int_equal(r.version, TLS1_3_VERSION);
	assert_string_equal(r.alpn, "");
	SSL_SESSION_free(r.session);
	SSL_CTX_free(c);

	c = client_ctx(TLS1_3_VERSION, "\x02h2");	/* h2 alone: refused */
	assert_false(connect_mem(c, f->set->ctx[0], NULL).ok);
	SSL_CTX_free(c);

	c = client_ctx(TLS1_1_VERSION, NULL);
	SSL_CTX_set_security_level(c, 0);
	assert_false(connect_mem(c, f->set->ctx[0], NULL).ok);
	SSL_CTX_free(c);
}

/* Resume n times in a row, each time from the last connection's
 * session: a TLS 1.3 ticket is used once, so each must bring the next. */
static void
resume_chain(SSL_CTX *c, SSL_CTX *s, int n)
{
	struct result r = connect_mem(c, s, NULL);
	SSL_SESSION *sess;
	int i;

	assert_true(r.ok);
	assert_false(r.reused);
	for (i = 0; i < n; i++) {
		sess = r.session;
		r = connect_mem(c, s, sess);
		SSL_SESSION_free(sess);
		assert_true(r.ok);
		if (!r.reused)
			fail_msg("connection %d not resumed", i + 2);
	}
	SSL_SESSION_free(r.session);
}

static void
test_resume(void **state)
{
	struct fix *f = *state;
	SSL_CTX *c12 = client_ctx(TLS1_2_VERSION, NULL);
	SSL_CTX *c13 = client_ctx(TLS1_3_VERSION, NULL);

	f->set = set_ok(f);
	resume_chain(c12, f->set->ctx[0], 3);
	resume_chain(c13, f->set->ctx[0], 3);
	SSL_CTX_free(c12);
	SSL_CTX_free(c13);
}

/* A reload (a new set, a new certificate, the same ticket keys) resumes;
 * another listener does not take the ticket. */
static void
test_reload_and_listeners(void **state)
{
	struct fix *f = *state;
	SSL_CTX *c = client_ctx(TLS1_3_VERSION, NULL);
	struct tls_set *next;
	struct result r, again;

	f->set = set_ok(f);
	r = connect_mem(c, f->set->ctx[0], NULL);
	assert_true(r.ok);
	listen_set(f, 0, "127.0.0.1:8443", "b.crt", "b.key");
	next = set_ok(f);
	again = connect_mem(c, next->ctx[0], r.session);
	assert_true(again.ok && again.reused);
	SSL_SESSION_free(again.session);
	again = connect_mem(c, next->ctx[1], r.session);
	assert_true(again.ok);
	assert_false(again.reused);
	SSL_SESSION_free(again.session);
	SSL_SESSION_free(r.session);
	tls_set_free(next);
	SSL_CTX_free(c);
}

/*
 * Period 1 s: a ticket sealed at 0 opens at 1.2 s (previous key, and a
 * fresh ticket comes back) and no longer at 2.2 s, when the fresh one
 * still does.  The session timeout (one period, whole seconds, counted
 * from the full handshake) is lifted here so the keys alone decide.
 */
static void
test_rotation(void **state)
{
	struct fix *f = *state;
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, NULL);
	struct result first, r, fresh;

	f->set = set_ok(f);
	SSL_CTX_set_timeout(f->set->ctx[0], 3600);
	first = connect_mem(c, f->set->ctx[0], NULL);
	assert_true(first.ok);
	r = connect_mem(c, f->set->ctx[0], first.session);
	assert_true(r.ok && r.reused);
	SSL_SESSION_free(r.session);
	usleep(1200 * 1000);
	fresh = connect_mem(c, f->set->ctx[0], first.session);
	assert_true(fresh.ok && fresh.reused);
	usleep(1000 * 1000);
	r = connect_mem(c, f->set->ctx[0], first.session);
	assert_true(r.ok);
	if (r.reused)
		fail_msg("a ticket two periods old was taken");
	SSL_SESSION_free(r.session);
	r = connect_mem(c, f->set->ctx[0], fresh.session);
	assert_true(r.ok);
	if (!r.reused)
		fail_msg("the ticket renewed at 1.2 s was refused at 2.2 s");
	SSL_SESSION_free(r.session);
	SSL_SESSION_free(fresh.session);
	SSL_SESSION_free(first.session);
	SSL_CTX_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plaintext, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_versions_alpn, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_and_listeners,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
