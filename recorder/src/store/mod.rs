//! Where finished recordings (and later chat files) are kept: a folder of the data
//! directory by default, an S3-compatible bucket for shared deployments. One
//! interface, one test suite ([`suite`]) that both pass.
//!
//! Keys are made by the server (`recordings/<tenant>/<id>.webm`); a key with anything
//! but `A-Z a-z 0-9 / _ . -`, a `..` part, or a leading `/` is refused by both stores,
//! so no key reaches outside the store.

pub mod local;
pub mod s3;
pub mod suite;

use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;

pub use local::LocalStore;
pub use s3::{S3Settings, S3Store};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key is not one the server makes.
    #[error("invalid storage key {0:?}")]
    BadKey(String),
    /// No object under the key.
    #[error("no stored object {0}")]
    NotFound(String),
    /// The range asked for is outside the object.
    #[error("range not satisfiable (object is {size} bytes)")]
    Range {
        /// The object's size.
        size: u64,
    },
    /// Disk or network.
    #[error("storage: {0}")]
    Io(String),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Bytes of an object, as they come.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<bytes::Bytes>> + Send>>;

/// An object being read.
pub struct Object {
    /// The whole object's size.
    pub size: u64,
    /// First byte sent.
    pub start: u64,
    /// Last byte sent (inclusive).
    pub end: u64,
    /// The bytes `start..=end`.
    pub body: ByteStream,
}

/// A byte range: `start..=end`, or from `start` to the end, or the last `n` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// `bytes=a-b` or `bytes=a-`.
    From {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: Option<u64>,
    },
    /// `bytes=-n`.
    Last(u64),
}

impl Range {
    /// The inclusive bounds within an object of `size` bytes, or `None` when none of it
    /// is inside.
    pub fn bounds(self, size: u64) -> Option<(u64, u64)> {
        if size == 0 {
            return None;
        }
        match self {
            Range::From { start, end } if start < size => {
                Some((start, end.map_or(size - 1, |e| e.min(size - 1)))).filter(|(s, e)| s <= e)
            }
            Range::Last(n) if n > 0 => Some((size.saturating_sub(n), size - 1)),
            _ => None,
        }
    }

    /// Parses an HTTP `Range` header with one range (`bytes=0-99`, `bytes=100-`,
    /// `bytes=-500`); several ranges are not supported (`None`: send it all).
    pub fn parse(header: &str) -> Option<Range> {
        let spec = header.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            return Some(Range::Last(b.parse().ok()?));
        }
        let start = a.parse().ok()?;
        let end = if b.is_empty() {
            None
        } else {
            Some(b.parse().ok()?)
        };
        if end.is_some_and(|e| e < start) {
            return None;
        }
        Some(Range::From { start, end })
    }
}

/// Refuses keys the server would not make.
pub fn check_key(key: &str) -> StoreResult<()> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('/')
        && !key.ends_with('/')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b))
        && key
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadKey(key.chars().take(100).collect()))
    }
}

/// The store recordings go to.
#[derive(Clone)]
pub enum FileStore {
    /// A local folder.
    Local(LocalStore),
    /// An S3-compatible bucket.
    S3(S3Store),
}

impl FileStore {
    /// Stores the file at `path` under `key` (replacing what was there).
    pub async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> StoreResult<u64> {
        check_key(key)?;
        match self {
            FileStore::Local(s) => s.put_file(key, path).await,
            FileStore::S3(s) => s.put_file(key, path, content_type).await,
        }
    }

    /// Stores `data` under `key` (replacing what was there): small objects made in
    /// memory, as a device's log lines.
    pub async fn put_bytes(
        &self,
        key: &str,
        data: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<u64> {
        check_key(key)?;
        match self {
            FileStore::Local(s) => s.put_bytes(key, &data).await,
            FileStore::S3(s) => s.put_bytes(key, data, content_type).await,
        }
    }

    /// The object's size, if it exists.
    pub async fn size(&self, key: &str) -> StoreResult<Option<u64>> {
        check_key(key)?;
        match self {
            FileStore::Local(s) => s.size(key).await,
            FileStore::S3(s) => s.size(key).await,
        }
    }

    /// Reads the object, or a range of it.
    pub async fn open(&self, key: &str, range: Option<Range>) -> StoreResult<Object> {
        check_key(key)?;
        match self {
            FileStore::Local(s) => s.open(key, range).await,
            FileStore::S3(s) => s.open(key, range).await,
        }
    }

    /// Removes the object; whether it existed.
    pub async fn delete(&self, key: &str) -> StoreResult<bool> {
        check_key(key)?;
        match self {
            FileStore::Local(s) => s.delete(key).await,
            FileStore::S3(s) => s.delete(key).await,
        }
    }

    /// A URL that downloads the object for `ttl` without credentials (S3 only; the
    /// local store serves downloads itself).
    pub async fn presigned_url(
        &self,
        key: &str,
        ttl: Duration,
        filename: &str,
    ) -> StoreResult<Option<String>> {
        check_key(key)?;
        match self {
            FileStore::Local(_) => Ok(None),
            FileStore::S3(s) => s.presigned_url(key, ttl, filename).await.map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_store() {
        for good in ["recordings/t1/01ABC.webm", "a", "a/b_c-d.e"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "C:\\x",
            "a\0b",
            "%2e%2e/x",
            "a b",
            &"x".repeat(513),
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges_parse_and_clip() {
        assert_eq!(
            Range::parse("bytes=0-99"),
            Some(Range::From {
                start: 0,
                end: Some(99)
            })
        );
        assert_eq!(
            Range::parse("bytes=100-"),
            Some(Range::From {
                start: 100,
                end: None
            })
        );
        assert_eq!(Range::parse("bytes=-500"), Some(Range::Last(500)));
        for bad in [
            "bytes=5-1",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=-",
        ] {
            assert_eq!(Range::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Range::From {
                start: 10,
                end: Some(5000)
            }
            .bounds(100),
            Some((10, 99))
        );
        assert_eq!(
            Range::From {
                start: 100,
                end: None
            }
            .bounds(100),
            None
        );
        assert_eq!(Range::Last(500).bounds(100), Some((0, 99)));
        assert_eq!(Range::Last(0).bounds(100), None);
    }
}
