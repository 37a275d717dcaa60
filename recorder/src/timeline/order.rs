//! Frames in presentation order, each once — for a whole track ([`order`]) or while
//! reading it ([`Reorder`], which holds only a window of it).

use std::collections::BTreeMap;

use crate::capture::Frame;

/// Frames sorted by RTP time, duplicates dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered {
    /// The frames.
    pub frames: Vec<Frame>,
    /// Frames that came again (retransmitted twice, say) and were dropped.
    pub duplicates: usize,
    /// Frames that arrived after a later one.
    pub reordered: usize,
}

/// Sorts by extended RTP timestamp, then sequence; a frame seen already is a duplicate.
pub fn order(frames: Vec<Frame>) -> Ordered {
    let mut r = Reorder::new(u64::MAX, usize::MAX);
    let mut out = Vec::with_capacity(frames.len());
    for f in frames {
        r.push(f);
    }
    while let Some(f) = r.pop(true) {
        out.push(f);
    }
    Ordered {
        frames: out,
        duplicates: r.duplicates + r.late,
        reordered: r.reordered,
    }
}

/// Puts a track's frames back in order as they are read, holding each one until
/// frames that arrived `window_us` later have been seen (a retransmission comes within
/// a round trip or two) or `max_pending` frames wait.
#[derive(Debug)]
pub struct Reorder {
    pending: BTreeMap<(u64, u64), Frame>,
    window_us: u64,
    max_pending: usize,
    /// Latest arrival time read.
    latest_us: u64,
    /// Key of the last frame read, and of the last one handed out.
    last_in: Option<(u64, u64)>,
    last_out: Option<(u64, u64)>,
    /// Frames read twice while the first copy waited.
    pub duplicates: usize,
    /// Frames that arrived after a later one.
    pub reordered: usize,
    /// Frames that came after their place was handed out (too late, or duplicates of
    /// frames already handed out): dropped.
    pub late: usize,
}

impl Reorder {
    /// A reorderer with the given window (µs of arrival time) and bound.
    pub fn new(window_us: u64, max_pending: usize) -> Reorder {
        Reorder {
            pending: BTreeMap::new(),
            window_us,
            max_pending,
            latest_us: 0,
            last_in: None,
            last_out: None,
            duplicates: 0,
            reordered: 0,
            late: 0,
        }
    }

    /// Takes a frame read from the capture.
    pub fn push(&mut self, frame: Frame) {
        let key = (frame.rtp_ts, frame.seq_first);
        if self.last_in.is_some_and(|k| key < k) {
            self.reordered += 1;
        }
        self.last_in = Some(key);
        self.latest_us = self.latest_us.max(frame.arrival_us);
        if self.last_out.is_some_and(|k| key <= k) {
            self.late += 1;
        } else {
            match self.pending.entry(key) {
                std::collections::btree_map::Entry::Occupied(_) => self.duplicates += 1,
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(frame);
                }
            }
        }
    }

    /// The next frame in order if it has waited long enough (or any waiting one when
    /// `all`, at the end of the track).
    pub fn pop(&mut self, all: bool) -> Option<Frame> {
        let crowded = self.pending.len() > self.max_pending;
        let entry = self.pending.first_entry()?;
        let waited = self.latest_us.saturating_sub(entry.get().arrival_us);
        if all || waited >= self.window_us || crowded {
            let (key, frame) = entry.remove_entry();
            self.last_out = Some(key);
            return Some(frame);
        }
        None
    }
}

/// The frames of a record stream in order, read lazily through a [`Reorder`] window.
pub struct OrderedFrames<I> {
    records: I,
    reorder: Reorder,
    exhausted: bool,
}

/// How long a frame waits for earlier ones that arrive late: retransmissions come
/// within a few round trips.
pub const REORDER_WINDOW_US: u64 = 2_000_000;
/// At most this many frames wait (a burst of video at a high rate).
pub const REORDER_MAX_PENDING: usize = 4096;

impl<I: Iterator<Item = Frame>> OrderedFrames<I> {
    /// Orders `frames` (in file order) with the default window.
    pub fn new(frames: I) -> Self {
        OrderedFrames {
            records: frames,
            reorder: Reorder::new(REORDER_WINDOW_US, REORDER_MAX_PENDING),
            exhausted: false,
        }
    }

    /// The frames being ordered.
    pub fn inner(&self) -> &I {
        &self.records
    }

    /// Counters so far.
    pub fn reorder(&self) -> &Reorder {
        &self.reorder
    }
}

impl<I: Iterator<Item = Frame>> Iterator for OrderedFrames<I> {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.reorder.pop(self.exhausted) {
                return Some(f);
            }
            if self.exhausted {
                return None;
            }
            match self.records.next() {
                Some(f) => self.reorder.push(f),
                None => self.exhausted = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(seq: u64, ts: u64) -> Frame {
        Frame {
            arrival_us: seq * 20_000,
            rtp_ts: ts,
            seq_first: seq,
            seq_last: seq,
            flags: 0,
            payload: vec![seq as u8],
        }
    }

    #[test]
    fn reordered_and_duplicated_frames_come_out_once_in_order() {
        let input = vec![
            f(1, 960),
            f(3, 2880),
            f(2, 1920),
            f(3, 2880),
            f(4, 3840),
            f(2, 1920),
            f(5, 4800),
        ];
        let o = order(input);
        assert_eq!(
            o.frames.iter().map(|f| f.seq_first).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(o.duplicates, 2);
        assert_eq!(o.reordered, 2);
    }

    #[test]
    fn a_window_releases_frames_once_later_arrivals_are_seen_and_drops_late_ones() {
        // Frame 20 arrives 320 ms after 4 (window 100 ms): 1..4 go out; frame 0 then
        // comes after its place was handed out.
        let mut late = f(0, 0);
        late.arrival_us = 410_000;
        let input = vec![
            f(1, 960),
            f(3, 2880),
            f(2, 1920),
            f(4, 3840),
            f(20, 20 * 960),
            late,
        ];
        let frames = OrderedFrames {
            records: input.into_iter(),
            reorder: Reorder::new(100_000, 1000),
            exhausted: false,
        };
        let mut frames = frames;
        let seqs: Vec<u64> = frames.by_ref().map(|f| f.seq_first).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 20]);
        assert_eq!(frames.reorder().late, 1);
        assert_eq!(frames.reorder().reordered, 2);
    }
}
