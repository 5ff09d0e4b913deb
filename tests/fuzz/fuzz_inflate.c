/*
 * fuzz_inflate.c: libFuzzer target for inflate_gzip and verify_body on
 * arbitrary bytes.  Besides memory errors and leaks (ASan/UBSan) it checks
 * the contract: success never exceeds the cap, failure leaves no buffer,
 * and a body always verifies under the signature verify_sign gave it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inflate.h"
#include "secret.h"
#include "verify.h"

#define FUZZ_CAP	(64 * 1024)	/* small: bombs hit it fast */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct secret fuzz_secrets[2];

static void
fuzz_inflate(const uint8_t *data, size_t size)
{
	enum inflate_result r;
	uint8_t *out;
	size_t outlen;

	r = inflate_gzip(data, size, FUZZ_CAP, &out, &outlen);
	if (r == INFLATE_OK) {
		if (outlen > FUZZ_CAP || out == NULL ||
		    !inflate_is_gzip(data, size))
			abort();
		free(out);
	} else if (out != NULL || outlen != 0)
		abort();
}

/* The first byte splits the input into a signature and a body. */
static void
fuzz_verify(const uint8_t *data, size_t size)
{
	char hex[VERIFY_HEX_LEN + 1];
	const char *sig;
	size_t siglen;

	if (size == 0)
		return;
	siglen = data[0] % (VERIFY_HEX_LEN + 8);
	if (siglen > size - 1)
		siglen = size - 1;
	sig = (const char *)data + 1;
	(void)verify_body(fuzz_secrets, 2, sig + siglen, size - 1 - siglen,
	    sig, siglen);
	/* Round trip under the second secret of the rotation. */
	verify_sign(&fuzz_secrets[1], data, size, hex);
	if (verify_body(fuzz_secrets, 2, data, size, hex, VERIFY_HEX_LEN) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_secrets[0].bytes == NULL &&
	    (secret_from("old-secret", 10, &fuzz_secrets[0]) != 0 ||
	    secret_from("new-secret", 10, &fuzz_secrets[1]) != 0))
		abort();
	fuzz_inflate(data, size);
	fuzz_verify(data, size);
	return 0;
}
