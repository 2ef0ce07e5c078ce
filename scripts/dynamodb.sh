#!/usr/bin/env bash
# DynamoDB Local 2.6.1 (com.amazonaws:DynamoDBLocal from Maven Central, with sqlite4java's
# linux x86-64 native library), in memory, one shared database for every credential and region.
#   scripts/dynamodb.sh install|start|stop|status
# Jars come through Maven's cache (~/.m2) into .state/dynamodb/lib.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

STATE=$LANYARD_STATE/dynamodb
LIB=$STATE/lib
PIDFILE=$STATE/dynamodb.pid
LOG=$STATE/dynamodb.log
URL=http://127.0.0.1:$LANYARD_DYNAMODB_PORT

install() {
  command -v java >/dev/null || die "java is not on PATH (DynamoDB Local needs Java 17+)"
  command -v mvn >/dev/null || die "mvn is not on PATH (it fetches DynamoDB Local into ~/.m2)"
  local sum stamp=$LIB/.lanyard-install.sha256
  sum=$(sha256sum local/dynamodb/pom.xml | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then return 0; fi
  echo "dynamodb: fetching DynamoDB Local 2.6.1 into $LIB"
  rm -rf "$LIB"
  mkdir -p "$STATE"
  mvn -B -Dstyle.color=never -f local/dynamodb/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$LIB" -DincludeScope=runtime >"$STATE/install.log" 2>&1 ||
    die "fetching DynamoDB Local failed; see $STATE/install.log"
  echo "$sum" > "$stamp"
}

# Any HTTP answer (DynamoDB Local says 400 to a bare GET) means it is serving.
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/" 2>/dev/null)" != "000" ]; }

start() {
  install
  mkdir -p "$STATE"
  if pid_alive "$PIDFILE"; then
    running_port=$(cat "$STATE/port" 2>/dev/null || echo "?")
    [ "$running_port" = "$LANYARD_DYNAMODB_PORT" ] || die "already running on port $running_port (pid $(cat "$PIDFILE")); stop it first"
    healthy && { echo "dynamodb: already running on $URL (pid $(cat "$PIDFILE"))"; return 0; }
  fi
  port_in_use "$LANYARD_DYNAMODB_PORT" && die "port $LANYARD_DYNAMODB_PORT is already taken (set LANYARD_DYNAMODB_PORT to another port)"
  # A simple command in the background, so $! is java's own pid (and, after setsid, its group).
  cd "$STATE"
  setsid java -Djava.library.path="$LIB" -cp "$LIB/*" \
    com.amazonaws.services.dynamodbv2.local.main.ServerRunner \
    -inMemory -sharedDb -disableTelemetry -port "$LANYARD_DYNAMODB_PORT" >"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  cd - >/dev/null
  echo "$LANYARD_DYNAMODB_PORT" > "$STATE/port"
  local rc=0
  wait_until 60 "DynamoDB Local" "$PIDFILE" healthy || rc=$?
  case $rc in
    0) echo "dynamodb: running on $URL (pid $(cat "$PIDFILE"), log $LOG)" ;;
    2) rm -f "$PIDFILE"; die "DynamoDB Local exited during startup; see $LOG" ;;
    *) stop_pidfile dynamodb "$PIDFILE" >/dev/null; die "DynamoDB Local did not answer within 60 s; see $LOG" ;;
  esac
}

stop() { stop_pidfile dynamodb "$PIDFILE"; }

status() {
  if pid_alive "$PIDFILE"; then
    local h=unhealthy; healthy && h=healthy
    echo "dynamodb     running   $URL   $h   pid $(cat "$PIDFILE")   log $LOG"
  else
    echo "dynamodb     stopped   $URL"
    return 1
  fi
}

case "${1:-}" in
  install|start|stop|status) "$1" ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
