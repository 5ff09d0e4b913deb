#!/usr/bin/env bash
# scripts/run-edge.sh (make run DEV=eth0 REGION=us-east [CONFIG=FILE]
# [ALLOW="CIDR ..."]): the
# real thing on this host, in the foreground.  `streamgate up` attaches the
# XDP filter to DEV, applies the nft table for REGION (comma-separated, or
# "all") and starts streamgated; its log is followed here; Ctrl-C (or any
# exit) runs `streamgate down`, which reverses every step.
#
# Without CONFIG, a config is made in var/: TLS on 0.0.0.0:443 with a
# self-signed certificate (var/tls/, made once: put your own certificate
# there or pass CONFIG), the development key 'dev' (var/dev.secret), the
# store var/streamgate.db, metrics on 127.0.0.1:9110.  It is written to
# var/streamgated.json, where a streamgate binary of this checkout looks
# first, so `build/streamgate status` finds this daemon from anywhere.
#
# This changes the host's network filtering: the protected port (443) is
# closed to everyone but Stream's addresses in REGION.  SSH and every other
# port stay open (ports mode).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
DEV=${DEV:?DEV=device}
REGION=${REGION:-all}
SG=$BUILD/streamgate
RUN=var/run

[ "$(id -u)" -eq 0 ] || { echo "run: DEV=$DEV needs root (XDP, nftables)" >&2; exit 1; }
ip link show dev "$DEV" >/dev/null 2>&1 || { echo "run: DEV: no device '$DEV'" >&2; exit 1; }
mkdir -p var "$RUN" && chmod 750 var
[ -s var/dev.secret ] || (umask 077 && openssl rand -hex 32 >var/dev.secret)
if [ -z "${CONFIG:-}" ]; then
	mkdir -p var/tls && chmod 700 var/tls
	[ -s var/tls/key.pem ] || openssl req -x509 -newkey ec \
		-pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$(hostname)" \
		-days 90 -keyout var/tls/key.pem -out var/tls/cert.pem 2>/dev/null
	chmod 600 var/tls/key.pem
	CONFIG=var/streamgated.json
	# no "streamgate" user: the daemon would refuse to stay root unless
	# told; this config tells it, and says so
	user=
	if ! id streamgate >/dev/null 2>&1; then
		echo "run: no user 'streamgate': streamgated runs as root without capabilities (useradd --system --no-create-home --shell /usr/sbin/nologin streamgate makes one)"
		user='"user": "root",'
	fi
	cat >"$CONFIG" <<JSON
{
  "listen": [{"addr": "0.0.0.0:443", "tls_cert": "$ROOT/var/tls/cert.pem",
              "tls_key": "$ROOT/var/tls/key.pem"}],
  $user
  "keys": [{"api_key": "dev", "secret_file": "$ROOT/var/dev.secret"}],
  "store": "sqlite:$ROOT/var/streamgate.db",
  "metrics": "127.0.0.1:9110"
}
JSON
fi
regions=()
[ "$REGION" = all ] || regions=(--region "$REGION")
for a in ${ALLOW:-}; do regions+=(--allow "$a"); done

TAIL=
down() {
	trap - EXIT INT TERM
	[ -z "$TAIL" ] || kill "$TAIL" 2>/dev/null
	echo
	"$SG" down --dev "$DEV" --run-dir "$RUN"
}
trap down EXIT
trap 'exit 130' INT TERM
"$SG" up --dev "$DEV" "${regions[@]}" --config "$CONFIG" --run-dir "$RUN" || exit 1
echo "== streamgate is up on $DEV (regions: $REGION); status: $SG status --config $CONFIG --run-dir $RUN"
echo "== following $RUN/streamgated.log; Ctrl-C takes everything down =="
tail -n +1 -F "$RUN/streamgated.log" &
TAIL=$!
wait "$TAIL"
