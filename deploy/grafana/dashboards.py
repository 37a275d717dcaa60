#!/usr/bin/env python3
"""Writes vchat's Grafana dashboards (calls, media, TURN, recordings, host) as JSON next
to this file: python3 deploy/grafana/dashboards.py. Each panel is one PromQL query of
metrics vchat (or prometheus-node-exporter) exports; .ci/test checks that every vchat
metric named here exists and that the JSON files are what this script writes."""

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def panel(title, exprs, unit="short", kind="timeseries"):
    return {"title": title, "type": kind, "unit": unit, "targets": exprs}


DASHBOARDS = {
    "calls": ("vchat · calls", [
        panel("Interactions by state", [('sum by (state) (vchat_interactions)', "{{state}}")]),
        panel("Signaling sessions (people in calls)", [("sum(vchat_signaling_sessions)", "sessions")]),
        panel("Rooms created / min", [("sum(rate(vchat_rooms_created_total[5m])) * 60", "rooms")]),
        panel("Peers gone / min, by reason", [("sum by (reason) (rate(vchat_sfu_peers_gone_total[5m])) * 60", "{{reason}}")]),
        panel("Calls gone silent / hour", [("sum(increase(vchat_media_inactive_total[1h]))", "calls")]),
        panel("HTTP answers / s, by status", [("sum by (status) (rate(vchat_http_requests_total[5m]))", "{{status}}")], "reqps"),
        panel("HTTP p95 latency, by route", [("histogram_quantile(0.95, sum by (le, route) (rate(vchat_http_request_duration_seconds_bucket[5m])))", "{{route}}")], "s"),
        panel("Draining", [("max(vchat_draining)", "draining")], kind="stat"),
    ]),
    "media": ("vchat · media", [
        panel("Peers and rooms", [("sum(vchat_sfu_peers)", "peers"), ("sum(vchat_sfu_rooms)", "rooms")]),
        panel("Media in / out", [("sum(rate(vchat_sfu_bytes_received_total[1m])) * 8", "in"), ("sum(rate(vchat_sfu_bytes_sent_total[1m])) * 8", "out")], "bps"),
        panel("Packets in / out / s", [("sum(rate(vchat_sfu_packets_received_total[1m]))", "in"), ("sum(rate(vchat_sfu_packets_sent_total[1m]))", "out")], "pps"),
        panel("RTP forwarded / s", [("sum(rate(vchat_sfu_rtp_forwarded_total[1m]))", "forwarded")], "pps"),
        panel("Drops / s", [("sum(rate(vchat_sfu_send_drops_total[1m]))", "send"), ("sum(rate(vchat_sfu_forward_drops_total[1m]))", "forward"), ("sum(rate(vchat_sfu_unknown_source_packets_total[1m]))", "unknown source")], "pps"),
        panel("Syscalls per packet sent", [("sum(rate(vchat_sfu_send_syscalls_total[1m])) / clamp_min(sum(rate(vchat_sfu_packets_sent_total[1m])), 1)", "syscalls/packet")]),
        panel("Worker wake-ups and timers / s", [("sum(rate(vchat_sfu_wakeups_total[1m]))", "wake-ups"), ("sum(rate(vchat_sfu_timer_fires_total[1m]))", "timers")]),
        panel("Peer panics", [("sum(increase(vchat_sfu_peer_panics_total[1h]))", "last hour")], kind="stat"),
    ]),
    "turn": ("vchat · TURN", [
        panel("Allocations, permissions, channels", [("sum(vchat_turn_allocations)", "allocations"), ("sum(vchat_turn_permissions)", "permissions"), ("sum(vchat_turn_channels)", "channels")]),
        panel("Relayed", [("sum by (direction) (rate(vchat_turn_relayed_bytes_total[1m])) * 8", "{{direction}}")], "bps"),
        panel("Relayed packets / s", [("sum by (transport) (rate(vchat_turn_relayed_packets_total[1m]))", "{{transport}}")], "pps"),
        panel("Allocations made / expired / min", [("sum(rate(vchat_turn_allocations_created_total[5m])) * 60", "made"), ("sum(rate(vchat_turn_allocations_expired_total[5m])) * 60", "expired")]),
        panel("Refusals / min", [("sum(rate(vchat_turn_auth_failures_total[5m])) * 60", "credentials"), ("sum(rate(vchat_turn_quota_rejections_total[5m])) * 60", "quota"), ("sum(rate(vchat_turn_denied_peers_total[5m])) * 60", "denied peers"), ("sum(rate(vchat_turn_malformed_total[5m])) * 60", "malformed")]),
        panel("Bandwidth-capped drops / s", [("sum(rate(vchat_turn_bandwidth_drops_total[1m]))", "dropped")], "pps"),
        panel("In-process hand-offs to the SFU / s", [("sum(rate(vchat_turn_internal_packets_total[1m]))", "packets")], "pps"),
    ]),
    "recordings": ("vchat · recordings and certificates", [
        panel("Capture writes", [("sum(rate(vchat_recorder_capture_bytes_total[1m])) * 8", "written")], "bps"),
        panel("Capture files opened / hour", [("sum(increase(vchat_recorder_capture_files_total[1h]))", "files")]),
        panel("Captured packets / s", [("sum(rate(vchat_recorder_capture_frames_total[1m]))", "packets")], "pps"),
        panel("Capture errors (last hour)", [("sum(increase(vchat_recorder_capture_errors_total[1h]))", "errors")], kind="stat"),
        panel("Certificate ends in", [("min(vchat_tls_certificate_not_after_seconds) - time()", "remaining")], "s", kind="stat"),
        panel("ACME certificates and failures", [("sum(vchat_acme_certificates_total)", "obtained"), ("sum(vchat_acme_failures_total)", "failed")]),
    ]),
    "intercom": ("vchat · intercoms", [
        panel("Intercoms online, by node", [("sum by (instance) (rtc_intercom_status_info)", "{{instance}}")]),
        panel("Reconnects / 5 min", [("sum by (instance) (increase(rtc_intercom_reconnects_total[5m]))", "{{instance}}")]),
        panel("Calls started / hour, by kind", [("sum by (kind) (instance_kind:rtc_started_calls:increase1h)", "{{kind}}")]),
        panel("Calls answered / hour, by kind", [("sum(increase(rtc_speak_sip_calls[1h]))", "sip"), ("sum(increase(rtc_speak_analog_calls[1h]))", "analog"), ("sum(increase(rtc_speak_cluster_calls[1h]))", "cluster")]),
        panel("Calls failed / 5 min, by kind", [("sum by (kind) (instance_kind:rtc_failed_calls:increase5m)", "{{kind}}")]),
        panel("Median talk time, by kind", [("histogram_quantile(0.5, sum by (le) (rate(rtc_sip_calls_duration_bucket[1h])))", "sip"), ("histogram_quantile(0.5, sum by (le) (rate(rtc_analog_calls_duration_bucket[1h])))", "analog"), ("histogram_quantile(0.5, sum by (le) (rate(rtc_cluster_call_duration_bucket[1h])))", "cluster")], "s"),
        panel("Refused frames and sessions / min, by reason", [("sum by (reason) (rate(vchat_intercom_refused_total[5m])) * 60", "{{reason}}")]),
        panel("Calls in rooms, by node", [("sum by (instance) (vchat_intercom_bridged_calls)", "{{instance}}")]),
        panel("Device log lines / min: uploaded, lost before an upload, failed uploads", [('sum(rate(vchat_intercom_log_lines_total{what="uploaded"}[5m])) * 60', "uploaded"), ('sum(rate(vchat_intercom_log_lines_total{what="lost"}[5m])) * 60', "lost"), ("sum(rate(vchat_intercom_log_uploads_failed_total[5m])) * 60", "failed uploads")]),
        panel("Bridge: late and concealed frames, share of frames", [('sum(rate(vchat_intercom_bridge_frames_total{what="late"}[5m])) / sum(rate(vchat_intercom_bridge_frames_total{what="from_device"}[5m]))', "late (from devices)"), ('sum(rate(vchat_intercom_bridge_frames_total{what="concealed_from_device"}[5m])) / sum(rate(vchat_intercom_bridge_frames_total{what="to_room"}[5m]))', "concealed (to rooms)"), ('sum(rate(vchat_intercom_bridge_frames_total{what="concealed_to_device"}[5m])) / sum(rate(vchat_intercom_bridge_frames_total{what="to_device"}[5m]))', "concealed (to devices)")], "percentunit"),
    ]),
    "host": ("vchat · host", [
        panel("CPU busy", [('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))', "{{instance}}")], "percentunit"),
        panel("Memory available", [("node_memory_MemAvailable_bytes", "{{instance}}")], "bytes"),
        panel("Data disk free", [('node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay"}', "{{mountpoint}}")], "percentunit"),
        panel("Network", [('sum by (device) (rate(node_network_receive_bytes_total{device!="lo"}[1m])) * 8', "in {{device}}"), ('sum by (device) (rate(node_network_transmit_bytes_total{device!="lo"}[1m])) * 8', "out {{device}}")], "bps"),
        panel("UDP receive errors / s", [("rate(node_netstat_Udp_RcvbufErrors[1m])", "buffer full"), ("rate(node_netstat_Udp_InErrors[1m])", "in errors")], "pps"),
        panel("Open files (host)", [("node_filefd_allocated", "{{instance}}")]),
    ]),
}


def dashboard(uid, title, panels):
    out = []
    for i, p in enumerate(panels):
        out.append({
            "id": i + 1,
            "type": p["type"],
            "title": p["title"],
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "fieldConfig": {"defaults": {"unit": p["unit"]}, "overrides": []},
            "targets": [{"refId": chr(65 + j), "expr": e, "legendFormat": legend} for j, (e, legend) in enumerate(p["targets"])],
        })
    return {
        "uid": f"vchat-{uid}",
        "title": title,
        "tags": ["vchat"],
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
        "panels": out,
    }


def main():
    check = "--check" in sys.argv
    stale = []
    for uid, (title, panels) in DASHBOARDS.items():
        text = json.dumps(dashboard(uid, title, panels), indent=2, ensure_ascii=False) + "\n"
        path = HERE / f"{uid}.json"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(HERE.parent.parent)} ({len(panels)} panels)")
    if stale:
        sys.exit(f"out of date (run python3 deploy/grafana/dashboards.py): {', '.join(stale)}")


if __name__ == "__main__":
    main()
