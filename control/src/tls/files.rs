//! The certificate from PEM files: the operator's, or a self-signed pair made into
//! the data folder for the names this server answers for. Reloaded when the files
//! change, or on SIGHUP, without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{Certificates, Origin};

/// How often the files are checked for a new certificate.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Where the certificate and key live.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// PEM chain.
    pub cert: PathBuf,
    /// PEM key.
    pub key: PathBuf,
    /// Whether these are the operator's files or a pair made here.
    pub origin: Origin,
}

impl CertificateFiles {
    /// The configured files, or a self-signed pair under `data_dir/tls/` for `names`
    /// (host names and addresses), made on first use and again when the names change.
    pub fn resolve(
        cert: Option<&Path>,
        key: Option<&Path>,
        data_dir: &Path,
        names: &[String],
    ) -> anyhow::Result<CertificateFiles> {
        if let (Some(cert), Some(key)) = (cert, key) {
            return Ok(CertificateFiles {
                cert: cert.into(),
                key: key.into(),
                origin: Origin::Files,
            });
        }
        let dir = data_dir.join("tls");
        let files = CertificateFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            origin: Origin::SelfSigned,
        };
        if files.key.exists() && files.covers(names) {
            return Ok(files);
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let certified = rcgen::generate_simple_self_signed(names.to_vec())
            .context("cannot make a self-signed certificate")?;
        write_private(&files.key, certified.signing_key.serialize_pem().as_bytes())?;
        std::fs::write(&files.cert, certified.cert.pem())
            .with_context(|| format!("cannot write {}", files.cert.display()))?;
        tracing::info!(
            cert = %files.cert.display(),
            "made a self-signed certificate for {names:?}"
        );
        Ok(files)
    }

    /// Whether the certificate file names every one of `names`.
    fn covers(&self, names: &[String]) -> bool {
        let Ok(der) = CertificateDer::from_pem_file(&self.cert) else {
            return false;
        };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
            return false;
        };
        let Ok(Some(san)) = cert.subject_alternative_name() else {
            return false;
        };
        let listed: Vec<String> = san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                    4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(*ip).ok()?).to_string()),
                    16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(*ip).ok()?).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        names.iter().all(|n| listed.contains(n))
    }

    /// Reads both files.
    pub fn load(&self) -> anyhow::Result<CertifiedKey> {
        let cert = std::fs::read(&self.cert)
            .with_context(|| format!("cannot read certificate {}", self.cert.display()))?;
        let key = std::fs::read(&self.key)
            .with_context(|| format!("cannot read key {}", self.key.display()))?;
        certified_key(&cert, &key).with_context(|| {
            format!(
                "{} and {} are not a certificate chain and its key",
                self.cert.display(),
                self.key.display()
            )
        })
    }

    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((m(&self.cert)?, m(&self.key)?))
    }

    /// Loads now into new [`Certificates`], and keeps them current: on SIGHUP, and when
    /// either file changes. A bad new pair is logged and the old one kept.
    pub fn watch(self) -> anyhow::Result<Arc<Certificates>> {
        let certs = Certificates::new(self.load()?, self.origin);
        let watched = certs.clone();
        tokio::spawn(async move {
            let mut seen = self.modified();
            let mut hup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                let forced = match hup.as_mut() {
                    Some(h) => tokio::select! {
                        _ = h.recv() => true,
                        _ = tokio::time::sleep(CHECK_EVERY) => false,
                    },
                    None => {
                        tokio::time::sleep(CHECK_EVERY).await;
                        false
                    }
                };
                let now = self.modified();
                if !forced && now == seen {
                    continue;
                }
                seen = now;
                match self.load() {
                    Ok(key) => {
                        watched.set(key, self.origin);
                        tracing::info!(cert = %self.cert.display(), "certificate reloaded");
                    }
                    Err(e) => {
                        tracing::error!("certificate not reloaded, keeping the old one: {e:#}")
                    }
                }
            }
        });
        Ok(certs)
    }
}

/// A PEM chain and its PEM key, checked to belong together.
pub fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("not a PEM certificate chain")?;
    if chain.is_empty() {
        anyhow::bail!("no certificate in the chain");
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).context("not a PEM private key")?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider)
        .context("the certificate and the key do not go together")?;
    Ok(certified)
}

/// Writes `bytes` to `path` readable by this user only, whole or not at all (a
/// temporary file renamed over the old one).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let partial = path.with_extension("partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
