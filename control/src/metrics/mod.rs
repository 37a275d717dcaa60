//! Prometheus metrics: what `/metrics` shows.
//!
//! SFU workers do not touch these: each reports its counters once a second as an
//! [`SfuEvent::Stats`] message, and [`Metrics::record`] folds them in here, off the
//! packet path.

use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use vchat_sfu::{SfuEvent, WorkerStats};

pub mod intercom;

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    rooms: IntGaugeVec,
    peers: IntGaugeVec,
    packets_in: IntCounter,
    packets_out: IntCounter,
    bytes_in: IntCounter,
    bytes_out: IntCounter,
    rtp_forwarded: IntCounter,
    forward_drops: IntCounter,
    send_drops: IntCounter,
    send_syscalls: IntCounter,
    wakeups: IntCounter,
    timer_fires: IntCounter,
    unknown_source: IntCounter,
    channel_messages: IntCounter,
    peer_panics: IntCounter,
    layer_switches: IntCounter,
    paused_video: IntGaugeVec,
    bandwidth_estimates: prometheus::Histogram,
    peers_connected: IntCounter,
    peers_gone: IntCounterVec,
    tracks_published: IntCounterVec,
    media_inactive: IntCounter,
    /// HTTP requests by route template, method and status.
    pub http_requests: IntCounterVec,
    /// HTTP request durations by route template and method.
    pub http_duration: prometheus::HistogramVec,
    /// Interactions by state (set at scrape time from the store).
    pub interactions: IntGaugeVec,
    /// Open signaling WebSockets.
    pub signaling_sessions: IntGauge,
    /// Signaling messages, by direction (`in`, `out`).
    pub signaling_messages: IntCounterVec,
    /// Signaling sockets closed by the server, by reason.
    pub signaling_rejected: IntCounterVec,
    /// Rooms created through the API.
    pub rooms_created: IntCounter,
    /// Whether the server is draining (1) or serving (0).
    pub draining: IntGauge,
    /// The intercom bridge's.
    pub intercom: intercom::IntercomMetrics,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
            r.register(Box::new(m.clone()))
                .expect("metric names are unique");
            m
        }
        let counter = |name: &str, help: &str| {
            reg(
                &registry,
                IntCounter::new(name, help).expect("valid metric"),
            )
        };
        let metrics = Metrics {
            rooms: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new("vchat_sfu_rooms", "Rooms a media worker owns."),
                    &["worker"],
                )
                .expect("valid metric"),
            ),
            peers: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "vchat_sfu_peers",
                        "Peers (participants) a media worker owns.",
                    ),
                    &["worker"],
                )
                .expect("valid metric"),
            ),
            packets_in: counter(
                "vchat_sfu_packets_received_total",
                "Datagrams received on the media sockets.",
            ),
            packets_out: counter(
                "vchat_sfu_packets_sent_total",
                "Datagrams sent from the media sockets.",
            ),
            bytes_in: counter(
                "vchat_sfu_bytes_received_total",
                "Bytes received on the media sockets.",
            ),
            bytes_out: counter(
                "vchat_sfu_bytes_sent_total",
                "Bytes sent from the media sockets.",
            ),
            rtp_forwarded: counter(
                "vchat_sfu_rtp_forwarded_total",
                "RTP packets handed to subscribers.",
            ),
            layer_switches: counter(
                "vchat_sfu_layer_switches_total",
                "Subscribers moved from one simulcast layer to another (at its keyframe).",
            ),
            paused_video: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "vchat_sfu_paused_video",
                        "Video tracks paused at their subscriber because even the lowest layer does not fit its bandwidth.",
                    ),
                    &["worker"],
                )
                .expect("valid metric"),
            ),
            bandwidth_estimates: reg(
                &registry,
                prometheus::Histogram::with_opts(
                    prometheus::HistogramOpts::new(
                        "vchat_sfu_bandwidth_estimate_bps",
                        "Bandwidth estimates of the paths to connected peers, sampled every second, bit/s.",
                    )
                    .buckets(vec![
                        100e3, 200e3, 300e3, 500e3, 800e3, 1.2e6, 2e6, 3e6, 5e6, 8e6, 15e6,
                    ]),
                )
                .expect("valid metric"),
            ),
            forward_drops: counter(
                "vchat_sfu_forward_drops_total",
                "RTP packets that could not be forwarded (no shared codec, stream not ready).",
            ),
            send_drops: counter(
                "vchat_sfu_send_drops_total",
                "Datagrams the kernel did not take (send buffer full or unreachable).",
            ),
            send_syscalls: counter(
                "vchat_sfu_send_syscalls_total",
                "Send syscalls (fewer than datagrams when GSO coalesces a frame's packets).",
            ),
            wakeups: counter(
                "vchat_sfu_wakeups_total",
                "Times media workers woke up (I/O, commands, timers).",
            ),
            timer_fires: counter(
                "vchat_sfu_timer_fires_total",
                "Timer passes over peers (str0m timeouts).",
            ),
            unknown_source: counter(
                "vchat_sfu_unknown_source_packets_total",
                "Datagrams from addresses that belong to no peer.",
            ),
            channel_messages: counter(
                "vchat_sfu_channel_messages_total",
                "Data-channel messages relayed, counted per receiver.",
            ),
            peer_panics: counter(
                "vchat_sfu_peer_panics_total",
                "Peers dropped because they hit a bug.",
            ),
            peers_connected: counter(
                "vchat_sfu_peers_connected_total",
                "Peers whose ICE and DTLS came up.",
            ),
            peers_gone: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new("vchat_sfu_peers_gone_total", "Peers that left, by reason."),
                    &["reason"],
                )
                .expect("valid metric"),
            ),
            media_inactive: counter(
                "vchat_media_inactive_total",
                "Times a connected participant went quiet (no RTP for interactions.media_inactive_secs).",
            ),
            http_requests: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "vchat_http_requests_total",
                        "HTTP requests, by route template, method and status.",
                    ),
                    &["route", "method", "status"],
                )
                .expect("valid metric"),
            ),
            http_duration: reg(
                &registry,
                prometheus::HistogramVec::new(
                    prometheus::HistogramOpts::new(
                        "vchat_http_request_duration_seconds",
                        "HTTP request durations, by route template and method.",
                    )
                    .buckets(vec![
                        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                    ]),
                    &["route", "method"],
                )
                .expect("valid metric"),
            ),
            interactions: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new("vchat_interactions", "Interactions, by state."),
                    &["state"],
                )
                .expect("valid metric"),
            ),
            tracks_published: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "vchat_sfu_tracks_published_total",
                        "Tracks participants started sending, by kind.",
                    ),
                    &["kind"],
                )
                .expect("valid metric"),
            ),
            signaling_sessions: reg(
                &registry,
                IntGauge::new("vchat_signaling_sessions", "Open signaling WebSockets.")
                    .expect("valid metric"),
            ),
            signaling_messages: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "vchat_signaling_messages_total",
                        "Signaling messages, by direction.",
                    ),
                    &["direction"],
                )
                .expect("valid metric"),
            ),
            signaling_rejected: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "vchat_signaling_closed_by_server_total",
                        "Signaling sockets the server closed, by reason.",
                    ),
                    &["reason"],
                )
                .expect("valid metric"),
            ),
            rooms_created: counter(
                "vchat_rooms_created_total",
                "Rooms created through the API.",
            ),
            draining: reg(
                &registry,
                IntGauge::new(
                    "vchat_draining",
                    "1 while the server drains before stopping.",
                )
                .expect("valid metric"),
            ),
            intercom: intercom::IntercomMetrics::register(&registry),
            registry,
        };
        let info = IntGaugeVec::new(
            Opts::new("vchat_build_info", "The running vchat version."),
            &["version"],
        )
        .expect("valid metric");
        info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        metrics
            .registry
            .register(Box::new(info))
            .expect("metric names are unique");
        metrics
    }

    /// Folds an SFU event into the metrics.
    pub fn record(&self, event: &SfuEvent) {
        match event {
            SfuEvent::Stats(stats) => self.record_stats(stats),
            SfuEvent::PeerConnected { .. } => self.peers_connected.inc(),
            SfuEvent::PeerGone { reason, .. } => {
                self.peers_gone.with_label_values(&[reason.as_str()]).inc()
            }
            SfuEvent::TrackPublished { kind, .. } => self
                .tracks_published
                .with_label_values(&[kind.as_str()])
                .inc(),
            SfuEvent::MediaInactive { .. } => self.media_inactive.inc(),
            SfuEvent::MediaActive { .. } => {}
        }
    }

    fn record_stats(&self, s: &WorkerStats) {
        let worker = s.worker.to_string();
        self.rooms.with_label_values(&[&worker]).set(s.rooms as i64);
        self.peers.with_label_values(&[&worker]).set(s.peers as i64);
        self.packets_in.inc_by(s.packets_in);
        self.packets_out.inc_by(s.packets_out);
        self.bytes_in.inc_by(s.bytes_in);
        self.bytes_out.inc_by(s.bytes_out);
        self.rtp_forwarded.inc_by(s.rtp_forwarded);
        self.forward_drops.inc_by(s.forward_drops);
        self.send_drops.inc_by(s.send_drops);
        self.send_syscalls.inc_by(s.send_syscalls);
        self.wakeups.inc_by(s.wakeups);
        self.timer_fires.inc_by(s.timer_fires);
        self.unknown_source.inc_by(s.unknown_source);
        self.channel_messages.inc_by(s.channel_messages);
        self.peer_panics.inc_by(s.peer_panics);
        self.layer_switches.inc_by(s.layer_switches);
        self.intercom.record_bridge(&worker, s.bridges, &s.bridge);
        self.paused_video
            .with_label_values(&[&worker])
            .set(s.paused_video as i64);
        for bps in &s.estimates_bps {
            self.bandwidth_estimates.observe(*bps as f64);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
