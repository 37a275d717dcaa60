//! The S3-compatible store (aws-sdk-s3, without aws-config: endpoint, region, bucket
//! and credentials come from vchat's own configuration). Large files go up in
//! multipart uploads of 8 MiB parts.

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream as S3Bytes, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio_util::io::ReaderStream;

use super::{Object, Range, StoreError, StoreResult};

/// Part size of multipart uploads (S3's minimum is 5 MiB).
pub const PART_BYTES: u64 = 8 * 1024 * 1024;

/// How to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Endpoint URL (`https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:9000`).
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3 clones need.
    pub path_style: bool,
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// Prefix of every key in the bucket (`vchat/`), may be empty.
    pub prefix: String,
}

/// An S3 bucket.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

fn s3_error(e: impl std::error::Error) -> StoreError {
    // The SDK's Display is terse; the source chain says what happened.
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    StoreError::Io(text)
}

impl S3Store {
    /// A client of the bucket in `settings`.
    pub fn new(settings: &S3Settings) -> S3Store {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version_latest()
            .endpoint_url(&settings.endpoint)
            .region(Region::new(settings.region.clone()))
            .force_path_style(settings.path_style)
            .credentials_provider(Credentials::new(
                &settings.access_key,
                &settings.secret_key,
                None,
                None,
                "vchat-config",
            ))
            .build();
        S3Store {
            client: Client::from_conf(config),
            bucket: settings.bucket.clone(),
            prefix: settings.prefix.clone(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Creates the bucket if it is not there (tests, first start).
    pub async fn ensure_bucket(&self) -> StoreResult<()> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    pub(super) async fn put_bytes(
        &self,
        key: &str,
        data: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<u64> {
        let size = data.len() as u64;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .content_type(content_type)
            .body(S3Bytes::from(data))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(size)
    }

    pub(super) async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> StoreResult<u64> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| StoreError::Io(e.to_string()))?
            .len();
        let key = self.key(key);
        if size <= PART_BYTES {
            let body = S3Bytes::from_path(path).await.map_err(s3_error)?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type(content_type)
                .body(body)
                .send()
                .await
                .map_err(s3_error)?;
            return Ok(size);
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .send()
            .await
            .map_err(s3_error)?;
        let upload_id = upload
            .upload_id()
            .ok_or_else(|| StoreError::Io("no upload id".into()))?
            .to_string();
        let result = self.upload_parts(&key, &upload_id, path, size).await;
        match result {
            Ok(parts) => {
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(s3_error)?;
                Ok(size)
            }
            Err(e) => {
                // Leave no orphaned parts behind (they cost money).
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(e)
            }
        }
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        path: &Path,
        size: u64,
    ) -> StoreResult<Vec<CompletedPart>> {
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let length = PART_BYTES.min(size - offset);
            let body = S3Bytes::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(length))
                .build()
                .await
                .map_err(s3_error)?;
            let part = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(s3_error)?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_string))
                    .build(),
            );
            offset += length;
            number += 1;
        }
        Ok(parts)
    }

    pub(super) async fn size(&self, key: &str) -> StoreResult<Option<u64>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .send()
            .await
        {
            Ok(h) => Ok(Some(
                u64::try_from(h.content_length().unwrap_or(0)).unwrap_or(0),
            )),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(s3_error(e)),
        }
    }

    pub(super) async fn open(&self, key: &str, range: Option<Range>) -> StoreResult<Object> {
        let size = self
            .size(key)
            .await?
            .ok_or_else(|| StoreError::NotFound(key.into()))?;
        let (start, end) = match range {
            None if size == 0 => (0, 0),
            None => (0, size - 1),
            Some(r) => r.bounds(size).ok_or(StoreError::Range { size })?,
        };
        let mut request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(key));
        if size > 0 {
            request = request.range(format!("bytes={start}-{end}"));
        }
        let object = request.send().await.map_err(s3_error)?;
        Ok(Object {
            size,
            start,
            end,
            body: Box::pin(ReaderStream::new(object.body.into_async_read())),
        })
    }

    pub(super) async fn delete(&self, key: &str) -> StoreResult<bool> {
        let existed = self.size(key).await?.is_some();
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(existed)
    }

    pub(super) async fn presigned_url(
        &self,
        key: &str,
        ttl: Duration,
        filename: &str,
    ) -> StoreResult<String> {
        let config = PresigningConfig::expires_in(ttl).map_err(s3_error)?;
        let disposition = format!(
            "attachment; filename=\"{}\"",
            filename.replace(
                |c: char| !c.is_ascii_alphanumeric() && !"._-".contains(c),
                "_"
            )
        );
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .response_content_disposition(disposition)
            .presigned(config)
            .await
            .map_err(s3_error)?;
        Ok(request.uri().to_string())
    }
}
