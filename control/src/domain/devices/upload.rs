//! Intercoms' log lines to the recordings' store (S3 or the local folder), when
//! `interactions.intercom_log_upload_secs` asks for it: every so often, each device's
//! lines since its last upload become one text object,
//! `device-logs/<tenant>/<device>/<UTC date>/<HHMMSS>-<first line>.log`. A failed upload
//! is retried with the next (the lines stay in memory, the newest 500 per device);
//! lines that rotated out before an upload took them are counted as lost.

use std::fmt::Write as _;
use std::time::Duration;

use vchat_recorder::store::FileStore;

use super::live::{Live, LogBatch};
use crate::domain::Deps;
use crate::metrics::intercom::IntercomMetrics;
use crate::store::ids::{self, now_ms};

/// Starts the uploads (nothing when they are off); a last one runs when the server
/// starts draining.
pub fn spawn(deps: Deps, metrics: IntercomMetrics) {
    let secs = deps.config.interactions.intercom_log_upload_secs;
    if secs == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut draining = deps.draining.clone();
        loop {
            let last = tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(secs)) => false,
                _ = draining.changed() => true,
            };
            upload(&deps.devices, &deps.recordings, &metrics).await;
            if last || *draining.borrow() {
                break;
            }
        }
    });
}

/// Uploads every device's new lines once.
pub async fn upload(live: &Live, store: &FileStore, metrics: &IntercomMetrics) {
    for batch in live.unuploaded() {
        if batch.lost > 0 {
            metrics
                .log_lines
                .with_label_values(&["lost"])
                .inc_by(batch.lost);
        }
        if batch.lines.is_empty() {
            live.uploaded(&batch.device, batch.last);
            continue;
        }
        let key = key(&batch, now_ms());
        match store
            .put_bytes(&key, text(&batch).into_bytes(), "text/plain; charset=utf-8")
            .await
        {
            Ok(_) => {
                live.uploaded(&batch.device, batch.last);
                metrics
                    .log_lines
                    .with_label_values(&["uploaded"])
                    .inc_by(batch.lines.len() as u64);
            }
            Err(e) => {
                metrics.log_uploads_failed.inc();
                tracing::warn!(device = %batch.device, "intercom: cannot upload its log lines (retried with the next upload): {e}");
            }
        }
    }
}

/// The object's key: by tenant, device and UTC day, named by the time and the first
/// line's number (unique per device and node).
fn key(batch: &LogBatch, now_ms: i64) -> String {
    let (date, time) = utc(now_ms);
    format!(
        "device-logs/{}/{}/{date}/{time}-{}.log",
        safe(&batch.tenant),
        safe(&batch.device),
        batch.first
    )
}

/// A key part from a name: what the store's keys allow, the rest as `_`.
fn safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "_".into()
    } else {
        s
    }
}

/// One line per log line: when vchat received it (UTC), its level, when the device
/// says it wrote it (or `-`), the text (its line breaks escaped).
fn text(batch: &LogBatch) -> String {
    let mut out = String::new();
    for line in &batch.lines {
        let (date, time) = utc(line.received_at);
        let ms = line.received_at.rem_euclid(1000);
        let _ = writeln!(
            out,
            "{date}T{}:{}:{}.{ms:03}Z {:<5} {} {}",
            &time[..2],
            &time[2..4],
            &time[4..],
            line.level,
            line.at.as_deref().unwrap_or("-"),
            line.text
                .replace('\\', "\\\\")
                .replace('\n', "\\n")
                .replace('\r', "\\r"),
        );
    }
    out
}

/// A Unix time in ms as its UTC date (`YYYY-MM-DD`) and time (`HHMMSS`).
fn utc(ms: i64) -> (String, String) {
    let t = ids::utc(ms);
    (
        format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day()),
        format!("{:02}{:02}{:02}", t.hour(), t.minute(), t.second()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::devices::LogLine;

    fn line(n: usize) -> LogLine {
        LogLine {
            received_at: 1_796_688_000_000 + n as i64,
            at: None,
            level: "info".into(),
            text: format!("line {n}"),
        }
    }

    #[test]
    fn each_line_is_taken_once_and_lines_rotated_out_first_are_counted_lost() {
        let live = Live::default();
        assert!(live.unuploaded().is_empty());
        // 600 lines before any upload: the oldest 100 rotated out.
        for n in 1..=600 {
            live.log("t1", "door", line(n));
        }
        let batches = live.unuploaded();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(
            (b.first, b.last, b.lost, b.lines.len()),
            (101, 600, 100, 500)
        );
        assert_eq!(b.lines[0].text, "line 101");
        assert_eq!(b.tenant, "t1");
        // Not marked (a failed upload): the same lines next time.
        assert_eq!(live.unuploaded()[0].first, 101);
        live.uploaded("door", 600);
        assert!(live.unuploaded().is_empty());
        live.log("t1", "door", line(601));
        let b = &live.unuploaded()[0];
        assert_eq!((b.first, b.last, b.lost, b.lines.len()), (601, 601, 0, 1));
        // The devices page still has the newest 500.
        assert_eq!(live.logs("door", None, 0, 10).0, 500);
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(utc(0), ("1970-01-01".into(), "000000".into()));
        // 2026-12-07T23:59:59.999Z and the next millisecond.
        assert_eq!(
            utc(1_796_687_999_999),
            ("2026-12-07".into(), "235959".into())
        );
        assert_eq!(
            utc(1_796_688_000_000),
            ("2026-12-08".into(), "000000".into())
        );
        // A leap day.
        assert_eq!(utc(1_709_208_000_000).0, "2024-02-29");
    }

    #[test]
    fn batches_become_keys_and_lines() {
        let batch = LogBatch {
            tenant: "01TENANT".into(),
            device: "lenina-5/2".into(),
            first: 7,
            last: 8,
            lost: 0,
            lines: vec![
                LogLine {
                    received_at: 1_796_687_999_999,
                    at: Some("2026-12-07T23:59:58Z".into()),
                    level: "warn".into(),
                    text: "relay bounce".into(),
                },
                LogLine {
                    received_at: 1_796_688_000_000,
                    at: None,
                    level: "info".into(),
                    text: "two\nlines".into(),
                },
            ],
        };
        assert_eq!(
            key(&batch, 1_796_688_000_000),
            "device-logs/01TENANT/lenina-5_2/2026-12-08/000000-7.log"
        );
        assert_eq!(
            text(&batch),
            "2026-12-07T23:59:59.999Z warn  2026-12-07T23:59:58Z relay bounce\n\
             2026-12-08T00:00:00.000Z info  - two\\nlines\n"
        );
    }
}
