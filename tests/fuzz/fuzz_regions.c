/*
 * fuzz_regions.c: libFuzzer target for the region file parser and the cidr
 * parser.  Besides memory errors (ASan/UBSan) it checks that whatever is
 * accepted survives a round trip through its own printed form unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "regions.h"

#define FUZZ_CIDR_MAX	128	/* longer than any valid prefix */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_tables_equal(const struct region_table *a, const struct region_table *b)
{
	size_t i;

	if (a->n != b->n)
		abort();
	for (i = 0; i < a->n; i++) {
		if (strcmp(a->v[i].region, b->v[i].region) != 0 ||
		    strcmp(a->v[i].zone, b->v[i].zone) != 0 ||
		    !cidr_equal(&a->v[i].cidr, &b->v[i].cidr))
			abort();
	}
}

static void
fuzz_regions(const uint8_t *data, size_t size)
{
	char names[SG_MAX_REGIONS][SG_REGION_NAME_LEN];
	struct region_table t, u;
	char err[256], *json;

	if (regions_parse((const char *)data, size, &t, err, sizeof(err)) != 0)
		return;
	json = regions_to_json(&t);
	if (json == NULL)
		abort();
	if (regions_parse(json, strlen(json), &u, err, sizeof(err)) != 0)
		abort();
	fuzz_tables_equal(&t, &u);
	(void)regions_ids(&t, names, SG_MAX_REGIONS, err, sizeof(err));
	free(json);
	regions_free(&u);
	regions_free(&t);
}

static void
fuzz_cidr(const uint8_t *data, size_t size)
{
	char in[FUZZ_CIDR_MAX + 1], buf[CIDR_STRLEN], again[CIDR_STRLEN];
	char err[128];
	struct cidr a, b;

	if (size > FUZZ_CIDR_MAX)
		size = FUZZ_CIDR_MAX;
	memcpy(in, data, size);
	in[size] = '\0';
	if (cidr_parse(in, &a, err, sizeof(err)) != 0)
		return;
	cidr_format(&a, buf, sizeof(buf));
	if (cidr_parse(buf, &b, err, sizeof(err)) != 0 || !cidr_equal(&a, &b))
		abort();
	cidr_format(&b, again, sizeof(again));
	if (strcmp(buf, again) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_regions(data, size);
	fuzz_cidr(data, size);
	return 0;
}
