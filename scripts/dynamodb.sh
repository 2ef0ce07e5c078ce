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
PORT=$LANYARD_DYNAMODB_PORT PORT_VAR=LANYARD_DYNAMODB_PORT
URL=http://127.0.0.1:$PORT
NAME=dynamodb TITLE="DynamoDB Local" START_LIMIT=60

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

launch() {
  (cd "$STATE" && exec setsid java -Djava.library.path="$LIB" -cp "$LIB/*" \
    com.amazonaws.services.dynamodbv2.local.main.ServerRunner \
    -inMemory -sharedDb -disableTelemetry -port "$PORT" >"$LOG" 2>&1 < /dev/null) &
  echo $! > "$PIDFILE"
}

server_main "$@"
