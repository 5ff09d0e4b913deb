# nats_cluster.sh: a 3-node nats-server cluster on 127.0.0.1 (JetStream,
# file storage), for tests/daemon/test_nats.sh and bench/bench-daemon.sh.
# Sourced; the caller sets NATS_DIR (configs, logs, stores), NP and RP
# (three client and three route ports) and NATS_SERVER, and kills what
# NPIDS holds on exit.
NPIDS=(0 0 0)

node_conf() {	# node_conf I: the config of node I
	local i=$1 j routes=()
	for j in 0 1 2; do
		[ "$j" = "$i" ] || routes+=("nats-route://127.0.0.1:${RP[$j]}")
	done
	cat >"$NATS_DIR/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${NP[$i]}
jetstream { store_dir: "$NATS_DIR/js$i" }
cluster { name: sg, listen: 127.0.0.1:${RP[$i]}, routes: [$(IFS=,; echo "${routes[*]}")] }
CONF
}

node_start() {	# node_start I
	"$NATS_SERVER" -c "$NATS_DIR/n$1.conf" >>"$NATS_DIR/n$1.log" 2>&1 &
	NPIDS[$1]=$!
}

node_kill() {	# node_kill I
	kill -KILL "${NPIDS[$1]}" 2>/dev/null
	wait "${NPIDS[$1]}" 2>/dev/null
	NPIDS[$1]=0
}

nats_cluster_start() {	# the three nodes; NATS_URL: the store URI
	local i
	for i in 0 1 2; do node_conf "$i"; node_start "$i"; done
	NATS_URL="nats://127.0.0.1:${NP[0]},127.0.0.1:${NP[1]},127.0.0.1:${NP[2]}"
}
