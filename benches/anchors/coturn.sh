#!/usr/bin/env bash
# Runs Debian's coturn (4.6.1) as the anchor of the TURN benchmarks, in the
# foreground: long-term user bench:benchpass, realm vchat, UDP and TCP on 127.0.0.1,
# relay ports 20000-29999 (as vchat), loopback peers allowed (the echo peers are
# local), no TLS/DTLS/CLI. Nothing is configured beyond these flags (-n: no config file).
#
#   bash benches/anchors/coturn.sh [CPU]         # CPU pins it (taskset), e.g. 0
#   TURN_PORT=3479 bash benches/anchors/coturn.sh
set -euo pipefail
cpu=${1:-}
port=${TURN_PORT:-3478}
source "$(dirname "$0")/../common.sh"
need turnserver:coturn
log=$(mktemp /tmp/coturn.XXXXXX.log)
pin=()
[ -n "$cpu" ] && pin=(taskset -c "$cpu")
exec "${pin[@]}" turnserver -n --listening-ip=127.0.0.1 --listening-port="$port" --relay-ip=127.0.0.1 \
  --min-port=20000 --max-port=29999 --lt-cred-mech --user=bench:benchpass --realm=vchat --fingerprint \
  --allow-loopback-peers --no-cli --no-tls --no-dtls --no-multicast-peers \
  --total-quota=0 --user-quota=0 --log-file="$log" --simple-log
