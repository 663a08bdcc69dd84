#!/usr/bin/env bash
# `make demo` on a real node: the product's images run as real pods (tests/demo.sh calls this
# first and falls back to kwok's simulated nodes when it exits 3: the machine cannot run one).
#
# Builds what is missing (control plane, node binaries, images), starts a cluster with one real
# node beside kwok's, installs the operator with the Helm chart, applies examples/quickstart/
# as a user would, waits until both strategies have traded, prints `kubectl get ts,ba,ap`, and
# ends with `kubectl tradeplane status` of each strategy and `explain` of index-trend's first
# order's cycle (each analyst's report, the decision, the risk check, the order and its fill),
# then stops everything it started. TRADEPLANE_DEMO_KEEP=1 leaves the cluster running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cache=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
state=$cache/clusters/demo
namespace=tradeplane-demo
step() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

if ! reason=$(tests/node/check.sh); then
  echo "no real node on this machine: $reason"
  exit 3
fi
started=$SECONDS
step "control-plane binaries (built once, cached under $cache)"
bin=$(tests/cluster/build.sh)
export PATH="$bin:$PATH"
step "real-node binaries: kubelet, containerd, runc, the pause image (built once, cached)"
tests/node/build.sh >/dev/null || { echo "the real node's binaries did not build"; exit 3; }
step "the images (make image: release build, then buildah; warm: seconds)"
tests/image/build.sh || { echo "the images did not build (output above)"; exit 3; }

tests/cluster/down.sh "$state" # a demo interrupted earlier may have left one behind
if [ "${TRADEPLANE_DEMO_KEEP:-}" = 1 ]; then
  trap 'printf "\nThe cluster keeps running: export KUBECONFIG=%s PATH=%s:\$PATH\nStop it with: make cluster-down STATE=%s\n" "$state/kubeconfig" "$bin" "$state"' EXIT
else
  trap 'step "stop everything"; tests/cluster/down.sh "$state"' EXIT
fi

step "start the control plane with one real node (containerd + kubelet) beside a kwok node"
if ! TP_REAL_NODES=1 TP_NODES=1 tests/cluster/up.sh "$state"; then
  echo "the real node did not start (logs above; $state/logs)"
  trap - EXIT
  tests/cluster/down.sh "$state"
  exit 3
fi
export KUBECONFIG=$state/kubeconfig
show kubectl get nodes -o wide

step "install the operator with the Helm chart (its image, imported into the node; two leader-elected pods)"
show helm install tradeplane charts/tradeplane --namespace tradeplane --create-namespace --wait --timeout 180s
show kubectl get pods -n tradeplane -o wide

step "the paper-trading quick start: a paper BrokerAccount, a rules-only AgentPool, two strategies"
show kubectl create namespace "$namespace"
applied=$SECONDS
show kubectl apply --server-side -n "$namespace" -f examples/quickstart/
show kubectl wait --for=condition=Ready --timeout=180s -n "$namespace" ba,ap,ts --all
show kubectl get pods -n "$namespace" -o wide
echo "(the pods run on the host's network: the local admission step gave each a port of its own;"
echo " tech-momentum reaches the AgentPool's Service through the local DNS answer and proxy)"

step "a cycle every 2 s instead of 30/60, so the replayed history reaches its first trades in seconds (a real rollout)"
show kubectl patch ts index-trend tech-momentum -n "$namespace" --type merge -p '{"spec":{"schedule":{"intervalSeconds":2}}}'
traded() { [ "$(kubectl get ts "$1" -n "$namespace" -o jsonpath='{.status.openPositions}' 2>/dev/null || echo 0)" -gt 0 ] 2>/dev/null; }
for strategy in index-trend tech-momentum; do
  for attempt in $(seq 240); do
    traded "$strategy" && break
    [ "$attempt" = 240 ] && { echo "$strategy has not traded after 2 minutes"; kubectl get ts,pods -n "$namespace"; exit 1; }
    sleep 0.5
  done
  echo "$strategy traded ($((SECONDS - applied)) s after kubectl apply)"
done
sleep 3 # one more cycle, so LAST DECISION and P&L reflect the fills

step "what kubectl shows"
show kubectl get ts -n "$namespace" -o wide
show kubectl get ba,ap -n "$namespace"

step "kubectl logs: the runtime's JSON lines"
show kubectl logs -n "$namespace" deploy/index-trend-trader --tail 3

step "kubectl tradeplane: each strategy on one screen, then one decision in full"
echo "(the plugin reads each runtime's journal through the API server's service proxy, as you)"
cargo build -q --locked -p kubectl-tradeplane
plugin_dir=$(mktemp -d)
ln -s "${CARGO_TARGET_DIR:-$repo/target}/debug/kubectl-tradeplane" "$plugin_dir/kubectl-tradeplane"
export PATH="$plugin_dir:$PATH"
for strategy in index-trend tech-momentum; do
  show kubectl tradeplane status "$strategy" -n "$namespace"
done
cycle=$(kubectl tradeplane journal index-trend -n "$namespace" --kind orders -o json | jq -r '.[0].item.cycleId')
show kubectl tradeplane explain index-trend "$cycle" -n "$namespace"
rm -rf "$plugin_dir"

# The console is a long-running server, so the demo only prints how to start it; on a kept
# cluster the operator and the runtimes go on running in it, so every page has its journal.
step "the web console (docs/dashboard.md)"
console="KUBECONFIG=$state/kubeconfig ${CARGO_TARGET_DIR:-$repo/target}/debug/kubectl-tradeplane dashboard -n $namespace"
if [ "${TRADEPLANE_DEMO_KEEP:-}" = 1 ]; then
  echo "open it with (it prints http://127.0.0.1:9898/ and serves until Ctrl-C):"
else
  echo "this demo stops its cluster now; run it with TRADEPLANE_DEMO_KEEP=1, then open the console with:"
fi
echo "  $console"
echo
echo "demo on a real node done in $((SECONDS - started)) s"
