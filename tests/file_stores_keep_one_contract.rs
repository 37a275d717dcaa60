//! Both file stores pass one suite: the local folder, and S3 against a real
//! S3-compatible server (s3s-fs from crates.io, which checks SigV4 signatures and keeps
//! objects as files). `.ci/test` starts s3s-fs and names it in `VCHAT_TEST_S3_ENDPOINT`;
//! without that, this test starts one itself if `s3s-fs` is installed, else says it
//! skipped the S3 run.

use std::process::Stdio;
use std::time::Duration;

use vchat_recorder::store::{FileStore, LocalStore, S3Settings, S3Store, suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_store_passes_the_store_suite() {
    let root = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let store = FileStore::Local(LocalStore::new(root.path()).unwrap());
    suite::run(&store, scratch.path(), "").await;
    // Nothing outside the root, no partial files left.
    for entry in walk(root.path()) {
        assert!(entry.starts_with(root.path()));
        assert!(!entry.to_string_lossy().contains(".partial"), "{entry:?}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn s3s_fs() -> Option<std::path::PathBuf> {
    let home = std::env::var("HOME").ok()?;
    [std::path::PathBuf::from(format!(
        "{home}/.cargo/bin/s3s-fs"
    ))]
    .into_iter()
    .chain(
        std::env::var("PATH")
            .ok()?
            .split(':')
            .map(|d| std::path::Path::new(d).join("s3s-fs")),
    )
    .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_store_passes_the_store_suite_against_a_real_s3_server() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (endpoint, access, secret, _server) = match std::env::var("VCHAT_TEST_S3_ENDPOINT") {
        Ok(endpoint) => (
            endpoint,
            std::env::var("VCHAT_TEST_S3_ACCESS_KEY").unwrap_or_else(|_| "test".into()),
            std::env::var("VCHAT_TEST_S3_SECRET_KEY").unwrap_or_else(|_| "testsecret".into()),
            None,
        ),
        Err(_) => {
            let Some(bin) = s3s_fs() else {
                println!(
                    "SKIPPED: the S3 store suite (no VCHAT_TEST_S3_ENDPOINT, no s3s-fs installed: cargo install s3s-fs@0.14.1 --features binary --locked)"
                );
                return;
            };
            let root = tempfile::tempdir().unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = tokio::process::Command::new(bin)
                .args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--access-key",
                    "test",
                    "--secret-key",
                    "testsecret",
                ])
                .arg(root.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (
                format!("http://127.0.0.1:{port}"),
                "test".into(),
                "testsecret".into(),
                Some((child, root)),
            )
        }
    };
    let settings = S3Settings {
        endpoint: endpoint.clone(),
        region: "us-east-1".into(),
        bucket: format!("vchat-test-{}", std::process::id()),
        path_style: true,
        access_key: access.clone(),
        secret_key: secret,
        prefix: "suite/".into(),
    };
    let s3 = S3Store::new(&settings);
    s3.ensure_bucket().await.expect("bucket");
    let scratch = tempfile::tempdir().unwrap();
    suite::run(&FileStore::S3(s3), scratch.path(), "").await;

    // The server checks signatures: a wrong secret is refused.
    let wrong = FileStore::S3(S3Store::new(&S3Settings {
        secret_key: "not the secret".into(),
        ..settings
    }));
    assert!(
        wrong.size("recordings/t1/small.webm").await.is_err(),
        "a bad signature is an error, not a missing object"
    );
    println!("S3 store suite passed against {endpoint}");
}
