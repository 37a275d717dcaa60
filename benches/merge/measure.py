"""Runs one merge command and prints a JSON line: wall time, CPU time and peak RSS of
that process alone (wait4's rusage), plus what the output file holds (ffprobe's
duration, the frequency of each channel in a window in the middle, via sox)."""

import json
import os
import subprocess
import sys
import time


def channel_hz(path, at, channel):
    wav = path + f".{channel}.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(at), "-t", "4", "-i", path,
                    "-map", "0:a", "-c:a", "pcm_s16le", wav], check=True)
    stat = subprocess.run(["sox", wav, "-n", "remix", str(channel), "stat"],
                          capture_output=True, text=True).stderr
    os.unlink(wav)
    for line in stat.splitlines():
        if line.startswith("Rough   frequency"):
            return float(line.split(":")[1])
    return None


def main():
    label, minutes, output, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    cmd = sys.argv[5:]
    with open(log, "ab") as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=err, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
    result = {
        "label": label,
        "minutes": minutes,
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "exit": os.waitstatus_to_exitcode(status),
        "command": " ".join(cmd),
    }
    if result["exit"] == 0:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,channels",
                                "-of", "json", output], capture_output=True, text=True, check=True)
        info = json.loads(probe.stdout)
        result["duration_s"] = float(info["format"]["duration"])
        result["streams"] = [s.get("codec_name") + (f"/{s['channels']}ch" if "channels" in s else "")
                             for s in info["streams"]]
        result["size_bytes"] = os.path.getsize(output)
        at = minutes * 60 / 4
        result["left_hz"] = channel_hz(output, at, 1)
        result["right_hz"] = channel_hz(output, at, 2)
    print(json.dumps(result), flush=True)


main()
