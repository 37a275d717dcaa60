//! The merge after the call: one file with the client's audio in the left channel,
//! the agent's in the right (both decoded, placed by the server's clock, encoded as
//! stereo Opus), and the client's video copied without re-encoding — muxed by
//! libavformat (ffmpeg-next) into WebM.

pub mod audio;
pub mod mux;
pub mod video;

use std::path::Path;

use crate::capture::{self, Capture};

pub use mux::{MergeError, MergeReport, merge};

/// The capture files of one call, read and sorted by role and kind.
#[derive(Default)]
pub struct CallCaptures {
    /// The client's audio segments.
    pub client_audio: Vec<Capture>,
    /// The agent's audio segments.
    pub agent_audio: Vec<Capture>,
    /// The client's video segments.
    pub client_video: Vec<Capture>,
    /// Files that could not be read (not captures, or a header cut by a crash).
    pub unreadable: Vec<String>,
    /// Bytes of torn tails dropped.
    pub torn_bytes: usize,
}

impl CallCaptures {
    /// Reads every capture file in `dir`.
    pub fn read_dir(dir: &Path) -> std::io::Result<CallCaptures> {
        let mut out = CallCaptures::default();
        let mut paths: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == capture::files::EXTENSION)
            })
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path)?;
            match capture::read(&bytes) {
                Ok(c) => {
                    out.torn_bytes += c.torn_bytes;
                    match (c.header.role.as_str(), c.header.kind.as_str()) {
                        ("client", "audio") => out.client_audio.push(c),
                        ("agent", "audio") => out.agent_audio.push(c),
                        ("client", "video") => out.client_video.push(c),
                        _ => {} // the agent's video is not recorded
                    }
                }
                Err(e) => out.unreadable.push(format!("{}: {e}", path.display())),
            }
        }
        Ok(out)
    }

    /// The timeline's origin: the first media of the call (Unix µs).
    pub fn origin_us(&self) -> Option<i64> {
        self.client_audio
            .iter()
            .chain(&self.agent_audio)
            .chain(&self.client_video)
            .filter_map(|c| {
                c.records.iter().find_map(|r| match r {
                    capture::Record::Frame(f) => Some(c.header.wallclock_us + f.arrival_us as i64),
                    _ => None,
                })
            })
            .min()
    }
}
