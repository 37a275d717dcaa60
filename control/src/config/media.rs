//! The media server's sockets, rooms, the signaling socket, stopping.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::check::Check;

/// The SFU's UDP media listeners.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address the media sockets bind to.
    pub bind_ip: IpAddr,
    /// First UDP port; worker `i` uses `port + i`. 0 lets the OS choose.
    pub port: u16,
    /// Address announced in ICE candidates, when browsers reach the server at another
    /// address than it binds (NAT, a public IP). Default: `bind_ip`.
    pub announce_ip: Option<IpAddr>,
    /// Media worker threads. 0 means one per core.
    pub workers: usize,
    /// Seconds a peer may take to connect before it is dropped.
    pub connect_timeout_secs: u64,
    /// Seconds a connected peer may be unreachable before it is dropped.
    pub disconnect_timeout_secs: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        let sfu = vchat_sfu::SfuConfig::default();
        MediaConfig {
            bind_ip: sfu.bind_ip,
            port: sfu.port,
            announce_ip: None,
            workers: 0,
            connect_timeout_secs: sfu.connect_timeout.as_secs(),
            disconnect_timeout_secs: sfu.disconnect_timeout.as_secs(),
        }
    }
}

impl MediaConfig {
    pub(super) fn check(&self, c: &Check<'_>) -> Result<(), ConfigError> {
        let announce = self.announce_ip.unwrap_or(self.bind_ip);
        if announce.is_unspecified() || announce.is_multicast() {
            let key = if self.announce_ip.is_some() {
                "media.announce_ip"
            } else {
                "media.bind_ip"
            };
            return Err(c.fail(
                key,
                format!(
                    "{announce} cannot go into ICE candidates; set media.announce_ip to the address browsers reach"
                ),
            ));
        }
        if self.workers > 1024 {
            return Err(c.fail("media.workers", "at most 1024"));
        }
        let workers = if self.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.workers
        };
        if self.port != 0 && usize::from(self.port) + workers > 65536 {
            return Err(c.fail(
                "media.port",
                format!(
                    "{} ports from {} do not fit below 65536",
                    workers, self.port
                ),
            ));
        }
        Ok(())
    }
}

/// Rooms and join tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomsConfig {
    /// Most participants in one room.
    pub max_participants: usize,
    /// Seconds a join token stays valid.
    pub token_ttl_secs: u64,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        RoomsConfig {
            max_participants: 16,
            token_ttl_secs: 24 * 3600,
        }
    }
}

impl RoomsConfig {
    pub(super) fn check(&self, c: &Check<'_>) -> Result<(), ConfigError> {
        c.range(
            "rooms.max_participants",
            self.max_participants,
            2..=1000,
            "",
        )?;
        c.range(
            "rooms.token_ttl_secs",
            self.token_ttl_secs,
            60..=30 * 24 * 3600,
            "(30 days)",
        )
    }
}

/// The signaling WebSocket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalingConfig {
    /// Largest message accepted; larger ones close the socket with 1009.
    pub max_message_bytes: usize,
    /// Seconds a new socket has to send `join`.
    pub join_timeout_secs: u64,
    /// Messages per second a session may send, sustained; bursts of twice that pass.
    pub max_messages_per_second: u32,
}

impl Default for SignalingConfig {
    fn default() -> Self {
        SignalingConfig {
            max_message_bytes: 64 * 1024,
            join_timeout_secs: 10,
            max_messages_per_second: 50,
        }
    }
}

impl SignalingConfig {
    pub(super) fn check(&self, c: &Check<'_>) -> Result<(), ConfigError> {
        c.range(
            "signaling.max_message_bytes",
            self.max_message_bytes,
            4096..=1 << 20,
            "",
        )?;
        c.range(
            "signaling.join_timeout_secs",
            self.join_timeout_secs,
            1..=300,
            "",
        )
    }

    pub(super) fn check_rate(&self, c: &Check<'_>) -> Result<(), ConfigError> {
        c.positive(
            "signaling.max_messages_per_second",
            u64::from(self.max_messages_per_second),
        )
    }
}

/// Stopping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct ShutdownConfig {
    /// On SIGTERM, seconds to let running calls finish before closing them. New joins
    /// are refused meanwhile. A second SIGTERM stops at once.
    pub drain_timeout_secs: u64,
}
