#!/usr/bin/env bash
# `make dev`: the whole suite on this machine. Starts LocalStack and DynamoDB Local (unless they
# run already), builds the functions and the CLI for this machine, and runs `lanyard local` in
# the foreground. Ctrl-C stops it and the servers it started; no process is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

scripts/build.sh local
go build -trimpath -o bin/lanyard ./cmd/lanyard
with_local_servers bin/lanyard local "$@"
