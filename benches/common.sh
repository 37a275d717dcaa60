# Sourced by the benchmark scripts: moves to the repository root and sets `root` and
# `bin` (the release binaries); `need` installs Debian packages whose command is missing.

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vchat-target}
bin=$CARGO_TARGET_DIR/release

# need COMMAND:PACKAGE ...: installs PACKAGE (quietly) when COMMAND is not there.
need() {
  local p apt=(apt-get -o DPkg::Lock::Timeout=300 -y -q)
  for p in "$@"; do
    command -v "${p%%:*}" >/dev/null && continue
    export DEBIAN_FRONTEND=noninteractive
    "${apt[@]}" install --no-install-recommends "${p##*:}" >/dev/null 2>&1 \
      || { "${apt[@]}" update >/dev/null && "${apt[@]}" install --no-install-recommends "${p##*:}" >/dev/null; }
  done
}

# Servers this script started, by pid: `started+=($!)` after each `… &`, and
# `stop_started` ends those and only those (never by name: other people's janus or
# vchat on this machine are not ours to stop).
started=()
stop_started() {
  local p i
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  started=()
}
