#!/usr/bin/env bash
# A network namespace for the SFU under test, joined to this one by a veth pair:
#   vchatbench: 10.77.0.1  <->  root namespace: 10.77.0.2
#
# janus (libnice) never gathers loopback candidates, so on 127.0.0.1 it cannot be
# reached at all; a veth pair gives both SFUs an ordinary interface that exists only
# on this machine. vchat runs in the same namespace, so both pay the same path.
#
#   bash benches/anchors/netns.sh up      # idempotent
#   bash benches/anchors/netns.sh down
set -euo pipefail
ns=vchatbench
case "${1:-up}" in
  up)
    if ! ip netns list | grep -qw "$ns"; then
      ip netns add "$ns"
      ip link add vb0 type veth peer name vb1
      ip link set vb1 netns "$ns"
      ip addr add 10.77.0.2/24 dev vb0
      ip link set vb0 up
      ip netns exec "$ns" ip addr add 10.77.0.1/24 dev vb1
      ip netns exec "$ns" ip link set vb1 up
      ip netns exec "$ns" ip link set lo up
    fi
    ;;
  down)
    ip netns del "$ns" 2>/dev/null || true
    ip link del vb0 2>/dev/null || true
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
