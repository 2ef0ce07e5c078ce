#!/usr/bin/env bash
# Regenerates the committed Python locks with uv (pinned, installed into .tools/uv). Run it only
# to change a pin; installs read the locks and never resolve.
#   local/localstack.lock                      localstack-core[runtime]==4.7.0 as of its release:
#                                              later cbor2 (6.x) and pyOpenSSL (26.x) break it
#   local/executor/requirements-test.lock      pytest for the executor's tests, within that lock
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
[ -x .tools/uv/bin/uv ] && .tools/uv/bin/uv --version | grep -q " $UV_VERSION" || {
  python3 -m venv .tools/uv
  .tools/uv/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
}
uv=.tools/uv/bin/uv
common=(--generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --no-header --quiet)
echo 'localstack-core[runtime]==4.7.0' | $uv pip compile - "${common[@]}" --exclude-newer 2025-08-01 -o local/localstack.lock
echo 'pytest==9.2.0' | $uv pip compile - "${common[@]}" -c local/localstack.lock -o local/executor/requirements-test.lock
echo "locks written; regenerate with scripts/lock-python.sh"
