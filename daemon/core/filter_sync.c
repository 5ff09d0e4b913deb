/*
 * filter_sync.c: make the pinned maps say what a filter_spec says, with no
 * moment in which an address that is in both the old and the new set is
 * dropped.  The order is what makes that true:
 *
 *   1. region names for new ids;  ports: old | new
 *   2. the IPv4 host table written whole into the half of sg_exact4 the
 *      program does not read; every other wanted entry added or updated
 *      (never removed first)
 *   3. config: lookup flags old | new; then new mode and the new host half
 *      (each config write changes what it must, so a reader that sees half
 *      of one sees a state that is still safe)
 *   4. stale entries deleted
 *   5. ports: new;  config flags: new
 *
 * Region ids are kept stable across syncs (a name keeps its id while the
 * maps remember it) so per-region counters keep their meaning.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "filter.h"
#include "log.h"

#define KEY_MAX		20	/* struct sg_lpm6_key */

struct want {
	uint8_t		key[KEY_MAX];
	uint32_t	region;
	uint32_t	order;		/* table position: first one wins */
};

struct want_set {
	struct want	*v;
	size_t		 n;
	size_t		 ksize;
	size_t		 max;		/* map capacity */
};

/* qsort has no context argument; the key size is set before each sort. */
static size_t cmp_ksize;

static int
want_cmp(const void *a, const void *b)
{
	const struct want *x = a, *y = b;
	int c = memcmp(x->key, y->key, cmp_ksize);

	if (c == 0)
		c = (x->order > y->order) - (x->order < y->order);
	return c;
}

static int
want_key_cmp(const void *key, const void *elem)
{
	return memcmp(key, ((const struct want *)elem)->key, cmp_ksize);
}

/* Sort and drop duplicate keys, keeping the first table entry. */
static void
want_finish(struct want_set *s)
{
	size_t i, o = 0;

	cmp_ksize = s->ksize;
	qsort(s->v, s->n, sizeof(*s->v), want_cmp);
	for (i = 0; i < s->n; i++) {
		if (o > 0 && memcmp(s->v[o - 1].key, s->v[i].key, s->ksize) == 0)
			continue;
		s->v[o++] = s->v[i];
	}
	s->n = o;
}

static int
want_has(const struct want_set *s, const void *key)
{
	cmp_ksize = s->ksize;
	return bsearch(key, s->v, s->n, sizeof(*s->v), want_key_cmp) != NULL;
}

/* The key a table entry takes, and which of the four sets it goes to. */
static int
want_key(const struct cidr *c, uint8_t *key)
{
	uint32_t plen = c->prefixlen;

	memset(key, 0, KEY_MAX);
	if (c->family == AF_INET && plen == 32) {
		memcpy(key, c->addr, 4);
		return FM_ALLOW4;
	}
	if (c->family == AF_INET6 && plen == 128) {
		memcpy(key, c->addr, 16);
		return FM_ALLOW6;
	}
	memcpy(key, &plen, 4);
	memcpy(key + 4, c->addr, c->family == AF_INET ? 4 : 16);
	return c->family == AF_INET ? FM_LPM4 : FM_LPM6;
}

/* Pick an id for each wanted region name, reusing what the maps remember. */
static int
regions_assign(const struct filter_maps *m, const struct region_table *t,
    uint32_t *ids_by_entry)
{
	struct sg_region_name slot[SG_MAX_REGIONS];
	char names[SG_MAX_REGIONS][SG_REGION_NAME_LEN];
	int used[SG_MAX_REGIONS] = { 0 }, id_of[SG_MAX_REGIONS];
	char err[256];
	int n, i, j, ncpu = libbpf_num_possible_cpus();
	uint32_t k;

	if ((n = regions_ids(t, names, SG_MAX_REGIONS, err, sizeof(err))) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	for (k = 0; k < SG_MAX_REGIONS; k++)
		if (bpf_map_lookup_elem(m->fd[FM_REGIONS], &k, &slot[k]) != 0)
			memset(&slot[k], 0, sizeof(slot[k]));

	/* names the maps already know keep their id */
	for (i = 0; i < n; i++) {
		id_of[i] = -1;
		for (k = 0; k < SG_MAX_REGIONS; k++)
			if (strncmp(slot[k].name, names[i],
			    SG_REGION_NAME_LEN) == 0) {
				id_of[i] = k;
				used[k] = 1;
			}
	}
	/* new names take a free id, else one whose name is no longer wanted */
	for (i = 0; i < n; i++) {
		if (id_of[i] >= 0)
			continue;
		for (j = 0; j < 2 && id_of[i] < 0; j++)
			for (k = 0; k < SG_MAX_REGIONS && id_of[i] < 0; k++)
				if (!used[k] && (j == 1 || slot[k].name[0] == '\0'))
					id_of[i] = k;
		if (id_of[i] < 0 || ncpu <= 0) {
			log_warnx("%s: no free region id", __func__);
			return -1;
		}
		k = id_of[i];
		used[k] = 1;

		/* a reused id starts its counters from zero */
		struct sg_counter zero[ncpu];
		memset(zero, 0, sizeof(zero));
		memset(&slot[k], 0, sizeof(slot[k]));
		memcpy(slot[k].name, names[i], strlen(names[i]));
		if (bpf_map_update_elem(m->fd[FM_PASS], &k, zero, 0) != 0 ||
		    bpf_map_update_elem(m->fd[FM_REGIONS], &k, &slot[k], 0) != 0) {
			log_warn("%s: write region id %u", __func__, k);
			return -1;
		}
	}
	for (size_t e = 0; e < t->n; e++)
		for (i = 0; i < n; i++)
			if (strcmp(t->v[e].region, names[i]) == 0)
				ids_by_entry[e] = id_of[i];
	return 0;
}

/*
 * Place the IPv4 hosts into buckets; the ones whose bucket is full stay in
 * hosts (still sorted) and go to the sg_allow4 spill map.
 */
static void
x4_place(struct want_set *hosts, struct sg_x4_bucket *tbl)
{
	size_t i, o = 0;
	uint32_t addr;
	int slot;

	for (i = 0; i < hosts->n; i++) {
		struct sg_x4_bucket *b;

		memcpy(&addr, hosts->v[i].key, 4);
		b = &tbl[sg_x4_bucket(addr)];
		for (slot = 0; slot < SG_X4_SLOTS && b->tag[slot]; slot++)
			;
		if (slot == SG_X4_SLOTS) {
			hosts->v[o++] = hosts->v[i];
			continue;
		}
		b->addr[slot] = addr;
		b->tag[slot] = (uint8_t)(hosts->v[i].region + 1);
	}
	hosts->n = o;
}

/* One batch write of a whole half: the program is not reading it. */
static int
x4_write(int fd, uint32_t half, const struct sg_x4_bucket *tbl)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t keys[SG_X4_BUCKETS], count = SG_X4_BUCKETS, i;

	for (i = 0; i < SG_X4_BUCKETS; i++)
		keys[i] = half * SG_X4_BUCKETS + i;
	if (bpf_map_update_batch(fd, keys, tbl, &count, &opts) != 0 ||
	    count != SG_X4_BUCKETS) {
		log_warn("%s: %s half %u", __func__, SG_MAP_EXACT4, half);
		return -1;
	}
	return 0;
}

static int
wants_build(const struct filter_maps *m, const struct region_table *t,
    struct want_set *sets, struct sg_x4_bucket *x4)
{
	uint32_t *ids;
	size_t e;
	int which;

	sets[FM_ALLOW4].ksize = 4;
	sets[FM_ALLOW6].ksize = sizeof(struct sg_in6);
	sets[FM_LPM4].ksize = sizeof(struct sg_lpm4_key);
	sets[FM_LPM6].ksize = sizeof(struct sg_lpm6_key);
	sets[FM_ALLOW4].max = sets[FM_ALLOW6].max = SG_MAX_EXACT;
	sets[FM_LPM4].max = sets[FM_LPM6].max = SG_MAX_PREFIX;

	if ((ids = calloc(t->n + 1, sizeof(*ids))) == NULL)
		return -1;
	if (regions_assign(m, t, ids) != 0)
		goto fail;
	for (which = FM_ALLOW4; which <= FM_LPM6; which++) {
		sets[which].v = calloc(t->n + 1, sizeof(struct want));
		if (sets[which].v == NULL)
			goto fail;
	}
	for (e = 0; e < t->n; e++) {
		uint8_t key[KEY_MAX];
		struct want *w;

		which = want_key(&t->v[e].cidr, key);
		w = &sets[which].v[sets[which].n++];
		memcpy(w->key, key, KEY_MAX);
		w->region = ids[e];
		w->order = e;
	}
	for (which = FM_ALLOW4; which <= FM_LPM6; which++) {
		want_finish(&sets[which]);
		if (which == FM_ALLOW4)
			x4_place(&sets[which], x4);
		if (sets[which].n > sets[which].max) {
			log_warnx("%d entries for %s: more than its %zu",
			    (int)sets[which].n, filter_map_name(which),
			    sets[which].max);
			goto fail;
		}
	}
	free(ids);
	return 0;
fail:
	free(ids);
	return -1;
}

/* Every key the map holds now that the new set does not want. */
static int
stale_keys(int fd, const struct want_set *s, uint8_t **out, size_t *n)
{
	uint8_t key[KEY_MAX], next[KEY_MAX], *v = NULL, *tmp;
	void *prev = NULL;
	size_t cap = 0;

	*n = 0;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, s->ksize);
		prev = key;
		if (want_has(s, key))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((tmp = realloc(v, cap * s->ksize)) == NULL) {
				free(v);
				return -1;
			}
			v = tmp;
		}
		memcpy(v + *n * s->ksize, key, s->ksize);
		(*n)++;
	}
	*out = v;
	return 0;
}

static int
entries_delete(int fd, const uint8_t *keys, size_t n, size_t ksize)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, keys + i * ksize) != 0 &&
		    errno != ENOENT) {
			log_warn("%s: delete", __func__);
			return -1;
		}
	return 0;
}

static int
entries_upsert(int fd, const struct want_set *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (bpf_map_update_elem(fd, s->v[i].key, &s->v[i].region,
		    BPF_ANY) != 0) {
			log_warn("%s: %s", __func__, name);
			return -1;
		}
	return 0;
}

static int
ports_write(int fd, const uint64_t *bits)
{
	uint32_t w;
	uint64_t cur;

	for (w = 0; w < SG_PORT_WORDS; w++) {
		if (bpf_map_lookup_elem(fd, &w, &cur) == 0 && cur == bits[w])
			continue;
		if (bpf_map_update_elem(fd, &w, &bits[w], 0) != 0) {
			log_warn("%s", __func__);
			return -1;
		}
	}
	return 0;
}

static int
ports_merge(int fd, const uint64_t *want, uint64_t *merged)
{
	uint32_t w;
	uint64_t cur;

	for (w = 0; w < SG_PORT_WORDS; w++) {
		if (bpf_map_lookup_elem(fd, &w, &cur) != 0)
			return -1;
		merged[w] = cur | want[w];
	}
	return 0;
}

static int
config_write(int fd, const struct sg_config *cfg)
{
	uint32_t key = 0;

	if (bpf_map_update_elem(fd, &key, cfg, 0) != 0) {
		log_warn("%s", __func__);
		return -1;
	}
	return 0;
}

int
filter_sync(const struct filter_maps *m, const struct filter_spec *s)
{
	struct want_set sets[FM_COUNT];
	uint8_t *stale[FM_COUNT] = { 0 };
	size_t nstale[FM_COUNT] = { 0 };
	uint64_t merged[SG_PORT_WORDS];
	struct sg_x4_bucket *x4;
	struct sg_config cfg;
	uint32_t key = 0, new_flags, half;
	int which, rc = -1;

	memset(sets, 0, sizeof(sets));
	if ((x4 = calloc(SG_X4_BUCKETS, sizeof(*x4))) == NULL) {
		log_warn("%s", __func__);
		return -1;
	}
	if (bpf_map_lookup_elem(m->fd[FM_CONFIG], &key, &cfg) != 0) {
		log_warn("%s: read config", __func__);
		goto cleanup;
	}
	if (wants_build(m, &s->table, sets, x4) != 0)
		goto cleanup;
	new_flags = (sets[FM_LPM4].n ? SG_CF_LPM4 : 0) |
	    (sets[FM_LPM6].n ? SG_CF_LPM6 : 0) |
	    (sets[FM_ALLOW4].n ? SG_CF_SPILL4 : 0);
	half = cfg.x4_half ? 0 : 1;	/* the half the program does not read */

	/* 1 */
	if (ports_merge(m->fd[FM_PORTS], s->ports, merged) != 0 ||
	    ports_write(m->fd[FM_PORTS], merged) != 0)
		goto cleanup;
	/* 2 */
	if (x4_write(m->fd[FM_EXACT4], half, x4) != 0)
		goto cleanup;
	/* compute stale first, so a full map can make room safely */
	for (which = FM_ALLOW4; which <= FM_LPM6; which++) {
		if (stale_keys(m->fd[which], &sets[which], &stale[which],
		    &nstale[which]) != 0)
			goto cleanup;
		/* no room for old and new together: remove the old first
		 * (these addresses are leaving the allowlist anyway) */
		if (sets[which].n + nstale[which] > sets[which].max &&
		    entries_delete(m->fd[which], stale[which], nstale[which],
		    sets[which].ksize) != 0)
			goto cleanup;
		if (entries_upsert(m->fd[which], &sets[which],
		    filter_map_name(which)) != 0)
			goto cleanup;
	}
	/* 3 */
	cfg.flags |= new_flags;
	if (config_write(m->fd[FM_CONFIG], &cfg) != 0)
		goto cleanup;
	cfg.version = SG_LAYOUT_VERSION;
	cfg.mode = s->mode;
	cfg.x4_half = half;
	cfg.generation++;
	if (config_write(m->fd[FM_CONFIG], &cfg) != 0)
		goto cleanup;
	/* 4 */
	for (which = FM_ALLOW4; which <= FM_LPM6; which++)
		if (entries_delete(m->fd[which], stale[which], nstale[which],
		    sets[which].ksize) != 0)
			goto cleanup;
	/* 5 */
	cfg.flags = new_flags;
	if (ports_write(m->fd[FM_PORTS], s->ports) != 0 ||
	    config_write(m->fd[FM_CONFIG], &cfg) != 0)
		goto cleanup;
	rc = 0;
cleanup:
	free(x4);
	for (which = 0; which < FM_COUNT; which++) {
		free(sets[which].v);
		free(stale[which]);
	}
	return rc;
}
