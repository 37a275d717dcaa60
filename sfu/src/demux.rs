//! Which peer an incoming datagram belongs to, in O(1).
//!
//! A browser's first packets are STUN binding requests whose USERNAME starts with our
//! ICE ufrag, which names the peer. Every later packet (DTLS, SRTP, consent checks) is
//! found by its source address. An address is learnt only when the peer's `Rtc` sends to
//! it, i.e. after str0m checked the request's MESSAGE-INTEGRITY, so a spoofed STUN
//! packet cannot steer another address onto a peer.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::slab::Key;

/// How many addresses one peer may be reached at (candidate pairs over time).
const MAX_ADDRS_PER_PEER: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct Demux {
    by_addr: HashMap<SocketAddr, Key>,
    by_ufrag: HashMap<String, Key>,
}

impl Demux {
    pub(crate) fn register_ufrag(&mut self, ufrag: String, peer: Key) {
        self.by_ufrag.insert(ufrag, peer);
    }

    /// The peer a datagram from `source` is for.
    pub(crate) fn lookup(&self, source: SocketAddr, datagram: &[u8]) -> Option<Key> {
        if let Some(key) = self.by_addr.get(&source) {
            return Some(*key);
        }
        let ufrag = local_ufrag(datagram)?;
        self.by_ufrag.get(ufrag).copied()
    }

    /// Remembers that `peer` talks to `addr`. `addrs` is the peer's own list, kept so that
    /// removing the peer removes its addresses; the oldest is forgotten past the limit.
    pub(crate) fn learn(&mut self, addr: SocketAddr, peer: Key, addrs: &mut Vec<SocketAddr>) {
        if addrs.contains(&addr) {
            return;
        }
        if addrs.len() == MAX_ADDRS_PER_PEER {
            let old = addrs.remove(0);
            if self.by_addr.get(&old) == Some(&peer) {
                self.by_addr.remove(&old);
            }
        }
        addrs.push(addr);
        // A new peer at a known address (a browser that reconnected from the same port)
        // takes the address over.
        self.by_addr.insert(addr, peer);
    }

    pub(crate) fn forget(&mut self, peer: Key, ufrag: &str, addrs: &[SocketAddr]) {
        for addr in addrs {
            if self.by_addr.get(addr) == Some(&peer) {
                self.by_addr.remove(addr);
            }
        }
        if self.by_ufrag.get(ufrag) == Some(&peer) {
            self.by_ufrag.remove(ufrag);
        }
    }

    #[cfg(test)]
    fn addr_count(&self) -> usize {
        self.by_addr.len()
    }
}

/// Our ufrag out of a STUN binding request's USERNAME (`<our ufrag>:<their ufrag>`).
///
/// Only the header and attribute framing are read (RFC 8489 §5, §14); str0m checks the
/// rest, integrity included, once the peer is found.
fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    const BINDING_REQUEST: u16 = 0x0001;
    const MAGIC_COOKIE: u32 = 0x2112_A442;
    const USERNAME: u16 = 0x0006;
    let header = datagram.get(..20)?;
    if u16::from_be_bytes([header[0], header[1]]) != BINDING_REQUEST
        || u32::from_be_bytes([header[4], header[5], header[6], header[7]]) != MAGIC_COOKIE
    {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let mut attrs = datagram.get(20..20 + length)?;
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let len = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + len)?;
        if kind == USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            let (ours, _theirs) = username.split_once(':')?;
            return Some(ours);
        }
        let padded = 4 + len.div_ceil(4) * 4;
        attrs = attrs.get(padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Slab;

    /// A binding request as Chromium sends it, with USERNAME "abcd:wxyz" (integrity and
    /// fingerprint are not checked by the demux, so they are left out).
    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&0x0006u16.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut msg = Vec::new();
        msg.extend_from_slice(&0x0001u16.to_be_bytes());
        msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        msg.extend_from_slice(&0x2112_A442u32.to_be_bytes());
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&attrs);
        msg
    }

    #[test]
    fn stun_finds_the_peer_by_ufrag_then_by_address() {
        let mut slab = Slab::new();
        let peer = slab.insert_with(|_| ());
        let mut demux = Demux::default();
        demux.register_ufrag("abcd".into(), peer);
        let from: SocketAddr = "10.0.0.1:5000".parse().unwrap();

        assert_eq!(
            demux.lookup(from, &binding_request("abcd:wxyz")),
            Some(peer)
        );
        assert_eq!(demux.lookup(from, &binding_request("zzzz:wxyz")), None);
        assert_eq!(
            demux.lookup(from, &[0x80, 0x60, 0, 1]),
            None,
            "RTP from unknown address"
        );

        let mut addrs = Vec::new();
        demux.learn(from, peer, &mut addrs);
        assert_eq!(demux.lookup(from, &[0x80, 0x60, 0, 1]), Some(peer));

        demux.forget(peer, "abcd", &addrs);
        assert_eq!(demux.lookup(from, &binding_request("abcd:wxyz")), None);
        assert_eq!(demux.addr_count(), 0);
    }

    #[test]
    fn addresses_per_peer_are_bounded() {
        let mut slab = Slab::new();
        let peer = slab.insert_with(|_| ());
        let mut demux = Demux::default();
        let mut addrs = Vec::new();
        for port in 0..100 {
            demux.learn(SocketAddr::from(([10, 0, 0, 1], port)), peer, &mut addrs);
        }
        assert_eq!(addrs.len(), MAX_ADDRS_PER_PEER);
        assert_eq!(demux.addr_count(), MAX_ADDRS_PER_PEER);
    }

    #[test]
    fn garbage_never_names_a_peer() {
        let demux = Demux::default();
        let from: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let request = binding_request("abcd:wxyz");
        for len in 0..request.len() {
            assert_eq!(demux.lookup(from, &request[..len]), None);
        }
    }
}
