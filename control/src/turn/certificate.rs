//! The server certificate: loaded from PEM files, or made once (self-signed) into
//! the data folder; reloaded when the files change, without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use vchat_turn::driver::TlsSlot;

/// How often the files are checked for a new certificate.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Where the certificate and key live.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// PEM chain.
    pub cert: PathBuf,
    /// PEM key.
    pub key: PathBuf,
}

impl CertificateFiles {
    /// The configured files, or a self-signed pair under `data_dir/tls/` made on first
    /// use for `names` (host names and addresses).
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
            });
        }
        let dir = data_dir.join("tls");
        let files = CertificateFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        if files.cert.exists() && files.key.exists() {
            return Ok(files);
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let certified = rcgen::generate_simple_self_signed(names.to_vec())
            .context("cannot make a self-signed certificate")?;
        write_private(&files.key, certified.signing_key.serialize_pem().as_bytes())?;
        std::fs::write(&files.cert, certified.cert.pem())
            .with_context(|| format!("cannot write {}", files.cert.display()))?;
        tracing::warn!(
            cert = %files.cert.display(),
            "no tls.cert configured: made a self-signed certificate for {names:?}; browsers \
             will not trust it for TURNS, so set tls.cert and tls.key in production"
        );
        Ok(files)
    }

    /// Reads both files into a rustls configuration.
    pub fn load(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .with_context(|| format!("cannot read certificate {}", self.cert.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{} is not a PEM certificate chain", self.cert.display()))?;
        if chain.is_empty() {
            anyhow::bail!("{} holds no certificate", self.cert.display());
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("{} is not a PEM private key", self.key.display()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the certificate and the key do not go together")?;
        Ok(Arc::new(config))
    }

    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((m(&self.cert)?, m(&self.key)?))
    }

    /// Loads now, and keeps `slot` current: on SIGHUP, and when either file changes.
    /// A bad new pair is logged and the old one kept.
    pub fn watch(self) -> anyhow::Result<TlsSlot> {
        let slot: TlsSlot = Arc::new(RwLock::new(self.load()?));
        let watched = slot.clone();
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
                    Ok(config) => {
                        *watched.write().unwrap_or_else(|e| e.into_inner()) = config;
                        tracing::info!(cert = %self.cert.display(), "certificate reloaded");
                    }
                    Err(e) => {
                        tracing::error!("certificate not reloaded, keeping the old one: {e:#}")
                    }
                }
            }
        });
        Ok(slot)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
