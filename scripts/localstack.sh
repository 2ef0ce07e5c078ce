#!/usr/bin/env bash
# LocalStack 4.7.0 on the host, with Lanyard's process runtime executor (local/executor/).
#   scripts/localstack.sh install   venv .venv-localstack from local/localstack.lock (hashes),
#                                   plus the executor package and its test tools; idempotent
#   scripts/localstack.sh start     start on 127.0.0.1:$LANYARD_LOCALSTACK_PORT, wait until healthy
#   scripts/localstack.sh stop      stop it and every function process it started
#   scripts/localstack.sh status    one line: running or not, port, health, pid, log
# Downloads go through pip's cache (~/.cache/pip), so a fresh clone installs offline-fast.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

VENV=$PWD/.venv-localstack
STATE=$LANYARD_STATE/localstack
PIDFILE=$STATE/localstack.pid
LOG=$STATE/localstack.log
PORT=$LANYARD_LOCALSTACK_PORT PORT_VAR=LANYARD_LOCALSTACK_PORT
URL=http://127.0.0.1:$PORT
NAME=localstack TITLE=LocalStack START_LIMIT=120

install() {
  command -v python3 >/dev/null || die "python3 is not on PATH (LocalStack 4.7.0 runs on Python 3.11)"
  local sum stamp=$VENV/.lanyard-install.sha256
  sum=$(cat local/localstack.lock local/executor/requirements-test.lock local/executor/pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -x "$VENV/bin/python" ]; then return 0; fi
  echo "localstack: installing localstack-core 4.7.0 and the Lanyard executor into .venv-localstack"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r local/localstack.lock
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r local/executor/requirements-test.lock
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -e local/executor
  echo "$sum" > "$stamp"
}

healthy() { curl -fsS --max-time 2 "$URL/_localstack/health" 2>/dev/null | grep -q '"lambda"'; }

launch() {
  # Offline-safe settings: no analytics, no DNS server, no certificate download, path-style
  # SQS queue URLs, state under .state/. The executor runs functions as host processes; with
  # TMPDIR inside the state folder, their unzipped code and scratch folders stay there too.
  mkdir -p "$STATE/tmp"
  TMPDIR="$STATE/tmp" GATEWAY_LISTEN="127.0.0.1:$PORT" LOCALSTACK_HOST="127.0.0.1:$PORT" \
    LOCALSTACK_TELEMETRY_DISABLED=1 DISABLE_EVENTS=1 \
    DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 SQS_ENDPOINT_STRATEGY=path \
    FILESYSTEM_ROOT="$STATE/fs" LAMBDA_RUNTIME_EXECUTOR=lanyard-process \
    exec setsid "$VENV/bin/python" -m localstack.runtime.main >"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
}

server_main "$@"
