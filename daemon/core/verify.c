/*
 * verify.c: HMAC-SHA256 signatures of webhook bodies.  The one-shot HMAC()
 * is not deprecated in OpenSSL 3 (the HMAC_CTX calls are) and needs no
 * context to free.  MACs are wiped from the stack once compared.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "verify.h"

/* HMAC-SHA256(s, body); -1 only when OpenSSL cannot allocate. */
static int
verify_mac(const struct secret *s, const void *body, size_t len,
    uint8_t mac[VERIFY_MAC_LEN])
{
	unsigned int maclen = 0;

	if (body == NULL)
		body = "";	/* an empty body is a valid message */
	if (HMAC(EVP_sha256(), s->bytes, (int)s->len, body, len, mac,
	    &maclen) == NULL || maclen != VERIFY_MAC_LEN)
		return -1;
	return 0;
}

void
verify_sign(const struct secret *s, const void *body, size_t len,
    char hex[VERIFY_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t mac[VERIFY_MAC_LEN];
	size_t i;

	/* Only an allocation failure inside OpenSSL gets here; a signature
	 * that is silently wrong would be worse than stopping. */
	if (verify_mac(s, body, len, mac) != 0)
		fatalx("%s: HMAC-SHA256 failed", __func__);
	for (i = 0; i < VERIFY_MAC_LEN; i++) {
		hex[2 * i] = digits[mac[i] >> 4];
		hex[2 * i + 1] = digits[mac[i] & 0xf];
	}
	hex[VERIFY_HEX_LEN] = '\0';
	explicit_bzero(mac, sizeof(mac));
}

static int
verify_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
verify_hex_decode(const char *hex, size_t len, uint8_t mac[VERIFY_MAC_LEN])
{
	int hi, lo;
	size_t i;

	if (len != VERIFY_HEX_LEN)
		return -1;
	for (i = 0; i < VERIFY_MAC_LEN; i++) {
		hi = verify_nibble(hex[2 * i]);
		lo = verify_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
verify_body(const struct secret *secrets, size_t n, const void *body,
    size_t len, const char *sig, size_t siglen)
{
	uint8_t want[VERIFY_MAC_LEN], mac[VERIFY_MAC_LEN];
	unsigned int match = 0;
	size_t i;

	if (verify_hex_decode(sig, siglen, want) != 0)
		return -1;
	/* No early exit: every secret costs the same, matched or not. */
	for (i = 0; i < n; i++) {
		if (verify_mac(&secrets[i], body, len, mac) != 0)
			continue;
		match |= CRYPTO_memcmp(mac, want, sizeof(mac)) == 0;
	}
	explicit_bzero(mac, sizeof(mac));
	explicit_bzero(want, sizeof(want));
	return match ? 0 : -1;
}
