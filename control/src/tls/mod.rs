//! The server certificate, shared by HTTPS and TURNS: where it comes from ([`files`]:
//! PEM files or a self-signed pair; [`acme`]: a CA), the one place that holds it
//! ([`Certificates`], swapped whole when it is renewed or reloaded, so connections
//! already open keep theirs and new ones get the new one), and the listeners that use
//! it ([`listener`] for HTTPS, [`redirect`] for plain HTTP).

pub mod acme;
pub mod files;
pub mod listener;
pub mod metrics;
pub mod redirect;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Where the certificate in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Made here; browsers warn until someone trusts it by hand.
    SelfSigned,
    /// The operator's PEM files.
    Files,
    /// An ACME CA.
    Acme,
}

/// The certificate in use and the ACME challenges being answered. Read once per TLS
/// handshake (never per packet); written on renewal, reload and during an order.
#[derive(Debug)]
pub struct Certificates {
    current: RwLock<Arc<CertifiedKey>>,
    trusted: AtomicBool,
    not_after: AtomicI64,
    /// TLS-ALPN-01: the challenge certificate for each name being validated.
    alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01: the key authorization for each token being validated.
    tokens: RwLock<HashMap<String, String>>,
}

impl Certificates {
    /// Holds `key`, from `origin`.
    pub fn new(key: CertifiedKey, origin: Origin) -> Arc<Certificates> {
        let c = Certificates {
            current: RwLock::new(Arc::new(key.clone())),
            trusted: AtomicBool::new(false),
            not_after: AtomicI64::new(0),
            alpn: RwLock::default(),
            tokens: RwLock::default(),
        };
        c.set(key, origin);
        Arc::new(c)
    }

    /// Puts `key` in use for every new connection.
    pub fn set(&self, key: CertifiedKey, origin: Origin) {
        let end = key.end_entity_cert().ok().and_then(not_after).unwrap_or(0);
        self.not_after.store(end, Ordering::Relaxed);
        self.trusted
            .store(origin != Origin::SelfSigned, Ordering::Relaxed);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
    }

    /// The certificate in use.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether browsers can trust it without help (files or ACME, not self-signed):
    /// only then is HSTS sent.
    pub fn trusted(&self) -> bool {
        self.trusted.load(Ordering::Relaxed)
    }

    /// When the certificate in use ends (Unix seconds; 0 if unknown).
    pub fn not_after(&self) -> i64 {
        self.not_after.load(Ordering::Relaxed)
    }

    /// The answer to an HTTP-01 challenge for `token`, while one is pending.
    pub fn http_challenge(&self, token: &str) -> Option<String> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    pub(crate) fn answer_http(&self, token: &str, key_authorization: Option<String>) {
        let mut t = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        match key_authorization {
            Some(k) => t.insert(token.into(), k),
            None => t.remove(token),
        };
    }

    pub(crate) fn answer_alpn(&self, name: &str, key: Option<CertifiedKey>) {
        let mut a = self.alpn.write().unwrap_or_else(|e| e.into_inner());
        match key {
            Some(k) => a.insert(name.into(), Arc::new(k)),
            None => a.remove(name),
        };
    }

    /// The rustls configuration for HTTPS: TLS 1.3 and 1.2, HTTP/2 then HTTP/1.1, and
    /// TLS-ALPN-01 challenges on the same port.
    pub fn https_config(self: &Arc<Self>) -> anyhow::Result<Arc<ServerConfig>> {
        let mut config = self.server_config()?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
        Ok(Arc::new(config))
    }

    /// The rustls configuration for TURNS (no ALPN: TURN clients send none).
    pub fn turns_config(self: &Arc<Self>) -> anyhow::Result<Arc<ServerConfig>> {
        Ok(Arc::new(self.server_config()?))
    }

    fn server_config(self: &Arc<Self>) -> anyhow::Result<ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Ok(ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("TLS versions")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone()))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let challenge = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if challenge {
            // Only a CA validating a name asks for this protocol; nothing else is
            // served on such a connection.
            let name = hello.server_name()?;
            return self
                .alpn
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(name)
                .cloned();
        }
        Some(self.current())
    }
}

/// The SHA-256 fingerprint of `cert` as browsers show it (`AB:CD:…`).
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The end of `cert`'s validity, in Unix seconds.
pub fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

/// `Strict-Transport-Security` on every HTTPS response, once the certificate is one
/// browsers trust (`max_age` seconds; 0: never). A self-signed certificate gets none:
/// HSTS would turn its warning, which a person can click through, into a wall.
pub async fn strict_transport(
    axum::extract::State((certs, max_age)): axum::extract::State<(Arc<Certificates>, u64)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if max_age > 0
        && certs.trusted()
        && let Ok(value) = axum::http::HeaderValue::from_str(&format!("max-age={max_age}"))
    {
        response
            .headers_mut()
            .insert(axum::http::header::STRICT_TRANSPORT_SECURITY, value);
    }
    response
}
