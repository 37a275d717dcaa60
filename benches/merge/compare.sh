#!/usr/bin/env bash
# The merge of a synthetic recorded call (client 440 Hz + VP8 video, agent 880 Hz
# joining 2 s late, a 2 s mute, 0.1 % loss) by vchat against the equivalent ffmpeg CLI
# command, side by side, alternating, each pinned to CPU 0 with one thread:
#
#   vchat-passthrough  vchat recording merge (the parties' own Opus packets as the two
#                      streams of the stereo track, video copied)
#   vchat-reencode     vchat recording merge --audio reencode (decode both, place,
#                      encode stereo Opus 64 kbit/s, video copied)
#   ffmpeg             decode both, aresample async (gaps), adelay (late join), apad +
#                      atrim (exact length), join to stereo, libopus 64 kbit/s, video
#                      copied (../shared/research/recording.md §4)
#
#   bash benches/merge/compare.sh                  # 10- and 60-minute calls, 3 rounds
#   MINUTES="1" ROUNDS=1 bash benches/merge/compare.sh   # to see the rig work
#
# Results: one JSON line per run in benches/results/merge/runs.jsonl, then
# benches/results/merge-vs-ffmpeg.json and the charts (vchat-merge-report).
set -euo pipefail
source "$(dirname "$0")/../common.sh"
minutes_list=${MINUTES:-"10 60"}
rounds=${ROUNDS:-3}
out=$root/benches/results/merge
need ffmpeg:ffmpeg sox:sox taskset:util-linux

cargo build --release --locked -p vchat-control -p vchat-benches --bin vchat --bin vchat-merge-fixture --bin vchat-merge-report
mkdir -p "$out"
: > "$out/runs.jsonl"
work=$(mktemp -d /tmp/vchat-merge-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Short clips, looped by the fixture: 1 s of each tone (20 ms Opus packets, as browsers
# send), 10 s of 640x360 VP8 at 30 fps with one keyframe.
ffmpeg -v error -y -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" \
  -c:a libopus -b:a 32k -application voip -frame_duration 20 "$work/client.mka"
ffmpeg -v error -y -f lavfi -i "sine=frequency=880:sample_rate=48000:duration=1" \
  -c:a libopus -b:a 32k -application voip -frame_duration 20 "$work/agent.mka"
ffmpeg -v error -y -f lavfi -i "testsrc2=size=640x360:rate=30:duration=10" \
  -c:v libvpx -b:v 800k -g 300 -deadline realtime -cpu-used 8 "$work/clip.webm"

for m in $minutes_list; do
  call=$work/call-$m
  "$bin/vchat-merge-fixture" --minutes "$m" --client-opus "$work/client.mka" \
    --agent-opus "$work/agent.mka" --video "$work/clip.webm" --out "$call"
  secs=$((m * 60))
  filter="[1:a]aresample=async=1:first_pts=0,apad=whole_dur=$secs,atrim=end=$secs[L];"
  filter+="[2:a]aresample=async=1:first_pts=0,adelay=delays=2000:all=1,apad=whole_dur=$secs,atrim=end=$secs[R];"
  filter+="[L][R]join=inputs=2:channel_layout=stereo:map=0.0-FL|1.0-FR[a]"
  for round in $(seq "$rounds"); do
    echo "== $m min, round $round"
    python3 benches/merge/measure.py vchat-passthrough "$m" "$call/pass.webm" "$work/log" \
      taskset -c 0 "$bin/vchat" recording merge "$call/captures" "$call/pass.webm" | tee -a "$out/runs.jsonl"
    python3 benches/merge/measure.py vchat-reencode "$m" "$call/reenc.webm" "$work/log" \
      taskset -c 0 "$bin/vchat" recording merge --audio reencode "$call/captures" "$call/reenc.webm" | tee -a "$out/runs.jsonl"
    python3 benches/merge/measure.py ffmpeg "$m" "$call/ffmpeg.webm" "$work/log" \
      taskset -c 0 ffmpeg -v error -y -threads 1 -filter_threads 1 -filter_complex_threads 1 \
      -i "$call/anchor/video.webm" -i "$call/anchor/client.mka" -i "$call/anchor/agent.mka" \
      -filter_complex "$filter" -map 0:v -map "[a]" -c:v copy -c:a libopus -b:a 64k -threads 1 \
      "$call/ffmpeg.webm" | tee -a "$out/runs.jsonl"
  done
  rm -rf "$call"
done
"$bin/vchat-merge-report" --runs "$out/runs.jsonl" --out "$root/benches/results" \
  --commit "$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet -- . ':!benches/results' || echo -dirty)"
