/* test_inflate.c: inflate_is_gzip and inflate_gzip, with gzip made here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "inflate.h"

#define MiB	(1024 * 1024)

static const char json[] =
    "{\"type\":\"message.new\",\"message\":{\"text\":\"hello hello hello "
    "hello hello hello hello hello\"},\"user\":{\"id\":\"jane\"}}";

/* One gzip member of in (windowBits 31: the gzip wrapper); malloc'd. */
static uint8_t *
gz_make(const void *in, size_t len, size_t *outlen)
{
	z_stream zs;
	uint8_t *out;
	size_t room;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED,
	    15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
	room = deflateBound(&zs, len);
	assert_non_null(out = malloc(room));
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)room;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*outlen = zs.total_out;
	assert_int_equal(deflateEnd(&zs), Z_OK);
	return out;
}

static void
expect(const void *gz, size_t len, size_t cap, enum inflate_result want)
{
	uint8_t *out = (uint8_t *)"not touched";
	size_t outlen = 12345;

	assert_int_equal(inflate_gzip(gz, len, cap, &out, &outlen), want);
	if (want != INFLATE_OK) {
		assert_null(out);
		assert_int_equal(outlen, 0);
	}
	free(out);
}

static void
test_good(void **state)
{
	uint8_t *gz, *out;
	size_t gzlen, outlen;

	(void)state;
	gz = gz_make(json, strlen(json), &gzlen);
	assert_true(inflate_is_gzip(gz, gzlen));
	assert_int_equal(inflate_gzip(gz, gzlen, MiB, &out, &outlen),
	    INFLATE_OK);
	assert_int_equal(outlen, strlen(json));
	assert_memory_equal(out, json, outlen);
	free(out);
	free(gz);
}

static void
test_big_good(void **state)
{
	uint8_t *in, *gz, *out;
	size_t i, n = 3 * MiB + 17, gzlen, outlen;

	(void)state;
	/* Several buffer doublings, content not all alike. */
	assert_non_null(in = malloc(n));
	for (i = 0; i < n; i++)
		in[i] = (uint8_t)(i * 7 + i / 1000);
	gz = gz_make(in, n, &gzlen);
	assert_int_equal(inflate_gzip(gz, gzlen, 4 * MiB, &out, &outlen),
	    INFLATE_OK);
	assert_int_equal(outlen, n);
	assert_memory_equal(out, in, n);
	free(out);
	free(gz);
	free(in);
}

static void
test_empty_member(void **state)
{
	uint8_t *gz, *out;
	size_t gzlen, outlen;

	(void)state;
	/* An empty body, gzipped, is 0 bytes under any cap, 0 included. */
	gz = gz_make("", 0, &gzlen);
	assert_int_equal(inflate_gzip(gz, gzlen, 0, &out, &outlen),
	    INFLATE_OK);
	assert_int_equal(outlen, 0);
	free(out);
	free(gz);
}

static void
test_not_gzip(void **state)
{
	static const uint8_t zlib_hdr[] = { 0x78, 0x9c, 0x03, 0x00 };
	static const uint8_t magic_only[] = { 0x1f, 0x8b };

	(void)state;
	assert_false(inflate_is_gzip(json, strlen(json)));
	assert_false(inflate_is_gzip("", 0));
	assert_false(inflate_is_gzip("\x1f", 1));
	assert_false(inflate_is_gzip("\x8b\x1f", 2));
	assert_true(inflate_is_gzip(magic_only, 2));
	expect(json, strlen(json), MiB, INFLATE_BAD);
	expect("", 0, MiB, INFLATE_BAD);
	expect(NULL, 0, MiB, INFLATE_BAD);
	expect(zlib_hdr, sizeof(zlib_hdr), MiB, INFLATE_BAD);
	expect(magic_only, sizeof(magic_only), MiB, INFLATE_BAD);
}

static void
test_truncated(void **state)
{
	uint8_t *gz;
	size_t gzlen, n;

	(void)state;
	gz = gz_make(json, strlen(json), &gzlen);
	/* Every cut: inside the header, the data, the CRC and length. */
	for (n = 0; n < gzlen; n++)
		expect(gz, n, MiB, INFLATE_BAD);
	free(gz);
}

static void
test_corrupt(void **state)
{
	uint8_t *gz;
	size_t gzlen;

	(void)state;
	gz = gz_make(json, strlen(json), &gzlen);
	gz[gzlen - 8] ^= 0x01;		/* CRC32 */
	expect(gz, gzlen, MiB, INFLATE_BAD);
	gz[gzlen - 8] ^= 0x01;
	gz[gzlen - 1] ^= 0x01;		/* ISIZE */
	expect(gz, gzlen, MiB, INFLATE_BAD);
	gz[gzlen - 1] ^= 0x01;
	gz[2] = 0x07;			/* compression method: not deflate */
	expect(gz, gzlen, MiB, INFLATE_BAD);
	free(gz);
}

static void
test_trailing(void **state)
{
	uint8_t *gz, *two;
	size_t gzlen;

	(void)state;
	gz = gz_make(json, strlen(json), &gzlen);
	assert_non_null(two = malloc(2 * gzlen));
	memcpy(two, gz, gzlen);
	two[gzlen] = '\n';
	expect(two, gzlen + 1, MiB, INFLATE_BAD);
	memset(two + gzlen, 0, gzlen);
	expect(two, gzlen + 4, MiB, INFLATE_BAD);
	/* Two members: gunzip would join them; we take one member only,
	 * since Stream sends one and the signature covers one body. */
	memcpy(two + gzlen, gz, gzlen);
	expect(two, 2 * gzlen, MiB, INFLATE_BAD);
	free(two);
	free(gz);
}

static void
test_cap(void **state)
{
	uint8_t *in, *gz, *out;
	size_t n = 100000, gzlen, outlen;

	(void)state;
	assert_non_null(in = malloc(n));
	memset(in, 'a', n);
	gz = gz_make(in, n, &gzlen);
	assert_int_equal(inflate_gzip(gz, gzlen, n, &out, &outlen),
	    INFLATE_OK);
	assert_int_equal(outlen, n);
	free(out);
	expect(gz, gzlen, n - 1, INFLATE_TOO_LARGE);
	expect(gz, gzlen, 0, INFLATE_TOO_LARGE);
	free(gz);

	/* A cap that is a power of two meets the doubling buffer exactly. */
	gz = gz_make(in, 65536, &gzlen);
	assert_int_equal(inflate_gzip(gz, gzlen, 65536, &out, &outlen),
	    INFLATE_OK);
	assert_int_equal(outlen, 65536);
	free(out);
	expect(gz, gzlen, 65535, INFLATE_TOO_LARGE);
	expect(gz, gzlen, 16384, INFLATE_TOO_LARGE);
	free(gz);
	free(in);
}

static void
test_bomb(void **state)
{
	uint8_t *zeros, *gz;
	size_t n = 64 * MiB, gzlen;

	(void)state;
	assert_non_null(zeros = calloc(1, n));
	gz = gz_make(zeros, n, &gzlen);
	free(zeros);
	assert_true(gzlen < 128 * 1024);
	expect(gz, gzlen, 4 * MiB, INFLATE_TOO_LARGE);
	free(gz);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_big_good),
		cmocka_unit_test(test_empty_member),
		cmocka_unit_test(test_not_gzip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_bomb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
