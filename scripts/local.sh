#!/usr/bin/env bash
# The local AWS servers together: LocalStack (with the process executor) and DynamoDB Local.
#   scripts/local.sh up       install as needed and start both (already running ones are reused)
#   scripts/local.sh down     stop both, and any function process left behind
#   scripts/local.sh status   what runs, on which port, healthy or not
#   scripts/local.sh env      the variables that point an SDK client at them (eval-able)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

case "${1:-}" in
  up)
    scripts/dynamodb.sh start
    scripts/localstack.sh start
    ;;
  down)
    scripts/localstack.sh stop
    scripts/dynamodb.sh stop
    # Function processes run from LocalStack's code folder under .state/localstack/tmp and die
    # with LocalStack's executor; say so if one did not.
    left=$(pgrep -f "$LANYARD_STATE/localstack/" || true)
    [ -z "$left" ] || { echo "local: function processes still running: $left" >&2; exit 1; }
    ;;
  status)
    rc=0
    scripts/dynamodb.sh status || rc=1
    scripts/localstack.sh status || rc=1
    exit $rc
    ;;
  env)
    echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$LANYARD_LOCALSTACK_PORT"
    echo "export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$LANYARD_DYNAMODB_PORT"
    echo "export AWS_ENDPOINT_URL_DYNAMODB_STREAMS=http://127.0.0.1:$LANYARD_DYNAMODB_PORT"
    echo "export AWS_REGION=\${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"
    ;;
  *) die "usage: $0 up|down|status|env" ;;
esac
