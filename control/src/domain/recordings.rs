//! Recordings as the control plane runs them: started when a recorded call connects,
//! merged when it ends (and, after a crash, when the server starts again), stored in
//! the file store, and described by a [`Recording`] record whose state goes
//! `recording → merging → ready` (or `failed` with a reason).

use std::path::PathBuf;
use std::time::Duration;

use vchat_recorder::merge::{AudioMode, CallCaptures, merge};
use vchat_recorder::store::{FileStore, LocalStore, Range, S3Settings, S3Store};

use crate::config::{Config, RecordingStore};
use crate::domain::auth::Caller;
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::{DomainError, DomainResult, service};
use crate::model::{Interaction, Recording, RecordingState};
use crate::store::ids::now_ms;
use crate::store::{Filter, StoreError, StoreResult, Value};

service!(
    /// Call recordings: their records, merges and files.
    Recordings
);

/// The file store of `config`.
pub fn file_store(config: &Config, data_dir: &std::path::Path) -> anyhow::Result<FileStore> {
    let r = &config.recordings;
    Ok(match r.store {
        RecordingStore::Local => {
            FileStore::Local(LocalStore::new(&data_dir.join("recordings").join("files"))?)
        }
        RecordingStore::S3 => {
            let (Some(endpoint), Some(access), Some(secret)) =
                (&r.s3_endpoint, &r.s3_access_key, &r.s3_secret_key)
            else {
                anyhow::bail!(
                    "recordings.store = \"s3\" needs recordings.s3_endpoint, s3_access_key and s3_secret_key"
                );
            };
            FileStore::S3(S3Store::new(&S3Settings {
                endpoint: endpoint.clone(),
                region: r.s3_region.clone(),
                bucket: r.s3_bucket.clone(),
                path_style: r.s3_path_style,
                access_key: access.clone(),
                secret_key: secret.expose().to_string(),
                prefix: r.s3_prefix.clone(),
            }))
        }
    })
}

/// The capture folder of a call.
pub fn capture_dir(data_dir: &std::path::Path, room: &str) -> PathBuf {
    data_dir.join("recordings").join("capture").join(room)
}

/// Whether a recording's capture files have outlived `retention_hours` at `now_ms`:
/// only once its file is stored (ready); failed ones keep theirs.
pub fn captures_expired(r: &Recording, now_ms: i64, retention_hours: u64) -> bool {
    let retention_ms = i64::try_from(retention_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    r.state == RecordingState::Ready
        && r.ready_at
            .is_some_and(|at| now_ms.saturating_sub(at) >= retention_ms)
}

/// A recording's file, ready to send: a presigned URL of an S3 store, or the bytes.
pub enum RecordingFile {
    /// Go there (S3; short-lived).
    Elsewhere(String),
    /// These bytes.
    Here {
        /// The download's file name (`call-<id>.<webm|mp4>`).
        filename: String,
        /// Its content type.
        content_type: String,
        /// The range asked for, if any.
        partial: bool,
        /// The bytes and where they sit in the file.
        object: vchat_recorder::store::Object,
    },
}

/// Merges in progress in this process: a restart's sweep and a call's end may both ask.
static IN_FLIGHT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

impl Recordings {
    async fn visible(&self, caller: &Caller, id: &str) -> DomainResult<Recording> {
        match self.0.store.get::<Recording>(id).await? {
            Some(r) if caller.sees_call(&r.tenant, &r.agent) => Ok(r),
            _ => Err(DomainError::not_found("recording")),
        }
    }

    /// The recording of interaction `id` (its id is the interaction's).
    pub async fn of_interaction(&self, caller: &Caller, id: &str) -> DomainResult<Recording> {
        self.visible(caller, id).await
    }

    /// The file of recording `id`, or the part of it `range` names.
    pub async fn file(
        &self,
        caller: &Caller,
        id: &str,
        range: Option<Range>,
    ) -> DomainResult<RecordingFile> {
        let r = self.visible(caller, id).await?;
        let (RecordingState::Ready, Some(key)) = (r.state, r.key.as_deref()) else {
            return Err(DomainError::conflict(format!(
                "the recording is {}",
                serde_json::to_value(r.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            )));
        };
        // The key's extension is the container's (webm, mp4).
        let extension = key.rsplit_once('.').map_or("webm", |(_, e)| e);
        let filename = format!("call-{}.{extension}", r.interaction);
        let ttl = Duration::from_secs(self.0.config.recordings.presign_secs);
        if let Some(url) = self
            .0
            .recordings
            .presigned_url(key, ttl, &filename)
            .await
            .map_err(store_error)?
        {
            return Ok(RecordingFile::Elsewhere(url));
        }
        let object = match self.0.recordings.open(key, range).await {
            Ok(o) => o,
            Err(vchat_recorder::store::StoreError::Range { size }) => {
                return Err(DomainError::Range { size });
            }
            Err(e) => return Err(store_error(e)),
        };
        Ok(RecordingFile::Here {
            filename,
            content_type: r.content_type.unwrap_or_else(|| "video/webm".into()),
            partial: range.is_some(),
            object,
        })
    }

    /// Notes that the call's recording started (once per call).
    pub async fn started(&self, i: &Interaction) {
        let recording = Recording::started(&i.id, &i.tenant, &i.agent, now_ms());
        match self.0.store.insert(&recording).await {
            Ok(()) => {
                let _ = self
                    .0
                    .events
                    .publish(NewEvent::about(
                        &i.tenant,
                        &i.id,
                        "system",
                        EventKind::RecordingStarted {
                            recording: i.id.clone(),
                        },
                    ))
                    .await;
            }
            Err(StoreError::Duplicate { .. }) => {} // a rejoin: the recording goes on
            Err(e) => {
                tracing::error!(interaction = %i.id, "cannot record the recording's start: {e}")
            }
        }
    }

    /// The call ended: merge its recording (after the grace period), if it has one.
    pub fn call_ended(&self, interaction: String) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(
                this.0.config.recordings.merge_grace_ms,
            ))
            .await;
            if let Err(e) = this.finish(&interaction).await {
                tracing::error!(%interaction, "recording: {e}");
            }
        });
    }

    /// Deletes the capture files of recordings past their retention; how many calls'.
    pub async fn sweep_captures(&self) -> StoreResult<usize> {
        let root = self.0.data_dir.join("recordings").join("capture");
        let Ok(entries) = std::fs::read_dir(&root) else {
            return Ok(0);
        };
        let hours = self.0.config.recordings.capture_retention_hours;
        let mut removed = 0;
        for entry in entries.flatten() {
            // A call's captures are in a folder named after its room, which is its id.
            let room = entry.file_name().to_string_lossy().into_owned();
            let Some(r) = self.0.store.get::<Recording>(&room).await? else {
                continue; // a bare room (no interaction), or not ours: left alone
            };
            if captures_expired(&r, now_ms(), hours) {
                match tokio::fs::remove_dir_all(entry.path()).await {
                    Ok(()) => removed += 1,
                    Err(e) => tracing::warn!(recording = %r.id, "cannot delete the captures: {e}"),
                }
            }
        }
        if removed > 0 {
            tracing::info!(
                calls = removed,
                "capture files past their retention deleted"
            );
        }
        Ok(removed)
    }

    /// Sweeps capture files now and then every hour.
    pub fn sweep_captures_hourly(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                if let Err(e) = this.sweep_captures().await {
                    tracing::warn!("capture sweep: {e}");
                }
            }
        });
    }

    /// Merges every recording a crash (or a stop) left unmerged whose call is over.
    pub async fn resume_unmerged(&self) -> StoreResult<()> {
        let open = self
            .0
            .store
            .find::<Recording>(
                &Filter::all()
                    .one_of(
                        Recording::STATE,
                        [Value::from("recording"), Value::from("merging")],
                    )
                    .page(0, 10_000),
            )
            .await?;
        for r in open {
            let over = self
                .0
                .store
                .get::<Interaction>(&r.interaction)
                .await?
                .is_none_or(|i| i.state.is_final());
            if over {
                let this = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = this.finish(&r.id).await {
                        tracing::error!(recording = %r.id, "recording: {e}");
                    }
                });
            }
        }
        Ok(())
    }

    async fn set_state(
        &self,
        id: &str,
        state: RecordingState,
        change: impl FnOnce(&mut Recording) + Send + 'static,
    ) -> StoreResult<Option<Recording>> {
        let mut change = Some(change);
        let r = self
            .0
            .store
            .update::<Recording, _, (), _>(id, move |r| {
                r.state = state;
                if let Some(c) = change.take() {
                    c(r);
                }
                Ok(r.clone())
            })
            .await?;
        Ok(r.and_then(Result::ok))
    }

    async fn finish(&self, id: &str) -> StoreResult<()> {
        {
            let mut running = IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner());
            if running.iter().any(|r| r == id) {
                return Ok(());
            }
            running.push(id.to_string());
        }
        let result = self.finish_once(id).await;
        IN_FLIGHT
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|r| r != id);
        result
    }

    async fn finish_once(&self, id: &str) -> StoreResult<()> {
        let Some(recording) = self.0.store.get::<Recording>(id).await? else {
            return Ok(());
        };
        if matches!(
            recording.state,
            RecordingState::Ready | RecordingState::Failed
        ) {
            return Ok(());
        }
        let Some(interaction) = self
            .0
            .store
            .get::<Interaction>(&recording.interaction)
            .await?
        else {
            return Ok(());
        };
        self.set_state(id, RecordingState::Merging, |_| {}).await?;
        let dir = capture_dir(&self.0.data_dir, &interaction.room);
        let tmp_dir = self.0.data_dir.join("recordings").join("tmp");
        let out = tmp_dir.join(format!("{id}.merging"));
        let result = tokio::task::spawn_blocking(move || -> Result<_, String> {
            std::fs::create_dir_all(&tmp_dir).map_err(|e| e.to_string())?;
            let captures = CallCaptures::open_dir(&dir)
                .map_err(|e| format!("cannot read the captures: {e}"))?;
            let segments = [
                captures.client_audio.len() as u32,
                captures.agent_audio.len() as u32,
                captures.client_video.len() as u32,
            ];
            let report = merge(&captures, &out).map_err(|e| e.to_string())?;
            let (sha, size) = sha256_of(&out).map_err(|e| format!("cannot read the file: {e}"))?;
            Ok((report, segments, sha, size, out))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the merge crashed: {e}")));
        let (report, segments, sha, size, out) = match result {
            Ok(v) => v,
            Err(reason) => return self.fail(&interaction, id, reason).await,
        };
        let content_type = report.container.content_type(report.video_size.is_some());
        let key = format!(
            "recordings/{}/{id}.{}",
            interaction.tenant,
            report.container.extension()
        );
        if let Err(e) = self.0.recordings.put_file(&key, &out, content_type).await {
            return self
                .fail(&interaction, id, format!("cannot store the file: {e}"))
                .await;
        }
        let _ = tokio::fs::remove_file(&out).await;
        let (k, ct, dur, frames) = (
            key.clone(),
            content_type.to_string(),
            report.duration_ms,
            (report.video.frames, report.video.dropped),
        );
        let audio = match report.audio {
            AudioMode::Passthrough => "passthrough",
            _ => "reencoded",
        };
        self.set_state(id, RecordingState::Ready, move |r| {
            r.key = Some(k);
            r.content_type = Some(ct);
            r.duration_ms = Some(dur);
            r.size = Some(size);
            r.sha256 = Some(sha);
            r.segments = Some(segments);
            r.video_frames = Some(frames);
            r.audio = Some(audio.into());
            r.ready_at = Some(now_ms());
            r.reason = None;
        })
        .await?;
        if self.0.config.recordings.capture_retention_hours == 0 {
            let dir = capture_dir(&self.0.data_dir, &interaction.room);
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                tracing::warn!(recording = %id, "cannot delete the captures: {e}");
            }
        }
        tracing::info!(
            recording = %id,
            size,
            duration_ms = report.duration_ms,
            audio,
            lip_sync_us = report.lip_sync_us,
            "recording ready"
        );
        self.0
            .events
            .publish(NewEvent::about(
                &interaction.tenant,
                &interaction.id,
                "system",
                EventKind::RecordingReady {
                    recording: id.to_string(),
                    size,
                    duration_ms: report.duration_ms,
                },
            ))
            .await?;
        Ok(())
    }

    async fn fail(&self, i: &Interaction, id: &str, reason: String) -> StoreResult<()> {
        tracing::warn!(recording = %id, "recording failed: {reason}");
        let why = reason.clone();
        self.set_state(id, RecordingState::Failed, move |r| r.reason = Some(why))
            .await?;
        self.0
            .events
            .publish(NewEvent::about(
                &i.tenant,
                &i.id,
                "system",
                EventKind::RecordingFailed {
                    recording: id.to_string(),
                    reason,
                },
            ))
            .await?;
        Ok(())
    }
}

fn store_error(e: vchat_recorder::store::StoreError) -> DomainError {
    match e {
        vchat_recorder::store::StoreError::NotFound(_) => DomainError::not_found("recording file"),
        e => {
            tracing::error!("recording store: {e}");
            DomainError::RecordingStore
        }
    }
}

/// The SHA-256 (hex) and size of a file, read in blocks (a recording may be an hour
/// of video).
fn sha256_of(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        size += n as u64;
    }
    Ok((crate::store::ids::hex(ctx.finish().as_ref()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(state: RecordingState, ready_at: Option<i64>) -> Recording {
        Recording {
            state,
            ready_at,
            ..Recording::started("r", "t", "a", 0)
        }
    }

    #[test]
    fn captures_go_once_the_file_is_stored_and_old_enough() {
        let hour = 3_600_000;
        let ready = recording(RecordingState::Ready, Some(10 * hour));
        assert!(!captures_expired(&ready, 10 * hour + hour - 1, 1));
        assert!(captures_expired(&ready, 11 * hour, 1));
        assert!(captures_expired(&ready, 10 * hour, 0), "0: at once");
        for state in [
            RecordingState::Recording,
            RecordingState::Merging,
            RecordingState::Failed,
        ] {
            assert!(!captures_expired(&recording(state, Some(0)), 100 * hour, 1));
        }
    }
}
