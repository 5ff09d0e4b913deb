/*
 * filter_spec.c: turn command-line words into a filter_spec.  Every error
 * names the flag it came from, so the operator knows what to fix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

void
filter_spec_init(struct filter_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->mode = SG_MODE_PORTS;
	s->ports[SG_DEFAULT_PORT >> 6] |= 1ULL << (SG_DEFAULT_PORT & 63);
}

void
filter_spec_free(struct filter_spec *s)
{
	regions_free(&s->table);
}

int
filter_spec_mode(struct filter_spec *s, const char *arg, char *err,
    size_t errlen)
{
	if (strcmp(arg, "ports") == 0)
		s->mode = SG_MODE_PORTS;
	else if (strcmp(arg, "strict") == 0)
		s->mode = SG_MODE_STRICT;
	else {
		snprintf(err, errlen, "--mode: '%s' is not a mode "
		    "(ports or strict)", arg);
		return -1;
	}
	return 0;
}

/* One port: decimal 1-65535, no sign, no leading zeros, no junk. */
static int
port_parse(const char *s, size_t n)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 5 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? (int)v : -1;
}

int
filter_spec_ports(struct filter_spec *s, const char *csv, char *err,
    size_t errlen)
{
	uint64_t bits[SG_PORT_WORDS] = { 0 };
	const char *p = csv, *comma;
	int port;

	do {
		comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if ((port = port_parse(p, n)) < 0) {
			snprintf(err, errlen, "--ports: '%.*s' is not a port "
			    "(1-65535, comma-separated)", (int)n, p);
			return -1;
		}
		bits[port >> 6] |= 1ULL << (port & 63);
		p = comma + 1;
	} while (comma);
	memcpy(s->ports, bits, sizeof(bits));
	return 0;
}
