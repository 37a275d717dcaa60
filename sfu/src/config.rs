//! How the SFU is set up: sockets, workers and limits.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::error::SfuError;

/// Settings of the SFU. The control plane fills it from vchat's config file.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// Address the media sockets bind to.
    pub bind_ip: IpAddr,
    /// First UDP port; worker `i` listens on `port + i`. `0` lets the OS pick per worker.
    pub port: u16,
    /// Address put into ICE candidates. `None` means `bind_ip`, which must then be a
    /// concrete address (not `0.0.0.0` or `::`).
    pub announce_ip: Option<IpAddr>,
    /// Worker threads; rooms are spread over them. `0` means one per core.
    pub workers: usize,
    /// Most participants in one room.
    pub max_participants_per_room: usize,
    /// How long a new peer may take to connect (ICE + DTLS) before it is dropped.
    pub connect_timeout: Duration,
    /// How long a connected peer may stay unreachable (no ICE consent) before it is dropped.
    pub disconnect_timeout: Duration,
    /// Largest data-channel message relayed between participants.
    pub max_channel_message: usize,
    /// Socket buffer size asked of the kernel, per direction.
    pub socket_buffer_bytes: usize,
    /// A connected peer that sends no RTP for this long is reported as inactive;
    /// `None`: never.
    pub media_inactive_after: Option<Duration>,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 40000,
            announce_ip: None,
            workers: 0,
            max_participants_per_room: 16,
            connect_timeout: Duration::from_secs(30),
            disconnect_timeout: Duration::from_secs(30),
            max_channel_message: 64 * 1024,
            socket_buffer_bytes: 4 << 20,
            media_inactive_after: Some(Duration::from_secs(10)),
        }
    }
}

impl SfuConfig {
    /// Checks the settings and resolves the defaults that depend on the machine.
    pub fn resolve(mut self) -> Result<SfuConfig, SfuError> {
        if self.workers == 0 {
            self.workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        }
        if self.workers > 1024 {
            return Err(SfuError::Config(format!(
                "{} workers is too many",
                self.workers
            )));
        }
        let announce = self.announce_ip.unwrap_or(self.bind_ip);
        if announce.is_unspecified() || announce.is_multicast() {
            return Err(SfuError::Config(format!(
                "cannot announce {announce} in ICE candidates: set the address browsers reach \
                 the media port on"
            )));
        }
        if self.port != 0 && usize::from(self.port) + self.workers > 65536 {
            return Err(SfuError::Config(format!(
                "ports {}..{} do not fit",
                self.port,
                usize::from(self.port) + self.workers
            )));
        }
        if self.max_participants_per_room < 2 {
            return Err(SfuError::Config("a room needs room for at least 2".into()));
        }
        Ok(self)
    }

    /// Where worker `index` binds.
    pub(crate) fn worker_bind_addr(&self, index: usize) -> SocketAddr {
        let port = if self.port == 0 {
            0
        } else {
            self.port + index as u16
        };
        SocketAddr::new(self.bind_ip, port)
    }

    /// The address announced for a socket bound at `bound`.
    pub(crate) fn announced(&self, bound: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.announce_ip.unwrap_or(self.bind_ip), bound.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_bind_needs_an_announce_address() {
        let config = SfuConfig {
            bind_ip: "0.0.0.0".parse().unwrap(),
            ..SfuConfig::default()
        };
        assert!(config.clone().resolve().is_err());
        let config = SfuConfig {
            announce_ip: Some("192.0.2.7".parse().unwrap()),
            ..config
        };
        let config = config.resolve().unwrap();
        assert_eq!(
            config.announced("0.0.0.0:40001".parse().unwrap()),
            "192.0.2.7:40001".parse().unwrap()
        );
    }

    #[test]
    fn workers_default_to_cores() {
        let config = SfuConfig::default().resolve().unwrap();
        assert!(config.workers >= 1);
        assert_eq!(config.worker_bind_addr(1).port(), 40001);
    }
}
