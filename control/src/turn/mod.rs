//! The built-in TURN relay, as the control plane runs it: started from the
//! configuration, handing browsers fresh credentials, exported to Prometheus.

pub mod bridge;
mod metrics;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use vchat_turn::auth::{Credentials, rest_credentials};
use vchat_turn::driver::{DriverConfig, InternalPeers, Turn};
use vchat_turn::policy::{Cidr, PeerPolicy};
use vchat_turn::relay::RelayConfig;

use crate::config::{Config, Secret};
use crate::domain::auth::secrets;
use crate::ws::messages::IceServer;

/// The running relay and what browsers need to use it.
pub struct TurnService {
    turn: Turn,
    secret: Secret,
    ttl: Duration,
    urls: Vec<String>,
}

impl TurnService {
    /// Starts the relay `config.turn` describes; `media` are the SFU's addresses
    /// (reached in-process through `internal`); `tls` is the server certificate's
    /// configuration for TURNS (the one HTTPS uses).
    pub fn start(
        config: &Config,
        data_dir: &Path,
        media: &[SocketAddr],
        internal: Option<Box<dyn InternalPeers>>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> anyhow::Result<TurnService> {
        let t = &config.turn;
        let secret = match &t.secret {
            Some(s) => s.clone(),
            None => secrets::load_or_create(&data_dir.join("turn-secret"))?,
        };
        let mut credentials = Credentials::new(t.realm.clone()).with_secret(secret.expose());
        for user in &t.users {
            if let Some((name, password)) = user.expose().split_once(':') {
                credentials = credentials.with_user(name, password);
            }
        }
        let parse = |list: &[String]| -> anyhow::Result<Vec<Cidr>> {
            list.iter()
                .map(|c| c.parse::<Cidr>().map_err(anyhow::Error::from))
                .collect()
        };
        if t.allow_loopback_peers_dangerously {
            tracing::warn!(
                "turn.allow_loopback_peers_dangerously is on: anyone with TURN credentials \
                 can reach every service on this machine's loopback addresses"
            );
        }
        let policy = PeerPolicy::default()
            .with_allowed(parse(&t.allowed_peers)?)
            .with_denied(parse(&t.denied_peers)?)
            .with_internal(media.to_vec())
            .with_loopback_peers_dangerously_allowed(t.allow_loopback_peers_dangerously);
        let relay = RelayConfig {
            external_v4: t.announce_ip.filter(IpAddr::is_ipv4),
            external_v6: t.announce_ip.filter(IpAddr::is_ipv6),
            user_quota: t.user_quota,
            total_quota: t.total_quota,
            max_bytes_per_second: t.max_kbps * 1000 / 8,
            challenges_per_second: (
                t.challenges_per_second,
                t.challenges_per_second.saturating_mul(2),
            ),
            ..RelayConfig::default()
        };
        let host = t.announce_ip.unwrap_or(t.listen_ip);
        let tls_host = tls_host(config);
        let tls = if t.tls {
            let config = tls.context("TURNS needs the server certificate")?;
            Some(Arc::new(RwLock::new(config)))
        } else {
            None
        };
        let listen = |on: bool, port: u16| on.then_some(SocketAddr::new(t.listen_ip, port));
        let driver = DriverConfig {
            udp: listen(t.udp, t.udp_port),
            tcp: listen(t.tcp, t.tcp_port),
            tls: listen(t.tls, t.tls_port),
            relay_v4: Some(t.relay_ip).filter(IpAddr::is_ipv4),
            relay_v6: t.relay_ipv6,
            ports: t.min_port..=t.max_port,
            socket_buffer_bytes: 4 << 20,
            max_streams: t.max_connections,
        };
        let turn = Turn::start(driver, relay, credentials, policy, tls, internal)
            .context("cannot start TURN")?;
        let ip = url_ip(host);
        let mut urls = Vec::new();
        if let Some(a) = turn.udp_addr {
            urls.push(format!("turn:{ip}:{}?transport=udp", a.port()));
        }
        if let Some(a) = turn.tcp_addr {
            urls.push(format!("turn:{ip}:{}?transport=tcp", a.port()));
        }
        if let Some(a) = turn.tls_addr {
            urls.push(format!("turns:{tls_host}:{}?transport=tcp", a.port()));
        }
        Ok(TurnService {
            turn,
            secret,
            ttl: Duration::from_secs(t.credential_ttl_secs),
            urls,
        })
    }

    /// ICE servers with fresh time-limited credentials for `user`.
    pub fn ice_servers(&self, user: &str) -> Vec<IceServer> {
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // The user part is for quotas and logs; keep it to safe characters.
        let user: String = user
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect();
        let (username, credential) =
            rest_credentials(self.secret.expose().as_bytes(), &user, unix, self.ttl);
        vec![IceServer {
            urls: self.urls.clone(),
            username: Some(username),
            credential: Some(credential),
        }]
    }

    /// The relay's listeners, for logs and tests.
    pub fn addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>) {
        (self.turn.udp_addr, self.turn.tcp_addr, self.turn.tls_addr)
    }

    /// Prometheus text for the relay's counters.
    pub fn render_metrics(&self) -> String {
        metrics::render(&self.turn.stats())
    }

    /// The SFU's way into the relay.
    pub fn internal_inbox(&self) -> vchat_turn::driver::InternalInbox {
        self.turn.internal_inbox()
    }

    /// No new allocations; existing ones run until they end or `deadline`.
    pub fn drain(&self, deadline: Instant) {
        self.turn.drain(deadline);
    }

    /// Waits for the relay thread to end after [`TurnService::drain`].
    pub fn join(&self) {
        self.turn.join();
    }
}

fn url_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// The host name put into `turns:` URLs: it must be one the certificate names.
pub fn tls_host(config: &Config) -> String {
    let t = &config.turn;
    t.host
        .clone()
        .or_else(|| config.public_url.as_deref().and_then(url_host))
        .or_else(|| config.tls.acme.names.first().cloned())
        .unwrap_or_else(|| url_ip(t.announce_ip.unwrap_or(t.listen_ip)))
}

/// The host of an http(s) URL.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next()?),
        None => authority.split(':').next()?.to_string(),
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("https://vchat.example.com/x").as_deref(),
            Some("vchat.example.com")
        );
        assert_eq!(
            url_host("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            url_host("https://[2001:db8::1]:443/").as_deref(),
            Some("[2001:db8::1]")
        );
        assert_eq!(url_host("nonsense"), None);
    }
}
