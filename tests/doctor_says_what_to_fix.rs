//! `vchat doctor` passes a good deployment (a running server, TURN answering STUN,
//! media ports held) and, on broken ones, names each problem with its fix and exits 1:
//! ports that are not the server's, nothing answering, a certificate and a key that do
//! not belong together.

use std::path::Path;
use std::process::Command;

use vchat_tests::pebble::{free_port, self_signed};
use vchat_tests::process::{VchatProcess, vchat_bin};

/// `vchat doctor` with `env`: exit success, and what it printed.
fn doctor(http: &str, data: &Path, env: &[(&str, String)]) -> anyhow::Result<(bool, String)> {
    let mut c = Command::new(vchat_bin()?);
    c.args(["doctor", "--http", http, "--data"])
        .arg(data)
        .env("VCHAT_MEDIA_WORKERS", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

fn openssl_pair(dir: &Path, name: &str) -> anyhow::Result<()> {
    self_signed(
        name,
        &dir.join(format!("{name}.pem")),
        &dir.join(format!("{name}.key")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_good_deployment_and_names_what_to_fix_in_broken_ones() -> anyhow::Result<()>
{
    let data = tempfile::tempdir()?;
    let (media, turn, turns) = (free_port()?, free_port()?, free_port()?);
    let env: Vec<(&str, String)> = vec![
        ("VCHAT_MEDIA_PORT", media.to_string()),
        ("VCHAT_TURN_ENABLED", "true".into()),
        ("VCHAT_TURN_UDP_PORT", turn.to_string()),
        ("VCHAT_TURN_TCP_PORT", turn.to_string()),
        ("VCHAT_TURN_TLS_PORT", turns.to_string()),
    ];
    let mut serve_env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    serve_env.push(("VCHAT_MEDIA_WORKERS", "1"));
    let server = VchatProcess::start(data.path(), &serve_env).await?;
    let http = server.base.trim_start_matches("http://").to_string();

    let (ok, good) = doctor(&http, data.path(), &env)?;
    println!("--- a good deployment\n{good}");
    assert!(ok, "{good}");
    for line in [
        "/healthz answers",
        "TURN answers STUN over UDP",
        "TURN accepts TCP",
        "TURN accepts TLS",
        "held by the server",
        "store: schema",
        "libopus",
        "writable",
    ] {
        assert!(
            good.lines().any(|l| l.contains("ok") && l.contains(line)),
            "ok: {line}\n{good}"
        );
    }
    assert!(!good.contains("FAIL"), "{good}");

    // The server runs, but the config names other ports.
    let mut wrong = env.clone();
    wrong[0].1 = free_port()?.to_string();
    wrong[2].1 = free_port()?.to_string();
    let (ok, broken) = doctor(&http, data.path(), &wrong)?;
    println!("--- ports that are not the server's\n{broken}");
    assert!(!ok);
    assert!(
        broken.contains("FAIL  TURN does not answer STUN over UDP") && broken.contains("open udp"),
        "{broken}"
    );
    assert!(
        broken.contains("FAIL  media: nothing holds udp"),
        "{broken}"
    );
    assert!(broken.contains("problem(s)"), "{broken}");
    server.stop().await?;

    // Nothing answers, and HTTPS with a certificate and someone else's key.
    let certs = tempfile::tempdir()?;
    openssl_pair(certs.path(), "first.example")?;
    openssl_pair(certs.path(), "second.example")?;
    let mut https = env.clone();
    https.push(("VCHAT_TLS_MODE", "on".into()));
    https.push((
        "VCHAT_TLS_CERT",
        certs.path().join("first.example.pem").display().to_string(),
    ));
    https.push((
        "VCHAT_TLS_KEY",
        certs
            .path()
            .join("second.example.key")
            .display()
            .to_string(),
    ));
    let (ok, broken) = doctor(&http, data.path(), &https)?;
    println!("--- stopped, and a key of another certificate\n{broken}");
    assert!(!ok);
    assert!(
        broken.contains("FAIL  nothing answers https://") && broken.contains("is vchat running?"),
        "{broken}"
    );
    assert!(
        broken.contains("the certificate and the key do not go together")
            && broken.contains("give the key the certificate was made for"),
        "{broken}"
    );
    Ok(())
}
