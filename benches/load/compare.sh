#!/usr/bin/env bash
# vchat against janus on this machine, same load, alternating A B A B.
#
#   bash benches/load/compare.sh            # the full run (about 20 minutes)
#   QUICK=1 bash benches/load/compare.sh    # a short one, to see the rig work
#   ONLY=simulcast bash benches/load/compare.sh   # only the simulcast runs (about 9
#                                           # minutes); the other runs' results stay
#   VCHAT_BIN=/path/to/vchat ...            # another build of vchat (an older commit's)
#
# Both SFUs run in the `vchatbench` network namespace (benches/anchors/netns.sh), each
# pinned to CPU 0 and given that core alone; the generator is pinned to CPU 1. Results:
# one JSON per run in benches/results/load/, then benches/results/sfu-vs-janus.json and
# the charts (vchat-load-report). Needs root (namespace, taskset) and ffmpeg + janus.
set -euo pipefail
source "$(dirname "$0")/../common.sh"
out=$root/benches/results/load
quick=${QUICK:-}
only=${ONLY:-}

need janus:janus ffmpeg:ffmpeg
cargo build --release --locked -p vchat-control -p vchat-benches --bin vchat --bin vchat-load --bin vchat-load-report
bash benches/anchors/netns.sh up
mkdir -p "$out"
if [ "$only" = simulcast ]; then
  rm -f "$out"/simulcast-*.json
else
  rm -f "$out"/*.json
fi
work=$(mktemp -d /tmp/vchat-compare.XXXXXX)

stop_sfus() {
  stop_started
  sleep 0.5
}
trap 'stop_sfus; rm -rf "$work"' EXIT

# run TARGET LABEL ROOMS [generator args...]
run() {
  local target=$1 label=$2 rooms=$3; shift 3
  stop_sfus
  local args pid
  if [ "$target" = vchat ]; then
    rm -rf "$work/data"
    ip netns exec vchatbench env VCHAT_MEDIA_WORKERS=1 VCHAT_MEDIA_BIND_IP=10.77.0.1 VCHAT_HTTP=10.77.0.1:8080 VCHAT_TLS_MODE=off \
      VCHAT_LOG=warn VCHAT_ROOMS_MAX_PARTICIPANTS=64 taskset -c 0 "${VCHAT_BIN:-$bin/vchat}" serve --data "$work/data" > "$work/vchat.log" 2>&1 &
    pid=$!
    started+=("$pid")
    sleep 1
    args=(--url http://10.77.0.1:8080 --api-token-file "$work/data/api-token")
  else
    ip netns exec vchatbench env JANUS_WS_IP=10.77.0.1 JANUS_ICE_INTERFACE=vb1 \
      bash benches/anchors/janus.sh 0 > "$work/janus.log" 2>&1 &
    pid=$!   # janus.sh execs janus: the same process
    started+=("$pid")
    sleep 2
    args=(--target janus --url ws://10.77.0.1:8188)
  fi
  local file="$out/${label//\//-}-$target.json"
  echo ">>> $label $target: $rooms rooms $*"
  if ! taskset -c 1 "$bin/vchat-load" "${args[@]}" --bind 10.77.0.2 --rooms "$rooms" --pid "$pid" \
      --label "$label" --out "$file" "$@" > /dev/null 2> "$work/load.err"; then
    echo "    run failed:"; tail -3 "$work/load.err"
    rm -f "$file"
    return 1
  fi
  grep -E '"(forwarded_pps|loss|latency_p99_us|sfu_cpu_us_per_forwarded_packet|sfu_cpu_util|generator_cpu_util)"' "$file" | tr -d '\n ' ; echo
}

# Simulcast publishers: 3 layers in (160x120, 320x240, 640x480: about 2.1 Mbit/s), the
# top one out to the other party (neither SFU has a reason to go lower on the veth).
# The same calls without simulcast in the same run: what the machine gives the 1:1
# ratio that day, beside the simulcast one.
simulcast() {
  local d=(--duration 20 --settle 5 --ramp 5)
  for rep in 1 2 3; do
    run janus simulcast-1to1/$rep 30 --simulcast "${d[@]}" || true
    run vchat simulcast-1to1/$rep 30 --simulcast "${d[@]}" || true
    run janus simulcast-ref/$rep 30 "${d[@]}" || true
    run vchat simulcast-ref/$rep 30 "${d[@]}" || true
  done
}

if [ "$only" = simulcast ]; then
  simulcast
elif [ -n "$quick" ]; then
  d=(--duration 4 --settle 2 --ramp 1)
  for rep in 1 2; do
    run janus cpu-1to1/$rep 4 "${d[@]}" ; run vchat cpu-1to1/$rep 4 "${d[@]}"
  done
else
  d=(--duration 20 --settle 5 --ramp 5)
  # 1. CPU per forwarded packet near janus's limit (it must still lose < 1 %).
  for rep in 1 2 3; do
    run janus cpu-1to1/$rep 50 "${d[@]}" || true ; run vchat cpu-1to1/$rep 50 "${d[@]}" || true
    run janus cpu-room4/$rep 10 --shape room4 "${d[@]}" || true ; run vchat cpu-room4/$rep 10 --shape room4 "${d[@]}" || true
  done
  # 2. Capacity: 1:1 calls, growing until loss or latency give out (or the generator does).
  for rooms in 10 20 40 60 80 120 160 200; do
    run janus capacity/$rooms "$rooms" --duration 10 --settle 5 --ramp 5 || true
    run vchat capacity/$rooms "$rooms" --duration 10 --settle 5 --ramp 5 || true
  done
  # 3. Memory: RSS with 10 to 200 connected participants in 1:1 calls.
  for rooms in 5 25 50 100; do
    run janus memory/$rooms "$rooms" --duration 3 --settle 5 --ramp 5 || true
    run vchat memory/$rooms "$rooms" --duration 3 --settle 5 --ramp 5 || true
  done
  # 4. The other shapes once each: 1 -> 8 viewers, and audio-only calls (intercoms).
  run janus fanout/1 10 --shape fanout --subscribers 8 "${d[@]}" || true
  run vchat fanout/1 10 --shape fanout --subscribers 8 "${d[@]}" || true
  run janus audio/1 100 --shape audio "${d[@]}" || true
  run vchat audio/1 100 --shape audio "${d[@]}" || true
  # 5. Simulcast publishers.
  simulcast
fi

commit=$(git rev-parse HEAD)
if [ "$only" = simulcast ]; then
  # The other runs are those of the last full run: its commit stays theirs.
  before=$(sed -n 's/.*"commit": "\([0-9a-f]*\)".*/\1/p' "$root/benches/results/sfu-vs-janus.json" | head -1)
  "$bin/vchat-load-report" --results "$out" --out "$root/benches/results" --commit "${before:-unknown}" --simulcast-commit "$commit"
else
  "$bin/vchat-load-report" --results "$out" --out "$root/benches/results" --commit "$commit"
fi
