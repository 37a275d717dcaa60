#!/usr/bin/env bash
# Runs Debian's janus-gateway (1.1.2) as the anchor of the SFU benchmarks: videoroom
# plugin, WebSocket transport on 127.0.0.1:8188, ICE on loopback only. The config is
# written at run time into a temporary folder; nothing is installed beyond the package.
#
#   bash benches/anchors/janus.sh [CPU]      # foreground; CPU pins it (taskset), e.g. 0
#   ip netns exec vchatbench env JANUS_WS_IP=10.77.0.1 JANUS_ICE_INTERFACE=vb1 \
#       bash benches/anchors/janus.sh 0       # as the comparison runs it (netns.sh)
#
# Tuned as its maintainers advise for many peers (janus.jcfg comments, issues #3200,
# #3439): a fixed pool of event loops instead of a thread per handle, ICE-lite
# (the load generator's peers are full ICE), unused plugins and transports off,
# warnings-only logging. Pinned to one core, one event loop is that core.
set -euo pipefail
cpu=${1:-}
port=${JANUS_WS_PORT:-8188}
ws_ip=${JANUS_WS_IP:-127.0.0.1}
# Where ICE gathers: in the benchmark namespace, its veth (see netns.sh).
ice_interface=${JANUS_ICE_INTERFACE:-lo}

source "$(dirname "$0")/../common.sh"
need janus:janus

lib=/usr/lib/x86_64-linux-gnu/janus
conf=$(mktemp -d /tmp/janus-conf.XXXXXX)
trap 'rm -rf "$conf"' EXIT

keep_plugins="libjanus_videoroom.so"
disable_plugins=$(cd "$lib/plugins" && ls *.so | grep -vx "$keep_plugins" | paste -sd, -)
disable_transports=$(cd "$lib/transports" && ls *.so | grep -vx libjanus_websockets.so | paste -sd, -)

cat > "$conf/janus.jcfg" <<CFG
general: {
  configs_folder = "$conf"
  plugins_folder = "$lib/plugins"
  transports_folder = "$lib/transports"
  events_folder = "$lib/events"
  loggers_folder = "$lib/loggers"
  debug_level = 3
  session_timeout = 60
  event_loops = 1
  protected_folders = []
}
certificates: {
}
media: {
  rtp_port_range = "20000-40000"
}
nat: {
  ice_lite = true
  ice_enforce_list = "$ice_interface"
  ignore_mdns = true
}
plugins: {
  disable = "$disable_plugins"
}
transports: {
  disable = "$disable_transports"
}
events: {
  broadcast = false
}
loggers: {
}
CFG

cat > "$conf/janus.plugin.videoroom.jcfg" <<CFG
general: {
}
CFG

cat > "$conf/janus.transport.websockets.jcfg" <<CFG
general: {
  json = "compact"
  ws = true
  ws_port = $port
  ws_ip = "$ws_ip"
  wss = false
}
admin: {
  admin_ws = false
  admin_wss = false
}
CFG

ulimit -n 65535 2>/dev/null || true
pin=()
[ -n "$cpu" ] && pin=(taskset -c "$cpu")
exec "${pin[@]}" janus -F "$conf" -C "$conf/janus.jcfg" -o
