//! Garbage at the relay's listeners: 10,000 random datagrams and every truncation of
//! valid TURN messages (with real credentials), over UDP and TCP. Nothing may panic,
//! no allocation may come of it, and the relay must still serve a real client after.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::{Rng, SeedableRng};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use vchat_tests::TestServer;
use vchat_tests::turn_client::{TurnTestClient, exchange};
use vchat_turn::proto::attr::{self, FAMILY_V4};
use vchat_turn::proto::integrity::long_term_key;
use vchat_turn::proto::{Attr, Builder, ChannelData, Class, Integrity, Message, Method};

const REALM: &str = "vchat";

#[tokio::test(flavor = "multi_thread")]
async fn random_and_truncated_messages_create_nothing_and_the_relay_keeps_serving()
-> anyhow::Result<()> {
    let server = TestServer::start_with(&[("VCHAT_TURN_USERS", "fuzz:fuzzpass")]).await?;
    let (udp, tcp, _) = server.turn_addrs();
    let (udp, tcp) = (udp.context("udp")?, tcp.context("tcp")?);
    let key = long_term_key("fuzz", REALM, "fuzzpass");

    // A nonce from a real challenge, so truncations carry real credentials.
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let mut req = Vec::new();
    Builder::new(&mut req, Class::Request, Method::Allocate, rand::random())
        .attr(Attr::RequestedTransport(17))
        .finish(None, true);
    let answer = exchange(&socket, udp, &req).await?;
    let Some(Attr::Nonce(nonce)) = Message::parse(&answer)?.attr(attr::NONCE) else {
        bail!("no nonce")
    };
    let nonce = nonce.to_owned();

    let peer: SocketAddr = "192.0.2.1:9".parse()?;
    let authed = |method: Method, attrs: &[Attr<'_>]| {
        let mut out = Vec::new();
        let mut b = Builder::new(&mut out, Class::Request, method, rand::random());
        for a in attrs {
            b = b.attr(a.clone());
        }
        b.attr(Attr::Username("fuzz"))
            .attr(Attr::Realm(REALM))
            .attr(Attr::Nonce(&nonce))
            .finish(Some((&key, Integrity::Sha1)), true);
        out
    };
    let mut valid = vec![
        authed(
            Method::Allocate,
            &[
                Attr::RequestedTransport(17),
                Attr::RequestedAddressFamily(FAMILY_V4),
                Attr::Lifetime(3600),
            ],
        ),
        authed(Method::Refresh, &[Attr::Lifetime(600)]),
        authed(Method::CreatePermission, &[Attr::XorPeerAddress(peer)]),
        authed(
            Method::ChannelBind,
            &[Attr::ChannelNumber(0x4000), Attr::XorPeerAddress(peer)],
        ),
    ];
    let mut send = Vec::new();
    Builder::new(&mut send, Class::Indication, Method::Send, rand::random())
        .attr(Attr::XorPeerAddress(peer))
        .attr(Attr::Data(b"payload"))
        .finish(None, true);
    valid.push(send);
    let mut binding = Vec::new();
    Builder::new(
        &mut binding,
        Class::Request,
        Method::Binding,
        rand::random(),
    )
    .finish(None, true);
    valid.push(binding);
    let mut cd = Vec::new();
    ChannelData::write(&mut cd, 0x4000, &[7; 100], false);
    valid.push(cd);

    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    for message in &valid {
        for len in 0..message.len() {
            datagrams.push(message[..len].to_vec());
        }
    }
    let truncations = datagrams.len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for i in 0..10_000 {
        let len = rng.random_range(0..1500);
        let mut d: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        // A third look like STUN (right first bits and cookie), a third like ChannelData,
        // so the parsers see more than the first check.
        if d.len() >= 8 && i % 3 == 0 {
            d[0] &= 0x01;
            d[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
        } else if !d.is_empty() && i % 3 == 1 {
            d[0] = 0x40 | (d[0] & 0x0f);
        }
        datagrams.push(d);
    }
    for (i, d) in datagrams.iter().enumerate() {
        socket.send_to(d, udp).await?;
        if i % 200 == 0 {
            // Let the relay keep up: this is about content, not a flood.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // The same bytes as TCP streams (each connection may be dropped as garbage).
    let mut tcp_connections = 0;
    for chunk in datagrams.chunks(500) {
        let Ok(mut stream) = TcpStream::connect(tcp).await else {
            continue;
        };
        tcp_connections += 1;
        for d in chunk {
            if stream.write_all(d).await.is_err() {
                break;
            }
        }
    }
    eprintln!(
        "sent {truncations} truncations and 10000 random datagrams over UDP, and as {tcp_connections} TCP streams"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let created = server
        .metric("vchat_turn_allocations_created_total")
        .await?;
    let malformed = server.metric("vchat_turn_malformed_total").await?;
    eprintln!("allocations created: {created}; datagrams counted malformed: {malformed}");
    assert_eq!(created, 0.0, "garbage made an allocation");
    assert!(malformed > 1000.0);

    // Still serving: a fresh client allocates.
    let mut fresh = TurnTestClient::connect(udp, "fuzz", "fuzzpass").await?;
    let answer = fresh
        .request(Method::Allocate, &[Attr::RequestedTransport(17)])
        .await?;
    assert_eq!(answer.class, Class::Success);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        server
            .metric("vchat_turn_allocations_created_total")
            .await?,
        1.0
    );
    assert_eq!(
        reqwest::get(format!("{}/healthz", server.base))
            .await?
            .status(),
        200
    );
    server.stop().await
}
