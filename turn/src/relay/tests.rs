//! RFC 8656 message flows against the core, with a fake port allocator.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::auth::rest_credentials;
use crate::proto::integrity::long_term_key;

const REALM: &str = "vchat.test";

#[derive(Default)]
struct FakePorts {
    next: u16,
    open: Vec<SocketAddr>,
}

impl RelayPorts for FakePorts {
    fn open(&mut self, family: Family, even: bool) -> io::Result<SocketAddr> {
        self.next += if even && self.next % 2 == 1 { 1 } else { 0 };
        let port = 20000 + self.next;
        self.next += 1;
        let ip: IpAddr = match family {
            Family::V4 => "198.51.100.1".parse().unwrap(),
            Family::V6 => "2001:db8::1".parse().unwrap(),
        };
        let a = SocketAddr::new(ip, port);
        self.open.push(a);
        Ok(a)
    }
    fn close(&mut self, relay: SocketAddr) {
        self.open.retain(|a| *a != relay);
    }
}

struct World {
    relay: Relay,
    ports: FakePorts,
    now: Instant,
    out: Vec<u8>,
}

fn client(n: u16) -> Client {
    Client {
        transport: Transport::Udp,
        remote: SocketAddr::new("203.0.113.7".parse().unwrap(), 50000 + n),
        local: "198.51.100.1:3478".parse().unwrap(),
    }
}

fn world_with(config: RelayConfig, policy: PeerPolicy) -> World {
    let credentials = Credentials::new(REALM)
        .with_user("alice", "wonderland")
        .with_user("bob", "builder")
        .with_secret("s3cret");
    let now = Instant::now();
    World {
        relay: Relay::new(config, credentials, policy, now, 1_700_000_000),
        ports: FakePorts::default(),
        now,
        out: Vec::new(),
    }
}

fn world() -> World {
    world_with(
        RelayConfig {
            families: (true, true),
            ..RelayConfig::default()
        },
        PeerPolicy::default(),
    )
}

/// A decoded answer: class, error code, and a few attributes.
#[derive(Debug, Default)]
struct Answer {
    class: Option<Class>,
    code: Option<u16>,
    nonce: Option<String>,
    relayed: Option<SocketAddr>,
    lifetime: Option<u32>,
    integrity: Option<bool>,
    sha256: bool,
}

/// A client's view: credentials and the current nonce.
struct Session {
    client: Client,
    user: String,
    key: [u8; 16],
    nonce: Option<String>,
    sha256: bool,
}

impl Session {
    fn new(client: Client, user: &str, password: &str) -> Session {
        Session {
            client,
            user: user.into(),
            key: long_term_key(user, REALM, password),
            nonce: None,
            sha256: false,
        }
    }

    fn request(&self, method: Method, attrs: &[Attr<'_>], transaction: [u8; 12]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = Builder::new(&mut out, Class::Request, method, transaction);
        for a in attrs {
            b = b.attr(a.clone());
        }
        match &self.nonce {
            Some(n) => {
                b = b
                    .attr(Attr::Username(&self.user))
                    .attr(Attr::Realm(REALM))
                    .attr(Attr::Nonce(n));
                let kind = if self.sha256 {
                    Integrity::Sha256
                } else {
                    Integrity::Sha1
                };
                b.finish(Some((&self.key, kind)), true);
            }
            None => b.finish(None, true),
        }
        out
    }
}

impl World {
    fn send(&mut self, client: Client, bytes: &[u8]) -> Option<Vec<u8>> {
        match self
            .relay
            .handle_client(self.now, client, bytes, &mut self.out, &mut self.ports)
        {
            Output::ToClient { client: to, bytes } => {
                assert_eq!(to, client);
                Some(bytes.to_vec())
            }
            Output::None => None,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn answer(&mut self, s: &mut Session, method: Method, attrs: &[Attr<'_>]) -> Answer {
        let t: [u8; 12] = rand::random();
        let req = s.request(method, attrs, t);
        let Some(bytes) = self.send(s.client, &req) else {
            return Answer::default();
        };
        let a = decode(&bytes, &s.key);
        if let Some(n) = &a.nonce {
            s.nonce = Some(n.clone());
        }
        a
    }

    /// Challenge, then the request with credentials.
    fn authed(&mut self, s: &mut Session, method: Method, attrs: &[Attr<'_>]) -> Answer {
        if s.nonce.is_none() {
            let first = self.answer(s, method, attrs);
            assert_eq!(first.code, Some(401), "{first:?}");
        }
        let mut a = self.answer(s, method, attrs);
        if a.code == Some(438) {
            a = self.answer(s, method, attrs);
        }
        a
    }

    fn allocate(&mut self, s: &mut Session) -> SocketAddr {
        let a = self.authed(s, Method::Allocate, &[Attr::RequestedTransport(17)]);
        assert_eq!(a.class, Some(Class::Success), "{a:?}");
        assert_eq!(a.integrity, Some(true));
        a.relayed.unwrap()
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.relay.handle_timeout(self.now, &mut self.ports);
    }
}

fn decode(bytes: &[u8], key: &[u8]) -> Answer {
    let m = Message::parse(bytes).expect("answers parse");
    assert!(m.fingerprint_ok());
    let mut a = Answer {
        class: Some(m.class),
        ..Answer::default()
    };
    if let Some(Attr::ErrorCode(c, _)) = m.attr(attr::ERROR_CODE) {
        a.code = Some(c);
    }
    if let Some(Attr::Nonce(n)) = m.attr(attr::NONCE) {
        a.nonce = Some(n.to_owned());
    }
    if let Some(Attr::XorRelayedAddress(r)) = m.attr(attr::XOR_RELAYED_ADDRESS) {
        a.relayed = Some(r);
    }
    if let Some(Attr::Lifetime(l)) = m.attr(attr::LIFETIME) {
        a.lifetime = Some(l);
    }
    a.integrity = m.check_integrity(key);
    a.sha256 = m.raw_attr(attr::MESSAGE_INTEGRITY_SHA256).is_some();
    a
}

fn peer(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn allocate_challenge_then_success_with_the_rfc_lifetimes() {
    let mut w = world();
    let mut s = Session::new(client(1), "alice", "wonderland");
    let first = w.answer(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)]);
    assert_eq!(first.code, Some(401));
    assert!(first.nonce.is_some());
    assert_eq!(first.integrity, None, "a challenge carries no integrity");
    let a = w.answer(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)]);
    assert_eq!(a.class, Some(Class::Success));
    assert_eq!(a.lifetime, Some(600));
    assert_eq!(a.relayed, Some(peer("198.51.100.1:20000")));
    assert_eq!(w.relay.stats().allocations, 1);

    // Refresh: asking for 2 hours gets the 1 hour maximum, asking for 1 s the default.
    let r = w.authed(&mut s, Method::Refresh, &[Attr::Lifetime(7200)]);
    assert_eq!((r.class, r.lifetime), (Some(Class::Success), Some(3600)));
    let r = w.authed(&mut s, Method::Refresh, &[Attr::Lifetime(1)]);
    assert_eq!(r.lifetime, Some(600));

    // Expiry without refresh closes the relay port.
    w.advance(Duration::from_secs(599));
    assert_eq!(w.relay.allocation_count(), 1);
    w.advance(Duration::from_secs(2));
    assert_eq!(w.relay.allocation_count(), 0);
    assert!(w.ports.open.is_empty());
    assert_eq!(w.relay.stats().allocations_expired, 1);
}

#[test]
fn refresh_to_zero_deletes_and_later_requests_get_437() {
    let mut w = world();
    let mut s = Session::new(client(1), "alice", "wonderland");
    w.allocate(&mut s);
    let r = w.authed(&mut s, Method::Refresh, &[Attr::Lifetime(0)]);
    assert_eq!((r.class, r.lifetime), (Some(Class::Success), Some(0)));
    assert_eq!(w.relay.allocation_count(), 0);
    let r = w.authed(
        &mut s,
        Method::CreatePermission,
        &[Attr::XorPeerAddress(peer("192.0.2.1:9"))],
    );
    assert_eq!(r.code, Some(437));
}

#[test]
fn allocate_retransmission_gets_the_same_answer_and_a_new_one_437() {
    let mut w = world();
    let mut s = Session::new(client(1), "alice", "wonderland");
    w.answer(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)]);
    let req = s.request(Method::Allocate, &[Attr::RequestedTransport(17)], [7; 12]);
    let a = decode(&w.send(s.client, &req).unwrap(), &s.key);
    let b = decode(&w.send(s.client, &req).unwrap(), &s.key);
    assert_eq!(a.relayed, b.relayed);
    assert_eq!(b.class, Some(Class::Success));
    let c = w.answer(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)]);
    assert_eq!(c.code, Some(437));
}

#[test]
fn channel_data_flows_both_ways_without_a_copy_to_the_peer() {
    let mut w = world();
    let mut s = Session::new(client(1), "alice", "wonderland");
    let relayed = w.allocate(&mut s);
    let p = peer("192.0.2.10:5000");
    assert_eq!(
        w.authed(
            &mut s,
            Method::ChannelBind,
            &[Attr::ChannelNumber(0x4001), Attr::XorPeerAddress(p)]
        )
        .class,
        Some(Class::Success)
    );
    assert_eq!(w.relay.stats().channels, 1);
    assert_eq!(w.relay.stats().permissions, 1);

    let mut cd = Vec::new();
    ChannelData::write(&mut cd, 0x4001, b"hello peer", false);
    match w
        .relay
        .handle_client(w.now, s.client, &cd, &mut w.out, &mut w.ports)
    {
        Output::ToPeer {
            relay,
            peer,
            internal,
            bytes,
        } => {
            assert_eq!(
                (relay, peer, internal, bytes),
                (relayed, p, None, &b"hello peer"[..])
            );
            assert_eq!(
                bytes.as_ptr(),
                cd[4..].as_ptr(),
                "the peer's bytes are the client's bytes"
            );
        }
        other => panic!("{other:?}"),
    }
    match w
        .relay
        .handle_peer(w.now, relayed, p, false, b"hello client", &mut w.out)
    {
        Output::ToClient { client, bytes } => {
            assert_eq!(client, s.client);
            assert_eq!(
                ChannelData::parse(bytes),
                Some(ChannelData {
                    channel: 0x4001,
                    data: b"hello client"
                })
            );
        }
        other => panic!("{other:?}"),
    }
    // An unbound channel number and a stranger's peer packets go nowhere.
    ChannelData::write(&mut cd, 0x4002, b"x", false);
    assert_eq!(
        w.relay
            .handle_client(w.now, s.client, &cd, &mut w.out, &mut w.ports),
        Output::None
    );
    assert_eq!(
        w.relay.handle_peer(
            w.now,
            relayed,
            peer("192.0.2.11:5000"),
            false,
            b"x",
            &mut w.out
        ),
        Output::None
    );

    // Channels last 600 s, permissions 300 s: after 301 s the channel still carries data
    // only because ChannelBind refreshes are due; here nobody refreshes.
    w.advance(Duration::from_secs(301));
    assert_eq!(w.relay.stats().permissions, 0);
    w.advance(Duration::from_secs(300));
    assert_eq!(w.relay.stats().channels, 0);
}

#[test]
fn send_and_data_indications_need_a_permission() {
    let mut w = world();
    let mut s = Session::new(client(1), "alice", "wonderland");
    let relayed = w.allocate(&mut s);
    let p = peer("192.0.2.10:5000");
    let mut send = Vec::new();
    Builder::new(&mut send, Class::Indication, Method::Send, [3; 12])
        .attr(Attr::XorPeerAddress(p))
        .attr(Attr::Data(b"ping"))
        .finish(None, false);
    assert_eq!(
        w.relay
            .handle_client(w.now, s.client, &send, &mut w.out, &mut w.ports),
        Output::None
    );
    assert_eq!(w.relay.stats().unpermitted_drops, 1);
    assert_eq!(
        w.authed(&mut s, Method::CreatePermission, &[Attr::XorPeerAddress(p)])
            .class,
        Some(Class::Success)
    );
    assert!(matches!(
        w.relay
            .handle_client(w.now, s.client, &send, &mut w.out, &mut w.ports),
        Output::ToPeer { bytes: b"ping", .. }
    ));
    // Another port of a permitted IP may answer (permissions are per IP).
    let from = peer("192.0.2.10:6000");
    let Output::ToClient { bytes, .. } = w
        .relay
        .handle_peer(w.now, relayed, from, false, b"pong", &mut w.out)
    else {
        panic!("data indication expected")
    };
    let m = Message::parse(bytes).unwrap();
    assert_eq!((m.class, m.method), (Class::Indication, Method::Data));
    assert_eq!(
        m.attr(attr::XOR_PEER_ADDRESS),
        Some(Attr::XorPeerAddress(from))
    );
    assert_eq!(m.attr(attr::DATA), Some(Attr::Data(b"pong")));
}

/// Every default-denied block, and the disguises of loopback, for all three ways of
/// reaching a peer.
#[test]
fn every_denied_range_is_refused_by_create_permission_channel_bind_and_send() {
    let v4 = [
        "0.0.0.1",
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.0.1",
        "100.64.0.1",
        "169.254.169.254",
        "224.0.0.251",
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.0.1",
    ];
    let v6 = [
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::127.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::7f00:1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "2002:a9fe:a9fe::1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
    ];
    let mut w = world();
    let mut s4 = Session::new(client(1), "alice", "wonderland");
    let relayed4 = w.allocate(&mut s4);
    let mut s6 = Session::new(client(2), "bob", "builder");
    let a = w.authed(
        &mut s6,
        Method::Allocate,
        &[
            Attr::RequestedTransport(17),
            Attr::RequestedAddressFamily(FAMILY_V6),
        ],
    );
    assert_eq!(a.class, Some(Class::Success), "{a:?}");
    let mut channel = 0x4000;
    for (list, s) in [(&v4[..], &mut s4), (&v6[..], &mut s6)] {
        for ip in list {
            let p = SocketAddr::new(ip.parse().unwrap(), 5000);
            // An IPv4 address written as IPv6 is still an IPv6 XOR-PEER-ADDRESS; the
            // policy, not the family check, must refuse it.
            let cp = w.authed(s, Method::CreatePermission, &[Attr::XorPeerAddress(p)]);
            assert_eq!(cp.code, Some(403), "CreatePermission to {ip}: {cp:?}");
            assert_eq!(cp.integrity, Some(true));
            channel += 1;
            let cb = w.authed(
                s,
                Method::ChannelBind,
                &[Attr::ChannelNumber(channel), Attr::XorPeerAddress(p)],
            );
            assert_eq!(cb.code, Some(403), "ChannelBind to {ip}: {cb:?}");
            let denied_before = w.relay.stats().denied_peers;
            let mut send = Vec::new();
            Builder::new(&mut send, Class::Indication, Method::Send, [3; 12])
                .attr(Attr::XorPeerAddress(p))
                .attr(Attr::Data(b"knock"))
                .finish(None, false);
            assert_eq!(
                w.relay
                    .handle_client(w.now, s.client, &send, &mut w.out, &mut w.ports),
                Output::None,
                "Send to {ip}"
            );
            assert_eq!(
                w.relay.stats().denied_peers,
                denied_before + 1,
                "Send to {ip} counted as denied"
            );
        }
    }
    assert_eq!(w.relay.stats().permissions, 0);
    assert_eq!(w.relay.stats().channels, 0);
    // A packet from a denied source never reaches the client either.
    assert_eq!(
        w.relay.handle_peer(
            w.now,
            relayed4,
            peer("127.0.0.1:22"),
            false,
            b"x",
            &mut w.out
        ),
        Output::None
    );
}

#[test]
fn the_sfu_is_reached_in_process_and_its_other_ports_are_not() {
    let sfu = peer("127.0.0.1:40000");
    let policy = PeerPolicy::default().with_internal(vec![sfu]);
    let mut w = world_with(RelayConfig::default(), policy);
    let mut s = Session::new(client(1), "alice", "wonderland");
    let relayed = w.allocate(&mut s);
    assert_eq!(
        w.authed(
            &mut s,
            Method::ChannelBind,
            &[Attr::ChannelNumber(0x4000), Attr::XorPeerAddress(sfu)]
        )
        .class,
        Some(Class::Success)
    );
    let mut cd = Vec::new();
    ChannelData::write(&mut cd, 0x4000, b"rtp", false);
    assert!(matches!(
        w.relay
            .handle_client(w.now, s.client, &cd, &mut w.out, &mut w.ports),
        Output::ToPeer {
            internal: Some(0),
            ..
        }
    ));
    assert!(matches!(
        w.relay
            .handle_peer(w.now, relayed, sfu, true, b"rtp", &mut w.out),
        Output::ToClient { .. }
    ));
    assert_eq!(w.relay.stats().internal_packets, 2);
    // The permission is for the SFU's IP, but its SSH port stays out both ways.
    let cb = w.authed(
        &mut s,
        Method::ChannelBind,
        &[
            Attr::ChannelNumber(0x4001),
            Attr::XorPeerAddress(peer("127.0.0.1:22")),
        ],
    );
    assert_eq!(cb.code, Some(403));
    assert_eq!(
        w.relay.handle_peer(
            w.now,
            relayed,
            peer("127.0.0.1:22"),
            false,
            b"x",
            &mut w.out
        ),
        Output::None
    );
}

#[test]
fn credentials_wrong_password_stale_nonce_rest_and_sha256() {
    let mut w = world();
    let mut bad = Session::new(client(1), "alice", "not-it");
    let a = w.authed(&mut bad, Method::Allocate, &[Attr::RequestedTransport(17)]);
    assert_eq!(a.code, Some(401));
    assert_eq!(w.relay.stats().auth_failures, 1);

    // A nonce past its lifetime gets 438 and a fresh one, which then works.
    let mut s = Session::new(client(2), "alice", "wonderland");
    w.answer(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)]);
    w.advance(Duration::from_secs(601));
    let a = w.answer(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)]);
    assert_eq!(a.code, Some(438));
    let a = w.answer(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)]);
    assert_eq!(a.class, Some(Class::Success));

    // TURN REST: `<expiry>:<user>` signed with the shared secret.
    let unix = 1_700_000_000 + 601;
    let (user, pass) = rest_credentials(b"s3cret", "carol", unix, Duration::from_secs(3600));
    let mut r = Session::new(client(3), &user, &pass);
    r.sha256 = true;
    let a = w.authed(&mut r, Method::Allocate, &[Attr::RequestedTransport(17)]);
    assert_eq!(a.class, Some(Class::Success));
    assert!(a.sha256, "answered with the integrity the client used");
    assert_eq!(a.integrity, Some(true));
    let (old, pass) = rest_credentials(b"s3cret", "dave", unix - 7200, Duration::from_secs(3600));
    let mut expired = Session::new(client(4), &old, &pass);
    assert_eq!(
        w.authed(
            &mut expired,
            Method::Allocate,
            &[Attr::RequestedTransport(17)]
        )
        .code,
        Some(401)
    );

    // Another user on the same five-tuple: 441.
    let mut other = Session::new(client(2), "bob", "builder");
    let a = w.authed(&mut other, Method::Refresh, &[]);
    assert_eq!(a.code, Some(441));
}

#[test]
fn allocate_options_are_handled_or_rejected_per_the_rfc() {
    let mut w = world_with(RelayConfig::default(), PeerPolicy::default());
    let mut s = Session::new(client(1), "alice", "wonderland");
    w.answer(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)]);
    let cases: [(&[Attr<'_>], u16); 7] = [
        (&[Attr::RequestedTransport(6)], 442),
        (&[], 400),
        (&[Attr::RequestedTransport(17), Attr::DontFragment], 420),
        (&[Attr::RequestedTransport(17), Attr::EvenPort(true)], 508),
        (
            &[
                Attr::RequestedTransport(17),
                Attr::ReservationToken(&[1; 8]),
            ],
            508,
        ),
        (
            &[
                Attr::RequestedTransport(17),
                Attr::ReservationToken(&[1; 8]),
                Attr::EvenPort(false),
            ],
            400,
        ),
        (
            &[
                Attr::RequestedTransport(17),
                Attr::RequestedAddressFamily(FAMILY_V6),
            ],
            440,
        ),
    ];
    for (attrs, code) in cases {
        let a = w.answer(&mut s, Method::Allocate, attrs);
        assert_eq!(a.code, Some(code), "{attrs:?}");
    }
    let a = w.answer(
        &mut s,
        Method::Allocate,
        &[Attr::RequestedTransport(17), Attr::EvenPort(false)],
    );
    assert_eq!(a.class, Some(Class::Success));
    assert_eq!(a.relayed.unwrap().port() % 2, 0);
}

#[test]
fn quotas_answer_486_and_draining_508() {
    let config = RelayConfig {
        user_quota: 2,
        total_quota: 3,
        ..RelayConfig::default()
    };
    let mut w = world_with(config, PeerPolicy::default());
    for n in 0..2 {
        let mut s = Session::new(client(n), "alice", "wonderland");
        w.allocate(&mut s);
    }
    let mut s = Session::new(client(2), "alice", "wonderland");
    assert_eq!(
        w.authed(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)])
            .code,
        Some(486)
    );
    let mut b = Session::new(client(3), "bob", "builder");
    w.allocate(&mut b);
    let mut b2 = Session::new(client(4), "bob", "builder");
    assert_eq!(
        w.authed(&mut b2, Method::Allocate, &[Attr::RequestedTransport(17)])
            .code,
        Some(486)
    );
    assert_eq!(w.relay.stats().quota_rejections, 2);
    // Freed quota is usable again; a draining relay refuses anyway, but refreshes.
    assert_eq!(
        w.authed(&mut b, Method::Refresh, &[Attr::Lifetime(0)])
            .class,
        Some(Class::Success)
    );
    w.relay.start_draining();
    assert_eq!(
        w.authed(&mut b2, Method::Allocate, &[Attr::RequestedTransport(17)])
            .code,
        Some(508)
    );
}

#[test]
fn unauthenticated_answers_are_small_and_rate_limited() {
    let mut w = world();
    let s = Session::new(client(1), "alice", "wonderland");
    let req = s.request(Method::Allocate, &[Attr::RequestedTransport(17)], [9; 12]);
    let mut answered = 0;
    for _ in 0..800 {
        if let Some(bytes) = w.send(s.client, &req) {
            answered += 1;
            // Header, ERROR-CODE 401 "Unauthenticated", REALM, a 24-byte NONCE,
            // FINGERPRINT: nothing more (no SOFTWARE, no integrity).
            assert_eq!(
                bytes.len(),
                20 + 24 + 4 + REALM.len().div_ceil(4) * 4 + 28 + 8
            );
        }
    }
    assert_eq!(answered, 400, "the burst, then silence");
    assert_eq!(w.relay.stats().challenges_suppressed, 400);
    // A second later the source may be challenged again.
    w.now += Duration::from_secs(1);
    assert!(w.send(s.client, &req).is_some());
    // Over TCP a first challenge cannot be reflected, so it is never withheld; wrong
    // passwords are limited there too.
    let tcp = Client {
        transport: Transport::Tcp,
        ..s.client
    };
    assert!((0..200).all(|_| w.send(tcp, &req).is_some()));
    let mut guess = Session::new(tcp, "alice", "guess");
    let mut refused = 0;
    for _ in 0..500 {
        let a = w.answer(
            &mut guess,
            Method::Allocate,
            &[Attr::RequestedTransport(17)],
        );
        if a.class.is_none() {
            refused += 1;
        }
    }
    assert!(refused > 0, "guesses get silence once over the limit");
    // Binding needs no credentials and answers with the reflexive address only.
    let mut bind = Vec::new();
    Builder::new(&mut bind, Class::Request, Method::Binding, [1; 12]).finish(None, false);
    let answer = w.send(s.client, &bind).unwrap();
    assert_eq!(answer.len(), 20 + 12 + 8);
}

#[test]
fn bandwidth_cap_drops_a_flood() {
    let config = RelayConfig {
        max_bytes_per_second: 100_000,
        ..RelayConfig::default()
    };
    let mut w = world_with(config, PeerPolicy::default());
    let mut s = Session::new(client(1), "alice", "wonderland");
    w.allocate(&mut s);
    let p = peer("192.0.2.10:5000");
    w.authed(
        &mut s,
        Method::ChannelBind,
        &[Attr::ChannelNumber(0x4000), Attr::XorPeerAddress(p)],
    );
    let mut cd = Vec::new();
    ChannelData::write(&mut cd, 0x4000, &[0; 1000], false);
    let passed = (0..200)
        .filter(|_| {
            !matches!(
                w.relay
                    .handle_client(w.now, s.client, &cd, &mut w.out, &mut w.ports),
                Output::None
            )
        })
        .count();
    assert_eq!(passed, 50, "half a second of 100 kB/s");
    assert_eq!(w.relay.stats().bandwidth_drops, 150);
}

#[test]
fn channel_bind_rules() {
    let mut w = world();
    let mut s = Session::new(client(1), "alice", "wonderland");
    w.allocate(&mut s);
    let p = peer("192.0.2.10:5000");
    let q = peer("192.0.2.11:5000");
    let bind = |n: u16, p: SocketAddr| [Attr::ChannelNumber(n), Attr::XorPeerAddress(p)];
    assert_eq!(
        w.authed(&mut s, Method::ChannelBind, &bind(0x3fff, p)).code,
        Some(400)
    );
    assert_eq!(
        w.authed(&mut s, Method::ChannelBind, &bind(0x8000, p)).code,
        Some(400)
    );
    assert_eq!(
        w.authed(&mut s, Method::ChannelBind, &bind(0x4000, p))
            .class,
        Some(Class::Success)
    );
    assert_eq!(
        w.authed(&mut s, Method::ChannelBind, &bind(0x4000, p))
            .class,
        Some(Class::Success),
        "refresh"
    );
    assert_eq!(
        w.authed(&mut s, Method::ChannelBind, &bind(0x4000, q)).code,
        Some(400),
        "number taken"
    );
    assert_eq!(
        w.authed(&mut s, Method::ChannelBind, &bind(0x4001, p)).code,
        Some(400),
        "peer taken"
    );
    let v6 = peer("[2001:db8::5]:5000");
    assert_eq!(
        w.authed(&mut s, Method::ChannelBind, &bind(0x4001, v6))
            .code,
        Some(443)
    );
}

/// A port allocator that blows up, standing in for any bug below `handle_client`.
struct PanickingPorts;

impl RelayPorts for PanickingPorts {
    fn open(&mut self, _: Family, _: bool) -> io::Result<SocketAddr> {
        panic!("a bug")
    }
    fn close(&mut self, _: SocketAddr) {}
}

#[test]
fn a_panic_costs_one_client_its_datagram_and_the_relay_keeps_serving() {
    let mut w = world();
    let mut s = Session::new(client(1), "alice", "wonderland");
    w.answer(&mut s, Method::Allocate, &[Attr::RequestedTransport(17)]);
    let req = s.request(Method::Allocate, &[Attr::RequestedTransport(17)], [5; 12]);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let output = w
        .relay
        .handle_client(w.now, s.client, &req, &mut w.out, &mut PanickingPorts);
    std::panic::set_hook(previous);
    assert_eq!(output, Output::None);
    assert_eq!(w.relay.stats().core_panics, 1);
    // Everyone else, and the same client with working ports, is served.
    let mut t = Session::new(client(2), "bob", "builder");
    w.allocate(&mut t);
    w.allocate(&mut s);
    assert_eq!(w.relay.allocation_count(), 2);
}
