#!/usr/bin/env bash
# `make bench`: every benchmark, each reporting its figure as a ratio against a baseline measured
# in the same run.
#   unit:         go test -bench over the packages (no servers), e.g. the API front's own cost
#                 next to a bare function call, or the audit trail's verification next to
#                 sha256sum over the same NDJSON
#   integration:  against LocalStack + DynamoDB Local (started if needed, stopped if started
#                 here), e.g. a request through `lanyard local`'s front next to a direct Invoke
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

BENCHTIME=${BENCHTIME:-1s}
echo "== unit benchmarks"
go test -run '^$' -bench . -benchmem -benchtime "$BENCHTIME" ./...
echo "== integration benchmarks (LocalStack + DynamoDB Local)"
with_local_servers go test -tags integration -run '^$' -bench . -benchtime "${INTEGRATION_BENCHTIME:-50x}" \
  ./local/suite/
