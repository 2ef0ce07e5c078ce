#!/usr/bin/env bash
# Builds every Lambda function as <out>/<name>/bootstrap plus <out>/<name>/function.zip.
#   scripts/build.sh lambda   linux/arm64 for AWS          -> bin/<name>/
#   scripts/build.sh local    host OS/arch for local runs   -> bin/local/<name>/
#                             (also the integration test functions under integration/functions/),
#                             with the faultinject tag: the rotation and authorizer functions carry
#                             shared/platform/faultinject, switched off unless LANYARD_FAULT is set;
#                             and the lanyardlocal tag: the functions' policy also allow-lists
#                             the local overlay's accounts (policy/local.json)
# Zips are reproducible (fixed timestamps, no extra attributes), so unchanged code keeps its hash.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-lambda}
pkgs=(./functions/...)
case "$mode" in
  lambda) goos=linux goarch=arm64 out=bin tags=lambda.norpc ;;
  local)
    goos=$(go env GOHOSTOS) goarch=$(go env GOHOSTARCH) out=bin/local tags=lambda.norpc,faultinject,lanyardlocal
    [ -d integration/functions ] && pkgs+=(./integration/functions/...)
    ;;
  *) echo "build.sh: unknown mode '$mode' (lambda or local)" >&2; exit 2 ;;
esac

# Each binary is named after its folder: two mains with one name would overwrite each other.
dups=$(go list -f '{{if eq .Name "main"}}{{.Dir}}{{end}}' "${pkgs[@]}" | xargs -n1 basename | sort | uniq -d)
if [ -n "$dups" ]; then
  echo "build.sh: more than one main package named: $dups" >&2
  exit 1
fi

# Fault injection is for local builds only: a Lambda build that links it fails.
if [ "$mode" = lambda ]; then
  deps=$(GOOS=$goos GOARCH=$goarch go list -deps -tags "$tags" "${pkgs[@]}")
  if grep -qx 'github.com/lanyardhq/lanyard/shared/platform/faultinject' <<<"$deps"; then
    echo "build.sh: a Lambda function links shared/platform/faultinject (only the faultinject tag may)" >&2
    exit 1
  fi
  # The local overlay's allow-list entries are for lanyard local only.
  if GOOS=$goos GOARCH=$goarch go list -tags "$tags" -f '{{join .EmbedFiles "\n"}}' ./policy | grep -qx 'local.json'; then
    echo "build.sh: a Lambda build embeds policy/local.json (only the lanyardlocal tag may)" >&2
    exit 1
  fi
fi

# A bad policy fails the build, not a request; so does a production policy that allow-lists
# a local account.
go run ./policy/cmd/policycheck -overlay policy/local.json policy/policy.json

version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# One go build for all mains shares the compile work; -o <dir>/ names each binary after its folder.
CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -tags "$tags" -trimpath \
  -ldflags "-s -w -X github.com/lanyardhq/lanyard/shared/platform/buildinfo.Version=$version" \
  -o "$stage/" "${pkgs[@]}"

printf '%-34s %10s %10s  (%s/%s, %s)\n' function bootstrap zip "$goos" "$goarch" "$version"
for bin in "$stage"/*; do
  [ -f "$bin" ] || continue
  name=$(basename "$bin")
  dir="$out/$name"
  mkdir -p "$dir" "$stage/zip/$name"
  chmod 0755 "$bin"
  touch -t 198001010000 "$bin"
  mv -f "$bin" "$stage/zip/$name/bootstrap"
  (cd "$stage/zip/$name" && TZ=UTC zip -X -q function.zip bootstrap)
  # Renames, so a reader (a test deploying the zip) never sees a half-written file.
  mv -f "$stage/zip/$name/bootstrap" "$dir/bootstrap"
  mv -f "$stage/zip/$name/function.zip" "$dir/function.zip"
  printf '%-34s %10s %10s\n' "$name" "$(stat -c %s "$dir/bootstrap")" "$(stat -c %s "$dir/function.zip")"
done
