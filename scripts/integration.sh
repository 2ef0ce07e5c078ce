#!/usr/bin/env bash
# Runs the integration suites against LocalStack and DynamoDB Local. Servers already running are
# reused and left running; servers this script starts, it stops, whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags
with_local_servers go test -tags integration -count=1 ${GO_TEST_FLAGS:--timeout 20m} \
  ./integration/... ./local/... ./shared/... ./cmd/...
