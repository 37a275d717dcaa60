//! The merge, end to end on synthetic captures, checked with ffprobe, ffmpeg and sox:
//! the client's 440 Hz tone in the left channel and the agent's 880 Hz in the right,
//! silence where the client was muted and before the agent joined, the file as long
//! as the call, the client's VP8 video copied and decodable.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use vchat_recorder::capture::{
    FLAG_CONTIGUOUS, FLAG_KEYFRAME, FLAG_MARKER, Frame, Header, Record, Writer,
};
use vchat_recorder::merge::{CallCaptures, merge};

const T0: i64 = 1_795_000_000_000_000;

fn header(role: &str, kind: &str, codec: &str, rate: u32, at_us: i64, segment: u32) -> Header {
    Header {
        call: "call".into(),
        role: role.into(),
        kind: kind.into(),
        codec: codec.into(),
        fmtp: String::new(),
        clock_rate: rate,
        wallclock_us: at_us,
        segment,
        ssrc: 1000 + segment,
    }
}

fn write(path: &Path, header: &Header, frames: &[Frame]) {
    let mut w = Writer::new(header, Instant::now());
    for f in frames {
        w.push(&Record::Frame(f.clone()), Instant::now());
    }
    w.push(
        &Record::End {
            arrival_us: frames.last().map_or(0, |f| f.arrival_us),
        },
        Instant::now(),
    );
    std::fs::write(path, w.take()).unwrap();
}

/// Opus packets of a tone at `hz` for `from_s..to_s` of the segment, skipping the
/// `mute` window (the sender stops sending; sequence numbers go on).
fn tone(hz: f64, seconds: f64, mute: Option<(f64, f64)>) -> Vec<Frame> {
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio).unwrap();
    let mut out = Vec::new();
    let frames = (seconds * 50.0) as u64;
    let mut seq = 100u64;
    let mut buf = [0u8; 1500];
    for n in 0..frames {
        let t = n as f64 * 0.02;
        let pcm: Vec<i16> = (0..960)
            .map(|i| {
                ((2.0 * std::f64::consts::PI * hz * (t + i as f64 / 48_000.0)).sin() * 12_000.0)
                    as i16
            })
            .collect();
        let len = enc.encode(&pcm, &mut buf).unwrap();
        if mute.is_some_and(|(a, b)| t >= a && t < b) {
            continue;
        }
        out.push(Frame {
            arrival_us: n * 20_000,
            rtp_ts: (1 << 32) - 48_000 + n * 960, // crosses the 32-bit wrap after 1 s
            seq_first: seq,
            seq_last: seq,
            flags: FLAG_CONTIGUOUS,
            payload: buf[..len].to_vec(),
        });
        seq += 1;
    }
    out
}

/// VP8 frames from ffmpeg's test source (30 fps), packetized as RFC 7741 RTP.
fn vp8(dir: &Path, seconds: u32) -> Vec<Frame> {
    let ivf = dir.join("src.ivf");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=320x240:rate=30:duration={seconds}"))
        .args([
            "-c:v",
            "libvpx",
            "-b:v",
            "300k",
            "-g",
            "60",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-f",
            "ivf",
        ])
        .arg(&ivf)
        .status()
        .expect("ffmpeg (apt-get install ffmpeg)");
    assert!(status.success());
    let data = std::fs::read(&ivf).unwrap();
    let mut at = u16::from_le_bytes([data[6], data[7]]) as usize;
    let mut out = Vec::new();
    let mut seq = 5000u64;
    let mut n = 0u64;
    while at + 12 <= data.len() {
        let size = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let frame = &data[at + 12..at + 12 + size];
        at += 12 + size;
        let key = frame[0] & 1 == 0;
        let chunks: Vec<&[u8]> = frame.chunks(1000).collect();
        for (k, chunk) in chunks.iter().enumerate() {
            let mut payload = vec![if k == 0 { 0x10 } else { 0x00 }];
            payload.extend_from_slice(chunk);
            let mut flags = FLAG_CONTIGUOUS;
            if key && k == 0 {
                flags |= FLAG_KEYFRAME;
            }
            if k == chunks.len() - 1 {
                flags |= FLAG_MARKER;
            }
            out.push(Frame {
                arrival_us: n * 33_333,
                rtp_ts: 90_000 + n * 3000,
                seq_first: seq,
                seq_last: seq,
                flags,
                payload,
            });
            seq += 1;
        }
        n += 1;
    }
    out
}

fn sox_stat(wav: &Path, channel: u32, from: f64, len: f64) -> (f64, f64) {
    let out = Command::new("sox")
        .arg(wav)
        .args([
            "-n",
            "remix",
            &channel.to_string(),
            "trim",
            &from.to_string(),
            &len.to_string(),
            "stat",
        ])
        .output()
        .expect("sox (apt-get install sox)");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    (field("Rough   frequency"), field("RMS     amplitude"))
}

fn silences(file: &Path, channel: &str) -> Vec<(f64, f64)> {
    let out = Command::new("ffmpeg")
        .args(["-nostats", "-i"])
        .arg(file)
        .args([
            "-af",
            &format!("pan=mono|c0={channel},silencedetect=noise=-50dB:d=0.3"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut spans = Vec::new();
    let mut start = None;
    for word in text.split_whitespace().collect::<Vec<_>>().windows(2) {
        match word[0] {
            "silence_start:" => start = word[1].parse::<f64>().ok(),
            "silence_end:" => {
                if let (Some(s), Ok(e)) = (start.take(), word[1].parse::<f64>()) {
                    spans.push((s, e));
                }
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, f64::INFINITY));
    }
    spans
}

#[test]
fn client_left_agent_right_silences_in_place_video_copied() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("captures");
    std::fs::create_dir_all(&caps).unwrap();
    // Client: 8 s of 440 Hz, muted 3..5 s. Agent: joins at 2 s, 880 Hz to 8 s.
    // Client video: 8 s from the start.
    write(
        &caps.join("client-audio-1-0.vcrec"),
        &header("client", "audio", "opus", 48_000, T0, 1),
        &tone(440.0, 8.0, Some((3.0, 5.0))),
    );
    write(
        &caps.join("agent-audio-2-0.vcrec"),
        &header("agent", "audio", "opus", 48_000, T0 + 2_000_000, 2),
        &tone(880.0, 6.0, None),
    );
    write(
        &caps.join("client-video-1-1.vcrec"),
        &header("client", "video", "vp8", 90_000, T0, 1),
        &vp8(dir.path(), 8),
    );

    let captures = CallCaptures::read_dir(&caps).unwrap();
    let out = dir.path().join("call.webm");
    let started = Instant::now();
    let report = merge(&captures, &out).unwrap();
    println!("merged in {:?}: {report:?}", started.elapsed());
    assert_eq!(report.video_size, Some((320, 240)));
    assert_eq!(report.decode_errors, 0);

    // ffprobe: stereo Opus and VP8, as long as the call.
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,channels,nb_read_frames:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(&out)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    println!("{text}");
    assert!(
        text.contains("codec_name=vp8")
            && text.contains("codec_name=opus")
            && text.contains("channels=2"),
        "{text}"
    );
    let duration: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((duration - 8.0).abs() <= 0.04, "duration {duration}");
    let frames: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("nb_read_frames="))
        .filter(|v| *v != "N/A")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(frames >= 235, "{frames} video frames decoded of 240");

    // sox: the left channel is the client's 440 Hz, the right the agent's 880 Hz.
    let wav = dir.path().join("call.wav");
    assert!(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&out)
            .args(["-c:a", "pcm_s16le"])
            .arg(&wav)
            .status()
            .unwrap()
            .success()
    );
    let (left_hz, _) = sox_stat(&wav, 1, 0.5, 2.0);
    let (right_hz, _) = sox_stat(&wav, 2, 5.5, 2.0);
    println!("left {left_hz} Hz, right {right_hz} Hz");
    assert!((left_hz - 440.0).abs() <= 5.0, "left {left_hz}");
    assert!((right_hz - 880.0).abs() <= 5.0, "right {right_hz}");
    let (_, right_before_join) = sox_stat(&wav, 2, 0.2, 1.5);
    assert!(
        right_before_join < 0.001,
        "the agent's channel is silent before the join: {right_before_join}"
    );

    // Silence windows within 40 ms.
    let left = silences(&out, "FL");
    let right = silences(&out, "FR");
    println!("left silences {left:?}, right silences {right:?}");
    let mute = left.iter().find(|(s, _)| *s > 2.0).expect("the mute");
    assert!(
        (mute.0 - 3.0).abs() <= 0.04 && (mute.1 - 5.0).abs() <= 0.04,
        "mute at {mute:?}"
    );
    let before = right.first().expect("before the join");
    assert!(
        before.0 <= 0.04 && (before.1 - 2.0).abs() <= 0.04,
        "late join at {before:?}"
    );
}
