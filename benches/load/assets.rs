//! The media the generator publishes: VP8 (three simulcast sizes) and Opus made once with
//! Debian's `ffmpeg` (never committed), split into RTP payloads ready to send.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, bail};

/// One RTP packet's worth of media.
#[derive(Clone)]
pub struct Packet {
    /// Payload (VP8 payload descriptor + data, or one Opus frame).
    pub payload: Arc<[u8]>,
    /// Last packet of a video frame.
    pub marker: bool,
}

/// One frame: its packets, and whether it is a keyframe.
#[derive(Clone)]
pub struct Frame {
    /// The packets, in order.
    pub packets: Vec<Packet>,
    /// A VP8 keyframe (or any audio frame).
    pub keyframe: bool,
}

/// Both streams, looped forever by publishers.
pub struct Assets {
    /// 30 fps VP8 frames.
    pub video: Vec<Frame>,
    /// 20 ms Opus frames.
    pub audio: Vec<Frame>,
    /// Simulcast: every layer lowest first, the last one `video` itself; the same
    /// frames at 160x120, 320x240 and 640x480, keyframes on the same frames.
    pub layers: Vec<Vec<Frame>>,
}

/// The simulcast layers under the 640x480 one: size and bitrate.
const SIMULCAST_LOWER: [(&str, &str); 2] = [("160x120", "150k"), ("320x240", "450k")];

/// Largest RTP payload we make: leaves room for headers, SRTP and the probe trailer.
const MAX_PAYLOAD: usize = 1100;

impl Assets {
    /// Loads the streams from `dir`, making them with ffmpeg first if missing.
    pub fn load_or_make(dir: &Path) -> anyhow::Result<Assets> {
        std::fs::create_dir_all(dir)?;
        let video = dir.join("load-video-1500k.ivf");
        let audio = dir.join("load-audio-32k.ogg");
        make_vp8(&video, "640x480", "1500k")?;
        // The lower simulcast layers, as a browser sends them under a 640x480 camera:
        // a half and a quarter of its size, keyframes on the same frames.
        let lower: Vec<PathBuf> = SIMULCAST_LOWER
            .iter()
            .map(|(size, rate)| {
                let path = dir.join(format!("load-video-{size}-{rate}.ivf"));
                make_vp8(&path, size, rate).map(|()| path)
            })
            .collect::<anyhow::Result<_>>()?;
        if !audio.exists() {
            ffmpeg(
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=frequency=440:sample_rate=48000",
                    "-t",
                    "10",
                    "-c:a",
                    "libopus",
                    "-b:a",
                    "32k",
                    "-vbr",
                    "off",
                    "-frame_duration",
                    "20",
                    "-application",
                    "voip",
                    "-ac",
                    "1",
                    "-f",
                    "ogg",
                ],
                &audio,
            )?;
        }
        let video = packetize_vp8(&read_ivf(&std::fs::read(&video)?)?);
        let mut layers = Vec::new();
        for path in &lower {
            let frames = packetize_vp8(&read_ivf(&std::fs::read(path)?)?);
            let aligned = frames.len() == video.len()
                && frames
                    .iter()
                    .zip(&video)
                    .all(|(a, b)| a.keyframe == b.keyframe);
            if !aligned {
                bail!(
                    "{} does not have the top layer's frames and keyframes (delete {} to make them again)",
                    path.display(),
                    dir.display()
                );
            }
            layers.push(frames);
        }
        let audio = read_ogg_opus(&std::fs::read(&audio)?)?
            .into_iter()
            .map(|p| Frame {
                packets: vec![Packet {
                    payload: p.into(),
                    marker: false,
                }],
                keyframe: true,
            })
            .collect::<Vec<_>>();
        if video.is_empty() || audio.is_empty() {
            bail!("the generated media is empty");
        }
        layers.push(video.clone());
        Ok(Assets {
            video,
            audio,
            layers,
        })
    }

    /// Bytes per second of each stream, for the report.
    pub fn bitrates(&self) -> (f64, f64) {
        let bytes = |frames: &[Frame]| {
            frames
                .iter()
                .flat_map(|f| &f.packets)
                .map(|p| p.payload.len())
                .sum::<usize>() as f64
        };
        (
            bytes(&self.video) * 8.0 / (self.video.len() as f64 / 30.0),
            bytes(&self.audio) * 8.0 / (self.audio.len() as f64 / 50.0),
        )
    }
}

/// Makes `out`, 10 s of a 30 fps VP8 test picture of `size` at a constant `rate`
/// with a keyframe every second, unless it is there.
fn make_vp8(out: &Path, size: &str, rate: &str) -> anyhow::Result<()> {
    if out.exists() {
        return Ok(());
    }
    let source = format!("testsrc2=size={size}:rate=30");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-t",
            "10",
            "-c:v",
            "libvpx",
            "-b:v",
            rate,
            "-minrate",
            rate,
            "-maxrate",
            rate,
            "-g",
            "30",
            "-keyint_min",
            "30",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-auto-alt-ref",
            "0",
            "-lag-in-frames",
            "0",
            "-f",
            "ivf",
        ],
        out,
    )
}

/// Where assets are cached between runs.
pub fn default_dir() -> PathBuf {
    std::env::var_os("VCHAT_LOAD_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let base = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            base.join(".cache/vchat-load")
        })
}

fn ffmpeg(args: &[&str], out: &Path) -> anyhow::Result<()> {
    eprintln!("making {} with ffmpeg", out.display());
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .context("running ffmpeg (apt-get install ffmpeg)")?;
    if !status.success() {
        bail!("ffmpeg failed making {}", out.display());
    }
    Ok(())
}

/// The frames of an IVF file (32-byte file header, then 12-byte frame headers).
fn read_ivf(data: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    if data.len() < 32 || &data[..4] != b"DKIF" {
        bail!("not an IVF file");
    }
    let header_len = u16::from_le_bytes([data[6], data[7]]) as usize;
    let mut at = header_len;
    let mut frames = Vec::new();
    while at + 12 <= data.len() {
        let len = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        at += 12;
        let frame = data.get(at..at + len).context("truncated IVF frame")?;
        frames.push(frame.to_vec());
        at += len;
    }
    Ok(frames)
}

/// VP8 frames into RTP payloads (RFC 7741): a one-byte descriptor, S set on the first.
fn packetize_vp8(frames: &[Vec<u8>]) -> Vec<Frame> {
    frames
        .iter()
        .map(|frame| {
            // The frame tag's lowest bit is 0 for a keyframe (RFC 6386 §9.1).
            let keyframe = frame.first().is_some_and(|b| b & 1 == 0);
            let chunks: Vec<&[u8]> = frame.chunks(MAX_PAYLOAD - 1).collect();
            let last = chunks.len().saturating_sub(1);
            let packets = chunks
                .iter()
                .enumerate()
                .map(|(i, chunk)| {
                    let mut payload = Vec::with_capacity(chunk.len() + 1);
                    payload.push(if i == 0 { 0x10 } else { 0x00 });
                    payload.extend_from_slice(chunk);
                    Packet {
                        payload: payload.into(),
                        marker: i == last,
                    }
                })
                .collect();
            Frame { packets, keyframe }
        })
        .collect()
}

/// The Opus packets of an Ogg file, without the OpusHead and OpusTags headers.
fn read_ogg_opus(data: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut at = 0;
    while at + 27 <= data.len() {
        if &data[at..at + 4] != b"OggS" {
            bail!("broken Ogg page at byte {at}");
        }
        let segments = data[at + 26] as usize;
        let table = data
            .get(at + 27..at + 27 + segments)
            .context("truncated Ogg page")?;
        let mut body = at + 27 + segments;
        for &lace in table {
            let end = body + lace as usize;
            current.extend_from_slice(data.get(body..end).context("truncated Ogg segment")?);
            body = end;
            if lace < 255 {
                packets.push(std::mem::take(&mut current));
            }
        }
        at = body;
    }
    let audio: Vec<Vec<u8>> = packets
        .into_iter()
        .filter(|p| !p.starts_with(b"OpusHead") && !p.starts_with(b"OpusTags"))
        .collect();
    Ok(audio)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_frames_split_with_descriptors_and_markers() {
        let key = vec![0x10u8; 2500];
        let delta = vec![0x11u8; 300];
        let frames = packetize_vp8(&[key, delta]);
        assert!(frames[0].keyframe && !frames[1].keyframe);
        assert_eq!(frames[0].packets.len(), 3);
        assert_eq!(frames[0].packets[0].payload[0], 0x10);
        assert_eq!(frames[0].packets[1].payload[0], 0x00);
        assert!(frames[0].packets[2].marker && !frames[0].packets[0].marker);
        assert_eq!(
            frames[0]
                .packets
                .iter()
                .map(|p| p.payload.len() - 1)
                .sum::<usize>(),
            2500
        );
    }

    #[test]
    fn ogg_packets_are_reassembled_across_lacing() {
        // One page: a 300-byte packet (laced 255 + 45) then a 5-byte one.
        let mut page = b"OggS".to_vec();
        page.extend_from_slice(&[0; 22]);
        page.push(3);
        page.extend_from_slice(&[255, 45, 5]);
        page.extend(std::iter::repeat_n(7u8, 300));
        page.extend(std::iter::repeat_n(9u8, 5));
        let packets = read_ogg_opus(&page).unwrap();
        assert_eq!(
            packets.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![300, 5]
        );
    }
}
