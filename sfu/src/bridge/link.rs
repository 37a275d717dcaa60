//! The link between an intercom's socket (a control-plane task) and the worker that
//! owns its room: two single-producer, single-consumer rings of audio frames, one each
//! way, made of atomics only (no lock, no channel, no allocation per frame).
//!
//! - Device → room: the socket task writes each frame with its arrival time; the worker
//!   reads what came at its next 20 ms tick, into the call's jitter buffer, so frames
//!   cost the worker no wake-up of their own.
//! - Room → device: the worker writes each frame as it is made and wakes the socket
//!   task through an `AtomicWaker`.
//!
//! A full ring drops the new frame and counts it: a stalled reader loses audio, never
//! memory.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

/// Largest payload of one frame: 60 ms of L16 at 16 kHz (or of G.711, 480 bytes).
pub const MAX_PAYLOAD: usize = 1920;
/// Frames one ring holds (320 ms of 20 ms frames).
const SLOTS: usize = 16;
const WORDS: usize = MAX_PAYLOAD / 8;

/// One audio frame crossing the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkFrame {
    /// The sender's sequence number.
    pub seq: u16,
    /// Its timestamp (samples at the codec's rate).
    pub ts: u32,
    /// When it arrived (device → room) or was made (room → device).
    pub at: Instant,
    len: u16,
    data: [u8; MAX_PAYLOAD],
}

impl LinkFrame {
    /// A frame of `payload` (at most [`MAX_PAYLOAD`] bytes; more is cut).
    pub fn new(seq: u16, ts: u32, at: Instant, payload: &[u8]) -> LinkFrame {
        let len = payload.len().min(MAX_PAYLOAD);
        let mut data = [0u8; MAX_PAYLOAD];
        data[..len].copy_from_slice(&payload[..len]);
        LinkFrame {
            seq,
            ts,
            at,
            len: len as u16,
            data,
        }
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

struct Slot {
    /// seq (16 bits) | len (16 bits) | ts (32 bits).
    meta: AtomicU64,
    /// Nanoseconds since the ring's epoch.
    at: AtomicU64,
    data: [AtomicU64; WORDS],
}

struct Ring {
    epoch: Instant,
    slots: Box<[Slot]>,
    /// Frames written (by the one producer).
    head: AtomicUsize,
    /// Frames read (by the one consumer).
    tail: AtomicUsize,
    dropped: AtomicU64,
    /// Wakes the consumer when it waits (room → device only).
    waker: AtomicWaker,
    /// Either end went away.
    closed: AtomicBool,
}

impl Ring {
    fn new(epoch: Instant) -> Arc<Ring> {
        Arc::new(Ring {
            epoch,
            slots: (0..SLOTS)
                .map(|_| Slot {
                    meta: AtomicU64::new(0),
                    at: AtomicU64::new(0),
                    data: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            waker: AtomicWaker::new(),
            closed: AtomicBool::new(false),
        })
    }

    fn push(&self, frame: &LinkFrame) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        if head.wrapping_sub(self.tail.load(Ordering::Acquire)) >= SLOTS {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let slot = &self.slots[head % SLOTS];
        let meta =
            (u64::from(frame.seq) << 48) | (u64::from(frame.len) << 32) | u64::from(frame.ts);
        slot.meta.store(meta, Ordering::Relaxed);
        let at = frame.at.saturating_duration_since(self.epoch).as_nanos() as u64;
        slot.at.store(at, Ordering::Relaxed);
        let words = (frame.len as usize).div_ceil(8);
        for (i, word) in slot.data.iter().take(words).enumerate() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&frame.data[i * 8..i * 8 + 8]);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        self.head.store(head.wrapping_add(1), Ordering::Release);
        true
    }

    fn pop(&self) -> Option<LinkFrame> {
        let tail = self.tail.load(Ordering::Relaxed);
        if tail == self.head.load(Ordering::Acquire) {
            return None;
        }
        let slot = &self.slots[tail % SLOTS];
        let meta = slot.meta.load(Ordering::Relaxed);
        let len = ((meta >> 32) & 0xffff) as usize;
        let mut data = [0u8; MAX_PAYLOAD];
        for (i, word) in slot.data.iter().take(len.div_ceil(8)).enumerate() {
            data[i * 8..i * 8 + 8].copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        let at = self.epoch + Duration::from_nanos(slot.at.load(Ordering::Relaxed));
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Some(LinkFrame {
            seq: (meta >> 48) as u16,
            ts: meta as u32,
            at,
            len: len as u16,
            data,
        })
    }
}

/// The socket task's end: writes device frames, reads room frames.
pub struct DeviceEnd {
    to_room: Arc<Ring>,
    from_room: Arc<Ring>,
}

/// The worker's end: reads device frames, writes room frames.
pub struct RoomEnd {
    to_room: Arc<Ring>,
    from_room: Arc<Ring>,
}

/// A new link: the socket task's end and the worker's.
pub fn link() -> (DeviceEnd, RoomEnd) {
    let epoch = Instant::now();
    let (to_room, from_room) = (Ring::new(epoch), Ring::new(epoch));
    (
        DeviceEnd {
            to_room: to_room.clone(),
            from_room: from_room.clone(),
        },
        RoomEnd { to_room, from_room },
    )
}

impl DeviceEnd {
    /// Hands a device frame to the room; `false`: the ring was full and it was
    /// dropped.
    pub fn send(&self, frame: &LinkFrame) -> bool {
        self.to_room.push(frame)
    }

    /// The next frame from the room, waiting for one; `None` once the room's end is
    /// gone.
    pub async fn recv(&self) -> Option<LinkFrame> {
        poll_fn(|cx| {
            if let Some(frame) = self.from_room.pop() {
                return Poll::Ready(Some(frame));
            }
            self.from_room.waker.register(cx.waker());
            // Again after registering: a frame written in between is not missed.
            if let Some(frame) = self.from_room.pop() {
                return Poll::Ready(Some(frame));
            }
            if self.from_room.closed.load(Ordering::Acquire) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }

    /// Frames dropped on a full ring: (to the room, from the room).
    pub fn dropped(&self) -> (u64, u64) {
        (
            self.to_room.dropped.load(Ordering::Relaxed),
            self.from_room.dropped.load(Ordering::Relaxed),
        )
    }
}

impl Drop for DeviceEnd {
    fn drop(&mut self) {
        self.to_room.closed.store(true, Ordering::Release);
    }
}

impl RoomEnd {
    /// The next device frame that came, if any.
    pub fn recv(&self) -> Option<LinkFrame> {
        self.to_room.pop()
    }

    /// Hands a frame to the device and wakes its task.
    pub fn send(&self, frame: &LinkFrame) {
        if self.from_room.push(frame) {
            self.from_room.waker.wake();
        }
    }

    /// Whether the socket's end is gone.
    pub fn is_closed(&self) -> bool {
        self.to_room.closed.load(Ordering::Acquire)
    }
}

impl Drop for RoomEnd {
    fn drop(&mut self) {
        self.from_room.closed.store(true, Ordering::Release);
        self.from_room.waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_in_order_and_a_full_ring_drops_the_newest() {
        let (device, room) = link();
        let now = Instant::now();
        for seq in 0..20u16 {
            let payload = vec![seq as u8; 160];
            let sent = device.send(&LinkFrame::new(seq, u32::from(seq) * 160, now, &payload));
            assert_eq!(sent, seq < 16, "frame {seq}");
        }
        assert_eq!(device.dropped(), (4, 0));
        for seq in 0..16u16 {
            let frame = room.recv().expect("a frame");
            assert_eq!((frame.seq, frame.ts), (seq, u32::from(seq) * 160));
            assert_eq!(frame.payload(), &[seq as u8; 160][..]);
        }
        assert!(room.recv().is_none());
    }

    #[test]
    fn a_thread_on_each_end_sees_every_frame_whole() {
        let (device, room) = link();
        let writer = std::thread::spawn(move || {
            let mut seq = 0u16;
            while seq < 20_000 {
                let payload = [seq as u8; 160];
                if device.send(&LinkFrame::new(seq, 0, Instant::now(), &payload)) {
                    seq += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            device
        });
        let mut expected = 0u16;
        while expected < 20_000 {
            match room.recv() {
                Some(frame) => {
                    assert_eq!(frame.seq, expected);
                    assert!(frame.payload().iter().all(|b| *b == expected as u8));
                    expected += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        // Frames the full ring turned away were sent again: every one got through.
        writer.join().expect("writer");
    }
}
