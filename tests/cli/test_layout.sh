#!/usr/bin/env bash
# The three rooms of daemon/ as the binaries show them: each program links
# only what it calls.  The daemon (seccomp-confined, reachable from the
# network) carries no nft writer, no XDP attach and no control-tool
# command; the control tool carries no server, hook, delivery or store
# writer; each binary needs exactly the libraries its Makefile line names;
# and no source of one program's room includes a header of the other's.
. "$(dirname "$0")/lib.sh"
SGD=${BUILD:-build}/streamgated

# absent BINARY ERE: no defined function or object of BINARY matches
absent() {
	local hits
	hits=$(nm --defined-only --extern-only "$1" | awk '{print $3}' | grep -E "$2" | head -5)
	[ -z "$hits" ] || { echo "found: $hits"; return 1; }
}
# present BINARY ERE: some do (so that absent is not vacuous)
present() { nm --defined-only --extern-only "$1" | awk '{print $3}' | grep -qE "$2"; }

check "streamgated: no nft writer (batch, objects, plan, apply, diff, print)" \
	absent "$SGD" '^nft_(batch_|objs_|plan_|apply|diff|print|delete|family$|spec_)'
check "streamgated: no XDP attach, detach, sync or unpin" \
	absent "$SGD" '^filter_(attach|detach|sync|maps_unpin|spec_)'
check "streamgated: no control-tool command" \
	absent "$SGD" '^(cli_|updown_|status_|inbox_|probe_|spec_|store_admin_|regions_)'
check "streamgated: has what it does use (server, pipeline, counter reads)" \
	present "$SGD" '^(server_new|pipeline_begin|nft_rule_counter|filter_counters_read)$'
check "streamgate: no server, pipeline, hook, delivery or HTTP parser" \
	absent "$SG" '^(server_|pipeline_|hook_|deliver_|webhook_|upstream_|http_parser|tls_|reqlog_|metrics_|privsep_|sysstats_|dedup_)'
check "streamgate: no store writer (queue, backends, Redis)" \
	absent "$SG" '^(store_open|store_submit|store_queue_|store_sqlite_ops|store_redis_ops|redis)'
check "streamgate: has what it does use (nft writer, attach, the store's reader)" \
	present "$SG" '^(nft_apply|filter_attach|store_admin_open)$'

# needed BINARY VAR: its NEEDED libraries are exactly the Makefile's VAR
needed() {
	local want got
	want=$(sed -n "/^$2[[:space:]]*:=/,/[^\\\\]\$/p" Makefile | grep -oE -- '-l[a-z0-9]+' |
		sed 's/^-l/lib/' | sort -u | tr '\n' ' ')
	got=$(readelf -d "$1" | sed -n 's/.*Shared library: \[\(lib[a-z0-9]*\)\..*/\1/p' |
		grep -vx libc | sort -u | tr '\n' ' ')
	[ "$want" = "$got" ] || { echo "Makefile $2: $want; NEEDED: $got"; return 1; }
}
check "streamgated needs exactly LDLIBS_streamgated" needed "$SGD" LDLIBS_streamgated
check "streamgate needs exactly LDLIBS_streamgate" needed "$SG" LDLIBS_streamgate

# the compiler keeps the rooms apart too: no cross-room include
cross() {
	local hits
	hits=$(grep -lE "#include \"($(ls "daemon/$2" | grep '\.h$' | grep -vxF -f <(ls daemon/core) |
		tr '\n' '|' | sed 's/|$//'))\"" "daemon/$1"/*.[ch] 2>/dev/null)
	[ -z "$hits" ] || { echo "$hits"; return 1; }
}
check "daemon/streamgated includes no header of daemon/streamgate" cross streamgated streamgate
check "daemon/streamgate includes no header of daemon/streamgated" cross streamgate streamgated
check "daemon/core includes neither program's headers" sh -c "
	! grep -lE '#include \"($(ls daemon/streamgated daemon/streamgate | grep '\.h$' | tr '\n' '|' | sed 's/|$//'))\"' daemon/core/*.[ch]"

finish layout
