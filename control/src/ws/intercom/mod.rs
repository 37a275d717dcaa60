//! `GET /intercom`: a door panel's socket (docs/intercom.md). The protocol is
//! `vchat_intercom::session::Session`, a state machine without I/O; this glue owns the
//! socket and the clock, checks the device's secret, holds its slot in the registry of
//! connected devices ([`crate::domain::devices::Live`]), keeps what it reports, hands
//! command answers back and counts everything in the `rtc_*` metrics.
//!
//! A ring becomes an interaction that rings the tenant's agents
//! ([`IntercomCalls`]); once one answers, the panel is a participant of the call's
//! room (the SFU's bridge): its audio frames cross to the room's worker over a
//! lock-free link, and the room's come back over it, one binary frame each.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use tokio::sync::mpsc;
use vchat_intercom::frame::{AudioHeader, Codec, FLAG_TALKSPURT};
use vchat_intercom::g711::Law;
use vchat_intercom::message::{DeviceMessage, MAX_FRAME_BYTES, MAX_TEXT_BYTES, ServerMessage};
use vchat_intercom::session::{self, Event, Output, Session, close};

use crate::domain::devices::{Answer, Devices, LogLine, Reply, ToDevice};
use crate::domain::interactions::CLIENT_PARTICIPANT;
use crate::domain::interactions::lifecycle::Lifecycle;
use crate::domain::intercom_calls::IntercomCalls;
use crate::domain::media::MediaSession;
use crate::metrics::intercom::IntercomMetrics;
use crate::model::Device;
use crate::state::AppState;
use crate::store::ids::{now_ms, random_token};
use vchat_sfu::bridge::link::{DeviceEnd, LinkFrame};
use vchat_sfu::{LeaveReason, PeerSignal};

/// `GET /intercom`.
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    // Small buffers: a panel's frames are at most 16 KiB, and 10,000 idle panels must
    // not hold tungstenite's default 128 KiB read buffer each.
    ws.protocols([session::SUBPROTOCOL])
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(MAX_TEXT_BYTES.max(MAX_FRAME_BYTES))
        .max_frame_size(MAX_TEXT_BYTES.max(MAX_FRAME_BYTES))
        .on_upgrade(move |socket| async move { Driver::new(state, peer).run(socket).await })
}

/// Call ends that count as failures (`rtc_failed_*_calls`): the device's own error,
/// a timeout, or vchat losing the device; not a caller who hung up or an agent who
/// rejected.
const FAILURES: [&str; 5] = ["failed", "timeout", "disconnected", "replaced", "shutdown"];

struct Driver {
    devices: Devices,
    metrics: IntercomMetrics,
    peer: SocketAddr,
    session: Session,
    tx: mpsc::Sender<ToDevice>,
    rx: mpsc::Receiver<ToDevice>,
    /// The device and its registry slot, once authenticated.
    me: Option<(Arc<Device>, u64)>,
    /// Audio being played to the device (a spoken prompt), one frame per tick.
    playout: Option<Playout>,
    play_tick: tokio::time::Interval,
    /// The sequence number of the next frame to the device.
    out_seq: u16,
    /// Spoken prompts' encoder for an Opus panel.
    opus: Option<opus::Encoder>,
    /// The interaction of each call rung in this session.
    rings: std::collections::HashMap<u32, String>,
    /// The call that is in a room now (one at a time), its audio link and the room's
    /// signals for it.
    active: Option<ActiveCall>,
    link: Option<DeviceEnd>,
    signals: Option<mpsc::UnboundedReceiver<PeerSignal>>,
    /// The room has had nobody but the panel since then: the call ends after
    /// `interactions.empty_end_secs`.
    alone_until: Option<tokio::time::Instant>,
}

/// An answered call in its room.
struct ActiveCall {
    call: u32,
    interaction: String,
    room: String,
    session: Option<Box<dyn MediaSession>>,
    /// Others in the room.
    others: usize,
}

/// A spoken prompt on its way to the device.
struct Playout {
    call: u32,
    pcm: Arc<Vec<i16>>,
    /// Samples sent so far (also the timestamp).
    at: usize,
}

impl Driver {
    fn new(state: AppState, peer: SocketAddr) -> Driver {
        let (tx, rx) = mpsc::channel(64);
        Driver {
            devices: Devices::from(state.deps.clone()),
            metrics: state.metrics.intercom.clone(),
            peer,
            session: Session::new(Instant::now(), session::PING_SECS),
            tx,
            rx,
            me: None,
            playout: None,
            play_tick: tokio::time::interval(std::time::Duration::from_millis(20)),
            out_seq: 0,
            opus: None,
            rings: std::collections::HashMap::new(),
            active: None,
            link: None,
            signals: None,
            alone_until: None,
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let mut draining = self.devices.0.draining.clone();
        if *draining.borrow() {
            self.session.shutdown();
        }
        // Once the server's drain signal is gone (it never drains), stop asking it.
        let mut drain_signal = true;
        loop {
            while let Some(out) = self.session.poll_output() {
                match out {
                    Output::Text(text) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            self.session.closed_by_peer();
                        }
                    }
                    Output::Close(code, reason) => {
                        self.count_close(code);
                        let frame = CloseFrame {
                            code,
                            reason: reason.into(),
                        };
                        let _ = socket.send(Message::Close(Some(frame))).await;
                    }
                    Output::Event(event) => self.event(event).await,
                    Output::Problem { kind, log } => {
                        self.metrics.refused.with_label_values(&[kind.code()]).inc();
                        // Once a minute per device and kind, across its reconnects too.
                        let key = format!("{}:{}", kind.code(), self.name());
                        if let Some(log) =
                            log.filter(|_| self.devices.0.devices.log_due(&key, Instant::now()))
                        {
                            tracing::warn!(device = self.name(), peer = %self.peer, "intercom {}: {log}", kind.code());
                        }
                    }
                }
            }
            if self.session.is_closed() {
                break;
            }
            let deadline = self
                .session
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(60));
            tokio::select! {
                frame = socket.recv() => {
                    let now = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => self.session.handle_text(now, &text),
                        Some(Ok(Message::Binary(data))) => {
                            if let Some((header, payload)) = self.session.handle_binary(now, &data)
                                && let (Some(active), Some(link)) = (&self.active, &self.link)
                                && active.call == header.call
                            {
                                // A full link (the worker stalled) drops the frame.
                                let _ = link.send(&LinkFrame::new(header.seq, header.ts, now, payload));
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => self.session.closed_by_peer(),
                        Some(Err(e)) => {
                            // Over the size limit (1009) or broken framing, as every socket says it.
                            let close = crate::ws::conn::frame_error(&e);
                            let frame = CloseFrame { code: close.code, reason: close.reason.into() };
                            let _ = socket.send(Message::Close(Some(frame))).await;
                            self.session.closed_by_peer();
                        }
                    }
                }
                command = self.rx.recv() => match command {
                    Some(ToDevice::Send(message)) => self.session.send(&message),
                    Some(ToDevice::Replaced) => self.session.replaced(),
                    Some(ToDevice::Removed) => self.session.removed(),
                    Some(ToDevice::Answer(answer)) => self.answered(*answer).await,
                    Some(ToDevice::Hangup { call, reason }) => {
                        self.session.hangup(Instant::now(), call, &reason);
                    }
                    Some(ToDevice::Speak { call, pcm }) => {
                        let start = tokio::time::Instant::now() + std::time::Duration::from_millis(20);
                        self.play_tick = tokio::time::interval_at(start, std::time::Duration::from_millis(20));
                        self.play_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        self.playout = Some(Playout { call, pcm, at: 0 });
                    }
                    None => self.session.shutdown(),
                },
                _ = self.play_tick.tick(), if self.playout.is_some() => {
                    if let Some(frame) = self.next_frame()
                        && socket.send(Message::Binary(frame.into())).await.is_err()
                    {
                        self.session.closed_by_peer();
                    }
                }
                frame = room_frame(self.link.as_ref()), if self.link.is_some() => match frame {
                    Some(frame) => {
                        if let Some(frame) = self.room_frame(&frame)
                            && socket.send(Message::Binary(frame.into())).await.is_err()
                        {
                            self.session.closed_by_peer();
                        }
                    }
                    // The room's end is gone: the room's last signal says why.
                    None => self.link = None,
                },
                signal = room_signal(self.signals.as_mut()), if self.signals.is_some() => {
                    self.room_signal(signal);
                }
                _ = sleep_until_opt(self.alone_until), if self.alone_until.is_some() => {
                    self.hang_up_active("agent");
                }
                _ = tokio::time::sleep_until(deadline.into()) => self.session.handle_timeout(Instant::now()),
                changed = draining.changed(), if drain_signal => {
                    if changed.is_err() {
                        drain_signal = false;
                    } else if *draining.borrow() {
                        self.session.shutdown();
                    }
                }
            }
        }
        // Events the close produced (calls ended by it).
        while let Some(out) = self.session.poll_output() {
            if let Output::Event(event) = out {
                self.event(event).await;
            }
        }
        if let Some((device, conn)) = self.me.take() {
            self.devices.0.devices.disconnect(&device.device, conn);
            self.metrics
                .online
                .set(self.devices.0.devices.online() as i64);
            if let Err(e) = self.devices.gone(&device.id).await {
                tracing::error!(device = %device.device, "intercom: cannot record the end of its session: {e}");
            }
            tracing::info!(device = %device.device, "intercom disconnected");
        }
    }

    /// The next 20 ms of the prompt being played, as an audio frame in the session's
    /// codec (the last one padded with silence); `None` once it is over.
    fn next_frame(&mut self) -> Option<Vec<u8>> {
        let codec = self.session.codec()?;
        if codec == Codec::Opus && self.opus.is_none() {
            self.opus =
                opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).ok();
        }
        let play = self.playout.as_mut()?;
        // 20 ms at the codec's clock (Opus: 48 kHz, as the prompt was synthesized).
        let per_frame = if codec == Codec::Opus {
            960
        } else {
            codec.sample_rate() as usize / 50
        };
        if play.at >= play.pcm.len() {
            self.playout = None;
            return None;
        }
        let mut samples = [0i16; 960];
        let end = (play.at + per_frame).min(play.pcm.len());
        samples[..end - play.at].copy_from_slice(&play.pcm[play.at..end]);
        let samples = &samples[..per_frame];
        let mut payload = [0u8; 1500];
        let payload = match codec {
            Codec::Pcmu | Codec::Pcma => {
                let law = if codec == Codec::Pcmu {
                    Law::Ulaw
                } else {
                    Law::Alaw
                };
                law.encode(samples, &mut payload[..per_frame]);
                &payload[..per_frame]
            }
            Codec::L16 => {
                for (i, s) in samples.iter().enumerate() {
                    payload[2 * i..2 * i + 2].copy_from_slice(&s.to_le_bytes());
                }
                &payload[..2 * per_frame]
            }
            Codec::Opus => match self.opus.as_mut().map(|e| e.encode(samples, &mut payload)) {
                Some(Ok(n)) => &payload[..n],
                _ => {
                    self.playout = None;
                    return None;
                }
            },
        };
        let header = AudioHeader {
            codec,
            flags: if play.at == 0 { FLAG_TALKSPURT } else { 0 },
            seq: self.out_seq,
            ts: play.at as u32,
            call: play.call,
        };
        play.at += per_frame;
        self.out_seq = self.out_seq.wrapping_add(1);
        let mut frame = Vec::with_capacity(12 + payload.len());
        header.write(payload, &mut frame);
        Some(frame)
    }

    /// A ring: an interaction that rings the tenant's agents, and `ringing` back.
    async fn rang(&mut self, device: &Device, ring: &vchat_intercom::message::Ring) {
        let now = Instant::now();
        match IntercomCalls::from(self.devices.0.clone())
            .rang(device, ring)
            .await
        {
            Ok(i) => {
                self.rings.insert(ring.call, i.id.clone());
                self.session.send(&ServerMessage::Ringing {
                    call: ring.call,
                    interaction: i.id,
                });
            }
            Err(e) => {
                tracing::warn!(device = %device.device, "intercom: a ring could not become a call: {e}");
                self.session.hangup(now, ring.call, "failed");
            }
        }
    }

    /// An agent answered: the panel is in the room; tell the device, start the audio.
    async fn answered(&mut self, answer: Answer) {
        let Answer {
            call,
            by,
            interaction,
            room,
            session,
            link,
            signals,
        } = answer;
        if self.active.is_some() || !self.session.answer(Instant::now(), call, &by) {
            // The call ended meanwhile (or another is up): the panel leaves again.
            session.leave();
            IntercomCalls::from(self.devices.0.clone())
                .ended(&interaction, "disconnected")
                .await;
            return;
        }
        tracing::info!(device = self.name(), call, %interaction, "intercom call answered");
        Lifecycle::from(self.devices.0.clone())
            .participant_changed(&room, CLIENT_PARTICIPANT, true)
            .await;
        self.active = Some(ActiveCall {
            call,
            interaction,
            room,
            session: Some(session),
            others: 0,
        });
        self.link = Some(link);
        self.signals = Some(signals);
        self.alone_until = None;
    }

    /// The room's news for the panel: who is there, and when it closes.
    fn room_signal(&mut self, signal: Option<PeerSignal>) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        match signal {
            Some(PeerSignal::Joined { participants }) => active.others = participants.len(),
            Some(PeerSignal::ParticipantJoined(_)) => active.others += 1,
            Some(PeerSignal::ParticipantLeft { .. }) => {
                active.others = active.others.saturating_sub(1)
            }
            Some(PeerSignal::Closed { reason }) => {
                // The call was ended in the room (the agent hung up), or the room went.
                active.session = None;
                return self.hang_up_active(match reason {
                    LeaveReason::RoomClosed | LeaveReason::Left => "agent",
                    LeaveReason::Shutdown => "shutdown",
                    _ => "failed",
                });
            }
            None => {
                // The worker is gone without a word.
                active.session = None;
                return self.hang_up_active("shutdown");
            }
            _ => return,
        }
        self.alone_until = (active.others == 0).then(|| {
            let secs = self.devices.0.config.interactions.empty_end_secs.max(1);
            tokio::time::Instant::now() + std::time::Duration::from_secs(secs)
        });
    }

    /// vchat ends the call in the room.
    fn hang_up_active(&mut self, reason: &str) {
        if let Some(call) = self.active.as_ref().map(|a| a.call) {
            // The session's `CallEnded` event takes the call out of the room.
            self.session.hangup(Instant::now(), call, reason);
        }
    }

    /// A call ended (either side): out of the room, and its interaction ends.
    async fn call_ended(&mut self, call: u32, reason: &str) {
        if self.active.as_ref().is_some_and(|a| a.call == call)
            && let Some(active) = self.active.take()
        {
            if let Some(link) = self.link.take() {
                let (to_room, to_device) = link.dropped();
                let bridge = &self.metrics.bridge;
                bridge
                    .with_label_values(&["dropped_to_room"])
                    .inc_by(to_room);
                bridge
                    .with_label_values(&["dropped_to_device"])
                    .inc_by(to_device);
            }
            self.signals = None;
            self.alone_until = None;
            if let Some(session) = active.session {
                session.leave();
            }
            tracing::info!(device = self.name(), call, interaction = %active.interaction, reason, "intercom call left its room");
            Lifecycle::from(self.devices.0.clone())
                .participant_changed(&active.room, CLIENT_PARTICIPANT, false)
                .await;
        }
        if let Some(interaction) = self.rings.remove(&call) {
            IntercomCalls::from(self.devices.0.clone())
                .ended(&interaction, reason)
                .await;
        }
    }

    /// The room's frame as one for the device, in the session's codec.
    fn room_frame(&mut self, frame: &LinkFrame) -> Option<Vec<u8>> {
        let codec = self.session.codec()?;
        let call = self.active.as_ref()?.call;
        let header = AudioHeader {
            codec,
            flags: 0,
            seq: frame.seq,
            ts: frame.ts,
            call,
        };
        let mut out = Vec::with_capacity(12 + frame.payload().len());
        header.write(frame.payload(), &mut out);
        Some(out)
    }

    fn name(&self) -> &str {
        self.me.as_ref().map_or("-", |(d, _)| d.device.as_str())
    }

    fn count_close(&self, code: u16) {
        let reason = match code {
            close::NOT_HELLO => "no_hello",
            close::TIMEOUT if self.me.is_none() => "no_hello",
            close::TIMEOUT => "idle",
            close::AUTH_FAILED => "auth_failed",
            close::UNSUPPORTED => "unsupported",
            _ => return,
        };
        self.metrics.refused.with_label_values(&[reason]).inc();
    }

    async fn event(&mut self, event: Event) {
        match event {
            Event::Hello(hello) => {
                let now = Instant::now();
                let live = &self.devices.0.devices;
                if !live.login_allowed(self.peer.ip(), now) {
                    return self.session.reject();
                }
                match self.devices.authenticate(&hello).await {
                    Ok(Some(device)) => {
                        let before = match self.devices.connected(&device.id, &hello).await {
                            Ok(n) => n,
                            Err(e) => {
                                tracing::error!(device = %device.device, "intercom: cannot record its session: {e}");
                                return self.session.shutdown();
                            }
                        };
                        self.session
                            .accept(&format!("{}-{}", hello.device, random_token(6)));
                        let codec = self.session.codec().unwrap_or(Codec::Pcmu);
                        let (conn, replaced) =
                            live.connect(&device.device, now_ms(), codec, self.tx.clone());
                        if before > 0 || replaced {
                            self.metrics.reconnects.inc();
                        }
                        self.metrics.online.set(live.online() as i64);
                        tracing::info!(device = %device.device, firmware = %hello.firmware, model = %hello.model, peer = %self.peer, replaced, "intercom connected");
                        self.me = Some((Arc::new(device), conn));
                    }
                    Ok(None) => {
                        live.login_failed(self.peer.ip(), now);
                        if live.log_due(&format!("auth:{}", hello.device), now) {
                            tracing::warn!(device = %hello.device, peer = %self.peer, "intercom: wrong device id, secret or token");
                        }
                        self.session.reject();
                    }
                    Err(e) => {
                        tracing::error!("intercom login: {e}");
                        self.session.shutdown();
                    }
                }
            }
            Event::Message(message) => self.message(message).await,
            Event::CallUp { kind, .. } => self.metrics.kind(kind).speak.inc(),
            Event::CallEnded {
                call,
                kind,
                reason,
                talked,
                ..
            } => {
                let m = self.metrics.kind(kind);
                if let Some(talked) = talked {
                    m.duration.observe(talked.as_secs_f64());
                }
                if FAILURES.contains(&reason.as_str()) {
                    m.failed.inc();
                }
                self.call_ended(call, &reason).await;
            }
        }
    }

    async fn message(&mut self, message: DeviceMessage) {
        let Some((device, _)) = self.me.clone() else {
            return;
        };
        let live = &self.devices.0.devices;
        match message {
            DeviceMessage::Status(status) => {
                if let Err(e) = self.devices.reported(&device.id, status).await {
                    tracing::error!(device = %device.device, "intercom: cannot keep its status: {e}");
                }
            }
            DeviceMessage::Ring(ring) => {
                self.metrics.kind(ring.kind).started.inc();
                tracing::info!(device = %device.device, call = ring.call, kind = ring.kind.name(), "intercom rings");
                self.rang(&device, &ring).await;
            }
            DeviceMessage::DoorState(door) => {
                let state = match door.state {
                    vchat_intercom::message::DoorPosition::Open => "open",
                    vchat_intercom::message::DoorPosition::Closed => "closed",
                };
                if let Some(id) = &door.id {
                    live.reply(
                        id,
                        Reply {
                            ok: true,
                            door: Some(state.into()),
                            error: None,
                        },
                    );
                }
                let mut status = vchat_intercom::message::Status::default();
                status.values.insert(
                    "door".into(),
                    vchat_intercom::message::StatusValue::Text(state.into()),
                );
                let _ = self.devices.reported(&device.id, status).await;
            }
            DeviceMessage::Result(result) => {
                live.reply(
                    &result.id,
                    Reply {
                        ok: result.ok,
                        door: None,
                        error: result.error,
                    },
                );
            }
            DeviceMessage::Log(log) => {
                let level = serde_json::to_value(log.level)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned));
                live.log(
                    &device.tenant,
                    &device.device,
                    LogLine {
                        received_at: now_ms(),
                        at: log.at,
                        level: level.unwrap_or_default(),
                        text: log.text,
                    },
                );
            }
            _ => {}
        }
    }
}

/// The next frame from the room; never, without a link.
async fn room_frame(link: Option<&DeviceEnd>) -> Option<LinkFrame> {
    match link {
        Some(link) => link.recv().await,
        None => std::future::pending().await,
    }
}

/// The next signal of the room; never, without one.
async fn room_signal(
    signals: Option<&mut mpsc::UnboundedReceiver<PeerSignal>>,
) -> Option<PeerSignal> {
    match signals {
        Some(signals) => signals.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
