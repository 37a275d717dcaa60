//! A small TURN client for tests, on vchat's own codec: allocate, bind a channel,
//! send ChannelData, read what comes back.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::UdpSocket;
use vchat_turn::proto::attr::{self, Attr};
use vchat_turn::proto::integrity::long_term_key;
use vchat_turn::proto::{Builder, ChannelData, Class, Integrity, Message, Method};

/// One client's allocation on a relay.
pub struct TurnTestClient {
    /// The client's socket.
    pub socket: UdpSocket,
    server: SocketAddr,
    user: String,
    realm: String,
    nonce: String,
    key: [u8; 16],
}

/// An answer: its class and error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Success or error.
    pub class: Class,
    /// The ERROR-CODE, if any.
    pub code: Option<u16>,
}

impl TurnTestClient {
    /// A client of `server` as `user`, challenged once for the realm and a nonce.
    pub async fn connect(
        server: SocketAddr,
        user: &str,
        password: &str,
    ) -> anyhow::Result<TurnTestClient> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let mut request = Vec::new();
        Builder::new(
            &mut request,
            Class::Request,
            Method::Allocate,
            rand::random(),
        )
        .attr(Attr::RequestedTransport(17))
        .finish(None, true);
        let answer = exchange(&socket, server, &request).await?;
        let m = Message::parse(&answer)?;
        let (Some(Attr::Realm(realm)), Some(Attr::Nonce(nonce))) =
            (m.attr(attr::REALM), m.attr(attr::NONCE))
        else {
            bail!("no challenge: {m:?}");
        };
        Ok(TurnTestClient {
            key: long_term_key(user, realm, password),
            socket,
            server,
            user: user.into(),
            realm: realm.into(),
            nonce: nonce.into(),
        })
    }

    /// Sends an authenticated request and reads its answer.
    pub async fn request(&mut self, method: Method, attrs: &[Attr<'_>]) -> anyhow::Result<Answer> {
        let mut out = Vec::new();
        let mut b = Builder::new(&mut out, Class::Request, method, rand::random());
        for a in attrs {
            b = b.attr(a.clone());
        }
        b.attr(Attr::Username(&self.user))
            .attr(Attr::Realm(&self.realm))
            .attr(Attr::Nonce(&self.nonce))
            .finish(Some((&self.key, Integrity::Sha1)), true);
        let answer = exchange(&self.socket, self.server, &out).await?;
        let m = Message::parse(&answer)?;
        let code = match m.attr(attr::ERROR_CODE) {
            Some(Attr::ErrorCode(code, _)) => Some(code),
            _ => None,
        };
        Ok(Answer {
            class: m.class,
            code,
        })
    }

    /// Sends `data` on `channel`.
    pub async fn send_channel(&self, channel: u16, data: &[u8]) -> anyhow::Result<()> {
        let mut out = Vec::new();
        ChannelData::write(&mut out, channel, data, false);
        self.socket.send_to(&out, self.server).await?;
        Ok(())
    }

    /// The next ChannelData that arrives within `wait`: (channel, data).
    pub async fn recv_channel(&self, wait: Duration) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut buf = vec![0u8; 2048];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (n, _) = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf))
                .await
                .context("no ChannelData in time")??;
            if let Some(cd) = ChannelData::parse(&buf[..n]) {
                return Ok((cd.channel, cd.data.to_vec()));
            }
        }
    }
}

/// Sends `request` until an answer comes (UDP may drop), returns the answer.
pub async fn exchange(
    socket: &UdpSocket,
    server: SocketAddr,
    request: &[u8],
) -> anyhow::Result<Vec<u8>> {
    for _ in 0..5 {
        socket.send_to(request, server).await?;
        let mut buf = vec![0u8; 2048];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Ok(buf);
        }
    }
    bail!("no answer from the relay at {server}")
}
