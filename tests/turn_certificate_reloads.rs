//! TURNS serves the configured certificate, and a new one after the files change and
//! SIGHUP arrives, without a restart; a broken replacement keeps the old one serving.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use vchat_tests::TestServer;

fn make_certificate(dir: &Path, name: &str) -> anyhow::Result<()> {
    vchat_tests::pebble::self_signed(name, &dir.join("cert.pem"), &dir.join("key.pem"))
}

/// The subject of the certificate the TLS listener presents.
fn served_subject(addr: std::net::SocketAddr) -> anyhow::Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} </dev/null 2>/dev/null | openssl x509 -noout -subject"
        ))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if text.is_empty() {
        bail!("no certificate from {addr}");
    }
    Ok(text)
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_reloads_on_sighup_and_a_broken_one_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    make_certificate(dir.path(), "first.example")?;
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let server = TestServer::start_with(&[
        ("VCHAT_TLS_CERT", cert.to_str().context("path")?),
        ("VCHAT_TLS_KEY", key.to_str().context("path")?),
    ])
    .await?;
    let tls = server.turn_addrs().2.context("TLS listener")?;
    let first = tokio::task::spawn_blocking(move || served_subject(tls)).await??;
    assert!(first.contains("first.example"), "{first}");

    make_certificate(dir.path(), "second.example")?;
    Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()?;
    let mut subject = String::new();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        subject = tokio::task::spawn_blocking(move || served_subject(tls)).await??;
        if subject.contains("second.example") {
            break;
        }
    }
    assert!(
        subject.contains("second.example"),
        "new certificate served after SIGHUP: {subject}"
    );

    std::fs::write(&cert, "not a certificate")?;
    Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kept = tokio::task::spawn_blocking(move || served_subject(tls)).await??;
    assert!(
        kept.contains("second.example"),
        "a broken file keeps the last good certificate: {kept}"
    );
    server.stop().await
}
