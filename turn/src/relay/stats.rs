//! What the relay counts; the driver publishes a copy for Prometheus.

use super::Transport;

/// Counters and gauges of one relay core. Plain integers: the core is single-threaded
/// and the driver copies them out once a second. The gauges are counted when the
/// snapshot is taken ([`super::Relay::stats`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RelayStats {
    /// Live allocations.
    pub allocations: u64,
    /// Live permissions.
    pub permissions: u64,
    /// Live channels.
    pub channels: u64,
    /// Allocations made since start.
    pub allocations_created: u64,
    /// Allocations that expired (not refreshed) since start.
    pub allocations_expired: u64,
    /// Per client transport (UDP, TCP, TLS): packets from clients relayed to peers.
    pub packets_to_peers: [u64; 3],
    /// Bytes of application data in those packets.
    pub bytes_to_peers: [u64; 3],
    /// Per client transport: packets from peers relayed to clients.
    pub packets_to_clients: [u64; 3],
    /// Bytes of application data in those packets.
    pub bytes_to_clients: [u64; 3],
    /// Packets between a client and the SFU handed over in-process (both directions).
    pub internal_packets: u64,
    /// Requests whose credentials failed (unknown or expired user, bad integrity).
    pub auth_failures: u64,
    /// 401/438 answers left unsent by the rate limit.
    pub challenges_suppressed: u64,
    /// Requests and packets refused because the peer address is denied.
    pub denied_peers: u64,
    /// Allocations refused by the per-user or total quota.
    pub quota_rejections: u64,
    /// Packets dropped by the per-allocation bandwidth cap.
    pub bandwidth_drops: u64,
    /// Packets dropped for lack of a permission or channel.
    pub unpermitted_drops: u64,
    /// Datagrams that were neither STUN nor ChannelData we could use.
    pub malformed: u64,
    /// Bugs caught: datagrams whose handling panicked (the client's allocation was
    /// dropped, the relay kept serving).
    pub core_panics: u64,
}

impl RelayStats {
    pub(crate) fn count_to_peer(&mut self, transport: Transport, bytes: usize) {
        let i = transport as usize;
        self.packets_to_peers[i] += 1;
        self.bytes_to_peers[i] += bytes as u64;
    }

    pub(crate) fn count_to_client(&mut self, transport: Transport, bytes: usize) {
        let i = transport as usize;
        self.packets_to_clients[i] += 1;
        self.bytes_to_clients[i] += bytes as u64;
    }
}
