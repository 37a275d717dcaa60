//! The intercom bridge's metrics, with the `rtc_*` names the platform's dashboards and
//! alerts already use (issue 18), plus vchat's own refusal counter. Every counter is
//! exported at 0 from start-up, so that `increase()` sees its first event; device ids
//! are never labels.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use vchat_intercom::message::CallKind;

/// What the bridge counts of call audio (the `what` label): frames from devices, those
/// dropped late or twice, slots concealed and sent into rooms; frames to devices, those
/// made up for lost browser packets, mixes; browser packets in another codec; frames a
/// full link dropped, each way.
pub const BRIDGE_FRAMES: [&str; 11] = [
    "from_device",
    "late",
    "duplicate",
    "concealed_from_device",
    "to_room",
    "to_device",
    "concealed_to_device",
    "mixed",
    "wrong_codec",
    "dropped_to_room",
    "dropped_to_device",
];

/// Why vchat refused a device's frame or session (the `reason` label).
pub const REFUSALS: [&str; 8] = [
    "bad_message",
    "bad_audio",
    "no_call",
    "flood",
    "no_hello",
    "auth_failed",
    "unsupported",
    "idle",
];

/// What becomes of the devices' log lines (the `what` label of
/// `vchat_intercom_log_lines_total`): uploaded to the store, or rotated out of memory
/// before an upload took them.
pub const LOG_LINES: [&str; 2] = ["uploaded", "lost"];

/// One call kind's counters.
#[derive(Clone)]
pub struct KindMetrics {
    /// Rings.
    pub started: IntCounter,
    /// Calls answered (by an agent or at the device).
    pub speak: IntCounter,
    /// Calls that ended on a failure (a technical end, not a caller who hung up).
    pub failed: IntCounter,
    /// How long answered calls talked, seconds.
    pub duration: Histogram,
}

/// The intercom metrics.
#[derive(Clone)]
pub struct IntercomMetrics {
    /// Devices connected now.
    pub online: IntGauge,
    /// Sessions opened by devices that had connected before.
    pub reconnects: IntCounter,
    /// Frames and sessions refused, by reason.
    pub refused: IntCounterVec,
    /// What the bridge did with call audio, by kind of frame ([`BRIDGE_FRAMES`]).
    pub bridge: IntCounterVec,
    /// Calls in rooms now, by SFU worker.
    pub bridged: prometheus::IntGaugeVec,
    /// Devices' log lines uploaded or lost ([`LOG_LINES`]).
    pub log_lines: IntCounterVec,
    /// Uploads of a device's log lines that failed (retried at the next upload).
    pub log_uploads_failed: IntCounter,
    sip: KindMetrics,
    analog: KindMetrics,
    cluster: KindMetrics,
}

impl IntercomMetrics {
    /// Registers them on `registry`.
    pub fn register(registry: &Registry) -> IntercomMetrics {
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
            r.register(Box::new(m.clone()))
                .expect("metric names are unique");
            m
        }
        let counter = |name: &str, help: &str| {
            reg(registry, IntCounter::new(name, help).expect("valid metric"))
        };
        // A counter by `label`, each of its `values` exported at 0.
        let counters = |name: &str, help: &str, label: &str, values: &[&str]| {
            let c = reg(
                registry,
                IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric"),
            );
            for v in values {
                c.with_label_values(&[v]);
            }
            c
        };
        // The names are written out whole, so that a search (and deploy/check.sh) finds them.
        let kind = |k: &str, [started, speak, failed, duration]: [&str; 4]| KindMetrics {
            started: counter(started, &format!("Intercom {k} calls that rang.")),
            speak: counter(speak, &format!("Intercom {k} calls that were answered.")),
            failed: counter(
                failed,
                &format!(
                    "Intercom {k} calls that ended on a failure (device error, timeout, lost connection)."
                ),
            ),
            duration: reg(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        duration,
                        format!("How long answered intercom {k} calls talked, seconds."),
                    )
                    .buckets(vec![5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]),
                )
                .expect("valid metric"),
            ),
        };
        let refused = counters(
            "vchat_intercom_refused_total",
            "Intercom frames and sessions vchat refused, by reason.",
            "reason",
            &REFUSALS,
        );
        let bridge = counters(
            "vchat_intercom_bridge_frames_total",
            "Intercom call audio through the bridge, by what happened to it.",
            "what",
            &BRIDGE_FRAMES,
        );
        let bridged = reg(
            registry,
            prometheus::IntGaugeVec::new(
                Opts::new(
                    "vchat_intercom_bridged_calls",
                    "Intercom calls in rooms now, by SFU worker.",
                ),
                &["worker"],
            )
            .expect("valid metric"),
        );
        let log_lines = counters(
            "vchat_intercom_log_lines_total",
            "Intercom log lines uploaded to the store, or rotated out before an upload.",
            "what",
            &LOG_LINES,
        );
        IntercomMetrics {
            log_lines,
            log_uploads_failed: counter(
                "vchat_intercom_log_uploads_failed_total",
                "Uploads of an intercom's log lines to the store that failed (retried).",
            ),
            online: reg(
                registry,
                IntGauge::new(
                    "rtc_intercom_status_info",
                    "Intercoms connected (online) to this node.",
                )
                .expect("valid metric"),
            ),
            reconnects: counter(
                "rtc_intercom_reconnects_total",
                "Intercom sessions opened by devices that had connected before (a reconnect).",
            ),
            refused,
            bridge,
            bridged,
            sip: kind(
                "SIP",
                [
                    "rtc_started_sip_calls",
                    "rtc_speak_sip_calls",
                    "rtc_failed_sip_calls",
                    "rtc_sip_calls_duration",
                ],
            ),
            analog: kind(
                "analog",
                [
                    "rtc_started_analog_calls",
                    "rtc_speak_analog_calls",
                    "rtc_failed_analog_calls",
                    "rtc_analog_calls_duration",
                ],
            ),
            cluster: kind(
                "cluster",
                [
                    "rtc_started_cluster_calls",
                    "rtc_speak_cluster_calls",
                    "rtc_failed_cluster_calls",
                    "rtc_cluster_call_duration",
                ],
            ),
        }
    }

    /// A worker's bridge counts since its last report.
    pub fn record_bridge(&self, worker: &str, calls: u64, s: &vchat_sfu::bridge::BridgeStats) {
        self.bridged.with_label_values(&[worker]).set(calls as i64);
        for (what, n) in [
            ("from_device", s.frames_in),
            ("late", s.late),
            ("duplicate", s.duplicate),
            ("concealed_from_device", s.concealed_in),
            ("to_room", s.slots_out),
            ("to_device", s.frames_to_device),
            ("concealed_to_device", s.concealed_out),
            ("mixed", s.mixed),
            ("wrong_codec", s.wrong_codec),
        ] {
            if n > 0 {
                self.bridge.with_label_values(&[what]).inc_by(n);
            }
        }
    }

    /// The counters of one call kind.
    pub fn kind(&self, kind: CallKind) -> &KindMetrics {
        match kind {
            CallKind::Sip => &self.sip,
            CallKind::Analog => &self.analog,
            CallKind::Cluster => &self.cluster,
        }
    }
}
