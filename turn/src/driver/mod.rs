//! The relay's thread: UDP, TCP and TLS listeners, one UDP socket per allocation,
//! timers, and the in-process link to the SFU. Everything protocol is the core's
//! ([`crate::relay::Relay`]); this only moves bytes.

mod framing;
mod ports;
#[allow(unsafe_code)]
mod sendmmsg;
mod stream;
mod udp;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::auth::Credentials;
use crate::policy::PeerPolicy;
use crate::relay::{Client, Output, Relay, RelayConfig, RelayStats, Transport};
use ports::Ports;
use stream::{Liveness, Stream};

const UDP: Token = Token(0);
const TCP: Token = Token(1);
const TLS: Token = Token(2);
const WAKER: Token = Token(3);
/// Tokens from here up (below the relay sockets') are client streams.
const FIRST_STREAM: usize = 1 << 10;
/// A stream with no allocation is closed after this long without a message.
const STREAM_IDLE: Duration = Duration::from_secs(30);
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Room for the answers the core writes.
const DATAGRAM: usize = 65_536;

/// Where and how the relay listens.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// UDP listener (3478); `None` for none.
    pub udp: Option<SocketAddr>,
    /// TCP listener (3478).
    pub tcp: Option<SocketAddr>,
    /// TLS listener (5349); needs a certificate.
    pub tls: Option<SocketAddr>,
    /// The IPv4 address relay sockets bind to.
    pub relay_v4: Option<IpAddr>,
    /// The IPv6 address relay sockets bind to.
    pub relay_v6: Option<IpAddr>,
    /// Relay ports.
    pub ports: RangeInclusive<u16>,
    /// Kernel buffer size of each UDP socket.
    pub socket_buffer_bytes: usize,
    /// Client TCP/TLS connections held at once.
    pub max_streams: usize,
}

/// The certificate TURNS serves, swappable while running (a reload replaces the
/// inner `Arc`; connections already up keep theirs).
pub type TlsSlot = Arc<RwLock<Arc<rustls::ServerConfig>>>;

/// Where datagrams for the SFU go: the driver pushes each during a loop turn and
/// flushes once at its end, so the SFU is woken once per burst, not per packet.
pub trait InternalPeers: Send {
    /// A datagram for the SFU's `index`th media address, from relayed address `relay`.
    fn push(&mut self, index: usize, relay: SocketAddr, bytes: &[u8]);
    /// Hands over what was pushed.
    fn flush(&mut self);
}

/// A batch of datagrams from the SFU to relayed addresses: one buffer, many packets.
#[derive(Debug, Default)]
pub struct Datagrams {
    data: Vec<u8>,
    items: Vec<(SocketAddr, SocketAddr, u32, u32)>,
}

impl Datagrams {
    /// Adds a datagram the SFU at `from` sends to relayed address `to`.
    pub fn push(&mut self, to: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        self.items.push((to, from, start, bytes.len() as u32));
    }

    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Each datagram: destination (relayed address), source (SFU address), bytes.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr, &[u8])> {
        self.items
            .iter()
            .map(|(to, from, s, l)| (*to, *from, &self.data[*s as usize..(*s + *l) as usize]))
    }
}

/// How the SFU reaches the relay in-process.
#[derive(Clone)]
pub struct InternalInbox {
    tx: Sender<Command>,
    waker: Arc<Waker>,
}

impl InternalInbox {
    /// Hands a batch to the relay thread.
    pub fn send(&self, batch: Datagrams) {
        if self.tx.send(Command::FromSfu(batch)).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

enum Command {
    FromSfu(Datagrams),
    Credentials(Credentials),
    Drain(Instant),
    Stop,
}

/// A running relay.
pub struct Turn {
    tx: Sender<Command>,
    waker: Arc<Waker>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<Mutex<RelayStats>>,
    /// The bound UDP listener.
    pub udp_addr: Option<SocketAddr>,
    /// The bound TCP listener.
    pub tcp_addr: Option<SocketAddr>,
    /// The bound TLS listener.
    pub tls_addr: Option<SocketAddr>,
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not bind.
    #[error("TURN cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// TLS was asked for without a certificate.
    #[error("TURN over TLS needs a certificate")]
    NoCertificate,
    /// The thread or poll could not start.
    #[error("TURN thread: {0}")]
    Thread(io::Error),
}

impl Turn {
    /// Binds the listeners and starts the relay thread.
    pub fn start(
        config: DriverConfig,
        mut relay_config: RelayConfig,
        credentials: Credentials,
        policy: PeerPolicy,
        tls: Option<TlsSlot>,
        internal: Option<Box<dyn InternalPeers>>,
    ) -> Result<Turn, StartError> {
        let poll = Poll::new().map_err(StartError::Thread)?;
        let bind = |addr: SocketAddr| move |source| StartError::Bind { addr, source };
        let udp = match config.udp {
            Some(addr) => {
                let socket = std::net::UdpSocket::bind(addr).map_err(bind(addr))?;
                socket.set_nonblocking(true).map_err(bind(addr))?;
                ports::set_buffers(&socket, config.socket_buffer_bytes);
                let mut socket = UdpSocket::from_std(socket);
                poll.registry()
                    .register(&mut socket, UDP, Interest::READABLE)
                    .map_err(StartError::Thread)?;
                let state = udp::state(&socket).map_err(bind(addr))?;
                Some((socket, state))
            }
            None => None,
        };
        let listen = |addr: Option<SocketAddr>, token| -> Result<Option<TcpListener>, StartError> {
            let Some(addr) = addr else { return Ok(None) };
            let mut l = TcpListener::bind(addr).map_err(bind(addr))?;
            poll.registry()
                .register(&mut l, token, Interest::READABLE)
                .map_err(StartError::Thread)?;
            Ok(Some(l))
        };
        if config.tls.is_some() && tls.is_none() {
            return Err(StartError::NoCertificate);
        }
        let tcp = listen(config.tcp, TCP)?;
        let tls_listener = listen(config.tls, TLS)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(StartError::Thread)?);
        let registry = poll.registry().try_clone().map_err(StartError::Thread)?;
        relay_config.families = (config.relay_v4.is_some(), config.relay_v6.is_some());
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let relay = Relay::new(relay_config, credentials, policy, Instant::now(), unix);
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Mutex::new(RelayStats::default()));
        let turn = Turn {
            tx,
            waker: waker.clone(),
            thread: Mutex::new(None),
            stats: stats.clone(),
            udp_addr: udp.as_ref().and_then(|(s, _)| s.local_addr().ok()),
            tcp_addr: tcp.as_ref().and_then(|s| s.local_addr().ok()),
            tls_addr: tls_listener.as_ref().and_then(|s| s.local_addr().ok()),
        };
        let io = Io {
            udp,
            udp_local: turn.udp_addr,
            tcp,
            tls_listener,
            tls,
            streams: Vec::new(),
            free_streams: Vec::new(),
            stream_by_remote: HashMap::new(),
            max_streams: config.max_streams,
            ports: Ports::new(
                registry,
                config.relay_v4,
                config.relay_v6,
                config.ports.clone(),
                config.socket_buffer_bytes,
            ),
            internal,
            to_clients: sendmmsg::SendBatch::default(),
        };
        let thread = std::thread::Builder::new()
            .name("vchat-turn".into())
            .spawn(move || run(relay, io, poll, rx, stats))
            .map_err(StartError::Thread)?;
        *turn.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        tracing::info!(udp = ?turn.udp_addr, tcp = ?turn.tcp_addr, tls = ?turn.tls_addr, ports = ?config.ports, "TURN relay listening");
        Ok(turn)
    }

    /// The counters as of the last second.
    pub fn stats(&self) -> RelayStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The SFU's way in.
    pub fn internal_inbox(&self) -> InternalInbox {
        InternalInbox {
            tx: self.tx.clone(),
            waker: self.waker.clone(),
        }
    }

    fn command(&self, c: Command) {
        if self.tx.send(c).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Replaces the credentials.
    pub fn set_credentials(&self, credentials: Credentials) {
        self.command(Command::Credentials(credentials));
    }

    /// No new allocations; the thread ends when the last one does, or at `deadline`.
    pub fn drain(&self, deadline: Instant) {
        self.command(Command::Drain(deadline));
    }

    /// Waits for the thread to end (after [`Turn::drain`] or [`Turn::stop`]).
    pub fn join(&self) {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// Ends the thread now.
    pub fn stop(&self) {
        self.command(Command::Stop);
        self.join();
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Stop);
        let _ = self.waker.wake();
    }
}

struct Io {
    udp: Option<(UdpSocket, quinn_udp::UdpSocketState)>,
    udp_local: Option<SocketAddr>,
    tcp: Option<TcpListener>,
    tls_listener: Option<TcpListener>,
    tls: Option<TlsSlot>,
    streams: Vec<Option<Stream>>,
    free_streams: Vec<usize>,
    stream_by_remote: HashMap<(Transport, SocketAddr), usize>,
    max_streams: usize,
    ports: Ports,
    internal: Option<Box<dyn InternalPeers>>,
    /// Datagrams for UDP clients, sent together at the end of a loop turn.
    to_clients: sendmmsg::SendBatch,
}

fn run(
    mut relay: Relay,
    mut io: Io,
    mut poll: Poll,
    rx: Receiver<Command>,
    stats: Arc<Mutex<RelayStats>>,
) {
    let mut events = Events::with_capacity(256);
    let mut receiver = udp::Receiver::new();
    let mut out = Vec::with_capacity(DATAGRAM);
    let mut replies: Vec<(Client, Vec<u8>)> = Vec::new();
    let mut next_stats = Instant::now() + STATS_INTERVAL;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let wake = relay.poll_timeout().min(next_stats);
        if let Err(e) = poll.poll(&mut events, Some(wake.saturating_duration_since(now)))
            && e.kind() != io::ErrorKind::Interrupted
        {
            tracing::error!("TURN relay cannot wait for events: {e}");
            break;
        }
        for event in events.iter() {
            match event.token() {
                UDP => udp_listener(&mut relay, &mut io, &mut receiver, &mut out),
                TCP => accept(&mut io, &poll, Transport::Tcp),
                TLS => accept(&mut io, &poll, Transport::Tls),
                WAKER => {}
                token => {
                    if let Some(slot) = Ports::slot(token) {
                        relay_socket(&mut relay, &mut io, slot, &mut receiver, &mut out);
                    } else if let Some(slot) = token.0.checked_sub(FIRST_STREAM) {
                        stream_ready(
                            &mut relay,
                            &mut io,
                            slot,
                            event.is_readable(),
                            &mut out,
                            &mut replies,
                        );
                    }
                }
            }
        }
        flush_clients(&mut io);
        loop {
            match rx.try_recv() {
                Ok(Command::FromSfu(batch)) => {
                    let now = Instant::now();
                    for (to, from, bytes) in batch.iter() {
                        let output = relay.handle_peer(now, to, from, true, bytes, &mut out);
                        send(&mut io, output);
                    }
                }
                Ok(Command::Credentials(c)) => relay.set_credentials(c),
                Ok(Command::Drain(deadline)) => {
                    relay.start_draining();
                    drain_deadline = Some(deadline);
                    tracing::info!(
                        allocations = relay.allocation_count(),
                        "TURN relay draining"
                    );
                }
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => {
                    publish(&relay, &stats);
                    return;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        flush_clients(&mut io);
        if let Some(internal) = io.internal.as_mut() {
            internal.flush();
        }
        let now = Instant::now();
        if now >= relay.poll_timeout() {
            relay.handle_timeout(now, &mut io.ports);
            close_idle_streams(&mut relay, &mut io, now);
        }
        if now >= next_stats {
            publish(&relay, &stats);
            next_stats = now + STATS_INTERVAL;
        }
        if let Some(deadline) = drain_deadline
            && (relay.allocation_count() == 0 || now >= deadline)
        {
            tracing::info!(left = relay.allocation_count(), "TURN relay drained");
            publish(&relay, &stats);
            return;
        }
    }
}

fn publish(relay: &Relay, stats: &Mutex<RelayStats>) {
    *stats.lock().unwrap_or_else(|e| e.into_inner()) = relay.stats();
}

/// Sends what the core wants sent.
fn send(io: &mut Io, output: Output<'_>) {
    match output {
        Output::None => {}
        Output::ToPeer {
            relay,
            peer,
            internal: Some(i),
            bytes,
        } => {
            if let Some(sink) = io.internal.as_mut() {
                sink.push(i, relay, bytes);
            } else if let Some(socket) = io.ports.socket(relay) {
                let _ = socket.send_to(bytes, peer);
            }
        }
        Output::ToPeer {
            relay,
            peer,
            internal: None,
            bytes,
        } => {
            if let Some(socket) = io.ports.socket(relay) {
                let _ = socket.send_to(bytes, peer);
            }
        }
        Output::ToClient { client, bytes } => match client.transport {
            Transport::Udp => io.to_clients.push(client.remote, bytes),
            Transport::Tcp | Transport::Tls => {
                if let Some(&slot) = io.stream_by_remote.get(&(client.transport, client.remote))
                    && let Some(stream) = io.streams[slot].as_mut()
                {
                    stream.send(bytes);
                }
            }
        },
    }
}

fn udp_listener(relay: &mut Relay, io: &mut Io, receiver: &mut udp::Receiver, out: &mut Vec<u8>) {
    let Some(local) = io.udp_local else { return };
    loop {
        let Some((udp, state)) = io.udp.take() else {
            return;
        };
        let now = Instant::now();
        let result = receiver.read(&udp, &state, |remote, datagram| {
            let client = Client {
                transport: Transport::Udp,
                remote,
                local,
            };
            let output = relay.handle_client(now, client, datagram, out, &mut io.ports);
            send_udp(io, &udp, output);
        });
        io.udp = Some((udp, state));
        match result {
            Ok(true) => continue,
            Ok(false) => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Would block, or an ICMP error from a client that left: not ours to mind.
            Err(_) => return,
        }
    }
}

/// [`send`] while the listener is lent out of `io`.
fn send_udp(io: &mut Io, udp: &UdpSocket, output: Output<'_>) {
    send(io, output);
    if io.to_clients.len() >= sendmmsg::MAX_BATCH {
        io.to_clients.flush(udp);
    }
}

/// Sends the queued datagrams for UDP clients.
fn flush_clients(io: &mut Io) {
    if io.to_clients.len() > 0
        && let Some((udp, _)) = &io.udp
    {
        io.to_clients.flush(udp);
    }
}

fn relay_socket(
    relay: &mut Relay,
    io: &mut Io,
    slot: usize,
    receiver: &mut udp::Receiver,
    out: &mut Vec<u8>,
) {
    loop {
        let Some(socket) = io.ports.sockets.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let now = Instant::now();
        let result = receiver.read(&socket.socket, &socket.state, |peer, datagram| {
            let output = relay.handle_peer(now, socket.addr, peer, false, datagram, out);
            send(io, output);
            if io.to_clients.len() >= sendmmsg::MAX_BATCH {
                flush_clients(io);
            }
        });
        io.ports.sockets[slot] = Some(socket);
        match result {
            Ok(true) => continue,
            Ok(false) => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

fn accept(io: &mut Io, poll: &Poll, transport: Transport) {
    loop {
        let listener = match transport {
            Transport::Tcp => io.tcp.as_ref(),
            _ => io.tls_listener.as_ref(),
        };
        let Some(listener) = listener else { return };
        let (mut socket, remote) = match listener.accept() {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!("TURN accept: {e}");
                return;
            }
        };
        if io.stream_by_remote.len() >= io.max_streams {
            continue; // dropped: closes the connection
        }
        let Ok(local) = socket.local_addr() else {
            continue;
        };
        let tls = match transport {
            Transport::Tls => match &io.tls {
                Some(slot) => Some(slot.read().unwrap_or_else(|e| e.into_inner()).clone()),
                None => continue,
            },
            _ => None,
        };
        let slot = io.free_streams.pop().unwrap_or_else(|| {
            io.streams.push(None);
            io.streams.len() - 1
        });
        if poll
            .registry()
            .register(
                &mut socket,
                Token(FIRST_STREAM + slot),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            io.free_streams.push(slot);
            continue;
        }
        let client = Client {
            transport,
            remote,
            local,
        };
        match Stream::new(socket, client, tls, Instant::now()) {
            Ok(stream) => {
                io.streams[slot] = Some(stream);
                io.stream_by_remote.insert((transport, remote), slot);
            }
            Err(e) => {
                tracing::debug!("TURN stream: {e}");
                io.free_streams.push(slot);
            }
        }
    }
}

fn stream_ready(
    relay: &mut Relay,
    io: &mut Io,
    slot: usize,
    readable: bool,
    out: &mut Vec<u8>,
    replies: &mut Vec<(Client, Vec<u8>)>,
) {
    let Some(stream) = io.streams.get_mut(slot).and_then(|s| s.as_mut()) else {
        return;
    };
    stream.flush();
    if !readable {
        return;
    }
    let now = Instant::now();
    stream.last_active = now;
    let Io {
        ports,
        internal,
        streams,
        ..
    } = io;
    let stream = streams[slot].as_mut().expect("checked above");
    let state = stream.read(|client, message| {
        match relay.handle_client(now, client, message, out, ports) {
            Output::None => {}
            Output::ToClient { client, bytes } => replies.push((client, bytes.to_vec())),
            Output::ToPeer {
                relay: from,
                peer,
                internal: index,
                bytes,
            } => match (index, internal.as_mut()) {
                (Some(i), Some(sink)) => sink.push(i, from, bytes),
                _ => {
                    if let Some(socket) = ports.socket(from) {
                        let _ = socket.send_to(bytes, peer);
                    }
                }
            },
        }
    });
    let stream = streams[slot].as_mut().expect("checked above");
    for (_, reply) in replies.drain(..) {
        stream.send(&reply);
    }
    // TLS handshake records, and anything the socket refused earlier.
    stream.flush();
    if let Liveness::Closed = state {
        close_stream(relay, io, slot);
    }
}

fn close_stream(relay: &mut Relay, io: &mut Io, slot: usize) {
    let Some(mut stream) = io.streams.get_mut(slot).and_then(|s| s.take()) else {
        return;
    };
    // RFC 8656 §3.1: the allocation lives and dies with its TCP connection.
    relay.close_client(stream.client, &mut io.ports);
    io.stream_by_remote
        .remove(&(stream.client.transport, stream.client.remote));
    stream.flush();
    drop(stream.socket.shutdown(std::net::Shutdown::Both));
    io.free_streams.push(slot);
}

fn close_idle_streams(relay: &mut Relay, io: &mut Io, now: Instant) {
    let idle: Vec<usize> = io
        .streams
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        .filter(|(_, s)| {
            !relay.has_allocation(s.client) && now.duration_since(s.last_active) > STREAM_IDLE
        })
        .map(|(i, _)| i)
        .collect();
    for slot in idle {
        close_stream(relay, io, slot);
    }
}
