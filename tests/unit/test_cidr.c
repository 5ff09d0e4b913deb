/* test_cidr.c: cidr_parse, cidr_format and friends. */
#include <sys/socket.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cidr.h"

struct good {
	const char	*in;
	int		 family;
	unsigned int	 plen;
	const char	*out;	/* cidr_format of the result */
};

static const struct good goods[] = {
	{ "34.225.10.29",	AF_INET,  32,  "34.225.10.29/32" },
	{ "34.225.10.29/32",	AF_INET,  32,  "34.225.10.29/32" },
	{ "10.0.0.0/8",		AF_INET,  8,   "10.0.0.0/8" },
	{ "192.168.1.0/24",	AF_INET,  24,  "192.168.1.0/24" },
	{ "10.0.0.0/31",	AF_INET,  31,  "10.0.0.0/31" },
	{ "0.0.0.0/0",		AF_INET,  0,   "0.0.0.0/0" },
	{ "255.255.255.255",	AF_INET,  32,  "255.255.255.255/32" },
	{ "128.0.0.0/1",	AF_INET,  1,   "128.0.0.0/1" },
	{ "::1",		AF_INET6, 128, "::1/128" },
	{ "::/0",		AF_INET6, 0,   "::/0" },
	{ "2001:db8::/32",	AF_INET6, 32,  "2001:db8::/32" },
	{ "2001:DB8::/32",	AF_INET6, 32,  "2001:db8::/32" },
	{ "2001:0db8:0000::/48", AF_INET6, 48, "2001:db8::/48" },
	{ "fe80::1/128",	AF_INET6, 128, "fe80::1/128" },
	{ "2001:db8:0:0:1:0:0:1", AF_INET6, 128, "2001:db8::1:0:0:1/128" },
	{ "::1.2.3.4",		AF_INET6, 128, "::1.2.3.4/128" },
	{ "2001:db8::8000:0/97", AF_INET6, 97, "2001:db8::8000:0/97" },
};

struct bad {
	const char	*in;
	const char	*why;
};

static const struct bad bads[] = {
	{ "",			"empty prefix" },
	{ "/",			"not an IPv4 or IPv6 address" },
	{ "/8",			"not an IPv4 or IPv6 address" },
	{ "1.2.3.4/",		"missing prefix length after '/'" },
	{ "1.2.3.4/33",		"prefix length out of range" },
	{ "1.2.3.4/99999999999999999999", "prefix length out of range" },
	{ "::1/129",		"prefix length out of range" },
	{ "::/4294967424",	"prefix length out of range" },
	{ "1.2.3.4/-1",		"prefix length is not a number" },
	{ "1.2.3.4/+8",		"prefix length is not a number" },
	{ "1.2.3.4/8x",		"prefix length is not a number" },
	{ "1.2.3.4/0x8",	"prefix length is not a number" },
	{ "1.2.3.4/8/8",	"prefix length is not a number" },
	{ "1.2.3.4/08",		"leading zero in prefix length" },
	{ "0.0.0.0/00",		"leading zero in prefix length" },
	{ "1.2.3.4 ",		"whitespace in prefix" },
	{ " 1.2.3.4",		"whitespace in prefix" },
	{ "1.2.3.4/ 8",		"whitespace in prefix" },
	{ "1.2.3.4\n",		"whitespace in prefix" },
	{ "1.2.3.4\t/32",	"whitespace in prefix" },
	{ "1.2.3",		"not an IPv4 address" },
	{ "1.2.3.4.5",		"not an IPv4 address" },
	{ "256.1.1.1",		"not an IPv4 address" },
	{ "01.2.3.4",		"not an IPv4 address" },
	{ "1.2.3.4x",		"not an IPv4 address" },
	{ "0x1.2.3.4",		"not an IPv4 address" },
	{ "localhost",		"not an IPv4 address" },
	{ "1::2::3",		"not an IPv6 address" },
	{ "fe80::1%eth0",	"not an IPv6 address" },
	{ "gggg::",		"not an IPv6 address" },
	{ ":::",		"not an IPv6 address" },
	{ "[::1]",		"not an IPv6 address" },
	{ "10.0.0.1/8",
	    "host bits set in 10.0.0.1/8 (network is 10.0.0.0/8)" },
	{ "10.0.0.1/31",
	    "host bits set in 10.0.0.1/31 (network is 10.0.0.0/31)" },
	{ "1.0.0.0/0",
	    "host bits set in 1.0.0.0/0 (network is 0.0.0.0/0)" },
	{ "192.168.1.128/24",
	    "host bits set in 192.168.1.128/24 (network is 192.168.1.0/24)" },
	{ "2001:db8::1/64",
	    "host bits set in 2001:db8::1/64 (network is 2001:db8::/64)" },
	{ "::1/0",		"host bits set in ::1/0 (network is ::/0)" },
	{ "2001:db8::8000:0/96",
	    "host bits set in 2001:db8::8000:0/96 (network is 2001:db8::/96)" },
	/* no packet carries an IPv4-mapped address: it would never match */
	{ "::ffff:1.2.3.4",	"::ffff:1.2.3.4 is an IPv4-mapped IPv6 address, "
	    "which no packet carries: write it as IPv4, 1.2.3.4/32" },
	{ "::ffff:198.51.100.0/120", "::ffff:198.51.100.0/120 is an "
	    "IPv4-mapped IPv6 address, which no packet carries: write it as "
	    "IPv4, 198.51.100.0/24" },
};

static void
test_parse_good(void **state)
{
	char buf[CIDR_STRLEN], err[128];
	struct cidr c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		err[0] = '\0';
		if (cidr_parse(goods[i].in, &c, err, sizeof(err)) != 0)
			fail_msg("'%s' refused: %s", goods[i].in, err);
		assert_int_equal(c.family, goods[i].family);
		assert_int_equal(c.prefixlen, goods[i].plen);
		cidr_format(&c, buf, sizeof(buf));
		assert_string_equal(buf, goods[i].out);
	}
}

static void
test_parse_bytes(void **state)
{
	static const uint8_t v4[4] = { 34, 225, 10, 29 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t zero[16];
	struct cidr c;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(cidr_parse("34.225.10.29", &c, NULL, 0), 0);
	assert_memory_equal(c.addr, v4, 4);
	/* The unused bytes are zeroed so whole structs compare and hash. */
	assert_memory_equal(c.addr + 4, zero, 12);
	assert_int_equal(cidr_parse("2001:db8::1", &c, NULL, 0), 0);
	assert_memory_equal(c.addr, v6, 16);
}

static void
test_parse_bad(void **state)
{
	struct cidr c, before;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		memset(&c, 0x5a, sizeof(c));
		before = c;
		err[0] = '\0';
		if (cidr_parse(bads[i].in, &c, err, sizeof(err)) != -1)
			fail_msg("'%s' accepted", bads[i].in);
		assert_string_equal(err, bads[i].why);
		/* A refusal leaves the output alone. */
		assert_memory_equal(&c, &before, sizeof(c));
	}
}

static void
test_parse_long(void **state)
{
	char in[300], err[128];
	struct cidr c;

	(void)state;
	memset(in, '1', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(cidr_parse(in, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "not an IPv4 or IPv6 address");
	memset(in, ':', sizeof(in) - 1);
	assert_int_equal(cidr_parse(in, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "not an IPv4 or IPv6 address");
	assert_int_equal(cidr_parse(NULL, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "empty prefix");
}

static void
test_err_buffers(void **state)
{
	char err[8];
	struct cidr c;

	(void)state;
	/* No buffer, or a short one: still refused, never overrun. */
	assert_int_equal(cidr_parse("10.0.0.1/8", &c, NULL, 0), -1);
	memset(err, 'x', sizeof(err));
	assert_int_equal(cidr_parse("10.0.0.1/8", &c, err, 0), -1);
	assert_int_equal(err[0], 'x');
	assert_int_equal(cidr_parse("10.0.0.1/8", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "host bi");
}

static void
test_format(void **state)
{
	char buf[CIDR_STRLEN], small[5];
	struct cidr c;

	(void)state;
	assert_int_equal(cidr_parse(
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &c, NULL, 0), 0);
	cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	assert_true(strlen(buf) < CIDR_STRLEN);

	assert_int_equal(cidr_parse("34.225.10.29", &c, NULL, 0), 0);
	cidr_format(&c, small, sizeof(small));
	assert_string_equal(small, "34.2");
	small[0] = 'x';
	cidr_format(&c, small, 0);
	assert_int_equal(small[0], 'x');

	memset(&c, 0, sizeof(c));
	c.family = 12345;
	cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "invalid");
}

static void
test_round_trip(void **state)
{
	char buf[CIDR_STRLEN], again[CIDR_STRLEN];
	struct cidr a, b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		assert_int_equal(cidr_parse(goods[i].in, &a, NULL, 0), 0);
		cidr_format(&a, buf, sizeof(buf));
		assert_int_equal(cidr_parse(buf, &b, NULL, 0), 0);
		assert_true(cidr_equal(&a, &b));
		cidr_format(&b, again, sizeof(again));
		assert_string_equal(buf, again);
	}
}

static void
test_is_host(void **state)
{
	struct cidr c;

	(void)state;
	assert_int_equal(cidr_parse("1.2.3.4", &c, NULL, 0), 0);
	assert_true(cidr_is_host(&c));
	assert_int_equal(cidr_parse("1.2.3.4/32", &c, NULL, 0), 0);
	assert_true(cidr_is_host(&c));
	assert_int_equal(cidr_parse("1.2.3.0/24", &c, NULL, 0), 0);
	assert_false(cidr_is_host(&c));
	assert_int_equal(cidr_parse("::1", &c, NULL, 0), 0);
	assert_true(cidr_is_host(&c));
	/* /32 is a host only for IPv4. */
	assert_int_equal(cidr_parse("2001:db8::/32", &c, NULL, 0), 0);
	assert_false(cidr_is_host(&c));
	assert_int_equal(cidr_parse("::/0", &c, NULL, 0), 0);
	assert_false(cidr_is_host(&c));
}

static void
test_equal(void **state)
{
	struct cidr a, b;

	(void)state;
	assert_int_equal(cidr_parse("10.0.0.0/8", &a, NULL, 0), 0);
	assert_int_equal(cidr_parse("10.0.0.0/8", &b, NULL, 0), 0);
	assert_true(cidr_equal(&a, &b));
	/* Bytes past an IPv4 address do not take part. */
	b.addr[10] = 0xff;
	assert_true(cidr_equal(&a, &b));
	assert_int_equal(cidr_parse("10.0.0.0/9", &b, NULL, 0), 0);
	assert_false(cidr_equal(&a, &b));
	assert_int_equal(cidr_parse("11.0.0.0/8", &b, NULL, 0), 0);
	assert_false(cidr_equal(&a, &b));

	/* Same bytes, other family. */
	assert_int_equal(cidr_parse("::/8", &a, NULL, 0), 0);
	assert_int_equal(cidr_parse("0.0.0.0/8", &b, NULL, 0), 0);
	assert_false(cidr_equal(&a, &b));
	assert_int_equal(cidr_parse("2001:DB8::", &a, NULL, 0), 0);
	assert_int_equal(cidr_parse("2001:db8:0::0", &b, NULL, 0), 0);
	assert_true(cidr_equal(&a, &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bytes),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_long),
		cmocka_unit_test(test_err_buffers),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_is_host),
		cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
