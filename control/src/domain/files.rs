//! Chat files: uploads stream to a temporary file (never held whole in memory) while
//! their size is counted and their SHA-256 computed; past `files.max_bytes` the upload
//! stops and the partial file is removed, whether or not a length was announced. The
//! storage key is the server-made id; the uploader's name is metadata only, so no name
//! can reach outside the store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use utoipa::IntoParams;

use crate::domain::chat::{Chat, Participant, open};
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::fields::Text;
use crate::domain::{DomainError, DomainResult, service};
use crate::model::FileMeta;
use crate::store::Batch;
use crate::store::ids::{is_id, new_id, now_ms};

/// A body chunk must arrive within this, or the upload is dropped (slow-loris).
const CHUNK_TIMEOUT: Duration = Duration::from_secs(30);

service!(
    /// Files in the chat.
    Files
);

/// `?name=<file name>` of an upload.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's name, as the user's device called it.
    #[param(inline)]
    pub name: Text<255>,
}

/// An upload as it arrives.
pub struct Upload<S> {
    /// The declared length, if any.
    pub declared: Option<u64>,
    /// The declared content type, if it is a plain one.
    pub content_type: Option<String>,
    /// The bytes.
    pub body: S,
}

/// A stored file ready to send.
pub struct Download {
    /// Its metadata.
    pub meta: FileMeta,
    /// The open file.
    pub file: tokio::fs::File,
}

impl Files {
    fn folder(&self) -> PathBuf {
        self.0.data_dir.join("files")
    }

    /// A new file id and the place its bytes are written before they land.
    async fn partial(&self) -> DomainResult<(String, PathBuf)> {
        let partial_dir = self.folder().join(".partial");
        tokio::fs::create_dir_all(&partial_dir)
            .await
            .map_err(|e| io_error("create the files folder", &e))?;
        let file_id = new_id();
        let partial = partial_dir.join(&file_id);
        Ok((file_id, partial))
    }

    /// Moves a written file to its place under its id, durably (the folder synced).
    async fn land(&self, partial: &Path, file_id: &str) -> DomainResult<PathBuf> {
        let dir = self.folder();
        let final_path = dir.join(file_id);
        tokio::fs::rename(partial, &final_path)
            .await
            .map_err(|e| io_error("store the file", &e))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(final_path)
    }

    /// The largest file accepted.
    pub fn max_bytes(&self) -> u64 {
        self.0.config.files.max_bytes
    }

    /// Stores an upload into interaction `id`'s chat: the file, its record, its event
    /// and its chat message land together or not at all.
    pub async fn upload<S, E>(
        &self,
        who: &Participant,
        id: &str,
        name: Text<255>,
        upload: Upload<S>,
    ) -> DomainResult<FileMeta>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let chat = Chat::from(self.0.clone());
        let (interaction, author) = chat.in_call(who, id).await?;
        open(&interaction)?;
        let max = self.max_bytes();
        if upload.declared.is_some_and(|n| n > max) {
            return Err(DomainError::TooLarge(max));
        }
        let content_type = upload
            .content_type
            .filter(|v| v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
            .unwrap_or_else(|| "application/octet-stream".to_string());
        let (file_id, partial) = self.partial().await?;
        let (size, sha256) = match receive(upload.body, &partial, max).await {
            Ok(v) => v,
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(e);
            }
        };
        if size == 0 {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(DomainError::invalid(
                "the file is empty: send its bytes as the body",
            ));
        }
        let final_path = self.land(&partial, &file_id).await?;
        let meta = FileMeta {
            id: file_id.clone(),
            tenant: interaction.tenant.clone(),
            interaction: interaction.id.clone(),
            name: name.as_str().to_string(),
            content_type,
            size,
            sha256,
            uploaded_by: author.id.clone(),
            at: now_ms(),
        };
        let mut batch = Batch::new();
        batch.insert(&meta);
        let uploaded = NewEvent::about(
            &interaction.tenant,
            &interaction.id,
            &author.id,
            EventKind::FileUploaded {
                file: file_id.clone(),
                size,
            },
        );
        if let Err(e) = chat
            .post(
                &interaction,
                &author,
                // The file's name is the message's text: the chat's history shows it.
                name.into_string(),
                Some(file_id),
                batch,
                vec![uploaded],
            )
            .await
        {
            let _ = tokio::fs::remove_file(&final_path).await;
            return Err(e);
        }
        Ok(meta)
    }

    /// Writes bytes made on the server (a screenshot, a map picture) as a file of
    /// interaction `i`: the file lands on disk, its record is for the caller to
    /// commit (with its events); on failure the caller removes the returned path.
    pub(crate) async fn store_bytes(
        &self,
        i: &crate::model::Interaction,
        by: &str,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> DomainResult<(FileMeta, PathBuf)> {
        let (file_id, partial) = self.partial().await?;
        let written = async {
            let mut f = tokio::fs::File::create(&partial).await?;
            f.write_all(bytes).await?;
            f.sync_all().await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(io_error("write the file", &e));
        }
        let final_path = self.land(&partial, &file_id).await?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        let meta = FileMeta {
            id: file_id,
            tenant: i.tenant.clone(),
            interaction: i.id.clone(),
            name: name.to_string(),
            content_type: content_type.to_string(),
            size: bytes.len() as u64,
            sha256: crate::store::ids::hex(digest.as_ref()),
            uploaded_by: by.to_string(),
            at: now_ms(),
        };
        Ok((meta, final_path))
    }

    /// A stored file, for someone in its call.
    pub async fn download(&self, who: &Participant, id: &str) -> DomainResult<Download> {
        if !is_id(id) {
            return Err(DomainError::not_found("file"));
        }
        let meta = self
            .0
            .store
            .get::<FileMeta>(id)
            .await?
            .ok_or_else(|| DomainError::not_found("file"))?;
        Chat::from(self.0.clone())
            .in_call(who, &meta.interaction)
            .await?;
        let file = tokio::fs::File::open(self.folder().join(&meta.id))
            .await
            .map_err(|_| DomainError::not_found("file"))?;
        Ok(Download { meta, file })
    }
}

async fn receive<S, E>(mut body: S, path: &Path, max: u64) -> DomainResult<(u64, String)>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| io_error("create the file", &e))?;
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut size: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(CHUNK_TIMEOUT, body.next()).await {
            Err(_) => return Err(DomainError::Stalled),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(DomainError::invalid(format!("the upload broke off: {e}")));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        size += chunk.len() as u64;
        if size > max {
            return Err(DomainError::TooLarge(max));
        }
        hash.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error("write the file", &e))?;
    }
    file.sync_all()
        .await
        .map_err(|e| io_error("write the file", &e))?;
    let digest = hash.finish();
    Ok((size, crate::store::ids::hex(digest.as_ref())))
}

fn io_error(what: &'static str, e: &std::io::Error) -> DomainError {
    tracing::error!("cannot {what}: {e}");
    DomainError::Files(what)
}
