/*
 * test_nft_plan.c: the nftables plan built from the region table, and its
 * `nft -f` rendering.  (Applying it is tested in tests/netns/test_nft.sh.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nft.h"

static void
allow(struct nft_spec *s, const char *region, const char *text)
{
	struct cidr c;
	char err[128];

	assert_int_equal(cidr_parse(text, &c, err, sizeof(err)), 0);
	assert_int_equal(regions_add(&s->f.table, region, "", &c), 0);
}

static char *
printed(const struct nft_plan *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	assert_int_equal(nft_print(fp, p), 0);
	fclose(fp);
	return buf;
}

static void
test_builtin_sets_one_per_region(void **state)
{
	struct nft_spec s;
	struct nft_plan p;
	char err[256];
	size_t k, total = 0;

	(void)state;
	nft_spec_init(&s);
	assert_int_equal(regions_builtin(&s.f.table), 0);
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), 0);
	assert_int_equal(p.nsets, 8);
	assert_string_equal(p.sets[0].name, "v4_us_east");
	assert_string_equal(p.sets[7].name, "v4_oregon");
	for (k = 0; k < p.nsets; k++)
		total += p.sets[k].n;
	assert_int_equal(total, 25);
	assert_string_equal(p.elems[0].comment, "us-east use1-az2");
	assert_string_equal(p.family, "inet");
	assert_string_equal(p.chain, "input");
	assert_int_equal(p.nports, 1);
	assert_int_equal(p.ports[0], 443);
	/* Stream's sets hold hosts only: plain sets, no intervals */
	for (k = 0; k < p.nsets; k++)
		assert_false(p.sets[k].interval);
	/* ports mode: loopback, established, skip unprotected, 8 allows,
	 * 2 drops; then the raw chain: loopback, not new, unprotected,
	 * 8 passes, 2 SYN drops */
	assert_string_equal(p.raw, "prerouting");
	assert_int_equal(p.nrules, 26);
	assert_int_equal(p.rules[0].kind, NR_LOOPBACK);
	assert_int_equal(p.rules[1].kind, NR_ESTABLISHED);
	assert_int_equal(p.rules[2].kind, NR_UNPROTECTED);
	assert_int_equal(p.rules[3].kind, NR_ALLOW);
	assert_string_equal(p.rules[3].comment, "us-east");
	assert_int_equal(p.rules[11].kind, NR_DROP_PORTS);
	assert_int_equal(p.rules[11].family, AF_INET);
	assert_int_equal(p.rules[12].family, AF_INET6);
	for (k = 0; k < 13; k++)
		assert_false(p.rules[k].raw);
	for (k = 13; k < 26; k++)
		assert_true(p.rules[k].raw);
	assert_int_equal(p.rules[13].kind, NR_LOOPBACK);
	assert_int_equal(p.rules[14].kind, NR_NOT_NEW);
	assert_int_equal(p.rules[15].kind, NR_UNPROTECTED);
	assert_int_equal(p.rules[16].kind, NR_PASS);
	assert_int_equal(p.rules[16].set, 0);
	assert_string_equal(p.rules[16].comment, "");	/* no counter */
	assert_int_equal(p.rules[24].kind, NR_DROP_SYN);
	assert_int_equal(p.rules[24].family, AF_INET);
	assert_string_equal(p.rules[24].comment, "syn not allowed");
	assert_int_equal(p.rules[25].family, AF_INET6);
	nft_plan_free(&p);
	nft_spec_free(&s);
}

static void
test_strict_rules_keep_loopback_established_nd(void **state)
{
	struct nft_spec s;
	struct nft_plan p;
	char err[256];

	(void)state;
	nft_spec_init(&s);
	s.f.mode = SG_MODE_STRICT;
	allow(&s, "lab", "198.51.100.7");
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), 0);
	assert_int_equal(p.nports, 0);		/* strict needs no port set */
	assert_int_equal(p.nrules, 12);		/* 7, then 5 in raw */
	assert_int_equal(p.rules[0].kind, NR_LOOPBACK);
	assert_int_equal(p.rules[1].kind, NR_ESTABLISHED);
	assert_int_equal(p.rules[2].kind, NR_ND);
	assert_int_equal(p.rules[3].kind, NR_MLD2);
	assert_int_equal(p.rules[4].kind, NR_ALLOW);
	assert_int_equal(p.rules[5].kind, NR_DROP_ALL);
	/* strict's raw chain drops a SYN to any port: no port rule */
	assert_int_equal(p.rules[7].kind, NR_LOOPBACK);
	assert_int_equal(p.rules[8].kind, NR_NOT_NEW);
	assert_int_equal(p.rules[9].kind, NR_PASS);
	assert_int_equal(p.rules[10].kind, NR_DROP_SYN);
	assert_true(p.rules[10].raw);
	nft_plan_free(&p);

	/* at ingress there is no loopback and no conntrack */
	s.hook = NFT_HOOK_INGRESS;
	strcpy(s.dev, "eth0");
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), 0);
	assert_string_equal(p.family, "netdev");
	assert_string_equal(p.chain, "ingress");
	assert_null(p.raw);	/* no conntrack to get ahead of */
	assert_int_equal(p.rules[0].kind, NR_ND);
	assert_int_equal(p.nrules, 5);
	nft_plan_free(&p);
	nft_spec_free(&s);
}

static void
test_families_split_and_covered_prefixes_dropped(void **state)
{
	struct nft_spec s;
	struct nft_plan p;
	char err[256];

	(void)state;
	nft_spec_init(&s);
	allow(&s, "lab", "198.51.100.0/24");
	allow(&s, "lab", "198.51.100.7");	/* inside the /24 */
	allow(&s, "lab", "2001:db8::/32");
	allow(&s, "other", "198.51.100.8");	/* another region: kept */
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), 0);
	assert_int_equal(p.nsets, 3);
	assert_string_equal(p.sets[0].name, "v4_lab");
	assert_int_equal(p.sets[0].n, 1);
	assert_true(p.sets[0].interval);	/* a /24 */
	assert_string_equal(p.sets[1].name, "v6_lab");
	assert_string_equal(p.sets[2].name, "v4_other");
	assert_false(p.sets[2].interval);	/* one host */
	assert_int_equal(p.rules[4].family, AF_INET6);
	assert_int_equal(p.rules[5].family, AF_INET);
	nft_plan_free(&p);
	nft_spec_free(&s);
}

static void
test_set_name_collision_refused(void **state)
{
	struct nft_spec s;
	struct nft_plan p;
	char err[256];

	(void)state;
	nft_spec_init(&s);
	allow(&s, "a-b", "198.51.100.1");
	allow(&s, "a_b", "198.51.100.2");
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "would share the nft set v4_a_b"));
	nft_spec_free(&s);
}

static void
test_flags_checked(void **state)
{
	struct nft_spec s;
	struct nft_plan p;
	char err[256];

	(void)state;
	nft_spec_init(&s);
	assert_int_equal(nft_spec_hook(&s, "output", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--hook"));
	assert_int_equal(nft_spec_table(&s, "9lives", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--table"));
	assert_int_equal(nft_spec_dev(&s, "a b", err, sizeof(err)), -1);
	assert_int_equal(nft_spec_hook(&s, "ingress", err, sizeof(err)), 0);
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs --dev"));
	assert_int_equal(nft_spec_hook(&s, "input", err, sizeof(err)), 0);
	assert_int_equal(nft_spec_dev(&s, "eth0", err, sizeof(err)), 0);
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "only goes with --hook ingress"));
	nft_spec_free(&s);
}

static void
test_print_shape(void **state)
{
	struct nft_spec s;
	struct nft_plan p;
	char err[256], *text;

	(void)state;
	nft_spec_init(&s);
	assert_int_equal(filter_spec_ports(&s.f, "8443,443", err,
	    sizeof(err)), 0);
	allow(&s, "lab", "198.51.100.7");
	allow(&s, "lab", "2001:db8::/32");
	assert_int_equal(nft_spec_table(&s, "edge", err, sizeof(err)), 0);
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), 0);
	text = printed(&p);
	/* declare, delete, define: one transaction under nft -f */
	assert_non_null(strstr(text, "table inet edge\ndelete table inet edge\n"));
	assert_non_null(strstr(text, "elements = { 198.51.100.7 comment \"lab\" }"));
	assert_non_null(strstr(text, "elements = { 2001:db8::/32 comment \"lab\" }"));
	assert_non_null(strstr(text, "elements = { 443, 8443 }"));
	assert_non_null(strstr(text, "type filter hook input priority filter; "
	    "policy accept;"));
	assert_non_null(strstr(text, "\t\tct state established,related accept\n"
	    "\t\ttcp dport != @protected_ports accept\n"));
	assert_non_null(strstr(text, "set v6_lab {\n\t\ttype ipv6_addr\n"
	    "\t\tflags interval\n"));
	assert_non_null(strstr(text, "set v4_lab {\n\t\ttype ipv4_addr\n"
	    "\t\telements"));
	assert_non_null(strstr(text, "\t\tip saddr @v4_lab counter accept "
	    "comment \"lab\"\n"));
	assert_non_null(strstr(text, "\t\tmeta nfproto ipv6 tcp dport "
	    "@protected_ports counter drop comment \"ipv6 not allowed\"\n"
	    "\t}\n\n\tchain prerouting {\n\t\ttype filter hook prerouting "
	    "priority raw; policy accept;\n\t\tiif \"lo\" accept\n"
	    "\t\ttcp flags != syn / fin,syn,rst,ack accept\n"
	    "\t\ttcp dport != @protected_ports accept\n"
	    "\t\tip saddr @v4_lab accept\n\t\tip6 saddr @v6_lab accept\n"
	    "\t\tmeta nfproto ipv4 tcp flags syn / fin,syn,rst,ack counter "
	    "drop comment \"syn not allowed\"\n"));
	free(text);
	nft_plan_free(&p);

	s.hook = NFT_HOOK_INGRESS;
	strcpy(s.dev, "e0");
	s.f.mode = SG_MODE_STRICT;
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), 0);
	text = printed(&p);
	assert_non_null(strstr(text, "type filter hook ingress device \"e0\" "
	    "priority filter; policy accept;"));
	assert_non_null(strstr(text, "\t\tmeta protocol ip counter drop"));
	assert_null(strstr(text, "ct state"));
	assert_null(strstr(text, "protected_ports"));
	assert_null(strstr(text, "prerouting"));
	free(text);
	nft_plan_free(&p);
	nft_spec_free(&s);
}

static void
test_empty_table_is_fail_closed(void **state)
{
	struct nft_spec s;
	struct nft_plan p;
	char err[256], *text;

	(void)state;
	nft_spec_init(&s);
	assert_int_equal(nft_plan_build(&s, &p, err, sizeof(err)), 0);
	assert_int_equal(p.nsets, 0);
	/* lo, established, unprotected, 2 drops; raw: lo, not new,
	 * unprotected, 2 SYN drops */
	assert_int_equal(p.nrules, 10);
	text = printed(&p);
	assert_non_null(strstr(text, "tcp dport @protected_ports counter drop"));
	assert_non_null(strstr(text, "fin,syn,rst,ack counter drop"));
	free(text);
	nft_plan_free(&p);
	nft_spec_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_sets_one_per_region),
		cmocka_unit_test(test_strict_rules_keep_loopback_established_nd),
		cmocka_unit_test(test_families_split_and_covered_prefixes_dropped),
		cmocka_unit_test(test_set_name_collision_refused),
		cmocka_unit_test(test_flags_checked),
		cmocka_unit_test(test_print_shape),
		cmocka_unit_test(test_empty_table_is_fail_closed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
