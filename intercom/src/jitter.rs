//! The device-side jitter buffer: audio frames in as they arrive over the WebSocket,
//! one 20 ms slot out per tick.
//!
//! Sans-IO: the caller passes `now` to [`JitterBuffer::push`] and calls
//! [`JitterBuffer::tick`] every 20 ms (one tick per worker for all its calls, never a
//! timer per call). It holds PCM payloads (G.711 or L16; Opus devices' packets go to
//! RTP untouched and the browser's own buffer takes their jitter).
//!
//! - **Slots by timestamp.** A frame lands in the 20 ms slots its timestamp covers, so
//!   10 ms frames fill half a slot each and a 60 ms frame fills three.
//! - **Late and duplicate** frames are dropped and counted: a slot that has been played
//!   or concealed is never played again, and a sequence number seen in the last 64 is a
//!   duplicate.
//! - **Target delay** adapts within 20–120 ms: the 95th percentile of the frames'
//!   relative delay over the last ~10 s (500 frames), rounded up to slots, starting at
//!   40 ms. It grows at once, by what the buffer lacks of the new target (the next
//!   ticks conceal instead of playing, which buys slots); it is lowered only once the
//!   lower target has held for 2 s (a jitter right at the percentile's edge does not
//!   flip it), and the buffer then shrinks slowly (one slot skipped after 2 s deeper
//!   than the target), which also absorbs a device clock that runs fast.
//! - **Talk-spurts.** When nothing is buffered and nothing has come for 100 ms, the
//!   buffer goes idle (silence, not counted as loss) and fills to its target again
//!   when frames return. A timestamp jump of more than 10 s restarts it.
//!
//! Nothing here allocates after [`JitterBuffer::new`].

use std::time::{Duration, Instant};

/// 20 ms slots held: the 120 ms target, a 60 ms frame and the slot being played.
const SLOTS: usize = 12;
/// Delay samples kept for the target (10 s of 20 ms frames).
const WINDOW: usize = 500;
/// The target is recomputed every this many frames.
const RECOMPUTE_EVERY: u32 = 25;
/// Target limits and start, in slots of 20 ms.
const MIN_TARGET: u32 = 1;
const MAX_TARGET: u32 = 6;
const START_TARGET: u32 = 2;
/// Recomputes in a row that find a lower target before the target is lowered (2 s).
const LOWER_AFTER: u32 = 4;
/// Ticks above target before one slot is skipped.
const SHRINK_AFTER_TICKS: u32 = 100;
/// Silence before the buffer goes idle.
const IDLE_AFTER: Duration = Duration::from_millis(100);
/// A timestamp jump that restarts the buffer (in seconds of audio).
const RESET_SECONDS: u64 = 10;

/// What the buffer did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Buffered for playout.
    Accepted,
    /// Its slot was already played or concealed: dropped.
    Late,
    /// Its sequence number was seen: dropped.
    Duplicate,
    /// It lies beyond the buffer's span: the buffer restarted at it.
    Restarted,
}

/// One tick's output.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick<'a> {
    /// Play this slot (20 ms; a part no frame covered holds silence).
    Play(&'a [u8]),
    /// This slot's audio is missing: conceal it.
    Conceal,
    /// Not playing (filling to the target, or between talk-spurts): play silence.
    Idle,
}

/// Counters, for metrics and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Frames pushed.
    pub received: u64,
    /// Slots played from frames.
    pub played: u64,
    /// Slots concealed while playing.
    pub concealed: u64,
    /// Frames dropped as late.
    pub late: u64,
    /// Frames dropped as duplicates.
    pub duplicate: u64,
    /// Slots skipped to shrink the delay.
    pub skipped: u64,
    /// Restarts (timestamp jumps).
    pub restarts: u64,
}

struct Slot {
    /// Extended slot number held, or `None`.
    index: Option<u64>,
    data: Box<[u8]>,
}

/// The jitter buffer of one call's device audio.
pub struct JitterBuffer {
    /// Timestamp units per 20 ms slot.
    slot_ts: u64,
    bytes_per_ts: usize,
    clock: u64,
    silence: u8,
    slots: Vec<Slot>,
    /// The next slot to play, once playing.
    next: Option<u64>,
    last_ts: Option<(u32, u64)>,
    last_seq: Option<(u16, u64)>,
    seen: u64,
    last_arrival: Option<Instant>,
    /// The first frame's arrival and extended timestamp: the origin of relative delay.
    origin: Option<(Instant, u64)>,
    delays: [i32; WINDOW],
    delay_count: usize,
    since_recompute: u32,
    target: u32,
    grow: u32,
    lower_for: u32,
    above_target: u32,
    /// Slots concealed since the last one played.
    trailing: u64,
    stats: JitterStats,
    sorted: [i32; WINDOW],
}

impl JitterBuffer {
    /// A buffer for PCM at `clock` Hz, `bytes_per_sample` bytes each (1 for G.711, 2
    /// for L16), `silence` the byte that fills a slot no frame covered (0xff µ-law,
    /// 0xd5 A-law, 0 L16).
    pub fn new(clock: u32, bytes_per_sample: usize, silence: u8) -> JitterBuffer {
        let slot_ts = clock as u64 / 50;
        JitterBuffer {
            slot_ts,
            bytes_per_ts: bytes_per_sample,
            clock: clock as u64,
            silence,
            slots: (0..SLOTS)
                .map(|_| Slot {
                    index: None,
                    data: vec![silence; slot_ts as usize * bytes_per_sample].into(),
                })
                .collect(),
            next: None,
            last_ts: None,
            last_seq: None,
            seen: 0,
            last_arrival: None,
            origin: None,
            delays: [0; WINDOW],
            delay_count: 0,
            since_recompute: 0,
            target: START_TARGET,
            grow: 0,
            lower_for: 0,
            above_target: 0,
            trailing: 0,
            stats: JitterStats::default(),
            sorted: [0; WINDOW],
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The target delay now.
    pub fn target(&self) -> Duration {
        Duration::from_millis(self.target as u64 * 20)
    }

    /// Takes one frame: its sequence number, timestamp and payload, arrived at `now`.
    pub fn push(&mut self, now: Instant, seq: u16, ts: u32, payload: &[u8]) -> Pushed {
        self.stats.received += 1;
        if self.is_duplicate(seq) {
            self.stats.duplicate += 1;
            return Pushed::Duplicate;
        }
        let mut result = Pushed::Accepted;
        if let Some((last, _)) = self.last_ts {
            let jump = (ts.wrapping_sub(last) as i32).unsigned_abs() as u64;
            if jump > RESET_SECONDS * self.clock {
                self.restart();
                result = Pushed::Restarted;
            }
        }
        let ts_ext = self.extend_ts(ts);
        self.last_ts = Some((ts, ts_ext));
        self.last_arrival = Some(now);
        self.measure(now, ts_ext);

        let first = ts_ext / self.slot_ts;
        let samples = (payload.len() / self.bytes_per_ts) as u64;
        let last = (ts_ext + samples.max(1) - 1) / self.slot_ts;
        if let Some(next) = self.next {
            if last < next {
                self.stats.late += 1;
                return Pushed::Late;
            }
            if last >= next + SLOTS as u64 {
                // Far ahead of playout (the device's clock jumped): start again there.
                self.restart();
                return self.push_again(now, seq, ts, payload);
            }
        } else if last >= SLOTS as u64 {
            // Not playing (yet): keep the newest slots; older ones will never play.
            self.evict_below(last + 1 - SLOTS as u64);
        }
        let mut written = 0usize;
        for index in first..=last {
            if self.next.is_some_and(|n| index < n) {
                continue;
            }
            let slot_start = index * self.slot_ts;
            let from = ts_ext.max(slot_start);
            let until = (ts_ext + samples).min(slot_start + self.slot_ts);
            if until <= from {
                continue;
            }
            let silence = self.silence;
            let slot = &mut self.slots[(index % SLOTS as u64) as usize];
            if slot.index != Some(index) {
                slot.index = Some(index);
                slot.data.fill(silence);
            }
            let at = ((from - slot_start) as usize) * self.bytes_per_ts;
            let src = ((from - ts_ext) as usize) * self.bytes_per_ts;
            let len = ((until - from) as usize) * self.bytes_per_ts;
            slot.data[at..at + len].copy_from_slice(&payload[src..src + len]);
            written += len;
        }
        if written == 0 && result == Pushed::Accepted {
            self.stats.late += 1;
            return Pushed::Late;
        }
        // After the frame is in, so that the buffer's depth counts it.
        if self.since_recompute >= RECOMPUTE_EVERY {
            self.since_recompute = 0;
            self.recompute_target();
        }
        result
    }

    /// One 20 ms tick: the slot to play now.
    pub fn tick(&mut self, now: Instant) -> Tick<'_> {
        let next = match self.next {
            Some(next) => next,
            None => {
                let Some(first) = self.first_buffered() else {
                    return Tick::Idle;
                };
                if self.depth_from(first) < self.target {
                    return Tick::Idle;
                }
                self.next = Some(first);
                self.grow = 0;
                first
            }
        };
        if self.grow > 0 {
            self.grow -= 1;
            self.stats.concealed += 1;
            self.trailing += 1;
            return Tick::Conceal;
        }
        let depth = self.depth_from(next);
        if depth == 0
            && self
                .last_arrival
                .is_none_or(|t| now.duration_since(t) >= IDLE_AFTER)
        {
            // The end of a talk-spurt, not a loss: the slots concealed since the last
            // frame played were silence.
            self.stats.concealed -= std::mem::take(&mut self.trailing);
            self.next = None;
            return Tick::Idle;
        }
        // Shrink slowly: after a while above target, skip the slot due now.
        let mut next = next;
        if depth > self.target {
            self.above_target += 1;
            if self.above_target >= SHRINK_AFTER_TICKS {
                self.above_target = 0;
                let slot = (next % SLOTS as u64) as usize;
                if self.slots[slot].index == Some(next) {
                    self.slots[slot].index = None;
                }
                self.stats.skipped += 1;
                next += 1;
            }
        } else {
            self.above_target = 0;
        }
        self.next = Some(next + 1);
        let slot = &mut self.slots[(next % SLOTS as u64) as usize];
        if slot.index == Some(next) {
            slot.index = None;
            self.stats.played += 1;
            self.trailing = 0;
            Tick::Play(&slot.data)
        } else {
            self.stats.concealed += 1;
            self.trailing += 1;
            Tick::Conceal
        }
    }

    fn is_duplicate(&mut self, seq: u16) -> bool {
        let Some((last, last_ext)) = self.last_seq else {
            self.last_seq = Some((seq, 1 << 20));
            self.seen = 1;
            return false;
        };
        let delta = seq.wrapping_sub(last) as i16 as i64;
        let ext = (last_ext as i64 + delta) as u64;
        if delta > 0 {
            self.seen = if delta >= 64 { 0 } else { self.seen << delta };
            self.seen |= 1;
            self.last_seq = Some((seq, ext));
            false
        } else {
            let back = (-delta) as u32;
            if back >= 64 {
                return false;
            }
            let bit = 1u64 << back;
            let dup = self.seen & bit != 0;
            self.seen |= bit;
            dup
        }
    }

    /// A restarted buffer takes the frame as its first.
    fn push_again(&mut self, now: Instant, seq: u16, ts: u32, payload: &[u8]) -> Pushed {
        self.stats.received -= 1;
        self.last_seq = None;
        match self.push(now, seq, ts, payload) {
            Pushed::Accepted => Pushed::Restarted,
            other => other,
        }
    }

    /// The timestamp on a 64-bit line where the first frame (after a start or restart)
    /// begins a slot.
    fn extend_ts(&self, ts: u32) -> u64 {
        match self.last_ts {
            None => self.slot_ts << 32,
            Some((last, last_ext)) => {
                (last_ext as i64 + ts.wrapping_sub(last) as i32 as i64).max(0) as u64
            }
        }
    }

    fn measure(&mut self, now: Instant, ts_ext: u64) {
        let (at, origin_ts) = *self.origin.get_or_insert((now, ts_ext));
        let arrived_us = now.saturating_duration_since(at).as_micros() as i64;
        let sent_us = (ts_ext as i64 - origin_ts as i64) * 1_000_000 / self.clock as i64;
        let delay_ms = ((arrived_us - sent_us) / 1000) as i32;
        self.delays[self.delay_count % WINDOW] = delay_ms;
        self.delay_count += 1;
        self.since_recompute += 1;
    }

    /// The target: p95 of each frame's relative delay above the lowest delay around
    /// it (the same and the previous second: a drifting device clock is not jitter),
    /// plus one slot for the frame being received, rounded up to slots.
    fn recompute_target(&mut self) {
        const BLOCK: usize = 50;
        let n = self.delay_count.min(WINDOW);
        let at = |k: usize| self.delays[(self.delay_count - n + k) % WINDOW];
        let mut block_min = [i32::MAX; WINDOW / BLOCK];
        for k in 0..n {
            block_min[k / BLOCK] = block_min[k / BLOCK].min(at(k));
        }
        for k in 0..n {
            let b = k / BLOCK;
            let floor = if b > 0 {
                block_min[b].min(block_min[b - 1])
            } else {
                block_min[b]
            };
            self.sorted[k] = at(k) - floor;
        }
        let sorted = &mut self.sorted[..n];
        sorted.sort_unstable();
        let spread = sorted[(n * 95 / 100).min(n - 1)];
        let target = ((spread.max(0) as u32).div_ceil(20) + 1).clamp(MIN_TARGET, MAX_TARGET);
        if target < self.target {
            // Lower only once the lower target has held for a while: a jitter right at
            // the percentile's edge would otherwise flip the target every recompute.
            self.lower_for += 1;
            if self.lower_for >= LOWER_AFTER {
                self.lower_for = 0;
                self.target = target;
            }
            return;
        }
        self.lower_for = 0;
        // Grow by what the buffer lacks of the new target (it may still be as deep as
        // a higher target it had).
        if target > self.target
            && let Some(next) = self.next
        {
            let depth = self.depth_from(next) + self.grow;
            self.grow += target.saturating_sub(depth);
        }
        self.target = target;
    }

    fn first_buffered(&self) -> Option<u64> {
        self.slots.iter().filter_map(|s| s.index).min()
    }

    fn depth_from(&self, next: u64) -> u32 {
        self.slots
            .iter()
            .filter_map(|s| s.index)
            .filter(|&i| i >= next)
            .map(|i| (i - next + 1) as u32)
            .max()
            .unwrap_or(0)
    }

    /// Drops buffered slots before `floor`, as late.
    fn evict_below(&mut self, floor: u64) {
        for slot in &mut self.slots {
            if slot.index.is_some_and(|i| i < floor) {
                slot.index = None;
                self.stats.late += 1;
            }
        }
    }

    fn clear_slots(&mut self) {
        for slot in &mut self.slots {
            slot.index = None;
        }
    }

    fn restart(&mut self) {
        self.clear_slots();
        self.last_ts = None;
        self.next = None;
        self.origin = None;
        self.delay_count = 0;
        self.grow = 0;
        self.stats.restarts += 1;
    }
}
