//! Errors of the SFU crate.

use std::io;
use std::net::SocketAddr;

/// What can go wrong when starting or talking to the SFU.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SfuError {
    /// An id with characters outside `A-Z a-z 0-9 _ -`, empty or too long.
    #[error("bad {what} id {id:?}: use 1 to 64 characters of A-Z a-z 0-9 _ -")]
    BadId {
        /// Which kind of id.
        what: &'static str,
        /// The id, cut to 80 characters.
        id: String,
    },
    /// A media socket could not be opened.
    #[error("cannot bind the media UDP socket {addr}: {source}")]
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// Why the OS refused.
        source: io::Error,
    },
    /// A worker thread could not be started.
    #[error("cannot start SFU worker thread: {0}")]
    Thread(io::Error),
    /// The configuration does not make sense.
    #[error("invalid SFU configuration: {0}")]
    Config(String),
    /// The SFU is shutting down (or has stopped) and takes no more commands.
    #[error("the SFU is shutting down")]
    ShuttingDown,
}
