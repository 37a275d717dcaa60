#!/usr/bin/env bash
# Checks deploy/ as CI does: Prometheus config and alert rules (promtool check, and
# promtool test rules for each alert's firing and silence), Grafana dashboards
# current with their generator, every vchat metric the rules and dashboards name
# exported somewhere in the code, the systemd unit (systemd-analyze verify) and the
# firewall profiles opening the same ports.
set -euo pipefail
cd "$(dirname "$0")"

promtool check config prometheus/prometheus.yml
promtool check rules prometheus/alerts.yml
(cd prometheus && promtool test rules alerts.test.yml)
python3 grafana/dashboards.py --check

python3 - <<'PY'
import json, pathlib, re, sys
root = pathlib.Path("..")
exported = set()
for crate in ("control", "sfu", "turn", "recorder", "intercom"):
    for f in (root / crate / "src").rglob("*.rs"):
        exported |= set(re.findall(r'"((?:vchat|rtc)_[a-z0-9_]+)', f.read_text()))
        exported |= set(re.findall(r'\b(vchat_[a-z0-9_]+) \{\}', f.read_text()))
        exported |= set(re.findall(r'\\n\s*(vchat_[a-z0-9_]+) \{', f.read_text()))
texts = [pathlib.Path("prometheus/alerts.yml").read_text()]
texts += [t["expr"] for d in pathlib.Path("grafana").glob("*.json") for p in json.loads(d.read_text())["panels"] for t in p["targets"]]
named = {re.sub(r"_(bucket|sum|count)$", "", m) for t in texts for m in re.findall(r"(?<![:\w])((?:vchat|rtc)_[a-z0-9_]+)", t)}
missing = sorted(n for n in named if n not in exported)
if missing:
    sys.exit(f"rules or dashboards name metrics vchat does not export: {missing}")
print(f"{len(named)} vchat and rtc metrics named by rules and dashboards, all exported")
PY

# The unit as systemd reads it (the binary path swapped for one that exists here).
unit=$(mktemp -d)
sed "s|/usr/local/bin/vchat|/bin/true|" systemd/vchat.service > "$unit/vchat.service"
if command -v systemd-analyze >/dev/null; then
  out=$(systemd-analyze verify "$unit/vchat.service" 2>&1 || true)
  # Outside a booted systemd (containers, CI) verify also complains about the host;
  # only lines about this unit count.
  if echo "$out" | grep -q "vchat.service"; then echo "$out"; exit 1; fi
  echo "systemd-analyze verify: vchat.service clean"
fi
rm -rf "$unit"

# nftables and firewalld open the same ports.
nft_tcp=$(grep -oE 'tcp dport \{[^}]*\}' firewall/nftables.conf | grep -oE '[0-9]+(-[0-9]+)?' | sort)
nft_udp=$(grep -oE 'udp dport \{[^}]*\}' firewall/nftables.conf | grep -oE '[0-9]+(-[0-9]+)?' | sort)
fwd_tcp=$(grep -oE 'protocol="tcp" port="[^"]*"' firewall/vchat.xml | grep -oE '[0-9]+(-[0-9]+)?' | sort)
fwd_udp=$(grep -oE 'protocol="udp" port="[^"]*"' firewall/vchat.xml | grep -oE '[0-9]+(-[0-9]+)?' | sort)
[ "$nft_tcp" = "$fwd_tcp" ] && [ "$nft_udp" = "$fwd_udp" ] || { echo "nftables.conf and vchat.xml open different ports"; exit 1; }
echo "firewall profiles agree: tcp $(echo $nft_tcp), udp $(echo $nft_udp)"
