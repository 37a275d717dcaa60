//! The sans-IO relay (RFC 8656): bytes and time in, at most one datagram out per
//! input, plus timers. The driver owns sockets; [`RelayPorts`] is how the core asks it
//! for a relayed transport address.
//!
//! Hot paths (ChannelData both ways, Send/Data) do not allocate: what goes to a peer
//! borrows the client's datagram, what goes to a client is written into the caller's
//! reusable buffer.

mod allocation;
mod stats;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::auth::{ChallengeLimiter, Credentials, Lookup, NonceCheck, Nonces};
use crate::policy::{PeerPolicy, Verdict};
use crate::proto::attr::{self, FAMILY_V4, FAMILY_V6};
use crate::proto::channel_data::{self, CHANNELS};
use crate::proto::{Attr, Builder, ChannelData, Class, Integrity, Message, Method};

use allocation::{Allocation, Channel, MAX_PER_ALLOCATION};
pub use stats::RelayStats;

/// How a client reaches the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (3478).
    Udp = 0,
    /// TCP (3478).
    Tcp = 1,
    /// TLS over TCP (5349).
    Tls = 2,
}

impl Transport {
    /// The label used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    fn is_stream(self) -> bool {
        self != Transport::Udp
    }
}

/// A client's five-tuple: the transport, its address and the listener's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client {
    /// The transport.
    pub transport: Transport,
    /// The client's address (as the relay sees it).
    pub remote: SocketAddr,
    /// The listener that received it.
    pub local: SocketAddr,
}

/// An address family of relayed addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family as written: `::ffff:a.b.c.d` is IPv6 on the wire (and reaches an
    /// IPv4 host through a dual-stack socket, which is why the policy unwraps it).
    fn of(ip: IpAddr) -> Family {
        if ip.is_ipv6() { Family::V6 } else { Family::V4 }
    }
}

/// The driver's side of relayed addresses: it binds and closes the sockets.
pub trait RelayPorts {
    /// Binds a new relayed transport address of `family` (an even port if `even`).
    fn open(&mut self, family: Family, even: bool) -> io::Result<SocketAddr>;
    /// Closes one that [`RelayPorts::open`] returned.
    fn close(&mut self, relay: SocketAddr);
}

/// What the relay wants sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Nothing.
    None,
    /// To a client over the transport it came from.
    ToClient {
        /// Who.
        client: Client,
        /// The datagram (or stream message, padded).
        bytes: &'a [u8],
    },
    /// To a peer, from a relayed address.
    ToPeer {
        /// The relayed address (as bound) to send from.
        relay: SocketAddr,
        /// The peer.
        peer: SocketAddr,
        /// `Some(i)`: the peer is the SFU's `i`th media address; hand it over in-process.
        internal: Option<usize>,
        /// The application data.
        bytes: &'a [u8],
    },
}

/// The relay's settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// SOFTWARE in authenticated answers.
    pub software: String,
    /// Address told to clients instead of the bound IPv4 relay address (NAT, cloud).
    pub external_v4: Option<IpAddr>,
    /// Same for IPv6.
    pub external_v6: Option<IpAddr>,
    /// Which families the driver can relay.
    pub families: (bool, bool),
    /// Allocation lifetime when the client asks for less (RFC: 600 s).
    pub default_lifetime: Duration,
    /// Longest allocation lifetime granted (RFC: 3600 s).
    pub max_lifetime: Duration,
    /// Permission lifetime (RFC: 300 s).
    pub permission_lifetime: Duration,
    /// Channel lifetime (RFC: 600 s).
    pub channel_lifetime: Duration,
    /// How long a nonce stays fresh.
    pub nonce_lifetime: Duration,
    /// Allocations one username may hold at once.
    pub user_quota: usize,
    /// Allocations the relay holds at once.
    pub total_quota: usize,
    /// Per-allocation cap in bytes per second (both directions together); 0 = none.
    pub max_bytes_per_second: u64,
    /// 401/438 answers per second per source IP (and the burst allowed): every one
    /// over UDP (a spoofed source could aim them elsewhere), those for failed
    /// credentials over TCP and TLS.
    pub challenges_per_second: (u32, u32),
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            software: concat!("vchat ", env!("CARGO_PKG_VERSION")).to_owned(),
            external_v4: None,
            external_v6: None,
            families: (true, false),
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            permission_lifetime: Duration::from_secs(300),
            channel_lifetime: Duration::from_secs(600),
            nonce_lifetime: Duration::from_secs(600),
            user_quota: 32,
            total_quota: 10_000,
            // 20 Mbit/s: a 1080p call with headroom.
            max_bytes_per_second: 2_500_000,
            // An office behind one NAT address may start a few hundred calls at once.
            challenges_per_second: (200, 400),
        }
    }
}

/// Attributes this relay understands (anything else comprehension-required → 420).
/// DONT-FRAGMENT is left out on purpose: RFC 8656 §7.2 has a server that does not
/// promise the DF bit answer 420 naming it.
const KNOWN: &[u16] = &[
    attr::USERNAME,
    attr::MESSAGE_INTEGRITY,
    attr::MESSAGE_INTEGRITY_SHA256,
    attr::REALM,
    attr::NONCE,
    attr::LIFETIME,
    attr::REQUESTED_TRANSPORT,
    attr::REQUESTED_ADDRESS_FAMILY,
    attr::EVEN_PORT,
    attr::RESERVATION_TOKEN,
    attr::XOR_PEER_ADDRESS,
    attr::CHANNEL_NUMBER,
    attr::DATA,
    attr::FINGERPRINT,
];

/// Sweeps of expired state run this often.
const SWEEP: Duration = Duration::from_secs(1);
const PROTO_UDP: u8 = 17;

/// The relay core.
pub struct Relay {
    config: RelayConfig,
    credentials: Credentials,
    policy: PeerPolicy,
    nonces: Nonces,
    limiter: ChallengeLimiter,
    allocations: Vec<Option<Allocation>>,
    free: Vec<usize>,
    by_client: HashMap<Client, usize>,
    by_relay: HashMap<SocketAddr, usize>,
    per_user: HashMap<Box<str>, usize>,
    stats: RelayStats,
    draining: bool,
    next_sweep: Instant,
    /// `now` and the Unix time at construction: REST usernames and nonces carry Unix
    /// seconds, while the core only ever sees `Instant`s.
    epoch: (Instant, u64),
}

/// Who a request authenticated as.
struct Authenticated<'m> {
    username: &'m str,
    key: [u8; 16],
    sha256: bool,
}

impl Relay {
    /// A relay with its settings, credentials and peer policy, at `now` = `unix_now`.
    pub fn new(
        config: RelayConfig,
        credentials: Credentials,
        policy: PeerPolicy,
        now: Instant,
        unix_now: u64,
    ) -> Relay {
        let (rate, burst) = config.challenges_per_second;
        Relay {
            nonces: Nonces::new(config.nonce_lifetime),
            limiter: ChallengeLimiter::new(rate, burst),
            config,
            credentials,
            policy,
            allocations: Vec::new(),
            free: Vec::new(),
            by_client: HashMap::new(),
            by_relay: HashMap::new(),
            per_user: HashMap::new(),
            stats: RelayStats::default(),
            draining: false,
            next_sweep: now + SWEEP,
            epoch: (now, unix_now),
        }
    }

    /// The counters, with the live gauges (allocations, permissions, channels)
    /// counted now rather than kept in step by every path that changes them.
    pub fn stats(&self) -> RelayStats {
        let live = self.allocations.iter().flatten();
        RelayStats {
            allocations: self.by_client.len() as u64,
            permissions: live.clone().map(|a| a.permissions.len() as u64).sum(),
            channels: live.map(|a| a.channels.len() as u64).sum(),
            ..self.stats.clone()
        }
    }

    /// The peer policy (the driver routes internal peers with it).
    pub fn policy(&self) -> &PeerPolicy {
        &self.policy
    }

    /// Replaces the credentials (a rotated secret, new static users).
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = credentials;
    }

    /// Stops granting new allocations; existing ones live on until they end.
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Live allocations.
    pub fn allocation_count(&self) -> usize {
        self.by_client.len()
    }

    /// Whether `client` holds an allocation.
    pub fn has_allocation(&self, client: Client) -> bool {
        self.by_client.contains_key(&client)
    }

    /// A stream client's connection closed: its allocation goes with it (RFC 8656 §3.1).
    pub fn close_client(&mut self, client: Client, ports: &mut dyn RelayPorts) {
        if let Some(index) = self.by_client.get(&client).copied() {
            self.remove(index, ports);
        }
    }

    /// When [`Relay::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Instant {
        self.next_sweep
    }

    fn unix(&self, now: Instant) -> u64 {
        self.epoch.1 + now.saturating_duration_since(self.epoch.0).as_secs()
    }

    fn millis(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch.0).as_millis() as u64
    }

    /// Expires allocations, permissions and channels.
    pub fn handle_timeout(&mut self, now: Instant, ports: &mut dyn RelayPorts) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP;
        let mut expired = Vec::new();
        for (i, slot) in self.allocations.iter_mut().enumerate() {
            let Some(a) = slot else { continue };
            if a.expires <= now {
                expired.push(i);
                continue;
            }
            a.prune(now);
        }
        for i in expired {
            self.stats.allocations_expired += 1;
            self.remove(i, ports);
        }
        self.limiter.sweep(self.millis(now));
    }

    fn remove(&mut self, index: usize, ports: &mut dyn RelayPorts) {
        let Some(a) = self.allocations[index].take() else {
            return;
        };
        self.by_client.remove(&a.client);
        self.by_relay.remove(&a.relay);
        if let Some(n) = self.per_user.get_mut(&a.username) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(&a.username);
            }
        }
        self.free.push(index);
        ports.close(a.relay);
        tracing::debug!(relay = %a.relay, client = %a.client.remote, "allocation closed");
    }

    /// Everything a client sends: STUN requests and indications, ChannelData.
    ///
    /// A bug that panics here costs the client its allocation, not everyone theirs:
    /// the panic is caught, counted and the allocation dropped.
    pub fn handle_client<'a>(
        &mut self,
        now: Instant,
        client: Client,
        bytes: &'a [u8],
        out: &'a mut Vec<u8>,
        ports: &mut dyn RelayPorts,
    ) -> Output<'a> {
        let (this, lent) = (&mut *self, &mut *ports);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let out = out; // moved in: the closure runs once
            this.client_datagram(now, client, bytes, out, lent)
        }));
        match result {
            Ok(output) => output,
            Err(_) => {
                self.stats.core_panics += 1;
                tracing::error!(client = %client.remote, "TURN core panicked on a client's datagram; dropping its allocation");
                self.close_client(client, ports);
                Output::None
            }
        }
    }

    fn client_datagram<'a>(
        &mut self,
        now: Instant,
        client: Client,
        bytes: &'a [u8],
        out: &'a mut Vec<u8>,
        ports: &mut dyn RelayPorts,
    ) -> Output<'a> {
        let Some(&first) = bytes.first() else {
            return Output::None;
        };
        if channel_data::is_channel_data(first) {
            return self.channel_data_from_client(now, client, bytes);
        }
        let Ok(message) = Message::parse(bytes) else {
            self.stats.malformed += 1;
            return Output::None;
        };
        if !message.fingerprint_ok() {
            self.stats.malformed += 1;
            return Output::None;
        }
        match (message.class, message.method) {
            (Class::Request, Method::Binding) => {
                // Unauthenticated, so the smallest answer: no SOFTWARE.
                Builder::new(out, Class::Success, Method::Binding, message.transaction)
                    .attr(Attr::XorMappedAddress(client.remote))
                    .finish(None, true);
                Output::ToClient { client, bytes: out }
            }
            (Class::Indication, Method::Send) => self.send_indication(now, client, &message),
            (
                Class::Request,
                Method::Allocate | Method::Refresh | Method::CreatePermission | Method::ChannelBind,
            ) => {
                self.request(now, client, &message, out, ports);
                if out.is_empty() {
                    Output::None
                } else {
                    Output::ToClient { client, bytes: out }
                }
            }
            (Class::Request, _) => {
                error(out, &message, 400, "Bad Request: unknown method", None);
                Output::ToClient { client, bytes: out }
            }
            _ => Output::None,
        }
    }

    fn channel_data_from_client<'a>(
        &mut self,
        now: Instant,
        client: Client,
        bytes: &'a [u8],
    ) -> Output<'a> {
        let Some(cd) = ChannelData::parse(bytes) else {
            self.stats.malformed += 1;
            return Output::None;
        };
        let Some(&index) = self.by_client.get(&client) else {
            self.stats.unpermitted_drops += 1;
            return Output::None;
        };
        let Some(a) = self.allocations[index].as_mut() else {
            return Output::None;
        };
        let Some(&Channel { peer, internal, .. }) = a.channel_by_number(cd.channel, now) else {
            self.stats.unpermitted_drops += 1;
            return Output::None;
        };
        if !a.spend(cd.data.len(), now) {
            self.stats.bandwidth_drops += 1;
            return Output::None;
        }
        let relay = a.relay;
        // The peer was judged, and its route chosen, when the channel was bound.
        if internal.is_some() {
            self.stats.internal_packets += 1;
        }
        self.stats.count_to_peer(client.transport, cd.data.len());
        Output::ToPeer {
            relay,
            peer,
            internal,
            bytes: cd.data,
        }
    }

    fn send_indication<'a>(
        &mut self,
        now: Instant,
        client: Client,
        message: &Message<'a>,
    ) -> Output<'a> {
        let Some(&index) = self.by_client.get(&client) else {
            return Output::None;
        };
        let (Some(Attr::XorPeerAddress(peer)), Some(Attr::Data(data))) = (
            message.attr(attr::XOR_PEER_ADDRESS),
            message.attr(attr::DATA),
        ) else {
            self.stats.malformed += 1;
            return Output::None;
        };
        // Indications are never answered (RFC 8656 §11.2): a denied peer is a drop.
        let internal = match self.policy.check(peer) {
            Verdict::Denied => {
                self.stats.denied_peers += 1;
                return Output::None;
            }
            Verdict::Internal(i) => Some(i),
            Verdict::Allowed => None,
        };
        let Some(a) = self.allocations[index].as_mut() else {
            return Output::None;
        };
        if !a.permits(peer.ip(), now) {
            self.stats.unpermitted_drops += 1;
            return Output::None;
        }
        if !a.spend(data.len(), now) {
            self.stats.bandwidth_drops += 1;
            return Output::None;
        }
        let relay = a.relay;
        if internal.is_some() {
            self.stats.internal_packets += 1;
        }
        self.stats.count_to_peer(client.transport, data.len());
        Output::ToPeer {
            relay,
            peer,
            internal,
            bytes: data,
        }
    }

    /// A datagram a peer sent to a relayed address; `internal` when the SFU handed it
    /// over in-process. A panic here is caught and counted like one in
    /// [`Relay::handle_client`], and drops the allocation of that relayed address.
    pub fn handle_peer<'a>(
        &mut self,
        now: Instant,
        relay: SocketAddr,
        peer: SocketAddr,
        internal: bool,
        bytes: &[u8],
        out: &'a mut Vec<u8>,
    ) -> Output<'a> {
        let this = &mut *self;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let out = out; // moved in: the closure runs once
            this.peer_datagram(now, relay, peer, internal, bytes, out)
        }));
        match result {
            Ok(output) => output,
            Err(_) => {
                self.stats.core_panics += 1;
                tracing::error!(%relay, %peer, "TURN core panicked on a peer's datagram; dropping the allocation");
                // Expired now: the next sweep (within a second) removes it and
                // closes its socket, which needs the driver's ports we lack here.
                if let Some(index) = self.by_relay.get(&relay).copied()
                    && let Some(a) = self.allocations.get_mut(index).and_then(Option::as_mut)
                {
                    a.expires = now;
                }
                Output::None
            }
        }
    }

    fn peer_datagram<'a>(
        &mut self,
        now: Instant,
        relay: SocketAddr,
        peer: SocketAddr,
        internal: bool,
        bytes: &[u8],
        out: &'a mut Vec<u8>,
    ) -> Output<'a> {
        let Some(&index) = self.by_relay.get(&relay) else {
            return Output::None;
        };
        let Some(a) = self.allocations[index].as_mut() else {
            return Output::None;
        };
        let client = a.client;
        if let Some(&Channel { number, .. }) = a.channel_by_peer(peer, now) {
            if !a.spend(bytes.len(), now) {
                self.stats.bandwidth_drops += 1;
                return Output::None;
            }
            ChannelData::write(out, number, bytes, client.transport.is_stream());
        } else {
            if !a.permits(peer.ip(), now) {
                self.stats.unpermitted_drops += 1;
                return Output::None;
            }
            if !a.spend(bytes.len(), now) {
                self.stats.bandwidth_drops += 1;
                return Output::None;
            }
            // A permitted IP on a port the policy denies (the relay host's own
            // services, when the SFU shares its address) stays out.
            if self.policy.check(peer) == Verdict::Denied {
                self.stats.denied_peers += 1;
                return Output::None;
            }
            Builder::new(out, Class::Indication, Method::Data, random_transaction())
                .attr(Attr::XorPeerAddress(peer))
                .attr(Attr::Data(bytes))
                .finish(None, false);
        }
        if internal {
            self.stats.internal_packets += 1;
        }
        self.stats.count_to_client(client.transport, bytes.len());
        Output::ToClient { client, bytes: out }
    }

    /// Allocate, Refresh, CreatePermission, ChannelBind: the answer lands in `out`
    /// (left empty for silence).
    fn request(
        &mut self,
        now: Instant,
        client: Client,
        message: &Message<'_>,
        out: &mut Vec<u8>,
        ports: &mut dyn RelayPorts,
    ) {
        out.clear();
        let unknown = message.unknown_required(KNOWN);
        if !unknown.is_empty() {
            Builder::new(out, Class::Error, message.method, message.transaction)
                .attr(Attr::ErrorCode(420, "Unknown Attribute"))
                .attr(Attr::UnknownAttributes(unknown))
                .finish(None, true);
            return;
        }
        let Some(auth) = self.authenticate(now, client, message, out) else {
            return;
        };
        let credentials = (auth.key, auth.sha256);
        let existing = self.by_client.get(&client).copied();
        if message.method == Method::Allocate {
            return self.allocate(now, client, message, auth, existing, out, ports);
        }
        let Some(index) = existing else {
            return error(out, message, 437, "Allocation Mismatch", Some(credentials));
        };
        let a = self.allocations[index]
            .as_ref()
            .expect("indexed allocations exist");
        if *a.username != *auth.username {
            return error(out, message, 441, "Wrong Credentials", Some(credentials));
        }
        match message.method {
            Method::Refresh => self.refresh(now, index, message, credentials, out, ports),
            Method::CreatePermission => {
                self.create_permission(now, index, message, credentials, out)
            }
            Method::ChannelBind => self.channel_bind(now, index, message, credentials, out),
            _ => unreachable!("only the four requests reach here"),
        }
    }

    /// RFC 8489 §9.2.4, in its order. `None` means the answer (or silence) is in `out`.
    fn authenticate<'m>(
        &mut self,
        now: Instant,
        client: Client,
        message: &Message<'m>,
        out: &mut Vec<u8>,
    ) -> Option<Authenticated<'m>> {
        let has_integrity = message.raw_attr(attr::MESSAGE_INTEGRITY).is_some()
            || message.raw_attr(attr::MESSAGE_INTEGRITY_SHA256).is_some();
        if !has_integrity {
            self.challenge(now, client, message, 401, "Unauthenticated", false, out);
            return None;
        }
        let (Some(Attr::Username(username)), Some(Attr::Realm(_)), Some(Attr::Nonce(nonce))) = (
            message.attr(attr::USERNAME),
            message.attr(attr::REALM),
            message.attr(attr::NONCE),
        ) else {
            error(
                out,
                message,
                400,
                "Bad Request: USERNAME, REALM and NONCE are needed",
                None,
            );
            return None;
        };
        let unix = self.unix(now);
        if self.nonces.check(nonce, unix, client.remote.ip()) != NonceCheck::Fresh {
            self.challenge(now, client, message, 438, "Stale Nonce", false, out);
            return None;
        }
        let key = match self.credentials.lookup(username, unix) {
            Lookup::Key(key) => key,
            Lookup::Expired | Lookup::Unknown => {
                self.stats.auth_failures += 1;
                self.challenge(now, client, message, 401, "Unauthenticated", true, out);
                return None;
            }
        };
        let key = if message.check_integrity(&key) == Some(true) {
            key
        } else if let Some(older) = self
            .credentials
            .older_keys(username)
            .find(|k| message.check_integrity(k) == Some(true))
        {
            older
        } else {
            self.stats.auth_failures += 1;
            self.challenge(now, client, message, 401, "Unauthenticated", true, out);
            return None;
        };
        let sha256 = message.raw_attr(attr::MESSAGE_INTEGRITY_SHA256).is_some();
        Some(Authenticated {
            username,
            key,
            sha256,
        })
    }

    /// A 401 or 438 with REALM and a fresh NONCE, unless the source has had its share.
    #[allow(clippy::too_many_arguments)]
    fn challenge(
        &mut self,
        now: Instant,
        client: Client,
        message: &Message<'_>,
        code: u16,
        reason: &str,
        failed: bool,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        let ip = client.remote.ip();
        // Over TCP and TLS the source cannot be spoofed, so a first challenge is no
        // reflection risk; guesses (failed credentials) are limited everywhere.
        let limited = failed || client.transport == Transport::Udp;
        if limited && !self.limiter.allow(ip, self.millis(now)) {
            self.stats.challenges_suppressed += 1;
            return;
        }
        let mut nonce = [0u8; 24];
        self.nonces.issue(self.unix(now), ip, &mut nonce);
        let nonce = std::str::from_utf8(&nonce).expect("hex is ASCII");
        Builder::new(out, Class::Error, message.method, message.transaction)
            .attr(Attr::ErrorCode(code, reason))
            .attr(Attr::Realm(self.credentials.realm()))
            .attr(Attr::Nonce(nonce))
            .finish(None, true);
    }

    #[allow(clippy::too_many_arguments)]
    fn allocate(
        &mut self,
        now: Instant,
        client: Client,
        message: &Message<'_>,
        auth: Authenticated<'_>,
        existing: Option<usize>,
        out: &mut Vec<u8>,
        ports: &mut dyn RelayPorts,
    ) {
        let credentials = Some((auth.key, auth.sha256));
        if let Some(index) = existing {
            let a = self.allocations[index]
                .as_ref()
                .expect("indexed allocations exist");
            if a.allocate_transaction == message.transaction && *a.username == *auth.username {
                // A retransmission whose answer was lost: the same answer again.
                let lifetime = a.expires.saturating_duration_since(now).as_secs() as u32;
                let (announced, key, sha256) = (a.announced, a.key, a.sha256);
                return self.allocate_success(
                    client,
                    message,
                    announced,
                    lifetime,
                    (key, sha256),
                    out,
                );
            }
            return error(out, message, 437, "Allocation Mismatch", credentials);
        }
        match message.attr(attr::REQUESTED_TRANSPORT) {
            Some(Attr::RequestedTransport(PROTO_UDP)) => {}
            Some(Attr::RequestedTransport(_)) => {
                return error(
                    out,
                    message,
                    442,
                    "Unsupported Transport Protocol",
                    credentials,
                );
            }
            _ => {
                return error(
                    out,
                    message,
                    400,
                    "Bad Request: REQUESTED-TRANSPORT is needed",
                    credentials,
                );
            }
        }
        let even = message.attr(attr::EVEN_PORT);
        let token = message.raw_attr(attr::RESERVATION_TOKEN);
        let family_attr = message.attr(attr::REQUESTED_ADDRESS_FAMILY);
        if token.is_some() && (even.is_some() || family_attr.is_some()) {
            return error(
                out,
                message,
                400,
                "Bad Request: RESERVATION-TOKEN excludes EVEN-PORT and REQUESTED-ADDRESS-FAMILY",
                credentials,
            );
        }
        if token.is_some() {
            // We never hand out tokens, so none is valid (RFC 8656 §7.2).
            return error(
                out,
                message,
                508,
                "Insufficient Capacity: no such reservation",
                credentials,
            );
        }
        if even == Some(Attr::EvenPort(true)) {
            return error(
                out,
                message,
                508,
                "Insufficient Capacity: ports are not reserved in pairs",
                credentials,
            );
        }
        let family = match family_attr {
            None => Family::V4,
            Some(Attr::RequestedAddressFamily(FAMILY_V4)) => Family::V4,
            Some(Attr::RequestedAddressFamily(FAMILY_V6)) => Family::V6,
            _ => {
                return error(
                    out,
                    message,
                    440,
                    "Address Family not Supported",
                    credentials,
                );
            }
        };
        let supported = match family {
            Family::V4 => self.config.families.0,
            Family::V6 => self.config.families.1,
        };
        if !supported {
            return error(
                out,
                message,
                440,
                "Address Family not Supported",
                credentials,
            );
        }
        if self.draining {
            return error(
                out,
                message,
                508,
                "Insufficient Capacity: the server is shutting down",
                credentials,
            );
        }
        let held = self.per_user.get(auth.username).copied().unwrap_or(0);
        if held >= self.config.user_quota || self.by_client.len() >= self.config.total_quota {
            self.stats.quota_rejections += 1;
            return error(out, message, 486, "Allocation Quota Reached", credentials);
        }
        let relay = match ports.open(family, even.is_some()) {
            Ok(relay) => relay,
            Err(e) => {
                tracing::warn!("no relay port for {}: {e}", client.remote);
                return error(out, message, 508, "Insufficient Capacity", credentials);
            }
        };
        let lifetime = self.lifetime(message);
        let announced = match (relay.ip(), self.config.external_v4, self.config.external_v6) {
            (IpAddr::V4(_), Some(ext), _) | (IpAddr::V6(_), _, Some(ext)) => {
                SocketAddr::new(ext, relay.port())
            }
            _ => relay,
        };
        let allocation = Allocation::new(
            client,
            relay,
            announced,
            auth.username,
            auth.key,
            auth.sha256,
            message.transaction,
            now + lifetime,
            self.config.max_bytes_per_second,
            now,
        );
        let index = match self.free.pop() {
            Some(i) => {
                self.allocations[i] = Some(allocation);
                i
            }
            None => {
                self.allocations.push(Some(allocation));
                self.allocations.len() - 1
            }
        };
        self.by_client.insert(client, index);
        self.by_relay.insert(relay, index);
        *self.per_user.entry(auth.username.into()).or_insert(0) += 1;
        self.stats.allocations_created += 1;
        tracing::debug!(%relay, client = %client.remote, transport = client.transport.as_str(), "allocation made");
        self.allocate_success(
            client,
            message,
            announced,
            lifetime.as_secs() as u32,
            (auth.key, auth.sha256),
            out,
        );
    }

    fn allocate_success(
        &self,
        client: Client,
        message: &Message<'_>,
        announced: SocketAddr,
        lifetime: u32,
        (key, sha256): ([u8; 16], bool),
        out: &mut Vec<u8>,
    ) {
        Builder::new(out, Class::Success, Method::Allocate, message.transaction)
            .attr(Attr::XorRelayedAddress(announced))
            .attr(Attr::Lifetime(lifetime))
            .attr(Attr::XorMappedAddress(client.remote))
            .attr(Attr::Software(&self.config.software))
            .finish(Some((&key, integrity_kind(sha256))), true);
    }

    /// The lifetime a request asks for, within the RFC's bounds.
    fn lifetime(&self, message: &Message<'_>) -> Duration {
        match message.attr(attr::LIFETIME) {
            Some(Attr::Lifetime(s)) => Duration::from_secs(u64::from(s))
                .clamp(self.config.default_lifetime, self.config.max_lifetime),
            _ => self.config.default_lifetime,
        }
    }

    fn refresh(
        &mut self,
        now: Instant,
        index: usize,
        message: &Message<'_>,
        credentials: ([u8; 16], bool),
        out: &mut Vec<u8>,
        ports: &mut dyn RelayPorts,
    ) {
        let requested = match message.attr(attr::LIFETIME) {
            Some(Attr::Lifetime(s)) => Some(s),
            _ => None,
        };
        let relay = self.allocations[index]
            .as_ref()
            .expect("indexed allocations exist")
            .relay;
        if let Some(Attr::RequestedAddressFamily(f)) = message.attr(attr::REQUESTED_ADDRESS_FAMILY)
        {
            let mine = if Family::of(relay.ip()) == Family::V6 {
                FAMILY_V6
            } else {
                FAMILY_V4
            };
            if f != mine {
                return error(
                    out,
                    message,
                    443,
                    "Peer Address Family Mismatch",
                    Some(credentials),
                );
            }
        }
        let granted = if requested == Some(0) {
            self.remove(index, ports);
            0
        } else {
            let lifetime = self.lifetime(message);
            self.allocations[index].as_mut().expect("exists").expires = now + lifetime;
            lifetime.as_secs() as u32
        };
        Builder::new(out, Class::Success, Method::Refresh, message.transaction)
            .attr(Attr::Lifetime(granted))
            .attr(Attr::Software(&self.config.software))
            .finish(Some((&credentials.0, integrity_kind(credentials.1))), true);
    }

    fn create_permission(
        &mut self,
        now: Instant,
        index: usize,
        message: &Message<'_>,
        credentials: ([u8; 16], bool),
        out: &mut Vec<u8>,
    ) {
        let relay_family = Family::of(self.allocations[index].as_ref().expect("exists").relay.ip());
        let mut peers = [None; MAX_PER_ALLOCATION];
        let mut n = 0;
        for (_, kind, value) in message.attributes() {
            if kind != attr::XOR_PEER_ADDRESS {
                continue;
            }
            let Some(Attr::XorPeerAddress(peer)) = Attr::decode(kind, value, &message.transaction)
            else {
                return error(
                    out,
                    message,
                    400,
                    "Bad Request: malformed XOR-PEER-ADDRESS",
                    Some(credentials),
                );
            };
            if n == MAX_PER_ALLOCATION {
                return error(
                    out,
                    message,
                    508,
                    "Insufficient Capacity: too many permissions",
                    Some(credentials),
                );
            }
            if self.policy.check_ip(peer.ip()) == Verdict::Denied {
                self.stats.denied_peers += 1;
                tracing::debug!(%peer, "permission to a denied peer refused");
                return error(
                    out,
                    message,
                    403,
                    "Forbidden: peer address not allowed",
                    Some(credentials),
                );
            }
            if Family::of(peer.ip()) != relay_family {
                return error(
                    out,
                    message,
                    443,
                    "Peer Address Family Mismatch",
                    Some(credentials),
                );
            }
            peers[n] = Some(peer.ip());
            n += 1;
        }
        if n == 0 {
            return error(
                out,
                message,
                400,
                "Bad Request: XOR-PEER-ADDRESS is needed",
                Some(credentials),
            );
        }
        let until = now + self.config.permission_lifetime;
        let a = self.allocations[index].as_mut().expect("exists");
        for ip in peers[..n].iter().flatten() {
            if !a.permit(*ip, until) {
                return error(
                    out,
                    message,
                    508,
                    "Insufficient Capacity: too many permissions",
                    Some(credentials),
                );
            }
        }
        self.success(message, credentials, out);
    }

    fn channel_bind(
        &mut self,
        now: Instant,
        index: usize,
        message: &Message<'_>,
        credentials: ([u8; 16], bool),
        out: &mut Vec<u8>,
    ) {
        let (Some(Attr::ChannelNumber(number)), Some(Attr::XorPeerAddress(peer))) = (
            message.attr(attr::CHANNEL_NUMBER),
            message.attr(attr::XOR_PEER_ADDRESS),
        ) else {
            return error(
                out,
                message,
                400,
                "Bad Request: CHANNEL-NUMBER and XOR-PEER-ADDRESS are needed",
                Some(credentials),
            );
        };
        if !CHANNELS.contains(&number) {
            return error(
                out,
                message,
                400,
                "Bad Request: channel number out of range",
                Some(credentials),
            );
        }
        let verdict = self.policy.check(peer);
        if verdict == Verdict::Denied {
            self.stats.denied_peers += 1;
            tracing::debug!(%peer, "channel to a denied peer refused");
            return error(
                out,
                message,
                403,
                "Forbidden: peer address not allowed",
                Some(credentials),
            );
        }
        let a = self.allocations[index].as_ref().expect("exists");
        if Family::of(peer.ip()) != Family::of(a.relay.ip()) {
            return error(
                out,
                message,
                443,
                "Peer Address Family Mismatch",
                Some(credentials),
            );
        }
        // Expired entries still count here: RFC 8656 §12 keeps a number and a peer
        // paired until the sweep removes them.
        let by_number = a.channels.iter().position(|c| c.number == number);
        let by_peer = a.channels.iter().position(|c| c.peer == peer);
        let until = now + self.config.channel_lifetime;
        let permission_until = now + self.config.permission_lifetime;
        let a = self.allocations[index].as_mut().expect("exists");
        match (by_number, by_peer) {
            (Some(i), Some(j)) if i == j => a.channels[i].expires = until,
            (None, None) => {
                if a.channels.len() >= MAX_PER_ALLOCATION {
                    return error(
                        out,
                        message,
                        508,
                        "Insufficient Capacity: too many channels",
                        Some(credentials),
                    );
                }
                a.channels.push(Channel {
                    number,
                    peer,
                    internal: match verdict {
                        Verdict::Internal(i) => Some(i),
                        _ => None,
                    },
                    expires: until,
                });
            }
            _ => {
                return error(
                    out,
                    message,
                    400,
                    "Bad Request: channel or peer bound otherwise",
                    Some(credentials),
                );
            }
        }
        if !a.permit(peer.ip(), permission_until) {
            return error(
                out,
                message,
                508,
                "Insufficient Capacity: too many permissions",
                Some(credentials),
            );
        }
        self.success(message, credentials, out);
    }

    fn success(&self, message: &Message<'_>, (key, sha256): ([u8; 16], bool), out: &mut Vec<u8>) {
        Builder::new(out, Class::Success, message.method, message.transaction)
            .attr(Attr::Software(&self.config.software))
            .finish(Some((&key, integrity_kind(sha256))), true);
    }
}

fn integrity_kind(sha256: bool) -> Integrity {
    if sha256 {
        Integrity::Sha256
    } else {
        Integrity::Sha1
    }
}

/// An error answer; authenticated ones carry integrity with the client's key.
fn error(
    out: &mut Vec<u8>,
    message: &Message<'_>,
    code: u16,
    reason: &str,
    credentials: Option<([u8; 16], bool)>,
) {
    let b = Builder::new(out, Class::Error, message.method, message.transaction)
        .attr(Attr::ErrorCode(code, reason));
    match credentials {
        Some((key, sha256)) => b.finish(Some((&key, integrity_kind(sha256))), true),
        None => b.finish(None, true),
    }
}

fn random_transaction() -> [u8; 12] {
    let mut t = [0u8; 12];
    rand::Rng::fill(&mut rand::rng(), &mut t[..]);
    t
}

#[cfg(test)]
mod tests;
