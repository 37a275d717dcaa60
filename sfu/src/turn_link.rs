//! The in-process link to vchat's TURN relay.
//!
//! A browser that can only reach the server through TURN would otherwise cost every
//! packet two extra trips through the kernel (relay → SFU socket, SFU → relay socket).
//! Instead the relay hands a worker the datagrams meant for it in batches
//! ([`FromRelay`]), and the worker hands datagrams for relayed addresses to a
//! [`RelayOut`] rather than its socket: one receive and one send per packet in all.

use std::fmt;
use std::net::SocketAddr;

/// Where a worker sends datagrams whose destination is a relayed address of the
/// in-process TURN relay. Pushes are buffered and handed over at `flush`, once per
/// worker wake-up, so crossing threads costs per burst, not per packet.
pub trait RelayOut: Send {
    /// Whether `destination` is one of the relay's addresses.
    fn owns(&self, destination: SocketAddr) -> bool;
    /// Queues `datagram` from the worker's address `source` to `destination`.
    fn push(&mut self, destination: SocketAddr, source: SocketAddr, datagram: &[u8]);
    /// Hands over what was queued.
    fn flush(&mut self);
}

impl fmt::Debug for dyn RelayOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RelayOut")
    }
}

/// Datagrams the relay received for one worker: one buffer, many packets.
#[derive(Debug, Default)]
pub struct FromRelay {
    data: Vec<u8>,
    items: Vec<(SocketAddr, u32, u32)>,
}

impl FromRelay {
    /// Adds a datagram that came from relayed address `source`.
    pub fn push(&mut self, source: SocketAddr, datagram: &[u8]) {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(datagram);
        self.items.push((source, start, datagram.len() as u32));
    }

    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Each datagram with its source.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.items
            .iter()
            .map(|(s, at, len)| (*s, &self.data[*at as usize..(*at + *len) as usize]))
    }
}
