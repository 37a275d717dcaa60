//! Chat files: exactly 100 MiB uploads; one byte more is refused with 413 whether or
//! not the size was announced; the server's memory does not grow with the upload
//! (streamed to disk); names are metadata only, so none escapes the store.

use std::time::Duration;

use futures_util::stream;
use serde_json::json;
use vchat_tests::api::{Api, Auth};
use vchat_tests::process::{VchatProcess, add_user, vm_bytes};

const MIB: usize = 1024 * 1024;
const PASSWORD: &str = "files test password";

fn chunks(total: usize) -> reqwest::Body {
    let chunk = bytes_of(MIB);
    let n = total / MIB;
    let rest = total % MIB;
    let mut parts: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..n).map(|_| Ok(chunk.clone())).collect();
    if rest > 0 {
        parts.push(Ok(bytes_of(rest)));
    }
    reqwest::Body::wrap_stream(stream::iter(parts))
}

fn bytes_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mebibytes_upload_and_one_byte_more_does_not() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    add_user(data.path(), "agent", "agent", PASSWORD)?;
    let server = VchatProcess::start(data.path(), &[]).await?;
    let api = Api::new(&server.base);
    let agent = api.login("agent", PASSWORD).await?;
    let Auth::Cookie(cookie) = agent.clone() else {
        unreachable!()
    };
    let i = api
        .expect(
            &agent,
            "POST",
            "/api/interactions",
            Some(&json!({ "client": { "name": "Files" } })),
            201,
        )
        .await?;
    let id = i["id"].as_str().unwrap().to_string();
    let url = |name: &str| format!("{}/api/interactions/{id}/files?name={name}", server.base);
    let http = reqwest::Client::new();

    // Exactly 100 MiB, streamed (chunked), while watching the server's peak memory.
    let before = vm_bytes(server.pid(), "VmHWM")?;
    let started = std::time::Instant::now();
    let r = http
        .post(url("big.bin"))
        .header("cookie", &cookie)
        .header("content-type", "application/octet-stream")
        .body(chunks(100 * MIB))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let meta: serde_json::Value = r.json().await?;
    let after = vm_bytes(server.pid(), "VmHWM")?;
    let growth = after.saturating_sub(before);
    println!(
        "100 MiB upload: {:.1} s, server peak RSS {:.1} MB -> {:.1} MB (+{:.1} MB)",
        started.elapsed().as_secs_f64(),
        before as f64 / 1e6,
        after as f64 / 1e6,
        growth as f64 / 1e6
    );
    assert!(growth < 20_000_000, "peak RSS grew by {growth} bytes");
    assert_eq!(meta["size"], 100 * MIB);
    assert_eq!(meta["name"], "big.bin");
    let file_id = meta["id"].as_str().unwrap();
    let stored = data.path().join("files").join(file_id);
    assert_eq!(std::fs::metadata(&stored)?.len(), 100 * MIB as u64);

    // One byte more: with Content-Length it is refused before reading; without, when
    // the count passes the limit. Nothing partial stays behind.
    // Announced: the answer comes before any of the body is read (a raw request that
    // sends the headers only, so nothing races the answer).
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = server.base.trim_start_matches("http://").to_string();
        let mut tcp = tokio::net::TcpStream::connect(&host).await?;
        let head = format!(
            "POST /api/interactions/{id}/files?name=too-big.bin HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nContent-Length: {}\r\n\r\n",
            100 * MIB + 1
        );
        tcp.write_all(head.as_bytes()).await?;
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut answer)).await??;
        let text = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        assert!(text.contains("\"error\":\"too-large\""), "{text}");
    }
    // The same with the body sent: the server may answer and close while it is sent.
    let one_more = bytes_of(100 * MIB + 1);
    match http
        .post(url("too-big.bin"))
        .header("cookie", &cookie)
        .body(one_more)
        .send()
        .await
    {
        Ok(r) => {
            assert_eq!(r.status(), 413);
            let body: serde_json::Value = r.json().await?;
            assert_eq!(body["error"], "too-large");
        }
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let r = http
        .post(url("too-big.bin"))
        .header("cookie", &cookie)
        .body(chunks(100 * MIB + 1))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 413),
        // The server may answer and close while the client still sends.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let partial: Vec<_> = std::fs::read_dir(data.path().join("files/.partial"))?.collect();
    assert!(
        partial.is_empty(),
        "partial uploads are removed: {partial:?}"
    );

    // Names never reach the file system.
    let small = b"hello, files".to_vec();
    let mut stored_names = Vec::new();
    for name in [
        "..%2Fx",
        "%2e%2e%2Fx",
        "%2Fetc%2Fpasswd",
        "C%3A%5Cx",
        "..%5C..%5Cwin.ini",
        "%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf",
    ] {
        let r = http
            .post(url(name))
            .header("cookie", &cookie)
            .body(small.clone())
            .send()
            .await?;
        assert_eq!(r.status(), 201, "{name}");
        let meta: serde_json::Value = r.json().await?;
        stored_names.push(meta["name"].as_str().unwrap().to_string());
        let fid = meta["id"].as_str().unwrap().to_string();
        assert!(
            fid.len() == 26 && fid.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{fid}"
        );
        // Download: the same bytes, the name only in Content-Disposition.
        let r = http
            .get(format!("{}/api/files/{fid}", server.base))
            .header("cookie", &cookie)
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        let disposition = r.headers()["content-disposition"].to_str()?.to_string();
        assert!(
            disposition.starts_with("attachment; filename=\""),
            "{disposition}"
        );
        assert!(
            !disposition.contains('/') && !disposition.contains('\\'),
            "{disposition}"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let got = r.bytes().await?;
        assert_eq!(sha256_hex(&got), sha256_hex(&small));
    }
    assert_eq!(
        stored_names,
        [
            "../x",
            "../x",
            "/etc/passwd",
            "C:\\x",
            "..\\..\\win.ini",
            "отчёт.pdf"
        ]
    );
    for name in ["a%00b", "", &"x".repeat(4096), "%0A"] {
        let r = http
            .post(url(name))
            .header("cookie", &cookie)
            .body(small.clone())
            .send()
            .await?;
        assert_eq!(r.status(), 400, "{name:.20}");
    }
    // Everything in the files folder is a server-named file (or the partial folder).
    for entry in std::fs::read_dir(data.path().join("files"))? {
        let name = entry?.file_name().into_string().unwrap();
        assert!(
            name == ".partial"
                || (name.len() == 26 && name.bytes().all(|b| b.is_ascii_alphanumeric())),
            "{name}"
        );
    }
    assert!(!data.path().join("x").exists() && !data.path().parent().unwrap().join("x").exists());

    // Others cannot fetch it: no credentials 401, junk ids 404.
    let r = http
        .get(format!("{}/api/files/{file_id}", server.base))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    for junk in ["..%2F..%2Fvchat.db", "nope", "00000000000000000000000000"] {
        let r = http
            .get(format!("{}/api/files/{junk}", server.base))
            .header("cookie", &cookie)
            .send()
            .await?;
        assert_eq!(r.status(), 404, "{junk}");
    }
    // The upload is in the chat.
    let chat = api
        .expect(
            &agent,
            "GET",
            &format!("/api/interactions/{id}/messages"),
            None,
            200,
        )
        .await?;
    assert_eq!(chat[0]["file"], file_id);
    assert_eq!(server.stop().await?.code(), Some(0));
    Ok(())
}
