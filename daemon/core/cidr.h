/* cidr.h: IPv4/IPv6 prefixes as the control tool reads and prints them. */
#ifndef SG_CIDR_H
#define SG_CIDR_H

#include <stddef.h>
#include <stdint.h>

struct cidr {
	int	family;		/* AF_INET or AF_INET6 */
	uint8_t	addr[16];	/* network byte order; 4 bytes used for AF_INET */
	uint8_t	prefixlen;	/* 0..32 or 0..128 */
};

#define CIDR_STRLEN	64	/* enough for any formatted cidr */

/*
 * "a.b.c.d", "a.b.c.d/n", "x::y", "x::y/n".  A bare address is a host
 * (/32, /128).  Host bits set beyond the prefix are refused, not masked:
 * a typo must not silently widen or move an allowlist.
 * Returns 0, or -1 with a one-line reason in err.
 */
int	cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen);

/* "34.225.10.29/32", "2001:db8::/32"; always with the prefix length. */
void	cidr_format(const struct cidr *c, char *buf, size_t len);

/* 1 if c is a single host (/32 or /128). */
int	cidr_is_host(const struct cidr *c);

/* 1 if a and b are the same prefix. */
int	cidr_equal(const struct cidr *a, const struct cidr *b);

#endif
