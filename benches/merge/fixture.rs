//! Makes a synthetic recorded call of any length for the merge benchmark: the capture
//! files vchat's recorder would have written, and the same media in the containers the
//! ffmpeg CLI merges (the anchor), packet for packet.
//!
//! The call: the client (440 Hz Opus, VP8 video) from 0 s, the agent (880 Hz Opus)
//! joining 2 s later; the client mutes for 2 s in the middle; about 0.1 % of the
//! client's audio packets are lost alone and a burst of three every 100 s. Media comes
//! from short clips the ffmpeg CLI made (`benches/merge/compare.sh`), looped.
//!
//! Usage: vchat-merge-fixture --minutes 60 --client-opus c.mka --agent-opus a.mka
//!        --video clip.webm --out DIR

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use ffmpeg::{Packet, Rational, codec, format, media};
use ffmpeg_next as ffmpeg;
use vchat_recorder::capture::{
    FLAG_CONTIGUOUS, FLAG_KEYFRAME, FLAG_MARKER, Frame, Header, Record, Writer,
};
use vchat_recorder::merge::video::vp8_payloads;

#[derive(Parser)]
struct Args {
    /// Length of the call.
    #[arg(long)]
    minutes: u64,
    /// Opus packets (20 ms, mono) of the client's sound, looped.
    #[arg(long)]
    client_opus: PathBuf,
    /// Opus packets of the agent's sound, looped.
    #[arg(long)]
    agent_opus: PathBuf,
    /// VP8 frames of the client's video (30 fps, a keyframe first), looped.
    #[arg(long)]
    video: PathBuf,
    /// Output folder: `captures/` for vchat, `anchor/` for ffmpeg.
    #[arg(long)]
    out: PathBuf,
}

const T0: i64 = 1_795_000_000_000_000;
/// The agent joins this late.
const AGENT_DELAY_US: u64 = 2_000_000;

/// The packets of the first stream of `kind` in a file, with its parameters.
fn packets(path: &Path, kind: media::Type) -> anyhow::Result<(codec::Parameters, Vec<Vec<u8>>)> {
    let mut input = format::input(path).with_context(|| format!("open {}", path.display()))?;
    let stream = input
        .streams()
        .best(kind)
        .with_context(|| format!("no {kind:?} in {}", path.display()))?;
    let (index, params) = (stream.index(), stream.parameters());
    let mut out = Vec::new();
    for (s, p) in input.packets() {
        if s.index() == index
            && let Some(data) = p.data()
        {
            out.push(data.to_vec());
        }
    }
    if out.is_empty() {
        bail!("no packets in {}", path.display());
    }
    Ok((params, out))
}

/// A capture file written as the recorder writes it: records pushed, flushed in
/// batches.
struct CaptureOut {
    writer: Writer,
    file: BufWriter<File>,
}

impl CaptureOut {
    fn create(path: &Path, header: &Header) -> anyhow::Result<Self> {
        Ok(CaptureOut {
            writer: Writer::new(header, Instant::now()),
            file: BufWriter::new(File::create(path)?),
        })
    }
    fn push(&mut self, frame: Frame) -> anyhow::Result<()> {
        self.writer.push(&Record::Frame(frame), Instant::now());
        self.file.write_all(&self.writer.take())?;
        Ok(())
    }
    fn finish(mut self, arrival_us: u64) -> anyhow::Result<()> {
        self.writer
            .push(&Record::End { arrival_us }, Instant::now());
        self.file.write_all(&self.writer.take())?;
        self.file.flush()?;
        Ok(())
    }
}

/// A container the ffmpeg CLI reads, with the stream parameters of the clip.
struct AnchorOut {
    octx: format::context::Output,
    tb: Rational,
    from: Rational,
}

impl AnchorOut {
    fn create(
        path: &Path,
        fmt: &str,
        params: codec::Parameters,
        from: Rational,
    ) -> anyhow::Result<Self> {
        let mut octx = format::output_as(path, fmt)?;
        let mut st = octx.add_stream(ffmpeg::encoder::find(codec::Id::None))?;
        st.set_parameters(params);
        st.set_time_base(from);
        octx.write_header()?;
        let tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(from);
        Ok(AnchorOut { octx, tb, from })
    }
    fn write(&mut self, data: &[u8], pts: i64, duration: i64, key: bool) -> anyhow::Result<()> {
        let mut p = Packet::copy(data);
        p.set_stream(0);
        p.set_pts(Some(pts));
        p.set_dts(Some(pts));
        p.set_duration(duration);
        if key {
            p.set_flags(codec::packet::Flags::KEY);
        }
        p.rescale_ts(self.from, self.tb);
        p.write_interleaved(&mut self.octx)?;
        Ok(())
    }
    fn finish(mut self) -> anyhow::Result<()> {
        self.octx.write_trailer()?;
        Ok(())
    }
}

fn header(role: &str, kind: &str, codec: &str, rate: u32, at_us: i64, segment: u32) -> Header {
    Header {
        call: "bench".into(),
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

/// A few milliseconds of deterministic network jitter.
fn jitter_us(n: u64) -> u64 {
    (n.wrapping_mul(2_654_435_761) >> 7) % 3000
}

/// One party's audio: packets every 20 ms from `start_us` to the end of the call,
/// none in `mute` (seconds), the ones `lost` says lost on the way.
#[allow(clippy::too_many_arguments)]
fn audio(
    role: &str,
    segment: u32,
    start_us: u64,
    end_us: u64,
    clip: &[Vec<u8>],
    params: codec::Parameters,
    mute: Option<(u64, u64)>,
    lost: impl Fn(u64) -> bool,
    captures: &Path,
    anchor: &Path,
) -> anyhow::Result<u64> {
    let mut cap = CaptureOut::create(
        &captures.join(format!("{role}-audio-{segment}-0.vcrec")),
        &header(role, "audio", "opus", 48_000, T0 + start_us as i64, segment),
    )?;
    let mut anc = AnchorOut::create(
        &anchor.join(format!("{role}.mka")),
        "matroska",
        params,
        Rational::new(1, 48_000),
    )?;
    let packets = (end_us - start_us) / 20_000;
    let mut seq = 1000u64;
    let mut written = 0;
    let mut last_arrival = 0;
    for n in 0..packets {
        let t_us = n * 20_000;
        if mute.is_some_and(|(a, b)| t_us >= a * 1_000_000 && t_us < b * 1_000_000) {
            continue; // the sender pauses: no packets, no sequence numbers
        }
        seq += 1;
        if lost(n) {
            continue;
        }
        let payload = &clip[(n % clip.len() as u64) as usize];
        last_arrival = t_us + jitter_us(n);
        cap.push(Frame {
            arrival_us: last_arrival,
            rtp_ts: (1 << 32) + n * 960,
            seq_first: seq,
            seq_last: seq,
            flags: FLAG_CONTIGUOUS,
            payload: payload.clone(),
        })?;
        anc.write(payload, (n * 960) as i64, 960, true)?;
        written += 1;
    }
    cap.finish(last_arrival)?;
    anc.finish()?;
    Ok(written)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ffmpeg::init()?;
    let captures = args.out.join("captures");
    let anchor = args.out.join("anchor");
    std::fs::create_dir_all(&captures)?;
    std::fs::create_dir_all(&anchor)?;
    let end_us = args.minutes * 60_000_000;
    let (client_params, client_clip) = packets(&args.client_opus, media::Type::Audio)?;
    let (agent_params, agent_clip) = packets(&args.agent_opus, media::Type::Audio)?;
    let (video_params, video_clip) = packets(&args.video, media::Type::Video)?;
    if video_clip[0][0] & 1 != 0 {
        bail!("the video clip must start with a keyframe");
    }

    let middle = end_us / 2_000_000;
    let client = audio(
        "client",
        1,
        0,
        end_us,
        &client_clip,
        client_params,
        Some((middle, middle + 2)),
        |n| n % 997 == 500 || (n % 5000 >= 1000 && n % 5000 < 1003),
        &captures,
        &anchor,
    )?;
    let agent = audio(
        "agent",
        2,
        AGENT_DELAY_US,
        end_us,
        &agent_clip,
        agent_params,
        None,
        |_| false,
        &captures,
        &anchor,
    )?;

    let mut cap = CaptureOut::create(
        &captures.join("client-video-1-1.vcrec"),
        &header("client", "video", "vp8", 90_000, T0, 1),
    )?;
    let mut anc = AnchorOut::create(
        &anchor.join("video.webm"),
        "webm",
        video_params,
        Rational::new(1, 90_000),
    )?;
    let frames = end_us / 33_333;
    let mut seq = 5000u64;
    let mut last_arrival = 0;
    for i in 0..frames {
        let frame = &video_clip[(i % video_clip.len() as u64) as usize];
        let key = frame[0] & 1 == 0;
        let ts = i * 3000;
        let payloads = vp8_payloads(frame, 1200);
        let count = payloads.len();
        last_arrival = i * 33_333 + jitter_us(i);
        for (k, payload) in payloads.into_iter().enumerate() {
            let mut flags = FLAG_CONTIGUOUS;
            if key && k == 0 {
                flags |= FLAG_KEYFRAME;
            }
            if k + 1 == count {
                flags |= FLAG_MARKER;
            }
            cap.push(Frame {
                arrival_us: last_arrival,
                rtp_ts: 90_000 + ts,
                seq_first: seq,
                seq_last: seq,
                flags,
                payload,
            })?;
            seq += 1;
        }
        anc.write(frame, ts as i64, 3000, key)?;
    }
    cap.finish(last_arrival)?;
    anc.finish()?;
    println!(
        "{} min: client {client} packets, agent {agent} packets, {frames} video frames ({} RTP packets) in {}",
        args.minutes,
        seq - 5000,
        args.out.display()
    );
    Ok(())
}
