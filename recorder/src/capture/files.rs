//! The capture driver: takes the SFU tap's batches on a thread of its own and appends
//! them to one capture file per track and join segment, syncing each batch to disk
//! (the tap hands batches over once a second, so a crash loses at most about a second).
//!
//! Files: `<root>/<room>/<participant>-<kind>-<session>-<mid>.vcrec`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use vchat_sfu::TrackKind;
use vchat_sfu::tap::{TapBatch, TapSink};

use super::format::{
    FLAG_CONTIGUOUS, FLAG_KEYFRAME, FLAG_MARKER, FLAG_TALKSPURT, Frame, Header, Record,
    SenderReport, encode, encode_frame, encode_header,
};
use super::keyframe::starts_keyframe;

/// File extension of capture files.
pub const EXTENSION: &str = "vcrec";

/// Counters of the driver.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CaptureStats {
    /// Files opened.
    pub files: u64,
    /// Frame records written.
    pub frames: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Write or sync failures (the batch is lost, the call goes on).
    pub errors: u64,
}

/// The running driver.
pub struct CaptureFiles {
    tx: mpsc::Sender<TapBatch>,
    stats: Arc<Mutex<CaptureStats>>,
    root: PathBuf,
}

/// A [`TapSink`] that hands batches to the driver's thread.
pub struct Sink(mpsc::Sender<TapBatch>);

impl TapSink for Sink {
    fn deliver(&mut self, batch: TapBatch) {
        let _ = self.0.send(batch);
    }
}

struct Open {
    file: File,
    /// The header's wall clock: arrival times count from it.
    origin_us: i64,
    last_seq: Option<u64>,
}

type Key = (String, String, u64, String);

impl CaptureFiles {
    /// Starts the driver writing under `root`; `role_of` names a participant's role
    /// (`client`, `agent`) for the headers.
    pub fn start(root: &Path, role_of: fn(&str) -> &'static str) -> std::io::Result<CaptureFiles> {
        std::fs::create_dir_all(root)?;
        let (tx, rx) = mpsc::channel::<TapBatch>();
        let stats = Arc::new(Mutex::new(CaptureStats::default()));
        let (thread_stats, thread_root) = (stats.clone(), root.to_path_buf());
        std::thread::Builder::new()
            .name("vchat-capture".into())
            .spawn(move || {
                let mut open: HashMap<Key, Open> = HashMap::new();
                while let Ok(batch) = rx.recv() {
                    let mut s = CaptureStats::default();
                    if let Err(e) = write_batch(&thread_root, &mut open, &batch, role_of, &mut s) {
                        tracing::error!(room = %batch.room, "capture write failed: {e}");
                        s.errors += 1;
                    }
                    let mut total = thread_stats.lock().unwrap_or_else(|p| p.into_inner());
                    total.files += s.files;
                    total.frames += s.frames;
                    total.bytes += s.bytes;
                    total.errors += s.errors;
                }
                // The SFU is gone: close what is open (they stay readable without End).
                drop(open);
            })?;
        Ok(CaptureFiles {
            tx,
            stats,
            root: root.to_path_buf(),
        })
    }

    /// A sink for one SFU worker.
    pub fn sink(&self) -> Sink {
        Sink(self.tx.clone())
    }

    /// The counters so far.
    pub fn stats(&self) -> CaptureStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The folder of a room's captures.
    pub fn room_dir(&self, room: &str) -> PathBuf {
        self.root.join(room)
    }
}

fn write_batch(
    root: &Path,
    open: &mut HashMap<Key, Open>,
    batch: &TapBatch,
    role_of: fn(&str) -> &'static str,
    stats: &mut CaptureStats,
) -> std::io::Result<()> {
    let kind = match batch.kind {
        TrackKind::Audio => "audio",
        TrackKind::Video => "video",
    };
    let key: Key = (
        batch.room.to_string(),
        batch.participant.to_string(),
        batch.session.0,
        batch.mid.clone(),
    );
    let mut buf = Vec::with_capacity(batch.data.len() + batch.packets.len() * 48 + 512);
    if !open.contains_key(&key) {
        if batch.packets.is_empty() {
            return Ok(()); // closed before anything came
        }
        let dir = root.join(batch.room.as_str());
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!(
            "{}-{kind}-{}-{}.{EXTENSION}",
            batch.participant, batch.session.0, batch.mid
        ));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let header = Header {
            call: batch.room.to_string(),
            role: role_of(batch.participant.as_str()).to_string(),
            kind: kind.into(),
            codec: batch.codec.clone(),
            fmtp: batch.fmtp.clone(),
            clock_rate: batch.clock_rate,
            wallclock_us: batch.packets[0].arrival_us,
            segment: u32::try_from(batch.session.0).unwrap_or(u32::MAX),
            ssrc: batch.ssrc,
        };
        encode_header(&mut buf, &header);
        stats.files += 1;
        open.insert(
            key.clone(),
            Open {
                file,
                origin_us: header.wallclock_us,
                last_seq: None,
            },
        );
    }
    let Some(state) = open.get_mut(&key) else {
        return Ok(());
    };
    let since = |us: i64| u64::try_from(us - state.origin_us).unwrap_or(0);
    for (i, p) in batch.packets.iter().enumerate() {
        let payload = batch.payload(i);
        let mut flags = 0;
        if state.last_seq.is_none_or(|s| p.seq == s + 1) {
            flags |= FLAG_CONTIGUOUS;
        }
        if p.marker {
            flags |= if batch.kind == TrackKind::Audio {
                FLAG_TALKSPURT
            } else {
                FLAG_MARKER
            };
        }
        if batch.kind == TrackKind::Video && starts_keyframe(&batch.codec, payload) {
            flags |= FLAG_KEYFRAME;
        }
        state.last_seq = Some(p.seq);
        // The payload goes from the tap's buffer into the record: no copy per packet.
        let frame = Frame {
            arrival_us: since(p.arrival_us),
            rtp_ts: p.rtp_ts,
            seq_first: p.seq,
            seq_last: p.seq,
            flags,
            payload: Vec::new(),
        };
        encode_frame(&mut buf, &frame, payload);
        stats.frames += 1;
    }
    for r in &batch.senders {
        encode(
            &mut buf,
            &Record::Sender(SenderReport {
                arrival_us: since(r.arrival_us),
                ntp: r.ntp,
                rtp_ts: r.rtp_ts,
            }),
        );
    }
    if batch.closed {
        let at = batch
            .packets
            .last()
            .map_or(state.origin_us, |p| p.arrival_us);
        encode(
            &mut buf,
            &Record::End {
                arrival_us: since(at),
            },
        );
    }
    state.file.write_all(&buf)?;
    state.file.sync_data()?;
    stats.bytes += buf.len() as u64;
    if batch.closed {
        open.remove(&key);
    }
    Ok(())
}
