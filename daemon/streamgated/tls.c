/*
 * tls.c: TLS contexts, session tickets and non-blocking I/O (see tls.h).
 *
 * The certificate and key are read into memory by us, not by OpenSSL's
 * file loaders, so a refusal says which file and why in our words
 * ("No such file or directory", "does not match the certificate ...");
 * the key's buffer is wiped as soon as OpenSSL has parsed it.
 *
 * Resumption is by tickets only: the server keeps no session cache, so
 * nothing per client lives here and every worker can resume any session.
 * The ticket keys belong to the daemon, not to a context: a reload builds
 * new contexts around the same keys, and a client resumes across a
 * certificate renewal.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "clock.h"
#include "log.h"
#include "tls.h"

#define TLS_FILE_MAX	(1 << 20)	/* far above any PEM chain */

/* TLS 1.2: forward secrecy and AEAD only (Mozilla "intermediate").  TLS
 * 1.3 keeps OpenSSL's suites, which are all AEAD. */
#define TLS_CIPHERS12	"ECDHE-ECDSA-AES128-GCM-SHA256:"		\
			"ECDHE-RSA-AES128-GCM-SHA256:"			\
			"ECDHE-ECDSA-AES256-GCM-SHA384:"		\
			"ECDHE-RSA-AES256-GCM-SHA384:"			\
			"ECDHE-ECDSA-CHACHA20-POLY1305:"		\
			"ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS	"X25519:P-256:P-384"

struct tls_ticket_key {
	unsigned char	name[16];
	unsigned char	aes[32];
	unsigned char	hmac[32];
	int64_t		born;		/* monotonic ms: began to seal */
	int		live;
};

/*
 * key[0] seals for one period from its birth; a ticket lives no longer
 * than that period (the session timeout), so a key must open tickets for
 * two periods from its birth: after it stops sealing it stays as key[1].
 * Rotation is lazy, on the first ticket sealed or opened past the period,
 * so an idle daemon does no work for it.
 */
struct tls_tickets {
	struct tls_ticket_key	 key[2];	/* current, previous */
	pthread_mutex_t		 lock;		/* workers seal at once */
	EVP_CIPHER		*cipher;
	int64_t			 period;	/* ms */
};

struct tls_file {
	char	*buf;
	size_t	 len;
};

/* "tls: FILE: why", with OpenSSL's reason when it left one.  Never a
 * byte of the file. */
static void
tls_err(char *err, size_t errlen, const char *file, const char *why)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (r != NULL)
		log_errbuf(err, errlen, "tls: %s: %s (%s)", file, why, r);
	else
		log_errbuf(err, errlen, "tls: %s: %s", file, why);
	ERR_clear_error();
}

/* ---- session tickets ---- */

struct tls_tickets *
tls_tickets_new(unsigned period_s)
{
	struct tls_tickets *t;

	/* a page of its own, kept out of core dumps and swap when allowed */
	t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	(void)madvise(t, sizeof(*t), MADV_DONTDUMP);
	(void)mlock(t, sizeof(*t));
	t->period = (int64_t)period_s * 1000;
	/* fetched once: an implicit fetch per ticket would cost a lookup */
	if ((t->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL) {
		munmap(t, sizeof(*t));
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void
tls_tickets_free(struct tls_tickets *t)
{
	if (t == NULL)
		return;
	OPENSSL_cleanse(t->key, sizeof(t->key));
	EVP_CIPHER_free(t->cipher);
	pthread_mutex_destroy(&t->lock);
	(void)munlock(t, sizeof(*t));
	munmap(t, sizeof(*t));
}

/* With the lock held: rotate when the current key is a period old. */
static int
tickets_age(struct tls_tickets *t, int64_t now)
{
	struct tls_ticket_key *cur = &t->key[0], *prev = &t->key[1];

	if (cur->live && now - cur->born < t->period)
		return 0;
	OPENSSL_cleanse(prev, sizeof(*prev));
	if (cur->live && now - cur->born < 2 * t->period)
		memcpy(prev, cur, sizeof(*prev));
	OPENSSL_cleanse(cur, sizeof(*cur));
	if (RAND_bytes(cur->name, sizeof(cur->name)) != 1 ||
	    RAND_bytes(cur->aes, sizeof(cur->aes)) != 1 ||
	    RAND_bytes(cur->hmac, sizeof(cur->hmac)) != 1) {
		OPENSSL_cleanse(cur, sizeof(*cur));
		return -1;
	}
	cur->born = now;
	cur->live = 1;
	return 0;
}

static int
tickets_mac(EVP_MAC_CTX *hctx, const struct tls_ticket_key *k)
{
	static char digest[] = "SHA256";
	OSSL_PARAM p[3];

	p[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)k->hmac, sizeof(k->hmac));
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest,
	    0);
	p[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, p);
}

/* 1 sealed, 0 no ticket this time (the handshake goes on), -1 error. */
static int
tickets_seal(struct tls_tickets *t, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx)
{
	const struct tls_ticket_key *k = &t->key[0];

	if (tickets_age(t, clock_mono_ms()) != 0 ||
	    RAND_bytes(iv, EVP_CIPHER_get_iv_length(t->cipher)) != 1)
		return 0;
	memcpy(name, k->name, sizeof(k->name));
	if (EVP_EncryptInit_ex2(ectx, t->cipher, k->aes, iv, NULL) != 1 ||
	    tickets_mac(hctx, k) != 1)
		return -1;
	return 1;
}

/*
 * 1 opened, 2 opened and a new ticket is to be sealed, 0 an unknown or
 * expired key: a full handshake.  A new ticket when the previous key
 * opened it, and always in TLS 1.3, whose clients use a ticket once (RFC
 * 8446, C.4): without one, every other connection of a client that
 * reconnects would be a full handshake.
 */
static int
tickets_open(struct tls_tickets *t, int tls13, const unsigned char *name,
    unsigned char *iv, EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx)
{
	int64_t now = clock_mono_ms();
	const struct tls_ticket_key *k;
	int i;

	(void)tickets_age(t, now);
	for (i = 0; i < 2; i++) {
		k = &t->key[i];
		if (k->live && now - k->born < 2 * t->period &&
		    memcmp(name, k->name, sizeof(k->name)) == 0)
			break;
	}
	if (i == 2)
		return 0;
	if (tickets_mac(hctx, k) != 1 ||
	    EVP_DecryptInit_ex2(ectx, t->cipher, k->aes, iv, NULL) != 1)
		return -1;
	return i == 0 && !tls13 ? 1 : 2;
}

static int
tickets_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_tickets *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	int rc;

	pthread_mutex_lock(&t->lock);
	if (enc)
		rc = tickets_seal(t, name, iv, ectx, hctx);
	else
		rc = tickets_open(t, SSL_version(ssl) == TLS1_3_VERSION, name,
		    iv, ectx, hctx);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* ---- certificate and key ---- */

/* A whole file into memory.  A key others may read is refused: it is as
 * good as published. */
static int
tls_file_read(const char *path, int key, struct tls_file *f, char *err,
    size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd;

	f->buf = NULL;
	f->len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		log_errbuf(err, errlen, "tls: %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0 ||
	    st.st_size > TLS_FILE_MAX) {
		log_errbuf(err, errlen, "tls: %s: %s", path,
		    !S_ISREG(st.st_mode) ? "not a regular file" :
		    st.st_size == 0 ? "empty" : "larger than 1 MiB");
		goto fail;
	}
	if (key && (st.st_mode & (S_IROTH | S_IWOTH))) {
		log_errbuf(err, errlen, "tls: %s: private key readable or "
		    "writable by others (mode %04o): chmod o-rw %s", path,
		    (unsigned int)(st.st_mode & 07777), path);
		goto fail;
	}
	if ((f->buf = malloc((size_t)st.st_size)) == NULL) {
		log_errbuf(err, errlen, "tls: %s: out of memory", path);
		goto fail;
	}
	while (f->len < (size_t)st.st_size) {
		n = read(fd, f->buf + f->len, (size_t)st.st_size - f->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_errbuf(err, errlen, "tls: %s: %s", path, n == 0 ?
			    "shorter than its size (changed while read?)" :
			    strerror(errno));
			goto fail;
		}
		f->len += (size_t)n;
	}
	close(fd);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	if (f->buf != NULL)
		OPENSSL_cleanse(f->buf, f->len);
	free(f->buf);
	f->buf = NULL;
	return -1;
}

static void
tls_file_wipe(struct tls_file *f)
{
	if (f->buf != NULL)
		OPENSSL_cleanse(f->buf, f->len);
	free(f->buf);
	f->buf = NULL;
}

/* An encrypted key would make OpenSSL prompt on the terminal: refuse. */
static int
tls_nopass(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* Which certificate each listener serves: at start, and to confirm that
 * a reload took the renewed one. */
static void
tls_cert_log(const struct config_listen *l, SSL_CTX *ctx)
{
	char subject[256], until[32] = "?";
	X509 *x = SSL_CTX_get0_certificate(ctx);
	struct tm tm;

	if (x == NULL)
		return;
	X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%SZ", &tm);
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		log_warnx("tls: %s: the certificate expired at %s", l->tls_cert,
		    until);
	log_info("tls: %s: certificate %s, valid until %s", l->text, subject,
	    until);
}

/* The leaf, then any chain certificates after it in the same file. */
static int
tls_cert_use(SSL_CTX *ctx, const struct config_listen *l,
    const struct tls_file *f, char *err, size_t errlen)
{
	BIO *b;
	X509 *x, *ca;
	int rc = -1;

	if ((b = BIO_new_mem_buf(f->buf, (int)f->len)) == NULL) {
		tls_err(err, errlen, l->tls_cert, "out of memory");
		return -1;
	}
	if ((x = PEM_read_bio_X509_AUX(b, NULL, tls_nopass, NULL)) == NULL) {
		tls_err(err, errlen, l->tls_cert, "no PEM certificate");
		goto done;
	}
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		tls_err(err, errlen, l->tls_cert, "certificate refused");
		goto done;
	}
	while ((ca = PEM_read_bio_X509(b, NULL, tls_nopass, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			tls_err(err, errlen, l->tls_cert, "chain certificate "
			    "refused");
			goto done;
		}
	/* the end of the file is the one error expected here */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		tls_err(err, errlen, l->tls_cert, "bad chain certificate");
		goto done;
	}
	ERR_clear_error();
	rc = 0;
done:
	X509_free(x);
	BIO_free(b);
	return rc;
}

static int
tls_key_use(SSL_CTX *ctx, const struct config_listen *l,
    const struct tls_file *f, char *err, size_t errlen)
{
	EVP_PKEY *pk;
	BIO *b;
	int rc = -1;

	if ((b = BIO_new_mem_buf(f->buf, (int)f->len)) == NULL) {
		tls_err(err, errlen, l->tls_key, "out of memory");
		return -1;
	}
	if ((pk = PEM_read_bio_PrivateKey(b, NULL, tls_nopass, NULL)) == NULL)
		tls_err(err, errlen, l->tls_key, "no PEM private key, or one "
		    "encrypted with a passphrase");
	else if (SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();	/* OpenSSL's words add nothing here */
		log_errbuf(err, errlen, "tls: %s: does not match the "
		    "certificate %s", l->tls_key, l->tls_cert);
	} else
		rc = 0;
	EVP_PKEY_free(pk);
	BIO_free(b);
	return rc;
}

static int
tls_keypair_use(SSL_CTX *ctx, const struct config_listen *l, char *err,
    size_t errlen)
{
	struct tls_file cert, key;
	int rc = -1;

	if (tls_file_read(l->tls_cert, 0, &cert, err, errlen) != 0)
		return -1;
	if (tls_file_read(l->tls_key, 1, &key, err, errlen) == 0) {
		if (tls_cert_use(ctx, l, &cert, err, errlen) == 0 &&
		    tls_key_use(ctx, l, &key, err, errlen) == 0)
			rc = 0;
		tls_file_wipe(&key);
	}
	tls_file_wipe(&cert);
	return rc;
}

/* ---- contexts ---- */

/*
 * ALPN: http/1.1 when the client offers it.  A client that offers ALPN
 * without http/1.1 (h2 alone, say) is refused with no_application_protocol
 * (RFC 7301, 3.2) rather than left to find out from a 400.  A client that
 * offers no ALPN is served HTTP/1.1 as before.
 */
static int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const unsigned char *p = in, *end = in + inlen;

	(void)ssl;
	(void)arg;
	for (; p < end && p + 1 + p[0] <= end; p += 1 + p[0])
		if (p[0] == 8 && memcmp(p + 1, "http/1.1", 8) == 0) {
			*out = p + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Tickets of one listener are not taken on another: the session id
 * context is a digest of the listen address. */
static int
tls_sid_ctx(SSL_CTX *ctx, const struct config_listen *l)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (EVP_Digest(l->text, strlen(l->text), md, &mdlen, EVP_sha256(),
	    NULL) != 1)
		return -1;
	return SSL_CTX_set_session_id_context(ctx, md,
	    mdlen < SSL_MAX_SID_CTX_LENGTH ? mdlen : SSL_MAX_SID_CTX_LENGTH) ==
	    1 ? 0 : -1;
}

static int
tls_ctx_setup(SSL_CTX *ctx, const struct config_listen *l,
    struct tls_tickets *t, char *err, size_t errlen)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS12) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1 ||
	    tls_sid_ctx(ctx, l) != 0) {
		tls_err(err, errlen, l->text, "cannot set up TLS");
		return -1;
	}
	/* renegotiation is a CPU lever for a client and would make a read
	 * want to write; an EOF without close_notify is an ordinary close */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* out may grow between a partial write and its retry; idle
	 * connections give their buffers back (keeping them cost more CPU,
	 * not less: 60-65 us a request against 54-61, 2026-12-06) */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* one recv for a whole record, not one for its header and one for
	 * its body; the server loop checks SSL_has_pending */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(ctx, (long)(t->period / 1000));
	SSL_CTX_set_app_data(ctx, t);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tickets_cb);
	return 0;
}

static SSL_CTX *
tls_ctx_new(const struct config_listen *l, struct tls_tickets *t, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_err(err, errlen, l->text, "cannot make a TLS context");
		return NULL;
	}
	if (tls_ctx_setup(ctx, l, t, err, errlen) != 0 ||
	    tls_keypair_use(ctx, l, err, errlen) != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct tls_set *
tls_set_new(const struct config *cfg, struct tls_tickets *t, char *err,
    size_t errlen)
{
	struct tls_set *set;
	size_t i;

	if ((set = calloc(1, sizeof(*set))) == NULL) {
		log_errbuf(err, errlen, "tls: out of memory");
		return NULL;
	}
	for (i = 0; i < cfg->nlisten; i++) {
		if (cfg->listen[i].tls_cert[0] == '\0')
			continue;
		if ((set->ctx[i] = tls_ctx_new(&cfg->listen[i], t, err,
		    errlen)) == NULL) {
			tls_set_free(set);
			return NULL;
		}
		set->n++;
	}
	for (i = 0; i < cfg->nlisten; i++)
		if (set->ctx[i] != NULL)
			tls_cert_log(&cfg->listen[i], set->ctx[i]);
	return set;
}

void
tls_set_free(struct tls_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	/* each SSL holds a reference: a context outlives this while a
	 * connection still uses it */
	for (i = 0; i < CONFIG_MAX_LISTEN; i++)
		SSL_CTX_free(set->ctx[i]);
	free(set);
}

/* ---- non-blocking I/O ---- */

/*
 * The error queue is per thread and SSL_get_error reads it, so it must be
 * empty before each call, and no connection may leave an error for the
 * next.  It is nearly always empty already: a peek is a fraction of what
 * clearing the queue's 16 slots costs, on every read and write.
 */
static void
tls_err_reset(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* What an unfinished call waits for, 0 at the peer's close_notify, or -1. */
static int
tls_want(SSL *ssl, int r)
{
	int e = SSL_get_error(ssl, r);

	tls_err_reset();
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_POLLOUT;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		/* a fatal error: no close_notify may follow it */
		SSL_set_quiet_shutdown(ssl, 1);
		return -1;
	}
}

/*
 * Watches the socket BIO's reads: a recv that returned less than it asked
 * for found the socket drained.  Only the reads of the SSL_read under way
 * count (tls_read resets the mark): a mark left from an earlier call could
 * hide data whose edge was already taken.
 */
static long
tls_bio_cb(BIO *b, int oper, const char *argp, size_t len, int argi,
    long argl, int ret, size_t *processed)
{
	int *drained = (int *)BIO_get_callback_arg(b);

	(void)argp;
	(void)argi;
	(void)argl;
	if (oper == (BIO_CB_READ | BIO_CB_RETURN))
		*drained = ret > 0 && processed != NULL && *processed < len;
	return ret;
}

int
tls_attach(SSL *ssl, int fd, int *drained)
{
	BIO *b;

	if (SSL_set_fd(ssl, fd) != 1 || (b = SSL_get_rbio(ssl)) == NULL)
		return -1;
	*drained = 0;
	BIO_set_callback_arg(b, (char *)drained);
	BIO_set_callback_ex(b, tls_bio_cb);
	SSL_set_accept_state(ssl);
	return 0;
}

/* The mark of an SSL made by tls_attach, else NULL (another BIO: the
 * caller reads on until EAGAIN, as before). */
static int *
tls_drain_mark(SSL *ssl)
{
	BIO *b = SSL_get_rbio(ssl);

	if (b == NULL || BIO_get_callback_ex(b) != tls_bio_cb)
		return NULL;
	return (int *)BIO_get_callback_arg(b);
}

int
tls_drained(SSL *ssl)
{
	const int *drained = tls_drain_mark(ssl);

	return drained != NULL && *drained && !SSL_has_pending(ssl);
}

int
tls_handshake(SSL *ssl)
{
	int r;

	tls_err_reset();
	if ((r = SSL_do_handshake(ssl)) == 1)
		return 0;
	r = tls_want(ssl, r);
	return r == 0 ? -1 : r;
}

ssize_t
tls_read(SSL *ssl, void *buf, size_t len)
{
	int *drained = tls_drain_mark(ssl);
	size_t n;
	int r;

	if (drained != NULL)
		*drained = 0;
	tls_err_reset();
	if ((r = SSL_read_ex(ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return tls_want(ssl, r);
}

ssize_t
tls_write(SSL *ssl, const void *buf, size_t len)
{
	size_t n;
	int r;

	tls_err_reset();
	if ((r = SSL_write_ex(ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return tls_want(ssl, r);
}

void
tls_close(SSL *ssl)
{
	if (!SSL_is_init_finished(ssl) || SSL_get_quiet_shutdown(ssl))
		return;
	/* one try: what fits in the socket goes, nothing waits for it */
	ERR_clear_error();
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
}
