//! `vchat backup` copies a live server's data folder while a call runs and chat goes
//! on; `vchat restore` puts it into an empty folder where a server starts with the same
//! records (counted per collection) and the same files (SHA-256), its users signing in
//! as before. A backup of a newer schema, a tampered file or a non-empty target is
//! refused with the reason, and nothing is written.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use vchat_tests::api::{Api, Auth, signal_join};
use vchat_tests::process::{VchatProcess, add_user, vchat_bin};

const PASSWORD: &str = "backup test password";

/// Runs `vchat args…`; its exit status and standard error.
fn vchat(args: &[&str]) -> anyhow::Result<(bool, String)> {
    let out = Command::new(vchat_bin()?).args(args).output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn manifest(dir: &Path) -> anyhow::Result<Value> {
    Ok(serde_json::from_slice(&std::fs::read(
        dir.join("manifest.json"),
    )?)?)
}

/// The files of a manifest as (path, sha256), sorted.
fn files(m: &Value) -> Vec<(String, String)> {
    let mut list: Vec<_> = m["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                f["sha256"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    list.sort();
    list
}

fn sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_server_backs_up_and_restores_with_every_record_and_file() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    add_user(data.path(), "anna", "agent", PASSWORD)?;
    let server = VchatProcess::start(data.path(), &[]).await?;
    let api = Api::new(&server.base);
    let agent = api.login("anna", PASSWORD).await?;
    let Auth::Cookie(cookie) = agent.clone() else {
        bail!("a cookie")
    };

    // A call in progress: both sides on signaling.
    let (interaction, client_token) = api
        .open_link(&agent, &json!({ "client": { "name": "Backed up" } }))
        .await?;
    let id = interaction["id"].as_str().context("id")?.to_string();
    let staff = api
        .expect(
            &agent,
            "POST",
            &format!("/api/interactions/{id}/join"),
            None,
            200,
        )
        .await?;
    let _client = signal_join(&server.base, &client_token).await?;
    let _agent = signal_join(&server.base, staff["token"].as_str().context("token")?).await?;

    // Chat files, and their hashes as uploaded.
    let http = reqwest::Client::new();
    let mut uploaded = Vec::new();
    for (i, size) in [1usize << 20, 300_000, 17].iter().enumerate() {
        let body: Vec<u8> = (0..*size).map(|b| (b * 31 + i) as u8).collect();
        let r = http
            .post(format!(
                "{}/api/interactions/{id}/files?name=f{i}.bin",
                server.base
            ))
            .header("cookie", &cookie)
            .header("content-type", "application/octet-stream")
            .body(body.clone())
            .send()
            .await?;
        assert_eq!(r.status(), 201);
        let meta: Value = r.json().await?;
        uploaded.push((
            meta["id"].as_str().context("file id")?.to_string(),
            sha256(&body),
        ));
    }

    // Chat keeps being written while the backup runs.
    let writing = Arc::new(AtomicBool::new(true));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (api, agent, id, writing, written) = (
            api.clone(),
            agent.clone(),
            id.clone(),
            writing.clone(),
            written.clone(),
        );
        tokio::spawn(async move {
            while writing.load(Ordering::Relaxed) {
                let n = written.fetch_add(1, Ordering::Relaxed);
                let _ = api
                    .call(
                        &agent,
                        "POST",
                        &format!("/api/interactions/{id}/messages"),
                        Some(&json!({ "text": format!("message {n}") })),
                    )
                    .await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let backup = tempfile::tempdir()?;
    let out = backup.path().join("b");
    let data_s = data.path().to_str().context("path")?;
    let out_s = out.to_str().context("path")?;
    let during = written.load(Ordering::Relaxed);
    let (ok, said) = tokio::task::spawn_blocking({
        let (d, o) = (data_s.to_string(), out_s.to_string());
        move || vchat(&["backup", "--data", &d, &o])
    })
    .await??;
    let after = written.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    writing.store(false, Ordering::Relaxed);
    writer.await?;
    println!("{said}");
    assert!(ok, "backup failed: {said}");
    assert!(
        after > during,
        "chat was written while the backup ran ({during} → {after})"
    );
    let m = manifest(&out)?;
    println!(
        "backup: records {} ; {} files",
        m["records"],
        files(&m).len()
    );
    for (file, sha) in &uploaded {
        assert!(
            files(&m)
                .iter()
                .any(|(p, s)| p.ends_with(file.as_str()) && s == sha),
            "{file} is in the backup with its hash"
        );
    }
    assert!(
        files(&m).iter().any(|(p, _)| p == "secret"),
        "the signing secret is kept"
    );
    server.stop().await?;

    // Refusals first: each says why and writes nothing.
    let target = tempfile::tempdir()?;
    let restored = target.path().join("restored");
    let restored_s = restored.to_str().context("path")?;
    let (ok, said) = vchat(&["restore", out_s, "--data", data_s])?;
    assert!(!ok && said.contains("is not empty"), "{said}");
    let newer = backup.path().join("newer");
    copy_dir(&out, &newer)?;
    let mut nm = manifest(&newer)?;
    nm["schema_version"] = json!(99);
    std::fs::write(newer.join("manifest.json"), serde_json::to_vec(&nm)?)?;
    let (ok, said) = vchat(&[
        "restore",
        newer.to_str().context("path")?,
        "--data",
        restored_s,
    ])?;
    assert!(
        !ok && said.contains("schema version 99, newer than this vchat knows"),
        "{said}"
    );
    let tampered = backup.path().join("tampered");
    copy_dir(&out, &tampered)?;
    let victim = tampered.join("files").join(
        &files(&m)
            .iter()
            .find(|(p, _)| p.ends_with(uploaded[2].0.as_str()))
            .context("file")?
            .0,
    );
    std::fs::write(&victim, b"not the same")?;
    let (ok, said) = vchat(&[
        "restore",
        tampered.to_str().context("path")?,
        "--data",
        restored_s,
    ])?;
    assert!(
        !ok && said.contains("is not the file that was backed up"),
        "{said}"
    );
    assert!(
        !restored.join("vchat.db").exists(),
        "a refused restore writes no store"
    );
    println!("refused: non-empty target, schema 99, a tampered file");

    // The restore, and the same records and files in it.
    std::fs::remove_dir_all(&restored).ok();
    let (ok, said) = vchat(&["restore", out_s, "--data", restored_s])?;
    println!("{said}");
    assert!(ok, "{said}");
    let again = backup.path().join("again");
    let (ok, said) = vchat(&[
        "backup",
        "--data",
        restored_s,
        again.to_str().context("path")?,
    ])?;
    assert!(ok, "{said}");
    let m2 = manifest(&again)?;
    assert_eq!(
        m2["records"], m["records"],
        "the same records per collection"
    );
    assert_eq!(files(&m2), files(&m), "the same files, byte for byte");

    // A server on the restored folder: the same user signs in, the files download whole.
    let server = VchatProcess::start(&restored, &[]).await?;
    let api = Api::new(&server.base);
    let agent = api.login("anna", PASSWORD).await?;
    let Auth::Cookie(cookie) = agent.clone() else {
        bail!("a cookie")
    };
    let messages = api
        .expect(
            &agent,
            "GET",
            &format!("/api/interactions/{id}/messages"),
            None,
            200,
        )
        .await?;
    for (file, sha) in &uploaded {
        let body = http
            .get(format!("{}/api/files/{file}", server.base))
            .header("cookie", &cookie)
            .send()
            .await?
            .bytes()
            .await?;
        assert_eq!(&sha256(&body), sha, "{file} downloads as uploaded");
    }
    println!(
        "restored server: anna signs in, {} chat messages, {} files download with their hashes",
        messages.as_array().map_or(0, Vec::len),
        uploaded.len()
    );
    server.stop().await?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status()?;
    if !status.success() {
        bail!("cp -a failed");
    }
    Ok(())
}
