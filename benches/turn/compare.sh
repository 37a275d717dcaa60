#!/usr/bin/env bash
# vchat's built-in TURN against coturn 4.6.1 on this machine: the same coturn client
# commands against each, alternating, servers pinned to CPU 0 and the clients and echo
# peers to CPU 1.
#
#   bash benches/turn/compare.sh            # the full run (about 12 minutes)
#   QUICK=1 bash benches/turn/compare.sh    # one round, to see the rig work
#   CONTENDED=1 ONLY=saturation LEVELS="4 8 12 16" bash benches/turn/compare.sh
#                                           # saturation with the clients on both cores
#
# Two experiments:
#   flood       turnutils_uclient -m 200 -n 500 -l 1000 -z 0 (the issue's flood): server
#               CPU seconds per relayed ChannelData datagram, loss, average RTT;
#   saturation  1, 2, 4, 6, 8 uclient processes of -m 50 -n 1000 -l 160 -z 0 at once,
#               round-robin over four turnutils_peer echo servers: relayed packets per
#               second against loss.
# Results: one JSON per run in benches/results/turn/, then benches/results/
# turn-vs-coturn.json and the charts (vchat-turn-report).
set -euo pipefail
source "$(dirname "$0")/../common.sh"
out=$root/benches/results/turn
quick=${QUICK:-}
rounds=${ROUNDS:-5}
# Where the clients and echo peers run: CPU 1 alone (the servers never compete with
# them), or CONTENDED=1: both cores, so the tools are not the limit and the servers
# share CPU 0 with them (the saturation test then shows which relay loses first).
client_cpus=1
[ -n "${CONTENDED:-}" ] && client_cpus=0,1
only=${ONLY:-}
[ -n "$quick" ] && rounds=1

need turnutils_uclient:coturn
cargo build --release --locked -p vchat-control -p vchat-benches --bin vchat --bin vchat-turn-report
mkdir -p "$out"
work=$(mktemp -d /tmp/vchat-turn-compare.XXXXXX)

stop_servers() {
  stop_started
  sleep 0.5
}
peers=()
cleanup() {
  stop_servers
  for p in "${peers[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
stop_servers

for port in 3480 3481 3482 3483; do
  taskset -c "$client_cpus" turnutils_peer -L 127.0.0.1 -p $port > /dev/null 2>&1 &
  peers+=($!)
done

start_server() {
  stop_servers
  if [ "$1" = vchat ]; then
    rm -rf "$work/data"
    env VCHAT_HTTP=127.0.0.1:18090 VCHAT_MEDIA_PORT=0 VCHAT_MEDIA_WORKERS=1 VCHAT_LOG=warn \
      VCHAT_TURN_USERS=bench:benchpass VCHAT_TURN_ALLOW_LOOPBACK_PEERS_DANGEROUSLY=true \
      VCHAT_TURN_USER_QUOTA=100000 VCHAT_TURN_TOTAL_QUOTA=100000 VCHAT_TURN_MAX_KBPS=0 VCHAT_TURN_TLS=false \
      taskset -c 0 "$bin/vchat" serve --data "$work/data" > "$work/server.log" 2>&1 &
  else
    bash benches/anchors/coturn.sh 0 > "$work/server.log" 2>&1 &   # execs turnserver
  fi
  server_pid=$!
  started+=("$server_pid")
  sleep 1.5
}

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# calc EXPR: arithmetic with a leading zero, for JSON.
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# uclient_field FILE MARKER: the number after MARKER on the last line holding it.
field() { grep "$2" "$1" | tail -1 | sed -E "s/.*$2[^0-9]*([0-9.]+).*/\1/"; }

# clients TARGET KIND N ROUND ARGS...: N uclient processes at once; writes a JSON.
clients() {
  local target=$1 kind=$2 n=$3 round=$4; shift 4
  start_server "$target"
  local pid=$server_pid
  local t0 c0; c0=$(ticks "$pid"); t0=$(date +%s.%N)
  local i pids=()
  for ((i = 0; i < n; i++)); do
    taskset -c "$client_cpus" timeout 300 turnutils_uclient -u bench -w benchpass -e 127.0.0.1 -r $((3480 + i % 4)) -X -c "$@" 127.0.0.1 \
      > "$work/u$i.out" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  local c1 t1; c1=$(ticks "$pid"); t1=$(date +%s.%N)
  local sent=0 recv=0 rtt_sum=0 ok=0 transmit=0
  for ((i = 0; i < n; i++)); do
    local s r t
    s=$(field "$work/u$i.out" "tot_send_msgs=") || s=0
    r=$(field "$work/u$i.out" "tot_recv_msgs=") || r=0
    t=$(field "$work/u$i.out" "Average round trip delay") || t=0
    # uclient's own sending time (whole seconds), not counting its allocations.
    local tx; tx=$(field "$work/u$i.out" "Total transmit time is") || tx=0
    [ "${tx:-0}" -gt "$transmit" ] 2>/dev/null && transmit=${tx:-0}
    [ -n "$s" ] && [ -n "$r" ] && ok=$((ok + 1))
    sent=$((sent + ${s:-0})); recv=$((recv + ${r:-0}))
    rtt_sum=$(calc "$rtt_sum + ${t:-0}")
  done
  local hz; hz=$(getconf CLK_TCK)
  local file="$out/$kind-$n-$target-$round.json"
  printf '{"kind":"%s","target":"%s","clients":%d,"round":%d,"args":"%s","sent":%d,"received":%d,"loss_pct":%s,"rtt_ms":%s,"cpu_s":%s,"wall_s":%s,"transmit_s":%s,"finished_clients":%d}\n' \
    "$kind" "$target" "$n" "$round" "$*" "$sent" "$recv" \
    "$(calc "($sent > 0) ? 100 * ($sent - $recv) / $sent : 100")" \
    "$(calc "$rtt_sum / $n")" "$(calc "($c1 - $c0) / $hz")" "$(calc "$t1 - $t0")" "$transmit" "$ok" > "$file"
  echo "    $kind $target x$n: $(cat "$file")"
}

kind=saturation
[ -n "${CONTENDED:-}" ] && kind=contended
if [ "$only" != saturation ]; then
  rm -f "$out"/flood-*.json
  for ((round = 1; round <= rounds; round++)); do
    for target in vchat coturn; do
      clients "$target" flood 1 "$round" -m 200 -n 500 -l 1000 -z 0
    done
  done
fi
read -r -a levels <<< "${LEVELS:-1 2 4 6 8}"
[ -n "$quick" ] && levels=(2)
rm -f "$out/$kind"-*.json
for n in "${levels[@]}"; do
  for target in vchat coturn; do
    clients "$target" "$kind" "$n" 1 -m 50 -n 1000 -l 160 -z 0
  done
done
stop_servers
"$bin/vchat-turn-report" --results "$out" --out "$root/benches/results" --commit "$(git rev-parse HEAD)"
