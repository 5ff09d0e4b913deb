/* test_verify.c: verify_sign, verify_hex_decode, verify_body,
 * verify_sha256_hex. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include "secret.h"
#include "verify.h"

/* RFC 4231 section 4: HMAC-SHA-256 results (case 5 is truncated). */
struct rfc_case {
	int		 num;
	uint8_t		 key[131];
	size_t		 keylen;
	uint8_t		 data[160];
	size_t		 datalen;
	const char	*hex;
};

static const char rfc_data6[] =
    "Test Using Larger Than Block-Size Key - Hash Key First";
static const char rfc_data7[] =
    "This is a test using a larger than block-size key and a larger than "
    "block-size data. The key needs to be hashed before being used by the "
    "HMAC algorithm.";

static void
rfc_fill(struct rfc_case *c, int num)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	c->num = num;
	switch (num) {
	case 1:
		memset(c->key, 0x0b, c->keylen = 20);
		memcpy(c->data, "Hi There", c->datalen = 8);
		c->hex = "b0344c61d8db38535ca8afceaf0bf12b"
		    "881dc200c9833da726e9376c2e32cff7";
		break;
	case 2:
		memcpy(c->key, "Jefe", c->keylen = 4);
		memcpy(c->data, "what do ya want for nothing?", c->datalen = 28);
		c->hex = "5bdcc146bf60754e6a042426089575c7"
		    "5a003f089d2739839dec58b964ec3843";
		break;
	case 3:
		memset(c->key, 0xaa, c->keylen = 20);
		memset(c->data, 0xdd, c->datalen = 50);
		c->hex = "773ea91e36800e46854db8ebd09181a7"
		    "2959098b3ef8c122d9635514ced565fe";
		break;
	case 4:
		for (i = 0; i < 25; i++)
			c->key[i] = (uint8_t)(i + 1);
		c->keylen = 25;
		memset(c->data, 0xcd, c->datalen = 50);
		c->hex = "82558a389a443c0ea4cc819899f2083a"
		    "85f0faa3e578f8077a2e3ff46729665b";
		break;
	case 6:
		memset(c->key, 0xaa, c->keylen = 131);
		memcpy(c->data, rfc_data6, c->datalen = strlen(rfc_data6));
		c->hex = "60e431591ee0b67f0d8a26aacbf5b77f"
		    "8e0bc6213728c5140546040f0ee37f54";
		break;
	case 7:
		memset(c->key, 0xaa, c->keylen = 131);
		memcpy(c->data, rfc_data7, c->datalen = strlen(rfc_data7));
		c->hex = "9b09ffa71b942fcb27635fbcd5b0e944"
		    "bfdc63644f0713938a7f51535c3a35e2";
		break;
	default:
		fail_msg("no RFC 4231 case %d here", num);
	}
}

static void
test_rfc4231(void **state)
{
	static const int nums[] = { 1, 2, 3, 4, 6, 7 };
	struct rfc_case c;
	struct secret s;
	char hex[VERIFY_HEX_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		rfc_fill(&c, nums[i]);
		assert_int_equal(secret_from(c.key, c.keylen, &s), 0);
		verify_sign(&s, c.data, c.datalen, hex);
		assert_string_equal(hex, c.hex);
		assert_int_equal(verify_body(&s, 1, c.data, c.datalen, c.hex,
		    strlen(c.hex)), 0);
		secret_free(&s);
		assert_null(s.bytes);
	}
}

static const char body[] =
    "{\"type\":\"message.new\",\"cid\":\"messaging:general\","
    "\"message\":{\"id\":\"m-1\",\"text\":\"hello \\u00e9\"},"
    "\"user\":{\"id\":\"jane\"},\"created_at\":\"2024-05-01T12:00:00Z\"}";

static void
stream_secret(struct secret *s, const char *text)
{
	assert_int_equal(secret_from(text, strlen(text), s), 0);
}

static void
test_stream_round_trip(void **state)
{
	struct secret s;
	char hex[VERIFY_HEX_LEN + 1];
	size_t i;

	(void)state;
	stream_secret(&s, "x7k2m9p4q8r3t6v1w5y0z2a4b6c8d0e2");
	verify_sign(&s, body, strlen(body), hex);
	assert_int_equal(strlen(hex), VERIFY_HEX_LEN);
	for (i = 0; i < VERIFY_HEX_LEN; i++)
		assert_true(isdigit((unsigned char)hex[i]) ||
		    (hex[i] >= 'a' && hex[i] <= 'f'));
	assert_int_equal(verify_body(&s, 1, body, strlen(body), hex,
	    VERIFY_HEX_LEN), 0);
	/* One byte more or less of body is another message. */
	assert_int_equal(verify_body(&s, 1, body, strlen(body) - 1, hex,
	    VERIFY_HEX_LEN), -1);
	assert_int_equal(verify_body(&s, 1, body, strlen(body) + 1, hex,
	    VERIFY_HEX_LEN), -1);
	secret_free(&s);
}

static void
test_upper_case(void **state)
{
	struct secret s;
	char hex[VERIFY_HEX_LEN + 1];
	size_t i;

	(void)state;
	stream_secret(&s, "secret");
	verify_sign(&s, body, strlen(body), hex);
	for (i = 0; i < VERIFY_HEX_LEN; i++)
		hex[i] = (char)toupper((unsigned char)hex[i]);
	assert_int_equal(verify_body(&s, 1, body, strlen(body), hex,
	    VERIFY_HEX_LEN), 0);
	/* Mixed case too. */
	hex[0] = (char)tolower((unsigned char)hex[0]);
	hex[3] = (char)tolower((unsigned char)hex[3]);
	assert_int_equal(verify_body(&s, 1, body, strlen(body), hex,
	    VERIFY_HEX_LEN), 0);
	secret_free(&s);
}

static void
test_hex_decode(void **state)
{
	uint8_t mac[VERIFY_MAC_LEN];
	char hex[VERIFY_HEX_LEN + 2];

	(void)state;
	memset(hex, 'a', sizeof(hex));
	memcpy(hex, "00ff7F80", 8);
	assert_int_equal(verify_hex_decode(hex, VERIFY_HEX_LEN, mac), 0);
	assert_int_equal(mac[0], 0x00);
	assert_int_equal(mac[1], 0xff);
	assert_int_equal(mac[2], 0x7f);
	assert_int_equal(mac[3], 0x80);
	assert_int_equal(mac[31], 0xaa);
	assert_int_equal(verify_hex_decode(hex, 63, mac), -1);
	assert_int_equal(verify_hex_decode(hex, 65, mac), -1);
	assert_int_equal(verify_hex_decode(hex, 0, mac), -1);
	assert_int_equal(verify_hex_decode("", 0, mac), -1);
}

/* A good signature spoiled at position pos by c must fail. */
static void
bad_char(const struct secret *s, const char *good, size_t pos, char c)
{
	char hex[VERIFY_HEX_LEN + 1];
	uint8_t mac[VERIFY_MAC_LEN];

	memcpy(hex, good, sizeof(hex));
	hex[pos] = c;
	assert_int_equal(verify_hex_decode(hex, VERIFY_HEX_LEN, mac), -1);
	assert_int_equal(verify_body(s, 1, body, strlen(body), hex,
	    VERIFY_HEX_LEN), -1);
}

static void
test_bad_signature(void **state)
{
	struct secret s;
	char hex[VERIFY_HEX_LEN + 2];

	(void)state;
	stream_secret(&s, "secret");
	verify_sign(&s, body, strlen(body), hex);
	/* Lengths 63, 65, 0 of an otherwise good signature. */
	assert_int_equal(verify_body(&s, 1, body, strlen(body), hex, 63), -1);
	hex[64] = '0';
	hex[65] = '\0';
	assert_int_equal(verify_body(&s, 1, body, strlen(body), hex, 65), -1);
	hex[64] = '\0';
	assert_int_equal(verify_body(&s, 1, body, strlen(body), hex, 0), -1);
	assert_int_equal(verify_body(&s, 1, body, strlen(body), "", 0), -1);
	/* Non-hex anywhere, NUL inside included. */
	bad_char(&s, hex, 0, 'g');
	bad_char(&s, hex, 63, 'G');
	bad_char(&s, hex, 10, ' ');
	bad_char(&s, hex, 31, '\0');
	bad_char(&s, hex, 5, 'x');
	/* Well formed but one digit off. */
	hex[7] = hex[7] == '0' ? '1' : '0';
	assert_int_equal(verify_body(&s, 1, body, strlen(body), hex,
	    VERIFY_HEX_LEN), -1);
	secret_free(&s);
}

static void
test_wrong_secret(void **state)
{
	struct secret a, b;
	char hex[VERIFY_HEX_LEN + 1];

	(void)state;
	stream_secret(&a, "secret");
	stream_secret(&b, "secreT");
	verify_sign(&a, body, strlen(body), hex);
	assert_int_equal(verify_body(&b, 1, body, strlen(body), hex,
	    VERIFY_HEX_LEN), -1);
	assert_int_equal(verify_body(&a, 0, body, strlen(body), hex,
	    VERIFY_HEX_LEN), -1);	/* no secrets: nothing matches */
	secret_free(&a);
	secret_free(&b);
}

static void
test_rotation(void **state)
{
	struct secret s[3], other;
	char old[VERIFY_HEX_LEN + 1], new[VERIFY_HEX_LEN + 1];
	char bad[VERIFY_HEX_LEN + 1];

	(void)state;
	stream_secret(&s[0], "old-secret");
	stream_secret(&s[1], "new-secret");
	stream_secret(&other, "third-secret");
	verify_sign(&s[0], body, strlen(body), old);
	verify_sign(&s[1], body, strlen(body), new);
	verify_sign(&other, body, strlen(body), bad);
	assert_string_not_equal(old, new);
	assert_int_equal(verify_body(s, 2, body, strlen(body), old,
	    VERIFY_HEX_LEN), 0);
	assert_int_equal(verify_body(s, 2, body, strlen(body), new,
	    VERIFY_HEX_LEN), 0);
	assert_int_equal(verify_body(s, 2, body, strlen(body), bad,
	    VERIFY_HEX_LEN), -1);
	/* The match may be any of three, last included. */
	s[2] = other;
	assert_int_equal(verify_body(s, 3, body, strlen(body), bad,
	    VERIFY_HEX_LEN), 0);
	secret_free(&s[0]);
	secret_free(&s[1]);
	secret_free(&other);
}

static void
test_empty_body(void **state)
{
	struct secret s;
	char hex[VERIFY_HEX_LEN + 1], again[VERIFY_HEX_LEN + 1];

	(void)state;
	stream_secret(&s, "key");
	verify_sign(&s, "", 0, hex);
	verify_sign(&s, NULL, 0, again);
	assert_string_equal(hex, again);
	/* HMAC-SHA256("key", "") */
	assert_string_equal(hex, "5d5d139563c95b5967b9bd9a8c9b233a"
	    "9dedb45072794cd232dc1b74832607d0");
	assert_int_equal(verify_body(&s, 1, "", 0, hex, VERIFY_HEX_LEN), 0);
	assert_int_equal(verify_body(&s, 1, NULL, 0, hex, VERIFY_HEX_LEN), 0);
	assert_int_equal(verify_body(&s, 1, "x", 1, hex, VERIFY_HEX_LEN), -1);
	secret_free(&s);
}

static void
test_secret_from(void **state)
{
	char big[SECRET_MAX + 1];
	struct secret s;

	(void)state;
	memset(big, 'k', sizeof(big));
	assert_int_equal(secret_from(big, 0, &s), -1);
	assert_null(s.bytes);
	assert_int_equal(secret_from(big, SECRET_MAX + 1, &s), -1);
	assert_null(s.bytes);
	assert_int_equal(secret_from(big, SECRET_MAX, &s), 0);
	assert_int_equal(s.len, SECRET_MAX);
	assert_memory_equal(s.bytes, big, SECRET_MAX);
	secret_free(&s);
	secret_free(&s);	/* twice is harmless */
}

/* FIPS 180-2 appendix B.1 and the empty message. */
static void
test_sha256_hex(void **state)
{
	char hex[VERIFY_HEX_LEN + 1];

	(void)state;
	verify_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	verify_sha256_hex(NULL, 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
}

/*
 * Each thread keeps its own keyed context: threads signing under different
 * secrets at once must never see another's key (a shared context would mix
 * them), and a thread that ends frees its context (ASan's leak check).
 */
struct signer {
	const char	*secret;
	char		 want[VERIFY_HEX_LEN + 1];
	int		 wrong;
};

static void *
signer_run(void *arg)
{
	struct signer *sg = arg;
	struct secret s;
	char hex[VERIFY_HEX_LEN + 1];
	int i;

	if (secret_from(sg->secret, strlen(sg->secret), &s) != 0) {
		sg->wrong = -1;
		return NULL;
	}
	for (i = 0; i < 2000; i++) {
		verify_sign(&s, body, strlen(body), hex);
		sg->wrong += strcmp(hex, sg->want) != 0;
		sg->wrong += verify_body(&s, 1, body, strlen(body), sg->want,
		    VERIFY_HEX_LEN) != 0;
	}
	secret_free(&s);
	return NULL;
}

static void
test_threads(void **state)
{
	static const char *secrets[] = { "alpha", "beta", "gamma", "delta" };
	struct signer sg[4];
	pthread_t t[4];
	struct secret s;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		memset(&sg[i], 0, sizeof(sg[i]));
		sg[i].secret = secrets[i];
		assert_int_equal(secret_from(secrets[i], strlen(secrets[i]),
		    &s), 0);
		verify_sign(&s, body, strlen(body), sg[i].want);
		secret_free(&s);
	}
	assert_string_not_equal(sg[0].want, sg[1].want);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, signer_run,
		    &sg[i]), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(sg[i].wrong, 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4231),
		cmocka_unit_test(test_stream_round_trip),
		cmocka_unit_test(test_upper_case),
		cmocka_unit_test(test_hex_decode),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_wrong_secret),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_secret_from),
		cmocka_unit_test(test_sha256_hex),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
