/*
 * cidr.c: parse and print IPv4/IPv6 prefixes.
 *
 * The parser is strict on purpose: these strings become allowlist entries,
 * so anything an operator may have mistyped (a host address with a short
 * prefix, "/08", stray whitespace) is refused with a reason instead of being
 * guessed at.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"
#include "log.h"


static size_t
cidr_addrlen(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

static unsigned int
cidr_maxlen(int family)
{
	return family == AF_INET6 ? 128 : 32;
}

/*
 * Decimal without sign, leading zeros or anything else strtoul would
 * forgive ("+8", " 8", "0x8").  Returns the value, or -1 with a reason.
 */
static int
cidr_parse_len(const char *s, unsigned int max, char *err, size_t errlen)
{
	unsigned int v = 0;
	const char *p;

	if (*s == '\0') {
		log_errbuf(err, errlen, "missing prefix length after '/'");
		return -1;
	}
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			log_errbuf(err, errlen, "prefix length is not a number");
			return -1;
		}
	}
	if (s[0] == '0' && s[1] != '\0') {
		log_errbuf(err, errlen, "leading zero in prefix length");
		return -1;
	}
	/* Stop accumulating once past max so long digit runs cannot wrap. */
	for (p = s; *p != '\0' && v <= max; p++)
		v = v * 10 + (unsigned int)(*p - '0');
	if (v > max) {
		log_errbuf(err, errlen, "prefix length out of range");
		return -1;
	}
	return (int)v;
}

/* Zero every bit past plen. */
static void
cidr_mask(uint8_t *addr, size_t alen, unsigned int plen)
{
	size_t i;

	for (i = 0; i < alen; i++) {
		if (plen >= 8) {
			plen -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff00u >> plen);
		plen = 0;
	}
}

/*
 * Refuse rather than mask: "10.0.0.1/8" is more likely a typo for a /32
 * than a request for all of 10/8.  s is the input, quoted in the reason.
 */
static int
cidr_host_bits_clear(const struct cidr *c, const char *s, char *err,
    size_t errlen)
{
	char net[CIDR_STRLEN];
	struct cidr m = *c;

	cidr_mask(m.addr, cidr_addrlen(m.family), m.prefixlen);
	if (memcmp(m.addr, c->addr, sizeof(m.addr)) == 0)
		return 1;
	cidr_format(&m, net, sizeof(net));
	log_errbuf(err, errlen, "host bits set in %s (network is %s)", s, net);
	return 0;
}

/*
 * ::ffff:a.b.c.d never arrives on the wire: an IPv4 packet carries the
 * IPv4 address, so a mapped prefix in an allowlist can never match.  Say
 * which IPv4 prefix was meant instead of accepting a dead entry.
 */
static int
cidr_v4_mapped(const struct cidr *c, const char *s, char *err, size_t errlen)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	char v4[INET_ADDRSTRLEN];

	if (c->family != AF_INET6 || c->prefixlen < 96 ||
	    memcmp(c->addr, mapped, sizeof(mapped)) != 0)
		return 0;
	inet_ntop(AF_INET, c->addr + 12, v4, sizeof(v4));
	log_errbuf(err, errlen, "%s is an IPv4-mapped IPv6 address, which no "
	    "packet carries: write it as IPv4, %s/%u", s, v4,
	    (unsigned)c->prefixlen - 96);
	return 1;
}

int
cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN];
	struct cidr c;
	const char *slash;
	size_t alen, i;
	int plen;

	if (s == NULL || *s == '\0') {
		log_errbuf(err, errlen, "empty prefix");
		return -1;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
			log_errbuf(err, errlen, "whitespace in prefix");
			return -1;
		}
	}

	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(buf)) {
		log_errbuf(err, errlen, "not an IPv4 or IPv6 address");
		return -1;
	}
	memcpy(buf, s, alen);
	buf[alen] = '\0';

	memset(&c, 0, sizeof(c));
	c.family = memchr(buf, ':', alen) != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(c.family, buf, c.addr) != 1) {
		log_errbuf(err, errlen, "not an %s address",
		    c.family == AF_INET6 ? "IPv6" : "IPv4");
		return -1;
	}

	plen = (int)cidr_maxlen(c.family);
	if (slash != NULL) {
		plen = cidr_parse_len(slash + 1, cidr_maxlen(c.family),
		    err, errlen);
		if (plen < 0)
			return -1;
	}
	c.prefixlen = (uint8_t)plen;

	if (!cidr_host_bits_clear(&c, s, err, errlen) ||
	    cidr_v4_mapped(&c, s, err, errlen))
		return -1;
	*out = c;
	return 0;
}

void
cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (len == 0)
		return;
	if ((c->family != AF_INET && c->family != AF_INET6) ||
	    inet_ntop(c->family, c->addr, addr, sizeof(addr)) == NULL) {
		snprintf(buf, len, "invalid");
		return;
	}
	snprintf(buf, len, "%s/%u", addr, (unsigned int)c->prefixlen);
}

int
cidr_is_host(const struct cidr *c)
{
	return c->prefixlen == cidr_maxlen(c->family);
}

int
cidr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefixlen == b->prefixlen &&
	    memcmp(a->addr, b->addr, cidr_addrlen(a->family)) == 0;
}
