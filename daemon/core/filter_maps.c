/*
 * filter_maps.c: the pinned maps under SG_PIN_DIR, and what reading them
 * needs: which devices run the program that uses them, the names of the
 * values in sg_config.  Before anything reads or writes them we check that
 * their shape matches include/streamgate.h: maps pinned by an older
 * streamgate would otherwise be misread silently.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/statfs.h>
#include <linux/if_link.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "filter.h"
#include "log.h"

struct map_shape {
	const char	*name;
	uint32_t	 type;
	uint32_t	 key_size;
	uint32_t	 value_size;
	uint32_t	 max_entries;
};

static const struct map_shape shapes[FM_COUNT] = {
	[FM_CONFIG]  = { SG_MAP_CONFIG, BPF_MAP_TYPE_ARRAY, 4,
			 sizeof(struct sg_config), 1 },
	[FM_PORTS]   = { SG_MAP_PORTS, BPF_MAP_TYPE_ARRAY, 4, 8, SG_PORT_WORDS },
	[FM_ALLOW4]  = { SG_MAP_ALLOW4, BPF_MAP_TYPE_HASH, 4, 4, SG_MAX_EXACT },
	[FM_ALLOW6]  = { SG_MAP_ALLOW6, BPF_MAP_TYPE_HASH,
			 sizeof(struct sg_in6), 4, SG_MAX_EXACT },
	[FM_LPM4]    = { SG_MAP_LPM4, BPF_MAP_TYPE_LPM_TRIE,
			 sizeof(struct sg_lpm4_key), 4, SG_MAX_PREFIX },
	[FM_LPM6]    = { SG_MAP_LPM6, BPF_MAP_TYPE_LPM_TRIE,
			 sizeof(struct sg_lpm6_key), 4, SG_MAX_PREFIX },
	[FM_PASS]    = { SG_MAP_PASS, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
			 sizeof(struct sg_counter), SG_MAX_REGIONS },
	[FM_DROP]    = { SG_MAP_DROP, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
			 sizeof(struct sg_counter), SG_DROP_MAX },
	[FM_SKIP]    = { SG_MAP_SKIP, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
			 sizeof(struct sg_counter), SG_SKIP_MAX },
	[FM_REGIONS] = { SG_MAP_REGIONS, BPF_MAP_TYPE_ARRAY, 4,
			 sizeof(struct sg_region_name), SG_MAX_REGIONS },
	[FM_EXACT4]  = { SG_MAP_EXACT4, BPF_MAP_TYPE_ARRAY, 4,
			 sizeof(struct sg_x4_bucket), 2 * SG_X4_BUCKETS },
};

const char *
filter_map_name(enum filter_map_id id)
{
	return shapes[id].name;
}

int
filter_env_check(void)
{
	struct statfs st;

	if (geteuid() != 0) {
		log_warnx("the filter commands need root (CAP_BPF and "
		    "CAP_NET_ADMIN): run them with sudo");
		return -1;
	}
	if (statfs("/sys/fs/bpf", &st) == -1 ||
	    st.f_type != (typeof(st.f_type))BPF_FS_MAGIC) {
		log_warnx("no BPF filesystem at /sys/fs/bpf: mount one with "
		    "'mount -t bpf bpf /sys/fs/bpf'");
		return -1;
	}
	return 0;
}

int
filter_maps_compatible(int fd, enum filter_map_id id)
{
	const struct map_shape *want = &shapes[id];
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
		log_warn("%s: %s", __func__, want->name);
		return -1;
	}
	if (info.type != want->type || info.key_size != want->key_size ||
	    info.value_size != want->value_size ||
	    info.max_entries != want->max_entries) {
		log_warnx("%s/%s is from another streamgate layout (type %u "
		    "key %u value %u entries %u; this tool expects %u/%u/%u/%u)"
		    ": detach the filter (streamgate filter detach DEV) and "
		    "attach it again", SG_PIN_DIR, want->name, info.type,
		    info.key_size, info.value_size, info.max_entries,
		    want->type, want->key_size, want->value_size,
		    want->max_entries);
		return -1;
	}
	return 0;
}

static int
config_compatible(int fd)
{
	struct sg_config cfg;
	uint32_t key = 0;

	if (bpf_map_lookup_elem(fd, &key, &cfg) != 0) {
		log_warn("%s: read %s", __func__, SG_MAP_CONFIG);
		return -1;
	}
	if (cfg.version != 0 && cfg.version != SG_LAYOUT_VERSION) {
		log_warnx("%s/%s was written by layout %u, this tool speaks "
		    "layout %u: detach the filter and attach it again",
		    SG_PIN_DIR, SG_MAP_CONFIG, cfg.version, SG_LAYOUT_VERSION);
		return -1;
	}
	return 0;
}

void
filter_maps_close(struct filter_maps *m)
{
	int i;

	for (i = 0; i < FM_COUNT; i++) {
		if (m->fd[i] >= 0)
			close(m->fd[i]);
		m->fd[i] = -1;
	}
}

int
filter_maps_open(struct filter_maps *m)
{
	char path[256];
	int i;

	for (i = 0; i < FM_COUNT; i++)
		m->fd[i] = -1;
	for (i = 0; i < FM_COUNT; i++) {
		snprintf(path, sizeof(path), "%s/%s", SG_PIN_DIR, shapes[i].name);
		m->fd[i] = bpf_obj_get(path);
		if (m->fd[i] < 0) {
			if (errno == ENOENT)
				log_warnx("no pinned map %s: the filter is not "
				    "attached (streamgate filter attach DEV, or "
				    "ip link set dev DEV xdp obj streamgate.bpf.o "
				    "sec xdp)", path);
			else
				log_warn("open %s", path);
			goto fail;
		}
		if (filter_maps_compatible(m->fd[i], i) != 0)
			goto fail;
	}
	if (config_compatible(m->fd[FM_CONFIG]) != 0)
		goto fail;
	return 0;
fail:
	filter_maps_close(m);
	return -1;
}

int
filter_pins_present(void)
{
	char path[256];
	int i;

	for (i = 0; i < FM_COUNT; i++) {
		snprintf(path, sizeof(path), "%s/%s", SG_PIN_DIR,
		    shapes[i].name);
		if (access(path, F_OK) == 0)
			return 1;
	}
	return 0;
}

const char *
filter_xdp_mode_name(uint8_t attach_mode)
{
	switch (attach_mode) {
	case XDP_ATTACHED_DRV:	return "native";
	case XDP_ATTACHED_SKB:	return "generic";
	case XDP_ATTACHED_HW:	return "offload";
	default:		return "multi";
	}
}

/* 1 if the program uses the map whose id is map_id. */
static int
prog_uses_map(uint32_t prog_id, uint32_t map_id)
{
	struct bpf_prog_info info;
	uint32_t ids[64], len = sizeof(info), i;
	int fd, found = 0;

	if ((fd = bpf_prog_get_fd_by_id(prog_id)) < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 64;
	info.map_ids = (uint64_t)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		for (i = 0; i < info.nr_map_ids && i < 64; i++)
			found |= ids[i] == map_id;
	close(fd);
	return found;
}

static uint32_t
map_id_of(int fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

int
filter_prog_is_ours(const struct filter_maps *m, uint32_t prog_id)
{
	return prog_uses_map(prog_id, map_id_of(m->fd[FM_CONFIG]));
}

int
filter_users(const struct filter_maps *m, struct filter_user *u, size_t max)
{
	struct if_nameindex *ifs, *i;
	size_t n = 0;

	if ((ifs = if_nameindex()) == NULL) {
		log_warn("%s", __func__);
		return -1;
	}
	for (i = ifs; i->if_index != 0; i++) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		if (bpf_xdp_query(i->if_index, 0, &q) != 0 || q.prog_id == 0)
			continue;
		if (!filter_prog_is_ours(m, q.prog_id) || n >= max)
			continue;
		snprintf(u[n].ifname, sizeof(u[n].ifname), "%s", i->if_name);
		u[n].prog_id = q.prog_id;
		u[n].mode = filter_xdp_mode_name(q.attach_mode);
		n++;
	}
	if_freenameindex(ifs);
	return (int)n;
}

const char *
filter_mode_name(int mode)
{
	return mode == SG_MODE_STRICT ? "strict" : "ports";
}

void
filter_ports_format(const uint64_t *bits, char *buf, size_t len)
{
	size_t off = 0;
	int port;

	buf[0] = '\0';
	for (port = 1; port < 65536 && off < len; port++) {
		if (!(bits[port >> 6] & (1ULL << (port & 63))))
			continue;
		off += snprintf(buf + off, len - off, "%s%d",
		    off ? "," : "", port);
	}
}
