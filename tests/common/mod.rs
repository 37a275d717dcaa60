//! Shared harness of vchat's cross-crate tests.
//!
//! [`TestServer`] runs the real server in-process (HTTP, signaling and the SFU's UDP
//! sockets on 127.0.0.1). [`RtcClient`] is a WebRTC client built on webrtc-rs — an
//! independent stack, none of vchat's code — that joins through the signaling
//! WebSocket, publishes audio and video RTP, counts what it receives and speaks on the
//! data channel. Its UDP socket is ours, so a test can see what it sends and send
//! datagrams from its address.

pub mod api;
pub mod matrix;
pub mod netns;
pub mod panel;
pub mod pebble;
pub mod process;
pub mod turn_client;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use vchat_control::config::{Config, Overrides};
use vchat_control::server::{self, Running};
use webrtc::api::APIBuilder;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_message::DataChannelMessage;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice::udp_mux::{UDPMuxDefault, UDPMuxParams};
use webrtc::ice::udp_network::UDPNetwork;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::rtp_transceiver::RTCRtpTransceiverInit;
use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;
use webrtc::rtp_transceiver::rtp_transceiver_direction::RTCRtpTransceiverDirection;
use webrtc::track::track_local::TrackLocalWriter;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::util::Conn;

/// Chooses the process's rustls provider (aws-lc-rs, as the server does): reqwest's
/// TLS needs one before any client is built. Harmless when already chosen.
pub fn init_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Logs for a test run, once; `RUST_LOG` picks the level.
pub fn init_logging() {
    init_crypto();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// The whole vchat server, in this process, on free ports.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Bearer token of the REST API.
    pub api_token: String,
    running: Option<Running>,
    data: tempfile::TempDir,
    env: Vec<(String, String)>,
    http: SocketAddr,
}

impl TestServer {
    /// Starts a server with default settings, free ports and a fresh data folder.
    pub async fn start() -> anyhow::Result<TestServer> {
        TestServer::start_with(&[]).await
    }

    /// Starts a server with these `VCHAT_*` settings on top.
    pub async fn start_with(settings: &[(&str, &str)]) -> anyhow::Result<TestServer> {
        TestServer::start_at("127.0.0.1:0".parse()?, settings).await
    }

    /// Starts a server whose HTTP listens on `http`, with these settings on top.
    pub async fn start_at(
        http: SocketAddr,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<TestServer> {
        init_crypto();
        let data = tempfile::tempdir()?;
        // Free ports for everything, so tests run side by side.
        let mut env: Vec<(String, String)> = [
            "VCHAT_MEDIA_PORT",
            "VCHAT_TURN_UDP_PORT",
            "VCHAT_TURN_TCP_PORT",
            "VCHAT_TURN_TLS_PORT",
        ]
        .iter()
        .map(|k| (k.to_string(), "0".to_string()))
        .collect();
        env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let running = Self::run(&env, data.path(), http).await?;
        Ok(TestServer {
            base: running.base_url(),
            api_token: running.api_token().to_string(),
            running: Some(running),
            data,
            env,
            http,
        })
    }

    async fn run(
        env: &[(String, String)],
        data: &std::path::Path,
        http: SocketAddr,
    ) -> anyhow::Result<Running> {
        let overrides = Overrides {
            http: Some(http),
            data_dir: Some(data.into()),
        };
        let config = Config::load(None, env.to_vec(), &overrides)?;
        server::start(config).await
    }

    /// Stops the server gracefully and starts it again on the same data folder and
    /// settings (a new HTTP port: `base` changes).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(running) = self.running.take() {
            running.shutdown().await?;
        }
        let running = Self::run(&self.env, self.data.path(), self.http).await?;
        self.base = running.base_url();
        self.running = Some(running);
        Ok(())
    }

    /// The SFU's media addresses.
    pub fn media_addrs(&self) -> Vec<SocketAddr> {
        self.running
            .as_ref()
            .map(|r| r.media_addrs.clone())
            .unwrap_or_default()
    }

    /// The TURN relay's UDP, TCP and TLS listeners.
    pub fn turn_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>) {
        self.running
            .as_ref()
            .map_or((None, None, None), |r| r.turn_addrs)
    }

    /// The running server.
    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("the server runs")
    }

    /// The data folder.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// Creates a room; returns the join tokens in the order of `names`.
    pub async fn create_room(&self, names: &[&str]) -> anyhow::Result<Vec<String>> {
        let body = json!({ "participants": names.iter().map(|n| json!({ "name": n })).collect::<Vec<_>>() });
        let response = reqwest::Client::new()
            .post(format!("{}/api/rooms", self.base))
            .bearer_auth(&self.api_token)
            .json(&body)
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::CREATED {
            bail!(
                "room creation failed: {} {}",
                response.status(),
                response.text().await?
            );
        }
        let created: Value = response.json().await?;
        let tokens = created["participants"]
            .as_array()
            .context("participants")?
            .iter()
            .map(|p| p["token"].as_str().unwrap_or_default().to_string())
            .collect();
        Ok(tokens)
    }

    /// A value from `/metrics`, summed over labels.
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(running) = self.running.take() {
            running.shutdown().await?;
        }
        Ok(())
    }
}

/// The client's UDP socket: webrtc-rs talks through it; the test watches and injects.
pub struct TapSocket {
    socket: Arc<UdpSocket>,
    capturing: AtomicBool,
    captured: Mutex<Vec<Vec<u8>>>,
}

impl TapSocket {
    /// Starts or stops keeping copies of outgoing datagrams.
    pub fn capture(&self, on: bool) {
        self.capturing.store(on, Ordering::SeqCst);
    }

    /// The datagrams kept so far.
    pub fn captured(&self) -> Vec<Vec<u8>> {
        self.captured.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Sends a datagram from the client's own address.
    pub async fn inject(&self, to: SocketAddr, datagram: &[u8]) -> std::io::Result<usize> {
        self.socket.send_to(datagram, to).await
    }

    /// The client's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("bound socket")
    }
}

struct TapConn(Arc<TapSocket>);

#[async_trait::async_trait]
impl Conn for TapConn {
    async fn connect(&self, addr: SocketAddr) -> webrtc::util::Result<()> {
        Ok(self.0.socket.connect(addr).await?)
    }
    async fn recv(&self, buf: &mut [u8]) -> webrtc::util::Result<usize> {
        Ok(self.0.socket.recv(buf).await?)
    }
    async fn recv_from(&self, buf: &mut [u8]) -> webrtc::util::Result<(usize, SocketAddr)> {
        Ok(self.0.socket.recv_from(buf).await?)
    }
    async fn send(&self, buf: &[u8]) -> webrtc::util::Result<usize> {
        Ok(self.0.socket.send(buf).await?)
    }
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc::util::Result<usize> {
        if self.0.capturing.load(Ordering::Relaxed)
            && let Ok(mut captured) = self.0.captured.lock()
        {
            captured.push(buf.to_vec());
        }
        Ok(self.0.socket.send_to(buf, target).await?)
    }
    fn local_addr(&self) -> webrtc::util::Result<SocketAddr> {
        Ok(self.0.socket.local_addr()?)
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }
    async fn close(&self) -> webrtc::util::Result<()> {
        Ok(())
    }
    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// What a client received.
#[derive(Default)]
pub struct Received {
    /// Audio RTP packets.
    pub audio: AtomicU64,
    /// Video RTP packets.
    pub video: AtomicU64,
    /// The last payload of each kind, and the codec it came in.
    pub last: Mutex<Vec<(String, String, Vec<u8>)>>,
    /// Data-channel messages (relay frames).
    pub messages: Mutex<Vec<Vec<u8>>>,
}

/// A webrtc-rs client in a vchat room.
pub struct RtcClient {
    /// The peer connection.
    pub pc: Arc<RTCPeerConnection>,
    /// The client's UDP socket.
    pub tap: Arc<TapSocket>,
    /// What it received.
    pub received: Arc<Received>,
    audio: Arc<TrackLocalStaticRTP>,
    video: Arc<TrackLocalStaticRTP>,
    channel: Arc<RTCDataChannel>,
    name: String,
    heard: Arc<Mutex<Vec<Value>>>,
    _signals: tokio::task::JoinHandle<()>,
}

/// The video codec a client publishes in.
#[derive(Clone, Copy, Debug)]
pub enum VideoCodec {
    /// VP8.
    Vp8,
    /// H.264, constrained baseline, packetization mode 1.
    H264,
}

impl RtcClient {
    /// Joins with `token` through the server's signaling socket and waits until the
    /// peer connection is connected.
    pub async fn join(
        server: &TestServer,
        token: &str,
        name: &str,
        codec: VideoCodec,
    ) -> anyhow::Result<RtcClient> {
        RtcClient::join_at(&server.base, token, name, codec).await
    }

    /// [`RtcClient::join`] for the server at `base` (`http://127.0.0.1:<port>`).
    pub async fn join_at(
        base: &str,
        token: &str,
        name: &str,
        codec: VideoCodec,
    ) -> anyhow::Result<RtcClient> {
        RtcClient::join_with(base, token, name, codec, RTCConfiguration::default()).await
    }

    /// [`RtcClient::join_at`] with this peer-connection configuration (its DTLS
    /// certificate, say). When the connection does not come up, the error lists what
    /// the server said on the signaling socket.
    pub async fn join_with(
        base: &str,
        token: &str,
        name: &str,
        codec: VideoCodec,
        configuration: RTCConfiguration,
    ) -> anyhow::Result<RtcClient> {
        let ws_url = format!("{}/ws", base.replacen("http://", "ws://", 1));
        let (ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
        let (mut ws_tx, mut ws_rx) = ws.split();
        ws_tx
            .send(Message::text(
                json!({ "type": "join", "token": token }).to_string(),
            ))
            .await?;
        let welcome = next_json(&mut ws_rx).await?;
        if welcome["type"] != "welcome" {
            bail!("expected welcome, got {welcome}");
        }

        let tap = Arc::new(TapSocket {
            socket: Arc::new(UdpSocket::bind("127.0.0.1:0").await?),
            capturing: AtomicBool::new(false),
            captured: Mutex::new(Vec::new()),
        });
        let mut media = MediaEngine::default();
        media.register_default_codecs()?;
        let mut registry = Registry::new();
        registry = register_default_interceptors(registry, &mut media)?;
        let mut settings = SettingEngine::default();
        // One local candidate, the socket's own address: the mux shares one socket, and
        // candidates for the machine's other addresses would receive its packets too.
        settings.set_include_loopback_candidate(true);
        settings.set_network_types(vec![NetworkType::Udp4]);
        settings.set_ip_filter(Box::new(|ip: std::net::IpAddr| ip.is_loopback()));
        settings.set_udp_network(UDPNetwork::Muxed(UDPMuxDefault::new(UDPMuxParams::new(
            TapConn(tap.clone()),
        ))));
        let api = APIBuilder::new()
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .build();
        let pc = Arc::new(api.new_peer_connection(configuration).await?);

        let stream_id = format!("{name}-stream");
        let audio = Arc::new(TrackLocalStaticRTP::new(
            RTCRtpCodecCapability {
                mime_type: MIME_TYPE_OPUS.into(),
                clock_rate: 48000,
                channels: 2,
                ..Default::default()
            },
            format!("{name}-audio"),
            stream_id.clone(),
        ));
        let video_mime = match codec {
            VideoCodec::Vp8 => MIME_TYPE_VP8,
            VideoCodec::H264 => MIME_TYPE_H264,
        };
        let video = Arc::new(TrackLocalStaticRTP::new(
            RTCRtpCodecCapability {
                mime_type: video_mime.into(),
                clock_rate: 90000,
                ..Default::default()
            },
            format!("{name}-video"),
            stream_id,
        ));
        let sendonly = || {
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                send_encodings: vec![],
            })
        };
        pc.add_transceiver_from_track(audio.clone(), sendonly())
            .await?;
        pc.add_transceiver_from_track(video.clone(), sendonly())
            .await?;
        let channel = pc.create_data_channel("vchat", None).await?;

        let received = Arc::new(Received::default());
        {
            let received = received.clone();
            channel.on_message(Box::new(move |m: DataChannelMessage| {
                if let Ok(mut messages) = received.messages.lock() {
                    messages.push(m.data.to_vec());
                }
                Box::pin(async {})
            }));
        }
        {
            let received = received.clone();
            pc.on_track(Box::new(move |track, _receiver, _transceiver| {
                let received = received.clone();
                tokio::spawn(async move {
                    let mime = track.codec().capability.mime_type.to_lowercase();
                    let kind = if mime.starts_with("audio") {
                        "audio"
                    } else {
                        "video"
                    };
                    while let Ok((packet, _)) = track.read_rtp().await {
                        let counter = if kind == "audio" {
                            &received.audio
                        } else {
                            &received.video
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut last) = received.last.lock() {
                            last.retain(|(k, _, _)| k != kind);
                            last.push((kind.to_string(), mime.clone(), packet.payload.to_vec()));
                        }
                    }
                });
                Box::pin(async {})
            }));
        }
        let (connected_tx, mut connected_rx) = mpsc::unbounded_channel();
        pc.on_peer_connection_state_change(Box::new(move |state| {
            let _ = connected_tx.send(state);
            Box::pin(async {})
        }));

        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        let sdp = pc
            .local_description()
            .await
            .context("local description")?
            .sdp;
        ws_tx
            .send(Message::text(
                json!({ "type": "offer", "sdp": sdp }).to_string(),
            ))
            .await?;

        // Signaling runs on: answers, the SFU's offers, and whatever else comes.
        let heard: Arc<Mutex<Vec<Value>>> = Arc::default();
        let signals = {
            let pc = pc.clone();
            let heard = heard.clone();
            tokio::spawn(async move {
                while let Ok(message) = next_json(&mut ws_rx).await {
                    tracing::debug!("client got {}", message["type"]);
                    if let Ok(mut heard) = heard.lock() {
                        heard.push(message.clone());
                    }
                    let result: anyhow::Result<()> = async {
                        match message["type"].as_str() {
                            Some("answer") => {
                                let sdp = message["sdp"].as_str().unwrap_or_default().to_string();
                                pc.set_remote_description(RTCSessionDescription::answer(sdp)?)
                                    .await?;
                            }
                            Some("offer") => {
                                let sdp = message["sdp"].as_str().unwrap_or_default().to_string();
                                pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
                                    .await?;
                                let answer = pc.create_answer(None).await?;
                                pc.set_local_description(answer).await?;
                                let sdp = pc
                                    .local_description()
                                    .await
                                    .context("local description")?
                                    .sdp;
                                ws_tx
                                    .send(Message::text(
                                        json!({ "type": "answer", "sdp": sdp }).to_string(),
                                    ))
                                    .await?;
                                tracing::debug!("client answered");
                            }
                            _ => {}
                        }
                        Ok(())
                    }
                    .await;
                    if let Err(e) = result {
                        tracing::error!("client signaling: {e:#}");
                    }
                }
            })
        };

        let connected = tokio::time::timeout(Duration::from_secs(15), async {
            while let Some(state) = connected_rx.recv().await {
                if state == RTCPeerConnectionState::Connected {
                    return Ok(());
                }
                if state == RTCPeerConnectionState::Failed {
                    bail!("peer connection failed");
                }
            }
            bail!("peer connection closed")
        })
        .await
        .context("connecting")
        .and_then(|r| r);
        if let Err(e) = connected {
            // What the server said comes shortly before (or just after) the failure.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let heard = heard.lock().map(|h| h.clone()).unwrap_or_default();
            bail!("{e:#}; the server said: {heard:?}");
        }

        Ok(RtcClient {
            pc,
            tap,
            received,
            audio,
            video,
            channel,
            name: name.to_string(),
            heard,
            _signals: signals,
        })
    }

    /// The messages the server has sent on the signaling socket since the welcome.
    pub fn heard(&self) -> Vec<Value> {
        self.heard.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Sends one audio and one video packet whose payloads name this client and `seq`.
    pub async fn send_rtp(&self, seq: u16) -> anyhow::Result<()> {
        let tag = format!("{}-{seq}", self.name);
        let mut audio = webrtc::rtp::packet::Packet::default();
        audio.header.version = 2;
        audio.header.sequence_number = seq;
        audio.header.timestamp = u32::from(seq) * 960;
        audio.payload = [b"\xfc" as &[u8], tag.as_bytes()].concat().into();
        self.audio.write_rtp(&audio).await?;

        let mut video = webrtc::rtp::packet::Packet::default();
        video.header.version = 2;
        video.header.sequence_number = seq;
        video.header.timestamp = u32::from(seq) * 3000;
        video.header.marker = true;
        // A VP8 payload descriptor (start of partition) or an H.264 single NAL unit,
        // then the tag: enough for any depacketizer on the way to accept it.
        let head: &[u8] = if self.video.codec().mime_type == MIME_TYPE_H264 {
            b"\x65"
        } else {
            b"\x10\x00\x9d\x01\x2a"
        };
        video.payload = [head, tag.as_bytes()].concat().into();
        self.video.write_rtp(&video).await?;
        Ok(())
    }

    /// Sends one audio RTP packet with this sequence number, timestamp and payload
    /// (a real Opus frame, say).
    pub async fn send_audio(&self, seq: u16, timestamp: u32, payload: &[u8]) -> anyhow::Result<()> {
        let mut p = webrtc::rtp::packet::Packet::default();
        p.header.version = 2;
        p.header.sequence_number = seq;
        p.header.timestamp = timestamp;
        p.payload = payload.to_vec().into();
        self.audio.write_rtp(&p).await?;
        Ok(())
    }

    /// Sends one video RTP packet.
    pub async fn send_video(
        &self,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> anyhow::Result<()> {
        let mut p = webrtc::rtp::packet::Packet::default();
        p.header.version = 2;
        p.header.sequence_number = seq;
        p.header.timestamp = timestamp;
        p.header.marker = marker;
        p.payload = payload.to_vec().into();
        self.video.write_rtp(&p).await?;
        Ok(())
    }

    /// Sends text on the data channel.
    pub async fn send_message(&self, text: &str) -> anyhow::Result<()> {
        self.channel.send_text(text.to_string()).await?;
        Ok(())
    }

    /// Closes the peer connection.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pc.close().await?;
        Ok(())
    }
}

async fn next_json<S>(rx: &mut S) -> anyhow::Result<Value>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match rx.next().await.context("signaling socket closed")?? {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Close(frame) => bail!("signaling socket closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Sends `rounds` RTP pairs from every client, 20 ms apart.
pub async fn stream_media(
    clients: &[&RtcClient],
    first_seq: u16,
    rounds: u16,
) -> anyhow::Result<()> {
    for i in 0..rounds {
        for client in clients {
            client.send_rtp(first_seq.wrapping_add(i)).await?;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
