#!/usr/bin/env bash
# Fuzzes the REST API of a live `vchat serve` with schemathesis (PyPI), driven by the
# server's own /api/openapi.json: every answer must be a documented status with a
# documented content type and a body that matches its schema, none may be a 5xx, a
# request valid by the document must be accepted and one that breaks it refused
# (schemathesis_hooks.py lists the few refusals that depend on data, not on the document).
#   bash tests/api/schemathesis.sh        (VCHAT_BIN: the binary; default target/debug)
# Bounded: SCHEMATHESIS_MAX_EXAMPLES per operation (default 25) and
# SCHEMATHESIS_MAX_TIME seconds in all (default 150).
set -euo pipefail
cd "$(dirname "$0")/../.."
hooks=$PWD/tests/api/schemathesis_hooks.py
target=${CARGO_TARGET_DIR:-$HOME/.cache/vchat-target}
bin=${VCHAT_BIN:-$target/debug/vchat}
venv=${SCHEMATHESIS_VENV:-$HOME/.cache/vchat-schemathesis}
version=4.32.5

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
password="schemathesis password"
echo "$password" | "$bin" user add --data "$work/data" --login fuzz-admin --role admin >/dev/null
VCHAT_TURN_ENABLED=false VCHAT_MEDIA_PORT=0 VCHAT_LOG=warn \
  VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE=100000 \
  VCHAT_GEO_NOMINATIM_URL= VCHAT_DELIVERY_MAX_ATTEMPTS=1 \
  "$bin" serve --data "$work/data" --http "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# An admin's API token: a real user, so agent operations (creating interactions) work.
cookie=$(curl -fs -D - -o /dev/null -H 'content-type: application/json' \
  -d "{\"login\":\"fuzz-admin\",\"password\":\"$password\"}" "$base/api/login" |
  tr -d '\r' | sed -n 's/^set-cookie: \(vchat_session=[^;]*\).*/\1/Ip')
token=$(curl -fs -H "cookie: $cookie" -H 'content-type: application/json' \
  -d '{"label":"schemathesis"}' "$base/api/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

status=0
# From the work folder: schemathesis keeps a cache beside it, which is not ours to commit.
cd "$work"
# The hooks excuse only the refusals that depend on data, not on the document (read it).
SCHEMATHESIS_HOOKS=$hooks "$venv/bin/schemathesis" run "$base/api/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks ${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,positive_data_acceptance,negative_data_rejection} \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-150}" \
  --request-timeout 10 \
  --generation-database none \
  --no-color \
  --report junit --report-dir "$work/report" || status=$?
if grep -qiE 'panicked|ERROR' "$work/server.log"; then
  echo "the server logged errors during the run:"
  grep -iE 'panicked|ERROR' "$work/server.log" | head -20
  status=1
fi
exit $status
