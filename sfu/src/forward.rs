//! How one publisher's track is rewritten for one subscriber.
//!
//! Each subscriber gets its own SSRC (str0m's send stream) and its own sequence-number
//! space: a subscriber that joins late must start near zero, because the SRTP rollover
//! counter is not signaled (see `str0m::rtp::RtpWrite::new`). Gaps are kept, so a packet
//! lost upstream and recovered by NACK later fills the same hole downstream. RTP
//! timestamps pass through unchanged: one source per subscriber stream needs no rebase.

use str0m::format::PayloadParams;
use str0m::media::Pt;
use str0m::rtp::SeqNo;

/// Payload types seen on one track; a handful at most (a codec and its RTX or RED).
const PT_SLOTS: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct ForwardState {
    /// Added to the publisher's extended sequence number, wrapping. Set by the first packet.
    seq_offset: Option<u64>,
    /// The first publisher sequence number forwarded; older ones arrive too late.
    first_in: u64,
    /// Publisher PT to subscriber PT, learnt on first sight of each PT.
    pt_map: [(u8, Option<Pt>); PT_SLOTS],
    pt_len: usize,
}

/// What to do with one packet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// Forward with these values.
    Send { seq_no: SeqNo, pt: Pt },
    /// Older than the first packet this subscriber got: it cannot be placed.
    TooOld,
    /// The subscriber did not negotiate this codec.
    NoCodec,
}

impl ForwardState {
    /// Rewrites a packet with publisher sequence `seq_in` and payload type `pt_in`.
    /// `map_pt` finds the subscriber's PT for the publisher's PT; it runs once per PT.
    pub(crate) fn rewrite(
        &mut self,
        seq_in: SeqNo,
        pt_in: Pt,
        start_seq: u16,
        map_pt: impl FnOnce() -> Option<Pt>,
    ) -> Rewrite {
        let seq_in = *seq_in;
        let offset = match self.seq_offset {
            Some(offset) => {
                if seq_in < self.first_in {
                    return Rewrite::TooOld;
                }
                offset
            }
            None => {
                let offset = u64::from(start_seq).wrapping_sub(seq_in);
                self.seq_offset = Some(offset);
                self.first_in = seq_in;
                offset
            }
        };
        let Some(pt) = self.map_pt(*pt_in, map_pt) else {
            return Rewrite::NoCodec;
        };
        Rewrite::Send {
            seq_no: seq_in.wrapping_add(offset).into(),
            pt,
        }
    }

    fn map_pt(&mut self, pt_in: u8, map_pt: impl FnOnce() -> Option<Pt>) -> Option<Pt> {
        if let Some((_, out)) = self.pt_map[..self.pt_len].iter().find(|(i, _)| *i == pt_in) {
            return *out;
        }
        let out = map_pt();
        if self.pt_len < PT_SLOTS {
            self.pt_map[self.pt_len] = (pt_in, out);
            self.pt_len += 1;
        }
        out
    }
}

/// The subscriber's payload type for the publisher's codec `publisher`, among the
/// subscriber's negotiated `candidates`. Codecs match on name, clock, channels and the
/// fmtp that matters for decoding (H.264 profile and packetization mode).
pub(crate) fn matching_pt<'a>(
    publisher: &PayloadParams,
    candidates: impl IntoIterator<Item = &'a PayloadParams>,
) -> Option<Pt> {
    let want = publisher.spec();
    let mut fallback = None;
    for candidate in candidates {
        let have = candidate.spec();
        if have.codec != want.codec
            || have.clock_rate != want.clock_rate
            || have.channels != want.channels
        {
            continue;
        }
        if have.format.profile_level_id.map(|p| p >> 8)
            == want.format.profile_level_id.map(|p| p >> 8)
            && have.format.packetization_mode == want.format.packetization_mode
        {
            return Some(candidate.pt());
        }
        fallback.get_or_insert(candidate.pt());
    }
    // Same codec, other fmtp (e.g. another H.264 level): decoders take it, so forward
    // rather than show nothing.
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_subscriber_starts_at_its_own_sequence_and_keeps_gaps() {
        let mut state = ForwardState::default();
        let pt = Pt::from(96);
        let first = state.rewrite(SeqNo::from(70_000), pt, 1000, || Some(Pt::from(100)));
        assert_eq!(
            first,
            Rewrite::Send {
                seq_no: SeqNo::from(1000),
                pt: Pt::from(100)
            }
        );
        // A gap of two packets upstream stays a gap of two downstream.
        let later = state.rewrite(SeqNo::from(70_003), pt, 0, || unreachable!("PT is cached"));
        assert_eq!(
            later,
            Rewrite::Send {
                seq_no: SeqNo::from(1003),
                pt: Pt::from(100)
            }
        );
        // The lost packet, recovered late, fills its hole.
        let repaired = state.rewrite(SeqNo::from(70_001), pt, 0, || unreachable!());
        assert_eq!(
            repaired,
            Rewrite::Send {
                seq_no: SeqNo::from(1001),
                pt: Pt::from(100)
            }
        );
        assert_eq!(
            state.rewrite(SeqNo::from(69_999), pt, 0, || None),
            Rewrite::TooOld
        );
    }

    #[test]
    fn unknown_codec_is_remembered_as_unforwardable() {
        let mut state = ForwardState::default();
        assert_eq!(
            state.rewrite(SeqNo::from(5), Pt::from(45), 1, || None),
            Rewrite::NoCodec
        );
        assert_eq!(
            state.rewrite(SeqNo::from(6), Pt::from(45), 1, || panic!("asked twice")),
            Rewrite::NoCodec
        );
    }

    #[test]
    fn sequence_numbers_stay_monotonic_across_the_16_bit_wrap() {
        let mut state = ForwardState::default();
        let pt = Pt::from(96);
        let mut last = 0;
        for seq in 65_530u64..65_545 {
            let Rewrite::Send { seq_no, .. } = state.rewrite(seq.into(), pt, 65_000, || Some(pt))
            else {
                panic!()
            };
            assert!(*seq_no > last || last == 0);
            last = *seq_no;
        }
    }
}
