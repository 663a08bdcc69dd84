#!/usr/bin/env bash
# Builds the S3-compatible server the backup tests run against, once, and caches it outside
# the repository; prints the binary's path.
#
#   tests/s3/build.sh
#
# The server is versitygw (github.com/versity/versitygw), a real S3 gateway, serving a local
# directory through its `posix` backend: the tests talk the S3 protocol (SigV4, multipart
# uploads, listings) to a real implementation rather than a mock. Built from its Go module
# through the module proxy, into $TRADEPLANE_CACHE/versitygw-<version>/bin (default cache
# root ~/.cache/tradeplane), like the control plane (tests/cluster/build.sh).
set -euo pipefail
VERSITYGW_VERSION=${VERSITYGW_VERSION:-v1.8.0}
cache_root=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
bin=$cache_root/versitygw-$VERSITYGW_VERSION/bin
out=$bin/versitygw
log() { printf '[s3-build] %s\n' "$*" >&2; }

if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  log "error: no Go toolchain on PATH; versitygw is built from its Go module (install Go >= 1.21)."
  exit 1
fi
mkdir -p "$bin"
gobin=$(mktemp -d)
trap 'rm -rf "$gobin"' EXIT
log "building versitygw $VERSITYGW_VERSION (a few minutes, once) ..."
started=$SECONDS
GOBIN=$gobin CGO_ENABLED=0 GOFLAGS= GOTOOLCHAIN=${GOTOOLCHAIN:-auto} \
  go install -trimpath -ldflags "-s -w" "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
mv "$gobin/versitygw" "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
log "built in $((SECONDS - started))s: $out"
echo "$out"
