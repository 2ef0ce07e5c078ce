#!/usr/bin/env bash
# Runs the integration suite against LocalStack and DynamoDB Local. Servers already running are
# reused and left running; servers this script starts, it stops, whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

started=()
scripts/dynamodb.sh status >/dev/null 2>&1 || started+=(dynamodb)
scripts/localstack.sh status >/dev/null 2>&1 || started+=(localstack)
cleanup() {
  local s
  for s in "${started[@]}"; do scripts/"$s".sh stop; done
}
trap cleanup EXIT

scripts/local.sh up
go test -tags integration -count=1 ${GO_TEST_FLAGS:--timeout 20m} ./integration/...
