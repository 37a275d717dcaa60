//! Why a domain operation did not happen, apart from any transport: the HTTP layer maps
//! each case to a status in one place (`http::error`), the WebSocket layers to close
//! codes, the CLI to a message.

use std::borrow::Cow;

use crate::model::Role;
use crate::store::StoreError;

/// A refused or failed operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// No credentials, or credentials nobody holds.
    #[error("log in, or send Authorization: Bearer <API token>")]
    Unauthorized,
    /// A login with the wrong login or password.
    #[error("wrong login or password")]
    BadCredentials,
    /// Too many login attempts from one address.
    #[error("too many login attempts; try again in {retry_after_secs} s")]
    TooManyAttempts {
        /// Seconds until the next attempt may be made.
        retry_after_secs: u64,
    },
    /// No such thing — also what callers get for things of tenants they cannot see,
    /// so ids do not leak existence.
    #[error("no such {0}")]
    NotFound(Cow<'static, str>),
    /// The request is wrong; the message says how (field path first).
    #[error("{0}")]
    Invalid(String),
    /// The caller lacks the role.
    #[error("this needs the {} role", .0.as_str())]
    NeedsRole(Role),
    /// The caller may not do this (not a question of role).
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// Not possible in the current state.
    #[error("{0}")]
    Conflict(String),
    /// A link that expired, whose call is over, or that another device opened.
    #[error("the link expired, the call is over, or it was opened on another device")]
    LinkGone,
    /// The server is stopping and takes no new work.
    #[error("the server is shutting down")]
    Draining,
    /// A file over the size limit.
    #[error("files are at most {0} bytes")]
    TooLarge(u64),
    /// A request body that stopped arriving.
    #[error("the upload stalled")]
    Stalled,
    /// The server could not write or read a file of its own.
    #[error("cannot {0}")]
    Files(&'static str),
    /// A byte range outside the file.
    #[error("the range is outside the file")]
    Range {
        /// The file's size.
        size: u64,
    },
    /// The recordings' file store failed.
    #[error("the recording store is unavailable")]
    RecordingStore,
    /// The records' store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> DomainError {
        match e {
            StoreError::Duplicate { what, .. } => {
                DomainError::Conflict(format!("the {what} is taken"))
            }
            e => DomainError::Store(e),
        }
    }
}

impl DomainError {
    /// `NotFound` of a static name.
    pub fn not_found(what: &'static str) -> DomainError {
        DomainError::NotFound(Cow::Borrowed(what))
    }

    /// `Invalid` with a message.
    pub fn invalid(message: impl Into<String>) -> DomainError {
        DomainError::Invalid(message.into())
    }

    /// `Conflict` with a message.
    pub fn conflict(message: impl Into<String>) -> DomainError {
        DomainError::Conflict(message.into())
    }
}

/// Results of domain operations.
pub type DomainResult<T> = Result<T, DomainError>;
