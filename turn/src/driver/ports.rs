//! Relayed transport addresses: one UDP socket per allocation, from the configured
//! port range, registered with the driver's poll.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use crate::relay::{Family, RelayPorts};

/// Tokens from here up are relay sockets.
pub(crate) const FIRST_TOKEN: usize = 1 << 20;
/// Binding tries per allocation before answering 508.
const TRIES: usize = 64;

/// One relayed transport address's socket.
pub(crate) struct RelaySocket {
    pub(crate) addr: SocketAddr,
    pub(crate) socket: UdpSocket,
    pub(crate) state: quinn_udp::UdpSocketState,
}

pub(crate) struct Ports {
    registry: Registry,
    v4: Option<IpAddr>,
    v6: Option<IpAddr>,
    range: RangeInclusive<u16>,
    /// Slot → socket; the token is `FIRST_TOKEN + slot`.
    pub(crate) sockets: Vec<Option<RelaySocket>>,
    free: Vec<usize>,
    by_addr: HashMap<SocketAddr, usize>,
    buffer_bytes: usize,
}

impl Ports {
    pub(crate) fn new(
        registry: Registry,
        v4: Option<IpAddr>,
        v6: Option<IpAddr>,
        range: RangeInclusive<u16>,
        buffer_bytes: usize,
    ) -> Ports {
        Ports {
            registry,
            v4,
            v6,
            range,
            sockets: Vec::new(),
            free: Vec::new(),
            by_addr: HashMap::new(),
            buffer_bytes,
        }
    }

    /// The socket bound to `relay`.
    pub(crate) fn socket(&self, relay: SocketAddr) -> Option<&UdpSocket> {
        let slot = *self.by_addr.get(&relay)?;
        self.sockets[slot].as_ref().map(|s| &s.socket)
    }

    /// The slot of a token, if it is a relay socket's.
    pub(crate) fn slot(token: Token) -> Option<usize> {
        token.0.checked_sub(FIRST_TOKEN)
    }

    fn bind(&mut self, ip: IpAddr, even: bool) -> io::Result<SocketAddr> {
        let (lo, hi) = (*self.range.start(), *self.range.end());
        let span = u32::from(hi - lo) + 1;
        let start: u32 = rand::random_range(0..span);
        let mut last = io::Error::new(io::ErrorKind::AddrInUse, "relay port range exhausted");
        let mut tried = 0;
        for step in 0..span {
            let port = lo + ((start + step) % span) as u16;
            if even && port % 2 == 1 {
                continue;
            }
            tried += 1;
            if tried > TRIES {
                break;
            }
            let addr = SocketAddr::new(ip, port);
            if self.by_addr.contains_key(&addr) {
                continue;
            }
            match std::net::UdpSocket::bind(addr) {
                Ok(socket) => {
                    socket.set_nonblocking(true)?;
                    set_buffers(&socket, self.buffer_bytes);
                    let mut socket = UdpSocket::from_std(socket);
                    let state = super::udp::state(&socket)?;
                    let slot = self.free.pop().unwrap_or_else(|| {
                        self.sockets.push(None);
                        self.sockets.len() - 1
                    });
                    self.registry.register(
                        &mut socket,
                        Token(FIRST_TOKEN + slot),
                        Interest::READABLE,
                    )?;
                    self.sockets[slot] = Some(RelaySocket {
                        addr,
                        socket,
                        state,
                    });
                    self.by_addr.insert(addr, slot);
                    return Ok(addr);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl RelayPorts for Ports {
    fn open(&mut self, family: Family, even: bool) -> io::Result<SocketAddr> {
        let ip = match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        };
        let ip = ip.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "no relay address of that family",
            )
        })?;
        self.bind(ip, even)
    }

    fn close(&mut self, relay: SocketAddr) {
        let Some(slot) = self.by_addr.remove(&relay) else {
            return;
        };
        if let Some(mut relay) = self.sockets[slot].take() {
            let _ = self.registry.deregister(&mut relay.socket);
        }
        self.free.push(slot);
    }
}

/// Media bursts overflow the default ~200 KB buffers long before a core is busy.
pub(crate) fn set_buffers(socket: &std::net::UdpSocket, bytes: usize) {
    let sock = socket2::SockRef::from(socket);
    let _ = sock.set_recv_buffer_size(bytes);
    let _ = sock.set_send_buffer_size(bytes);
}
