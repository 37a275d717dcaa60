//! HTTPS: when it is on, and where its certificate comes from — PEM files, a
//! self-signed one made into the data folder, or ACME (RFC 8555) for public names.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::check::Check;

/// Let's Encrypt's production directory.
const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// When pages are served over HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// HTTPS unless `http` is a loopback address with no ACME names (browsers treat
    /// `localhost` as secure, and a TLS proxy in front of a loopback address may set an
    /// `https://` public URL): on any other address, or with ACME names.
    #[default]
    Auto,
    /// HTTPS always, loopback too.
    On,
    /// Plain HTTP always: only behind a reverse proxy that does TLS (camera and
    /// microphone need a secure page).
    Off,
}

/// The server certificate, for HTTPS and for TURNS. With neither files nor ACME names,
/// a self-signed certificate for `localhost` and the configured addresses is made once
/// into `<data_dir>/tls/`. Files are re-read when they change (checked every 10 s) and
/// on SIGHUP; an ACME certificate is renewed `acme.renew_before_days` before it ends.
/// Either swaps in without dropping a call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// See [`TlsMode`]: `auto`, `on` or `off`.
    pub mode: TlsMode,
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// A plain-HTTP address (`[::]:80`) that sends browsers to HTTPS (308) and answers
    /// ACME HTTP-01 challenges. None: no plain HTTP at all.
    pub redirect_from: Option<SocketAddr>,
    /// `Strict-Transport-Security` max-age for a certificate browsers trust (files or
    /// ACME; never for a self-signed one, whose warning HSTS would make final); 0: none.
    pub hsts_max_age_secs: u64,
    /// Certificates from an ACME CA.
    pub acme: AcmeConfig,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            mode: TlsMode::Auto,
            cert: None,
            key: None,
            redirect_from: None,
            hsts_max_age_secs: 365 * 24 * 3600,
            acme: AcmeConfig::default(),
        }
    }
}

/// The challenge that proves to the CA that this server answers for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AcmeChallenge {
    /// TLS-ALPN-01 (RFC 8737) on the HTTPS port itself (443 for a public CA).
    #[default]
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// HTTP-01 on the plain-HTTP port (`tls.redirect_from`, 80 for a public CA).
    #[serde(rename = "http-01")]
    Http01,
}

/// Certificates from an ACME CA (Let's Encrypt by default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// Public DNS names this server answers for; none: no ACME.
    pub names: Vec<String>,
    /// The CA's directory URL.
    pub directory: String,
    /// Contacts for the account (`mailto:ops@example.com`): the CA writes before a
    /// certificate ends unrenewed.
    pub contact: Vec<String>,
    /// A PEM root to trust for the CA's own API (a test CA such as pebble); default:
    /// the system's roots.
    pub ca_root: Option<PathBuf>,
    /// `tls-alpn-01` or `http-01`.
    pub challenge: AcmeChallenge,
    /// Renew this many days before the certificate ends.
    pub renew_before_days: u32,
    /// How often the certificate's end is looked at, and the wait after a failed order.
    pub check_every_secs: u64,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            names: Vec::new(),
            directory: LETS_ENCRYPT.into(),
            contact: Vec::new(),
            ca_root: None,
            challenge: AcmeChallenge::TlsAlpn01,
            renew_before_days: 30,
            check_every_secs: 12 * 3600,
        }
    }
}

impl TlsConfig {
    /// Whether pages are served over HTTPS for a server told to listen on `http`.
    pub fn https(&self, http: SocketAddr) -> bool {
        match self.mode {
            TlsMode::On => true,
            TlsMode::Off => false,
            TlsMode::Auto => !http.ip().is_loopback() || !self.acme.names.is_empty(),
        }
    }

    pub(super) fn check(&self, c: &Check<'_>, http: SocketAddr) -> Result<(), ConfigError> {
        if self.cert.is_some() != self.key.is_some() {
            return Err(c.fail("tls.cert", "give both tls.cert and tls.key, or neither"));
        }
        let a = &self.acme;
        if a.names.is_empty() {
            return Ok(());
        }
        if self.cert.is_some() {
            return Err(c.fail(
                "tls.acme.names",
                "a certificate comes from tls.cert or from ACME, not both",
            ));
        }
        if !self.https(http) {
            return Err(c.fail("tls.acme.names", "ACME needs HTTPS: tls.mode is off"));
        }
        for name in &a.names {
            let ok = !name.is_empty()
                && name.len() <= 253
                && name.parse::<std::net::IpAddr>().is_err()
                && name.split('.').count() >= 2
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
                });
            if !ok {
                return Err(c.fail(
                    "tls.acme.names",
                    format!("{name:?} is not a DNS name like vchat.example.com"),
                ));
            }
        }
        if !(a.directory.starts_with("https://")) {
            return Err(c.fail("tls.acme.directory", "must be an https:// URL"));
        }
        for contact in &a.contact {
            if !contact.starts_with("mailto:") {
                return Err(c.fail(
                    "tls.acme.contact",
                    format!("{contact:?}: contacts are mailto: URLs"),
                ));
            }
        }
        if a.challenge == AcmeChallenge::Http01 && self.redirect_from.is_none() {
            return Err(c.fail(
                "tls.acme.challenge",
                "http-01 is answered on plain HTTP: set tls.redirect_from (e.g. \"[::]:80\")",
            ));
        }
        c.range(
            "tls.acme.renew_before_days",
            a.renew_before_days,
            1..=3650,
            "",
        )?;
        c.range(
            "tls.acme.check_every_secs",
            a.check_every_secs,
            1..=7 * 24 * 3600,
            "(7 days)",
        )
    }
}
