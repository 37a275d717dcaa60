//! The local folder store.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{Object, Range, StoreError, StoreResult};

/// Objects as files under a root folder.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Syncs `partial`, renames it to `target` and syncs their folder `dir`.
async fn commit(dir: &Path, partial: &Path, target: &Path) -> StoreResult<()> {
    tokio::fs::File::open(partial)
        .await
        .map_err(io)?
        .sync_all()
        .await
        .map_err(io)?;
    tokio::fs::rename(partial, target).await.map_err(io)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl LocalStore {
    /// A store in `root` (created if missing).
    pub fn new(root: &Path) -> StoreResult<LocalStore> {
        std::fs::create_dir_all(root).map_err(io)?;
        Ok(LocalStore {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// The folder of `key`'s file (made if missing) and the partial file beside it.
    async fn partial(&self, key: &str) -> StoreResult<(PathBuf, PathBuf, PathBuf)> {
        let target = self.path(key);
        let dir = target
            .parent()
            .expect("keys have a file name")
            .to_path_buf();
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        let partial = dir.join(format!(
            ".{}.partial",
            target
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("object")
        ));
        Ok((dir, partial, target))
    }

    pub(super) async fn put_bytes(&self, key: &str, data: &[u8]) -> StoreResult<u64> {
        let (dir, partial, target) = self.partial(key).await?;
        tokio::fs::write(&partial, data).await.map_err(io)?;
        commit(&dir, &partial, &target).await?;
        Ok(data.len() as u64)
    }

    pub(super) async fn put_file(&self, key: &str, source: &Path) -> StoreResult<u64> {
        // Copy beside the target, sync, then rename: readers never see half a file.
        let (dir, partial, target) = self.partial(key).await?;
        let size = tokio::fs::copy(source, &partial).await.map_err(io)?;
        commit(&dir, &partial, &target).await?;
        Ok(size)
    }

    pub(super) async fn size(&self, key: &str) -> StoreResult<Option<u64>> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    pub(super) async fn open(&self, key: &str, range: Option<Range>) -> StoreResult<Object> {
        let mut file = match tokio::fs::File::open(self.path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(key.into()));
            }
            Err(e) => return Err(io(e)),
        };
        let size = file.metadata().await.map_err(io)?.len();
        let (start, end) = match range {
            None if size == 0 => (0, 0),
            None => (0, size - 1),
            Some(r) => r.bounds(size).ok_or(StoreError::Range { size })?,
        };
        file.seek(SeekFrom::Start(start)).await.map_err(io)?;
        let len = if size == 0 { 0 } else { end - start + 1 };
        Ok(Object {
            size,
            start,
            end,
            body: Box::pin(ReaderStream::new(file.take(len))),
        })
    }

    pub(super) async fn delete(&self, key: &str) -> StoreResult<bool> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(e)),
        }
    }
}
