//! Intercoms' log lines reach the recordings' store when
//! `interactions.intercom_log_upload_secs` asks for it — S3 (a real S3 server: the
//! s3s-fs that `.ci/test` starts and names in `VCHAT_TEST_S3_ENDPOINT`) and the local
//! folder: one text object per device per upload, under its tenant, its id and the UTC
//! day; every line once, in order; the counters moved by as many lines.

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_s3::config::{Credentials, Region};
use serde_json::json;
use vchat_recorder::store::{S3Settings, S3Store};
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Org};
use vchat_tests::panel::{add_device, login, send};

/// Where the test reads the objects back.
enum Objects {
    Local(std::path::PathBuf),
    S3(aws_sdk_s3::Client, String),
}

impl Objects {
    /// The objects under `prefix` once they hold `lines` lines (or after 10 s).
    async fn until_lines(
        &self,
        prefix: &str,
        lines: usize,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let mut got = Vec::new();
        for _ in 0..100 {
            got = self.under(prefix).await?;
            if got.iter().map(|(_, t)| t.lines().count()).sum::<usize>() >= lines {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(got)
    }

    /// (key, content) of every object under `prefix`, by key.
    async fn under(&self, prefix: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        match self {
            Objects::Local(root) => {
                let mut dirs = vec![root.join(prefix)];
                while let Some(dir) = dirs.pop() {
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        continue;
                    };
                    for e in entries {
                        let path = e?.path();
                        let hidden = path
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                        if path.is_dir() {
                            dirs.push(path);
                        } else if !hidden {
                            // (A `.name.partial` is an object being written.)
                            let key = path.strip_prefix(root)?.to_string_lossy().into_owned();
                            out.push((key, std::fs::read_to_string(&path)?));
                        }
                    }
                }
            }
            Objects::S3(client, bucket) => {
                let listed = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .send()
                    .await?;
                for o in listed.contents() {
                    let key = o.key().context("key")?.to_owned();
                    let got = client.get_object().bucket(bucket).key(&key).send().await?;
                    let body = got.body.collect().await?.into_bytes();
                    out.push((key, String::from_utf8(body.to_vec())?));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

async fn lines_reach(
    settings: &[(&str, &str)],
    objects: impl FnOnce(&TestServer) -> Objects,
) -> anyhow::Result<()> {
    let mut all = vec![("VCHAT_INTERACTIONS_INTERCOM_LOG_UPLOAD_SECS", "1")];
    all.extend_from_slice(settings);
    let server = TestServer::start_with(&all).await?;
    let objects = objects(&server);
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let added = add_device(&api, &org, "lenina-5-2", "Lenina 5, entrance 2").await?;
    let secret = added["secret"].as_str().context("secret")?;
    let tenant = added["tenant"].as_str().context("tenant")?;
    let mut door = login(&server, "lenina-5-2", secret, &["PCMU"]).await?;
    let prefix = format!("device-logs/{tenant}/lenina-5-2/");

    let say = |i: u32| json!({"type": "log", "level": "warn", "text": format!("relay {i} bounce"), "at": "2026-12-07T10:00:00Z"});
    for i in 0..3 {
        send(&mut door, say(i)).await?;
    }
    let lines_in =
        |got: &[(String, String)]| got.iter().map(|(_, t)| t.lines().count()).sum::<usize>();
    let got = objects.until_lines(&prefix, 3).await?;
    assert_eq!(lines_in(&got), 3, "the first upload(s): {got:?}");
    let before = got.len();
    // Two more lines: the next upload takes only those.
    for i in 3..5 {
        send(&mut door, say(i)).await?;
    }
    let mut got = objects.until_lines(&prefix, 5).await?;
    println!("{got:#?}");
    assert!(
        got.len() > before,
        "a new object for the new lines: {got:?}"
    );
    // Objects in the order they were made (their keys hold the first line's number).
    let first = |key: &str| -> u64 {
        key.rsplit('-')
            .next()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    got.sort_by_key(|(key, _)| first(key));
    let lines: Vec<&str> = got.iter().flat_map(|(_, text)| text.lines()).collect();
    assert_eq!(lines.len(), 5, "every line once: {lines:?}");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.ends_with(&format!(" warn  2026-12-07T10:00:00Z relay {i} bounce")),
            "{line}"
        );
    }
    // Keys: the UTC day, then the time and the first line's number.
    let mut next = 1;
    for (key, text) in &got {
        let rest = key.strip_prefix(&prefix).context("prefix")?;
        let (day, _) = rest.split_once('/').context("day")?;
        assert_eq!(day.len(), 10, "{key}");
        assert_eq!(first(key), next, "{key}");
        next += text.lines().count() as u64;
    }
    let uploaded = server
        .metric("vchat_intercom_log_lines_total{what=\"uploaded\"}")
        .await?;
    let lost = server
        .metric("vchat_intercom_log_lines_total{what=\"lost\"}")
        .await?;
    assert_eq!((uploaded, lost), (5.0, 0.0));
    // The lines stay searchable on the devices page too.
    let id = added["id"].as_str().context("id")?;
    let page = api
        .expect(
            org.as_("adminA"),
            "GET",
            &format!("/api/devices/{id}/logs"),
            None,
            200,
        )
        .await?;
    assert_eq!(page["total"], 5, "{page}");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_reach_the_local_folder() -> anyhow::Result<()> {
    lines_reach(&[], |server| {
        Objects::Local(server.data_dir().join("recordings").join("files"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_reach_s3() -> anyhow::Result<()> {
    let Ok(endpoint) = std::env::var("VCHAT_TEST_S3_ENDPOINT") else {
        println!("skipped: no VCHAT_TEST_S3_ENDPOINT (.ci/test starts s3s-fs and names it)");
        return Ok(());
    };
    vchat_tests::init_crypto();
    let access = std::env::var("VCHAT_TEST_S3_ACCESS_KEY").unwrap_or_else(|_| "test".into());
    let secret = std::env::var("VCHAT_TEST_S3_SECRET_KEY").unwrap_or_else(|_| "testsecret".into());
    let bucket = format!("vchat-logs-{}", rand::random::<u32>());
    S3Store::new(&S3Settings {
        endpoint: endpoint.clone(),
        region: "us-east-1".into(),
        bucket: bucket.clone(),
        path_style: true,
        access_key: access.clone(),
        secret_key: secret.clone(),
        prefix: String::new(),
    })
    .ensure_bucket()
    .await?;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version_latest()
            .endpoint_url(&endpoint)
            .region(Region::new("us-east-1"))
            .force_path_style(true)
            .credentials_provider(Credentials::new(&access, &secret, None, None, "test"))
            .build(),
    );
    lines_reach(
        &[
            ("VCHAT_RECORDINGS_STORE", "s3"),
            ("VCHAT_RECORDINGS_S3_ENDPOINT", &endpoint),
            ("VCHAT_RECORDINGS_S3_BUCKET", &bucket),
            ("VCHAT_RECORDINGS_S3_ACCESS_KEY", &access),
            ("VCHAT_RECORDINGS_S3_SECRET_KEY", &secret),
        ],
        |_| Objects::S3(client, bucket.clone()),
    )
    .await
}
