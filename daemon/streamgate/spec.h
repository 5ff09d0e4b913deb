/*
 * spec.h: the one place where the tool's flags become what the layers
 * are asked to do: the region table, the XDP filter's spec, the nft spec
 * and its plan, the BPF object to load.  `regions`, `filter`, `nft` and
 * `up` all build through spec_build, so one flag means one thing
 * everywhere.  Every refusal is a usage error naming the flag (exit 2),
 * before anything on the host is touched.
 */
#ifndef SG_SPEC_H
#define SG_SPEC_H

#include <stddef.h>

#include "cli.h"
#include "nft.h"

#define SPEC_FILTER	0x1	/* --mode, --ports, the region table */
#define SPEC_NFT	0x2	/* --table, --hook, --dev */
#define SPEC_PLAN	0x4	/* the nft plan (with SPEC_FILTER|SPEC_NFT) */
#define SPEC_XDP_DEV	0x8	/* --dev is the XDP filter's device; the
				 * ingress hook, when chosen, filters it too */

struct spec {
	unsigned	 what;
	struct nft_spec	 nft;	/* nft.f is the filter's spec */
	struct nft_plan	 plan;
};

void	spec_build(const struct cli_args *a, unsigned what, struct spec *s);
void	spec_free(struct spec *s);
/* The region table alone (`regions`), into t. */
void	spec_table(const struct cli_args *a, struct region_table *t);
/* --xdp-mode native|generic (unset: native): 1 for generic. */
int	spec_xdp_generic(const struct cli_args *a);
/* --obj, else the BPF object beside this binary or installed; else a
 * usage error asking for --obj. */
const char *spec_obj(const struct cli_args *a, char *buf, size_t len);

#endif
