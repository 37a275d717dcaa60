//! The sans-IO side of writing: records go into a buffer; the driver writes the
//! buffer to the file when [`Writer::due`] says so (at least once a second) and
//! syncs it.

use std::time::{Duration, Instant};

use super::format::{Header, Record, encode, encode_header};

/// How long written records may wait in memory.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// A buffer this large is written at once.
const FLUSH_BYTES: usize = 256 * 1024;

/// One capture file's writer, without the file.
#[derive(Debug)]
pub struct Writer {
    buffer: Vec<u8>,
    oldest: Option<Instant>,
    written: u64,
}

impl Writer {
    /// A writer whose first bytes are `header`.
    pub fn new(header: &Header, now: Instant) -> Writer {
        let mut buffer = Vec::with_capacity(4096);
        encode_header(&mut buffer, header);
        Writer {
            buffer,
            oldest: Some(now),
            written: 0,
        }
    }

    /// Adds a record.
    pub fn push(&mut self, record: &Record, now: Instant) {
        encode(&mut self.buffer, record);
        self.oldest.get_or_insert(now);
    }

    /// Whether the buffer should be written now (its oldest bytes are a second old,
    /// or it is large).
    pub fn due(&self, now: Instant) -> bool {
        self.buffer.len() >= FLUSH_BYTES
            || self
                .oldest
                .is_some_and(|t| now.duration_since(t) >= FLUSH_EVERY)
    }

    /// When the buffer must be written at the latest.
    pub fn deadline(&self) -> Option<Instant> {
        self.oldest.map(|t| t + FLUSH_EVERY)
    }

    /// Takes the bytes to append to the file.
    pub fn take(&mut self) -> Vec<u8> {
        self.oldest = None;
        let out = std::mem::take(&mut self.buffer);
        self.written += out.len() as u64;
        out
    }

    /// Bytes handed out so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}
