//! How one publisher's track is rewritten for one subscriber.
//!
//! Each subscriber gets its own SSRC (str0m's send stream) and its own sequence-number
//! space: a subscriber that joins late must start near zero, because the SRTP rollover
//! counter is not signaled (see `str0m::rtp::RtpWrite::new`). Gaps are kept, so a packet
//! lost upstream and recovered by NACK later fills the same hole downstream.
//!
//! A simulcast subscriber moves between the publisher's layers — streams with their own
//! SSRC, sequence numbers, RTP clock base and VP8 picture ids. At a switch (always at
//! a keyframe of the new layer) every offset is set again so that the subscriber's
//! decoder sees one stream: sequence numbers go on by one, the RTP clock by the time
//! that passed, picture ids and TL0PICIDX by one.

use std::time::Instant;

use str0m::format::PayloadParams;
use str0m::media::Pt;
use str0m::rtp::SeqNo;

use crate::quality::codec::Vp8Ids;
#[cfg(test)]
use crate::quality::codec::vp8_write_ids;

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
    /// Added to the publisher's RTP timestamp, wrapping.
    ts_offset: u32,
    /// Added to VP8 picture ids and TL0PICIDX.
    picture_id_offset: u16,
    tl0_offset: u8,
    /// The newest packet sent: what a switch continues from.
    last: Option<Last>,
}

/// The newest packet forwarded, as the subscriber saw it.
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    ts: u32,
    at: Instant,
    picture_id: Option<u16>,
    tl0: Option<u8>,
}

/// What to do with one packet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// Forward with these values.
    Send { seq_no: SeqNo, pt: Pt, ts: u32 },
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
            ts: 0,
        }
    }

    /// [`ForwardState::rewrite`] for a packet with RTP time `ts_in`, remembering it
    /// as the newest sent if it is: the form used for video, which may switch layers.
    pub(crate) fn rewrite_at(
        &mut self,
        seq_in: SeqNo,
        pt_in: Pt,
        ts_in: u32,
        start_seq: u16,
        now: Instant,
        map_pt: impl FnOnce() -> Option<Pt>,
    ) -> Rewrite {
        match self.rewrite(seq_in, pt_in, start_seq, map_pt) {
            Rewrite::Send { seq_no, pt, .. } => {
                let ts = ts_in.wrapping_add(self.ts_offset);
                if self.last.is_none_or(|l| *seq_no > l.seq) {
                    self.last = Some(Last {
                        seq: *seq_no,
                        ts,
                        at: now,
                        picture_id: None,
                        tl0: None,
                    });
                }
                Rewrite::Send { seq_no, pt, ts }
            }
            other => other,
        }
    }

    /// The VP8 picture id and TL0PICIDX a packet just rewritten (`ids`, sent as
    /// `seq_out`) gets; the same as its own until a layer switch.
    pub(crate) fn vp8_ids_out(&mut self, ids: &Vp8Ids, seq_out: SeqNo) -> (u16, u8) {
        let picture_id = ids.picture_id.map(|(id, long)| {
            let mask = if long { 0x7fff } else { 0x7f };
            id.wrapping_add(self.picture_id_offset) & mask
        });
        let tl0 = ids.tl0_pic_idx.map(|t| t.wrapping_add(self.tl0_offset));
        if let Some(last) = self.last.as_mut()
            && last.seq == *seq_out
        {
            last.picture_id = picture_id;
            last.tl0 = tl0;
        }
        (picture_id.unwrap_or(0), tl0.unwrap_or(0))
    }

    /// Whether VP8 ids pass unchanged (no switch has moved them).
    pub(crate) fn vp8_unchanged(&self) -> bool {
        self.picture_id_offset == 0 && self.tl0_offset == 0
    }

    /// Rewrites the VP8 picture id and TL0PICIDX of a payload copy, in place.
    #[cfg(test)]
    pub(crate) fn rewrite_vp8(&mut self, payload: &mut [u8], ids: &Vp8Ids, seq_out: SeqNo) {
        let (picture_id, tl0) = self.vp8_ids_out(ids, seq_out);
        vp8_write_ids(payload, ids, picture_id, tl0);
    }

    /// Moves this stream onto another layer, whose keyframe starts with the packet
    /// `seq_in` at RTP time `ts_in` (VP8 ids `vp8`), arriving `now`: the next packets
    /// continue the subscriber's sequence numbers, clock and picture ids.
    pub(crate) fn switch(&mut self, seq_in: SeqNo, ts_in: u32, vp8: Option<&Vp8Ids>, now: Instant) {
        let seq_in = *seq_in;
        let Some(last) = self.last else {
            // Nothing sent yet: the first packet sets the offsets as usual.
            self.seq_offset = None;
            return;
        };
        self.seq_offset = Some(last.seq.wrapping_add(1).wrapping_sub(seq_in));
        self.first_in = seq_in;
        // The clock goes on by the time that passed (at least one tick): 90 kHz video.
        let elapsed = now.duration_since(last.at).as_micros() as u64 * 90 / 1000;
        let ts_next = last.ts.wrapping_add(elapsed.max(1) as u32);
        self.ts_offset = ts_next.wrapping_sub(ts_in);
        if let Some(ids) = vp8 {
            if let (Some((id, _)), Some(last_id)) = (ids.picture_id, last.picture_id) {
                self.picture_id_offset = last_id.wrapping_add(1).wrapping_sub(id);
            }
            if let (Some(t), Some(last_t)) = (ids.tl0_pic_idx, last.tl0) {
                self.tl0_offset = last_t.wrapping_add(1).wrapping_sub(t);
            }
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
                pt: Pt::from(100),
                ts: 0
            }
        );
        // A gap of two packets upstream stays a gap of two downstream.
        let later = state.rewrite(SeqNo::from(70_003), pt, 0, || unreachable!("PT is cached"));
        assert_eq!(
            later,
            Rewrite::Send {
                seq_no: SeqNo::from(1003),
                pt: Pt::from(100),
                ts: 0
            }
        );
        // The lost packet, recovered late, fills its hole.
        let repaired = state.rewrite(SeqNo::from(70_001), pt, 0, || unreachable!());
        assert_eq!(
            repaired,
            Rewrite::Send {
                seq_no: SeqNo::from(1001),
                pt: Pt::from(100),
                ts: 0
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

    #[test]
    fn a_layer_switch_continues_sequence_clock_and_picture_ids() {
        use crate::quality::codec::vp8_ids;
        use std::time::Duration;
        let t0 = Instant::now();
        let pt = Pt::from(96);
        let mut state = ForwardState::default();
        // Layer A: seq 500.., ts 10_000 + 3000 per frame, picture id 40..
        let mut last_out = (0u64, 0u32, 0u16);
        for i in 0..3u64 {
            let mut p = vec![0x90, 0xe0, 0x80, 40 + i as u8, 7, 0x20, 0x11];
            let ids = vp8_ids(&p).unwrap();
            let Rewrite::Send { seq_no, ts, .. } = state.rewrite_at(
                SeqNo::from(500 + i),
                pt,
                10_000 + 3000 * i as u32,
                100,
                t0 + Duration::from_millis(33 * i),
                || Some(pt),
            ) else {
                panic!()
            };
            state.rewrite_vp8(&mut p, &ids, seq_no);
            last_out = (*seq_no, ts, vp8_ids(&p).unwrap().picture_id.unwrap().0);
        }
        assert_eq!(last_out.0, 102);
        // Layer B's keyframe 33 ms later: other seq, clock base and picture ids.
        let at = t0 + Duration::from_millis(99);
        let mut key = vec![0x90, 0xe0, 0x81, 0x10, 200, 0x20, 0x10];
        let ids = vp8_ids(&key).unwrap();
        state.switch(SeqNo::from(9_000), 777_777, Some(&ids), at);
        let Rewrite::Send { seq_no, ts, .. } =
            state.rewrite_at(SeqNo::from(9_000), pt, 777_777, 100, at, || Some(pt))
        else {
            panic!()
        };
        state.rewrite_vp8(&mut key, &ids, seq_no);
        assert_eq!(*seq_no, last_out.0 + 1);
        assert_eq!(ts, last_out.1 + 33 * 90);
        let after = vp8_ids(&key).unwrap();
        assert_eq!(after.picture_id.unwrap().0, last_out.2 + 1);
        assert_eq!(after.tl0_pic_idx, Some(8));
        // Older packets of layer B cannot be placed.
        assert_eq!(
            state.rewrite_at(SeqNo::from(8_999), pt, 0, 100, at, || Some(pt)),
            Rewrite::TooOld
        );
    }
}
