// SPDX-License-Identifier: GPL-2.0
/*
 * bare.bpf.c: the cheapest possible XDP program, `return XDP_DROP`.  The
 * benchmark runs it beside streamgate and xdp-filter to measure what
 * BPF_PROG_TEST_RUN itself costs per repetition (its loop, the context
 * setup, the indirect call), which is then subtracted.
 *
 * Built by bench/bench-xdp.sh with clang -target bpf into
 * $(BUILD)/bench/bare.bpf.o.
 */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int
bare_drop(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
