//! The built-in TURN relay.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::{ConfigError, Secret};

/// The built-in STUN/TURN relay (RFC 8656). Browsers that cannot reach the media
/// ports directly (strict NATs, UDP-blocking firewalls) come through it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// Run the relay at all.
    pub enabled: bool,
    /// Address the UDP, TCP and TLS listeners bind to.
    pub listen_ip: IpAddr,
    /// UDP listener port (0: the OS picks); `udp = false` turns it off.
    pub udp_port: u16,
    /// Listen on UDP.
    pub udp: bool,
    /// TCP listener port (0: the OS picks).
    pub tcp_port: u16,
    /// Listen on TCP.
    pub tcp: bool,
    /// TLS ("TURNS") listener port (0: the OS picks).
    pub tls_port: u16,
    /// Listen on TLS, with the certificate of `[tls]`.
    pub tls: bool,
    /// Address relay sockets bind to (IPv4).
    pub relay_ip: IpAddr,
    /// Address relay sockets bind to for IPv6 allocations; none: IPv4 only.
    pub relay_ipv6: Option<IpAddr>,
    /// Address told to clients for relayed candidates and put into `turn:` URLs, when
    /// clients reach the server at another address than it binds (NAT, cloud).
    pub announce_ip: Option<IpAddr>,
    /// Host name put into `turns:` URLs (must match the certificate). Default: the
    /// host of `public_url`, else the announced address.
    pub host: Option<String>,
    /// First relay port.
    pub min_port: u16,
    /// Last relay port.
    pub max_port: u16,
    /// The REALM of long-term credentials.
    pub realm: String,
    /// Shared secret for time-limited credentials (TURN REST, as coturn's
    /// `static-auth-secret`). Default: generated once into `<data_dir>/turn-secret`.
    pub secret: Option<Secret>,
    /// Static users for operators, as `name:password`.
    pub users: Vec<Secret>,
    /// Seconds the credentials handed to a joining browser stay valid. Calls longer
    /// than this lose their relay at the next refresh.
    pub credential_ttl_secs: u64,
    /// Peer address blocks clients may reach although the defaults deny them
    /// (private networks of a deployment), e.g. `10.20.0.0/16`.
    pub allowed_peers: Vec<String>,
    /// More blocks to deny on top of the defaults.
    pub denied_peers: Vec<String>,
    /// Lets clients reach 127.0.0.0/8 and ::1 through the relay. For tests on one
    /// machine only: with it, anyone holding credentials talks to every local service.
    pub allow_loopback_peers_dangerously: bool,
    /// Allocations one user may hold at once.
    pub user_quota: usize,
    /// Allocations the relay holds at once.
    pub total_quota: usize,
    /// Per-allocation bandwidth cap in kbit/s (both directions); 0: none.
    pub max_kbps: u64,
    /// Client TCP and TLS connections held at once.
    pub max_connections: usize,
    /// 401/438 answers per second per source address (every one over UDP, where a
    /// spoofed source could aim them at someone else; failed credentials on TCP and
    /// TLS); twice this passes in a burst.
    pub challenges_per_second: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            enabled: true,
            listen_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            udp_port: 3478,
            udp: true,
            tcp_port: 3478,
            tcp: true,
            tls_port: 5349,
            tls: true,
            relay_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            relay_ipv6: None,
            announce_ip: None,
            host: None,
            min_port: 20000,
            max_port: 29999,
            realm: "vchat".into(),
            secret: None,
            users: Vec::new(),
            credential_ttl_secs: 24 * 3600,
            allowed_peers: Vec::new(),
            denied_peers: Vec::new(),
            allow_loopback_peers_dangerously: false,
            user_quota: 32,
            total_quota: 10_000,
            max_kbps: 20_000,
            max_connections: 10_000,
            challenges_per_second: 200,
        }
    }
}

impl TurnConfig {
    pub(super) fn check(&self, c: &Check<'_>) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.min_port == 0 || self.min_port > self.max_port {
            return Err(c.fail(
                "turn.min_port",
                format!("{}..{} is not a port range", self.min_port, self.max_port),
            ));
        }
        if self.relay_ip.is_unspecified() && self.announce_ip.is_none() {
            return Err(c.fail(
                "turn.announce_ip",
                "relay_ip is a wildcard; set announce_ip to the address clients reach",
            ));
        }
        if self.realm.is_empty() || self.realm.len() > 127 {
            return Err(c.fail("turn.realm", "must be 1 to 127 characters"));
        }
        if let Some(secret) = &self.secret
            && secret.expose().len() < 16
        {
            return Err(c.fail("turn.secret", "must be at least 16 characters"));
        }
        for user in &self.users {
            match user.expose().split_once(':') {
                Some((name, pass))
                    if !name.is_empty() && !pass.is_empty() && !name.contains(':') => {}
                _ => return Err(c.fail("turn.users", "each user is `name:password`")),
            }
        }
        // Address blocks are the relay's to read.
        for (key, list) in [
            ("turn.allowed_peers", &self.allowed_peers),
            ("turn.denied_peers", &self.denied_peers),
        ] {
            for block in list {
                if let Err(e) = block.parse::<vchat_turn::policy::Cidr>() {
                    return Err(c.fail(key, e.to_string()));
                }
            }
        }
        c.range(
            "turn.credential_ttl_secs",
            self.credential_ttl_secs,
            60..=7 * 24 * 3600,
            "(7 days)",
        )?;
        c.positive(
            "turn.challenges_per_second",
            u64::from(self.challenges_per_second),
        )?;
        if self.user_quota == 0 || self.total_quota == 0 {
            return Err(c.fail("turn.user_quota", "quotas must be at least 1"));
        }
        Ok(())
    }
}
