//! Interactions, their links and CDRs, chat files, recordings.

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::{ConfigError, Secret};

/// Interactions and their client links.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InteractionsConfig {
    /// Seconds a client link opens after the interaction's time.
    pub link_ttl_secs: u64,
    /// Characters of a link code (at least 8).
    pub link_code_length: usize,
    /// Milliseconds the call store waits after a call ends before writing its CDR
    /// (the participants' leaves arrive meanwhile).
    pub cdr_grace_ms: u64,
    /// Seconds without RTP from a connected party before `media.inactive` is
    /// published (0: never).
    pub media_inactive_secs: u64,
    /// Seconds a connected call goes on with nobody in its room before it ends by
    /// itself ("everybody left"); a rejoin within them carries on (0: never).
    pub empty_end_secs: u64,
    /// Seconds an intercom's ring rings the agents before it ends ("no answer").
    pub intercom_ring_secs: u64,
    /// libopus's complexity (0–10) for L16 intercoms transcoded to the room's Opus.
    /// 7 by default: chosen by wideband PESQ (P.862.2) of 16 kHz speech
    /// (benches/RESULTS.md), the cheapest within 0.05 of the best.
    pub intercom_opus_complexity: u8,
    /// Whether intercom calls are recorded (the panel left, the answerer right).
    pub intercom_recording: bool,
    /// Seconds between uploads of the intercoms' new log lines to the recordings'
    /// store (S3 or the local folder); 0: never (they stay in memory, the newest 500
    /// per device).
    pub intercom_log_upload_secs: u64,
}

impl Default for InteractionsConfig {
    fn default() -> Self {
        InteractionsConfig {
            link_ttl_secs: 24 * 3600,
            link_code_length: 10,
            cdr_grace_ms: 2000,
            media_inactive_secs: 10,
            empty_end_secs: 30,
            intercom_ring_secs: 60,
            intercom_opus_complexity: 7,
            intercom_recording: true,
            intercom_log_upload_secs: 0,
        }
    }
}

impl InteractionsConfig {
    pub(super) fn check(&self, c: &Check<'_>) -> Result<(), ConfigError> {
        if self.intercom_opus_complexity > 10 {
            return Err(c.fail(
                "interactions.intercom_opus_complexity",
                "libopus's complexity is 0 to 10",
            ));
        }
        if self.intercom_log_upload_secs > 86_400 {
            return Err(c.fail(
                "interactions.intercom_log_upload_secs",
                "logs are uploaded at least once a day (0: never)",
            ));
        }
        if !(5..=600).contains(&self.intercom_ring_secs) {
            return Err(c.fail(
                "interactions.intercom_ring_secs",
                "a ring rings 5 to 600 seconds",
            ));
        }
        if !(8..=32).contains(&self.link_code_length) {
            return Err(c.fail(
                "interactions.link_code_length",
                "link codes are 8 to 32 characters",
            ));
        }
        Ok(())
    }
}

/// Chat files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Largest file accepted, in bytes; larger uploads get 413.
    pub max_bytes: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Where merged recordings are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingStore {
    /// `<data_dir>/recordings/files`.
    Local,
    /// An S3-compatible bucket (`recordings.s3_*`).
    S3,
}

/// Call recordings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingsConfig {
    /// `local` or `s3`.
    pub store: RecordingStore,
    /// S3 endpoint URL.
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: String,
    /// S3 bucket.
    pub s3_bucket: String,
    /// Path-style addressing (most S3-compatible servers need it).
    pub s3_path_style: bool,
    /// S3 access key id.
    pub s3_access_key: Option<String>,
    /// S3 secret key.
    pub s3_secret_key: Option<Secret>,
    /// Prefix of keys in the bucket.
    pub s3_prefix: String,
    /// Seconds a presigned download URL (S3) stays valid.
    pub presign_secs: u64,
    /// Milliseconds after a call ends before its merge starts (the last captured
    /// second reaches the disk meanwhile).
    pub merge_grace_ms: u64,
    /// Hours a call's capture files stay after its recording is ready (to merge again
    /// by hand); 0 deletes them as soon as the file is stored. Captures of failed
    /// recordings stay until someone looks.
    pub capture_retention_hours: u64,
}

impl Default for RecordingsConfig {
    fn default() -> Self {
        RecordingsConfig {
            store: RecordingStore::Local,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_bucket: "vchat-recordings".into(),
            s3_path_style: true,
            s3_access_key: None,
            s3_secret_key: None,
            s3_prefix: String::new(),
            presign_secs: 300,
            merge_grace_ms: 1500,
            capture_retention_hours: 24,
        }
    }
}
