/*
 * spec.c: flags into specs (see spec.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cidr.h"
#include "log.h"
#include "regions.h"
#include "spec.h"

/* A /0 passes every address of its family: only when asked twice. */
static void
allow_any(const struct cli_args *a, const char *cidr)
{
	if (!cli_has(a, CF_ALLOW_ANY))
		cli_usage_error("--allow: %s lets every address through: the "
		    "filter would filter nothing; add --allow-any if that is "
		    "what you mean", cidr);
	log_warnx("warning: --allow %s --allow-any: every %s address passes",
	    cidr, strchr(cidr, ':') ? "IPv6" : "IPv4");
}

void
spec_table(const struct cli_args *a, struct region_table *t)
{
	char why[512];
	struct cidr c;
	int i;

	if (cli_has(a, CF_REGIONS_FILE)) {
		if (regions_load_file(a->v[CF_REGIONS_FILE], t, why,
		    sizeof(why)) != 0)
			cli_usage_error("--regions-file: %s", why);
	} else if (regions_builtin(t) != 0)
		fatal("%s", __func__);
	if (regions_select(t, a->v[CF_REGION], why, sizeof(why)) != 0)
		cli_usage_error("--region: %s", why);
	for (i = 0; i < a->nallow; i++) {
		if (cidr_parse(a->allow[i], &c, why, sizeof(why)) != 0)
			cli_usage_error("--allow: %s", why);
		if (c.prefixlen == 0)
			allow_any(a, a->allow[i]);
		if (regions_add(t, REGION_ALLOW, "", &c) != 0) {
			if (errno != EEXIST)
				fatal("%s", __func__);
			cli_usage_error("--allow: %s is already in the region "
			    "table", a->allow[i]);
		}
	}
}

int
spec_xdp_generic(const struct cli_args *a)
{
	const char *mode = a->v[CF_XDP_MODE];

	if (mode == NULL || strcmp(mode, "native") == 0)
		return 0;
	if (strcmp(mode, "generic") != 0)
		cli_usage_error("--xdp-mode: must be native or generic");
	return 1;
}

void
spec_build(const struct cli_args *a, unsigned what, struct spec *s)
{
	const char *dev = a->v[CF_DEV];
	struct nft_spec *ns = &s->nft;
	char err[512];

	memset(s, 0, sizeof(*s));
	s->what = what;
	nft_spec_init(ns);
	(void)spec_xdp_generic(a);	/* checked before any step runs */
	if ((what & SPEC_FILTER) &&
	    ((a->v[CF_MODE] && filter_spec_mode(&ns->f, a->v[CF_MODE], err,
	    sizeof(err)) != 0) ||
	    (a->v[CF_PORTS] && filter_spec_ports(&ns->f, a->v[CF_PORTS], err,
	    sizeof(err)) != 0)))
		cli_usage_error("%s", err);
	if ((what & SPEC_NFT) &&
	    ((a->v[CF_TABLE] && nft_spec_table(ns, a->v[CF_TABLE], err,
	    sizeof(err)) != 0) ||
	    (a->v[CF_HOOK] && nft_spec_hook(ns, a->v[CF_HOOK], err,
	    sizeof(err)) != 0)))
		cli_usage_error("%s", err);
	if ((what & SPEC_XDP_DEV) && ns->hook != NFT_HOOK_INGRESS)
		dev = NULL;
	if ((what & SPEC_NFT) && dev &&
	    nft_spec_dev(ns, dev, err, sizeof(err)) != 0)
		cli_usage_error("%s", err);
	if (what & SPEC_FILTER)
		spec_table(a, &ns->f.table);
	if ((what & SPEC_PLAN) && nft_plan_build(ns, &s->plan, err,
	    sizeof(err)) != 0)
		cli_usage_error("%s", err);
}

void
spec_free(struct spec *s)
{
	if (s->what & SPEC_PLAN)
		nft_plan_free(&s->plan);
	nft_spec_free(&s->nft);
	memset(s, 0, sizeof(*s));
}

const char *
spec_obj(const struct cli_args *a, char *buf, size_t len)
{
	static const char *installed[] = {
		"/usr/local/lib/streamgate/streamgate.bpf.o",
		"/usr/lib/streamgate/streamgate.bpf.o",
	};
	size_t i;

	if (cli_has(a, CF_OBJ))
		return a->v[CF_OBJ];
	if (cli_exe_sibling("streamgate.bpf.o", R_OK, buf, len) == 0)
		return buf;
	/* installed: PREFIX/sbin/streamgate finds PREFIX/lib/streamgate */
	if (cli_exe_sibling("../lib/streamgate/streamgate.bpf.o", R_OK, buf,
	    len) == 0)
		return buf;
	for (i = 0; i < sizeof(installed) / sizeof(installed[0]); i++)
		if (access(installed[i], R_OK) == 0)
			return installed[i];
	cli_usage_error("--obj: no streamgate.bpf.o beside this binary, in "
	    "../lib/streamgate from it, or in /usr/local/lib/streamgate: "
	    "pass --obj PATH");
}
