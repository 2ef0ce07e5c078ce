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
URL=http://127.0.0.1:$LANYARD_LOCALSTACK_PORT

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

start() {
  install
  mkdir -p "$STATE"
  if pid_alive "$PIDFILE"; then
    running_port=$(cat "$STATE/port" 2>/dev/null || echo "?")
    [ "$running_port" = "$LANYARD_LOCALSTACK_PORT" ] || die "already running on port $running_port (pid $(cat "$PIDFILE")); stop it first"
    healthy && { echo "localstack: already running on $URL (pid $(cat "$PIDFILE"))"; return 0; }
  fi
  port_in_use "$LANYARD_LOCALSTACK_PORT" && die "port $LANYARD_LOCALSTACK_PORT is already taken (set LANYARD_LOCALSTACK_PORT to another port)"
  # Offline-safe settings: no analytics, no DNS server, no certificate download, path-style
  # SQS queue URLs, state under .state/. The executor runs functions as host processes.
  env GATEWAY_LISTEN="127.0.0.1:$LANYARD_LOCALSTACK_PORT" \
      LOCALSTACK_HOST="127.0.0.1:$LANYARD_LOCALSTACK_PORT" \
      LOCALSTACK_TELEMETRY_DISABLED=1 DISABLE_EVENTS=1 \
      DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 SQS_ENDPOINT_STRATEGY=path \
      FILESYSTEM_ROOT="$STATE/fs" \
      LAMBDA_RUNTIME_EXECUTOR=lanyard-process \
      setsid "$VENV/bin/python" -m localstack.runtime.main >"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  echo "$LANYARD_LOCALSTACK_PORT" > "$STATE/port"
  local rc=0
  wait_until 120 "LocalStack health" "$PIDFILE" healthy || rc=$?
  case $rc in
    0) echo "localstack: running on $URL (pid $(cat "$PIDFILE"), log $LOG)" ;;
    2) rm -f "$PIDFILE"; die "LocalStack exited during startup; see $LOG" ;;
    *) stop_pidfile localstack "$PIDFILE" >/dev/null; die "LocalStack was not healthy within 120 s; see $LOG" ;;
  esac
}

stop() {
  stop_pidfile localstack "$PIDFILE"
}

status() {
  if pid_alive "$PIDFILE"; then
    local h=unhealthy; healthy && h=healthy
    echo "localstack   running   $URL   $h   pid $(cat "$PIDFILE")   log $LOG"
  else
    echo "localstack   stopped   $URL"
    return 1
  fi
}

case "${1:-}" in
  install|start|stop|status) "$1" ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
