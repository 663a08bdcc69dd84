#!/usr/bin/env bash
# `make test`: lint, build, start a private control plane, run every test against it, stop it.
#
# The cluster lives in $TRADEPLANE_CACHE/clusters/test-<pid>, so two runs side by side do not
# meet. With TRADEPLANE_USE_EXISTING_CLUSTER=1 and KUBECONFIG set, the tests use that cluster
# instead (tests that must break a cluster still start a private one; they need the binaries).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cache=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
step() { printf '\n== %s\n' "$*" >&2; }

started=$SECONDS
# First, so clippy and the tests build the plugin with its charts embedded (build.rs).
step "the dashboard's charting library (scripts/ui-vendor.sh: fetched once, cached under $cache)"
scripts/ui-vendor.sh >/dev/null

step "lint: cargo fmt --check, cargo clippy -D warnings"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

if [ "${TRADEPLANE_USE_EXISTING_CLUSTER:-}" != 1 ] || command -v go >/dev/null 2>&1; then
  step "control-plane binaries (built once, cached under $cache)"
  bin=$(tests/cluster/build.sh)
  export PATH="$bin:$PATH"
fi

step "S3 server for the backup tests (tests/s3/build.sh: built once, cached under $cache)"
tests/s3/build.sh >/dev/null

step "promtool, prometheus and amtool (Debian packages, installed once when missing)"
tests/prometheus/install.sh >/dev/null

step "chromium for the dashboard's browser tests (Debian package, installed once when missing)"
tests/browser/install.sh >/dev/null

step "compile the tests"
cargo test --workspace --locked --no-run

state=$cache/clusters/test-$$
trap 'tests/cluster/down.sh "$state"; rm -rf "$state"' EXIT
step "start the control plane in $state"
tests/cluster/up.sh "$state"
export KUBECONFIG=$state/kubeconfig

step "run the tests"
cargo test --workspace --locked --no-fail-fast -- --color never "$@"

step "images: build them, run the runtime image with runc (tests/image/test.sh)"
tests/image/test.sh

step "a real node: the chart, the quick start and suspend on real pods (tests/node/test.sh)"
tests/node/test.sh

step "all tests passed in $((SECONDS - started))s"
