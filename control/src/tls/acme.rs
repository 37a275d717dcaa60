//! Certificates from an ACME CA (RFC 8555): an account made once, an order for the
//! configured names proved by TLS-ALPN-01 (RFC 8737) on the HTTPS port or HTTP-01 on
//! plain HTTP, and a renewal well before the end. Everything lands in
//! `<data_dir>/tls/acme/` (account, chain, key, and `status.json` for people and
//! `vchat doctor`); a new certificate swaps in for new connections while open ones —
//! calls included — keep theirs. A failed order keeps the certificate in use, says
//! why (the CA's own words), and is tried again later.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;

use super::files::{certified_key, write_private};
use super::{Certificates, Origin};
use crate::config::{AcmeChallenge, AcmeConfig};

/// How long the CA gets to validate and to issue.
const CA_PATIENCE: Duration = Duration::from_secs(90);
/// The longest wait before a failed order is tried again (CAs limit failures an hour).
const RETRY_AT_MOST: Duration = Duration::from_secs(3600);

/// What ACME has done, for `/metrics` and `status.json`.
#[derive(Debug, Default)]
pub struct AcmeCounters {
    /// Certificates obtained (the first one and every renewal).
    pub issued: AtomicU64,
    /// Orders that failed.
    pub failed: AtomicU64,
}

/// `status.json`: what the last attempt did.
#[derive(Debug, Clone, Serialize, Default)]
struct Status {
    names: Vec<String>,
    directory: String,
    /// `valid` (a certificate in use), `pending` (none yet), `failed` (the last
    /// order failed; `error` says why).
    state: &'static str,
    not_after: Option<i64>,
    last_attempt: Option<i64>,
    error: Option<String>,
}

/// The ACME side of a server.
pub struct Acme {
    config: AcmeConfig,
    dir: PathBuf,
    certs: Arc<Certificates>,
    /// Counters for `/metrics`.
    pub counters: Arc<AcmeCounters>,
    status: Mutex<Status>,
}

impl Acme {
    /// ACME for `config` into `<data_dir>/tls/acme/`, serving through `certs`. A stored
    /// certificate for the same names is put in use at once.
    pub fn new(
        config: &AcmeConfig,
        data_dir: &Path,
        certs: Arc<Certificates>,
    ) -> anyhow::Result<Arc<Acme>> {
        let dir = data_dir.join("tls").join("acme");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let acme = Acme {
            config: config.clone(),
            dir,
            certs,
            counters: Arc::default(),
            status: Mutex::new(Status {
                names: config.names.clone(),
                directory: config.directory.clone(),
                state: "pending",
                ..Status::default()
            }),
        };
        if let Some(key) = acme.stored() {
            let end = key.end_entity_cert().ok().and_then(super::not_after);
            acme.certs.set(key, Origin::Acme);
            acme.note(|s| {
                s.state = "valid";
                s.not_after = end;
            });
        }
        Ok(Arc::new(acme))
    }

    /// The stored certificate, if it names exactly the configured names.
    fn stored(&self) -> Option<CertifiedKey> {
        let chain = std::fs::read(self.dir.join("cert.pem")).ok()?;
        let key = std::fs::read(self.dir.join("key.pem")).ok()?;
        let names = std::fs::read_to_string(self.dir.join("names")).ok()?;
        if names.lines().collect::<Vec<_>>() != self.config.names {
            return None;
        }
        certified_key(&chain, &key).ok()
    }

    /// Keeps a certificate in use from now on: orders one when there is none (or it is
    /// for other names), renews it `renew_before_days` before its end.
    pub fn spawn(self: &Arc<Self>) {
        let acme = self.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(acme.config.check_every_secs);
            loop {
                let wait = if acme.due() {
                    match acme.obtain().await {
                        Ok(()) => every,
                        Err(e) => {
                            let wait = every.min(RETRY_AT_MOST);
                            acme.counters.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(
                                names = ?acme.config.names,
                                "ACME: no certificate this time: {e:#}; trying again in {}s",
                                wait.as_secs()
                            );
                            acme.note(|s| {
                                s.state = "failed";
                                s.error = Some(format!("{e:#}"));
                            });
                            wait
                        }
                    }
                } else {
                    every
                };
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// Whether an order is needed now.
    fn due(&self) -> bool {
        let status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let Some(end) = status.not_after.filter(|_| status.state != "pending") else {
            return true;
        };
        let renew_at = end - i64::from(self.config.renew_before_days) * 86_400;
        now() >= renew_at
    }

    fn note(&self, change: impl FnOnce(&mut Status)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut status);
        if let Ok(json) = serde_json::to_vec_pretty(&*status)
            && let Err(e) = write_private(&self.dir.join("status.json"), &json)
        {
            tracing::warn!("cannot write the ACME status: {e:#}");
        }
    }

    /// Orders a certificate, proves every name, and puts the result in use.
    async fn obtain(&self) -> anyhow::Result<()> {
        let names = &self.config.names;
        self.note(|s| s.last_attempt = Some(now()));
        tracing::info!(?names, directory = %self.config.directory, "ACME: ordering a certificate");
        let account = self.account().await?;
        let identifiers: Vec<Identifier> =
            names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .context("the CA refused the order")?;
        let kind = match self.config.challenge {
            AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            AcmeChallenge::Http01 => ChallengeType::Http01,
        };
        // What is being answered, to take down afterwards whatever happens.
        let mut answering: Vec<(String, String)> = Vec::new();
        let proved = async {
            let mut authorizations = order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization = authorization.context("cannot read an authorization")?;
                match authorization.status {
                    AuthorizationStatus::Pending => {}
                    AuthorizationStatus::Valid => continue,
                    other => anyhow::bail!("an authorization is {other:?}"),
                }
                let name = authorization.identifier().to_string();
                let mut challenge = authorization
                    .challenge(kind.clone())
                    .ok_or_else(|| anyhow!("the CA offers no {kind:?} challenge for {name}"))?;
                let answer = challenge.key_authorization();
                match kind {
                    ChallengeType::TlsAlpn01 => self.certs.answer_alpn(
                        &name,
                        Some(alpn_certificate(&name, answer.digest().as_ref())?),
                    ),
                    _ => self
                        .certs
                        .answer_http(&challenge.token, Some(answer.as_str().to_string())),
                }
                answering.push((name.clone(), challenge.token.clone()));
                challenge
                    .set_ready()
                    .await
                    .with_context(|| format!("the CA would not validate {name}"))?;
            }
            let retry = RetryPolicy::new().timeout(CA_PATIENCE);
            Ok::<_, anyhow::Error>(order.poll_ready(&retry).await)
        }
        .await;
        for (name, token) in &answering {
            self.certs.answer_alpn(name, None);
            self.certs.answer_http(token, None);
        }
        let ready = match proved? {
            Ok(OrderStatus::Ready) => true,
            Ok(_) | Err(instant_acme::Error::Api(_)) => false,
            Err(e) => return Err(e).context("the CA did not answer in time"),
        };
        if !ready {
            return Err(anyhow!(self.why_invalid(&mut order).await));
        }
        let key_pem = order
            .finalize()
            .await
            .context("the CA refused to finalize")?;
        let chain_pem = order
            .poll_certificate(&RetryPolicy::new().timeout(CA_PATIENCE))
            .await
            .context("the CA issued no certificate")?;
        let key = certified_key(chain_pem.as_bytes(), key_pem.as_bytes())
            .context("the CA's certificate does not go with our key")?;
        write_private(&self.dir.join("key.pem"), key_pem.as_bytes())?;
        write_private(&self.dir.join("cert.pem"), chain_pem.as_bytes())?;
        write_private(&self.dir.join("names"), names.join("\n").as_bytes())?;
        let end = key.end_entity_cert().ok().and_then(super::not_after);
        self.certs.set(key, Origin::Acme);
        self.counters.issued.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            ?names,
            not_after = end.unwrap_or(0),
            "ACME: new certificate in use for new connections (open ones keep theirs)"
        );
        self.note(|s| {
            s.state = "valid";
            s.not_after = end;
            s.error = None;
        });
        Ok(())
    }

    /// The CA's reasons for each name it did not validate.
    async fn why_invalid(&self, order: &mut instant_acme::Order) -> String {
        let mut reasons = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(Ok(mut authorization)) = authorizations.next().await {
            let name = authorization.identifier().to_string();
            let Ok(state) = authorization.refresh().await else {
                continue;
            };
            for challenge in &state.challenges {
                if let Some(problem) = &challenge.error {
                    let detail = problem.detail.as_deref().unwrap_or("no detail given");
                    let kind = problem
                        .r#type
                        .as_deref()
                        .unwrap_or("")
                        .trim_start_matches("urn:ietf:params:acme:error:");
                    reasons.push(format!("{name}: {detail} ({kind})"));
                }
            }
        }
        if reasons.is_empty() {
            "the CA did not validate the names and gave no reason".into()
        } else {
            format!("the CA could not validate {}", reasons.join("; "))
        }
    }

    /// The stored account, or a new one (stored).
    async fn account(&self) -> anyhow::Result<Account> {
        let builder = || match &self.config.ca_root {
            Some(root) => Account::builder_with_root(root)
                .with_context(|| format!("cannot use {} as the CA's root", root.display())),
            None => Account::builder().context("cannot set up HTTPS to the CA"),
        };
        let path = self.dir.join("account.json");
        if let Ok(bytes) = std::fs::read(&path) {
            let credentials: AccountCredentials = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not an ACME account", path.display()))?;
            return builder()?
                .from_credentials(credentials)
                .await
                .context("cannot reach the CA");
        }
        let contact: Vec<&str> = self.config.contact.iter().map(String::as_str).collect();
        let (account, credentials) = builder()?
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.config.directory.clone(),
                None,
            )
            .await
            .with_context(|| format!("cannot make an account at {}", self.config.directory))?;
        write_private(&path, &serde_json::to_vec(&credentials)?)?;
        tracing::info!(directory = %self.config.directory, "ACME: account made");
        Ok(account)
    }
}

/// The certificate a TLS-ALPN-01 validation of `name` expects (RFC 8737 §3): for that
/// name alone, with the key authorization's digest in the acmeIdentifier extension.
fn alpn_certificate(name: &str, digest: &[u8]) -> anyhow::Result<CertifiedKey> {
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    // `CertifiedKey::from_der` refuses a certificate with a critical extension it does
    // not know, which acmeIdentifier is: the key is loaded apart.
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signer = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(key.serialize_der().into()))?;
    Ok(CertifiedKey::new(
        vec![CertificateDer::from(cert.der().to_vec())],
        signer,
    ))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
