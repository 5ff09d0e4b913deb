#!/usr/bin/env bash
# scripts/run-local.sh (make run): streamgated on safe defaults, in the
# foreground.  Nothing is attached to any interface and no firewall rule
# changes: the daemon listens on 127.0.0.1:8080 (metrics on 127.0.0.1:9110)
# with a development key 'dev' whose secret is made once in var/ (mode
# 600), and stores events in var/streamgate.db.
#
# Its config is var/streamgated.json, with absolute paths, so that
# `build/streamgate status` and `build/streamgate inbox list`, run from any
# directory, find this daemon: a streamgate binary in a checkout's build
# directory reads the checkout's var/streamgated.json by default.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
SG=$ROOT/$BUILD/streamgate
CONFIG=var/streamgated.json

mkdir -p var && chmod 750 var
[ -s var/dev.secret ] || (umask 077 && openssl rand -hex 32 >var/dev.secret)
cat >"$CONFIG.tmp" <<JSON
{
  "listen": ["127.0.0.1:8080"],
  "keys": [{"api_key": "dev", "secret_file": "$ROOT/var/dev.secret"}],
  "store": "sqlite:$ROOT/var/streamgate.db",
  "metrics": "127.0.0.1:9110"
}
JSON
mv -f "$CONFIG.tmp" "$CONFIG"

echo "== streamgate region table (built in) =="
"$SG" regions
echo
echo "== XDP filter =="
# Reading the filter's maps needs root and a bpffs; make run attaches
# nothing, so say what is there without an error when there is nothing.
if [ "$(id -u)" -eq 0 ] && [ -e /sys/fs/bpf/xdp/globals/sg_config ]; then
	"$SG" filter stats || true
else
	echo "not attached (make run DEV=eth0 REGION=us-east puts it on a device)"
fi
echo
echo "== streamgated on http://127.0.0.1:8080 (API key 'dev', secret in var/dev.secret); Ctrl-C stops it =="
echo "try: b='{\"type\":\"message.new\"}'; curl -H 'X-Api-Key: dev' -H \"X-Webhook-Id: \$(cat /proc/sys/kernel/random/uuid)\" \\"
echo "       -H \"X-Signature: \$(printf %s \"\$b\" | $BUILD/streamgate sign --secret-file var/dev.secret)\" \\"
echo "       -d \"\$b\" http://127.0.0.1:8080/webhooks/stream/push"
echo "then:  $BUILD/streamgate status; $BUILD/streamgate inbox list   (from any directory)"
echo "(the real thing on a device: make run DEV=eth0 REGION=us-east [CONFIG=FILE])"
# As root with no "streamgate" user, the daemon refuses to stay root unless
# told: make run says so, and tells it (a development run, on 127.0.0.1).
as=()
if [ "$(id -u)" -eq 0 ] && ! id streamgate >/dev/null 2>&1; then
	echo "(as root, and there is no user 'streamgate': --user root; useradd --system --no-create-home --shell /usr/sbin/nologin streamgate makes one)"
	as=(--user root)
fi
exec "$ROOT/$BUILD/streamgated" --config "$CONFIG" "${as[@]}"
