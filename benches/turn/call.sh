#!/usr/bin/env bash
# A relayed call: every load-generator peer reaches the SFU only through TURN (its
# relayed address is its only candidate). vchat (its TURN hands packets to its SFU
# in-process) against coturn in front of janus, on the same load, alternating.
#
#   bash benches/turn/call.sh            # 3 rounds of 30 one-to-one calls (~6 minutes)
#   QUICK=1 bash benches/turn/call.sh    # one short round
#
# Topology (benches/anchors/netns.sh): the SFUs listen in the `vchatbench` namespace on
# 10.77.0.1, the generator runs outside on 10.77.0.2. vchat's TURN listens beside its
# SFU; coturn runs outside on 10.77.0.2, relaying to janus over the veth, as it would
# sit in front of janus on one host. Every server process is pinned to CPU 0 (their
# CPU seconds are summed), the generator to CPU 1. Results go to benches/results/turn/
# (label "relayed-call"), which vchat-turn-report folds into turn-vs-coturn.json.
set -euo pipefail
source "$(dirname "$0")/../common.sh"
out=$root/benches/results/turn
quick=${QUICK:-}
rooms=${ROOMS:-30}

need janus:janus ffmpeg:ffmpeg turnserver:coturn
cargo build --release --locked -p vchat-control -p vchat-benches --bin vchat --bin vchat-load --bin vchat-turn-report
bash benches/anchors/netns.sh up
mkdir -p "$out"
rm -f "$out"/relayed-call-*.json
work=$(mktemp -d /tmp/vchat-turn-call.XXXXXX)

stop_servers() {
  stop_started
  sleep 0.5
}
trap 'stop_servers; rm -rf "$work"' EXIT

run() {
  local target=$1 round=$2; shift 2
  stop_servers
  local args pids
  if [ "$target" = vchat ]; then
    rm -rf "$work/data"
    ip netns exec vchatbench env VCHAT_MEDIA_WORKERS=1 VCHAT_MEDIA_BIND_IP=10.77.0.1 VCHAT_HTTP=10.77.0.1:8080 VCHAT_TLS_MODE=off \
      VCHAT_TURN_LISTEN_IP=10.77.0.1 VCHAT_TURN_RELAY_IP=10.77.0.1 VCHAT_TURN_USERS=bench:benchpass \
      VCHAT_TURN_USER_QUOTA=10000 VCHAT_TURN_TLS=false VCHAT_LOG=warn VCHAT_ROOMS_MAX_PARTICIPANTS=64 \
      taskset -c 0 "$bin/vchat" serve --data "$work/data" > "$work/vchat.log" 2>&1 &
    started+=($!)
    pids=(--pid "$!")
    sleep 1
    args=(--url http://10.77.0.1:8080 --api-token-file "$work/data/api-token" --turn 10.77.0.1:3478)
  else
    ip netns exec vchatbench env JANUS_WS_IP=10.77.0.1 JANUS_ICE_INTERFACE=vb1 \
      bash benches/anchors/janus.sh 0 > "$work/janus.log" 2>&1 &
    started+=($!)   # janus.sh execs janus: the same process
    taskset -c 0 turnserver -n --listening-ip=10.77.0.2 --listening-port=3478 --relay-ip=10.77.0.2 \
      --min-port=20000 --max-port=29999 --lt-cred-mech --user=bench:benchpass --realm=vchat --fingerprint \
      --no-cli --no-tls --no-dtls --no-multicast-peers --total-quota=0 --user-quota=0 \
      --log-file="$work/coturn.log" --simple-log > /dev/null 2>&1 &
    started+=($!)
    pids=(--pid "${started[0]}" --pid "${started[1]}")
    sleep 2
    args=(--target janus --url ws://10.77.0.1:8188 --turn 10.77.0.2:3478)
  fi
  local file="$out/relayed-call-$target-$round.json"
  echo ">>> relayed call, $target, round $round: $rooms one-to-one calls"
  if ! taskset -c 1 "$bin/vchat-load" "${args[@]}" --bind 10.77.0.2 --rooms "$rooms" "${pids[@]}" \
      --label relayed-call --out "$file" "$@" > /dev/null 2> "$work/load.err"; then
    echo "    run failed:"; tail -5 "$work/load.err"
    rm -f "$file"
    return 1
  fi
  grep -E '"(connected_peers|forwarded_pps|loss|latency_p99_us|sfu_cpu_us_per_forwarded_packet|sfu_cpu_util)"' "$file" | tr -d '\n ' ; echo
}

if [ -n "$quick" ]; then
  run vchat 1 --duration 5 --settle 3 --ramp 2 || true
  run janus 1 --duration 5 --settle 3 --ramp 2 || true
else
  for round in 1 2 3; do
    run vchat "$round" --duration 20 --settle 5 --ramp 5 || true
    run janus "$round" --duration 20 --settle 5 --ramp 5 || true
  done
fi
stop_servers
"$bin/vchat-turn-report" --results "$out" --out "$root/benches/results" --commit "$(git rev-parse HEAD)"
