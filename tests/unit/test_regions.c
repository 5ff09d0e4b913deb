/* test_regions.c: the built-in table, the JSON format and its errors. */
#include <sys/stat.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "regions.h"

#define ERRLEN	512

static const struct {
	const char	*region;
	const char	*zone;
	const char	*cidr;
} builtin[25] = {
	{ "us-east",	"use1-az2",	"34.225.10.29/32" },
	{ "us-east",	"use1-az4",	"34.198.125.61/32" },
	{ "us-east",	"use1-az3",	"52.22.78.160/32" },
	{ "us-east",	"use1-az6",	"3.215.161.238/32" },
	{ "eu-west",	"euw1-az3",	"52.212.14.212/32" },
	{ "eu-west",	"euw1-az1",	"52.17.43.232/32" },
	{ "eu-west",	"euw1-az2",	"34.241.110.177/32" },
	{ "sydney",	"apse2-az3",	"54.252.193.245/32" },
	{ "sydney",	"apse2-az2",	"13.55.254.141/32" },
	{ "sydney",	"apse2-az1",	"3.24.48.104/32" },
	{ "mumbai",	"aps1-az1",	"65.1.48.87/32" },
	{ "mumbai",	"aps1-az3",	"15.206.221.25/32" },
	{ "mumbai",	"aps1-az2",	"13.233.48.78/32" },
	{ "singapore",	"apse1-az2",	"13.229.11.158/32" },
	{ "singapore",	"apse1-az1",	"52.74.225.150/32" },
	{ "singapore",	"apse1-az3",	"52.76.180.70/32" },
	{ "ohio",	"use2-az1",	"3.14.163.216/32" },
	{ "ohio",	"use2-az2",	"3.15.245.3/32" },
	{ "ohio",	"use2-az3",	"3.141.116.179/32" },
	{ "canada",	"cac1-az1",	"35.183.141.98/32" },
	{ "canada",	"cac1-az2",	"52.60.71.231/32" },
	{ "canada",	"cac1-az4",	"3.97.253.35/32" },
	{ "oregon",	"usw2-az1",	"52.25.165.25/32" },
	{ "oregon",	"usw2-az2",	"44.237.58.11/32" },
	{ "oregon",	"usw2-az3",	"52.10.213.81/32" },
};

static const char *known = "(known: us-east, eu-west, sydney, mumbai, "
    "singapore, ohio, canada, oregon)";

static void
assert_entry(const struct region_entry *e, const char *region,
    const char *zone, const char *cidr)
{
	char buf[CIDR_STRLEN];

	assert_string_equal(e->region, region);
	assert_string_equal(e->zone, zone);
	cidr_format(&e->cidr, buf, sizeof(buf));
	assert_string_equal(buf, cidr);
}

static void
assert_tables_equal(const struct region_table *a, const struct region_table *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_string_equal(a->v[i].region, b->v[i].region);
		assert_string_equal(a->v[i].zone, b->v[i].zone);
		assert_true(cidr_equal(&a->v[i].cidr, &b->v[i].cidr));
	}
}

/* Parse from an exactly sized heap copy: ASan sees any read past len. */
static int
parse_exact(const char *text, size_t len, struct region_table *t, char *err)
{
	char *copy;
	int rc;

	copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, text, len);
	rc = regions_parse(copy, len, t, err, ERRLEN);
	free(copy);
	return rc;
}

static void
assert_parse_fails(const char *text, size_t len, const char *want)
{
	struct region_table t = { (void *)&t, 99 };
	char err[ERRLEN] = "";

	if (parse_exact(text, len, &t, err) != -1)
		fail_msg("accepted: %s", text);
	if (strcmp(err, want) != 0)
		fail_msg("input:\n%s\nwant: %s\ngot:  %s", text, want, err);
	assert_null(t.v);
	assert_int_equal(t.n, 0);
}

static void
test_builtin(void **state)
{
	struct region_table t;
	size_t i;

	(void)state;
	assert_int_equal(regions_builtin(&t), 0);
	assert_int_equal(t.n, 25);
	for (i = 0; i < t.n; i++) {
		assert_entry(&t.v[i], builtin[i].region, builtin[i].zone,
		    builtin[i].cidr);
		assert_int_equal(t.v[i].cidr.family, AF_INET);
		assert_true(cidr_is_host(&t.v[i].cidr));
	}
	regions_free(&t);
	assert_null(t.v);
	assert_int_equal(t.n, 0);
}

static void
test_json_round_trip(void **state)
{
	struct region_table t, u;
	char err[ERRLEN];
	char *json;

	(void)state;
	assert_int_equal(regions_builtin(&t), 0);
	json = regions_to_json(&t);
	assert_non_null(json);
	if (regions_parse(json, strlen(json), &u, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_tables_equal(&t, &u);
	free(json);
	regions_free(&u);
	regions_free(&t);
}

static void
test_json_shape(void **state)
{
	static const char *keys[] = { "region", "zone", "cidr" };
	struct region_table t = { NULL, 0 }, u;
	struct cidr c;
	const cJSON *el, *kv;
	char err[ERRLEN], *json;
	cJSON *root;
	size_t k;

	(void)state;
	assert_int_equal(cidr_parse("2001:db8::/32", &c, NULL, 0), 0);
	assert_int_equal(regions_add(&t, "v6", "", &c), 0);
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, NULL, 0), 0);
	assert_int_equal(regions_add(&t, "lan", "rack {1}, [2]", &c), 0);
	json = regions_to_json(&t);
	assert_non_null(json);

	root = cJSON_Parse(json);
	assert_non_null(root);
	assert_true(cJSON_IsArray(root));
	assert_int_equal(cJSON_GetArraySize(root), 2);
	cJSON_ArrayForEach(el, root) {
		k = 0;
		cJSON_ArrayForEach(kv, el) {
			assert_true(k < 3);
			assert_string_equal(kv->string, keys[k]);
			assert_true(cJSON_IsString(kv));
			k++;
		}
		assert_int_equal(k, 3);
	}
	el = cJSON_GetArrayItem(root, 0);
	assert_string_equal(cJSON_GetObjectItem(el, "cidr")->valuestring,
	    "2001:db8::/32");
	assert_string_equal(cJSON_GetObjectItem(el, "zone")->valuestring, "");
	cJSON_Delete(root);

	assert_int_equal(regions_parse(json, strlen(json), &u, err,
	    sizeof(err)), 0);
	assert_tables_equal(&t, &u);
	free(json);
	regions_free(&u);

	/* An empty table is an empty array, and parses back as one. */
	regions_free(&t);
	json = regions_to_json(&t);
	assert_non_null(json);
	assert_string_equal(json, "[]");
	assert_int_equal(regions_parse(json, 2, &u, err, sizeof(err)), 0);
	assert_int_equal(u.n, 0);
	free(json);
}

static void
test_parse_good(void **state)
{
	static const char text[] =
	    "\xef\xbb\xbf[\r\n"
	    "  {\"region\": \"us-east\", \"zone\": \"use1-az2\", "
	    "\"cidr\": \"34.225.10.29\"},\n"
	    "  {\"cidr\": \"2001:db8::/32\", \"region\": \"lab_6\"},\n"
	    "  {\"zone\": \"\", \"region\": \"a\", \"cidr\": \"10.0.0.0/8\"},\n"
	    "  {\"region\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
	    "\"zone\": \"~ z,[{'}] \\/ 0123456789012\", "
	    "\"cidr\": \"0.0.0.0/0\"}\n"
	    "]\n\n";
	struct region_table t;
	char err[ERRLEN];

	(void)state;
	if (parse_exact(text, sizeof(text) - 1, &t, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(t.n, 4);
	assert_entry(&t.v[0], "us-east", "use1-az2", "34.225.10.29/32");
	assert_entry(&t.v[1], "lab_6", "", "2001:db8::/32");
	assert_int_equal(t.v[1].cidr.family, AF_INET6);
	assert_entry(&t.v[2], "a", "", "10.0.0.0/8");
	assert_entry(&t.v[3], "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "~ z,[{'}] / 0123456789012", "0.0.0.0/0");
	regions_free(&t);
}

static void
test_parse_empty_array(void **state)
{
	struct region_table t;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse_exact("[]", 2, &t, err), 0);
	assert_int_equal(t.n, 0);
	assert_null(t.v);
	assert_int_equal(parse_exact(" \n[\n\t]\n ", 8, &t, err), 0);
	assert_int_equal(t.n, 0);
	regions_free(&t);
}

static void
test_parse_length_aware(void **state)
{
	static const char text[] =
	    "[{\"region\": \"a\", \"cidr\": \"1.2.3.4\"}]garbage";
	struct region_table t;
	char err[ERRLEN];

	(void)state;
	/* Only len bytes count: the garbage after them is not seen. */
	assert_int_equal(parse_exact(text, sizeof(text) - 8, &t, err), 0);
	assert_int_equal(t.n, 1);
	regions_free(&t);
	assert_parse_fails(text, sizeof(text) - 1,
	    "line 1: JSON syntax error: trailing data after the JSON value");
	/* Cut inside a string: cJSON must not read on. */
	assert_parse_fails(text, 29, "line 1: JSON syntax error");
	assert_parse_fails(text, 1, "line 1: JSON syntax error");
}

struct bad {
	const char	*text;
	const char	*want;
};

#define ENTRY(r, c)	"{\"region\": \"" r "\", \"cidr\": \"" c "\"}"
#define GOOD		ENTRY("us-east", "34.225.10.29")

static const struct bad bads[] = {
	{ "", "line 1: empty input" },
	{ " \n\t\n", "line 1: empty input" },
	/* Syntax: the line of the offending byte. */
	{ "[\n" GOOD ",\n" ENTRY("a", "1.2.3.5") " oops\n]",
	    "line 3: JSON syntax error" },
	{ "[\n" GOOD ",\n", "line 2: JSON syntax error" },
	{ "[\n" GOOD ",\n]", "line 3: JSON syntax error" },
	{ "[\n\n{\"region\": \"a\",\n\"cidr\": 1.2.3}]",
	    "line 4: JSON syntax error" },
	{ "[\n\n{\"region\": \"a\",\n\"cidr\": \"1.2.3.4}]\n\n",
	    "line 4: JSON syntax error" },
	{ "[\n" GOOD "\n]\n]", "line 4: JSON syntax error: trailing data after the JSON value" },
	{ "[] []", "line 1: JSON syntax error: trailing data after the JSON value" },
	/* Shape. */
	{ "{}", "line 1: top level is not an array" },
	{ "\n\n  {\"region\": \"a\"}\n", "line 3: top level is not an array" },
	{ "\"x\"", "line 1: top level is not an array" },
	{ "null", "line 1: top level is not an array" },
	{ "[\n  " GOOD ",\n  \"x\"\n]", "line 3: entry 2: not an object" },
	{ "[\n  " GOOD ",\n\n  [" GOOD "]\n]",
	    "line 4: entry 2: not an object" },
	{ "[\n" GOOD ",\n" ENTRY("a", "1.2.3.5") "\n, 42]",
	    "line 4: entry 3: not an object" },
	{ "[null]", "line 1: entry 1: not an object" },
	/* Members. */
	{ "[\n  {\"cidr\": \"1.2.3.4\"}\n]",
	    "line 2: entry 1: missing key 'region'" },
	{ "[\n  " GOOD ",\n  {\"region\": \"a\",\n   \"zone\": \"z\"}\n]",
	    "line 3: entry 2: missing key 'cidr'" },
	{ "[\n{\"region\": 5, \"cidr\": \"1.2.3.4\"}]",
	    "line 2: entry 1: key 'region' is not a string" },
	{ "[\n{\"region\": null, \"cidr\": \"1.2.3.4\"}]",
	    "line 2: entry 1: key 'region' is not a string" },
	{ "[\n{\"region\": \"a\", \"cidr\": [\"1.2.3.4\"]}]",
	    "line 2: entry 1: key 'cidr' is not a string" },
	{ "[\n{\"region\": \"a\", \"zone\": null, \"cidr\": \"1.2.3.4\"}]",
	    "line 2: entry 1: key 'zone' is not a string" },
	{ "[\n" GOOD ",\n{\"region\": \"a\", \"Region\": \"b\", "
	    "\"cidr\": \"1.2.3.5\"}]",
	    "line 3: entry 2: unknown key 'Region'" },
	{ "[\n{\"region\": \"a\", \"cidr\": \"1.2.3.5\", \"x\\u001b[2J\": 1}]",
	    "line 2: entry 1: unknown key 'x?[2J'" },
	{ "[{\"region\": \"a\", \"cidr\": \"1.2.3.5\", \"\": 1}]",
	    "line 1: entry 1: unknown key ''" },
	{ "[\n\n{\"region\": \"a\", \"cidr\": \"1.2.3.5\",\n \"cidr\": \"1.2.3.6\"}]",
	    "line 3: entry 1: duplicate key 'cidr'" },
	/* Region names. */
	{ "[\n" ENTRY("US-East", "1.2.3.4") "]",
	    "line 2: entry 1: bad region name 'US-East': "
	    "want 1 to 31 of a-z 0-9 - _" },
	{ "[\n" ENTRY("", "1.2.3.4") "]",
	    "line 2: entry 1: bad region name '': want 1 to 31 of a-z 0-9 - _" },
	{ "[\n" ENTRY("us east", "1.2.3.4") "]",
	    "line 2: entry 1: bad region name 'us east': "
	    "want 1 to 31 of a-z 0-9 - _" },
	{ "[\n" ENTRY("r\\u00e9gion", "1.2.3.4") "]",
	    "line 2: entry 1: bad region name 'r??gion': "
	    "want 1 to 31 of a-z 0-9 - _" },
	{ "[\n" ENTRY("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1.2.3.4") "]",
	    "line 2: entry 1: bad region name "
	    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': want 1 to 31 of a-z 0-9 - _" },
	{ "[\n" ENTRY("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "1.2.3.4") "]",
	    "line 2: entry 1: bad region name "
	    "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...': "
	    "want 1 to 31 of a-z 0-9 - _" },
	/* Zones. */
	{ "[\n{\"region\": \"a\", \"zone\": \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\", "
	    "\"cidr\": \"1.2.3.4\"}]",
	    "line 2: entry 1: zone longer than 31 characters" },
	{ "[\n{\"region\": \"a\", \"zone\": \"a\\tb\", \"cidr\": \"1.2.3.4\"}]",
	    "line 2: entry 1: zone has a non-printable character" },
	{ "[\n{\"region\": \"a\", \"zone\": \"z\xc3\xa9\", \"cidr\": \"1.2.3.4\"}]",
	    "line 2: entry 1: zone has a non-printable character" },
	/* a quote would end nft's comment string: "a "; drop" */
	{ "[\n{\"region\": \"a\", \"zone\": \"a \\\"; drop\", "
	    "\"cidr\": \"1.2.3.4\"}]",
	    "line 2: entry 1: zone has a quote or a backslash (it goes into "
	    "an nft comment)" },
	{ "[\n{\"region\": \"a\", \"zone\": \"a\\\\b\", \"cidr\": \"1.2.3.4\"}]",
	    "line 2: entry 1: zone has a quote or a backslash (it goes into "
	    "an nft comment)" },
	/* Prefixes. */
	{ "[\n\n" GOOD ",\n" ENTRY("a", "1.2.3.5") ",\n\n\n"
	    ENTRY("b", "1.2.3.4/33") "\n]",
	    "line 7: entry 3: bad cidr '1.2.3.4/33': prefix length out of range" },
	{ "[\n" ENTRY("a", "10.0.0.1/8") "]",
	    "line 2: entry 1: bad cidr '10.0.0.1/8': host bits set in "
	    "10.0.0.1/8 (network is 10.0.0.0/8)" },
	{ "[\n" ENTRY("a", "") "]", "line 2: entry 1: bad cidr '': empty prefix" },
	{ "[\n" ENTRY("a", " 1.2.3.4") "]",
	    "line 2: entry 1: bad cidr ' 1.2.3.4': whitespace in prefix" },
	{ "[\n" ENTRY("a", "1.2.3.4/08") "]",
	    "line 2: entry 1: bad cidr '1.2.3.4/08': leading zero in prefix "
	    "length" },
	{ "[\n" ENTRY("a", "1.2.3.4\\u001b[31m") "]",
	    "line 2: entry 1: bad cidr '1.2.3.4?[31m': not an IPv4 address" },
	{ "[\n" ENTRY("a", "2001:db8::1/64") "]",
	    "line 2: entry 1: bad cidr '2001:db8::1/64': host bits set in "
	    "2001:db8::1/64 (network is 2001:db8::/64)" },
	/* Duplicates: named by their canonical form, with the first. */
	{ "[\n" GOOD ",\n" ENTRY("a", "1.2.3.5") ",\n"
	    ENTRY("b", "34.225.10.29/32") "]",
	    "line 4: entry 3: duplicate cidr '34.225.10.29/32' (first in entry 1)" },
	{ "[\n" ENTRY("a", "2001:db8::/32") ",\n"
	    ENTRY("a", "2001:DB8:0::/32") "]",
	    "line 3: entry 2: duplicate cidr '2001:db8::/32' (first in entry 1)" },
	/* Strings with brackets, commas and escapes do not confuse lines. */
	{ "[\n{\"region\": \"a\", \"zone\": \"\\/,]}[{\\u005b\", "
	    "\"cidr\": \"1.2.3.4\"}, {\"region\": \"b\", \"zone\": \"[,\",\n"
	    "\"cidr\": \"1.2.3.5\"},\n\n7]",
	    "line 5: entry 3: not an object" },
	{ "[\r\n" GOOD ",\r\n" ENTRY("a", "1.2.3.5") ",\r\n5]",
	    "line 4: entry 3: not an object" },
};

static void
test_parse_bad(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		assert_parse_fails(bads[i].text, strlen(bads[i].text),
		    bads[i].want);
}

static void
test_parse_nul(void **state)
{
	static const char raw[] = "[\n\n" GOOD "\0]";
	static const char esc[] = "[" GOOD ",\n" ENTRY("a", "1.2.3.5\\u0000x")
	    "]";
	static const char key[] = "[\n\n{\"region\": \"a\", \"cidr\": \"1.2.3.5\", "
	    "\"re\\u0000gion\": \"b\"}]";
	static const char ok[] = "[" ENTRY("a", "1.2.3.5") ", \"\\\\u0000\"]";

	(void)state;
	assert_parse_fails(raw, sizeof(raw) - 1, "line 3: NUL byte in input");
	assert_parse_fails(esc, sizeof(esc) - 1, "line 2: \\u0000 in a string");
	assert_parse_fails(key, sizeof(key) - 1, "line 3: \\u0000 in a string");
	/* An escaped backslash followed by "u0000" is no NUL. */
	assert_parse_fails(ok, sizeof(ok) - 1, "line 1: entry 2: not an object");
}

static void
test_parse_err_buffers(void **state)
{
	struct region_table t;
	char err[12];

	(void)state;
	assert_int_equal(regions_parse("[5]", 3, &t, NULL, 0), -1);
	assert_int_equal(regions_parse("[5]", 3, &t, err, sizeof(err)), -1);
	assert_string_equal(err, "line 1: ent");
	assert_int_equal(regions_parse("[5]", 3, &t, err, 5), -1);
	assert_string_equal(err, "line");
}

/* Files go into a fresh directory under TMPDIR. */
struct fixture {
	char	dir[256];
	char	path[300];
};

static int
setup_dir(void **state)
{
	struct fixture *f;
	const char *tmp = getenv("TMPDIR");

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/test_regions.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown_dir(void **state)
{
	struct fixture *f = *state;

	snprintf(f->path, sizeof(f->path), "%s/f.json", f->dir);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static const char *
write_file(struct fixture *f, const char *text, size_t len)
{
	FILE *fp;

	snprintf(f->path, sizeof(f->path), "%s/f.json", f->dir);
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return f->path;
}

static void
test_load_file(void **state)
{
	static const char good[] = "[\n" GOOD ",\n" ENTRY("b", "::1") "\n]\n";
	static const char bad[] = "[\n" GOOD ",\n\n" ENTRY("b", "::1/129") "]";
	struct fixture *f = *state;
	struct region_table t;
	char err[ERRLEN], want[ERRLEN];
	const char *path;

	path = write_file(f, good, sizeof(good) - 1);
	if (regions_load_file(path, &t, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(t.n, 2);
	assert_entry(&t.v[0], "us-east", "", "34.225.10.29/32");
	assert_entry(&t.v[1], "b", "", "::1/128");
	regions_free(&t);

	path = write_file(f, bad, sizeof(bad) - 1);
	assert_int_equal(regions_load_file(path, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: line 4: entry 2: bad cidr "
	    "'::1/129': prefix length out of range", path);
	assert_string_equal(err, want);
	assert_null(t.v);

	path = write_file(f, "", 0);
	assert_int_equal(regions_load_file(path, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: line 1: empty input", path);
	assert_string_equal(err, want);
}

static void
test_load_file_errors(void **state)
{
	struct fixture *f = *state;
	struct region_table t;
	char err[ERRLEN], want[ERRLEN];

	snprintf(f->path, sizeof(f->path), "%s/missing.json", f->dir);
	assert_int_equal(regions_load_file(f->path, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: %s", f->path, strerror(ENOENT));
	assert_string_equal(err, want);

	assert_int_equal(regions_load_file(f->dir, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: %s", f->dir, strerror(EISDIR));
	assert_string_equal(err, want);
	assert_null(t.v);
	assert_int_equal(t.n, 0);
}

static void
test_load_file_size(void **state)
{
	const size_t max = 4u << 20;
	struct fixture *f = *state;
	struct region_table t;
	char err[ERRLEN], want[ERRLEN];
	const char *path;
	char *big;

	/* Exactly 4 MiB is allowed ... */
	big = malloc(max + 1);
	assert_non_null(big);
	memset(big, ' ', max + 1);
	big[0] = '[';
	big[max - 1] = ']';
	path = write_file(f, big, max);
	if (regions_load_file(path, &t, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(t.n, 0);

	/* ... one byte more is not, whatever it holds. */
	path = write_file(f, big, max + 1);
	assert_int_equal(regions_load_file(path, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: larger than 4 MiB", path);
	assert_string_equal(err, want);
	free(big);
}

static void
test_select(void **state)
{
	struct region_table t;
	char err[ERRLEN];
	size_t i;

	(void)state;
	assert_int_equal(regions_builtin(&t), 0);
	assert_int_equal(regions_select(&t, NULL, err, sizeof(err)), 0);
	assert_int_equal(t.n, 25);
	assert_int_equal(regions_select(&t, "", err, sizeof(err)), 0);
	assert_int_equal(t.n, 25);

	/* Table order is kept, not the order of the list. */
	assert_int_equal(regions_select(&t, "ohio,us-east,ohio", err,
	    sizeof(err)), 0);
	assert_int_equal(t.n, 7);
	for (i = 0; i < 4; i++)
		assert_entry(&t.v[i], "us-east", builtin[i].zone,
		    builtin[i].cidr);
	for (i = 4; i < 7; i++)
		assert_entry(&t.v[i], "ohio", builtin[i + 12].zone,
		    builtin[i + 12].cidr);
	assert_int_equal(regions_select(&t, "ohio", err, sizeof(err)), 0);
	assert_int_equal(t.n, 3);
	regions_free(&t);
}

static void
assert_select_fails(const char *csv, const char *want)
{
	struct region_table t;
	char err[ERRLEN] = "";

	assert_int_equal(regions_builtin(&t), 0);
	if (regions_select(&t, csv, err, sizeof(err)) != -1)
		fail_msg("accepted '%s'", csv);
	assert_string_equal(err, want);
	/* A refusal leaves the table whole. */
	assert_int_equal(t.n, 25);
	regions_free(&t);
}

static void
test_select_bad(void **state)
{
	char want[ERRLEN];

	(void)state;
	snprintf(want, sizeof(want), "unknown region 'mars' %s", known);
	assert_select_fails("mars", want);
	assert_select_fails("us-east,mars", want);
	snprintf(want, sizeof(want), "unknown region 'US-EAST' %s", known);
	assert_select_fails("US-EAST", want);
	snprintf(want, sizeof(want), "unknown region 'x?y' %s", known);
	assert_select_fails("x\033y", want);
	assert_select_fails("us-east,,ohio",
	    "empty region name in 'us-east,,ohio'");
	assert_select_fails("ohio,", "empty region name in 'ohio,'");
	assert_select_fails(",ohio", "empty region name in ',ohio'");
	assert_select_fails(",", "empty region name in ','");
	assert_select_fails("us-east, ohio",
	    "whitespace in region name ' ohio'");
	assert_select_fails("ohio ", "whitespace in region name 'ohio '");
	assert_select_fails("\tohio", "whitespace in region name '?ohio'");
}

static void
test_select_unknown_small(void **state)
{
	struct region_table t = { NULL, 0 };
	struct cidr c;
	char err[ERRLEN], tiny[20];

	(void)state;
	assert_int_equal(regions_select(&t, "a", err, sizeof(err)), -1);
	assert_string_equal(err, "unknown region 'a' (known: none)");

	assert_int_equal(cidr_parse("1.2.3.4", &c, NULL, 0), 0);
	assert_int_equal(regions_add(&t, "b", "", &c), 0);
	assert_int_equal(regions_select(&t, "a", err, sizeof(err)), -1);
	assert_string_equal(err, "unknown region 'a' (known: b)");
	/* A short buffer truncates, never overruns. */
	assert_int_equal(regions_select(&t, "a", tiny, sizeof(tiny)), -1);
	assert_string_equal(tiny, "unknown region 'a' ");
	assert_int_equal(regions_select(&t, "a", NULL, 0), -1);
	regions_free(&t);
}

static void
test_ids(void **state)
{
	static const char *want[] = { "us-east", "eu-west", "sydney",
	    "mumbai", "singapore", "ohio", "canada", "oregon" };
	char names[SG_MAX_REGIONS][SG_REGION_NAME_LEN];
	struct region_table t = { NULL, 0 };
	char err[ERRLEN];
	struct cidr c;
	int i, n;

	(void)state;
	assert_int_equal(regions_ids(&t, names, SG_MAX_REGIONS, err,
	    sizeof(err)), 0);
	assert_int_equal(regions_builtin(&t), 0);
	/* A region that reappears later keeps its first id. */
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, NULL, 0), 0);
	assert_int_equal(regions_add(&t, "sydney", "", &c), 0);
	assert_int_equal(cidr_parse("10.1.0.0/16", &c, NULL, 0), 0);
	assert_int_equal(regions_add(&t, NULL, NULL, &c), 0);

	n = regions_ids(&t, names, SG_MAX_REGIONS, err, sizeof(err));
	assert_int_equal(n, 9);
	for (i = 0; i < 8; i++)
		assert_string_equal(names[i], want[i]);
	assert_string_equal(names[8], REGION_ALLOW);

	/* Fewer slots than regions: refused too. */
	assert_int_equal(regions_ids(&t, names, 8, err, sizeof(err)), -1);
	assert_string_equal(err, "too many regions: more than 8 "
	    "(region 'allow' would be number 9)");
	regions_free(&t);
}

static void
test_ids_limit(void **state)
{
	char names[SG_MAX_REGIONS + 1][SG_REGION_NAME_LEN];
	struct region_table t = { NULL, 0 };
	char name[SG_REGION_NAME_LEN], err[ERRLEN];
	struct cidr c;
	int i;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.family = AF_INET;
	c.prefixlen = 32;
	c.addr[0] = 10;
	for (i = 0; i < SG_MAX_REGIONS; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		c.addr[3] = (uint8_t)i;
		assert_int_equal(regions_add(&t, name, "", &c), 0);
		c.addr[2] = 1;	/* a second entry, same region */
		assert_int_equal(regions_add(&t, name, "", &c), 0);
		c.addr[2] = 0;
	}
	assert_int_equal(regions_ids(&t, names, SG_MAX_REGIONS + 1, err,
	    sizeof(err)), SG_MAX_REGIONS);
	assert_string_equal(names[0], "r0");
	assert_string_equal(names[SG_MAX_REGIONS - 1], "r63");

	c.addr[3] = 200;
	assert_int_equal(regions_add(&t, "one-more", "", &c), 0);
	/* Even with room in names, 64 is the limit of the BPF maps. */
	assert_int_equal(regions_ids(&t, names, SG_MAX_REGIONS + 1, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "too many regions: more than 64 "
	    "(region 'one-more' would be number 65)");
	regions_free(&t);
}

static void
test_add(void **state)
{
	char long_name[SG_REGION_NAME_LEN + 1];
	struct region_table t = { NULL, 0 };
	struct cidr c, d;

	(void)state;
	assert_int_equal(cidr_parse("192.0.2.0/24", &c, NULL, 0), 0);
	assert_int_equal(regions_add(&t, REGION_ALLOW, "", &c), 0);
	assert_int_equal(t.n, 1);
	assert_entry(&t.v[0], "allow", "", "192.0.2.0/24");

	errno = 0;
	assert_int_equal(regions_add(&t, "other", "", &c), -1);
	assert_int_equal(errno, EEXIST);

	assert_int_equal(cidr_parse("2001:db8::1", &d, NULL, 0), 0);
	errno = 0;
	assert_int_equal(regions_add(&t, "Bad", "", &d), -1);
	assert_int_equal(errno, EINVAL);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(regions_add(&t, long_name, "", &d), -1);
	assert_int_equal(errno, EINVAL);
	long_name[SG_REGION_NAME_LEN - 1] = '\0';	/* 31: fits */
	assert_int_equal(regions_add(&t, long_name, "z", &d), 0);
	assert_int_equal(regions_add(&t, "a", "tab\there", &d), -1);
	assert_int_equal(errno, EINVAL);

	d.family = 99;
	assert_int_equal(regions_add(&t, "a", "", &d), -1);
	assert_int_equal(errno, EINVAL);
	d.family = AF_INET;
	d.prefixlen = 33;
	assert_int_equal(regions_add(&t, "a", "", &d), -1);
	assert_int_equal(errno, EINVAL);

	assert_int_equal(t.n, 2);
	assert_entry(&t.v[1], long_name, "z", "2001:db8::1/128");
	regions_free(&t);
}

static char *
print_table(const struct region_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	regions_print(fp, t);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

static void
test_print(void **state)
{
	struct region_table t;
	char want[4096], *got;
	size_t i, off;
	struct cidr c;

	(void)state;
	assert_int_equal(regions_builtin(&t), 0);
	off = (size_t)snprintf(want, sizeof(want), "REGION     ZONE       CIDR\n");
	for (i = 0; i < 25; i++)
		off += (size_t)snprintf(want + off, sizeof(want) - off,
		    "%-10s %-10s %s\n", builtin[i].region, builtin[i].zone,
		    builtin[i].cidr);
	got = print_table(&t);
	assert_string_equal(got, want);
	assert_non_null(strstr(got, "\nus-east    use1-az2   34.225.10.29/32\n"));
	free(got);
	regions_free(&t);

	/* Columns widen for long values; an empty zone shows as '-'. */
	assert_int_equal(cidr_parse("2001:db8::/32", &c, NULL, 0), 0);
	assert_int_equal(regions_add(&t, "a-rather-long-region", "", &c), 0);
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, NULL, 0), 0);
	assert_int_equal(regions_add(&t, "b", "zone-with-long-name", &c), 0);
	got = print_table(&t);
	assert_string_equal(got,
	    "REGION               ZONE                CIDR\n"
	    "a-rather-long-region -                   2001:db8::/32\n"
	    "b                    zone-with-long-name 10.0.0.0/8\n");
	free(got);
	regions_free(&t);

	got = print_table(&t);
	assert_string_equal(got, "REGION     ZONE       CIDR\n");
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_shape),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_empty_array),
		cmocka_unit_test(test_parse_length_aware),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_parse_err_buffers),
		cmocka_unit_test_setup_teardown(test_load_file, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_file_errors,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_file_size,
		    setup_dir, teardown_dir),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_select_bad),
		cmocka_unit_test(test_select_unknown_small),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_ids_limit),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
