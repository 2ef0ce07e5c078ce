#!/usr/bin/env bash
# Installs the project's pinned tools, idempotently, into ignored folders:
#   node_modules/     the AWS CDK CLI from package-lock.json (npm's cache makes reinstalls offline-fast)
#   .tools/bin/       golangci-lint, built with `go install` at a pinned version (Go's module cache)
# Usage: scripts/tools.sh [node] [lint]   (no argument: everything)
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANGCI_LINT_VERSION=v2.15.0
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(node lint)

need() { command -v "$1" >/dev/null 2>&1 || { echo "tools.sh: $1 is not on PATH ($2)" >&2; exit 1; }; }

for w in "${want[@]}"; do
  case "$w" in
    node)
      need npm "install Node.js 20+ with npm"
      stamp=node_modules/.lanyard-lock.sha256
      sum=$(sha256sum package-lock.json | cut -d' ' -f1)
      if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
        npm ci --no-audit --no-fund --prefer-offline --loglevel=error
        echo "$sum" > "$stamp"
      fi
      # npm packages ship Go templates; a go.mod here keeps them out of ./... patterns.
      [ -f node_modules/go.mod ] || printf 'module lanyard.invalid/node_modules\n' > node_modules/go.mod
      ;;
    lint)
      bin=.tools/bin/golangci-lint
      if [ ! -x "$bin" ] || ! "$bin" version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v} "; then
        echo "installing golangci-lint $GOLANGCI_LINT_VERSION into .tools/bin (first run: a few minutes)"
        GOBIN="$PWD/.tools/bin" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
      fi
      ;;
    *) echo "tools.sh: unknown tool set '$w'" >&2; exit 2 ;;
  esac
done
