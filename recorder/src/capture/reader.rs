//! Reading a capture file back, torn tail and all.

use super::format::{Decoded, Header, PREFIX, Record, VERSION, decode, header_body, header_prefix};

/// Why a file cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not a capture file.
    #[error("not a vchat capture file")]
    NotCapture,
    /// Written by a newer version.
    #[error("capture format version {0} is newer than this vchat reads ({VERSION})")]
    Version(u16),
    /// The header is cut off or damaged (the writer died before the first flush).
    #[error("the capture header is incomplete or damaged")]
    Header,
}

/// A read capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// The header.
    pub header: Header,
    /// Every whole, valid record, in file order.
    pub records: Vec<Record>,
    /// Bytes after the last valid record (a torn tail), dropped.
    pub torn_bytes: usize,
    /// Whether the writer closed it (an `End` record).
    pub closed: bool,
}

/// Reads a whole capture from `bytes`.
pub fn read(bytes: &[u8]) -> Result<Capture, ReadError> {
    let len = header_prefix(bytes)?;
    let header = header_body(
        bytes
            .get(PREFIX..PREFIX + len + 4)
            .ok_or(ReadError::Header)?,
    )?;
    let mut at = PREFIX + len + 4;
    let mut records = Vec::new();
    let mut closed = false;
    loop {
        match decode(&bytes[at..]) {
            Decoded::Record(r, used) => {
                closed |= matches!(r, Record::End { .. });
                records.push(r);
                at += used;
            }
            Decoded::End => break,
            Decoded::Torn => break,
        }
    }
    Ok(Capture {
        header,
        records,
        torn_bytes: bytes.len() - at,
        closed,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::capture::format::{FLAG_KEYFRAME, Frame, SenderReport};
    use crate::capture::writer::Writer;

    fn header() -> Header {
        Header {
            call: "call-1".into(),
            role: "client".into(),
            kind: "video".into(),
            codec: "vp8".into(),
            fmtp: String::new(),
            clock_rate: 90_000,
            wallclock_us: 1_700_000_000_000_000,
            segment: 0,
            ssrc: 1234,
        }
    }

    fn frame(n: u64) -> Record {
        Record::Frame(Frame {
            arrival_us: n * 33_000,
            rtp_ts: (1 << 32) + n * 3000,
            seq_first: 10 + n * 3,
            seq_last: 12 + n * 3,
            flags: if n == 0 { FLAG_KEYFRAME } else { 0 },
            payload: vec![n as u8; 500 + n as usize],
        })
    }

    fn written(records: &[Record]) -> Vec<u8> {
        let t0 = Instant::now();
        let mut w = Writer::new(&header(), t0);
        let mut file = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let now = t0 + Duration::from_millis(300 * i as u64);
            w.push(r, now);
            if w.due(now) {
                file.extend(w.take());
            }
        }
        file.extend(w.take());
        file
    }

    #[test]
    fn records_round_trip() {
        let mut records: Vec<Record> = (0..10).map(frame).collect();
        records.insert(
            3,
            Record::Sender(SenderReport {
                arrival_us: 99_000,
                ntp: 0xE000_0000_8000_0000,
                rtp_ts: (1 << 32) + 8000,
            }),
        );
        records.push(Record::End {
            arrival_us: 400_000,
        });
        let file = written(&records);
        let c = read(&file).unwrap();
        assert_eq!(c.header, header());
        assert_eq!(c.records, records);
        assert_eq!(c.torn_bytes, 0);
        assert!(c.closed);
    }

    #[test]
    fn a_torn_last_record_is_dropped_at_every_cut() {
        let records: Vec<Record> = (0..5).map(frame).collect();
        let file = written(&records);
        let whole = read(&file).unwrap();
        assert!(!whole.closed, "no End: the writer died");
        // Cut the file at every byte of the last record: the first four survive.
        let last_len = 4 + 1 + 33 + 504 + 4;
        for cut in file.len() - last_len..file.len() {
            let c = read(&file[..cut]).unwrap();
            assert_eq!(c.records, records[..4], "cut at {cut}");
            assert_eq!(c.torn_bytes, cut - (file.len() - last_len));
        }
        // A flipped byte in the last record: its CRC fails, the rest stands.
        let mut damaged = file.clone();
        let at = damaged.len() - 10;
        damaged[at] ^= 0x40;
        assert_eq!(read(&damaged).unwrap().records, records[..4]);
    }

    #[test]
    fn headers_cut_or_foreign_are_refused() {
        let file = written(&[frame(0)]);
        assert_eq!(read(b"RIFF....WAVE"), Err(ReadError::NotCapture));
        assert_eq!(read(&file[..12]), Err(ReadError::Header));
        assert_eq!(read(&file[..30]), Err(ReadError::Header));
        let mut newer = file.clone();
        newer[8] = 9;
        assert_eq!(read(&newer), Err(ReadError::Version(9)));
    }

    #[test]
    fn the_writer_flushes_at_least_once_a_second() {
        let t0 = Instant::now();
        let mut w = Writer::new(&header(), t0);
        assert!(!w.due(t0 + Duration::from_millis(999)));
        assert!(w.due(t0 + Duration::from_secs(1)));
        let first = w.take();
        assert!(!first.is_empty());
        w.push(&frame(1), t0 + Duration::from_millis(1500));
        assert_eq!(w.deadline(), Some(t0 + Duration::from_millis(2500)));
        assert!(!w.due(t0 + Duration::from_millis(2400)));
        assert!(w.due(t0 + Duration::from_millis(2500)));
    }
}
