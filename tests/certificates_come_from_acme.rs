//! HTTPS certificates come from an ACME CA — Debian's pebble here, with its own DNS on
//! 127.0.0.1 — proved by TLS-ALPN-01 on the HTTPS port or HTTP-01 on the plain-HTTP
//! one; they are renewed before they end without dropping open connections, kept in
//! the data folder across a restart, and a challenge the CA cannot check is reported
//! with the CA's own reason while the server goes on serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vchat_tests::TestServer;
use vchat_tests::pebble::{Pebble, free_port};

const NAME: &str = "vchat.test";

/// The settings of a server that asks `pebble` for `names`.
fn acme_settings(pebble: &Pebble, names: &str, renew_before_days: &str) -> Vec<(String, String)> {
    [
        ("VCHAT_TLS_ACME_NAMES", names),
        ("VCHAT_TLS_ACME_DIRECTORY", pebble.directory.as_str()),
        (
            "VCHAT_TLS_ACME_CA_ROOT",
            pebble.api_ca.to_str().unwrap_or_default(),
        ),
        ("VCHAT_TLS_ACME_CONTACT", "mailto:ops@vchat.test"),
        ("VCHAT_TLS_ACME_RENEW_BEFORE_DAYS", renew_before_days),
        ("VCHAT_TLS_ACME_CHECK_EVERY_SECS", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn settings(list: &[(String, String)]) -> Vec<(&str, &str)> {
    list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A TLS connection to `addr` for `name`, trusting only `root`; the leaf it was shown.
async fn connect(
    addr: SocketAddr,
    name: &str,
    root: Option<&str>,
) -> anyhow::Result<(tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>)> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let mut config = match root {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from_pem_slice(pem.as_bytes())?)?;
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from(name.to_string())?, tcp)
        .await
        .with_context(|| format!("TLS to {addr} as {name}"))?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .context("no certificate shown")?
        .to_vec();
    Ok((tls, leaf))
}

/// One HTTP/1.1 request on an open connection (kept open); the status line.
async fn request(
    tls: &mut tokio_rustls::client::TlsStream<TcpStream>,
    path: &str,
) -> anyhow::Result<String> {
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: {NAME}\r\n\r\n").as_bytes())
        .await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await??;
        if n == 0 {
            bail!("the connection closed");
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return Ok(text.lines().next().unwrap_or_default().to_string());
            }
        }
    }
}

/// A client for `https://vchat.test:<port>` that trusts only `root` (none: anything).
fn client(addr: SocketAddr, root: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .resolve(NAME, addr);
    b = match root {
        Some(pem) => b.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes())?),
        None => b.danger_accept_invalid_certs(true),
    };
    Ok(b.build()?)
}

async fn metric(client: &reqwest::Client, port: u16, name: &str) -> anyhow::Result<f64> {
    let text = client
        .get(format!("https://{NAME}:{port}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// Waits (bounded) until `name` reaches `at_least`.
async fn wait_metric(
    client: &reqwest::Client,
    port: u16,
    name: &str,
    at_least: f64,
    pebble: &Pebble,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if metric(client, port, name).await.unwrap_or(0.0) >= at_least {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{name} never reached {at_least}\n{}", pebble.logs())
}

fn status(server: &TestServer) -> anyhow::Result<Value> {
    let path = server.data_dir().join("tls/acme/status.json");
    Ok(serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("{}", path.display()))?,
    )?)
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_alpn_01_gets_a_certificate_renewed_before_its_end_without_dropping_connections()
-> anyhow::Result<()> {
    vchat_tests::init_crypto();
    let port = free_port()?;
    // Ten-day certificates, renewed 30 days before their end: due again at once, so
    // each check (every 2 s) renews.
    let pebble = Pebble::start(free_port()?, port, 10 * 86_400)?;
    let env = acme_settings(&pebble, NAME, "30");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let started = Instant::now();
    let server = TestServer::start_at(addr, &settings(&env)).await?;
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let root = pebble.root().await?;
    let insecure = client(addr, None)?;
    wait_metric(
        &insecure,
        port,
        "vchat_acme_certificates_total",
        1.0,
        &pebble,
    )
    .await?;
    println!(
        "first certificate {} ms after start",
        started.elapsed().as_millis()
    );

    // The certificate is the CA's: a client trusting only pebble's root accepts it.
    let (mut open, first) = connect(addr, NAME, Some(&root)).await?;
    assert_eq!(request(&mut open, "/healthz").await?, "HTTP/1.1 200 OK");
    let trusted = client(addr, Some(&root))?;
    let reply = trusted
        .get(format!("https://{NAME}:{port}/healthz"))
        .send()
        .await?;
    assert_eq!(
        reply.version(),
        reqwest::Version::HTTP_11,
        "reqwest asks for http/1.1 here"
    );
    let hsts = reply
        .headers()
        .get("strict-transport-security")
        .context("HSTS once the certificate is trusted")?;
    assert_eq!(hsts, "max-age=31536000");

    // Renewed: new connections get a new certificate; the open one goes on.
    let issued = metric(&trusted, port, "vchat_acme_certificates_total").await?;
    wait_metric(
        &trusted,
        port,
        "vchat_acme_certificates_total",
        issued + 1.0,
        &pebble,
    )
    .await?;
    let (_, second) = connect(addr, NAME, Some(&root)).await?;
    assert_ne!(first, second, "a renewal puts a new certificate in use");
    assert_eq!(
        request(&mut open, "/healthz").await?,
        "HTTP/1.1 200 OK",
        "the open connection survived the renewal"
    );
    let s = status(&server)?;
    assert_eq!(s["state"], "valid", "{s}");
    println!(
        "renewed: {} certificates issued, the connection opened before still answers",
        metric(&trusted, port, "vchat_acme_certificates_total").await?
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn http_01_gets_a_certificate_kept_in_the_data_folder_across_a_restart() -> anyhow::Result<()>
{
    vchat_tests::init_crypto();
    let (port, plain) = (free_port()?, free_port()?);
    let pebble = Pebble::start(plain, free_port()?, 90 * 86_400)?;
    let mut env = acme_settings(&pebble, NAME, "30");
    env.push(("VCHAT_TLS_ACME_CHALLENGE".into(), "http-01".into()));
    env.push((
        "VCHAT_TLS_REDIRECT_FROM".into(),
        format!("127.0.0.1:{plain}"),
    ));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut server = TestServer::start_at(addr, &settings(&env)).await?;
    let root = pebble.root().await?;
    let trusted_or_not = client(addr, None)?;
    wait_metric(
        &trusted_or_not,
        port,
        "vchat_acme_certificates_total",
        1.0,
        &pebble,
    )
    .await?;
    let (_, issued) = connect(addr, NAME, Some(&root)).await?;

    // Plain HTTP sends browsers to HTTPS, path and query kept, method kept (308).
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let r = no_redirects
        .post(format!("http://127.0.0.1:{plain}/agent/?x=1"))
        .header("Host", format!("{NAME}:{plain}"))
        .send()
        .await?;
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://{NAME}:{port}/agent/?x=1")
    );
    let r = no_redirects
        .get(format!(
            "http://127.0.0.1:{plain}/.well-known/acme-challenge/nothing-pending"
        ))
        .send()
        .await?;
    assert_eq!(r.status(), 404);

    // A restart serves the stored certificate and orders none.
    server.restart().await?;
    let (_, after) = connect(addr, NAME, Some(&root)).await?;
    assert_eq!(
        issued, after,
        "the stored certificate is served after a restart"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        metric(&trusted_or_not, port, "vchat_acme_certificates_total").await?,
        0.0,
        "no new order after a restart"
    );
    assert_eq!(status(&server)?["state"], "valid");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_challenge_the_ca_cannot_check_is_reported_with_its_reason() -> anyhow::Result<()> {
    vchat_tests::init_crypto();
    let port = free_port()?;
    let pebble = Pebble::start(free_port()?, port, 90 * 86_400)?;
    // The name points where nothing listens.
    let broken = "broken.vchat.test";
    pebble.move_name(broken, "127.0.0.9").await?;
    let env = acme_settings(&pebble, broken, "30");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let server = TestServer::start_at(addr, &settings(&env)).await?;
    let insecure = client(addr, None)?;
    wait_metric(&insecure, port, "vchat_acme_failures_total", 1.0, &pebble).await?;
    let s = status(&server)?;
    let error = s["error"].as_str().unwrap_or_default();
    println!("status.json: {s}");
    assert_eq!(s["state"], "failed", "{s}");
    assert!(
        error.contains(broken) && error.contains("127.0.0.9") && error.contains("tls-alpn-01"),
        "{error}"
    );
    // Still serving, on the self-signed stand-in, which gets no HSTS.
    let r = insecure
        .get(format!("https://{NAME}:{port}/healthz"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());
    assert_eq!(
        metric(&insecure, port, "vchat_tls_certificate_trusted").await?,
        0.0
    );
    server.stop().await
}

/// Accepts any certificate: for looking at what a server shows, never for trust.
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
