//! The in-process hop between the TURN relay and the SFU workers: each side pushes
//! datagrams into a batch during its loop turn and hands the batch over once.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use vchat_sfu::RelayInlet;
use vchat_sfu::turn_link::{FromRelay, RelayOut};
use vchat_turn::driver::{Datagrams, InternalInbox, InternalPeers};

/// TURN → SFU: datagrams for worker `i`'s media address.
pub struct ToSfu {
    inlets: Vec<RelayInlet>,
    batches: Vec<FromRelay>,
}

impl ToSfu {
    /// One inlet per worker, in media-address order.
    pub fn new(inlets: Vec<RelayInlet>) -> ToSfu {
        let batches = inlets.iter().map(|_| FromRelay::default()).collect();
        ToSfu { inlets, batches }
    }
}

impl InternalPeers for ToSfu {
    fn push(&mut self, index: usize, relay: SocketAddr, bytes: &[u8]) {
        if let Some(batch) = self.batches.get_mut(index) {
            batch.push(relay, bytes);
        }
    }

    fn flush(&mut self) {
        for (batch, inlet) in self.batches.iter_mut().zip(&self.inlets) {
            if !batch.is_empty() {
                inlet.deliver(std::mem::take(batch));
            }
        }
    }
}

/// SFU → TURN: one per worker; owns the relay's address range.
pub struct ToTurn {
    ip: IpAddr,
    ports: RangeInclusive<u16>,
    batch: Datagrams,
    inbox: InternalInbox,
}

impl ToTurn {
    /// Datagrams to `ip` within `ports` go to `inbox`.
    pub fn new(ip: IpAddr, ports: RangeInclusive<u16>, inbox: InternalInbox) -> ToTurn {
        ToTurn {
            ip,
            ports,
            batch: Datagrams::default(),
            inbox,
        }
    }
}

impl RelayOut for ToTurn {
    fn owns(&self, destination: SocketAddr) -> bool {
        destination.ip() == self.ip && self.ports.contains(&destination.port())
    }

    fn push(&mut self, destination: SocketAddr, source: SocketAddr, datagram: &[u8]) {
        self.batch.push(destination, source, datagram);
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.inbox.send(std::mem::take(&mut self.batch));
        }
    }
}
