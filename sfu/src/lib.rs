//! vchat's selective forwarding unit, on [str0m].
//!
//! Participants join rooms; each publishes audio (Opus) and video (VP8 or H.264) and
//! receives every other participant's tracks, forwarded as RTP (no depacketizing), with
//! NACK/RTX, RTCP feedback and keyframe requests passed between the two legs. Data
//! channels are relayed to the other participants of the room (see [`relay`]).
//!
//! # Layout
//!
//! - [`Sfu`] starts the workers and routes control-plane [`Command`]s to them; a
//!   [`Session`] is one participant's handle.
//! - Each worker (a thread) owns a UDP socket, the rooms hashed onto it and their peers.
//!   Nothing on the packet path is shared between threads or locked.
//! - [`Engine`] is a worker's sans-IO core: commands, datagrams and time (monotonic and
//!   wall) in; datagrams, signals, events and tapped media out, all from
//!   [`Engine::poll_output`] (and intercom audio from [`Engine::poll_bridge_output`]).
//! - [`bridge`]: intercoms as virtual participants, their audio passed through as
//!   G.711 RTP. It reads no clock and holds no channel; tests and benches
//!   drive it without sockets or threads.
//!
//! # Run loop of a worker
//!
//! ```text
//! loop {
//!     wait for: a datagram | a command | engine.poll_timeout()
//!     engine.handle_command(now, command)      for each queued command
//!     engine.handle_datagram(now, from, bytes) for each datagram of a recvmmsg batch
//!     engine.handle_timeout(now)
//!     for each engine.poll_output(): a datagram to the socket, a signal to its
//!         session, an event to the control plane, tapped media to the recorder
//! }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bridge;
mod config;
mod demux;
mod dtls;
mod engine;
mod error;
mod forward;
mod ids;
mod message;
mod net;
mod peer;
mod quality;
pub mod relay;
mod sdp;
mod slab;
pub mod tap;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod turn_link;

/// The batched UDP I/O of the workers, for benchmarks.
#[cfg(feature = "testkit")]
pub mod bench_net {
    pub use crate::net::{Sent, UdpIo};
}
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

pub use config::SfuConfig;
pub use engine::{Engine, EngineLimits, Output};
pub use error::SfuError;
pub use ids::{MAX_ID_LEN, ParticipantId, RoomId, SessionId};
pub use message::{
    Command, ErrorCode, EventSink, LeaveReason, ParticipantInfo, PeerSignal, SfuEvent, SignalSink,
    TrackKind, WorkerStats,
};

use worker::{WorkerCommand, WorkerHandle};

/// The running SFU: its worker threads.
///
/// Dropping it closes every peer and stops the workers.
pub struct Sfu {
    workers: Vec<WorkerHandle>,
    next_session: AtomicU64,
}

impl Sfu {
    /// Binds the media sockets and starts one worker per configured thread. Workers
    /// report to `events`.
    pub fn start(config: SfuConfig, events: EventSink) -> Result<Sfu, SfuError> {
        let config = config.resolve()?;
        let workers = (0..config.workers)
            .map(|index| worker::spawn(index, &config, events.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sfu {
            workers,
            next_session: AtomicU64::new(1),
        })
    }

    /// The media addresses browsers connect to, one per worker.
    pub fn media_addrs(&self) -> Vec<SocketAddr> {
        self.workers.iter().map(|w| w.local_addr).collect()
    }

    /// Which worker owns `room`.
    ///
    /// A hash of the room id: every node and thread agrees without shared state, and a
    /// room never spans workers.
    pub fn worker_for(&self, room: &RoomId) -> usize {
        // FNV-1a: stable across processes, unlike std's randomly seeded hasher.
        let hash = room
            .as_str()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
        (hash % self.workers.len() as u64) as usize
    }

    /// Joins `participant` to `room`. Signals for the session arrive on `signals`; the
    /// first is [`PeerSignal::Joined`] or [`PeerSignal::Closed`].
    pub fn join(
        &self,
        room: RoomId,
        participant: ParticipantId,
        name: String,
        signals: SignalSink,
    ) -> Result<Session, SfuError> {
        let session = SessionId(self.next_session.fetch_add(1, Ordering::Relaxed));
        let worker = &self.workers[self.worker_for(&room)];
        worker.send(WorkerCommand::Signals(session, signals))?;
        worker.send(WorkerCommand::Engine(Command::Join {
            session,
            room,
            participant,
            name,
        }))?;
        Ok(Session {
            id: session,
            commands: worker.commands.clone(),
            waker: worker.waker.clone(),
            left: false,
        })
    }

    /// An intercom's call joins `room` as a virtual participant (see [`bridge`]):
    /// the device's frames go in through the returned link's end and the room's audio
    /// comes out of it. Signals for the session arrive on `signals` as for a browser;
    /// dropping the link's end or [`Session::leave`] ends it. Join it before the
    /// browsers: a G.711 panel's room speaks its law from then on.
    pub fn bridge(
        &self,
        room: RoomId,
        participant: ParticipantId,
        name: String,
        codec: bridge::BridgeCodec,
        signals: SignalSink,
    ) -> Result<(Session, bridge::link::DeviceEnd), SfuError> {
        let session = SessionId(self.next_session.fetch_add(1, Ordering::Relaxed));
        let worker = &self.workers[self.worker_for(&room)];
        let (device, room_end) = bridge::link::link();
        worker.send(WorkerCommand::Signals(session, signals))?;
        worker.send(WorkerCommand::Bridge(session, room_end))?;
        worker.send(WorkerCommand::Engine(Command::Bridge {
            session,
            room,
            participant,
            name,
            codec,
        }))?;
        Ok((
            Session {
                id: session,
                commands: worker.commands.clone(),
                waker: worker.waker.clone(),
                left: false,
            },
            device,
        ))
    }

    /// Sends every worker's tapped RTP of recorded rooms to `sink(worker index)`.
    pub fn attach_tap(
        &self,
        mut sink: impl FnMut(usize) -> Box<dyn tap::TapSink>,
    ) -> Result<(), SfuError> {
        for (i, worker) in self.workers.iter().enumerate() {
            worker.send(WorkerCommand::AttachTap(sink(i)))?;
        }
        Ok(())
    }

    /// Starts or stops recording `room` (its publishers' RTP goes to the tap).
    pub fn record(&self, room: RoomId, on: bool) {
        let worker = &self.workers[self.worker_for(&room)];
        let _ = worker.send(WorkerCommand::Engine(Command::Record { room, on }));
    }

    /// Caps the video of `room` at frames `max_height` high (`None`: no cap): no
    /// subscriber gets a taller simulcast layer. Takes effect within a quality tick.
    pub fn set_video_cap(&self, room: RoomId, max_height: Option<u16>) {
        let worker = &self.workers[self.worker_for(&room)];
        let _ = worker.send(WorkerCommand::Engine(Command::SetVideoCap {
            room,
            max_height,
        }));
    }

    /// Closes every peer of `room`; each session is told the call ended.
    pub fn close_room(&self, room: RoomId) {
        let worker = &self.workers[self.worker_for(&room)];
        let _ = worker.send(WorkerCommand::Engine(Command::CloseRoom { room }));
    }

    /// Sends each worker's datagrams for the in-process TURN relay to
    /// `link(worker index)`.
    pub fn attach_relay(
        &self,
        link: impl Fn(usize) -> Box<dyn turn_link::RelayOut>,
    ) -> Result<(), SfuError> {
        for (i, worker) in self.workers.iter().enumerate() {
            worker.send(WorkerCommand::AttachRelay(link(i)))?;
        }
        Ok(())
    }

    /// Handles through which the in-process TURN relay delivers datagrams, one per
    /// worker, in the order of [`Sfu::media_addrs`].
    pub fn relay_inlets(&self) -> Vec<RelayInlet> {
        self.workers
            .iter()
            .map(|w| RelayInlet {
                commands: w.commands.clone(),
                waker: w.waker.clone(),
            })
            .collect()
    }

    /// Closes every peer (telling each session why) and waits for the workers to stop.
    pub fn shutdown(&self) {
        for worker in &self.workers {
            let _ = worker.send(WorkerCommand::Engine(Command::Shutdown));
        }
        for worker in &self.workers {
            let thread = worker
                .thread
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(thread) = thread
                && thread.join().is_err()
            {
                tracing::error!("an SFU worker panicked");
            }
        }
    }
}

/// One worker's door for datagrams from the in-process TURN relay.
#[derive(Clone)]
pub struct RelayInlet {
    commands: std::sync::mpsc::Sender<WorkerCommand>,
    waker: std::sync::Arc<mio::Waker>,
}

impl RelayInlet {
    /// Hands a batch to the worker (dropped if it has stopped).
    pub fn deliver(&self, batch: turn_link::FromRelay) {
        if self.commands.send(WorkerCommand::FromRelay(batch)).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

impl Drop for Sfu {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One participant's signaling session with the SFU. Dropping it leaves the room.
pub struct Session {
    id: SessionId,
    commands: std::sync::mpsc::Sender<WorkerCommand>,
    waker: std::sync::Arc<mio::Waker>,
    left: bool,
}

impl Session {
    /// This session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    fn send(&self, command: Command) -> Result<(), SfuError> {
        self.commands
            .send(WorkerCommand::Engine(command))
            .map_err(|_| SfuError::ShuttingDown)?;
        self.waker.wake().map_err(|_| SfuError::ShuttingDown)
    }

    /// Hands the browser's SDP offer to the SFU; the answer comes as a signal.
    pub fn offer(&self, sdp: String) -> Result<(), SfuError> {
        self.send(Command::Offer {
            session: self.id,
            sdp,
        })
    }

    /// Hands the browser's answer to the SFU's last offer.
    pub fn answer(&self, sdp: String) -> Result<(), SfuError> {
        self.send(Command::Answer {
            session: self.id,
            sdp,
        })
    }

    /// Hands a trickled ICE candidate to the SFU.
    pub fn candidate(&self, candidate: String) -> Result<(), SfuError> {
        self.send(Command::Candidate {
            session: self.id,
            candidate,
        })
    }

    /// Leaves the room now.
    pub fn leave(mut self) {
        self.left = true;
        let _ = self.send(Command::Leave { session: self.id });
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.left {
            let _ = self.send(Command::Leave { session: self.id });
        }
    }
}
