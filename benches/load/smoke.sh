#!/usr/bin/env bash
# A few seconds of the load generator against `vchat serve`, so the rig cannot rot:
# CI runs it (from .ci/test) on debug builds. The full comparison is compare.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-$HOME/.cache/vchat-target}/${PROFILE:-debug}
work=$(mktemp -d /tmp/vchat-smoke.XXXXXX)
cleanup() { if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

NO_COLOR=1 VCHAT_MEDIA_PORT=0 VCHAT_MEDIA_WORKERS=1 "$target/vchat" serve --http 127.0.0.1:0 --data "$work/data" > "$work/vchat.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  url=$(grep -o 'vchat is serving; open http://[0-9.:]*' "$work/vchat.log" | sed 's/.*open //' || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/vchat.log"; echo "vchat did not start"; exit 1; }

check() {
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
what = sys.argv[2]
print(f"smoke ({what}): {r['connected_peers']} peers, {r['forwarded_pps']:.0f} packets/s forwarded, "
      f"loss {100*r['loss']:.2f}%, p99 {r['latency_p99_us']/1000:.1f} ms, first frame p50 {r['first_frame_ms_p50']:.0f} ms, "
      f"SFU {r['sfu_cpu_us_per_forwarded_packet']:.0f} us CPU/packet (debug build), video packets by layer {r['video_packets_by_layer']}")
assert r["connected_peers"] == 4, "every peer connected"
assert r["forwarded_pps"] > 300, "media flows"
assert r["loss"] < 0.02, "little loss"
assert r["first_frames"] == 2, "the second participant of each call got a keyframe"
if what == "simulcast":
    # Three layers in; the subscribers get the top one (no estimator: nothing limits them).
    assert r["video_packets_by_layer"][2] > 0, "the top layer is forwarded"
PY
}

for what in one-layer simulcast; do
  flag=()
  [ "$what" = simulcast ] && flag=(--simulcast)
  "$target/vchat-load" --url "$url" --api-token-file "$work/data/api-token" --rooms 2 \
    --ramp 1 --settle 2 --duration 3 --pid "$pid" --out "$work/$what.json" "${flag[@]}" > /dev/null
  check "$work/$what.json" "$what"
done
kill -TERM "$pid"
wait "$pid"
echo "smoke: vchat stopped cleanly"
