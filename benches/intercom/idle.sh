#!/usr/bin/env bash
# Connected idle intercoms on one node: DEVICES simulated door panels (vchat
# intercom-sim, docs/intercom.md) log in to one vchat, report their status and ping
# every 15 s; the script samples vchat's resident memory (VmRSS) and CPU once a second
# and writes benches/results/intercom-idle.json and its chart, intercom-idle.svg.
#
#   bash benches/intercom/idle.sh                 # 10,000 devices, 60 s connected (~3 minutes)
#   DEVICES=200 HOLD=5 bash benches/intercom/idle.sh   # a quick pass
#
# Everything runs on 127.0.0.1. vchat is pinned to CPU 0, the simulator to CPU 1.
set -euo pipefail
source "$(dirname "$0")/../common.sh"
need curl:curl
devices=${DEVICES:-10000}
hold=${HOLD:-60}
port=${PORT:-18090}
out=${OUT:-$root/benches/results/intercom-idle.json}
vchat=${VCHAT_BIN:-$bin/vchat}
if [ -z "${VCHAT_BIN:-}" ]; then
  cargo build --release --locked -p vchat-control --bin vchat
fi
cargo build --release --locked -p vchat-benches --bin vchat-intercom-idle-chart
work=$(mktemp -d /tmp/vchat-intercom-idle.XXXXXX)
trap 'stop_started; rm -rf "$work"' EXIT
# One socket per device in each process (vchat's end, the simulator's end).
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((devices + 1000)) ] || { echo "open files are limited to $(ulimit -n): not enough for $devices devices"; exit 1; }

VCHAT_HTTP=127.0.0.1:$port VCHAT_TLS_MODE=off VCHAT_LOG=warn VCHAT_MEDIA_PORT=0 VCHAT_TURN_UDP_PORT=0 \
  VCHAT_TURN_TCP_PORT=0 VCHAT_TURN_TLS_PORT=0 \
  taskset -c 0 "$vchat" serve --data "$work/data" > "$work/vchat.log" 2>&1 &
started+=($!)
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$pid/status"; }
threads() { awk '/Threads/ {print $2}' "/proc/$pid/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
start_rss=$(rss)
echo "vchat up (pid $pid), RSS $((start_rss / 1048576)) MiB; adding $devices devices"

taskset -c 1 "$vchat" intercom-sim --url "ws://127.0.0.1:$port/intercom" --devices "$devices" \
  --provision-token "$(cat "$work/data/api-token")" --secrets "$work/secrets" --provision-only > /dev/null 2> "$work/provision.log" \
  || { tail -n 20 "$work/provision.log"; exit 1; }
tail -n 1 "$work/provision.log"
base_rss=$(rss)
echo "RSS $((base_rss / 1048576)) MiB with the devices added; connecting them"

taskset -c 1 "$vchat" intercom-sim --url "ws://127.0.0.1:$port/intercom" --devices "$devices" \
  --secrets "$work/secrets" --connect-rate 1000 --duration $((hold + devices / 1000 + 30)) 2> "$work/sim.log" &
started+=($!)
sim=$!

online() { curl -fs "http://127.0.0.1:$port/metrics" | awk '$1 == "rtc_intercom_status_info" {print $2}'; }
t0=$(date +%s.%N)
samples=()
connected_at=""
for _ in $(seq $((devices / 200 + 120))); do
  n=$(online)
  now=$(date +%s.%N)
  samples+=("{\"t\": $(awk -v a="$now" -v b="$t0" 'BEGIN {printf "%.2f", a - b}'), \"online\": ${n:-0}, \"rss_bytes\": $(rss), \"threads\": $(threads)}")
  if [ "${n:-0}" -ge "$devices" ]; then connected_at=$(awk -v a="$now" -v b="$t0" 'BEGIN {printf "%.2f", a - b}'); break; fi
  sleep 1
done
[ -n "$connected_at" ] || { echo "only ${n:-0} of $devices connected"; tail -5 "$work/sim.log" "$work/vchat.log"; exit 1; }
echo "all $devices connected after ${connected_at} s; holding ${hold} s"
cpu0=$(cpu); h0=$(date +%s.%N)
peak=0
for _ in $(seq "$hold"); do
  sleep 1
  r=$(rss); n=$(online)
  [ "$r" -gt "$peak" ] && peak=$r
  samples+=("{\"t\": $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.2f", a - b}'), \"online\": ${n:-0}, \"rss_bytes\": $r, \"threads\": $(threads)}")
done
cpu1=$(cpu); h1=$(date +%s.%N)
ticks=$(getconf CLK_TCK)
cpu_share=$(awk -v c="$((cpu1 - cpu0))" -v t="$ticks" -v a="$h1" -v b="$h0" 'BEGIN {printf "%.4f", c / t / (a - b)}')
still=$(online)
reconnects=$(curl -fs "http://127.0.0.1:$port/metrics" | awk '$1 == "rtc_intercom_reconnects_total" {print $2}')
per_device=$(( (peak - base_rss) / devices ))
cat > "$out" <<JSON
{
  "command": "DEVICES=$devices HOLD=$hold bash benches/intercom/idle.sh",
  "machine": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores",
  "devices": $devices,
  "connected_after_s": $connected_at,
  "online_at_end": ${still:-0},
  "reconnects": ${reconnects:-0},
  "rss_at_start_bytes": $start_rss,
  "rss_before_bytes": $base_rss,
  "rss_peak_bytes": $peak,
  "rss_per_device_bytes": $per_device,
  "cpu_cores_idle": $cpu_share,
  "samples": [$(IFS=,; echo "${samples[*]}")]
}
JSON
echo "$devices idle devices: RSS $((base_rss / 1048576)) MiB before, $((peak / 1048576)) MiB peak ($((per_device)) bytes per device), $cpu_share of a core while idle, $still online at the end, $reconnects reconnects → $out"
"$bin/vchat-intercom-idle-chart" "$out" "${out%.json}.svg"
