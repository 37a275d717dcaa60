//! Recordings as the control plane runs them: started when a recorded call connects,
//! merged when it ends (and, after a crash, when the server starts again), stored in
//! the file store, and described by a [`Recording`] record whose state goes
//! `recording → merging → ready` (or `failed` with a reason).

pub mod cli;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use vchat_recorder::merge::{AudioMode, CallCaptures, merge};
use vchat_recorder::store::{FileStore, LocalStore, S3Settings, S3Store};

use crate::app::App;
use crate::config::{Config, RecordingStore};
use crate::events::NewEvent;
use crate::model::{Interaction, Recording, RecordingState};
use crate::store::ids::now_ms;
use crate::store::{Cond, Filter, StoreError, StoreResult, Value};

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
pub fn capture_dir(app: &App, room: &str) -> PathBuf {
    app.data_dir.join("recordings").join("capture").join(room)
}

/// Notes that the call's recording started (once per call).
pub async fn started(app: &App, i: &Interaction) {
    let recording = Recording {
        id: i.id.clone(),
        tenant: i.tenant.clone(),
        interaction: i.id.clone(),
        agent: i.agent.clone(),
        state: RecordingState::Recording,
        reason: None,
        key: None,
        content_type: None,
        duration_ms: None,
        size: None,
        sha256: None,
        segments: None,
        video_frames: None,
        audio: None,
        created_at: now_ms(),
        ready_at: None,
    };
    match app.store.insert(&recording).await {
        Ok(()) => {
            let _ = app
                .events
                .publish(NewEvent {
                    tenant: &i.tenant,
                    kind: "recording.started",
                    interaction: Some(&i.id),
                    actor: "system",
                    data: json!({ "recording": i.id }),
                })
                .await;
        }
        Err(StoreError::Duplicate { .. }) => {} // a rejoin: the recording goes on
        Err(e) => tracing::error!(interaction = %i.id, "cannot record the recording's start: {e}"),
    }
}

/// The call ended: merge its recording (after the grace period), if it has one.
pub fn call_ended(app: Arc<App>, interaction: String) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(app.config.recordings.merge_grace_ms)).await;
        if let Err(e) = finish(&app, &interaction).await {
            tracing::error!(%interaction, "recording: {e}");
        }
    });
}

/// Whether a recording's capture files have outlived `retention_hours` at `now_ms`:
/// only once its file is stored (ready); failed ones keep theirs.
pub fn captures_expired(r: &Recording, now_ms: i64, retention_hours: u64) -> bool {
    let retention_ms = i64::try_from(retention_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    r.state == RecordingState::Ready
        && r.ready_at
            .is_some_and(|at| now_ms.saturating_sub(at) >= retention_ms)
}

/// Deletes the capture files of recordings past their retention; how many calls'.
pub async fn sweep_captures(app: &App) -> StoreResult<usize> {
    let root = app.data_dir.join("recordings").join("capture");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(0);
    };
    let hours = app.config.recordings.capture_retention_hours;
    let mut removed = 0;
    for entry in entries.flatten() {
        // A call's captures are in a folder named after its room, which is its id.
        let room = entry.file_name().to_string_lossy().into_owned();
        let Some(r) = app.store.get::<Recording>(&room).await? else {
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
pub fn sweep_captures_hourly(app: Arc<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(e) = sweep_captures(&app).await {
                tracing::warn!("capture sweep: {e}");
            }
        }
    });
}

/// Merges every recording a crash (or a stop) left unmerged whose call is over.
pub async fn resume_unmerged(app: Arc<App>) -> StoreResult<()> {
    let open = app
        .store
        .find::<Recording>(
            &Filter::all()
                .and(Cond::In(
                    "state",
                    vec![Value::from("recording"), Value::from("merging")],
                ))
                .page(0, 10_000),
        )
        .await?;
    for r in open {
        let over = app
            .store
            .get::<Interaction>(&r.interaction)
            .await?
            .is_none_or(|i| i.state.is_final());
        if over {
            let app = app.clone();
            tokio::spawn(async move {
                if let Err(e) = finish(&app, &r.id).await {
                    tracing::error!(recording = %r.id, "recording: {e}");
                }
            });
        }
    }
    Ok(())
}

async fn set_state(
    app: &App,
    id: &str,
    state: RecordingState,
    change: impl FnOnce(&mut Recording) + Send + 'static,
) -> StoreResult<Option<Recording>> {
    let mut change = Some(change);
    let r = app
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

/// Merges in progress in this process: a restart's sweep and a call's end may both ask.
static IN_FLIGHT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

async fn finish(app: &App, id: &str) -> StoreResult<()> {
    {
        let mut running = IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner());
        if running.iter().any(|r| r == id) {
            return Ok(());
        }
        running.push(id.to_string());
    }
    let result = finish_once(app, id).await;
    IN_FLIGHT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|r| r != id);
    result
}

async fn finish_once(app: &App, id: &str) -> StoreResult<()> {
    let Some(recording) = app.store.get::<Recording>(id).await? else {
        return Ok(());
    };
    if matches!(
        recording.state,
        RecordingState::Ready | RecordingState::Failed
    ) {
        return Ok(());
    }
    let Some(interaction) = app.store.get::<Interaction>(&recording.interaction).await? else {
        return Ok(());
    };
    set_state(app, id, RecordingState::Merging, |_| {}).await?;
    let dir = capture_dir(app, &interaction.room);
    let tmp_dir = app.data_dir.join("recordings").join("tmp");
    let out = tmp_dir.join(format!("{id}.merging"));
    let result = tokio::task::spawn_blocking(move || -> Result<_, String> {
        std::fs::create_dir_all(&tmp_dir).map_err(|e| e.to_string())?;
        let captures =
            CallCaptures::open_dir(&dir).map_err(|e| format!("cannot read the captures: {e}"))?;
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
        Err(reason) => return fail(app, &interaction, id, reason).await,
    };
    let content_type = report.container.content_type(report.video_size.is_some());
    let key = format!(
        "recordings/{}/{id}.{}",
        interaction.tenant,
        report.container.extension()
    );
    if let Err(e) = app.recordings.put_file(&key, &out, content_type).await {
        return fail(app, &interaction, id, format!("cannot store the file: {e}")).await;
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
    set_state(app, id, RecordingState::Ready, move |r| {
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
    if app.config.recordings.capture_retention_hours == 0 {
        let dir = capture_dir(app, &interaction.room);
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
    app.events
        .publish(NewEvent {
            tenant: &interaction.tenant,
            kind: "recording.ready",
            interaction: Some(&interaction.id),
            actor: "system",
            data: json!({ "recording": id, "size": size, "duration_ms": report.duration_ms }),
        })
        .await?;
    Ok(())
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

async fn fail(app: &App, i: &Interaction, id: &str, reason: String) -> StoreResult<()> {
    tracing::warn!(recording = %id, "recording failed: {reason}");
    let why = reason.clone();
    set_state(app, id, RecordingState::Failed, move |r| {
        r.reason = Some(why)
    })
    .await?;
    app.events
        .publish(NewEvent {
            tenant: &i.tenant,
            kind: "recording.failed",
            interaction: Some(&i.id),
            actor: "system",
            data: json!({ "recording": id, "reason": reason }),
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(state: RecordingState, ready_at: Option<i64>) -> Recording {
        Recording {
            id: "r".into(),
            tenant: "t".into(),
            interaction: "r".into(),
            agent: "a".into(),
            state,
            reason: None,
            key: None,
            content_type: None,
            duration_ms: None,
            size: None,
            sha256: None,
            segments: None,
            video_frames: None,
            audio: None,
            created_at: 0,
            ready_at,
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
