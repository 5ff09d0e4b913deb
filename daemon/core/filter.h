/*
 * filter.h: the XDP filter as the control tool drives it: load, pin, fill,
 * attach, detach, and read its counters.  All maps live under SG_PIN_DIR.
 */
#ifndef SG_FILTER_H
#define SG_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "regions.h"
#include "streamgate.h"

/* What the maps should say: built by the CLI, applied by filter_sync(). */
struct filter_spec {
	int			mode;			/* enum sg_mode */
	uint64_t		ports[SG_PORT_WORDS];	/* bitmap */
	struct region_table	table;			/* selected + --allow */
};

/* The pinned maps, opened by name; fd -1 when not open. */
enum filter_map_id {
	FM_CONFIG, FM_PORTS, FM_ALLOW4, FM_ALLOW6, FM_LPM4, FM_LPM6,
	FM_PASS, FM_DROP, FM_SKIP, FM_REGIONS, FM_EXACT4, FM_COUNT
};

struct filter_maps {
	int	fd[FM_COUNT];
};

/* filter_spec.c: flags into a spec.  0, or -1 with err naming the flag. */
void	filter_spec_init(struct filter_spec *s);
void	filter_spec_free(struct filter_spec *s);
int	filter_spec_mode(struct filter_spec *s, const char *arg,
	    char *err, size_t errlen);
int	filter_spec_ports(struct filter_spec *s, const char *csv,
	    char *err, size_t errlen);

/* filter_maps.c: the pinned maps and their layout. */
const char *filter_map_name(enum filter_map_id id);
int	filter_env_check(void);			/* root, bpffs mounted */
/* 1 when any of our maps is pinned in SG_PIN_DIR (no check of its shape). */
int	filter_pins_present(void);
int	filter_maps_open(struct filter_maps *m);
void	filter_maps_close(struct filter_maps *m);
int	filter_maps_compatible(int fd, enum filter_map_id id);
/* "443,8443" from a bitmap, into buf. */
void	filter_ports_format(const uint64_t *bits, char *buf, size_t len);
const char *filter_mode_name(int mode);
/* An XDP attach mode (XDP_ATTACHED_*) by name: "native", "generic". */
const char *filter_xdp_mode_name(uint8_t attach_mode);

/* filter_sync.c: make the pinned maps say what spec says, without a gap. */
int	filter_sync(const struct filter_maps *m, const struct filter_spec *s);

/* filter.c: attach and detach on a device (the control tool only). */
int	filter_attach(const char *dev, const char *obj_path, int generic,
	    const struct filter_spec *s);
int	filter_detach(const char *dev);
/* Remove every pin of ours from SG_PIN_DIR: 0, or -1 (logged). */
int	filter_maps_unpin(void);

/* filter_maps.c: one interface that runs our program (found by its
 * sg_config map). */
struct filter_user {
	char		ifname[32];
	uint32_t	prog_id;
	const char	*mode;		/* "native", "generic", "offload" */
};
/* 1 when XDP program prog_id is ours: it uses the pinned sg_config. */
int	filter_prog_is_ours(const struct filter_maps *m, uint32_t prog_id);
/* Interfaces of this network namespace running the program; -1 on error. */
int	filter_users(const struct filter_maps *m, struct filter_user *u,
	    size_t max);

/* filter_stats.c: counters summed over CPUs, as a table or JSON. */
int	filter_stats_print(const struct filter_maps *m, int json);
/* The program's counters, summed over CPUs, with the regions' names. */
struct filter_counters {
	struct sg_region_name	name[SG_MAX_REGIONS];
	struct sg_counter	pass[SG_MAX_REGIONS];
	struct sg_counter	drop[SG_DROP_MAX];
	struct sg_counter	skip[SG_SKIP_MAX];
};
int	filter_counters_read(const struct filter_maps *m,
	    struct filter_counters *c);
/* Names of the drop and skip reasons (labels, JSON keys). */
extern const char *const filter_drop_names[SG_DROP_MAX];
extern const char *const filter_skip_names[SG_SKIP_MAX];

#endif
