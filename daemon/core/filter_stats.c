/*
 * filter_stats.c: the filter's counters, summed over CPUs: passed per region,
 * dropped per reason, passed unchecked per reason.  As a table for people,
 * or as JSON for scripts (cJSON).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>

#include "filter.h"
#include "log.h"

const char *const filter_drop_names[SG_DROP_MAX] = {
	[SG_DROP_NOT_ALLOWED]	= "not_allowed",
	[SG_DROP_NOT_ALLOWED6]	= "ipv6_not_allowed",
	[SG_DROP_FRAGMENT]	= "fragment",
	[SG_DROP_MALFORMED]	= "malformed",
};

const char *const filter_skip_names[SG_SKIP_MAX] = {
	[SG_SKIP_PORT]		= "unprotected_port",
	[SG_SKIP_NON_IP]	= "non_ip",
	[SG_SKIP_ARP_ND]	= "arp_nd",
	[SG_SKIP_FRAGMENT]	= "later_fragment",
};

struct stats {
	struct sg_config	cfg;
	struct filter_counters	c;
	uint64_t		entries[SG_MAX_REGIONS];	/* hosts, prefixes */
	struct filter_user	users[16];
	int			nusers;
};

static int
percpu_sum(int fd, uint32_t idx, struct sg_counter *sum)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct sg_counter *v;

	memset(sum, 0, sizeof(*sum));
	if (ncpu <= 0 || (v = calloc(ncpu, sizeof(*v))) == NULL)
		return -1;
	if (bpf_map_lookup_elem(fd, &idx, v) != 0) {
		free(v);
		return -1;
	}
	for (i = 0; i < ncpu; i++) {
		sum->packets += v[i].packets;
		sum->bytes += v[i].bytes;
	}
	free(v);
	return 0;
}

/* Hosts per region in the live half of sg_exact4. */
static void
exact4_count(const struct filter_maps *m, struct stats *st)
{
	struct sg_x4_bucket b;
	uint32_t k, base = st->cfg.x4_half ? SG_X4_BUCKETS : 0;
	int s;

	if (st->cfg.version == 0)
		return;		/* never synced: the program reads nothing */
	for (k = base; k < base + SG_X4_BUCKETS; k++) {
		if (bpf_map_lookup_elem(m->fd[FM_EXACT4], &k, &b) != 0)
			continue;
		for (s = 0; s < SG_X4_SLOTS; s++)
			if (b.tag[s] && b.tag[s] <= SG_MAX_REGIONS)
				st->entries[b.tag[s] - 1]++;
	}
}

/* How many allowlist entries each region id has, over all the maps. */
static void
entries_count(const struct filter_maps *m, struct stats *st)
{
	static const int maps[] = { FM_ALLOW4, FM_ALLOW6, FM_LPM4, FM_LPM6 };
	uint8_t key[32], next[32];
	uint32_t region;
	size_t i;

	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		int fd = m->fd[maps[i]];
		void *prev = NULL;

		while (bpf_map_get_next_key(fd, prev, next) == 0) {
			memcpy(key, next, sizeof(key));
			prev = key;
			if (bpf_map_lookup_elem(fd, key, &region) == 0 &&
			    region < SG_MAX_REGIONS)
				st->entries[region]++;
		}
	}
	exact4_count(m, st);
}

int
filter_counters_read(const struct filter_maps *m, struct filter_counters *c)
{
	uint32_t k;

	for (k = 0; k < SG_MAX_REGIONS; k++) {
		if (bpf_map_lookup_elem(m->fd[FM_REGIONS], &k, &c->name[k]) != 0 ||
		    percpu_sum(m->fd[FM_PASS], k, &c->pass[k]) != 0)
			return -1;
		c->name[k].name[SG_REGION_NAME_LEN - 1] = '\0';
	}
	for (k = 0; k < SG_DROP_MAX; k++)
		if (percpu_sum(m->fd[FM_DROP], k, &c->drop[k]) != 0)
			return -1;
	for (k = 0; k < SG_SKIP_MAX; k++)
		if (percpu_sum(m->fd[FM_SKIP], k, &c->skip[k]) != 0)
			return -1;
	return 0;
}

static int
stats_read(const struct filter_maps *m, struct stats *st)
{
	uint32_t k = 0;

	memset(st, 0, sizeof(*st));
	if (bpf_map_lookup_elem(m->fd[FM_CONFIG], &k, &st->cfg) != 0 ||
	    filter_counters_read(m, &st->c) != 0) {
		log_warn("%s", __func__);
		return -1;
	}
	entries_count(m, st);
	st->nusers = filter_users(m, st->users, 16);
	return 0;
}

static void
ports_string(const struct filter_maps *m, const struct sg_config *cfg,
    char *buf, size_t len)
{
	uint64_t bits[SG_PORT_WORDS];
	uint32_t w;

	if (cfg->version == 0) {	/* never synced: the built-in default */
		snprintf(buf, len, "%d", SG_DEFAULT_PORT);
		return;
	}
	for (w = 0; w < SG_PORT_WORDS; w++)
		if (bpf_map_lookup_elem(m->fd[FM_PORTS], &w, &bits[w]) != 0)
			bits[w] = 0;
	filter_ports_format(bits, buf, len);
}

/* The counters by reason, under their title. */
static void
reasons_table(const char *title, const char *const *names,
    const struct sg_counter *c, int n)
{
	int k;

	printf("\n%-20s %8s %14s %16s\n", title, "", "PACKETS", "BYTES");
	for (k = 0; k < n; k++)
		printf("%-20s %8s %14llu %16llu\n", names[k], "",
		    (unsigned long long)c[k].packets,
		    (unsigned long long)c[k].bytes);
}

static void
stats_table(const struct stats *st, const char *ports)
{
	int k;

	printf("attached:   ");
	for (k = 0; k < st->nusers; k++)
		printf("%s%s (%s, prog %u)", k ? ", " : "", st->users[k].ifname,
		    st->users[k].mode, st->users[k].prog_id);
	printf("%s\n", st->nusers > 0 ? "" : "nowhere in this network "
	    "namespace (maps pinned)");
	printf("mode:       %s%s\n", filter_mode_name(st->cfg.mode),
	    st->cfg.version == 0 ? " (never synced: default, fail-closed)" : "");
	printf("ports:      %s\n", st->cfg.mode == SG_MODE_STRICT ?
	    "all (strict)" : ports);
	printf("generation: %u\n\n", st->cfg.generation);

	printf("%-20s %8s %14s %16s\n", "PASSED (region)", "ENTRIES",
	    "PACKETS", "BYTES");
	for (k = 0; k < SG_MAX_REGIONS; k++)
		if (st->c.name[k].name[0] != '\0')
			printf("%-20s %8llu %14llu %16llu\n", st->c.name[k].name,
			    (unsigned long long)st->entries[k],
			    (unsigned long long)st->c.pass[k].packets,
			    (unsigned long long)st->c.pass[k].bytes);
	reasons_table("DROPPED (reason)", filter_drop_names, st->c.drop,
	    SG_DROP_MAX);
	reasons_table("UNCHECKED (reason)", filter_skip_names, st->c.skip,
	    SG_SKIP_MAX);
}

static cJSON *
counter_json(const struct sg_counter *c)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "packets", (double)c->packets);
	cJSON_AddNumberToObject(o, "bytes", (double)c->bytes);
	return o;
}

static int
stats_json(const struct stats *st, const char *ports)
{
	cJSON *root = cJSON_CreateObject(), *arr, *o;
	char *text;
	int k;

	arr = cJSON_AddArrayToObject(root, "attached");
	for (k = 0; k < st->nusers; k++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "dev", st->users[k].ifname);
		cJSON_AddStringToObject(o, "xdp_mode", st->users[k].mode);
		cJSON_AddNumberToObject(o, "prog_id", st->users[k].prog_id);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddStringToObject(root, "mode", filter_mode_name(st->cfg.mode));
	cJSON_AddBoolToObject(root, "synced", st->cfg.version != 0);
	arr = cJSON_AddArrayToObject(root, "ports");
	for (const char *p = ports; *p; p += strcspn(p, ","), p += *p == ',')
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(atoi(p)));
	cJSON_AddNumberToObject(root, "generation", st->cfg.generation);
	arr = cJSON_AddArrayToObject(root, "regions");
	for (k = 0; k < SG_MAX_REGIONS; k++) {
		if (st->c.name[k].name[0] == '\0')
			continue;
		o = counter_json(&st->c.pass[k]);
		cJSON_AddStringToObject(o, "region", st->c.name[k].name);
		cJSON_AddNumberToObject(o, "id", k);
		cJSON_AddNumberToObject(o, "entries",
		    (double)st->entries[k]);
		cJSON_AddItemToArray(arr, o);
	}
	o = cJSON_AddObjectToObject(root, "dropped");
	for (k = 0; k < SG_DROP_MAX; k++)
		cJSON_AddItemToObject(o, filter_drop_names[k], counter_json(&st->c.drop[k]));
	o = cJSON_AddObjectToObject(root, "unchecked");
	for (k = 0; k < SG_SKIP_MAX; k++)
		cJSON_AddItemToObject(o, filter_skip_names[k], counter_json(&st->c.skip[k]));

	if ((text = cJSON_Print(root)) == NULL) {
		cJSON_Delete(root);
		return -1;
	}
	printf("%s\n", text);
	free(text);
	cJSON_Delete(root);
	return 0;
}

int
filter_stats_print(const struct filter_maps *m, int json)
{
	struct stats st;
	char ports[1024];

	if (stats_read(m, &st) != 0)
		return -1;
	ports_string(m, &st.cfg, ports, sizeof(ports));
	if (json)
		return stats_json(&st, ports);
	stats_table(&st, ports);
	return 0;
}
