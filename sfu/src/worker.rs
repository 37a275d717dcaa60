//! One worker thread: its UDP socket, its timers and its [`Engine`].
//!
//! The loop sleeps in `epoll` until a datagram, a command (signalled through a mio
//! `Waker`) or the engine's next deadline. Commands arrive on a channel, one per worker;
//! packets never cross threads.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use mio::{Events, Interest, Poll, Token, Waker};

use crate::bridge::link::RoomEnd;
use crate::config::SfuConfig;
use crate::engine::{Engine, EngineLimits, Output};
use crate::error::SfuError;
use crate::ids::SessionId;
use crate::message::{Command, EventSink, PeerSignal, SfuEvent, SignalSink, WorkerStats};
use crate::net::UdpIo;
use crate::tap::TapSink;
use crate::turn_link::{FromRelay, RelayOut};

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// How often a worker reports its counters.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Intercom links are read at most this often (their frames wait for the 20 ms tick
/// anyway; reading on every wake-up would cost an atomic load per call per packet).
const BRIDGE_READ: Duration = Duration::from_millis(5);
/// Receive batches handled before timers and commands get a turn.
const BATCHES_PER_TURN: usize = 16;

/// What the control plane asks of a worker: engine commands, and what only the
/// worker's loop handles (where signals, tapped media and relayed datagrams go).
pub(crate) enum WorkerCommand {
    /// For the engine.
    Engine(Command),
    /// Signals for `session` go to `sink` until it is closed. Sent before its join.
    Signals(SessionId, SignalSink),
    /// From now on, tapped RTP of recorded rooms goes here.
    AttachTap(Box<dyn TapSink>),
    /// From now on, datagrams for the in-process TURN relay's addresses go here.
    AttachRelay(Box<dyn RelayOut>),
    /// Datagrams that clients sent this worker through the in-process TURN relay.
    FromRelay(FromRelay),
    /// The worker's end of an intercom's link, for its virtual participant `session`.
    /// Sent before its `Bridge` command.
    Bridge(SessionId, RoomEnd),
}

/// The control plane's end of a worker.
pub(crate) struct WorkerHandle {
    pub(crate) commands: Sender<WorkerCommand>,
    pub(crate) waker: Arc<Waker>,
    pub(crate) local_addr: SocketAddr,
    pub(crate) thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl WorkerHandle {
    pub(crate) fn send(&self, command: WorkerCommand) -> Result<(), SfuError> {
        self.commands
            .send(command)
            .map_err(|_| SfuError::ShuttingDown)?;
        self.waker.wake().map_err(|_| SfuError::ShuttingDown)
    }
}

pub(crate) fn spawn(
    index: usize,
    config: &SfuConfig,
    events: EventSink,
) -> Result<WorkerHandle, SfuError> {
    let bind = config.worker_bind_addr(index);
    let socket = UdpSocket::bind(bind).map_err(|source| SfuError::Bind { addr: bind, source })?;
    let mut io = UdpIo::new(socket, config.socket_buffer_bytes)
        .map_err(|source| SfuError::Bind { addr: bind, source })?;
    let bound = io
        .local_addr()
        .map_err(|source| SfuError::Bind { addr: bind, source })?;
    let announced = config.announced(bound);

    let poll = Poll::new().map_err(SfuError::Thread)?;
    poll.registry()
        .register(io.socket_mut(), SOCKET, Interest::READABLE)
        .map_err(SfuError::Thread)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(SfuError::Thread)?);
    let (commands, inbox) = mpsc::channel();
    let limits = EngineLimits::from(config);
    let thread = thread::Builder::new()
        .name(format!("vchat-sfu-{index}"))
        .spawn(move || {
            let engine = Engine::new(index, announced, limits, Instant::now(), SystemTime::now());
            run(engine, io, poll, inbox, events);
        })
        .map_err(SfuError::Thread)?;
    tracing::info!(worker = index, %bound, %announced, "SFU worker listening");
    Ok(WorkerHandle {
        commands,
        waker,
        local_addr: announced,
        thread: std::sync::Mutex::new(Some(thread)),
    })
}

/// Where the engine's outputs go, besides the socket.
struct Outlets {
    events: EventSink,
    signals: HashMap<SessionId, SignalSink>,
    tap: Option<Box<dyn TapSink>>,
    relay: Option<Box<dyn RelayOut>>,
    /// Intercom links, by their virtual participant's session.
    bridges: Vec<(SessionId, RoomEnd)>,
}

fn run(
    mut engine: Engine,
    mut io: UdpIo,
    mut poll: Poll,
    inbox: Receiver<WorkerCommand>,
    events: EventSink,
) {
    let mut ready = Events::with_capacity(64);
    let mut sent = WorkerStats::default();
    let mut next_stats = Instant::now() + STATS_INTERVAL;
    let mut more_to_read = false;
    let mut out = Vec::with_capacity(256);
    let mut outlets = Outlets {
        events,
        signals: HashMap::new(),
        tap: None,
        relay: None,
        bridges: Vec::new(),
    };
    let mut next_bridge_read = Instant::now();
    loop {
        let timeout = if more_to_read {
            Duration::ZERO
        } else {
            let now = Instant::now();
            let wake_at = engine
                .poll_timeout()
                .map_or(next_stats, |t| t.min(next_stats));
            wake_at.saturating_duration_since(now)
        };
        if let Err(e) = poll.poll(&mut ready, Some(timeout))
            && e.kind() != io::ErrorKind::Interrupted
        {
            tracing::error!("SFU worker cannot wait for events: {e}");
            break;
        }

        sent.wakeups += 1;
        let now = Instant::now();
        loop {
            match inbox.try_recv() {
                Ok(WorkerCommand::FromRelay(batch)) => {
                    for (source, datagram) in batch.iter() {
                        engine.handle_datagram(now, source, datagram);
                    }
                }
                Ok(WorkerCommand::AttachRelay(link)) => outlets.relay = Some(link),
                Ok(WorkerCommand::AttachTap(sink)) => outlets.tap = Some(sink),
                Ok(WorkerCommand::Bridge(session, end)) => outlets.bridges.push((session, end)),
                Ok(WorkerCommand::Signals(session, sink)) => {
                    outlets.signals.insert(session, sink);
                }
                Ok(WorkerCommand::Engine(command)) => engine.handle_command(now, command),
                Err(TryRecvError::Empty) => break,
                // The Sfu handle is gone: nobody can reach these peers any more.
                Err(TryRecvError::Disconnected) => {
                    engine.handle_command(now, Command::Shutdown);
                    break;
                }
            }
        }

        more_to_read = false;
        for turn in 0..BATCHES_PER_TURN {
            let now = Instant::now();
            match io.recv_batch(|source, datagram| engine.handle_datagram(now, source, datagram)) {
                // A short batch drained the socket: no need for another syscall to hear
                // "would block" (edge-triggered epoll reports anything that comes later).
                Ok(false) => break,
                Ok(true) => more_to_read = turn == BATCHES_PER_TURN - 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors surface here (a browser went away); they are not ours.
                    tracing::debug!("media socket receive: {e}");
                    break;
                }
            }
        }

        let now = Instant::now();
        if !outlets.bridges.is_empty() && now >= next_bridge_read {
            read_bridges(&mut engine, &mut outlets.bridges, now);
            next_bridge_read = now + BRIDGE_READ;
        }
        engine.handle_timeout(now);
        // One send pass per wake-up: the most GSO coalescing, and each receiver (a
        // browser's socket) is woken once per burst rather than once per packet.
        flush(&mut engine, &mut io, &mut out, &mut sent, &mut outlets);

        let now = Instant::now();
        if now >= next_stats || engine.is_stopped() {
            // The wall clock reaches the engine as an input, like time itself: its
            // steps (NTP) are followed within a second.
            engine.handle_wall_clock(now, SystemTime::now());
            let mut stats = engine.take_stats();
            stats.add_counts(&sent);
            sent = WorkerStats::default();
            let _ = outlets.events.send(SfuEvent::Stats(stats));
            next_stats = now + STATS_INTERVAL;
        }
        if engine.is_stopped() {
            break;
        }
    }
}

/// Hands the engine what intercoms sent; a link whose socket is gone ends its call.
fn read_bridges(engine: &mut Engine, bridges: &mut Vec<(SessionId, RoomEnd)>, now: Instant) {
    bridges.retain(|(session, end)| {
        while let Some(frame) = end.recv() {
            engine.handle_bridge_frame(now, *session, &frame);
        }
        if end.is_closed() {
            engine.handle_command(now, Command::Leave { session: *session });
            return false;
        }
        true
    });
}

fn flush(
    engine: &mut Engine,
    io: &mut UdpIo,
    out: &mut Vec<(SocketAddr, Vec<u8>)>,
    stats: &mut WorkerStats,
    outlets: &mut Outlets,
) {
    let local = engine.local_addr();
    while let Some(output) = engine.poll_output() {
        let transmit = match output {
            Output::Transmit(transmit) => transmit,
            Output::Signal(session, signal) => {
                let closed = matches!(signal, PeerSignal::Closed { .. });
                if let Some(sink) = outlets.signals.get(&session) {
                    // A closed session just missed the news; its peer is gone anyway.
                    let _ = sink.send(signal);
                }
                if closed {
                    outlets.signals.remove(&session);
                    outlets.bridges.retain(|(s, _)| *s != session);
                }
                continue;
            }
            Output::Event(event) => {
                let _ = outlets.events.send(event);
                continue;
            }
            Output::Tap(batch) => {
                if let Some(tap) = outlets.tap.as_mut() {
                    tap.deliver(batch);
                }
                continue;
            }
        };
        if let Some(relay) = outlets.relay.as_mut()
            && relay.owns(transmit.destination)
        {
            relay.push(transmit.destination, local, &transmit.contents);
            stats.packets_out += 1;
            stats.bytes_out += transmit.contents.len() as u64;
            continue;
        }
        out.push((transmit.destination, Vec::from(transmit.contents)));
    }
    while let Some((session, frame)) = engine.poll_bridge_output() {
        if let Some((_, end)) = outlets.bridges.iter().find(|(s, _)| *s == session) {
            end.send(&frame);
        }
    }
    if let Some(relay) = outlets.relay.as_mut() {
        relay.flush();
    }
    if out.is_empty() {
        return;
    }
    let sent = io.send_all(out);
    stats.packets_out += sent.datagrams;
    stats.bytes_out += sent.bytes;
    stats.send_drops += sent.dropped;
    stats.send_syscalls += sent.syscalls;
}
