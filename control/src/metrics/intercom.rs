//! The intercom bridge's metrics, with the `rtc_*` names the platform's dashboards and
//! alerts already use (issue 18), plus vchat's own refusal counter. Every counter is
//! exported at 0 from start-up, so that `increase()` sees its first event; device ids
//! are never labels.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use vchat_intercom::message::CallKind;

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
        let refused = reg(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "vchat_intercom_refused_total",
                    "Intercom frames and sessions vchat refused, by reason.",
                ),
                &["reason"],
            )
            .expect("valid metric"),
        );
        for reason in REFUSALS {
            refused.with_label_values(&[reason]);
        }
        IntercomMetrics {
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

    /// The counters of one call kind.
    pub fn kind(&self, kind: CallKind) -> &KindMetrics {
        match kind {
            CallKind::Sip => &self.sip,
            CallKind::Analog => &self.analog,
            CallKind::Cluster => &self.cluster,
        }
    }
}
