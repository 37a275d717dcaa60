//! The relay's counters in Prometheus text format, read from its once-a-second
//! snapshot at scrape time.

use std::fmt::Write;

use vchat_turn::relay::RelayStats;

const TRANSPORTS: [&str; 3] = ["udp", "tcp", "tls"];

pub(super) fn render(s: &RelayStats) -> String {
    let mut out = String::new();
    let mut one = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    one(
        "vchat_turn_allocations",
        "gauge",
        "Live TURN allocations.",
        s.allocations,
    );
    one(
        "vchat_turn_permissions",
        "gauge",
        "Live TURN permissions.",
        s.permissions,
    );
    one(
        "vchat_turn_channels",
        "gauge",
        "Live TURN channel bindings.",
        s.channels,
    );
    one(
        "vchat_turn_allocations_created_total",
        "counter",
        "TURN allocations made.",
        s.allocations_created,
    );
    one(
        "vchat_turn_allocations_expired_total",
        "counter",
        "TURN allocations that expired unrefreshed.",
        s.allocations_expired,
    );
    one(
        "vchat_turn_auth_failures_total",
        "counter",
        "TURN requests with unknown, expired or wrong credentials.",
        s.auth_failures,
    );
    one(
        "vchat_turn_challenges_suppressed_total",
        "counter",
        "401/438 answers withheld by the per-source rate limit.",
        s.challenges_suppressed,
    );
    one(
        "vchat_turn_denied_peers_total",
        "counter",
        "TURN requests and packets refused because the peer address is denied.",
        s.denied_peers,
    );
    one(
        "vchat_turn_quota_rejections_total",
        "counter",
        "TURN allocations refused by a quota (486).",
        s.quota_rejections,
    );
    one(
        "vchat_turn_bandwidth_drops_total",
        "counter",
        "Packets dropped by the per-allocation bandwidth cap.",
        s.bandwidth_drops,
    );
    one(
        "vchat_turn_unpermitted_drops_total",
        "counter",
        "Packets dropped for lack of a permission or channel.",
        s.unpermitted_drops,
    );
    one(
        "vchat_turn_malformed_total",
        "counter",
        "Datagrams that were neither STUN nor usable ChannelData.",
        s.malformed,
    );
    one(
        "vchat_turn_core_panics_total",
        "counter",
        "Client datagrams whose handling hit a bug (caught; that client's allocation dropped).",
        s.core_panics,
    );
    one(
        "vchat_turn_internal_packets_total",
        "counter",
        "Packets between TURN clients and the SFU handed over in-process (no UDP hop).",
        s.internal_packets,
    );
    let mut by_transport = |name: &str, help: &str, to_peers: &[u64; 3], to_clients: &[u64; 3]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (i, t) in TRANSPORTS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}{{transport=\"{t}\",direction=\"to_peer\"}} {}",
                to_peers[i]
            );
            let _ = writeln!(
                out,
                "{name}{{transport=\"{t}\",direction=\"to_client\"}} {}",
                to_clients[i]
            );
        }
    };
    by_transport(
        "vchat_turn_relayed_packets_total",
        "Packets relayed, by client transport and direction.",
        &s.packets_to_peers,
        &s.packets_to_clients,
    );
    by_transport(
        "vchat_turn_relayed_bytes_total",
        "Application bytes relayed, by client transport and direction.",
        &s.bytes_to_peers,
        &s.bytes_to_clients,
    );
    out
}
