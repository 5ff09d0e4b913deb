/*
 * regions.h: the region table: which source prefixes are Stream's (or the
 * operator's), grouped by region.  Built in from Stream's published egress
 * list, or read from a JSON file of the same shape:
 *   [{"region": "us-east", "zone": "use1-az2", "cidr": "34.225.10.29/32"}, ...]
 */
#ifndef SG_REGIONS_H
#define SG_REGIONS_H

#include <stddef.h>
#include <stdio.h>

#include "cidr.h"
#include "streamgate.h"

#define REGION_ZONE_LEN		32
#define REGION_ALLOW		"allow"	/* region name of --allow entries */

struct region_entry {
	char		region[SG_REGION_NAME_LEN];
	char		zone[REGION_ZONE_LEN];
	struct cidr	cidr;
};

struct region_table {
	struct region_entry	*v;
	size_t			 n;
};

/* The 25 built-in addresses, in published order.  0 or -1 (ENOMEM). */
int	regions_builtin(struct region_table *t);

/*
 * Parse the JSON shape above.  Region names: 1..31 chars of [a-z0-9-_];
 * zone: 0..31 printable chars (may be absent: ""); cidr: cidr_parse().
 * Duplicated cidr → refused.  On error returns -1 and err holds
 * "line L: reason" (L is the 1-based line of the offending entry, or of the
 * syntax error).  An empty array is valid (fail-closed allowlist).
 */
int	regions_parse(const char *text, size_t len, struct region_table *t,
	    char *err, size_t errlen);

/* Read and parse a file; err is "PATH: line L: reason" or "PATH: strerror". */
int	regions_load_file(const char *path, struct region_table *t,
	    char *err, size_t errlen);

void	regions_free(struct region_table *t);

/*
 * Keep only entries whose region is listed in csv ("us-east,ohio").
 * An unknown name is refused: err = "unknown region 'x' (known: a, b, ...)".
 * csv NULL or "" keeps everything.
 */
int	regions_select(struct region_table *t, const char *csv,
	    char *err, size_t errlen);

/* Append an operator prefix under region REGION_ALLOW, zone "". */
int	regions_add(struct region_table *t, const char *region,
	    const char *zone, const struct cidr *c);

/*
 * Distinct region names in first-appearance order; a region's index in this
 * list is its region id in the BPF maps.  Returns the count, or -1 with err
 * when there are more than SG_MAX_REGIONS.
 */
int	regions_ids(const struct region_table *t,
	    char names[][SG_REGION_NAME_LEN], size_t max, char *err,
	    size_t errlen);

/* The JSON shape above, pretty-printed (cJSON); caller frees. */
char	*regions_to_json(const struct region_table *t);

/* A human table: REGION  ZONE  CIDR, aligned, with a header line. */
void	regions_print(FILE *fp, const struct region_table *t);

#endif
