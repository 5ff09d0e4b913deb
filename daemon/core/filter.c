/*
 * filter.c: put the XDP program on a device and take it off again.
 * libbpf-tools order: open -> configure (pin path) -> load -> fill -> attach,
 * one cleanup label.  The maps are filled before the program is attached,
 * so a first attach never runs with an empty allowlist by accident, and a
 * re-attach reuses the pinned maps (allowlist and counters survive).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "filter.h"
#include "log.h"

/* The layout iproute2 makes: tc/globals, with xdp a link to tc. */
static int
pin_dir_make(void)
{
	if (mkdir("/sys/fs/bpf/tc", 0700) != 0 && errno != EEXIST)
		goto fail;
	if (mkdir("/sys/fs/bpf/tc/globals", 0700) != 0 && errno != EEXIST)
		goto fail;
	if (symlink("/sys/fs/bpf/tc/", "/sys/fs/bpf/xdp") != 0 &&
	    errno != EEXIST)
		goto fail;
	return 0;
fail:
	log_warn("%s: %s", __func__, SG_PIN_DIR);
	return -1;
}

static int
dev_index(const char *dev)
{
	unsigned int ifindex = if_nametoindex(dev);

	if (ifindex == 0)
		log_warnx("no network device '%s' here (see 'ip link')", dev);
	return (int)ifindex;
}

/* Pinned maps from another layout: say so before libbpf fails obscurely. */
static int
pins_compatible(void)
{
	char path[256];
	int i, fd, rc = 0;

	for (i = 0; i < FM_COUNT && rc == 0; i++) {
		snprintf(path, sizeof(path), "%s/%s", SG_PIN_DIR,
		    filter_map_name(i));
		if ((fd = bpf_obj_get(path)) < 0)
			continue;
		rc = filter_maps_compatible(fd, i);
		close(fd);
	}
	return rc;
}

int
filter_attach(const char *dev, const char *obj_path, int generic,
    const struct filter_spec *s)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = SG_PIN_DIR);
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	struct filter_maps m;
	int ifindex, err, rc = -1;
	__u32 flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;

	memset(&m, 0xff, sizeof(m));	/* every fd -1: nothing to close yet */
	if ((ifindex = dev_index(dev)) == 0)
		return -1;
	if (pin_dir_make() != 0 || pins_compatible() != 0)
		return -1;
	if (bpf_xdp_query(ifindex, 0, &q) == 0 && q.attach_mode != 0 &&
	    q.attach_mode != (generic ? XDP_ATTACHED_SKB : XDP_ATTACHED_DRV)) {
		log_warnx("%s already runs an XDP program in %s mode: pass "
		    "--xdp-mode %s, or detach it first", dev,
		    filter_xdp_mode_name(q.attach_mode),
		    q.attach_mode == XDP_ATTACHED_SKB ? "generic" : "native");
		return -1;
	}

	obj = bpf_object__open_file(obj_path, &oopts);
	if (obj == NULL) {
		log_warn("open %s", obj_path);
		goto cleanup;
	}
	prog = bpf_object__find_program_by_name(obj, "streamgate_xdp");
	if (prog == NULL) {
		log_warnx("%s has no program streamgate_xdp: not a streamgate "
		    "object", obj_path);
		goto cleanup;
	}
	if ((err = bpf_object__load(obj)) != 0) {
		errno = -err;
		log_warn("load %s", obj_path);
		goto cleanup;
	}
	if (filter_maps_open(&m) != 0 || filter_sync(&m, s) != 0)
		goto cleanup;
	/* Without XDP_FLAGS_UPDATE_IF_NOEXIST the kernel swaps an attached
	 * program for ours in one step: no packet sees no program. */
	err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), flags, NULL);
	if (err != 0) {
		errno = -err;
		if (err == -EOPNOTSUPP && !generic)
			log_warnx("%s: its driver has no native XDP: use "
			    "--xdp-mode generic", dev);
		else
			log_warn("attach to %s", dev);
		goto cleanup;
	}
	log_info("attached to %s (%s mode), maps pinned in %s", dev,
	    generic ? "generic" : "native", SG_PIN_DIR);
	rc = 0;
cleanup:
	filter_maps_close(&m);
	bpf_object__close(obj);
	return rc;
}

int
filter_detach(const char *dev)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct filter_maps m;
	struct filter_user users[64];
	int ifindex, err, n, others;
	__u32 flags;

	if ((ifindex = dev_index(dev)) == 0)
		return -1;
	if (filter_maps_open(&m) != 0)
		return -1;
	if (bpf_xdp_query(ifindex, 0, &q) != 0 || q.prog_id == 0) {
		log_warnx("%s runs no XDP program", dev);
		goto remove_pins;
	}
	if (!filter_prog_is_ours(&m, q.prog_id)) {
		log_warnx("%s runs XDP program id %u, which is not streamgate's: "
		    "leaving it alone", dev, q.prog_id);
		filter_maps_close(&m);
		return -1;
	}
	flags = q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE :
	    q.attach_mode == XDP_ATTACHED_HW ? XDP_FLAGS_HW_MODE :
	    XDP_FLAGS_DRV_MODE;
	if ((err = bpf_xdp_detach(ifindex, flags, NULL)) != 0) {
		errno = -err;
		log_warn("detach from %s", dev);
		filter_maps_close(&m);
		return -1;
	}
	log_info("detached from %s", dev);
remove_pins:
	/* Other devices may share the maps: keep the pins while they do. */
	n = filter_users(&m, users, 64);
	others = n > 0 ? n : 0;
	filter_maps_close(&m);
	if (others > 0) {
		log_info("maps stay pinned: still attached to %s%s",
		    users[0].ifname, others > 1 ? " and others" : "");
		return 0;
	}
	return filter_maps_unpin();
}

int
filter_maps_unpin(void)
{
	char path[256];
	int i, rc = 0;

	for (i = 0; i < FM_COUNT; i++) {
		snprintf(path, sizeof(path), "%s/%s", SG_PIN_DIR,
		    filter_map_name(i));
		if (unlink(path) != 0 && errno != ENOENT) {
			log_warn("unpin %s", path);
			rc = -1;
		}
	}
	return rc;
}
