#!/usr/bin/env bash
# Runs the integration suites against LocalStack and DynamoDB Local. Servers already running are
# reused and left running; servers this script starts, it stops, whatever the outcome.
# Only the tests that the integration tag brings in run here (integration/testselect names
# them and their packages): the untagged tests are `make unit`'s and run once.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

selection=$(go run ./integration/testselect -tag integration ./integration/... ./local/... ./shared/... ./cmd/...)
mapfile -t selected <<<"$selection"

# shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags
with_local_servers go test -tags integration -count=1 ${GO_TEST_FLAGS:--timeout 20m} "${selected[@]}"
