//! A TURN client for the load generator's peers (`--turn`): one allocation per peer,
//! a channel per remote address, everything else wrapped in ChannelData. The peer's
//! only ICE candidate is its relayed address, so every packet takes the relay.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vchat_turn::proto::attr::{self, Attr};
use vchat_turn::proto::integrity::long_term_key;
use vchat_turn::proto::{Builder, ChannelData, Class, Integrity, Message, Method};

/// Where and as whom the peers allocate.
#[derive(Clone, Debug)]
pub struct TurnConfig {
    pub server: SocketAddr,
    pub user: String,
    pub password: String,
}

enum Binding {
    Pending { number: u16, sent: Instant },
    Bound(u16),
}

pub struct TurnClient {
    pub server: SocketAddr,
    pub relayed: SocketAddr,
    user: String,
    realm: String,
    nonce: String,
    key: [u8; 16],
    channels: HashMap<SocketAddr, Binding>,
    peers: HashMap<u16, SocketAddr>,
    pending: HashMap<[u8; 12], SocketAddr>,
    next: u16,
}

/// What to do with an outgoing datagram.
pub enum Wrapped {
    /// Send `out` to the server.
    Send,
    /// Send `out` (a ChannelBind) to the server; the datagram itself is dropped (ICE
    /// retransmits its checks until the channel is up).
    Bind,
    /// Drop it: a ChannelBind is on its way.
    Drop,
}

impl TurnClient {
    /// Allocates on `socket` (blocking, a few tries).
    pub fn allocate(socket: &UdpSocket, config: &TurnConfig) -> anyhow::Result<TurnClient> {
        socket.set_read_timeout(Some(Duration::from_millis(500)))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2048];
        let ask = |out: &Vec<u8>, buf: &mut Vec<u8>| -> anyhow::Result<usize> {
            for _ in 0..6 {
                socket.send_to(out, config.server)?;
                if let Ok((n, from)) = socket.recv_from(buf)
                    && from == config.server
                {
                    return Ok(n);
                }
            }
            bail!("no answer from TURN server {}", config.server)
        };
        Builder::new(&mut out, Class::Request, Method::Allocate, rand::random())
            .attr(Attr::RequestedTransport(17))
            .finish(None, true);
        let n = ask(&out, &mut buf)?;
        let challenge = Message::parse(&buf[..n]).context("challenge")?;
        let (Some(Attr::Realm(realm)), Some(Attr::Nonce(nonce))) =
            (challenge.attr(attr::REALM), challenge.attr(attr::NONCE))
        else {
            bail!("the TURN server did not challenge");
        };
        let (realm, nonce) = (realm.to_owned(), nonce.to_owned());
        let key = long_term_key(&config.user, &realm, &config.password);
        Builder::new(&mut out, Class::Request, Method::Allocate, rand::random())
            .attr(Attr::RequestedTransport(17))
            .attr(Attr::Username(&config.user))
            .attr(Attr::Realm(&realm))
            .attr(Attr::Nonce(&nonce))
            .finish(Some((&key, Integrity::Sha1)), true);
        let n = ask(&out, &mut buf)?;
        let answer = Message::parse(&buf[..n]).context("allocate answer")?;
        let Some(Attr::XorRelayedAddress(relayed)) = answer.attr(attr::XOR_RELAYED_ADDRESS) else {
            bail!("allocation refused: {:?}", answer.attr(attr::ERROR_CODE));
        };
        socket.set_read_timeout(None)?;
        Ok(TurnClient {
            server: config.server,
            relayed,
            user: config.user.clone(),
            realm,
            nonce,
            key,
            channels: HashMap::new(),
            peers: HashMap::new(),
            pending: HashMap::new(),
            next: 0x4000,
        })
    }

    /// Wraps `data` for `peer` into `out`.
    pub fn wrap(&mut self, peer: SocketAddr, data: &[u8], out: &mut Vec<u8>) -> Wrapped {
        let now = Instant::now();
        let number = match self.channels.get(&peer) {
            Some(Binding::Bound(number)) => {
                ChannelData::write(out, *number, data, false);
                return Wrapped::Send;
            }
            Some(Binding::Pending { sent, .. })
                if now.duration_since(*sent) < Duration::from_millis(300) =>
            {
                return Wrapped::Drop;
            }
            Some(Binding::Pending { number, .. }) => *number,
            None => {
                let number = self.next;
                self.next += 1;
                number
            }
        };
        let transaction: [u8; 12] = rand::random();
        Builder::new(out, Class::Request, Method::ChannelBind, transaction)
            .attr(Attr::ChannelNumber(number))
            .attr(Attr::XorPeerAddress(peer))
            .attr(Attr::Username(&self.user))
            .attr(Attr::Realm(&self.realm))
            .attr(Attr::Nonce(&self.nonce))
            .finish(Some((&self.key, Integrity::Sha1)), true);
        self.channels
            .insert(peer, Binding::Pending { number, sent: now });
        self.pending.insert(transaction, peer);
        Wrapped::Bind
    }

    /// What a datagram from the server carries for the peer: `(remote, data)`.
    pub fn unwrap<'a>(&mut self, bytes: &'a [u8]) -> Option<(SocketAddr, &'a [u8])> {
        if let Some(cd) = ChannelData::parse(bytes) {
            return Some((*self.peers.get(&cd.channel)?, cd.data));
        }
        let m = Message::parse(bytes).ok()?;
        match (m.class, m.method) {
            (Class::Indication, Method::Data) => {
                match (m.attr(attr::XOR_PEER_ADDRESS), m.attr(attr::DATA)) {
                    (Some(Attr::XorPeerAddress(peer)), Some(Attr::Data(data))) => {
                        Some((peer, data))
                    }
                    _ => None,
                }
            }
            (Class::Success, Method::ChannelBind) => {
                let peer = self.pending.remove(&m.transaction)?;
                if let Some(Binding::Pending { number, .. }) = self.channels.get(&peer) {
                    let number = *number;
                    self.channels.insert(peer, Binding::Bound(number));
                    self.peers.insert(number, peer);
                }
                None
            }
            (Class::Error, _) => {
                if let Some(Attr::Nonce(nonce)) = m.attr(attr::NONCE) {
                    self.nonce = nonce.to_owned(); // stale: the next ChannelBind retries with it
                }
                None
            }
            _ => None,
        }
    }
}
