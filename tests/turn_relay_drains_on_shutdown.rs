//! On SIGTERM the relay takes no new allocations (508) while existing ones keep
//! relaying until they end or the drain deadline passes.

use std::time::Duration;

use anyhow::Context;
use vchat_tests::TestServer;
use vchat_tests::turn_client::TurnTestClient;
use vchat_turn::proto::{Attr, Class, Method};

#[tokio::test(flavor = "multi_thread")]
async fn draining_relay_refuses_new_allocations_and_keeps_old_ones() -> anyhow::Result<()> {
    let server = TestServer::start_with(&[
        ("VCHAT_TURN_USERS", "ops:opspass"),
        ("VCHAT_TURN_ALLOW_LOOPBACK_PEERS_DANGEROUSLY", "true"),
        ("VCHAT_SHUTDOWN_DRAIN_TIMEOUT_SECS", "4"),
    ])
    .await?;
    let udp = server.turn_addrs().0.context("udp")?;

    // An echo peer on loopback, and a client with a channel to it.
    let echo = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let peer = echo.local_addr()?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..n], from).await;
        }
    });
    let mut old = TurnTestClient::connect(udp, "ops", "opspass").await?;
    assert_eq!(
        old.request(Method::Allocate, &[Attr::RequestedTransport(17)])
            .await?
            .class,
        Class::Success
    );
    let bound = old
        .request(
            Method::ChannelBind,
            &[Attr::ChannelNumber(0x4000), Attr::XorPeerAddress(peer)],
        )
        .await?;
    assert_eq!(bound.class, Class::Success);
    old.send_channel(0x4000, b"before").await?;
    assert_eq!(old.recv_channel(Duration::from_secs(2)).await?.1, b"before");

    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut new = TurnTestClient::connect(udp, "ops", "opspass").await?;
    let refused = new
        .request(Method::Allocate, &[Attr::RequestedTransport(17)])
        .await?;
    assert_eq!(
        refused.code,
        Some(508),
        "a draining relay makes no new allocations: {refused:?}"
    );
    old.send_channel(0x4000, b"during").await?;
    assert_eq!(
        old.recv_channel(Duration::from_secs(2)).await?.1,
        b"during",
        "the old allocation still relays"
    );
    let refresh = old.request(Method::Refresh, &[Attr::Lifetime(600)]).await?;
    assert_eq!(refresh.class, Class::Success, "and may be refreshed");

    stopping.await??;
    Ok(())
}
