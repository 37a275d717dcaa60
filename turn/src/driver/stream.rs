//! One TCP or TLS client connection: bytes in, whole messages out, and a bounded
//! queue of what the socket would not take yet.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;

use super::framing::next_frame;
use crate::relay::Client;

/// Unsent bytes beyond this are dropped (whole messages only): media that late is
/// useless, and a stalled reader must not grow the relay's memory.
const MAX_QUEUED: usize = 1 << 20;
/// A message never exceeds this (a 16-bit length plus header and padding).
const MAX_FRAME: usize = 20 + 65_535 + 4;

pub(crate) struct Stream {
    pub(crate) socket: TcpStream,
    pub(crate) client: Client,
    tls: Option<rustls::ServerConnection>,
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    /// Plaintext handed to rustls since its buffer last drained.
    tls_pending: usize,
    pub(crate) wants_write: bool,
    pub(crate) last_active: std::time::Instant,
}

/// What reading did.
pub(crate) enum Liveness {
    /// Keep the connection.
    Open,
    /// The peer closed it, or it broke.
    Closed,
}

impl Stream {
    pub(crate) fn new(
        socket: TcpStream,
        client: Client,
        tls: Option<Arc<rustls::ServerConfig>>,
        now: std::time::Instant,
    ) -> io::Result<Stream> {
        let tls = match tls {
            Some(config) => {
                let mut tls = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
                // Unbounded inside rustls so a message is never cut in half; the
                // bound is ours (`tls_pending`), in whole messages.
                tls.set_buffer_limit(None);
                Some(tls)
            }
            None => None,
        };
        let _ = socket.set_nodelay(true);
        Ok(Stream {
            socket,
            client,
            tls,
            inbound: Vec::with_capacity(4096),
            outbound: Vec::new(),
            tls_pending: 0,
            wants_write: false,
            last_active: now,
        })
    }

    /// Reads what is there and hands each whole message to `each`.
    pub(crate) fn read(&mut self, mut each: impl FnMut(Client, &[u8])) -> Liveness {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = match self.socket.read(&mut chunk) {
                Ok(0) => return Liveness::Closed,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Liveness::Closed,
            };
            match &mut self.tls {
                None => self.inbound.extend_from_slice(&chunk[..n]),
                Some(tls) => {
                    let mut slice = &chunk[..n];
                    while !slice.is_empty() {
                        if tls.read_tls(&mut slice).is_err() {
                            return Liveness::Closed;
                        }
                        let Ok(state) = tls.process_new_packets() else {
                            // rustls queued an alert; try to tell the client why.
                            let _ = tls.write_tls(&mut self.socket);
                            return Liveness::Closed;
                        };
                        let mut plain = state.plaintext_bytes_to_read();
                        while plain > 0 {
                            let at = self.inbound.len();
                            self.inbound.resize(at + plain, 0);
                            match tls.reader().read(&mut self.inbound[at..]) {
                                Ok(got) => {
                                    self.inbound.truncate(at + got);
                                    plain -= got.min(plain);
                                    if got == 0 {
                                        break;
                                    }
                                }
                                Err(_) => {
                                    self.inbound.truncate(at);
                                    break;
                                }
                            }
                        }
                    }
                    // Handshake answers.
                    if tls.wants_write() {
                        self.wants_write = true;
                    }
                }
            }
            let mut at = 0;
            loop {
                match next_frame(&self.inbound[at..]) {
                    Ok(Some(len)) => {
                        each(self.client, &self.inbound[at..at + len]);
                        at += len;
                    }
                    Ok(None) => break,
                    Err(()) => return Liveness::Closed,
                }
            }
            self.inbound.drain(..at);
            if self.inbound.len() > MAX_FRAME {
                return Liveness::Closed;
            }
        }
        Liveness::Open
    }

    /// Queues one whole message and tries to send.
    pub(crate) fn send(&mut self, message: &[u8]) {
        match &mut self.tls {
            None => {
                if self.outbound.is_empty() {
                    match self.socket.write(message) {
                        Ok(n) if n == message.len() => return,
                        Ok(n) => {
                            self.outbound.extend_from_slice(&message[n..]);
                            self.wants_write = true;
                            return;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
                if self.outbound.len() + message.len() <= MAX_QUEUED {
                    self.outbound.extend_from_slice(message);
                }
                self.wants_write = true;
            }
            Some(tls) => {
                if self.tls_pending + message.len() > MAX_QUEUED {
                    return;
                }
                if tls.writer().write_all(message).is_err() {
                    return;
                }
                self.tls_pending += message.len();
                self.wants_write = true;
                self.flush();
            }
        }
    }

    /// Writes what is queued; leaves `wants_write` set if the socket is full.
    pub(crate) fn flush(&mut self) {
        match &mut self.tls {
            None => {
                while !self.outbound.is_empty() {
                    match self.socket.write(&self.outbound) {
                        Ok(0) => break,
                        Ok(n) => {
                            self.outbound.drain(..n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                self.wants_write = !self.outbound.is_empty();
            }
            Some(tls) => {
                while tls.wants_write() {
                    match tls.write_tls(&mut self.socket) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                self.wants_write = tls.wants_write();
                if !self.wants_write {
                    self.tls_pending = 0;
                }
            }
        }
    }
}
