//! The merge, end to end on synthetic captures, checked with ffprobe, ffmpeg and sox:
//! the client's 440 Hz tone in the left channel and the agent's 880 Hz in the right,
//! silence where the client was muted and before the agent joined, the file as long
//! as the call, the client's VP8 video copied and decodable.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use vchat_intercom::g711::Law;
use vchat_recorder::capture::{
    FLAG_CONTIGUOUS, FLAG_KEYFRAME, FLAG_MARKER, Frame, Header, Record, SenderReport, Writer,
};
use vchat_recorder::merge::video::vp8_payloads;
use vchat_recorder::merge::{AudioMode, CallCaptures, Container, MergeOptions, merge, merge_with};
use vchat_recorder::merge::{h264, vp9};

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
    write_with_reports(path, header, frames, &[]);
}

/// A capture file with sender reports after the frames that arrived before them.
fn write_with_reports(path: &Path, header: &Header, frames: &[Frame], reports: &[SenderReport]) {
    let mut w = Writer::new(header, Instant::now());
    let mut reports = reports.iter().peekable();
    for f in frames {
        while let Some(r) = reports.next_if(|r| r.arrival_us <= f.arrival_us) {
            w.push(&Record::Sender(*r), Instant::now());
        }
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

/// Opus packets of a tone at `hz` for `seconds`: nothing is sent in the `mute` window
/// (the sender pauses: sequence numbers do not advance), and the packets numbered in
/// `lost` are lost on the way (sequence numbers skip).
fn tone(hz: f64, seconds: f64, mute: Option<(f64, f64)>, lost: &[u64]) -> Vec<Frame> {
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio).unwrap();
    let mut buf = [0u8; 1500];
    packets(48_000, hz, seconds, mute, lost, |pcm| {
        let len = enc.encode(pcm, &mut buf).unwrap();
        buf[..len].to_vec()
    })
}

/// 20 ms packets of a 12,000-peak tone at `hz`, sampled at `rate` and coded by `code`,
/// muted and lost as [`tone`]'s; sequence numbers from 100, RTP time crossing the
/// 32-bit wrap after a second.
fn packets(
    rate: u32,
    hz: f64,
    seconds: f64,
    mute: Option<(f64, f64)>,
    lost: &[u64],
    mut code: impl FnMut(&[i16]) -> Vec<u8>,
) -> Vec<Frame> {
    let per_frame = u64::from(rate / 50);
    let mut out = Vec::new();
    let mut seq = 100u64;
    for n in 0..(seconds * 50.0) as u64 {
        let t = n as f64 * 0.02;
        let pcm: Vec<i16> = (0..per_frame)
            .map(|i| {
                let at = t + i as f64 / f64::from(rate);
                ((2.0 * std::f64::consts::PI * hz * at).sin() * 12_000.0) as i16
            })
            .collect();
        let payload = code(&pcm);
        if mute.is_some_and(|(a, b)| t >= a && t < b) {
            continue;
        }
        if lost.contains(&n) {
            seq += 1;
            continue;
        }
        out.push(Frame {
            arrival_us: n * 20_000,
            rtp_ts: (1 << 32) - u64::from(rate) + n * per_frame,
            seq_first: seq,
            seq_last: seq,
            flags: FLAG_CONTIGUOUS,
            payload,
        });
        seq += 1;
    }
    out
}

/// Frames of ffmpeg's test source (30 fps) in `codec` ("vp8" or "vp9"), one clip per
/// `(size, seconds)` one after the other (a resolution change between them),
/// packetized as RFC 7741 / RFC 9628 RTP.
fn video(dir: &Path, codec: &str, clips: &[(&str, u32)]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut seq = 5000u64;
    let mut n = 0u64;
    for (c, (size, seconds)) in clips.iter().enumerate() {
        let src = dir.join(format!("src-{codec}-{c}"));
        let mut ffmpeg = Command::new("ffmpeg");
        ffmpeg
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}:rate=30:duration={seconds}"));
        match codec {
            // Access unit delimiters mark where each frame starts in the raw stream.
            "h264" => ffmpeg
                .args(["-c:v", "libx264", "-profile:v", "baseline", "-tune"])
                .args([
                    "zerolatency",
                    "-g",
                    "60",
                    "-x264-params",
                    "aud=1",
                    "-f",
                    "h264",
                ]),
            "vp9" => ffmpeg.args(["-c:v", "libvpx-vp9", "-deadline", "realtime", "-f", "ivf"]),
            _ => ffmpeg.args(["-c:v", "libvpx", "-deadline", "realtime", "-f", "ivf"]),
        };
        let status = ffmpeg
            .args(["-b:v", "300k", "-g", "60", "-cpu-used", "8"])
            .arg(&src)
            .status()
            .expect("ffmpeg (apt-get install ffmpeg)");
        assert!(status.success());
        let data = std::fs::read(&src).unwrap();
        let frames: Vec<Vec<u8>> = if codec == "h264" {
            // Split at the delimiters, which WebRTC senders do not send.
            let mut units: Vec<Vec<u8>> = Vec::new();
            for nal in h264::nals(&data) {
                if nal[0] & 0x1f == 9 {
                    units.push(Vec::new());
                } else if let Some(unit) = units.last_mut() {
                    unit.extend_from_slice(&h264::START);
                    unit.extend_from_slice(nal);
                }
            }
            units
        } else {
            let mut at = u16::from_le_bytes([data[6], data[7]]) as usize;
            let mut units = Vec::new();
            while at + 12 <= data.len() {
                let size = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
                units.push(data[at + 12..at + 12 + size].to_vec());
                at += 12 + size;
            }
            units
        };
        for frame in &frames {
            let frame = frame.as_slice();
            let chunks = match codec {
                "h264" => h264::payloads(frame, 1000),
                "vp9" => vp9::payloads(frame, n as u16, 1001),
                _ => vp8_payloads(frame, 1001),
            };
            let key = match codec {
                "h264" => h264::is_idr(frame),
                "vp9" => vp9::frame_info(frame).is_some_and(|(k, _)| k),
                _ => frame[0] & 1 == 0,
            };
            for (k, payload) in chunks.iter().cloned().enumerate() {
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
    }
    out
}

fn sox_stat(wav: &Path, channel: u32, from: f64, len: f64) -> (f64, f64) {
    sox_stat_through(wav, channel, from, len, &[])
}

/// sox's rough frequency and RMS of a channel in a window, through sox `effects`.
fn sox_stat_through(wav: &Path, channel: u32, from: f64, len: f64, effects: &[&str]) -> (f64, f64) {
    let out = Command::new("sox")
        .arg(wav)
        .args([
            "-n",
            "remix",
            &channel.to_string(),
            "trim",
            &from.to_string(),
            &len.to_string(),
        ])
        .args(effects)
        .arg("stat")
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

/// Decodes `file` to a WAV with ffmpeg (`decoder`: ffmpeg's own Opus decoder, or
/// "libopus"), GStreamer or VLC.
fn decode(file: &Path, player: &str, wav: &Path) {
    let status = match player {
        "ffmpeg" | "libopus" => {
            let mut c = Command::new("ffmpeg");
            c.args(["-v", "error", "-y"]);
            if player == "libopus" {
                c.args(["-c:a", "libopus"]);
            }
            c.arg("-i").arg(file).args(["-map", "0:a", "-c:a", "pcm_s16le"]).arg(wav);
            c.status()
        }
        "gstreamer" => Command::new("gst-launch-1.0")
            .args(["-q", "filesrc"])
            .arg(format!("location={}", file.display()))
            .args(["!", "matroskademux", "!", "opusdec", "!", "audioconvert", "!"])
            .args(["audio/x-raw,format=S16LE,channels=2", "!", "wavenc", "!", "filesink"])
            .arg(format!("location={}", wav.display()))
            .status(),
        "vlc" => {
            // VLC refuses to run as root: as nobody, in a folder nobody may write.
            let dir = tempfile::Builder::new().prefix("vlc").tempdir().unwrap();
            let (src, dst) = (dir.path().join("in.webm"), dir.path().join("out.wav"));
            std::fs::copy(file, &src).unwrap();
            let _ = Command::new("chmod").arg("777").arg(dir.path()).status();
            let _ = Command::new("chmod").arg("644").arg(&src).status();
            let vlc = |c: &mut Command| {
                c.args(["-I", "dummy", "--no-video", "--no-sout-video"])
                    .arg(&src)
                    .arg(format!(
                        "--sout=#transcode{{acodec=s16l,channels=2,samplerate=48000}}:std{{access=file,mux=wav,dst={}}}",
                        dst.display()
                    ))
                    .arg("vlc://quit");
            };
            let mut c = if is_root() {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "cvlc"]);
                c
            } else {
                Command::new("cvlc")
            };
            vlc(&mut c);
            let status = c.output().map(|o| o.status);
            let _ = std::fs::copy(&dst, wav);
            status
        }
        other => panic!("no player {other}"),
    }
    .unwrap_or_else(|e| panic!("{player}: {e} (see .ci/deps for the packages)"));
    assert!(status.success(), "{player} failed on {}", file.display());
}

/// Whether this process runs as root (VLC will not).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Checks a decoded call: 440 Hz left, 880 Hz right, the mute and the late join where
/// they were (±40 ms), the length of the call.
fn check_decoded(wav: &Path, label: &str) {
    let samples: f64 = {
        let out = Command::new("soxi").arg("-s").arg(wav).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let seconds = samples / 48_000.0;
    let (left_hz, _) = sox_stat(wav, 1, 0.5, 2.0);
    let (right_hz, _) = sox_stat(wav, 2, 5.5, 2.0);
    let (_, right_before_join) = sox_stat(wav, 2, 0.2, 1.5);
    let left = silences(wav, "FL");
    let right = silences(wav, "FR");
    println!(
        "{label}: {seconds:.3} s, left {left_hz} Hz, right {right_hz} Hz; left silences {left:?}, right silences {right:?}"
    );
    assert!((seconds - 8.0).abs() <= 0.04, "{label}: {seconds} s");
    assert!((left_hz - 440.0).abs() <= 5.0, "{label}: left {left_hz}");
    assert!((right_hz - 880.0).abs() <= 5.0, "{label}: right {right_hz}");
    assert!(
        right_before_join < 0.001,
        "{label}: the agent's channel is silent before the join: {right_before_join}"
    );
    // The mute is the left channel's only silence: the losses at 6 s were concealed.
    assert_eq!(left.len(), 1, "{label}: left silences {left:?}");
    assert!(
        (left[0].0 - 3.0).abs() <= 0.04 && (left[0].1 - 5.0).abs() <= 0.04,
        "{label}: mute at {:?}",
        left[0]
    );
    let before = right.first().expect("before the join");
    assert!(
        before.0 <= 0.04 && (before.1 - 2.0).abs() <= 0.04,
        "{label}: late join at {before:?}"
    );
}

fn captures(dir: &Path) -> std::path::PathBuf {
    let caps = dir.join("captures");
    std::fs::create_dir_all(&caps).unwrap();
    // Client: 8 s of 440 Hz, muted 3..5 s, one packet lost at 6 s and three at 6.5 s.
    // Agent: joins at 2 s, 880 Hz to 8 s. Client video: 8 s from the start.
    write(
        &caps.join("client-audio-1-0.vcrec"),
        &header("client", "audio", "opus", 48_000, T0, 1),
        &tone(440.0, 8.0, Some((3.0, 5.0)), &[300, 325, 326, 327]),
    );
    write(
        &caps.join("agent-audio-2-0.vcrec"),
        &header("agent", "audio", "opus", 48_000, T0 + 2_000_000, 2),
        &tone(880.0, 6.0, None, &[]),
    );
    write(
        &caps.join("client-video-1-1.vcrec"),
        &header("client", "video", "vp8", 90_000, T0, 1),
        &video(dir, "vp8", &[("320x240", 8)]),
    );
    caps
}

fn check_file(out: &Path) {
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
        .arg(out)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    println!("{}", text.replace('\n', " "));
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
}

#[test]
fn client_left_agent_right_silences_in_place_video_copied() {
    let dir = tempfile::tempdir().unwrap();
    let caps = captures(dir.path());
    let captures = CallCaptures::open_dir(&caps).unwrap();

    // Re-encoded: decoded, placed, encoded as stereo Opus.
    let out = dir.path().join("reencoded.webm");
    let started = Instant::now();
    let options = MergeOptions {
        audio: AudioMode::Reencode,
        progress: None,
    };
    let report = merge_with(&captures, &out, options).unwrap();
    println!("re-encoded in {:?}: {report:?}", started.elapsed());
    assert_eq!(report.audio, AudioMode::Reencode);
    assert_eq!(report.video_size, Some((320, 240)));
    assert_eq!(report.decode_errors, 0);
    check_file(&out);
    let wav = dir.path().join("reencoded.wav");
    decode(&out, "ffmpeg", &wav);
    check_decoded(&wav, "re-encoded, ffmpeg");

    // The parties' own packets as two streams (what `merge` chooses for 20 ms packets),
    // played by every decoder at hand.
    let out = dir.path().join("passthrough.webm");
    let started = Instant::now();
    let report = merge(&captures, &out).unwrap();
    println!("passed through in {:?}: {report:?}", started.elapsed());
    assert_eq!(report.audio, AudioMode::Passthrough);
    let [client, agent] = report.slots.unwrap();
    assert_eq!((client.packets, client.lost, client.misfits), (296, 4, 0));
    assert_eq!((agent.packets, agent.silent), (300, 100));
    check_file(&out);
    for player in ["ffmpeg", "libopus", "gstreamer", "vlc"] {
        let wav = dir.path().join(format!("passthrough-{player}.wav"));
        decode(&out, player, &wav);
        check_decoded(&wav, &format!("passed through, {player}"));
    }
}

#[test]
fn vp9_is_copied_and_resolution_changes_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("captures");
    std::fs::create_dir_all(&caps).unwrap();
    write(
        &caps.join("client-audio-1-0.vcrec"),
        &header("client", "audio", "opus", 48_000, T0, 1),
        &tone(440.0, 6.0, None, &[]),
    );
    // 3 s at 320x240, then the sender switches to 640x360 (a keyframe) for 3 s.
    write(
        &caps.join("client-video-1-1.vcrec"),
        &header("client", "video", "vp9", 90_000, T0, 1),
        &video(dir.path(), "vp9", &[("320x240", 3), ("640x360", 3)]),
    );
    let captures = CallCaptures::open_dir(&caps).unwrap();
    let out = dir.path().join("vp9.webm");
    let report = merge(&captures, &out).unwrap();
    println!("{report:?}");
    assert_eq!(report.video_size, Some((320, 240)));
    assert_eq!((report.video.frames, report.video.dropped), (180, 0));
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries"])
        .args(["frame=width,height", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    let small = text.lines().filter(|l| *l == "320,240").count();
    let large = text.lines().filter(|l| *l == "640,360").count();
    println!("VP9 frames decoded: {small} at 320x240, {large} at 640x360");
    assert_eq!((small, large), (90, 90), "{text}");
    let codec = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "stream=codec_name",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&codec.stdout).trim(), "vp9");
}

#[test]
fn h264_is_copied_into_mp4_with_aac() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("captures");
    std::fs::create_dir_all(&caps).unwrap();
    write(
        &caps.join("client-audio-1-0.vcrec"),
        &header("client", "audio", "opus", 48_000, T0, 1),
        &tone(440.0, 6.0, None, &[]),
    );
    write(
        &caps.join("agent-audio-2-0.vcrec"),
        &header("agent", "audio", "opus", 48_000, T0 + 2_000_000, 2),
        &tone(880.0, 4.0, None, &[]),
    );
    write(
        &caps.join("client-video-1-1.vcrec"),
        &header("client", "video", "h264", 90_000, T0, 1),
        &video(dir.path(), "h264", &[("320x240", 3), ("640x360", 3)]),
    );
    let captures = CallCaptures::open_dir(&caps).unwrap();
    let out = dir.path().join("call.mp4");
    let report = merge(&captures, &out).unwrap();
    println!("{report:?}");
    assert_eq!(report.container, Container::Mp4);
    assert_eq!(report.audio, AudioMode::Reencode);
    assert_eq!(report.video_size, Some((320, 240)));
    assert_eq!((report.video.frames, report.video.dropped), (180, 0));
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args(["stream=codec_name,channels,nb_read_frames:format=format_name,duration"])
        .args(["-of", "default=nw=1"])
        .arg(&out)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    println!("{}", text.replace('\n', " "));
    assert!(text.contains("format_name=mov,mp4"), "{text}");
    let decoded: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("nb_read_frames=")?.parse().ok())
        .collect();
    assert!(
        text.contains("codec_name=h264") && decoded[0] == 180,
        "{text}"
    );
    assert!(
        text.contains("codec_name=aac") && text.contains("channels=2"),
        "{text}"
    );
    let duration: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((duration - 6.0).abs() <= 0.04, "duration {duration}");
    let sizes = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries"])
        .args(["frame=width,height", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .unwrap();
    let sizes = String::from_utf8_lossy(&sizes.stdout).into_owned();
    let small = sizes.lines().filter(|l| *l == "320,240").count();
    let large = sizes.lines().filter(|l| *l == "640,360").count();
    println!("H.264 frames decoded: {small} at 320x240, {large} at 640x360");
    assert!(small >= 88 && large >= 88, "the resolution change is kept");
    let wav = dir.path().join("mp4.wav");
    decode(&out, "ffmpeg", &wav);
    let (left_hz, _) = sox_stat(&wav, 1, 0.5, 1.0);
    let (right_hz, _) = sox_stat(&wav, 2, 3.0, 2.0);
    let (_, right_before) = sox_stat(&wav, 2, 0.2, 1.5);
    println!("MP4: left {left_hz} Hz, right {right_hz} Hz, right before the join {right_before}");
    assert!((left_hz - 440.0).abs() <= 5.0 && (right_hz - 880.0).abs() <= 5.0);
    assert!(right_before < 0.001);
}

/// 64-bit NTP timestamp of `us` microseconds after an arbitrary sender epoch.
fn ntp(us: u64) -> u64 {
    const EPOCH_S: u64 = 3_900_000_000;
    ((EPOCH_S + us / 1_000_000) << 32) | (((us % 1_000_000) << 32) / 1_000_000)
}

#[test]
fn sender_reports_line_the_clients_video_up_with_its_audio() {
    // The client captures audio and video from the same moment, but its video reaches
    // the server 150 ms after its audio (frames paced out, a slower path): its RTCP
    // sender reports say both started together, so the video goes back 150 ms.
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("captures");
    std::fs::create_dir_all(&caps).unwrap();
    let audio = tone(440.0, 4.0, None, &[]);
    let video = video(dir.path(), "vp8", &[("320x240", 4)]);
    let (a0, v0) = (audio[0].rtp_ts, video[0].rtp_ts);
    // One report a second on each track (arrival times count from each file's first
    // packet, as the recorder writes them).
    let reports = |first_ts: u64, rate: u64| -> Vec<SenderReport> {
        (1..4u64)
            .map(|s| SenderReport {
                arrival_us: s * 1_000_000 + 20_000,
                ntp: ntp(s * 1_000_000),
                rtp_ts: (first_ts + s * rate) & 0xffff_ffff,
            })
            .collect()
    };
    write_with_reports(
        &caps.join("client-audio-1-0.vcrec"),
        &header("client", "audio", "opus", 48_000, T0, 1),
        &audio,
        &reports(a0, 48_000),
    );
    write_with_reports(
        &caps.join("client-video-1-1.vcrec"),
        &header("client", "video", "vp8", 90_000, T0 + 150_000, 1),
        &video,
        &reports(v0, 90_000),
    );
    let captures = CallCaptures::open_dir(&caps).unwrap();
    let out = dir.path().join("synced.webm");
    let report = merge(&captures, &out).unwrap();
    println!("lip sync moved the video by {:?} µs", report.lip_sync_us);
    assert_eq!(report.lip_sync_us, Some(-150_000));
    let first = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-read_intervals",
            "%+#1",
        ])
        .args(["-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .unwrap();
    let first: f64 = String::from_utf8_lossy(&first.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(first, 0.0, "the first video frame starts with the audio");
}

#[test]
fn audio_only_calls_give_an_audio_only_file() {
    // An intercom: audio only, on both sides.
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("captures");
    std::fs::create_dir_all(&caps).unwrap();
    write(
        &caps.join("client-audio-1-0.vcrec"),
        &header("client", "audio", "opus", 48_000, T0, 1),
        &tone(440.0, 3.0, None, &[]),
    );
    write(
        &caps.join("agent-audio-2-0.vcrec"),
        &header("agent", "audio", "opus", 48_000, T0 + 1_000_000, 2),
        &tone(880.0, 2.0, None, &[]),
    );
    let captures = CallCaptures::open_dir(&caps).unwrap();
    let out = dir.path().join("intercom.webm");
    let report = merge(&captures, &out).unwrap();
    assert_eq!(report.video_size, None);
    assert_eq!(report.container.content_type(false), "audio/webm");
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,channels",
        ])
        .args(["-show_entries", "format=duration", "-of", "default=nw=1"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    println!("{}", text.replace('\n', " "));
    assert!(!text.contains("codec_type=video"), "{text}");
    assert!(
        text.contains("codec_name=opus") && text.contains("channels=2"),
        "{text}"
    );
    assert!(text.contains("duration=3.0"), "{text}");
}

/// G.711 packets (20 ms, 8 kHz) of a tone, muted and lost as [`tone`]'s.
fn g711_tone(
    law: Law,
    hz: f64,
    seconds: f64,
    mute: Option<(f64, f64)>,
    lost: &[u64],
) -> Vec<Frame> {
    packets(8000, hz, seconds, mute, lost, |pcm| {
        let mut codes = vec![0u8; pcm.len()];
        law.encode(pcm, &mut codes);
        codes
    })
}

#[test]
fn g711_parties_are_decoded_brought_to_48_khz_and_placed() {
    // A room an intercom put on G.711: the panel (client) in A-law, the answerer in
    // µ-law — the same call as the Opus one: 440 Hz left, muted 3..5 s, four packets
    // lost; 880 Hz right from 2 s.
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("captures");
    std::fs::create_dir_all(&caps).unwrap();
    write(
        &caps.join("client-audio-1-0.vcrec"),
        &header("client", "audio", "pcma", 8000, T0, 1),
        &g711_tone(
            Law::Alaw,
            440.0,
            8.0,
            Some((3.0, 5.0)),
            &[300, 325, 326, 327],
        ),
    );
    write(
        &caps.join("agent-audio-2-0.vcrec"),
        &header("agent", "audio", "pcmu", 8000, T0 + 2_000_000, 2),
        &g711_tone(Law::Ulaw, 880.0, 6.0, None, &[]),
    );
    let captures = CallCaptures::open_dir(&caps).unwrap();
    let out = dir.path().join("intercom.webm");
    let report = merge(&captures, &out).unwrap();
    println!("{report:?}");
    assert_eq!(report.audio, AudioMode::Reencode, "G.711 is decoded");
    assert_eq!(report.decode_errors, 0);
    assert_eq!(report.container.content_type(false), "audio/webm");
    let wav = dir.path().join("intercom.wav");
    decode(&out, "ffmpeg", &wav);
    check_decoded(&wav, "G.711");
    // At its level (12,000 of 32,768, RMS 0.259), and no images of the 8 kHz
    // sampling above its band (the interpolator's low-pass took them out).
    let (_, left_rms) = sox_stat(&wav, 1, 0.5, 2.0);
    let (_, right_rms) = sox_stat(&wav, 2, 5.5, 2.0);
    let above = |channel, from| sox_stat_through(&wav, channel, from, 2.0, &["sinc", "4.6k"]).1;
    let (left_above, right_above) = (above(1, 0.5), above(2, 5.5));
    println!(
        "RMS left {left_rms}, right {right_rms}; above 4.6 kHz: left {left_above}, right {right_above}"
    );
    assert!((left_rms - 0.259).abs() < 0.03, "left RMS {left_rms}");
    assert!((right_rms - 0.259).abs() < 0.03, "right RMS {right_rms}");
    assert!(
        left_above < left_rms / 100.0 && right_above < right_rms / 100.0,
        "images above the band: left {left_above}, right {right_above}"
    );
}
