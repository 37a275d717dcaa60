//! Reading a capture file record by record, so a merge holds one record of each track
//! at a time, never the whole file (an hour of video is half a gigabyte).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::format::{
    Decoded, Header, MAX_RECORD, PREFIX, Record, decode, header_body, header_prefix,
};
use super::reader::ReadError;

/// Why a capture cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file cannot be read.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// It is not a readable capture.
    #[error("{0}")]
    Format(#[from] ReadError),
}

/// A capture file being read.
pub struct CaptureStream {
    header: Header,
    file: BufReader<File>,
    /// The current record, length prefix and CRC included (reused).
    buf: Vec<u8>,
    /// Bytes after the last valid record, known once the end is reached.
    torn_bytes: u64,
    closed: bool,
    done: bool,
}

/// Reads exactly `buf.len()` bytes unless the file ends first; how many were read.
fn read_up_to(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl CaptureStream {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<CaptureStream, OpenError> {
        let mut file = BufReader::with_capacity(256 * 1024, File::open(path)?);
        let mut prefix = [0u8; PREFIX];
        let got = read_up_to(&mut file, &mut prefix)?;
        let len = header_prefix(&prefix[..got])?;
        let mut body = vec![0u8; len + 4];
        if read_up_to(&mut file, &mut body)? < body.len() {
            return Err(ReadError::Header.into());
        }
        let header = header_body(&body)?;
        Ok(CaptureStream {
            header,
            file,
            buf: Vec::with_capacity(2048),
            torn_bytes: 0,
            closed: false,
            done: false,
        })
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Bytes dropped after the last valid record (a torn tail); final once
    /// [`CaptureStream::next_record`] returned `None`.
    pub fn torn_bytes(&self) -> u64 {
        self.torn_bytes
    }

    /// Whether the writer closed the file (an `End` record was read).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// The next whole, valid record; `None` at the end or at a torn tail (whose bytes
    /// are then counted in [`CaptureStream::torn_bytes`]).
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        if self.done {
            return Ok(None);
        }
        self.buf.clear();
        self.buf.resize(4, 0);
        let got = read_up_to(&mut self.file, &mut self.buf)?;
        if got < 4 {
            self.finish(got as u64)?;
            return Ok(None);
        }
        let len = u32::from_le_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize;
        if len > MAX_RECORD {
            self.finish(4)?;
            return Ok(None);
        }
        self.buf.resize(4 + 1 + len + 4, 0);
        let got = read_up_to(&mut self.file, &mut self.buf[4..])?;
        if got < 1 + len + 4 {
            self.finish(4 + got as u64)?;
            return Ok(None);
        }
        match decode(&self.buf) {
            Decoded::Record(record, _) => {
                self.closed |= matches!(record, Record::End { .. });
                Ok(Some(record))
            }
            Decoded::End | Decoded::Torn => {
                self.finish(self.buf.len() as u64)?;
                Ok(None)
            }
        }
    }

    /// Ends the reading: `consumed` bytes of the torn tail were read already, the rest
    /// of the file is counted without keeping it.
    fn finish(&mut self, consumed: u64) -> io::Result<()> {
        self.done = true;
        let rest = io::copy(&mut self.file, &mut io::sink())?;
        self.torn_bytes = consumed + rest;
        Ok(())
    }
}

impl Iterator for CaptureStream {
    type Item = Record;

    /// Records until the end, a torn tail or a read error (which ends the stream like
    /// damage does: what was read stands).
    fn next(&mut self) -> Option<Record> {
        match self.next_record() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("capture read stopped: {e}");
                self.done = true;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::capture::format::Frame;
    use crate::capture::{Writer, read};

    fn header() -> Header {
        Header {
            call: "call-1".into(),
            role: "client".into(),
            kind: "audio".into(),
            codec: "opus".into(),
            fmtp: String::new(),
            clock_rate: 48_000,
            wallclock_us: 1_700_000_000_000_000,
            segment: 0,
            ssrc: 7,
        }
    }

    #[test]
    fn streaming_reads_what_the_whole_file_reader_reads_at_every_cut() {
        let t0 = Instant::now();
        let mut w = Writer::new(&header(), t0);
        for n in 0..6u64 {
            w.push(
                &Record::Frame(Frame {
                    arrival_us: n * 20_000,
                    rtp_ts: n * 960,
                    seq_first: n,
                    seq_last: n,
                    flags: 0,
                    payload: vec![n as u8; 40 + n as usize],
                }),
                t0,
            );
        }
        let file = w.take();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.vcrec");
        for cut in 0..=file.len() {
            std::fs::write(&path, &file[..cut]).unwrap();
            let whole = read(&file[..cut]);
            match CaptureStream::open(&path) {
                Ok(mut s) => {
                    let whole = whole.expect("both read the header");
                    let records: Vec<Record> = s.by_ref().collect();
                    assert_eq!(records, whole.records, "cut {cut}");
                    assert_eq!(s.torn_bytes(), whole.torn_bytes as u64, "cut {cut}");
                    assert_eq!(s.header(), &whole.header);
                }
                Err(OpenError::Format(e)) => assert_eq!(whole.unwrap_err(), e, "cut {cut}"),
                Err(OpenError::Io(e)) => panic!("{e}"),
            }
        }
    }
}
