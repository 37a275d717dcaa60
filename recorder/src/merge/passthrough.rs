//! Stereo without re-encoding: the client's and the agent's own Opus packets become
//! the two streams of one Opus track — channel mapping family 1, two streams, none
//! coupled (RFC 7845 §5.1.1.2), stream 0 (left) the client, stream 1 (right) the
//! agent. Each 20 ms of the file is one multistream packet (RFC 7845 §3, RFC 6716
//! Appendix B): the client's packet in self-delimiting framing, then the agent's.
//!
//! Nothing is decoded or encoded, so the audio is exactly what the parties sent.
//! The price is a grid: both streams advance 20 ms at a time, so a join is placed to
//! the nearest 20 ms (±10 ms) and only 20 ms packets qualify (what browsers send);
//! anything else goes the decode-and-encode way. Gaps are filled with a packet of
//! digital silence (pauses, before a join, after a leave) or a frame of length zero,
//! which the player's decoder conceals (losses).

use super::party::{AudioItem, PartyTrack, ReadStats, packet_samples};

/// Samples of one slot of the grid (20 ms at 48 kHz).
pub const SLOT: u64 = 960;

/// What a party contributes to one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Its own packet.
    Packet(Vec<u8>),
    /// A lost packet: the player conceals it.
    Lost,
    /// Silence.
    Silent,
}

/// The `OpusHead` of the stereo track (RFC 7845 §5.1): two channels, mapping family
/// 1, two uncoupled streams, stream 0 to the left channel and stream 1 to the right.
pub fn opus_head() -> Vec<u8> {
    let mut h = Vec::with_capacity(23);
    h.extend_from_slice(b"OpusHead");
    h.push(1); // version
    h.push(2); // channels
    h.extend_from_slice(&0u16.to_le_bytes()); // pre-skip: the packets start the call
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes()); // output gain
    h.push(1); // channel mapping family
    h.push(2); // streams
    h.push(0); // coupled streams
    h.extend_from_slice(&[0, 1]); // left = stream 0, right = stream 1
    h
}

/// A malformed Opus packet (RFC 6716 §3.2's rules broken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed Opus packet")]
pub struct Malformed;

/// Reads a frame length (RFC 6716 §3.2.1) at the start of `b`: (length, bytes used).
fn read_length(b: &[u8]) -> Result<(usize, usize), Malformed> {
    match *b.first().ok_or(Malformed)? {
        n @ 0..=251 => Ok((usize::from(n), 1)),
        n => Ok((
            usize::from(*b.get(1).ok_or(Malformed)?) * 4 + usize::from(n),
            2,
        )),
    }
}

fn write_length(out: &mut Vec<u8>, len: usize) -> Result<(), Malformed> {
    match len {
        0..=251 => out.push(len as u8),
        252..=1275 => {
            let first = 252 + (len & 3);
            out.push(first as u8);
            out.push(((len - first) / 4) as u8);
        }
        _ => return Err(Malformed),
    }
    Ok(())
}

/// The TOC byte and frames of a packet (RFC 6716 §3.2), padding dropped.
pub fn frames(packet: &[u8]) -> Result<(u8, Vec<&[u8]>), Malformed> {
    let toc = *packet.first().ok_or(Malformed)?;
    let rest = &packet[1..];
    let frames = match toc & 3 {
        0 => vec![rest],
        1 => {
            if !rest.len().is_multiple_of(2) {
                return Err(Malformed);
            }
            let (a, b) = rest.split_at(rest.len() / 2);
            vec![a, b]
        }
        2 => {
            let (len, used) = read_length(rest)?;
            let rest = &rest[used..];
            if len > rest.len() {
                return Err(Malformed);
            }
            let (a, b) = rest.split_at(len);
            vec![a, b]
        }
        _ => {
            let count = *rest.first().ok_or(Malformed)?;
            let (vbr, padded, m) = (
                count & 0x80 != 0,
                count & 0x40 != 0,
                usize::from(count & 0x3f),
            );
            if m == 0 {
                return Err(Malformed);
            }
            let mut at = 1;
            let mut padding = 0usize;
            if padded {
                loop {
                    let p = *rest.get(at).ok_or(Malformed)?;
                    at += 1;
                    if p == 255 {
                        padding += 254;
                    } else {
                        padding += usize::from(p);
                        break;
                    }
                }
            }
            let mut lengths = Vec::with_capacity(m);
            if vbr {
                for _ in 0..m - 1 {
                    let (len, used) = read_length(rest.get(at..).ok_or(Malformed)?)?;
                    lengths.push(len);
                    at += used;
                }
            }
            let body = rest.len().checked_sub(at + padding).ok_or(Malformed)?;
            if vbr {
                let known: usize = lengths.iter().sum();
                lengths.push(body.checked_sub(known).ok_or(Malformed)?);
            } else {
                if !body.is_multiple_of(m) {
                    return Err(Malformed);
                }
                lengths = vec![body / m; m];
            }
            let mut out = Vec::with_capacity(m);
            for len in lengths {
                out.push(rest.get(at..at + len).ok_or(Malformed)?);
                at += len;
            }
            out
        }
    };
    Ok((toc, frames))
}

/// Appends `packet` to `out` in self-delimiting framing (RFC 6716 Appendix B): the
/// same frames, with the length a decoder needs to find where the packet ends.
pub fn append_self_delimited(out: &mut Vec<u8>, packet: &[u8]) -> Result<(), Malformed> {
    let (toc, frames) = frames(packet)?;
    let config = toc & !3;
    match frames.as_slice() {
        [one] => {
            out.push(config);
            write_length(out, one.len())?;
        }
        [a, b] if a.len() == b.len() => {
            out.push(config | 1);
            write_length(out, a.len())?;
        }
        [a, b] => {
            out.push(config | 2);
            write_length(out, a.len())?;
            write_length(out, b.len())?;
        }
        many => {
            out.push(config | 3);
            out.push(0x80 | many.len() as u8);
            for f in many {
                write_length(out, f.len())?;
            }
        }
    }
    for f in &frames {
        out.extend_from_slice(f);
    }
    Ok(())
}

/// Whether a TOC's frames last 20 ms (RFC 6716 §3.1, Table 2).
fn is_20ms_config(toc: u8) -> bool {
    let config = toc >> 3;
    match config {
        0..=11 => config % 4 == 1,
        12..=15 => config % 2 == 1,
        _ => config % 4 == 3,
    }
}

/// A packet of one 20 ms frame of length zero — lost, for the decoder to conceal —
/// in the mode of the party's last packet when that has 20 ms frames.
fn lost_toc(last_toc: Option<u8>) -> u8 {
    match last_toc {
        Some(t) if is_20ms_config(t) => t & !3,
        _ => 0xF8, // CELT, fullband, 20 ms, mono, one frame
    }
}

/// The slot of the grid nearest to timeline sample `sample`.
pub fn nearest_slot(sample: u64) -> u64 {
    (sample + SLOT / 2) / SLOT
}

/// Whether a party's packet can go into the file as it is: a well-formed 20 ms packet.
pub fn fits_grid(payload: &[u8]) -> bool {
    packet_samples(payload) == SLOT && frames(payload).is_ok()
}

/// A packet of 20 ms of digital silence, made by libopus once per merge.
pub fn silence_packet() -> Result<Vec<u8>, opus::Error> {
    let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::LowDelay)?;
    let zeros = [0i16; SLOT as usize];
    let mut out = Vec::new();
    // The encoder's first packets still carry its start-up; the third is steady.
    for _ in 0..3 {
        out = enc.encode_vec(&zeros, 1500)?;
    }
    Ok(out)
}

/// Counters of one party's slots.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SlotStats {
    /// Slots with the party's own packet.
    pub packets: u64,
    /// Slots concealed by the player.
    pub lost: u64,
    /// Slots of silence.
    pub silent: u64,
    /// Packets that did not fit the grid (not 20 ms, malformed): concealed.
    pub misfits: u64,
}

/// One party's track, 20 ms slot by slot.
pub struct PartySlots {
    track: PartyTrack,
    /// Index of the next slot handed out.
    slot: u64,
    silent: u64,
    lost: u64,
    packet: Option<Vec<u8>>,
    exhausted: bool,
    last_toc: Option<u8>,
    /// Samples of rounding to the grid carried to the next gap, so that many gaps of
    /// odd lengths do not drift.
    carry: i64,
    /// Counters so far.
    pub stats: SlotStats,
}

impl PartySlots {
    /// The slots of `track`.
    pub fn new(track: PartyTrack) -> PartySlots {
        PartySlots {
            track,
            slot: 0,
            silent: 0,
            lost: 0,
            packet: None,
            exhausted: false,
            last_toc: None,
            carry: 0,
            stats: SlotStats::default(),
        }
    }

    /// What reading the captures found.
    pub fn read_stats(&self) -> ReadStats {
        self.track.stats
    }

    fn slots(&mut self, samples: u64) -> u64 {
        let total = samples as i64 + self.carry;
        let n = (total + SLOT as i64 / 2).div_euclid(SLOT as i64).max(0);
        self.carry = total - n * SLOT as i64;
        n as u64
    }

    fn idle(&self) -> bool {
        self.silent == 0 && self.lost == 0 && self.packet.is_none()
    }

    /// Reads the next item of the track into the pending slots.
    fn pull(&mut self) {
        let Some(item) = self.track.next() else {
            self.exhausted = true;
            return;
        };
        match item {
            AudioItem::Start(at) => {
                self.carry = 0;
                let target = nearest_slot(at);
                // A rejoin overlapping the previous segment's tail starts where we are.
                self.silent += target.saturating_sub(self.slot);
            }
            AudioItem::Silence(n) => self.silent += self.slots(n),
            AudioItem::Conceal(n) => self.lost += self.slots(n),
            AudioItem::Packet { payload, fec, .. } => {
                self.lost += self.slots(fec);
                if fits_grid(&payload) {
                    self.packet = Some(payload);
                } else {
                    self.stats.misfits += 1;
                    let n = packet_samples(&payload);
                    self.lost += self.slots(n);
                }
            }
        }
    }

    /// Whether the party has nothing more (silence follows).
    pub fn finished(&mut self) -> bool {
        while self.idle() && !self.exhausted {
            self.pull();
        }
        self.exhausted && self.idle()
    }

    /// The party's next slot.
    pub fn next_slot(&mut self) -> Slot {
        while self.idle() && !self.exhausted {
            self.pull();
        }
        self.slot += 1;
        if self.silent > 0 {
            self.silent -= 1;
            self.stats.silent += 1;
            Slot::Silent
        } else if self.lost > 0 {
            self.lost -= 1;
            self.stats.lost += 1;
            Slot::Lost
        } else if let Some(p) = self.packet.take() {
            self.last_toc = p.first().copied();
            self.stats.packets += 1;
            Slot::Packet(p)
        } else {
            self.stats.silent += 1;
            Slot::Silent
        }
    }

    /// Appends this party's part of a slot to a multistream packet: self-delimited
    /// unless it is the last stream.
    pub fn append(
        &self,
        out: &mut Vec<u8>,
        slot: &Slot,
        silence: &[u8],
        last_stream: bool,
    ) -> Result<(), Malformed> {
        let lost = [lost_toc(self.last_toc)];
        let packet: &[u8] = match slot {
            Slot::Packet(p) => p,
            Slot::Lost => &lost,
            Slot::Silent => silence,
        };
        if last_stream {
            out.extend_from_slice(packet);
            Ok(())
        } else {
            append_self_delimited(out, packet)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_delimiting_keeps_the_frames_and_adds_the_length() {
        // Code 0, one 300-byte frame: TOC, two-byte length, frame.
        let mut p = vec![0x78];
        p.extend(std::iter::repeat_n(7u8, 300));
        let mut out = Vec::new();
        append_self_delimited(&mut out, &p).unwrap();
        assert_eq!(out[0], 0x78);
        assert_eq!(read_length(&out[1..]).unwrap(), (300, 2));
        assert_eq!(&out[3..], &p[1..]);
        // Code 3, CBR, padded: becomes VBR without padding, same frames.
        let p = [0x0b, 0x42, 2, 1, 2, 3, 4, 0, 0];
        let (toc, f) = frames(&p).unwrap();
        assert_eq!((toc, f), (0x0b, vec![&[1u8, 2][..], &[3, 4][..]]));
        let mut out = Vec::new();
        append_self_delimited(&mut out, &p).unwrap();
        assert_eq!(out, [0x09, 2, 1, 2, 3, 4]);
        // A lost frame: TOC and a zero length.
        let mut out = Vec::new();
        append_self_delimited(&mut out, &[0xF8]).unwrap();
        assert_eq!(out, [0xF8, 0]);
        assert_eq!(frames(&[0x03, 0x00]), Err(Malformed));
        assert_eq!(frames(&[0x01, 1, 2, 3]), Err(Malformed));
    }

    #[test]
    fn libopus_decodes_the_two_streams_into_left_and_right() {
        // The client's 440 Hz and the agent's 880 Hz, packets put side by side, then a
        // lost client packet and a silent agent slot: libopus's own multistream decoder
        // (through libavcodec) is checked end to end in the merge tests; here the
        // framing round-trips through the parser.
        let mut enc =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio).unwrap();
        let pcm: Vec<i16> = (0..960)
            .map(|i| ((i as f64 * 0.0576).sin() * 8000.0) as i16)
            .collect();
        let a = enc.encode_vec(&pcm, 1500).unwrap();
        assert!(fits_grid(&a));
        let mut out = Vec::new();
        append_self_delimited(&mut out, &a).unwrap();
        let (len, used) = read_length(&out[1..]).unwrap();
        assert_eq!(len, a.len() - 1);
        assert_eq!(out.len(), 1 + used + len);
        let silence = silence_packet().unwrap();
        assert!(fits_grid(&silence) && silence.len() < 16, "{silence:?}");
        assert_eq!(lost_toc(Some(0x78)), 0x78);
        assert_eq!(lost_toc(Some(0x70)), 0xF8, "10 ms SILK: not on the grid");
    }
}
