//! The intercoms connected to this node: one session per device id (a newer one
//! replaces the older), the commands waiting for a device's answer, and each
//! device's recent log lines.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;
use vchat_intercom::frame::Codec;
use vchat_intercom::message::ServerMessage;

use crate::store::ids::random_token;

/// Log lines kept per device (the newest; older ones rotate out)...
pub const LOG_LINES: usize = 500;
/// ...and at most this many bytes of them, so that 10,000 chatty devices stay within
/// 320 MiB.
pub const LOG_BYTES: usize = 32 * 1024;

/// What the registry hands a device's session.
#[derive(Debug)]
pub enum ToDevice {
    /// Send this message.
    Send(ServerMessage),
    /// A newer connection of the device took over: close with 4009.
    Replaced,
    /// An admin removed the device: close with 4401.
    Removed,
    /// Play this audio (mono PCM at the session's codec rate) to the device, one
    /// frame every 20 ms, as call `call` (0: not in a call).
    Speak {
        /// The call.
        call: u32,
        /// The samples.
        pcm: std::sync::Arc<Vec<i16>>,
    },
    /// An agent answered `call`: the panel is in the room already; audio flows over
    /// the link.
    Answer(Box<Answer>),
    /// vchat ends `call` (`rejected`, `no_answer`, ...).
    Hangup {
        /// The call.
        call: u32,
        /// Why, in the protocol's words.
        reason: String,
    },
}

/// An answered call, handed to the panel's session.
pub struct Answer {
    /// The device's call number.
    pub call: u32,
    /// Who answered (a display name).
    pub by: String,
    /// The interaction.
    pub interaction: String,
    /// Its room.
    pub room: String,
    /// The panel's virtual participant in the room.
    pub session: Box<dyn crate::domain::media::MediaSession>,
    /// The audio link to the worker that owns the room.
    pub link: vchat_sfu::bridge::link::DeviceEnd,
    /// The room's signals for the panel (who is there, when it closes).
    pub signals: mpsc::UnboundedReceiver<vchat_sfu::PeerSignal>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("call", &self.call)
            .field("interaction", &self.interaction)
            .finish_non_exhaustive()
    }
}

/// A device's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Reply {
    /// Whether it was done.
    pub ok: bool,
    /// The relay's position, for `open_door`: `open` or `closed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub door: Option<String>,
    /// Why not, in the device's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a command got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReply {
    /// The device is not connected.
    Offline,
    /// It did not answer in time.
    Timeout,
}

/// A device log line, as kept.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LogLine {
    /// When vchat received it, Unix ms.
    pub received_at: i64,
    /// When the device says it wrote it (RFC 3339), if it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The line.
    pub text: String,
}

/// One device's log lines on this node.
#[derive(Default)]
struct DeviceLog {
    tenant: String,
    bytes: usize,
    /// The newest lines, each with its number (from 1, for this device on this node).
    lines: VecDeque<(u64, LogLine)>,
    /// The last line's number, and the last uploaded.
    last: u64,
    uploaded: u64,
}

/// A device's log lines not uploaded yet ([`Live::unuploaded`]).
#[derive(Debug, Clone)]
pub struct LogBatch {
    /// The device's tenant.
    pub tenant: String,
    /// The device id.
    pub device: String,
    /// The first line's number.
    pub first: u64,
    /// The last line's number.
    pub last: u64,
    /// Lines that rotated out before they could be uploaded.
    pub lost: u64,
    /// The lines, oldest first.
    pub lines: Vec<LogLine>,
}

/// Failed logins from one address beyond which it is refused without a lookup.
pub const AUTH_FAILURES_PER_MINUTE: u32 = 10;

struct Session {
    conn: u64,
    since_ms: i64,
    codec: Codec,
    tx: mpsc::Sender<ToDevice>,
}

/// Store writes of device sessions at once: a reconnect storm of 10,000 panels must not
/// become 10,000 blocking threads waiting for the store (each costs its stack and its
/// allocator heap).
const STORE_WRITERS: usize = 4;

/// Connected devices, pending commands and logs.
pub struct Live {
    writers: tokio::sync::Semaphore,
    sessions: Mutex<HashMap<String, Session>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    logs: Mutex<HashMap<String, DeviceLog>>,
    next: AtomicU64,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    logged: Mutex<HashMap<String, Instant>>,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            writers: tokio::sync::Semaphore::new(STORE_WRITERS),
            sessions: Mutex::default(),
            pending: Mutex::default(),
            logs: Mutex::default(),
            next: AtomicU64::default(),
            failures: Mutex::default(),
            logged: Mutex::default(),
        }
    }
}

impl Live {
    /// Waits for a turn to write a session's change to the store.
    pub async fn store_turn(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.writers
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// Device `device` opened a session at `since_ms` in `codec`: messages for it go
    /// to `tx`. Returns the session's number and whether it replaced an older session.
    pub fn connect(
        &self,
        device: &str,
        since_ms: i64,
        codec: Codec,
        tx: mpsc::Sender<ToDevice>,
    ) -> (u64, bool) {
        let conn = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let old = lock(&self.sessions).insert(
            device.to_owned(),
            Session {
                conn,
                since_ms,
                codec,
                tx,
            },
        );
        let Some(old) = old else { return (conn, false) };
        if let Err(mpsc::error::TrySendError::Full(m)) = old.tx.try_send(ToDevice::Replaced) {
            tokio::spawn(async move { old.tx.send(m).await });
        }
        (conn, true)
    }

    /// Session `conn` of `device` ended (a newer one may hold the slot).
    pub fn disconnect(&self, device: &str, conn: u64) {
        let mut sessions = lock(&self.sessions);
        if sessions.get(device).is_some_and(|s| s.conn == conn) {
            sessions.remove(device);
        }
    }

    /// Devices connected now.
    pub fn online(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// The codec of `device`'s session, if it is connected.
    pub fn codec(&self, device: &str) -> Option<Codec> {
        lock(&self.sessions).get(device).map(|s| s.codec)
    }

    /// Hands `message` to `device`'s session; false when it is not connected (or its
    /// queue is full).
    pub fn tell(&self, device: &str, message: ToDevice) -> bool {
        let tx = lock(&self.sessions).get(device).map(|s| s.tx.clone());
        tx.is_some_and(|tx| tx.try_send(message).is_ok())
    }

    /// Since when `device` is connected (Unix ms), if it is.
    pub fn online_since(&self, device: &str) -> Option<i64> {
        lock(&self.sessions).get(device).map(|s| s.since_ms)
    }

    /// Sends `device` the command `make(id)`, then `then` (audio that goes with it),
    /// and waits up to `wait` for its answer.
    pub async fn command(
        &self,
        device: &str,
        wait: Duration,
        make: impl FnOnce(String) -> ServerMessage,
        then: Option<ToDevice>,
    ) -> Result<Reply, NoReply> {
        let id = format!("cmd_{}", random_token(9));
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), tx);
        let session = lock(&self.sessions).get(device).map(|s| s.tx.clone());
        let sent = session.is_some_and(|tx| {
            tx.try_send(ToDevice::Send(make(id.clone()))).is_ok()
                && then.is_none_or(|m| tx.try_send(m).is_ok())
        });
        if !sent {
            lock(&self.pending).remove(&id);
            return Err(NoReply::Offline);
        }
        let answer = tokio::time::timeout(wait, rx).await;
        lock(&self.pending).remove(&id);
        match answer {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(NoReply::Timeout),
        }
    }

    /// A device answered command `id`; false when nothing waits for it.
    pub fn reply(&self, id: &str, reply: Reply) -> bool {
        match lock(&self.pending).remove(id) {
            Some(waiting) => waiting.send(reply).is_ok(),
            None => false,
        }
    }

    /// Keeps a log line of `device` of `tenant` (the oldest beyond [`LOG_LINES`]
    /// rotate out).
    pub fn log(&self, tenant: &str, device: &str, line: LogLine) {
        let mut logs = lock(&self.logs);
        let log = logs.entry(device.to_owned()).or_default();
        if log.tenant != tenant {
            log.tenant = tenant.to_owned();
        }
        log.bytes += line.text.len();
        log.last += 1;
        log.lines.push_back((log.last, line));
        while log.lines.len() > LOG_LINES || log.bytes > LOG_BYTES {
            let Some((_, old)) = log.lines.pop_front() else {
                break;
            };
            log.bytes -= old.text.len();
        }
    }

    /// Every device's lines since its last upload (copies: the lines stay for the
    /// devices page). [`Live::uploaded`] marks them done once stored.
    pub fn unuploaded(&self) -> Vec<LogBatch> {
        let logs = lock(&self.logs);
        logs.iter()
            .filter(|(_, log)| log.last > log.uploaded)
            .map(|(device, log)| {
                let lines: Vec<&(u64, LogLine)> = log
                    .lines
                    .iter()
                    .filter(|(n, _)| *n > log.uploaded)
                    .collect();
                let first = lines.first().map_or(log.last + 1, |(n, _)| *n);
                LogBatch {
                    tenant: log.tenant.clone(),
                    device: device.clone(),
                    first,
                    last: log.last,
                    lost: first - log.uploaded - 1,
                    lines: lines.into_iter().map(|(_, l)| l.clone()).collect(),
                }
            })
            .collect()
    }

    /// `device`'s lines up to number `last` are stored.
    pub fn uploaded(&self, device: &str, last: u64) {
        if let Some(log) = lock(&self.logs).get_mut(device) {
            log.uploaded = log.uploaded.max(last);
        }
    }

    /// `device`'s log lines containing `query` (any case), newest first: how many
    /// match, and `limit` of them from `offset`.
    pub fn logs(
        &self,
        device: &str,
        query: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<LogLine>) {
        let query = query.map(str::to_lowercase);
        let logs = lock(&self.logs);
        let Some(log) = logs.get(device) else {
            return (0, Vec::new());
        };
        let matching: Vec<&LogLine> = log
            .lines
            .iter()
            .map(|(_, line)| line)
            .rev()
            .filter(|l| {
                query
                    .as_ref()
                    .is_none_or(|q| l.text.to_lowercase().contains(q.as_str()))
            })
            .collect();
        (
            matching.len(),
            matching
                .into_iter()
                .skip(offset)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    /// An admin removed `device`: its session closes and its logs go.
    pub fn remove(&self, device: &str) {
        if let Some(s) = lock(&self.sessions).remove(device) {
            let _ = s.tx.try_send(ToDevice::Removed);
        }
        lock(&self.logs).remove(device);
    }
}

impl Live {
    /// Whether `ip` may try to log in now (fewer than [`AUTH_FAILURES_PER_MINUTE`]
    /// failures in the last minute).
    pub fn login_allowed(&self, ip: IpAddr, now: Instant) -> bool {
        lock(&self.failures).get(&ip).is_none_or(|&(since, n)| {
            now.duration_since(since) >= MINUTE || n < AUTH_FAILURES_PER_MINUTE
        })
    }

    /// A login from `ip` failed.
    pub fn login_failed(&self, ip: IpAddr, now: Instant) {
        let mut failures = lock(&self.failures);
        if failures.len() > 10_000 {
            failures.retain(|_, (since, _)| now.duration_since(*since) < MINUTE);
        }
        let entry = failures.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= MINUTE {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// Whether something about `key` (a device and a kind of trouble) should be
    /// logged now: once a minute at most.
    pub fn log_due(&self, key: &str, now: Instant) -> bool {
        let mut logged = lock(&self.logged);
        if logged.len() > 10_000 {
            logged.retain(|_, at| now.duration_since(*at) < MINUTE);
        }
        match logged.get(key) {
            Some(at) if now.duration_since(*at) < MINUTE => false,
            _ => {
                logged.insert(key.to_owned(), now);
                true
            }
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
