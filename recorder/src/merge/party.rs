//! One party's audio on the call's timeline, read as a stream of items: where each
//! join segment starts (the server's clock), then its packets in RTP order with what
//! fills each gap between them (FEC, concealment, silence) — never more than the
//! reorder window of it in memory.

use std::collections::VecDeque;

use vchat_intercom::g711::Law;

use super::{CaptureFrames, TrackFile};
use crate::capture::Header;
use crate::timeline::{Gap, OrderedFrames, gap, start_sample};

/// Samples per second of Opus, the timeline's unit.
pub const RATE: u32 = 48_000;

/// Samples of an Opus packet at 48 kHz, or 960 (20 ms) when it cannot be read.
pub fn packet_samples(payload: &[u8]) -> u64 {
    opus::packet::get_nb_samples(payload, RATE).map_or(960, |n| n as u64)
}

/// How a party's audio is coded: Opus from browsers, G.711 from rooms an intercom
/// put on its law (the panel and the browsers alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// Opus, 48 kHz.
    Opus,
    /// G.711 in this law, 8 kHz, a byte per sample.
    G711(Law),
}

impl AudioCodec {
    /// The codec of a capture's header (`opus`, `pcmu`, `pcma`).
    pub fn from_name(name: &str) -> Option<AudioCodec> {
        match name {
            "opus" => Some(AudioCodec::Opus),
            "pcmu" => Some(AudioCodec::G711(Law::Ulaw)),
            "pcma" => Some(AudioCodec::G711(Law::Alaw)),
            _ => None,
        }
    }

    /// A packet's length in its RTP clock's units.
    fn rtp_samples(self, payload: &[u8]) -> u64 {
        match self {
            AudioCodec::Opus => packet_samples(payload),
            AudioCodec::G711(_) => payload.len() as u64,
        }
    }
}

/// What comes next on a party's track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioItem {
    /// A join segment starts at this sample of the timeline (the items after it follow
    /// on from there).
    Start(u64),
    /// Zeros: the sender paused (DTX, mute) or a long loss.
    Silence(u64),
    /// A short loss to conceal.
    Conceal(u64),
    /// A packet; `fec` samples lost right before it can be rebuilt from its FEC.
    Packet {
        /// The packet.
        payload: Vec<u8>,
        /// Samples before it to rebuild from its FEC (0: none lost; always 0 but
        /// for Opus).
        fec: u64,
        /// Its codec.
        codec: AudioCodec,
    },
}

struct Previous {
    rtp_ts: u64,
    seq_last: u64,
    samples: u64,
}

struct Segment {
    frames: OrderedFrames<CaptureFrames>,
    header: Header,
    codec: AudioCodec,
    /// Timeline samples per unit of the RTP clock (6 for G.711's 8 kHz).
    scale: u64,
    previous: Option<Previous>,
}

/// Counters of reading a party's (or the video's) captures.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Torn bytes dropped at the ends of files.
    pub torn_bytes: u64,
    /// Frames received twice.
    pub duplicates: u64,
    /// Frames that came after their place was written.
    pub late: u64,
}

/// A party's audio items, segment after segment.
pub struct PartyTrack {
    files: VecDeque<TrackFile>,
    current: Option<Segment>,
    origin_us: i64,
    queued: Option<AudioItem>,
    /// What reading found so far.
    pub stats: ReadStats,
    /// Files that could not be opened.
    pub unreadable: Vec<String>,
}

impl PartyTrack {
    /// The track of `files` (one party's audio segments) on a timeline starting at
    /// `origin_us` (Unix µs).
    pub fn new(files: &[TrackFile], origin_us: i64) -> PartyTrack {
        let mut files: Vec<TrackFile> = files
            .iter()
            .filter(|f| f.first_us.is_some())
            .cloned()
            .collect();
        files.sort_by_key(|f| (f.first_us, f.header.segment));
        PartyTrack {
            files: files.into(),
            current: None,
            origin_us,
            queued: None,
            stats: ReadStats::default(),
            unreadable: Vec::new(),
        }
    }

    fn close_segment(&mut self) {
        if let Some(s) = self.current.take() {
            self.stats.torn_bytes += s.frames.inner().0.torn_bytes();
            self.stats.duplicates += s.frames.reorder().duplicates as u64;
            self.stats.late += s.frames.reorder().late as u64;
        }
    }
}

impl Iterator for PartyTrack {
    type Item = AudioItem;

    fn next(&mut self) -> Option<AudioItem> {
        if let Some(item) = self.queued.take() {
            return Some(item);
        }
        loop {
            if self.current.is_none() {
                let file = self.files.pop_front()?;
                let Some(codec) = AudioCodec::from_name(&file.header.codec) else {
                    self.unreadable.push(format!(
                        "{}: audio in {}, which is not recorded",
                        file.path.display(),
                        file.header.codec
                    ));
                    continue;
                };
                let scale = u64::from((RATE / file.header.clock_rate.max(1)).max(1));
                match file.open() {
                    Ok(stream) => {
                        self.current = Some(Segment {
                            frames: OrderedFrames::new(CaptureFrames(stream)),
                            header: file.header,
                            codec,
                            scale,
                            previous: None,
                        })
                    }
                    Err(e) => self
                        .unreadable
                        .push(format!("{}: {e}", file.path.display())),
                }
                continue;
            }
            let segment = self.current.as_mut().expect("checked");
            let Some(frame) = segment.frames.next() else {
                self.close_segment();
                continue;
            };
            if frame.payload.is_empty() {
                continue;
            }
            let (codec, scale) = (segment.codec, segment.scale);
            let samples = codec.rtp_samples(&frame.payload);
            let gap = segment.previous.as_ref().map(|p| {
                gap(
                    p.rtp_ts,
                    p.seq_last,
                    p.samples,
                    &frame,
                    segment.header.clock_rate,
                )
            });
            segment.previous = Some(Previous {
                rtp_ts: frame.rtp_ts,
                seq_last: frame.seq_last,
                samples,
            });
            let packet = |fec| AudioItem::Packet {
                payload: frame.payload,
                fec,
                codec,
            };
            return Some(match gap {
                None => {
                    // A segment's first frame goes where the server saw it arrive; the
                    // others follow the sender's RTP clock from there.
                    let offset_us =
                        segment.header.wallclock_us + frame.arrival_us as i64 - self.origin_us;
                    let start = start_sample(offset_us, RATE);
                    self.queued = Some(packet(0));
                    AudioItem::Start(start)
                }
                Some(Gap::None) => packet(0),
                Some(Gap::Fec(samples)) if codec == AudioCodec::Opus => packet(samples),
                // G.711 has no FEC: its single losses are concealed.
                Some(Gap::Fec(samples) | Gap::Conceal(samples)) => {
                    self.queued = Some(packet(0));
                    AudioItem::Conceal(samples * scale)
                }
                Some(Gap::Silence(samples)) => {
                    self.queued = Some(packet(0));
                    AudioItem::Silence(samples * scale)
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::capture::{Frame, Record, Writer};
    use crate::merge::CallCaptures;

    /// A capture of `n` 20 ms Opus packets from RTP time `first_ts`.
    fn write(dir: &std::path::Path, name: &str, header: Header, first_ts: u64, n: u64) {
        let mut w = Writer::new(&header, Instant::now());
        for k in 0..n {
            let frame = Frame {
                arrival_us: k * 20_000,
                rtp_ts: first_ts + k * 960,
                seq_first: 500 + k,
                seq_last: 500 + k,
                flags: 0,
                payload: vec![0xF8, 0xFF, 0xFE], // CELT, 20 ms
            };
            w.push(&Record::Frame(frame), Instant::now());
        }
        std::fs::write(dir.join(name), w.take()).unwrap();
    }

    fn header(segment: u32, ssrc: u32, wallclock_us: i64) -> Header {
        Header {
            call: "c".into(),
            role: "client".into(),
            kind: "audio".into(),
            codec: "opus".into(),
            fmtp: String::new(),
            clock_rate: 48_000,
            wallclock_us,
            segment,
            ssrc,
        }
    }

    #[test]
    fn a_rejoin_with_a_new_ssrc_is_placed_by_wall_clock_not_rtp_time() {
        // The client joins at t=0, drops, rejoins 7.5 s later with another SSRC (and a
        // random new RTP start, below the first one's): the second segment starts at
        // 7.5 s.
        let dir = tempfile::tempdir().unwrap();
        let origin = 1_700_000_000_000_000;
        write(
            dir.path(),
            "client-audio-1-0.vcrec",
            header(1, 222, origin + 7_500_000),
            17,
            3,
        );
        write(
            dir.path(),
            "client-audio-0-0.vcrec",
            header(0, 111, origin),
            3_000_000_000,
            3,
        );
        let captures = CallCaptures::open_dir(dir.path()).unwrap();
        assert_eq!(captures.origin_us(), Some(origin));
        let starts: Vec<u64> = PartyTrack::new(&captures.client_audio, origin)
            .filter_map(|item| match item {
                AudioItem::Start(at) => Some(at),
                _ => None,
            })
            .collect();
        assert_eq!(starts, [0, 360_000], "in samples: 0 s and 7.5 s");
    }
}
