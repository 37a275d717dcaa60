#!/usr/bin/env bash
# The intercom bridge's codec costs and quality per Opus complexity
# (benches/intercom/codecs.rs): speech from espeak-ng in Russian and English, at 8 kHz
# (the panel) and 48 kHz (a browser), then the measurement, pinned to one core, scored
# by PESQ (benches/intercom/score_pesq.py), and measured again with the scores merged.
#
#   bash benches/intercom/codecs.sh     # ~2 minutes
set -euo pipefail
source "$(dirname "$0")/../common.sh"
need espeak-ng:espeak-ng ffmpeg:ffmpeg
# PESQ (P.862) from PyPI, in a venv of the benchmark's own.
venv=${PESQ_VENV:-$HOME/.cache/vchat-pesq}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import pesq, numpy" 2>/dev/null || "$venv/bin/pip" install -q pesq==0.0.4 numpy
cargo build --release --locked -p vchat-benches --bin vchat-intercom-codecs
work=$(mktemp -d /tmp/vchat-intercom-codecs.XXXXXX)
trap 'rm -rf "$work"' EXIT
ru="Добрый день. Откройте, пожалуйста, дверь, я к вам в квартиру сорок два. Курьер с посылкой, подъезд второй, третий этаж."
en="Hello, this is the courier with your parcel. Could you open the door please? I am at the second entrance, flat forty two."
for i in 1 2 3; do
  espeak-ng -v ru -s 150 -w "$work/ru$i.wav" "$ru"
  espeak-ng -v en -s 150 -w "$work/en$i.wav" "$en"
done
ls "$work"/*.wav | sort | sed "s/^/file '/; s/$/'/" > "$work/list.txt"
ffmpeg -hide_banner -loglevel error -f concat -safe 0 -i "$work/list.txt" -ac 1 -ar 8000 -f s16le "$work/speech8k.raw"
ffmpeg -hide_banner -loglevel error -f concat -safe 0 -i "$work/list.txt" -ac 1 -ar 48000 -f s16le "$work/speech48k.raw"
ffmpeg -hide_banner -loglevel error -f concat -safe 0 -i "$work/list.txt" -ac 1 -ar 16000 -f s16le "$work/speech16k.raw"
args=(--speech8k "$work/speech8k.raw" --speech48k "$work/speech48k.raw" --speech16k "$work/speech16k.raw" --decoded-dir "$work/decoded"
      --out "$root/benches/results/intercom-codecs.json" --chart "$root/benches/results/intercom-codecs.svg")
taskset -c 1 "$bin/vchat-intercom-codecs" "${args[@]}" > /dev/null
"$venv/bin/python" benches/intercom/score_pesq.py "$work/decoded" > "$work/pesq.json"
taskset -c 1 "$bin/vchat-intercom-codecs" "${args[@]}" --scores "$work/pesq.json"
