//! The recorder's tap: RTP of the published tracks of recorded rooms, gathered per
//! track into one buffer (payloads back to back, no allocation per packet) and handed
//! to a [`TapSink`] twice a second (while media flows; at least once a second by the
//! housekeeping pass) and when the track ends — a couple of messages per track per
//! second, never one per packet.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use str0m::format::PayloadParams;

use crate::ids::{ParticipantId, RoomId, SessionId};
use crate::message::TrackKind;

/// Where a worker sends what it tapped. Called from the worker thread, once per track
/// per second: implementations hand the batch to another thread and return.
pub trait TapSink: Send {
    /// Takes a batch.
    fn deliver(&mut self, batch: TapBatch);
}

impl fmt::Debug for dyn TapSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TapSink")
    }
}

/// One tapped RTP packet; its payload is `data[offset..offset + len]` of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapPacket {
    /// Server arrival, Unix microseconds.
    pub arrival_us: i64,
    /// Extended sequence number.
    pub seq: u64,
    /// Extended RTP timestamp.
    pub rtp_ts: u64,
    /// The RTP marker bit.
    pub marker: bool,
    /// Payload offset in the batch's data.
    pub offset: u32,
    /// Payload length.
    pub len: u32,
}

/// RTP of one published track of one session (a rejoin is a new session, so a new
/// capture segment).
#[derive(Debug, Clone, PartialEq)]
pub struct TapBatch {
    /// Room.
    pub room: RoomId,
    /// Publisher.
    pub participant: ParticipantId,
    /// The publisher's signaling session.
    pub session: SessionId,
    /// Audio or video.
    pub kind: TrackKind,
    /// The m-line.
    pub mid: String,
    /// Codec name, lower case (`opus`, `vp8`, `vp9`, `h264`).
    pub codec: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// fmtp of the codec.
    pub fmtp: String,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Packets, in arrival order.
    pub packets: Vec<TapPacket>,
    /// Their payloads, back to back.
    pub data: Vec<u8>,
    /// Sender reports received since the last batch.
    pub senders: Vec<TapSenderReport>,
    /// The track ended (its publisher left): nothing follows.
    pub closed: bool,
}

impl TapBatch {
    /// The payload of packet `i`.
    pub fn payload(&self, i: usize) -> &[u8] {
        let p = &self.packets[i];
        &self.data[p.offset as usize..(p.offset + p.len) as usize]
    }
}

/// An RTCP sender report of a recorded track: which RTP time the sender's clock
/// (NTP) gave when — what lines its audio and video up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapSenderReport {
    /// Wall clock of its arrival, Unix µs.
    pub arrival_us: i64,
    /// The sender's NTP timestamp (64-bit NTP format: seconds since 1900, fraction).
    pub ntp: u64,
    /// The RTP timestamp of that moment (the report's 32 bits).
    pub rtp_ts: u64,
}

/// The numbers of a packet going into a [`TapBuffer`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tapped {
    /// Server arrival, Unix µs.
    pub(crate) arrival_us: i64,
    /// The capture's extended sequence number and RTP time.
    pub(crate) seq: u64,
    pub(crate) rtp_ts: u64,
    pub(crate) marker: bool,
    pub(crate) ssrc: u32,
}

/// What a recorded track has gathered since the last hand-over.
#[derive(Debug, Default)]
pub(crate) struct TapBuffer {
    packets: Vec<TapPacket>,
    senders: Vec<TapSenderReport>,
    data: Vec<u8>,
    codec: Option<(String, u32, String)>,
    ssrc: u32,
    /// The highest sequence number tapped.
    last_seq: Option<u64>,
    /// When the recorder last asked for a keyframe on this track.
    last_keyframe_request: Option<Instant>,
}

/// Keeps a capture one stream when the recording moves to another simulcast layer:
/// sequence numbers go on by one and the 90 kHz clock by the time that passed, on the
/// extended (64-bit) numbers the recorder reads.
#[derive(Debug, Default, Clone)]
pub(crate) struct TapRewrite {
    seq_offset: i64,
    ts_offset: i64,
    last: Option<(u64, u64, Instant)>,
}

impl TapRewrite {
    /// The capture moves to a layer whose keyframe starts at `seq`, `ts`.
    pub(crate) fn switch(&mut self, seq: u64, ts: u64, now: Instant) {
        let Some((last_seq, last_ts, at)) = self.last else {
            return;
        };
        let elapsed = (now.duration_since(at).as_micros() as i64 * 90 / 1000).max(1);
        self.seq_offset = last_seq as i64 + 1 - seq as i64;
        self.ts_offset = last_ts as i64 + elapsed - ts as i64;
    }

    /// The capture's numbers for a packet's `seq` and `ts`.
    pub(crate) fn rewrite(&mut self, seq: u64, ts: u64, now: Instant) -> (u64, u64) {
        let out = (
            (seq as i64 + self.seq_offset).max(0) as u64,
            (ts as i64 + self.ts_offset).max(0) as u64,
        );
        if self.last.is_none_or(|(s, _, _)| out.0 > s) {
            self.last = Some((out.0, out.1, now));
        }
        out
    }

    /// A sender report's 32-bit RTP time on the capture's clock.
    pub(crate) fn report_ts(&self, rtp_ts: u64) -> u64 {
        ((rtp_ts as i64 + self.ts_offset) as u64) & 0xffff_ffff
    }
}

/// Keyframe requests for a recording: at most one a second per track.
const RECORDING_KEYFRAME_INTERVAL: Duration = Duration::from_secs(1);

/// Maps the worker's monotonic clock to wall-clock microseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    instant: Instant,
    unix_us: i64,
}

impl WallClock {
    /// The clock that read `wall` at `now`.
    pub(crate) fn new(now: Instant, wall: SystemTime) -> WallClock {
        let unix_us = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        WallClock {
            instant: now,
            unix_us,
        }
    }

    pub(crate) fn at(&self, t: Instant) -> i64 {
        let delta = if t >= self.instant {
            i64::try_from(t.duration_since(self.instant).as_micros()).unwrap_or(i64::MAX)
        } else {
            -i64::try_from(self.instant.duration_since(t).as_micros()).unwrap_or(i64::MAX)
        };
        self.unix_us.saturating_add(delta)
    }
}

impl TapBuffer {
    /// Whether the recording should ask for a keyframe now: packets were lost before
    /// this one (frames after the loss cannot be decoded until the next keyframe), and
    /// the last request is a second old. Call before [`TapBuffer::push`].
    pub(crate) fn wants_keyframe(&mut self, seq: u64, now: Instant) -> bool {
        let lost = self.last_seq.is_some_and(|last| seq > last + 1);
        let due = self
            .last_keyframe_request
            .is_none_or(|t| now.duration_since(t) >= RECORDING_KEYFRAME_INTERVAL);
        if lost && due {
            self.last_keyframe_request = Some(now);
            return true;
        }
        false
    }

    /// Whether a keyframe may be asked for now (the last request is a second old);
    /// notes the request when it may.
    pub(crate) fn keyframe_due(&mut self, now: Instant) -> bool {
        let due = self
            .last_keyframe_request
            .is_none_or(|t| now.duration_since(t) >= RECORDING_KEYFRAME_INTERVAL);
        if due {
            self.last_keyframe_request = Some(now);
        }
        due
    }

    /// Notes a keyframe request made for this track (the recording's first).
    pub(crate) fn asked_keyframe(&mut self, now: Instant) {
        self.last_keyframe_request = Some(now);
    }

    /// Adds a packet's payload, with its sequence number and RTP time as the capture
    /// numbers them (see [`TapRewrite`]).
    pub(crate) fn push(&mut self, tapped: Tapped, payload: &[u8], params: &PayloadParams) {
        let Tapped {
            arrival_us,
            seq,
            rtp_ts,
            marker,
            ssrc,
        } = tapped;
        self.last_seq = Some(self.last_seq.map_or(seq, |l| l.max(seq)));
        if self.codec.is_none() {
            let spec = params.spec();
            self.codec = Some((
                spec.codec.to_string().to_lowercase(),
                spec.clock_rate.get(),
                fmtp_text(params),
            ));
            self.ssrc = ssrc;
        }
        let offset = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        self.data.extend_from_slice(payload);
        self.packets.push(TapPacket {
            arrival_us,
            seq,
            rtp_ts,
            marker,
            offset,
            len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
        });
    }

    /// Adds a sender report (about once a second per track).
    pub(crate) fn push_sender(&mut self, report: TapSenderReport) {
        self.senders.push(report);
    }

    /// Whether there is anything to hand over.
    pub(crate) fn is_empty(&self) -> bool {
        self.packets.is_empty() && self.senders.is_empty()
    }

    /// The batch of what was gathered (the buffer starts over, keeping its codec).
    pub(crate) fn take(
        &mut self,
        room: &RoomId,
        participant: &ParticipantId,
        session: SessionId,
        kind: TrackKind,
        mid: String,
        closed: bool,
    ) -> Option<TapBatch> {
        let (codec, clock_rate, fmtp) = self.codec.clone()?;
        Some(TapBatch {
            room: room.clone(),
            participant: participant.clone(),
            session,
            kind,
            mid,
            codec,
            clock_rate,
            fmtp,
            ssrc: self.ssrc,
            packets: std::mem::take(&mut self.packets),
            data: std::mem::take(&mut self.data),
            senders: std::mem::take(&mut self.senders),
            closed,
        })
    }
}

/// A system time in the 64-bit NTP format (seconds since 1900, 32-bit fraction).
pub(crate) fn ntp_of(t: SystemTime) -> u64 {
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let fraction = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    ((d.as_secs() + NTP_UNIX_OFFSET) << 32) | fraction
}

fn fmtp_text(params: &PayloadParams) -> String {
    params.spec().format.to_string()
}
