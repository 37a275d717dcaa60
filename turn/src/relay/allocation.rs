//! One allocation: its relayed address, permissions, channels and byte budget.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::policy::normalise;
use crate::proto::TransactionId;

use super::Client;

/// A permission: the peer IP that may send to (and receive from) the relayed address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Permission {
    pub(crate) ip: IpAddr,
    pub(crate) expires: Instant,
}

/// A channel binding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Channel {
    pub(crate) number: u16,
    pub(crate) peer: SocketAddr,
    /// `Some(i)`: the peer is the SFU's `i`th media address (decided at bind time).
    pub(crate) internal: Option<usize>,
    pub(crate) expires: Instant,
}

/// At most this many permissions or channels per allocation: a browser needs one or
/// two; more is somebody scanning.
pub(crate) const MAX_PER_ALLOCATION: usize = 64;

#[derive(Debug)]
pub(crate) struct Allocation {
    pub(crate) client: Client,
    /// The address the relay socket is bound to.
    pub(crate) relay: SocketAddr,
    /// What the client is told (the external address, if configured).
    pub(crate) announced: SocketAddr,
    pub(crate) username: Box<str>,
    pub(crate) key: [u8; 16],
    /// Whether to answer with MESSAGE-INTEGRITY-SHA256 (the client used it).
    pub(crate) sha256: bool,
    pub(crate) allocate_transaction: TransactionId,
    pub(crate) expires: Instant,
    pub(crate) permissions: Vec<Permission>,
    pub(crate) channels: Vec<Channel>,
    budget: ByteBudget,
}

impl Allocation {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: Client,
        relay: SocketAddr,
        announced: SocketAddr,
        username: &str,
        key: [u8; 16],
        sha256: bool,
        allocate_transaction: TransactionId,
        expires: Instant,
        bytes_per_second: u64,
        now: Instant,
    ) -> Allocation {
        Allocation {
            client,
            relay,
            announced,
            username: username.into(),
            key,
            sha256,
            allocate_transaction,
            expires,
            permissions: Vec::new(),
            channels: Vec::new(),
            budget: ByteBudget::new(bytes_per_second, now),
        }
    }

    /// Whether `ip` holds an unexpired permission.
    pub(crate) fn permits(&self, ip: IpAddr, now: Instant) -> bool {
        let ip = normalise(ip);
        self.permissions
            .iter()
            .any(|p| p.ip == ip && p.expires > now)
    }

    /// Installs or refreshes a permission; `false` when the table is full.
    pub(crate) fn permit(&mut self, ip: IpAddr, until: Instant) -> bool {
        let ip = normalise(ip);
        if let Some(p) = self.permissions.iter_mut().find(|p| p.ip == ip) {
            p.expires = until;
            return true;
        }
        if self.permissions.len() >= MAX_PER_ALLOCATION {
            return false;
        }
        self.permissions.push(Permission { ip, expires: until });
        true
    }

    pub(crate) fn channel_by_number(&self, number: u16, now: Instant) -> Option<&Channel> {
        self.channels
            .iter()
            .find(|c| c.number == number && c.expires > now)
    }

    pub(crate) fn channel_by_peer(&self, peer: SocketAddr, now: Instant) -> Option<&Channel> {
        self.channels
            .iter()
            .find(|c| c.peer == peer && c.expires > now)
    }

    /// Drops what has expired.
    pub(crate) fn prune(&mut self, now: Instant) {
        self.permissions.retain(|x| x.expires > now);
        self.channels.retain(|x| x.expires > now);
    }

    /// Spends `bytes` of the allocation's bandwidth; `false` means drop the packet.
    pub(crate) fn spend(&mut self, bytes: usize, now: Instant) -> bool {
        self.budget.spend(bytes as u64, now)
    }
}

/// A token bucket in bytes, refilled at the cap and holding half a second of it, so a
/// video keyframe burst passes and a sustained flood does not.
#[derive(Debug)]
struct ByteBudget {
    per_second: u64,
    tokens: u64,
    at: Instant,
}

impl ByteBudget {
    fn new(per_second: u64, now: Instant) -> ByteBudget {
        ByteBudget {
            per_second,
            tokens: per_second / 2,
            at: now,
        }
    }

    fn spend(&mut self, bytes: u64, now: Instant) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.at);
        if elapsed >= Duration::from_millis(1) {
            let refill = (elapsed.as_micros() as u64).saturating_mul(self.per_second) / 1_000_000;
            self.tokens = (self.tokens + refill).min(self.per_second / 2);
            self.at = now;
        }
        if self.tokens >= bytes {
            self.tokens -= bytes;
            true
        } else {
            false
        }
    }
}
