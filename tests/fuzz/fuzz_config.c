/*
 * fuzz_config.c: libFuzzer target for the configuration parser.  Besides
 * memory errors (ASan/UBSan) it checks that whatever is accepted is within
 * the documented bounds, and feeds the same bytes to the address parser
 * and the flags, which take NUL-terminated strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define FUZZ_ARG_MAX	(CONFIG_PATH_LEN + 64)	/* past every length limit */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fuzz_route_ok(const char *r)
{
	return r[0] == '/' && strlen(r) < 256 && strpbrk(r, " ?#") == NULL;
}

/* What config_parse promises about anything it accepts. */
static void
fuzz_check(const struct config *c)
{
	size_t i;

	if (c->nlisten < 1 || c->nlisten > CONFIG_MAX_LISTEN ||
	    c->nkeys > CONFIG_MAX_KEYS ||
	    c->limits.inflated_bytes < c->limits.body_bytes ||
	    c->limits.body_bytes < 1024 || c->workers > 256 ||
	    c->dedup_window_s < 1 || c->store[0] == '\0')
		abort();
	if (!fuzz_route_ok(c->route_push) || !fuzz_route_ok(c->route_bms) ||
	    !fuzz_route_ok(c->route_commands) ||
	    !fuzz_route_ok(c->route_health))
		abort();
	for (i = 0; i < c->nkeys; i++)
		if (c->keys[i].api_key[0] == '\0' ||
		    c->keys[i].secret_file[0] == '\0' ||
		    c->keys[i].secret.bytes != NULL)
			abort();
}

static void
fuzz_file(const uint8_t *data, size_t size)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	if (config_parse((const char *)data, size, &c, err, sizeof(err)) == 0)
		fuzz_check(&c);
	else if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	config_free(&c);
}

/* An accepted address prints to a form that parses to the same. */
static void
fuzz_args(const uint8_t *data, size_t size)
{
	char in[FUZZ_ARG_MAX + 1], err[256];
	struct config_listen a, b;
	struct config c;

	if (size > FUZZ_ARG_MAX)
		size = FUZZ_ARG_MAX;
	memcpy(in, data, size);
	in[size] = '\0';
	if (config_parse_addr(in, &a) == 0) {
		if (config_parse_addr(a.text, &b) != 0 ||
		    strcmp(a.text, b.text) != 0 || a.addrlen != b.addrlen ||
		    memcmp(&a.addr, &b.addr, a.addrlen) != 0)
			abort();
	}
	config_defaults(&c);
	(void)config_flag_listen(&c, in, 0, err, sizeof(err));
	(void)config_flag_key(&c, in, 1, err, sizeof(err));
	(void)config_flag_store(&c, in, err, sizeof(err));
	(void)config_flag_upstream(&c, in, err, sizeof(err));
	(void)config_flag_metrics(&c, in, err, sizeof(err));
	config_free(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_file(data, size);
	fuzz_args(data, size);
	return 0;
}
