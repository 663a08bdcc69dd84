#!/usr/bin/env bash
# Imports the project's images (`make image`'s OCI archives in build/images) into the real
# node's containerd, so pods run them without a registry:
#
#   tests/node/import-images.sh STATE_DIR
#
# Each image is known under the name `make image` gave it (localhost/tradeplane/NAME:VERSION)
# and is also tagged with the name the Helm chart and the operator use by default
# (ghcr.io/tradeplane/NAME:VERSION), so the product's manifests run unchanged: with the image
# present, IfNotPresent fetches nothing (and the local admission step sets Never, so a
# missing image fails instead of reaching for a registry). Missing archives are built first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=$1
run=${TP_NODE_RUN:-/run/tradeplane-node}
bin=$("$here/build.sh" 2>/dev/null)
ctr=("$bin/ctr" --address "$run/containerd.sock" -n k8s.io)
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml")
images=$repo/build/images
if [ ! -f "$images/agent-runtime.oci.tar" ] || [ ! -f "$images/operator.oci.tar" ]; then
  echo "[node-images] building the images first (make image)" >&2
  "$repo/tests/image/build.sh" >&2
fi
# ctr warns on every call that cgroup v1 is deprecated; everything else it says is kept.
quiet() { grep -v 'DEPRECATION: The support for cgroup v1' >&2 || true; }
for name in agent-runtime operator; do
  started=$(date +%s.%N)
  "${ctr[@]}" images import --platform linux/amd64 \
    "$images/$name.oci.tar" 2>&1 >/dev/null | quiet
  "${ctr[@]}" images tag --force "localhost/tradeplane/$name:$version" \
    "ghcr.io/tradeplane/$name:$version" 2>&1 >/dev/null | quiet
  printf '[node-images] %s: imported as localhost/tradeplane/%s:%s and ghcr.io/tradeplane/%s:%s in %.1fs\n' \
    "$name" "$name" "$version" "$name" "$version" "$(echo "$(date +%s.%N) - $started" | bc)" >&2
done
