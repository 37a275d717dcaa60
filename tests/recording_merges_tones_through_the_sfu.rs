//! A recorded call through the real SFU, merged and checked with ffprobe, ffmpeg and
//! sox: the client publishes a 440 Hz tone (muted for 2 s mid-call) and VP8 video, the
//! agent an 880 Hz tone starting 2 s late. The file: stereo Opus, left ≈ 440 Hz and
//! right ≈ 880 Hz, silence where the mute and the late start were, as long as the call,
//! the client's video decodable, and a beep on the client's audio within 40 ms of a
//! white flash on its video. The publishers are webrtc-rs clients.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use vchat_recorder::merge::video::vp8_payloads;
use vchat_tests::api::{Api, Auth, Org};
use vchat_tests::{RtcClient, TestServer, VideoCodec};

const SECONDS: f64 = 8.0;
const MUTE: (f64, f64) = (3.0, 5.0);
const AGENT_FROM: f64 = 2.0;
const BEEP: f64 = 6.0;

/// 20 ms Opus frames of a tone (with a 1 kHz beep over it at `beep`, if given).
fn opus_tone(hz: f64, seconds: f64, beep: Option<f64>) -> Vec<Vec<u8>> {
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio).unwrap();
    let mut buf = [0u8; 1500];
    (0..(seconds * 50.0) as usize)
        .map(|n| {
            let pcm: Vec<i16> = (0..960)
                .map(|i| {
                    let t = n as f64 * 0.02 + i as f64 / 48_000.0;
                    let mut v = (2.0 * std::f64::consts::PI * hz * t).sin() * 6000.0;
                    if beep.is_some_and(|b| t >= b && t < b + 0.1) {
                        v += (2.0 * std::f64::consts::PI * 3000.0 * t).sin() * 12_000.0;
                    }
                    v as i16
                })
                .collect();
            let len = enc.encode(&pcm, &mut buf).unwrap();
            buf[..len].to_vec()
        })
        .collect()
}

/// VP8 frames (30 fps) of ffmpeg's test source with a white flash at `flash`.
fn vp8_frames(dir: &Path, seconds: f64, flash: f64) -> Vec<Vec<u8>> {
    let ivf = dir.join("client.ivf");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=320x240:rate=30:duration={seconds}"))
        .args([
            "-vf",
            &format!(
                "drawbox=w=iw:h=ih:color=white:t=fill:enable='between(t,{flash},{})'",
                flash + 0.1
            ),
        ])
        .args([
            "-c:v",
            "libvpx",
            "-b:v",
            "400k",
            "-g",
            "30",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-f",
            "ivf",
        ])
        .arg(&ivf)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let data = std::fs::read(&ivf).unwrap();
    let mut at = u16::from_le_bytes([data[6], data[7]]) as usize;
    let mut out = Vec::new();
    while at + 12 <= data.len() {
        let size = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        out.push(data[at + 12..at + 12 + size].to_vec());
        at += 12 + size;
    }
    out
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("tool");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// sox's rough frequency of one channel of `wav` in a window.
fn sox_hz(wav: &Path, channel: u32, from: f64, len: f64) -> f64 {
    let text = run(Command::new("sox").arg(wav).args([
        "-n",
        "remix",
        &channel.to_string(),
        "trim",
        &from.to_string(),
        &len.to_string(),
        "stat",
    ]));
    text.lines()
        .find(|l| l.starts_with("Rough   frequency"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn silences(file: &Path, filter: &str) -> Vec<(f64, f64)> {
    let text = run(Command::new("ffmpeg")
        .args(["-nostats", "-i"])
        .arg(file)
        .args(["-map", "0:a", "-af", filter, "-f", "null", "-"]));
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut spans = Vec::new();
    let mut start = None;
    for w in words.windows(2) {
        match w[0] {
            "silence_start:" => start = w[1].parse::<f64>().ok(),
            "silence_end:" => {
                if let (Some(s), Ok(e)) = (start.take(), w[1].parse::<f64>()) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tones_left_and_right_silences_in_place_video_in_sync() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let work = tempfile::tempdir()?;
    let client_audio = opus_tone(440.0, SECONDS, Some(BEEP));
    let agent_audio = opus_tone(880.0, SECONDS - AGENT_FROM, None);
    let video = vp8_frames(work.path(), SECONDS, BEEP);

    let server = TestServer::start_with(&[
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
        ("VCHAT_RECORDINGS_MERGE_GRACE_MS", "300"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let call = api
        .open_call(agent, &json!({ "client": { "name": "Tone" } }))
        .await?;
    let id = call.id.clone();

    let client = RtcClient::join(&server, &call.client_token, "client", VideoCodec::Vp8).await?;
    let agent_rtc = RtcClient::join(&server, &call.staff_token, "agent", VideoCodec::Vp8).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Real time: audio every 20 ms, video every 33.3 ms (in ≤1000-byte RTP packets).
    let start = Instant::now();
    let (mut a_seq, mut b_seq, mut v_seq) = (0u16, 0u16, 0u16);
    let (mut a_next, mut b_next, mut v_next) = (0usize, 0usize, 0usize);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while a_next < client_audio.len() || v_next < video.len() || b_next < agent_audio.len() {
        tick.tick().await;
        let t = start.elapsed().as_secs_f64();
        while a_next < client_audio.len() && a_next as f64 * 0.02 <= t {
            let at = a_next as f64 * 0.02;
            if !(at >= MUTE.0 && at < MUTE.1) {
                client
                    .send_audio(a_seq, (a_next * 960) as u32, &client_audio[a_next])
                    .await?;
                a_seq = a_seq.wrapping_add(1);
            }
            a_next += 1;
        }
        while b_next < agent_audio.len() && AGENT_FROM + b_next as f64 * 0.02 <= t {
            agent_rtc
                .send_audio(b_seq, (b_next * 960) as u32, &agent_audio[b_next])
                .await?;
            b_seq = b_seq.wrapping_add(1);
            b_next += 1;
        }
        while v_next < video.len() && v_next as f64 / 30.0 <= t {
            let frame = &video[v_next];
            let payloads = vp8_payloads(frame, 1001);
            for (k, payload) in payloads.iter().enumerate() {
                client
                    .send_video(
                        v_seq,
                        (v_next * 3000) as u32,
                        k == payloads.len() - 1,
                        payload,
                    )
                    .await?;
                v_seq = v_seq.wrapping_add(1);
            }
            v_next += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.expect(
        agent,
        "POST",
        &format!("/api/interactions/{id}/end"),
        None,
        200,
    )
    .await?;
    let _ = client.close().await;
    let _ = agent_rtc.close().await;

    let rec = api
        .wait_for(
            agent,
            &format!("/api/interactions/{id}/recording"),
            30,
            |r| r["state"] == "ready" || r["state"] == "failed",
        )
        .await?;
    println!("recording: {rec}");
    assert_eq!(rec["state"], "ready", "{rec}");
    let Auth::Cookie(cookie) = agent else {
        unreachable!()
    };
    let bytes = reqwest::Client::new()
        .get(format!("{}/api/recordings/{id}/file", server.base))
        .header("cookie", cookie)
        .send()
        .await?
        .bytes()
        .await?;
    let file = work.path().join("call.webm");
    std::fs::write(&file, &bytes)?;
    println!("{}", rec["audio"]);
    assert_eq!(
        rec["audio"], "passthrough",
        "20 ms Opus: the parties' own packets"
    );

    // The SFU kept the client's RTCP sender reports with its captures: the merge lines
    // its video up with its audio by them.
    let captures = vchat_recorder::merge::CallCaptures::open_dir(
        &server
            .data_dir()
            .join("recordings")
            .join("capture")
            .join(&id),
    )?;
    for t in captures.client_audio.iter().chain(&captures.client_video) {
        println!(
            "{} {}: first sender report {:?}",
            t.header.role, t.header.kind, t.first_report
        );
        assert!(
            t.first_report.is_some(),
            "{}: a sender report",
            t.path.display()
        );
    }

    let probe = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,channels,nb_read_frames:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(&file));
    println!("{probe}");
    assert!(
        probe.contains("codec_name=vp8")
            && probe.contains("codec_name=opus")
            && probe.contains("channels=2"),
        "{probe}"
    );
    let duration: f64 = probe
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .unwrap()
        .parse()?;
    assert!(
        (duration - SECONDS).abs() <= 0.04,
        "duration {duration} s for a {SECONDS} s call"
    );
    let frames: u64 = probe
        .lines()
        .find_map(|l| l.strip_prefix("nb_read_frames="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(frames >= 230, "{frames} video frames decoded");

    let wav = work.path().join("call.wav");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&file)
        .args(["-map", "0:a"])
        .arg(&wav));
    let (left_hz, right_hz) = (sox_hz(&wav, 1, 0.5, 2.0), sox_hz(&wav, 2, 5.2, 0.6));
    println!("left {left_hz} Hz, right {right_hz} Hz");
    assert!((left_hz - 440.0).abs() <= 5.0, "left {left_hz}");
    assert!((right_hz - 880.0).abs() <= 5.0, "right {right_hz}");

    let left_silences = silences(&file, "pan=mono|c0=FL,silencedetect=noise=-45dB:d=0.3");
    let right_silences = silences(&file, "pan=mono|c0=FR,silencedetect=noise=-45dB:d=0.3");
    println!("left silences {left_silences:?}, right silences {right_silences:?}");
    let mute = left_silences
        .iter()
        .find(|(s, _)| *s > 1.0)
        .expect("the mute");
    assert!(
        (mute.0 - MUTE.0).abs() <= 0.04 && (mute.1 - MUTE.1).abs() <= 0.04,
        "mute at {mute:?}"
    );
    let late = right_silences.first().expect("before the agent's start");
    assert!(
        late.0 <= 0.04 && (late.1 - AGENT_FROM).abs() <= 0.04,
        "late start at {late:?}"
    );

    // A/V: the beep's onset (high-passed so the 440 Hz tone drops out) and the flash.
    let beep = silences(
        &file,
        "pan=mono|c0=FL,highpass=f=2000,highpass=f=2000,silencedetect=noise=-30dB:d=0.5",
    );
    // (Codec transients where the mute ends pass the filter too: take the onset near the beep.)
    let beep_at = beep
        .iter()
        .map(|(_, e)| *e)
        .find(|e| (e - BEEP).abs() < 0.5)
        .expect("the beep");
    let flash = run(Command::new("ffmpeg")
        .args(["-nostats", "-i"])
        .arg(&file)
        .args([
            "-map",
            "0:v",
            "-vf",
            "signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-",
            "-f",
            "null",
            "-",
        ]));
    let mut flash_at = None;
    let mut t = 0.0;
    for line in flash.lines() {
        if let Some(rest) = line.split("pts_time:").nth(1) {
            t = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(t);
        }
        if let Some(v) = line.strip_prefix("lavfi.signalstats.YAVG=")
            && v.trim().parse::<f64>().unwrap_or(0.0) > 200.0
        {
            flash_at = Some(t);
            break;
        }
    }
    let flash_at = flash_at.expect("the flash");
    println!(
        "beep at {beep_at:.3} s, flash at {flash_at:.3} s: A/V offset {:.1} ms",
        (beep_at - flash_at) * 1000.0
    );
    assert!(
        (beep_at - flash_at).abs() < 0.04,
        "beep {beep_at} vs flash {flash_at}"
    );

    // The same captures merged by hand the other way (decoded and encoded again): the
    // same call, as long, the tones on the same sides.
    let by_hand = work.path().join("by-hand.webm");
    let merged = std::process::Command::new(vchat_tests::process::vchat_bin()?)
        .args(["recording", "merge", "--audio", "reencode"])
        .arg(
            server
                .data_dir()
                .join("recordings")
                .join("capture")
                .join(&id),
        )
        .arg(&by_hand)
        .output()?;
    let said = String::from_utf8_lossy(&merged.stdout).into_owned();
    println!("vchat recording merge: {said}");
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    assert!(said.contains("audio re-encoded"), "{said}");
    let probe = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&by_hand));
    let by_hand_secs: f64 = probe.trim().parse()?;
    assert!(
        (by_hand_secs - duration).abs() <= 0.04,
        "by hand {by_hand_secs} s, by the server {duration} s"
    );
    let wav = work.path().join("by-hand.wav");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&by_hand)
        .arg(&wav));
    let (left_hz, right_hz) = (sox_hz(&wav, 1, 0.5, 2.0), sox_hz(&wav, 2, 5.2, 0.6));
    println!("by hand: {by_hand_secs} s, left {left_hz} Hz, right {right_hz} Hz");
    assert!((left_hz - 440.0).abs() <= 5.0 && (right_hz - 880.0).abs() <= 5.0);
    server.stop().await
}
